//! Runs every committed PyTorch reference model (`tests/fixtures/rnn`, written by
//! `tools/gen_rnn_fixtures.py`) through this engine — forward and backward through time — and
//! prints how closely the outputs and gradients agree with PyTorch's float64 results.
//!
//! `cargo run --release -p lstm --example pytorch_parity [DIR]`

use std::path::PathBuf;

use lstm::io::load_stack_bytes;
use lstm::{State, Tape, Tensor};
use safetensors::tensor::{Dtype, SafeTensors};

fn read(st: &SafeTensors, name: &str) -> Option<(Vec<usize>, Vec<f64>)> {
    let v = st.tensor(name).ok()?;
    let data = match v.dtype() {
        Dtype::F32 => v
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
            .collect(),
        Dtype::F64 => v
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        _ => return None,
    };
    Some((v.shape().to_vec(), data))
}

fn tensor(st: &SafeTensors, name: &str) -> Option<Tensor> {
    let (s, d) = read(st, name)?;
    Tensor::new(name, &s, d.iter().map(|&v| v as f32).collect()).ok()
}

fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).abs())
        .fold(0.0, f64::max)
        / scale
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rnn"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| {
        p.extension().is_some_and(|e| e == "safetensors")
            && !p.to_string_lossy().contains("state_dict_")
    });
    files.sort();
    println!(
        "{:<28} {:<58} {:>10} {:>10} {:>10}",
        "case", "config", "y err", "grad err", "ok ≤1e-5"
    );
    let (mut worst, mut n) = (0.0f64, 0);
    for path in &files {
        let bytes = std::fs::read(path)?;
        let st = SafeTensors::deserialize(&bytes)?;
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let (_, meta) = SafeTensors::read_metadata(&bytes)?;
        let case: serde_json::Value =
            serde_json::from_str(&meta.metadata().as_ref().unwrap()["case"])?;
        let mut cfg = lstm::io::infer_config(
            &st.tensors()
                .into_iter()
                .map(|(n, v)| (n, v.shape().to_vec()))
                .collect::<Vec<_>>(),
            "lstm.",
        )?;
        if case["mode"] == "RNN_RELU" {
            cfg.cell = lstm::CellKind::RnnRelu;
        }
        let stack = load_stack_bytes(&bytes, &name, "lstm.", Some(cfg))?;
        let x = tensor(&st, "input.x").unwrap();
        let init = tensor(&st, "input.h0").map(|h| State {
            h,
            c: tensor(&st, "input.c0"),
        });
        let lengths: Option<Vec<usize>> =
            read(&st, "input.lengths").map(|(_, l)| l.iter().map(|&v| v as usize).collect());
        let mut tape = Tape::default();
        let out = stack.forward(&x, init.as_ref(), lengths.as_deref(), &mut tape)?;
        let y_err = rel_err(out.y.data(), &read(&st, "ref.y").unwrap().1);
        let mut grads = stack.zero_grads();
        let ig = stack.backward(
            &mut tape,
            &mut grads,
            &tensor(&st, "input.d_y").unwrap(),
            tensor(&st, "input.d_hn").as_ref(),
            tensor(&st, "input.d_cn").as_ref(),
        )?;
        let mut g_err = rel_err(ig.d_x.data(), &read(&st, "ref.grad.x").unwrap().1);
        for p in stack.param_names() {
            let want = read(&st, &format!("ref.grad.{p}")).unwrap().1;
            g_err = g_err.max(rel_err(stack.grad(&grads, &p).unwrap().data(), &want));
        }
        let ok = y_err <= 1e-5 && g_err <= 1e-5;
        println!(
            "{name:<28} {:<58} {y_err:>10.2e} {g_err:>10.2e} {:>10}",
            stack.config().describe().replace("bidirectional", "bidir"),
            if ok { "yes" } else { "NO" }
        );
        worst = worst.max(y_err).max(g_err);
        n += 1;
    }
    println!("\n{n} PyTorch models run; worst relative error {worst:.2e} (bound 1e-5)");
    if worst > 1e-5 {
        return Err("a model disagrees with PyTorch beyond 1e-5".into());
    }
    Ok(())
}
