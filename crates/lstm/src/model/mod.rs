//! Complete models: input (dense features or a token embedding) → recurrent stack → linear head,
//! for regression/forecasting, sequence classification and language modelling.
//!
//! Shapes: the stack sees `x: [T, B, F]` (F = features, or the embedding size); the head reads
//! `K = D·H_out` features per row — every step's output (`N = T·B` rows) or the last layer's final
//! states of both directions concatenated (`N = B` rows) — and writes `[N, O]`.
//! Parameter names (PyTorch's, under a module prefix): `embedding.weight [V, E]`,
//! `lstm.weight_ih_l0 …` (the stack, whatever its cell type), `head.weight [O, K]`, `head.bias [O]`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{CellKind, RnnConfig};
use crate::data::{BatchInput, BatchTarget};
use crate::error::{Error, Result};
use crate::kernels::gemm::{matmul, Acc, MatMut, MatRef};
use crate::loss::{cross_entropy, regression, RegressionLoss};
use crate::stack::{Grads, Stack, State, Tape, WeightPrecision};
use crate::tensor::Tensor;

/// Module prefix of the stack's tensors in model files.
pub const STACK_PREFIX: &str = "lstm.";

/// What feeds the stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputKind {
    /// Real features, fed as they are (`F = rnn.input_size`).
    Dense {
        /// F.
        features: usize,
    },
    /// Token ids looked up in an embedding table `[V, E]` (`E = rnn.input_size`).
    Embedding {
        /// V.
        vocab: usize,
    },
}

/// Which rows the head reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadKind {
    /// Every step's output: `N = T·B` rows (padding rows masked).
    EveryStep,
    /// The final state of the last layer (each sequence's last valid step; both directions):
    /// `N = B` rows.
    LastState,
}

/// The task, which fixes the loss and the metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// Real targets; `O` outputs.
    Regression {
        /// The loss.
        loss: RegressionLoss,
    },
    /// Softmax cross-entropy over `O` classes; accuracy.
    Classification,
    /// Next-token cross-entropy over `O = V` tokens at every step; also in bits per token.
    LanguageModel,
}

/// A model's full configuration (stored in every model file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Input layer.
    pub input: InputKind,
    /// The recurrent stack.
    pub rnn: RnnConfig,
    /// Which rows the head reads.
    pub head: HeadKind,
    /// O: head outputs (targets, classes or vocabulary size).
    pub outputs: usize,
    /// The task.
    pub task: Task,
    /// LSTM only: initialise the forget-gate bias to 1 (Keras' `unit_forget_bias`:
    /// `b_ih[f] = 1`, `b_hh[f] = 0`).
    #[serde(default)]
    pub forget_bias: bool,
}

impl ModelConfig {
    /// Checks the parts and their agreement.
    pub fn validate(&self) -> Result<()> {
        self.rnn.validate()?;
        match self.input {
            InputKind::Dense { features } if features != self.rnn.input_size => {
                return Err(Error::config(
                    "input.features",
                    format!(
                        "{features} features but the stack's input_size is {}",
                        self.rnn.input_size
                    ),
                ))
            }
            InputKind::Embedding { vocab: 0 } => {
                return Err(Error::config("input.vocab", "must be at least 1"))
            }
            _ => {}
        }
        if self.outputs == 0 {
            return Err(Error::config("outputs", "must be at least 1, found 0"));
        }
        if self.task == Task::LanguageModel && self.head != HeadKind::EveryStep {
            return Err(Error::config(
                "head",
                "a language model predicts at every step (head = every_step)",
            ));
        }
        if self.forget_bias && self.rnn.cell != CellKind::Lstm {
            return Err(Error::config(
                "forget_bias",
                "only an LSTM has a forget gate",
            ));
        }
        Ok(())
    }

    fn emb_len(&self) -> usize {
        match self.input {
            InputKind::Embedding { vocab } => vocab * self.rnn.input_size,
            InputKind::Dense { .. } => 0,
        }
    }

    /// K: features the head reads.
    pub fn head_inputs(&self) -> usize {
        self.rnn.output_size()
    }
}

/// A model: its config, its stack, and one block for the embedding and head parameters
/// (`[embedding.weight | head.weight | head.bias]`).
#[derive(Debug, Clone)]
pub struct Model {
    config: ModelConfig,
    stack: Stack,
    extra: Vec<f32>,
}

/// Parameter gradients of a model (same layouts as its parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelGrads {
    /// The stack's.
    pub stack: Grads,
    /// `[embedding.weight | head.weight | head.bias]`.
    pub extra: Vec<f32>,
}

impl ModelGrads {
    /// Sets every gradient to zero.
    pub fn zero(&mut self) {
        self.stack.zero();
        self.extra.fill(0.0);
    }

    /// The gradient blocks, in the order of [`Model::param_groups_mut`].
    pub fn groups_mut(&mut self) -> [&mut [f32]; 2] {
        [self.stack.data_mut(), &mut self.extra]
    }
}

/// What a model's forward pass keeps for backward.
#[derive(Debug, Default, Clone)]
pub struct ModelTape {
    stack: Tape,
    /// `[T, B]` token ids (embedding input).
    tokens: Vec<usize>,
    /// `[N, K]` the head's input rows.
    feats: Vec<f32>,
    /// `[N]` whether each head row is a real step (not padding).
    active: Vec<bool>,
    t: usize,
    b: usize,
}

impl ModelTape {
    /// A tape for inference: the stack keeps nothing for backward (see
    /// [`Tape::set_grad_enabled`]); [`Model::backward`] on its pass is an error.
    pub fn inference() -> Self {
        ModelTape {
            stack: Tape::inference(),
            ..ModelTape::default()
        }
    }

    /// `[N]` whether each output row is real (not padding past a sequence's end).
    pub fn active_rows(&self) -> &[bool] {
        &self.active
    }
}

/// Loss, its gradient with respect to the outputs, and the metric counts of one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct LossOut {
    /// The mean loss.
    pub loss: f32,
    /// `[N, O]` gradient of the loss.
    pub d_out: Vec<f32>,
    /// Classification: rows whose arg-max is the target.
    pub correct: usize,
    /// Rows that count.
    pub rows: usize,
}

fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let (u1, u2): (f32, f32) = (rng.random::<f32>().max(1e-12), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
}

impl Model {
    /// A model initialised as PyTorch does (stack `U(±1/√H)`, embedding `N(0, 1)`, head
    /// `U(±1/√K)`), from `seed`.
    pub fn new(config: ModelConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut stack = Stack::new(config.rnn.clone(), seed)?;
        if config.forget_bias && config.rnn.bias {
            let h = config.rnn.hidden_size;
            for name in stack.param_names() {
                let is_ih = name.starts_with("bias_ih");
                if is_ih || name.starts_with("bias_hh") {
                    let mut t = stack.param(&name).expect("own name");
                    t.data_mut()[h..2 * h].fill(if is_ih { 1.0 } else { 0.0 });
                    stack.set_param(&name, &t)?;
                }
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_0F4E_AD00);
        let (e, k, o) = (config.emb_len(), config.head_inputs(), config.outputs);
        let bound = 1.0 / (k as f32).sqrt();
        let mut extra = Vec::with_capacity(e + o * k + o);
        extra.extend((0..e).map(|_| normal(&mut rng)));
        extra.extend((0..o * k + o).map(|_| rng.random_range(-bound..bound)));
        Ok(Model {
            config,
            stack,
            extra,
        })
    }

    /// Sets the thread count of the products.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.stack = self.stack.with_threads(threads);
        self
    }

    /// Sets the precision in which forwards without grad read the recurrent weights
    /// ([`Stack::set_inference_weights`]; the embedding and the head stay f32).
    pub fn set_inference_weights(&mut self, precision: WeightPrecision) -> Result<()> {
        self.stack.set_inference_weights(precision)
    }

    /// The config.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The recurrent stack.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Zero gradients for this model.
    pub fn zero_grads(&self) -> ModelGrads {
        ModelGrads {
            stack: self.stack.zero_grads(),
            extra: vec![0.0; self.extra.len()],
        }
    }

    /// The parameter blocks `[stack, embedding|head]` (for optimizers).
    pub fn param_groups_mut(&mut self) -> [&mut [f32]; 2] {
        [self.stack.params_mut(), &mut self.extra]
    }

    /// The parameter blocks, read-only.
    pub fn param_groups(&self) -> [&[f32]; 2] {
        [self.stack.params(), &self.extra]
    }

    /// Every parameter as `(name, PyTorch shape, values in PyTorch's layout)`, module-prefixed.
    pub fn named_params(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let mut out = Vec::new();
        let (e, k, o) = (
            self.config.emb_len(),
            self.config.head_inputs(),
            self.config.outputs,
        );
        if let InputKind::Embedding { vocab } = self.config.input {
            out.push((
                "embedding.weight".to_string(),
                vec![vocab, self.config.rnn.input_size],
                self.extra[..e].to_vec(),
            ));
        }
        for name in self.stack.param_names() {
            let t = self.stack.param(&name).expect("own name");
            out.push((
                format!("{STACK_PREFIX}{name}"),
                t.shape().to_vec(),
                t.into_data(),
            ));
        }
        out.push((
            "head.weight".to_string(),
            vec![o, k],
            self.extra[e..e + o * k].to_vec(),
        ));
        out.push((
            "head.bias".to_string(),
            vec![o],
            self.extra[e + o * k..].to_vec(),
        ));
        out
    }

    /// Sets a parameter by its prefixed name (PyTorch layout); checks name and shape.
    pub fn set_named_param(&mut self, name: &str, shape: &[usize], values: &[f32]) -> Result<()> {
        let (e, k, o) = (
            self.config.emb_len(),
            self.config.head_inputs(),
            self.config.outputs,
        );
        let (range, expected) = match name {
            "embedding.weight" if e > 0 => (
                0..e,
                vec![e / self.config.rnn.input_size, self.config.rnn.input_size],
            ),
            "head.weight" => (e..e + o * k, vec![o, k]),
            "head.bias" => (e + o * k..e + o * k + o, vec![o]),
            _ => {
                let short =
                    name.strip_prefix(STACK_PREFIX)
                        .ok_or_else(|| Error::UnexpectedTensor {
                            name: name.to_string(),
                            config: format!("model with {}", self.config.rnn.describe()),
                        })?;
                let t = Tensor::new(name, shape, values.to_vec())?;
                return self.stack.set_param(short, &t).map_err(|e| match e {
                    Error::Shape {
                        expected, found, ..
                    } => Error::shape(name, &expected, &found),
                    Error::UnexpectedTensor { config, .. } => Error::UnexpectedTensor {
                        name: name.to_string(),
                        config,
                    },
                    other => other,
                });
            }
        };
        if shape != expected.as_slice() || values.len() != range.len() {
            return Err(Error::shape(name, &expected, shape));
        }
        self.extra[range].copy_from_slice(values);
        Ok(())
    }

    /// Forward. Returns the head's outputs `[N, O]` and the final state. `dropout`: training mode
    /// with that RNG, or inference (`None`). `init`: the initial state (zeros if `None`).
    pub fn forward(
        &self,
        input: &BatchInput,
        lengths: Option<&[usize]>,
        init: Option<&State>,
        dropout: Option<&mut ChaCha8Rng>,
        tape: &mut ModelTape,
    ) -> Result<(Vec<f32>, State)> {
        let cfg = &self.config;
        let (t, b) = input.dims();
        let f = cfg.rnn.input_size;
        let owned;
        let x: &Tensor = match (input, &cfg.input) {
            (BatchInput::Dense(x), InputKind::Dense { .. }) => x,
            (BatchInput::Tokens { ids, .. }, InputKind::Embedding { vocab }) => {
                if let Some(p) = ids.iter().position(|&i| i >= *vocab) {
                    return Err(Error::Data(format!(
                        "token id {} at step {}, sequence {} is outside the vocabulary of {vocab}",
                        ids[p],
                        p / b.max(1),
                        p % b.max(1)
                    )));
                }
                let emb = &self.extra[..cfg.emb_len()];
                let mut data = Vec::with_capacity(t * b * f);
                for &i in ids {
                    data.extend_from_slice(&emb[i * f..(i + 1) * f]);
                }
                tape.tokens.clone_from(ids);
                owned = Tensor::new("x", &[t, b, f], data)?;
                &owned
            }
            (BatchInput::Dense(_), InputKind::Embedding { .. }) => {
                return Err(Error::Data(
                    "this model reads token ids, the batch has real features".into(),
                ))
            }
            (BatchInput::Tokens { .. }, InputKind::Dense { .. }) => {
                return Err(Error::Data(
                    "this model reads real features, the batch has token ids".into(),
                ))
            }
        };
        let out = match dropout {
            Some(rng) => self
                .stack
                .forward_train(x, init, lengths, rng, &mut tape.stack)?,
            None => self.stack.forward(x, init, lengths, &mut tape.stack)?,
        };
        let k = cfg.head_inputs();
        let (nl, nd, ho) = (cfg.rnn.num_layers, cfg.rnn.directions(), cfg.rnn.h_out());
        tape.t = t;
        tape.b = b;
        tape.feats.clear();
        tape.active.clear();
        match cfg.head {
            HeadKind::EveryStep => {
                tape.feats.extend_from_slice(out.y.data());
                tape.active
                    .extend((0..t * b).map(|r| lengths.is_none_or(|l| r / b < l[r % b])));
            }
            HeadKind::LastState => {
                for bi in 0..b {
                    for d in 0..nd {
                        let kk = (nl - 1) * nd + d;
                        tape.feats.extend_from_slice(
                            &out.h_n.data()[(kk * b + bi) * ho..(kk * b + bi + 1) * ho],
                        );
                    }
                }
                tape.active.resize(b, true);
            }
        }
        let n = tape.active.len();
        let o = cfg.outputs;
        let (e, w_end) = (cfg.emb_len(), cfg.emb_len() + o * k);
        let mut y = vec![0.0; n * o];
        for row in y.chunks_exact_mut(o) {
            row.copy_from_slice(&self.extra[w_end..]);
        }
        matmul(
            MatMut::new(&mut y, n, o),
            MatRef::new(&tape.feats, n, k),
            MatRef::new(&self.extra[e..w_end], o, k).t(),
            Acc::Add,
            self.stack.threads(),
        );
        Ok((
            y,
            State {
                h: out.h_n,
                c: out.c_n,
            },
        ))
    }

    /// Backward of the last [`Model::forward`] recorded in `tape`, given `d_out: [N, O]`;
    /// gradients are added to `grads`.
    pub fn backward(
        &self,
        tape: &mut ModelTape,
        d_out: &[f32],
        grads: &mut ModelGrads,
    ) -> Result<()> {
        let cfg = &self.config;
        // Checked first, so no gradient is half-added.
        tape.stack.check_grad_pass()?;
        let (k, o, n) = (cfg.head_inputs(), cfg.outputs, tape.active.len());
        if d_out.len() != n * o {
            return Err(Error::shape("d_out", &[n, o], &[d_out.len() / o.max(1), o]));
        }
        let (e, w_end) = (cfg.emb_len(), cfg.emb_len() + o * k);
        let threads = self.stack.threads();
        let (t, b) = (tape.t, tape.b);
        {
            let (g_emb_w, g_b) = grads.extra.split_at_mut(w_end);
            let g_w = &mut g_emb_w[e..];
            matmul(
                MatMut::new(g_w, o, k),
                MatRef::new(d_out, n, o).t(),
                MatRef::new(&tape.feats, n, k),
                Acc::Add,
                threads,
            );
            for row in d_out.chunks_exact(o) {
                g_b.iter_mut().zip(row).for_each(|(a, v)| *a += v);
            }
        }
        let mut d_feats = vec![0.0; n * k];
        matmul(
            MatMut::new(&mut d_feats, n, k),
            MatRef::new(d_out, n, o),
            MatRef::new(&self.extra[e..w_end], o, k),
            Acc::Overwrite,
            threads,
        );
        let (nl, nd, ho) = (cfg.rnn.num_layers, cfg.rnn.directions(), cfg.rnn.h_out());
        // ∂L/∂x is needed only to train an embedding below the stack.
        tape.stack.set_input_grad(e > 0);
        let ig = match cfg.head {
            HeadKind::EveryStep => {
                let d_y = Tensor::new("d_y", &[t, b, k], d_feats)?;
                self.stack
                    .backward(&mut tape.stack, &mut grads.stack, &d_y, None, None)?
            }
            HeadKind::LastState => {
                let d_y = Tensor::zeros(&[t, b, k]);
                let mut d_hn = Tensor::zeros(&[nl * nd, b, ho]);
                for bi in 0..b {
                    for d in 0..nd {
                        let kk = (nl - 1) * nd + d;
                        d_hn.data_mut()[(kk * b + bi) * ho..(kk * b + bi + 1) * ho]
                            .copy_from_slice(&d_feats[bi * k + d * ho..bi * k + (d + 1) * ho]);
                    }
                }
                self.stack
                    .backward(&mut tape.stack, &mut grads.stack, &d_y, Some(&d_hn), None)?
            }
        };
        if e > 0 {
            let f = cfg.rnn.input_size;
            let g_emb = &mut grads.extra[..e];
            for (r, &tok) in tape.tokens.iter().enumerate() {
                g_emb[tok * f..(tok + 1) * f]
                    .iter_mut()
                    .zip(&ig.d_x.data()[r * f..(r + 1) * f])
                    .for_each(|(a, v)| *a += v);
            }
        }
        Ok(())
    }

    /// The task's loss on outputs `out: [N, O]` of the last forward (whose padding rows `tape`
    /// knows), with its gradient and the metric counts. Checks the target against the head.
    pub fn loss(&self, out: &[f32], target: &BatchTarget, tape: &ModelTape) -> Result<LossOut> {
        let cfg = &self.config;
        let (o, n) = (cfg.outputs, tape.active.len());
        let per_step_head = cfg.head == HeadKind::EveryStep;
        let mask = Some(tape.active.as_slice());
        let rows = tape.active.iter().filter(|&&a| a).count();
        match (&cfg.task, target) {
            (Task::Regression { loss }, BatchTarget::Values { data, per_step }) => {
                if *per_step != per_step_head || data.len() != n * o {
                    return Err(Error::Data(format!(
                        "regression targets: expected {n} rows of {o} values ({}), found {} values ({})",
                        if per_step_head { "one per step" } else { "one per sequence" },
                        data.len(),
                        if *per_step { "per step" } else { "per sequence" }
                    )));
                }
                let (l, d) = regression(*loss, out, data, mask, o);
                Ok(LossOut {
                    loss: l,
                    d_out: d,
                    correct: 0,
                    rows,
                })
            }
            (
                Task::Classification | Task::LanguageModel,
                BatchTarget::Classes { data, per_step },
            ) => {
                if *per_step != per_step_head || data.len() != n {
                    return Err(Error::Data(format!(
                        "class targets: expected {n} ({}), found {}",
                        if per_step_head {
                            "one per step"
                        } else {
                            "one per sequence"
                        },
                        data.len()
                    )));
                }
                if let Some(p) = data.iter().position(|&c| c >= o) {
                    return Err(Error::Data(format!(
                        "class {} at row {p} is outside the model's {o} classes",
                        data[p]
                    )));
                }
                let (l, d, correct) = cross_entropy(out, data, mask, o);
                Ok(LossOut {
                    loss: l,
                    d_out: d,
                    correct,
                    rows,
                })
            }
            (task, _) => Err(Error::Data(format!(
                "the targets do not fit a {task:?} model"
            ))),
        }
    }

    /// Inference: outputs `[N, O]` for a batch (no dropout).
    pub fn predict(&self, input: &BatchInput, lengths: Option<&[usize]>) -> Result<Vec<f32>> {
        Ok(self
            .forward(input, lengths, None, None, &mut ModelTape::inference())?
            .0)
    }
}
