//! f16 inference weights (`Stack::set_inference_weights(WeightPrecision::F16)`): a forward
//! without grad, and a streaming step, equal bit for bit the f32 forward of a stack whose weights
//! were rounded to f16 (the f16 tile widens each weight exactly and sums in the f32 tile's
//! order); recording forwards ignore the setting; other stacks refuse it.

mod common;

use common::{assert_bitwise, check_recording_ignores, infer, rand_vec, to_f32};
use lstm::kernels::packed::round_f16;
use lstm::{CellKind, RnnConfig, Stack, StepScratch, Tensor, WeightPrecision};

/// `stack` with every weight (not the biases) rounded to f16, f32 precision.
fn rounded(stack: &Stack) -> Stack {
    let mut r = stack.clone();
    r.set_inference_weights(WeightPrecision::F32).unwrap();
    for name in stack.param_names() {
        if name.starts_with("weight_") {
            let p = stack.param(&name).unwrap();
            let v: Vec<f32> = p.data().iter().map(|&w| round_f16(w)).collect();
            r.set_param(&name, &Tensor::new(&name, p.shape(), v).unwrap())
                .unwrap();
        }
    }
    r
}

#[test]
fn f16_forward_and_steps_equal_the_f32_forward_of_the_rounded_weights() {
    // B = 1 over a sequence takes the input side from one product before the loop; B > 1 and
    // single steps sum it in the loop; B = 70 at H = 100 with two threads runs the team. F = H =
    // 256 on one thread keeps the weights as f16 panels (2 MiB in f32); the smaller ones keep
    // the rounded values in f32 panels: both must give the same bits.
    for (f, h, layers, threads) in [
        (5, 20, 2, 1),
        (7, 100, 1, 2),
        (16, 33, 2, 2),
        (256, 256, 1, 1),
    ] {
        let cfg = RnnConfig::new(CellKind::Lstm, f, h).with_num_layers(layers);
        let mut half = Stack::new(cfg.clone(), 3).unwrap().with_threads(threads);
        half.set_inference_weights(WeightPrecision::F16).unwrap();
        assert_eq!(half.inference_weights(), WeightPrecision::F16);
        let reference = rounded(&half);
        let plain = {
            let mut p = half.clone();
            p.set_inference_weights(WeightPrecision::F32).unwrap();
            p
        };
        for (t, b) in [(1, 1), (9, 1), (9, 3), (4, 70)] {
            let what = format!("F={f} H={h} L={layers} threads={threads} T={t} B={b}");
            let x = Tensor::new("x", &[t, b, f], to_f32(&rand_vec(t * b * f, 11, 1.0))).unwrap();
            let (got, want) = (infer(&half, &x), infer(&reference, &x));
            assert_bitwise(&format!("{what} y"), want.y.data(), got.y.data());
            assert_bitwise(&format!("{what} h_n"), want.h_n.data(), got.h_n.data());
            assert_bitwise(
                &format!("{what} c_n"),
                want.c_n.as_ref().unwrap().data(),
                got.c_n.as_ref().unwrap().data(),
            );
            // The rounding shows, and stays small: |w| < 1/√H here, so each weight moves by
            // at most 2⁻¹² of that.
            let f32_out = infer(&plain, &x);
            let diff = f32_out
                .y
                .data()
                .iter()
                .zip(got.y.data())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                diff > 0.0 && diff < 1e-3,
                "{what}: f16 vs f32 weights differ by {diff} (expected in (0, 1e-3))"
            );

            // Streaming steps: the same values, step by step.
            let mut state = half.zero_state(b);
            let mut ref_state = reference.zero_state(b);
            let mut scratch = StepScratch::new(&half, b).unwrap();
            let mut ref_scratch = StepScratch::new(&reference, b).unwrap();
            for ti in 0..t {
                let x_t = &x.data()[ti * b * f..(ti + 1) * b * f];
                let g = half.step(x_t, &mut state, &mut scratch).unwrap().to_vec();
                let w = reference
                    .step(x_t, &mut ref_state, &mut ref_scratch)
                    .unwrap();
                assert_bitwise(&format!("{what} step {ti}"), w, &g);
            }
        }
    }
}

#[test]
fn recording_forwards_and_training_ignore_f16_inference_weights() {
    check_recording_ignores(WeightPrecision::F16, |s, x| infer(&rounded(s), x));
}

#[test]
fn f16_and_i8_inference_weights_are_refused_where_not_implemented() {
    for cfg in [
        RnnConfig::new(CellKind::Gru, 4, 8),
        RnnConfig::new(CellKind::RnnTanh, 4, 8),
        RnnConfig::new(CellKind::Lstm, 4, 8).with_proj_size(3),
    ] {
        for p in [WeightPrecision::F16, WeightPrecision::I8] {
            let mut s = Stack::new(cfg.clone(), 0).unwrap();
            let err = s
                .set_inference_weights(p)
                .expect_err(&cfg.describe())
                .to_string();
            assert!(
                err.contains(p.name()) && err.contains("without projection"),
                "{} ({p:?}): unexpected message {err}",
                cfg.describe()
            );
            assert_eq!(s.inference_weights(), WeightPrecision::F32);
            s.set_inference_weights(WeightPrecision::F32).unwrap();
        }
    }
}
