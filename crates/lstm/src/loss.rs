//! Losses with their gradients, as PyTorch defines them (mean reduction).
//!
//! Each function takes predictions `[N, K]` (rows are batch entries, or time steps × batch
//! entries), the targets and an optional row mask (`false` rows — padding past a sequence's end —
//! count for nothing), and returns the loss and `∂loss/∂pred` `[N, K]`.

use serde::{Deserialize, Serialize};

/// A regression loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RegressionLoss {
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
    /// Huber loss with threshold `delta` (`0.5 d²` inside, `δ(|d| − δ/2)` outside).
    Huber {
        /// Threshold.
        delta: f32,
    },
}

/// Regression loss over the valid rows: mean over valid rows × K elements.
/// `pred, target: [N, K]`, `mask: [N]`. Returns `(loss, d_pred [N, K])`.
pub fn regression(
    kind: RegressionLoss,
    pred: &[f32],
    target: &[f32],
    mask: Option<&[bool]>,
    k: usize,
) -> (f32, Vec<f32>) {
    let n = pred.len() / k.max(1);
    let valid = mask.map_or(n, |m| m.iter().filter(|&&v| v).count());
    let count = (valid * k).max(1) as f64;
    let mut d = vec![0.0f32; pred.len()];
    let mut total = 0.0f64;
    for r in 0..n {
        if mask.is_some_and(|m| !m[r]) {
            continue;
        }
        for j in r * k..(r + 1) * k {
            let e = (pred[j] - target[j]) as f64;
            let (l, g) = match kind {
                RegressionLoss::Mse => (e * e, 2.0 * e),
                RegressionLoss::Mae => (
                    e.abs(),
                    if e > 0.0 {
                        1.0
                    } else if e < 0.0 {
                        -1.0
                    } else {
                        0.0
                    },
                ),
                RegressionLoss::Huber { delta } => {
                    let dl = delta as f64;
                    if e.abs() < dl {
                        (0.5 * e * e, e)
                    } else {
                        (dl * (e.abs() - 0.5 * dl), dl * e.signum())
                    }
                }
            };
            total += l;
            d[j] = (g / count) as f32;
        }
    }
    ((total / count) as f32, d)
}

/// Softmax cross-entropy over the valid rows (mean). `logits: [N, C]`, `targets: [N]` class
/// indices (< C, checked by the caller), `mask: [N]`. Returns `(loss, d_logits [N, C], correct)`
/// where `correct` counts valid rows whose arg-max is the target.
pub fn cross_entropy(
    logits: &[f32],
    targets: &[usize],
    mask: Option<&[bool]>,
    c: usize,
) -> (f32, Vec<f32>, usize) {
    let n = targets.len();
    let valid = mask.map_or(n, |m| m.iter().filter(|&&v| v).count()).max(1) as f64;
    let mut d = vec![0.0f32; logits.len()];
    let (mut total, mut correct) = (0.0f64, 0);
    for r in 0..n {
        if mask.is_some_and(|m| !m[r]) {
            continue;
        }
        let row = &logits[r * c..(r + 1) * c];
        let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        let lse = max + sum.ln();
        total += lse - row[targets[r]] as f64;
        let arg = row
            .iter()
            .enumerate()
            .fold(0, |best, (i, &v)| if v > row[best] { i } else { best });
        correct += usize::from(arg == targets[r]);
        for (j, dj) in d[r * c..(r + 1) * c].iter_mut().enumerate() {
            let p = (row[j] as f64 - lse).exp();
            *dj = ((p - if j == targets[r] { 1.0 } else { 0.0 }) / valid) as f32;
        }
    }
    ((total / valid) as f32, d, correct)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd_check(f: impl Fn(&[f32]) -> f32, x: &[f32], grad: &[f32], what: &str) {
        for i in 0..x.len() {
            let eps = 1e-3f32;
            let (mut p, mut m) = (x.to_vec(), x.to_vec());
            p[i] += eps;
            m[i] -= eps;
            let fd = (f(&p) - f(&m)) / (2.0 * eps);
            assert!(
                (fd - grad[i]).abs() < 2e-3,
                "{what}: d[{i}]: finite difference {fd}, analytic {}",
                grad[i]
            );
        }
    }

    #[test]
    fn losses_match_definitions_and_finite_differences() {
        let pred = [0.5f32, -1.0, 2.0, 0.25, 3.0, -0.3];
        let target = [0.0f32, 1.0, 2.5, 0.0, 0.0, 0.0];
        let mask = [true, false, true];
        let (l, _) = regression(RegressionLoss::Mse, &pred, &target, None, 2);
        let want = (0.25 + 4.0 + 0.25 + 0.0625 + 9.0 + 0.09) / 6.0;
        assert!((l - want).abs() < 1e-6, "mse: expected {want}, got {l}");
        let (lm, _) = regression(RegressionLoss::Mse, &pred, &target, Some(&mask), 2);
        let want_m = (0.25 + 4.0 + 9.0 + 0.09) / 4.0;
        assert!(
            (lm - want_m).abs() < 1e-6,
            "masked mse: expected {want_m}, got {lm}"
        );
        for kind in [
            RegressionLoss::Mse,
            RegressionLoss::Mae,
            RegressionLoss::Huber { delta: 1.0 },
        ] {
            let (_, g) = regression(kind, &pred, &target, Some(&mask), 2);
            fd_check(
                |p| regression(kind, p, &target, Some(&mask), 2).0,
                &pred,
                &g,
                &format!("{kind:?}"),
            );
            assert_eq!(
                &g[2..4],
                &[0.0, 0.0],
                "{kind:?}: masked row has no gradient"
            );
        }
        let logits = [1.0f32, 2.0, 0.5, -1.0, 0.0, 3.0];
        let (l, g, correct) = cross_entropy(&logits, &[1, 0], None, 3);
        let lse = |r: &[f32]| r.iter().map(|v| v.exp()).sum::<f32>().ln();
        let want = ((lse(&logits[..3]) - 2.0) + (lse(&logits[3..]) + 1.0)) / 2.0;
        assert!((l - want).abs() < 1e-5, "ce: expected {want}, got {l}");
        assert_eq!(correct, 1);
        fd_check(
            |p| cross_entropy(p, &[1, 0], None, 3).0,
            &logits,
            &g,
            "cross_entropy",
        );
    }
}
