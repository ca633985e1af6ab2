//! `lstm train`: trains a forecaster (CSV time series), a character language model (text) or a
//! sequence classifier (labelled JSON Lines), or the default forecaster on the embedded weekly
//! Mauna Loa CO2 series; writes the model, a checkpoint and plots; prints the test table.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use lstm::data::labelled::parse_jsonl;
use lstm::data::series::{baselines, Errors, Fill, Series, SeriesMeta, SeriesSpec};
use lstm::data::text::{read_utf8, TokenStream, Vocab};
use lstm::data::SampleSet;
use lstm::io::{ModelMeta, Scaling};
use lstm::loss::RegressionLoss;
use lstm::model::{HeadKind, InputKind, Model, ModelConfig, Task};
use lstm::optim::{OptimizerConfig, Schedule};
use lstm::train::{StopReason, TrainConfig, TrainReport, Trainer};
use lstm::{CellKind, RnnConfig};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Deserialize;

use crate::common::{self, Kind};
use crate::plot::{self, Line};
use crate::progress::Progress;

const EXAMPLES: &str = "Examples:
  lstm train                                   forecast the embedded weekly CO2 series (the main job)
  lstm train sales.csv --target units --date day --window 28 --horizon 7 --season 7
  lstm train shakespeare.txt --hidden 256 --layers 2 --seq 100 --time 600
  lstm train gestures.jsonl --cell gru --bidirectional --epochs 50
  lstm train data.csv --config run.toml        any flag below can also be a key of the TOML file
  lstm train data.csv --resume data.ckpt       continue an interrupted run exactly

Labelled sequences are JSON Lines: {\"label\": \"walk\", \"sequence\": [0.1, 0.3]} or
{\"label\": \"run\", \"sequence\": [[0.1, 2.0], [0.3, 1.8]]} (one feature list per step).";

/// Arguments of `lstm train`. Every option is also a key of the `--config` TOML file (the
/// command line wins).
#[derive(clap::Args, Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Training data: a CSV time series (.csv), a text file (.txt) or labelled sequences (.jsonl).
    /// Omit it to train a forecaster on the embedded weekly Mauna Loa CO2 series (1958–2001).
    pub data: Option<PathBuf>,
    /// Kind of data, when the file extension does not tell.
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// Series: target column(s) to forecast, comma-separated [default: the only column besides the date].
    #[arg(long, value_delimiter = ',')]
    pub target: Vec<String>,
    /// Series: extra input columns, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub inputs: Vec<String>,
    /// Series: the date column, for plots and forecast output [default: a column named date, time, timestamp, datetime, ds, day, week, month or year].
    #[arg(long)]
    pub date: Option<String>,
    /// Series: what to do with empty fields: none (refuse) or linear (interpolate) [default: none; linear for the embedded data].
    #[arg(long, value_enum)]
    pub fill: Option<FillArg>,
    /// Series: window length, the steps the model reads [default: 32; 104 for the embedded data].
    #[arg(long)]
    pub window: Option<usize>,
    /// Series: forecast horizon, the steps predicted at once [default: 1; 26 for the embedded data].
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Series: season length of the seasonal-naive baseline [default: 12; 52 for the embedded data].
    #[arg(long)]
    pub season: Option<usize>,
    /// Series: fraction of the rows, at the end, held out as the test set [default: 0.2].
    #[arg(long)]
    pub test: Option<f64>,
    /// Fraction held out for validation (the rows before the test set; the end of a text; a random part of labelled data) [default: 0.1].
    #[arg(long)]
    pub val: Option<f64>,
    /// Cell type: lstm, gru, rnn (tanh) or rnn_relu [default: lstm].
    #[arg(long)]
    pub cell: Option<String>,
    /// Hidden units per layer [default: 64].
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Stacked recurrent layers [default: 1].
    #[arg(long)]
    pub layers: Option<usize>,
    /// Run each layer in both directions (not for language models).
    #[arg(long)]
    #[serde(default)]
    pub bidirectional: bool,
    /// Dropout between layers [default: 0].
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Text: embedding size [default: 32].
    #[arg(long)]
    pub embed: Option<usize>,
    /// Optimizer: adam, adamw, sgd (momentum 0.9) or rmsprop [default: adam].
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning rate [default: 0.002].
    #[arg(long)]
    pub lr: Option<f32>,
    /// Learning-rate schedule: constant, cosine (to lr/100 over the run) or step (halve every 10 epochs) [default: constant].
    #[arg(long)]
    pub schedule: Option<String>,
    /// Weight decay [default: 0].
    #[arg(long)]
    pub weight_decay: Option<f32>,
    /// Clip gradients to this global norm; 0 turns clipping off [default: 1].
    #[arg(long)]
    pub clip: Option<f32>,
    /// Sequences per batch [default: 32].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Text: truncated-BPTT length, steps per chunk [default: 64].
    #[arg(long)]
    pub seq: Option<usize>,
    /// Passes over the training data [default: 40 for series, 30 for labelled data, 5 for text].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Time budget in seconds (training stops at the first of epochs and time).
    #[arg(long)]
    pub time: Option<f64>,
    /// Stop after this many validations without improvement [default: 10].
    #[arg(long)]
    pub patience: Option<usize>,
    /// Random seed (initialisation, batch order, dropout) [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads for the matrix products [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Model file to write [default: lstm-co2.safetensors for the embedded data, else DATA with .safetensors].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// A TOML file with any of these options as keys (e.g. `hidden = 128`).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Continue from a checkpoint written by an earlier (interrupted) run.
    #[arg(long)]
    #[serde(skip)]
    pub resume: Option<PathBuf>,
    /// Do not write plots.
    #[arg(long)]
    #[serde(default)]
    pub no_plot: bool,
}

/// `--fill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FillArg {
    /// Refuse missing values.
    None,
    /// Interpolate linearly.
    Linear,
}

macro_rules! merge {
    ($a:ident, $b:ident; $($f:ident),*) => { $( if $a.$f.is_none() { $a.$f = $b.$f.clone(); } )* };
}

impl Args {
    /// Fills unset options from the `--config` file.
    fn with_config_file(mut self) -> Result<Self> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        let f: Args = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map_or(1, |s| text[..s.start].matches('\n').count() + 1);
            anyhow::anyhow!(
                "{}:{line}: not a valid config: {}",
                path.display(),
                e.message().trim()
            )
        })?;
        merge!(self, f; data, kind, date, fill, window, horizon, season, test, val, cell, hidden, layers, dropout, embed,
            optimizer, lr, schedule, weight_decay, clip, batch, seq, epochs, time, patience, seed, threads, out);
        if self.target.is_empty() {
            self.target = f.target;
        }
        if self.inputs.is_empty() {
            self.inputs = f.inputs;
        }
        self.bidirectional |= f.bidirectional;
        self.no_plot |= f.no_plot;
        Ok(self)
    }
}

fn fraction(name: &str, v: f64) -> Result<f64> {
    if !(0.0..0.9).contains(&v) {
        bail!("--{name} must be a fraction in [0, 0.9), found {v}");
    }
    Ok(v)
}

fn rnn_config(a: &Args, input: usize) -> Result<RnnConfig> {
    let cell = CellKind::parse(a.cell.as_deref().unwrap_or("lstm"))?;
    let cfg = RnnConfig::new(cell, input, a.hidden.unwrap_or(64))
        .with_num_layers(a.layers.unwrap_or(1))
        .with_bidirectional(a.bidirectional)
        .with_dropout(a.dropout.unwrap_or(0.0));
    cfg.validate()?;
    Ok(cfg)
}

fn train_config(a: &Args, kind: Kind, out: &Path) -> Result<TrainConfig> {
    let mut opt = OptimizerConfig::parse(a.optimizer.as_deref().unwrap_or("adam"))?;
    if let Some(wd) = a.weight_decay {
        opt = opt.with_weight_decay(wd);
    }
    let lr = a.lr.unwrap_or(0.002);
    if !(lr > 0.0 && lr.is_finite()) {
        bail!("--lr must be a positive number, found {lr}");
    }
    let batch = a.batch.unwrap_or(32);
    if batch == 0 {
        bail!("--batch must be at least 1");
    }
    Ok(TrainConfig {
        optimizer: opt,
        lr,
        schedule: Schedule::Constant, // set per data set once the step count is known
        clip: a.clip.or(Some(1.0)).filter(|&c| c > 0.0),
        batch_size: batch,
        epochs: a.epochs.unwrap_or(match kind {
            Kind::Series => 40,
            Kind::Labelled => 30,
            Kind::Text => 5,
        }),
        max_steps: None,
        max_seconds: a.time,
        seed: a.seed.unwrap_or(0),
        val_every: 0,
        patience: Some(a.patience.unwrap_or(10)),
        checkpoint: Some(common::beside(out, ".ckpt")),
        checkpoint_every: 500,
    })
}

fn schedule(a: &Args, steps_per_epoch: u64, epochs: usize) -> Result<Schedule> {
    let total = steps_per_epoch * epochs as u64;
    Ok(match a.schedule.as_deref().unwrap_or("constant") {
        "constant" => Schedule::Constant,
        "cosine" => Schedule::Cosine {
            total,
            min_lr: a.lr.unwrap_or(0.002) / 100.0,
        },
        "step" => Schedule::Step {
            every: steps_per_epoch * 10,
            gamma: 0.5,
        },
        other => bail!("unknown --schedule `{other}`: constant, cosine or step"),
    })
}

/// Runs `lstm train`.
pub fn run(args: Args, stop: Arc<AtomicBool>) -> Result<()> {
    let a = args.with_config_file()?;
    if let Some(t) = a.threads {
        if t == 0 {
            bail!("--threads must be at least 1");
        }
    }
    let resumed = a
        .resume
        .as_deref()
        .map(Trainer::load_checkpoint)
        .transpose()
        .context("cannot resume")?;
    let kind = match (&resumed, &a.data) {
        (Some(tr), _) if tr.meta.series.is_some() => Kind::Series,
        (Some(tr), _) if tr.meta.vocab.is_some() => Kind::Text,
        (Some(_), _) => Kind::Labelled,
        (None, None) => Kind::Series,
        (None, Some(p)) => match a.kind {
            Some(k) => k,
            None => common::kind_of(p)?,
        },
    };
    let out = match (&a.out, &a.data) {
        (Some(o), _) => o.clone(),
        (None, Some(d)) => d.with_extension("safetensors"),
        (None, None) => PathBuf::from("lstm-co2.safetensors"),
    };
    common::check_writable(&out)?;
    match kind {
        Kind::Series => series(&a, resumed, &out, stop),
        Kind::Text => text(&a, resumed, &out, stop),
        Kind::Labelled => labelled(&a, resumed, &out, stop),
    }
}

/// Fits (new or resumed), reports an interrupt, saves the model. Returns the trainer and report.
fn fit(
    mut tr: Trainer,
    out: &Path,
    stop: Arc<AtomicBool>,
    bits: bool,
    go: impl FnOnce(&mut Trainer, &mut Progress) -> lstm::Result<TrainReport>,
) -> Result<(Trainer, TrainReport)> {
    let mut progress = Progress::new(stop.clone(), bits);
    let report = go(&mut tr, &mut progress);
    progress.finish();
    let report = report?;
    let ckpt = tr.config().checkpoint.clone().unwrap_or_default();
    if report.stop == StopReason::Interrupted || stop.load(Ordering::SeqCst) {
        eprintln!(
            "interrupted at step {}: checkpoint written to {}",
            report.steps,
            ckpt.display()
        );
        eprintln!("continue with: lstm train ... --resume {}", ckpt.display());
        std::process::exit(130);
    }
    tr.save_model(out)?;
    eprintln!(
        "trained {} steps ({}); checkpoint {}",
        report.steps,
        match report.stop {
            StopReason::Epochs => "all epochs",
            StopReason::MaxSteps => "step budget",
            StopReason::TimeBudget => "time budget",
            StopReason::EarlyStop => "early stop: validation stopped improving",
            StopReason::Interrupted => "interrupted",
        },
        ckpt.display()
    );
    Ok((tr, report))
}

fn series(a: &Args, resumed: Option<Trainer>, out: &Path, stop: Arc<AtomicBool>) -> Result<()> {
    let embedded = a.data.is_none();
    let meta = match resumed.as_ref().and_then(|t| t.meta.series.clone()) {
        Some(m) => m,
        None => {
            let (spec, source) = if embedded {
                (common::co2_spec(), common::CO2_SOURCE.to_string())
            } else {
                let p = a.data.as_ref().expect("not embedded");
                let (date, targets) = default_columns(p, a.date.clone(), &a.target, &a.inputs)?;
                let fill = match a.fill.unwrap_or(FillArg::None) {
                    FillArg::None => Fill::None,
                    FillArg::Linear => Fill::Linear,
                };
                (
                    SeriesSpec {
                        targets,
                        inputs: a.inputs.clone(),
                        date,
                        fill,
                    },
                    p.display().to_string(),
                )
            };
            SeriesMeta {
                targets: spec.targets,
                inputs: spec.inputs,
                date: spec.date,
                fill: spec.fill,
                window: a.window.unwrap_or(if embedded { 104 } else { 32 }),
                horizon: a.horizon.unwrap_or(if embedded { 26 } else { 1 }),
                season: a.season.unwrap_or(if embedded { 52 } else { 12 }),
                source,
            }
        }
    };
    if meta.window == 0 || meta.horizon == 0 || meta.season == 0 {
        bail!("--window, --horizon and --season must be at least 1");
    }
    let data_path = if meta.source == common::CO2_SOURCE {
        None
    } else {
        Some(a.data.clone().unwrap_or_else(|| meta.source.clone().into()))
    };
    let series = common::read_series(data_path.as_deref(), &meta.spec())?;
    if series.filled > 0 {
        eprintln!(
            "{}: filled {} missing values by linear interpolation",
            meta.source, series.filled
        );
    }
    let n = series.len();
    let (w, h) = (meta.window, meta.horizon);
    let test_len = (n as f64 * fraction("test", a.test.unwrap_or(0.2))?).round() as usize;
    let val_len = (n as f64 * fraction("val", a.val.unwrap_or(0.1))?).round() as usize;
    let test_start = n - test_len.max(h);
    let val_start = test_start - val_len.min(test_start);
    let need = w + h + h.max(1) + test_len.max(h);
    if val_start < w + h || n < need {
        bail!(
            "{}: the series has {n} rows, too short for window {w} and horizon {h} with the held-out parts \
             (training needs at least {} rows before validation and test); use a shorter --window or --horizon",
            meta.source,
            w + h
        );
    }
    let scaling = match resumed.as_ref().and_then(|t| t.meta.scaling.clone()) {
        Some(s) => s,
        None => series.fit_scaling(val_start),
    };
    let train = series.windows(w - 1..val_start - h, w, h, &scaling);
    let val = series.windows(
        val_start.saturating_sub(1)..test_start.saturating_sub(h),
        w,
        h,
        &scaling,
    );
    let origins: Vec<usize> = (test_start - 1..n - h).filter(|&t| t + 1 >= w).collect();
    let test = series.windows(test_start - 1..n - h, w, h, &scaling);
    if train.is_empty() || test.is_empty() {
        bail!(
            "{}: the series has {n} rows, too short for window {w} and horizon {h}",
            meta.source
        );
    }
    let tr = match resumed {
        Some(mut tr) => {
            apply_budget(&mut tr, a)?;
            tr
        }
        None => {
            let rnn = rnn_config(a, series.columns.len())?;
            let mc = ModelConfig {
                input: InputKind::Dense {
                    features: series.columns.len(),
                },
                forget_bias: rnn.cell == CellKind::Lstm,
                rnn,
                head: HeadKind::LastState,
                outputs: h * series.targets,
                task: Task::Regression {
                    loss: RegressionLoss::Mse,
                },
            };
            let mut tc = train_config(a, Kind::Series, out)?;
            tc.schedule = schedule(a, train.len().div_ceil(tc.batch_size) as u64, tc.epochs)?;
            let model = Model::new(mc, tc.seed)?.with_threads(threads(a));
            let mut tr = Trainer::new(model, tc);
            tr.meta = ModelMeta {
                scaling: Some(scaling.clone()),
                series: Some(meta.clone()),
                ..ModelMeta::default()
            };
            tr
        }
    };
    eprintln!(
        "{}: {n} rows; {} training, {} validation, {} test windows (window {w}, horizon {h}); {}",
        meta.source,
        train.len(),
        val.len(),
        test.len(),
        tr.model().config().rnn.describe()
    );
    let val_ref = (!val.is_empty()).then_some(&val);
    let (tr, _) = fit(tr, out, stop, false, |tr, p| tr.fit(&train, val_ref, p))?;

    // Test table: the best model vs the baselines on the same points, in the data's units.
    let model = tr.best_model();
    let fc = forecasts(model, &series, &test, &origins, h, meta.season, &scaling)?;
    let pred = &fc.pred;
    let first = origins[0] + 1;
    let span = match series.dates.as_slice() {
        d if !d.is_empty() => format!("{} .. {}", d[first], d[n - 1]),
        _ => format!("rows {first} .. {}", n - 1),
    };
    println!(
        "test: {span}, {} forecasts of {h} step{} ({} points)",
        origins.len(),
        if h == 1 { "" } else { "s" },
        pred.len()
    );
    fc.print_table(model.config().rnn.cell.name(), meta.season);
    let test_plot = if a.no_plot {
        vec![]
    } else {
        forecast_plot(
            &common::beside(out, ".test"),
            &series,
            &origins,
            pred,
            h,
            test_start,
        )?
    };
    finish(a, out, &tr, "MSE (scaled)", test_plot)
}

/// Prints where the model went and writes the loss curves (plus `extra` plots already written).
fn finish(a: &Args, out: &Path, tr: &Trainer, loss_label: &str, extra: Vec<PathBuf>) -> Result<()> {
    println!("model: {}", out.display());
    if !a.no_plot {
        let mut written =
            plot::loss_curves(&common::beside(out, ".loss"), &tr.meta.history, loss_label)?;
        written.extend(extra);
        println!("plots: {}", crate::common::paths(written));
    }
    Ok(())
}

/// Forecasts of the model and the baselines beside the actual values, for every origin and horizon.
pub struct Forecasts {
    /// The model's.
    pub pred: Vec<f32>,
    /// What happened.
    pub actual: Vec<f32>,
    /// Naive baseline.
    pub naive: Vec<f32>,
    /// Seasonal-naive baseline.
    pub seasonal: Vec<f32>,
}

impl Forecasts {
    /// The RMSE/MAE table of the model (named `cell`) and the two baselines.
    pub fn print_table(&self, cell: &str, season: usize) {
        let rows: Vec<Vec<String>> = [
            (cell.to_string(), Errors::of(&self.pred, &self.actual)),
            ("naive".into(), Errors::of(&self.naive, &self.actual)),
            (
                format!("seasonal-naive ({season})"),
                Errors::of(&self.seasonal, &self.actual),
            ),
        ]
        .into_iter()
        .map(|(name, e)| vec![name, format!("{:.4}", e.rmse), format!("{:.4}", e.mae)])
        .collect();
        common::print_table(&["model", "RMSE", "MAE"], &rows);
    }
}

/// [`Forecasts`] for the windows ending at `origins` (the samples of `test`).
pub fn forecasts(
    model: &Model,
    series: &Series,
    test: &SampleSet,
    origins: &[usize],
    h: usize,
    season: usize,
    scaling: &Scaling,
) -> Result<Forecasts> {
    let all: Vec<usize> = (0..test.len()).collect();
    let batch = test.batch(&all);
    let out = model.predict(&batch.input, None)?;
    let k = h * series.targets;
    let (mut pred, mut actual, mut naive, mut seasonal) = (vec![], vec![], vec![], vec![]);
    for (i, &t) in origins.iter().enumerate() {
        pred.extend(series.unscale_forecast(t, &out[i * k..(i + 1) * k], scaling));
        for hh in 1..=h {
            for c in 0..series.targets {
                actual.push(series.at(t + hh, c));
            }
        }
        let (nv, sv) = baselines(series, t, h, season);
        naive.extend(nv);
        seasonal.extend(sv);
    }
    Ok(Forecasts {
        pred,
        actual,
        naive,
        seasonal,
    })
}

/// x coordinates of rows: fractional years for ISO dates, else the row index.
pub fn xs(series: &Series) -> Vec<f64> {
    let year = |d: &str| -> Option<f64> {
        let p: Vec<f64> = d
            .split('-')
            .map(|s| s.parse().ok())
            .collect::<Option<_>>()?;
        (p.len() == 3).then(|| p[0] + (p[1] - 1.0) / 12.0 + (p[2] - 1.0) / 365.0)
    };
    let ys: Option<Vec<f64>> = series.dates.iter().map(|d| year(d)).collect();
    match ys {
        Some(v) if v.len() == series.len() => v,
        _ => (0..series.len()).map(|i| i as f64).collect(),
    }
}

fn forecast_plot(
    stem: &Path,
    series: &Series,
    origins: &[usize],
    pred: &[f32],
    h: usize,
    test_start: usize,
) -> Result<Vec<PathBuf>> {
    let x = xs(series);
    let k = h * series.targets;
    let actual = Line {
        label: format!("actual {}", series.columns[0]),
        points: (0..series.len())
            .map(|r| (x[r], series.at(r, 0) as f64))
            .collect(),
        color: RGB_BLUE,
    };
    let ahead = Line {
        label: format!("forecast, {h} step{} ahead", if h == 1 { "" } else { "s" }),
        points: origins
            .iter()
            .enumerate()
            .map(|(i, &t)| (x[t + h], pred[i * k + (h - 1) * series.targets] as f64))
            .collect(),
        color: RGB_ORANGE,
    };
    let x_label = if series.dates.is_empty() {
        "row"
    } else {
        "year"
    };
    plot::chart(
        stem,
        "Forecast vs actual (test period right of the line)",
        x_label,
        &series.columns[0],
        &[actual, ahead],
        Some((x[test_start], "train | test")),
    )
}

const RGB_BLUE: plotters::style::RGBColor = plotters::style::RGBColor(31, 119, 180);
const RGB_ORANGE: plotters::style::RGBColor = plotters::style::RGBColor(255, 127, 14);

/// Names a date column commonly has (case-insensitive), recognised when `--date` is not given.
const DATE_NAMES: [&str; 9] = [
    "date",
    "time",
    "timestamp",
    "datetime",
    "ds",
    "day",
    "week",
    "month",
    "year",
];

/// The date column (given, or recognised by its name) and the target columns (given, or the only
/// column besides the date and the inputs).
fn default_columns(
    path: &Path,
    date: Option<String>,
    target: &[String],
    inputs: &[String],
) -> Result<(Option<String>, Vec<String>)> {
    // Only the header line is needed here; the whole file is read (and checked) by the series loader.
    let mut first = Vec::new();
    let file = std::fs::File::open(path).map_err(|error| lstm::Error::Io {
        path: path.to_path_buf(),
        error,
    })?;
    std::io::BufRead::read_until(&mut std::io::BufReader::new(file), b'\n', &mut first).map_err(
        |error| lstm::Error::Io {
            path: path.to_path_buf(),
            error,
        },
    )?;
    let header: Vec<String> = String::from_utf8_lossy(&first)
        .trim_end()
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect();
    let date = date.or_else(|| {
        header
            .iter()
            .find(|h| DATE_NAMES.contains(&h.to_ascii_lowercase().as_str()))
            .cloned()
    });
    if !target.is_empty() {
        return Ok((date, target.to_vec()));
    }
    let rest: Vec<&String> = header
        .iter()
        .filter(|h| !h.is_empty() && Some(*h) != date.as_ref() && !inputs.contains(h))
        .collect();
    match rest.as_slice() {
        [one] => Ok((date, vec![(*one).clone()])),
        _ => bail!(
            "{}: name the column to forecast with --target (the columns are: {})",
            path.display(),
            header.join(", ")
        ),
    }
}

fn threads(a: &Args) -> usize {
    a.threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A resumed run keeps its settings; `--epochs` and `--time` may extend its budget.
fn apply_budget(tr: &mut Trainer, a: &Args) -> Result<()> {
    let mut c = tr.config().clone();
    if let Some(e) = a.epochs {
        c.epochs = e;
    }
    if a.time.is_some() {
        c.max_seconds = a.time;
    }
    tr.set_config(c)?;
    Ok(())
}

fn text(a: &Args, resumed: Option<Trainer>, out: &Path, stop: Arc<AtomicBool>) -> Result<()> {
    let path = a.data.as_ref().context("text training needs a text file")?;
    let text = read_utf8(path)?;
    if text.trim().is_empty() {
        bail!("{}: the text is empty", path.display());
    }
    let vocab = match resumed.as_ref().and_then(|t| t.meta.vocab.clone()) {
        Some(v) => v,
        None => Vocab::from_text(&text),
    };
    let ids = vocab
        .encode(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let val_len = (ids.len() as f64 * fraction("val", a.val.unwrap_or(0.1))?) as usize;
    let seq = a.seq.unwrap_or(64);
    let batch = a.batch.unwrap_or(32);
    let train_ids = &ids[..ids.len() - val_len];
    let train = TokenStream::new(train_ids, batch, seq)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let val = (val_len > seq + 1)
        .then(|| {
            TokenStream::new(
                &ids[ids.len() - val_len..],
                (val_len / (seq + 1)).clamp(1, batch),
                seq,
            )
        })
        .transpose()?;
    if a.bidirectional {
        bail!("a language model reads left to right: --bidirectional does not apply to text");
    }
    let tr = match resumed {
        Some(mut tr) => {
            apply_budget(&mut tr, a)?;
            tr
        }
        None => {
            let rnn = rnn_config(a, a.embed.unwrap_or(32))?;
            let mc = ModelConfig {
                input: InputKind::Embedding { vocab: vocab.len() },
                forget_bias: rnn.cell == CellKind::Lstm,
                rnn,
                head: HeadKind::EveryStep,
                outputs: vocab.len(),
                task: Task::LanguageModel,
            };
            let mut tc = train_config(a, Kind::Text, out)?;
            tc.schedule = schedule(a, train.chunks() as u64, tc.epochs)?;
            let mut tr = Trainer::new(Model::new(mc, tc.seed)?.with_threads(threads(a)), tc);
            tr.meta = ModelMeta {
                vocab: Some(vocab.clone()),
                ..ModelMeta::default()
            };
            tr
        }
    };
    eprintln!(
        "{}: {} characters, vocabulary {}; {} training chunks of {batch}×{seq}; {}",
        path.display(),
        ids.len(),
        vocab.len(),
        train.chunks(),
        tr.model().config().rnn.describe()
    );
    let (tr, report) = fit(tr, out, stop, true, |tr, p| {
        tr.fit_stream(&train, val.as_ref(), p)
    })?;
    match report.best_val {
        Some(v) => println!(
            "validation: {v:.4} nats = {:.4} bits per character",
            v / std::f32::consts::LN_2
        ),
        None => println!(
            "training loss: {:.4} bits per character",
            report.last_train_loss / std::f32::consts::LN_2
        ),
    }
    finish(a, out, &tr, "cross-entropy (nats)", vec![])
}

fn labelled(a: &Args, resumed: Option<Trainer>, out: &Path, stop: Arc<AtomicBool>) -> Result<()> {
    let path = a
        .data
        .as_ref()
        .context("classification needs a labelled file")?;
    let text = read_utf8(path)?;
    let classes = resumed
        .as_ref()
        .map(|t| t.meta.classes.clone())
        .filter(|c| !c.is_empty());
    let data = parse_jsonl(&text, &path.display().to_string(), classes.as_deref())?;
    let seed = resumed
        .as_ref()
        .map_or(a.seed.unwrap_or(0), |t| t.config().seed);
    let mut idx: Vec<usize> = (0..data.set.len()).collect();
    idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let n_val = (data.set.len() as f64 * fraction("val", a.val.unwrap_or(0.1))?).round() as usize;
    let pick = |ix: &[usize]| SampleSet {
        features: data.set.features,
        samples: ix.iter().map(|&i| data.set.samples[i].clone()).collect(),
    };
    let (val, train) = (pick(&idx[..n_val]), pick(&idx[n_val..]));
    if train.is_empty() {
        bail!(
            "{}: no sequences left for training after the validation split",
            path.display()
        );
    }
    let tr = match resumed {
        Some(mut tr) => {
            apply_budget(&mut tr, a)?;
            tr
        }
        None => {
            let rnn = rnn_config(a, data.set.features)?;
            let mc = ModelConfig {
                input: InputKind::Dense {
                    features: data.set.features,
                },
                forget_bias: rnn.cell == CellKind::Lstm,
                rnn,
                head: HeadKind::LastState,
                outputs: data.classes.len(),
                task: Task::Classification,
            };
            let mut tc = train_config(a, Kind::Labelled, out)?;
            tc.schedule = schedule(a, train.len().div_ceil(tc.batch_size) as u64, tc.epochs)?;
            let mut tr = Trainer::new(Model::new(mc, tc.seed)?.with_threads(threads(a)), tc);
            tr.meta = ModelMeta {
                classes: data.classes.clone(),
                ..ModelMeta::default()
            };
            tr
        }
    };
    eprintln!(
        "{}: {} sequences, {} classes ({}); {} for training, {} for validation",
        path.display(),
        data.set.len(),
        data.classes.len(),
        data.classes.join(", "),
        train.len(),
        val.len()
    );
    let val_ref = (!val.is_empty()).then_some(&val);
    let (tr, _) = fit(tr, out, stop, false, |tr, p| tr.fit(&train, val_ref, p))?;
    if !val.is_empty() {
        let ev = lstm::train::evaluate(tr.best_model(), &val, 64)?;
        println!(
            "validation: accuracy {:.4} ({} sequences), loss {:.4}",
            ev.accuracy.unwrap_or(0.0),
            ev.rows,
            ev.loss
        );
    }
    finish(a, out, &tr, "cross-entropy", vec![])
}
