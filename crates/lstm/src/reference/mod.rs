//! Plain f64 implementations for tests: the recurrent stack ([`RefStack`]) and whole models
//! ([`RefModel`]), forward and backward, written for clarity, not speed.

mod model;
mod stack;

pub use model::RefModel;
pub use stack::{GradTrace, RefForward, RefGrads, RefStack, StepView};
