//! Fused Elman RNN pointwise kernels for one step: `h = act(a)` with `a = x·W_ih + b_ih + b_hh +
//! h_prev·W_hh` already summed in `gates`; `act` is tanh or relu. Backward: `d_a = d_h ⊙ act'(h)`
//! (`1 − h²` for tanh, `[h > 0]` for relu). Inactive rows keep their state.

use super::activation::tanh_with;

/// One active row: `g`, `out: [H]`.
#[inline(always)]
fn forward_row<const RELU: bool, const FMA: bool>(g: &mut [f32], out: &mut [f32]) {
    let out = &mut out[..g.len()];
    for (gj, oj) in g.iter_mut().zip(out) {
        *gj = if RELU {
            gj.max(0.0)
        } else {
            tanh_with::<FMA>(*gj)
        };
        *oj = *gj;
    }
}

#[inline(always)]
fn forward_body<const FMA: bool>(
    gates: &mut [f32],
    h_new: &mut [f32],
    h_prev: &[f32],
    active: &[bool],
    relu: bool,
    h: usize,
) {
    for (b, &on) in active.iter().enumerate() {
        let rs = b * h..(b + 1) * h;
        if !on {
            h_new[rs.clone()].copy_from_slice(&h_prev[rs]);
        } else if relu {
            forward_row::<true, FMA>(&mut gates[rs.clone()], &mut h_new[rs]);
        } else {
            forward_row::<false, FMA>(&mut gates[rs.clone()], &mut h_new[rs]);
        }
    }
}

dispatch!(
    /// Forward step. `gates: [B, H]` in: pre-activations; out: `h`. `h_new: [B, H]` out.
    /// `h_prev: [B, H]`, `active: [B]`.
    pub fn rnn_cell_forward;
    /// [`rnn_cell_forward`] with a chosen variant (portable if the CPU lacks it).
    pub fn rnn_cell_forward_isa = forward_body(gates: &mut [f32], h_new: &mut [f32], h_prev: &[f32], active: &[bool], relu: bool, h: usize)
);

/// One active row: `dg`, `dh`, `y: [H]`.
#[inline(always)]
fn backward_row<const RELU: bool>(dg: &mut [f32], dh: &mut [f32], y: &[f32]) {
    let h = dg.len();
    let (dh, y) = (&mut dh[..h], &y[..h]);
    for j in 0..h {
        let deriv = if RELU {
            if y[j] > 0.0 {
                1.0
            } else {
                0.0
            }
        } else {
            1.0 - y[j] * y[j]
        };
        dg[j] = dh[j] * deriv;
        dh[j] = 0.0;
    }
}

#[inline(always)]
fn backward_body<const FMA: bool>(
    d_gates: &mut [f32],
    d_h: &mut [f32],
    gates: &[f32],
    active: &[bool],
    relu: bool,
    h: usize,
) {
    for (b, &on) in active.iter().enumerate() {
        let rs = b * h..(b + 1) * h;
        if !on {
            d_gates[rs].fill(0.0);
        } else if relu {
            backward_row::<true>(&mut d_gates[rs.clone()], &mut d_h[rs.clone()], &gates[rs]);
        } else {
            backward_row::<false>(&mut d_gates[rs.clone()], &mut d_h[rs.clone()], &gates[rs]);
        }
    }
}

dispatch!(
    /// Backward step, mirroring [`rnn_cell_forward`]. `d_gates: [B, H]` out. `d_h: [B, H]` in:
    /// `∂L/∂h_t`; out: 0 on active rows (the caller adds `d_gates · W_hhᵀ`). `gates: [B, H]` = `h_t`.
    pub fn rnn_cell_backward;
    /// [`rnn_cell_backward`] with a chosen variant (portable if the CPU lacks it).
    pub fn rnn_cell_backward_isa = backward_body(d_gates: &mut [f32], d_h: &mut [f32], gates: &[f32], active: &[bool], relu: bool, h: usize)
);

/// Plain f64 reference of the forward activation.
pub fn rnn_act_ref(a: f32, relu: bool) -> f64 {
    if relu {
        (a as f64).max(0.0)
    } else {
        (a as f64).tanh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Isa;

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn forward_and_backward_match_reference_on_odd_sizes() {
        for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|i| i.available())
        {
            each_size(isa);
        }
    }

    #[allow(clippy::needless_range_loop)]
    fn each_size(isa: Isa) {
        for relu in [false, true] {
            for &(b, h) in &[(1, 1), (3, 7), (2, 13), (5, 33)] {
                let pre: Vec<f32> = (0..b * h)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 20.0)
                    .collect();
                let h_prev: Vec<f32> = (0..b * h).map(|i| (i % 7) as f32 / 7.0).collect();
                let active: Vec<bool> = (0..b).map(|i| i % 3 != 1).collect();
                let mut gates = pre.clone();
                let mut hn = vec![0.0; b * h];
                rnn_cell_forward_isa(isa, &mut gates, &mut hn, &h_prev, &active, relu, h);
                let mut dg = vec![9.0; b * h];
                let mut dh = vec![1.5; b * h];
                rnn_cell_backward_isa(isa, &mut dg, &mut dh, &gates, &active, relu, h);
                for row in 0..b {
                    for j in 0..h {
                        let k = row * h + j;
                        if !active[row] {
                            assert_eq!(hn[k], h_prev[k], "inactive h[{row},{j}]");
                            assert_eq!((dg[k], dh[k]), (0.0, 1.5), "inactive grads [{row},{j}]");
                            continue;
                        }
                        let r = rnn_act_ref(pre[k], relu);
                        assert!(
                            (hn[k] as f64 - r).abs() < 1e-6,
                            "{isa:?} relu={relu} h[{row},{j}]: expected {r}, got {}",
                            hn[k]
                        );
                        let d = if relu {
                            if r > 0.0 {
                                1.5
                            } else {
                                0.0
                            }
                        } else {
                            1.5 * (1.0 - r * r)
                        };
                        assert!(
                            (dg[k] as f64 - d).abs() < 1e-6,
                            "relu={relu} d_a[{row},{j}]: expected {d}, got {}",
                            dg[k]
                        );
                    }
                }
            }
        }
    }
}
