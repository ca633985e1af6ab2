//! The release-built benchmark runner that `tools/bench_vs_pytorch.py` drives: times one
//! configuration in-process and prints one JSON line.
//!
//! ```text
//! bench_run infer T B H LAYERS REPS THREADS [CELL] [PREC]  forward over a sequence (F = H)
//! bench_run train T B H LAYERS REPS THREADS [CELL]   forward + backward (MSE on the outputs) + Adam
//! bench_run step  H REPS THREADS [PREC] [CELL]  one streaming step, B = 1 (REPS steps per sample)
//! bench_run gemm  M K N REPS THREADS            SGEMM of the same crate, for the peak figure (the
//!                                               faster of `matmul` and the crate's rayon split)
//! bench_run atb   M R N REPS THREADS            a weight gradient's product, dW[M, N] += Xᵀ·D over R rows
//! ```
//! `CELL`: `lstm` (default), `gru` or `rnn` (tanh); GFLOP/s count the cell's products (4H, 3H or
//! H gate columns).
//! `PREC`: `f32` (default), `f16` (the LSTM's inference weights rounded to f16) or `i8` (8-bit
//! weights and activations), `Stack::set_inference_weights`.
//! Output: `{"median_s": …, "min_s": …, "gflops": …, "peak_rss_kb": …}` (seconds per call).

use std::time::Instant;

use lstm::kernels::gemm::{matmul, Acc, MatMut, MatRef};
use lstm::optim::{Optimizer, OptimizerConfig};
use lstm::{CellKind, RnnConfig, Stack, StepScratch, Tape, Tensor, WeightPrecision};

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn vals(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect()
}

fn time(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm-up
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[t.len() / 2], t[0])
}

/// The cell argument at `i` (default LSTM).
fn cell_arg(a: &[String], i: usize) -> CellKind {
    match a.get(i).map(String::as_str) {
        None | Some("lstm") => CellKind::Lstm,
        Some("gru") => CellKind::Gru,
        Some("rnn") => CellKind::RnnTanh,
        Some(other) => panic!("unknown cell {other}: lstm, gru or rnn"),
    }
}

/// Gate columns per hidden unit: 4 (LSTM), 3 (GRU), 1 (RNN).
fn gates(cell: CellKind) -> usize {
    match cell {
        CellKind::Lstm => 4,
        CellKind::Gru => 3,
        _ => 1,
    }
}

/// The weight precision argument at `i` (default f32).
fn precision(a: &[String], i: usize) -> WeightPrecision {
    match a.get(i).map(String::as_str) {
        None | Some("f32") => WeightPrecision::F32,
        Some("f16") => WeightPrecision::F16,
        Some("i8") => WeightPrecision::I8,
        Some(other) => panic!("unknown precision {other}: f32, f16 or i8"),
    }
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let n = |i: usize| -> usize {
        a.get(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("argument {i} missing; see the module docs"))
    };
    let (median, min, flops) = match a.first().map(String::as_str) {
        Some("infer") | Some("train") => {
            let train = a[0] == "train";
            let (t, b, h, layers, reps, threads) = (n(1), n(2), n(3), n(4), n(5), n(6));
            let cell = cell_arg(&a, 7);
            let mut stack = Stack::new(RnnConfig::new(cell, h, h).with_num_layers(layers), 0)
                .unwrap()
                .with_threads(threads);
            stack.set_inference_weights(precision(&a, 8)).unwrap();
            let x = Tensor::new("x", &[t, b, h], vals(t * b * h)).unwrap();
            let target = vals(t * b * h);
            // Inference keeps nothing for backward (PyTorch's side runs under no_grad).
            let mut tape = if train {
                Tape::default()
            } else {
                Tape::inference()
            };
            // The input is data (PyTorch's x has no requires_grad either).
            tape.set_input_grad(false);
            let mut grads = stack.zero_grads();
            let mut opt = Optimizer::new(OptimizerConfig::adam(), &[stack.params().len()])
                .with_threads(threads);
            // FLOPs of the forward products: T·B·(F+H)·G·2 per layer (G = 4H LSTM, 3H GRU,
            // H RNN); training ≈ 3× that.
            let fwd = (t * b * 2 * h * gates(cell) * h * 2 * layers) as f64;
            let (m, mn) = time(reps, || {
                let out = stack.forward(&x, None, None, &mut tape).unwrap();
                if train {
                    let scale = 2.0 / out.y.data().len() as f32;
                    let d: Vec<f32> = out
                        .y
                        .data()
                        .iter()
                        .zip(&target)
                        .map(|(y, t)| (y - t) * scale)
                        .collect();
                    let d_y = Tensor::new("d_y", out.y.shape(), d).unwrap();
                    grads.zero();
                    stack
                        .backward(&mut tape, &mut grads, &d_y, None, None)
                        .unwrap();
                    opt.step(&mut [stack.params_mut()], &[grads.data()], 1e-3);
                }
            });
            (m, mn, if train { 3.0 * fwd } else { fwd })
        }
        Some("step") => {
            let (h, reps, threads, cell) = (n(1), n(2), n(3), cell_arg(&a, 5));
            let mut stack = Stack::new(RnnConfig::new(cell, h, h), 0)
                .unwrap()
                .with_threads(threads);
            stack.set_inference_weights(precision(&a, 4)).unwrap();
            let mut state = stack.zero_state(1);
            let mut scratch = StepScratch::new(&stack, 1).unwrap();
            let x = vals(h);
            let (m, mn) = time(reps, || {
                for _ in 0..100 {
                    std::hint::black_box(stack.step(&x, &mut state, &mut scratch).unwrap()[0]);
                }
            });
            (m / 100.0, mn / 100.0, (2 * h * gates(cell) * h * 2) as f64)
        }
        Some("gemm") => {
            let (m, k, nn, reps, threads) = (n(1), n(2), n(3), n(4), n(5));
            let (x, w) = (vals(m * k), vals(k * nn));
            let mut y = vec![0.0f32; m * nn];
            // Two ways over the same crate, the faster one counts: `matmul` (the library's
            // products: one single-thread GEMM-crate product per team member) and the GEMM
            // crate's own parallel split on its rayon pool.
            let ours = time(reps, || {
                matmul(
                    MatMut::new(&mut y, m, nn),
                    MatRef::new(&x, m, k),
                    MatRef::new(&w, k, nn),
                    Acc::Overwrite,
                    threads,
                )
            });
            let par = if threads > 1 {
                gemm::Parallelism::Rayon(threads)
            } else {
                gemm::Parallelism::None
            };
            let crate_own = time(reps, || {
                // SAFETY: `y` is [m, nn], `x` [m, k], `w` [k, nn], all row-major and distinct.
                unsafe {
                    gemm::gemm(
                        m,
                        nn,
                        k,
                        y.as_mut_ptr(),
                        1,
                        nn as isize,
                        false,
                        x.as_ptr(),
                        1,
                        k as isize,
                        w.as_ptr(),
                        1,
                        nn as isize,
                        1.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        par,
                    )
                }
            });
            let (md, mn) = if crate_own.0 < ours.0 {
                crate_own
            } else {
                ours
            };
            (md, mn, (2 * m * k * nn) as f64)
        }
        Some("atb") => {
            // A weight gradient's product: `dW[M, N] += Xᵀ·D` over R rows (X [R, M], D [R, N]).
            let (m, r, nn, reps, threads) = (n(1), n(2), n(3), n(4), n(5));
            let (x, d) = (vals(r * m), vals(r * nn));
            let mut y = vec![0.0f32; m * nn];
            let (md, mn) = time(reps, || {
                matmul(
                    MatMut::new(&mut y, m, nn),
                    MatRef::new(&x, r, m).t(),
                    MatRef::new(&d, r, nn),
                    Acc::Add,
                    threads,
                )
            });
            (md, mn, (2 * m * r * nn) as f64)
        }
        _ => panic!("usage: bench_run infer|train|step|gemm|atb …; see the module docs"),
    };
    println!(
        "{{\"median_s\": {median:.9}, \"min_s\": {min:.9}, \"gflops\": {:.2}, \"peak_rss_kb\": {}}}",
        flops / median / 1e9,
        peak_rss_kb()
    );
}
