//! 8-bit weights with 8-bit activations quantized as they are read (PyTorch's dynamic
//! quantization, `quantize_dynamic(…, dtype=torch.qint8)`), for the fused LSTM's forwards without
//! grad ([`crate::WeightPrecision::I8`]).
//!
//! - Weights, once per version: per column of a gate panel (one gate of one unit), symmetric:
//!   `s_c = max_k |w[k, c]| / 127`, `q[k, c] = round(w[k, c] / s_c) ∈ [−127, 127]`.
//! - Activations, each step: per row (one batch row of `x_t` or of `h_{t−1}`), symmetric:
//!   `s_r = max_k |v[k]| / 127`, `q[k] = round(v[k] / s_r)`, stored as `u[k] = q[k] + 128`
//!   for the unsigned-by-signed dot product of AVX-512 VNNI (`vpdpbusd`).
//! - A sum: `Σ_k v[k]·w[k, c] ≈ s_r · s_c · (Σ_k u[k]·q[k, c] − 128·Σ_k q[k, c])`; the integer
//!   part is exact (i32, for `K` below 2¹⁷), so every variant gives the same bits.
//!
//! Rounding is to nearest, ties to even. A row holding NaN gets a NaN scale, so NaN (and ±∞)
//! still reach the output, as in f32.
//!
//! Panels: `[panels, K4/4, 64, 4]` i8, `K4` = `K` rounded up to a multiple of 4 with zero
//! weights: per quad of `k`, the 64 columns' 4 weights, so one 64-byte load feeds 16 columns ×
//! 4 `k` into one `vpdpbusd`.

use super::aligned::Aligned;
use super::packed::{MAX_ROWS, PANEL};

/// `k` values one lane of `vpdpbusd` sums.
pub const QUAD: usize = 4;

/// The largest quantized magnitude (symmetric: −127…127).
pub const QMAX: f32 = 127.0;

/// What the unsigned activations add to each `q` (`u = q + 128`).
const ZERO_POINT: i32 = 128;

/// `k` rounded up to a whole number of quads: the row length of quantized activations and
/// the panel depth.
pub fn padded(k: usize) -> usize {
    k.div_ceil(QUAD) * QUAD
}

/// Gate (or column) panels of one matrix, quantized per column.
#[derive(Debug, Default, Clone)]
pub struct I8Panels {
    /// `[panels, K4/4, 64, 4]` the quantized weights.
    w: Aligned<i8>,
    /// `[panels, 64]` each column's scale `s_c`.
    scale: Aligned<f32>,
    /// `[panels, 64]` `128 · Σ_k q[k, c]`: the zero point's share of a sum over `u`.
    offset: Aligned<i32>,
    /// `K4`.
    k4: usize,
}

/// One quantized panel: `w: [K4/4, 64, 4]`, `scale: [64]`, `offset: [64]`.
#[derive(Clone, Copy)]
pub struct I8Panel<'a> {
    /// `[K4/4, 64, 4]` the quantized weights.
    pub w: &'a [i8],
    /// `[64]` each column's scale.
    pub scale: &'a [f32],
    /// `[64]` `128 · Σ_k q[k, c]`.
    pub offset: &'a [i32],
}

impl I8Panels {
    /// Quantizes `packed: [panels, k, 64]` (f32 panels, [`super::packed::pack_gate_panels`]),
    /// `k ≥ 1`.
    pub fn quantize(&mut self, packed: &[f32], k: usize) {
        assert!(
            k > 0 && packed.len().is_multiple_of(k * PANEL),
            "quantize: {} values are not panels of {k} rows",
            packed.len()
        );
        let (k4, panels) = (padded(k), packed.len() / (k * PANEL));
        self.k4 = k4;
        self.w.zeroed(panels * k4 * PANEL);
        self.scale.zeroed(panels * PANEL);
        self.offset.zeroed(panels * PANEL);
        for p in 0..panels {
            let src = &packed[p * k * PANEL..(p + 1) * k * PANEL];
            let dst = &mut self.w[p * k4 * PANEL..(p + 1) * k4 * PANEL];
            for c in 0..PANEL {
                let column = (0..k).map(|kk| src[kk * PANEL + c]);
                let (s, inv) = scale_of(abs_max(column.clone()));
                let mut sum = 0;
                for (kk, v) in column.enumerate() {
                    let q = quantize(v, inv);
                    dst[(kk / QUAD) * PANEL * QUAD + c * QUAD + kk % QUAD] = q as i8;
                    sum += q;
                }
                self.scale[p * PANEL + c] = s;
                self.offset[p * PANEL + c] = ZERO_POINT * sum;
            }
        }
    }

    /// Panel `p`.
    pub fn panel(&self, p: usize) -> I8Panel<'_> {
        let n = self.k4 * PANEL;
        I8Panel {
            w: &self.w[p * n..(p + 1) * n],
            scale: &self.scale[p * PANEL..(p + 1) * PANEL],
            offset: &self.offset[p * PANEL..(p + 1) * PANEL],
        }
    }

    /// `K4`, the depth of each panel (0 when empty).
    pub fn k4(&self) -> usize {
        self.k4
    }

    /// Bytes held (weights, scales, offsets).
    pub fn bytes(&self) -> usize {
        self.w.len() + 4 * (self.scale.len() + self.offset.len())
    }
}

/// The largest `|v|`, or NaN if any `v` is NaN. (On the bits: `|v|`'s bits order as `|v|`
/// does, and NaN's lie above ∞'s; an integer maximum vectorises.)
#[inline(always)]
fn abs_max(v: impl Iterator<Item = f32>) -> f32 {
    f32::from_bits(v.map(|x| x.to_bits() & 0x7fff_ffff).fold(0, u32::max))
}

/// `(s, 1/s)` for the largest magnitude `m`: `s = m / 127`; an all-zero row gets `(0, 0)`, a
/// non-finite one `(m, 0)` (its sums come out non-finite), and one so small that `127 / m`
/// overflows (below ≈ 3.7e-37) `(m, 0)`: it counts as zeros, off by at most `m · Σ|w|`.
#[inline(always)]
fn scale_of(m: f32) -> (f32, f32) {
    let inv = QMAX / m;
    if m > 0.0 && m.is_finite() && inv.is_finite() {
        (m / QMAX, inv)
    } else {
        (m, 0.0)
    }
}

/// `round(v · inv)` to nearest, ties to even, in −127…127 (`|v · inv| ≤ 127` for the rows'
/// own scales). Adding 1.5·2²³ leaves the rounded integer in the low mantissa bits.
#[inline(always)]
fn quantize(v: f32, inv: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    let r = ((v * inv + MAGIC).to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    r.clamp(-127, 127)
}

/// Quantizes `rows` rows of `k` values: `src: [rows, k]` → `q: [rows, K4]` (`u = q + 128`; the
/// pad up to `K4` holds 128) and `scale: [rows]` (`s_r`).
#[inline(always)]
fn quantize_rows_body<const FMA: bool>(
    q: &mut [u8],
    scale: &mut [f32],
    src: &[f32],
    rows: usize,
    k: usize,
) {
    let k4 = padded(k);
    for r in 0..rows {
        let v = &src[r * k..(r + 1) * k];
        let (s, inv) = scale_of(abs_max(v.iter().copied()));
        scale[r] = s;
        let (qr, pad) = q[r * k4..(r + 1) * k4].split_at_mut(k);
        for (d, &x) in qr.iter_mut().zip(v) {
            *d = (quantize(x, inv) + ZERO_POINT) as u8;
        }
        pad.fill(ZERO_POINT as u8);
    }
}

dispatch! {
    /// [`quantize_rows_isa`] in the best variant this CPU has.
    pub fn quantize_rows;
    /// Quantizes `rows` rows of `k` values: `src: [rows, k]` → `q: [rows, K4]` (`u = q + 128`;
    /// the pad up to `K4` holds 128) and `scale: [rows]`.
    pub fn quantize_rows_isa = quantize_rows_body(q: &mut [u8], scale: &mut [f32], src: &[f32], rows: usize, k: usize)
}

/// `acc[r, c] += (s_r · s_c) · (isum[r, c] − offset[c])` for `r < rows`, `c < 64`: the integer
/// sums of one panel back to f32. `acc, isum: [rows, 64]`, `row_scale: [rows]`,
/// `col_scale, offset: [64]`.
#[inline(always)]
fn dequantize_add_body<const FMA: bool>(
    acc: &mut [f32],
    isum: &[i32],
    row_scale: &[f32],
    col_scale: &[f32],
    offset: &[i32],
    rows: usize,
) {
    let (col_scale, offset) = (&col_scale[..PANEL], &offset[..PANEL]);
    for r in 0..rows {
        let (a, i) = (
            &mut acc[r * PANEL..(r + 1) * PANEL],
            &isum[r * PANEL..(r + 1) * PANEL],
        );
        let sr = row_scale[r];
        for c in 0..PANEL {
            a[c] += (sr * col_scale[c]) * i[c].wrapping_sub(offset[c]) as f32;
        }
    }
}

dispatch! {
    /// [`dequantize_add_isa`] in the best variant this CPU has.
    pub fn dequantize_add;
    /// `acc[r, c] += (s_r · s_c) · (isum[r, c] − offset[c])` for `r < rows`, `c < 64`.
    pub fn dequantize_add_isa = dequantize_add_body(acc: &mut [f32], isum: &[i32], row_scale: &[f32], col_scale: &[f32], offset: &[i32], rows: usize)
}

/// The compiled variants of the 8-bit tile; each gives the same integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I8Isa {
    /// AVX-512 VNNI: `vpdpbusd` on 512-bit registers.
    Vnni512,
    /// AVX-VNNI: `vpdpbusd` on 256-bit registers (CPUs with VNNI but no AVX-512).
    AvxVnni,
    /// AVX2 without VNNI: bytes widened to 16 bits and summed in pairs (`vpmaddwd`).
    Avx2,
    /// The baseline target.
    Portable,
}

impl I8Isa {
    /// The best variant this CPU runs.
    pub fn detect() -> I8Isa {
        [I8Isa::Vnni512, I8Isa::AvxVnni, I8Isa::Avx2]
            .into_iter()
            .find(|v| v.available())
            .unwrap_or(I8Isa::Portable)
    }

    /// Whether this CPU can run the variant.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            match self {
                I8Isa::Vnni512 => has!("avx512f") && has!("avx512vnni"),
                I8Isa::AvxVnni => has!("avx2") && has!("avxvnni"),
                I8Isa::Avx2 => has!("avx2"),
                I8Isa::Portable => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == I8Isa::Portable
        }
    }
}

/// `out[m, c] (+)= Σ_{kk < 4·quads} a[m·lda + kk] · pan[kk, c]` in i32 (wrapping), for
/// `m < rows ≤ MAX_ROWS`, `c < 64`: `a` holds `rows` rows of quantized activations (`u8`),
/// `lda` apart; `pan: [quads, 64, 4]`, a block of an [`I8Panel`]; `out: [rows, 64]`; `add`:
/// accumulate into `out` instead of overwriting it. The best variant this CPU has.
pub fn tile_i8(
    out: &mut [i32],
    a: &[u8],
    lda: usize,
    quads: usize,
    pan: &[i8],
    rows: usize,
    add: bool,
) {
    static BEST: std::sync::OnceLock<I8Isa> = std::sync::OnceLock::new();
    let isa = *BEST.get_or_init(I8Isa::detect);
    tile_i8_variant(isa, out, a, lda, quads, pan, rows, add)
}

/// [`tile_i8`] in a chosen variant (the portable one if this CPU lacks it).
#[allow(clippy::too_many_arguments)]
pub fn tile_i8_variant(
    isa: I8Isa,
    out: &mut [i32],
    a: &[u8],
    lda: usize,
    quads: usize,
    pan: &[i8],
    rows: usize,
    add: bool,
) {
    assert!(
        (1..=MAX_ROWS).contains(&rows),
        "tile_i8: rows {rows} not in 1..={MAX_ROWS}"
    );
    assert!(
        out.len() >= rows * PANEL,
        "tile_i8: out holds fewer than {rows} rows"
    );
    assert!(
        pan.len() >= quads * QUAD * PANEL,
        "tile_i8: panel holds fewer than {quads} quads"
    );
    assert!(
        quads == 0 || a.len() >= (rows - 1) * lda + quads * QUAD,
        "tile_i8: a holds fewer than {rows} rows of {quads} quads"
    );
    #[cfg(target_arch = "x86_64")]
    if isa != I8Isa::Portable && isa.available() {
        // SAFETY: the CPU has the variant's features (checked); the asserts above bound every
        // access.
        unsafe {
            let (o, ap, pp) = (out.as_mut_ptr(), a.as_ptr(), pan.as_ptr());
            match (isa, rows) {
                (I8Isa::Vnni512, 1) => avx512::tile1(o, ap, quads, pp, add),
                (I8Isa::Vnni512, 2) => avx512::tile::<2>(o, ap, lda, quads, pp, add),
                (I8Isa::Vnni512, 3) => avx512::tile::<3>(o, ap, lda, quads, pp, add),
                (I8Isa::Vnni512, 4) => avx512::tile::<4>(o, ap, lda, quads, pp, add),
                (I8Isa::Vnni512, 5) => avx512::tile::<5>(o, ap, lda, quads, pp, add),
                (I8Isa::Vnni512, _) => avx512::tile::<6>(o, ap, lda, quads, pp, add),
                // One row at a time: 64 columns take 8 of the 16 registers.
                (I8Isa::AvxVnni, _) => {
                    for m in 0..rows {
                        avxvnni::tile1(o.add(m * PANEL), ap.add(m * lda), quads, pp, add)
                    }
                }
                _ => {
                    for m in 0..rows {
                        avx2::tile1(o.add(m * PANEL), ap.add(m * lda), quads, pp, add)
                    }
                }
            }
        }
        return;
    }
    for m in 0..rows {
        let acc: &mut [i32; PANEL] = (&mut out[m * PANEL..(m + 1) * PANEL])
            .try_into()
            .expect("one row");
        if !add {
            *acc = [0; PANEL];
        }
        for q in 0..quads {
            let av = &a[m * lda + q * QUAD..m * lda + (q + 1) * QUAD];
            let p = &pan[q * PANEL * QUAD..(q + 1) * PANEL * QUAD];
            for (c, s) in acc.iter_mut().enumerate() {
                let dot: i32 = (0..QUAD)
                    .map(|j| av[j] as i32 * p[c * QUAD + j] as i32)
                    .sum();
                *s = s.wrapping_add(dot);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avxvnni {
    use super::{PANEL, QUAD};
    use std::arch::x86_64::*;

    /// One row, 64 columns in 8 registers: `vpdpbusd` on 256 bits.
    ///
    /// # Safety
    /// AVX2 and AVX-VNNI; `a` readable for `4·quads`, `pan` for `256·quads`, `out` writable for
    /// 64.
    #[target_feature(enable = "avx2,avxvnni")]
    pub(super) unsafe fn tile1(
        out: *mut i32,
        a: *const u8,
        quads: usize,
        pan: *const i8,
        add: bool,
    ) {
        let mut s = [_mm256_setzero_si256(); 8];
        if add {
            for (j, v) in s.iter_mut().enumerate() {
                *v = _mm256_loadu_si256(out.add(j * 8).cast());
            }
        }
        for q in 0..quads {
            let p = pan.add(q * PANEL * QUAD);
            let av = _mm256_set1_epi32(a.add(q * QUAD).cast::<i32>().read_unaligned());
            for (j, v) in s.iter_mut().enumerate() {
                let w = _mm256_loadu_si256(p.add(j * 32).cast());
                *v = _mm256_dpbusd_avx_epi32(*v, av, w);
            }
        }
        for (j, v) in s.iter().enumerate() {
            _mm256_storeu_si256(out.add(j * 8).cast(), *v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{PANEL, QUAD};
    use std::arch::x86_64::*;

    /// One row without VNNI: each 16 bytes of a quad (4 columns × 4 `k`) widened to 16 bits
    /// (`vpmovsxbw`) and multiplied by the row's 4 activations, widened too, with `vpmaddwd`,
    /// which sums pairs exactly into 32 bits: each register holds, per column, the sums of
    /// `k` 0–1 and 2–3, added pairwise at the end (`vphaddd`). Exact, as every variant.
    ///
    /// # Safety
    /// AVX2; `a` readable for `4·quads`, `pan` for `256·quads`, `out` writable for 64.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tile1(
        out: *mut i32,
        a: *const u8,
        quads: usize,
        pan: *const i8,
        add: bool,
    ) {
        // 16 registers of partial sums: register j holds columns 4j..4j+4, two lanes each.
        let mut s = [_mm256_setzero_si256(); 16];
        for q in 0..quads {
            let p = pan.add(q * PANEL * QUAD);
            let a4 = _mm_cvtsi32_si128(a.add(q * QUAD).cast::<i32>().read_unaligned());
            // [a0, a1, a2, a3] as 16-bit values, repeated over the 4 columns.
            let av = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(a4));
            for (j, v) in s.iter_mut().enumerate() {
                let w = _mm256_cvtepi8_epi16(_mm_loadu_si128(p.add(j * 16).cast()));
                *v = _mm256_add_epi32(*v, _mm256_madd_epi16(w, av));
            }
        }
        for j in 0..8 {
            // Registers 2j, 2j+1: columns 8j..8j+8 as pairs; `hadd` gives them in the order
            // [0 1 | 4 5 | 2 3 | 6 7] per 128-bit half, restored by one permute.
            let h = _mm256_hadd_epi32(s[2 * j], s[2 * j + 1]);
            let mut v = _mm256_permute4x64_epi64::<0b11_01_10_00>(h);
            if add {
                v = _mm256_add_epi32(v, _mm256_loadu_si256(out.add(j * 8).cast()));
            }
            _mm256_storeu_si256(out.add(j * 8).cast(), v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{PANEL, QUAD};
    use std::arch::x86_64::*;

    /// Bytes of one quad of a panel (64 columns × 4 `k`).
    const QUAD_BYTES: usize = PANEL * QUAD;

    /// The 4 activations of quad `q` of a row, in every lane.
    #[inline(always)]
    unsafe fn quad_of(a: *const u8, q: usize) -> __m512i {
        _mm512_set1_epi32(a.add(q * QUAD).cast::<i32>().read_unaligned())
    }

    /// The quad's 16 columns starting at column `16·j`.
    #[inline(always)]
    unsafe fn cols(p: *const i8, j: usize) -> __m512i {
        _mm512_loadu_si512(p.add(j * 64).cast())
    }

    /// One row: bound by reading the panel, so two sets of sums (even and odd quads) keep two
    /// quads in flight instead of waiting on each `vpdpbusd`'s result.
    ///
    /// # Safety
    /// AVX-512F and VNNI; `a` readable for `4·quads`, `pan` for `256·quads`, `out` writable for 64.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn tile1(
        out: *mut i32,
        a: *const u8,
        quads: usize,
        pan: *const i8,
        add: bool,
    ) {
        let z = _mm512_setzero_si512();
        let (mut s0, mut s1) = ([z; 4], [z; 4]);
        if add {
            for (j, v) in s0.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(out.add(j * 16).cast());
            }
        }
        let mut q = 0;
        while q + 2 <= quads {
            let p = pan.add(q * QUAD_BYTES);
            let (a0, a1) = (quad_of(a, q), quad_of(a, q + 1));
            for j in 0..4 {
                s0[j] = _mm512_dpbusd_epi32(s0[j], a0, cols(p, j));
                s1[j] = _mm512_dpbusd_epi32(s1[j], a1, cols(p.add(QUAD_BYTES), j));
            }
            q += 2;
        }
        if q < quads {
            let p = pan.add(q * QUAD_BYTES);
            let a0 = quad_of(a, q);
            for (j, v) in s0.iter_mut().enumerate() {
                *v = _mm512_dpbusd_epi32(*v, a0, cols(p, j));
            }
        }
        for j in 0..4 {
            _mm512_storeu_si512(out.add(j * 16).cast(), _mm512_add_epi32(s0[j], s1[j]));
        }
    }

    /// `M` rows × 64 columns in 4·M registers; one pass over the quads.
    ///
    /// # Safety
    /// AVX-512F and VNNI; `a` readable for `(M−1)·lda + 4·quads`, `pan` for `256·quads`, `out`
    /// writable for `M·64`.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn tile<const M: usize>(
        out: *mut i32,
        a: *const u8,
        lda: usize,
        quads: usize,
        pan: *const i8,
        add: bool,
    ) {
        let mut acc = [[_mm512_setzero_si512(); 4]; M];
        if add {
            for (m, row) in acc.iter_mut().enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v = _mm512_loadu_si512(out.add(m * PANEL + j * 16).cast());
                }
            }
        }
        for q in 0..quads {
            let p = pan.add(q * QUAD_BYTES);
            let b = [cols(p, 0), cols(p, 1), cols(p, 2), cols(p, 3)];
            for (m, row) in acc.iter_mut().enumerate() {
                let av = quad_of(a.add(m * lda), q);
                for j in 0..4 {
                    row[j] = _mm512_dpbusd_epi32(row[j], av, b[j]);
                }
            }
        }
        for (m, row) in acc.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                _mm512_storeu_si512(out.add(m * PANEL + j * 16).cast(), *v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{test_vals, Isa};

    #[test]
    fn rounding_is_to_nearest_ties_to_even() {
        for (v, want) in [
            (0.5f32, 0),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (126.6, 127),
            (-127.0, -127),
            (3.49, 3),
            (-3.51, -4),
        ] {
            assert_eq!(quantize(v, 1.0), want, "round({v})");
        }
        assert_eq!(quantize(400.0, 1.0), 127, "clamped");
    }

    #[test]
    fn rows_quantize_to_their_own_scale_with_pads_at_the_zero_point() {
        let k = 7;
        let mut src = test_vals(4 * k, 5, 2.0);
        src[k..2 * k].fill(0.0);
        src[2 * k + 3] = f32::NAN;
        // A row of subnormals and zeros: 127 / max overflows.
        src[3 * k..].fill(0.0);
        src[3 * k + 1] = -1e-39;
        for isa in [Isa::Avx512, Isa::Avx2, Isa::Portable] {
            let (mut q, mut s) = (vec![0u8; 4 * 8], vec![0f32; 4]);
            quantize_rows_isa(isa, &mut q, &mut s, &src, 4, k);
            let m = src[..k].iter().fold(0f32, |m, v| m.max(v.abs()));
            assert_eq!(s[0], m / 127.0, "{isa:?}: row 0 scale");
            for kk in 0..k {
                let back = (q[kk] as i32 - 128) as f32 * s[0];
                assert!(
                    (back - src[kk]).abs() <= s[0] / 2.0 * 1.0001,
                    "{isa:?}: row 0 k {kk}: {} came back as {back}",
                    src[kk]
                );
            }
            assert!(
                q[..k].iter().any(|&u| u == 1 || u == 255),
                "{isa:?}: the largest magnitude maps to ±127"
            );
            assert_eq!(q[7], 128, "{isa:?}: the pad is the zero point");
            assert_eq!(s[1], 0.0, "{isa:?}: an all-zero row has scale 0");
            assert!(q[8..16].iter().all(|&u| u == 128), "{isa:?}: zero row");
            assert!(s[2].is_nan(), "{isa:?}: a row with NaN has a NaN scale");
            assert!(
                q[24..32].iter().all(|&u| u == 128),
                "{isa:?}: a row too small to scale counts as zeros: {:?}",
                &q[24..32]
            );
        }
    }

    #[test]
    fn panels_quantize_per_column_and_keep_the_zero_points_share() {
        let k = 6;
        let packed = test_vals(2 * k * PANEL, 9, 0.7);
        let mut qp = I8Panels::default();
        qp.quantize(&packed, k);
        assert_eq!(qp.k4(), 8);
        for p in 0..2 {
            let pan = qp.panel(p);
            for c in 0..PANEL {
                let col: Vec<f32> = (0..k).map(|kk| packed[(p * k + kk) * PANEL + c]).collect();
                let s = col.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                assert_eq!(pan.scale[c], s, "panel {p} column {c}: scale");
                let mut sum = 0;
                for kk in 0..8 {
                    let q = pan.w[(kk / 4) * PANEL * 4 + c * 4 + kk % 4] as i32;
                    let Some(&w) = col.get(kk) else {
                        assert_eq!(q, 0, "panel {p} column {c}: pad k {kk}");
                        continue;
                    };
                    sum += q;
                    let back = q as f32 * s;
                    assert!(
                        (back - w).abs() <= s / 2.0 * 1.0001,
                        "panel {p} column {c} k {kk}: {w} came back as {back}"
                    );
                }
                assert_eq!(pan.offset[c], 128 * sum, "panel {p} column {c}: offset");
            }
        }
    }

    #[test]
    fn tile_matches_a_plain_integer_product_for_each_variant_and_row_count() {
        let quads = 13;
        let pan: Vec<i8> = (0..quads * 256)
            .map(|i| ((i * 37 + 11) % 255) as i32 - 127)
            .map(|v| v as i8)
            .collect();
        let lda = quads * 4 + 8;
        let a: Vec<u8> = (0..6 * lda).map(|i| ((i * 53 + 7) % 256) as u8).collect();
        for isa in [I8Isa::Vnni512, I8Isa::AvxVnni, I8Isa::Avx2, I8Isa::Portable] {
            for rows in 1..=MAX_ROWS {
                for (add, used) in [(false, quads), (true, quads), (true, 1), (false, 0)] {
                    let start: Vec<i32> = (0..rows * PANEL).map(|i| i as i32 * 1000 - 7).collect();
                    let mut out = start.clone();
                    tile_i8_variant(isa, &mut out, &a, lda, used, &pan, rows, add);
                    for m in 0..rows {
                        for c in 0..PANEL {
                            let mut want = if add { start[m * PANEL + c] } else { 0 };
                            for kk in 0..used * 4 {
                                let w = pan[(kk / 4) * 256 + c * 4 + kk % 4] as i32;
                                want += a[m * lda + kk] as i32 * w;
                            }
                            assert_eq!(
                                out[m * PANEL + c],
                                want,
                                "{isa:?} rows {rows} add {add} quads {used}: out[{m}, {c}]"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn dequantizing_adds_the_scaled_exact_sums() {
        let rows = 3;
        let isum: Vec<i32> = (0..rows * PANEL).map(|i| i as i32 * 977 - 30_000).collect();
        let offset: Vec<i32> = (0..PANEL).map(|c| c as i32 * 128 - 900).collect();
        let cs = test_vals(PANEL, 3, 0.01);
        let rs = [0.02f32, 0.0, 1.5];
        for isa in [Isa::Avx512, Isa::Avx2, Isa::Portable] {
            let mut acc = test_vals(rows * PANEL, 4, 1.0);
            let start = acc.clone();
            dequantize_add_isa(isa, &mut acc, &isum, &rs, &cs, &offset, rows);
            for (r, &sr) in rs.iter().enumerate() {
                for c in 0..PANEL {
                    let i = r * PANEL + c;
                    let want = start[i] + (sr * cs[c]) * (isum[i] - offset[c]) as f32;
                    assert_eq!(acc[i], want, "{isa:?}: acc[{r}, {c}]");
                }
            }
        }
    }
}
