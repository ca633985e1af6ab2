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

use super::activation::{sigmoid, sigmoid64, tanh};

/// One row of the forward step; every slice has length H (resliced so the loop has no bounds
/// checks and vectorises).
#[inline(always)]
fn forward_row(
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
        let i = sigmoid(gi[j]);
        let f = sigmoid(gf[j]);
        let g = tanh(gg[j]);
        let o = sigmoid(go[j]);
        let cn = f * c_prev[j] + i * g;
        gi[j] = i;
        gf[j] = f;
        gg[j] = g;
        go[j] = o;
        c[j] = cn;
        r[j] = o * tanh(cn);
    }
}

#[inline(always)]
fn forward_body(
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
        forward_row(
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
fn backward_row(
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
    backward_units(&mut [dgi, dgf, dgg, dgo], d_c, d_r, gates, c, c_prev);
}

/// The backward arithmetic over `n` units: `dg` and `gates` are the four gate blocks `i, f, g,
/// o` of those units (each of length `n`, like every other slice).
#[inline(always)]
fn backward_units(
    dg: &mut [&mut [f32]; 4],
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
        let tc = tanh(c[j]);
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
fn backward_body(
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
        backward_row(
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

#[inline(always)]
fn forward_units_body(
    g: [&mut [f32]; 4],
    acc: &[f32],
    lanes: usize,
    c: &mut [f32],
    r: &mut [f32],
    c_prev: &[f32],
) {
    let n = c.len();
    let [gi, gf, gg, go] = g;
    for (q, blk) in [&mut *gi, &mut *gf, &mut *gg, &mut *go]
        .into_iter()
        .enumerate()
    {
        blk[..n].copy_from_slice(&acc[q * lanes..q * lanes + n]);
    }
    forward_row(&mut gi[..n], gf, gg, go, c, r, c_prev);
}

dispatch!(
    /// The forward step of one row for `n` units (a tile of the fused recurrent loop): the cell
    /// on pre-activations held in a tile.
    /// - `g`: the four gate blocks `i, f, g, o` of those units, `[n]` each, out: activations.
    /// - `acc: [4, lanes]` the pre-activations of those units, gate `q` at `q·lanes`.
    /// - `c, r: [n]` out: new cell state and `o ⊙ tanh(c)`; `c_prev: [n]`.
    pub fn lstm_units_forward;
    /// [`lstm_units_forward`] with a chosen variant (portable if the CPU lacks it).
    pub fn lstm_units_forward_isa = forward_units_body(
        g: [&mut [f32]; 4], acc: &[f32], lanes: usize, c: &mut [f32], r: &mut [f32], c_prev: &[f32]
    )
);

#[inline(always)]
fn backward_units_body(
    dg: [&mut [f32]; 4],
    d_c: &mut [f32],
    d_r: &[f32],
    gates: [&[f32]; 4],
    c: &[f32],
    c_prev: &[f32],
) {
    let mut dg = dg;
    backward_units(&mut dg, d_c, d_r, gates, c, c_prev);
}

dispatch!(
    /// The backward step of one row for `n` units, mirroring [`lstm_units_forward`].
    /// - `dg`: the four gate blocks of those units, `[n]` each: out, gradients of the
    ///   pre-activations.
    /// - `d_c: [n]` in `∂L/∂c_t`, out `∂L/∂c_{t-1}`; `d_r: [n]`.
    /// - `gates`: the four gate blocks' activations, `[n]` each; `c, c_prev: [n]`.
    pub fn lstm_units_backward;
    /// [`lstm_units_backward`] with a chosen variant (portable if the CPU lacks it).
    pub fn lstm_units_backward_isa = backward_units_body(
        dg: [&mut [f32]; 4], d_c: &mut [f32], d_r: &[f32], gates: [&[f32]; 4], c: &[f32], c_prev: &[f32]
    )
);

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
