//! Elman RNN (tanh or relu), one direction over a sequence: [`forward`] and [`backward`] side by side.

use super::{
    add_output_grad, for_row_blocks, input_projection, input_projection_backward,
    recurrent_weight_grad, reset, row, row_mut, rows_mut, rows_of, state_pair, write_output,
    BwdScratch, Dims, DirTape,
};
use crate::kernels::gemm::Acc;
use crate::kernels::packed::{pack_col_panels, pack_col_panels_t};
use crate::kernels::panel_matmul::panel_matmul;
use crate::kernels::panel_queue::step_flip;
use crate::kernels::rnn_cell::{rnn_cell_backward, rnn_cell_forward};
use crate::kernels::team::SharedMut;
use crate::params::{DirParams, DirParamsMut};

/// Forward over the sequence.
/// - `y: [T, B, ys]` out (columns `ycol..ycol+H`), `tape` out.
/// - `x: [T, B, In]`, `h0: [B, H]`, `active: [T, B]`; `relu` picks the activation.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    y: &mut [f32],
    tape: &mut DirTape,
    x: &[f32],
    h0: &[f32],
    active: &[bool],
    w: &DirParams,
    relu: bool,
    d: &Dims,
) {
    let bh = d.b * d.h;
    let DirTape {
        gates,
        h_prev,
        h_last,
        packed_hh,
        packed_ih,
        panel_flip,
        ..
    } = tape;
    gates.resize(d.t * bh);
    h_prev.resize(d.t * bh);
    reset(h_last, bh);
    input_projection(gates, x, w, true, Some(packed_ih), *panel_flip, d);
    row_mut(h_prev, d.first(), bh).copy_from_slice(h0);
    let w_hh = packed_hh.get(d.version, |p| pack_col_panels(p, w.w_hh, d.h, d.g));
    for (s, (t, next)) in d.steps().enumerate() {
        let act = row(active, t, d.b);
        let g_t = row_mut(gates, t, bh);
        let (h_in, h_new) = state_pair(h_prev, h_last, bh, t, next);
        let flip = step_flip(s, *panel_flip);
        panel_matmul(
            g_t,
            d.g,
            h_in,
            d.b,
            d.h,
            w_hh,
            d.g,
            Acc::Add,
            d.threads,
            flip,
        );
        let (g_s, h_s) = (SharedMut::new(g_t), SharedMut::new(h_new));
        for_row_blocks(d, &|r| {
            // SAFETY: each block of rows is one member's.
            let (g_t, h_new) = unsafe { (rows_mut(&g_s, &r, d.h), rows_mut(&h_s, &r, d.h)) };
            rnn_cell_forward(g_t, h_new, rows_of(h_in, &r, d.h), &act[r], relu, d.h);
        });
        write_output(y, h_new, act, t, d);
    }
    // The next pass (a streaming step's next call) goes on alternating.
    *panel_flip ^= d.t % 2 == 1;
}

/// Backward over the sequence, mirroring [`forward`]; gradients accumulate (`+=`).
/// - `d_x: [T, B, In]` (+=), `d_h0: [B, H]` out, `gw` (+=), `s` scratch.
/// - `tape`, `d_y: [T, B, ys]`, `d_hn: [B, H]`, `x: [T, B, In]`, `active: [T, B]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    d_x: &mut [f32],
    d_h0: &mut [f32],
    gw: &mut DirParamsMut,
    s: &mut BwdScratch,
    tape: &DirTape,
    d_y: &[f32],
    d_hn: &[f32],
    x: &[f32],
    active: &[bool],
    w: &DirParams,
    relu: bool,
    d: &Dims,
) {
    let bh = d.b * d.h;
    let BwdScratch {
        dg,
        dh,
        w_ih_t,
        packed_t,
        ..
    } = s;
    dg.zeroed(d.t * bh);
    dh.clear();
    dh.extend_from_slice(d_hn);
    let w_hh_t = packed_t.get(d.version, |p| pack_col_panels_t(p, w.w_hh, d.h, d.g));
    for (s, (t, _next)) in d.steps().rev().enumerate() {
        let act = row(active, t, d.b);
        add_output_grad(dh, d_y, act, t, d);
        let dg_t = row_mut(dg, t, bh);
        let (dg_s, dh_s, g_t) = (
            SharedMut::new(dg_t),
            SharedMut::new(dh),
            row(&tape.gates, t, bh),
        );
        for_row_blocks(d, &|r| {
            // SAFETY: each block of rows is one member's.
            let (dg_t, dh) = unsafe { (rows_mut(&dg_s, &r, d.h), rows_mut(&dh_s, &r, d.h)) };
            rnn_cell_backward(dg_t, dh, rows_of(g_t, &r, d.h), &act[r], relu, d.h);
        });
        let flip = step_flip(s, false);
        panel_matmul(
            dh,
            d.h,
            dg_t,
            d.b,
            d.g,
            w_hh_t,
            d.h,
            Acc::Add,
            d.threads,
            flip,
        );
    }
    d_h0.copy_from_slice(dh);
    input_projection_backward(d_x, gw, w_ih_t, dg, x, w, true, d);
    recurrent_weight_grad(gw.w_hh, &tape.h_prev, dg, d);
}
