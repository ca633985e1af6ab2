//! Long-lag benchmark tasks with seeded generators.
//!
//! - **Adding problem** (Le et al. 2015; Arjovsky et al. 2016): two input channels per step, a value
//!   `U[0, 1]` and a marker; exactly one marker is 1 in each half of the sequence; the target is the
//!   sum of the two marked values. Predicting the mean (1.0) gives MSE ≈ 1/6 ≈ 0.167.
//! - **Copy memory** (Arjovsky et al. 2016): 10 symbols from an alphabet of 8, then `T − 1` blanks, a
//!   delimiter, and 10 more blanks; the target is blank for `T + 10` steps and then the 10 symbols.
//!   A memoryless strategy scores cross-entropy `10 · ln 8 / (T + 20)`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Sample, SampleSet, SeqInput, SeqTarget};

/// `n` adding-problem sequences of length `t` (≥ 2): inputs `[t, 2]`, target `[1]`.
pub fn adding_problem(n: usize, t: usize, seed: u64) -> SampleSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let half = (t / 2).max(1);
    let samples = (0..n)
        .map(|_| {
            let mut x = vec![0.0f32; t * 2];
            for ti in 0..t {
                x[ti * 2] = rng.random::<f32>();
            }
            let a = rng.random_range(0..half);
            let b = half + rng.random_range(0..(t - half).max(1));
            x[a * 2 + 1] = 1.0;
            x[b * 2 + 1] = 1.0;
            let y = x[a * 2] + x[b * 2];
            Sample {
                x: SeqInput::Dense(x),
                y: SeqTarget::Values(vec![y]),
            }
        })
        .collect();
    SampleSet {
        features: 2,
        samples,
    }
}

/// Symbols of the copy task: 0 blank, 1..=8 data, 9 delimiter.
pub const COPY_VOCAB: usize = 10;

/// `n` copy-memory sequences with lag `t`: tokens `[t + 20]`, a class per step.
pub fn copy_memory(n: usize, t: usize, seed: u64) -> SampleSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len = t + 20;
    let samples = (0..n)
        .map(|_| {
            let data: Vec<usize> = (0..10).map(|_| rng.random_range(1..=8)).collect();
            let mut x = vec![0usize; len];
            x[..10].copy_from_slice(&data);
            x[t + 9] = 9;
            let mut y = vec![0usize; len];
            y[t + 10..].copy_from_slice(&data);
            Sample {
                x: SeqInput::Tokens(x),
                y: SeqTarget::StepClasses(y),
            }
        })
        .collect();
    SampleSet {
        features: 1,
        samples,
    }
}

/// The memoryless baseline cross-entropy of the copy task with lag `t`: `10 · ln 8 / (t + 20)`.
pub fn copy_memory_baseline(t: usize) -> f32 {
    10.0 * 8f32.ln() / (t + 20) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_problem_has_one_marker_per_half_and_the_right_sum() {
        let set = adding_problem(50, 20, 1);
        let mut mean_sq = 0.0;
        for s in &set.samples {
            let (SeqInput::Dense(x), SeqTarget::Values(y)) = (&s.x, &s.y) else {
                panic!()
            };
            let marks: Vec<usize> = (0..20).filter(|&t| x[t * 2 + 1] == 1.0).collect();
            assert_eq!(marks.len(), 2);
            assert!(marks[0] < 10 && marks[1] >= 10, "markers {marks:?}");
            assert_eq!(y[0], x[marks[0] * 2] + x[marks[1] * 2]);
            mean_sq += (y[0] - 1.0).powi(2) / 50.0;
        }
        assert!(
            (0.08..0.26).contains(&mean_sq),
            "predicting 1.0 should give MSE ≈ 1/6, got {mean_sq}"
        );
        assert_eq!(adding_problem(3, 20, 1), adding_problem(3, 20, 1));
    }

    #[test]
    fn copy_memory_layout() {
        let set = copy_memory(2, 30, 3);
        let (SeqInput::Tokens(x), SeqTarget::StepClasses(y)) =
            (&set.samples[0].x, &set.samples[0].y)
        else {
            panic!()
        };
        assert_eq!((x.len(), y.len()), (50, 50));
        assert!(x[..10].iter().all(|&v| (1..=8).contains(&v)));
        assert_eq!(x[39], 9);
        assert_eq!(&y[40..], &x[..10]);
        assert!(y[..40].iter().all(|&v| v == 0) && x[10..39].iter().all(|&v| v == 0));
        assert!((copy_memory_baseline(50) - 10.0 * 8f32.ln() / 70.0).abs() < 1e-7);
    }
}
