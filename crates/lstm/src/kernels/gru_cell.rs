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

use super::activation::{sigmoid64, sigmoid_with, tanh_with};

/// One active row of the forward step: every slice `[H]` (`b*` empty unless `BIAS`). Each gate
/// block is its own parameter: slices split off one buffer inside the loop's function may alias
/// for the compiler, and the loop then compiles scalar (measured: 3–4× slower).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_row<const BIAS: bool, const FMA: bool>(
    gr: &mut [f32],
    gz: &mut [f32],
    gn: &mut [f32],
    h_new: &mut [f32],
    ghn: &mut [f32],
    hr: &[f32],
    hz: &[f32],
    hn: &[f32],
    br: &[f32],
    bz: &[f32],
    bn: &[f32],
    h_prev: &[f32],
) {
    let h = h_new.len();
    let (gr, gz, gn, ghn) = (&mut gr[..h], &mut gz[..h], &mut gn[..h], &mut ghn[..h]);
    let (hr, hz, hn, h_prev) = (&hr[..h], &hz[..h], &hn[..h], &h_prev[..h]);
    let (br, bz, bn) = if BIAS {
        (&br[..h], &bz[..h], &bn[..h])
    } else {
        (&[][..], &[][..], &[][..])
    };
    for j in 0..h {
        let (xr, xz, xn) = if BIAS {
            (br[j], bz[j], bn[j])
        } else {
            (0.0, 0.0, 0.0)
        };
        let r = sigmoid_with::<FMA>(gr[j] + hr[j] + xr);
        let z = sigmoid_with::<FMA>(gz[j] + hz[j] + xz);
        let hnj = hn[j] + xn;
        let n = tanh_with::<FMA>(gn[j] + r * hnj);
        gr[j] = r;
        gz[j] = z;
        gn[j] = n;
        ghn[j] = hnj;
        h_new[j] = (1.0 - z) * n + z * h_prev[j];
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_body<const FMA: bool>(
    gates: &mut [f32],
    h_new: &mut [f32],
    ghn: &mut [f32],
    gh: &[f32],
    b_hh: Option<&[f32]>,
    h_prev: &[f32],
    active: &[bool],
    h: usize,
) {
    for (b, &on) in active.iter().enumerate() {
        let (hs, gs) = (b * h..(b + 1) * h, b * 3 * h..(b + 1) * 3 * h);
        if !on {
            h_new[hs.clone()].copy_from_slice(&h_prev[hs]);
            continue;
        }
        let (gr, rest) = gates[gs.clone()].split_at_mut(h);
        let (gz, gn) = rest.split_at_mut(h);
        let (hr, rest) = gh[gs].split_at(h);
        let (hz, hn) = rest.split_at(h);
        let (hn_out, ghn_out, hp) = (&mut h_new[hs.clone()], &mut ghn[hs.clone()], &h_prev[hs]);
        match b_hh {
            Some(bias) => {
                let (br, rest) = bias.split_at(h);
                let (bz, bn) = rest.split_at(h);
                forward_row::<true, FMA>(gr, gz, gn, hn_out, ghn_out, hr, hz, hn, br, bz, bn, hp)
            }
            None => forward_row::<false, FMA>(
                gr,
                gz,
                gn,
                hn_out,
                ghn_out,
                hr,
                hz,
                hn,
                &[],
                &[],
                &[],
                hp,
            ),
        }
    }
}

dispatch!(
    /// Forward step.
    /// - `gates: [B, 3H]` in: `a = x·W_ih + b_ih`; out: activations `r, z, n`.
    /// - `h_new: [B, H]` out. `ghn: [B, H]` out: `ĝ_n = (h_prev · W_hh + b_hh)_n`, kept for backward.
    /// - `gh: [B, 3H]` in: `h_prev · W_hh` (no bias). `b_hh: [3H]` or none. `h_prev: [B, H]`. `active: [B]`.
    pub fn gru_cell_forward;
    /// [`gru_cell_forward`] with a chosen variant (portable if the CPU lacks it).
    pub fn gru_cell_forward_isa = forward_body(
        gates: &mut [f32], h_new: &mut [f32], ghn: &mut [f32], gh: &[f32], b_hh: Option<&[f32]>, h_prev: &[f32], active: &[bool], h: usize
    )
);

/// One active row of the backward step: every slice `[H]`, each gate block its own parameter
/// (as in [`forward_row`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_row(
    dxr: &mut [f32],
    dxz: &mut [f32],
    dxn: &mut [f32],
    dhr: &mut [f32],
    dhz: &mut [f32],
    dhn: &mut [f32],
    d_h: &mut [f32],
    gr: &[f32],
    gz: &[f32],
    gn: &[f32],
    ghn: &[f32],
    h_prev: &[f32],
) {
    let h = d_h.len();
    let (dxr, dxz, dxn) = (&mut dxr[..h], &mut dxz[..h], &mut dxn[..h]);
    let (dhr, dhz, dhn) = (&mut dhr[..h], &mut dhz[..h], &mut dhn[..h]);
    let (gr, gz, gn, ghn, h_prev) = (&gr[..h], &gz[..h], &gn[..h], &ghn[..h], &h_prev[..h]);
    for j in 0..h {
        let (r, z, n) = (gr[j], gz[j], gn[j]);
        let dh = d_h[j];
        let d_an = dh * (1.0 - z) * (1.0 - n * n);
        let d_ar = d_an * ghn[j] * r * (1.0 - r);
        let d_az = dh * (h_prev[j] - n) * z * (1.0 - z);
        dxr[j] = d_ar;
        dxz[j] = d_az;
        dxn[j] = d_an;
        dhr[j] = d_ar;
        dhz[j] = d_az;
        dhn[j] = d_an * r;
        d_h[j] = dh * z;
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_body<const FMA: bool>(
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
        let (hs, gs) = (b * h..(b + 1) * h, b * 3 * h..(b + 1) * 3 * h);
        if !on {
            d_gx[gs.clone()].fill(0.0);
            d_gh[gs].fill(0.0);
            continue;
        }
        let (dxr, rest) = d_gx[gs.clone()].split_at_mut(h);
        let (dxz, dxn) = rest.split_at_mut(h);
        let (dhr, rest) = d_gh[gs.clone()].split_at_mut(h);
        let (dhz, dhn) = rest.split_at_mut(h);
        let (gr, rest) = gates[gs].split_at(h);
        let (gz, gn) = rest.split_at(h);
        backward_row(
            dxr,
            dxz,
            dxn,
            dhr,
            dhz,
            dhn,
            &mut d_h[hs.clone()],
            gr,
            gz,
            gn,
            &ghn[hs.clone()],
            &h_prev[hs],
        );
    }
}

dispatch!(
    /// Backward step, mirroring [`gru_cell_forward`].
    /// - `d_gx: [B, 3H]` out: `∂L/∂a`. `d_gh: [B, 3H]` out: `∂L/∂ĝ`.
    /// - `d_h: [B, H]` in: `∂L/∂h_t`; out (active rows): the direct part of `∂L/∂h_{t-1}`, `d_h ⊙ z`.
    /// - `gates: [B, 3H]` activations, `ghn: [B, H]`, `h_prev: [B, H]`, `active: [B]`.
    pub fn gru_cell_backward;
    /// [`gru_cell_backward`] with a chosen variant (portable if the CPU lacks it).
    pub fn gru_cell_backward_isa = backward_body(
        d_gx: &mut [f32], d_gh: &mut [f32], d_h: &mut [f32], gates: &[f32], ghn: &[f32], h_prev: &[f32], active: &[bool], h: usize
    )
);

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
    use crate::kernels::Isa;

    #[test]
    fn forward_matches_reference_on_odd_sizes() {
        for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|i| i.available())
        {
            for with_bias in [true, false] {
                forward_matches_reference(isa, with_bias);
            }
        }
    }

    fn forward_matches_reference(isa: Isa, with_bias: bool) {
        for &(b, h) in &[(1, 1), (3, 7), (2, 13), (5, 33), (1, 257)] {
            let a = vals(b * 3 * h, 1, 3.0);
            let gh = vals(b * 3 * h, 2, 3.0);
            let bias = vals(3 * h, 3, 1.0);
            let h_prev = vals(b * h, 4, 1.0);
            let active: Vec<bool> = (0..b).map(|i| i % 3 != 1).collect();
            let mut gates = a.clone();
            let (mut hn, mut ghn) = (vec![0.0; b * h], vec![0.0; b * h]);
            let bias_opt = with_bias.then_some(&bias[..]);
            gru_cell_forward_isa(
                isa, &mut gates, &mut hn, &mut ghn, &gh, bias_opt, &h_prev, &active, h,
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
                    gru_cell_forward_ref(&a[gs.clone()], &gh[gs], bias_opt, &h_prev[rs], h);
                for j in 0..3 * h {
                    let got = gates[row * 3 * h + j] as f64;
                    assert!(
                        (got - act[j]).abs() < 1e-6,
                        "{isa:?} bias={with_bias} B={b} H={h} gates[{row},{j}]: expected {}, got {got}",
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
