//! The per-step product over a matrix packed in column panels: `dst[M, N] (+)= a[M, K] · W`
//! with `W: [K, N]` packed once ([`pack_col_panels`](super::packed::pack_col_panels), or
//! [`pack_col_panels_t`](super::packed::pack_col_panels_t) for a transpose). The time loops
//! that do not run fused (GRU, RNN, the LSTM with a projection) call it every step instead of
//! the GEMM crate, which re-packs the matrix and allocates on every call. The team shares the
//! panels out when the product is large enough, through a `PanelQueue` (`panel_queue.rs`): each
//! member starts on its own share, so its weights stay in its cache from call to call, and
//! callers alternate the direction by step (`flip`); nothing is allocated.

use super::gemm::Acc;
use super::packed::{col_panels, panel, tile, MAX_ROWS, PANEL};
use super::panel_queue::PanelQueue;
use super::team::{SharedMut, Team};
use super::tuning::{PAR_MIN_MACS, TEAM_MIN_WEIGHTS};

/// `dst (+)= a · W`: `a: [rows, k]` row-major; `w`: `W: [k, n]` packed in column panels;
/// `dst: [rows, n]` with rows `ldd` apart (`ldd ≥ n`). `threads`: most team members to use.
/// `flip`: each member walks its share of the panels backwards; a time loop passes it
/// alternating by step ([`step_flip`](super::panel_queue::step_flip)), so that a share larger than the cache starts on the
/// panels the previous step left cached. The result does not depend on it.
#[allow(clippy::too_many_arguments)]
pub fn panel_matmul(
    dst: &mut [f32],
    ldd: usize,
    a: &[f32],
    rows: usize,
    k: usize,
    w: &[f32],
    n: usize,
    acc: Acc,
    threads: usize,
    flip: bool,
) {
    let np = col_panels(n);
    assert!(ldd >= n, "panel_matmul: ldd {ldd} < n {n}");
    assert!(
        a.len() >= rows * k,
        "panel_matmul: a holds fewer than {rows}×{k}"
    );
    assert!(
        w.len() >= np * k * PANEL,
        "panel_matmul: packed W holds fewer than {np} panels of {k} rows"
    );
    if rows == 0 || n == 0 {
        return;
    }
    assert!(
        dst.len() >= (rows - 1) * ldd + n,
        "panel_matmul: dst holds fewer than {rows} rows of {n}"
    );
    // Below the GEMM crate's threshold a team job costs more than the second core saves
    // (measured on GRU and RNN steps), unless `W` is large ([`TEAM_MIN_WEIGHTS`]): then each
    // member keeps its share of it in its own L2 from step to step.
    let members = if threads > 1 && (rows * k * n >= PAR_MIN_MACS || k * n >= TEAM_MIN_WEIGHTS) {
        threads.min(np)
    } else {
        1
    };
    let queue = PanelQueue::new(np, flip);
    let out = SharedMut::new(dst);
    Team::global().run(members, &|member, bar| {
        queue.for_each(0, member, bar.members(), |p| {
            let (c0, valid) = (p * PANEL, PANEL.min(n - p * PANEL));
            let pan = panel(w, p, k);
            let mut buf = [0.0f32; MAX_ROWS * PANEL];
            for r0 in (0..rows).step_by(MAX_ROWS) {
                let m = MAX_ROWS.min(rows - r0);
                let add = acc == Acc::Add;
                if add {
                    for r in 0..m {
                        // SAFETY: panel p's columns of dst are this member's alone (the queue
                        // hands each panel to one member); in bounds by the assert above.
                        let d = unsafe { out.slice((r0 + r) * ldd + c0, valid) };
                        buf[r * PANEL..r * PANEL + valid].copy_from_slice(d);
                    }
                }
                tile(&mut buf, &a[r0 * k..], k, k, pan, m, add);
                for r in 0..m {
                    // SAFETY: as above.
                    let d = unsafe { out.slice_mut((r0 + r) * ldd + c0, valid) };
                    d.copy_from_slice(&buf[r * PANEL..r * PANEL + valid]);
                }
            }
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::gemm::{matmul_ref, MatMut, MatRef};
    use crate::kernels::packed::pack_col_panels;
    use crate::kernels::test_vals;

    #[test]
    fn matches_reference_on_odd_sizes_strides_and_teams() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (1, 300, 70),
            (7, 13, 33),
            (13, 64, 128),
            (70, 40, 120),
            (3, 0, 5),
            // Above the team threshold (2²¹ multiply-adds): the panels are shared out.
            (70, 160, 200),
        ] {
            let a = test_vals(m * k, 1, 1.0);
            let w = test_vals(k * n, 2, 1.0);
            // (`pack_col_panels_t` of `Wᵀ` gives the same panels: tested in `packed`.)
            let mut p = crate::kernels::aligned::Aligned::default();
            pack_col_panels(&mut p, &w, k, n);
            let ldd = n + 3;
            for acc in [Acc::Overwrite, Acc::Add] {
                for (threads, flip) in [1, 2, 3].into_iter().flat_map(|t| [(t, false), (t, true)]) {
                    let init = test_vals(m * ldd, 3, 1.0);
                    let mut want = init.clone();
                    matmul_ref(
                        MatMut::strided(&mut want, m, n, ldd),
                        MatRef::new(&a, m, k),
                        MatRef::new(&w, k, n),
                        acc,
                    );
                    let mut got = init.clone();
                    panel_matmul(&mut got, ldd, &a, m, k, &p, n, acc, threads, flip);
                    for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                        let (r, c) = (i / ldd, i % ldd);
                        if c >= n {
                            assert_eq!(
                                g.to_bits(),
                                init[i].to_bits(),
                                "[{m},{k},{n}] {acc:?} threads {threads} flip {flip}: padding ({r},{c}) was written"
                            );
                        } else {
                            assert!(
                                (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                                "[{m},{k},{n}] {acc:?} threads {threads} flip {flip}: dst({r},{c}) expected {e}, got {g}"
                            );
                        }
                    }
                }
            }
        }
    }
}
