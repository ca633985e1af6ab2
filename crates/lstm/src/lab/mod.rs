//! The long-lag lab: why the LSTM works, measured.
//!
//! - [`run`](mod@run): train RNN, GRU and LSTM on long-lag tasks across lags and seeds, under one budget;
//! - [`flow`]: how the gradient of a loss at the last step reaches earlier steps (‖∂L/∂h_t‖,
//!   ‖∂L/∂c_t‖ for every t), in f64;
//! - [`trace`]: the gate activations and cell states of a model over an input, per unit and step.

pub mod flow;
pub mod run;
pub mod trace;

pub use run::{memory_bias, run, run_all, LabTask, RunResult, RunSpec};
