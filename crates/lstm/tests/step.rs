//! Streaming: `T` single steps equal one sequence call (≤ 1e-6), for each cell type, with and
//! without an initial state, on two threads (products large enough are shared between them).

mod common;

use common::{rand_vec, to_f32};
use lstm::{CellKind, RnnConfig, Stack, StepScratch, Tape, Tensor};

fn check(name: &str, cfg: RnnConfig, t: usize, b: usize, with_state: bool) {
    let stack = Stack::new(cfg.clone(), 77).unwrap().with_threads(2);
    let f = cfg.input_size;
    let x = to_f32(&rand_vec(t * b * f, 5, 1.0));
    let mut state = stack.zero_state(b);
    if with_state {
        let hl = state.h.data().len();
        state
            .h
            .data_mut()
            .copy_from_slice(&to_f32(&rand_vec(hl, 6, 0.5)));
        if let Some(c) = state.c.as_mut() {
            let cl = c.data().len();
            c.data_mut().copy_from_slice(&to_f32(&rand_vec(cl, 7, 0.5)));
        }
    }
    let init = state.clone();
    let out = stack
        .forward(
            &Tensor::new("x", &[t, b, f], x.clone()).unwrap(),
            with_state.then_some(&init),
            None,
            &mut Tape::default(),
        )
        .unwrap();
    let mut scratch = StepScratch::new(&stack, b).unwrap();
    let ho = cfg.h_out();
    for ti in 0..t {
        let y = stack
            .step(&x[ti * b * f..(ti + 1) * b * f], &mut state, &mut scratch)
            .unwrap();
        let want = &out.y.data()[ti * b * ho..(ti + 1) * b * ho];
        for (i, (g, w)) in y.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6,
                "{name}: step {ti}, y[{i}]: sequence {w}, steps {g}"
            );
        }
    }
    for (i, (g, w)) in state.h.data().iter().zip(out.h_n.data()).enumerate() {
        assert!(
            (g - w).abs() <= 1e-6,
            "{name}: h_n[{i}]: sequence {w}, steps {g}"
        );
    }
    if let (Some(c), Some(cn)) = (&state.c, &out.c_n) {
        for (i, (g, w)) in c.data().iter().zip(cn.data()).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6,
                "{name}: c_n[{i}]: sequence {w}, steps {g}"
            );
        }
    }
}

#[test]
fn single_steps_equal_one_sequence_call() {
    use CellKind::*;
    for cell in [Lstm, Gru, RnnTanh, RnnRelu] {
        for with_state in [false, true] {
            check(
                &format!("{cell:?} B1 state={with_state}"),
                RnnConfig::new(cell, 7, 13),
                12,
                1,
                with_state,
            );
            check(
                &format!("{cell:?} 2l B5 state={with_state}"),
                RnnConfig::new(cell, 7, 33).with_num_layers(2),
                9,
                5,
                with_state,
            );
        }
    }
    // Per-step products above the team threshold (2²¹ multiply-adds): the panels are shared
    // out, in a direction that alternates by step and carries from one call to the next.
    check("Gru B4 H512 team", RnnConfig::new(Gru, 16, 512), 5, 4, true);
    check(
        "RnnTanh B8 H512 team",
        RnnConfig::new(RnnTanh, 16, 512),
        5,
        8,
        true,
    );
    check(
        "lstm proj 2l",
        RnnConfig::new(Lstm, 7, 13)
            .with_proj_size(5)
            .with_num_layers(2),
        10,
        3,
        true,
    );
}
