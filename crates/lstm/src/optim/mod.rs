//! Optimizers (PyTorch's update rules, step for step), gradient clipping by global norm, and
//! learning-rate schedules.
//!
//! Parameters come in *groups*: each group is one contiguous block (`&mut [f32]`) with a gradient
//! block of the same length. An optimizer keeps its state in blocks of the same shapes, so a
//! checkpoint stores it as plain tensors ([`Optimizer::state`]).

mod clip;
mod schedule;

pub use clip::{clip_grad_norm, global_norm};
pub use schedule::Schedule;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which optimizer, with its hyperparameters (PyTorch's defaults where it has them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// `torch.optim.SGD`: `b = μ b + (1 − dampening) g` (b = g on the first step); `p −= lr · (g + μ b | b)`.
    Sgd {
        /// Momentum μ (0 = plain SGD).
        momentum: f32,
        /// Dampening of the momentum update.
        dampening: f32,
        /// Nesterov momentum.
        nesterov: bool,
        /// L2 penalty added to the gradient.
        weight_decay: f32,
    },
    /// `torch.optim.Adam` (L2 weight decay added to the gradient).
    Adam {
        /// β1.
        beta1: f32,
        /// β2.
        beta2: f32,
        /// ε.
        eps: f32,
        /// L2 penalty added to the gradient.
        weight_decay: f32,
    },
    /// `torch.optim.AdamW` (decoupled weight decay: `p *= 1 − lr · wd` before the Adam step).
    AdamW {
        /// β1.
        beta1: f32,
        /// β2.
        beta2: f32,
        /// ε.
        eps: f32,
        /// Decoupled weight decay.
        weight_decay: f32,
    },
    /// `torch.optim.RMSprop` (not centered): `s = α s + (1 − α) g²`, `p −= lr · g / (√s + ε)`
    /// (through a momentum buffer if μ > 0).
    RmsProp {
        /// Smoothing constant α.
        alpha: f32,
        /// ε.
        eps: f32,
        /// Momentum μ.
        momentum: f32,
        /// L2 penalty added to the gradient.
        weight_decay: f32,
    },
}

impl OptimizerConfig {
    /// SGD with momentum μ (no dampening, no Nesterov, no weight decay).
    pub fn sgd(momentum: f32) -> Self {
        OptimizerConfig::Sgd {
            momentum,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    /// Adam with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8).
    pub fn adam() -> Self {
        OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// AdamW with PyTorch's defaults (weight decay 0.01).
    pub fn adamw() -> Self {
        OptimizerConfig::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }

    /// RMSprop with PyTorch's defaults (α = 0.99, ε = 1e-8).
    pub fn rmsprop() -> Self {
        OptimizerConfig::RmsProp {
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }

    /// The same optimizer with weight decay `wd`.
    pub fn with_weight_decay(mut self, wd: f32) -> Self {
        match &mut self {
            OptimizerConfig::Sgd { weight_decay, .. }
            | OptimizerConfig::Adam { weight_decay, .. }
            | OptimizerConfig::AdamW { weight_decay, .. }
            | OptimizerConfig::RmsProp { weight_decay, .. } => *weight_decay = wd,
        }
        self
    }

    /// Parses a name: `sgd`, `adam`, `adamw`, `rmsprop` (defaults; SGD with momentum 0.9).
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "sgd" => Ok(Self::sgd(0.9)),
            "adam" => Ok(Self::adam()),
            "adamw" => Ok(Self::adamw()),
            "rmsprop" => Ok(Self::rmsprop()),
            other => Err(Error::config(
                "optimizer",
                format!("unknown optimizer `{other}`; expected sgd, adam, adamw or rmsprop"),
            )),
        }
    }

    /// State blocks kept per parameter block.
    fn state_blocks(&self) -> usize {
        match self {
            OptimizerConfig::Sgd { momentum, .. } => usize::from(*momentum != 0.0),
            OptimizerConfig::Adam { .. } | OptimizerConfig::AdamW { .. } => 2,
            OptimizerConfig::RmsProp { momentum, .. } => 1 + usize::from(*momentum != 0.0),
        }
    }
}

/// An optimizer and its state over a fixed list of parameter groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    config: OptimizerConfig,
    /// Steps taken (PyTorch's `step`, used for Adam's bias correction).
    steps: u64,
    /// Per group, per state block: one buffer the group's length.
    state: Vec<Vec<Vec<f32>>>,
}

impl Optimizer {
    /// A fresh optimizer for groups of the given lengths.
    pub fn new(config: OptimizerConfig, group_lens: &[usize]) -> Self {
        let n = config.state_blocks();
        Optimizer {
            state: group_lens
                .iter()
                .map(|&len| vec![vec![0.0; len]; n])
                .collect(),
            config,
            steps: 0,
        }
    }

    /// The config.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The state buffers, per group, per block (for checkpoints).
    pub fn state(&self) -> &[Vec<Vec<f32>>] {
        &self.state
    }

    /// Restores steps and state saved by [`Optimizer::state`]; checks every length.
    pub fn restore(&mut self, steps: u64, state: Vec<Vec<Vec<f32>>>) -> Result<()> {
        let shape = |s: &[Vec<Vec<f32>>]| {
            s.iter()
                .map(|g| g.iter().map(Vec::len).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        if shape(&state) != shape(&self.state) {
            return Err(Error::config(
                "optimizer state",
                format!(
                    "expected blocks {:?}, found {:?}",
                    shape(&self.state),
                    shape(&state)
                ),
            ));
        }
        self.steps = steps;
        self.state = state;
        Ok(())
    }

    /// One update of every group with learning rate `lr`: `params[i] −= …(grads[i])`.
    pub fn step(&mut self, params: &mut [&mut [f32]], grads: &[&[f32]], lr: f32) {
        assert_eq!(
            params.len(),
            self.state.len(),
            "optimizer built for another parameter list"
        );
        self.steps += 1;
        let t = self.steps as i32;
        for ((p, g), st) in params.iter_mut().zip(grads).zip(&mut self.state) {
            match self.config {
                OptimizerConfig::Sgd {
                    momentum,
                    dampening,
                    nesterov,
                    weight_decay,
                } => {
                    let first = t == 1;
                    for i in 0..p.len() {
                        let mut d = g[i] + weight_decay * p[i];
                        if momentum != 0.0 {
                            let b = &mut st[0][i];
                            *b = if first {
                                d
                            } else {
                                momentum * *b + (1.0 - dampening) * d
                            };
                            d = if nesterov { d + momentum * *b } else { *b };
                        }
                        p[i] -= lr * d;
                    }
                }
                OptimizerConfig::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                }
                | OptimizerConfig::AdamW {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                } => {
                    let decoupled = matches!(self.config, OptimizerConfig::AdamW { .. });
                    let bc1 = 1.0 - beta1.powi(t);
                    let bc2_sqrt = (1.0 - beta2.powi(t)).sqrt();
                    let step_size = lr / bc1;
                    let (m, v) = st.split_at_mut(1);
                    for i in 0..p.len() {
                        let mut gi = g[i];
                        if decoupled {
                            p[i] *= 1.0 - lr * weight_decay;
                        } else {
                            gi += weight_decay * p[i];
                        }
                        let (mi, vi) = (&mut m[0][i], &mut v[0][i]);
                        *mi += (gi - *mi) * (1.0 - beta1);
                        *vi = beta2 * *vi + (1.0 - beta2) * gi * gi;
                        let denom = vi.sqrt() / bc2_sqrt + eps;
                        p[i] -= step_size * *mi / denom;
                    }
                }
                OptimizerConfig::RmsProp {
                    alpha,
                    eps,
                    momentum,
                    weight_decay,
                } => {
                    let (sq, buf) = st.split_at_mut(1);
                    for i in 0..p.len() {
                        let gi = g[i] + weight_decay * p[i];
                        let s = &mut sq[0][i];
                        *s = alpha * *s + (1.0 - alpha) * gi * gi;
                        let avg = s.sqrt() + eps;
                        if momentum > 0.0 {
                            let b = &mut buf[0][i];
                            *b = momentum * *b + gi / avg;
                            p[i] -= lr * *b;
                        } else {
                            p[i] -= lr * gi / avg;
                        }
                    }
                }
            }
        }
    }
}
