//! `lstm forecast`: forecasts a series past its end with a trained forecaster, in the data's
//! units; writes `date,<target>…` CSV and a plot.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use lstm::data::series::extend_dates;
use lstm::data::BatchInput;
use lstm::Tensor;

use crate::common;
use crate::plot::{self, Line};

/// Arguments of `lstm forecast`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  lstm forecast lstm-co2.safetensors                   the next 26 weeks of the embedded CO2 series
  lstm forecast lstm-co2.safetensors --horizon 104     two years: direct for 26 weeks, then recursive
  lstm forecast sales.safetensors --data sales.csv --out next.csv

The model forecasts its trained horizon directly (one output per step ahead); a longer --horizon
feeds its own forecasts back in (recursive), which needs a model without extra input columns.")]
pub struct Args {
    /// A model trained by `lstm train` on a time series.
    pub model: PathBuf,
    /// The series to continue (CSV with the model's columns) [default: the data it was trained on].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Steps to forecast [default: the model's horizon].
    #[arg(long)]
    pub horizon: Option<usize>,
    /// CSV file to write [default: MODEL with .forecast.csv].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Do not write the plot.
    #[arg(long)]
    pub no_plot: bool,
    /// The precision the LSTM's weights are read in.
    #[arg(long, value_enum, default_value_t = common::Weights::F32)]
    pub weights: common::Weights,
}

/// Runs `lstm forecast`.
pub fn run(a: Args) -> Result<()> {
    let (model, meta) = common::load_model_with(&a.model, a.weights)?;
    let (Some(sm), Some(scaling)) = (meta.series.clone(), meta.scaling.clone()) else {
        bail!("{}: not a forecaster (it was trained on text or labelled sequences); use `lstm generate` or `lstm eval`", a.model.display());
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| common::beside(&a.model, ".forecast.csv"));
    common::check_writable(&out)?;
    let data = a
        .data
        .clone()
        .or_else(|| (sm.source != common::CO2_SOURCE).then(|| sm.source.clone().into()));
    let mut series = common::read_series(data.as_deref(), &sm.spec())?;
    let (w, h) = (sm.window, sm.horizon);
    let want = a.horizon.unwrap_or(h);
    if want == 0 {
        bail!("--horizon must be at least 1");
    }
    if want > h && !sm.inputs.is_empty() {
        bail!("this model reads extra input columns ({}), whose future is unknown: it can forecast at most {h} steps", sm.inputs.join(", "));
    }
    if series.len() < w {
        bail!(
            "the series has {} rows, fewer than the model's window of {w}",
            series.len()
        );
    }
    let n0 = series.len();
    let mut x = crate::train::xs(&series);
    let c = series.columns.len();
    let mut made = 0;
    while made < want {
        let t = series.len() - 1;
        let x = Tensor::new("x", &[w, 1, c], series.window_input(t, w, &scaling))?;
        let out = model
            .predict(&BatchInput::Dense(x), None)
            .context("forecast failed")?;
        let vals = series.unscale_forecast(t, &out, &scaling);
        let take = (want - made).min(h);
        for step in 0..take {
            series
                .values
                .extend_from_slice(&vals[step * series.targets..(step + 1) * series.targets]);
            // Extra inputs (direct forecasts only) are not extended: fill with the last value.
            for col in series.targets..c {
                let last = series.at(t, col);
                series.values.push(last);
            }
        }
        made += take;
    }
    let dates = extend_dates(&series.dates, want);
    let mut csv = format!(
        "{},{}\n",
        sm.date.as_deref().unwrap_or("step"),
        sm.targets.join(",")
    );
    for i in 0..want {
        let label = dates
            .as_ref()
            .map_or(format!("t+{}", i + 1), |d| d[i].clone());
        let vals: Vec<String> = (0..series.targets)
            .map(|k| format!("{:.4}", series.at(n0 + i, k)))
            .collect();
        writeln!(csv, "{label},{}", vals.join(",")).expect("string");
    }
    lstm::io::write_atomic(&out, csv.as_bytes())?;
    print!("{csv}");
    eprintln!(
        "{} {} forecast{} of {} ({}) written to {}",
        want,
        if want > h { "recursive" } else { "direct" },
        if want == 1 { "" } else { "s" },
        sm.targets.join(", "),
        if want > h {
            format!("{h} steps at a time")
        } else {
            "one model call".into()
        },
        out.display()
    );
    if !a.no_plot {
        // Extend the x axis past the data with the same step.
        let (last, step) = (x[n0 - 1], if n0 > 1 { x[n0 - 1] - x[n0 - 2] } else { 1.0 });
        x.extend((1..=want).map(|i| last + step * i as f64));
        let from = n0.saturating_sub(4 * w.max(want));
        let hist = Line {
            label: "history".into(),
            points: (from..n0).map(|r| (x[r], series.at(r, 0) as f64)).collect(),
            color: plotters::style::RGBColor(31, 119, 180),
        };
        let fc = Line {
            label: "forecast".into(),
            points: (n0 - 1..n0 + want)
                .map(|r| (x[r], series.at(r, 0) as f64))
                .collect(),
            color: plotters::style::RGBColor(255, 127, 14),
        };
        let stem = out.with_extension("");
        let written = plot::chart(
            &stem,
            &format!("Forecast of {}", sm.targets[0]),
            if series.dates.is_empty() {
                "row"
            } else {
                "year"
            },
            &sm.targets[0],
            &[hist, fc],
            Some((x[n0 - 1], "end of data")),
        )?;
        eprintln!("plots: {}", crate::common::paths(written));
    }
    Ok(())
}
