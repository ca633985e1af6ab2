//! A recurrent stack: `L` layers × `D` directions of one cell type, as PyTorch's `nn.LSTM`,
//! `nn.GRU`, `nn.RNN`. Layer `k > 0` reads `concat(fwd, bwd)` of layer `k − 1` (after dropout in
//! training); the reverse direction runs `t = T−1 … 0` and writes each output at its own index.
//!
//! Sequence-first throughout: `x: [T, B, F]`, `y: [T, B, D·H_out]`, states `[L·D, B, H_out]`
//! (and `[L·D, B, H]` for the LSTM cell state), index `layer · D + direction` as in PyTorch.
//!
//! ```
//! use lstm::{CellKind, RnnConfig, Stack, Tape, Tensor};
//! let stack = Stack::new(RnnConfig::new(CellKind::Lstm, 3, 5).with_num_layers(2), 0).unwrap();
//! let x = Tensor::zeros(&[4, 2, 3]); // T = 4, B = 2, F = 3
//! let out = stack.forward(&x, None, None, &mut Tape::inference()).unwrap();
//! assert_eq!(out.y.shape(), &[4, 2, 5]);
//! assert_eq!(out.h_n.shape(), &[2, 2, 5]);
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{CellKind, RnnConfig};
use crate::error::{Error, Result};
use crate::layer::{self, reset, BwdScratch, Dims, DirTape};
use crate::params::ParamLayout;
use crate::tensor::Tensor;

mod wavefront;

/// A recurrent stack with its parameters (one block, internal layouts; see [`crate::params`]).
#[derive(Debug, Clone)]
pub struct Stack {
    config: RnnConfig,
    layout: ParamLayout,
    params: Vec<f32>,
    threads: usize,
    /// Names the current parameter values: a fresh number from [`next_version`] whenever they
    /// may have changed, so packed copies of the weights (kept in tapes) know when to re-pack.
    version: u64,
    /// The precision forwards without grad read the weights in.
    inference_weights: WeightPrecision,
}

/// The precision in which forwards without grad ([`Tape::inference`], [`Stack::step`]) read the
/// weights of an LSTM (without projection); see [`Stack::set_inference_weights`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightPrecision {
    /// f32, as stored (the default).
    #[default]
    F32,
    /// Each weight rounded to the nearest f16 (IEEE half; ties to even, clamped to ±65504),
    /// widened back to f32 as it is read; biases, inputs, states and every sum stay f32.
    /// PyTorch's `quantize_dynamic(model, {nn.LSTM}, dtype=torch.float16)`.
    F16,
    /// 8-bit integers: each weight column (one gate of one unit) scaled to −127…127, and each
    /// step's input and hidden rows quantized the same way as they are read; the products run
    /// in integers (AVX-512 VNNI, AVX-VNNI or AVX2, whichever the CPU has; the same integers
    /// either way) and are scaled back to f32 before the bias and the cell, which stay f32. A quarter of the f32 bytes per step. PyTorch's
    /// `quantize_dynamic(model, {nn.LSTM}, dtype=torch.qint8)` (which scales per tensor).
    I8,
}

impl WeightPrecision {
    /// `f32`, `f16` or `i8`.
    pub fn name(self) -> &'static str {
        match self {
            WeightPrecision::F32 => "f32",
            WeightPrecision::F16 => "f16",
            WeightPrecision::I8 => "i8",
        }
    }
}

/// A process-wide fresh number for [`Stack::version`] (never 0, which means "unknown").
fn next_version() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Recurrent state of a whole stack.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// `[L·D, B, H_out]`.
    pub h: Tensor,
    /// `[L·D, B, H]`, LSTM only.
    pub c: Option<Tensor>,
}

/// What a forward pass returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// `[T, B, D·H_out]` the last layer's outputs (zero past each sequence's length).
    pub y: Tensor,
    /// `[L·D, B, H_out]` the final hidden states (at each sequence's last valid step).
    pub h_n: Tensor,
    /// `[L·D, B, H]` the final cell states (LSTM only).
    pub c_n: Option<Tensor>,
}

/// Gradients of the non-parameter inputs of a forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct InputGrads {
    /// `[T, B, F]`; empty (`[0]`) when the tape skips it ([`Tape::set_input_grad`]).
    pub d_x: Tensor,
    /// `[L·D, B, H_out]`.
    pub d_h0: Tensor,
    /// `[L·D, B, H]`, LSTM only.
    pub d_c0: Option<Tensor>,
}

/// Parameter gradients: one block with the same layout as the stack's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads {
    data: Vec<f32>,
}

impl Grads {
    /// The whole block (internal layouts).
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The whole block, mutable (for clipping and optimizers).
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Sets every gradient to zero (one fill).
    pub fn zero(&mut self) {
        self.data.fill(0.0);
    }
}

/// What one layer's forward keeps.
#[derive(Debug, Default, Clone)]
struct LayerTape {
    /// `[T, B, In]` the layer's input after dropout (layers > 0 in training with dropout).
    input: Vec<f32>,
    /// `[T, B, In]` the dropout mask, 0 or `1/(1−p)` (same condition).
    mask: Vec<f32>,
    /// `[T, B, D·H_out]` the layer's output.
    output: Vec<f32>,
    dirs: Vec<DirTape>,
}

/// Everything a forward pass keeps for backward, and backward's scratch. Reusable: a second
/// forward reuses its buffers' capacity.
#[derive(Debug, Default, Clone)]
pub struct Tape {
    dims: Option<(usize, usize)>,
    /// The config of the stack that recorded the pass.
    config: Option<RnnConfig>,
    /// `[T, B, F]`.
    x: Vec<f32>,
    /// `[T, B]`: whether step t of sequence b is within its length.
    active: Vec<bool>,
    layers: Vec<LayerTape>,
    scratch: Vec<BwdScratch>,
    /// Backward's `∂L/∂(layer input)` blocks, `[T, B, In]`, kept between calls (a fresh block of
    /// that size costs its page faults on every step).
    d_bufs: [Vec<f32>; 2],
    /// Whether [`Stack::backward`] skips `∂L/∂x` (see [`Tape::set_input_grad`]).
    skip_input_grad: bool,
    /// Whether forward keeps nothing for backward (see [`Tape::set_grad_enabled`]).
    no_grad: bool,
    /// Whether the pass the tape holds ran without grad (the setting may have changed since).
    pass_no_grad: bool,
}

impl State {
    /// Checks this state against a config and batch size: `h: [L·D, B, H_out]`, and `c: [L·D, B, H]`
    /// present exactly for an LSTM. `h_name`, `c_name` name the tensors in errors.
    pub(crate) fn check(
        &self,
        cfg: &RnnConfig,
        batch: usize,
        h_name: &str,
        c_name: &str,
    ) -> Result<()> {
        let ld = cfg.num_layers * cfg.directions();
        self.h.expect_shape(h_name, &[ld, batch, cfg.h_out()])?;
        match (&self.c, cfg.cell) {
            (Some(c), CellKind::Lstm) => c.expect_shape(c_name, &[ld, batch, cfg.hidden_size]),
            (None, CellKind::Lstm) => Err(Error::config(
                c_name,
                "an LSTM state needs both h and c; c is missing",
            )),
            (Some(_), cell) => Err(Error::config(
                c_name,
                format!("a {} has no cell state; pass c: None", cell.name()),
            )),
            (None, _) => Ok(()),
        }
    }
}

impl Tape {
    /// Whether [`Stack::backward`] computes the gradient of the stack's input `x` (default: yes).
    /// Turn it off when `x` is data, not the output of something being trained (as PyTorch does
    /// for an input without `requires_grad`): it saves one product of the size of the input
    /// projection, and `InputGrads::d_x` is then empty (shape `[0]`).
    pub fn set_input_grad(&mut self, on: bool) {
        self.skip_input_grad = !on;
    }

    /// Whether a forward pass keeps what [`Stack::backward`] needs (default: yes). Off, it is
    /// PyTorch's `torch.no_grad()`: forward keeps no gate activations, no copy of `x` and, on
    /// the fused LSTM path, only two steps of state, used in turn — it moves far less memory,
    /// and is the mode for inference. A backward on such a pass is an error.
    pub fn set_grad_enabled(&mut self, on: bool) {
        self.no_grad = !on;
    }

    /// Whether forward records for backward (see [`Tape::set_grad_enabled`]).
    pub fn grad_enabled(&self) -> bool {
        !self.no_grad
    }

    /// An error if the pass this tape holds ran without grad (backward refuses it, whatever
    /// the setting is now); [`Stack::backward`] and `Model::backward` check it first.
    pub(crate) fn check_grad_pass(&self) -> Result<()> {
        if self.pass_no_grad {
            return Err(Error::Tape(
                "the forward pass was run without grad (Tape::inference / \
                 set_grad_enabled(false)); backward needs a tape recorded with grad"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A tape for inference: [`Tape::set_grad_enabled`]`(false)`.
    pub fn inference() -> Self {
        let mut tape = Tape::default();
        tape.set_grad_enabled(false);
        tape
    }

    /// The dropout mask applied to the input of `layer` (`[T, B, In]`), if the last forward pass
    /// used one.
    pub fn dropout_mask(&self, layer: usize) -> Option<&[f32]> {
        self.layers
            .get(layer)
            .map(|l| l.mask.as_slice())
            .filter(|m| !m.is_empty())
    }
}

/// All cores: the default thread count of a stack and of an optimizer.
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Stack {
    /// A stack initialised as PyTorch does: every parameter `U(−1/√H, 1/√H)`, from `seed`.
    pub fn new(config: RnnConfig, seed: u64) -> Result<Self> {
        let mut s = Self::zeros(config)?;
        let k = 1.0 / (s.config.hidden_size as f32).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        s.params_mut()
            .iter_mut()
            .for_each(|p| *p = rng.random_range(-k..k));
        Ok(s)
    }

    /// A stack with every parameter zero.
    pub fn zeros(config: RnnConfig) -> Result<Self> {
        config.validate()?;
        let layout = ParamLayout::new(&config);
        Ok(Stack {
            params: vec![0.0; layout.total()],
            layout,
            config,
            threads: default_threads(),
            version: next_version(),
            inference_weights: WeightPrecision::F32,
        })
    }

    /// Sets the precision in which forwards without grad ([`Tape::inference`], streaming
    /// [`Stack::step`]) read the weights: [`WeightPrecision::F16`] halves the bytes each step
    /// reads, which is what bounds a step at small batch sizes (B = 1 above all), at the cost of
    /// rounding each weight to f16 (a relative error ≤ 2⁻¹¹ per weight; an output then differs
    /// from the f32 one by about 1e-4). [`WeightPrecision::I8`] quarters them, quantizing the
    /// weights and each step's inputs and states to 8 bits (an output then differs from the
    /// f32 one by about 1e-3). The stored parameters, training and every forward that
    /// records for backward stay f32. LSTM without projection only: other stacks get
    /// [`Error::Unsupported`].
    pub fn set_inference_weights(&mut self, precision: WeightPrecision) -> Result<()> {
        let c = &self.config;
        if precision != WeightPrecision::F32 && (c.cell != CellKind::Lstm || c.proj_size > 0) {
            return Err(Error::Unsupported(format!(
                "{} inference weights are implemented for the LSTM without projection, not for {}",
                precision.name(),
                c.describe()
            )));
        }
        self.inference_weights = precision;
        Ok(())
    }

    /// The precision forwards without grad read the weights in
    /// ([`Stack::set_inference_weights`]).
    pub fn inference_weights(&self) -> WeightPrecision {
        self.inference_weights
    }

    /// Sets the number of threads the products may use (default: all cores).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Threads the products may use.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The config.
    pub fn config(&self) -> &RnnConfig {
        &self.config
    }

    /// The parameter layout.
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// All parameters, one block, internal layouts.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// All parameters, mutable (for optimizers).
    pub fn params_mut(&mut self) -> &mut [f32] {
        self.version = next_version();
        &mut self.params
    }

    /// A zero gradient block for this stack.
    pub fn zero_grads(&self) -> Grads {
        Grads {
            data: vec![0.0; self.layout.total()],
        }
    }

    /// PyTorch names of every parameter, in block order.
    pub fn param_names(&self) -> Vec<String> {
        self.layout.slots().iter().map(|s| s.name.clone()).collect()
    }

    /// A parameter by PyTorch name, in PyTorch's layout.
    pub fn param(&self, name: &str) -> Option<Tensor> {
        let slot = self.layout.slot(name)?;
        Tensor::new(
            name,
            &slot.torch_shape,
            self.layout.read_torch(&self.params, slot),
        )
        .ok()
    }

    /// A gradient by PyTorch name, in PyTorch's layout.
    pub fn grad(&self, grads: &Grads, name: &str) -> Option<Tensor> {
        let slot = self.layout.slot(name)?;
        Tensor::new(
            name,
            &slot.torch_shape,
            self.layout.read_torch(&grads.data, slot),
        )
        .ok()
    }

    /// Sets a parameter from a tensor in PyTorch's layout; checks the name and shape.
    pub fn set_param(&mut self, name: &str, value: &Tensor) -> Result<()> {
        let slot = self
            .layout
            .slot(name)
            .ok_or_else(|| Error::UnexpectedTensor {
                name: name.to_string(),
                config: self.config.describe(),
            })?;
        value.expect_shape(name, &slot.torch_shape)?;
        let slot = slot.clone();
        self.layout
            .write_torch(&mut self.params, &slot, value.data());
        self.version = next_version();
        Ok(())
    }

    /// Forward without dropout (evaluation mode). `x: [T, B, F]`; `init` defaults to zeros;
    /// `lengths: [B]` with `1 ≤ len ≤ T` for variable-length batches (PyTorch's packed
    /// sequences). The pass is recorded in `tape` for [`Stack::backward`], unless the tape has
    /// grad off ([`Tape::inference`], much less memory traffic: the mode for inference).
    pub fn forward(
        &self,
        x: &Tensor,
        init: Option<&State>,
        lengths: Option<&[usize]>,
        tape: &mut Tape,
    ) -> Result<Output> {
        self.forward_impl(x, init, lengths, None, tape)
    }

    /// Training forward: as [`Stack::forward`], with dropout between layers drawn from `rng`.
    pub fn forward_train<R: Rng>(
        &self,
        x: &Tensor,
        init: Option<&State>,
        lengths: Option<&[usize]>,
        rng: &mut R,
        tape: &mut Tape,
    ) -> Result<Output> {
        self.forward_impl(x, init, lengths, Some(rng), tape)
    }

    /// Checks `x`, `init`, `lengths` and returns `(T, B)`.
    fn check_inputs(
        &self,
        x: &Tensor,
        init: Option<&State>,
        lengths: Option<&[usize]>,
    ) -> Result<(usize, usize)> {
        let c = &self.config;
        let s = x.shape();
        if s.len() != 3 || s[2] != c.input_size || s[0] == 0 || s[1] == 0 {
            let (t, b) = if s.len() == 3 {
                (s[0].max(1), s[1].max(1))
            } else {
                (1, 1)
            };
            return Err(Error::Shape {
                tensor: "x".into(),
                expected: vec![t, b, c.input_size],
                found: s.to_vec(),
            });
        }
        let (t, b) = (s[0], s[1]);
        if let Some(st) = init {
            st.check(c, b, "h0", "c0")?;
        }
        if let Some(lens) = lengths {
            if lens.len() != b {
                return Err(Error::Lengths {
                    reason: format!(
                        "expected {b} lengths (one per batch entry), found {}",
                        lens.len()
                    ),
                });
            }
            if let Some((i, &l)) = lens.iter().enumerate().find(|(_, &l)| l == 0 || l > t) {
                return Err(Error::Lengths {
                    reason: format!("lengths[{i}] = {l} is outside 1..={t} (T)"),
                });
            }
        }
        Ok((t, b))
    }

    fn forward_impl(
        &self,
        x: &Tensor,
        init: Option<&State>,
        lengths: Option<&[usize]>,
        mut rng: Option<&mut dyn rand::RngCore>,
        tape: &mut Tape,
    ) -> Result<Output> {
        let (t, b) = self.check_inputs(x, init, lengths)?;
        let c = &self.config;
        let (nl, nd, h, ho) = (c.num_layers, c.directions(), c.hidden_size, c.h_out());
        let is_lstm = c.cell == CellKind::Lstm;
        tape.dims = None;
        tape.x.clear();
        if !tape.no_grad {
            tape.x.extend_from_slice(x.data());
        }
        tape.active.clear();
        tape.active
            .extend((0..t).flat_map(|ti| (0..b).map(move |bi| lengths.is_none_or(|l| ti < l[bi]))));
        tape.layers.resize_with(nl, LayerTape::default);
        let mut h_n = Tensor::zeros(&[nl * nd, b, ho]);
        let mut c_n = is_lstm.then(|| Tensor::zeros(&[nl * nd, b, h]));
        let p = c.dropout;
        let dropout = p > 0.0 && rng.is_some();
        if let Some(chunk) = self.wavefront_chunk(t, b, !tape.no_grad, dropout) {
            self.forward_wavefront(
                x.data(),
                init,
                &mut tape.layers,
                &tape.active,
                (t, b),
                chunk,
                &mut h_n,
                c_n.as_mut(),
            );
        } else {
            let zeros_h = vec![0.0; b * ho];
            let zeros_c = vec![0.0; b * h];
            for l in 0..nl {
                let (below, rest) = tape.layers.split_at_mut(l);
                let lt = &mut rest[0];
                let input_size = c.layer_input_size(l);
                let drop = l > 0 && dropout;
                reset(&mut lt.mask, if drop { t * b * input_size } else { 0 });
                reset(&mut lt.input, if drop { t * b * input_size } else { 0 });
                let input: &[f32] = if l == 0 {
                    x.data()
                } else if let (true, Some(r)) = (drop, rng.as_deref_mut()) {
                    let keep = 1.0 / (1.0 - p);
                    for ((m, v), &o) in lt
                        .mask
                        .iter_mut()
                        .zip(lt.input.iter_mut())
                        .zip(&below[l - 1].output)
                    {
                        *m = if r.random::<f32>() < p { 0.0 } else { keep };
                        *v = o * *m;
                    }
                    &lt.input
                } else {
                    &below[l - 1].output
                };
                // Every direction writes all of its columns of every step (zeros past a length).
                layer::resize_for_overwrite(&mut lt.output, t * b * nd * ho);
                lt.dirs.resize_with(nd, DirTape::default);
                for dir in 0..nd {
                    let k = l * nd + dir;
                    let d = self.layer_dims(l, dir, t, b, !tape.no_grad);
                    let w = self.layout.dir(&self.params, k);
                    let h0 =
                        init.map_or(&zeros_h[..], |s| &s.h.data()[k * b * ho..(k + 1) * b * ho]);
                    let dt = &mut lt.dirs[dir];
                    let c0 = init
                        .and_then(|s| s.c.as_ref())
                        .map_or(&zeros_c[..], |c0| &c0.data()[k * b * h..(k + 1) * b * h]);
                    layer::forward(
                        c.cell,
                        &mut lt.output,
                        dt,
                        input,
                        h0,
                        c0,
                        &tape.active,
                        &w,
                        &d,
                    );
                    h_n.data_mut()[k * b * ho..(k + 1) * b * ho].copy_from_slice(&dt.h_last);
                    if let Some(cn) = c_n.as_mut() {
                        cn.data_mut()[k * b * h..(k + 1) * b * h].copy_from_slice(&dt.c_last);
                    }
                }
            }
        }
        tape.dims = Some((t, b));
        tape.pass_no_grad = tape.no_grad;
        tape.config = Some(c.clone());
        // The last layer's output is no layer's input, so backward never reads it: hand it over
        // instead of copying it (the next forward sizes a new one).
        let y = Tensor::new(
            "y",
            &[t, b, nd * ho],
            std::mem::take(&mut tape.layers[nl - 1].output),
        )?;
        Ok(Output { y, h_n, c_n })
    }

    /// The dims of one `(layer, direction)` for a pass over `[t, b]`; `record`: whether the
    /// forward keeps what backward needs (without it, the inference weight precision applies).
    pub(crate) fn layer_dims(
        &self,
        l: usize,
        dir: usize,
        t: usize,
        b: usize,
        record: bool,
    ) -> Dims {
        let c = &self.config;
        Dims {
            t,
            b,
            input: c.layer_input_size(l),
            h: c.hidden_size,
            h_out: c.h_out(),
            g: c.gate_rows(),
            ys: c.output_size(),
            ycol: dir * c.h_out(),
            reverse: dir == 1,
            threads: self.threads,
            record,
            inference_weights: self.inference_weights,
            version: self.version,
            chunk: false,
        }
    }

    /// Backward through time of the last forward pass recorded in `tape`. Parameter gradients
    /// are added to `grads`; the input gradients are returned. `d_y: [T, B, D·H_out]`;
    /// `d_hn: [L·D, B, H_out]` and `d_cn: [L·D, B, H]` (LSTM) default to zeros.
    pub fn backward(
        &self,
        tape: &mut Tape,
        grads: &mut Grads,
        d_y: &Tensor,
        d_hn: Option<&Tensor>,
        d_cn: Option<&Tensor>,
    ) -> Result<InputGrads> {
        let c = &self.config;
        let (nl, nd, h, ho) = (c.num_layers, c.directions(), c.hidden_size, c.h_out());
        let (t, b) = tape.dims.ok_or_else(|| {
            Error::Tape("the tape holds no forward pass; call forward first".into())
        })?;
        tape.check_grad_pass()?;
        if tape.layers.len() != nl
            || tape.layers[0].dirs.len() != nd
            || tape.x.len() != t * b * c.input_size
        {
            return Err(Error::Tape(
                "the tape was recorded by a stack of another config".into(),
            ));
        }
        d_y.expect_shape("d_y", &[t, b, nd * ho])?;
        if let Some(g) = d_hn {
            g.expect_shape("d_hn", &[nl * nd, b, ho])?;
        }
        match (d_cn, c.cell) {
            (Some(g), CellKind::Lstm) => g.expect_shape("d_cn", &[nl * nd, b, h])?,
            (Some(_), cell) => {
                return Err(Error::config(
                    "d_cn",
                    format!("a {} has no cell state", cell.name()),
                ))
            }
            (None, _) => {}
        }
        if grads.data.len() != self.layout.total() {
            return Err(Error::Length {
                tensor: "grads".into(),
                shape: vec![self.layout.total()],
                expected: self.layout.total(),
                found: grads.data.len(),
            });
        }
        let mut d_h0 = Tensor::zeros(&[nl * nd, b, ho]);
        let mut d_c0 = (c.cell == CellKind::Lstm).then(|| Tensor::zeros(&[nl * nd, b, h]));
        let zeros_h = vec![0.0; b * ho];
        let zeros_c = vec![0.0; b * h];
        tape.scratch.resize_with(nl * nd, BwdScratch::default);
        // The top layer reads `d_y` itself; each layer below reads the block the layer above
        // wrote, and the two blocks take turns.
        let [mut d_out_buf, mut d_in] = std::mem::take(&mut tape.d_bufs);
        for l in (0..nl).rev() {
            let d_out: &[f32] = if l == nl - 1 { d_y.data() } else { &d_out_buf };
            let lt = &tape.layers[l];
            let input: &[f32] = if l == 0 {
                &tape.x
            } else if !lt.input.is_empty() {
                &lt.input
            } else {
                &tape.layers[l - 1].output
            };
            let skip = l == 0 && tape.skip_input_grad;
            // Zeroed: the directions add their parts.
            d_in.clear();
            d_in.resize(
                if skip {
                    0
                } else {
                    t * b * c.layer_input_size(l)
                },
                0.0,
            );
            for dir in 0..nd {
                let k = l * nd + dir;
                let d = self.layer_dims(l, dir, t, b, true);
                let w = self.layout.dir(&self.params, k);
                let mut gw = self.layout.dir_mut(&mut grads.data, k);
                let s = &mut tape.scratch[k];
                let dt = &lt.dirs[dir];
                let dhn = d_hn.map_or(&zeros_h[..], |g| &g.data()[k * b * ho..(k + 1) * b * ho]);
                let dh0 = &mut d_h0.data_mut()[k * b * ho..(k + 1) * b * ho];
                match c.cell {
                    CellKind::Lstm => {
                        let dcn =
                            d_cn.map_or(&zeros_c[..], |g| &g.data()[k * b * h..(k + 1) * b * h]);
                        let dc0 = &mut d_c0.as_mut().expect("lstm has c").data_mut()
                            [k * b * h..(k + 1) * b * h];
                        layer::lstm::backward(
                            &mut d_in,
                            dh0,
                            dc0,
                            &mut gw,
                            s,
                            dt,
                            d_out,
                            dhn,
                            dcn,
                            input,
                            &tape.active,
                            &w,
                            &d,
                        );
                    }
                    CellKind::Gru => layer::gru::backward(
                        &mut d_in,
                        dh0,
                        &mut gw,
                        s,
                        dt,
                        d_out,
                        dhn,
                        input,
                        &tape.active,
                        &w,
                        &d,
                    ),
                    CellKind::RnnTanh | CellKind::RnnRelu => {
                        let relu = c.cell == CellKind::RnnRelu;
                        layer::rnn::backward(
                            &mut d_in,
                            dh0,
                            &mut gw,
                            s,
                            dt,
                            d_out,
                            dhn,
                            input,
                            &tape.active,
                            &w,
                            relu,
                            &d,
                        )
                    }
                }
            }
            if !lt.mask.is_empty() {
                d_in.iter_mut().zip(&lt.mask).for_each(|(g, m)| *g *= m);
            }
            std::mem::swap(&mut d_out_buf, &mut d_in);
        }
        let d_x = if tape.skip_input_grad {
            Tensor::zeros(&[0])
        } else {
            Tensor::new("d_x", &[t, b, c.input_size], std::mem::take(&mut d_out_buf))?
        };
        tape.d_bufs = [d_out_buf, d_in];
        Ok(InputGrads { d_x, d_h0, d_c0 })
    }
}
