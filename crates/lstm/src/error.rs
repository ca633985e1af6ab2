//! Typed errors of the library. Every variant names what it is about (a tensor, a file, a
//! config field) and says what was expected and what was found.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong when a caller misuses the library or hands it bad data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor has the wrong shape.
    #[error("tensor `{tensor}`: expected shape {expected:?}, found {found:?}")]
    Shape {
        /// Which tensor.
        tensor: String,
        /// The shape it should have.
        expected: Vec<usize>,
        /// The shape it has.
        found: Vec<usize>,
    },
    /// A buffer's length does not match the shape it is said to have.
    #[error("tensor `{tensor}`: shape {shape:?} needs {expected} values, found {found}")]
    Length {
        /// Which tensor.
        tensor: String,
        /// The claimed shape.
        shape: Vec<usize>,
        /// Product of the shape.
        expected: usize,
        /// Length of the data.
        found: usize,
    },
    /// A tensor that the config requires is absent from a weight file.
    #[error("missing tensor `{name}` (expected shape {expected:?}){hint}")]
    MissingTensor {
        /// The full name looked for.
        name: String,
        /// Its expected shape.
        expected: Vec<usize>,
        /// Extra help, may be empty.
        hint: String,
    },
    /// A weight file holds a tensor that the config has no place for.
    #[error("unexpected tensor `{name}`: the config {config} has no such parameter")]
    UnexpectedTensor {
        /// The full name found.
        name: String,
        /// A short description of the config.
        config: String,
    },
    /// A tensor has an element type other than the one expected.
    #[error("tensor `{tensor}`: expected dtype {expected}, found {found} (convert it before saving, e.g. `.float()` in PyTorch)")]
    Dtype {
        /// Which tensor.
        tensor: String,
        /// Expected dtype.
        expected: String,
        /// Found dtype.
        found: String,
    },
    /// A configuration value is invalid, or two parts of a config disagree.
    #[error("invalid config: {field}: {reason}")]
    Config {
        /// The config field at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Sequence lengths are unusable.
    #[error("sequence lengths: {reason}")]
    Lengths {
        /// What is wrong.
        reason: String,
    },
    /// An operation the config does not support (e.g. a streaming step of a bidirectional stack).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Backward was called without a matching forward pass.
    #[error("backward: {0}")]
    Tape(String),
    /// Data unusable for training or prediction (empty, NaN, out-of-range labels or tokens).
    #[error("data: {0}")]
    Data(String),
    /// Training diverged: a non-finite loss or gradient.
    #[error("training diverged at step {step}: {reason}; the last checkpoint written before it is intact — try a lower learning rate or gradient clipping")]
    Diverged {
        /// The step (1-based) whose loss or gradient was not finite.
        step: u64,
        /// What was not finite.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (part of the message, so not also reported as a source).
        error: std::io::Error,
    },
    /// A file is not a valid model/weight file (corrupt, truncated, foreign).
    #[error("{path}: {reason}")]
    Format {
        /// The file (or `<memory>`).
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn shape(tensor: &str, expected: &[usize], found: &[usize]) -> Self {
        Error::Shape {
            tensor: tensor.to_string(),
            expected: expected.to_vec(),
            found: found.to_vec(),
        }
    }
}
