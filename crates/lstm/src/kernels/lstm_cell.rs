//! Fused LSTM pointwise kernels for one time step: everything between the gate pre-activations
//! and the new state, in one pass over `[B, 4H]`.
//!
//! Forward (gate order `i, f, g, o`):
//! `i = σ(a_i)  f = σ(a_f)  g = tanh(a_g)  o = σ(a_o)  c = f ⊙ c_prev + i ⊙ g  r = o ⊙ tanh(c)`
//! (`r` is `h`, or what the projection maps to `h = r · W_hr`).
//!
//! Backward, given `d_r` and `d_c` (gradient reaching `c` from later steps):
//! `d_c += d_r ⊙ o ⊙ (1 − tanh²c)`, `d_o = d_r ⊙ tanh c`, `d_i = d_c ⊙ g`, `d_g = d_c ⊙ i`,
//! `d_f = d_c ⊙ c_prev`, then through the activations, and `d_c_prev = d_c ⊙ f`.
//!
//! Rows with `active[b] == false` (past the end of a shorter sequence) keep their state:
//! forward sets `c = c_prev` and leaves `r` alone; backward sets `d_gates = 0` and leaves `d_c`.

use super::activation::{sigmoid64, sigmoid_with, tanh_with};

/// The cell for one unit: pre-activations `a_i, a_f, a_g, a_o` and `c_prev` →
/// `(i, f, g, o, c, r = o ⊙ tanh c)`. Both forward loops call it, so the arithmetic is written
/// once.
#[inline(always)]
fn cell<const FMA: bool>(
    ai: f32,
    af: f32,
    ag: f32,
    ao: f32,
    c_prev: f32,
) -> (f32, f32, f32, f32, f32, f32) {
    let (i, f, g, o) = (
        sigmoid_with::<FMA>(ai),
        sigmoid_with::<FMA>(af),
        tanh_with::<FMA>(ag),
        sigmoid_with::<FMA>(ao),
    );
    let c = f * c_prev + i * g;
    (i, f, g, o, c, o * tanh_with::<FMA>(c))
}

/// One row of the forward step; every slice has length H (resliced so the loop has no bounds
/// checks and vectorises).
#[inline(always)]
fn forward_row<const FMA: bool>(
    gi: &mut [f32],
    gf: &mut [f32],
    gg: &mut [f32],
    go: &mut [f32],
    c: &mut [f32],
    r: &mut [f32],
    c_prev: &[f32],
) {
    let h = gi.len();
    let (gf, gg, go, c, r, c_prev) = (
        &mut gf[..h],
        &mut gg[..h],
        &mut go[..h],
        &mut c[..h],
        &mut r[..h],
        &c_prev[..h],
    );
    for j in 0..h {
        (gi[j], gf[j], gg[j], go[j], c[j], r[j]) =
            cell::<FMA>(gi[j], gf[j], gg[j], go[j], c_prev[j]);
    }
}

#[inline(always)]
fn forward_body<const FMA: bool>(
    gates: &mut [f32],
    c: &mut [f32],
    r: &mut [f32],
    c_prev: &[f32],
    active: &[bool],
    h: usize,
) {
    for (b, &on) in active.iter().enumerate() {
        let cs = b * h..(b + 1) * h;
        if !on {
            c[cs.clone()].copy_from_slice(&c_prev[cs]);
            continue;
        }
        let gr = &mut gates[b * 4 * h..(b + 1) * 4 * h];
        let (gi, rest) = gr.split_at_mut(h);
        let (gf, rest) = rest.split_at_mut(h);
        let (gg, go) = rest.split_at_mut(h);
        forward_row::<FMA>(
            gi,
            gf,
            gg,
            go,
            &mut c[cs.clone()],
            &mut r[cs.clone()],
            &c_prev[cs],
        );
    }
}

dispatch!(
    /// Forward step.
    /// - `gates: [B, 4H]` in: pre-activations; out: activations `i, f, g, o`.
    /// - `c: [B, H]` out: new cell state. `r: [B, H]` out: `o ⊙ tanh(c)` (active rows only).
    /// - `c_prev: [B, H]`, `active: [B]`.
    pub fn lstm_cell_forward;
    /// [`lstm_cell_forward`] with a chosen variant (portable if the CPU lacks it).
    pub fn lstm_cell_forward_isa = forward_body(gates: &mut [f32], c: &mut [f32], r: &mut [f32], c_prev: &[f32], active: &[bool], h: usize)
);

/// One row of the backward step; every slice has length H (or 4H for the gate rows).
#[inline(always)]
fn backward_row<const FMA: bool>(
    dg: &mut [f32],
    d_c: &mut [f32],
    d_r: &[f32],
    gr: &[f32],
    c: &[f32],
    c_prev: &[f32],
) {
    let h = d_c.len();
    let (dgi, rest) = dg[..4 * h].split_at_mut(h);
    let (dgf, rest) = rest.split_at_mut(h);
    let (dgg, dgo) = rest.split_at_mut(h);
    let gates = [
        &gr[..h],
        &gr[h..2 * h],
        &gr[2 * h..3 * h],
        &gr[3 * h..4 * h],
    ];
    backward_units::<FMA>([dgi, dgf, dgg, dgo], d_c, d_r, gates, c, c_prev);
}

/// The backward arithmetic over `n` units: `dg` and `gates` are the four gate blocks `i, f, g,
/// o` of those units (each of length `n`, like every other slice).
#[inline(always)]
fn backward_units<const FMA: bool>(
    dg: [&mut [f32]; 4],
    d_c: &mut [f32],
    d_r: &[f32],
    gates: [&[f32]; 4],
    c: &[f32],
    c_prev: &[f32],
) {
    let n = d_c.len();
    let (d_r, c, c_prev) = (&d_r[..n], &c[..n], &c_prev[..n]);
    let [dgi, dgf, dgg, dgo] = dg;
    let (dgi, dgf, dgg, dgo) = (&mut dgi[..n], &mut dgf[..n], &mut dgg[..n], &mut dgo[..n]);
    let (gi, gf, gg, go) = (
        &gates[0][..n],
        &gates[1][..n],
        &gates[2][..n],
        &gates[3][..n],
    );
    for j in 0..n {
        let (i, f, g, o) = (gi[j], gf[j], gg[j], go[j]);
        let tc = tanh_with::<FMA>(c[j]);
        let dr = d_r[j];
        let dc = d_c[j] + dr * o * (1.0 - tc * tc);
        let d_o = dr * tc;
        dgi[j] = dc * g * i * (1.0 - i);
        dgf[j] = dc * c_prev[j] * f * (1.0 - f);
        dgg[j] = dc * i * (1.0 - g * g);
        dgo[j] = d_o * o * (1.0 - o);
        d_c[j] = dc * f;
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_body<const FMA: bool>(
    d_gates: &mut [f32],
    d_c: &mut [f32],
    d_r: &[f32],
    gates: &[f32],
    c: &[f32],
    c_prev: &[f32],
    active: &[bool],
    h: usize,
) {
    for (b, &on) in active.iter().enumerate() {
        let dg = &mut d_gates[b * 4 * h..(b + 1) * 4 * h];
        if !on {
            dg.fill(0.0);
            continue;
        }
        let cs = b * h..(b + 1) * h;
        backward_row::<FMA>(
            dg,
            &mut d_c[cs.clone()],
            &d_r[cs.clone()],
            &gates[b * 4 * h..(b + 1) * 4 * h],
            &c[cs.clone()],
            &c_prev[cs],
        );
    }
}

dispatch!(
    /// Backward step, mirroring [`lstm_cell_forward`].
    /// - `d_gates: [B, 4H]` out: gradients of the pre-activations.
    /// - `d_c: [B, H]` in: `∂L/∂c_t` from later steps; out: `∂L/∂c_{t-1}` (active rows).
    /// - `d_r: [B, H]` in: `∂L/∂r_t`.
    /// - `gates: [B, 4H]` activations, `c: [B, H]` (= c_t), `c_prev: [B, H]`, `active: [B]`.
    pub fn lstm_cell_backward;
    /// [`lstm_cell_backward`] with a chosen variant (portable if the CPU lacks it).
    pub fn lstm_cell_backward_isa = backward_body(
        d_gates: &mut [f32], d_c: &mut [f32], d_r: &[f32], gates: &[f32], c: &[f32], c_prev: &[f32], active: &[bool], h: usize
    )
);

/// Where one group of rows' forward outputs live, for [`lstm_group_forward`] (`n ≤ 16` units
/// per row): row `r` of the group has gate block `q` at `gates + r·gate_stride + q·h`, its
/// states at `c_in, h_in, c_new, h_new + r·state_stride`, and its output at `y + r·y_stride`.
#[derive(Debug, Clone, Copy)]
pub struct GroupOut {
    /// First row's gate block `i` (out: activations), or null: the activations are not kept
    /// (a forward without grad).
    pub gates: *mut f32,
    /// Between rows of `gates` (4H).
    pub gate_stride: usize,
    /// Between gate blocks (H).
    pub h: usize,
    /// The state entering the step (in) and the new state (out).
    pub c_in: *const f32,
    /// See `c_in`.
    pub h_in: *const f32,
    /// See `c_in`.
    pub c_new: *mut f32,
    /// See `c_in`.
    pub h_new: *mut f32,
    /// Between rows of the states (H).
    pub state_stride: usize,
    /// First row's output (out: `h`, or 0 for an inactive row).
    pub y: *mut f32,
    /// Between rows of `y`.
    pub y_stride: usize,
    /// Units per row, at most 16.
    pub n: usize,
}

/// The sums' lanes per gate in [`lstm_group_forward`]'s `acc` (one packed panel's group).
const LANES: usize = 16;

#[inline(always)]
unsafe fn group_forward_body<const FMA: bool>(acc: &[f32], o: GroupOut, active: &[bool]) {
    use std::slice::{from_raw_parts, from_raw_parts_mut};
    let n = o.n.min(LANES);
    for (r, &on) in active.iter().enumerate() {
        let sr = r * o.state_stride;
        let c_in = from_raw_parts(o.c_in.add(sr), n);
        let h_in = from_raw_parts(o.h_in.add(sr), n);
        let c_new = from_raw_parts_mut(o.c_new.add(sr), n);
        let h_new = from_raw_parts_mut(o.h_new.add(sr), n);
        let y = from_raw_parts_mut(o.y.add(r * o.y_stride), n);
        if !on {
            c_new.copy_from_slice(c_in);
            h_new.copy_from_slice(h_in);
            y.fill(0.0);
            continue;
        }
        let a = &acc[r * 4 * LANES..(r + 1) * 4 * LANES];
        // Not kept: the activations go to a scratch in L1.
        let mut scratch = [[0.0f32; LANES]; 4];
        let [gi, gf, gg, go] = if o.gates.is_null() {
            scratch.each_mut().map(|v| &mut v[..n])
        } else {
            let g0 = o.gates.add(r * o.gate_stride);
            [0, 1, 2, 3].map(|q| from_raw_parts_mut(g0.add(q * o.h), n))
        };
        forward_sums_row::<FMA>(
            &a[..n],
            &a[LANES..LANES + n],
            &a[2 * LANES..2 * LANES + n],
            &a[3 * LANES..3 * LANES + n],
            gi,
            gf,
            gg,
            go,
            c_in,
            c_new,
            h_new,
            y,
        );
    }
}

/// One row of [`lstm_group_forward`]: every slice has length `n`. The slices are parameters so
/// the compiler knows they do not overlap (and vectorises; slices taken from an array lose
/// that).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_sums_row<const FMA: bool>(
    ai: &[f32],
    af: &[f32],
    ag: &[f32],
    ao: &[f32],
    gi: &mut [f32],
    gf: &mut [f32],
    gg: &mut [f32],
    go: &mut [f32],
    c_in: &[f32],
    c_new: &mut [f32],
    h_new: &mut [f32],
    y: &mut [f32],
) {
    let n = ai.len();
    let (af, ag, ao, gi, gf, gg, go) = (
        &af[..n],
        &ag[..n],
        &ao[..n],
        &mut gi[..n],
        &mut gf[..n],
        &mut gg[..n],
        &mut go[..n],
    );
    let (c_in, c_new, h_new, y) = (&c_in[..n], &mut c_new[..n], &mut h_new[..n], &mut y[..n]);
    for j in 0..n {
        (gi[j], gf[j], gg[j], go[j], c_new[j], h_new[j]) =
            cell::<FMA>(ai[j], af[j], ag[j], ao[j], c_in[j]);
        y[j] = h_new[j];
    }
}

/// The forward step for a group of rows and up to 16 units (the epilogue of a tile of the
/// fused recurrent loop): the cell on the pre-activations in `acc: [rows, 4, 16]` (gate `q` of
/// row `r` at `r·64 + q·16`), for `rows = active.len()`; inactive rows keep their state and
/// output 0.
///
/// # Safety
/// Every place `o` names for rows `0..active.len()` (its `n` units) must be valid, and no
/// other thread may touch the places written during the call.
pub unsafe fn lstm_group_forward(acc: &[f32], o: GroupOut, active: &[bool]) {
    assert!(
        acc.len() >= active.len() * 4 * LANES,
        "lstm_group_forward: acc too short"
    );
    run_best_isa!(group_forward_body(acc: &[f32], o: GroupOut, active: &[bool]))
}

/// Where one group of rows' backward operands live, for [`lstm_group_backward`] (`n` units
/// per row): row `r` has gate block `q` of `dg` and `gates` at `+ r·gate_stride + q·h`, its
/// states and state gradients at `+ r·state_stride`, its output gradient at `d_y + r·y_stride`;
/// the bias gradient's block `q` is at `db + q·h`.
#[derive(Debug, Clone, Copy)]
pub struct GroupBwd {
    /// Out: gradients of the pre-activations (first row's gate block `i`).
    pub dg: *mut f32,
    /// The activations kept by the forward, laid out as `dg`.
    pub gates: *const f32,
    /// Between rows of `dg` and `gates` (4H).
    pub gate_stride: usize,
    /// Between gate blocks (H).
    pub h: usize,
    /// In: `∂L/∂h_t` from the step after (without the output's share); out: 0 for active rows
    /// (the caller's product writes it), unchanged for inactive ones.
    pub dh: *mut f32,
    /// In `∂L/∂c_t`, out `∂L/∂c_{t−1}` (unchanged for inactive rows).
    pub dc: *mut f32,
    /// `c_t` and `c_{t−1}`.
    pub c: *const f32,
    /// See `c`.
    pub c_prev: *const f32,
    /// Between rows of `dh`, `dc`, `c`, `c_prev` (H).
    pub state_stride: usize,
    /// The output gradient `∂L/∂y_t` of the first row.
    pub d_y: *const f32,
    /// Between rows of `d_y`.
    pub y_stride: usize,
    /// (+=) the bias gradient, `Σ` of `dg` over the rows, in row order.
    pub db: *mut f32,
    /// Units per row.
    pub n: usize,
}

#[inline(always)]
unsafe fn group_backward_body<const FMA: bool>(o: GroupBwd, active: &[bool]) {
    use std::slice::{from_raw_parts, from_raw_parts_mut};
    let (n, h) = (o.n, o.h);
    for (r, &on) in active.iter().enumerate() {
        let g0 = r * o.gate_stride;
        let [dgi, dgf, dgg, dgo] =
            [0, 1, 2, 3].map(|q| from_raw_parts_mut(o.dg.add(g0 + q * h), n));
        if !on {
            for v in [dgi, dgf, dgg, dgo] {
                v.fill(0.0);
            }
            continue;
        }
        let sr = r * o.state_stride;
        let dh = from_raw_parts_mut(o.dh.add(sr), n);
        let d_y = from_raw_parts(o.d_y.add(r * o.y_stride), n);
        dh.iter_mut().zip(d_y).for_each(|(a, g)| *a += g);
        let gates = [0, 1, 2, 3].map(|q| from_raw_parts(o.gates.add(g0 + q * h), n));
        backward_units::<FMA>(
            [&mut *dgi, &mut *dgf, &mut *dgg, &mut *dgo],
            from_raw_parts_mut(o.dc.add(sr), n),
            dh,
            gates,
            from_raw_parts(o.c.add(sr), n),
            from_raw_parts(o.c_prev.add(sr), n),
        );
        dh.fill(0.0);
        for (q, v) in [dgi, dgf, dgg, dgo].into_iter().enumerate() {
            let db = from_raw_parts_mut(o.db.add(q * h), n);
            db.iter_mut().zip(v.iter()).for_each(|(a, g)| *a += g);
        }
    }
}

/// The backward step for a group of rows and `n` units, mirroring [`lstm_group_forward`]: per
/// row, `d_h += d_y`, the cell backward (the arithmetic of [`lstm_cell_backward`]) giving `dg` and
/// `d_c_{t−1}`, `d_h = 0`, and `db += dg`; inactive rows get `dg = 0` and keep `d_h`, `d_c`.
///
/// # Safety
/// Every place `o` names for rows `0..active.len()` (its `n` units) must be valid, and no other
/// thread may touch the places written during the call.
pub unsafe fn lstm_group_backward(o: GroupBwd, active: &[bool]) {
    run_best_isa!(group_backward_body(o: GroupBwd, active: &[bool]))
}

/// Plain f64 reference of [`lstm_cell_forward`] for one row: returns `(activations [4H], c [H], r [H])`.
pub fn lstm_cell_forward_ref(
    pre: &[f32],
    c_prev: &[f32],
    h: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let a = |k: usize, j: usize| pre[k * h + j] as f64;
    let mut act = vec![0.0; 4 * h];
    let mut c = vec![0.0; h];
    let mut r = vec![0.0; h];
    for j in 0..h {
        let (i, f, g, o) = (
            sigmoid64(a(0, j)),
            sigmoid64(a(1, j)),
            a(2, j).tanh(),
            sigmoid64(a(3, j)),
        );
        c[j] = f * c_prev[j] as f64 + i * g;
        r[j] = o * c[j].tanh();
        act[j] = i;
        act[h + j] = f;
        act[2 * h + j] = g;
        act[3 * h + j] = o;
    }
    (act, c, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_vals as vals;
    use crate::kernels::Isa;

    #[test]
    fn forward_matches_reference_on_odd_sizes() {
        for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|i| i.available())
        {
            forward_matches_reference(isa);
        }
    }

    fn forward_matches_reference(isa: Isa) {
        for &(b, h) in &[(1, 1), (3, 7), (2, 13), (5, 33), (1, 257)] {
            let pre = vals(b * 4 * h, 1, 4.0);
            let c_prev = vals(b * h, 2, 2.0);
            let active: Vec<bool> = (0..b).map(|i| i % 3 != 1).collect();
            let mut gates = pre.clone();
            let (mut c, mut r) = (vec![0.0; b * h], vec![0.0; b * h]);
            lstm_cell_forward_isa(isa, &mut gates, &mut c, &mut r, &c_prev, &active, h);
            for row in 0..b {
                if !active[row] {
                    assert_eq!(
                        &c[row * h..(row + 1) * h],
                        &c_prev[row * h..(row + 1) * h],
                        "inactive row {row} must keep c"
                    );
                    continue;
                }
                let (act, c_ref, r_ref) = lstm_cell_forward_ref(
                    &pre[row * 4 * h..(row + 1) * 4 * h],
                    &c_prev[row * h..(row + 1) * h],
                    h,
                );
                for j in 0..4 * h {
                    let got = gates[row * 4 * h + j] as f64;
                    assert!(
                        (got - act[j]).abs() < 1e-6,
                        "{isa:?} B={b} H={h} gates[{row},{j}]: expected {}, got {got}",
                        act[j]
                    );
                }
                for j in 0..h {
                    let (gc, gr) = (c[row * h + j] as f64, r[row * h + j] as f64);
                    assert!(
                        (gc - c_ref[j]).abs() < 1e-6,
                        "B={b} H={h} c[{row},{j}]: expected {}, got {gc}",
                        c_ref[j]
                    );
                    assert!(
                        (gr - r_ref[j]).abs() < 1e-6,
                        "B={b} H={h} r[{row},{j}]: expected {}, got {gr}",
                        r_ref[j]
                    );
                }
            }
        }
    }

    #[test]
    fn group_backward_matches_the_row_kernel_with_inactive_rows() {
        let (rows, h, u0, n) = (4, 40, 32, 8); // units 32..40 of 40: a partial panel
        let ys = h + 5;
        let gates: Vec<f32> = vals(rows * 4 * h, 21, 1.0)
            .iter()
            .map(|v| 0.5 + 0.4 * v)
            .collect();
        let (c, c_prev) = (vals(rows * h, 22, 1.5), vals(rows * h, 23, 1.5));
        let d_y = vals(rows * ys, 24, 1.0);
        let (dh0, dc0) = (vals(rows * h, 25, 1.0), vals(rows * h, 26, 1.0));
        let active = [true, false, true, true];
        let (mut dg, mut dh, mut dc) = (vec![7.0; rows * 4 * h], dh0.clone(), dc0.clone());
        let mut db = vec![0.25f32; 4 * h];
        let o = GroupBwd {
            dg: dg[u0..].as_mut_ptr(),
            gates: gates[u0..].as_ptr(),
            gate_stride: 4 * h,
            h,
            dh: dh[u0..].as_mut_ptr(),
            dc: dc[u0..].as_mut_ptr(),
            c: c[u0..].as_ptr(),
            c_prev: c_prev[u0..].as_ptr(),
            state_stride: h,
            d_y: d_y[2..].as_ptr(),
            y_stride: ys,
            db: db[u0..].as_mut_ptr(),
            n,
        };
        // SAFETY: every place lies inside the vectors above (row 3's end: 3·4h + 3h + u0 + n).
        unsafe { lstm_group_backward(o, &active) };
        let mut db_want = vec![0.25f32; 4 * n];
        for r in 0..rows {
            let s = r * h + u0;
            let g = r * 4 * h + u0;
            if !active[r] {
                for q in 0..4 {
                    assert!(
                        dg[g + q * h..g + q * h + n].iter().all(|v| *v == 0.0),
                        "row {r}: dg must be 0"
                    );
                }
                assert_eq!(&dh[s..s + n], &dh0[s..s + n], "inactive row {r}: dh kept");
                assert_eq!(&dc[s..s + n], &dc0[s..s + n], "inactive row {r}: dc kept");
                continue;
            }
            let dr: Vec<f32> = (0..n).map(|j| dh0[s + j] + d_y[2 + r * ys + j]).collect();
            // The row kernel on this row's units alone: one row of H = n.
            let row_gates: Vec<f32> = (0..4)
                .flat_map(|q| gates[g + q * h..g + q * h + n].iter().copied())
                .collect();
            let mut want_all = vec![0.0f32; 4 * n];
            let mut dc_want = dc0[s..s + n].to_vec();
            lstm_cell_backward(
                &mut want_all,
                &mut dc_want,
                &dr,
                &row_gates,
                &c[s..s + n],
                &c_prev[s..s + n],
                &[true],
                n,
            );
            let want: Vec<&[f32]> = want_all.chunks_exact(n).collect();
            for q in 0..4 {
                for j in 0..n {
                    let got = dg[g + q * h + j];
                    assert_eq!(
                        got.to_bits(),
                        want[q][j].to_bits(),
                        "row {r} gate {q} unit {j}: expected {}, got {got}",
                        want[q][j]
                    );
                    db_want[q * n + j] += want[q][j];
                }
            }
            assert_eq!(&dc[s..s + n], &dc_want[..], "row {r}: dc");
            assert!(
                dh[s..s + n].iter().all(|v| *v == 0.0),
                "row {r}: dh must be 0 after"
            );
        }
        for q in 0..4 {
            for j in 0..n {
                let got = db[q * h + u0 + j];
                assert_eq!(
                    got.to_bits(),
                    db_want[q * n + j].to_bits(),
                    "db gate {q} unit {j}: expected {}, got {got}",
                    db_want[q * n + j]
                );
            }
            assert_eq!(db[q * h], 0.25, "db outside the units is untouched");
        }
        assert_eq!(dg[0], 7.0, "dg outside the units is untouched");
    }

    #[test]
    fn group_forward_matches_reference_with_inactive_rows() {
        let (rows, h, u0, n) = (5, 20, 16, 4); // units 16..20 of 20: a partial group
        let acc = vals(rows * 64, 11, 4.0);
        let c_in = vals(rows * h, 12, 2.0);
        let h_in = vals(rows * h, 13, 1.0);
        let active = [true, false, true, true, false];
        let (mut gates, mut c_new, mut h_new) = (
            vec![7.0; rows * 4 * h],
            vec![7.0; rows * h],
            vec![7.0; rows * h],
        );
        let ys = h + 3;
        let mut y = vec![7.0; rows * ys];
        let o = GroupOut {
            gates: gates[u0..].as_mut_ptr(),
            gate_stride: 4 * h,
            h,
            c_in: c_in[u0..].as_ptr(),
            h_in: h_in[u0..].as_ptr(),
            c_new: c_new[u0..].as_mut_ptr(),
            h_new: h_new[u0..].as_mut_ptr(),
            state_stride: h,
            y: y[1..].as_mut_ptr(),
            y_stride: ys,
            n,
        };
        // SAFETY: every place lies inside the vectors above (row 4's end: 4·h + u0 + n = h·5).
        unsafe { lstm_group_forward(&acc, o, &active) };
        for r in 0..rows {
            let mut pre = vec![0.0f32; 4 * n];
            for q in 0..4 {
                pre[q * n..(q + 1) * n].copy_from_slice(&acc[r * 64 + q * 16..r * 64 + q * 16 + n]);
            }
            let (act, c_ref, h_ref) =
                lstm_cell_forward_ref(&pre, &c_in[r * h + u0..r * h + u0 + n], n);
            for j in 0..n {
                let s = r * h + u0 + j;
                let (cw, hw, yw) = if active[r] {
                    (c_ref[j], h_ref[j], h_ref[j])
                } else {
                    (c_in[s] as f64, h_in[s] as f64, 0.0)
                };
                assert!(
                    (c_new[s] as f64 - cw).abs() < 1e-6,
                    "row {r} unit {j}: c expected {cw}, got {}",
                    c_new[s]
                );
                assert!(
                    (h_new[s] as f64 - hw).abs() < 1e-6,
                    "row {r} unit {j}: h expected {hw}, got {}",
                    h_new[s]
                );
                let yv = y[1 + r * ys + j] as f64;
                assert!(
                    (yv - yw).abs() < 1e-6,
                    "row {r} unit {j}: y expected {yw}, got {yv}"
                );
                if active[r] {
                    for q in 0..4 {
                        let got = gates[r * 4 * h + q * h + u0 + j] as f64;
                        assert!(
                            (got - act[q * n + j]).abs() < 1e-6,
                            "row {r} gate {q} unit {j}: expected {}, got {got}",
                            act[q * n + j]
                        );
                    }
                }
            }
            // Nothing outside the group's units is touched.
            assert_eq!(
                c_new[r * h],
                7.0,
                "row {r}: unit 0 of c must stay untouched"
            );
        }
        // Without kept activations (null `gates`): the same states and outputs, bit for bit.
        let (mut c2, mut h2, mut y2) = (
            vec![7.0; rows * h],
            vec![7.0; rows * h],
            vec![7.0; rows * ys],
        );
        let o2 = GroupOut {
            gates: std::ptr::null_mut(),
            c_new: c2[u0..].as_mut_ptr(),
            h_new: h2[u0..].as_mut_ptr(),
            y: y2[1..].as_mut_ptr(),
            ..o
        };
        // SAFETY: as above; no gate place is written.
        unsafe { lstm_group_forward(&acc, o2, &active) };
        for (what, got, want) in [("c", &c2, &c_new), ("h", &h2, &h_new), ("y", &y2, &y)] {
            for (k, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    w.to_bits(),
                    "no gates kept: {what}[{k}] expected {w}, got {g}"
                );
            }
        }
    }

    /// The backward kernel against central differences of the f64 reference forward.
    #[test]
    fn backward_matches_finite_differences_of_reference() {
        let (b, h) = (2, 7);
        let pre = vals(b * 4 * h, 5, 2.0);
        let c_prev = vals(b * h, 6, 1.0);
        let d_r = vals(b * h, 7, 1.0);
        let d_c_in = vals(b * h, 8, 1.0);
        let active = vec![true, true];
        let mut gates = pre.clone();
        let (mut c, mut r) = (vec![0.0; b * h], vec![0.0; b * h]);
        lstm_cell_forward(&mut gates, &mut c, &mut r, &c_prev, &active, h);
        let mut d_gates = vec![0.0; b * 4 * h];
        let mut d_c = d_c_in.clone();
        lstm_cell_backward(
            &mut d_gates,
            &mut d_c,
            &d_r,
            &gates,
            &c,
            &c_prev,
            &active,
            h,
        );
        // L = Σ d_r ⊙ r + Σ d_c_in ⊙ c, per row.
        let loss = |pre_row: &[f32], cp: &[f32], row: usize| {
            let (_, cc, rr) = lstm_cell_forward_ref(pre_row, cp, h);
            (0..h)
                .map(|j| d_r[row * h + j] as f64 * rr[j] + d_c_in[row * h + j] as f64 * cc[j])
                .sum::<f64>()
        };
        for row in 0..b {
            let base = &pre[row * 4 * h..(row + 1) * 4 * h];
            let cp = &c_prev[row * h..(row + 1) * h];
            for j in 0..4 * h {
                let eps = 1e-3f32;
                let (mut p, mut m) = (base.to_vec(), base.to_vec());
                p[j] += eps;
                m[j] -= eps;
                let fd = (loss(&p, cp, row) - loss(&m, cp, row)) / (2.0 * eps as f64);
                let got = d_gates[row * 4 * h + j] as f64;
                assert!(
                    (fd - got).abs() < 1e-3,
                    "d_gates[{row},{j}]: fd {fd}, got {got}"
                );
            }
            for j in 0..h {
                let eps = 1e-3f32;
                let (mut p, mut m) = (cp.to_vec(), cp.to_vec());
                p[j] += eps;
                m[j] -= eps;
                let fd = (loss(base, &p, row) - loss(base, &m, row)) / (2.0 * eps as f64);
                let got = d_c[row * h + j] as f64;
                assert!(
                    (fd - got).abs() < 1e-3,
                    "d_c_prev[{row},{j}]: fd {fd}, got {got}"
                );
            }
        }
    }
}
