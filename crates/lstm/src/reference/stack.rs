//! The f64 reference stack: PyTorch's layouts and names, one sequence and one step at a time,
//! matrix–vector products as loops, no fusion, no GEMM. Variable lengths are handled by iterating
//! over each sequence's own steps only (not by masks, as the fast path does), so the two
//! formulations check each other.

use std::collections::BTreeMap;

use crate::config::{CellKind, RnnConfig};
use crate::stack::Stack;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The reference stack: config and f64 parameters by PyTorch name, PyTorch layout.
#[derive(Debug, Clone)]
pub struct RefStack {
    /// The config.
    pub config: RnnConfig,
    /// Parameters by PyTorch name, row-major PyTorch shapes.
    pub params: BTreeMap<String, Vec<f64>>,
}

/// What one step of one sequence computed (what backward needs).
#[derive(Debug, Clone, Default)]
struct StepRec {
    t: usize,
    x: Vec<f64>,
    h_prev: Vec<f64>,
    c_prev: Vec<f64>,
    /// Gate activations in gate order.
    act: Vec<f64>,
    /// LSTM: c_t. GRU: ĝ_n. RNN: unused.
    aux: Vec<f64>,
    /// LSTM with projection: r_t = o ⊙ tanh(c_t).
    r: Vec<f64>,
}

/// Forward results and records.
#[derive(Debug, Clone)]
pub struct RefForward {
    /// `[T, B, D·H_out]`.
    pub y: Vec<f64>,
    /// `[L·D, B, H_out]`.
    pub h_n: Vec<f64>,
    /// `[L·D, B, H]` (LSTM; empty otherwise).
    pub c_n: Vec<f64>,
    /// Per `(layer·D + dir)`, per batch entry: step records in processing order.
    recs: Vec<Vec<Vec<StepRec>>>,
    t: usize,
    b: usize,
}

/// Gradients from [`RefStack::backward`].
#[derive(Debug, Clone)]
pub struct RefGrads {
    /// `[T, B, F]`.
    pub d_x: Vec<f64>,
    /// `[L·D, B, H_out]`.
    pub d_h0: Vec<f64>,
    /// `[L·D, B, H]` (LSTM).
    pub d_c0: Vec<f64>,
    /// By PyTorch name.
    pub params: BTreeMap<String, Vec<f64>>,
}

/// Squared norms of the gradients backward passed through each step: per `(layer·D + dir)`, per
/// t, summed over the batch. `h_sq[k][t] = Σ_b ‖∂L/∂h_t‖²` (h_t: the state step t produced, its
/// total gradient from the output at t and from every later step); `c_sq` likewise for `c_t`
/// (LSTM; empty otherwise), the total through `c_{t+1}` and through `h_t = o_t ⊙ tanh(c_t)`.
#[derive(Debug, Clone, Default)]
pub struct GradTrace {
    /// `[L·D][T]`.
    pub h_sq: Vec<Vec<f64>>,
    /// `[L·D][T]` (LSTM).
    pub c_sq: Vec<Vec<f64>>,
}

/// What one step of one sequence computed, for viewing: see [`RefStack::steps`].
#[derive(Debug, Clone, PartialEq)]
pub struct StepView {
    /// The time step.
    pub t: usize,
    /// `[G]` gate activations in gate order (`i f g o`, `r z n`, or the RNN's output).
    pub gates: Vec<f64>,
    /// `[H]` the cell state after the step (LSTM; empty otherwise).
    pub c: Vec<f64>,
    /// `[H_out]` the hidden state after the step.
    pub h: Vec<f64>,
}

/// `out[r] += Σ_c w[r, c] · v[c]`, `w: [rows, v.len()]`.
fn matvec_add(out: &mut [f64], w: &[f64], v: &[f64]) {
    for (r, o) in out.iter_mut().enumerate() {
        *o += (0..v.len()).map(|c| w[r * v.len() + c] * v[c]).sum::<f64>();
    }
}

/// `out[c] += Σ_r w[r, c] · v[r]`, `w: [v.len(), out.len()]`.
fn matvec_t_add(out: &mut [f64], w: &[f64], v: &[f64]) {
    let n = out.len();
    for (r, &vr) in v.iter().enumerate() {
        for c in 0..n {
            out[c] += w[r * n + c] * vr;
        }
    }
}

/// `w[r, c] += a[r] · b[c]`.
fn outer_add(w: &mut [f64], a: &[f64], b: &[f64]) {
    for (r, &ar) in a.iter().enumerate() {
        for (c, &bc) in b.iter().enumerate() {
            w[r * b.len() + c] += ar * bc;
        }
    }
}

impl RefStack {
    /// Copies a stack's parameters into f64.
    pub fn from_stack(stack: &Stack) -> Self {
        let params = stack
            .param_names()
            .into_iter()
            .map(|n| {
                let t = stack.param(&n).expect("own name");
                let v = t.data().iter().map(|&x| x as f64).collect();
                (n, v)
            })
            .collect();
        RefStack {
            config: stack.config().clone(),
            params,
        }
    }

    fn p(&self, stem: &str, l: usize, dir: usize) -> Option<&Vec<f64>> {
        self.params.get(&format!(
            "{stem}_l{l}{}",
            if dir == 1 { "_reverse" } else { "" }
        ))
    }

    /// Forward. `x: [T, B, F]`; `h0: [L·D, B, H_out]`, `c0: [L·D, B, H]` (zeros if `None`);
    /// `lengths: [B]` (all T if `None`); `masks[l]`: dropout mask on layer `l`'s input (`[T, B, In]`).
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        x: &[f64],
        t: usize,
        b: usize,
        h0: Option<&[f64]>,
        c0: Option<&[f64]>,
        lengths: Option<&[usize]>,
        masks: &[Option<Vec<f64>>],
    ) -> RefForward {
        let c = &self.config;
        let (nd, h, ho) = (c.directions(), c.hidden_size, c.h_out());
        let lengths = lengths.map_or(vec![t; b], |l| l.to_vec());
        let mut out = RefForward {
            y: vec![],
            h_n: vec![0.0; c.num_layers * nd * b * ho],
            c_n: if c.cell == CellKind::Lstm {
                vec![0.0; c.num_layers * nd * b * h]
            } else {
                vec![]
            },
            recs: vec![],
            t,
            b,
        };
        let mut input = x.to_vec();
        for l in 0..c.num_layers {
            let n_in = c.layer_input_size(l);
            if let Some(Some(m)) = masks.get(l) {
                input.iter_mut().zip(m).for_each(|(v, m)| *v *= m);
            }
            let mut y = vec![0.0; t * b * nd * ho];
            for dir in 0..nd {
                let k = l * nd + dir;
                let mut per_b = vec![];
                for bi in 0..b {
                    let mut hs: Vec<f64> = h0.map_or(vec![0.0; ho], |v| {
                        v[(k * b + bi) * ho..(k * b + bi + 1) * ho].to_vec()
                    });
                    let mut cs: Vec<f64> = c0.map_or(vec![0.0; h], |v| {
                        v[(k * b + bi) * h..(k * b + bi + 1) * h].to_vec()
                    });
                    let steps: Vec<usize> = if dir == 0 {
                        (0..lengths[bi]).collect()
                    } else {
                        (0..lengths[bi]).rev().collect()
                    };
                    let mut recs = vec![];
                    for ti in steps {
                        let xt = input[(ti * b + bi) * n_in..(ti * b + bi + 1) * n_in].to_vec();
                        let rec = self.cell_forward(l, dir, ti, xt, &hs, &cs);
                        hs = self.h_of(&rec, l, dir);
                        if c.cell == CellKind::Lstm {
                            cs = rec.aux.clone();
                        }
                        y[(ti * b + bi) * nd * ho + dir * ho..][..ho].copy_from_slice(&hs);
                        recs.push(rec);
                    }
                    out.h_n[(k * b + bi) * ho..][..ho].copy_from_slice(&hs);
                    if c.cell == CellKind::Lstm {
                        out.c_n[(k * b + bi) * h..][..h].copy_from_slice(&cs);
                    }
                    per_b.push(recs);
                }
                out.recs.push(per_b);
            }
            input = y;
        }
        out.y = input;
        out
    }

    /// One step of one sequence.
    fn cell_forward(
        &self,
        l: usize,
        dir: usize,
        t: usize,
        x: Vec<f64>,
        h_prev: &[f64],
        c_prev: &[f64],
    ) -> StepRec {
        let c = &self.config;
        let (h, g) = (c.hidden_size, c.gate_rows());
        let w_ih = self.p("weight_ih", l, dir).expect("weight_ih");
        let w_hh = self.p("weight_hh", l, dir).expect("weight_hh");
        let mut a = vec![0.0; g]; // input side + b_ih
        let mut gh = vec![0.0; g]; // hidden side + b_hh
        matvec_add(&mut a, w_ih, &x);
        matvec_add(&mut gh, w_hh, h_prev);
        if let (Some(bi), Some(bh)) = (self.p("bias_ih", l, dir), self.p("bias_hh", l, dir)) {
            a.iter_mut().zip(bi).for_each(|(v, b)| *v += b);
            gh.iter_mut().zip(bh).for_each(|(v, b)| *v += b);
        }
        let mut rec = StepRec {
            t,
            x,
            h_prev: h_prev.to_vec(),
            c_prev: c_prev.to_vec(),
            ..Default::default()
        };
        match c.cell {
            CellKind::Lstm => {
                let mut act = vec![0.0; g];
                let mut cn = vec![0.0; h];
                let mut r = vec![0.0; h];
                for j in 0..h {
                    let pre = |k: usize| a[k * h + j] + gh[k * h + j];
                    let (i, f, gg, o) = (
                        sigmoid(pre(0)),
                        sigmoid(pre(1)),
                        pre(2).tanh(),
                        sigmoid(pre(3)),
                    );
                    act[j] = i;
                    act[h + j] = f;
                    act[2 * h + j] = gg;
                    act[3 * h + j] = o;
                    cn[j] = f * c_prev[j] + i * gg;
                    r[j] = o * cn[j].tanh();
                }
                rec.act = act;
                rec.aux = cn;
                rec.r = r;
            }
            CellKind::Gru => {
                let mut act = vec![0.0; g];
                let mut ghn = vec![0.0; h];
                for j in 0..h {
                    let r = sigmoid(a[j] + gh[j]);
                    let z = sigmoid(a[h + j] + gh[h + j]);
                    ghn[j] = gh[2 * h + j];
                    let n = (a[2 * h + j] + r * ghn[j]).tanh();
                    act[j] = r;
                    act[h + j] = z;
                    act[2 * h + j] = n;
                }
                rec.act = act;
                rec.aux = ghn;
            }
            CellKind::RnnTanh => rec.act = (0..h).map(|j| (a[j] + gh[j]).tanh()).collect(),
            CellKind::RnnRelu => rec.act = (0..h).map(|j| (a[j] + gh[j]).max(0.0)).collect(),
        }
        rec
    }

    /// The steps of sequence `bi` of `fw` through `(layer, dir)`, in time order (only its own
    /// steps when lengths differ).
    pub fn steps(&self, fw: &RefForward, layer: usize, dir: usize, bi: usize) -> Vec<StepView> {
        let lstm = self.config.cell == CellKind::Lstm;
        let mut v: Vec<StepView> = fw.recs[layer * self.config.directions() + dir][bi]
            .iter()
            .map(|r| StepView {
                t: r.t,
                gates: r.act.clone(),
                c: if lstm { r.aux.clone() } else { vec![] },
                h: self.h_of(r, layer, dir),
            })
            .collect();
        v.sort_by_key(|s| s.t);
        v
    }

    /// The hidden state a step produced.
    fn h_of(&self, rec: &StepRec, l: usize, dir: usize) -> Vec<f64> {
        let c = &self.config;
        let h = c.hidden_size;
        match c.cell {
            CellKind::Lstm => match self.p("weight_hr", l, dir) {
                Some(w_hr) => {
                    let mut out = vec![0.0; c.proj_size];
                    matvec_add(&mut out, w_hr, &rec.r);
                    out
                }
                None => rec.r.clone(),
            },
            CellKind::Gru => (0..h)
                .map(|j| {
                    let (z, n) = (rec.act[h + j], rec.act[2 * h + j]);
                    (1.0 - z) * n + z * rec.h_prev[j]
                })
                .collect(),
            CellKind::RnnTanh | CellKind::RnnRelu => rec.act.clone(),
        }
    }

    /// Backward of `fw` for the loss `Σ y⊙d_y + Σ h_n⊙d_hn + Σ c_n⊙d_cn` (`d_hn`, `d_cn` zeros if
    /// `None`); `masks` as given to forward.
    pub fn backward(
        &self,
        fw: &RefForward,
        d_y: &[f64],
        d_hn: Option<&[f64]>,
        d_cn: Option<&[f64]>,
        masks: &[Option<Vec<f64>>],
    ) -> RefGrads {
        self.backward_traced(fw, d_y, d_hn, d_cn, masks, &mut GradTrace::default())
    }

    /// [`RefStack::backward`], also recording the gradient norms at every step in `trace`.
    pub fn backward_traced(
        &self,
        fw: &RefForward,
        d_y: &[f64],
        d_hn: Option<&[f64]>,
        d_cn: Option<&[f64]>,
        masks: &[Option<Vec<f64>>],
        trace: &mut GradTrace,
    ) -> RefGrads {
        let c = &self.config;
        let (nd, h, ho, g) = (c.directions(), c.hidden_size, c.h_out(), c.gate_rows());
        let (t, b) = (fw.t, fw.b);
        let mut grads: BTreeMap<String, Vec<f64>> = self
            .params
            .iter()
            .map(|(n, v)| (n.clone(), vec![0.0; v.len()]))
            .collect();
        let is_lstm = c.cell == CellKind::Lstm;
        let mut d_h0 = vec![0.0; c.num_layers * nd * b * ho];
        let mut d_c0 = if is_lstm {
            vec![0.0; c.num_layers * nd * b * h]
        } else {
            vec![]
        };
        let mut d_out = d_y.to_vec();
        let kk = c.num_layers * nd;
        trace.h_sq = vec![vec![0.0; t]; kk];
        trace.c_sq = vec![vec![0.0; if is_lstm { t } else { 0 }]; kk];
        for l in (0..c.num_layers).rev() {
            let n_in = c.layer_input_size(l);
            let mut d_in = vec![0.0; t * b * n_in];
            for dir in 0..nd {
                let k = l * nd + dir;
                let name =
                    |stem: &str| format!("{stem}_l{l}{}", if dir == 1 { "_reverse" } else { "" });
                let w_ih = self.p("weight_ih", l, dir).expect("w_ih");
                let w_hh = self.p("weight_hh", l, dir).expect("w_hh");
                let w_hr = self.p("weight_hr", l, dir);
                for bi in 0..b {
                    let mut dh: Vec<f64> =
                        d_hn.map_or(vec![0.0; ho], |v| v[(k * b + bi) * ho..][..ho].to_vec());
                    let mut dc: Vec<f64> = if is_lstm {
                        d_cn.map_or(vec![0.0; h], |v| v[(k * b + bi) * h..][..h].to_vec())
                    } else {
                        vec![]
                    };
                    for rec in fw.recs[k][bi].iter().rev() {
                        let ti = rec.t;
                        for j in 0..ho {
                            dh[j] += d_out[(ti * b + bi) * nd * ho + dir * ho + j];
                        }
                        trace.h_sq[k][ti] += dh.iter().map(|v| v * v).sum::<f64>();
                        // d_a: input-side pre-activation grads; d_gh: hidden-side.
                        let mut d_a = vec![0.0; g];
                        let mut d_gh = vec![0.0; g];
                        let mut dh_prev = vec![0.0; ho];
                        match c.cell {
                            CellKind::Lstm => {
                                let dr = match w_hr {
                                    Some(w_hr) => {
                                        outer_add(
                                            grads.get_mut(&name("weight_hr")).expect("w_hr"),
                                            &dh,
                                            &rec.r,
                                        );
                                        let mut dr = vec![0.0; h];
                                        matvec_t_add(&mut dr, w_hr, &dh);
                                        dr
                                    }
                                    None => dh.clone(),
                                };
                                for j in 0..h {
                                    let (i, f, gg, o) = (
                                        rec.act[j],
                                        rec.act[h + j],
                                        rec.act[2 * h + j],
                                        rec.act[3 * h + j],
                                    );
                                    let tc = rec.aux[j].tanh();
                                    let dcj = dc[j] + dr[j] * o * (1.0 - tc * tc);
                                    trace.c_sq[k][ti] += dcj * dcj;
                                    d_a[j] = dcj * gg * i * (1.0 - i);
                                    d_a[h + j] = dcj * rec.c_prev[j] * f * (1.0 - f);
                                    d_a[2 * h + j] = dcj * i * (1.0 - gg * gg);
                                    d_a[3 * h + j] = dr[j] * tc * o * (1.0 - o);
                                    dc[j] = dcj * f;
                                }
                                d_gh.copy_from_slice(&d_a);
                            }
                            CellKind::Gru => {
                                for j in 0..h {
                                    let (r, z, n) =
                                        (rec.act[j], rec.act[h + j], rec.act[2 * h + j]);
                                    let d_an = dh[j] * (1.0 - z) * (1.0 - n * n);
                                    let d_ar = d_an * rec.aux[j] * r * (1.0 - r);
                                    let d_az = dh[j] * (rec.h_prev[j] - n) * z * (1.0 - z);
                                    d_a[j] = d_ar;
                                    d_a[h + j] = d_az;
                                    d_a[2 * h + j] = d_an;
                                    d_gh[j] = d_ar;
                                    d_gh[h + j] = d_az;
                                    d_gh[2 * h + j] = d_an * r;
                                    dh_prev[j] = dh[j] * z;
                                }
                            }
                            CellKind::RnnTanh | CellKind::RnnRelu => {
                                for j in 0..h {
                                    let y = rec.act[j];
                                    let deriv = if c.cell == CellKind::RnnRelu {
                                        if y > 0.0 {
                                            1.0
                                        } else {
                                            0.0
                                        }
                                    } else {
                                        1.0 - y * y
                                    };
                                    d_a[j] = dh[j] * deriv;
                                }
                                d_gh.copy_from_slice(&d_a);
                            }
                        }
                        outer_add(
                            grads.get_mut(&name("weight_ih")).expect("w_ih"),
                            &d_a,
                            &rec.x,
                        );
                        outer_add(
                            grads.get_mut(&name("weight_hh")).expect("w_hh"),
                            &d_gh,
                            &rec.h_prev,
                        );
                        if let Some(gb) = grads.get_mut(&name("bias_ih")) {
                            gb.iter_mut().zip(&d_a).for_each(|(a, d)| *a += d);
                        }
                        if let Some(gb) = grads.get_mut(&name("bias_hh")) {
                            gb.iter_mut().zip(&d_gh).for_each(|(a, d)| *a += d);
                        }
                        matvec_t_add(&mut d_in[(ti * b + bi) * n_in..][..n_in], w_ih, &d_a);
                        matvec_t_add(&mut dh_prev, w_hh, &d_gh);
                        dh = dh_prev;
                    }
                    d_h0[(k * b + bi) * ho..][..ho].copy_from_slice(&dh);
                    if is_lstm {
                        d_c0[(k * b + bi) * h..][..h].copy_from_slice(&dc);
                    }
                }
            }
            if let Some(Some(m)) = masks.get(l) {
                d_in.iter_mut().zip(m).for_each(|(v, m)| *v *= m);
            }
            d_out = d_in;
        }
        RefGrads {
            d_x: d_out,
            d_h0,
            d_c0,
            params: grads,
        }
    }
}
