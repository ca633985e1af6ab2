//! The long-lag tasks of `lstm::data::tasks` at full size: trains one cell type at one lag and
//! prints the test metric next to the memoryless baseline.
//!
//! ```text
//! cargo run --release -p lstm --example longlag -- adding [cell=lstm] [T=100] [hidden=128] [steps=2000] [batch=64] [lr=0.001] [seed=0]
//! cargo run --release -p lstm --example longlag -- copy   [cell=lstm] [T=50]  [hidden=128] [steps=3000] [batch=64] [lr=0.001] [seed=0]
//! ```
//! adding: test MSE (predicting the mean scores ≈ 0.167; success is < 0.01).
//! copy: test cross-entropy vs the memoryless baseline `10·ln 8 / (T + 20)`.

use lstm::data::tasks::{adding_problem, copy_memory, copy_memory_baseline};
use lstm::lab::LabTask;
use lstm::model::Model;
use lstm::train::{evaluate, Observer, StepInfo, TrainConfig, Trainer};
use lstm::CellKind;

struct Print(u64);
impl Observer for Print {
    fn on_step(&mut self, i: &StepInfo) -> bool {
        if i.step.is_multiple_of(self.0) {
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
    let task = arg(0, "adding");
    let copy = match task.as_str() {
        "adding" => false,
        "copy" => true,
        other => return Err(format!("unknown task `{other}`: adding or copy").into()),
    };
    let cell = CellKind::parse(&arg(1, "lstm"))?;
    let t: usize = arg(2, if copy { "50" } else { "100" }).parse()?;
    let hidden: usize = arg(3, "128").parse()?;
    let steps: u64 = arg(4, if copy { "3000" } else { "2000" }).parse()?;
    let batch: usize = arg(5, "64").parse()?;
    let lr: f32 = arg(6, "0.001").parse()?;
    let seed: u64 = arg(7, "0").parse()?;
    let n = steps as usize * batch;
    let (train, test, config) = if copy {
        (
            copy_memory(n, t, seed + 1),
            copy_memory(1000, t, seed + 2),
            LabTask::Copy.model_config(cell, hidden),
        )
    } else {
        (
            adding_problem(n, t, seed + 1),
            adding_problem(1000, t, seed + 2),
            LabTask::Adding.model_config(cell, hidden),
        )
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
    let head = format!(
        "{task} {} T={t} H={hidden}: {steps} steps × batch {batch}, lr {lr}, {:.1} s",
        cell.name(),
        start.elapsed().as_secs_f64()
    );
    if copy {
        let base = copy_memory_baseline(t);
        println!(
            "{head}: test cross-entropy {:.5} vs memoryless baseline {base:.5} ({:.1}% of it), per-step accuracy {:.4}",
            ev.loss,
            100.0 * ev.loss / base,
            ev.accuracy.unwrap_or(0.0)
        );
    } else {
        println!("{head}: test MSE {:.5} (mean predictor ≈ 0.167)", ev.loss);
    }
    Ok(())
}
