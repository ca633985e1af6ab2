//! Finite-difference gradient checks of the f64 reference path, for every cell type and option:
//! layers, bidirectional, projection, no bias, variable lengths, dropout masks, initial states.
//! Loss: `Σ y⊙d_y + Σ h_n⊙d_hn + Σ c_n⊙d_cn` with fixed random `d_*`.

mod common;

use common::rand_vec;
use lstm::reference::RefStack;
use lstm::{CellKind, RnnConfig, Stack};

struct Case {
    name: &'static str,
    cfg: RnnConfig,
    t: usize,
    b: usize,
    init: bool,
    lengths: Option<Vec<usize>>,
    dropout: bool,
}

fn cases() -> Vec<Case> {
    use CellKind::*;
    let c = |cell, f, h| RnnConfig::new(cell, f, h);
    let case = |name, cfg, t, b, init, lengths, dropout| Case {
        name,
        cfg,
        t,
        b,
        init,
        lengths,
        dropout,
    };
    vec![
        case("lstm", c(Lstm, 3, 4), 5, 2, true, None, false),
        case(
            "lstm_2l_bidir",
            c(Lstm, 3, 4).with_num_layers(2).with_bidirectional(true),
            4,
            2,
            true,
            None,
            false,
        ),
        case(
            "lstm_proj_bidir",
            c(Lstm, 3, 4).with_proj_size(2).with_bidirectional(true),
            4,
            2,
            true,
            None,
            false,
        ),
        case(
            "lstm_proj_2l",
            c(Lstm, 3, 4).with_proj_size(3).with_num_layers(2),
            4,
            2,
            false,
            None,
            false,
        ),
        case(
            "lstm_lengths_bidir",
            c(Lstm, 3, 4).with_bidirectional(true),
            5,
            3,
            true,
            Some(vec![5, 1, 3]),
            false,
        ),
        case(
            "lstm_nobias",
            c(Lstm, 3, 4).with_bias(false),
            4,
            2,
            true,
            None,
            false,
        ),
        case(
            "lstm_dropout_3l",
            c(Lstm, 3, 4).with_num_layers(3).with_dropout(0.3),
            4,
            2,
            true,
            None,
            true,
        ),
        case("gru", c(Gru, 3, 4), 5, 2, true, None, false),
        case(
            "gru_2l_bidir_lengths",
            c(Gru, 3, 4).with_num_layers(2).with_bidirectional(true),
            5,
            3,
            true,
            Some(vec![2, 5, 4]),
            false,
        ),
        case(
            "gru_nobias_dropout",
            c(Gru, 3, 4)
                .with_num_layers(2)
                .with_bias(false)
                .with_dropout(0.5),
            4,
            2,
            false,
            None,
            true,
        ),
        case("rnn_tanh", c(RnnTanh, 3, 4), 6, 2, true, None, false),
        case(
            "rnn_tanh_bidir_lengths",
            c(RnnTanh, 3, 4).with_bidirectional(true),
            5,
            2,
            true,
            Some(vec![3, 5]),
            false,
        ),
        case(
            "rnn_relu_2l",
            c(RnnRelu, 3, 4).with_num_layers(2),
            5,
            2,
            true,
            None,
            false,
        ),
        case(
            "rnn_relu_nobias_bidir",
            c(RnnRelu, 3, 4).with_bias(false).with_bidirectional(true),
            4,
            2,
            false,
            None,
            false,
        ),
    ]
}

#[test]
fn reference_gradients_match_central_differences() {
    for (ci, case) in cases().iter().enumerate() {
        let cfg = &case.cfg;
        let mut rs = RefStack::from_stack(&Stack::new(cfg.clone(), 100 + ci as u64).unwrap());
        // Larger weights than the default init make every term of the gradient matter.
        for v in rs.params.values_mut() {
            v.iter_mut().for_each(|w| *w *= 2.0);
        }
        let (t, b, ld) = (case.t, case.b, cfg.num_layers * cfg.directions());
        let (h, ho) = (cfg.hidden_size, cfg.h_out());
        let seed = 1000 * ci as u64;
        let mut x = rand_vec(t * b * cfg.input_size, seed + 1, 1.0);
        let mut h0 = rand_vec(ld * b * ho, seed + 2, 0.5);
        let mut c0 = rand_vec(ld * b * h, seed + 3, 0.5);
        let d_y = rand_vec(t * b * cfg.output_size(), seed + 4, 1.0);
        let d_hn = rand_vec(ld * b * ho, seed + 5, 1.0);
        let d_cn = rand_vec(ld * b * h, seed + 6, 1.0);
        let is_lstm = cfg.cell == CellKind::Lstm;
        let masks: Vec<Option<Vec<f64>>> = (0..cfg.num_layers)
            .map(|l| {
                (case.dropout && l > 0).then(|| {
                    let keep = 1.0 / (1.0 - cfg.dropout as f64);
                    rand_vec(t * b * cfg.layer_input_size(l), seed + 10 + l as u64, 1.0)
                        .iter()
                        .map(|&u| {
                            if u.abs() < cfg.dropout as f64 {
                                0.0
                            } else {
                                keep
                            }
                        })
                        .collect()
                })
            })
            .collect();
        let lengths = case.lengths.as_deref();
        let loss = |rs: &RefStack, x: &[f64], h0: &[f64], c0: &[f64]| {
            let fw = rs.forward(
                x,
                t,
                b,
                case.init.then_some(h0),
                (case.init && is_lstm).then_some(c0),
                lengths,
                &masks,
            );
            let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
            dot(&fw.y, &d_y) + dot(&fw.h_n, &d_hn) + if is_lstm { dot(&fw.c_n, &d_cn) } else { 0.0 }
        };
        let fw = rs.forward(
            &x,
            t,
            b,
            case.init.then_some(&h0[..]),
            (case.init && is_lstm).then_some(&c0[..]),
            lengths,
            &masks,
        );
        let g = rs.backward(&fw, &d_y, Some(&d_hn), is_lstm.then_some(&d_cn[..]), &masks);
        let eps = 1e-5;
        let check = |what: String, analytic: f64, plus: f64, minus: f64| {
            let fd = (plus - minus) / (2.0 * eps);
            assert!(
                (fd - analytic).abs() <= 1e-7 * (1.0 + analytic.abs()),
                "{}: {what}: finite difference {fd:.10}, analytic {analytic:.10}",
                case.name
            );
        };
        let mut checked = 0;
        let names: Vec<String> = rs.params.keys().cloned().collect();
        for name in &names {
            for i in 0..rs.params[name].len() {
                let orig = rs.params[name][i];
                rs.params.get_mut(name).unwrap()[i] = orig + eps;
                let p = loss(&rs, &x, &h0, &c0);
                rs.params.get_mut(name).unwrap()[i] = orig - eps;
                let m = loss(&rs, &x, &h0, &c0);
                rs.params.get_mut(name).unwrap()[i] = orig;
                check(format!("d {name}[{i}]"), g.params[name][i], p, m);
                checked += 1;
            }
        }
        for i in 0..x.len() {
            let orig = x[i];
            x[i] = orig + eps;
            let p = loss(&rs, &x, &h0, &c0);
            x[i] = orig - eps;
            let m = loss(&rs, &x, &h0, &c0);
            x[i] = orig;
            check(format!("d x[{i}]"), g.d_x[i], p, m);
        }
        if case.init {
            for i in 0..h0.len() {
                let orig = h0[i];
                h0[i] = orig + eps;
                let p = loss(&rs, &x, &h0, &c0);
                h0[i] = orig - eps;
                let m = loss(&rs, &x, &h0, &c0);
                h0[i] = orig;
                check(format!("d h0[{i}]"), g.d_h0[i], p, m);
            }
            if is_lstm {
                for i in 0..c0.len() {
                    let orig = c0[i];
                    c0[i] = orig + eps;
                    let p = loss(&rs, &x, &h0, &c0);
                    c0[i] = orig - eps;
                    let m = loss(&rs, &x, &h0, &c0);
                    c0[i] = orig;
                    check(format!("d c0[{i}]"), g.d_c0[i], p, m);
                }
            }
        }
        assert!(
            checked > 20,
            "{}: only {checked} parameters checked",
            case.name
        );
        // With lengths, nothing reaches inputs past a sequence's end.
        if let Some(lens) = lengths {
            for ti in 0..t {
                for (bi, &len) in lens.iter().enumerate() {
                    if ti >= len {
                        let row = &g.d_x[(ti * b + bi) * cfg.input_size..][..cfg.input_size];
                        assert!(
                            row.iter().all(|&v| v == 0.0),
                            "{}: d_x[t={ti}, b={bi}] past length {len} must be 0",
                            case.name
                        );
                    }
                }
            }
        }
    }
}
