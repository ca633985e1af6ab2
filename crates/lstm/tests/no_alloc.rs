//! Nothing is allocated inside a time loop: a counting global allocator (per thread) shows that
//! a streaming step allocates nothing, and that a forward or backward pass allocates the same
//! number of times for T = 64 and T = 256 (so none of it is per step; both lengths put the
//! after-loop products, `T·B` rows, on the same path of the GEMM crate).
//!
//! Known gap: the `gemm` crate (0.19) allocates a packing buffer inside each call for products
//! with more than one row, so at B > 1 each per-step product allocates inside the crate. The
//! sequence test therefore runs at B = 1 (the crate's matrix–vector path, which does not allocate)
//! so that it checks this crate's own loops exactly; removing the crate-internal allocation is
//! performance work (a GEMM that takes a caller-provided workspace).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use lstm::{CellKind, RnnConfig, Stack, StepScratch, Tape, Tensor, WeightPrecision};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts calls on the current thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.with(|a| a.get());
    let r = f();
    (ALLOCS.with(|a| a.get()) - before, r)
}

#[test]
fn streaming_step_allocates_nothing() {
    for cfg in [
        RnnConfig::new(CellKind::Lstm, 16, 32).with_num_layers(2),
        RnnConfig::new(CellKind::Lstm, 16, 32).with_proj_size(8),
        RnnConfig::new(CellKind::Gru, 16, 32),
        RnnConfig::new(CellKind::RnnTanh, 16, 32),
    ] {
        for precision in [
            WeightPrecision::F32,
            WeightPrecision::F16,
            WeightPrecision::I8,
        ] {
            let mut s = Stack::new(cfg.clone(), 0).unwrap().with_threads(1);
            if s.set_inference_weights(precision).is_err() {
                continue; // f16 and i8 weights: the LSTM without projection only
            }
            let mut state = s.zero_state(1);
            let mut scratch = StepScratch::new(&s, 1).unwrap();
            let x = vec![0.5f32; 16];
            let (n, _) = allocs(|| {
                for _ in 0..50 {
                    s.step(&x, &mut state, &mut scratch).unwrap();
                }
            });
            assert_eq!(
                n,
                0,
                "{} ({precision:?} weights): 50 steps allocated {n} times",
                cfg.describe()
            );
        }
    }
}

#[test]
fn forward_and_backward_allocations_do_not_grow_with_t() {
    for cfg in [
        RnnConfig::new(CellKind::Lstm, 8, 16)
            .with_num_layers(2)
            .with_bidirectional(true),
        RnnConfig::new(CellKind::Lstm, 8, 16).with_proj_size(4),
        RnnConfig::new(CellKind::Gru, 8, 16),
        RnnConfig::new(CellKind::RnnRelu, 8, 16),
    ] {
        // Two threads: the team jobs and the per-step products are inside the count.
        let s = Stack::new(cfg.clone(), 0).unwrap().with_threads(2);
        let mut tape = Tape::default();
        let mut grads = s.zero_grads();
        let mut count = |t: usize, b: usize| {
            let x = Tensor::zeros(&[t, b, 8]);
            let d_y = Tensor::zeros(&[t, b, cfg.output_size()]);
            // Warm the tape for this T, then count a second identical pass.
            s.forward(&x, None, None, &mut tape).unwrap();
            s.backward(&mut tape, &mut grads, &d_y, None, None).unwrap();
            let (f, _) = allocs(|| s.forward(&x, None, None, &mut tape).unwrap());
            let (b, _) = allocs(|| s.backward(&mut tape, &mut grads, &d_y, None, None).unwrap());
            (f, b)
        };
        // B = 1 and B = 70 (several row tiles, two row groups) take different paths. The GEMM
        // crate's products after the loops (weight gradients, K = T·B) may take a few more
        // blocks for a larger K and two threads; one allocation per step would add 192.
        for b in [1, 70] {
            let short = count(64, b);
            let long = count(256, b);
            assert!(
                long.0 <= short.0 + 4 && long.1 <= short.1 + 4,
                "{}: (forward, backward) allocations at B={b}: T=64 {short:?} vs T=256 {long:?}",
                cfg.describe()
            );
        }
    }
}

#[test]
fn inference_forward_allocations_do_not_grow_with_t() {
    for cfg in [
        RnnConfig::new(CellKind::Lstm, 8, 16)
            .with_num_layers(2)
            .with_bidirectional(true),
        RnnConfig::new(CellKind::Lstm, 8, 40),
        // Stacked and unidirectional: the layer wavefront.
        RnnConfig::new(CellKind::Lstm, 8, 16).with_num_layers(2),
        RnnConfig::new(CellKind::Gru, 8, 16).with_num_layers(3),
        RnnConfig::new(CellKind::Lstm, 8, 16).with_proj_size(4),
        RnnConfig::new(CellKind::Gru, 8, 16),
        RnnConfig::new(CellKind::RnnTanh, 8, 16),
    ] {
        for precision in [
            WeightPrecision::F32,
            WeightPrecision::F16,
            WeightPrecision::I8,
        ] {
            // Two threads: the fused loops' team job is inside the count.
            let mut s = Stack::new(cfg.clone(), 0).unwrap().with_threads(2);
            if s.set_inference_weights(precision).is_err() {
                continue; // f16 and i8 weights: the LSTM without projection only
            }
            let mut tape = Tape::inference();
            let mut count = |t: usize, b: usize| {
                let x = Tensor::zeros(&[t, b, 8]);
                s.forward(&x, None, None, &mut tape).unwrap();
                allocs(|| s.forward(&x, None, None, &mut tape).unwrap()).0
            };
            // B = 1 (input side from one product before the loop) and B = 70 (in the loop, two
            // row groups) take different paths; neither may allocate per step.
            for b in [1, 70] {
                let (short, long) = (count(16, b), count(256, b));
                assert_eq!(
                    short,
                    long,
                    "{} ({precision:?} weights): inference forward allocations at B={b}: T=16 \
                     {short}, T=256 {long}",
                    cfg.describe()
                );
            }
        }
    }
}
