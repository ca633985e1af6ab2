//! # lstm — LSTM, GRU and RNN layers with exact backward through time
//!
//! Recurrent layers as PyTorch defines them (`nn.LSTM`, `nn.GRU`, `nn.RNN`): same equations, same
//! gate order, same weight names and layouts, so weights move freely to and from PyTorch.
//!
//! With PyTorch's gate order `i, f, g, o`, one LSTM step is
//!
//! ```text
//! i = σ(W_ii x + b_ii + W_hi h + b_hi)    f = σ(W_if x + b_if + W_hf h + b_hf)
//! g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = σ(W_io x + b_io + W_ho h + b_ho)
//! c' = f ⊙ c + i ⊙ g                      h' = o ⊙ tanh(c')      (h' = W_hr h' with a projection)
//! ```
//!
//! GRU (`r, z, n`): `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`, `h' = (1 − z) ⊙ n + z ⊙ h`.
//! RNN: `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)` (or relu).
//!
//! Modules: [`config`] (the typed config), [`params`] (one parameter block, PyTorch names),
//! [`kernels`] (GEMM and fused gate kernels), `layer` (one direction over a sequence, forward
//! and backward), [`stack`] (layers × directions), [`step`] (streaming, one step at a time),
//! [`io`] (safetensors), [`reference`](mod@reference) (a plain f64 implementation for testing), [`lab`] (long-lag
//! experiments, gradient flow through time, gate traces).
//! Shapes follow one legend, in [`kernels`].
#![warn(missing_docs)]

pub mod config;
pub mod data;
pub mod error;
pub mod io;
pub mod kernels;
pub mod lab;
mod layer;
pub mod loss;
pub mod model;
pub mod optim;
pub mod params;
pub mod reference;
pub mod stack;
pub mod step;
pub mod tensor;
pub mod train;

pub use config::{CellKind, RnnConfig};
pub use error::{Error, Result};
pub use stack::{Grads, InputGrads, Output, Stack, State, Tape, WeightPrecision};
pub use step::StepScratch;
pub use tensor::Tensor;
