//! Data for training and prediction: samples (sequences with targets), batches `[T, B, ·]` with
//! padding and lengths, token streams for language models, and the long-lag tasks.

pub mod labelled;
pub mod series;
pub mod tasks;
pub mod text;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// One sequence's inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum SeqInput {
    /// `[T_i, F]` real features.
    Dense(Vec<f32>),
    /// `[T_i]` token ids.
    Tokens(Vec<usize>),
}

/// One sequence's target.
#[derive(Debug, Clone, PartialEq)]
pub enum SeqTarget {
    /// `[O]` values for the whole sequence (read at its end).
    Values(Vec<f32>),
    /// `[T_i, O]` values at every step.
    StepValues(Vec<f32>),
    /// A class for the whole sequence.
    Class(usize),
    /// `[T_i]` a class at every step.
    StepClasses(Vec<usize>),
}

/// A sequence and its target.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Inputs.
    pub x: SeqInput,
    /// Target.
    pub y: SeqTarget,
}

/// A batch, sequence-first and padded to the longest sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Inputs.
    pub input: BatchInput,
    /// `[B]` lengths when they differ.
    pub lengths: Option<Vec<usize>>,
    /// Targets.
    pub target: BatchTarget,
}

/// Batch inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchInput {
    /// `[T, B, F]`.
    Dense(Tensor),
    /// `[T, B]` token ids, with T and B.
    Tokens {
        /// Ids, `[T, B]`.
        ids: Vec<usize>,
        /// T.
        t: usize,
        /// B.
        b: usize,
    },
}

impl BatchInput {
    /// `(T, B)`.
    pub fn dims(&self) -> (usize, usize) {
        match self {
            BatchInput::Dense(x) => (x.shape()[0], x.shape()[1]),
            BatchInput::Tokens { t, b, .. } => (*t, *b),
        }
    }
}

/// Batch targets.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchTarget {
    /// `[B, O]` per sequence, or `[T, B, O]` per step (`per_step`).
    Values {
        /// The values.
        data: Vec<f32>,
        /// Whether there is one row per step.
        per_step: bool,
    },
    /// `[B]` per sequence, or `[T, B]` per step.
    Classes {
        /// The classes.
        data: Vec<usize>,
        /// Whether there is one per step.
        per_step: bool,
    },
}

/// An in-memory set of samples, all with `features` input features (dense) or tokens.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleSet {
    /// F for dense inputs (1 for tokens, unused).
    pub features: usize,
    /// The samples.
    pub samples: Vec<Sample>,
}

fn seq_len(s: &Sample, f: usize) -> usize {
    match &s.x {
        SeqInput::Dense(v) => v.len() / f.max(1),
        SeqInput::Tokens(v) => v.len(),
    }
}

impl SampleSet {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Checks that the set is non-empty, every sequence is non-empty and consistent, every value
    /// finite; the error names the sample, step and feature.
    pub fn validate(&self, name: &str) -> Result<()> {
        if self.samples.is_empty() {
            return Err(Error::Data(format!("{name}: the dataset is empty")));
        }
        for (i, s) in self.samples.iter().enumerate() {
            let t = seq_len(s, self.features);
            if t == 0 {
                return Err(Error::Data(format!("{name}: sample {i} has no time steps")));
            }
            if let SeqInput::Dense(v) = &s.x {
                if v.len() != t * self.features {
                    return Err(Error::Data(format!(
                        "{name}: sample {i} has {} values, not a multiple of {} features",
                        v.len(),
                        self.features
                    )));
                }
                if let Some(j) = v.iter().position(|x| !x.is_finite()) {
                    return Err(Error::Data(format!(
                        "{name}: sample {i}, step {}, feature {}: value is {} (NaN/inf inputs are not allowed)",
                        j / self.features,
                        j % self.features,
                        v[j]
                    )));
                }
            }
            let check = |v: &[f32], what: &str| match v.iter().position(|x| !x.is_finite()) {
                Some(j) => Err(Error::Data(format!(
                    "{name}: sample {i}: target {what}[{j}] is {}",
                    v[j]
                ))),
                None => Ok(()),
            };
            match &s.y {
                SeqTarget::Values(v) => check(v, "value")?,
                SeqTarget::StepValues(v) => check(v, "step value")?,
                SeqTarget::StepClasses(c) if c.len() != t => {
                    return Err(Error::Data(format!(
                        "{name}: sample {i}: {} step classes for {t} steps",
                        c.len()
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The batch of samples `idx`, padded to the longest (lengths given when they differ).
    pub fn batch(&self, idx: &[usize]) -> Batch {
        let f = self.features;
        let b = idx.len();
        let lens: Vec<usize> = idx.iter().map(|&i| seq_len(&self.samples[i], f)).collect();
        let t = lens.iter().copied().max().unwrap_or(0);
        let lengths = lens.iter().any(|&l| l != t).then(|| lens.clone());
        let first = &self.samples[idx[0]];
        let input = match first.x {
            SeqInput::Dense(_) => {
                let mut x = vec![0.0; t * b * f];
                for (bi, &i) in idx.iter().enumerate() {
                    if let SeqInput::Dense(v) = &self.samples[i].x {
                        for ti in 0..lens[bi] {
                            x[(ti * b + bi) * f..(ti * b + bi + 1) * f]
                                .copy_from_slice(&v[ti * f..(ti + 1) * f]);
                        }
                    }
                }
                BatchInput::Dense(Tensor::new("x", &[t, b, f], x).expect("sized"))
            }
            SeqInput::Tokens(_) => {
                let mut ids = vec![0; t * b];
                for (bi, &i) in idx.iter().enumerate() {
                    if let SeqInput::Tokens(v) = &self.samples[i].x {
                        for (ti, &tok) in v.iter().enumerate() {
                            ids[ti * b + bi] = tok;
                        }
                    }
                }
                BatchInput::Tokens { ids, t, b }
            }
        };
        let target = match &first.y {
            SeqTarget::Values(v0) => {
                let o = v0.len();
                let mut data = vec![0.0; b * o];
                for (bi, &i) in idx.iter().enumerate() {
                    if let SeqTarget::Values(v) = &self.samples[i].y {
                        data[bi * o..(bi + 1) * o].copy_from_slice(v);
                    }
                }
                BatchTarget::Values {
                    data,
                    per_step: false,
                }
            }
            SeqTarget::StepValues(v0) => {
                let o = v0.len() / lens[0];
                let mut data = vec![0.0; t * b * o];
                for (bi, &i) in idx.iter().enumerate() {
                    if let SeqTarget::StepValues(v) = &self.samples[i].y {
                        for ti in 0..lens[bi] {
                            data[(ti * b + bi) * o..(ti * b + bi + 1) * o]
                                .copy_from_slice(&v[ti * o..(ti + 1) * o]);
                        }
                    }
                }
                BatchTarget::Values {
                    data,
                    per_step: true,
                }
            }
            SeqTarget::Class(_) => BatchTarget::Classes {
                data: idx
                    .iter()
                    .map(|&i| match self.samples[i].y {
                        SeqTarget::Class(c) => c,
                        _ => 0,
                    })
                    .collect(),
                per_step: false,
            },
            SeqTarget::StepClasses(_) => {
                let mut data = vec![0; t * b];
                for (bi, &i) in idx.iter().enumerate() {
                    if let SeqTarget::StepClasses(c) = &self.samples[i].y {
                        for (ti, &cl) in c.iter().enumerate() {
                            data[ti * b + bi] = cl;
                        }
                    }
                }
                BatchTarget::Classes {
                    data,
                    per_step: true,
                }
            }
        };
        Batch {
            input,
            lengths,
            target,
        }
    }
}
