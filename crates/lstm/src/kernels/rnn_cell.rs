//! Fused Elman RNN pointwise kernels for one step: `h = act(a)` with `a = x·W_ih + b_ih + b_hh +
//! h_prev·W_hh` already summed in `gates`; `act` is tanh or relu. Backward: `d_a = d_h ⊙ act'(h)`
//! (`1 − h²` for tanh, `[h > 0]` for relu). Inactive rows keep their state.

/// Forward step. `gates: [B, H]` in: pre-activations; out: `h`. `h_new: [B, H]` out.
/// `h_prev: [B, H]`, `active: [B]`.
pub fn rnn_cell_forward(
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
            continue;
        }
        for (g, out) in gates[rs.clone()].iter_mut().zip(&mut h_new[rs]) {
            *g = if relu { g.max(0.0) } else { g.tanh() };
            *out = *g;
        }
    }
}

/// Backward step, mirroring [`rnn_cell_forward`]. `d_gates: [B, H]` out. `d_h: [B, H]` in:
/// `∂L/∂h_t`; out: 0 on active rows (the caller adds `d_gates · W_hhᵀ`). `gates: [B, H]` = `h_t`.
pub fn rnn_cell_backward(
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
            continue;
        }
        for ((dg, dh), &y) in d_gates[rs.clone()]
            .iter_mut()
            .zip(&mut d_h[rs.clone()])
            .zip(&gates[rs])
        {
            let deriv = if relu {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            } else {
                1.0 - y * y
            };
            *dg = *dh * deriv;
            *dh = 0.0;
        }
    }
}

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

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn forward_and_backward_match_reference_on_odd_sizes() {
        for relu in [false, true] {
            for &(b, h) in &[(1, 1), (3, 7), (2, 13), (5, 33)] {
                let pre: Vec<f32> = (0..b * h)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 20.0)
                    .collect();
                let h_prev: Vec<f32> = (0..b * h).map(|i| (i % 7) as f32 / 7.0).collect();
                let active: Vec<bool> = (0..b).map(|i| i % 3 != 1).collect();
                let mut gates = pre.clone();
                let mut hn = vec![0.0; b * h];
                rnn_cell_forward(&mut gates, &mut hn, &h_prev, &active, relu, h);
                let mut dg = vec![9.0; b * h];
                let mut dh = vec![1.5; b * h];
                rnn_cell_backward(&mut dg, &mut dh, &gates, &active, relu, h);
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
                            "relu={relu} h[{row},{j}]: expected {r}, got {}",
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
