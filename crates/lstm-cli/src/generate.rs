//! `lstm generate`: samples text from a character language model, streaming to stdout.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use lstm::data::BatchInput;
use lstm::model::ModelTape;
use lstm::State;
use rand::{Rng, SeedableRng};

use crate::common;

/// Arguments of `lstm generate`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  lstm generate shakespeare.safetensors --prime \"ROMEO:\" --length 500
  lstm generate model.safetensors --temperature 0.5 --top-k 5 --seed 7")]
pub struct Args {
    /// A model trained by `lstm train` on a text file.
    pub model: PathBuf,
    /// Text to start from (every character must be in the model's vocabulary) [default: a random character].
    #[arg(long)]
    pub prime: Option<String>,
    /// Characters to generate after the prime.
    #[arg(long, default_value_t = 500)]
    pub length: usize,
    /// Sampling temperature: below 1 is more conservative, above 1 more surprising; 0 always takes the most likely character.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Sample only among the k most likely characters (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The precision the LSTM's weights are read in: f16 and i8 are faster for large models.
    #[arg(long, value_enum, default_value_t = common::Weights::F32)]
    pub weights: common::Weights,
    /// Same as `--weights f16`.
    #[arg(long, hide = true, conflicts_with = "weights")]
    pub f16_weights: bool,
}

/// Runs `lstm generate`.
pub fn run(a: Args) -> Result<()> {
    let weights = if a.f16_weights {
        common::Weights::F16
    } else {
        a.weights
    };
    let (model, meta) = common::load_model_with(&a.model, weights)?;
    let Some(vocab) = meta.vocab else {
        bail!("{}: not a text model (it has no vocabulary); `lstm generate` needs a model trained on a text file", a.model.display());
    };
    if !(a.temperature >= 0.0 && a.temperature.is_finite()) {
        bail!(
            "--temperature must be a number ≥ 0, found {}",
            a.temperature
        );
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let prime = match &a.prime {
        Some(p) if !p.is_empty() => vocab.encode(p).context("--prime")?,
        _ => vec![rng.random_range(0..vocab.len())],
    };
    let mut out = std::io::stdout().lock();
    out.write_all(vocab.decode(&prime).as_bytes())?;
    let mut tape = ModelTape::inference();
    let mut state: Option<State> = None;
    let step =
        |ids: &[usize], state: &mut Option<State>, tape: &mut ModelTape| -> Result<Vec<f32>> {
            let input = BatchInput::Tokens {
                ids: ids.to_vec(),
                t: ids.len(),
                b: 1,
            };
            let (logits, s) = model.forward(&input, None, state.as_ref(), None, tape)?;
            *state = Some(s);
            let v = vocab.len();
            Ok(logits[logits.len() - v..].to_vec())
        };
    let mut logits = step(&prime, &mut state, &mut tape)?;
    for _ in 0..a.length {
        let next = sample(&logits, a.temperature, a.top_k, &mut rng);
        out.write_all(vocab.decode(&[next]).as_bytes())?;
        out.flush()?;
        logits = step(&[next], &mut state, &mut tape)?;
    }
    writeln!(out)?;
    Ok(())
}

fn sample(logits: &[f32], temperature: f32, top_k: usize, rng: &mut impl Rng) -> usize {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if temperature == 0.0 {
        return order[0];
    }
    let k = if top_k == 0 {
        logits.len()
    } else {
        top_k.min(logits.len())
    };
    let max = logits[order[0]];
    let w: Vec<f64> = order[..k]
        .iter()
        .map(|&i| (((logits[i] - max) / temperature) as f64).exp())
        .collect();
    let mut u = rng.random::<f64>() * w.iter().sum::<f64>();
    for (j, wj) in w.iter().enumerate() {
        u -= wj;
        if u <= 0.0 {
            return order[j];
        }
    }
    order[k - 1]
}
