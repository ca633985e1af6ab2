//! The lab: gradient norms per step checked against central differences, traces checked against
//! the fast path, and runs that must solve (dinner) or must not depend on scheduling.

use lstm::data::tasks::adding_problem;
use lstm::data::SeqInput;
use lstm::lab::flow::{compare_cells, gradient_flow, scaled_recurrence};
use lstm::lab::trace::trace;
use lstm::lab::{run, run_all, LabTask, RunSpec};
use lstm::model::Model;
use lstm::reference::{GradTrace, RefStack};
use lstm::{CellKind, RnnConfig, Stack};

/// `L = Σ_b w_b · h_T(b)` of the stack run from state `(h, c)` over `x[from..]` (`[T, B, F]`).
#[allow(clippy::too_many_arguments)]
fn suffix_loss(
    rs: &RefStack,
    x: &[f64],
    from: usize,
    t: usize,
    b: usize,
    h: &[f64],
    c: &[f64],
    w: &[f64],
) -> f64 {
    let f = rs.config.input_size;
    if from == t {
        return h.iter().zip(w).map(|(a, b)| a * b).sum();
    }
    let c0 = (rs.config.cell == CellKind::Lstm).then_some(c);
    let fw = rs.forward(&x[from * b * f..], t - from, b, Some(h), c0, None, &[]);
    fw.h_n.iter().zip(w).map(|(a, b)| a * b).sum()
}

/// `‖∂L/∂h_t‖` (and the total `‖∂L/∂c_t‖`) from the traced backward equal central differences
/// of the loss of the remaining steps with respect to the state after step t.
#[test]
fn traced_gradient_norms_match_central_differences() {
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::RnnTanh] {
        let (t, b, f, hs) = (9, 2, 3, 5);
        let rs = RefStack::from_stack(&Stack::new(RnnConfig::new(cell, f, hs), 7).unwrap());
        let x: Vec<f64> = (0..t * b * f)
            .map(|i| ((i * 37 % 23) as f64 / 11.0) - 1.0)
            .collect();
        let w: Vec<f64> = (0..b * hs)
            .map(|i| ((i * 13 % 7) as f64 / 3.0) - 1.0)
            .collect();
        let fw = rs.forward(&x, t, b, None, None, None, &[]);
        let mut tr = GradTrace::default();
        rs.backward_traced(&fw, &vec![0.0; t * b * hs], Some(&w), None, &[], &mut tr);
        let views: Vec<_> = (0..b).map(|bi| rs.steps(&fw, 0, 0, bi)).collect();
        for ti in [0, 4, t - 2, t - 1] {
            let mut h: Vec<f64> = views.iter().flat_map(|v| v[ti].h.clone()).collect();
            let mut c: Vec<f64> = views.iter().flat_map(|v| v[ti].c.clone()).collect();
            let eps = 1e-6;
            let (mut sq_h, mut sq_c) = (0.0, 0.0);
            for j in 0..b * hs {
                let keep = h[j];
                h[j] = keep + eps;
                let up = suffix_loss(&rs, &x, ti + 1, t, b, &h, &c, &w);
                h[j] = keep - eps;
                let down = suffix_loss(&rs, &x, ti + 1, t, b, &h, &c, &w);
                h[j] = keep;
                let dh = (up - down) / (2.0 * eps);
                sq_h += dh * dh;
                if cell == CellKind::Lstm {
                    // Total derivative: through c_t itself and through h_t = o_t ⊙ tanh(c_t).
                    let (bi, u) = (j / hs, j % hs);
                    let o = views[bi][ti].gates[3 * hs + u];
                    let keep_c = c[j];
                    let mut total = |ec: f64| {
                        c[j] = keep_c + ec;
                        let mut h2 = h.clone();
                        h2[j] = o * c[j].tanh();
                        suffix_loss(&rs, &x, ti + 1, t, b, &h2, &c, &w)
                    };
                    let dc = (total(eps) - total(-eps)) / (2.0 * eps);
                    c[j] = keep_c;
                    sq_c += dc * dc;
                }
            }
            let got = tr.h_sq[0][ti].sqrt();
            let want = sq_h.sqrt();
            assert!(
                (got - want).abs() <= 1e-6 * want.max(1e-3),
                "{} ‖∂L/∂h_{ti}‖: expected {want:e} (central differences), got {got:e}",
                cell.name()
            );
            if cell == CellKind::Lstm {
                let (got, want) = (tr.c_sq[0][ti].sqrt(), sq_c.sqrt());
                assert!(
                    (got - want).abs() <= 1e-6 * want.max(1e-3),
                    "lstm ‖∂L/∂c_{ti}‖: expected {want:e}, got {got:e}"
                );
            }
        }
    }
}

#[test]
fn the_lstm_carries_the_gradient_further_than_rnn_and_gru_and_a_large_rnn_explodes() {
    let flows = compare_cells(60, 16, 8, 3.0, 1).unwrap();
    let names: Vec<CellKind> = flows.iter().map(|f| f.cell).collect();
    assert_eq!(
        names,
        [
            CellKind::RnnTanh,
            CellKind::Gru,
            CellKind::Lstm,
            CellKind::RnnTanh
        ]
    );
    let (rnn, gru, lstm, big) = (&flows[0], &flows[1], &flows[2], &flows[3]);
    for f in &flows {
        assert_eq!(f.h.len(), 60);
        assert!(f.h.iter().all(|v| v.is_finite() && *v > 0.0), "{:?}", f.h);
    }
    assert!(rnn.ratio() < 1e-6, "RNN ratio {:e}", rnn.ratio());
    assert!(
        lstm.ratio() > 1e3 * rnn.ratio() && lstm.ratio() > gru.ratio(),
        "LSTM {:e} vs RNN {:e}, GRU {:e}",
        lstm.ratio(),
        rnn.ratio(),
        gru.ratio()
    );
    assert_eq!(lstm.c.as_ref().map(Vec::len), Some(60));
    assert!(rnn.c.is_none());
    assert!(big.ratio() > 1e3, "radius 3: ratio {:e}", big.ratio());
    // Clipping scales every step's term by the same factor.
    let clipped = big.clipped(1.0);
    let s = 1.0 / big.param_norm;
    for (a, b) in clipped.iter().zip(&big.h) {
        assert!((a - b * s).abs() <= 1e-12 * b * s, "{a:e} vs {:e}", b * s);
    }
    assert_eq!(rnn.clipped(1e9), rnn.h, "no clipping below the threshold");
}

#[test]
fn flow_of_a_model_matches_its_last_state_gradient_and_rejects_a_wrong_batch() {
    let m = Model::new(LabTask::Adding.model_config(CellKind::Lstm, 6), 3).unwrap();
    let data = adding_problem(4, 12, 5);
    let batch = data.batch(&[0, 1, 2, 3]);
    let f = gradient_flow(&m, &batch).unwrap();
    // For a last-state MSE head, ∂L/∂h_T = Σ_b (2 e_b / B) · w_head: its norm is known.
    let out = m.predict(&batch.input, None).unwrap();
    let w: Vec<f32> = m
        .named_params()
        .into_iter()
        .find(|(n, _, _)| n == "head.weight")
        .unwrap()
        .2;
    let lstm::data::BatchTarget::Values { data: y, .. } = &batch.target else {
        panic!()
    };
    let wn: f64 = w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    let en: f64 = out
        .iter()
        .zip(y)
        .map(|(o, y)| (2.0 * (*o as f64 - *y as f64) / 4.0).powi(2))
        .sum::<f64>()
        .sqrt();
    let last = *f.h.last().unwrap();
    assert!(
        (last - wn * en).abs() <= 1e-5 * wn * en,
        "‖∂L/∂h_T‖: expected {:e}, got {last:e}",
        wn * en
    );
    let big = scaled_recurrence(m.clone(), 2.0).unwrap();
    assert_ne!(big.named_params(), m.named_params());
    let tokens = lstm::data::tasks::dinner(2, 5, 1).batch(&[0, 1]);
    let err = gradient_flow(&m, &tokens).unwrap_err().to_string();
    assert!(err.contains("reads real features"), "{err}");
}

#[test]
fn trace_matches_the_fast_path_for_every_cell() {
    for cell in [CellKind::Lstm, CellKind::Gru, CellKind::RnnTanh] {
        let cfg = LabTask::Order.model_config(cell, 5);
        let m = Model::new(cfg, 2).unwrap();
        let seq = LabTask::Order.samples(1, 20, 4).samples.remove(0);
        let SeqInput::Tokens(ids) = &seq.x else {
            panic!()
        };
        let tr = trace(&m, &seq.x, 0).unwrap();
        assert_eq!((tr.steps, tr.hidden), (ids.len(), 5));
        assert_eq!(tr.gates.len(), cell.gates());
        assert_eq!(tr.gate_names.len(), cell.gates());
        // The last hidden state equals the fast path's h_n (through the model's embedding).
        let input = lstm::data::BatchInput::Tokens {
            ids: ids.clone(),
            t: ids.len(),
            b: 1,
        };
        let mut tape = lstm::model::ModelTape::default();
        let (_, state) = m.forward(&input, None, None, None, &mut tape).unwrap();
        let h_last = &tr.hidden_state[(tr.steps - 1) * 5..];
        for (j, (a, b)) in h_last.iter().zip(state.h.data()).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5,
                "{} h_T[{j}]: fast {b}, trace {a}",
                cell.name()
            );
        }
        if let (Some(c), Some(cn)) = (&tr.cell_state, &state.c) {
            for (j, (a, b)) in c[(tr.steps - 1) * 5..].iter().zip(cn.data()).enumerate() {
                assert!((a - b).abs() <= 1e-5, "c_T[{j}]: fast {b}, trace {a}");
            }
        }
        for (g, (vals, &signed)) in tr.gates.iter().zip(&tr.gate_signed).enumerate() {
            let lo = if signed { -1.0 } else { 0.0 };
            assert!(
                vals.iter().all(|v| (lo..=1.0).contains(v)),
                "{} gate {g} out of range",
                cell.name()
            );
        }
        assert_eq!(tr.outputs.len(), 4, "one row of 4 class scores");
    }
    let m = Model::new(LabTask::Adding.model_config(CellKind::Lstm, 3), 0).unwrap();
    let err = trace(&m, &SeqInput::Dense(vec![0.5; 7]), 0).unwrap_err();
    assert!(err.to_string().contains('x'), "{err}");
    let err = trace(&m, &SeqInput::Dense(vec![0.5; 8]), 1).unwrap_err();
    assert!(err.to_string().contains("layer 1 does not exist"), "{err}");
}

#[test]
fn dinner_is_solved_and_runs_do_not_depend_on_the_thread_pool() {
    let spec = RunSpec::new(LabTask::Dinner, CellKind::Lstm, 12, 0);
    let r = run(&spec, &mut |_, _| {}).unwrap();
    assert!(r.solved_at.is_some(), "curve {:?}", r.curve);
    assert_eq!(r.metric, 1.0);
    assert_eq!(r.steps, spec.steps, "dinner trains its whole budget");
    let mut specs = vec![];
    for seed in 0..3 {
        let mut s = RunSpec::new(LabTask::Adding, CellKind::Gru, 10, seed);
        s.hidden = 4;
        s.steps = 30;
        s.eval_every = 10;
        specs.push(s);
    }
    let pooled = run_all(&specs, 2, &|_, _| {});
    for (s, p) in specs.iter().zip(pooled) {
        let p = p.unwrap();
        let alone = run(s, &mut |_, _| {}).unwrap();
        assert_eq!(p.spec, *s);
        assert_eq!(p.curve, alone.curve, "seed {}", s.seed);
        assert_eq!(p.curve.len(), 3);
    }
}

#[test]
fn lab_lstms_start_with_the_memory_biases_unless_turned_off() {
    let bias = |m: &Model, name: &str| {
        m.named_params()
            .into_iter()
            .find(|(n, _, _)| n == name)
            .unwrap()
            .2
    };
    let mut spec = RunSpec::new(LabTask::Order, CellKind::Lstm, 12, 0);
    assert_eq!(spec.memory_bias, 3.0);
    spec.hidden = 4;
    spec.steps = 1;
    spec.eval_every = 1;
    let r = run(&spec, &mut |_, _| {}).unwrap();
    let (ih, hh) = (
        bias(&r.model, "lstm.bias_ih_l0"),
        bias(&r.model, "lstm.bias_hh_l0"),
    );
    // One Adam step moves each bias by at most about lr (0.003).
    for j in 0..4 {
        assert!((ih[j] + 3.0).abs() < 0.01, "input-gate bias {j}: {}", ih[j]);
        assert!(
            (ih[4 + j] - 3.0).abs() < 0.01,
            "forget-gate bias {j}: {}",
            ih[4 + j]
        );
        assert!(hh[j].abs() < 0.01 && hh[4 + j].abs() < 0.01, "b_hh {hh:?}");
    }
    spec.memory_bias = 0.0;
    let r = run(&spec, &mut |_, _| {}).unwrap();
    let ih = bias(&r.model, "lstm.bias_ih_l0");
    assert!(
        ih[..4].iter().all(|v| v.abs() < 0.6),
        "PyTorch's init: {ih:?}"
    );
    assert!(
        ih[4..8].iter().all(|v| (v - 1.0).abs() < 0.01),
        "forget bias 1: {ih:?}"
    );
    let mut gru = Model::new(LabTask::Order.model_config(CellKind::Gru, 4), 0).unwrap();
    let err = lstm::lab::memory_bias(&mut gru, 3.0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs an LSTM"), "{err}");
}
