//! Every misuse a caller can reach returns a typed error naming the tensor/field/file, with
//! expected vs found — never a panic.

use std::collections::HashMap;

use lstm::io::{load_stack, load_stack_bytes, save_stack, stack_to_bytes};
use lstm::{CellKind, Error, RnnConfig, Stack, State, StepScratch, Tape, Tensor};
use safetensors::tensor::{Dtype, TensorView};

fn lstm2() -> Stack {
    Stack::new(RnnConfig::new(CellKind::Lstm, 3, 4).with_num_layers(2), 1).unwrap()
}

fn x(t: usize, b: usize, f: usize) -> Tensor {
    Tensor::zeros(&[t, b, f])
}

#[track_caller]
fn shape_err(
    r: Result<impl std::fmt::Debug, Error>,
    tensor: &str,
    expected: &[usize],
    found: &[usize],
) {
    match r {
        Err(Error::Shape {
            tensor: t,
            expected: e,
            found: f,
        }) => {
            assert_eq!(
                (t.as_str(), e.as_slice(), f.as_slice()),
                (tensor, expected, found)
            )
        }
        other => panic!("expected a shape error on {tensor}, got {other:?}"),
    }
}

#[track_caller]
fn config_err(r: Result<impl std::fmt::Debug, Error>, field: &str) {
    match r {
        Err(e @ Error::Config { .. }) => {
            let Error::Config { field: f, .. } = &e else {
                unreachable!()
            };
            assert_eq!(f, field, "{e}");
            assert!(e.to_string().contains(field));
        }
        other => panic!("expected a config error on {field}, got {other:?}"),
    }
}

#[test]
fn invalid_configs_are_refused_naming_the_field() {
    use CellKind::*;
    config_err(Stack::new(RnnConfig::new(Lstm, 0, 4), 0), "input_size");
    config_err(Stack::new(RnnConfig::new(Lstm, 3, 0), 0), "hidden_size");
    config_err(
        Stack::new(RnnConfig::new(Lstm, 3, 4).with_num_layers(0), 0),
        "num_layers",
    );
    config_err(
        Stack::new(RnnConfig::new(Gru, 3, 4).with_proj_size(2), 0),
        "proj_size",
    );
    config_err(
        Stack::new(RnnConfig::new(Lstm, 3, 4).with_proj_size(4), 0),
        "proj_size",
    );
    config_err(
        Stack::new(RnnConfig::new(Lstm, 3, 4).with_dropout(1.0), 0),
        "dropout",
    );
    config_err(
        Stack::new(RnnConfig::new(Lstm, 3, 4).with_dropout(-0.1), 0),
        "dropout",
    );
    config_err(CellKind::parse("lstmm"), "cell");
}

#[test]
fn wrong_input_shapes_are_refused() {
    let s = lstm2();
    let mut tape = Tape::default();
    shape_err(
        s.forward(&x(5, 2, 4), None, None, &mut tape),
        "x",
        &[5, 2, 3],
        &[5, 2, 4],
    );
    shape_err(
        s.forward(&Tensor::zeros(&[5, 3]), None, None, &mut tape),
        "x",
        &[1, 1, 3],
        &[5, 3],
    );
    shape_err(
        s.forward(&x(0, 2, 3), None, None, &mut tape),
        "x",
        &[1, 2, 3],
        &[0, 2, 3],
    );
    let bad_h = State {
        h: Tensor::zeros(&[1, 2, 4]),
        c: Some(Tensor::zeros(&[2, 2, 4])),
    };
    shape_err(
        s.forward(&x(5, 2, 3), Some(&bad_h), None, &mut tape),
        "h0",
        &[2, 2, 4],
        &[1, 2, 4],
    );
    let bad_c = State {
        h: Tensor::zeros(&[2, 2, 4]),
        c: Some(Tensor::zeros(&[2, 3, 4])),
    };
    shape_err(
        s.forward(&x(5, 2, 3), Some(&bad_c), None, &mut tape),
        "c0",
        &[2, 2, 4],
        &[2, 3, 4],
    );
    let no_c = State {
        h: Tensor::zeros(&[2, 2, 4]),
        c: None,
    };
    config_err(s.forward(&x(5, 2, 3), Some(&no_c), None, &mut tape), "c0");
    let gru = Stack::new(RnnConfig::new(CellKind::Gru, 3, 4), 0).unwrap();
    let with_c = State {
        h: Tensor::zeros(&[1, 2, 4]),
        c: Some(Tensor::zeros(&[1, 2, 4])),
    };
    config_err(
        gru.forward(&x(5, 2, 3), Some(&with_c), None, &mut tape),
        "c0",
    );
    assert!(matches!(
        Tensor::new("w", &[2, 3], vec![0.0; 5]),
        Err(Error::Length {
            expected: 6,
            found: 5,
            ..
        })
    ));
}

#[test]
fn bad_lengths_are_refused() {
    let s = lstm2();
    let mut tape = Tape::default();
    for lens in [&[5usize][..], &[5, 0], &[6, 1]] {
        match s.forward(&x(5, 2, 3), None, Some(lens), &mut tape) {
            Err(e @ Error::Lengths { .. }) => {
                assert!(e.to_string().starts_with("sequence lengths:"), "{e}")
            }
            other => panic!("lengths {lens:?}: expected a lengths error, got {other:?}"),
        }
    }
}

#[test]
fn backward_misuse_is_refused() {
    let s = lstm2();
    let mut tape = Tape::default();
    let mut g = s.zero_grads();
    assert!(matches!(
        s.backward(&mut tape, &mut g, &x(5, 2, 4), None, None),
        Err(Error::Tape(_))
    ));
    s.forward(&x(5, 2, 3), None, None, &mut tape).unwrap();
    shape_err(
        s.backward(&mut tape, &mut g, &x(5, 2, 3), None, None),
        "d_y",
        &[5, 2, 4],
        &[5, 2, 3],
    );
    shape_err(
        s.backward(&mut tape, &mut g, &x(5, 2, 4), Some(&x(2, 2, 5)), None),
        "d_hn",
        &[2, 2, 4],
        &[2, 2, 5],
    );
    shape_err(
        s.backward(&mut tape, &mut g, &x(5, 2, 4), None, Some(&x(1, 2, 4))),
        "d_cn",
        &[2, 2, 4],
        &[1, 2, 4],
    );
    let other = Stack::new(RnnConfig::new(CellKind::Lstm, 3, 4), 0).unwrap();
    let mut g2 = other.zero_grads();
    assert!(matches!(
        other.backward(&mut tape, &mut g2, &x(5, 2, 4), None, None),
        Err(Error::Tape(_))
    ));
    let gru = Stack::new(RnnConfig::new(CellKind::Gru, 3, 4), 0).unwrap();
    let mut gt = Tape::default();
    gru.forward(&x(5, 2, 3), None, None, &mut gt).unwrap();
    let mut gg = gru.zero_grads();
    config_err(
        gru.backward(&mut gt, &mut gg, &x(5, 2, 4), None, Some(&x(1, 2, 4))),
        "d_cn",
    );
}

#[test]
fn step_misuse_is_refused() {
    let bi = Stack::new(
        RnnConfig::new(CellKind::Gru, 3, 4).with_bidirectional(true),
        0,
    )
    .unwrap();
    assert!(matches!(
        StepScratch::new(&bi, 1),
        Err(Error::Unsupported(_))
    ));
    let s = lstm2();
    config_err(StepScratch::new(&s, 0), "batch");
    let mut sc = StepScratch::new(&s, 2).unwrap();
    let mut st = s.zero_state(2);
    assert!(matches!(
        s.step(&[0.0; 5], &mut st, &mut sc),
        Err(Error::Length {
            expected: 6,
            found: 5,
            ..
        })
    ));
    let mut wrong = s.zero_state(3);
    shape_err(
        s.step(&[0.0; 6], &mut wrong, &mut sc),
        "state.h",
        &[2, 2, 4],
        &[2, 3, 4],
    );
    let mut no_c = State {
        h: Tensor::zeros(&[2, 2, 4]),
        c: None,
    };
    config_err(s.step(&[0.0; 6], &mut no_c, &mut sc), "state.c");
    let one = Stack::new(RnnConfig::new(CellKind::Lstm, 3, 4), 0).unwrap();
    config_err(one.step(&[0.0; 6], &mut st, &mut sc), "scratch");
    let wider = Stack::new(RnnConfig::new(CellKind::Lstm, 3, 6).with_num_layers(2), 0).unwrap();
    let mut wst = wider.zero_state(2);
    config_err(wider.step(&[0.0; 6], &mut wst, &mut sc), "scratch");
}

#[test]
fn set_param_checks_name_and_shape() {
    let mut s = lstm2();
    assert!(matches!(
        s.set_param("weight_ih_l5", &Tensor::zeros(&[16, 3])),
        Err(Error::UnexpectedTensor { .. })
    ));
    shape_err(
        s.set_param("weight_ih_l0", &Tensor::zeros(&[3, 16])),
        "weight_ih_l0",
        &[16, 3],
        &[3, 16],
    );
    let w = Tensor::new("w", &[16, 3], (0..48).map(|v| v as f32).collect()).unwrap();
    s.set_param("weight_ih_l0", &w).unwrap();
    assert_eq!(s.param("weight_ih_l0").unwrap(), w);
}

fn file_with(tensors: &[(&str, Dtype, Vec<usize>)]) -> Vec<u8> {
    let bufs: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, d, s)| {
            let n_el: usize = s.iter().product();
            (
                n.to_string(),
                *d,
                s.clone(),
                vec![0u8; n_el * d.bitsize() / 8],
            )
        })
        .collect();
    let views: Vec<(String, TensorView)> = bufs
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, None::<HashMap<String, String>>).unwrap()
}

#[test]
fn bad_weight_files_are_refused_with_the_tensor_named() {
    let f32_ = Dtype::F32;
    // A one-layer GRU, F = 3, H = 4: weight_ih [12, 3], weight_hh [12, 4], biases [12].
    let good = [
        ("weight_ih_l0", f32_, vec![12, 3]),
        ("weight_hh_l0", f32_, vec![12, 4]),
        ("bias_ih_l0", f32_, vec![12]),
        ("bias_hh_l0", f32_, vec![12]),
    ];
    let s = load_stack_bytes(&file_with(&good), "good", "", None).unwrap();
    assert_eq!(s.config().cell, CellKind::Gru);

    // missing tensor
    let missing = file_with(&good[..3]);
    match load_stack_bytes(&missing, "m.safetensors", "", Some(s.config().clone())) {
        Err(e @ Error::MissingTensor { .. }) => {
            assert!(e.to_string().contains("bias_hh_l0"), "{e}")
        }
        other => panic!("expected missing tensor, got {other:?}"),
    }
    // extra tensor
    let mut extra = good.to_vec();
    extra.push(("weight_hr_l0", f32_, vec![2, 4]));
    extra[0].2 = vec![12, 3];
    let r = load_stack_bytes(&file_with(&extra), "e", "", Some(s.config().clone()));
    assert!(
        matches!(&r, Err(Error::UnexpectedTensor { name, .. }) if name == "weight_hr_l0"),
        "{r:?}"
    );
    // wrong dtype
    let mut f64s = good.to_vec();
    f64s[1].1 = Dtype::F64;
    match load_stack_bytes(&file_with(&f64s), "d", "", None) {
        Err(Error::Dtype { tensor, found, .. }) => {
            assert_eq!((tensor.as_str(), found.as_str()), ("weight_hh_l0", "F64"))
        }
        other => panic!("expected dtype error, got {other:?}"),
    }
    // wrong shape against a given config
    let cfg = RnnConfig::new(CellKind::Gru, 5, 4);
    shape_err(
        load_stack_bytes(&file_with(&good), "s", "", Some(cfg)),
        "weight_ih_l0",
        &[12, 5],
        &[12, 3],
    );
    // shapes that fit no cell type
    let odd = [
        ("weight_ih_l0", f32_, vec![10, 3]),
        ("weight_hh_l0", f32_, vec![10, 4]),
    ];
    config_err(
        load_stack_bytes(&file_with(&odd), "o", "", None),
        "weight_hh_l0",
    );
    // not an RNN at all
    let foreign = [("encoder.weight", f32_, vec![3, 3])];
    assert!(matches!(
        load_stack_bytes(&file_with(&foreign), "f", "", None),
        Err(Error::MissingTensor { .. })
    ));
    // truncated and garbage files
    let bytes = file_with(&good);
    for (what, b) in [
        ("truncated", &bytes[..bytes.len() - 7]),
        ("garbage", &b"not a model at all"[..]),
        ("empty", &[][..]),
    ] {
        match load_stack_bytes(b, what, "", None) {
            Err(e @ Error::Format { .. }) => assert!(e.to_string().starts_with(what), "{e}"),
            other => panic!("{what}: expected format error, got {other:?}"),
        }
    }
    // a missing file
    let r = load_stack(
        std::path::Path::new("/nonexistent/model.safetensors"),
        "",
        None,
    );
    assert!(
        matches!(&r, Err(e @ Error::Io { .. }) if e.to_string().contains("/nonexistent/model.safetensors")),
        "{r:?}"
    );
}

#[test]
fn save_load_round_trip_is_exact_and_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let s = Stack::new(
        RnnConfig::new(CellKind::RnnRelu, 3, 4)
            .with_bidirectional(true)
            .with_num_layers(2),
        3,
    )
    .unwrap();
    let path = dir.path().join("m.safetensors");
    save_stack(&s, &path, "rnn.").unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file may remain: {names:?}");
    // The config (relu included) comes back from the metadata.
    let back = load_stack(&path, "rnn.", None).unwrap();
    assert_eq!(back.config(), s.config());
    assert_eq!(back.params(), s.params());
    for name in s.param_names() {
        assert_eq!(
            back.param(&name),
            s.param(&name),
            "tensor {name} after save/load"
        );
    }
    let bytes = stack_to_bytes(&back, "rnn.").unwrap();
    assert_eq!(
        bytes.len(),
        std::fs::metadata(&path).unwrap().len() as usize
    );
    // Writing into a missing directory fails cleanly and names the path.
    let bad = dir.path().join("no/such/dir/m.safetensors");
    assert!(matches!(save_stack(&s, &bad, ""), Err(Error::Io { path, .. }) if path == bad));
}
