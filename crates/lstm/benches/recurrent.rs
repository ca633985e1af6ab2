//! Criterion benches of the recurrent engine (issue targets come later; these report the
//! structure's speed today):
//! - `forward`: LSTM, T = 100, B = 64, F = 256, H ∈ {256, 512} — sequences/s;
//! - `forward_backward`: the same shapes, forward + backward through time — sequences/s;
//! - `step`: streaming step latency, B = 1, F = H = 256 — time per step.
//!
//! Run: `cargo bench -p lstm --bench recurrent` (threads: all cores; `LSTM_THREADS=N` to pin).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lstm::{CellKind, RnnConfig, Stack, StepScratch, Tape, Tensor};

const T: usize = 100;
const B: usize = 64;
const F: usize = 256;

fn threads() -> usize {
    std::env::var("LSTM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn input(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect()
}

fn stack(h: usize) -> Stack {
    Stack::new(RnnConfig::new(CellKind::Lstm, F, h), 0)
        .unwrap()
        .with_threads(threads())
}

fn forward(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(6))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(B as u64));
    for h in [256, 512] {
        let s = stack(h);
        let x = Tensor::new("x", &[T, B, F], input(T * B * F)).unwrap();
        let mut tape = Tape::default();
        g.bench_with_input(
            BenchmarkId::new("lstm_T100_B64_F256", format!("H{h}")),
            &h,
            |bch, _| bch.iter(|| s.forward(&x, None, None, &mut tape).unwrap()),
        );
    }
    g.finish();
}

fn forward_backward(c: &mut Criterion) {
    let mut g = c.benchmark_group("forward_backward");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(B as u64));
    for h in [256, 512] {
        let s = stack(h);
        let x = Tensor::new("x", &[T, B, F], input(T * B * F)).unwrap();
        let d_y = Tensor::new("d_y", &[T, B, h], input(T * B * h)).unwrap();
        let mut tape = Tape::default();
        let mut grads = s.zero_grads();
        g.bench_with_input(
            BenchmarkId::new("lstm_T100_B64_F256", format!("H{h}")),
            &h,
            |bch, _| {
                bch.iter(|| {
                    s.forward(&x, None, None, &mut tape).unwrap();
                    s.backward(&mut tape, &mut grads, &d_y, None, None).unwrap()
                })
            },
        );
    }
    g.finish();
}

fn step(c: &mut Criterion) {
    let mut g = c.benchmark_group("step");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    let h = 256;
    let s = Stack::new(RnnConfig::new(CellKind::Lstm, h, h), 0)
        .unwrap()
        .with_threads(threads());
    let mut state = s.zero_state(1);
    let mut scratch = StepScratch::new(&s, 1).unwrap();
    let x = input(h);
    g.throughput(Throughput::Elements(1));
    g.bench_function("lstm_B1_H256", |bch| {
        bch.iter(|| s.step(&x, &mut state, &mut scratch).unwrap()[0])
    });
    g.finish();
}

criterion_group!(benches, forward, forward_backward, step);
criterion_main!(benches);
