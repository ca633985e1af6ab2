//! The adding problem (see `lstm::data::tasks`): trains one cell type at one lag and prints the
//! test MSE (predicting the mean scores ≈ 0.167; success is < 0.01).
//!
//! `cargo run --release -p lstm --example adding -- [cell=lstm] [T=100] [hidden=128] [steps=2000] [batch=64] [lr=0.001] [seed=0]`

use lstm::data::tasks::adding_problem;
use lstm::loss::RegressionLoss;
use lstm::model::{HeadKind, InputKind, Model, ModelConfig, Task};
use lstm::optim::OptimizerConfig;
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
    let cell = lstm::CellKind::parse(&arg(0, "lstm"))?;
    let t: usize = arg(1, "100").parse()?;
    let hidden: usize = arg(2, "128").parse()?;
    let steps: u64 = arg(3, "2000").parse()?;
    let batch: usize = arg(4, "64").parse()?;
    let lr: f32 = arg(5, "0.001").parse()?;
    let seed: u64 = arg(6, "0").parse()?;
    let train = adding_problem(steps as usize * batch, t, seed + 1);
    let test = adding_problem(1000, t, seed + 2);
    let config = ModelConfig {
        input: InputKind::Dense { features: 2 },
        rnn: RnnConfig::new(cell, 2, hidden),
        head: HeadKind::LastState,
        outputs: 1,
        task: Task::Regression {
            loss: RegressionLoss::Mse,
        },
        forget_bias: cell == CellKind::Lstm,
    };
    let model = Model::new(config, seed)?;
    let cfg = TrainConfig {
        optimizer: OptimizerConfig::adam(),
        lr,
        clip: Some(1.0),
        batch_size: batch,
        epochs: 1,
        max_steps: Some(steps),
        seed,
        ..TrainConfig::default()
    };
    let start = std::time::Instant::now();
    let mut tr = Trainer::new(model, cfg);
    tr.fit(&train, None, &mut Print((steps / 20).max(1)))?;
    let ev = evaluate(tr.model(), &test, 250)?;
    println!(
        "{} T={t} H={hidden}: {steps} steps × batch {batch}, {:.1} s: test MSE {:.5} (mean predictor ≈ 0.167)",
        cell.name(),
        start.elapsed().as_secs_f64(),
        ev.loss
    );
    Ok(())
}
