//! The fast path: matrix products (through the `gemm` crate) and fused pointwise gate kernels.
//! Every kernel has a plain reference beside it (`*_ref`) and a test comparing the two over odd
//! sizes.
//!
//! # Shapes legend (used on every buffer in this crate)
//! `T` time steps, `B` batch, `F` input features, `In` a layer's input features (F, or D·H_out
//! above the first layer), `H` hidden size, `P` projection size, `H_out` = P if projected else H,
//! `G` gate rows (4H LSTM `i,f,g,o`; 3H GRU `r,z,n`; H RNN), `L` layers, `D` directions.
//! All buffers are row-major; `[T, B, G]` means index `(t * B + b) * G + j`.

/// Defines `pub fn $name(isa: Isa, args…)` that runs `$body(args…)` compiled for AVX-512,
/// AVX2+FMA or the portable baseline (the requested variant if this CPU has it, else portable),
/// and `pub fn $auto(args…)` that runs the best variant this CPU has. `$body` is an
/// `#[inline(always)]` function, so each variant is compiled with its own target features. It
/// takes `<const FMA: bool>`: `true` in the AVX variants, whose CPUs have fused multiply-adds
/// (the activations then use them, `activation::madd`), `false` in the portable one.
macro_rules! dispatch {
    ($(#[$adoc:meta])* pub fn $auto:ident; $(#[$doc:meta])* pub fn $name:ident = $body:ident($($arg:ident: $ty:ty),* $(,)?)) => {
        $(#[$adoc])*
        #[allow(clippy::too_many_arguments)]
        pub fn $auto($($arg: $ty),*) {
            $name($crate::kernels::Isa::detect(), $($arg),*)
        }

        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        pub fn $name(isa: $crate::kernels::Isa, $($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx512($($arg: $ty),*) {
                $body::<true>($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx2($($arg: $ty),*) {
                $body::<true>($($arg),*)
            }
            match isa {
                // SAFETY: `available` checked that this CPU has the variant's features.
                #[cfg(target_arch = "x86_64")]
                $crate::kernels::Isa::Avx512 if isa.available() => unsafe { avx512($($arg),*) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                $crate::kernels::Isa::Avx2 if isa.available() => unsafe { avx2($($arg),*) },
                _ => $body::<false>($($arg),*),
            }
        }
    };
}

/// `$body(args…)`, an `#[inline(always)] unsafe fn`, compiled for AVX-512, AVX2+FMA or the
/// portable baseline and run in the best variant this CPU has: [`dispatch!`] for the kernels
/// that take raw places (and so are `unsafe` and take no `Isa`). Use it as the tail of the
/// calling `unsafe fn`, whose safety contract covers `$body`'s.
macro_rules! run_best_isa {
    ($body:ident($($arg:ident: $ty:ty),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) {
                $body::<true>($($arg),*)
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                $body::<true>($($arg),*)
            }
            match $crate::kernels::Isa::detect() {
                $crate::kernels::Isa::Avx512 => return avx512($($arg),*),
                $crate::kernels::Isa::Avx2 => return avx2($($arg),*),
                $crate::kernels::Isa::Portable => {}
            }
        }
        $body::<false>($($arg),*)
    }};
}

pub mod activation;
pub mod aligned;
pub mod denormal;
pub mod gemm;
pub mod gemv;
pub mod gru_cell;
pub mod int8;
pub mod lstm_cell;
pub mod packed;
pub mod panel_matmul;
pub mod panel_queue;
pub mod rnn_cell;
pub mod team;

/// Which compiled variant the fused kernels run (for tests and benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F (+VL, AVX2, FMA).
    Avx512,
    /// AVX2 + FMA.
    Avx2,
    /// The baseline target (SSE2 on x86-64).
    Portable,
}

impl Isa {
    /// The best variant this CPU runs.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Whether this CPU can run the variant.
    pub fn available(self) -> bool {
        match self {
            Isa::Portable => true,
            Isa::Avx2 => matches!(Isa::detect(), Isa::Avx2 | Isa::Avx512),
            Isa::Avx512 => Isa::detect() == Isa::Avx512,
        }
    }
}

/// Tuning constants, in one place.
pub mod tuning {
    /// A product with fewer multiply-adds than this runs on one thread: below it the cost of
    /// waking the pool outweighs the split (measured order of magnitude on 2 cores).
    pub const PAR_MIN_MACS: usize = 1 << 21;

    /// A per-step product whose packed matrix holds at least this many f32 values (512 KiB, a
    /// quarter of a core's L2 here) runs on the team however few its multiply-adds: each member
    /// keeps its share of the matrix in its own L2 from step to step. Measured on B = 1: GRU
    /// H = 512 (3 MiB) 2.8× faster on two threads over a sequence; a GRU streaming step at
    /// H = 256 (two 0.75 MiB products) 1.40× (18 → 12 µs), the same sequence even; GRU H = 128
    /// (192 KiB) and B = 16 H = 128 ran slower on two.
    pub const TEAM_MIN_WEIGHTS: usize = 1 << 17;

    /// f16 weights ([`crate::WeightPrecision::F16`]) stay packed as f16 only when each thread's
    /// share of them in f32 would exceed this many bytes (it would not stay in that core's L2);
    /// below it they are kept as f32 holding the rounded values, which gives the same results
    /// bit for bit and runs faster: widening f16 costs more than reading f32 from L2 (one-row
    /// tiles: ≈ 25 weights/ns for f16 wherever it sits, 28–30 for f32 from L2, 52–62 from L1).
    pub const F16_PANELS_ABOVE: usize = 1 << 20;
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
