//! One lab run: a fresh model of one cell type trained on one long-lag task at one lag, on a
//! fresh batch every step, evaluated on a fixed test set every `eval_every` steps, stopped when it
//! succeeds or when the step budget is spent. [`run_all`] runs many on a pool of threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::config::{CellKind, RnnConfig};
use crate::data::tasks::{
    adding_problem, copy_memory, copy_memory_baseline, dinner, temporal_order, COPY_VOCAB, DISHES,
    ORDER_CLASSES, ORDER_SYMBOLS,
};
use crate::data::SampleSet;
use crate::error::{Error, Result};
use crate::loss::RegressionLoss;
use crate::model::{HeadKind, InputKind, Model, ModelConfig, Task};
use crate::train::{evaluate, TrainConfig, Trainer};

/// The long-lag tasks of the lab (see [`crate::data::tasks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabTask {
    /// The adding problem; success: test MSE < 0.01.
    Adding,
    /// Copy memory; success: test cross-entropy < 10 % of the memoryless baseline.
    Copy,
    /// Temporal order (Hochreiter & Schmidhuber 1997, 6a); success: ≥ 99 % test accuracy.
    Order,
    /// The dinner cycle; success: 100 % per-step test accuracy.
    Dinner,
}

impl LabTask {
    /// Every task, in order.
    pub const ALL: [LabTask; 4] = [
        LabTask::Adding,
        LabTask::Copy,
        LabTask::Order,
        LabTask::Dinner,
    ];

    /// The task's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LabTask::Adding => "adding",
            LabTask::Copy => "copy",
            LabTask::Order => "order",
            LabTask::Dinner => "dinner",
        }
    }

    /// Parses [`LabTask::name`].
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                Error::config(
                    "task",
                    format!("unknown lab task `{s}`; expected adding, copy, order or dinner"),
                )
            })
    }

    /// What the reported metric is.
    pub fn metric_name(self) -> &'static str {
        match self {
            LabTask::Adding => "test MSE",
            LabTask::Copy => "test CE / baseline",
            LabTask::Order | LabTask::Dinner => "test accuracy",
        }
    }

    /// The success criterion, in words.
    pub fn criterion(self) -> &'static str {
        match self {
            LabTask::Adding => "test MSE < 0.01 (predicting the mean scores 0.167)",
            LabTask::Copy => "test cross-entropy < 10% of the memoryless baseline",
            LabTask::Order => "test accuracy >= 99% (chance is 25%)",
            LabTask::Dinner => "test accuracy = 100%",
        }
    }

    /// Whether `metric` (as [`LabTask::metric_name`] defines it) is a success.
    pub fn solved(self, metric: f32) -> bool {
        match self {
            LabTask::Adding => metric < 0.01,
            LabTask::Copy => metric < 0.1,
            LabTask::Order => metric >= 0.99,
            LabTask::Dinner => metric >= 1.0,
        }
    }

    /// The number of test sequences.
    pub fn test_size(self) -> usize {
        match self {
            LabTask::Order => 2560,
            LabTask::Dinner => 64,
            LabTask::Adding | LabTask::Copy => 1000,
        }
    }

    /// Names of the input symbols (token tasks) and of the classes (classification tasks).
    pub fn vocabulary(self) -> (Vec<&'static str>, Vec<&'static str>) {
        match self {
            LabTask::Adding => (vec![], vec![]),
            LabTask::Copy => {
                let s = vec!["_", "1", "2", "3", "4", "5", "6", "7", "8", ":"];
                (s.clone(), s)
            }
            LabTask::Order => (ORDER_SYMBOLS.to_vec(), ORDER_CLASSES.to_vec()),
            LabTask::Dinner => (DISHES.to_vec(), DISHES.to_vec()),
        }
    }

    /// `n` sequences at `lag` (days, for dinner) from `seed`.
    pub fn samples(self, n: usize, lag: usize, seed: u64) -> SampleSet {
        match self {
            LabTask::Adding => adding_problem(n, lag.max(2), seed),
            LabTask::Copy => copy_memory(n, lag.max(1), seed),
            LabTask::Order => temporal_order(n, lag, seed),
            LabTask::Dinner => dinner(n, lag.max(1), seed),
        }
    }

    /// The model a run trains: `cell` with `hidden` units, the task's input and head.
    pub fn model_config(self, cell: CellKind, hidden: usize) -> ModelConfig {
        let classify = |vocab: usize, emb: usize, head: HeadKind, classes: usize| ModelConfig {
            input: InputKind::Embedding { vocab },
            rnn: RnnConfig::new(cell, emb, hidden),
            head,
            outputs: classes,
            task: Task::Classification,
            forget_bias: cell == CellKind::Lstm,
        };
        match self {
            LabTask::Adding => ModelConfig {
                input: InputKind::Dense { features: 2 },
                rnn: RnnConfig::new(cell, 2, hidden),
                head: HeadKind::LastState,
                outputs: 1,
                task: Task::Regression {
                    loss: RegressionLoss::Mse,
                },
                forget_bias: cell == CellKind::Lstm,
            },
            LabTask::Copy => classify(COPY_VOCAB, 16, HeadKind::EveryStep, COPY_VOCAB),
            LabTask::Order => classify(ORDER_SYMBOLS.len(), 8, HeadKind::LastState, 4),
            LabTask::Dinner => classify(DISHES.len(), 3, HeadKind::EveryStep, DISHES.len()),
        }
    }

    /// Defaults of a run of this task: `(hidden, steps, batch, lr, eval_every)`.
    pub fn defaults(self) -> (usize, u64, usize, f32, u64) {
        match self {
            LabTask::Adding => (64, 10_000, 32, 0.01, 100),
            LabTask::Copy => (64, 10_000, 32, 0.003, 100),
            LabTask::Order => (32, 10_000, 32, 0.003, 100),
            LabTask::Dinner => (3, 300, 16, 0.05, 10),
        }
    }
}

/// One run: which task, cell, lag and seed, and the training budget.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The task.
    pub task: LabTask,
    /// The cell type.
    pub cell: CellKind,
    /// The lag (sequence length; days for dinner).
    pub lag: usize,
    /// Seeds the model, the training batches and the test set.
    pub seed: u64,
    /// H.
    pub hidden: usize,
    /// The step budget.
    pub steps: u64,
    /// Sequences per step.
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f32,
    /// Steps between test evaluations (success is checked there).
    pub eval_every: u64,
    /// Whether to stop at the first success (otherwise the whole budget is trained).
    pub stop_at_success: bool,
    /// LSTM only: initial gate biases `b_i = −m`, `b_f = +m` (see [`memory_bias`]); 0 keeps
    /// PyTorch's initialisation with the forget-gate bias at 1.
    pub memory_bias: f32,
}

impl RunSpec {
    /// A run with the task's defaults.
    pub fn new(task: LabTask, cell: CellKind, lag: usize, seed: u64) -> Self {
        let (hidden, steps, batch, lr, eval_every) = task.defaults();
        RunSpec {
            task,
            cell,
            lag,
            seed,
            hidden,
            steps,
            batch,
            lr,
            eval_every,
            stop_at_success: task != LabTask::Dinner,
            memory_bias: if cell == CellKind::Lstm && task != LabTask::Dinner {
                3.0
            } else {
                0.0
            },
        }
    }

    /// The test set (the same for every cell type at a given lag and seed).
    pub fn test_set(&self) -> SampleSet {
        self.task.samples(
            self.task.test_size(),
            self.lag,
            self.seed ^ 0x7e57_7e57_7e57_7e57,
        )
    }

    /// The training batch of step `step` (fresh sequences every step).
    pub fn train_set(&self, step: u64) -> SampleSet {
        let s = self
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(step.wrapping_mul(0xbf58_476d_1ce4_e5b9))
            .rotate_left(17);
        self.task.samples(self.batch, self.lag, s)
    }

    /// The metric of `model` on the test set (see [`LabTask::metric_name`]).
    pub fn metric(&self, model: &Model, test: &SampleSet) -> Result<f32> {
        let ev = evaluate(model, test, 256)?;
        Ok(match self.task {
            LabTask::Adding => ev.loss,
            LabTask::Copy => ev.loss / copy_memory_baseline(self.lag),
            LabTask::Order | LabTask::Dinner => ev.accuracy.unwrap_or(0.0),
        })
    }
}

/// Sets every LSTM layer's input-gate bias to `−m` and forget-gate bias to `+m` (`b_ih`; the
/// `b_hh` parts to 0): a fresh cell then keeps what it holds (`f = σ(m)`, 0.95 for m = 3) and
/// writes little (`i = σ(−m)`) until training opens its input gate for what matters. The
/// negative input-gate bias is Hochreiter & Schmidhuber's (1997) own initialisation for their
/// long-lag experiments; the open forget gate is Gers et al.'s (2000). With PyTorch's default
/// initialisation (and `b_f = 1`) every distractor is written into the cell, and the LSTM does
/// not learn the temporal-order task at lag 100 within 15 000 steps.
pub fn memory_bias(model: &mut Model, m: f32) -> Result<()> {
    let cfg = &model.config().rnn;
    if cfg.cell != CellKind::Lstm || !cfg.bias {
        return Err(Error::config("memory_bias", "needs an LSTM with biases"));
    }
    let h = cfg.hidden_size;
    for (name, shape, mut v) in model.named_params() {
        let is_ih = name.contains("bias_ih");
        if is_ih || name.contains("bias_hh") {
            v[..h].fill(if is_ih { -m } else { 0.0 });
            v[h..2 * h].fill(if is_ih { m } else { 0.0 });
            model.set_named_param(&name, &shape, &v)?;
        }
    }
    Ok(())
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The run.
    pub spec: RunSpec,
    /// The step at which the test metric first met the criterion, if it did.
    pub solved_at: Option<u64>,
    /// Steps trained.
    pub steps: u64,
    /// The last test metric.
    pub metric: f32,
    /// `(step, test metric)` at every evaluation.
    pub curve: Vec<(u64, f32)>,
    /// Why training stopped early without success (a diverged loss), if it did.
    pub failure: Option<String>,
    /// Wall time.
    pub seconds: f64,
    /// The trained model.
    pub model: Model,
}

/// Trains one run on one thread. `on_eval(step, metric)` is called at every evaluation.
pub fn run(spec: &RunSpec, on_eval: &mut dyn FnMut(u64, f32)) -> Result<RunResult> {
    if spec.batch == 0 || spec.hidden == 0 || spec.eval_every == 0 {
        return Err(Error::config(
            "lab",
            "batch, hidden and eval_every must be at least 1",
        ));
    }
    let start = Instant::now();
    let mut model =
        Model::new(spec.task.model_config(spec.cell, spec.hidden), spec.seed)?.with_threads(1);
    if spec.cell == CellKind::Lstm && spec.memory_bias != 0.0 {
        memory_bias(&mut model, spec.memory_bias)?;
    }
    let cfg = TrainConfig {
        lr: spec.lr,
        clip: Some(1.0),
        batch_size: spec.batch,
        seed: spec.seed,
        ..TrainConfig::default()
    };
    let mut tr = Trainer::new(model, cfg);
    let test = spec.test_set();
    let idx: Vec<usize> = (0..spec.batch).collect();
    let mut curve = vec![];
    let mut solved_at = None;
    let mut failure = None;
    let mut step = 0;
    while step < spec.steps {
        let batch = spec.train_set(step).batch(&idx);
        match tr.train_step(&batch, false) {
            Ok(_) => {}
            Err(Error::Diverged { step, reason }) => {
                failure = Some(format!("diverged at step {step}: {reason}"));
                break;
            }
            Err(e) => return Err(e),
        }
        step += 1;
        if step % spec.eval_every == 0 || step == spec.steps {
            let m = spec.metric(tr.model(), &test)?;
            curve.push((step, m));
            on_eval(step, m);
            if spec.task.solved(m) {
                solved_at = solved_at.or(Some(step));
                if spec.stop_at_success {
                    break;
                }
            }
        }
    }
    let metric = match curve.last() {
        Some(&(_, m)) => m,
        None => spec.metric(tr.model(), &test)?,
    };
    Ok(RunResult {
        spec: spec.clone(),
        solved_at,
        steps: step,
        metric,
        curve,
        failure,
        seconds: start.elapsed().as_secs_f64(),
        model: tr.model().clone(),
    })
}

/// Runs every spec on `threads` threads (each run single-threaded), longest first; calls
/// `on_done(index, result)` as each finishes and returns the results in `specs`' order.
pub fn run_all(
    specs: &[RunSpec],
    threads: usize,
    on_done: &(dyn Fn(usize, &Result<RunResult>) + Sync),
) -> Vec<Result<RunResult>> {
    let cost = |s: &RunSpec| s.steps as f64 * s.lag as f64 * (s.cell.gates() as f64 + 1.0);
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by(|&a, &b| cost(&specs[b]).total_cmp(&cost(&specs[a])));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RunResult>>>> =
        Mutex::new((0..specs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, specs.len().max(1)) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = order.get(k) else { break };
                let r = run(&specs[i], &mut |_, _| {});
                on_done(i, &r);
                results.lock().expect("no run panics holding the lock")[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .expect("no run panics holding the lock")
        .into_iter()
        .map(|r| r.expect("every run finished"))
        .collect()
}
