//! Gate and cell traces: what every gate of every unit of one layer did at every step of one
//! input sequence, for heatmaps, per-character colouring and printed tables.
//!
//! Computed in f64 on the reference implementation (one sequence, step by step), then rounded to
//! f32 for display; the model's outputs come from the fast path.

use crate::config::CellKind;
use crate::data::{BatchInput, SeqInput};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::reference::RefModel;
use crate::tensor::Tensor;

/// One layer's activity over one sequence (forward direction).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The cell type.
    pub cell: CellKind,
    /// The layer traced.
    pub layer: usize,
    /// T.
    pub steps: usize,
    /// H.
    pub hidden: usize,
    /// The gates' names, in gate order (see [`gate_names`]).
    pub gate_names: Vec<&'static str>,
    /// Per gate: whether its values are signed (tanh, in −1..1) rather than a sigmoid's 0..1.
    pub gate_signed: Vec<bool>,
    /// Per gate: `[T, H]` activations.
    pub gates: Vec<Vec<f32>>,
    /// `[T, H]` the cell state after each step (LSTM).
    pub cell_state: Option<Vec<f32>>,
    /// `[T, H_out]` the hidden state after each step.
    pub hidden_state: Vec<f32>,
    /// `[T, O]` the model's output at every step (every-step head) or `[1, O]` (last-state head).
    pub outputs: Vec<f32>,
}

impl Trace {
    /// `[T]` the values of gate `gate` (index into [`Trace::gate_names`]) for unit `unit`.
    pub fn gate_unit(&self, gate: usize, unit: usize) -> Vec<f32> {
        (0..self.steps)
            .map(|t| self.gates[gate][t * self.hidden + unit])
            .collect()
    }
}

/// Gate names per cell type, in gate order, with whether each is signed (tanh) or a sigmoid.
pub fn gate_names(cell: CellKind) -> Vec<(&'static str, bool)> {
    match cell {
        CellKind::Lstm => vec![
            ("input gate i", false),
            ("forget gate f", false),
            ("cell input g", true),
            ("output gate o", false),
        ],
        CellKind::Gru => vec![
            ("reset gate r", false),
            ("update gate z", false),
            ("new state n", true),
        ],
        CellKind::RnnTanh => vec![("state h", true)],
        CellKind::RnnRelu => vec![("state h", false)],
    }
}

/// Traces `layer` of `model` over one sequence `x` (`[T, F]` dense values or `[T]` tokens).
pub fn trace(model: &Model, x: &SeqInput, layer: usize) -> Result<Trace> {
    let cfg = model.config();
    let rnn = &cfg.rnn;
    if layer >= rnn.num_layers {
        return Err(Error::config(
            "layer",
            format!(
                "layer {layer} does not exist; the model has {} layer(s)",
                rnn.num_layers
            ),
        ));
    }
    let input = match x {
        SeqInput::Dense(v) => {
            let f = rnn.input_size;
            if f == 0 || v.len() % f != 0 || v.is_empty() {
                return Err(Error::shape("x", &[v.len() / f.max(1), f], &[v.len()]));
            }
            BatchInput::Dense(Tensor::new("x", &[v.len() / f, 1, f], v.clone())?)
        }
        SeqInput::Tokens(ids) => {
            if ids.is_empty() {
                return Err(Error::Data("the input sequence is empty".into()));
            }
            BatchInput::Tokens {
                ids: ids.clone(),
                t: ids.len(),
                b: 1,
            }
        }
    };
    // The fast path checks the input against the model (kind, vocabulary, finiteness).
    let outputs = model.predict(&input, None)?;
    let (t, _) = input.dims();
    let rm = RefModel::from_model(model);
    let rs = rm.stack();
    let x64 = rm.stack_input(&input);
    let fw = rs.forward(&x64, t, 1, None, None, None, &[]);
    let steps = rs.steps(&fw, layer, 0, 0);
    let h = rnn.hidden_size;
    let (names, signed): (Vec<&'static str>, Vec<bool>) = gate_names(rnn.cell).into_iter().unzip();
    let mut gates = vec![Vec::with_capacity(t * h); names.len()];
    let mut cell_state = Vec::new();
    let mut hidden_state = Vec::new();
    for s in &steps {
        for (g, buf) in gates.iter_mut().enumerate() {
            buf.extend(s.gates[g * h..(g + 1) * h].iter().map(|&v| v as f32));
        }
        cell_state.extend(s.c.iter().map(|&v| v as f32));
        hidden_state.extend(s.h.iter().map(|&v| v as f32));
    }
    Ok(Trace {
        cell: rnn.cell,
        layer,
        steps: t,
        hidden: h,
        gate_names: names,
        gate_signed: signed,
        gates,
        cell_state: (rnn.cell == CellKind::Lstm).then_some(cell_state),
        hidden_state,
        outputs,
    })
}
