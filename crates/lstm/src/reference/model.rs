//! The f64 reference model: embedding lookup, [`RefStack`], linear head and the task's loss,
//! with the gradient of every named parameter.

use std::collections::BTreeMap;

use super::stack::{GradTrace, RefStack};
use crate::data::{Batch, BatchInput, BatchTarget};
use crate::loss::RegressionLoss;
use crate::model::{HeadKind, InputKind, Model, ModelConfig, Task, STACK_PREFIX};

/// A model in f64: parameters by their prefixed PyTorch names.
#[derive(Debug, Clone)]
pub struct RefModel {
    /// The config.
    pub config: ModelConfig,
    /// Every parameter (`embedding.weight`, `lstm.*`, `head.weight`, `head.bias`), PyTorch layout.
    pub params: BTreeMap<String, Vec<f64>>,
}

impl RefModel {
    /// Copies a model's parameters into f64.
    pub fn from_model(m: &Model) -> Self {
        let params = m
            .named_params()
            .into_iter()
            .map(|(n, _, v)| (n, v.iter().map(|&x| x as f64).collect()))
            .collect();
        RefModel {
            config: m.config().clone(),
            params,
        }
    }

    /// The recurrent stack's input `[T, B, F]` for a batch's input (embedded, for tokens).
    pub fn stack_input(&self, input: &BatchInput) -> Vec<f64> {
        let f = self.config.rnn.input_size;
        match (input, &self.config.input) {
            (BatchInput::Dense(x), InputKind::Dense { .. }) => {
                x.data().iter().map(|&v| v as f64).collect()
            }
            (BatchInput::Tokens { ids, .. }, InputKind::Embedding { .. }) => {
                let e = &self.params["embedding.weight"];
                ids.iter()
                    .flat_map(|&i| e[i * f..(i + 1) * f].to_vec())
                    .collect()
            }
            _ => panic!("input kind mismatch"),
        }
    }

    /// The recurrent stack's part.
    pub fn stack(&self) -> RefStack {
        let params = self
            .params
            .iter()
            .filter_map(|(n, v)| {
                n.strip_prefix(STACK_PREFIX)
                    .map(|s| (s.to_string(), v.clone()))
            })
            .collect();
        RefStack {
            config: self.config.rnn.clone(),
            params,
        }
    }

    /// Loss of a batch and, if `with_grads`, the gradient of every parameter.
    pub fn loss_and_grads(
        &self,
        batch: &Batch,
        with_grads: bool,
    ) -> (f64, BTreeMap<String, Vec<f64>>) {
        self.loss_traced(batch, with_grads, false, &mut GradTrace::default())
    }

    /// [`RefModel::loss_and_grads`], recording the gradient norms at every step in `trace`. With
    /// `last_step_only`, an every-step head's loss counts only each sequence's last step.
    pub fn loss_traced(
        &self,
        batch: &Batch,
        with_grads: bool,
        last_step_only: bool,
        trace: &mut GradTrace,
    ) -> (f64, BTreeMap<String, Vec<f64>>) {
        let c = &self.config;
        let (t, b) = batch.input.dims();
        let f = c.rnn.input_size;
        let (k, o) = (c.head_inputs(), c.outputs);
        let (nl, nd, ho) = (c.rnn.num_layers, c.rnn.directions(), c.rnn.h_out());
        let x = self.stack_input(&batch.input);
        let rs = self.stack();
        let lengths = batch.lengths.as_deref();
        let fw = rs.forward(&x, t, b, None, None, lengths, &[]);
        // Head rows and which count.
        let (feats, active): (Vec<f64>, Vec<bool>) = match c.head {
            HeadKind::EveryStep => (
                fw.y.clone(),
                (0..t * b)
                    .map(|r| {
                        let len = lengths.map_or(t, |l| l[r % b]);
                        r / b < len && (!last_step_only || r / b + 1 == len)
                    })
                    .collect(),
            ),
            HeadKind::LastState => {
                let mut v = vec![];
                for bi in 0..b {
                    for d in 0..nd {
                        let kk = (nl - 1) * nd + d;
                        v.extend_from_slice(&fw.h_n[(kk * b + bi) * ho..(kk * b + bi + 1) * ho]);
                    }
                }
                (v, vec![true; b])
            }
        };
        let n = active.len();
        let (w, bias) = (&self.params["head.weight"], &self.params["head.bias"]);
        let mut out = vec![0.0; n * o];
        for r in 0..n {
            for j in 0..o {
                out[r * o + j] =
                    bias[j] + (0..k).map(|q| w[j * k + q] * feats[r * k + q]).sum::<f64>();
            }
        }
        let valid = active.iter().filter(|&&a| a).count().max(1) as f64;
        let mut d_out = vec![0.0; n * o];
        let mut loss = 0.0;
        match (&c.task, &batch.target) {
            (Task::Regression { loss: kind }, BatchTarget::Values { data, .. }) => {
                let count = valid * o as f64;
                for r in (0..n).filter(|&r| active[r]) {
                    for j in r * o..(r + 1) * o {
                        let e = out[j] - data[j] as f64;
                        let (l, g) = match kind {
                            RegressionLoss::Mse => (e * e, 2.0 * e),
                            RegressionLoss::Mae => (e.abs(), e.signum()),
                            RegressionLoss::Huber { delta } => {
                                let dl = *delta as f64;
                                if e.abs() < dl {
                                    (0.5 * e * e, e)
                                } else {
                                    (dl * (e.abs() - 0.5 * dl), dl * e.signum())
                                }
                            }
                        };
                        loss += l / count;
                        d_out[j] = g / count;
                    }
                }
            }
            (_, BatchTarget::Classes { data, .. }) => {
                for r in (0..n).filter(|&r| active[r]) {
                    let row = &out[r * o..(r + 1) * o];
                    let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                    loss += (lse - row[data[r]]) / valid;
                    for j in 0..o {
                        d_out[r * o + j] =
                            ((row[j] - lse).exp() - if j == data[r] { 1.0 } else { 0.0 }) / valid;
                    }
                }
            }
            _ => panic!("target kind mismatch"),
        }
        let mut grads = BTreeMap::new();
        if !with_grads {
            return (loss, grads);
        }
        let mut gw = vec![0.0; o * k];
        let mut gb = vec![0.0; o];
        let mut d_feats = vec![0.0; n * k];
        for r in 0..n {
            for j in 0..o {
                gb[j] += d_out[r * o + j];
                for q in 0..k {
                    gw[j * k + q] += d_out[r * o + j] * feats[r * k + q];
                    d_feats[r * k + q] += d_out[r * o + j] * w[j * k + q];
                }
            }
        }
        let (d_y, d_hn) = match c.head {
            HeadKind::EveryStep => (d_feats, vec![0.0; nl * nd * b * ho]),
            HeadKind::LastState => {
                let mut d_hn = vec![0.0; nl * nd * b * ho];
                for bi in 0..b {
                    for d in 0..nd {
                        let kk = (nl - 1) * nd + d;
                        d_hn[(kk * b + bi) * ho..(kk * b + bi + 1) * ho]
                            .copy_from_slice(&d_feats[bi * k + d * ho..bi * k + (d + 1) * ho]);
                    }
                }
                (vec![0.0; t * b * k], d_hn)
            }
        };
        let rg = rs.backward_traced(&fw, &d_y, Some(&d_hn), None, &[], trace);
        for (name, g) in rg.params {
            grads.insert(format!("{STACK_PREFIX}{name}"), g);
        }
        if let (BatchInput::Tokens { ids, .. }, InputKind::Embedding { vocab }) =
            (&batch.input, &c.input)
        {
            let mut ge = vec![0.0; vocab * f];
            for (r, &i) in ids.iter().enumerate() {
                for q in 0..f {
                    ge[i * f + q] += rg.d_x[r * f + q];
                }
            }
            grads.insert("embedding.weight".into(), ge);
        }
        grads.insert("head.weight".into(), gw);
        grads.insert("head.bias".into(), gb);
        (loss, grads)
    }
}
