//! `lstm lab TASK`: RNN, GRU and LSTM on a long-lag task across lags and seeds, in parallel; a
//! table of every run, the success rate per cell and lag, and a chart of it. `dinner` also
//! prints every step's gates.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use lstm::lab::trace::trace;
use lstm::lab::{run_all, LabTask, RunResult, RunSpec};
use lstm::CellKind;
use plotters::style::RGBColor;

use crate::common::{check_writable, print_table};
use crate::plot::{bars, BarGroup};

/// Arguments of `lstm lab`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Tasks:
  adding   the adding problem: sum the two marked values of T; success: test MSE < 0.01
  copy     copy memory: repeat 10 symbols after T blanks; success: cross-entropy < 10% of the memoryless baseline
  order    temporal order (Hochreiter & Schmidhuber 1997, 6a): XX/XY/YX/YY far apart; success: >= 99% of 2560
  dinner   pizza -> sushi -> waffles: predict today's dish from yesterday's; prints every gate; success: 100%

Examples:
  lstm lab adding --lags 50,100,200 --cells rnn,gru,lstm --seeds 3
  lstm lab order --cells rnn,gru,lstm --seeds 1
  lstm lab adding --lags 400 --cells lstm --seeds 1 --steps 20000
  lstm lab dinner")]
pub struct Args {
    /// The task: adding, copy, order or dinner.
    pub task: String,
    /// Lags (sequence lengths; days for dinner), comma-separated [default: adding 50,100,200;
    /// copy 10,20,50; order 100; dinner 12].
    #[arg(long, value_delimiter = ',')]
    pub lags: Vec<usize>,
    /// Cell types, comma-separated: rnn, gru, lstm [default: rnn,gru,lstm; dinner: lstm].
    #[arg(long, value_delimiter = ',')]
    pub cells: Vec<String>,
    /// Seeds per cell and lag (0..N).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Hidden units [default: per task].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Step budget per run [default: per task].
    #[arg(long)]
    pub steps: Option<u64>,
    /// Sequences per step [default: per task].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Adam learning rate [default: per task].
    #[arg(long)]
    pub lr: Option<f32>,
    /// Steps between test evaluations [default: per task].
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// LSTM initial gate biases: input gate −M, forget gate +M (Hochreiter & Schmidhuber 1997);
    /// 0 for PyTorch's initialisation with forget-gate bias 1 [default: 3; dinner 0].
    #[arg(long)]
    pub memory_bias: Option<f32>,
    /// Parallel runs [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output stem: writes STEM.csv (every run) and STEM.svg/.png (success rate vs lag)
    /// [default: lab-TASK].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also save each run's model as DIR/TASK-CELL-TLAG-sSEED.safetensors.
    #[arg(long)]
    pub save_models: Option<PathBuf>,
}

/// Runs `lstm lab`.
pub fn run(a: Args) -> Result<()> {
    let task = LabTask::parse(&a.task)?;
    let lags = if a.lags.is_empty() {
        match task {
            LabTask::Adding => vec![50, 100, 200],
            LabTask::Copy => vec![10, 20, 50],
            LabTask::Order => vec![100],
            LabTask::Dinner => vec![12],
        }
    } else {
        a.lags.clone()
    };
    if let Some(&bad) = lags.iter().find(|&&l| l < 2) {
        bail!("--lags: {bad} is too short; every lag must be at least 2");
    }
    let cells: Vec<CellKind> = if a.cells.is_empty() {
        match task {
            LabTask::Dinner => vec![CellKind::Lstm],
            _ => vec![CellKind::RnnTanh, CellKind::Gru, CellKind::Lstm],
        }
    } else {
        a.cells
            .iter()
            .map(|c| CellKind::parse(c.trim()))
            .collect::<lstm::Result<_>>()?
    };
    let seeds = a
        .seeds
        .unwrap_or(if task == LabTask::Dinner { 1 } else { 3 });
    if seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("lab-{}", task.name())));
    let csv_path = PathBuf::from(format!("{}.csv", out.display()));
    check_writable(&csv_path)?;
    if let Some(dir) = &a.save_models {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    let mut specs = vec![];
    for &cell in &cells {
        for &lag in &lags {
            for seed in 0..seeds {
                let mut s = RunSpec::new(task, cell, lag, seed);
                s.hidden = a.hidden.unwrap_or(s.hidden);
                s.steps = a.steps.unwrap_or(s.steps);
                s.batch = a.batch.unwrap_or(s.batch);
                s.lr = a.lr.unwrap_or(s.lr);
                s.eval_every = a.eval_every.unwrap_or(s.eval_every);
                if cell == CellKind::Lstm {
                    s.memory_bias = a.memory_bias.unwrap_or(s.memory_bias);
                }
                specs.push(s);
            }
        }
    }
    for (name, v) in [
        ("--hidden", a.hidden.map(|v| v as u64)),
        ("--steps", a.steps),
        ("--batch", a.batch.map(|v| v as u64)),
        ("--eval-every", a.eval_every),
    ] {
        if v == Some(0) {
            bail!("{name} must be at least 1");
        }
    }
    if a.lr.is_some_and(|lr| !(lr.is_finite() && lr > 0.0)) {
        bail!("--lr must be a positive number");
    }
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let s0 = &specs[0];
    println!(
        "lab {}: {} runs ({} cells × {} lags × {seeds} seeds) on {threads} threads; H = {}, budget {} steps × batch {}, Adam lr {}, clip 1{}; success: {}",
        task.name(),
        specs.len(),
        cells.len(),
        lags.len(),
        s0.hidden,
        s0.steps,
        s0.batch,
        s0.lr,
        specs
            .iter()
            .find(|s| s.cell == CellKind::Lstm)
            .map_or(String::new(), |s| if s.memory_bias != 0.0 {
                format!("; LSTM gate biases i −{m}, f +{m}", m = s.memory_bias)
            } else {
                "; LSTM forget-gate bias 1".into()
            }),
        task.criterion()
    );
    let start = Instant::now();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = specs.len();
    let results = run_all(&specs, threads, &|_, r| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        match r {
            Ok(r) => println!(
                "[{n}/{total}] {:<8} T={:<4} seed {}: {} ({} {:.4}), {:.1} s",
                display_cell(r.spec.cell),
                r.spec.lag,
                r.spec.seed,
                match (r.solved_at, &r.failure) {
                    (Some(s), _) => format!("solved at step {s}"),
                    (None, Some(f)) => format!("failed: {f}"),
                    (None, None) => format!("not solved in {} steps", r.steps),
                },
                task.metric_name(),
                r.metric,
                r.seconds
            ),
            Err(e) => println!("[{n}/{total}] error: {e}"),
        }
    });
    let results: Vec<RunResult> = results.into_iter().collect::<lstm::Result<_>>()?;
    let wall = start.elapsed().as_secs_f64();
    println!();
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            vec![
                display_cell(r.spec.cell).to_string(),
                r.spec.lag.to_string(),
                r.spec.seed.to_string(),
                if r.solved_at.is_some() { "yes" } else { "no" }.to_string(),
                r.solved_at.map_or("-".into(), |s| s.to_string()),
                format!("{:.4}", r.metric),
                format!("{:.0}", r.seconds),
            ]
        })
        .collect();
    print_table(
        &[
            "cell",
            "lag",
            "seed",
            "solved",
            "steps to success",
            task.metric_name(),
            "seconds",
        ],
        &rows,
    );
    println!();
    // (solved, runs) per cell and lag, in `cells` × `lags` order.
    let counts: Vec<Vec<(usize, usize)>> = cells
        .iter()
        .map(|&c| {
            lags.iter()
                .map(|&l| {
                    let runs = results
                        .iter()
                        .filter(|r| r.spec.cell == c && r.spec.lag == l);
                    runs.fold((0, 0), |(ok, n), r| {
                        (ok + usize::from(r.solved_at.is_some()), n + 1)
                    })
                })
                .collect()
        })
        .collect();
    let mut header = vec!["success".to_string()];
    header.extend(lags.iter().map(|l| format!("T={l}")));
    let summary: Vec<Vec<String>> = cells
        .iter()
        .zip(&counts)
        .map(|(&c, per_lag)| {
            let mut row = vec![display_cell(c).to_string()];
            row.extend(per_lag.iter().map(|(ok, n)| format!("{ok}/{n}")));
            row
        })
        .collect();
    print_table(
        &header.iter().map(String::as_str).collect::<Vec<_>>(),
        &summary,
    );
    println!("wall time {:.1} s ({:.1} min)", wall, wall / 60.0);

    let mut csv =
        String::from("task,cell,lag,seed,hidden,steps,batch,lr,solved_at,metric,seconds\n");
    for r in &results {
        let s = &r.spec;
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{:.2}\n",
            task.name(),
            s.cell.name(),
            s.lag,
            s.seed,
            s.hidden,
            r.steps,
            s.batch,
            s.lr,
            r.solved_at.map_or(String::new(), |v| v.to_string()),
            r.metric,
            r.seconds
        ));
    }
    lstm::io::write_atomic(&csv_path, csv.as_bytes())?;
    let series: Vec<(String, RGBColor)> = cells
        .iter()
        .map(|&c| (display_cell(c).to_string(), cell_color(c)))
        .collect();
    let groups: Vec<BarGroup> = lags
        .iter()
        .enumerate()
        .map(|(li, &l)| BarGroup {
            label: format!("T = {l}"),
            values: counts
                .iter()
                .map(|per_lag| {
                    let (ok, n) = per_lag[li];
                    ok as f64 / n.max(1) as f64
                })
                .collect(),
            notes: counts
                .iter()
                .map(|per_lag| format!("{}/{}", per_lag[li].0, per_lag[li].1))
                .collect(),
        })
        .collect();
    let mut written = vec![csv_path];
    written.extend(bars(
        &out,
        &format!(
            "{}: share of {seeds} seed(s) solved within {} steps ({})",
            task.name(),
            s0.steps,
            task.metric_name()
        ),
        "lag",
        "success rate",
        &series,
        &groups,
    )?);
    if let Some(dir) = &a.save_models {
        for r in &results {
            let p = dir.join(format!(
                "{}-{}-T{}-s{}.safetensors",
                task.name(),
                r.spec.cell.name(),
                r.spec.lag,
                r.spec.seed
            ));
            lstm::io::save_model(&p, &r.model, &Default::default())?;
        }
        written.push(dir.join(format!(
            "{}-CELL-TLAG-sSEED.safetensors ({} models)",
            task.name(),
            results.len()
        )));
    }
    if task == LabTask::Dinner {
        for r in &results {
            print_dinner(r)?;
        }
    }
    println!("wrote {}", crate::common::paths(written));
    Ok(())
}

/// Every step of one dinner sequence: yesterday's dish, the prediction, and each gate per unit.
fn print_dinner(r: &RunResult) -> Result<()> {
    let spec = &r.spec;
    let (dishes, _) = spec.task.vocabulary();
    let test = spec.test_set();
    let x = &test.samples[0].x;
    let tr = trace(&r.model, x, 0)?;
    let lstm::data::SeqInput::Tokens(ids) = x else {
        bail!("dinner inputs are tokens")
    };
    let o = r.model.config().outputs;
    println!(
        "\n{} (H = {}) after {} steps, on {} days of dinners; gates and cell state per unit:",
        display_cell(spec.cell),
        tr.hidden,
        r.steps,
        tr.steps
    );
    let fmt = |v: &[f32]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut header = vec!["day", "yesterday", "prediction", "p(prediction)"];
    header.extend(tr.gate_names.iter().copied());
    if tr.cell_state.is_some() {
        header.push("cell state");
    }
    let mut rows = vec![];
    let mut correct = 0;
    for t in 0..tr.steps {
        let logits = &tr.outputs[t * o..(t + 1) * o];
        let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = logits.iter().map(|v| (v - m).exp()).sum();
        let (best, p) = logits
            .iter()
            .enumerate()
            .map(|(k, v)| (k, (v - m).exp() / z))
            .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
        correct += usize::from(best == (ids[t] + 1) % dishes.len());
        let mut row = vec![
            (t + 1).to_string(),
            dishes[ids[t]].to_string(),
            dishes[best].to_string(),
            format!("{p:.3}"),
        ];
        for g in &tr.gates {
            row.push(fmt(&g[t * tr.hidden..(t + 1) * tr.hidden]));
        }
        if let Some(c) = &tr.cell_state {
            row.push(fmt(&c[t * tr.hidden..(t + 1) * tr.hidden]));
        }
        rows.push(row);
    }
    print_table(&header, &rows);
    println!(
        "accuracy on this sequence: {correct}/{} ({:.0}%); on the {} test sequences: {:.1}%",
        tr.steps,
        100.0 * correct as f64 / tr.steps as f64,
        test.len(),
        100.0 * r.metric
    );
    Ok(())
}

/// How cell types are named in tables and legends.
pub fn display_cell(c: CellKind) -> &'static str {
    match c {
        CellKind::Lstm => "LSTM",
        CellKind::Gru => "GRU",
        CellKind::RnnTanh => "RNN",
        CellKind::RnnRelu => "RNN-relu",
    }
}

/// One colour per cell type, the same in every chart.
pub fn cell_color(c: CellKind) -> RGBColor {
    match c {
        CellKind::RnnTanh => RGBColor(214, 39, 40),
        CellKind::RnnRelu => RGBColor(148, 103, 189),
        CellKind::Gru => RGBColor(31, 119, 180),
        CellKind::Lstm => RGBColor(44, 160, 44),
    }
}
