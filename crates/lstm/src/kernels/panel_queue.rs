//! Which team member computes which column panel in each step of a time loop: each member
//! starts on its own share (so its weights stay in its cache from step to step), walks it
//! forwards and backwards on alternate steps, and then helps with what is left of the others'.
//! The fused LSTM loops and the per-step product [`panel_matmul`](super::panel_matmul) hand out
//! their panels through it. Results never depend on who claims what: each panel's outputs are
//! computed by exactly one member, the same way by any.

use super::team::CacheLine;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Member `m` of `n`'s share of `panels` panels.
pub(crate) fn share(panels: usize, m: usize, n: usize) -> std::ops::Range<usize> {
    panels * m / n..panels * (m + 1) / n
}

/// Whether step `s` of a time loop (counted in the order the loop runs them) walks the shares
/// backwards, when its first step does if `first`: the direction alternates by step.
pub fn step_flip(s: usize, first: bool) -> bool {
    (s % 2 == 1) != first
}

/// Most members a queue balances between (larger teams use this many).
const MAX_MEMBERS: usize = 16;

/// Hands out a step's panels: each member first takes its own [`share`] (whose weights stay in
/// its cache from step to step), then helps with what is left of the others' shares, so a
/// member on a slower or busier core does not hold the step back. Two sets of counters
/// alternate by step: the set for step `s + 1` is reset during step `s`, when no member can
/// still be using it (all passed the barrier ending step `s − 1`). A queue made for a single
/// step (as [`panel_matmul`](super::panel_matmul::panel_matmul) makes one per call) runs it as
/// step 0, its direction set by `flip`.
pub(crate) struct PanelQueue {
    panels: usize,
    /// Whether even steps (rather than odd ones) walk the shares backwards.
    flip: bool,
    /// Each member's counter on its own cache line: members claim panels all through a step,
    /// and counters sharing a line made every claim a cache miss for the other core (≈ 5 % of
    /// a streaming step at H = 256 spent in the claim alone).
    next: [[CacheLine<AtomicUsize>; MAX_MEMBERS]; 2],
}

impl PanelQueue {
    /// A queue for a job's steps; `flip`: step 0 walks the shares backwards (a pass that
    /// continues another: the last step of that one walked them forwards).
    pub(crate) fn new(panels: usize, flip: bool) -> Self {
        PanelQueue {
            panels,
            flip,
            next: std::array::from_fn(|_| {
                std::array::from_fn(|_| CacheLine(AtomicUsize::new(usize::MAX)))
            }),
        }
    }

    /// Runs `f(panel)` for the panels member `m` of `n` claims in step `s` (every panel is
    /// claimed by exactly one member per step).
    pub(crate) fn for_each(&self, s: usize, m: usize, n: usize, mut f: impl FnMut(usize)) {
        let n = n.min(MAX_MEMBERS);
        if m >= n {
            return;
        }
        let start = |o: usize| share(self.panels, o, n).start;
        if s == 0 {
            // Before the first barrier nobody has reset anything: the job started with every
            // counter at MAX, so the first claim of a share initialises it.
            for o in 0..n {
                let _ = self.next[0][o].0.compare_exchange(
                    usize::MAX,
                    start(o),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
            }
        }
        self.next[(s + 1) % 2][m]
            .0
            .store(start(m), Ordering::Release);
        let cur = &self.next[s % 2];
        // Odd steps walk each share backwards: a share larger than the cache then starts where
        // the last step ended, on the panels still cached, instead of on those evicted first.
        let backwards = step_flip(s, self.flip);
        for o in (0..n).map(|k| (m + k) % n) {
            let Range { start, end } = share(self.panels, o, n);
            loop {
                let i = cur[o].0.fetch_add(1, Ordering::AcqRel);
                if i >= end {
                    break;
                }
                f(if backwards { start + end - 1 - i } else { i });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every step hands out every panel exactly once; a member starts on its own share, which
    /// it walks forwards on even steps and backwards on odd ones (the other way round with
    /// `flip`). The members run one after the other here, so member 0 also takes all the rest.
    #[test]
    fn panel_queue_hands_out_each_panel_once_and_alternates_direction() {
        let panels = 10;
        for n in 1..=3 {
            for flip in [false, true] {
                let q = PanelQueue::new(panels, flip);
                for s in 0..5 {
                    let mut claims: Vec<Vec<usize>> = vec![Vec::new(); n];
                    for (m, c) in claims.iter_mut().enumerate() {
                        q.for_each(s, m, n, |p| c.push(p));
                    }
                    let mut all: Vec<usize> = claims.concat();
                    all.sort_unstable();
                    assert_eq!(
                        all,
                        (0..panels).collect::<Vec<_>>(),
                        "{n} members, flip {flip}, step {s}: panels claimed"
                    );
                    let own = share(panels, 0, n);
                    let backwards = (s % 2 == 1) != flip;
                    let want: Vec<usize> = if backwards {
                        own.rev().collect()
                    } else {
                        own.collect()
                    };
                    assert_eq!(
                        claims[0][..want.len()],
                        want[..],
                        "{n} members, flip {flip}, step {s}: member 0's own share, in order"
                    );
                }
            }
        }
    }
}
