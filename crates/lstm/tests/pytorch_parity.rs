//! Parity with PyTorch: every fixture written by `tools/gen_rnn_fixtures.py` (one per case,
//! named after it) is run through the fast f32 path and through the f64 reference; outputs and
//! every gradient must match PyTorch's float64 results.

mod common;

use common::{assert_close, fixture_files, Fixture};
use lstm::io::{infer_config, load_stack, load_stack_bytes};
use lstm::reference::RefStack;
use lstm::{CellKind, State, Tape, Tensor};

/// Acceptance bound for the f32 fast path.
const TOL_F32: f64 = 1e-5;
/// The f64 reference must agree with PyTorch's f64 far more tightly.
const TOL_F64: f64 = 1e-10;

#[test]
fn every_fixture_matches_pytorch_forward_and_backward() {
    let files = fixture_files("rnn", ".safetensors");
    let cases: Vec<_> = files
        .iter()
        .filter(|p| !p.to_string_lossy().contains("state_dict_"))
        .collect();
    assert!(
        cases.len() >= 26,
        "expected the generator's 26 cases, found {}",
        cases.len()
    );
    for path in cases {
        check_case(&Fixture::load(path));
    }
}

fn check_case(fx: &Fixture) {
    let name = fx.case()["name"].as_str().unwrap().to_string();
    let cfg = fx.config();
    // The config inferred from the shapes agrees with the generator's (RNN relu is not visible).
    let shapes: Vec<(String, Vec<usize>)> = fx
        .tensors
        .iter()
        .map(|(n, (s, _))| (n.clone(), s.clone()))
        .collect();
    let inferred = infer_config(&shapes, "lstm.").unwrap();
    let mut expect_inferred = cfg.clone();
    if cfg.cell == CellKind::RnnRelu {
        expect_inferred.cell = CellKind::RnnTanh;
    }
    assert_eq!(inferred, expect_inferred, "{name}: inferred config");

    let stack = load_stack_bytes(&fx.bytes, &name, "lstm.", Some(cfg.clone())).unwrap();
    let (t, b) = (fx.shape("input.x")[0], fx.shape("input.x")[1]);
    let x = Tensor::new("x", fx.shape("input.x"), fx.f32("input.x")).unwrap();
    let init = fx.get("input.h0").map(|_| State {
        h: Tensor::new("h0", fx.shape("input.h0"), fx.f32("input.h0")).unwrap(),
        c: fx
            .get("input.c0")
            .map(|_| Tensor::new("c0", fx.shape("input.c0"), fx.f32("input.c0")).unwrap()),
    });
    let lengths: Option<Vec<usize>> = fx
        .get("input.lengths")
        .map(|l| l.iter().map(|&v| v as usize).collect());
    let mut tape = Tape::default();
    let out = stack
        .forward(&x, init.as_ref(), lengths.as_deref(), &mut tape)
        .unwrap();
    assert_close(
        &format!("{name}: y"),
        out.y.data(),
        fx.req("ref.y"),
        TOL_F32,
    );
    assert_close(
        &format!("{name}: h_n"),
        out.h_n.data(),
        fx.req("ref.h_n"),
        TOL_F32,
    );
    if let Some(c_n) = &out.c_n {
        assert_close(
            &format!("{name}: c_n"),
            c_n.data(),
            fx.req("ref.c_n"),
            TOL_F32,
        );
    }
    let d_y = Tensor::new("d_y", fx.shape("input.d_y"), fx.f32("input.d_y")).unwrap();
    let d_hn = Tensor::new("d_hn", fx.shape("input.d_hn"), fx.f32("input.d_hn")).unwrap();
    let d_cn = fx
        .get("input.d_cn")
        .map(|_| Tensor::new("d_cn", fx.shape("input.d_cn"), fx.f32("input.d_cn")).unwrap());
    let mut grads = stack.zero_grads();
    let ig = stack
        .backward(&mut tape, &mut grads, &d_y, Some(&d_hn), d_cn.as_ref())
        .unwrap();
    assert_close(
        &format!("{name}: grad x"),
        ig.d_x.data(),
        fx.req("ref.grad.x"),
        TOL_F32,
    );
    if fx.get("ref.grad.h0").is_some() {
        assert_close(
            &format!("{name}: grad h0"),
            ig.d_h0.data(),
            fx.req("ref.grad.h0"),
            TOL_F32,
        );
    }
    if fx.get("ref.grad.c0").is_some() {
        assert_close(
            &format!("{name}: grad c0"),
            ig.d_c0.as_ref().unwrap().data(),
            fx.req("ref.grad.c0"),
            TOL_F32,
        );
    }
    let names = stack.param_names();
    assert!(!names.is_empty());
    for p in &names {
        let g = stack.grad(&grads, p).unwrap();
        assert_close(
            &format!("{name}: grad {p}"),
            g.data(),
            fx.req(&format!("ref.grad.{p}")),
            TOL_F32,
        );
    }

    // The f64 reference, on the same float32 values, agrees with PyTorch's float64 to rounding.
    let rs = RefStack::from_stack(&stack);
    let masks = vec![];
    let fw = rs.forward(
        fx.req("input.x"),
        t,
        b,
        fx.get("input.h0"),
        fx.get("input.c0"),
        lengths.as_deref(),
        &masks,
    );
    assert_close(
        &format!("{name}: reference y"),
        &fw.y,
        fx.req("ref.y"),
        TOL_F64,
    );
    assert_close(
        &format!("{name}: reference h_n"),
        &fw.h_n,
        fx.req("ref.h_n"),
        TOL_F64,
    );
    let rg = rs.backward(
        &fw,
        fx.req("input.d_y"),
        fx.get("input.d_hn"),
        fx.get("input.d_cn"),
        &masks,
    );
    assert_close(
        &format!("{name}: reference grad x"),
        &rg.d_x,
        fx.req("ref.grad.x"),
        TOL_F64,
    );
    for p in &names {
        assert_close(
            &format!("{name}: reference grad {p}"),
            &rg.params[p],
            fx.req(&format!("ref.grad.{p}")),
            TOL_F64,
        );
    }
}

/// A bare PyTorch `state_dict` saved with `safetensors.torch.save_file` loads with its config
/// inferred from the shapes, and runs (fixture `state_dict_gru*`, same generator).
#[test]
fn bare_pytorch_state_dict_loads_with_inferred_config_and_runs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rnn");
    let stack = load_stack(&dir.join("state_dict_gru.safetensors"), "", None).unwrap();
    let c = stack.config();
    assert_eq!(
        (
            c.cell,
            c.input_size,
            c.hidden_size,
            c.num_layers,
            c.bidirectional
        ),
        (CellKind::Gru, 5, 6, 2, true)
    );
    let io = Fixture::load(&dir.join("state_dict_gru.io.safetensors"));
    let x = Tensor::new("x", io.shape("x"), io.f32("x")).unwrap();
    let out = stack.forward(&x, None, None, &mut Tape::default()).unwrap();
    assert_close("state_dict_gru: y", out.y.data(), io.req("y"), TOL_F32);
    assert_close(
        "state_dict_gru: h_n",
        out.h_n.data(),
        io.req("h_n"),
        TOL_F32,
    );
}
