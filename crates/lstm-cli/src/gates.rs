//! `lstm gates MODEL`: heatmaps of a layer's gates and cell state over an input (units × t), and
//! for a text model an HTML page colouring each character by a chosen unit.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use lstm::data::SeqInput;
use lstm::lab::trace::trace;
use lstm::lab::LabTask;

use crate::common::{self, check_writable};
use crate::plot::{heatmaps, Panel};

/// Arguments of `lstm gates`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  lstm gates novel.safetensors --text \"It was a bright cold day in April\"    heatmaps + novel.gates.html
  lstm gates novel.safetensors --file chapter1.txt --max-steps 800
  lstm gates lstm-co2.safetensors                         the last window of the series it was trained on
  lstm gates models/adding-lstm-T100-s0.safetensors --task adding --lag 100   a model saved by `lstm lab --save-models`")]
pub struct Args {
    /// A model file.
    pub model: PathBuf,
    /// Text model: the text to read.
    #[arg(long, conflicts_with = "file")]
    pub text: Option<String>,
    /// Text model: a file whose first --max-steps characters are read.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Forecaster: the CSV series (default: the one it was trained on); the window ending at its
    /// last row is read.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// A model trained by `lstm lab`: the task whose input to read (adding, copy, order, dinner).
    #[arg(long)]
    pub task: Option<String>,
    /// With --task: the lag (sequence length).
    #[arg(long, default_value_t = 100)]
    pub lag: usize,
    /// With --task: which generated sequence.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The layer to show.
    #[arg(long, default_value_t = 0)]
    pub layer: usize,
    /// Units shown in the heatmaps (the first N).
    #[arg(long, default_value_t = 32)]
    pub units: usize,
    /// Steps read at most.
    #[arg(long, default_value_t = 400)]
    pub max_steps: usize,
    /// Output stem: STEM.svg/.png (and STEM.html for a text model) [default: MODEL.gates].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `lstm gates`.
pub fn run(a: Args) -> Result<()> {
    let (model, meta) = common::load_model(&a.model)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| common::beside(&a.model, ".gates"));
    check_writable(&PathBuf::from(format!("{}.svg", out.display())))?;
    if a.max_steps == 0 {
        bail!("--max-steps must be at least 1");
    }
    let mut chars = None;
    let (x, what) = if let Some(task) = &a.task {
        let task = LabTask::parse(task)?;
        let set = task.samples(1, a.lag, a.seed);
        let x = set.samples.into_iter().next().expect("one sample").x;
        (x, format!("a {} sequence (lag {})", task.name(), a.lag))
    } else if let Some(vocab) = &meta.vocab {
        let text = match (&a.text, &a.file) {
            (Some(t), _) => t.clone(),
            (None, Some(p)) => lstm::data::text::read_utf8(p)?,
            (None, None) => bail!(
                "{}: a text model; give the text to read with --text or --file",
                a.model.display()
            ),
        };
        let text: String = text.chars().take(a.max_steps).collect();
        if text.is_empty() {
            bail!("the text to read is empty");
        }
        let ids = vocab.encode(&text).context("the text to read")?;
        chars = Some(text.chars().collect::<Vec<char>>());
        (
            SeqInput::Tokens(ids),
            format!("{} characters", text.chars().count()),
        )
    } else if let (Some(sm), Some(scaling)) = (&meta.series, &meta.scaling) {
        let data = a
            .data
            .clone()
            .or_else(|| (sm.source != common::CO2_SOURCE).then(|| sm.source.clone().into()));
        let series = common::read_series(data.as_deref(), &sm.spec())?;
        if series.len() < sm.window {
            bail!(
                "the series has {} rows, fewer than the model's window of {}",
                series.len(),
                sm.window
            );
        }
        let end = series.len() - 1;
        (
            SeqInput::Dense(series.window_input(end, sm.window, scaling)),
            format!("the last {} rows of the series", sm.window),
        )
    } else {
        bail!(
            "{}: give the input to read: --task (a model from `lstm lab`), or train a text or series model",
            a.model.display()
        );
    };
    let x = match x {
        SeqInput::Tokens(v) if v.len() > a.max_steps => SeqInput::Tokens(v[..a.max_steps].to_vec()),
        other => other,
    };
    let tr = trace(&model, &x, a.layer)?;
    let units = a.units.clamp(1, tr.hidden);
    let h = tr.hidden;
    let pick = |v: &[f32]| -> Vec<f32> {
        (0..tr.steps)
            .flat_map(|t| v[t * h..t * h + units].to_vec())
            .collect()
    };
    let mut panels = vec![];
    for ((name, g), &signed) in tr.gate_names.iter().zip(&tr.gates).zip(&tr.gate_signed) {
        panels.push(Panel {
            title: name.to_string(),
            values: pick(g),
            range: if signed { (-1.0, 1.0) } else { (0.0, 1.0) },
        });
    }
    if let Some(c) = &tr.cell_state {
        let values = pick(c);
        let m = values.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        panels.push(Panel {
            title: "cell state c".into(),
            values,
            range: (-m, m),
        });
    }
    let title = format!(
        "{} layer {}: gates{} over {what} (units 0..{units} of {h})",
        tr.cell.name().to_uppercase(),
        tr.layer,
        if tr.cell_state.is_some() {
            " and cell state"
        } else {
            ""
        }
    );
    let mut written = heatmaps(&out, &title, "step t", &panels, tr.steps, units)?;
    if let Some(chars) = chars {
        let html = PathBuf::from(format!("{}.html", out.display()));
        let page = crate::html::page(
            &format!(
                "{}: what each unit sees, character by character",
                a.model.display()
            ),
            &chars,
            &tr,
        );
        lstm::io::write_atomic(&html, page.as_bytes())?;
        written.push(html);
    }
    println!(
        "{}: read {what}; wrote {}",
        model.config().rnn.describe(),
        crate::common::paths(written)
    );
    Ok(())
}
