//! GRU, one direction over a sequence: [`forward`] and [`backward`] side by side. Unlike LSTM and
//! RNN, `b_hh` is not folded into the input projection: its `n` block sits inside `r ⊙ (…)`.

use super::{
    add_output_grad, col_sum, for_row_blocks, input_projection, input_projection_backward,
    recurrent_weight_grad, reset, resize_for_overwrite, row, row_mut, rows_mut, rows_of,
    state_pair, write_output, BwdScratch, Dims, DirTape,
};
use crate::kernels::gemm::Acc;
use crate::kernels::gru_cell::{gru_cell_backward, gru_cell_forward};
use crate::kernels::packed::{pack_col_panels, pack_col_panels_t};
use crate::kernels::panel_matmul::panel_matmul;
use crate::kernels::panel_queue::step_flip;
use crate::kernels::team::SharedMut;
use crate::params::{DirParams, DirParamsMut};

/// Forward over the sequence.
/// - `y: [T, B, ys]` out (columns `ycol..ycol+H`), `tape` out.
/// - `x: [T, B, In]`, `h0: [B, H]`, `active: [T, B]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    y: &mut [f32],
    tape: &mut DirTape,
    x: &[f32],
    h0: &[f32],
    active: &[bool],
    w: &DirParams,
    d: &Dims,
) {
    let (bh, bg) = (d.b * d.h, d.b * d.g);
    let DirTape {
        gates,
        h_prev,
        h_last,
        ghn,
        gh,
        packed_hh,
        packed_ih,
        panel_flip,
        ..
    } = tape;
    gates.resize(d.t * bg);
    h_prev.resize(d.t * bh);
    reset(h_last, bh);
    // `ĝ_n` is kept for backward only: a pass without grad writes every step's into one row.
    // Rows past their sequence's length are not written, and backward reads none of them.
    resize_for_overwrite(ghn, if d.record { d.t * bh } else { bh });
    reset(gh, bg);
    input_projection(gates, x, w, false, Some(packed_ih), *panel_flip, d);
    row_mut(h_prev, d.first(), bh).copy_from_slice(h0);
    let w_hh = packed_hh.get(d.version, |p| pack_col_panels(p, w.w_hh, d.h, d.g));
    for (s, (t, next)) in d.steps().enumerate() {
        let act = row(active, t, d.b);
        let (h_in, h_new) = state_pair(h_prev, h_last, bh, t, next);
        panel_matmul(
            gh,
            d.g,
            h_in,
            d.b,
            d.h,
            w_hh,
            d.g,
            Acc::Overwrite,
            d.threads,
            step_flip(s, *panel_flip),
        );
        let (g_t, h_out, ghn_t) = (
            SharedMut::new(row_mut(gates, t, bg)),
            SharedMut::new(h_new),
            SharedMut::new(row_mut(ghn, if d.record { t } else { 0 }, bh)),
        );
        let gh = &*gh;
        for_row_blocks(d, &|r| {
            // SAFETY: each block of rows is one member's.
            let (g_t, h_out, ghn_t) = unsafe {
                (
                    rows_mut(&g_t, &r, d.g),
                    rows_mut(&h_out, &r, d.h),
                    rows_mut(&ghn_t, &r, d.h),
                )
            };
            let (gh, h_in) = (rows_of(gh, &r, d.g), rows_of(h_in, &r, d.h));
            gru_cell_forward(g_t, h_out, ghn_t, gh, w.b_hh, h_in, &act[r], d.h);
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
    d: &Dims,
) {
    let (bh, bg) = (d.b * d.h, d.b * d.g);
    let BwdScratch {
        dg,
        dgh,
        dh,
        w_ih_t,
        packed_t,
        ..
    } = s;
    dg.zeroed(d.t * bg);
    reset(dgh, d.t * bg);
    dh.clear();
    dh.extend_from_slice(d_hn);
    let w_hh_t = packed_t.get(d.version, |p| pack_col_panels_t(p, w.w_hh, d.h, d.g));
    for (s, (t, _next)) in d.steps().rev().enumerate() {
        let act = row(active, t, d.b);
        add_output_grad(dh, d_y, act, t, d);
        let dgh_t = row_mut(dgh, t, bg);
        let (g_t, ghn_t, h_in) = (
            row(&tape.gates, t, bg),
            row(&tape.ghn, t, bh),
            row(&tape.h_prev, t, bh),
        );
        let (dg_t, dgh_s, dh_s) = (
            SharedMut::new(row_mut(dg, t, bg)),
            SharedMut::new(dgh_t),
            SharedMut::new(dh),
        );
        for_row_blocks(d, &|r| {
            // SAFETY: each block of rows is one member's.
            let (dg_t, dgh_t, dh) = unsafe {
                (
                    rows_mut(&dg_t, &r, d.g),
                    rows_mut(&dgh_s, &r, d.g),
                    rows_mut(&dh_s, &r, d.h),
                )
            };
            let (g_t, ghn_t) = (rows_of(g_t, &r, d.g), rows_of(ghn_t, &r, d.h));
            let h_in = rows_of(h_in, &r, d.h);
            gru_cell_backward(dg_t, dgh_t, dh, g_t, ghn_t, h_in, &act[r], d.h);
        });
        let flip = step_flip(s, false);
        panel_matmul(
            dh,
            d.h,
            dgh_t,
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
    input_projection_backward(d_x, gw, w_ih_t, dg, x, w, false, d);
    recurrent_weight_grad(gw.w_hh, &tape.h_prev, dgh, d);
    if let Some(db) = gw.b_hh.as_deref_mut() {
        col_sum(db, dgh, d.g);
    }
}
