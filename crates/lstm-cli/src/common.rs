//! What the subcommands share: the embedded data set, data-kind detection, model loading,
//! writing outputs atomically, and table printing.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use lstm::data::series::{Fill, Series, SeriesSpec};
use lstm::io::ModelMeta;
use lstm::model::Model;

/// The embedded default data set (see data/README.md).
pub const CO2_CSV: &str = include_str!("../../../data/co2_weekly.csv");
/// How the embedded data set is named in model files.
pub const CO2_SOURCE: &str = "embedded:co2_weekly";

/// The kinds of training data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A CSV time series (forecasting).
    Series,
    /// A text file (character-level language model).
    Text,
    /// Labelled sequences, JSON Lines (classification).
    Labelled,
}

/// The kind of a data file from its extension.
pub fn kind_of(path: &Path) -> Result<Kind> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => Ok(Kind::Series),
        Some("jsonl") | Some("ndjson") => Ok(Kind::Labelled),
        Some("txt") | Some("text") | Some("md") => Ok(Kind::Text),
        _ => bail!(
            "{}: cannot tell the kind of data from its extension; pass --kind series|text|labelled",
            path.display()
        ),
    }
}

/// The series a forecaster was trained on or is given: `data`, or the embedded one.
pub fn read_series(data: Option<&Path>, spec: &SeriesSpec) -> Result<Series> {
    Ok(match data {
        Some(p) => Series::from_csv_file(p, spec)?,
        None => Series::from_csv(CO2_CSV, CO2_SOURCE, spec)?,
    })
}

/// The columns of the embedded data set.
pub fn co2_spec() -> SeriesSpec {
    SeriesSpec {
        targets: vec!["co2".into()],
        inputs: vec![],
        date: Some("date".into()),
        fill: Fill::Linear,
    }
}

/// Loads a model file, with the path in the error.
pub fn load_model(path: &Path) -> Result<(Model, ModelMeta)> {
    lstm::io::load_model(path).with_context(|| format!("cannot load the model {}", path.display()))
}

/// The precision inference reads the LSTM's weights in (`--weights`; training stays f32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Weights {
    /// As trained.
    #[default]
    F32,
    /// Rounded to f16 (PyTorch's dynamic float16 quantization): outputs move by ~1e-4.
    F16,
    /// 8-bit weights, inputs and states (PyTorch's dynamic qint8 quantization): outputs move by ~1e-3; fastest.
    I8,
}

impl From<Weights> for lstm::WeightPrecision {
    fn from(w: Weights) -> Self {
        match w {
            Weights::F32 => lstm::WeightPrecision::F32,
            Weights::F16 => lstm::WeightPrecision::F16,
            Weights::I8 => lstm::WeightPrecision::I8,
        }
    }
}

/// [`load_model`], then inference reads the LSTM's weights in `weights` (said on stderr
/// unless f32).
pub fn load_model_with(path: &Path, weights: Weights) -> Result<(Model, ModelMeta)> {
    let (mut model, meta) = load_model(path)?;
    let p = lstm::WeightPrecision::from(weights);
    model
        .set_inference_weights(p)
        .with_context(|| format!("{}: --weights {}", path.display(), p.name()))?;
    if weights != Weights::F32 {
        eprintln!("{}: LSTM weights read in {}", path.display(), p.name());
    }
    Ok((model, meta))
}

/// `dir/stem.ext` beside `model`.
pub fn beside(model: &Path, suffix: &str) -> PathBuf {
    let stem = model
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    model.with_file_name(format!("{stem}{suffix}"))
}

/// Checks up front that `path` can be written (its directory exists and is writable), so a run
/// does not fail after training.
pub fn check_writable(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let probe = dir.join(format!(".lstm-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "cannot write {}: its directory is not writable",
            path.display()
        )
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Paths for a message: `a.svg, a.png`.
pub fn paths(written: impl IntoIterator<Item = impl AsRef<Path>>) -> String {
    written
        .into_iter()
        .map(|p| p.as_ref().display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints rows as an aligned table.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = w[i])
                } else {
                    format!("{c:>w$}", w = w[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(header.iter().map(|s| s.to_string()).collect()));
    for r in rows {
        println!("{}", line(r.clone()));
    }
}
