//! Pre-packed weights and the register-tiled product over them: the recurrent product of every
//! step (`h · W_hh`, and `d_gates · W_hhᵀ` in backward) without re-packing the matrix each step.
//!
//! A packed matrix is a list of *panels*. Each panel holds `K` rows of [`PANEL`] = 64 columns,
//! row-major and contiguous: four *groups* of 16 lanes (one AVX-512 register each). Which source
//! columns a group holds is up to the packer:
//! - [`pack_gate_panels`]: panel `p` holds the four gates `i, f, g, o` of hidden units
//!   `16p .. 16p+16`, so one tile of the product has everything the LSTM cell needs for those
//!   units;
//! - [`pack_col_panels`]: panel `p` holds columns `64p .. 64p+64` in order.
//!
//! Lanes past the end of the source are zero. Packed matrices live in [`Aligned`] buffers, so
//! every panel row starts on a cache line. A panel holds f32, or f16 ([`to_f16`]) that the tile
//! widens exactly as it reads it ([`PanelWeight`]). [`tile`] computes `out[M, 64] = A[M, K] · panel`
//! for up to [`MAX_ROWS`] rows of `A` at once, keeping the `M × 64` sums in registers.

pub use super::aligned::Aligned;
use super::aligned::Plain;

/// Lanes in a group (one AVX-512 register of f32).
pub const LANES: usize = 16;
/// Groups in a panel.
pub const GROUPS: usize = 4;
/// Columns in a panel.
pub const PANEL: usize = LANES * GROUPS;
/// Most rows of `A` one [`tile`] call handles (24 accumulator registers of 32).
pub const MAX_ROWS: usize = 6;

/// Panels needed for `n` hidden units ([`pack_gate_panels`]).
pub fn gate_panels(h: usize) -> usize {
    h.div_ceil(LANES)
}

/// Panels needed for `n` columns ([`pack_col_panels`]).
pub fn col_panels(n: usize) -> usize {
    n.div_ceil(PANEL)
}

/// Packs `w: [K, 4H]` (gate blocks `i, f, g, o` of `H` columns each) into `[gate_panels(H), K,
/// 64]`: panel `p`, group `q`, lane `l` is column `q·H + 16p + l` (zero where `16p + l ≥ H`).
pub fn pack_gate_panels(dst: &mut Aligned<f32>, w: &[f32], k: usize, h: usize) {
    let np = gate_panels(h);
    assert_eq!(
        w.len(),
        k * 4 * h,
        "pack_gate_panels: w is not [{k}, 4·{h}]"
    );
    dst.zeroed(np * k * PANEL);
    for p in 0..np {
        let (u0, valid) = (p * LANES, LANES.min(h - p * LANES));
        for kk in 0..k {
            let src = &w[kk * 4 * h..(kk + 1) * 4 * h];
            let out = &mut dst[(p * k + kk) * PANEL..(p * k + kk + 1) * PANEL];
            for q in 0..GROUPS {
                out[q * LANES..q * LANES + valid]
                    .copy_from_slice(&src[q * h + u0..q * h + u0 + valid]);
            }
        }
    }
}

/// Packs the transpose of `w: [N, K]` (that is, the `[K, N]` matrix `wᵀ`) into
/// `[col_panels(N), K, 64]`: panel `p`, column `c` is column `64p + c` of `wᵀ` (row `64p + c`
/// of `w`), zero past `N`.
pub fn pack_col_panels_t(dst: &mut Aligned<f32>, w: &[f32], n: usize, k: usize) {
    let np = col_panels(n);
    assert_eq!(w.len(), n * k, "pack_col_panels_t: w is not [{n}, {k}]");
    dst.zeroed(np * k * PANEL);
    for j in 0..n {
        let (p, c) = (j / PANEL, j % PANEL);
        let src = &w[j * k..(j + 1) * k];
        let base = p * k * PANEL + c;
        for (kk, &v) in src.iter().enumerate() {
            dst[base + kk * PANEL] = v;
        }
    }
}

/// Packs `w: [K, N]` into `[col_panels(N), K, 64]`: panel `p`, column `c` is column `64p + c`.
pub fn pack_col_panels(dst: &mut Aligned<f32>, w: &[f32], k: usize, n: usize) {
    let np = col_panels(n);
    assert_eq!(w.len(), k * n, "pack_col_panels: w is not [{k}, {n}]");
    dst.zeroed(np * k * PANEL);
    for p in 0..np {
        let (c0, valid) = (p * PANEL, PANEL.min(n - p * PANEL));
        for kk in 0..k {
            dst[(p * k + kk) * PANEL..(p * k + kk) * PANEL + valid]
                .copy_from_slice(&w[kk * n + c0..kk * n + c0 + valid]);
        }
    }
}

/// Panel `p` of a packed matrix with `k` rows.
pub fn panel<T>(packed: &[T], p: usize, k: usize) -> &[T] {
    &packed[p * k * PANEL..(p + 1) * k * PANEL]
}

/// What a packed panel holds: f32, or f16 ([`half::f16`], rounded by [`to_f16`]) widened to f32
/// exactly as it is read, so a tile over f16 weights equals the tile over their f32 values bit
/// for bit and reads half the bytes.
pub trait PanelWeight: Plain + sealed::Sealed {
    /// The weight as f32 (exact).
    fn widen(self) -> f32;
    /// The 16 weights at `p`, widened.
    ///
    /// # Safety
    /// `p` readable for 16 values; called only where AVX-512F is enabled.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
}

impl PanelWeight for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const f32) -> std::arch::x86_64::__m512 {
        std::arch::x86_64::_mm512_loadu_ps(p)
    }
}

impl PanelWeight for half::f16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const half::f16) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i))
    }
}

/// Largest finite f16 value: weights beyond it are clamped to it when rounded.
pub const F16_MAX: f32 = 65504.0;

/// `v` rounded to the nearest f16 (ties to even; beyond ±[`F16_MAX`] clamped to it, NaN kept).
pub fn f16_of(v: f32) -> half::f16 {
    half::f16::from_f32(v.clamp(-F16_MAX, F16_MAX))
}

/// `v` rounded to f16 and back ([`f16_of`]): the value a half-precision weight holds.
pub fn round_f16(v: f32) -> f32 {
    f16_of(v).to_f32()
}

/// `dst = src` rounded to f16 ([`f16_of`]), element by element; for a packed matrix the panel
/// layout carries over.
pub fn to_f16(dst: &mut Aligned<half::f16>, src: &[f32]) {
    dst.fill_from(src, f16_of);
}

/// `out[m, c] (+)= Σ_kk a[m·lda + kk] · panel[kk, c]` for `m < rows ≤ MAX_ROWS`, `c < 64`;
/// `a` holds `rows` rows of `k` values, `lda` apart; `panel: [k, 64]` (f32 or f16,
/// [`PanelWeight`]); `out: [rows, 64]`; `add`: accumulate into `out` instead of overwriting it.
pub fn tile<W: PanelWeight>(
    out: &mut [f32],
    a: &[f32],
    lda: usize,
    k: usize,
    panel: &[W],
    rows: usize,
    add: bool,
) {
    tile_isa(super::Isa::detect(), out, a, lda, k, panel, rows, add, true)
}

/// [`tile`] without prefetching the panel ahead: for a panel block an earlier tile of the same
/// pass has just brought into L1 (the prefetches would only take load slots). Meanwhile it
/// brings `far` (empty: nothing) into L2, one cache line per panel row of this tile (`far`
/// beyond `k` lines is not fetched): the panel's next block, which lies in L3 when a member's
/// weights do not fit its L2, spread over the tiles that reuse a block from L1, so the first
/// tile of the next block no longer waits on L3 for it. Only the AVX-512 many-row tile
/// fetches; the other variants ignore `far`.
#[allow(clippy::too_many_arguments)]
pub fn tile_cached<W: PanelWeight>(
    out: &mut [f32],
    a: &[f32],
    lda: usize,
    k: usize,
    panel: &[W],
    rows: usize,
    add: bool,
    far: &[W],
) {
    let isa = super::Isa::detect();
    tile_with(isa, out, a, lda, k, panel, rows, add, false, far)
}

/// [`tile`] with a chosen variant (portable if the CPU lacks it); `prefetch`: whether the
/// AVX-512 many-row tile prefetches panel rows ahead ([`tile`]) or not ([`tile_cached`]).
#[allow(clippy::too_many_arguments)]
pub fn tile_isa<W: PanelWeight>(
    isa: super::Isa,
    out: &mut [f32],
    a: &[f32],
    lda: usize,
    k: usize,
    panel: &[W],
    rows: usize,
    add: bool,
    prefetch: bool,
) {
    tile_with(isa, out, a, lda, k, panel, rows, add, prefetch, &[])
}

/// [`tile_isa`] that also fetches `far` into L2 ([`tile_cached`]).
#[allow(clippy::too_many_arguments)]
fn tile_with<W: PanelWeight>(
    isa: super::Isa,
    out: &mut [f32],
    a: &[f32],
    lda: usize,
    k: usize,
    panel: &[W],
    rows: usize,
    add: bool,
    prefetch: bool,
    far: &[W],
) {
    assert!(
        (1..=MAX_ROWS).contains(&rows),
        "tile: rows {rows} not in 1..={MAX_ROWS}"
    );
    assert!(
        out.len() >= rows * PANEL,
        "tile: out holds fewer than {rows} rows"
    );
    assert!(
        panel.len() >= k * PANEL,
        "tile: panel holds fewer than {k} rows"
    );
    assert!(
        k == 0 || a.len() >= (rows - 1) * lda + k,
        "tile: a holds fewer than {rows} rows of {k}"
    );
    #[cfg(target_arch = "x86_64")]
    if isa == super::Isa::Avx512 && isa.available() {
        let (fp, fl) = (far.as_ptr() as *const i8, (size_of_val(far) / 64).min(k));
        // SAFETY: the CPU has AVX-512F (checked); the asserts above bound every access, and a
        // prefetch (of `far`) never faults.
        unsafe {
            let (o, ap, pp) = (out.as_mut_ptr(), a.as_ptr(), panel.as_ptr());
            match (rows, prefetch) {
                (1, _) => avx512::tile1(o, ap, k, pp, add),
                (_, true) => avx512::tile_rows::<W, true>(rows, o, ap, lda, k, pp, add, fp, fl),
                (_, false) => avx512::tile_rows::<W, false>(rows, o, ap, lda, k, pp, add, fp, fl),
            }
        }
        return;
    }
    let _ = far;
    #[cfg(target_arch = "x86_64")]
    if isa != super::Isa::Portable && super::Isa::Avx2.available() {
        // SAFETY: the CPU has AVX2 and FMA (checked).
        unsafe { tile_avx2(out, a, lda, k, panel, rows, add) };
        return;
    }
    tile_body(out, a, lda, k, panel, rows, add)
}

/// The portable tile: 16-lane chunks the compiler vectorises.
#[inline(always)]
fn tile_body<W: PanelWeight>(
    out: &mut [f32],
    a: &[f32],
    lda: usize,
    k: usize,
    panel: &[W],
    rows: usize,
    add: bool,
) {
    for m in 0..rows {
        let acc = &mut out[m * PANEL..(m + 1) * PANEL];
        if !add {
            acc.fill(0.0);
        }
        let am = &a[m * lda..m * lda + k];
        // Two groups at a time keep the sums in registers on AVX2 (4 × 8 lanes … 8 registers).
        for half in 0..2 {
            let mut s = [0.0f32; PANEL / 2];
            s.copy_from_slice(&acc[half * PANEL / 2..(half + 1) * PANEL / 2]);
            for (kk, &av) in am.iter().enumerate() {
                let p = &panel[kk * PANEL + half * PANEL / 2..kk * PANEL + (half + 1) * PANEL / 2];
                for c in 0..PANEL / 2 {
                    s[c] += av * p[c].widen();
                }
            }
            acc[half * PANEL / 2..(half + 1) * PANEL / 2].copy_from_slice(&s);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<W: PanelWeight>(
    out: &mut [f32],
    a: &[f32],
    lda: usize,
    k: usize,
    panel: &[W],
    rows: usize,
    add: bool,
) {
    tile_body(out, a, lda, k, panel, rows, add)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{PanelWeight, PANEL};
    use std::arch::x86_64::*;

    /// Panel rows ahead that the many-row tile prefetches.
    const PF_ROWS_M: usize = 8;

    /// One row: bound by reading the panel, so two sets of sums (even and odd `kk`) keep two
    /// rows of the panel in flight instead of waiting on each FMA's result. No software
    /// prefetch: with the panel on cache lines ([`super::Aligned`]) the hardware streams it
    /// from L2 as fast, and the prefetches took load slots (from L1: 52–62 weights/ns without,
    /// 38–43 with; a step at H = 256, alternating: 1.07–1.09× faster without).
    ///
    /// # Safety
    /// AVX-512F; `a` readable for `k`, `panel` for `k·64`, `out` writable for 64.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile1<W: PanelWeight>(
        out: *mut f32,
        a: *const f32,
        k: usize,
        panel: *const W,
        add: bool,
    ) {
        let z = _mm512_setzero_ps();
        let mut s0 = [z; 4];
        let mut s1 = [z; 4];
        if add {
            for (q, v) in s0.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(out.add(q * 16));
            }
        }
        let mut kk = 0;
        while kk + 2 <= k {
            let p = panel.add(kk * PANEL);
            let a0 = _mm512_set1_ps(*a.add(kk));
            let a1 = _mm512_set1_ps(*a.add(kk + 1));
            for q in 0..4 {
                s0[q] = _mm512_fmadd_ps(a0, W::load16(p.add(q * 16)), s0[q]);
                s1[q] = _mm512_fmadd_ps(a1, W::load16(p.add(PANEL + q * 16)), s1[q]);
            }
            kk += 2;
        }
        if kk < k {
            let p = panel.add(kk * PANEL);
            let a0 = _mm512_set1_ps(*a.add(kk));
            for (q, v) in s0.iter_mut().enumerate() {
                *v = _mm512_fmadd_ps(a0, W::load16(p.add(q * 16)), *v);
            }
        }
        for q in 0..4 {
            _mm512_storeu_ps(out.add(q * 16), _mm512_add_ps(s0[q], s1[q]));
        }
    }

    /// [`tile`] for `rows` in `2..=6` (a const `M` per row count).
    ///
    /// # Safety
    /// As [`tile`] with `M = rows`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile_rows<W: PanelWeight, const PF: bool>(
        rows: usize,
        out: *mut f32,
        a: *const f32,
        lda: usize,
        k: usize,
        panel: *const W,
        add: bool,
        far: *const i8,
        far_lines: usize,
    ) {
        match rows {
            2 => tile::<W, 2, PF>(out, a, lda, k, panel, add, far, far_lines),
            3 => tile::<W, 3, PF>(out, a, lda, k, panel, add, far, far_lines),
            4 => tile::<W, 4, PF>(out, a, lda, k, panel, add, far, far_lines),
            5 => tile::<W, 5, PF>(out, a, lda, k, panel, add, far, far_lines),
            _ => tile::<W, 6, PF>(out, a, lda, k, panel, add, far, far_lines),
        }
    }

    /// `M` rows × 64 columns in 4·M registers; one pass over `k`; `PF`: prefetch panel rows
    /// ahead; the first `far_lines` panel rows each also fetch a line of `far` into L2.
    ///
    /// # Safety
    /// AVX-512F; `a` readable for `(M−1)·lda + k`, `panel` for `k·64`, `out` writable for `M·64`
    /// (`far` may be anything: a prefetch never faults).
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile<W: PanelWeight, const M: usize, const PF: bool>(
        out: *mut f32,
        a: *const f32,
        lda: usize,
        k: usize,
        panel: *const W,
        add: bool,
        far: *const i8,
        far_lines: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 4]; M];
        if add {
            for (m, row) in acc.iter_mut().enumerate() {
                for (q, v) in row.iter_mut().enumerate() {
                    *v = _mm512_loadu_ps(out.add(m * PANEL + q * 16));
                }
            }
        }
        // Cache lines in one panel row: 4 (f32), 2 (f16).
        let lines = PANEL * size_of::<W>() / 64;
        for kk in 0..k {
            let p = panel.add(kk * PANEL);
            let b = [
                W::load16(p),
                W::load16(p.add(16)),
                W::load16(p.add(32)),
                W::load16(p.add(48)),
            ];
            if PF {
                let ahead = p.add(PF_ROWS_M * PANEL) as *const i8;
                for l in 0..lines {
                    _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(l * 64));
                }
            }
            if kk < far_lines {
                _mm_prefetch::<_MM_HINT_T1>(far.wrapping_add(kk * 64));
            }
            for (m, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.add(m * lda + kk));
                for q in 0..4 {
                    row[q] = _mm512_fmadd_ps(av, b[q], row[q]);
                }
            }
        }
        for (m, row) in acc.iter().enumerate() {
            for (q, v) in row.iter().enumerate() {
                _mm512_storeu_ps(out.add(m * PANEL + q * 16), *v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{test_vals, Isa};

    #[test]
    fn gate_panels_put_each_units_four_gates_in_one_panel() {
        let (k, h) = (3, 20);
        let w = test_vals(k * 4 * h, 1, 1.0);
        let mut p = Aligned::default();
        pack_gate_panels(&mut p, &w, k, h);
        assert_eq!(p.len(), 2 * k * PANEL);
        for pi in 0..2 {
            for kk in 0..k {
                for q in 0..4 {
                    for l in 0..LANES {
                        let got = p[(pi * k + kk) * PANEL + q * LANES + l];
                        let u = pi * LANES + l;
                        let want = if u < h {
                            w[kk * 4 * h + q * h + u]
                        } else {
                            0.0
                        };
                        assert_eq!(got, want, "panel {pi} row {kk} gate {q} lane {l}");
                    }
                }
            }
        }
    }

    #[test]
    fn col_panels_and_transposed_col_panels_agree() {
        let (k, n) = (5, 70);
        let w = test_vals(k * n, 2, 1.0); // [k, n]
        let mut wt = vec![0.0; n * k]; // [n, k]
        for r in 0..k {
            for c in 0..n {
                wt[c * k + r] = w[r * n + c];
            }
        }
        let (mut a, mut b) = (Aligned::default(), Aligned::default());
        pack_col_panels(&mut a, &w, k, n);
        pack_col_panels_t(&mut b, &wt, n, k);
        assert_eq!(&a[..], &b[..]);
        for kk in 0..k {
            for c in 0..2 * PANEL {
                let got = a[(c / PANEL * k + kk) * PANEL + c % PANEL];
                let want = if c < n { w[kk * n + c] } else { 0.0 };
                assert_eq!(got, want, "row {kk} column {c}");
            }
        }
    }

    #[test]
    fn f16_rounding_is_to_nearest_and_clamps_to_the_finite_range() {
        assert_eq!(round_f16(1.0), 1.0);
        // 1 + 2⁻¹¹ is halfway between 1 and the next f16 (1 + 2⁻¹⁰): ties go to even (1).
        assert_eq!(round_f16(1.0 + 2f32.powi(-11)), 1.0);
        assert_eq!(
            round_f16(1.0 + 3.0 * 2f32.powi(-11)),
            1.0 + 2.0 * 2f32.powi(-10)
        );
        assert_eq!(round_f16(1e6), F16_MAX);
        assert_eq!(round_f16(-1e6), -F16_MAX);
        assert!(round_f16(f32::NAN).is_nan());
        for &v in &test_vals(1000, 9, 3.0) {
            let r = round_f16(v);
            assert!(
                (r - v).abs() <= v.abs() * 2f32.powi(-11),
                "round_f16({v}) = {r}: off by more than half an f16 ulp"
            );
        }
    }

    #[test]
    fn f16_tile_equals_the_f32_tile_over_the_widened_weights_bit_for_bit() {
        for isa in [Isa::Avx512, Isa::Avx2, Isa::Portable] {
            for k in [0, 1, 7, 64, 257] {
                let lda = k + 3;
                let a = test_vals(MAX_ROWS * lda, 3, 1.0);
                let mut p16 = Aligned::default();
                to_f16(&mut p16, &test_vals(k * PANEL, 4, 1.0));
                let widened: Vec<f32> = p16.iter().map(|&b| b.to_f32()).collect();
                for (rows, add) in (1..=MAX_ROWS).flat_map(|r| [(r, false), (r, true)]) {
                    let init = test_vals(rows * PANEL, 5, 1.0);
                    let mut want = init.clone();
                    let mut got = if add {
                        init.clone()
                    } else {
                        vec![f32::NAN; rows * PANEL]
                    };
                    tile_isa(isa, &mut want, &a, lda, k, &widened, rows, add, true);
                    tile_isa(isa, &mut got, &a, lda, k, &p16, rows, add, rows % 2 == 1);
                    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                        assert_eq!(
                            w.to_bits(),
                            g.to_bits(),
                            "{isa:?} k={k} rows={rows} add={add}: out[{}, {}] expected {w}, got {g}",
                            i / PANEL,
                            i % PANEL
                        );
                    }
                }
            }
        }
    }

    /// Fetching the next block into L2 changes nothing in the sums: bit for bit the tile
    /// without it, for every row count, f32 and f16 panels, `far` empty, shorter and longer
    /// than the tile's rows.
    #[test]
    fn a_tile_fetching_ahead_equals_the_tile_bit_for_bit() {
        let isa = Isa::detect();
        for k in [1, 7, 64, 130] {
            let lda = k + 5;
            let a = test_vals(MAX_ROWS * lda, 13, 1.0);
            let panel = test_vals(k * PANEL, 14, 1.0);
            let p16: Vec<half::f16> = panel.iter().map(|&v| f16_of(v)).collect();
            let far = test_vals(3 * k * PANEL, 15, 1.0);
            for rows in 1..=MAX_ROWS {
                for far_len in [0, 16, 4 * k * PANEL / 3, far.len()] {
                    let init = test_vals(rows * PANEL, 16, 1.0);
                    let (mut want, mut got) = (init.clone(), init.clone());
                    tile_isa(isa, &mut want, &a, lda, k, &panel, rows, true, false);
                    tile_cached(&mut got, &a, lda, k, &panel, rows, true, &far[..far_len]);
                    assert_eq!(want, got, "f32 k={k} rows={rows} far={far_len}");
                    let (mut want, mut got) = (init.clone(), init.clone());
                    let far16 = &p16[..far_len.min(p16.len())];
                    tile_isa(isa, &mut want, &a, lda, k, &p16, rows, true, false);
                    tile_cached(&mut got, &a, lda, k, &p16, rows, true, far16);
                    assert_eq!(want, got, "f16 k={k} rows={rows} far={far_len}");
                }
            }
        }
    }

    #[test]
    fn tile_matches_a_plain_product_for_every_variant_and_row_count() {
        for isa in [Isa::Avx512, Isa::Avx2, Isa::Portable] {
            for k in [0, 1, 7, 64, 257] {
                let lda = k + 3;
                let a = test_vals(MAX_ROWS * lda, 3, 1.0);
                let panel = test_vals(k * PANEL, 4, 1.0);
                for (rows, add) in (1..=MAX_ROWS).flat_map(|r| [(r, false), (r, true)]) {
                    let init = test_vals(rows * PANEL, 5, 1.0);
                    let mut out = if add {
                        init.clone()
                    } else {
                        vec![f32::NAN; rows * PANEL]
                    };
                    tile_isa(isa, &mut out, &a, lda, k, &panel, rows, add, rows % 2 == 0);
                    for m in 0..rows {
                        for c in 0..PANEL {
                            let base = if add { init[m * PANEL + c] as f64 } else { 0.0 };
                            let want: f64 = base
                                + (0..k)
                                    .map(|kk| a[m * lda + kk] as f64 * panel[kk * PANEL + c] as f64)
                                    .sum::<f64>();
                            let got = out[m * PANEL + c] as f64;
                            assert!(
                                (got - want).abs() <= 1e-5 * (1.0 + want.abs()) * (k.max(1) as f64).sqrt(),
                                "{isa:?} k={k} rows={rows} add={add}: out[{m}, {c}] expected {want}, got {got}"
                            );
                        }
                    }
                }
            }
        }
    }
}
