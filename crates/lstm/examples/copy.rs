//! The copy-memory task (see `lstm::data::tasks`): trains one cell type at lag T and prints the
//! test cross-entropy next to the memoryless baseline `10·ln 8 / (T + 20)`.
//!
//! `cargo run --release -p lstm --example copy -- [cell=lstm] [T=50] [hidden=128] [steps=3000] [batch=64] [lr=0.001] [seed=0]`

use lstm::data::tasks::{copy_memory, copy_memory_baseline, COPY_VOCAB};
use lstm::model::{HeadKind, InputKind, Model, ModelConfig, Task};
use lstm::train::{evaluate, Observer, StepInfo, TrainConfig, Trainer};
use lstm::{CellKind, RnnConfig};

struct Print(u64);
impl Observer for Print {
    fn on_step(&mut self, i: &StepInfo) -> bool {
        if i.step % self.0 == 0 {
            println!(
                "step {:>6}  loss {:.5}  grad norm {:.3}  {:.0} seq/s",
                i.step, i.loss, i.grad_norm, i.seqs_per_sec
            );
        }
        true
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let cell = CellKind::parse(&arg(0, "lstm"))?;
    let t: usize = arg(1, "50").parse()?;
    let hidden: usize = arg(2, "128").parse()?;
    let steps: u64 = arg(3, "3000").parse()?;
    let batch: usize = arg(4, "64").parse()?;
    let lr: f32 = arg(5, "0.001").parse()?;
    let seed: u64 = arg(6, "0").parse()?;
    let train = copy_memory(steps as usize * batch, t, seed + 1);
    let test = copy_memory(1000, t, seed + 2);
    let config = ModelConfig {
        input: InputKind::Embedding { vocab: COPY_VOCAB },
        rnn: RnnConfig::new(cell, 16, hidden),
        head: HeadKind::EveryStep,
        outputs: COPY_VOCAB,
        task: Task::Classification,
        forget_bias: cell == CellKind::Lstm,
    };
    let cfg = TrainConfig {
        lr,
        clip: Some(1.0),
        batch_size: batch,
        epochs: 1,
        max_steps: Some(steps),
        seed,
        ..TrainConfig::default()
    };
    let start = std::time::Instant::now();
    let mut tr = Trainer::new(Model::new(config, seed)?, cfg);
    tr.fit(&train, None, &mut Print((steps / 20).max(1)))?;
    let ev = evaluate(tr.model(), &test, 250)?;
    println!(
        "{} T={t} H={hidden}: {steps} steps × batch {batch}, {:.1} s: test cross-entropy {:.5} vs memoryless baseline {:.5} ({:.1}% of it), per-step accuracy {:.4}",
        cell.name(),
        start.elapsed().as_secs_f64(),
        ev.loss,
        copy_memory_baseline(t),
        100.0 * ev.loss / copy_memory_baseline(t),
        ev.accuracy.unwrap_or(0.0)
    );
    Ok(())
}
