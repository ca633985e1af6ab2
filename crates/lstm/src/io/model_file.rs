//! Model files and checkpoints: one `.safetensors` each.
//!
//! A **model file** holds every parameter under its PyTorch-style name (`embedding.weight`,
//! `lstm.weight_ih_l0`, …, `head.weight`, `head.bias`) and, in its metadata, the full
//! [`ModelConfig`] (`lstm.model`) and the [`ModelMeta`] (`lstm.meta`: data scaling, vocabulary,
//! training history) — everything `predict` needs. A **checkpoint** adds the optimizer state
//! (`optim.g{group}.s{block}`), the recurrent state carried between chunks (`carry.h`, `carry.c`)
//! and the trainer's state (`lstm.train`), so training resumes exactly. Writes are atomic.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::data::text::Vocab;
use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;
use crate::model::{Model, ModelConfig};

/// Metadata key of the model config.
pub const MODEL_KEY: &str = "lstm.model";
/// Metadata key of the [`ModelMeta`].
pub const META_KEY: &str = "lstm.meta";

/// Per-feature standardisation `(x − mean) / std`, fitted on training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Column names, if the data had them.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Means.
    pub mean: Vec<f32>,
    /// Standard deviations.
    pub std: Vec<f32>,
}

/// One point of the training history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// Optimizer step.
    pub step: u64,
    /// Mean training loss since the previous point.
    pub train_loss: f32,
    /// Validation loss, if evaluated.
    pub val_loss: Option<f32>,
    /// Validation accuracy (classification), if evaluated.
    pub val_accuracy: Option<f32>,
}

/// What a model file carries besides the weights.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Input scaling.
    #[serde(default)]
    pub scaling: Option<Scaling>,
    /// Target scaling.
    #[serde(default)]
    pub target_scaling: Option<Scaling>,
    /// Vocabulary (text models).
    #[serde(default)]
    pub vocab: Option<Vocab>,
    /// Class names (classifiers).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Training history.
    #[serde(default)]
    pub history: Vec<HistoryPoint>,
    /// How a forecaster reads its data (time-series models).
    #[serde(default)]
    pub series: Option<crate::data::series::SeriesMeta>,
}

/// Named f32 tensors and string metadata of one file.
pub(crate) struct Decoded {
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    pub meta: HashMap<String, String>,
}

pub(crate) fn format_err(source: &str, reason: impl Into<String>) -> Error {
    Error::Format {
        path: source.to_string(),
        reason: reason.into(),
    }
}

/// Serialises named tensors and metadata.
pub(crate) fn encode(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    meta: BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            TensorView::new(Dtype::F32, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| format_err("<memory>", e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut meta: HashMap<String, String> = meta.into_iter().collect();
    meta.insert("format".into(), "pt".into());
    safetensors::serialize(views, Some(meta)).map_err(|e| format_err("<memory>", e.to_string()))
}

/// Parses a file's bytes: every tensor must be F32.
pub(crate) fn decode(bytes: &[u8], source: &str) -> Result<Decoded> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        format_err(
            source,
            format!("not a valid safetensors file ({e}); is it truncated or corrupt?"),
        )
    })?;
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| format_err(source, e.to_string()))?;
    let mut tensors = Vec::new();
    for (name, v) in st.tensors() {
        if v.dtype() != Dtype::F32 {
            return Err(Error::Dtype {
                tensor: name,
                expected: "F32".into(),
                found: format!("{:?}", v.dtype()),
            });
        }
        let data = v
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.push((name, v.shape().to_vec(), data));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Decoded {
        tensors,
        meta: meta.metadata().clone().unwrap_or_default(),
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|error| Error::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// Fills a fresh model of `config` from decoded tensors: every parameter must be present with its
/// exact shape; tensors under `skip` prefixes are left alone, any other unknown one is an error.
pub(crate) fn model_from_tensors(
    config: ModelConfig,
    dec: &Decoded,
    skip: &[&str],
) -> Result<Model> {
    let mut model = Model::new(config, 0)?;
    let wanted = model.named_params();
    for (name, shape, _) in &wanted {
        let (_, s, v) = dec
            .tensors
            .iter()
            .find(|(n, _, _)| n == name)
            .ok_or_else(|| Error::MissingTensor {
                name: name.clone(),
                expected: shape.clone(),
                hint: String::new(),
            })?;
        model.set_named_param(name, s, v)?;
    }
    for (name, _, _) in &dec.tensors {
        if !skip.iter().any(|p| name.starts_with(p)) && !wanted.iter().any(|(n, _, _)| n == name) {
            return Err(Error::UnexpectedTensor {
                name: name.clone(),
                config: format!("model with {}", model.config().rnn.describe()),
            });
        }
    }
    Ok(model)
}

/// The model config and meta from a file's metadata; a file without them is refused as foreign.
pub(crate) fn model_config_of(dec: &Decoded, source: &str) -> Result<(ModelConfig, ModelMeta)> {
    let json = dec.meta.get(MODEL_KEY).ok_or_else(|| {
        format_err(
            source,
            format!("not an lstm model file (no `{MODEL_KEY}` metadata); a bare PyTorch state_dict loads with Model::load_pytorch and a config"),
        )
    })?;
    let config: ModelConfig = serde_json::from_str(json).map_err(|e| {
        format_err(
            source,
            format!("metadata `{MODEL_KEY}` is not a valid model config: {e}"),
        )
    })?;
    let meta = match dec.meta.get(META_KEY) {
        Some(m) => serde_json::from_str(m)
            .map_err(|e| format_err(source, format!("metadata `{META_KEY}` is invalid: {e}")))?,
        None => ModelMeta::default(),
    };
    Ok((config, meta))
}

pub(crate) fn model_metadata(model: &Model, meta: &ModelMeta) -> Result<BTreeMap<String, String>> {
    let j = |e: serde_json::Error| format_err("<memory>", e.to_string());
    Ok(BTreeMap::from([
        (
            MODEL_KEY.to_string(),
            serde_json::to_string(model.config()).map_err(j)?,
        ),
        (
            META_KEY.to_string(),
            serde_json::to_string(meta).map_err(j)?,
        ),
    ]))
}

/// Saves a model file atomically.
pub fn save_model(path: &Path, model: &Model, meta: &ModelMeta) -> Result<()> {
    write_atomic(
        path,
        &encode(&model.named_params(), model_metadata(model, meta)?)?,
    )
}

/// Loads a model file written by [`save_model`] (or a checkpoint: its training state is ignored).
pub fn load_model(path: &Path) -> Result<(Model, ModelMeta)> {
    let source = path.display().to_string();
    let dec = decode(&read_file(path)?, &source)?;
    let (config, meta) = model_config_of(&dec, &source)?;
    let model = model_from_tensors(config, &dec, &["optim.", "carry."])?;
    Ok((model, meta))
}

impl Model {
    /// Loads a PyTorch `state_dict` saved with `safetensors.torch.save_file` from a module with
    /// attributes `embedding` (if any), `lstm` (the `nn.LSTM`/`GRU`/`RNN`) and `head` (`nn.Linear`),
    /// given the matching config.
    pub fn load_pytorch(path: &Path, config: ModelConfig) -> Result<Model> {
        let dec = decode(&read_file(path)?, &path.display().to_string())?;
        model_from_tensors(config, &dec, &[])
    }
}
