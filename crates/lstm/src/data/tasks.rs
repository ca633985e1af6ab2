//! Long-lag benchmark tasks with seeded generators.
//!
//! - **Adding problem** (Le et al. 2015; Arjovsky et al. 2016): two input channels per step, a value
//!   `U[0, 1]` and a marker; exactly one marker is 1 in each half of the sequence; the target is the
//!   sum of the two marked values. Predicting the mean (1.0) gives MSE ≈ 1/6 ≈ 0.167.
//! - **Copy memory** (Arjovsky et al. 2016): 10 symbols from an alphabet of 8, then `T − 1` blanks, a
//!   delimiter, and 10 more blanks; the target is blank for `T + 10` steps and then the 10 symbols.
//!   A memoryless strategy scores cross-entropy `10 · ln 8 / (T + 20)`.
//! - **Temporal order** (Hochreiter & Schmidhuber 1997, experiment 6a): a sequence of random
//!   distractors `a b c d` between a start symbol `B` and an end symbol `E`, with two relevant
//!   symbols, each `X` or `Y`, at random positions in two distant windows; the class is their order
//!   (`XX`, `XY`, `YX`, `YY`). With lag 100 this is the paper's setting: length 100..=110, first
//!   relevant symbol at 10..=20, second at 50..=60. Other lags scale every position.
//! - **Dinner** (a teaching toy): dishes follow a fixed cycle; the input is yesterday's dish and
//!   the target today's. No memory beyond one step is needed, and it is small enough to print
//!   every gate.

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

/// Symbols of the temporal-order task: distractors `a b c d` (0..=3), `B` start (4), `E` end (5),
/// relevant `X` (6) and `Y` (7).
pub const ORDER_SYMBOLS: [&str; 8] = ["a", "b", "c", "d", "B", "E", "X", "Y"];

/// Classes of the temporal-order task: the two relevant symbols in order.
pub const ORDER_CLASSES: [&str; 4] = ["XX", "XY", "YX", "YY"];

/// `n` temporal-order sequences at lag `t` (≥ 10): tokens `[T_i]` with
/// `T_i ∈ t..=t + t/10`, a class per sequence ([`ORDER_CLASSES`]). The relevant symbols sit at
/// `t/10 ..= t/5` and `t/2 ..= t/2 + t/10`.
pub fn temporal_order(n: usize, t: usize, seed: u64) -> SampleSet {
    let t = t.max(10);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let samples = (0..n)
        .map(|_| {
            let len = rng.random_range(t..=t + t / 10);
            let mut x: Vec<usize> = (0..len).map(|_| rng.random_range(0..4)).collect();
            x[0] = 4;
            x[len - 1] = 5;
            let p1 = rng.random_range(t / 10..=t / 5);
            let p2 = rng.random_range(t / 2..=t / 2 + t / 10);
            let (s1, s2) = (rng.random_range(0..2usize), rng.random_range(0..2usize));
            x[p1] = 6 + s1;
            x[p2] = 6 + s2;
            Sample {
                x: SeqInput::Tokens(x),
                y: SeqTarget::Class(s1 * 2 + s2),
            }
        })
        .collect();
    SampleSet {
        features: 1,
        samples,
    }
}

/// The dishes of the dinner task, in the order the cook serves them.
pub const DISHES: [&str; 3] = ["pizza", "sushi", "waffles"];

/// `n` dinner sequences of `days` days: tokens `[days]`, each yesterday's dish, and the class
/// per step, today's dish (the next in [`DISHES`]' cycle). Each sequence starts at a random dish.
pub fn dinner(n: usize, days: usize, seed: u64) -> SampleSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = DISHES.len();
    let samples = (0..n)
        .map(|_| {
            let start = rng.random_range(0..k);
            let x: Vec<usize> = (0..days).map(|d| (start + d) % k).collect();
            let y = x.iter().map(|&v| (v + 1) % k).collect();
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

    #[test]
    fn temporal_order_layout() {
        let set = temporal_order(200, 100, 5);
        let mut seen = [0usize; 4];
        for s in &set.samples {
            let (SeqInput::Tokens(x), SeqTarget::Class(c)) = (&s.x, &s.y) else {
                panic!()
            };
            assert!((100..=110).contains(&x.len()), "length {}", x.len());
            assert_eq!((x[0], x[x.len() - 1]), (4, 5));
            let rel: Vec<usize> = (0..x.len()).filter(|&i| x[i] >= 6).collect();
            assert_eq!(rel.len(), 2, "relevant positions {rel:?}");
            assert!((10..=20).contains(&rel[0]) && (50..=60).contains(&rel[1]));
            assert_eq!(*c, (x[rel[0]] - 6) * 2 + (x[rel[1]] - 6));
            assert!(x[1..x.len() - 1]
                .iter()
                .enumerate()
                .all(|(i, &v)| v < 4 || rel.contains(&(i + 1))));
            seen[*c] += 1;
        }
        assert!(seen.iter().all(|&n| n > 25), "classes {seen:?}");
    }

    #[test]
    fn dinner_follows_the_cycle() {
        let set = dinner(5, 7, 2);
        for s in &set.samples {
            let (SeqInput::Tokens(x), SeqTarget::StepClasses(y)) = (&s.x, &s.y) else {
                panic!()
            };
            assert_eq!(x.len(), 7);
            for d in 0..7 {
                assert_eq!(y[d], (x[d] + 1) % 3, "day {d}");
                if d > 0 {
                    assert_eq!(x[d], y[d - 1], "day {d}: yesterday's dish");
                }
            }
        }
    }
}
