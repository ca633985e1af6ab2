//! Whole models (embedding or dense input → stack → head → each loss): the f64 reference model's
//! gradients against central differences, and the fast f32 model's against the reference.

mod common;

use common::{assert_bitwise, assert_close, rand_vec};
use lstm::data::{Sample, SampleSet, SeqInput, SeqTarget};
use lstm::loss::RegressionLoss;
use lstm::model::{HeadKind, InputKind, Model, ModelConfig, ModelTape, Task};
use lstm::reference::RefModel;
use lstm::{CellKind, RnnConfig};

fn samples(cfg: &ModelConfig, lens: &[usize], seed: u64) -> SampleSet {
    let f = cfg.rnn.input_size;
    let o = cfg.outputs;
    let samples = lens
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let s = seed + 10 * i as u64;
            let x = match cfg.input {
                InputKind::Dense { .. } => {
                    SeqInput::Dense(rand_vec(t * f, s, 1.0).iter().map(|&v| v as f32).collect())
                }
                InputKind::Embedding { vocab } => SeqInput::Tokens(
                    rand_vec(t, s, 1.0)
                        .iter()
                        .map(|v| ((v + 1.0) * 1000.0) as usize % vocab)
                        .collect(),
                ),
            };
            let cls = |n: usize, s2: u64| -> Vec<usize> {
                rand_vec(n, s2, 1.0)
                    .iter()
                    .map(|v| ((v + 1.0) * 1000.0) as usize % o)
                    .collect()
            };
            let vals = |n: usize, s2: u64| -> Vec<f32> {
                rand_vec(n, s2, 1.0).iter().map(|&v| v as f32).collect()
            };
            let y = match (&cfg.task, cfg.head) {
                (Task::Regression { .. }, HeadKind::EveryStep) => {
                    SeqTarget::StepValues(vals(t * o, s + 1))
                }
                (Task::Regression { .. }, HeadKind::LastState) => SeqTarget::Values(vals(o, s + 1)),
                (_, HeadKind::EveryStep) => SeqTarget::StepClasses(cls(t, s + 1)),
                (_, HeadKind::LastState) => SeqTarget::Class(cls(1, s + 1)[0]),
            };
            Sample { x, y }
        })
        .collect();
    SampleSet {
        features: f,
        samples,
    }
}

fn cases() -> Vec<(&'static str, ModelConfig, Vec<usize>)> {
    use CellKind::*;
    let m = |input, rnn, head, outputs, task| ModelConfig {
        input,
        rnn,
        head,
        outputs,
        task,
        forget_bias: false,
    };
    vec![
        (
            "dense lstm every-step mse, lengths",
            m(
                InputKind::Dense { features: 3 },
                RnnConfig::new(Lstm, 3, 4),
                HeadKind::EveryStep,
                2,
                Task::Regression {
                    loss: RegressionLoss::Mse,
                },
            ),
            vec![5, 2, 4],
        ),
        (
            "dense gru bidir last-state mae",
            m(
                InputKind::Dense { features: 3 },
                RnnConfig::new(Gru, 3, 4).with_bidirectional(true),
                HeadKind::LastState,
                2,
                Task::Regression {
                    loss: RegressionLoss::Mae,
                },
            ),
            vec![4, 4, 4],
        ),
        (
            "dense lstm proj 2l last-state huber, lengths",
            m(
                InputKind::Dense { features: 3 },
                RnnConfig::new(Lstm, 3, 4)
                    .with_proj_size(2)
                    .with_num_layers(2),
                HeadKind::LastState,
                1,
                Task::Regression {
                    loss: RegressionLoss::Huber { delta: 0.5 },
                },
            ),
            vec![3, 5],
        ),
        (
            "embedding lstm 2l bidir classifier, lengths",
            m(
                InputKind::Embedding { vocab: 6 },
                RnnConfig::new(Lstm, 3, 4)
                    .with_num_layers(2)
                    .with_bidirectional(true),
                HeadKind::LastState,
                3,
                Task::Classification,
            ),
            vec![4, 2, 5],
        ),
        (
            "embedding rnn language model",
            m(
                InputKind::Embedding { vocab: 5 },
                RnnConfig::new(RnnTanh, 3, 4),
                HeadKind::EveryStep,
                5,
                Task::LanguageModel,
            ),
            vec![6, 6],
        ),
    ]
}

#[test]
#[allow(clippy::needless_range_loop)] // finite differences index parameters and gradients together
fn reference_model_gradients_match_finite_differences() {
    for (ci, (name, cfg, lens)) in cases().into_iter().enumerate() {
        let model = Model::new(cfg.clone(), ci as u64).unwrap();
        let data = samples(&cfg, &lens, 100 * ci as u64);
        let batch = data.batch(&(0..lens.len()).collect::<Vec<_>>());
        let mut rm = RefModel::from_model(&model);
        let (_, grads) = rm.loss_and_grads(&batch, true);
        let names: Vec<String> = rm.params.keys().cloned().collect();
        assert_eq!(
            grads.len(),
            names.len(),
            "{name}: a gradient for every parameter"
        );
        let eps = 1e-6;
        for p in &names {
            for i in 0..rm.params[p].len() {
                let orig = rm.params[p][i];
                rm.params.get_mut(p).unwrap()[i] = orig + eps;
                let (lp, _) = rm.loss_and_grads(&batch, false);
                rm.params.get_mut(p).unwrap()[i] = orig - eps;
                let (lm, _) = rm.loss_and_grads(&batch, false);
                rm.params.get_mut(p).unwrap()[i] = orig;
                let fd = (lp - lm) / (2.0 * eps);
                let an = grads[p][i];
                assert!(
                    (fd - an).abs() <= 1e-6 * (1.0 + an.abs()),
                    "{name}: d {p}[{i}]: finite difference {fd:.10}, analytic {an:.10}"
                );
            }
        }
    }
}

#[test]
fn fast_model_matches_reference_model() {
    for (ci, (name, cfg, lens)) in cases().into_iter().enumerate() {
        let model = Model::new(cfg.clone(), 50 + ci as u64).unwrap();
        let data = samples(&cfg, &lens, 7 + 100 * ci as u64);
        let batch = data.batch(&(0..lens.len()).collect::<Vec<_>>());
        let rm = RefModel::from_model(&model);
        let (ref_loss, ref_grads) = rm.loss_and_grads(&batch, true);
        let mut tape = ModelTape::default();
        let (out, _) = model
            .forward(
                &batch.input,
                batch.lengths.as_deref(),
                None,
                None,
                &mut tape,
            )
            .unwrap();
        let lo = model.loss(&out, &batch.target, &tape).unwrap();
        // An inference tape: the same outputs bit for bit; backward refuses it, adding nothing.
        let mut no_grad = ModelTape::inference();
        let (out_ng, _) = model
            .forward(
                &batch.input,
                batch.lengths.as_deref(),
                None,
                None,
                &mut no_grad,
            )
            .unwrap();
        assert_bitwise(
            &format!("{name}: output (recording vs without grad)"),
            &out,
            &out_ng,
        );
        let mut g0 = model.zero_grads();
        let lo_ng = model.loss(&out_ng, &batch.target, &no_grad).unwrap();
        let err = model
            .backward(&mut no_grad, &lo_ng.d_out, &mut g0)
            .expect_err("backward on an inference tape");
        assert!(err.to_string().contains("without grad"), "{name}: {err}");
        assert!(
            g0.groups_mut().iter().all(|g| g.iter().all(|v| *v == 0.0)),
            "{name}: a refused backward must add no gradient"
        );
        assert!(
            (lo.loss as f64 - ref_loss).abs() <= 1e-5 * (1.0 + ref_loss.abs()),
            "{name}: loss: expected {ref_loss}, got {}",
            lo.loss
        );
        let mut g = model.zero_grads();
        model.backward(&mut tape, &lo.d_out, &mut g).unwrap();
        // Read the fast gradients back by name: put them in a model's parameter slots.
        let mut as_model = model.clone();
        let groups = g.groups_mut();
        let [sp, ep] = as_model.param_groups_mut();
        sp.copy_from_slice(groups[0]);
        ep.copy_from_slice(groups[1]);
        for (pname, _, values) in as_model.named_params() {
            assert_close(
                &format!("{name}: d {pname}"),
                &values,
                &ref_grads[&pname],
                1e-5,
            );
        }
    }
}
