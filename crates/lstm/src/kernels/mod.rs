//! The fast path: matrix products (through the `gemm` crate) and fused pointwise gate kernels.
//! Every kernel has a plain reference beside it (`*_ref`) and a test comparing the two over odd
//! sizes.
//!
//! # Shapes legend (used on every buffer in this crate)
//! `T` time steps, `B` batch, `F` input features, `In` a layer's input features (F, or D·H_out
//! above the first layer), `H` hidden size, `P` projection size, `H_out` = P if projected else H,
//! `G` gate rows (4H LSTM `i,f,g,o`; 3H GRU `r,z,n`; H RNN), `L` layers, `D` directions.
//! All buffers are row-major; `[T, B, G]` means index `(t * B + b) * G + j`.

pub mod activation;
pub mod gemm;
pub mod gru_cell;
pub mod lstm_cell;
pub mod rnn_cell;

/// Tuning constants, in one place.
pub mod tuning {
    /// A product with fewer multiply-adds than this runs on one thread: below it the cost of
    /// waking the pool outweighs the split (measured order of magnitude on 2 cores).
    pub const PAR_MIN_MACS: usize = 1 << 21;
}

/// Deterministic test values in `[−scale, scale]`, shared by the kernel tests.
#[cfg(test)]
pub(crate) fn test_vals(n: usize, seed: u32, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((((i as u32) ^ seed).wrapping_mul(2654435761) % 2001) as f32 / 1000.0 - 1.0) * scale
        })
        .collect()
}
