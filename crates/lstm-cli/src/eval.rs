//! `lstm eval`: a trained model on a data file: RMSE/MAE beside the naive and seasonal-naive
//! baselines for forecasters, accuracy and the confusion matrix for classifiers, bits per
//! character for text models.

use std::path::PathBuf;

use anyhow::{bail, Result};
use lstm::data::labelled::parse_jsonl;
use lstm::data::text::{read_utf8, TokenStream};
use lstm::model::Task;

use crate::common;

/// Arguments of `lstm eval`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  lstm eval lstm-co2.safetensors                    every forecast the data allows, vs naive and seasonal-naive
  lstm eval sales.safetensors sales-2024.csv
  lstm eval gestures.safetensors test.jsonl         accuracy and confusion matrix
  lstm eval shakespeare.safetensors held-out.txt    bits per character")]
pub struct Args {
    /// A model trained by `lstm train`.
    pub model: PathBuf,
    /// Data of the model's kind [default for forecasters: the data it was trained on].
    pub data: Option<PathBuf>,
    /// The precision the LSTM's weights are read in.
    #[arg(long, value_enum, default_value_t = common::Weights::F32)]
    pub weights: common::Weights,
}

/// Runs `lstm eval`.
pub fn run(a: Args) -> Result<()> {
    let (model, meta) = common::load_model_with(&a.model, a.weights)?;
    match (&model.config().task, &meta.series, &meta.vocab) {
        (Task::Regression { .. }, Some(sm), _) => {
            let scaling = meta.scaling.clone().ok_or_else(|| {
                anyhow::anyhow!("{}: the model has no data scaling", a.model.display())
            })?;
            let data = a
                .data
                .clone()
                .or_else(|| (sm.source != common::CO2_SOURCE).then(|| sm.source.clone().into()));
            let series = common::read_series(data.as_deref(), &sm.spec())?;
            let (w, h) = (sm.window, sm.horizon);
            let n = series.len();
            let origins: Vec<usize> = (w - 1..n.saturating_sub(h)).collect();
            if origins.is_empty() {
                bail!("the series has {n} rows: too short for window {w} and horizon {h}");
            }
            let set = series.windows(w - 1..n - h, w, h, &scaling);
            let fc =
                crate::train::forecasts(&model, &series, &set, &origins, h, sm.season, &scaling)?;
            println!(
                "{} forecasts of {h} step{} over the whole series ({} points)",
                origins.len(),
                if h == 1 { "" } else { "s" },
                fc.pred.len()
            );
            fc.print_table(model.config().rnn.cell.name(), sm.season);
        }
        (Task::LanguageModel, _, Some(vocab)) => {
            let Some(path) = &a.data else {
                bail!("give a text file to evaluate the language model on")
            };
            let text = read_utf8(path)?;
            let ids = vocab
                .encode(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let seq = 64.min(ids.len().saturating_sub(1)).max(1);
            let stream = TokenStream::new(&ids, 1, seq)?;
            let tr = lstm::train::Trainer::new(model, lstm::train::TrainConfig::default());
            let ev = tr.evaluate_stream(&stream)?;
            println!(
                "{}: {} characters: {:.4} bits per character (cross-entropy {:.4} nats)",
                path.display(),
                ev.rows,
                ev.bits(),
                ev.loss
            );
        }
        (Task::Classification, _, _) if !meta.classes.is_empty() => {
            let Some(path) = &a.data else {
                bail!("give a labelled file (.jsonl) to evaluate the classifier on")
            };
            let data = parse_jsonl(
                &read_utf8(path)?,
                &path.display().to_string(),
                Some(&meta.classes),
            )?;
            let k = meta.classes.len();
            let mut confusion = vec![vec![0usize; k]; k];
            let idx: Vec<usize> = (0..data.set.len()).collect();
            for chunk in idx.chunks(64) {
                let batch = data.set.batch(chunk);
                let out = model.predict(&batch.input, batch.lengths.as_deref())?;
                let lstm::data::BatchTarget::Classes { data: truth, .. } = &batch.target else {
                    unreachable!("class targets")
                };
                for (r, &t) in truth.iter().enumerate() {
                    let row = &out[r * k..(r + 1) * k];
                    let p = (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b });
                    confusion[t][p] += 1;
                }
            }
            let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
            let total: usize = confusion.iter().flatten().sum();
            println!(
                "{}: accuracy {:.4} ({correct} of {total})",
                path.display(),
                correct as f64 / total.max(1) as f64
            );
            println!("confusion matrix (rows: true class, columns: predicted)");
            let mut header = vec![""];
            header.extend(meta.classes.iter().map(String::as_str));
            let rows: Vec<Vec<String>> = (0..k)
                .map(|i| {
                    std::iter::once(meta.classes[i].clone())
                        .chain(confusion[i].iter().map(|c| c.to_string()))
                        .collect()
                })
                .collect();
            common::print_table(&header, &rows);
        }
        _ => bail!(
            "{}: this model's task cannot be evaluated from a file",
            a.model.display()
        ),
    }
    Ok(())
}
