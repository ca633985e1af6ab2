//! End-to-end tests of the `lstm` binary in temporary directories: the three training flows,
//! every bad input (message and exit code, no partial output), and Ctrl-C with resume.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn lstm(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lstm"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run lstm")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn ok(o: &Output) -> String {
    let (out, err) = text(o);
    assert!(
        o.status.success(),
        "lstm failed: {:?}\nstdout:\n{out}\nstderr:\n{err}",
        o.status
    );
    out
}

/// Runs a command expected to fail: exit code 1, one `error:` line containing `needle`.
#[track_caller]
fn fails(dir: &Path, args: &[&str], needle: &str) {
    let o = lstm(dir, args);
    let (out, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{args:?}: expected exit 1, got {:?}\nstdout:\n{out}\nstderr:\n{err}",
        o.status
    );
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.starts_with("error: ") && last.contains(needle),
        "{args:?}: expected an error containing {needle:?}, got:\n{err}"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn series_csv(dir: &Path, rows: usize) -> std::path::PathBuf {
    let mut s = String::from("day,value,temp\n");
    for t in 0..rows {
        let day = format!("2020-{:02}-{:02}", 1 + (t / 28) % 12, 1 + t % 28);
        s += &format!(
            "{day},{:.4},{:.3}\n",
            (t as f64 * std::f64::consts::TAU / 12.0).sin() + 0.01 * t as f64,
            (t % 7) as f64
        );
    }
    let p = dir.join("series.csv");
    std::fs::write(&p, s).unwrap();
    p
}

#[test]
fn series_train_forecast_eval() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    series_csv(dir, 300);
    let out = ok(&lstm(
        dir,
        &[
            "train",
            "series.csv",
            "--target",
            "value",
            "--date",
            "day",
            "--window",
            "24",
            "--horizon",
            "3",
            "--season",
            "12",
            "--hidden",
            "12",
            "--epochs",
            "3",
            "--seed",
            "1",
        ],
    ));
    assert!(
        out.contains("model") && out.contains("seasonal-naive (12)") && out.contains("naive"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("lstm ")),
        "a row for the model: {out}"
    );
    for f in [
        "series.safetensors",
        "series.ckpt",
        "series.loss.svg",
        "series.loss.png",
        "series.test.svg",
        "series.test.png",
    ] {
        assert!(
            dir.join(f).is_file(),
            "{f} missing; files: {:?}",
            files(dir)
        );
    }
    let svg = std::fs::read_to_string(dir.join("series.test.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "well-formed SVG"
    );
    assert_eq!(
        &std::fs::read(dir.join("series.loss.png")).unwrap()[..8],
        b"\x89PNG\r\n\x1a\n"
    );

    let fc = ok(&lstm(
        dir,
        &[
            "forecast",
            "series.safetensors",
            "--horizon",
            "5",
            "--no-plot",
        ],
    ));
    let csv = std::fs::read_to_string(dir.join("series.forecast.csv")).unwrap();
    assert_eq!(fc, csv, "stdout is the CSV");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "day,value");
    assert_eq!(lines.len(), 6, "{csv}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.split(',').nth(1).unwrap().parse::<f64>().is_ok()),
        "{csv}"
    );

    let ev = ok(&lstm(dir, &["eval", "series.safetensors", "series.csv"]));
    assert!(
        ev.contains("RMSE") && ev.contains("seasonal-naive (12)"),
        "{ev}"
    );
    let ins = ok(&lstm(dir, &["inspect", "series.safetensors"]));
    assert!(
        ins.contains("lstm.weight_ih_l0") && ins.contains("window 24, horizon 3"),
        "{ins}"
    );
    let g = ok(&lstm(dir, &["gates", "series.safetensors", "--units", "5"]));
    assert!(g.contains("read the last 24 rows of the series"), "{g}");
    let svg = check_svg(&dir.join("series.gates.svg"));
    assert!(
        svg.contains("units 0..5 of 12"),
        "the title says which units"
    );
    check_png(&dir.join("series.gates.png"));
    assert!(
        !dir.join("series.gates.html").exists(),
        "a page only for text"
    );
}

#[test]
fn text_train_generate() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("tiny.txt"), "hello world, hello rust. ".repeat(40)).unwrap();
    let out = ok(&lstm(
        dir,
        &[
            "train",
            "tiny.txt",
            "--hidden",
            "32",
            "--seq",
            "16",
            "--batch",
            "4",
            "--epochs",
            "4",
            "--lr",
            "0.01",
            "--no-plot",
        ],
    ));
    assert!(out.contains("bits per character"), "{out}");
    assert!(dir.join("tiny.safetensors").is_file());
    let sample = [
        "generate",
        "tiny.safetensors",
        "--prime",
        "hello",
        "--length",
        "40",
        "--seed",
        "3",
    ];
    let g = ok(&lstm(dir, &sample));
    assert!(
        g.starts_with("hello") && g.trim_end().chars().count() == 45,
        "{g:?}"
    );
    assert!(
        g.trim_end().chars().all(|c| "helo wrd,ust.".contains(c)),
        "only the vocabulary: {g:?}"
    );
    let again = ok(&lstm(dir, &sample));
    assert_eq!(g, again, "same seed, same text");
    for weights in [
        &["--f16-weights"][..],
        &["--weights", "f16"],
        &["--weights", "i8"],
    ] {
        let g = ok(&lstm(dir, &[&sample[..], weights].concat()));
        assert!(
            g.starts_with("hello")
                && g.trim_end().chars().count() == 45
                && g.trim_end().chars().all(|c| "helo wrd,ust.".contains(c)),
            "{weights:?}: {g:?}"
        );
    }
    let bpc = |args: &[&str]| -> f64 {
        let o = lstm(
            dir,
            &[&["eval", "tiny.safetensors", "tiny.txt"], args].concat(),
        );
        let ev = ok(&o);
        let said = text(&o).1.contains("LSTM weights read in i8");
        assert_eq!(
            said,
            !args.is_empty(),
            "eval {args:?}: stderr names the precision"
        );
        let before = ev
            .split(" bits per character")
            .next()
            .filter(|_| ev.contains("bits"));
        let v = before.and_then(|b| b.split_whitespace().last()?.parse::<f64>().ok());
        v.unwrap_or_else(|| panic!("no bits per character in {ev}"))
    };
    let (full, q8) = (bpc(&[]), bpc(&["--weights", "i8"]));
    assert!(
        (full - q8).abs() < 0.05 * full,
        "eval --weights i8: {q8} bits per character against {full} in f32"
    );
}

#[test]
fn labelled_train_eval() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let mut s = String::new();
    for i in 0..120 {
        let up = i % 2 == 0;
        let len = 5 + i % 4;
        let seq: Vec<String> = (0..len)
            .map(|t| {
                format!(
                    "[{:.2}, 0.5]",
                    if up {
                        t as f64 * 0.3
                    } else {
                        1.0 - t as f64 * 0.3
                    }
                )
            })
            .collect();
        s += &format!(
            "{{\"label\": \"{}\", \"sequence\": [{}]}}\n",
            if up { "rising" } else { "falling" },
            seq.join(", ")
        );
    }
    std::fs::write(dir.join("shapes.jsonl"), &s).unwrap();
    let out = ok(&lstm(
        dir,
        &[
            "train",
            "shapes.jsonl",
            "--cell",
            "gru",
            "--hidden",
            "8",
            "--epochs",
            "20",
            "--lr",
            "0.02",
            "--no-plot",
        ],
    ));
    assert!(out.contains("validation: accuracy"), "{out}");
    let ev = ok(&lstm(dir, &["eval", "shapes.safetensors", "shapes.jsonl"]));
    assert!(
        ev.contains("accuracy 1.0000") || ev.contains("accuracy 0.99"),
        "{ev}"
    );
    assert!(
        ev.contains("confusion matrix") && ev.contains("falling") && ev.contains("rising"),
        "{ev}"
    );
}

#[test]
fn bad_inputs_fail_with_one_clear_line_and_no_output_files() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let w = |name: &str, body: &[u8]| std::fs::write(dir.join(name), body).unwrap();
    w(
        "malformed.csv",
        b"day,value\n2020-01-01,1.0\n2020-01-02,2.0,9\n",
    );
    fails(
        dir,
        &["train", "malformed.csv", "--target", "value"],
        "malformed.csv:3",
    );
    w("nonnum.csv", b"day,value\n2020-01-01,1.0\n2020-01-02,abc\n");
    fails(
        dir,
        &["train", "nonnum.csv", "--target", "value"],
        "nonnum.csv:3: column `value`: `abc` is not a finite number",
    );
    w(
        "missing.csv",
        b"day,value\n2020-01-01,1.0\n2020-01-02,\n2020-01-03,2.0\n",
    );
    fails(
        dir,
        &["train", "missing.csv", "--target", "value"],
        "missing.csv:3: column `value` is missing a value",
    );
    w("short.csv", b"day,value\n1,1\n2,2\n3,3\n4,4\n5,5\n");
    fails(
        dir,
        &["train", "short.csv", "--target", "value", "--window", "8"],
        "too short for window 8",
    );
    fails(
        dir,
        &["train", "short.csv", "--target", "price"],
        "no column `price`; the columns are: day, value",
    );
    w("two.csv", b"t,a,b\n1,1,2\n");
    fails(
        dir,
        &["train", "two.csv"],
        "name the column to forecast with --target (the columns are: t, a, b)",
    );
    w("empty.txt", b"   \n");
    fails(dir, &["train", "empty.txt"], "the text is empty");
    w("latin1.txt", b"caf\xe9 au lait");
    fails(
        dir,
        &["train", "latin1.txt"],
        "not UTF-8 text: invalid byte at offset 3",
    );
    w(
        "one.jsonl",
        b"{\"label\": \"a\", \"sequence\": [1, 2]}\n{\"label\": \"a\", \"sequence\": [3]}\n",
    );
    fails(
        dir,
        &["train", "one.jsonl"],
        "found 1 class (a); a classifier needs at least two",
    );
    fails(dir, &["train", "nowhere.csv"], "nowhere.csv");
    fails(dir, &["train", "data.xyz"], "--kind");
    // Model files of another task, from another program, or not there.
    std::fs::write(dir.join("t.txt"), "abcabcabc ".repeat(30)).unwrap();
    assert!(lstm(
        dir,
        &[
            "train",
            "t.txt",
            "--hidden",
            "8",
            "--seq",
            "8",
            "--batch",
            "2",
            "--epochs",
            "1",
            "--no-plot"
        ]
    )
    .status
    .success());
    fails(dir, &["forecast", "t.safetensors"], "not a forecaster");
    w(
        "foreign.safetensors",
        b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}        ",
    );
    fails(
        dir,
        &["generate", "foreign.safetensors"],
        "foreign.safetensors",
    );
    w("junk.safetensors", b"definitely not a model");
    fails(
        dir,
        &["eval", "junk.safetensors", "t.txt"],
        "not a valid safetensors file",
    );
    fails(
        dir,
        &["generate", "t.safetensors", "--prime", "xyz"],
        "not in the model's vocabulary",
    );
    // An unwritable output path fails before any training.
    fails(
        dir,
        &["train", "t.txt", "--out", "no/such/dir/m.safetensors"],
        "not writable",
    );
    let left: Vec<String> = files(dir)
        .into_iter()
        .filter(|f| {
            !(f.ends_with(".csv")
                || f.ends_with(".txt")
                || f.ends_with(".jsonl")
                || f.starts_with("t.")
                || f.starts_with("foreign")
                || f.starts_with("junk"))
        })
        .collect();
    assert!(left.is_empty(), "failed runs left files behind: {left:?}");
}

#[test]
fn help_explains_every_command_with_an_example() {
    let d = tempfile::tempdir().unwrap();
    let top = ok(&lstm(d.path(), &["--help"]));
    assert!(
        top.contains("Examples:") && top.contains("lstm train"),
        "{top}"
    );
    for cmd in [
        "train", "forecast", "generate", "eval", "inspect", "lab", "flow", "gates",
    ] {
        let h = ok(&lstm(d.path(), &[cmd, "--help"]));
        assert!(
            h.contains("Examples:") && h.contains(&format!("lstm {cmd}")),
            "{cmd} --help:\n{h}"
        );
    }
    assert!(ok(&lstm(d.path(), &["--version"])).starts_with("lstm "));
}

#[test]
fn ctrl_c_leaves_a_loadable_checkpoint_and_resume_continues() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    series_csv(dir, 400);
    let mut child = Command::new(env!("CARGO_BIN_EXE_lstm"))
        .args([
            "train",
            "series.csv",
            "--target",
            "value",
            "--window",
            "24",
            "--horizon",
            "2",
            "--hidden",
            "16",
            "--epochs",
            "100000",
            "--patience",
            "100000",
            "--no-plot",
        ])
        .current_dir(dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "training ended before it started"
        );
        if line.starts_with("step ") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "exit code after Ctrl-C; stderr:\n{rest}"
    );
    assert!(
        rest.contains("checkpoint written to") && rest.contains("--resume"),
        "{rest}"
    );
    assert!(
        !dir.join("series.safetensors").exists(),
        "an interrupted run writes no model file"
    );
    let ins = ok(&lstm(dir, &["inspect", "series.ckpt"]));
    assert!(ins.contains("lstm.weight_hh_l0"), "{ins}");
    let out = ok(&lstm(
        dir,
        &[
            "train",
            "series.csv",
            "--resume",
            "series.ckpt",
            "--epochs",
            "2",
        ],
    ));
    assert!(
        out.contains("RMSE") && dir.join("series.safetensors").is_file(),
        "{out}"
    );
}

#[test]
fn toml_config_sets_options_and_the_command_line_wins() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    series_csv(dir, 200);
    std::fs::write(
        dir.join("run.toml"),
        "target = [\"value\"]\nhidden = 6\nlayers = 2\nepochs = 1\nwindow = 12\ncell = \"gru\"\n",
    )
    .unwrap();
    ok(&lstm(
        dir,
        &[
            "train",
            "series.csv",
            "--config",
            "run.toml",
            "--hidden",
            "5",
            "--no-plot",
        ],
    ));
    let ins = ok(&lstm(dir, &["inspect", "series.safetensors"]));
    assert!(
        ins.contains("gru(input_size=1, hidden_size=5, num_layers=2"),
        "{ins}"
    );
    assert!(ins.contains("window 12"), "{ins}");
    std::fs::write(dir.join("bad.toml"), "hiden = 6\n").unwrap();
    fails(
        dir,
        &["train", "series.csv", "--config", "bad.toml"],
        "bad.toml:1: not a valid config: unknown field `hiden`",
    );
}

/// Parses an SVG file as XML and checks its root; returns the document text.
#[track_caller]
fn check_svg(path: &Path) -> String {
    let svg = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = roxmltree::Document::parse(&svg)
        .unwrap_or_else(|e| panic!("{}: not well-formed XML: {e}", path.display()));
    assert_eq!(
        doc.root_element().tag_name().name(),
        "svg",
        "{}",
        path.display()
    );
    svg
}

/// Decodes a PNG file completely; returns (width, height).
#[track_caller]
fn check_png(path: &Path) -> (u32, u32) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{}: cannot decode: {e}", path.display()));
    assert!(
        buf.iter().any(|&b| b != 255),
        "{}: blank image",
        path.display()
    );
    (info.width, info.height)
}

#[test]
fn lab_runs_a_tiny_grid_and_charts_the_success_rate() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let out = ok(&lstm(
        dir,
        &[
            "lab",
            "adding",
            "--lags",
            "6,8",
            "--cells",
            "rnn,lstm",
            "--seeds",
            "2",
            "--hidden",
            "4",
            "--steps",
            "20",
            "--eval-every",
            "10",
            "--out",
            "tiny",
            "--save-models",
            "models",
        ],
    ));
    assert!(out.contains("8 runs (2 cells × 2 lags × 2 seeds)"), "{out}");
    assert!(out.contains("[8/8]"), "{out}");
    for row in ["RNN ", "LSTM "] {
        assert!(
            out.lines().any(|l| l.starts_with(row) && l.contains("/2")),
            "{row}: {out}"
        );
    }
    let csv = std::fs::read_to_string(dir.join("tiny.csv")).unwrap();
    assert_eq!(csv.lines().count(), 9, "{csv}");
    assert!(csv.starts_with("task,cell,lag,seed"), "{csv}");
    let svg = check_svg(&dir.join("tiny.svg"));
    assert!(svg.contains("success rate"), "the axis label is drawn");
    check_png(&dir.join("tiny.png"));
    let saved = files(&dir.join("models"));
    assert_eq!(saved.len(), 8, "{saved:?}");
    assert!(
        saved.contains(&"adding-lstm-T8-s1.safetensors".to_string()),
        "{saved:?}"
    );
    // The saved models feed `flow` and `gates`.
    let f = ok(&lstm(
        dir,
        &[
            "flow",
            "--model",
            "models/adding-lstm-T8-s1.safetensors",
            "--task",
            "adding",
            "--lag",
            "8",
            "--batch",
            "3",
            "--out",
            "trained-flow",
        ],
    ));
    assert!(f.contains("LSTM ‖∂L/∂c_t‖"), "{f}");
    check_svg(&dir.join("trained-flow.svg"));
    let g = ok(&lstm(
        dir,
        &[
            "gates",
            "models/adding-rnn_tanh-T6-s0.safetensors",
            "--task",
            "adding",
            "--lag",
            "6",
            "--out",
            "rnn-gates",
        ],
    ));
    assert!(g.contains("rnn-gates.svg"), "{g}");
    check_svg(&dir.join("rnn-gates.svg"));
    check_png(&dir.join("rnn-gates.png"));
    fails(dir, &["lab", "juggling"], "unknown lab task `juggling`");
    fails(
        dir,
        &["lab", "adding", "--lags", "1"],
        "--lags: 1 is too short",
    );
    fails(
        dir,
        &["lab", "adding", "--batch", "0"],
        "--batch must be at least 1",
    );
    fails(
        dir,
        &["lab", "adding", "--lr", "0"],
        "--lr must be a positive number",
    );
    fails(
        dir,
        &["lab", "adding", "--cells", "lstm,tcn"],
        "unknown cell type `tcn`",
    );
}

#[test]
fn lab_dinner_prints_every_gate_and_is_solved() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(&lstm(d.path(), &["lab", "dinner"]));
    assert!(
        out.contains("input gate i")
            && out.contains("forget gate f")
            && out.contains("output gate o"),
        "{out}"
    );
    let days: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.parse::<u32>().is_ok())
        })
        .collect();
    assert_eq!(days.len(), 12, "{out}");
    for l in &days {
        let w: Vec<&str> = l.split_whitespace().collect();
        let next = |d: &str| match d {
            "pizza" => "sushi",
            "sushi" => "waffles",
            _ => "pizza",
        };
        assert_eq!(w[2], next(w[1]), "prediction after {}: {l}", w[1]);
        // 4 gates × 3 units and 3 cell-state values, each a number.
        let nums: Vec<f32> = w[4..].iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(nums.len(), 15, "{l}");
        assert!(
            nums[..3].iter().all(|v| (0.0..=1.0).contains(v)),
            "input gate in 0..1: {l}"
        );
    }
    assert!(
        out.contains("accuracy on this sequence: 12/12 (100%)"),
        "{out}"
    );
    assert!(out.contains("test sequences: 100.0%"), "{out}");
}

#[test]
fn flow_charts_vanishing_and_exploding_gradients() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let out = ok(&lstm(
        dir,
        &["flow", "--lag", "30", "--hidden", "8", "--batch", "4"],
    ));
    let ratio = |label: &str| -> f64 {
        let l = out
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no row {label}: {out}"));
        l[label.len()..]
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse()
            .unwrap()
    };
    let (rnn, lstm_h) = (ratio("RNN ‖∂L/∂h_t‖"), ratio("LSTM ‖∂L/∂h_t‖"));
    assert!(
        rnn < 1e-3 && lstm_h > 100.0 * rnn,
        "RNN {rnn:e}, LSTM {lstm_h:e}"
    );
    assert!(
        ratio("RNN, radius 3 ‖∂L/∂h_t‖") > 1.0,
        "grows backward: {out}"
    );
    let csv = std::fs::read_to_string(dir.join("gradient-flow.csv")).unwrap();
    assert_eq!(csv.lines().count(), 31, "header + 30 steps");
    assert!(
        csv.lines().skip(1).all(|l| l.split(',').count() == 7),
        "{csv}"
    );
    let svg = check_svg(&dir.join("gradient-flow.svg"));
    assert!(svg.contains("log10"), "the axis label is drawn");
    assert_eq!(check_png(&dir.join("gradient-flow.png")), (960, 540));
}

#[test]
fn gates_draws_heatmaps_and_an_html_page_for_a_text_model() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::write(dir.join("tiny.txt"), "abc <cab> & bca ".repeat(30)).unwrap();
    ok(&lstm(
        dir,
        &[
            "train",
            "tiny.txt",
            "--hidden",
            "6",
            "--seq",
            "8",
            "--batch",
            "4",
            "--epochs",
            "1",
            "--no-plot",
        ],
    ));
    let text = "abc <cab> & bca";
    let out = ok(&lstm(dir, &["gates", "tiny.safetensors", "--text", text]));
    assert!(out.contains("read 15 characters"), "{out}");
    let svg = check_svg(&dir.join("tiny.gates.svg"));
    for panel in [
        "input gate i",
        "forget gate f",
        "output gate o",
        "cell state c",
    ] {
        assert!(svg.contains(panel), "panel {panel}");
    }
    let (w, h) = check_png(&dir.join("tiny.gates.png"));
    assert_eq!((w, h), (1200, 40 + 5 * 200));
    let html = std::fs::read_to_string(dir.join("tiny.gates.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("const UNITS = 6;"), "unit count");
    assert!(
        html.contains(r#"const TEXT = "abc <cab> & bca";"#),
        "the text, as JSON"
    );
    let data = html
        .lines()
        .find_map(|l| l.strip_prefix("const DATA = "))
        .expect("DATA line");
    let data: Vec<Vec<Vec<i32>>> = serde_json::from_str(data.trim_end_matches(';')).unwrap();
    assert_eq!(data.len(), 6, "cell, hidden and 4 gates");
    assert!(data
        .iter()
        .all(|q| q.len() == 6 && q.iter().all(|u| u.len() == 15)));
    assert!(
        data[2].iter().flatten().all(|v| (0..=100).contains(v)),
        "input gate in 0..1"
    );
    assert!(
        data.iter().flatten().flatten().any(|&v| v != 0),
        "values are not all zero"
    );
    fails(
        dir,
        &["gates", "tiny.safetensors"],
        "give the text to read with --text or --file",
    );
    fails(
        dir,
        &["gates", "tiny.safetensors", "--text", "xyz"],
        "the text to read",
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let d = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lstm"))
        .args(["lab", "dinner"])
        .current_dir(d.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "nothing on stderr: {err}");
}
