//! Fused GRU pointwise kernels for one time step (PyTorch's formulation, gate order `r, z, n`):
//!
//! `r = σ(a_r + ĝ_r)  z = σ(a_z + ĝ_z)  n = tanh(a_n + r ⊙ ĝ_n)  h = (1 − z) ⊙ n + z ⊙ h_prev`
//!
//! with `a = x · W_ih + b_ih` (precomputed for all steps) and `ĝ = h_prev · W_hh + b_hh`
//! (this step's hidden product; `r` multiplies its `n` block *after* the product).
//!
//! Backward, given `d_h = ∂L/∂h_t`:
//! `d_n = d_h ⊙ (1 − z)`, `d_z = d_h ⊙ (h_prev − n)`, `d_an = d_n ⊙ (1 − n²)`,
//! `d_r = d_an ⊙ ĝ_n`; pre-activation gradients `d_a = [d_r σ', d_z σ', d_an]` (input side) and
//! `d_ĝ = [d_r σ', d_z σ', d_an ⊙ r]` (hidden side); `∂L/∂h_prev = d_h ⊙ z + d_ĝ · W_hhᵀ`.
//!
//! Inactive rows keep their state: forward `h = h_prev`; backward `d_a = d_ĝ = 0`, `d_h` unchanged.

use super::activation::{sigmoid, sigmoid64, tanh};

/// Forward step.
/// - `gates: [B, 3H]` in: `a = x·W_ih + b_ih`; out: activations `r, z, n`.
/// - `h_new: [B, H]` out. `ghn: [B, H]` out: `ĝ_n = (h_prev · W_hh + b_hh)_n`, kept for backward.
/// - `gh: [B, 3H]` in: `h_prev · W_hh` (no bias). `b_hh: [3H]` or none. `h_prev: [B, H]`. `active: [B]`.
#[allow(clippy::too_many_arguments)]
pub fn gru_cell_forward(
    gates: &mut [f32],
    h_new: &mut [f32],
    ghn: &mut [f32],
    gh: &[f32],
    b_hh: Option<&[f32]>,
    h_prev: &[f32],
    active: &[bool],
    h: usize,
) {
    let bias = |k: usize| b_hh.map_or(0.0, |bb| bb[k]);
    for (b, &on) in active.iter().enumerate() {
        let hs = b * h..(b + 1) * h;
        if !on {
            h_new[hs.clone()].copy_from_slice(&h_prev[hs]);
            continue;
        }
        let g = &mut gates[b * 3 * h..(b + 1) * 3 * h];
        let ghb = &gh[b * 3 * h..(b + 1) * 3 * h];
        for j in 0..h {
            let r = sigmoid(g[j] + ghb[j] + bias(j));
            let z = sigmoid(g[h + j] + ghb[h + j] + bias(h + j));
            let hn = ghb[2 * h + j] + bias(2 * h + j);
            let n = tanh(g[2 * h + j] + r * hn);
            let hp = h_prev[b * h + j];
            g[j] = r;
            g[h + j] = z;
            g[2 * h + j] = n;
            ghn[b * h + j] = hn;
            h_new[b * h + j] = (1.0 - z) * n + z * hp;
        }
    }
}

/// Backward step, mirroring [`gru_cell_forward`].
/// - `d_gx: [B, 3H]` out: `∂L/∂a`. `d_gh: [B, 3H]` out: `∂L/∂ĝ`.
/// - `d_h: [B, H]` in: `∂L/∂h_t`; out (active rows): the direct part of `∂L/∂h_{t-1}`, `d_h ⊙ z`.
/// - `gates: [B, 3H]` activations, `ghn: [B, H]`, `h_prev: [B, H]`, `active: [B]`.
#[allow(clippy::too_many_arguments)]
pub fn gru_cell_backward(
    d_gx: &mut [f32],
    d_gh: &mut [f32],
    d_h: &mut [f32],
    gates: &[f32],
    ghn: &[f32],
    h_prev: &[f32],
    active: &[bool],
    h: usize,
) {
    for (b, &on) in active.iter().enumerate() {
        let gs = b * 3 * h..(b + 1) * 3 * h;
        if !on {
            d_gx[gs.clone()].fill(0.0);
            d_gh[gs].fill(0.0);
            continue;
        }
        let g = &gates[gs.clone()];
        let (dx, dhh) = (&mut d_gx[gs.clone()], &mut d_gh[gs]);
        for j in 0..h {
            let (r, z, n) = (g[j], g[h + j], g[2 * h + j]);
            let dh = d_h[b * h + j];
            let d_n = dh * (1.0 - z);
            let d_z = dh * (h_prev[b * h + j] - n);
            let d_an = d_n * (1.0 - n * n);
            let d_r = d_an * ghn[b * h + j];
            let d_ar = d_r * r * (1.0 - r);
            let d_az = d_z * z * (1.0 - z);
            dx[j] = d_ar;
            dx[h + j] = d_az;
            dx[2 * h + j] = d_an;
            dhh[j] = d_ar;
            dhh[h + j] = d_az;
            dhh[2 * h + j] = d_an * r;
            d_h[b * h + j] = dh * z;
        }
    }
}

/// Plain f64 reference of [`gru_cell_forward`] for one row: `(activations [3H], ĝ_n [H], h [H])`.
pub fn gru_cell_forward_ref(
    a: &[f32],
    gh: &[f32],
    b_hh: Option<&[f32]>,
    h_prev: &[f32],
    h: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let bias = |k: usize| b_hh.map_or(0.0, |bb| bb[k] as f64);
    let (mut act, mut hn_out, mut out) = (vec![0.0; 3 * h], vec![0.0; h], vec![0.0; h]);
    for j in 0..h {
        let r = sigmoid64(a[j] as f64 + gh[j] as f64 + bias(j));
        let z = sigmoid64(a[h + j] as f64 + gh[h + j] as f64 + bias(h + j));
        let hn = gh[2 * h + j] as f64 + bias(2 * h + j);
        let n = (a[2 * h + j] as f64 + r * hn).tanh();
        act[j] = r;
        act[h + j] = z;
        act[2 * h + j] = n;
        hn_out[j] = hn;
        out[j] = (1.0 - z) * n + z * h_prev[j] as f64;
    }
    (act, hn_out, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_vals as vals;

    #[test]
    fn forward_matches_reference_on_odd_sizes() {
        for &(b, h) in &[(1, 1), (3, 7), (2, 13), (5, 33), (1, 257)] {
            let a = vals(b * 3 * h, 1, 3.0);
            let gh = vals(b * 3 * h, 2, 3.0);
            let bias = vals(3 * h, 3, 1.0);
            let h_prev = vals(b * h, 4, 1.0);
            let active: Vec<bool> = (0..b).map(|i| i % 3 != 1).collect();
            let mut gates = a.clone();
            let (mut hn, mut ghn) = (vec![0.0; b * h], vec![0.0; b * h]);
            gru_cell_forward(
                &mut gates,
                &mut hn,
                &mut ghn,
                &gh,
                Some(&bias),
                &h_prev,
                &active,
                h,
            );
            for row in 0..b {
                let rs = row * h..(row + 1) * h;
                if !active[row] {
                    assert_eq!(
                        &hn[rs.clone()],
                        &h_prev[rs],
                        "inactive row {row} must keep h"
                    );
                    continue;
                }
                let gs = row * 3 * h..(row + 1) * 3 * h;
                let (act, ghn_ref, h_ref) =
                    gru_cell_forward_ref(&a[gs.clone()], &gh[gs], Some(&bias), &h_prev[rs], h);
                for j in 0..3 * h {
                    let got = gates[row * 3 * h + j] as f64;
                    assert!(
                        (got - act[j]).abs() < 1e-6,
                        "B={b} H={h} gates[{row},{j}]: expected {}, got {got}",
                        act[j]
                    );
                }
                for j in 0..h {
                    let (g1, g2) = (hn[row * h + j] as f64, ghn[row * h + j] as f64);
                    assert!(
                        (g1 - h_ref[j]).abs() < 1e-6,
                        "B={b} H={h} h[{row},{j}]: expected {}, got {g1}",
                        h_ref[j]
                    );
                    assert!(
                        (g2 - ghn_ref[j]).abs() < 1e-6,
                        "B={b} H={h} ghn[{row},{j}]: expected {}, got {g2}",
                        ghn_ref[j]
                    );
                }
            }
        }
    }
}
