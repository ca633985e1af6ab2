//! One recurrent layer, one direction, over a whole sequence: forward (keeping a tape) and
//! backward through time. One file per cell type; the pieces they share live here.
//!
//! The structure of every cell (GRU, RNN, the LSTM with a projection; the LSTM without one runs
//! the fused team loops of `lstm.rs`, which compute the same sums per panel of hidden units):
//! 1. `gates[T·B, G] = X[T·B, In] · W_ih + bias` — one GEMM for all steps (at most 8 rows, as
//!    in a streaming step: one `panel_matmul` over `W_ih` packed in the tape);
//! 2. each step `t` (in processing order: `0..T`, or `T−1..0` for the reverse direction):
//!    `gates_t += h_{prev}[B, H_out] · W_hh` (one product over `W_hh` packed once in column
//!    panels, `panel_matmul`), then one fused pointwise pass;
//! 3. backward runs the steps in exact reverse: the fused pass gives `d_gates_t`, then
//!    `d_h = d_gates_t · W_hhᵀ` (one product per step over the packed transpose);
//! 4. after the loop `d_W_ih = Xᵀ·d_gates`, `d_W_hh = H_prevᵀ·d_gates`, `d_X = d_gates·W_ihᵀ`
//!    — one GEMM each over all `T·B` rows.
//!
//! Nothing is allocated inside a time loop: tape and scratch buffers are sized before it.
//! `active[t·B + b]` is false for steps past the end of sequence `b` (variable lengths): such a
//! step leaves the state unchanged, writes a zero output and passes gradients straight through.

pub(crate) mod gru;
pub(crate) mod lstm;
pub(crate) mod rnn;

use crate::kernels::aligned::Aligned;
use crate::kernels::gemm::{matmul, Acc, MatMut, MatRef};
use crate::kernels::packed::pack_col_panels;
use crate::kernels::panel_matmul::panel_matmul;
use crate::kernels::panel_queue::share;
use crate::kernels::team::{SharedMut, Team};
use crate::params::{DirParams, DirParamsMut};
use std::ops::Range;

/// Forward of one direction of one layer, for any cell type: routes to [`lstm::forward`],
/// [`gru::forward`] or [`rnn::forward`]. `c0: [B, H]` is read by the LSTM only.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    cell: crate::config::CellKind,
    y: &mut [f32],
    tape: &mut DirTape,
    x: &[f32],
    h0: &[f32],
    c0: &[f32],
    active: &[bool],
    w: &DirParams,
    d: &Dims,
) {
    use crate::config::CellKind;
    match cell {
        CellKind::Lstm => lstm::forward(y, tape, x, h0, c0, active, w, d),
        CellKind::Gru => gru::forward(y, tape, x, h0, active, w, d),
        CellKind::RnnTanh | CellKind::RnnRelu => {
            rnn::forward(y, tape, x, h0, active, w, cell == CellKind::RnnRelu, d)
        }
    }
}

/// Sizes of one direction of one layer over a sequence.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    /// T.
    pub t: usize,
    /// B.
    pub b: usize,
    /// In: features of this layer's input.
    pub input: usize,
    /// H.
    pub h: usize,
    /// H_out.
    pub h_out: usize,
    /// G.
    pub g: usize,
    /// Row stride of the layer output `y` (D·H_out) and this direction's column offset in it.
    pub ys: usize,
    /// Column offset of this direction in `y` (`dir · H_out`).
    pub ycol: usize,
    /// Whether this direction runs `t = T−1 … 0`.
    pub reverse: bool,
    /// Threads for the products.
    pub threads: usize,
    /// Whether forward keeps what backward needs (the tape). Without it, paths that can keep
    /// less (the fused LSTM loop) keep no gate activations and only two rows of state, used
    /// in turn; the others record as usual.
    pub record: bool,
    /// The stack's precision for forwards without grad ([`crate::WeightPrecision`]); what a
    /// pass reads is [`Dims::weights`].
    pub inference_weights: crate::WeightPrecision,
    /// The version of the weights ([`crate::Stack`] renumbers them on every change): packed
    /// copies in a tape made from the same version are reused. 0: unknown, always re-pack.
    pub version: u64,
    /// Whether this pass is one chunk of a layer wavefront (`crate::stack`'s `wavefront`):
    /// its products then allocate nothing (the input side runs over packed panels, or inside
    /// the fused LSTM loop, instead of through the GEMM crate, which allocates on every call),
    /// so a forward's allocations do not grow with the number of chunks.
    pub chunk: bool,
}

impl Dims {
    /// `(t, next)` pairs in processing order: `next` is the step that reads this step's state.
    pub fn steps(&self) -> impl DoubleEndedIterator<Item = (usize, Option<usize>)> {
        let (n, rev) = (self.t, self.reverse);
        (0..n).map(move |s| {
            if rev {
                let t = n - 1 - s;
                (t, t.checked_sub(1))
            } else {
                (s, if s + 1 < n { Some(s + 1) } else { None })
            }
        })
    }

    /// Rows of the state tapes (`h_prev`, `c_prev`) a forward on the fused path fills: every
    /// step's when recording, else two used in turn ([`Dims::slot`]).
    pub fn state_rows(&self) -> usize {
        if self.record {
            self.t
        } else {
            self.t.min(2)
        }
    }

    /// The row of the state tapes holding the state entering step `t` (see
    /// [`Dims::state_rows`]).
    pub fn slot(&self, t: usize) -> usize {
        if self.record {
            t
        } else {
            t % 2
        }
    }

    /// The precision the fused LSTM loop reads its weights in: f32 when recording, else the
    /// stack's inference precision.
    pub fn weights(&self) -> crate::WeightPrecision {
        if self.record {
            crate::WeightPrecision::F32
        } else {
            self.inference_weights
        }
    }

    /// The first step processed.
    pub fn first(&self) -> usize {
        if self.reverse {
            self.t - 1
        } else {
            0
        }
    }
}

/// What forward keeps for backward, for one `(layer, direction)`. Unused buffers stay empty.
#[derive(Debug, Default, Clone)]
pub(crate) struct DirTape {
    /// `[T, B, G]` gate activations.
    pub gates: Aligned<f32>,
    /// `[T, B, H_out]` the hidden state entering step t (on cache lines, as `c_prev`: the fused
    /// cell's 16-lane loads and stores of a row's units then never straddle two lines).
    pub h_prev: Aligned<f32>,
    /// `[B, H_out]` the final hidden state.
    pub h_last: Vec<f32>,
    /// `[T, B, H]` the cell state entering step t (LSTM).
    pub c_prev: Aligned<f32>,
    /// `[B, H]` the final cell state (LSTM).
    pub c_last: Vec<f32>,
    /// `[T, B, H]` `o ⊙ tanh(c)` before the projection (LSTM with P > 0).
    pub r: Vec<f32>,
    /// `[T, B, H]` `ĝ_n = (h·W_hh + b_hh)_n` (GRU); one row `[B, H]`, overwritten each step, in
    /// a pass that does not record ([`Dims::record`]).
    pub ghn: Vec<f32>,
    /// `[B, 3H]` per-step hidden product (GRU forward scratch).
    pub gh: Vec<f32>,
    /// The weights packed for the fused LSTM loop, kept across calls while the weights keep
    /// their version.
    pub fused: Packed<lstm::FusedWeights>,
    /// `[members, ROW_GROUP, 64]` each team member's running sums in the fused loops (on cache
    /// lines: a member's block shares none with another's).
    pub sums: Aligned<f32>,
    /// Each team member's quantized rows and integer sums in the fused loop with 8-bit
    /// weights.
    pub quant: lstm::QuantScratch,
    /// `W_hh` packed in column panels for the per-step product of the loops that do not run
    /// fused (GRU, RNN, the LSTM with a projection).
    pub packed_hh: Packed<Aligned<f32>>,
    /// `W_hr` packed in column panels (LSTM with a projection).
    pub packed_hr: Packed<Aligned<f32>>,
    /// `W_ih` packed in column panels, for the input side of a pass with few rows (a streaming
    /// step of the GRU, the RNN, the LSTM with a projection).
    pub packed_ih: Packed<Aligned<f32>>,
    /// Whether the fused loop's next step walks each member's panels backwards (it alternates
    /// from step to step, and from one pass to the next; see `PanelQueue`).
    pub panel_flip: bool,
}

/// A packed copy of weights and the weights' version it was made from (0: none).
#[derive(Debug, Default, Clone)]
pub(crate) struct Packed<P> {
    data: P,
    version: u64,
}

impl<P> Packed<P> {
    /// The packed data for weights of `version`, re-packed by `pack` unless already current
    /// (version 0 always re-packs).
    pub fn get(&mut self, version: u64, pack: impl FnOnce(&mut P)) -> &P {
        if version == 0 || self.version != version {
            pack(&mut self.data);
            self.version = version;
        }
        &self.data
    }
}

/// Backward scratch for one `(layer, direction)`, reused across calls.
#[derive(Debug, Default, Clone)]
pub(crate) struct BwdScratch {
    /// `[T, B, G]` gradients of the gate pre-activations (input side).
    pub dg: Aligned<f32>,
    /// `[T, B, G]` gradients of the hidden product (GRU only; LSTM/RNN use `dg`).
    pub dgh: Vec<f32>,
    /// `[B, H_out]` running `∂L/∂h`.
    pub dh: Vec<f32>,
    /// `[B, H]` running `∂L/∂c` (LSTM).
    pub dc: Vec<f32>,
    /// `[B, H]` `∂L/∂r` (LSTM with projection).
    pub dr: Vec<f32>,
    /// `[T, B, P]` `∂L/∂h_t` per step, for `d_W_hr` (LSTM with projection).
    pub dh_all: Vec<f32>,
    /// `[G, In]` `W_ih` transposed, for `d_X = d_gates · W_ihᵀ`.
    pub w_ih_t: Vec<f32>,
    /// `W_hhᵀ` packed in column panels for the per-step `d_gates · W_hhᵀ` (every cell).
    pub packed_t: Packed<Aligned<f32>>,
    /// `W_hrᵀ` packed in column panels (LSTM with a projection).
    pub packed_hr_t: Packed<Aligned<f32>>,
    /// `[members, ROW_GROUP, 64]` each team member's running sums in the fused backward loop
    /// (on cache lines, as the forward's).
    pub sums: Aligned<f32>,
    /// `[G]` the bias gradient the fused backward loop sums.
    pub db: Vec<f32>,
}

/// `dst[c, r] = src[r, c]` with `src: [rows, cols]`; `dst` is resized to `[cols, rows]`.
pub(crate) fn transpose_into(dst: &mut Vec<f32>, src: &[f32], rows: usize, cols: usize) {
    resize_for_overwrite(dst, rows * cols);
    crate::params::transpose(src, rows, cols, dst);
}

/// Whether a step's `B` rows are worth splitting between the team for the pointwise cell.
fn split_rows(d: &Dims) -> bool {
    d.threads > 1 && d.b >= 8 && d.b * d.h >= 1 << 13
}

/// Runs `f(rows)` over a step's rows `0..B`: one contiguous block per team member when there are
/// enough of them ([`split_rows`]; the per-step product before it has just used the team, whose
/// members are awake), else once over all rows on the caller. Each block goes to one member.
pub(crate) fn for_row_blocks(d: &Dims, f: &(dyn Fn(Range<usize>) + Sync)) {
    if !split_rows(d) {
        return f(0..d.b);
    }
    Team::global().run(d.threads, &|m, bar| {
        let rows = share(d.b, m, bar.members());
        if !rows.is_empty() {
            f(rows);
        }
    });
}

/// Rows `rows` of a `[B, w]` buffer shared by [`for_row_blocks`]' members.
///
/// # Safety
/// `rows` is the block [`for_row_blocks`] handed this member (blocks are disjoint), and the
/// buffer outlives the call.
#[allow(clippy::mut_from_ref)]
pub(crate) unsafe fn rows_mut<'a>(
    buf: &'a SharedMut,
    rows: &Range<usize>,
    w: usize,
) -> &'a mut [f32] {
    buf.slice_mut(rows.start * w, rows.len() * w)
}

/// Rows `rows` of a `[B, w]` buffer.
pub(crate) fn rows_of<'a>(buf: &'a [f32], rows: &Range<usize>, w: usize) -> &'a [f32] {
    &buf[rows.start * w..rows.end * w]
}

/// Clears and zero-fills `v` to `n` values, reusing its capacity.
pub(crate) fn reset(v: &mut Vec<f32>, n: usize) {
    v.clear();
    v.resize(n, 0.0);
}

/// Sizes `v` to `n` values without clearing what is kept: for buffers the caller overwrites
/// completely before reading (the gate pre-activations, the per-step state tapes).
pub(crate) fn resize_for_overwrite(v: &mut Vec<f32>, n: usize) {
    v.resize(n, 0.0);
}

/// Row `t` of a `[T, n]` buffer.
pub(crate) fn row<T>(buf: &[T], t: usize, n: usize) -> &[T] {
    &buf[t * n..(t + 1) * n]
}

/// Row `t` of a `[T, n]` buffer, mutable.
pub(crate) fn row_mut(buf: &mut [f32], t: usize, n: usize) -> &mut [f32] {
    &mut buf[t * n..(t + 1) * n]
}

/// The state read by step `t` (row `t` of `buf: [T, n]`) and the place its successor's state
/// goes: row `next`, or `last` after the final step.
pub(crate) fn state_pair<'a>(
    buf: &'a mut [f32],
    last: &'a mut [f32],
    n: usize,
    t: usize,
    next: Option<usize>,
) -> (&'a [f32], &'a mut [f32]) {
    match next {
        None => (row(buf, t, n), last),
        Some(nx) if nx > t => {
            let (a, b) = buf.split_at_mut(nx * n);
            (&a[t * n..(t + 1) * n], &mut b[..n])
        }
        Some(nx) => {
            let (a, b) = buf.split_at_mut(t * n);
            (&b[..n], &mut a[nx * n..(nx + 1) * n])
        }
    }
}

/// The state step `t` produced: row `next` of `buf: [T, n]`, or `last`.
pub(crate) fn state_after<'a>(
    buf: &'a [f32],
    last: &'a [f32],
    n: usize,
    next: Option<usize>,
) -> &'a [f32] {
    next.map_or(last, |nx| row(buf, nx, n))
}

/// Rows of `dst: [B, n]` whose step is inactive get `src`'s row (their state does not move).
pub(crate) fn keep_inactive(dst: &mut [f32], src: &[f32], active: &[bool], n: usize) {
    for (b, _) in active.iter().enumerate().filter(|(_, &on)| !on) {
        dst[b * n..(b + 1) * n].copy_from_slice(&src[b * n..(b + 1) * n]);
    }
}

/// Rows of `dst: [B, n]` whose step is active get `src`'s row.
pub(crate) fn copy_active(dst: &mut [f32], src: &[f32], active: &[bool], n: usize) {
    for (b, _) in active.iter().enumerate().filter(|(_, &on)| on) {
        dst[b * n..(b + 1) * n].copy_from_slice(&src[b * n..(b + 1) * n]);
    }
}

/// Zeroes the active rows of `buf: [B, n]`.
pub(crate) fn zero_active(buf: &mut [f32], active: &[bool], n: usize) {
    for (b, _) in active.iter().enumerate().filter(|(_, &on)| on) {
        buf[b * n..(b + 1) * n].fill(0.0);
    }
}

/// `y[t, b, ycol..ycol+H_out] = h_new[b]` for active rows, 0 otherwise. `y: [T, B, ys]`.
pub(crate) fn write_output(y: &mut [f32], h_new: &[f32], active: &[bool], t: usize, d: &Dims) {
    for (b, &on) in active.iter().enumerate() {
        let at = (t * d.b + b) * d.ys + d.ycol;
        let dst = &mut y[at..at + d.h_out];
        if on {
            dst.copy_from_slice(&h_new[b * d.h_out..(b + 1) * d.h_out]);
        } else {
            dst.fill(0.0);
        }
    }
}

/// Backward of [`write_output`]: `d_h[b] += d_y[t, b, ycol..]` for active rows (the zero outputs
/// of inactive steps are constants: their gradient goes nowhere).
pub(crate) fn add_output_grad(d_h: &mut [f32], d_y: &[f32], active: &[bool], t: usize, d: &Dims) {
    for (b, _) in active.iter().enumerate().filter(|(_, &on)| on) {
        let at = (t * d.b + b) * d.ys + d.ycol;
        for (a, g) in d_h[b * d.h_out..(b + 1) * d.h_out]
            .iter_mut()
            .zip(&d_y[at..at + d.h_out])
        {
            *a += g;
        }
    }
}

/// Rows (`T·B`) up to which [`input_projection`] reads `W_ih` packed in column panels (kept in
/// the tape, shared out on the team like the per-step product) rather than calling the GEMM
/// crate, which packs `W_ih` and allocates on every call. Measured on streaming steps (one
/// row, fastest of 5 rounds): GRU H = 256 23 → 20 µs, H = 512 148 → 96 µs; RNN H = 512 25 → 14 µs.
const PACKED_INPUT_MAX_ROWS: usize = 8;

/// `gates[T·B, G] = X[T·B, In] · W_ih + b_ih (+ b_hh if `fold_b_hh`)` — step 1, one product.
/// `packed`: the tape's cache of `W_ih` in column panels, for few rows; `flip`: the direction
/// of its panels ([`panel_matmul`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn input_projection(
    gates: &mut [f32],
    x: &[f32],
    w: &DirParams,
    fold_b_hh: bool,
    packed: Option<&mut Packed<Aligned<f32>>>,
    flip: bool,
    d: &Dims,
) {
    let rows = d.t * d.b;
    let mut acc = Acc::Overwrite;
    if let Some(b_ih) = w.b_ih {
        for r in gates.chunks_exact_mut(d.g) {
            r.copy_from_slice(b_ih);
        }
        if fold_b_hh {
            if let Some(b_hh) = w.b_hh {
                for r in gates.chunks_exact_mut(d.g) {
                    r.iter_mut().zip(b_hh).for_each(|(a, b)| *a += b);
                }
            }
        }
        acc = Acc::Add;
    }
    if let Some(packed) = packed.filter(|_| rows <= PACKED_INPUT_MAX_ROWS || d.chunk) {
        let w_ih = packed.get(d.version, |p| pack_col_panels(p, w.w_ih, d.input, d.g));
        panel_matmul(
            gates, d.g, x, rows, d.input, w_ih, d.g, acc, d.threads, flip,
        );
        return;
    }
    matmul(
        MatMut::new(gates, rows, d.g),
        MatRef::new(x, rows, d.input),
        MatRef::new(w.w_ih, d.input, d.g),
        acc,
        d.threads,
    );
}

/// Backward of [`input_projection`]: `d_W_ih += Xᵀ·d_g`, `d_b_ih (and d_b_hh if folded) += Σ d_g`,
/// `d_x += d_g · W_ihᵀ` (skipped when `d_x` is empty) — one GEMM each over all `T·B` rows.
#[allow(clippy::too_many_arguments)]
pub(crate) fn input_projection_backward(
    d_x: &mut [f32],
    gw: &mut DirParamsMut,
    w_ih_t: &mut Vec<f32>,
    d_g: &[f32],
    x: &[f32],
    w: &DirParams,
    fold_b_hh: bool,
    d: &Dims,
) {
    let rows = d.t * d.b;
    let dg = MatRef::new(d_g, rows, d.g);
    matmul(
        MatMut::new(gw.w_ih, d.input, d.g),
        MatRef::new(x, rows, d.input).t(),
        dg,
        Acc::Add,
        d.threads,
    );
    if let Some(db) = gw.b_ih.as_deref_mut() {
        col_sum(db, d_g, d.g);
    }
    if fold_b_hh {
        if let Some(db) = gw.b_hh.as_deref_mut() {
            col_sum(db, d_g, d.g);
        }
    }
    if d_x.is_empty() {
        return; // the caller does not want ∂L/∂x
    }
    transpose_into(w_ih_t, w.w_ih, d.input, d.g);
    matmul(
        MatMut::new(d_x, rows, d.input),
        dg,
        MatRef::new(w_ih_t, d.g, d.input),
        Acc::Add,
        d.threads,
    );
}

/// `d_W_hh += H_prevᵀ · d_gh` over all `T·B` rows (`h_prev: [T, B, H_out]`, `d_gh: [T, B, G]`).
pub(crate) fn recurrent_weight_grad(d_w_hh: &mut [f32], h_prev: &[f32], d_gh: &[f32], d: &Dims) {
    let rows = d.t * d.b;
    matmul(
        MatMut::new(d_w_hh, d.h_out, d.g),
        MatRef::new(h_prev, rows, d.h_out).t(),
        MatRef::new(d_gh, rows, d.g),
        Acc::Add,
        d.threads,
    );
}

/// `dst[j] += Σ_rows src[row, j]`; `src: [rows, n]`.
pub(crate) fn col_sum(dst: &mut [f32], src: &[f32], n: usize) {
    for r in src.chunks_exact(n) {
        dst.iter_mut().zip(r).for_each(|(a, b)| *a += b);
    }
}
