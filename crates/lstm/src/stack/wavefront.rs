//! The layer wavefront: a forward without grad through stacked layers, each layer on its own
//! core, layer `l` running chunk `c` of the sequence while layer `l − 1` runs chunk `c + 1`.
//!
//! Why: at a small batch a step is a one-row (or few-row) product bound by reading the weights,
//! and splitting each step's panels between two cores gains little (B = 1, H = 256: 1.5× on two
//! cores; H = 128: none) while it costs a barrier every step. Giving each core whole layers
//! instead keeps each layer's recurrent weights in one core's cache and runs the layers at the
//! same time. The sequence is cut into chunks of [`chunk_len`] steps. There are no barriers:
//! each layer counts the chunks it has finished, and a chunk of layer `l` runs once layer
//! `l − 1` has finished the same chunk (its input, [`chunk_ready`]), by whichever member finds
//! it ready and the layer free (its lane's lock keeps a layer's chunks on one member at a time,
//! in order); each member tries its own layers first (`l mod n`), so a layer stays on one core
//! unless that core falls behind. Layer 0 never waits; a member descheduled by the system only
//! holds back the chunk it is running (with a barrier per stage, a competing busy thread made a
//! forward 4× slower; now ≤ 2×, measured with PyTorch's OpenMP threads still spinning).
//!
//! Each chunk is an ordinary one-thread pass of the layer's driver ([`layer::forward`],
//! `T` = the chunk, [`Dims::chunk`]) from the state the last chunk left: the input side of a
//! chunk is one product over its rows (through `W_ih` packed in panels, so nothing is allocated
//! per chunk), then the steps as in a whole-sequence pass. Outputs equal the layer-by-layer
//! forward's within 1e-6 (tested).
//!
//! Used by [`Stack::forward`] when [`Stack::wavefront_chunk`] says so: no grad, one direction,
//! at least two layers, no dropout, two or more threads, a layer's step small enough that the
//! per-step split does not pay ([`WAVEFRONT_MAX_STEP_MACS`]) and its weights small enough for
//! one core's L2 ([`WAVEFRONT_MAX_LAYER_BYTES`]). Measured against the layer-by-layer schedule
//! (two threads, T = 100, alternating binaries, median of per-round ratios): B = 1 H = 128 two
//! layers 1.22–1.30×, three layers 1.08–1.21×; B = 1 H = 64 four layers 1.16–1.64×; B = 4
//! H = 128 0.99–1.21×; B = 16 H = 64 1.14–1.29×; the GRU at B = 1 H = 128 1.54×.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::Mutex;

use super::{LayerTape, Stack, State};
use crate::config::CellKind;
use crate::kernels::team::{backoff, CacheLine, SharedMut, Team};
use crate::layer::{self, reset, resize_for_overwrite, Dims, DirTape};
use crate::tensor::Tensor;

/// Recurrent multiply-adds per step of one layer (`B · H_out · G`) up to which the wavefront
/// runs (B = 4 at H = 128: 2¹⁸). Larger steps split well between the cores: B = 16 at H = 128
/// (2²⁰) gained 1.02–1.05× as a wavefront with two layers and lost 0.96× with four, and B = 256
/// at H = 128 lost 0.92×.
const WAVEFRONT_MAX_STEP_MACS: usize = 1 << 18;

/// Bytes of a layer's weights (`W_ih` and `W_hh` in f32) up to which the wavefront runs: one
/// core's L2 holds them with room to spare (2 MiB per core here). B = 1 at H = 256 (2 MiB) ran
/// 1.5× slower as a wavefront: each chunk's input product and steps evicted each other's
/// weights, which then came from L3.
const WAVEFRONT_MAX_LAYER_BYTES: usize = 1 << 20;

/// Chunks a sequence is cut into (at most): more shorten the start, when layer 1 waits for
/// layer 0's first chunk (and the end, when layer 0 has finished); fewer read each layer's input
/// weights fewer times. 8, 16 and 32 measured within noise of each other (B = 1 H = 128:
/// 1.30–1.32×).
const WAVEFRONT_CHUNKS: usize = 16;

/// Steps per chunk for a sequence of `t` steps.
fn chunk_len(t: usize) -> usize {
    t.div_ceil(WAVEFRONT_CHUNKS).max(4)
}

/// Whether a layer can run its chunk `ci` of `chunks`: there is one, and the layer below (if
/// any; `below_done` chunks finished) has finished that chunk, its input.
fn chunk_ready(ci: usize, chunks: usize, below_done: Option<usize>) -> bool {
    ci < chunks && below_done.is_none_or(|d| d > ci)
}

/// One layer's place in the wavefront: its direction tape and the state its next chunk starts
/// from (`[B, H_out]`, and `[B, H]` for the LSTM).
struct Lane<'a> {
    dir: &'a mut DirTape,
    h: Vec<f32>,
    c: Vec<f32>,
}

impl Stack {
    /// The chunk length if a forward over `[t, b]` runs as a wavefront: no grad
    /// (`record` false), one direction, two or more layers, no dropout (`dropout`: whether this
    /// pass applies any), two or more threads on the team, a sequence of at least two chunks,
    /// a step of at most [`WAVEFRONT_MAX_STEP_MACS`] and layers of at most
    /// [`WAVEFRONT_MAX_LAYER_BYTES`].
    pub(super) fn wavefront_chunk(
        &self,
        t: usize,
        b: usize,
        record: bool,
        dropout: bool,
    ) -> Option<usize> {
        let c = &self.config;
        let chunk = chunk_len(t);
        let eligible = !record
            && !dropout
            && !c.bidirectional
            && c.num_layers >= 2
            && self.threads >= 2
            && Team::global().capacity() >= 2
            && t >= 2 * chunk
            && b * c.h_out() * c.gate_rows() <= WAVEFRONT_MAX_STEP_MACS
            && (0..c.num_layers).all(|l| {
                (c.layer_input_size(l) + c.h_out()) * c.gate_rows() * size_of::<f32>()
                    <= WAVEFRONT_MAX_LAYER_BYTES
            });
        eligible.then_some(chunk)
    }

    /// The forward through every layer as a wavefront (see the module docs), filling each
    /// layer's output in `layers`, and `h_n` / `c_n` with the final states.
    /// `x: [T, B, F]`; `active: [T, B]`; `init`: states `[L, B, H_out]` (and `[L, B, H]`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_wavefront(
        &self,
        x: &[f32],
        init: Option<&State>,
        layers: &mut [LayerTape],
        active: &[bool],
        (t, b): (usize, usize),
        chunk: usize,
        h_n: &mut Tensor,
        mut c_n: Option<&mut Tensor>,
    ) {
        let c = &self.config;
        let (nl, h, ho) = (c.num_layers, c.hidden_size, c.h_out());
        let is_lstm = c.cell == CellKind::Lstm;
        let mut outs = Vec::with_capacity(nl);
        let mut lanes = Vec::with_capacity(nl);
        for (l, lt) in layers.iter_mut().enumerate() {
            reset(&mut lt.mask, 0);
            reset(&mut lt.input, 0);
            resize_for_overwrite(&mut lt.output, t * b * ho);
            lt.dirs.resize_with(1, DirTape::default);
            outs.push(SharedMut::new(&mut lt.output));
            let h0 = init.map_or_else(
                || vec![0.0; b * ho],
                |s| s.h.data()[l * b * ho..(l + 1) * b * ho].to_vec(),
            );
            let c0 = match init.and_then(|s| s.c.as_ref()) {
                Some(c0) => c0.data()[l * b * h..(l + 1) * b * h].to_vec(),
                None => vec![0.0; if is_lstm { b * h } else { 0 }],
            };
            lanes.push(Mutex::new(Lane {
                dir: &mut lt.dirs[0],
                h: h0,
                c: c0,
            }));
        }
        let chunks = t.div_ceil(chunk);
        let n = Team::global().capacity().min(self.threads).min(nl);
        // `done[l]`: chunks layer l has finished. Its output rows up to there are written
        // (Release) before the count moves, and read only after it has (Acquire).
        let done: Vec<CacheLine<AtomicUsize>> =
            (0..nl).map(|_| CacheLine(AtomicUsize::new(0))).collect();
        // One chunk of layer l (the next one: `done[l]`) if its input is ready and no other
        // member is running layer l; whether it ran one.
        let try_chunk = |l: usize| -> bool {
            let ready =
                |ci: usize| chunk_ready(ci, chunks, (l > 0).then(|| done[l - 1].0.load(Acquire)));
            if !ready(done[l].0.load(Acquire)) {
                return false;
            }
            // The lane's lock makes one member at a time run layer l, in chunk order.
            let Ok(mut lane) = lanes[l].try_lock() else {
                return false;
            };
            let ci = done[l].0.load(Acquire);
            if !ready(ci) {
                return false; // another member ran it meanwhile
            }
            let (t0, tl) = (ci * chunk, chunk.min(t - ci * chunk));
            let input_size = c.layer_input_size(l);
            let input: &[f32] = if l == 0 {
                &x[t0 * b * input_size..(t0 + tl) * b * input_size]
            } else {
                // SAFETY: layer l − 1 finished chunk `ci` (its `done` count, read with
                // Acquire, is past it) and never writes these rows again.
                unsafe { outs[l - 1].slice(t0 * b * ho, tl * b * ho) }
            };
            // SAFETY: only the holder of layer l's lane writes layer l's output; layer l + 1
            // reads these rows only once `done[l]` has moved past them.
            let out = unsafe { outs[l].slice_mut(t0 * b * ho, tl * b * ho) };
            let Lane { dir, h: h0, c: c0 } = &mut *lane;
            let d = Dims {
                threads: 1,
                chunk: true,
                ..self.layer_dims(l, 0, tl, b, false)
            };
            let w = self.layout.dir(&self.params, l);
            let act = &active[t0 * b..(t0 + tl) * b];
            layer::forward(c.cell, out, dir, input, h0, c0, act, &w, &d);
            h0.copy_from_slice(&dir.h_last);
            if is_lstm {
                c0.copy_from_slice(&dir.c_last);
            }
            done[l].0.store(ci + 1, Release);
            true
        };
        Team::global().run(n, &|m, bar| {
            let n = bar.members();
            // Own layers first (l ≡ m mod n: their weights stay in this core's cache), then
            // the others' when they are ready and free.
            let mut idle = 0u32;
            while done[nl - 1].0.load(Acquire) < chunks {
                let mine = (0..nl).filter(|l| l % n == m);
                let others = (0..nl).filter(|l| l % n != m);
                if mine.chain(others).any(try_chunk) {
                    idle = 0;
                } else {
                    // A panic in another member's chunk would leave this one waiting forever.
                    bar.check();
                    backoff(&mut idle);
                }
            }
        });
        for (l, lane) in lanes.into_iter().enumerate() {
            let lane = lane.into_inner().unwrap_or_else(|e| e.into_inner());
            h_n.data_mut()[l * b * ho..(l + 1) * b * ho].copy_from_slice(&lane.h);
            if let Some(cn) = c_n.as_deref_mut() {
                cn.data_mut()[l * b * h..(l + 1) * b * h].copy_from_slice(&lane.c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RnnConfig;
    use crate::kernels::test_vals as vals;
    use crate::stack::{Tape, WeightPrecision};

    /// The wavefront (two threads) gives the layer-by-layer forward's outputs and final states
    /// (one thread: the same drivers over the whole sequence), within 1e-6, for every cell, with
    /// a projection, three layers (two on one member), an initial state, lengths that end inside
    /// chunks, and f16 / 8-bit weights; T = 37 is not a multiple of the chunk.
    #[test]
    fn wavefront_equals_the_layer_by_layer_forward() {
        use CellKind::*;
        let (t, f) = (37, 6);
        let cfgs = [
            RnnConfig::new(Lstm, f, 24).with_num_layers(2),
            RnnConfig::new(Lstm, f, 24).with_num_layers(3),
            RnnConfig::new(Lstm, f, 24)
                .with_num_layers(2)
                .with_proj_size(9),
            RnnConfig::new(Gru, f, 24).with_num_layers(2),
            RnnConfig::new(RnnTanh, f, 24).with_num_layers(3),
        ];
        for cfg in cfgs {
            for b in [1, 3] {
                for precision in [
                    WeightPrecision::F32,
                    WeightPrecision::F16,
                    WeightPrecision::I8,
                ] {
                    let mut one = Stack::new(cfg.clone(), 11).unwrap().with_threads(1);
                    if one.set_inference_weights(precision).is_err() {
                        continue; // f16 and i8: the LSTM without projection only
                    }
                    let two = one.clone().with_threads(2);
                    let name = format!("{} B={b} {precision:?}", cfg.describe());
                    if Team::global().capacity() >= 2 {
                        assert!(two.wavefront_chunk(t, b, false, false).is_some(), "{name}");
                    }
                    assert!(one.wavefront_chunk(t, b, false, false).is_none(), "{name}");
                    let x = Tensor::new("x", &[t, b, f], vals(t * b * f, 1, 1.0)).unwrap();
                    let mut init = one.zero_state(b);
                    let hl = init.h.data().len();
                    init.h.data_mut().copy_from_slice(&vals(hl, 2, 0.5));
                    if let Some(c) = init.c.as_mut() {
                        let cl = c.data().len();
                        c.data_mut().copy_from_slice(&vals(cl, 3, 0.5));
                    }
                    let lengths: Vec<usize> = [t, 22, 5][..b].to_vec();
                    let want = one
                        .forward(&x, Some(&init), Some(&lengths), &mut Tape::inference())
                        .unwrap();
                    // Twice on one tape (the second pass reuses the first one's buffers), and
                    // first passes on fresh tapes (whose rows not yet written are zeros: a chunk
                    // run before its input was ready would read them).
                    let mut tape = Tape::inference();
                    let mut runs = Vec::new();
                    for _ in 0..2 {
                        let out = two.forward(&x, Some(&init), Some(&lengths), &mut tape);
                        runs.push(out.unwrap());
                    }
                    for _ in 0..4 {
                        let out =
                            two.forward(&x, Some(&init), Some(&lengths), &mut Tape::inference());
                        runs.push(out.unwrap());
                    }
                    for got in &runs {
                        let pairs = [
                            ("y", got.y.data(), want.y.data()),
                            ("h_n", got.h_n.data(), want.h_n.data()),
                            (
                                "c_n",
                                got.c_n.as_ref().map_or(&[][..], |c| c.data()),
                                want.c_n.as_ref().map_or(&[][..], |c| c.data()),
                            ),
                        ];
                        for (what, g, w) in pairs {
                            assert_eq!(g.len(), w.len(), "{name}: {what} length");
                            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                                assert!(
                                    (g - w).abs() <= 1e-6,
                                    "{name}: {what}[{i}]: layer by layer {w}, wavefront {g}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// A chunk runs once its input chunk is finished, and not past the last chunk.
    #[test]
    fn a_chunk_waits_for_the_layer_below() {
        assert!(
            chunk_ready(0, 3, None),
            "layer 0 reads the input: always ready"
        );
        assert!(!chunk_ready(3, 3, None), "no chunk 3 of 3");
        assert!(
            !chunk_ready(0, 3, Some(0)),
            "chunk 0 before the layer below finished it"
        );
        assert!(chunk_ready(0, 3, Some(1)));
        assert!(!chunk_ready(2, 3, Some(2)));
        assert!(chunk_ready(2, 3, Some(3)));
        assert!(!chunk_ready(3, 3, Some(3)));
    }

    /// Only forwards without grad, dropout or a reverse direction, through two or more layers,
    /// on two or more threads, over at least two chunks, with small steps and layers.
    #[test]
    fn wavefront_runs_only_where_it_applies() {
        let lstm =
            |f: usize, h: usize, l: usize| RnnConfig::new(CellKind::Lstm, f, h).with_num_layers(l);
        let stack = |cfg: RnnConfig| Stack::new(cfg, 0).unwrap().with_threads(2);
        if Team::global().capacity() < 2 {
            return;
        }
        let s = stack(lstm(128, 128, 2));
        assert_eq!(s.wavefront_chunk(100, 1, false, false), Some(7));
        assert_eq!(s.wavefront_chunk(8, 1, false, false), Some(4));
        assert_eq!(s.wavefront_chunk(7, 1, false, false), None, "one chunk");
        assert_eq!(s.wavefront_chunk(100, 1, true, false), None, "recording");
        assert_eq!(s.wavefront_chunk(100, 1, false, true), None, "dropout");
        assert_eq!(
            s.wavefront_chunk(100, 4, false, false),
            Some(7),
            "B·G·H = 2¹⁸"
        );
        assert_eq!(s.wavefront_chunk(100, 5, false, false), None, "B·G·H > 2¹⁸");
        let one_thread = stack(lstm(128, 128, 2)).with_threads(1);
        assert_eq!(one_thread.wavefront_chunk(100, 1, false, false), None);
        assert_eq!(
            stack(lstm(128, 128, 1)).wavefront_chunk(100, 1, false, false),
            None
        );
        let bi = stack(lstm(8, 16, 2).with_bidirectional(true));
        assert_eq!(
            bi.wavefront_chunk(100, 1, false, false),
            None,
            "bidirectional"
        );
        // 2 MiB of weights per layer.
        assert_eq!(
            stack(lstm(256, 256, 2)).wavefront_chunk(100, 1, false, false),
            None
        );
        assert_eq!(
            stack(lstm(640, 128, 2)).wavefront_chunk(100, 1, false, false),
            None
        );
    }
}
