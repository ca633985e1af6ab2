//! Where every parameter lives: one `Vec<f32>` per stack (and one of the same layout for its
//! gradients), carved into named views.
//!
//! Internal layouts are the transposes of PyTorch's so that the products are `x · W` with `W`
//! stored `[K, N]` (the layout the GEMM kernels are fast with); conversion happens only at
//! load/save ([`ParamLayout::write_torch`], [`ParamLayout::read_torch`]).
//!
//! | PyTorch name (suffix `_reverse` for d = 1) | PyTorch shape | internal shape |
//! |---|---|---|
//! | `weight_ih_l{k}` | `[G, In]` | `[In, G]` |
//! | `weight_hh_l{k}` | `[G, H_out]` | `[H_out, G]` |
//! | `bias_ih_l{k}`, `bias_hh_l{k}` | `[G]` | `[G]` |
//! | `weight_hr_l{k}` (LSTM, P > 0) | `[P, H]` | `[H, P]` |
//!
//! Within a `(layer, direction)` block the tensors follow in the order of the table, and blocks
//! follow in the order `l0, l0_reverse, l1, ...`, so one `(layer, direction)` is one contiguous range.

use crate::config::RnnConfig;

/// Which parameter of a `(layer, direction)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `weight_ih`: input-to-gates weights.
    WeightIh,
    /// `weight_hh`: hidden-to-gates weights.
    WeightHh,
    /// `bias_ih`.
    BiasIh,
    /// `bias_hh`.
    BiasHh,
    /// `weight_hr`: LSTM projection.
    WeightHr,
}

impl ParamKind {
    fn stem(self) -> &'static str {
        match self {
            ParamKind::WeightIh => "weight_ih",
            ParamKind::WeightHh => "weight_hh",
            ParamKind::BiasIh => "bias_ih",
            ParamKind::BiasHh => "bias_hh",
            ParamKind::WeightHr => "weight_hr",
        }
    }
}

/// One named tensor's place in the parameter block.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSlot {
    /// PyTorch name, e.g. `weight_hh_l1_reverse`.
    pub name: String,
    /// Which parameter.
    pub kind: ParamKind,
    /// Layer index.
    pub layer: usize,
    /// Direction: 0 forward, 1 reverse.
    pub dir: usize,
    /// Offset in the block.
    pub offset: usize,
    /// PyTorch's shape (`[rows, cols]` or `[len]`); the internal layout is its transpose.
    pub torch_shape: Vec<usize>,
}

impl ParamSlot {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.torch_shape.iter().product()
    }

    /// Whether the tensor is empty (never, for a valid config).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slot's range in the block.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// The layout of all parameters of a stack in one block.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamLayout {
    slots: Vec<ParamSlot>,
    /// `(start, end)` of each `(layer, direction)` block, index `layer * D + dir`.
    blocks: Vec<(usize, usize)>,
    total: usize,
}

/// Read-only views of one `(layer, direction)`'s parameters, internal layouts.
#[derive(Debug, Clone, Copy)]
pub struct DirParams<'a> {
    /// `[In, G]`.
    pub w_ih: &'a [f32],
    /// `[H_out, G]`.
    pub w_hh: &'a [f32],
    /// `[G]`, if the config has biases.
    pub b_ih: Option<&'a [f32]>,
    /// `[G]`, if the config has biases.
    pub b_hh: Option<&'a [f32]>,
    /// `[H, P]`, if the config projects.
    pub w_hr: Option<&'a [f32]>,
}

/// Mutable views of one `(layer, direction)`'s parameters (or gradients), internal layouts.
#[derive(Debug)]
pub struct DirParamsMut<'a> {
    /// `[In, G]`.
    pub w_ih: &'a mut [f32],
    /// `[H_out, G]`.
    pub w_hh: &'a mut [f32],
    /// `[G]`, if the config has biases.
    pub b_ih: Option<&'a mut [f32]>,
    /// `[G]`, if the config has biases.
    pub b_hh: Option<&'a mut [f32]>,
    /// `[H, P]`, if the config projects.
    pub w_hr: Option<&'a mut [f32]>,
}

impl ParamLayout {
    /// The layout for a (validated) config.
    pub fn new(cfg: &RnnConfig) -> Self {
        let g = cfg.gate_rows();
        let (h, p, h_out) = (cfg.hidden_size, cfg.proj_size, cfg.h_out());
        let mut slots = Vec::new();
        let mut blocks = Vec::new();
        let mut offset = 0;
        for layer in 0..cfg.num_layers {
            let input = cfg.layer_input_size(layer);
            for dir in 0..cfg.directions() {
                let start = offset;
                let mut push = |kind: ParamKind, torch_shape: Vec<usize>| {
                    let suffix = if dir == 1 { "_reverse" } else { "" };
                    let slot = ParamSlot {
                        name: format!("{}_l{layer}{suffix}", kind.stem()),
                        kind,
                        layer,
                        dir,
                        offset,
                        torch_shape,
                    };
                    offset += slot.len();
                    slots.push(slot);
                };
                push(ParamKind::WeightIh, vec![g, input]);
                push(ParamKind::WeightHh, vec![g, h_out]);
                if cfg.bias {
                    push(ParamKind::BiasIh, vec![g]);
                    push(ParamKind::BiasHh, vec![g]);
                }
                if p > 0 {
                    push(ParamKind::WeightHr, vec![p, h]);
                }
                blocks.push((start, offset));
            }
        }
        ParamLayout {
            slots,
            blocks,
            total: offset,
        }
    }

    /// Total number of parameters.
    pub fn total(&self) -> usize {
        self.total
    }

    /// All slots in block order.
    pub fn slots(&self) -> &[ParamSlot] {
        &self.slots
    }

    /// The slot of a PyTorch name, if the config has it.
    pub fn slot(&self, name: &str) -> Option<&ParamSlot> {
        self.slots.iter().find(|s| s.name == name)
    }

    fn dir_slots(&self, block: usize) -> impl Iterator<Item = &ParamSlot> {
        let (start, end) = self.blocks[block];
        self.slots
            .iter()
            .filter(move |s| s.offset >= start && s.offset < end)
    }

    /// Views of `(layer, dir)` in `data` (a block of this layout). `directions` is D.
    pub fn dir<'a>(&self, data: &'a [f32], block: usize) -> DirParams<'a> {
        let mut v = DirParams {
            w_ih: &[],
            w_hh: &[],
            b_ih: None,
            b_hh: None,
            w_hr: None,
        };
        for s in self.dir_slots(block) {
            let t = &data[s.range()];
            match s.kind {
                ParamKind::WeightIh => v.w_ih = t,
                ParamKind::WeightHh => v.w_hh = t,
                ParamKind::BiasIh => v.b_ih = Some(t),
                ParamKind::BiasHh => v.b_hh = Some(t),
                ParamKind::WeightHr => v.w_hr = Some(t),
            }
        }
        v
    }

    /// Mutable views of block `block` (`layer * D + dir`) in `data`.
    pub fn dir_mut<'a>(&self, data: &'a mut [f32], block: usize) -> DirParamsMut<'a> {
        let (start, end) = self.blocks[block];
        let mut rest = &mut data[start..end];
        let mut v = DirParamsMut {
            w_ih: &mut [],
            w_hh: &mut [],
            b_ih: None,
            b_hh: None,
            w_hr: None,
        };
        for s in self.dir_slots(block) {
            let (t, tail) = std::mem::take(&mut rest).split_at_mut(s.len());
            rest = tail;
            match s.kind {
                ParamKind::WeightIh => v.w_ih = t,
                ParamKind::WeightHh => v.w_hh = t,
                ParamKind::BiasIh => v.b_ih = Some(t),
                ParamKind::BiasHh => v.b_hh = Some(t),
                ParamKind::WeightHr => v.w_hr = Some(t),
            }
        }
        v
    }

    /// Writes a tensor given in PyTorch's layout (`torch`, row-major `slot.torch_shape`) into
    /// the block `data`, transposing matrices to the internal layout.
    pub fn write_torch(&self, data: &mut [f32], slot: &ParamSlot, torch: &[f32]) {
        let dst = &mut data[slot.range()];
        match slot.torch_shape.as_slice() {
            [rows, cols] => transpose(torch, *rows, *cols, dst),
            _ => dst.copy_from_slice(torch),
        }
    }

    /// Reads a tensor out of the block in PyTorch's layout.
    pub fn read_torch(&self, data: &[f32], slot: &ParamSlot) -> Vec<f32> {
        let src = &data[slot.range()];
        let mut out = vec![0.0; slot.len()];
        match slot.torch_shape.as_slice() {
            // internal is [cols, rows]
            [rows, cols] => transpose(src, *cols, *rows, &mut out),
            _ => out.copy_from_slice(src),
        }
        out
    }
}

/// `dst[c, r] = src[r, c]`; `src: [rows, cols]`, `dst: [cols, rows]`.
pub(crate) fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    for r in 0..rows {
        for c in 0..cols {
            dst[c * rows + r] = src[r * cols + c];
        }
    }
}
