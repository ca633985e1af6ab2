//! Streaming inference: one time step for a batch (B = 1 included), the state owned by the
//! caller, nothing allocated per step.
//!
//! A step runs each layer's sequence driver with `T = 1`, so the arithmetic is exactly that of a
//! sequence call: `T` single steps equal one call over `T` steps.
//!
//! ```
//! use lstm::{CellKind, RnnConfig, Stack, StepScratch};
//! let stack = Stack::new(RnnConfig::new(CellKind::Lstm, 2, 8), 0).unwrap();
//! let mut state = stack.zero_state(1);
//! let mut scratch = StepScratch::new(&stack, 1).unwrap();
//! for x_t in [[0.5f32, -1.0], [0.25, 0.0]] {
//!     let h = stack.step(&x_t, &mut state, &mut scratch).unwrap(); // [B, H_out]
//!     assert_eq!(h.len(), 8);
//! }
//! ```

use crate::config::CellKind;
use crate::error::{Error, Result};
use crate::layer::{self, DirTape};
use crate::stack::{Stack, State};
use crate::tensor::Tensor;

/// Buffers for [`Stack::step`], sized once for a batch size.
#[derive(Debug, Clone)]
pub struct StepScratch {
    batch: usize,
    /// The config of the stack it was made for.
    config: crate::config::RnnConfig,
    /// Per layer: the driver's tape for one step.
    tapes: Vec<DirTape>,
    /// Per layer: `[B, H_out]` the layer's output this step.
    outputs: Vec<Vec<f32>>,
    /// `[B]`, all true.
    active: Vec<bool>,
}

impl StepScratch {
    /// Scratch for steps of `batch` sequences through `stack`; fails for a bidirectional stack
    /// (its reverse direction needs the whole sequence).
    pub fn new(stack: &Stack, batch: usize) -> Result<Self> {
        let c = stack.config();
        if c.bidirectional {
            return Err(Error::Unsupported(
                "a streaming step needs a unidirectional stack: the reverse direction reads the whole sequence".into(),
            ));
        }
        if batch == 0 {
            return Err(Error::config("batch", "must be at least 1, found 0"));
        }
        let mut s = StepScratch {
            batch,
            config: c.clone(),
            tapes: vec![DirTape::default(); c.num_layers],
            outputs: vec![vec![0.0; batch * c.h_out()]; c.num_layers],
            active: vec![true; batch],
        };
        // One step on zeros sizes every buffer, so later steps allocate nothing.
        let mut state = stack.zero_state(batch);
        stack.step(&vec![0.0; batch * c.input_size], &mut state, &mut s)?;
        Ok(s)
    }

    /// The batch size this scratch serves.
    pub fn batch(&self) -> usize {
        self.batch
    }
}

impl Stack {
    /// A zero state for `batch` sequences: `h: [L·D, B, H_out]`, `c: [L·D, B, H]` (LSTM).
    pub fn zero_state(&self, batch: usize) -> State {
        let c = self.config();
        let ld = c.num_layers * c.directions();
        State {
            h: Tensor::zeros(&[ld, batch, c.h_out()]),
            c: (c.cell == CellKind::Lstm).then(|| Tensor::zeros(&[ld, batch, c.hidden_size])),
        }
    }

    /// One time step: `x_t: [B, F]`; updates `state` in place and returns the last layer's
    /// output `[B, H_out]` (a view into `scratch`).
    pub fn step<'s>(
        &self,
        x_t: &[f32],
        state: &mut State,
        scratch: &'s mut StepScratch,
    ) -> Result<&'s [f32]> {
        let c = self.config();
        let b = scratch.batch;
        let (h, ho) = (c.hidden_size, c.h_out());
        if x_t.len() != b * c.input_size {
            return Err(Error::Length {
                tensor: "x_t".into(),
                shape: vec![b, c.input_size],
                expected: b * c.input_size,
                found: x_t.len(),
            });
        }
        if &scratch.config != c {
            return Err(Error::config(
                "scratch",
                format!(
                    "was made for {}, not for this {}",
                    scratch.config.describe(),
                    c.describe()
                ),
            ));
        }
        state.check(c, b, "state.h", "state.c")?;
        for l in 0..c.num_layers {
            // Nothing is kept for backward (the fused LSTM loop then writes no activations).
            let d = self.layer_dims(l, 0, 1, b, false);
            let w = self.layout().dir(self.params(), l);
            let (below, rest) = scratch.outputs.split_at_mut(l);
            let input: &[f32] = if l == 0 { x_t } else { &below[l - 1] };
            let (out, tape) = (&mut rest[0], &mut scratch.tapes[l]);
            let hs = l * b * ho..(l + 1) * b * ho;
            let h0 = &state.h.data()[hs.clone()];
            let cs = l * b * h..(l + 1) * b * h;
            let c0 = state
                .c
                .as_ref()
                .map_or(&[][..], |cst| &cst.data()[cs.clone()]);
            layer::forward(c.cell, out, tape, input, h0, c0, &scratch.active, &w, &d);
            if let Some(cst) = state.c.as_mut() {
                cst.data_mut()[cs].copy_from_slice(&tape.c_last);
            }
            state.h.data_mut()[hs].copy_from_slice(&tape.h_last);
        }
        Ok(&scratch.outputs[c.num_layers - 1])
    }
}
