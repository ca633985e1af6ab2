//! Files: PyTorch-compatible `.safetensors` weights and atomic writes.

pub mod atomic;
pub mod model_file;
pub mod safetensors;

pub use self::safetensors::{
    infer_config, load_stack, load_stack_bytes, save_stack, stack_to_bytes,
};
pub use atomic::write_atomic;
pub use model_file::{load_model, save_model, HistoryPoint, ModelMeta, Scaling};
