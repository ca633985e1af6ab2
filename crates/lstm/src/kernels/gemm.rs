//! Safe, strided matrix views and one product, `dst (+)= a · b`, over the `gemm` crate.
//! Transposes are free (swapped strides), so `x · Wᵀ` and `Xᵀ · dG` need no copies. A product
//! large enough for several threads is cut into one block per member of the crate's own
//! [`Team`], each a one-thread product of the GEMM crate; the GEMM crate's rayon pool is not
//! built (`default-features = false` without `rayon`).

use super::team::{SharedMut, Team};
use super::tuning::PAR_MIN_MACS;

/// A read-only strided matrix view: element `(r, c)` is `data[r * rs + c * cs]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

/// A mutable strided matrix view (no two elements may share a place: `rs, cs` must separate them).
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

impl<'a> MatRef<'a> {
    /// A row-major `[rows, cols]` view of `data` (which must hold at least `rows * cols` values).
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// A `[rows, cols]` view whose rows are `rs` apart (a column block of a wider matrix).
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, rs: usize) -> Self {
        let m = MatRef {
            data,
            rows,
            cols,
            rs,
            cs: 1,
        };
        assert!(
            span(rows, cols, rs, 1) <= data.len(),
            "MatRef out of bounds"
        );
        m
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Element `(r, c)`.
    pub fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.rs + c * self.cs]
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

impl<'a> MatMut<'a> {
    /// A row-major `[rows, cols]` view.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// A `[rows, cols]` view whose rows are `rs ≥ cols` apart.
    pub fn strided(data: &'a mut [f32], rows: usize, cols: usize, rs: usize) -> Self {
        assert!(rows <= 1 || rs >= cols, "MatMut rows overlap");
        assert!(
            span(rows, cols, rs, 1) <= data.len(),
            "MatMut out of bounds"
        );
        MatMut {
            data,
            rows,
            cols,
            rs,
            cs: 1,
        }
    }
}

/// Whether `dst` is overwritten or added to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acc {
    /// `dst = a · b`.
    Overwrite,
    /// `dst += a · b`.
    Add,
}

/// The largest `k · n` a one-row product goes to [`super::gemv`] for: measured faster than the
/// GEMM crate up to `[256] · [256, 1024]` (23 vs 31 µs on one core), slower at `[512] · [512, 2048]`.
const GEMV_MAX: usize = 1 << 18;

/// `dst (+)= a · b` with `a: [m, k]`, `b: [k, n]`, `dst: [m, n]`; up to `threads` threads when the
/// product is large enough to pay for them.
pub fn matmul(dst: MatMut<'_>, a: MatRef<'_>, b: MatRef<'_>, acc: Acc, threads: usize) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && dst.rows == m && dst.cols == n,
        "matmul shapes: [{m},{k}]·[{},{n}] -> [{},{}]",
        b.rows,
        dst.rows,
        dst.cols
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if acc == Acc::Overwrite {
            for r in 0..m {
                for c in 0..n {
                    dst.data[r * dst.rs + c * dst.cs] = 0.0;
                }
            }
        }
        return;
    }
    // One row times a row-major matrix: our register-blocked GEMV (a B = 1 step's product).
    if m == 1 && a.cs == 1 && b.cs == 1 && dst.cs == 1 && k * n <= GEMV_MAX {
        let ldb = if k > 1 { b.rs } else { n };
        let blen = (k - 1) * ldb + n;
        super::gemv::gemv(
            &mut dst.data[..n],
            &a.data[..k],
            &b.data[..blen],
            ldb,
            acc == Acc::Add,
        );
        return;
    }
    let members = if threads > 1 && m * n * k >= PAR_MIN_MACS {
        threads.min(Team::global().capacity())
    } else {
        1
    };
    let (d_rs, d_cs) = (dst.rs, dst.cs);
    let out = SharedMut::new(dst.data);
    // One GEMM-crate product per member, on the crate's own team (not the GEMM crate's rayon
    // pool: two pools on the same cores made each wait on the other's spinning threads, and
    // rayon's workers do not follow the caller's subnormal flushing). The longer of `m` and `n`
    // is cut in one block per member (columns in multiples of 16, a vector), so each member
    // packs its own part of one operand and the whole of the other.
    let by_rows = m >= n;
    Team::global().run(members, &|member, bar| {
        let nm = bar.members();
        let cut = |len: usize, unit: usize| {
            let units = len.div_ceil(unit);
            let at = |j: usize| (units * j / nm * unit).min(len);
            (at(member), at(member + 1))
        };
        let (r0, r1, c0, c1) = if by_rows {
            let (r0, r1) = cut(m, 1);
            (r0, r1, 0, n)
        } else {
            let (c0, c1) = cut(n, 16);
            (0, m, c0, c1)
        };
        if r0 == r1 || c0 == c1 {
            return;
        }
        // SAFETY: the constructors checked that every (r, c) of each view, r < rows, c < cols,
        // lies inside its slice; `dst` is borrowed mutably so it cannot alias `a` or `b`; the
        // shapes agree (asserted above). Each member reads and writes only the elements of its
        // own block `[r0, r1) × [c0, c1)` of `dst` (the blocks are disjoint, as `SharedMut`
        // requires), and reads `a`'s rows `r0..r1` and `b`'s columns `c0..c1`.
        unsafe {
            gemm::gemm(
                r1 - r0,
                c1 - c0,
                k,
                out.ptr_at(r0 * d_rs + c0 * d_cs),
                d_cs as isize,
                d_rs as isize,
                acc == Acc::Add,
                a.data.as_ptr().add(r0 * a.rs),
                a.cs as isize,
                a.rs as isize,
                b.data.as_ptr().add(c0 * b.cs),
                b.cs as isize,
                b.rs as isize,
                1.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    });
}

/// Plain reference of [`matmul`]: triple loop, f64 accumulation.
pub fn matmul_ref(dst: MatMut<'_>, a: MatRef<'_>, b: MatRef<'_>, acc: Acc) {
    for r in 0..a.rows {
        for c in 0..b.cols {
            let mut s = 0.0f64;
            for i in 0..a.cols {
                s += a.at(r, i) as f64 * b.at(i, c) as f64;
            }
            let d = &mut dst.data[r * dst.rs + c * dst.cs];
            *d = if acc == Acc::Add {
                *d + s as f32
            } else {
                s as f32
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn matches_reference_on_odd_sizes_and_transposes() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (7, 13, 33),
            (33, 7, 13),
            (13, 257, 7),
            (257, 33, 13),
            // Above the team threshold (2²¹ multiply-adds): cut by columns (m < n, and n not a
            // multiple of 16) and by rows (m ≥ n).
            (130, 129, 131),
            (131, 129, 130),
        ] {
            for &(ta, tb) in &[(false, false), (true, false), (false, true), (true, true)] {
                let a_data = fill(m * k, 1);
                let b_data = fill(k * n, 2);
                let a = if ta {
                    MatRef::new(&a_data, k, m).t()
                } else {
                    MatRef::new(&a_data, m, k)
                };
                let b = if tb {
                    MatRef::new(&b_data, n, k).t()
                } else {
                    MatRef::new(&b_data, k, n)
                };
                for (acc, threads) in [Acc::Overwrite, Acc::Add]
                    .into_iter()
                    .flat_map(|acc| [1, 2, 3].map(|t| (acc, t)))
                {
                    // dst is a column block of a wider matrix: row stride n + 3.
                    let init = fill(m * (n + 3), 3);
                    let mut fast = init.clone();
                    let mut slow = init.clone();
                    matmul(MatMut::strided(&mut fast, m, n, n + 3), a, b, acc, threads);
                    matmul_ref(MatMut::strided(&mut slow, m, n, n + 3), a, b, acc);
                    for (i, (x, y)) in fast.iter().zip(&slow).enumerate() {
                        let what = format!("m={m} k={k} n={n} ta={ta} tb={tb} {acc:?} threads={threads}: index {i}");
                        if i % (n + 3) >= n {
                            assert_eq!(x.to_bits(), init[i].to_bits(), "{what}: padding written");
                        } else {
                            assert!(
                                (x - y).abs() <= 1e-5 * (1.0 + y.abs()) * (k as f32).sqrt(),
                                "{what}: expected {y}, got {x}"
                            );
                        }
                    }
                }
            }
        }
    }
}
