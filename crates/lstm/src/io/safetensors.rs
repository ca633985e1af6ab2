//! Stacks to and from `.safetensors`, under PyTorch's names and layouts (`weight_ih_l0`,
//! `weight_hh_l0_reverse`, ...), optionally behind a module prefix such as `lstm.`.
//!
//! A PyTorch `state_dict` saved with `safetensors.torch.save_file(model.state_dict(), path)` loads
//! directly; the config is inferred from the tensor shapes (an `nn.RNN`'s tanh/relu cannot be
//! seen in the shapes: tanh is assumed unless a config is given). Files written here also carry
//! the config as JSON in their metadata under [`CONFIG_KEY`].

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors};

use crate::config::{CellKind, RnnConfig};
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::io::model_file::{encode, format_err};
use crate::stack::Stack;

/// Metadata key holding the stack's config (JSON).
pub const CONFIG_KEY: &str = "lstm.rnn_config";

/// Infers a config from `(name, shape)` pairs of a state_dict (names after `prefix`).
pub fn infer_config(tensors: &[(String, Vec<usize>)], prefix: &str) -> Result<RnnConfig> {
    let shape = |name: &str| {
        tensors
            .iter()
            .find(|(n, _)| n.strip_prefix(prefix) == Some(name))
            .map(|(_, s)| s.clone())
    };
    let hint = |n: &str| Error::MissingTensor {
        name: format!("{prefix}{n}"),
        expected: vec![],
        hint: " — is this a PyTorch nn.LSTM/GRU/RNN state_dict, and is the prefix right?".into(),
    };
    let w_ih = shape("weight_ih_l0").ok_or_else(|| hint("weight_ih_l0"))?;
    let w_hh = shape("weight_hh_l0").ok_or_else(|| hint("weight_hh_l0"))?;
    if w_ih.len() != 2 || w_hh.len() != 2 {
        return Err(Error::Config {
            field: format!("{prefix}weight_hh_l0"),
            reason: format!("weights must be 2-D, found shapes {w_ih:?} and {w_hh:?}"),
        });
    }
    let (g, h_out) = (w_hh[0], w_hh[1]);
    let (cell, hidden, proj) = match shape("weight_hr_l0") {
        Some(hr) if hr.len() == 2 => (CellKind::Lstm, hr[1], hr[0]),
        Some(hr) => return Err(Error::shape(&format!("{prefix}weight_hr_l0"), &[h_out, 0], &hr)),
        None if h_out > 0 && g == 4 * h_out => (CellKind::Lstm, h_out, 0),
        None if h_out > 0 && g == 3 * h_out => (CellKind::Gru, h_out, 0),
        None if g == h_out => (CellKind::RnnTanh, h_out, 0),
        None => {
            return Err(Error::Config {
                field: format!("{prefix}weight_hh_l0"),
                reason: format!("shape {w_hh:?} has {g} gate rows for {h_out} units: not 4× (LSTM), 3× (GRU) or 1× (RNN)"),
            })
        }
    };
    let mut num_layers = 0;
    while shape(&format!("weight_ih_l{num_layers}")).is_some() {
        num_layers += 1;
    }
    let cfg = RnnConfig::new(cell, w_ih[1], hidden)
        .with_num_layers(num_layers)
        .with_bidirectional(shape("weight_ih_l0_reverse").is_some())
        .with_bias(shape("bias_ih_l0").is_some())
        .with_proj_size(proj);
    cfg.validate()?;
    Ok(cfg)
}

/// Loads a stack from safetensors bytes. `source` names the file in errors; only tensors whose
/// names start with `prefix` are read, and each of them must be a parameter of the config.
/// The config is `config` if given, else the one in the file's metadata, else inferred.
pub fn load_stack_bytes(
    bytes: &[u8],
    source: &str,
    prefix: &str,
    config: Option<RnnConfig>,
) -> Result<Stack> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        format_err(
            source,
            format!("not a valid safetensors file ({e}); is it truncated or corrupt?"),
        )
    })?;
    let config = match config {
        Some(c) => c,
        None => {
            let (_, meta) =
                SafeTensors::read_metadata(bytes).map_err(|e| format_err(source, e.to_string()))?;
            match meta.metadata().as_ref().and_then(|m| m.get(CONFIG_KEY)) {
                Some(json) => serde_json::from_str(json).map_err(|e| {
                    format_err(
                        source,
                        format!("metadata `{CONFIG_KEY}` is not a valid config: {e}"),
                    )
                })?,
                None => {
                    let names: Vec<(String, Vec<usize>)> = st
                        .tensors()
                        .into_iter()
                        .map(|(n, v)| (n, v.shape().to_vec()))
                        .collect();
                    infer_config(&names, prefix)?
                }
            }
        }
    };
    let mut stack = Stack::zeros(config)?;
    let layout = stack.layout().clone();
    for (name, _) in st.tensors() {
        let Some(short) = name.strip_prefix(prefix) else {
            continue;
        };
        if layout.slot(short).is_none() {
            return Err(Error::UnexpectedTensor {
                name,
                config: stack.config().describe(),
            });
        }
    }
    for slot in layout.slots() {
        let full = format!("{prefix}{}", slot.name);
        let view = st.tensor(&full).map_err(|_| Error::MissingTensor {
            name: full.clone(),
            expected: slot.torch_shape.clone(),
            hint: format!(" for {}", stack.config().describe()),
        })?;
        if view.dtype() != Dtype::F32 {
            return Err(Error::Dtype {
                tensor: full,
                expected: "F32".into(),
                found: format!("{:?}", view.dtype()),
            });
        }
        if view.shape() != slot.torch_shape.as_slice() {
            return Err(Error::shape(&full, &slot.torch_shape, view.shape()));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        layout.write_torch(stack.params_mut(), slot, &values);
    }
    Ok(stack)
}

/// Loads a stack from a `.safetensors` file; see [`load_stack_bytes`].
pub fn load_stack(path: &Path, prefix: &str, config: Option<RnnConfig>) -> Result<Stack> {
    let bytes = std::fs::read(path).map_err(|error| Error::Io {
        path: path.to_path_buf(),
        error,
    })?;
    load_stack_bytes(&bytes, &path.display().to_string(), prefix, config)
}

/// Serialises a stack: tensors `{prefix}{PyTorch name}` in PyTorch's layout, the config in the
/// metadata.
pub fn stack_to_bytes(stack: &Stack, prefix: &str) -> Result<Vec<u8>> {
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = stack
        .layout()
        .slots()
        .iter()
        .map(|s| {
            (
                format!("{prefix}{}", s.name),
                s.torch_shape.clone(),
                stack.layout().read_torch(stack.params(), s),
            )
        })
        .collect();
    let config =
        serde_json::to_string(stack.config()).map_err(|e| format_err("<memory>", e.to_string()))?;
    encode(&tensors, BTreeMap::from([(CONFIG_KEY.to_string(), config)]))
}

/// Saves a stack to `path` atomically; see [`stack_to_bytes`].
pub fn save_stack(stack: &Stack, path: &Path, prefix: &str) -> Result<()> {
    write_atomic(path, &stack_to_bytes(stack, prefix)?)
}
