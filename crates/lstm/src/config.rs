//! The typed configuration of a recurrent stack, as PyTorch's `nn.LSTM` / `nn.GRU` / `nn.RNN`
//! constructors take it. Required fields go through [`RnnConfig::new`], optional ones through
//! `with_*`; the config is serialised (JSON) into every model file.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The cell type of a recurrent layer.
///
/// Gate order, written down once and used everywhere (PyTorch's):
/// - LSTM: `i, f, g, o` (input, forget, cell candidate, output), `G = 4H` gate rows;
/// - GRU: `r, z, n` (reset, update, new), `G = 3H`,
///   with `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))` — `r` applied after the hidden product;
/// - RNN: one block, `G = H`, `h' = act(W_ih x + b_ih + W_hh h + b_hh)` with `act` tanh or relu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellKind {
    /// Long short-term memory, gates `i, f, g, o`.
    Lstm,
    /// Gated recurrent unit, gates `r, z, n`.
    Gru,
    /// Elman RNN with tanh.
    RnnTanh,
    /// Elman RNN with relu.
    RnnRelu,
}

impl CellKind {
    /// Gate blocks per hidden unit: 4 (LSTM), 3 (GRU), 1 (RNN).
    pub fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
        }
    }

    /// A short lowercase name: `lstm`, `gru`, `rnn_tanh`, `rnn_relu`.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
            CellKind::RnnTanh => "rnn_tanh",
            CellKind::RnnRelu => "rnn_relu",
        }
    }

    /// Parses [`CellKind::name`] (also accepts `rnn` for `rnn_tanh`).
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            "rnn" | "rnn_tanh" => Ok(CellKind::RnnTanh),
            "rnn_relu" => Ok(CellKind::RnnRelu),
            other => Err(Error::config(
                "cell",
                format!(
                    "unknown cell type `{other}`; expected one of lstm, gru, rnn_tanh, rnn_relu"
                ),
            )),
        }
    }
}

/// Configuration of a recurrent stack (layers × directions), PyTorch's constructor arguments.
///
/// Shapes legend: F = `input_size`, H = `hidden_size`, P = `proj_size` (LSTM only),
/// H_out = P if P > 0 else H, L = `num_layers`, D = 2 if bidirectional else 1, G = gates × H.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RnnConfig {
    /// Cell type.
    pub cell: CellKind,
    /// F: features of the input at each step.
    pub input_size: usize,
    /// H: hidden units per layer and direction.
    pub hidden_size: usize,
    /// L: stacked layers (default 1).
    #[serde(default = "one")]
    pub num_layers: usize,
    /// Whether each layer also runs right-to-left (default false).
    #[serde(default)]
    pub bidirectional: bool,
    /// P: LSTM output projection size, 0 for none (default 0).
    #[serde(default)]
    pub proj_size: usize,
    /// Whether the layers have biases `b_ih`, `b_hh` (default true).
    #[serde(default = "yes")]
    pub bias: bool,
    /// Dropout probability on the outputs of every layer but the last, in training only (default 0).
    #[serde(default)]
    pub dropout: f32,
}

fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}

impl RnnConfig {
    /// A one-layer, unidirectional config with biases, no projection and no dropout.
    pub fn new(cell: CellKind, input_size: usize, hidden_size: usize) -> Self {
        RnnConfig {
            cell,
            input_size,
            hidden_size,
            num_layers: 1,
            bidirectional: false,
            proj_size: 0,
            bias: true,
            dropout: 0.0,
        }
    }

    /// Sets the number of stacked layers.
    pub fn with_num_layers(mut self, num_layers: usize) -> Self {
        self.num_layers = num_layers;
        self
    }

    /// Makes every layer bidirectional.
    pub fn with_bidirectional(mut self, bidirectional: bool) -> Self {
        self.bidirectional = bidirectional;
        self
    }

    /// Sets the LSTM projection size (0 = none).
    pub fn with_proj_size(mut self, proj_size: usize) -> Self {
        self.proj_size = proj_size;
        self
    }

    /// Turns the biases on or off.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Sets the dropout probability between layers.
    pub fn with_dropout(mut self, dropout: f32) -> Self {
        self.dropout = dropout;
        self
    }

    /// Checks every field and every combination; the error names the field.
    pub fn validate(&self) -> Result<()> {
        if self.input_size == 0 {
            return Err(Error::config("input_size", "must be at least 1, found 0"));
        }
        if self.hidden_size == 0 {
            return Err(Error::config("hidden_size", "must be at least 1, found 0"));
        }
        if self.num_layers == 0 {
            return Err(Error::config("num_layers", "must be at least 1, found 0"));
        }
        if self.proj_size > 0 && self.cell != CellKind::Lstm {
            return Err(Error::config(
                "proj_size",
                format!(
                    "only LSTM supports a projection, cell is {}",
                    self.cell.name()
                ),
            ));
        }
        if self.proj_size >= self.hidden_size && self.proj_size > 0 {
            return Err(Error::config(
                "proj_size",
                format!(
                    "must be smaller than hidden_size ({}), found {}",
                    self.hidden_size, self.proj_size
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config(
                "dropout",
                format!("must be in [0, 1), found {}", self.dropout),
            ));
        }
        Ok(())
    }

    /// D: 2 if bidirectional, else 1.
    pub fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }

    /// H_out: the size of `h` (P if projected, else H).
    pub fn h_out(&self) -> usize {
        if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        }
    }

    /// G: gate rows per direction (`gates × H`).
    pub fn gate_rows(&self) -> usize {
        self.cell.gates() * self.hidden_size
    }

    /// Input features of layer `l`: F for layer 0, D × H_out after.
    pub fn layer_input_size(&self, l: usize) -> usize {
        if l == 0 {
            self.input_size
        } else {
            self.directions() * self.h_out()
        }
    }

    /// Features of the stack's output `y`: D × H_out.
    pub fn output_size(&self) -> usize {
        self.directions() * self.h_out()
    }

    /// A one-line description used in messages.
    pub fn describe(&self) -> String {
        format!(
            "{}(input_size={}, hidden_size={}, num_layers={}, bidirectional={}, proj_size={}, bias={})",
            self.cell.name(),
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.bidirectional,
            self.proj_size,
            self.bias
        )
    }
}
