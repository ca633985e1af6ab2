//! The training loop: epochs over shuffled batches (or truncated BPTT over a token stream, the
//! state carried from chunk to chunk), gradient clipping, learning-rate schedules, validation,
//! early stopping, keeping the best model, checkpoints that resume exactly, and an [`Observer`]
//! a CLI drives its progress display from.
//!
//! Determinism: the batch order of epoch `e` and the dropout masks of step `s` are drawn from
//! RNGs seeded by `(seed, e)` and `(seed, s)`, so a run is a pure function of its config, its data
//! and its thread count; a resumed run only needs the step count.
//!
//! Divergence: a non-finite loss or gradient norm stops training with [`Error::Diverged`] before
//! the update is applied; checkpoints are written only after good steps, so the last one survives.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::text::TokenStream;
use crate::data::{Batch, SampleSet};
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::io::model_file::{self, HistoryPoint, ModelMeta};
use crate::model::{Model, ModelGrads, ModelTape, Task};
use crate::optim::{clip_grad_norm, Optimizer, OptimizerConfig, Schedule};
use crate::stack::State;
use crate::tensor::Tensor;

/// Metadata key of the trainer state in checkpoints.
pub const TRAIN_KEY: &str = "lstm.train";

/// Training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// Base learning rate.
    pub lr: f32,
    /// Learning-rate schedule over optimizer steps.
    pub schedule: Schedule,
    /// Clip gradients to this global norm.
    pub clip: Option<f32>,
    /// Sequences per batch (sample sets).
    pub batch_size: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// Stop after this many optimizer steps in total.
    pub max_steps: Option<u64>,
    /// Stop after this many seconds of training (checked after each step).
    pub max_seconds: Option<f64>,
    /// Seed of batch order and dropout.
    pub seed: u64,
    /// Validate every this many steps (0: at the end of each epoch).
    pub val_every: u64,
    /// Stop after this many validations without improvement.
    pub patience: Option<usize>,
    /// Write a checkpoint here every `checkpoint_every` steps and at the end.
    pub checkpoint: Option<PathBuf>,
    /// Steps between checkpoints (0: only at the end).
    pub checkpoint_every: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            optimizer: OptimizerConfig::adam(),
            lr: 1e-3,
            schedule: Schedule::Constant,
            clip: Some(1.0),
            batch_size: 32,
            epochs: 10,
            max_steps: None,
            max_seconds: None,
            seed: 0,
            val_every: 0,
            patience: None,
            checkpoint: None,
            checkpoint_every: 0,
        }
    }
}

/// What an observer learns after each step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepInfo {
    /// Optimizer steps done.
    pub step: u64,
    /// Current epoch (0-based).
    pub epoch: usize,
    /// Steps per epoch.
    pub steps_per_epoch: u64,
    /// The step's loss.
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
    /// Learning rate used.
    pub lr: f32,
    /// Sequences per second over the step.
    pub seqs_per_sec: f64,
    /// The step budget, if known.
    pub total_steps: Option<u64>,
}

/// What an observer learns after each validation.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalInfo {
    /// Optimizer steps done.
    pub step: u64,
    /// The validation result.
    pub eval: Eval,
    /// Whether it is the best so far.
    pub improved: bool,
}

/// Receives progress; return `false` from `on_step` to stop (e.g. on Ctrl-C).
pub trait Observer {
    /// After each optimizer step.
    fn on_step(&mut self, _info: &StepInfo) -> bool {
        true
    }
    /// After each validation.
    fn on_eval(&mut self, _info: &EvalInfo) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// Loss and metric over a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eval {
    /// Mean loss per row (step or sequence).
    pub loss: f32,
    /// Classification accuracy.
    pub accuracy: Option<f32>,
    /// Rows evaluated.
    pub rows: usize,
}

impl Eval {
    /// Cross-entropy in bits (for language models).
    pub fn bits(&self) -> f32 {
        self.loss / std::f32::consts::LN_2
    }
}

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All epochs done.
    Epochs,
    /// The step budget was reached.
    MaxSteps,
    /// The time budget was reached.
    TimeBudget,
    /// Validation stopped improving.
    EarlyStop,
    /// The observer asked to stop.
    Interrupted,
}

/// The outcome of a `fit`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// Optimizer steps done in total.
    pub steps: u64,
    /// Why it stopped.
    pub stop: StopReason,
    /// Best validation loss, if validated.
    pub best_val: Option<f32>,
    /// Mean training loss of the last epoch (or partial epoch).
    pub last_train_loss: f32,
}

/// The trainer's own state, saved in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TrainState {
    config: TrainConfig,
    step: u64,
    optimizer_steps: u64,
    best_val: Option<f32>,
    stale: usize,
    groups: Vec<usize>,
    blocks: usize,
}

/// A model being trained: the model, its optimizer, the step count and what is carried.
#[derive(Debug, Clone)]
pub struct Trainer {
    model: Model,
    optimizer: Optimizer,
    config: TrainConfig,
    step: u64,
    /// The recurrent state carried between truncated-BPTT chunks.
    carry: Option<State>,
    /// Model metadata (scaling, vocabulary, history) written with every model/checkpoint.
    pub meta: ModelMeta,
    best: Option<(f32, Model)>,
    stale: usize,
    grads: ModelGrads,
    tape: ModelTape,
}

fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    idx.shuffle(&mut rng);
    idx
}

fn step_rng(seed: u64, step: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_add((step + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)))
}

impl Trainer {
    /// A trainer for `model` with a fresh optimizer.
    pub fn new(model: Model, config: TrainConfig) -> Self {
        let lens: Vec<usize> = model.param_groups().iter().map(|g| g.len()).collect();
        Trainer {
            optimizer: Optimizer::new(config.optimizer.clone(), &lens)
                .with_threads(model.stack().threads()),
            grads: model.zero_grads(),
            model,
            config,
            step: 0,
            carry: None,
            meta: ModelMeta::default(),
            best: None,
            stale: 0,
            tape: ModelTape::default(),
        }
    }

    /// The model as trained so far.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The best model seen by validation, or the current one.
    pub fn best_model(&self) -> &Model {
        self.best.as_ref().map_or(&self.model, |(_, m)| m)
    }

    /// Optimizer steps done.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Changes the settings (e.g. a larger step budget after resuming); the optimizer stays.
    pub fn set_config(&mut self, config: TrainConfig) -> Result<()> {
        if config.optimizer != self.config.optimizer {
            return Err(Error::config(
                "optimizer",
                "cannot change the optimizer of a trainer",
            ));
        }
        self.config = config;
        Ok(())
    }

    /// One optimizer step on `batch`: forward (dropout on), loss, backward, clip, update.
    /// With `carry`, the state carried from the previous chunk is the initial state and this
    /// chunk's final state is kept (no gradient flows into the previous chunk).
    ///
    /// Subnormal values are flushed to zero on the calling thread meanwhile (see
    /// [`crate::kernels::denormal`]): vanishing gradients otherwise slow a step down manyfold.
    pub fn train_step(&mut self, batch: &Batch, carry: bool) -> Result<(f32, f32)> {
        let _flush = crate::kernels::denormal::FlushDenormals::new();
        let step_no = self.step + 1;
        let mut rng = step_rng(self.config.seed, self.step);
        let init = if carry { self.carry.as_ref() } else { None };
        let (out, state) = self.model.forward(
            &batch.input,
            batch.lengths.as_deref(),
            init,
            Some(&mut rng),
            &mut self.tape,
        )?;
        let lo = self.model.loss(&out, &batch.target, &self.tape)?;
        if !lo.loss.is_finite() {
            return Err(Error::Diverged {
                step: step_no,
                reason: format!("the loss is {}", lo.loss),
            });
        }
        self.grads.zero();
        self.model
            .backward(&mut self.tape, &lo.d_out, &mut self.grads)?;
        let mut groups = self.grads.groups_mut();
        let norm = match self.config.clip {
            Some(c) => clip_grad_norm(&mut groups, c),
            None => crate::optim::global_norm(&groups),
        };
        if !norm.is_finite() {
            return Err(Error::Diverged {
                step: step_no,
                reason: format!("the gradient norm is {norm}"),
            });
        }
        let lr = self.config.schedule.lr_at(self.config.lr, self.step);
        let grads: Vec<&[f32]> = groups.iter().map(|g| &**g).collect();
        self.optimizer
            .step(&mut self.model.param_groups_mut(), &grads, lr);
        if carry {
            self.carry = Some(state);
        }
        self.step = step_no;
        Ok((lo.loss, norm))
    }

    /// Trains on a sample set (shuffled mini-batches), validating on `val` if given.
    pub fn fit(
        &mut self,
        train: &SampleSet,
        val: Option<&SampleSet>,
        obs: &mut dyn Observer,
    ) -> Result<TrainReport> {
        train.validate("training data")?;
        if let Some(v) = val {
            v.validate("validation data")?;
        }
        if self.config.batch_size == 0 {
            return Err(Error::config("batch_size", "must be at least 1"));
        }
        let bs = self.config.batch_size;
        let spe = train.len().div_ceil(bs) as u64;
        let seed = self.config.seed;
        // The shuffled order of the current epoch, drawn once per epoch.
        let mut order: Option<(usize, Vec<usize>)> = None;
        self.run(
            spe,
            obs,
            |tr, step| {
                let (epoch, pos) = ((step / spe) as usize, (step % spe) as usize);
                if order.as_ref().is_none_or(|(e, _)| *e != epoch) {
                    order = Some((epoch, epoch_order(train.len(), seed, epoch)));
                }
                let order = &order.as_ref().expect("set above").1;
                let idx = &order[pos * bs..((pos + 1) * bs).min(order.len())];
                let batch = train.batch(idx);
                let (loss, norm) = tr.train_step(&batch, false)?;
                Ok((loss, norm, idx.len()))
            },
            |tr| val.map(|v| tr.evaluate(v)).transpose(),
        )
    }

    /// Trains a language model on a token stream with truncated BPTT (state carried across
    /// chunks within an epoch, reset at each epoch's start).
    pub fn fit_stream(
        &mut self,
        train: &TokenStream,
        val: Option<&TokenStream>,
        obs: &mut dyn Observer,
    ) -> Result<TrainReport> {
        let spe = train.chunks() as u64;
        self.run(
            spe,
            obs,
            |tr, step| {
                let pos = (step % spe) as usize;
                if pos == 0 {
                    tr.carry = None;
                }
                let batch = train.chunk(pos);
                let (loss, norm) = tr.train_step(&batch, true)?;
                Ok((loss, norm, batch.input.dims().1))
            },
            |tr| val.map(|v| tr.evaluate_stream(v)).transpose(),
        )
    }

    /// The loop shared by [`Trainer::fit`] and [`Trainer::fit_stream`].
    fn run(
        &mut self,
        spe: u64,
        obs: &mut dyn Observer,
        mut one_step: impl FnMut(&mut Self, u64) -> Result<(f32, f32, usize)>,
        mut validate: impl FnMut(&Self) -> Result<Option<Eval>>,
    ) -> Result<TrainReport> {
        let start = Instant::now();
        let epoch_steps = spe * self.config.epochs as u64;
        let budget = self
            .config
            .max_steps
            .map_or(epoch_steps, |m| m.min(epoch_steps));
        let (mut loss_sum, mut loss_n) = (0.0f64, 0u64);
        let mut last_train = f32::NAN;
        let stop = loop {
            if self.step >= budget {
                break if self.config.max_steps.is_some_and(|m| m <= epoch_steps) {
                    StopReason::MaxSteps
                } else {
                    StopReason::Epochs
                };
            }
            if self
                .config
                .max_seconds
                .is_some_and(|s| start.elapsed().as_secs_f64() >= s)
            {
                break StopReason::TimeBudget;
            }
            let t0 = Instant::now();
            let (loss, norm, seqs) = one_step(self, self.step)?;
            loss_sum += loss as f64;
            loss_n += 1;
            let info = StepInfo {
                step: self.step,
                epoch: ((self.step - 1) / spe) as usize,
                steps_per_epoch: spe,
                loss,
                grad_norm: norm,
                lr: self.config.schedule.lr_at(self.config.lr, self.step - 1),
                seqs_per_sec: seqs as f64 / t0.elapsed().as_secs_f64().max(1e-9),
                total_steps: Some(budget),
            };
            let go_on = obs.on_step(&info);
            let end_of_epoch = self.step.is_multiple_of(spe);
            let due = if self.config.val_every == 0 {
                end_of_epoch
            } else {
                self.step.is_multiple_of(self.config.val_every)
            };
            let mut early = false;
            if due || end_of_epoch {
                let train_loss = (loss_sum / loss_n.max(1) as f64) as f32;
                last_train = train_loss;
                let ev = if due { validate(self)? } else { None };
                let mut point = HistoryPoint {
                    step: self.step,
                    train_loss,
                    val_loss: None,
                    val_accuracy: None,
                };
                if let Some(ev) = ev {
                    let improved = self.best.as_ref().is_none_or(|(b, _)| ev.loss < *b);
                    if improved {
                        self.best = Some((ev.loss, self.model.clone()));
                        self.stale = 0;
                    } else {
                        self.stale += 1;
                    }
                    point.val_loss = Some(ev.loss);
                    point.val_accuracy = ev.accuracy;
                    obs.on_eval(&EvalInfo {
                        step: self.step,
                        eval: ev,
                        improved,
                    });
                    early = self.config.patience.is_some_and(|p| self.stale >= p);
                }
                self.meta.history.push(point);
                loss_sum = 0.0;
                loss_n = 0;
            }
            if let Some(path) = &self.config.checkpoint {
                if self.config.checkpoint_every > 0
                    && self.step.is_multiple_of(self.config.checkpoint_every)
                {
                    self.save_checkpoint(&path.clone())?;
                }
            }
            if early {
                break StopReason::EarlyStop;
            }
            if !go_on {
                break StopReason::Interrupted;
            }
        };
        if loss_n > 0 {
            last_train = (loss_sum / loss_n as f64) as f32;
        }
        if let Some(path) = self.config.checkpoint.clone() {
            self.save_checkpoint(&path)?;
        }
        Ok(TrainReport {
            steps: self.step,
            stop,
            best_val: self.best.as_ref().map(|(b, _)| *b),
            last_train_loss: last_train,
        })
    }

    /// Loss (and accuracy for classifiers) of the current model over a sample set, in batches.
    pub fn evaluate(&self, data: &SampleSet) -> Result<Eval> {
        evaluate(&self.model, data, self.config.batch_size.max(1))
    }

    /// Loss over a token stream, the state carried across chunks.
    pub fn evaluate_stream(&self, data: &TokenStream) -> Result<Eval> {
        let mut tape = ModelTape::inference();
        let (mut sum, mut rows, mut correct) = (0.0f64, 0usize, 0usize);
        let mut carry: Option<State> = None;
        for k in 0..data.chunks() {
            let batch = data.chunk(k);
            let (out, state) =
                self.model
                    .forward(&batch.input, None, carry.as_ref(), None, &mut tape)?;
            let lo = self.model.loss(&out, &batch.target, &tape)?;
            sum += lo.loss as f64 * lo.rows as f64;
            rows += lo.rows;
            correct += lo.correct;
            carry = Some(state);
        }
        Ok(Eval {
            loss: (sum / rows.max(1) as f64) as f32,
            accuracy: Some(correct as f32 / rows.max(1) as f32),
            rows,
        })
    }

    /// Writes a checkpoint (model, optimizer state, carried state, trainer state) atomically.
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let mut tensors = self.model.named_params();
        for (g, blocks) in self.optimizer.state().iter().enumerate() {
            for (j, b) in blocks.iter().enumerate() {
                tensors.push((format!("optim.g{g}.s{j}"), vec![b.len()], b.clone()));
            }
        }
        if let Some(st) = &self.carry {
            tensors.push((
                "carry.h".into(),
                st.h.shape().to_vec(),
                st.h.data().to_vec(),
            ));
            if let Some(c) = &st.c {
                tensors.push(("carry.c".into(), c.shape().to_vec(), c.data().to_vec()));
            }
        }
        let state = TrainState {
            config: self.config.clone(),
            step: self.step,
            optimizer_steps: self.optimizer.steps(),
            best_val: self.best.as_ref().map(|(b, _)| *b),
            stale: self.stale,
            groups: self
                .optimizer
                .state()
                .iter()
                .map(|g| g.first().map_or(0, Vec::len))
                .collect(),
            blocks: self.optimizer.state().first().map_or(0, Vec::len),
        };
        let mut meta = model_file::model_metadata(&self.model, &self.meta)?;
        meta.insert(
            TRAIN_KEY.into(),
            serde_json::to_string(&state).map_err(|e| Error::Format {
                path: "<memory>".into(),
                reason: e.to_string(),
            })?,
        );
        write_atomic(path, &model_file::encode(&tensors, meta)?)
    }

    /// Resumes from a checkpoint written by [`Trainer::save_checkpoint`].
    pub fn load_checkpoint(path: &Path) -> Result<Trainer> {
        let source = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|error| Error::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let dec = model_file::decode(&bytes, &source)?;
        let (config, meta) = model_file::model_config_of(&dec, &source)?;
        let fmt = |reason: String| Error::Format {
            path: source.clone(),
            reason,
        };
        let state: TrainState = serde_json::from_str(dec.meta.get(TRAIN_KEY).ok_or_else(|| {
            fmt(format!(
                "a model file, not a checkpoint (no `{TRAIN_KEY}` metadata)"
            ))
        })?)
        .map_err(|e| fmt(format!("metadata `{TRAIN_KEY}` is invalid: {e}")))?;
        let model = model_file::model_from_tensors(config, &dec, &["optim.", "carry."])?;
        let mut tr = Trainer::new(model, state.config.clone());
        let get = |name: &str| dec.tensors.iter().find(|(n, _, _)| n == name);
        let mut opt_state = Vec::new();
        for g in 0..state.groups.len() {
            let mut blocks = Vec::new();
            for j in 0..state.blocks {
                let name = format!("optim.g{g}.s{j}");
                let (_, _, v) = get(&name).ok_or_else(|| Error::MissingTensor {
                    name,
                    expected: vec![state.groups[g]],
                    hint: String::new(),
                })?;
                blocks.push(v.clone());
            }
            opt_state.push(blocks);
        }
        tr.optimizer.restore(state.optimizer_steps, opt_state)?;
        if let Some((_, s, h)) = get("carry.h") {
            let c = get("carry.c")
                .map(|(_, s, c)| Tensor::new("carry.c", s, c.clone()))
                .transpose()?;
            tr.carry = Some(State {
                h: Tensor::new("carry.h", s, h.clone())?,
                c,
            });
        }
        tr.step = state.step;
        tr.stale = state.stale;
        tr.best = state.best_val.map(|b| (b, tr.model.clone()));
        tr.meta = meta;
        Ok(tr)
    }

    /// Saves the best model (or the current one) as a model file.
    pub fn save_model(&self, path: &Path) -> Result<()> {
        model_file::save_model(path, self.best_model(), &self.meta)
    }
}

/// Loss (and accuracy) of `model` over `data` in batches of `batch_size`.
pub fn evaluate(model: &Model, data: &SampleSet, batch_size: usize) -> Result<Eval> {
    data.validate("evaluation data")?;
    let mut tape = ModelTape::inference();
    let (mut sum, mut rows, mut correct) = (0.0f64, 0usize, 0usize);
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(batch_size.max(1)) {
        let batch = data.batch(chunk);
        let (out, _) = model.forward(
            &batch.input,
            batch.lengths.as_deref(),
            None,
            None,
            &mut tape,
        )?;
        let lo = model.loss(&out, &batch.target, &tape)?;
        sum += lo.loss as f64 * lo.rows as f64;
        rows += lo.rows;
        correct += lo.correct;
    }
    let classifies = !matches!(model.config().task, Task::Regression { .. });
    Ok(Eval {
        loss: (sum / rows.max(1) as f64) as f32,
        accuracy: classifies.then(|| correct as f32 / rows.max(1) as f32),
        rows,
    })
}
