//! Character-level text: a vocabulary and a token stream cut into truncated-BPTT chunks
//! (char-rnn style: `B` parallel streams, consecutive chunks of `T` steps, the state carried from
//! one chunk to the next).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Batch, BatchInput, BatchTarget};
use crate::error::{Error, Result};

/// Reads a file that must be UTF-8 text; the error names the file and the byte offset of the
/// first invalid byte.
pub fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|error| Error::Io {
        path: path.to_path_buf(),
        error,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        Error::Data(format!(
            "{}: not UTF-8 text: invalid byte at offset {}",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The characters of a text, sorted; a character's id is its index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vocab {
    /// The characters.
    pub chars: Vec<char>,
}

impl Vocab {
    /// The vocabulary of `text`.
    pub fn from_text(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab { chars }
    }

    /// Number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Encodes `text`; fails on a character outside the vocabulary, naming it and its offset.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                self.chars.binary_search(&c).map_err(|_| {
                    Error::Data(format!(
                        "character {c:?} at offset {i} is not in the model's vocabulary"
                    ))
                })
            })
            .collect()
    }

    /// Decodes ids (ids out of range become U+FFFD).
    pub fn decode(&self, ids: &[usize]) -> String {
        ids.iter()
            .map(|&i| self.chars.get(i).copied().unwrap_or('\u{FFFD}'))
            .collect()
    }
}

/// A token stream split into `batch` parallel streams for truncated BPTT.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenStream {
    /// `[B, L + 1]` the parallel streams (one extra token for the last target).
    streams: Vec<Vec<usize>>,
    bptt: usize,
}

impl TokenStream {
    /// Cuts `ids` into `batch` streams, chunks of `bptt` steps; fails if there is not one whole chunk.
    pub fn new(ids: &[usize], batch: usize, bptt: usize) -> Result<Self> {
        if batch == 0 || bptt == 0 {
            return Err(Error::config("batch/bptt", "must be at least 1"));
        }
        let per = ids.len().saturating_sub(1) / batch;
        if per < bptt {
            return Err(Error::Data(format!(
                "text of {} tokens is too short for {batch} streams of at least {bptt} steps (need {})",
                ids.len(),
                batch * bptt + 1
            )));
        }
        let streams = (0..batch)
            .map(|b| ids[b * per..b * per + per + 1].to_vec())
            .collect();
        Ok(TokenStream { streams, bptt })
    }

    /// Chunks per pass over the text.
    pub fn chunks(&self) -> usize {
        (self.streams[0].len() - 1) / self.bptt
    }

    /// Chunk `k`: inputs `[T, B]` and next-token targets `[T, B]`.
    pub fn chunk(&self, k: usize) -> Batch {
        let (t, b) = (self.bptt, self.streams.len());
        let mut ids = vec![0; t * b];
        let mut next = vec![0; t * b];
        for (bi, s) in self.streams.iter().enumerate() {
            for ti in 0..t {
                ids[ti * b + bi] = s[k * t + ti];
                next[ti * b + bi] = s[k * t + ti + 1];
            }
        }
        Batch {
            input: BatchInput::Tokens { ids, t, b },
            lengths: None,
            target: BatchTarget::Classes {
                data: next,
                per_step: true,
            },
        }
    }
}
