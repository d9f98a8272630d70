//! The only unsafe code (but for src/main.rs's C `main`, which calls in here): argv, the
//! C environment scan, signal(3) and the check of fds 0-2 that std's start-up would have
//! done. Everything here is a thin function over one libc call; the rest of the crate is
//! `#![deny(unsafe_code)]`.
#![allow(unsafe_code)]

use std::ffi::{CStr, OsStr, OsString, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicI32, Ordering};

// The same numbers on every Linux architecture, glibc and musl alike.
const SIGINT: c_int = 2;
const SIGPIPE: c_int = 13;
const SIGTERM: c_int = 15;
const SIG_IGN: usize = 1;
const O_RDWR: c_int = 2;
const POLLNVAL: i16 = 0x20;

/// struct pollfd, the same layout on every Linux architecture.
#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

unsafe extern "C" {
    static environ: *const *const u8;
    /// glibc and musl both give it BSD semantics: the handler stays installed.
    fn signal(signum: c_int, handler: usize) -> usize;
    fn poll(fds: *mut PollFd, count: u64, timeout: c_int) -> c_int;
    fn open(path: *const c_char, flags: c_int, ...) -> c_int;
}

/// What std's start-up would have done before `main`, which the C `main` skips.
pub fn start_up() {
    open_standard_fds();
    ignore_broken_pipe();
}

/// The C `main`'s arguments, program name first, as owned strings.
///
/// # Safety
/// `argv` must hold `argc` valid NUL-terminated strings, as libc hands them to `main`.
pub unsafe fn arguments(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    let count = usize::try_from(argc).unwrap_or(0);
    (0..count)
        .map(|index| {
            // SAFETY: the caller promises `argc` valid NUL-terminated strings in `argv`.
            let arg = unsafe { CStr::from_ptr(*argv.add(index)) };
            OsStr::from_bytes(arg.to_bytes()).to_os_string()
        })
        .collect()
}

/// As std's start-up does: a closed fd 0, 1 or 2 is reopened on /dev/null, so that the
/// next socket cannot become "stderr" and receive our lines. Like std, a process that
/// cannot open /dev/null aborts rather than run so.
fn open_standard_fds() {
    // One poll(2) for the three, as std does: a closed fd comes back as POLLNVAL.
    let mut fds = [0, 1, 2].map(|fd| PollFd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is an array of three initialised pollfd structs that poll may write
    // to; a timeout of 0 returns at once.
    if unsafe { poll(fds.as_mut_ptr(), 3, 0) } == -1 {
        return;
    }
    for pollfd in fds.iter().filter(|pollfd| pollfd.revents & POLLNVAL != 0) {
        // SAFETY: the path is a NUL-terminated literal. open(2) takes the lowest free
        // fd, which is this one, as the lower ones are open by now.
        let opened = unsafe { open(c"/dev/null".as_ptr(), O_RDWR) };
        if opened != pollfd.fd {
            std::process::abort();
        }
    }
}

/// Whether any variable's name starts with `prefix`, from one pass over the C environment
/// that copies nothing (std::env::vars_os would copy every variable to look at it).
pub fn environ_has_prefix(prefix: &[u8]) -> bool {
    // SAFETY: environ is a null-terminated array of NUL-terminated strings, and nothing
    // changes it meanwhile (no other thread runs yet, and nothing here calls setenv). The
    // comparison stops at the first byte that differs, so it never reads past a string's
    // NUL, which differs from every byte of the prefix (none of which is NUL).
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let name = *entry;
            if (0..prefix.len()).all(|i| *name.add(i) == prefix[i]) {
                return true;
            }
            entry = entry.add(1);
        }
    }
    false
}

/// As std's start-up does (which `main` skips): a closed stdout is an error to ignore,
/// not a signal to die of. exec resets it for the command that follows.
fn ignore_broken_pipe() {
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
pub fn received_signal() -> Option<&'static str> {
    match RECEIVED.load(Ordering::SeqCst) {
        SIGTERM => Some("SIGTERM"),
        SIGINT => Some("SIGINT"),
        _ => None,
    }
}
