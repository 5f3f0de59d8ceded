//! SIGTERM / SIGINT (a pod being stopped, Ctrl-C). The first signal only raises a flag: the runner
//! sends nothing new, leaves StarRocks's jobs running, releases its RUNNING rows so the next run
//! takes them over at once, and the process exits 143 / 130. A second signal of either kind ends
//! the process at once (the default action), for an operator who really means it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{BbrError, ExitCode};

const SIGINT: usize = 2;
const SIGTERM: usize = 15;

struct Flags {
    any: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// Installs the handlers (once per process; later calls do nothing).
pub fn install() -> std::io::Result<()> {
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let flags = Flags {
        any: Arc::new(AtomicBool::new(false)),
        which: Arc::new(AtomicUsize::new(0)),
    };
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag as it was before this signal: set = second signal.
        signal_hook::flag::register_conditional_default(sig, Arc::clone(&flags.any))?;
        let n = usize::try_from(sig).unwrap_or(SIGTERM);
        signal_hook::flag::register_usize(sig, Arc::clone(&flags.which), n)?;
        signal_hook::flag::register(sig, Arc::clone(&flags.any))?;
    }
    let _ = FLAGS.set(flags);
    Ok(())
}

/// The exit code of the signal received so far, if any.
pub fn received() -> Option<ExitCode> {
    let f = FLAGS.get()?;
    if !f.any.load(Ordering::SeqCst) {
        return None;
    }
    Some(match f.which.load(Ordering::SeqCst) {
        SIGINT => ExitCode::Interrupted,
        _ => ExitCode::Terminated,
    })
}

/// The error a run ends with when it was stopped by a signal.
pub fn interrupted_error(code: ExitCode) -> BbrError {
    let name = if code == ExitCode::Interrupted {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    BbrError::new(
        code,
        format!("stopped by {name}: nothing new was sent; jobs already submitted keep running in StarRocks and their records were released"),
        "run the same command again: it takes the released jobs over at once and finishes them",
    )
}

/// `Err` when a signal was received: the check made before anything new is sent.
pub fn check() -> Result<(), BbrError> {
    match received() {
        Some(code) => Err(interrupted_error(code)),
        None => Ok(()),
    }
}

/// Sleeps `d`, waking early when a signal arrives (so a stop never waits out a long poll delay).
pub fn sleep(d: Duration) {
    let end = Instant::now() + d;
    loop {
        if received().is_some() {
            return;
        }
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}
