//! A team of threads that run one job together, for the fused recurrent loops: every member
//! runs the same closure with its own index, and members meet at a spinning [`Barrier`] once per
//! time step. The helper threads are created once per process and kept; after a job they spin a
//! short while before sleeping, so back-to-back calls (a streaming step, the next layer) find
//! them awake and each member keeps its share of the weights in its own cache.
//!
//! Only one job runs at a time. A call made while the team is busy (another thread's job, or
//! a job started from inside a job) runs alone on the calling thread with a team of one, so a
//! caller never waits for another and can never deadlock on the barrier.
//!
//! A panic in any member's share abandons the job: the panicking member marks the job's barrier
//! abandoned, members waiting on it (or polling [`Barrier::check`]) stop, and [`Team::run`]
//! returns by resuming the first panic on the calling thread, after every helper has left the
//! job. The team stays usable.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a helper stays awake (spinning, then yielding) after a job before it sleeps.
const LINGER: Duration = Duration::from_micros(300);

/// Spin iterations before a waiting member starts yielding its core to other threads.
const SPINS_BEFORE_YIELD: u32 = 1 << 12;

/// A value alone on its cache line(s): what one core writes often (a counter) must not share a
/// line with what another core reads or writes, or each write sends the line back and forth
/// between the cores ("false sharing").
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct CacheLine<T>(pub T);

/// A spinning barrier for the members of one job (on its own cache line: it lives on the
/// caller's stack, next to what the job reads).
#[derive(Debug)]
#[repr(align(64))]
pub struct Barrier {
    n: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    /// A member's share panicked: the job is abandoned.
    abandoned: AtomicBool,
}

/// The unwinding payload of a member that stops because another member's share panicked;
/// [`Team::run`] resumes the original panic instead.
struct Abandoned;

impl Barrier {
    fn new(n: usize) -> Self {
        Barrier {
            n,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            abandoned: AtomicBool::new(false),
        }
    }

    /// Stops this member (unwinding, without a second panic message) if another member's share
    /// panicked. Members that wait on each other outside [`Barrier::wait`] (spinning on a
    /// counter) call it while they wait, so a panic elsewhere cannot leave them spinning.
    pub fn check(&self) {
        if self.abandoned.load(Ordering::Relaxed) {
            std::panic::resume_unwind(Box::new(Abandoned));
        }
    }

    /// Members in the job.
    pub fn members(&self) -> usize {
        self.n
    }

    /// Waits until every member has called `wait` as often as this one. Everything a member
    /// wrote before its call is visible to every member after it.
    pub fn wait(&self) {
        if self.n == 1 {
            return;
        }
        let gen = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
        } else {
            let mut spins = 0u32;
            while self.generation.load(Ordering::Acquire) == gen {
                self.check();
                backoff(&mut spins);
            }
        }
    }
}

/// Spins, and after a while yields the core (the other member may have been descheduled).
pub(crate) fn backoff(spins: &mut u32) {
    if *spins < SPINS_BEFORE_YIELD {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

/// The job the helpers run: `f(member, barrier)`.
type Job<'a> = &'a (dyn Fn(usize, &Barrier) + Sync);

/// What the caller publishes to the helpers.
struct Shared {
    /// Bumped once per job; helpers run a job when it moves.
    epoch: AtomicUsize,
    /// Points at the caller's `Job` (valid until `done` reaches the helper count).
    job: AtomicPtr<Job<'static>>,
    /// Points at the job's barrier.
    barrier: AtomicPtr<Barrier>,
    /// Helpers that finished the current job (or skipped it).
    done: AtomicUsize,
    /// Whether the caller flushes subnormals: members follow it, so results do not depend on
    /// which member computed what.
    flush: AtomicBool,
    /// Helpers asleep (or about to be) on `wake`.
    sleeping: AtomicUsize,
    /// The first panic of a helper's share in the current job, for the caller to resume.
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    lock: Mutex<()>,
    wake: Condvar,
}

/// The process-wide team.
pub struct Team {
    shared: &'static Shared,
    helpers: usize,
    busy: AtomicBool,
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Team {{ helpers: {} }}", self.helpers)
    }
}

static TEAM: OnceLock<Team> = OnceLock::new();

impl Team {
    /// The team: one member per core (the caller and `cores − 1` helpers, created on first use).
    pub fn global() -> &'static Team {
        TEAM.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let shared: &'static Shared = Box::leak(Box::new(Shared {
                epoch: AtomicUsize::new(0),
                job: AtomicPtr::new(std::ptr::null_mut()),
                barrier: AtomicPtr::new(std::ptr::null_mut()),
                done: AtomicUsize::new(0),
                flush: AtomicBool::new(false),
                sleeping: AtomicUsize::new(0),
                panic: Mutex::new(None),
                lock: Mutex::new(()),
                wake: Condvar::new(),
            }));
            let mut helpers = 0;
            for member in 1..cores {
                let spawned = std::thread::Builder::new()
                    .name(format!("lstm-team-{member}"))
                    .spawn(move || helper(shared, member));
                if spawned.is_err() {
                    break;
                }
                helpers += 1;
            }
            Team {
                shared,
                helpers,
                busy: AtomicBool::new(false),
            }
        })
    }

    /// Most members a job can have.
    pub fn capacity(&self) -> usize {
        self.helpers + 1
    }

    /// Runs `f(member, barrier)` on `min(want, capacity)` members at once (member 0 is the
    /// calling thread) and returns when all have finished. If the team is busy, runs `f(0, _)`
    /// alone with a barrier of one. If a member's share panics, the others stop at their next
    /// wait and the first panic is resumed here.
    pub fn run(&self, want: usize, f: &(dyn Fn(usize, &Barrier) + Sync)) {
        let n = want.clamp(1, self.capacity());
        if n == 1
            || self
                .busy
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            f(0, &Barrier::new(1));
            return;
        }
        let barrier = Barrier::new(n);
        let s = self.shared;
        // The helpers read these after seeing the new epoch (SeqCst below orders them).
        let job: Job<'_> = f;
        // SAFETY: the pointer is only dereferenced by helpers between the epoch bump and their
        // `done` increment, and this function does not return before every helper has counted
        // itself done; so `job` and `barrier` outlive every use.
        let job_ptr = &job as *const Job<'_> as *mut Job<'static>;
        s.job.store(job_ptr, Ordering::Relaxed);
        s.barrier.store(
            &barrier as *const Barrier as *mut Barrier,
            Ordering::Relaxed,
        );
        s.done.store(0, Ordering::Relaxed);
        s.flush
            .store(super::denormal::FlushDenormals::active(), Ordering::Relaxed);
        s.epoch.fetch_add(1, Ordering::SeqCst);
        if s.sleeping.load(Ordering::SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(0, &barrier)));
        if mine.is_err() {
            barrier.abandoned.store(true, Ordering::Relaxed);
        }
        // Every helper leaves the job (done, or stopped by the abandoned barrier) before this
        // returns or unwinds past the job they point at.
        let mut spins = 0u32;
        while s.done.load(Ordering::Acquire) < self.helpers {
            backoff(&mut spins);
        }
        // A helper that panicked marked the barrier before counting itself done (seen through
        // the Acquire load above); without a mark there is nothing to collect.
        let theirs = if barrier.abandoned.load(Ordering::Relaxed) {
            s.panic.lock().unwrap_or_else(|e| e.into_inner()).take()
        } else {
            None
        };
        self.busy.store(false, Ordering::Release);
        match (mine, theirs) {
            (Ok(()), None) => {}
            // The first real panic: the caller's own, else a helper's (the caller then only
            // stopped because of it).
            (Err(p), None) => std::panic::resume_unwind(p),
            (Err(p), Some(_)) if !p.is::<Abandoned>() => std::panic::resume_unwind(p),
            (_, Some(p)) => std::panic::resume_unwind(p),
        }
    }
}

/// A helper's life: wait for an epoch, run its share if it is a member, count itself done.
fn helper(s: &'static Shared, member: usize) {
    // Helpers are created before the first job, when the epoch is 0: a helper that starts late
    // still runs that job.
    let mut seen = 0;
    loop {
        // Awake: spin, then yield, for LINGER; then sleep until the epoch moves.
        let since = Instant::now();
        let mut spins = 0u32;
        while s.epoch.load(Ordering::SeqCst) == seen && since.elapsed() < LINGER {
            backoff(&mut spins);
        }
        if s.epoch.load(Ordering::SeqCst) == seen {
            let mut g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.sleeping.fetch_add(1, Ordering::SeqCst);
            while s.epoch.load(Ordering::SeqCst) == seen {
                g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            s.sleeping.fetch_sub(1, Ordering::SeqCst);
        }
        seen = s.epoch.load(Ordering::SeqCst);
        // SAFETY: see `Team::run`: both pointers stay valid until this helper counts itself done.
        let barrier = unsafe { &*s.barrier.load(Ordering::Relaxed) };
        if member < barrier.members() {
            let job = unsafe { &*s.job.load(Ordering::Relaxed) };
            let _fp = super::denormal::FlushDenormals::matching(s.flush.load(Ordering::Relaxed));
            // A panicking share abandons the job (the others stop at their next wait) and hands
            // its panic to the caller.
            let ok =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(member, barrier)));
            if let Err(p) = ok {
                barrier.abandoned.store(true, Ordering::Relaxed);
                if !p.is::<Abandoned>() {
                    s.panic
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(p);
                }
            }
        }
        s.done.fetch_add(1, Ordering::Release);
    }
}

/// A raw view of a buffer that members of one job write in disjoint parts.
#[derive(Debug, Clone, Copy)]
pub struct SharedMut<T = f32> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: `SharedMut` hands out slices only through `unsafe fn`s whose callers promise that no
// two members touch the same element between two barriers unless both only read.
unsafe impl<T> Send for SharedMut<T> {}
unsafe impl<T> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    /// Wraps `buf` for the duration of a job.
    pub fn new(buf: &mut [T]) -> Self {
        SharedMut {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
        }
    }

    /// A raw pointer to element `at` (≤ len), for kernels that take raw places.
    pub fn ptr_at(&self, at: usize) -> *mut T {
        assert!(at <= self.len, "SharedMut: offset out of bounds");
        // SAFETY: `at ≤ len` keeps the pointer inside (or one past) the wrapped buffer.
        unsafe { self.ptr.add(at) }
    }

    /// `buf[range]`, mutable.
    ///
    /// # Safety
    /// No other member may access any element of `range` until the next barrier, and the
    /// wrapped buffer must outlive the use.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut(&self, start: usize, len: usize) -> &mut [T] {
        assert!(start + len <= self.len, "SharedMut: range out of bounds");
        std::slice::from_raw_parts_mut(self.ptr.add(start), len)
    }

    /// `buf[range]`, read-only.
    ///
    /// # Safety
    /// No member may write any element of `range` until the next barrier, and the wrapped
    /// buffer must outlive the use.
    pub unsafe fn slice(&self, start: usize, len: usize) -> &[T] {
        assert!(start + len <= self.len, "SharedMut: range out of bounds");
        std::slice::from_raw_parts(self.ptr.add(start), len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_follow_the_callers_subnormal_flushing() {
        let team = Team::global();
        for on in [true, false, true] {
            let _g = crate::kernels::denormal::FlushDenormals::matching(on);
            let seen = Mutex::new(Vec::new());
            team.run(team.capacity(), &|m, _| {
                let tiny = std::hint::black_box(f32::MIN_POSITIVE) * std::hint::black_box(0.5f32);
                seen.lock().unwrap().push((m, tiny == 0.0));
            });
            for (m, flushed) in seen.into_inner().unwrap() {
                if cfg!(target_arch = "x86_64") {
                    assert_eq!(flushed, on, "member {m}: caller flushing {on}");
                }
            }
        }
    }

    #[test]
    fn members_see_each_others_writes_after_the_barrier() {
        let team = Team::global();
        let n = team.capacity();
        let mut buf = vec![0.0f32; 64 * n];
        let view = SharedMut::new(&mut buf);
        let sums = Mutex::new(vec![0.0f32; n]);
        // Rounds that ran on the whole team (a job started while another test's job holds the
        // team runs alone).
        let full = AtomicUsize::new(0);
        for round in 0..50 {
            team.run(n, &|m, bar| {
                let k = bar.members();
                if m == 0 && k == n {
                    full.fetch_add(1, Ordering::Relaxed);
                }
                for step in 0..20 {
                    // Each member writes its own 64 values, then reads everyone's.
                    let mine = unsafe { view.slice_mut(m * 64, 64) };
                    mine.fill((round * 100 + step + m) as f32);
                    bar.wait();
                    let all = unsafe { view.slice(0, 64 * k) };
                    for (j, v) in all.iter().enumerate() {
                        let want = (round * 100 + step + j / 64) as f32;
                        assert_eq!(*v, want, "member {m} step {step}: index {j}");
                    }
                    bar.wait();
                }
                sums.lock().unwrap()[m] += 1.0;
            });
        }
        let sums = sums.into_inner().unwrap();
        assert_eq!(sums[0], 50.0, "member 0 ran every job");
        let full = full.into_inner() as f32;
        assert!(
            sums[1..].iter().all(|&s| s == full),
            "{sums:?}, {full} full rounds"
        );
    }

    /// A panic in either member's share, while the other waits at the barrier or polls
    /// `check`, comes back out of `run` on the caller (the original message, not a hang), and
    /// the team runs the next job normally. Run on a thread of its own, so a hang fails the
    /// test after 20 s instead of stalling the suite.
    #[test]
    fn a_panicking_share_abandons_the_job_and_its_panic_reaches_the_caller() {
        let team = Team::global();
        if team.capacity() < 2 {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for (culprit, poll) in [(0, false), (1, false), (0, true), (1, true)] {
                let got = std::panic::catch_unwind(|| {
                    team.run(2, &|m, bar| {
                        // A job started while another test's job holds the team runs alone:
                        // nothing waits then, so it fails the same way at once.
                        if m == culprit || bar.members() < 2 {
                            panic!("share {culprit} failed");
                        }
                        if poll {
                            // Waiting on a counter the culprit never moves.
                            loop {
                                bar.check();
                                std::hint::spin_loop();
                            }
                        }
                        bar.wait();
                    });
                });
                let msg = got
                    .expect_err("the job must fail")
                    .downcast::<String>()
                    .map(|b| *b)
                    .unwrap_or_default();
                assert_eq!(
                    msg,
                    format!("share {culprit} failed"),
                    "culprit {culprit}, poll {poll}"
                );
                let (ran, members) = (AtomicUsize::new(0), AtomicUsize::new(0));
                team.run(2, &|_, bar| {
                    bar.wait();
                    members.store(bar.members(), Ordering::Relaxed);
                    ran.fetch_add(1, Ordering::Relaxed);
                });
                assert_eq!(
                    ran.load(Ordering::Relaxed),
                    members.load(Ordering::Relaxed),
                    "the next job runs on every member"
                );
            }
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("a member still waits on an abandoned job (or a check failed: see above)");
    }

    #[test]
    fn a_job_started_inside_a_job_runs_alone() {
        let team = Team::global();
        let inner = AtomicUsize::new(0);
        team.run(team.capacity(), &|m, _| {
            if m == 0 {
                team.run(2, &|im, bar| {
                    assert_eq!((im, bar.members()), (0, 1));
                    inner.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(inner.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn jobs_from_many_threads_all_complete() {
        let count = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    for _ in 0..200 {
                        Team::global().run(8, &|m, bar| {
                            bar.wait();
                            if m == 0 {
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                    }
                });
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 800);
    }
}
