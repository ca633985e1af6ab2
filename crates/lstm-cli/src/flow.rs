//! `lstm flow`: how far back the gradient of a loss at the last step reaches. Prints
//! `‖∂L/∂h_t‖` at a few steps and the ratio first/last for RNN, GRU and LSTM on the same inputs
//! (and for an RNN with large recurrent weights, with and without clipping), and charts
//! `log10 ‖∂L/∂h_t‖` against t.

use std::path::PathBuf;

use anyhow::{bail, Result};
use lstm::lab::flow::{compare_cells, gradient_flow, Flow};
use lstm::lab::LabTask;
use plotters::style::RGBColor;

use crate::common::{self, check_writable, print_table};
use crate::lab::{cell_color, display_cell};
use crate::plot::{chart, Line};

/// Arguments of `lstm flow`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  lstm flow                                    fresh RNN, GRU and LSTM at T = 100: gradient-flow.svg/.png
  lstm flow --lag 200 --gain 3
  lstm flow --model models/adding-lstm-T100-s0.safetensors --task adding   a trained model (from `lstm lab --save-models`)")]
pub struct Args {
    /// Sequence length T.
    #[arg(long, default_value_t = 100)]
    pub lag: usize,
    /// Hidden units of the fresh models.
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Sequences in the batch the norms are taken over.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Spectral radius of the recurrent weights of the exploding RNN.
    #[arg(long, default_value_t = 3.0)]
    pub gain: f32,
    /// Gradient clipping (global norm) applied to the exploding RNN.
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Seed of the models and inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A trained model instead of fresh ones (with --task for its inputs).
    #[arg(long, requires = "task")]
    pub model: Option<PathBuf>,
    /// The task whose sequences the model reads: adding, copy, order or dinner.
    #[arg(long)]
    pub task: Option<String>,
    /// Output stem: STEM.svg/.png and STEM.csv [default: gradient-flow].
    #[arg(long, default_value = "gradient-flow")]
    pub out: PathBuf,
}

/// Runs `lstm flow`.
pub fn run(a: Args) -> Result<()> {
    if a.lag < 2 || a.batch == 0 || a.hidden == 0 {
        bail!("--lag must be at least 2, --batch and --hidden at least 1");
    }
    let csv_path = PathBuf::from(format!("{}.csv", a.out.display()));
    check_writable(&csv_path)?;
    let mut named: Vec<(String, Vec<f64>, RGBColor)> = vec![];
    let mut rows = vec![];
    let mut add = |label: String, v: Vec<f64>, color: RGBColor, note: String| {
        let (first, last) = (v[0], v[v.len() - 1]);
        rows.push(vec![
            label.clone(),
            format!("{first:.3e}"),
            format!("{last:.3e}"),
            format!("{:.3e}", if last > 0.0 { first / last } else { 0.0 }),
            note,
        ]);
        named.push((label, v, color));
    };
    let push_flow =
        |f: &Flow, label: &str, add: &mut dyn FnMut(String, Vec<f64>, RGBColor, String)| {
            add(
                format!("{label} ‖∂L/∂h_t‖"),
                f.h.clone(),
                cell_color(f.cell),
                format!("loss {:.4}, ‖∇θ‖ {:.3e}", f.loss, f.param_norm),
            );
            if let Some(c) = &f.c {
                add(
                    format!("{label} ‖∂L/∂c_t‖"),
                    c.clone(),
                    RGBColor(23, 190, 207),
                    String::new(),
                );
            }
        };
    let title;
    if let Some(path) = &a.model {
        let task = LabTask::parse(a.task.as_deref().unwrap_or_default())?;
        let (model, _) = common::load_model(path)?;
        let data = task.samples(a.batch, a.lag, a.seed ^ 0xf10f);
        let idx: Vec<usize> = (0..a.batch).collect();
        let f = gradient_flow(&model, &data.batch(&idx))?;
        push_flow(&f, display_cell(f.cell), &mut add);
        title = format!(
            "Gradient flow of {} on {} sequences, T = {}",
            path.display(),
            task.name(),
            a.lag
        );
    } else {
        let flows = compare_cells(a.lag, a.hidden, a.batch, a.gain, a.seed)?;
        for f in &flows[..3] {
            push_flow(f, display_cell(f.cell), &mut add);
        }
        let big = &flows[3];
        add(
            format!("RNN, radius {} ‖∂L/∂h_t‖", a.gain),
            big.h.clone(),
            RGBColor(255, 127, 14),
            format!("loss {:.4}, ‖∇θ‖ {:.3e}", big.loss, big.param_norm),
        );
        add(
            format!("RNN, radius {}, clipped to {}", a.gain, a.clip),
            big.clipped(a.clip),
            RGBColor(127, 127, 127),
            format!("every term × {:.3e}", (a.clip / big.param_norm).min(1.0)),
        );
        title = format!(
            "Gradient flow from a loss at step T = {} (fresh models, H = {}, adding problem)",
            a.lag, a.hidden
        );
    }
    let t = named[0].1.len();
    print_table(&["", "at t = 1", "at t = T", "ratio t=1 / t=T", ""], &rows);
    let mut csv = String::from("t");
    for (label, _, _) in &named {
        csv.push_str(&format!(",\"{label}\""));
    }
    csv.push('\n');
    for i in 0..t {
        csv.push_str(&(i + 1).to_string());
        for (_, v, _) in &named {
            csv.push_str(&format!(",{:e}", v[i]));
        }
        csv.push('\n');
    }
    lstm::io::write_atomic(&csv_path, csv.as_bytes())?;
    let lines: Vec<Line> = named
        .into_iter()
        .map(|(label, v, color)| Line {
            label,
            points: v
                .iter()
                .enumerate()
                .map(|(i, &x)| ((i + 1) as f64, x.log10()))
                .collect(),
            color,
        })
        .collect();
    let mut written = vec![csv_path];
    written.extend(chart(
        &a.out,
        &title,
        "step t",
        "log10 ‖∂L/∂h_t‖",
        &lines,
        None,
    )?);
    println!("wrote {}", crate::common::paths(written));
    Ok(())
}
