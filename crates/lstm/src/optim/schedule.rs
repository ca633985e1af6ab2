//! Learning-rate schedules: a function of the step number (0-based), with optional linear warmup.

use serde::{Deserialize, Serialize};

/// A learning-rate schedule around a base rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// `lr · gamma^(step / every)` (PyTorch's `StepLR`, stepped per optimizer step).
    Step {
        /// Steps between decays.
        every: u64,
        /// Decay factor.
        gamma: f32,
    },
    /// Cosine from the base rate down to `min_lr` over `total` steps, then `min_lr`.
    Cosine {
        /// Length of the decay.
        total: u64,
        /// Final rate.
        min_lr: f32,
    },
    /// Linear warmup from 0 over `warmup` steps, then `then`.
    Warmup {
        /// Warmup steps.
        warmup: u64,
        /// The schedule after warmup (its step count starts after the warmup).
        then: Box<Schedule>,
    },
}

impl Schedule {
    /// The rate at `step` (0-based) for base rate `lr`.
    pub fn lr_at(&self, lr: f32, step: u64) -> f32 {
        match self {
            Schedule::Constant => lr,
            Schedule::Step { every, gamma } => lr * gamma.powi((step / (*every).max(1)) as i32),
            Schedule::Cosine { total, min_lr } => {
                let p = (step.min(*total) as f64 / (*total).max(1) as f64) * std::f64::consts::PI;
                (*min_lr as f64 + 0.5 * (lr - min_lr) as f64 * (1.0 + p.cos())) as f32
            }
            Schedule::Warmup { warmup, then } => {
                if step < *warmup {
                    lr * (step + 1) as f32 / *warmup as f32
                } else {
                    then.lr_at(lr, step - warmup)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_give_their_documented_rates() {
        assert_eq!(Schedule::Constant.lr_at(0.1, 999), 0.1);
        let s = Schedule::Step {
            every: 10,
            gamma: 0.5,
        };
        assert_eq!(
            (s.lr_at(1.0, 9), s.lr_at(1.0, 10), s.lr_at(1.0, 25)),
            (1.0, 0.5, 0.25)
        );
        let c = Schedule::Cosine {
            total: 100,
            min_lr: 0.0,
        };
        assert!((c.lr_at(1.0, 0) - 1.0).abs() < 1e-6 && (c.lr_at(1.0, 50) - 0.5).abs() < 1e-6);
        assert!(c.lr_at(1.0, 100).abs() < 1e-6 && c.lr_at(1.0, 500).abs() < 1e-6);
        let w = Schedule::Warmup {
            warmup: 4,
            then: Box::new(Schedule::Constant),
        };
        assert_eq!(
            (w.lr_at(1.0, 0), w.lr_at(1.0, 3), w.lr_at(1.0, 4)),
            (0.25, 1.0, 1.0)
        );
    }
}
