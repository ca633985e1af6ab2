//! Training: the LSTM bridges a lag a tanh RNN cannot (small adding problem), exact resume from
//! checkpoints, determinism, save → load → predict, a char-level language model, and every bad
//! input: corrupt/truncated/foreign/wrong-shape files, NaN inputs, empty data, divergence.

use std::path::Path;

use lstm::data::tasks::adding_problem;
use lstm::data::text::{TokenStream, Vocab};
use lstm::data::{Sample, SampleSet, SeqInput, SeqTarget};
use lstm::io::{load_model, save_model, ModelMeta};
use lstm::loss::RegressionLoss;
use lstm::model::{HeadKind, InputKind, Model, ModelConfig, Task};
use lstm::optim::{OptimizerConfig, Schedule};
use lstm::train::{evaluate, Silent, StopReason, TrainConfig, Trainer};
use lstm::{CellKind, Error, RnnConfig};

fn adding_model(cell: CellKind, hidden: usize, layers: usize, dropout: f32, seed: u64) -> Model {
    Model::new(
        ModelConfig {
            input: InputKind::Dense { features: 2 },
            rnn: RnnConfig::new(cell, 2, hidden)
                .with_num_layers(layers)
                .with_dropout(dropout),
            head: HeadKind::LastState,
            outputs: 1,
            task: Task::Regression {
                loss: RegressionLoss::Mse,
            },
            forget_bias: cell == CellKind::Lstm,
        },
        seed,
    )
    .unwrap()
}

fn lm_model(vocab: usize, seed: u64) -> Model {
    Model::new(
        ModelConfig {
            input: InputKind::Embedding { vocab },
            rnn: RnnConfig::new(CellKind::Lstm, 8, 24),
            head: HeadKind::EveryStep,
            outputs: vocab,
            task: Task::LanguageModel,
            forget_bias: true,
        },
        seed,
    )
    .unwrap()
}

/// The fast version of the adding-problem acceptance run: T = 40, H = 16, 1500 steps of 32,
/// Adam 0.01, clip 1. Measured: LSTM ≤ 0.001 and tanh RNN ≥ 0.156 for seeds 0–3.
#[test]
fn lstm_solves_a_lag_that_a_tanh_rnn_cannot() {
    let train = adding_problem(1500 * 32, 40, 11);
    let test = adding_problem(1000, 40, 12);
    let mut mse = vec![];
    for cell in [CellKind::Lstm, CellKind::RnnTanh] {
        let cfg = TrainConfig {
            lr: 0.01,
            batch_size: 32,
            epochs: 1,
            seed: 1,
            ..TrainConfig::default()
        };
        let mut tr = Trainer::new(adding_model(cell, 16, 1, 0.0, 1), cfg);
        let rep = tr.fit(&train, None, &mut Silent).unwrap();
        assert_eq!((rep.steps, rep.stop), (1500, StopReason::Epochs));
        mse.push(evaluate(tr.model(), &test, 500).unwrap().loss);
    }
    assert!(mse[0] < 0.01, "LSTM test MSE {} should be < 0.01", mse[0]);
    assert!(
        mse[1] > 0.1,
        "tanh RNN test MSE {} should stay > 0.1 (mean predictor ≈ 0.167)",
        mse[1]
    );
}

fn params(m: &Model) -> Vec<f32> {
    m.param_groups().concat()
}

#[test]
fn resume_from_checkpoint_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let data = adding_problem(200, 10, 3);
    let val = adding_problem(40, 10, 4);
    let cfg = |max: u64, ckpt: Option<&Path>| TrainConfig {
        optimizer: OptimizerConfig::adamw(),
        lr: 0.01,
        schedule: Schedule::Warmup {
            warmup: 3,
            then: Box::new(Schedule::Cosine {
                total: 20,
                min_lr: 0.001,
            }),
        },
        batch_size: 16,
        epochs: 5,
        max_steps: Some(max),
        val_every: 4,
        seed: 9,
        checkpoint: ckpt.map(Path::to_path_buf),
        ..TrainConfig::default()
    };
    // Dropout on, so the per-step RNG matters; 7 + 12 steps cross an epoch boundary (13 per epoch).
    let mut straight = Trainer::new(adding_model(CellKind::Lstm, 8, 2, 0.3, 5), cfg(19, None));
    straight.fit(&data, Some(&val), &mut Silent).unwrap();
    let ck = dir.path().join("run.ckpt");
    let mut first = Trainer::new(
        adding_model(CellKind::Lstm, 8, 2, 0.3, 5),
        cfg(7, Some(&ck)),
    );
    first.fit(&data, Some(&val), &mut Silent).unwrap();
    let mut resumed = Trainer::load_checkpoint(&ck).unwrap();
    assert_eq!(resumed.step(), 7);
    resumed.set_config(cfg(19, None)).unwrap();
    resumed.fit(&data, Some(&val), &mut Silent).unwrap();
    assert_eq!(resumed.step(), 19);
    let (a, b) = (params(straight.model()), params(resumed.model()));
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
        "resumed parameters differ from a straight run"
    );

    // Truncated BPTT: the carried state is part of the checkpoint.
    let text = "the quick brown fox jumps over the lazy dog. ".repeat(8);
    let vocab = Vocab::from_text(&text);
    let stream = TokenStream::new(&vocab.encode(&text).unwrap(), 4, 10).unwrap();
    let lcfg = |max: u64, ckpt: Option<&Path>| TrainConfig {
        lr: 0.01,
        epochs: 3,
        max_steps: Some(max),
        seed: 2,
        checkpoint: ckpt.map(Path::to_path_buf),
        ..TrainConfig::default()
    };
    let mut s1 = Trainer::new(lm_model(vocab.len(), 3), lcfg(14, None));
    s1.fit_stream(&stream, None, &mut Silent).unwrap();
    let ck2 = dir.path().join("lm.ckpt");
    let mut s2 = Trainer::new(lm_model(vocab.len(), 3), lcfg(5, Some(&ck2)));
    s2.fit_stream(&stream, None, &mut Silent).unwrap();
    let mut s3 = Trainer::load_checkpoint(&ck2).unwrap();
    s3.set_config(lcfg(14, None)).unwrap();
    s3.fit_stream(&stream, None, &mut Silent).unwrap();
    assert_eq!(
        params(s1.model()),
        params(s3.model()),
        "resumed language model differs"
    );
}

#[test]
fn same_seed_gives_bit_identical_training_and_save_load_predicts_the_same() {
    let data = adding_problem(64, 12, 5);
    let run = || {
        let cfg = TrainConfig {
            lr: 0.01,
            batch_size: 16,
            epochs: 2,
            seed: 4,
            ..TrainConfig::default()
        };
        let mut tr = Trainer::new(adding_model(CellKind::Gru, 8, 2, 0.2, 1), cfg);
        tr.fit(&data, None, &mut Silent).unwrap();
        tr
    };
    let (a, b) = (run(), run());
    assert_eq!(params(a.model()), params(b.model()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let meta = ModelMeta {
        classes: vec!["x".into()],
        ..ModelMeta::default()
    };
    save_model(&path, a.model(), &meta).unwrap();
    let (back, meta_back) = load_model(&path).unwrap();
    assert_eq!(meta_back, meta);
    assert_eq!(back.config(), a.model().config());
    let batch = data.batch(&[0, 1, 2, 3]);
    assert_eq!(
        a.model().predict(&batch.input, None).unwrap(),
        back.predict(&batch.input, None).unwrap()
    );
}

#[test]
fn char_language_model_learns_and_early_stopping_keeps_the_best() {
    let text = "abcabd".repeat(60);
    let vocab = Vocab::from_text(&text);
    let ids = vocab.encode(&text).unwrap();
    let train = TokenStream::new(&ids, 4, 12).unwrap();
    let val = TokenStream::new(&ids[..120], 2, 12).unwrap();
    let cfg = TrainConfig {
        lr: 0.02,
        epochs: 40,
        seed: 1,
        val_every: 0,
        patience: Some(3),
        ..TrainConfig::default()
    };
    let mut tr = Trainer::new(lm_model(vocab.len(), 0), cfg);
    let before = tr.evaluate_stream(&val).unwrap();
    let rep = tr.fit_stream(&train, Some(&val), &mut Silent).unwrap();
    let best = rep.best_val.unwrap();
    // After "ab", c and d are equally likely: the best possible is 1 bit in 3 characters.
    let after = lstm::train::Trainer::new(tr.best_model().clone(), TrainConfig::default())
        .evaluate_stream(&val)
        .unwrap();
    assert!(
        (after.loss - best).abs() < 1e-6,
        "best model's loss {} vs best_val {best}",
        after.loss
    );
    assert!(
        before.bits() > 1.5 && after.bits() < 0.6,
        "bits per char: before {:.3}, after {:.3}",
        before.bits(),
        after.bits()
    );
    assert!(!tr.meta.history.is_empty() && tr.meta.history.iter().all(|h| h.val_loss.is_some()));
}

#[test]
fn bad_data_is_refused_clearly() {
    let cfg = TrainConfig::default();
    let mut tr = Trainer::new(adding_model(CellKind::Lstm, 4, 1, 0.0, 0), cfg);
    let r = tr.fit(
        &SampleSet {
            features: 2,
            samples: vec![],
        },
        None,
        &mut Silent,
    );
    assert!(
        matches!(&r, Err(e @ Error::Data(_)) if e.to_string().contains("empty")),
        "{r:?}"
    );
    let mut nan = adding_problem(4, 5, 0);
    if let SeqInput::Dense(x) = &mut nan.samples[2].x {
        x[7] = f32::NAN;
    }
    match tr.fit(&nan, None, &mut Silent) {
        Err(e @ Error::Data(_)) => {
            assert!(e.to_string().contains("sample 2, step 3, feature 1"), "{e}")
        }
        other => panic!("expected a data error, got {other:?}"),
    }
    let mut bad_target = adding_problem(4, 5, 0);
    bad_target.samples[1].y = SeqTarget::Values(vec![f32::INFINITY]);
    assert!(matches!(
        tr.fit(&bad_target, None, &mut Silent),
        Err(Error::Data(_))
    ));
    // Tokens out of the vocabulary and classes out of range.
    let lm = lm_model(3, 0);
    let set = SampleSet {
        features: 1,
        samples: vec![Sample {
            x: SeqInput::Tokens(vec![0, 5]),
            y: SeqTarget::StepClasses(vec![1, 2]),
        }],
    };
    let mut t2 = Trainer::new(lm, TrainConfig::default());
    assert!(
        matches!(t2.fit(&set, None, &mut Silent), Err(e @ Error::Data(_)) if e.to_string().contains("token id 5"))
    );
    let set = SampleSet {
        features: 1,
        samples: vec![Sample {
            x: SeqInput::Tokens(vec![0, 1]),
            y: SeqTarget::StepClasses(vec![1, 7]),
        }],
    };
    assert!(
        matches!(t2.fit(&set, None, &mut Silent), Err(e @ Error::Data(_)) if e.to_string().contains("class 7"))
    );
    assert!(matches!(
        TokenStream::new(&[0, 1, 2], 2, 4),
        Err(Error::Data(_))
    ));
    assert!(
        matches!(Vocab::from_text("ab").encode("abc"), Err(e @ Error::Data(_)) if e.to_string().contains("offset 2"))
    );
}

#[test]
fn divergence_stops_with_the_step_and_the_last_checkpoint_survives() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("run.ckpt");
    let data = adding_problem(64, 8, 1);
    let cfg = TrainConfig {
        optimizer: OptimizerConfig::sgd(0.0),
        lr: 1e30,
        clip: None,
        batch_size: 8,
        epochs: 3,
        checkpoint: Some(ck.clone()),
        checkpoint_every: 1,
        ..TrainConfig::default()
    };
    let model = adding_model(CellKind::Lstm, 4, 1, 0.0, 0);
    let mut tr = Trainer::new(model, cfg);
    let err = tr.fit(&data, None, &mut Silent).unwrap_err();
    let Error::Diverged { step, .. } = &err else {
        panic!("expected divergence, got {err:?}")
    };
    assert!(*step >= 2, "{err}");
    assert!(err.to_string().contains(&format!("step {step}")), "{err}");
    let back = Trainer::load_checkpoint(&ck).unwrap();
    assert_eq!(
        back.step(),
        step - 1,
        "the checkpoint is the last good step"
    );
    assert!(params(back.model()).iter().all(|v| v.is_finite()));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary files: {names:?}");
}

#[test]
fn bad_model_files_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    let model = adding_model(CellKind::Lstm, 4, 1, 0.0, 0);
    save_model(&good, &model, &ModelMeta::default()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let write = |name: &str, b: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    // truncated
    let p = write("trunc.safetensors", &bytes[..bytes.len() - 10]);
    assert!(
        matches!(load_model(&p), Err(e @ Error::Format { .. }) if e.to_string().contains("trunc.safetensors"))
    );
    // corrupt header
    let mut corrupt = bytes.clone();
    corrupt[10] = b'#';
    let p = write("corrupt.safetensors", &corrupt);
    assert!(matches!(load_model(&p), Err(Error::Format { .. })));
    // foreign: a bare stack file (no model config)
    let foreign = lstm::io::stack_to_bytes(model.stack(), "lstm.").unwrap();
    let p = write("foreign.safetensors", &foreign);
    match load_model(&p) {
        Err(e @ Error::Format { .. }) => {
            assert!(e.to_string().contains("not an lstm model file"), "{e}")
        }
        other => panic!("expected a foreign-file error, got {other:?}"),
    }
    // wrong shape: the same file with a config claiming another hidden size
    let key = br#"\"hidden_size\":4"#;
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("config in header");
    let mut wrong = bytes.clone();
    wrong[at + key.len() - 1] = b'5';
    let p = write("wrong.safetensors", &wrong);
    match load_model(&p) {
        Err(Error::Shape { tensor, .. }) => assert!(tensor.starts_with("lstm.weight_"), "{tensor}"),
        other => panic!("expected a shape error, got {other:?}"),
    }
    // a model file where a checkpoint is expected
    assert!(
        matches!(Trainer::load_checkpoint(&good), Err(e @ Error::Format { .. }) if e.to_string().contains("not a checkpoint"))
    );
    assert!(matches!(
        load_model(&dir.path().join("missing.safetensors")),
        Err(Error::Io { .. })
    ));
}
