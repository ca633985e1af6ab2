//! `lstm inspect`: what a model file holds.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// Arguments of `lstm inspect`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  lstm inspect lstm-co2.safetensors
  lstm inspect pytorch_lstm.safetensors --prefix lstm.     a bare PyTorch nn.LSTM/GRU/RNN state_dict")]
pub struct Args {
    /// A model file written by `lstm train`, or a PyTorch state_dict of an nn.LSTM/GRU/RNN.
    pub model: PathBuf,
    /// For a bare state_dict: the module prefix of the recurrent tensors (e.g. `lstm.`).
    #[arg(long, default_value = "")]
    pub prefix: String,
}

/// Runs `lstm inspect`.
pub fn run(a: Args) -> Result<()> {
    match lstm::io::load_model(&a.model) {
        Ok((model, meta)) => {
            let c = model.config();
            println!(
                "task: {:?}; input: {:?}; head: {:?}; outputs: {}",
                c.task, c.input, c.head, c.outputs
            );
            println!("stack: {}", c.rnn.describe());
            let mut total = 0;
            for (name, shape, values) in model.named_params() {
                total += values.len();
                println!(
                    "  {name:<28} {:<12} {:>9}",
                    format!("{shape:?}"),
                    values.len()
                );
            }
            println!("{total} parameters");
            if let Some(s) = &meta.series {
                println!(
                    "series: targets {:?}, inputs {:?}, window {}, horizon {}, season {}, data {}",
                    s.targets, s.inputs, s.window, s.horizon, s.season, s.source
                );
            }
            if let Some(s) = &meta.scaling {
                for (i, col) in s.columns.iter().enumerate() {
                    println!("scaling: {col}: mean {:.4}, std {:.4}", s.mean[i], s.std[i]);
                }
            }
            if let Some(v) = &meta.vocab {
                println!("vocabulary: {} characters", v.len());
            }
            if !meta.classes.is_empty() {
                println!("classes: {}", meta.classes.join(", "));
            }
            if let (Some(first), Some(last)) = (meta.history.first(), meta.history.last()) {
                println!(
                    "history: {} points; step {}: train {:.5}{}; step {}: train {:.5}{}",
                    meta.history.len(),
                    first.step,
                    first.train_loss,
                    first
                        .val_loss
                        .map_or(String::new(), |v| format!(", val {v:.5}")),
                    last.step,
                    last.train_loss,
                    last.val_loss
                        .map_or(String::new(), |v| format!(", val {v:.5}"))
                );
            }
            Ok(())
        }
        Err(lstm::Error::Format { reason, .. }) if reason.contains("not an lstm model file") => {
            let stack = lstm::io::load_stack(&a.model, &a.prefix, None)
                .with_context(|| format!("cannot inspect {}", a.model.display()))?;
            println!("PyTorch state_dict: {}", stack.config().describe());
            let mut total = 0;
            for name in stack.param_names() {
                let t = stack.param(&name).expect("own parameter");
                total += t.data().len();
                println!("  {}{name:<24} {:?}", a.prefix, t.shape());
            }
            println!("{total} parameters");
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("cannot inspect {}", a.model.display())),
    }
}
