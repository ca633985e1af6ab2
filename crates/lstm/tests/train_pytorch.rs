//! Training parity with PyTorch (fixtures from `tools/gen_train_fixtures.py`): for each optimizer,
//! 3 steps with clipping and weight decay give PyTorch's parameters after every step (≤ 1e-5), and
//! a model trained in PyTorch loads and predicts PyTorch's logits (≤ 1e-5).

mod common;

use std::path::Path;

use common::{assert_close, fixture_files, Fixture};
use lstm::data::{Batch, BatchInput, BatchTarget};
use lstm::loss::RegressionLoss;
use lstm::model::{HeadKind, InputKind, Model, ModelConfig, Task};
use lstm::optim::{OptimizerConfig, Schedule};
use lstm::train::{TrainConfig, Trainer};
use lstm::{CellKind, RnnConfig, Tensor};

const TOL: f64 = 1e-5;

#[test]
fn three_steps_of_every_optimizer_match_pytorch() {
    let files = fixture_files("train", ".safetensors");
    let files: Vec<_> = files
        .iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("optim_")
        })
        .collect();
    assert_eq!(files.len(), 5, "sgd, sgd_nesterov, adam, adamw, rmsprop");
    for path in files {
        let fx = Fixture::load(path);
        let case = fx.case();
        let name = case["name"].as_str().unwrap().to_string();
        let optimizer: OptimizerConfig = serde_json::from_value(case["optimizer"].clone()).unwrap();
        let lr = case["optimizer"]["lr"].as_f64().unwrap() as f32;
        let cfg = ModelConfig {
            input: InputKind::Dense { features: 3 },
            rnn: RnnConfig::new(CellKind::Lstm, 3, 5),
            head: HeadKind::EveryStep,
            outputs: 2,
            task: Task::Regression {
                loss: RegressionLoss::Mse,
            },
            forget_bias: false,
        };
        let mut model = Model::new(cfg, 0).unwrap();
        let names: Vec<String> = model
            .named_params()
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        for n in &names {
            model
                .set_named_param(
                    n,
                    fx.shape(&format!("init.{n}")),
                    &fx.f32(&format!("init.{n}")),
                )
                .unwrap();
        }
        let batch = Batch {
            input: BatchInput::Dense(
                Tensor::new("x", fx.shape("input.x"), fx.f32("input.x")).unwrap(),
            ),
            lengths: None,
            target: BatchTarget::Values {
                data: fx.f32("input.target"),
                per_step: true,
            },
        };
        let tc = TrainConfig {
            optimizer,
            lr,
            schedule: Schedule::Constant,
            clip: Some(case["clip"].as_f64().unwrap() as f32),
            ..TrainConfig::default()
        };
        let mut tr = Trainer::new(model, tc);
        for k in 1..=3 {
            let (_, norm) = tr.train_step(&batch, false).unwrap();
            let want_norm = fx.req(&format!("step{k}.norm"))[0];
            assert!(
                (norm as f64 - want_norm).abs() <= TOL * want_norm.max(1.0),
                "{name}: step {k}: grad norm: expected {want_norm}, got {norm}"
            );
            for (pname, _, values) in tr.model().named_params() {
                assert_close(
                    &format!("{name}: step {k}: {pname}"),
                    &values,
                    fx.req(&format!("step{k}.{pname}")),
                    TOL,
                );
            }
        }
    }
}

#[test]
fn model_trained_in_pytorch_loads_and_predicts_the_same() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/train");
    let cfg = ModelConfig {
        input: InputKind::Embedding { vocab: 6 },
        rnn: RnnConfig::new(CellKind::Lstm, 4, 8).with_bidirectional(true),
        head: HeadKind::LastState,
        outputs: 3,
        task: Task::Classification,
        forget_bias: false,
    };
    let model = Model::load_pytorch(&dir.join("tiny_classifier.safetensors"), cfg).unwrap();
    let io = Fixture::load(&dir.join("tiny_classifier.io.safetensors"));
    let (t, b) = (io.shape("x")[0], io.shape("x")[1]);
    let ids: Vec<usize> = io.req("x").iter().map(|&v| v as usize).collect();
    let logits = model
        .predict(&BatchInput::Tokens { ids, t, b }, None)
        .unwrap();
    assert_close("tiny_classifier: logits", &logits, io.req("logits"), TOL);
}
