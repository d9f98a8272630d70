//! The few signal dispositions healthprobe needs. std has no signal API; these calls to
//! the C library's signal(3) (glibc and musl alike) are all we need, so no crate for them.

use std::ffi::c_int;
use std::sync::atomic::{AtomicI32, Ordering};

// The same numbers on every Linux architecture.
const SIGINT: c_int = 2;
const SIGPIPE: c_int = 13;
const SIGTERM: c_int = 15;
const SIG_IGN: usize = 1;

unsafe extern "C" {
    /// glibc and musl both give it BSD semantics: the handler stays installed.
    fn signal(signum: c_int, handler: usize) -> usize;
}

/// As std's start-up does (which `main` skips): a closed stdout is an error to ignore,
/// not a signal to die of. exec resets it for the command that follows.
pub fn ignore_broken_pipe() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe { signal(SIGPIPE, SIG_IGN) };
}

/// A handler can only leave a note, and a static is the only place it can reach.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn note(signum: c_int) {
    // An atomic store is async-signal-safe.
    RECEIVED.store(signum, Ordering::SeqCst);
}

/// Catches SIGTERM and SIGINT so that a wait can end with exit 1: as PID 1 in a container
/// a signal with the default disposition is ignored, and `docker stop` would hang for its
/// whole grace period.
pub fn catch_termination() {
    for signum in [SIGTERM, SIGINT] {
        let handler = note as extern "C" fn(c_int) as usize;
        // SAFETY: `note` only stores to an atomic, which is async-signal-safe.
        let previous = unsafe { signal(signum, handler) };
        if previous == SIG_IGN {
            // Ignored by whoever started us (`cmd &` in a script ignores SIGINT):
            // keep it so, for us and for the command that exec inherits it.
            // SAFETY: restoring SIG_IGN installs no code at all.
            unsafe { signal(signum, SIG_IGN) };
        }
    }
}

/// The termination signal caught since catch_termination, if any.
pub fn received() -> Option<&'static str> {
    match RECEIVED.load(Ordering::SeqCst) {
        SIGTERM => Some("SIGTERM"),
        SIGINT => Some("SIGINT"),
        _ => None,
    }
}
