//! Times the fused LSTM forward kernel alone, once per compiled variant (portable, AVX2+FMA,
//! AVX-512), at B = 64, H = 256: `cargo run --release -p lstm --example kernel_probe`.

use lstm::kernels::lstm_cell::lstm_cell_forward_isa;
use lstm::kernels::Isa;
use std::time::Instant;
fn main() {
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
