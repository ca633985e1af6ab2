//! 8-bit inference weights (`Stack::set_inference_weights(WeightPrecision::I8)`): a forward
//! without grad, and a streaming step, match an f64 simulation of the same quantization (each
//! weight row and each step's input and hidden rows scaled to −127…127, rounded to nearest,
//! ties to even; integer sums; f32 bias; exact activations); steps equal the sequence call bit
//! for bit; recording forwards ignore the setting; other stacks refuse it.

mod common;

use common::{assert_bitwise, check_recording_ignores, infer, rand_vec, to_f32};
use lstm::{CellKind, RnnConfig, Stack, StepScratch, Tensor, WeightPrecision};

/// `(q, s)`: `v ≈ s · q`, `s = max|v| / 127`, computed in f32 as the library's rules say.
fn quantize(v: &[f32]) -> (Vec<i64>, f64) {
    let m = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if m == 0.0 {
        return (vec![0; v.len()], 0.0);
    }
    let inv = 127.0f32 / m;
    let q = v.iter().map(|&x| (x * inv).round_ties_even() as i64);
    (q.collect(), (m / 127.0) as f64)
}

/// One weight matrix `[G, K]` (PyTorch's layout), quantized per row.
struct QuantMatrix {
    rows: Vec<(Vec<i64>, f64)>,
}

impl QuantMatrix {
    fn new(w: &Tensor) -> Self {
        let k = w.shape()[1];
        QuantMatrix {
            rows: w.data().chunks(k).map(quantize).collect(),
        }
    }

    /// `Σ_k v[k] · w[j, k]` with `v` quantized as a row: `s_v · s_j · Σ q_v · q_j`.
    fn dot(&self, j: usize, qv: &(Vec<i64>, f64)) -> f64 {
        let (qw, sw) = &self.rows[j];
        let sum: i64 = qv.0.iter().zip(qw).map(|(a, b)| a * b).sum();
        qv.1 * sw * sum as f64
    }
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// The f64 simulation of a one-layer stack (LSTM, no projection, zero initial state) given
/// the library's own output `y: [T, B, D·H]`: each step reads the hidden state the library
/// produced for the step before (so a value within 1e-7 of a rounding boundary quantizes the
/// same way on both sides), and carries its own cell state. Returns the simulated `y`.
fn simulate(stack: &Stack, x: &Tensor, y: &[f32]) -> Vec<f64> {
    let c = stack.config();
    assert_eq!(c.num_layers, 1, "simulate: one layer");
    let (t_len, b_len, f, h) = (x.shape()[0], x.shape()[1], x.shape()[2], c.hidden_size);
    let dirs = if c.bidirectional { 2 } else { 1 };
    let mut out = vec![0.0f64; t_len * b_len * dirs * h];
    for dir in 0..dirs {
        let sfx = if dir == 1 { "_reverse" } else { "" };
        let p = |n: &str| stack.param(&format!("{n}_l0{sfx}")).unwrap();
        let (w_ih, w_hh) = (
            QuantMatrix::new(&p("weight_ih")),
            QuantMatrix::new(&p("weight_hh")),
        );
        let bias: Vec<f32> = (p("bias_ih").data().iter().zip(p("bias_hh").data()))
            .map(|(a, b)| a + b)
            .collect();
        let mut cs = vec![0f64; b_len * h];
        let order: Vec<usize> = if dir == 1 {
            (0..t_len).rev().collect()
        } else {
            (0..t_len).collect()
        };
        for (s, &t) in order.iter().enumerate() {
            for b in 0..b_len {
                let at = (t * b_len + b) * f;
                let qx = quantize(&x.data()[at..at + f]);
                let h_in: Vec<f32> = match s {
                    0 => vec![0.0; h],
                    _ => {
                        let at = (order[s - 1] * b_len + b) * dirs * h + dir * h;
                        y[at..at + h].to_vec()
                    }
                };
                let qh = quantize(&h_in);
                for u in 0..h {
                    let pre = |gate: usize| {
                        let j = gate * h + u;
                        bias[j] as f64 + w_ih.dot(j, &qx) + w_hh.dot(j, &qh)
                    };
                    let (i, fg) = (sigmoid(pre(0)), sigmoid(pre(1)));
                    let (g, o) = (pre(2).tanh(), sigmoid(pre(3)));
                    let cn = fg * cs[b * h + u] + i * g;
                    cs[b * h + u] = cn;
                    out[(t * b_len + b) * dirs * h + dir * h + u] = o * cn.tanh();
                }
            }
        }
    }
    out
}

/// Layer `l` of `stack` alone, as a one-layer stack of `input` features.
fn layer(stack: &Stack, l: usize, input: usize) -> Stack {
    let c = stack.config();
    let cfg =
        RnnConfig::new(CellKind::Lstm, input, c.hidden_size).with_bidirectional(c.bidirectional);
    let mut one = Stack::new(cfg, 0).unwrap().with_threads(stack.threads());
    for name in one.param_names() {
        let src = stack
            .param(&name.replace("_l0", &format!("_l{l}")))
            .unwrap();
        one.set_param(&name, &src).unwrap();
    }
    one.set_inference_weights(stack.inference_weights())
        .unwrap();
    one
}

fn max_diff(a: impl IntoIterator<Item = f64>, b: &[f32]) -> (usize, f64) {
    a.into_iter()
        .zip(b)
        .map(|(a, &b)| (a - b as f64).abs())
        .enumerate()
        .fold((0, 0.0), |m, (i, d)| if d > m.1 { (i, d) } else { m })
}

#[test]
fn i8_forward_and_steps_match_a_simulation_of_the_same_quantization() {
    // F = 7 and H = 100 leave partial quads and a partial panel; B = 70 on two threads runs the
    // team over two row groups; F = H = 256 on one thread is a full-size panel block; the
    // bidirectional stack runs the reverse direction; two layers compose; F = 600 takes two
    // panel blocks (`KC_I8` = 512 rows).
    for (f, h, layers, bidir, threads) in [
        (5, 20, 2, false, 1),
        (7, 100, 1, false, 2),
        (16, 33, 2, true, 2),
        (256, 256, 1, false, 1),
        (600, 20, 1, false, 2),
    ] {
        let cfg = RnnConfig::new(CellKind::Lstm, f, h)
            .with_num_layers(layers)
            .with_bidirectional(bidir);
        let mut q8 = Stack::new(cfg.clone(), 3).unwrap().with_threads(threads);
        q8.set_inference_weights(WeightPrecision::I8).unwrap();
        assert_eq!(q8.inference_weights(), WeightPrecision::I8);
        let mut plain = q8.clone();
        plain.set_inference_weights(WeightPrecision::F32).unwrap();
        for (t, b) in [(1, 1), (9, 1), (9, 3), (4, 70)] {
            let what =
                format!("F={f} H={h} L={layers} bidir={bidir} threads={threads} T={t} B={b}");
            let x = Tensor::new("x", &[t, b, f], to_f32(&rand_vec(t * b * f, 11, 1.0))).unwrap();
            let got = infer(&q8, &x);
            // Layer by layer: each against the simulation; the stack equals the layers run
            // one after the other.
            let mut input = x.clone();
            for l in 0..layers {
                let one = layer(&q8, l, input.shape()[2]);
                let y = infer(&one, &input).y;
                let want = simulate(&one, &input, y.data());
                // The simulation differs only in f64 sums and exact activations (≤ 1e-6 each).
                let (i, d) = max_diff(want.iter().copied(), y.data());
                assert!(
                    d < 1e-5,
                    "{what} layer {l}: y[{i}] expected {} (simulated), got {}",
                    want[i],
                    y.data()[i]
                );
                input = y;
            }
            assert_bitwise(
                &format!("{what}: stack vs its layers"),
                input.data(),
                got.y.data(),
            );
            // The quantization shows, and stays small.
            let f32_out = infer(&plain, &x);
            let (i, d) = max_diff(f32_out.y.data().iter().map(|&v| v as f64), got.y.data());
            assert!(
                d > 1e-5 && d < 0.05,
                "{what}: i8 vs f32 weights differ by {d} at y[{i}] (expected in (1e-5, 0.05))"
            );

            // Streaming steps: the sequence call's values, bit for bit.
            if bidir {
                continue;
            }
            let mut state = q8.zero_state(b);
            let mut scratch = StepScratch::new(&q8, b).unwrap();
            let ys = got.y.data();
            for ti in 0..t {
                let x_t = &x.data()[ti * b * f..(ti + 1) * b * f];
                let g = q8.step(x_t, &mut state, &mut scratch).unwrap();
                assert_bitwise(
                    &format!("{what} step {ti}"),
                    &ys[ti * b * h..(ti + 1) * b * h],
                    g,
                );
            }
            let top = &state.h.data()[(layers - 1) * b * h..];
            assert_bitwise(
                &format!("{what} h_n"),
                &got.h_n.data()[(layers - 1) * b * h..],
                top,
            );
        }
    }
}

#[test]
fn i8_forward_passes_nan_through_to_its_row() {
    let cfg = RnnConfig::new(CellKind::Lstm, 6, 40);
    let mut s = Stack::new(cfg, 1).unwrap();
    s.set_inference_weights(WeightPrecision::I8).unwrap();
    let (t, b) = (3, 2);
    let mut v = to_f32(&rand_vec(t * b * 6, 4, 1.0));
    v[6 + 2] = f32::NAN; // t = 0, row 1
    let x = Tensor::new("x", &[t, b, 6], v).unwrap();
    let y = infer(&s, &x).y;
    for ti in 0..t {
        let (r0, r1) = (
            &y.data()[(ti * b) * 40..(ti * b + 1) * 40],
            &y.data()[(ti * b + 1) * 40..(ti * b + 2) * 40],
        );
        assert!(
            r0.iter().all(|v| v.is_finite()),
            "t {ti}: row 0 stays finite"
        );
        assert!(
            r1.iter().all(|v| v.is_nan()),
            "t {ti}: row 1 is NaN: {r1:?}"
        );
    }
}

#[test]
fn recording_forwards_and_training_ignore_i8_inference_weights() {
    check_recording_ignores(WeightPrecision::I8, infer);
}
