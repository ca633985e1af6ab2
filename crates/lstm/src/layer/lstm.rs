//! LSTM, one direction over a sequence: [`forward`] and [`backward`] side by side; backward runs
//! forward's steps in exact reverse. With a projection (P > 0), `h_t = r_t · W_hr` where
//! `r_t = o_t ⊙ tanh(c_t)`.

use super::{
    add_output_grad, copy_active, for_row_blocks, input_projection, input_projection_backward,
    keep_inactive, recurrent_weight_grad, reset, row, row_mut, rows_mut, rows_of, state_after,
    state_pair, write_output, zero_active, BwdScratch, Dims, DirTape,
};
use crate::kernels::gemm::{matmul, Acc, MatMut, MatRef};
use crate::kernels::int8::{self, dequantize_add, quantize_rows, tile_i8, I8Panel, I8Panels};
use crate::kernels::lstm_cell::{
    lstm_cell_backward, lstm_cell_forward, lstm_group_backward, lstm_group_forward, GroupBwd,
    GroupOut,
};
use crate::kernels::packed::{
    col_panels, gate_panels, pack_col_panels, pack_col_panels_t, pack_gate_panels, panel,
    round_f16, tile, tile_cached, to_f16, Aligned, PanelWeight, LANES, MAX_ROWS, PANEL,
};
use crate::kernels::panel_matmul::panel_matmul;
use crate::kernels::panel_queue::{share, step_flip, PanelQueue};
use crate::kernels::team::{SharedMut, Team};
use crate::kernels::tuning::F16_PANELS_ABOVE;
use crate::params::{DirParams, DirParamsMut};
use crate::WeightPrecision;

/// Forward over the sequence.
/// - `y: [T, B, ys]` out: this direction's columns `ycol..ycol+H_out`. `tape` out.
/// - `x: [T, B, In]`, `h0: [B, H_out]`, `c0: [B, H]`, `active: [T, B]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    y: &mut [f32],
    tape: &mut DirTape,
    x: &[f32],
    h0: &[f32],
    c0: &[f32],
    active: &[bool],
    w: &DirParams,
    d: &Dims,
) {
    // Only the fused loop (no projection) knows how to keep less than the whole tape (and
    // read f16 or 8-bit weights, which only a pass that keeps nothing does).
    let d = &Dims {
        record: d.record || w.w_hr.is_some(),
        ..*d
    };
    let (bh, bho, bg) = (d.b * d.h, d.b * d.h_out, d.b * d.g);
    let DirTape {
        gates,
        h_prev,
        h_last,
        c_prev,
        c_last,
        r,
        fused,
        sums,
        packed_hh,
        packed_hr,
        packed_ih,
        quant,
        panel_flip,
        ..
    } = tape;
    // The gates are kept for backward, or hold the input side computed before the loop.
    let keep_gates = d.record || !input_in_loop(d);
    gates.resize(if keep_gates { d.t * bg } else { 0 });
    h_prev.resize(d.state_rows() * bho);
    reset(h_last, bho);
    c_prev.resize(d.state_rows() * bh);
    reset(c_last, bh);
    reset(r, if w.w_hr.is_some() { d.t * bh } else { 0 });
    row_mut(h_prev, d.slot(d.first()), bho).copy_from_slice(h0);
    row_mut(c_prev, d.slot(d.first()), bh).copy_from_slice(c0);
    let Some(w_hr) = w.w_hr else {
        // No projection: the fused team loop.
        let fw = fused.get(FusedWeights::key(d), |f| f.pack(w, d));
        sums.zeroed(team_size(d) * group_block(d));
        quant.size(d);
        if !input_in_loop(d) {
            if d.weights() == WeightPrecision::I8 {
                input_projection_i8(gates, x, fw, quant, sums, d);
            } else {
                // With f16 weights the input side reads them rounded too.
                let w_in = DirParams {
                    w_ih: if d.weights() == WeightPrecision::F16 {
                        &fw.ih_rounded
                    } else {
                        w.w_ih
                    },
                    ..*w
                };
                // The GEMM crate; a wavefront's chunk (a few rows, and nothing may be
                // allocated per chunk) takes `W_ih` packed in panels instead (1.1× faster at
                // B = 1, H = 128 than summing the input side in the loop), a packing named by
                // the precision too, since `w_in` may hold the f16-rounded weights.
                let packed = d.chunk.then_some(&mut *packed_ih);
                let key = Dims {
                    version: FusedWeights::key(d),
                    ..*d
                };
                input_projection(gates, x, &w_in, true, packed, *panel_flip, &key);
            }
        }
        let st = States {
            h: SharedMut::new(h_prev),
            h_last: SharedMut::new(h_last),
            c: SharedMut::new(c_prev),
            c_last: SharedMut::new(c_last),
        };
        fused_forward(
            SharedMut::new(y),
            keep_gates.then(|| SharedMut::new(gates)),
            &st,
            SharedMut::new(sums),
            quant.shared(),
            x,
            fw,
            active,
            *panel_flip,
            d,
        );
        // The next pass (a streaming step's next call) goes on alternating.
        *panel_flip ^= d.t % 2 == 1;
        return;
    };
    // With a projection: one product per step over the packed matrices, then the cell.
    input_projection(gates, x, w, true, Some(packed_ih), *panel_flip, d);
    let w_hh = packed_hh.get(d.version, |p| pack_col_panels(p, w.w_hh, d.h_out, d.g));
    let w_hr = packed_hr.get(d.version, |p| pack_col_panels(p, w_hr, d.h, d.h_out));
    for (s, (t, next)) in d.steps().enumerate() {
        let act = row(active, t, d.b);
        let g_t = row_mut(gates, t, bg);
        let (h_in, h_new) = state_pair(h_prev, h_last, bho, t, next);
        let flip = step_flip(s, *panel_flip);
        panel_matmul(
            g_t,
            d.g,
            h_in,
            d.b,
            d.h_out,
            w_hh,
            d.g,
            Acc::Add,
            d.threads,
            flip,
        );
        let (c_in, c_new) = state_pair(c_prev, c_last, bh, t, next);
        let r_t = row_mut(r, t, bh);
        cell_forward_rows(g_t, c_new, r_t, c_in, act, d);
        panel_matmul(
            h_new,
            d.h_out,
            r_t,
            d.b,
            d.h,
            w_hr,
            d.h_out,
            Acc::Overwrite,
            d.threads,
            flip,
        );
        keep_inactive(h_new, h_in, act, d.h_out);
        write_output(y, h_new, act, t, d);
    }
    *panel_flip ^= d.t % 2 == 1;
}

/// Per-step multiply-adds of the recurrent product below which the fused loops run on one
/// thread (a barrier per step costs more than a second core saves).
const TEAM_MIN_MACS: usize = 1 << 15;

/// Members of the team for a fused loop.
fn team_size(d: &Dims) -> usize {
    if d.threads > 1 && d.b * d.h_out * d.g >= TEAM_MIN_MACS {
        d.threads
    } else {
        1
    }
}

/// The state tapes the fused loops share between the team: `h, c: [T, B, H]` (the state
/// entering each step) and `h_last, c_last: [B, H]`.
struct States {
    h: SharedMut,
    h_last: SharedMut,
    c: SharedMut,
    c_last: SharedMut,
}

/// `dst[..src.len()] = src` for up to 16 values: a fixed-size copy (one vector move, no call)
/// when all 16 are there.
#[inline(always)]
fn copy_lanes(dst: &mut [f32], src: &[f32]) {
    match (
        <&mut [f32; LANES]>::try_from(&mut dst[..src.len()]),
        <&[f32; LANES]>::try_from(src),
    ) {
        (Ok(d), Ok(s)) => *d = *s,
        _ => dst[..src.len()].copy_from_slice(src),
    }
}

/// The weights of one direction packed for [`fused_forward`], made from one version, in the
/// precision of [`Dims::weights`]: f32, f16 (or f32 panels of the rounded values) or 8 bits.
#[derive(Debug, Default, Clone)]
pub(crate) struct FusedWeights {
    /// `[gate_panels(H), In, 64]` `W_ih` (f32 only).
    ih: Aligned<f32>,
    /// `[gate_panels(H), H, 64]` `W_hh` (f32 only).
    hh: Aligned<f32>,
    /// `[gate_panels(H), In, 64]` `W_ih` in f16 (f16 panels only).
    ih16: Aligned<half::f16>,
    /// `[gate_panels(H), H, 64]` `W_hh` in f16 (f16 panels only).
    hh16: Aligned<half::f16>,
    /// `W_ih` quantized to 8 bits ([`WeightPrecision::I8`] only).
    ih8: I8Panels,
    /// `W_hh` quantized to 8 bits ([`WeightPrecision::I8`] only).
    hh8: I8Panels,
    /// `[In, G]` `W_ih` rounded to f16 and widened back, for the input side computed before
    /// the loop (f16 only).
    ih_rounded: Vec<f32>,
    /// `[gate_panels(H), 64]` `b_ih + b_hh` in the same panel order (zeros without biases;
    /// f32 either way).
    bias: Aligned<f32>,
}

/// One packed panel of weights, in the precision they were packed in.
#[derive(Clone, Copy)]
enum Pan<'a> {
    F32(&'a [f32]),
    F16(&'a [half::f16]),
}

impl FusedWeights {
    /// What names a packing: the weights' version and the precision (version 0: always
    /// re-pack).
    fn key(d: &Dims) -> u64 {
        if d.version == 0 {
            0
        } else {
            d.version * 3 + d.weights() as u64
        }
    }

    fn pack(&mut self, w: &DirParams, d: &Dims) {
        pack_gate_panels(&mut self.ih, w.w_ih, d.input, d.h);
        pack_gate_panels(&mut self.hh, w.w_hh, d.h_out, d.h);
        self.ih_rounded = Vec::new();
        (self.ih16, self.hh16) = Default::default();
        (self.ih8, self.hh8) = Default::default();
        if d.weights() == WeightPrecision::I8 {
            self.ih8.quantize(&self.ih, d.input);
            self.hh8.quantize(&self.hh, d.h_out);
            (self.ih, self.hh) = Default::default();
        }
        if d.weights() == WeightPrecision::F16 {
            self.ih_rounded = w.w_ih.iter().map(|&v| round_f16(v)).collect();
            // The rounded values: kept in f32 they give the same sums bit for bit (`tile`), and
            // faster where the f32 copy stays in cache; else stored as f16 (rounding again
            // changes nothing).
            for v in self.ih.iter_mut().chain(self.hh.iter_mut()) {
                *v = round_f16(*v);
            }
            if Self::f16_panels(d) {
                to_f16(&mut self.ih16, &self.ih);
                to_f16(&mut self.hh16, &self.hh);
                (self.ih, self.hh) = Default::default();
            }
        }
        let mut b = vec![0.0; d.g];
        for v in [w.b_ih, w.b_hh].into_iter().flatten() {
            b.iter_mut().zip(v).for_each(|(a, x)| *a += x);
        }
        pack_gate_panels(&mut self.bias, &b, 1, d.h);
    }

    /// Whether f16 weights are kept as f16 panels rather than as f32 panels of the rounded
    /// values: when each thread's share in f32 would exceed [`F16_PANELS_ABOVE`] bytes.
    fn f16_panels(d: &Dims) -> bool {
        let f32_bytes = (d.input + d.h_out) * gate_panels(d.h) * PANEL * size_of::<f32>();
        f32_bytes / d.threads.max(1) > F16_PANELS_ABOVE
    }

    /// Every row of `acc: [rows, 64]` set to panel `p`'s bias. Fixed-size copies: a few vector
    /// moves, not a call per row.
    #[inline(always)]
    fn fill_bias(&self, acc: &mut [f32], p: usize) {
        let bias: &[f32; PANEL] = self.bias[p * PANEL..(p + 1) * PANEL]
            .try_into()
            .expect("one panel");
        for a in acc.chunks_exact_mut(PANEL) {
            let a: &mut [f32; PANEL] = a.try_into().expect("one panel");
            *a = *bias;
        }
    }

    /// Panel `p` of `W_ih` (`k = In` rows), in the precision it was packed in.
    fn panel_ih(&self, p: usize, k: usize) -> Pan<'_> {
        Pan::of(&self.ih, &self.ih16, p, k)
    }

    /// Panel `p` of `W_hh` (`k = H` rows), in the precision it was packed in.
    fn panel_hh(&self, p: usize, k: usize) -> Pan<'_> {
        Pan::of(&self.hh, &self.hh16, p, k)
    }
}

impl<'a> Pan<'a> {
    /// Panel `p` (`k` rows) of a matrix packed either in f32 or, when `f16` is not empty, in
    /// f16.
    fn of(f32s: &'a [f32], f16s: &'a [half::f16], p: usize, k: usize) -> Self {
        if f16s.is_empty() {
            Pan::F32(panel(f32s, p, k))
        } else {
            Pan::F16(panel(f16s, p, k))
        }
    }
}

/// The recurrent loop without projection, fused and run by the team. Each step the members
/// claim gate panels (16 hidden units each, all four gates) from a [`PanelQueue`], their own
/// [`share`] first, so those weights stay in their core's cache. For a claimed panel and a
/// group of rows a member sums `b + x_t · W_ih + h_{t-1} · W_hh` ([`group_product`]), runs the
/// cell on the sums, and writes those units of the gates, `c_t`, `h_t` and `y`. One barrier
/// per step publishes `h_t` to every member. With enough rows and small enough weights
/// ([`split_by_rows`]) the members share the rows instead: each runs every panel over its own
/// block of rows, step after step, with no barrier.
/// - `y: [T, B, ys]` out; `gates: [T, B, 4H]` out: activations (`None`: not kept); in: the
///   input side when the loop does not compute it; `x: [T, B, In]`;
///   `st` in: row [`Dims::slot`]`(first)` of `h` and `c`; out: the other steps' rows and the
///   last states.
/// - `fw` the packed weights; `active: [T, B]`.
#[allow(clippy::too_many_arguments)]
fn fused_forward(
    y: SharedMut,
    gates: Option<SharedMut>,
    st: &States,
    sums: SharedMut,
    quant: QuantShared,
    x: &[f32],
    fw: &FusedWeights,
    active: &[bool],
    flip: bool,
    d: &Dims,
) {
    let (h, bh, inp) = (d.h, d.b * d.h, d.input);
    let np = gate_panels(h);
    let queue = PanelQueue::new(np, flip);
    let x_in_loop = input_in_loop(d);
    let i8w = d.weights() == WeightPrecision::I8;
    let by_rows = split_by_rows(d);
    Team::global().run(team_size(d), &|m, bar| {
        // The rows this member runs: all of them when the members share the panels, its own
        // block when they share the rows.
        let mine = if by_rows {
            row_block(d.b, m, bar.members())
        } else {
            0..d.b
        };
        // SAFETY: each member has its own [`group_block`] block of `sums`.
        let acc = unsafe { sums.slice_mut(m * group_block(d), group_block(d)) };
        // SAFETY: each member has its own block of the quantized rows, scales and integer
        // sums (empty without 8-bit weights).
        let (qx, qh, sx, sh, isum) = unsafe { quant.member(m, d) };
        for (s, (t, next)) in d.steps().enumerate() {
            let act = row(active, t, d.b);
            let x_t = row(x, t, d.b * inp);
            // SAFETY (every slice below): the state tapes' row for step t (`slot(t)`) was
            // written before the last barrier (or before the job) and nobody writes it this
            // step (the step writes `slot(next)`, another row); the other slices are
            // the units of the panels this member claimed, of this step's rows, which no other
            // member touches this step.
            let at_t = d.slot(t) * bh;
            let h_in = unsafe { st.h.slice(at_t, bh) };
            if i8w {
                if x_in_loop {
                    quantize_rows(qx, sx, x_t, d.b, inp);
                }
                quantize_rows(qh, sh, h_in, d.b, h);
            }
            let mut run_panel = |p: usize| {
                let (u0, nu) = (p * LANES, LANES.min(h - p * LANES));
                for rg in row_chunks(mine.clone(), ROW_GROUP) {
                    let acc = &mut acc[..rg.len() * PANEL];
                    if x_in_loop {
                        fw.fill_bias(acc, p);
                    } else {
                        // The input side (bias included) is already in `gates`.
                        for (b, a) in rg.clone().zip(acc.chunks_exact_mut(PANEL)) {
                            let at = (t * d.b + b) * d.g + u0;
                            for (q, a) in a.chunks_exact_mut(LANES).enumerate() {
                                // SAFETY: this member's units of this step's rows.
                                let pre =
                                    unsafe { gates.as_ref().expect("kept").slice(at + q * h, nu) };
                                copy_lanes(a, pre);
                            }
                        }
                    }
                    if i8w {
                        if x_in_loop {
                            let ih = fw.ih8.panel(p);
                            group_product_i8(acc, isum, qx, sx, ih, rg.clone());
                        }
                        group_product_i8(acc, isum, qh, sh, fw.hh8.panel(p), rg.clone());
                    } else {
                        // A member's first row group of the step fetches ahead.
                        let first = rg.start == mine.start;
                        if x_in_loop {
                            let pan = fw.panel_ih(p, inp);
                            group_product(acc, x_t, inp, pan, rg.clone(), first);
                        }
                        group_product(acc, h_in, h, fw.panel_hh(p, h), rg.clone(), first);
                    }
                    // The cell on the group's sums, writing this panel's units of every row.
                    let (b0, last) = (rg.start, rg.end - 1);
                    let (nx_h, nx_c, nx_at) = match next {
                        Some(nx) => (&st.h, &st.c, d.slot(nx) * bh),
                        None => (&st.h_last, &st.c_last, 0),
                    };
                    // Bounds: the last row's places (`ptr_at` checks them; the first row's are
                    // below them).
                    if let Some(g) = &gates {
                        g.ptr_at((t * d.b + last) * d.g + u0 + 3 * h + nu);
                    }
                    for (buf, at) in [
                        (&st.c, at_t + last * h + u0 + nu),
                        (&st.h, at_t + last * h + u0 + nu),
                        (nx_h, nx_at + last * h + u0 + nu),
                        (nx_c, nx_at + last * h + u0 + nu),
                        (&y, (t * d.b + last) * d.ys + d.ycol + u0 + nu),
                    ] {
                        buf.ptr_at(at);
                    }
                    let o = GroupOut {
                        gates: gates.as_ref().map_or(std::ptr::null_mut(), |g| {
                            g.ptr_at((t * d.b + b0) * d.g + u0)
                        }),
                        gate_stride: d.g,
                        h,
                        c_in: st.c.ptr_at(at_t + b0 * h + u0),
                        h_in: st.h.ptr_at(at_t + b0 * h + u0),
                        c_new: nx_c.ptr_at(nx_at + b0 * h + u0),
                        h_new: nx_h.ptr_at(nx_at + b0 * h + u0),
                        state_stride: h,
                        y: y.ptr_at((t * d.b + b0) * d.ys + d.ycol + u0),
                        y_stride: d.ys,
                        n: nu,
                    };
                    // SAFETY: the places are in bounds (checked above) and are this panel's
                    // units of this step's rows, which only this member touches this step;
                    // the states entering the step are read-only until the barrier.
                    unsafe { lstm_group_forward(acc, o, &act[rg.clone()]) };
                }
            };
            if by_rows {
                // Every panel over this member's rows: a row's step needs only its own row of
                // the last step, which this member wrote.
                (0..np).for_each(&mut run_panel);
            } else {
                queue.for_each(s, m, bar.members(), run_panel);
            }
            // The step's states are complete for everyone after the barrier. After the last
            // step the job's end does that (`Team::run` returns once every member is done),
            // so a streaming step (T = 1) meets the other member once, not twice. Members
            // that share the rows never read each other's states.
            if s + 1 < d.t && !by_rows {
                bar.wait();
            }
        }
    });
}

/// `acc[r − rows.start, 0..64] += A[r, 0..k] · pan` for every row `r` of `rows`, where `A`
/// holds rows of `k` values (`src[r·k..]`) and `pan: [k, 64]` is one packed panel: [`tile`]s of up
/// to [`MAX_ROWS`] rows, [`KC`] panel rows at a time (the first tile of a block brings it close,
/// the others find it in L1 or L2); in the first row group a member runs of a step (`fetch`),
/// the tiles after a block's first fetch the panel's next block into L2 ([`tile_cached`]): where a
/// member's weights do not fit its L2 the first tile of each block otherwise waited on
/// L3 (measured with 128-row blocks on a 2 MiB L2: B=64 H=512 forward 1.10–1.13×, H=1024 1.09×,
/// B=16 H=512 1.03–1.07×, training H=512 1.04–1.06×; H=256 even). `acc: [rows.len(), 64]`.
fn group_product(
    acc: &mut [f32],
    src: &[f32],
    k: usize,
    pan: Pan,
    rows: std::ops::Range<usize>,
    fetch: bool,
) {
    match pan {
        Pan::F32(pan) => panel_rows_product(acc, src, k, pan, rows, fetch),
        Pan::F16(pan) => panel_rows_product(acc, src, k, pan, rows, fetch),
    }
}

/// [`group_product`] over a panel of one weight type.
fn panel_rows_product<W: PanelWeight>(
    acc: &mut [f32],
    src: &[f32],
    k: usize,
    pan: &[W],
    rows: std::ops::Range<usize>,
    fetch: bool,
) {
    // Tiles after the first of a block (they find it close). Only a member's first row group
    // of the step fetches the next block: its later groups find the panel in L2.
    let cached = rows.len().div_ceil(MAX_ROWS) - 1;
    for k0 in (0..k).step_by(KC) {
        let kc = KC.min(k - k0);
        // The panel's next block, which the cached tiles fetch into L2 in equal parts.
        let next_len = if fetch { KC.min(k - k0 - kc) } else { 0 };
        let next = &pan[(k0 + kc) * PANEL..(k0 + kc + next_len) * PANEL];
        let part = next.len().div_ceil(cached.max(1));
        for (i, tr) in row_chunks(rows.clone(), MAX_ROWS).enumerate() {
            let r0 = tr.start;
            let (out, a) = (&mut acc[(r0 - rows.start) * PANEL..], &src[r0 * k + k0..]);
            let (block, n) = (&pan[k0 * PANEL..], tr.len());
            if i == 0 {
                // The first tile brings the panel block into L1.
                tile(out, a, k, kc, block, n, true);
            } else {
                let far = &next[((i - 1) * part).min(next.len())..(i * part).min(next.len())];
                tile_cached(out, a, k, kc, block, n, true, far);
            }
        }
    }
}

/// `rows` cut into consecutive chunks of `size` rows, except that a range of two rows or more
/// never ends on a chunk of one (the last two chunks are then `size − 1` and 2): a one-row
/// tile sums in another order than a tile of more rows ([`tile`]), so with no one-row chunk
/// inside a longer range, a row's sums are the same bits however the rows are cut between
/// members ([`split_by_rows`]) and groups, i.e. with any thread count.
fn row_chunks(
    rows: std::ops::Range<usize>,
    size: usize,
) -> impl Iterator<Item = std::ops::Range<usize>> {
    debug_assert!(size >= 3, "row_chunks: chunks of {size}");
    let end = rows.end;
    // The last chunk starts one row early when it would hold one row alone.
    let single_tail = rows.len() >= 2 && rows.len() % size == 1;
    let bound = move |r: usize| {
        if single_tail && r + 1 == end {
            r - 1
        } else {
            r.min(end)
        }
    };
    rows.step_by(size)
        .map(move |r0| bound(r0)..bound(r0 + size))
}

/// Whether the members of the fused forward share the batch rows (each runs every panel over
/// its own block of rows, every step, with no barrier: a row's step needs only that row's
/// last state) rather than the panels (each runs its panels over every row, and a barrier
/// per step publishes `h_t`, which every member reads whole in the next step). Sharing the
/// rows reads all of the weights on every core, and needs enough rows per member for full
/// tiles; it spares the per-step exchange of `h_t` between the cores (and the barrier), whose
/// cost depends on where the two cores sit: measured on a Zen 4 VM, the panel split at
/// B=256 H=128 ran 39 ms or 56 ms from one process to the next. Against the panel split
/// (Zen 4, 1 MiB L2): B=64 H=256 1.14×, B=256 H=256 1.12×, B=32 H=256 1.10×, B=32 H=512
/// 1.06×, B=64 H=128 1.05×, B=256 H=128 1.04×; B=64 H=512 even or 1.07× (L1 and L2, as the
/// panel split ran 133 or 143 ms), B=256 H=512 even; B=64 H=1024 0.91×, where every core
/// streaming all 32 MiB of weights each step loses, hence the bound on the weights.
fn split_by_rows(d: &Dims) -> bool {
    // At least two rows per member: a member with one row would sum it in a one-row tile.
    rows_shareable(d) && d.b >= 2 * d.threads
}

/// Whether a pass is one whose rows the members may share ([`split_by_rows`],
/// [`backward_row_blocks`]), whatever the thread count: enough rows, weights small enough for
/// every core to read them all each step, and not 8-bit weights, whose step quantizes every
/// row of `h_{t−1}` first.
fn rows_shareable(d: &Dims) -> bool {
    d.b >= ROWS_SPLIT_MIN_B
        && (d.input + d.h) * d.g <= ROWS_SPLIT_MAX_WEIGHTS
        && d.weights() != WeightPrecision::I8
        && input_in_loop(d)
}

/// Block `k` of `n` near-equal blocks of `b` rows (the rows member or block `k` runs where the
/// rows are shared).
fn row_block(b: usize, k: usize, n: usize) -> std::ops::Range<usize> {
    b * k / n..b * (k + 1) / n
}

/// The least batch the fused forward's members share by rows ([`split_by_rows`]).
const ROWS_SPLIT_MIN_B: usize = 32;

/// The most weights (`W_ih` and `W_hh`, values) a forward whose members share the rows reads
/// on every core each step: 8 MiB in f32, H ≤ 512 with F = H.
const ROWS_SPLIT_MAX_WEIGHTS: usize = 1 << 21;

/// Whether the fused loop computes the input side `x_t · W_ih` itself, step by step (its
/// weights then stay in cache next to `W_hh`), rather than reading it from one large product
/// over all steps made before the loop, which is faster for a single row over a sequence (a
/// product of one row is bound by reading the weights). A single step (streaming) always takes
/// it in the loop: one pass over the weights either way, and the team shares it.
fn input_in_loop(d: &Dims) -> bool {
    d.t == 1 || d.b > 1
}

/// The input side of a whole sequence with 8-bit weights, made before the loop (as
/// [`input_projection`] is for f32): `gates[r, :] = bias + x_r · W_ih` over the quantized rows
/// of `x`, the panels shared out on the team. The loop then adds the hidden side to these
/// sums exactly as it does when it sums both itself (bias, input side, hidden side, in that
/// order), so both paths give the same bits.
/// - `gates: [T·B, G]` out; `x: [T·B, In]`; `sums: [members, group_block]` and `q` (sized
///   by [`QuantScratch::size`]) scratch.
fn input_projection_i8(
    gates: &mut [f32],
    x: &[f32],
    fw: &FusedWeights,
    q: &mut QuantScratch,
    sums: &mut [f32],
    d: &Dims,
) {
    let (rows, h) = (d.t * d.b, d.h);
    q.x.resize(rows * int8::padded(d.input));
    q.x_scales.resize(rows);
    quantize_rows(&mut q.x, &mut q.x_scales, x, rows, d.input);
    let (qx, sx) = (&q.x[..], &q.x_scales[..]);
    let (out, acc, isum) = (
        SharedMut::new(gates),
        SharedMut::new(sums),
        SharedMut::new(&mut q.sums),
    );
    let np = gate_panels(h);
    Team::global().run(team_size(d), &|m, bar| {
        // SAFETY: each member has its own [`group_block`] blocks of `sums` and `q.sums`, and
        // writes the columns of its own panels only.
        let acc = unsafe { acc.slice_mut(m * group_block(d), group_block(d)) };
        let isum = unsafe { isum.slice_mut(m * group_block(d), group_block(d)) };
        for p in share(np, m, bar.members()) {
            let (u0, nu) = (p * LANES, LANES.min(h - p * LANES));
            for g0 in (0..rows).step_by(ROW_GROUP) {
                let rg = g0..(g0 + ROW_GROUP).min(rows);
                let acc = &mut acc[..rg.len() * PANEL];
                fw.fill_bias(acc, p);
                group_product_i8(acc, isum, qx, sx, fw.ih8.panel(p), rg.clone());
                for (r, a) in rg.zip(acc.chunks_exact(PANEL)) {
                    for (gate, a) in a.chunks_exact(LANES).enumerate() {
                        // SAFETY: this member's panel's units.
                        let dst = unsafe { out.slice_mut(r * d.g + gate * h + u0, nu) };
                        dst.copy_from_slice(&a[..nu]);
                    }
                }
            }
        }
    });
}

/// Each team member's scratch for the fused loop with 8-bit weights
/// ([`WeightPrecision::I8`]); empty otherwise.
#[derive(Debug, Default, Clone)]
pub(crate) struct QuantScratch {
    /// `[members, B, In4 + H4]` each member's quantized `x_t` rows, then `h_{t−1}` rows
    /// ([`int8::padded`] lengths).
    rows: Aligned<u8>,
    /// `[members, 2B]` their scales (`x_t`'s, then `h_{t−1}`'s).
    scales: Aligned<f32>,
    /// `[members, group_block]` the integer sums of one panel block and row group.
    sums: Aligned<i32>,
    /// `[T·B, In4]` every step's quantized input rows, when the input side is made before the
    /// loop ([`input_projection_i8`]).
    x: Aligned<u8>,
    /// `[T·B]` their scales.
    x_scales: Aligned<f32>,
}

impl QuantScratch {
    /// Sizes the buffers for a forward with `d` (keeping their capacity).
    fn size(&mut self, d: &Dims) {
        let m = if d.weights() == WeightPrecision::I8 {
            team_size(d)
        } else {
            0
        };
        self.rows
            .resize(m * d.b * (int8::padded(d.input) + int8::padded(d.h)));
        self.scales.resize(m * 2 * d.b);
        self.sums.resize(m * group_block(d));
    }

    /// The buffers, to share out on the team for one job.
    fn shared(&mut self) -> QuantShared {
        QuantShared {
            rows: SharedMut::new(&mut self.rows),
            scales: SharedMut::new(&mut self.scales),
            sums: SharedMut::new(&mut self.sums),
        }
    }
}

/// [`QuantScratch`] during a job.
struct QuantShared {
    rows: SharedMut<u8>,
    scales: SharedMut<f32>,
    sums: SharedMut<i32>,
}

/// One member's quantized `x_t` rows `[B, In4]`, `h_{t−1}` rows `[B, H4]`, their scales `[B]`
/// each, and its integer sums `[group_block]`.
type MemberQuant<'a> = (
    &'a mut [u8],
    &'a mut [u8],
    &'a mut [f32],
    &'a mut [f32],
    &'a mut [i32],
);

impl QuantShared {
    /// Member `m`'s blocks (all empty unless the buffers were sized for 8-bit weights).
    ///
    /// # Safety
    /// Only member `m` may use them during the job.
    unsafe fn member(&self, m: usize, d: &Dims) -> MemberQuant<'_> {
        if d.weights() != WeightPrecision::I8 {
            return (&mut [], &mut [], &mut [], &mut [], &mut []);
        }
        let (in4, h4) = (int8::padded(d.input), int8::padded(d.h));
        let n = d.b * (in4 + h4);
        let (qx, qh) = self.rows.slice_mut(m * n, n).split_at_mut(d.b * in4);
        let (sx, sh) = self
            .scales
            .slice_mut(m * 2 * d.b, 2 * d.b)
            .split_at_mut(d.b);
        let sums = self.sums.slice_mut(m * group_block(d), group_block(d));
        (qx, qh, sx, sh, sums)
    }
}

/// `acc[r − rows.start, 0..64] += s_r · s_c · (Σ_k u[r, k] · q[k, c] − offset_c)` for every
/// row `r` of `rows`: the 8-bit counterpart of [`group_product`], over quantized rows
/// `q: [B, K4]` with scales `scale: [B]` and one quantized panel; `isum: [≥ rows.len(), 64]`
/// holds the integer sums meanwhile ([`KC_I8`] panel rows at a time).
fn group_product_i8(
    acc: &mut [f32],
    isum: &mut [i32],
    q: &[u8],
    scale: &[f32],
    pan: I8Panel,
    rows: std::ops::Range<usize>,
) {
    let k4 = pan.w.len() / PANEL;
    for k0 in (0..k4).step_by(KC_I8) {
        let kc = KC_I8.min(k4 - k0);
        for r0 in rows.clone().step_by(MAX_ROWS) {
            tile_i8(
                &mut isum[(r0 - rows.start) * PANEL..],
                &q[r0 * k4 + k0..],
                k4,
                kc / int8::QUAD,
                &pan.w[k0 * PANEL..],
                MAX_ROWS.min(rows.end - r0),
                k0 > 0,
            );
        }
    }
    let n = rows.len();
    dequantize_add(acc, isum, &scale[rows], pan.scale, pan.offset, n);
}

/// Rows of a quantized panel one pass of [`group_product_i8`] takes (a multiple of 4; 32 KiB).
const KC_I8: usize = 512;

/// Rows of a packed panel one pass over a group of rows of `A` uses (a `KC × 64` block, 128 KiB
/// in f32: it sits in L2, not L1, but each tile's sums are loaded and stored once per block, so
/// fewer, longer blocks pay). Measured on a Zen 4 (32 KiB L1d, 1 MiB L2), against 128 rows
/// (a block that fits L1): forward B=16 H=512 1.03–1.07×, B=64 H=256 1.03–1.04×, B=64 H=512
/// 1.05×, B=16 H=1024 1.08×, training 1.02–1.03×, B = 1 and the streaming step even; 64 and 96
/// rows were slower than 128, 256 between.
const KC: usize = 512;

/// Rows of `A` (batch rows) one pass over a panel block serves: their sums (12 KiB) stay in L1.
const ROW_GROUP: usize = 48;

/// Each member's block of running sums in the fused forward: a row group's `[rows, 64]`, with
/// no more rows than a pass has (`T·B`, the most the input side before the loop takes at once):
/// a streaming step's zeroed blocks are then 256 bytes, not 12 KiB (whose clearing showed at
/// ≈ 4 % of a step).
fn group_block(d: &Dims) -> usize {
    ROW_GROUP.min(d.t * d.b) * PANEL
}

/// The fused forward kernel over a step's `B` rows, split between the team when there are
/// enough of them ([`for_row_blocks`]).
fn cell_forward_rows(
    g: &mut [f32],
    c: &mut [f32],
    r: &mut [f32],
    c_prev: &[f32],
    act: &[bool],
    d: &Dims,
) {
    let (h, g_s, c_s, r_s) = (d.h, SharedMut::new(g), SharedMut::new(c), SharedMut::new(r));
    for_row_blocks(d, &|rows| {
        // SAFETY: each block of rows is one member's.
        let (g, c, r) = unsafe {
            (
                rows_mut(&g_s, &rows, 4 * h),
                rows_mut(&c_s, &rows, h),
                rows_mut(&r_s, &rows, h),
            )
        };
        lstm_cell_forward(g, c, r, rows_of(c_prev, &rows, h), &act[rows], h);
    });
}

/// [`cell_forward_rows`]' mirror: the fused backward kernel over a step's rows.
#[allow(clippy::too_many_arguments)]
fn cell_backward_rows(
    dg: &mut [f32],
    dc: &mut [f32],
    dr: &[f32],
    g: &[f32],
    c: &[f32],
    c_prev: &[f32],
    act: &[bool],
    d: &Dims,
) {
    let (h, dg_s, dc_s) = (d.h, SharedMut::new(dg), SharedMut::new(dc));
    for_row_blocks(d, &|rows| {
        // SAFETY: each block of rows is one member's.
        let (dg, dc) = unsafe { (rows_mut(&dg_s, &rows, 4 * h), rows_mut(&dc_s, &rows, h)) };
        let (dr, g) = (rows_of(dr, &rows, h), rows_of(g, &rows, 4 * h));
        let (c, c_prev) = (rows_of(c, &rows, h), rows_of(c_prev, &rows, h));
        lstm_cell_backward(dg, dc, dr, g, c, c_prev, &act[rows], h);
    });
}

/// Backward over the sequence, mirroring [`forward`]; gradients accumulate (`+=`).
/// - `d_x: [T, B, In]` (+=), `d_h0: [B, H_out]`, `d_c0: [B, H]` out, `gw` (+=), `s` scratch.
/// - `tape` from [`forward`], `d_y: [T, B, ys]`, `d_hn: [B, H_out]`, `d_cn: [B, H]`,
///   `x: [T, B, In]`, `active: [T, B]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    d_x: &mut [f32],
    d_h0: &mut [f32],
    d_c0: &mut [f32],
    gw: &mut DirParamsMut,
    s: &mut BwdScratch,
    tape: &DirTape,
    d_y: &[f32],
    d_hn: &[f32],
    d_cn: &[f32],
    x: &[f32],
    active: &[bool],
    w: &DirParams,
    d: &Dims,
) {
    let (bh, bho, bg) = (d.b * d.h, d.b * d.h_out, d.b * d.g);
    let BwdScratch {
        dg,
        dh,
        dc,
        dr,
        dh_all,
        w_ih_t,
        packed_t,
        packed_hr_t,
        sums,
        db,
        ..
    } = s;
    dh.clear();
    dh.extend_from_slice(d_hn);
    dc.clear();
    dc.extend_from_slice(d_cn);
    let wt = packed_t.get(d.version, |p| pack_col_panels_t(p, w.w_hh, d.h_out, d.g));
    let Some(w_hr) = w.w_hr else {
        dg.resize(d.t * bg);
        sums.zeroed(team_size(d) * ROW_GROUP * PANEL);
        let blocks = backward_row_blocks(d);
        reset(db, blocks * d.g);
        fused_backward(
            SharedMut::new(dg),
            SharedMut::new(dh),
            SharedMut::new(dc),
            SharedMut::new(db),
            SharedMut::new(sums),
            wt,
            tape,
            d_y,
            active,
            d,
        );
        // Each row block summed its own bias gradient: add them in block order.
        let (db0, rest) = db.split_at_mut(d.g);
        for part in rest.chunks_exact(d.g) {
            db0.iter_mut().zip(part).for_each(|(a, v)| *a += v);
        }
        db.truncate(d.g);
        d_h0.copy_from_slice(dh);
        d_c0.copy_from_slice(dc);
        // Both biases enter every gate sum: each gets the summed gradient, so the input
        // projection's backward, given no bias slots, does not sum `dg` again.
        let (mut b_ih, mut b_hh) = (gw.b_ih.take(), gw.b_hh.take());
        for g in [b_ih.as_deref_mut(), b_hh.as_deref_mut()]
            .into_iter()
            .flatten()
        {
            g.iter_mut().zip(db.iter()).for_each(|(a, v)| *a += v);
        }
        input_projection_backward(d_x, gw, w_ih_t, dg, x, w, true, d);
        (gw.b_ih, gw.b_hh) = (b_ih, b_hh);
        recurrent_weight_grad(gw.w_hh, &tape.h_prev, dg, d);
        return;
    };
    // With a projection: one product per step over the packed matrices.
    dg.zeroed(d.t * bg);
    reset(dr, bh);
    reset(dh_all, d.t * bho);
    let w_hr_t = packed_hr_t.get(d.version, |p| pack_col_panels_t(p, w_hr, d.h, d.h_out));
    for (s, (t, next)) in d.steps().rev().enumerate() {
        let flip = step_flip(s, false);
        let act = row(active, t, d.b);
        add_output_grad(dh, d_y, act, t, d);
        let dg_t = row_mut(dg, t, bg);
        let (g_t, c_in) = (row(&tape.gates, t, bg), row(&tape.c_prev, t, bh));
        let c_t = state_after(&tape.c_prev, &tape.c_last, bh, next);
        // dh_all was zeroed: inactive rows stay 0 (those steps produce no h).
        copy_active(row_mut(dh_all, t, bho), dh, act, d.h_out);
        panel_matmul(
            dr,
            d.h,
            dh,
            d.b,
            d.h_out,
            w_hr_t,
            d.h,
            Acc::Overwrite,
            d.threads,
            flip,
        );
        cell_backward_rows(dg_t, dc, dr, g_t, c_t, c_in, act, d);
        zero_active(dh, act, d.h_out);
        panel_matmul(
            dh,
            d.h_out,
            dg_t,
            d.b,
            d.g,
            wt,
            d.h_out,
            Acc::Add,
            d.threads,
            flip,
        );
    }
    d_h0.copy_from_slice(dh);
    d_c0.copy_from_slice(dc);
    input_projection_backward(d_x, gw, w_ih_t, dg, x, w, true, d);
    recurrent_weight_grad(gw.w_hh, &tape.h_prev, dg, d);
    if let Some(d_w_hr) = gw.w_hr.as_deref_mut() {
        matmul(
            MatMut::new(d_w_hr, d.h, d.h_out),
            MatRef::new(&tape.r, d.t * d.b, d.h).t(),
            MatRef::new(dh_all, d.t * d.b, d.h_out),
            Acc::Add,
            d.threads,
        );
    }
}

/// [`fused_forward`]'s mirror, run by the team: each step, (1) for 64 units at a time, adds
/// the output gradient to `d_h` and runs the cell backward, giving those units' `d_gates_t`
/// and `d_c_{t-1}`; then, after a barrier, (2) for 64 units at a time,
/// `d_h_{t-1} = d_gates_t · W_hhᵀ` over the packed transpose (inactive rows keep `d_h`). A
/// second barrier ends the step. Where the forward may share the rows ([`rows_shareable`]),
/// so does the backward: the batch is cut into [`backward_row_blocks`] blocks, and a member runs
/// both phases over every panel for its blocks' rows, with no barrier (measured on the Zen 4:
/// training H=256 1.02–1.03×, H=512 L1 1.02×, L2 even).
/// - `dg: [T, B, 4H]` out; `dh, dc: [B, H]` in: gradients at the last step, out: at the
///   first; `db: [blocks, 4H]` (+=) `Σ_{t,b} dg` over each block's rows, the bias gradient in
///   parts (the caller adds them in block order); `sums: [members, ROW_GROUP, 64]`
///   scratch; `wt: [col_panels(H), 4H, 64]` `W_hhᵀ`.
/// - `tape` from the forward, `d_y: [T, B, ys]`, `active: [T, B]`.
#[allow(clippy::too_many_arguments)]
fn fused_backward(
    dg: SharedMut,
    dh: SharedMut,
    dc: SharedMut,
    db: SharedMut,
    sums: SharedMut,
    wt: &[f32],
    tape: &DirTape,
    d_y: &[f32],
    active: &[bool],
    d: &Dims,
) {
    let (h, g4, bh) = (d.h, d.g, d.b * d.h);
    let np = col_panels(h);
    let (cell_queue, product_queue) = (PanelQueue::new(np, false), PanelQueue::new(np, false));
    let blocks = backward_row_blocks(d);
    Team::global().run(team_size(d), &|m, bar| {
        // SAFETY: each member has its own `[ROW_GROUP, 64]` block of `sums`.
        let acc = unsafe { sums.slice_mut(m * ROW_GROUP * PANEL, ROW_GROUP * PANEL) };
        for (s, (t, next)) in d.steps().rev().enumerate() {
            let act = row(active, t, d.b);
            let g_t = row(&tape.gates, t, d.b * g4);
            let c_in = row(&tape.c_prev, t, bh);
            let c_t = state_after(&tape.c_prev, &tape.c_last, bh, next);
            // (1) The cell, for panel `p`'s units of `rows`, adding their bias gradient to
            // block `k` of `db`. SAFETY (both phases): a panel's units of `dh`, `dc` and this
            // step's `dg`, in the rows given, are touched by one member only until the next
            // barrier (panels shared) or at all (rows shared); phase (2) reads all of `dg_t`'s
            // rows it is given, which phase (1) finished before (the barrier between them, or
            // the same member earlier).
            let cell = |p: usize, rows: std::ops::Range<usize>, k: usize| {
                let (j0, n) = (p * PANEL, PANEL.min(h - p * PANEL));
                let (r0, last) = (rows.start, rows.end - 1);
                let gi = (t * d.b + r0) * g4 + j0;
                // Bounds: the last row's places (`ptr_at` checks them).
                for (buf, at) in [
                    (&dg, (t * d.b + last) * g4 + j0 + 3 * h + n),
                    (&dh, last * h + j0 + n),
                    (&dc, last * h + j0 + n),
                    (&db, k * g4 + 3 * h + j0 + n),
                ] {
                    buf.ptr_at(at);
                }
                let yo = (t * d.b + r0) * d.ys + d.ycol + j0;
                let rel = last - r0;
                assert!(
                    yo + rel * d.ys + n <= d_y.len()
                        && last * g4 + 3 * h + j0 + n <= g_t.len()
                        && last * h + j0 + n <= c_t.len().min(c_in.len()),
                    "fused backward: operands shorter than the step"
                );
                let o = GroupBwd {
                    dg: dg.ptr_at(gi),
                    gates: g_t[r0 * g4 + j0..].as_ptr(),
                    gate_stride: g4,
                    h,
                    dh: dh.ptr_at(r0 * h + j0),
                    dc: dc.ptr_at(r0 * h + j0),
                    c: c_t[r0 * h + j0..].as_ptr(),
                    c_prev: c_in[r0 * h + j0..].as_ptr(),
                    state_stride: h,
                    d_y: d_y[yo..].as_ptr(),
                    y_stride: d.ys,
                    db: db.ptr_at(k * g4 + j0),
                    n,
                };
                // SAFETY: in bounds (checked above); these units of `dh`, `dc`, block `k` of
                // `db` and this step's `dg`, in these rows, are touched by this member only
                // (the bias gradient of a block is summed in a fixed order: steps in
                // processing order, rows in order, whoever runs them).
                unsafe { lstm_group_backward(o, &act[rows]) };
            };
            // (2) d_h_{t-1} (+)= d_gates_t · W_hhᵀ for panel `p`'s units of `rows`.
            let dg_t = unsafe { dg.slice(t * d.b * g4, d.b * g4) };
            let mut product = |p: usize, rows: std::ops::Range<usize>| {
                let (j0, n) = (p * PANEL, PANEL.min(h - p * PANEL));
                let pan = panel(wt, p, g4);
                for rg in row_chunks(rows.clone(), ROW_GROUP) {
                    let acc = &mut acc[..rg.len() * PANEL];
                    for (b, a) in rg.clone().zip(acc.chunks_exact_mut(PANEL)) {
                        a[..n].copy_from_slice(unsafe { dh.slice(b * h + j0, n) });
                    }
                    let first = rg.start == rows.start;
                    group_product(acc, dg_t, g4, Pan::F32(pan), rg.clone(), first);
                    for (b, a) in rg.clone().zip(acc.chunks_exact(PANEL)) {
                        unsafe { dh.slice_mut(b * h + j0, n) }.copy_from_slice(&a[..n]);
                    }
                }
            };
            if blocks > 1 {
                // Rows shared: this member's row blocks, each through both phases; a row's
                // step needs only its own rows of the step after, so no barrier.
                for k in (m..blocks).step_by(bar.members()) {
                    let rows = row_block(d.b, k, blocks);
                    (0..np).for_each(|p| cell(p, rows.clone(), k));
                    (0..np).for_each(|p| product(p, rows.clone()));
                }
                continue;
            }
            cell_queue.for_each(s, m, bar.members(), |p| cell(p, 0..d.b, 0));
            bar.wait();
            product_queue.for_each(s, m, bar.members(), |p| product(p, 0..d.b));
            bar.wait();
        }
    });
}

/// How many blocks of rows the fused backward splits the batch into, each summing its own
/// part of the bias gradient (added in block order after the loop), so the bits do not depend
/// on how many members run them; 1: the members share the panels instead, with two barriers
/// per step and `d_h` exchanged between them. Rows are shared where the forward may share
/// them ([`rows_shareable`]), without its guard on the thread count: the blocks are fixed,
/// so whether there are blocks must not depend on the thread count either.
fn backward_row_blocks(d: &Dims) -> usize {
    if rows_shareable(d) {
        BACKWARD_ROW_BLOCKS
    } else {
        1
    }
}

/// The fused backward's row blocks where rows are shared: fixed, so that the bias gradient's
/// bits are the same on any thread count (one member runs both blocks in turn; members past
/// the second, on a larger machine, idle in this loop).
const BACKWARD_ROW_BLOCKS: usize = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_weights_stay_f16_only_where_their_f32_share_would_not_fit_in_l2() {
        let dims = |input: usize, h: usize, threads: usize| Dims {
            t: 1,
            b: 1,
            input,
            h,
            h_out: h,
            g: 4 * h,
            ys: h,
            ycol: 0,
            reverse: false,
            threads,
            record: false,
            inference_weights: WeightPrecision::F16,
            version: 0,
            chunk: false,
        };
        // (In + H) · 4H · 4 bytes per thread against 1 MiB.
        for (input, h, threads, f16) in [
            (256, 256, 1, true),  // 2 MiB on one core
            (256, 256, 2, false), // 1 MiB each
            (512, 512, 2, true),  // 4 MiB each
            (16, 33, 2, false),
        ] {
            let d = dims(input, h, threads);
            assert_eq!(
                FusedWeights::f16_panels(&d),
                f16,
                "In={input} H={h} threads={threads}"
            );
            let (w_ih, w_hh) = (vec![0.1f32; input * 4 * h], vec![0.2f32; h * 4 * h]);
            let w = DirParams {
                w_ih: &w_ih,
                w_hh: &w_hh,
                b_ih: None,
                b_hh: None,
                w_hr: None,
            };
            let mut fw = FusedWeights::default();
            fw.pack(&w, &d);
            let kept = (
                fw.ih16.is_empty(),
                fw.hh16.is_empty(),
                fw.ih.is_empty(),
                fw.hh.is_empty(),
            );
            assert_eq!(
                kept,
                (!f16, !f16, f16, f16),
                "In={input} H={h}: (no f16, no f32) panels"
            );
            let want = round_f16(0.1);
            match fw.panel_ih(0, input) {
                Pan::F32(p) => assert_eq!(p[0], want, "f32 panel holds the rounded weight"),
                Pan::F16(p) => assert_eq!(p[0].to_f32(), want),
            }
        }
    }
}
