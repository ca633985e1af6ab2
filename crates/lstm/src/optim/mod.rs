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

use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::kernels::team::Team;

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
    /// Threads an update may use.
    threads: usize,
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
            threads: crate::stack::default_threads(),
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

    /// Threads one update may use (default: all cores). The update is element-wise, so the
    /// result does not depend on it.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// One update of every group with learning rate `lr`: `params[i] −= …(grads[i])`.
    ///
    /// A group of at least `2 · MIN_PER_MEMBER` elements is cut into contiguous parts, one per
    /// member of the thread team; each element's update is the same whoever computes it.
    pub fn step(&mut self, params: &mut [&mut [f32]], grads: &[&[f32]], lr: f32) {
        assert_eq!(
            params.len(),
            self.state.len(),
            "optimizer built for another parameter list"
        );
        self.steps += 1;
        let rule = Rule::new(&self.config, self.steps, lr);
        for ((p, g), st) in params.iter_mut().zip(grads).zip(&mut self.state) {
            assert_eq!(p.len(), g.len(), "gradient block of another length");
            let members = self.threads.min(p.len() / MIN_PER_MEMBER).max(1);
            let mut st: Vec<&mut [f32]> = st.iter_mut().map(Vec::as_mut_slice).collect();
            if members == 1 {
                rule.apply(p, g, &mut st);
                continue;
            }
            // Parts of whole 64-byte lines (a multiple of 16 values); part k goes to member k.
            let chunk = p.len().div_ceil(members).next_multiple_of(16);
            let mut parts: Vec<Part> = p
                .chunks_mut(chunk)
                .zip(g.chunks(chunk))
                .map(|(p, g)| (p, g, Vec::with_capacity(st.len())))
                .collect();
            for block in st {
                for (part, s) in parts.iter_mut().zip(block.chunks_mut(chunk)) {
                    part.2.push(s);
                }
            }
            let parts: Vec<Mutex<_>> = parts.into_iter().map(Mutex::new).collect();
            Team::global().run(parts.len(), &|m, bar| {
                // A busy team runs member 0 alone: it then takes every part.
                for part in parts.iter().skip(m).step_by(bar.members()) {
                    let mut part = part.lock().unwrap_or_else(|e| e.into_inner());
                    let (p, g, st) = &mut *part;
                    rule.apply(p, g, st);
                }
            });
        }
    }
}

/// One member's part of a group: parameters, gradients, state blocks.
type Part<'a> = (&'a mut [f32], &'a [f32], Vec<&'a mut [f32]>);

/// Fewest elements per thread for an update to be shared out (below, waking a helper costs
/// more than it saves).
const MIN_PER_MEMBER: usize = 1 << 16;

/// One step's update rule, with the step's constants (bias corrections) worked out.
#[derive(Debug, Clone)]
struct Rule {
    config: OptimizerConfig,
    lr: f32,
    /// SGD: the first step (the momentum buffer starts at the gradient).
    first: bool,
    /// Adam: `lr / (1 − β1ᵗ)`.
    step_size: f32,
    /// Adam: `√(1 − β2ᵗ)`.
    bc2_sqrt: f32,
}

impl Rule {
    fn new(config: &OptimizerConfig, steps: u64, lr: f32) -> Self {
        let t = steps as i32;
        let (step_size, bc2_sqrt) = match *config {
            OptimizerConfig::Adam { beta1, beta2, .. }
            | OptimizerConfig::AdamW { beta1, beta2, .. } => {
                (lr / (1.0 - beta1.powi(t)), (1.0 - beta2.powi(t)).sqrt())
            }
            _ => (0.0, 0.0),
        };
        Rule {
            config: config.clone(),
            lr,
            first: t == 1,
            step_size,
            bc2_sqrt,
        }
    }

    /// Updates `p[n]` from `g[n]` and the state blocks `st[k][n]` (element by element; the loops
    /// are written over zipped slices so that they vectorise).
    fn apply(&self, p: &mut [f32], g: &[f32], st: &mut [&mut [f32]]) {
        let lr = self.lr;
        match self.config {
            OptimizerConfig::Sgd {
                momentum,
                dampening,
                nesterov,
                weight_decay,
            } => {
                let [b] = st else {
                    for (p, &g) in p.iter_mut().zip(g) {
                        *p -= lr * (g + weight_decay * *p);
                    }
                    return;
                };
                let first = self.first;
                for ((p, &g), b) in p.iter_mut().zip(g).zip(b.iter_mut()) {
                    let d = g + weight_decay * *p;
                    *b = if first {
                        d
                    } else {
                        momentum * *b + (1.0 - dampening) * d
                    };
                    *p -= lr * if nesterov { d + momentum * *b } else { *b };
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
                let [m, v] = st else {
                    unreachable!("Adam keeps two state blocks")
                };
                let (step_size, bc2_sqrt) = (self.step_size, self.bc2_sqrt);
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    let mut gi = g;
                    if decoupled {
                        *p *= 1.0 - lr * weight_decay;
                    } else {
                        gi += weight_decay * *p;
                    }
                    *m += (gi - *m) * (1.0 - beta1);
                    *v = beta2 * *v + (1.0 - beta2) * gi * gi;
                    let denom = v.sqrt() / bc2_sqrt + eps;
                    *p -= step_size * *m / denom;
                }
            }
            OptimizerConfig::RmsProp {
                alpha,
                eps,
                momentum,
                weight_decay,
            } => match st {
                [s] => {
                    for ((p, &g), s) in p.iter_mut().zip(g).zip(s.iter_mut()) {
                        let gi = g + weight_decay * *p;
                        *s = alpha * *s + (1.0 - alpha) * gi * gi;
                        *p -= lr * gi / (s.sqrt() + eps);
                    }
                }
                [s, b] => {
                    for (((p, &g), s), b) in p.iter_mut().zip(g).zip(s.iter_mut()).zip(b.iter_mut())
                    {
                        let gi = g + weight_decay * *p;
                        *s = alpha * *s + (1.0 - alpha) * gi * gi;
                        *b = momentum * *b + gi / (s.sqrt() + eps);
                        *p -= lr * *b;
                    }
                }
                _ => unreachable!("RMSprop keeps one or two state blocks"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's update of one element, written plainly (the same f32 operations in the same
    /// order as `Rule::apply`, so the two agree bit for bit); `st`: the element's state.
    fn reference(c: &OptimizerConfig, t: i32, lr: f32, p: &mut f32, g: f32, st: &mut [f32]) {
        match *c {
            OptimizerConfig::Sgd {
                momentum,
                dampening,
                nesterov,
                weight_decay,
            } => {
                let mut d = g + weight_decay * *p;
                if momentum != 0.0 {
                    st[0] = if t == 1 {
                        d
                    } else {
                        momentum * st[0] + (1.0 - dampening) * d
                    };
                    d = if nesterov {
                        d + momentum * st[0]
                    } else {
                        st[0]
                    };
                }
                *p -= lr * d;
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
                let mut g = g;
                if matches!(c, OptimizerConfig::AdamW { .. }) {
                    *p *= 1.0 - lr * weight_decay;
                } else {
                    g += weight_decay * *p;
                }
                st[0] += (g - st[0]) * (1.0 - beta1);
                st[1] = beta2 * st[1] + (1.0 - beta2) * g * g;
                let denom = st[1].sqrt() / (1.0 - beta2.powi(t)).sqrt() + eps;
                *p -= lr / (1.0 - beta1.powi(t)) * st[0] / denom;
            }
            OptimizerConfig::RmsProp {
                alpha,
                eps,
                momentum,
                weight_decay,
            } => {
                let g = g + weight_decay * *p;
                st[0] = alpha * st[0] + (1.0 - alpha) * g * g;
                let avg = st[0].sqrt() + eps;
                if momentum > 0.0 {
                    st[1] = momentum * st[1] + g / avg;
                    *p -= lr * st[1];
                } else {
                    *p -= lr * g / avg;
                }
            }
        }
    }

    /// Every rule, on a group large enough to be shared out (and one small group), over three
    /// steps: each element equals the plain update, whatever the thread count.
    #[test]
    fn updates_match_the_plain_rule_on_any_thread_count() {
        let configs = [
            OptimizerConfig::sgd(0.0).with_weight_decay(0.01),
            OptimizerConfig::sgd(0.9),
            OptimizerConfig::Sgd {
                momentum: 0.9,
                dampening: 0.1,
                nesterov: true,
                weight_decay: 0.02,
            },
            OptimizerConfig::adam().with_weight_decay(0.01),
            OptimizerConfig::adamw(),
            OptimizerConfig::rmsprop(),
            OptimizerConfig::RmsProp {
                alpha: 0.9,
                eps: 1e-6,
                momentum: 0.5,
                weight_decay: 0.01,
            },
        ];
        // Odd lengths: the parts are not all of one size.
        let lens = [3 * MIN_PER_MEMBER + 5, 37];
        let val = |i: usize, k: usize| ((i * 7919 + k * 104_729) % 2001) as f32 / 1000.0 - 1.0;
        for c in &configs {
            let blocks = c.state_blocks();
            let start: Vec<Vec<f32>> = lens
                .iter()
                .map(|&n| (0..n).map(|i| val(i, 0)).collect())
                .collect();
            let mut want = start.clone();
            let mut want_st: Vec<Vec<Vec<f32>>> =
                lens.iter().map(|&n| vec![vec![0.0; n]; blocks]).collect();
            for threads in [1, 2, 3] {
                let mut params = start.clone();
                let mut opt = Optimizer::new(c.clone(), &lens).with_threads(threads);
                for (step, lr) in [(1, 0.01), (2, 0.02), (3, 0.005)] {
                    let grads: Vec<Vec<f32>> = lens
                        .iter()
                        .map(|&n| (0..n).map(|i| val(i, step)).collect())
                        .collect();
                    let mut ps: Vec<&mut [f32]> =
                        params.iter_mut().map(Vec::as_mut_slice).collect();
                    let gs: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
                    opt.step(&mut ps, &gs, lr);
                    if threads == 1 {
                        for (gi, n) in lens.iter().enumerate() {
                            for i in 0..*n {
                                let mut st: Vec<f32> =
                                    (0..blocks).map(|k| want_st[gi][k][i]).collect();
                                reference(
                                    c,
                                    step as i32,
                                    lr,
                                    &mut want[gi][i],
                                    grads[gi][i],
                                    &mut st,
                                );
                                for k in 0..blocks {
                                    want_st[gi][k][i] = st[k];
                                }
                            }
                        }
                    }
                }
                for (gi, (got, exp)) in params.iter().zip(&want).enumerate() {
                    for (i, (a, b)) in got.iter().zip(exp).enumerate() {
                        assert!(
                            a.to_bits() == b.to_bits(),
                            "{c:?}, {threads} threads: group {gi} param {i}: expected {b}, got {a}"
                        );
                    }
                }
                assert_eq!(opt.state(), &want_st[..], "{c:?}, {threads} threads: state");
            }
        }
    }
}
