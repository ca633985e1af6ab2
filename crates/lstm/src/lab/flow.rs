//! Gradient flow through time: for a loss at the last step, how large is `∂L/∂h_t` at every
//! earlier step t? A plain RNN's norm shrinks (or grows) geometrically with the distance to the
//! loss; the LSTM's cell state carries it back nearly unchanged while the forget gate stays open.
//!
//! Computed in f64 on the reference implementation ([`crate::reference`]), so that vanishing norms
//! (1e-30 and below) are measured, not rounded to zero.

use crate::config::CellKind;
use crate::data::tasks::adding_problem;
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::model::{Model, ModelTape, STACK_PREFIX};
use crate::reference::{GradTrace, RefModel};

use super::run::LabTask;

/// The gradient norms of one model over one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// The cell type.
    pub cell: CellKind,
    /// `[T]` `‖∂L/∂h_t‖` of the top layer (forward direction), the norm over the batch.
    pub h: Vec<f64>,
    /// `[T]` `‖∂L/∂c_t‖` of the top layer (LSTM).
    pub c: Option<Vec<f64>>,
    /// The loss (at each sequence's last step).
    pub loss: f64,
    /// The global norm of the gradient of every parameter.
    pub param_norm: f64,
}

impl Flow {
    /// `‖∂L/∂h_1‖ / ‖∂L/∂h_T‖`: how much of the gradient at the last step reaches the first.
    pub fn ratio(&self) -> f64 {
        match (self.h.first(), self.h.last()) {
            (Some(&first), Some(&last)) if last > 0.0 => first / last,
            _ => 0.0,
        }
    }

    /// `‖∂L/∂h_t‖` after clipping the parameter gradient to global norm `max_norm`: clipping
    /// multiplies every gradient, and so every term `∂L/∂h_t` feeds, by the same factor
    /// `min(1, max_norm / ‖∇θ‖)`. The update's size is bounded; its make-up over t is unchanged.
    pub fn clipped(&self, max_norm: f64) -> Vec<f64> {
        let s = if self.param_norm > max_norm {
            max_norm / self.param_norm
        } else {
            1.0
        };
        self.h.iter().map(|v| v * s).collect()
    }
}

/// The gradient norms at every step of `model` on `batch`, for the model's loss at each
/// sequence's last step (an every-step head counts only that step).
pub fn gradient_flow(model: &Model, batch: &Batch) -> Result<Flow> {
    // The fast path checks the batch against the model with typed errors first.
    let mut tape = ModelTape::default();
    let (out, _) = model.forward(
        &batch.input,
        batch.lengths.as_deref(),
        None,
        None,
        &mut tape,
    )?;
    model.loss(&out, &batch.target, &tape)?;
    let cfg = &model.config().rnn;
    let rm = RefModel::from_model(model);
    let mut trace = GradTrace::default();
    let (loss, grads) = rm.loss_traced(batch, true, true, &mut trace);
    let top = (cfg.num_layers - 1) * cfg.directions();
    let sqrt = |v: &[f64]| v.iter().map(|x| x.sqrt()).collect::<Vec<f64>>();
    let param_norm = grads.values().flatten().map(|g| g * g).sum::<f64>().sqrt();
    if !loss.is_finite() {
        return Err(Error::Data(format!(
            "the loss on this input is {loss}; no gradient to follow"
        )));
    }
    Ok(Flow {
        cell: cfg.cell,
        h: sqrt(&trace.h_sq[top]),
        c: (cfg.cell == CellKind::Lstm).then(|| sqrt(&trace.c_sq[top])),
        loss,
        param_norm,
    })
}

/// The gradient flow comparison: fresh RNN, GRU and LSTM adding-problem models (PyTorch's
/// initialisation, `hidden` units, LSTM forget-gate bias 1, all from `seed`) on the same `batch`
/// sequences of length `lag`, and an RNN whose recurrent weights are scaled to spectral radius
/// about `gain` (> 1 makes the gradient explode). Returns the four flows, the RNN with large
/// weights last.
pub fn compare_cells(
    lag: usize,
    hidden: usize,
    batch: usize,
    gain: f32,
    seed: u64,
) -> Result<Vec<Flow>> {
    let data = adding_problem(batch, lag, seed ^ 0xf10f);
    let idx: Vec<usize> = (0..batch).collect();
    let b = data.batch(&idx);
    let mut flows = vec![];
    for cell in [CellKind::RnnTanh, CellKind::Gru, CellKind::Lstm] {
        let m = Model::new(LabTask::Adding.model_config(cell, hidden), seed)?;
        flows.push(gradient_flow(&m, &b)?);
    }
    let big = scaled_recurrence(
        Model::new(
            LabTask::Adding.model_config(CellKind::RnnTanh, hidden),
            seed,
        )?,
        gain,
    )?;
    flows.push(gradient_flow(&big, &b)?);
    Ok(flows)
}

/// `model` with every layer's `W_hh` scaled so that its expected spectral radius is `gain`:
/// PyTorch's `U(−1/√H, 1/√H)` initialisation gives about `1/√3`.
pub fn scaled_recurrence(mut model: Model, gain: f32) -> Result<Model> {
    let scale = gain * 3f32.sqrt();
    for (name, shape, v) in model.named_params() {
        if name.starts_with(&format!("{STACK_PREFIX}weight_hh")) {
            let v: Vec<f32> = v.iter().map(|x| x * scale).collect();
            model.set_named_param(&name, &shape, &v)?;
        }
    }
    Ok(model)
}
