//! Helpers shared by the integration tests: fixture loading and comparisons that say where.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lstm::{CellKind, RnnConfig};
use safetensors::tensor::{Dtype, SafeTensors};

/// A fixture file: every tensor as f64 (values of f32 tensors are exact), plus its metadata.
pub struct Fixture {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub tensors: HashMap<String, (Vec<usize>, Vec<f64>)>,
    pub meta: HashMap<String, String>,
}

impl Fixture {
    pub fn load(path: &Path) -> Fixture {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let st =
            SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut tensors = HashMap::new();
        for (name, v) in st.tensors() {
            let data: Vec<f64> = match v.dtype() {
                Dtype::F32 => v
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                Dtype::F64 => v
                    .data()
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
                d => panic!("{}: tensor {name} has dtype {d:?}", path.display()),
            };
            tensors.insert(name, (v.shape().to_vec(), data));
        }
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap_or_default();
        Fixture {
            path: path.to_path_buf(),
            bytes,
            tensors,
            meta,
        }
    }

    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.tensors.get(name).map(|(_, d)| d.as_slice())
    }

    pub fn req(&self, name: &str) -> &[f64] {
        self.get(name)
            .unwrap_or_else(|| panic!("{}: fixture has no tensor {name}", self.path.display()))
    }

    pub fn shape(&self, name: &str) -> &[usize] {
        &self.tensors[name].0
    }

    pub fn f32(&self, name: &str) -> Vec<f32> {
        self.req(name).iter().map(|&v| v as f32).collect()
    }

    pub fn case(&self) -> serde_json::Value {
        serde_json::from_str(&self.meta["case"]).unwrap()
    }

    /// The config the generator used (from the `case` metadata).
    pub fn config(&self) -> RnnConfig {
        let c = self.case();
        let cell = match c["mode"].as_str().unwrap() {
            "LSTM" => CellKind::Lstm,
            "GRU" => CellKind::Gru,
            "RNN_TANH" => CellKind::RnnTanh,
            "RNN_RELU" => CellKind::RnnRelu,
            m => panic!("unknown mode {m}"),
        };
        let u = |k: &str| c[k].as_u64().unwrap() as usize;
        RnnConfig::new(cell, u("input_size"), u("hidden_size"))
            .with_num_layers(u("num_layers"))
            .with_bidirectional(c["bidirectional"].as_bool().unwrap())
            .with_proj_size(u("proj_size"))
            .with_bias(c["bias"].as_bool().unwrap())
    }
}

/// All fixture files of a directory under `tests/fixtures`, sorted.
pub fn fixture_files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// Asserts `max|got − want| / max(1, max|want|) ≤ tol`, naming the tensor, the worst index, the
/// values and the tolerance on failure.
pub fn assert_close<T: Copy + Into<f64>>(what: &str, got: &[T], want: &[f64], tol: f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length: expected {}, got {}",
        want.len(),
        got.len()
    );
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let (mut worst, mut at) = (0.0f64, 0);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let e = (g.into() - w).abs();
        if e.is_nan() || e > worst {
            worst = if e.is_nan() { f64::INFINITY } else { e };
            at = i;
        }
    }
    let rel = worst / scale;
    assert!(
        rel <= tol,
        "{what}: max |ours − ref| / max(1, max|ref|) = {rel:.3e} > tol {tol:.0e}; worst at index {at}: expected {}, got {} (scale {scale:.3})",
        want[at],
        got[at].into()
    );
}

/// Deterministic pseudo-random values in [-scale, scale].
pub fn rand_vec(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

pub fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// `want` and `got` bit for bit; on failure names `what`, the index and both values.
pub fn assert_bitwise(what: &str, want: &[f32], got: &[f32]) {
    assert_eq!(want.len(), got.len(), "{what}: lengths");
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        assert_eq!(
            w.to_bits(),
            g.to_bits(),
            "{what}[{i}]: expected {w}, got {g}"
        );
    }
}

/// A forward of `stack` without grad, on a fresh inference tape.
pub fn infer(stack: &lstm::Stack, x: &lstm::Tensor) -> lstm::Output {
    stack
        .forward(x, None, None, &mut lstm::Tape::inference())
        .unwrap()
}

/// With inference weights in `precision`, a two-layer LSTM's recording forward, its gradients,
/// and its inference forwards before and after on the same tape (each pass must use its own
/// packing of the weights) are as expected: the recording ones as without the setting, the
/// inference ones as `want_inference(stack, x)` says.
pub fn check_recording_ignores(
    precision: lstm::WeightPrecision,
    want_inference: impl Fn(&lstm::Stack, &lstm::Tensor) -> lstm::Output,
) {
    use lstm::{Stack, Tape, Tensor};
    let cfg = RnnConfig::new(CellKind::Lstm, 6, 24).with_num_layers(2);
    let plain = Stack::new(cfg, 5).unwrap();
    let mut set = plain.clone();
    set.set_inference_weights(precision).unwrap();
    let (t, b) = (7, 4);
    let x = Tensor::new("x", &[t, b, 6], to_f32(&rand_vec(t * b * 6, 12, 1.0))).unwrap();
    let d_y = Tensor::new("d_y", &[t, b, 24], to_f32(&rand_vec(t * b * 24, 13, 1.0))).unwrap();
    let run = |s: &Stack, tape: &mut Tape| {
        let out = s.forward(&x, None, None, tape).unwrap();
        let mut grads = s.zero_grads();
        s.backward(tape, &mut grads, &d_y, None, None).unwrap();
        (out, grads)
    };
    let (want, want_g) = run(&plain, &mut Tape::default());
    let want_inf = want_inference(&set, &x);
    let mut tape = Tape::inference();
    let got_inf = set.forward(&x, None, None, &mut tape).unwrap();
    assert_bitwise("inference y", want_inf.y.data(), got_inf.y.data());
    tape.set_grad_enabled(true);
    let (got, got_g) = run(&set, &mut tape);
    assert_bitwise("recorded y", want.y.data(), got.y.data());
    tape.set_grad_enabled(false);
    let got_inf = set.forward(&x, None, None, &mut tape).unwrap();
    assert_bitwise("inference y after", want_inf.y.data(), got_inf.y.data());
    for name in &plain.param_names() {
        assert_bitwise(
            &format!("grad {name}"),
            plain.grad(&want_g, name).unwrap().data(),
            set.grad(&got_g, name).unwrap().data(),
        );
    }
}
