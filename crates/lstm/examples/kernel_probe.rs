//! Times kernels alone: `cargo run --release -p lstm --example kernel_probe`. The weight-gradient
//! product with `Xᵀ` as a view and as a copy; one-row tiles over a streaming step's share of
//! panels (GB/s); the 6-row packed tile (GFLOP/s, one core); the fused LSTM forward kernel once
//! per compiled variant (portable, AVX2+FMA, AVX-512) at B = 64, H = 256. `kernel_probe i8`: the
//! 8-bit tile (each variant) over a streaming step's share of panels. `kernel_probe peak`: the
//! machine's own ceiling for f32 multiply-adds, independent of any GEMM: AVX-512 fused
//! multiply-adds on 12 independent sums (nothing loaded), on one core and on every core at once,
//! next to the clock (a chain of dependent integer adds, one per cycle).

use lstm::kernels::lstm_cell::lstm_cell_forward_isa;
use lstm::kernels::Isa;
use std::time::Instant;
fn main() {
    if std::env::args().nth(1).as_deref() == Some("peak") {
        peak_probe();
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("rows") {
        rows_probe();
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("row") {
        row_probe();
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("i8") {
        i8_probe();
        return;
    }
    weight_grad_probe();
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

/// The packed tile alone, cache-hot: GFLOP/s of one core from K = 64 (the panel in L1) to
/// K = 1024 (in L2). The panel sits on a cache line, as packed panels do: from a `Vec` (16 bytes
/// past one) the tile read 118 GFLOP/s where it reads 160 aligned.
#[allow(dead_code)]
fn tile_probe() {
    use lstm::kernels::packed::{tile, Aligned, MAX_ROWS, PANEL};
    for k in [64usize, 128, 256, 1024] {
        let a: Vec<f32> = (0..MAX_ROWS * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let mut p = Aligned::default();
        p.fill_from(
            &(0..k * PANEL)
                .map(|i| (i % 5) as f32 * 0.1)
                .collect::<Vec<f32>>(),
            |v| v,
        );
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
    use lstm::kernels::packed::{tile, to_f16, Aligned, PANEL};
    // The same weights in f16 (a step with `WeightPrecision::F16`), in L2 (a streaming step's
    // share at H = 256 and twice that) and in L1; panels on a cache line (as packed) and 16 bytes
    // past one (as a `Vec` from the system allocator would put them).
    for (k, np) in [(512usize, 8usize), (1024, 8), (64, 2), (160, 1)] {
        let a: Vec<f32> = (0..k).map(|i| (i % 7) as f32 * 0.1).collect();
        let src: Vec<f32> = (0..np * k * PANEL + 8)
            .map(|i| (i % 5) as f32 * 0.1)
            .collect();
        let (mut p, mut p16) = (Aligned::default(), Aligned::default());
        p.fill_from(&src, |v| v);
        to_f16(&mut p16, &src);
        let mut out = vec![0.0f32; PANEL];
        let reps = 5_000_000 / (k * np);
        for (what, off) in [("aligned", 0), ("16 B past", 16)] {
            let (p, p16) = (&p[off / 4..], &p16[off / 2..]);
            let t = Instant::now();
            for _ in 0..reps {
                for pi in 0..np {
                    tile(&mut out, &a, k, k, &p[pi * k * PANEL..], 1, false);
                    std::hint::black_box(&mut out);
                }
            }
            let s32 = t.elapsed().as_secs_f64() / reps as f64;
            let t = Instant::now();
            for _ in 0..reps {
                for pi in 0..np {
                    tile(&mut out, &a, k, k, &p16[pi * k * PANEL..], 1, false);
                    std::hint::black_box(&mut out);
                }
            }
            let s16 = t.elapsed().as_secs_f64() / reps as f64;
            let w = (np * k * PANEL) as f64;
            println!(
                "one-row tiles over {} K weights, {what}: f32 {:.2} µs ({:.1} weights/ns), f16 {:.2} µs ({:.1} weights/ns)",
                np * k * PANEL / 1024,
                s32 * 1e6,
                w / s32 / 1e9,
                s16 * 1e6,
                w / s16 / 1e9
            );
        }
    }
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

/// The weight-gradient product `Xᵀ·dG` (K = T·B = 6400) with `Xᵀ` as a strided view and as a
/// transposed copy, 2 threads: which layout the GEMM crate is fast with.
#[allow(dead_code)]
fn weight_grad_probe() {
    use lstm::kernels::gemm::{matmul, Acc, MatMut, MatRef};
    let (k, m, n) = (6400usize, 256usize, 1024usize);
    let x: Vec<f32> = (0..k * m).map(|i| (i % 13) as f32 * 0.01).collect();
    let dg: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.01).collect();
    let mut xt = vec![0.0f32; m * k];
    let mut dst = vec![0.0f32; m * n];
    for round in 0..3 {
        let t = Instant::now();
        for _ in 0..5 {
            matmul(
                MatMut::new(&mut dst, m, n),
                MatRef::new(&x, k, m).t(),
                MatRef::new(&dg, k, n),
                Acc::Add,
                2,
            );
        }
        let view = t.elapsed().as_secs_f64() / 5.0;
        let t = Instant::now();
        for _ in 0..5 {
            for r in 0..k {
                for c in 0..m {
                    xt[c * k + r] = x[r * m + c];
                }
            }
            matmul(
                MatMut::new(&mut dst, m, n),
                MatRef::new(&xt, m, k),
                MatRef::new(&dg, k, n),
                Acc::Add,
                2,
            );
        }
        let copy = t.elapsed().as_secs_f64() / 5.0;
        let f = (2 * k * m * n) as f64;
        println!("round {round}: Xᵀ view {:.2} ms ({:.0} GFLOP/s), transposed copy + product {:.2} ms ({:.0})", view * 1e3, f / view / 1e9, copy * 1e3, f / copy / 1e9);
    }
}

#[allow(dead_code)]
fn rows_probe() {
    use lstm::kernels::packed::{tile_isa, PANEL};
    use lstm::kernels::Isa;
    let (k, np) = (64usize, 2usize);
    let a: Vec<f32> = (0..6 * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let p: Vec<f32> = (0..np * k * PANEL).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut out = vec![0.0f32; 6 * PANEL];
    let reps = 200_000;
    for rows in 1..=6 {
        for pf in [true, false] {
            let t = Instant::now();
            for _ in 0..reps {
                for pi in 0..np {
                    tile_isa(
                        Isa::Avx512,
                        &mut out,
                        &a,
                        k,
                        k,
                        &p[pi * k * PANEL..],
                        rows,
                        false,
                        pf,
                    );
                    std::hint::black_box(&mut out);
                }
            }
            let s = t.elapsed().as_secs_f64() / reps as f64;
            println!(
                "rows {rows} pf {pf}: {:.3} µs, {:.1} lanes/ns",
                s * 1e6,
                (rows * np * k * PANEL) as f64 / s / 1e9
            );
        }
    }
}

/// The 8-bit tile over panels in L2 (a streaming step's share at H = 256 and 512 with 8-bit
/// weights) and in L1, one row and six: weights per ns, VNNI and portable.
fn i8_probe() {
    use lstm::kernels::int8::{tile_i8_variant, I8Isa, QUAD};
    use lstm::kernels::packed::{Aligned, PANEL};
    for (k, np) in [(512usize, 8usize), (1024, 16), (128, 2)] {
        let quads = k / QUAD;
        let mut p = Aligned::<i8>::default();
        p.zeroed(np * k * PANEL);
        p.iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = ((i * 37) % 255) as i8);
        let a: Vec<u8> = (0..6 * k).map(|i| (i * 53 % 256) as u8).collect();
        let mut out = vec![0i32; 6 * PANEL];
        for rows in [1, 6] {
            for isa in [I8Isa::Vnni512, I8Isa::AvxVnni, I8Isa::Avx2, I8Isa::Portable] {
                let reps = 20_000_000 / (k * np);
                let t = Instant::now();
                for _ in 0..reps {
                    for j in 0..np {
                        let pan = &p[j * k * PANEL..(j + 1) * k * PANEL];
                        tile_i8_variant(isa, &mut out, &a, k, quads, pan, rows, false);
                    }
                    std::hint::black_box(&mut out);
                }
                let s = t.elapsed().as_secs_f64();
                let w = (reps * np * k * PANEL) as f64;
                println!(
                    "i8 tile {} KiB of panels, {rows} row(s), {isa:?}: {:.1} weights/ns",
                    np * k * PANEL / 1024,
                    w / s / 1e9
                );
            }
        }
    }
}

/// The f32 multiply-add ceiling (see the module docs): GFLOP/s on one core, then on
/// `available_parallelism` cores at once, and each core's clock in GHz.
fn peak_probe() {
    #[cfg(not(target_arch = "x86_64"))]
    println!("peak: measured on x86-64 only (AVX-512)");
    #[cfg(target_arch = "x86_64")]
    {
        if Isa::detect() != Isa::Avx512 {
            println!("peak: no AVX-512 on this CPU");
            return;
        }
        fn one() -> (f64, f64) {
            (clock_ghz(), fma_gflops())
        }
        let (ghz, gf) = one();
        println!("one core: {gf:.1} GFLOP/s of AVX-512 FMA, clock {ghz:.2} GHz");
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let all: Vec<(f64, f64)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..n).map(|_| s.spawn(one)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let total: f64 = all.iter().map(|x| x.1).sum();
        let clocks: Vec<String> = all.iter().map(|x| format!("{:.2}", x.0)).collect();
        println!(
            "{n} cores at once: {total:.1} GFLOP/s in all, clocks {} GHz",
            clocks.join(" / ")
        );
    }
}

/// GFLOP/s of one core running AVX-512 fused multiply-adds on 12 independent sums.
#[cfg(target_arch = "x86_64")]
fn fma_gflops() -> f64 {
    #[target_feature(enable = "avx512f")]
    unsafe fn run(iters: u64) -> f32 {
        use std::arch::x86_64::*;
        let (x, y) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut acc = [_mm512_set1_ps(1.0); 12];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_fmadd_ps(*v, x, y);
            }
        }
        acc.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
    }
    let iters = 50_000_000u64;
    // SAFETY: the caller checked AVX-512F.
    unsafe { std::hint::black_box(run(iters / 10)) };
    let t = Instant::now();
    // SAFETY: as above.
    std::hint::black_box(unsafe { run(iters) });
    (iters * 12 * 16 * 2) as f64 / t.elapsed().as_secs_f64() / 1e9
}

/// This core's clock in GHz: a chain of dependent integer adds (one per cycle).
#[cfg(target_arch = "x86_64")]
fn clock_ghz() -> f64 {
    let n = 400_000_000u64;
    let t = Instant::now();
    let mut x = 0u64;
    for _ in 0..n / 8 {
        // SAFETY: register arithmetic only.
        unsafe {
            std::arch::asm!(
                "add {0}, 1", "add {0}, 1", "add {0}, 1", "add {0}, 1",
                "add {0}, 1", "add {0}, 1", "add {0}, 1", "add {0}, 1",
                inout(reg) x,
                options(nomem, nostack)
            );
        }
    }
    std::hint::black_box(x);
    n as f64 / t.elapsed().as_secs_f64() / 1e9
}
