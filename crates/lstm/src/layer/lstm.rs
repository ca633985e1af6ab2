//! LSTM, one direction over a sequence: [`forward`] and [`backward`] side by side; backward runs
//! forward's steps in exact reverse. With a projection (P > 0), `h_t = r_t · W_hr` where
//! `r_t = o_t ⊙ tanh(c_t)`.

use super::{
    add_output_grad, copy_active, input_projection, input_projection_backward, keep_inactive,
    recurrent_weight_grad, reset, resize_for_overwrite, row, row_mut, state_after, state_pair,
    transpose_into, write_output, zero_active, BwdScratch, Dims, DirTape,
};
use crate::kernels::gemm::{matmul, Acc, MatMut, MatRef};
use crate::kernels::lstm_cell::{lstm_cell_backward, lstm_cell_forward};
use crate::params::{DirParams, DirParamsMut};

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
    let (bh, bho, bg) = (d.b * d.h, d.b * d.h_out, d.b * d.g);
    let DirTape {
        gates,
        h_prev,
        h_last,
        c_prev,
        c_last,
        r,
        ..
    } = tape;
    resize_for_overwrite(gates, d.t * bg);
    resize_for_overwrite(h_prev, d.t * bho);
    reset(h_last, bho);
    resize_for_overwrite(c_prev, d.t * bh);
    reset(c_last, bh);
    reset(r, if w.w_hr.is_some() { d.t * bh } else { 0 });
    input_projection(gates, x, w, true, d);
    row_mut(h_prev, d.first(), bho).copy_from_slice(h0);
    row_mut(c_prev, d.first(), bh).copy_from_slice(c0);
    let w_hh = MatRef::new(w.w_hh, d.h_out, d.g);
    for (t, next) in d.steps() {
        let act = row(active, t, d.b);
        let g_t = row_mut(gates, t, bg);
        let (h_in, h_new) = state_pair(h_prev, h_last, bho, t, next);
        matmul(
            MatMut::new(g_t, d.b, d.g),
            MatRef::new(h_in, d.b, d.h_out),
            w_hh,
            Acc::Add,
            d.threads,
        );
        let (c_in, c_new) = state_pair(c_prev, c_last, bh, t, next);
        match w.w_hr {
            None => cell_forward_rows(g_t, c_new, h_new, c_in, act, d),
            Some(w_hr) => {
                let r_t = row_mut(r, t, bh);
                cell_forward_rows(g_t, c_new, r_t, c_in, act, d);
                matmul(
                    MatMut::new(h_new, d.b, d.h_out),
                    MatRef::new(r_t, d.b, d.h),
                    MatRef::new(w_hr, d.h, d.h_out),
                    Acc::Overwrite,
                    d.threads,
                );
            }
        }
        keep_inactive(h_new, h_in, act, d.h_out);
        write_output(y, h_new, act, t, d);
    }
}

/// The fused forward kernel over a step's `B` rows, split between two threads when there are
/// enough of them (the products around it already use both cores).
fn cell_forward_rows(
    g: &mut [f32],
    c: &mut [f32],
    r: &mut [f32],
    c_prev: &[f32],
    act: &[bool],
    d: &Dims,
) {
    let h = d.h;
    if split_rows(d) {
        let m = d.b / 2;
        let (g0, g1) = g.split_at_mut(m * 4 * h);
        let (c0, c1) = c.split_at_mut(m * h);
        let (r0, r1) = r.split_at_mut(m * h);
        let (p0, p1) = c_prev.split_at(m * h);
        let (a0, a1) = act.split_at(m);
        rayon::join(
            || lstm_cell_forward(g0, c0, r0, p0, a0, h),
            || lstm_cell_forward(g1, c1, r1, p1, a1, h),
        );
    } else {
        lstm_cell_forward(g, c, r, c_prev, act, h);
    }
}

/// Whether a step's `B` rows are worth splitting between two threads.
fn split_rows(d: &Dims) -> bool {
    d.threads > 1 && d.b >= 8 && d.b * d.h >= 1 << 13
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
    let h = d.h;
    if split_rows(d) {
        let m = d.b / 2;
        let (dg0, dg1) = dg.split_at_mut(m * 4 * h);
        let (dc0, dc1) = dc.split_at_mut(m * h);
        let (dr0, dr1) = dr.split_at(m * h);
        let (g0, g1) = g.split_at(m * 4 * h);
        let (c0, c1) = c.split_at(m * h);
        let (p0, p1) = c_prev.split_at(m * h);
        let (a0, a1) = act.split_at(m);
        rayon::join(
            || lstm_cell_backward(dg0, dc0, dr0, g0, c0, p0, a0, h),
            || lstm_cell_backward(dg1, dc1, dr1, g1, c1, p1, a1, h),
        );
    } else {
        lstm_cell_backward(dg, dc, dr, g, c, c_prev, act, h);
    }
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
        w_hh_t,
        w_ih_t,
        ..
    } = s;
    reset(dg, d.t * bg);
    dh.clear();
    dh.extend_from_slice(d_hn);
    dc.clear();
    dc.extend_from_slice(d_cn);
    reset(dr, if w.w_hr.is_some() { bh } else { 0 });
    reset(dh_all, if w.w_hr.is_some() { d.t * bho } else { 0 });
    transpose_into(w_hh_t, w.w_hh, d.h_out, d.g);
    let w_hh_t = MatRef::new(w_hh_t, d.g, d.h_out);
    for (t, next) in d.steps().rev() {
        let act = row(active, t, d.b);
        add_output_grad(dh, d_y, act, t, d);
        let dg_t = row_mut(dg, t, bg);
        let (g_t, c_in) = (row(&tape.gates, t, bg), row(&tape.c_prev, t, bh));
        let c_t = state_after(&tape.c_prev, &tape.c_last, bh, next);
        match w.w_hr {
            None => cell_backward_rows(dg_t, dc, dh, g_t, c_t, c_in, act, d),
            Some(w_hr) => {
                // dh_all was zeroed: inactive rows stay 0 (those steps produce no h).
                copy_active(row_mut(dh_all, t, bho), dh, act, d.h_out);
                matmul(
                    MatMut::new(dr, d.b, d.h),
                    MatRef::new(dh, d.b, d.h_out),
                    MatRef::new(w_hr, d.h, d.h_out).t(),
                    Acc::Overwrite,
                    d.threads,
                );
                cell_backward_rows(dg_t, dc, dr, g_t, c_t, c_in, act, d);
            }
        }
        zero_active(dh, act, d.h_out);
        matmul(
            MatMut::new(dh, d.b, d.h_out),
            MatRef::new(dg_t, d.b, d.g),
            w_hh_t,
            Acc::Add,
            d.threads,
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
