//! The fast f32 path against the plain f64 reference, over odd sizes (1, 7, 13, 33) and every
//! option, dropout included (the masks drawn by the fast path are handed to the reference).

mod common;

use common::{assert_bitwise, assert_close, rand_vec, to_f32, to_f64};
use lstm::reference::RefStack;
use lstm::{CellKind, RnnConfig, Stack, State, Tape, Tensor};
use rand::SeedableRng;

const TOL: f64 = 1e-5;

#[allow(clippy::too_many_arguments)]
fn run_case(
    name: &str,
    cfg: RnnConfig,
    t: usize,
    b: usize,
    init: bool,
    lengths: Option<Vec<usize>>,
    train: bool,
    seed: u64,
) {
    // Two threads, whatever the machine: the products and the fused kernels split their work.
    let stack = Stack::new(cfg.clone(), seed).unwrap().with_threads(2);
    let (ld, h, ho) = (
        cfg.num_layers * cfg.directions(),
        cfg.hidden_size,
        cfg.h_out(),
    );
    let is_lstm = cfg.cell == CellKind::Lstm;
    let x = to_f32(&rand_vec(t * b * cfg.input_size, seed + 1, 1.0));
    let h0 = to_f32(&rand_vec(ld * b * ho, seed + 2, 0.5));
    let c0 = to_f32(&rand_vec(ld * b * h, seed + 3, 0.5));
    let d_y = to_f32(&rand_vec(t * b * cfg.output_size(), seed + 4, 1.0));
    let d_hn = to_f32(&rand_vec(ld * b * ho, seed + 5, 1.0));
    let d_cn = to_f32(&rand_vec(ld * b * h, seed + 6, 1.0));
    let state = init.then(|| State {
        h: Tensor::new("h0", &[ld, b, ho], h0.clone()).unwrap(),
        c: is_lstm.then(|| Tensor::new("c0", &[ld, b, h], c0.clone()).unwrap()),
    });
    let xt = Tensor::new("x", &[t, b, cfg.input_size], x.clone()).unwrap();
    let mut tape = Tape::default();
    let out = if train {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        stack
            .forward_train(&xt, state.as_ref(), lengths.as_deref(), &mut rng, &mut tape)
            .unwrap()
    } else {
        stack
            .forward(&xt, state.as_ref(), lengths.as_deref(), &mut tape)
            .unwrap()
    };
    let mut grads = stack.zero_grads();
    let ig = stack
        .backward(
            &mut tape,
            &mut grads,
            &Tensor::new("d_y", &[t, b, cfg.output_size()], d_y.clone()).unwrap(),
            Some(&Tensor::new("d_hn", &[ld, b, ho], d_hn.clone()).unwrap()),
            is_lstm
                .then(|| Tensor::new("d_cn", &[ld, b, h], d_cn.clone()).unwrap())
                .as_ref(),
        )
        .unwrap();
    let masks: Vec<Option<Vec<f64>>> = (0..cfg.num_layers)
        .map(|l| tape.dropout_mask(l).map(to_f64))
        .collect();
    if train && cfg.dropout > 0.0 && cfg.num_layers > 1 {
        let m = masks[1].as_ref().expect("dropout mask on layer 1");
        assert!(
            m.contains(&0.0) && m.iter().any(|&v| v > 1.0),
            "{name}: mask must drop and scale"
        );
    }
    let rs = RefStack::from_stack(&stack);
    let fw = rs.forward(
        &to_f64(&x),
        t,
        b,
        init.then(|| to_f64(&h0)).as_deref(),
        (init && is_lstm).then(|| to_f64(&c0)).as_deref(),
        lengths.as_deref(),
        &masks,
    );
    assert_close(&format!("{name}: y"), out.y.data(), &fw.y, TOL);
    assert_close(&format!("{name}: h_n"), out.h_n.data(), &fw.h_n, TOL);
    if is_lstm {
        assert_close(
            &format!("{name}: c_n"),
            out.c_n.as_ref().unwrap().data(),
            &fw.c_n,
            TOL,
        );
    }
    let rg = rs.backward(
        &fw,
        &to_f64(&d_y),
        Some(&to_f64(&d_hn)),
        is_lstm.then(|| to_f64(&d_cn)).as_deref(),
        &masks,
    );
    assert_close(&format!("{name}: d_x"), ig.d_x.data(), &rg.d_x, TOL);
    if init {
        assert_close(&format!("{name}: d_h0"), ig.d_h0.data(), &rg.d_h0, TOL);
        if is_lstm {
            assert_close(
                &format!("{name}: d_c0"),
                ig.d_c0.as_ref().unwrap().data(),
                &rg.d_c0,
                TOL,
            );
        }
    }
    for p in stack.param_names() {
        assert_close(
            &format!("{name}: d {p}"),
            stack.grad(&grads, &p).unwrap().data(),
            &rg.params[&p],
            TOL,
        );
    }
}

#[test]
fn fast_path_matches_reference_on_odd_sizes() {
    let cells = [
        CellKind::Lstm,
        CellKind::Gru,
        CellKind::RnnTanh,
        CellKind::RnnRelu,
    ];
    let mut seed = 1;
    for cell in cells {
        for &(f, h, t, b) in &[
            (1, 1, 1, 1),
            (7, 13, 9, 5),
            (13, 7, 20, 1),
            (33, 33, 7, 3),
            (7, 257, 3, 2),
        ] {
            seed += 10;
            let cfg = RnnConfig::new(cell, f, h);
            run_case(
                &format!("{cell:?} F{f} H{h} T{t} B{b}"),
                cfg.clone(),
                t,
                b,
                true,
                None,
                false,
                seed,
            );
            let cfg2 = cfg.with_num_layers(2).with_bidirectional(true);
            let lens: Vec<usize> = (0..b).map(|i| 1 + (i * 7 + 3) % t).collect();
            run_case(
                &format!("{cell:?} 2l bidir lengths F{f} H{h}"),
                cfg2,
                t,
                b,
                false,
                Some(lens),
                false,
                seed + 1,
            );
        }
    }
}

/// Steps with `B·H ≥ 8192` run the pointwise cells of the GRU, the RNN and the LSTM with a
/// projection on the team, a block of rows per member; the plain LSTM's fused loops split units.
#[test]
fn fast_path_matches_reference_when_the_rows_are_split_between_threads() {
    for (name, cfg) in [
        ("gru", RnnConfig::new(CellKind::Gru, 5, 256)),
        ("rnn", RnnConfig::new(CellKind::RnnTanh, 5, 256)),
        (
            "lstm proj",
            RnnConfig::new(CellKind::Lstm, 5, 256).with_proj_size(7),
        ),
    ] {
        run_case(
            &format!("{name} B32 H256"),
            cfg.clone(),
            3,
            32,
            true,
            None,
            true,
            13,
        );
        let lengths: Vec<usize> = (0..32).map(|b| 1 + b % 3).collect();
        let name = format!("{name} B32 H256 lengths");
        run_case(&name, cfg, 3, 32, false, Some(lengths), false, 14);
    }
    let cfg = RnnConfig::new(CellKind::Lstm, 5, 256);
    run_case("lstm B32 H256", cfg.clone(), 3, 32, true, None, false, 11);
    let lengths: Vec<usize> = (0..32).map(|b| 1 + b % 3).collect();
    run_case(
        "lstm B32 H256 lengths",
        cfg,
        3,
        32,
        false,
        Some(lengths),
        true,
        12,
    );
}

/// The fused LSTM loops (a team of threads sharing the hidden units, packed weights): several
/// row groups and a partial last panel (B = 50, H = 40), the input side in the loop and
/// precomputed (B = 1), two full row groups (B = 80), an input side longer than one panel
/// block (F = 600: two blocks, the second fetched ahead), each with lengths and both directions.
#[test]
fn fast_path_matches_reference_in_the_fused_team_loops() {
    for (f, h, t, b, seed) in [
        (9, 40, 4, 50, 21),
        (6, 100, 5, 1, 23),
        (5, 24, 3, 80, 25),
        (600, 20, 3, 13, 27),
    ] {
        let cfg = RnnConfig::new(CellKind::Lstm, f, h);
        run_case(
            &format!("lstm F{f} H{h} T{t} B{b}"),
            cfg.clone(),
            t,
            b,
            true,
            None,
            false,
            seed,
        );
        let lens: Vec<usize> = (0..b).map(|i| 1 + (i * 5 + 1) % t).collect();
        run_case(
            &format!("lstm bidir 2l lengths F{f} H{h} T{t} B{b}"),
            cfg.with_num_layers(2).with_bidirectional(true),
            t,
            b,
            false,
            Some(lens),
            false,
            seed + 1,
        );
    }
}

#[test]
fn fast_path_matches_reference_with_options() {
    use CellKind::*;
    let c = |cell, f, h| RnnConfig::new(cell, f, h);
    run_case(
        "lstm proj",
        c(Lstm, 7, 13).with_proj_size(5),
        11,
        3,
        true,
        None,
        false,
        501,
    );
    run_case(
        "lstm proj 2l bidir lengths",
        c(Lstm, 7, 13)
            .with_proj_size(5)
            .with_num_layers(2)
            .with_bidirectional(true),
        11,
        4,
        true,
        Some(vec![11, 2, 1, 6]),
        false,
        502,
    );
    run_case(
        "lstm nobias 3l",
        c(Lstm, 7, 13).with_bias(false).with_num_layers(3),
        6,
        2,
        true,
        None,
        false,
        503,
    );
    run_case(
        "gru nobias bidir",
        c(Gru, 13, 7).with_bias(false).with_bidirectional(true),
        6,
        2,
        true,
        None,
        false,
        504,
    );
    run_case(
        "lstm dropout 3l",
        c(Lstm, 7, 13).with_num_layers(3).with_dropout(0.4),
        8,
        3,
        true,
        None,
        true,
        505,
    );
    run_case(
        "gru dropout bidir lengths",
        c(Gru, 7, 13)
            .with_num_layers(2)
            .with_bidirectional(true)
            .with_dropout(0.25),
        8,
        3,
        true,
        Some(vec![3, 8, 5]),
        true,
        506,
    );
    run_case(
        "rnn_relu dropout",
        c(RnnRelu, 7, 13).with_num_layers(2).with_dropout(0.5),
        8,
        3,
        false,
        None,
        true,
        507,
    );
    run_case(
        "lstm long 300",
        c(Lstm, 7, 33),
        300,
        2,
        true,
        None,
        false,
        508,
    );
}

/// Inference (`forward`) never drops; gradients accumulate across backward calls like PyTorch's `.grad`.
#[test]
fn inference_has_no_dropout_and_grads_accumulate() {
    let cfg = RnnConfig::new(CellKind::Lstm, 3, 5)
        .with_num_layers(2)
        .with_dropout(0.5);
    let stack = Stack::new(cfg, 9).unwrap();
    let x = Tensor::new("x", &[4, 2, 3], to_f32(&rand_vec(24, 3, 1.0))).unwrap();
    let mut tape = Tape::default();
    let a = stack.forward(&x, None, None, &mut tape).unwrap();
    assert!(tape.dropout_mask(1).is_none());
    let b = stack.forward(&x, None, None, &mut tape).unwrap();
    assert_eq!(a, b);
    let d_y = Tensor::new("d_y", &[4, 2, 5], to_f32(&rand_vec(40, 4, 1.0))).unwrap();
    let mut g = stack.zero_grads();
    stack.backward(&mut tape, &mut g, &d_y, None, None).unwrap();
    let once = g.clone();
    stack.backward(&mut tape, &mut g, &d_y, None, None).unwrap();
    for (i, (two, one)) in g.data().iter().zip(once.data()).enumerate() {
        assert!(
            (two - 2.0 * one).abs() <= 1e-6 * (1.0 + one.abs()),
            "grad[{i}]: expected {}, got {two}",
            2.0 * one
        );
    }
    assert!(once.data().iter().any(|&v| v != 0.0));
    g.zero();
    assert!(g.data().iter().all(|&v| v == 0.0));
}

/// Without input gradients the parameter gradients are bit-identical and `d_x` is empty.
#[test]
fn skipping_the_input_gradient_changes_no_parameter_gradient() {
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::RnnTanh] {
        let cfg = RnnConfig::new(cell, 6, 20).with_num_layers(2);
        let stack = lstm::Stack::new(cfg.clone(), 3).unwrap();
        let (t, b) = (5, 7);
        let x = lstm::Tensor::new(
            "x",
            &[t, b, 6],
            (0..t * b * 6)
                .map(|i| (i % 11) as f32 * 0.1 - 0.5)
                .collect(),
        )
        .unwrap();
        let d_y = lstm::Tensor::new(
            "d_y",
            &[t, b, 20],
            (0..t * b * 20)
                .map(|i| (i % 7) as f32 * 0.1 - 0.3)
                .collect(),
        )
        .unwrap();
        let run = |with_dx: bool| {
            let mut tape = lstm::Tape::default();
            tape.set_input_grad(with_dx);
            let mut grads = stack.zero_grads();
            stack.forward(&x, None, None, &mut tape).unwrap();
            let ig = stack
                .backward(&mut tape, &mut grads, &d_y, None, None)
                .unwrap();
            (grads, ig.d_x)
        };
        let (g_all, dx_all) = run(true);
        let (g_skip, dx_skip) = run(false);
        assert_eq!(
            dx_all.shape(),
            &[t, b, 6],
            "{cell:?}: d_x shape with input gradients"
        );
        assert!(
            dx_all.data().iter().any(|v| *v != 0.0),
            "{cell:?}: d_x is all zero"
        );
        assert_eq!(
            dx_skip.shape(),
            &[0],
            "{cell:?}: d_x shape without input gradients"
        );
        for (i, (a, s)) in g_all.data().iter().zip(g_skip.data()).enumerate() {
            assert_eq!(
                a, s,
                "{cell:?}: parameter gradient {i}: with d_x {a}, without {s}"
            );
        }
    }
}

/// A forward without grad (an inference tape: no gate activations, two rows of state used in
/// turn) gives bit-identical outputs and final states to one that records, for every cell and
/// path; backward on it is an error, and the same tape records again once grad is back on.
#[test]
fn forward_without_grad_matches_the_recording_forward() {
    let cases = [
        (CellKind::Lstm, 9, 40, 0, 4, 50, 2, true, true),
        (CellKind::Lstm, 6, 100, 0, 5, 1, 1, false, false),
        (CellKind::Lstm, 6, 100, 0, 1, 3, 2, false, false),
        (CellKind::Lstm, 5, 24, 0, 3, 80, 1, true, true),
        (CellKind::Lstm, 5, 24, 7, 3, 4, 2, true, true),
        (CellKind::Gru, 5, 24, 0, 3, 4, 2, true, true),
        (CellKind::RnnTanh, 5, 24, 0, 3, 4, 1, false, true),
    ];
    let mut no_grad = Tape::inference();
    for (i, &(cell, f, h, p, t, b, layers, bidir, lens)) in cases.iter().enumerate() {
        let mut cfg = RnnConfig::new(cell, f, h)
            .with_num_layers(layers)
            .with_bidirectional(bidir);
        if p > 0 {
            cfg = cfg.with_proj_size(p);
        }
        let stack = Stack::new(cfg.clone(), 40 + i as u64)
            .unwrap()
            .with_threads(2);
        let x = Tensor::new(
            "x",
            &[t, b, f],
            to_f32(&rand_vec(t * b * f, 50 + i as u64, 1.0)),
        )
        .unwrap();
        let lengths: Option<Vec<usize>> =
            lens.then(|| (0..b).map(|k| 1 + (k * 5 + 1) % t).collect());
        let mut rec = Tape::default();
        let want = stack
            .forward(&x, None, lengths.as_deref(), &mut rec)
            .unwrap();
        let got = stack
            .forward(&x, None, lengths.as_deref(), &mut no_grad)
            .unwrap();
        let name = format!("case {i} ({cell:?} H{h} P{p} T{t} B{b} L{layers})");
        for (what, w, g) in [
            ("y", want.y.data(), got.y.data()),
            ("h_n", want.h_n.data(), got.h_n.data()),
        ]
        .into_iter()
        .chain(
            want.c_n
                .as_ref()
                .zip(got.c_n.as_ref())
                .map(|(w, g)| ("c_n", w.data(), g.data())),
        ) {
            // Expected: the recording pass; got: the one without grad.
            assert_bitwise(&format!("{name}: {what} (recording vs without grad)"), w, g);
        }
        let mut grads = stack.zero_grads();
        let d_y = Tensor::zeros(want.y.shape());
        let err = stack
            .backward(&mut no_grad, &mut grads, &d_y, None, None)
            .expect_err("backward after a forward without grad");
        assert!(
            err.to_string().contains("without grad"),
            "{name}: error names the cause: {err}"
        );
        // The recording tape still backs a backward.
        stack
            .backward(&mut rec, &mut grads, &d_y, None, None)
            .unwrap();
    }
    // Grad back on: the pass the tape holds still ran without grad and is refused; the next
    // forward records one backward accepts.
    let stack = Stack::new(RnnConfig::new(CellKind::Lstm, 3, 16), 9).unwrap();
    let x = Tensor::new("x", &[2, 2, 3], vec![0.5; 12]).unwrap();
    let out = stack.forward(&x, None, None, &mut no_grad).unwrap();
    no_grad.set_grad_enabled(true);
    let mut grads = stack.zero_grads();
    let d_y = Tensor::zeros(out.y.shape());
    let err = stack
        .backward(&mut no_grad, &mut grads, &d_y, None, None)
        .expect_err("the pass held ran without grad");
    assert!(err.to_string().contains("without grad"), "{err}");
    stack.forward(&x, None, None, &mut no_grad).unwrap();
    stack
        .backward(&mut no_grad, &mut grads, &d_y, None, None)
        .unwrap();
}

/// The fused LSTM loops give the same bits on one thread and on two, forward and backward,
/// where the two members share the rows (B ≥ 32): the row blocks (25 and 25 rows at B = 50,
/// 18 and 19 at B = 37) would otherwise leave a row alone in a one-row tile, which sums in
/// another order, and the backward's bias gradient is summed in fixed blocks.
#[test]
fn fused_loops_give_the_same_bits_on_any_thread_count() {
    for (f, h, t, b, seed) in [(9, 40, 4, 50, 31), (7, 24, 3, 37, 33), (5, 32, 3, 64, 35)] {
        let cfg = RnnConfig::new(CellKind::Lstm, f, h).with_num_layers(2);
        let x = Tensor::new("x", &[t, b, f], to_f32(&rand_vec(t * b * f, seed, 1.0))).unwrap();
        let d_y = Tensor::new(
            "d_y",
            &[t, b, h],
            to_f32(&rand_vec(t * b * h, seed + 1, 1.0)),
        );
        let lens: Vec<usize> = (0..b).map(|i| 1 + (i * 5 + 2) % t).collect();
        let run = |threads: usize| {
            let stack = Stack::new(cfg.clone(), seed).unwrap().with_threads(threads);
            let mut tape = Tape::default();
            let out = stack.forward(&x, None, Some(&lens), &mut tape).unwrap();
            let mut grads = stack.zero_grads();
            let ig = stack
                .backward(&mut tape, &mut grads, d_y.as_ref().unwrap(), None, None)
                .unwrap();
            let mut all = vec![
                ("y".to_string(), out.y.data().to_vec()),
                ("h_n".to_string(), out.h_n.data().to_vec()),
                ("d_x".to_string(), ig.d_x.data().to_vec()),
            ];
            for p in stack.param_names() {
                all.push((
                    format!("d {p}"),
                    stack.grad(&grads, &p).unwrap().data().to_vec(),
                ));
            }
            all
        };
        let (one, two) = (run(1), run(2));
        for ((what, want), (_, got)) in one.iter().zip(&two) {
            assert_bitwise(&format!("B{b} H{h}: {what}, 1 vs 2 threads"), want, got);
        }
    }
}
