//! A row vector times a row-major matrix, `dst[N] (+)= a[K] · B[K, N]`: the product of a B = 1
//! step (`h · W_hh`, `x · W_ih`). It reads `B` once, four rows at a time, each front to back, and
//! folds them into `dst` (which stays in L1): memory-bound at the rate `B` streams in.

/// Rows of `B` folded into `dst` per pass.
const ROWS: usize = 4;

#[inline(always)]
fn gemv_body<const FMA: bool>(dst: &mut [f32], a: &[f32], b: &[f32], ldb: usize, add: bool) {
    let (k, n) = (a.len(), dst.len());
    assert!(
        k == 0 || b.len() >= (k - 1) * ldb + n,
        "gemv: B is too short for [{k}, {n}] with row stride {ldb}"
    );
    if !add {
        dst.fill(0.0);
    }
    // ROWS rows of B at a time, each read front to back (sequential streams the prefetcher
    // follows); `dst` stays in L1 and is loaded and stored once per ROWS rows.
    let mut k0 = 0;
    while k0 + ROWS <= k {
        let (a0, a1, a2, a3) = (a[k0], a[k0 + 1], a[k0 + 2], a[k0 + 3]);
        let r0 = &b[k0 * ldb..k0 * ldb + n];
        let r1 = &b[(k0 + 1) * ldb..(k0 + 1) * ldb + n];
        let r2 = &b[(k0 + 2) * ldb..(k0 + 2) * ldb + n];
        let r3 = &b[(k0 + 3) * ldb..(k0 + 3) * ldb + n];
        for j in 0..n {
            let v = a0.mul_add(r0[j], dst[j]);
            let v = a1.mul_add(r1[j], v);
            let v = a2.mul_add(r2[j], v);
            dst[j] = a3.mul_add(r3[j], v);
        }
        k0 += ROWS;
    }
    for kk in k0..k {
        let (av, r) = (a[kk], &b[kk * ldb..kk * ldb + n]);
        for j in 0..n {
            dst[j] = av.mul_add(r[j], dst[j]);
        }
    }
}

dispatch!(
    /// `dst[N] (+)= a[K] · B[K, N]`, `B` row-major with row stride `ldb ≥ N`; `add`: accumulate
    /// into `dst` instead of overwriting it.
    pub fn gemv;
    /// [`gemv`] with a chosen variant (portable if the CPU lacks it).
    pub fn gemv_isa = gemv_body(dst: &mut [f32], a: &[f32], b: &[f32], ldb: usize, add: bool)
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{test_vals, Isa};

    #[test]
    fn gemv_matches_a_plain_loop_for_every_variant_and_odd_sizes() {
        for isa in [Isa::Avx512, Isa::Avx2, Isa::Portable] {
            for (k, n, ldb) in [
                (1, 1, 1),
                (7, 13, 13),
                (33, 130, 131),
                (64, 256, 256),
                (5, 300, 301),
                (0, 9, 9),
            ] {
                let a = test_vals(k, 1, 1.0);
                let b = test_vals(k.max(1) * ldb, 2, 1.0);
                let init = test_vals(n, 3, 1.0);
                for add in [false, true] {
                    let mut got = init.clone();
                    gemv_isa(isa, &mut got, &a, &b, ldb, add);
                    for j in 0..n {
                        let mut want = if add { init[j] as f64 } else { 0.0 };
                        for kk in 0..k {
                            want += a[kk] as f64 * b[kk * ldb + j] as f64;
                        }
                        assert!(
                            (got[j] as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "{isa:?} k={k} n={n} add={add}: dst[{j}] expected {want}, got {}",
                            got[j]
                        );
                    }
                }
            }
        }
    }
}
