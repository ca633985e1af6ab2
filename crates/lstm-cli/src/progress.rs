//! Training progress: a progress bar on a terminal, a plain line log otherwise; Ctrl-C asks the
//! trainer to stop after the current step (it then writes its checkpoint).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use lstm::train::{EvalInfo, Observer, StepInfo};

/// The observer the CLI trains with.
pub struct Progress {
    bar: Option<ProgressBar>,
    stop: Arc<AtomicBool>,
    last_line: Instant,
    val: Option<f32>,
    bits: bool,
}

impl Progress {
    /// A progress display; `stop` is set by the Ctrl-C handler. `bits`: also show losses in bits.
    pub fn new(stop: Arc<AtomicBool>, bits: bool) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  eta {eta}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            b
        });
        Progress {
            bar,
            stop,
            last_line: Instant::now(),
            val: None,
            bits,
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    fn fmt_loss(&self, l: f32) -> String {
        if self.bits {
            format!("{l:.4} ({:.3} bits)", l / std::f32::consts::LN_2)
        } else {
            format!("{l:.5}")
        }
    }
}

impl Observer for Progress {
    fn on_step(&mut self, i: &StepInfo) -> bool {
        let val = self
            .val
            .map_or(String::new(), |v| format!("  val {}", self.fmt_loss(v)));
        let msg = format!(
            "epoch {}  loss {}{val}  |g| {:.3}  {:.0} seq/s",
            i.epoch + 1,
            self.fmt_loss(i.loss),
            i.grad_norm,
            i.seqs_per_sec
        );
        match &self.bar {
            Some(b) => {
                b.set_length(i.total_steps.unwrap_or(i.step));
                b.set_position(i.step);
                b.set_message(msg);
            }
            None => {
                let last = i.total_steps == Some(i.step);
                if last || self.last_line.elapsed().as_secs_f64() >= 2.0 || i.step == 1 {
                    eprintln!("step {}/{}  {msg}", i.step, i.total_steps.unwrap_or(0));
                    self.last_line = Instant::now();
                }
            }
        }
        !self.stop.load(Ordering::SeqCst)
    }

    fn on_eval(&mut self, e: &EvalInfo) {
        self.val = Some(e.eval.loss);
    }
}

/// Installs the Ctrl-C handler: the first press asks training to stop cleanly.
pub fn install_ctrlc() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    // A second handler cannot be installed (tests call this once per process); ignore that error.
    let _ = ctrlc::set_handler(move || {
        if s.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping after this step and writing a checkpoint (Ctrl-C again to abort)");
    });
    stop
}
