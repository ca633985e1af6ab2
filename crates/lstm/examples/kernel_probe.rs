//! Times the fused LSTM forward kernel alone, once per compiled variant (portable, AVX2+FMA,
//! AVX-512), at B = 64, H = 256: `cargo run --release -p lstm --example kernel_probe`.

use lstm::kernels::lstm_cell::lstm_cell_forward_isa;
use lstm::kernels::Isa;
use std::time::Instant;
fn main() {
    row_probe();
    tile_probe();
    let (b, h) = (64, 256);
    let pre: Vec<f32> = (0..b * 4 * h)
        .map(|i| ((i * 7919 % 1000) as f32 / 250.0) - 2.0)
        .collect();
    let cp = vec![0.5f32; b * h];
    let act = vec![true; b];
    for isa in [Isa::Portable, Isa::Avx2, Isa::Avx512] {
        let (mut g, mut c, mut r) = (pre.clone(), vec![0.0; b * h], vec![0.0; b * h]);
        let t = Instant::now();
        for _ in 0..200 {
            g.copy_from_slice(&pre);
            lstm_cell_forward_isa(isa, &mut g, &mut c, &mut r, &cp, &act, h);
        }
        println!(
            "{isa:?}: {:.1} µs per call (B=64 H=256)",
            t.elapsed().as_secs_f64() / 200.0 * 1e6
        );
    }
}

/// The packed tile alone, cache-hot: GFLOP/s of one core at K = 256 and K = 1024.
#[allow(dead_code)]
fn tile_probe() {
    use lstm::kernels::packed::{tile, MAX_ROWS, PANEL};
    for k in [256usize, 1024] {
        let a: Vec<f32> = (0..MAX_ROWS * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let p: Vec<f32> = (0..k * PANEL).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut out = vec![0.0f32; MAX_ROWS * PANEL];
        let reps = 20000;
        let t = Instant::now();
        for _ in 0..reps {
            tile(&mut out, &a, k, k, &p, MAX_ROWS, false);
            std::hint::black_box(&mut out);
        }
        let s = t.elapsed().as_secs_f64();
        let flops = (2 * MAX_ROWS * k * PANEL * reps) as f64;
        println!("tile K={k}: {:.1} GFLOP/s (one core)", flops / s / 1e9);
    }
}

/// One-row tiles over 1 MiB of panels (a streaming step's share at H = 256), cache-warm.
#[allow(dead_code)]
fn row_probe() {
    use lstm::kernels::packed::{tile, PANEL};
    let (k, np) = (512usize, 8usize);
    let a: Vec<f32> = (0..k).map(|i| (i % 7) as f32 * 0.1).collect();
    let p: Vec<f32> = (0..np * k * PANEL).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut out = vec![0.0f32; PANEL];
    let reps = 5000;
    let t = Instant::now();
    for _ in 0..reps {
        for pi in 0..np {
            tile(&mut out, &a, k, k, &p[pi * k * PANEL..], 1, false);
            std::hint::black_box(&mut out);
        }
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "one-row tiles over {} KiB: {:.2} µs, {:.0} GB/s",
        np * k * PANEL * 4 / 1024,
        s * 1e6,
        (np * k * PANEL * 4) as f64 / s / 1e9
    );
}
