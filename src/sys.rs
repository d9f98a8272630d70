//! The only unsafe code (but for src/main.rs's C `main`, which calls in here, and the
//! allocator, src/arena.rs): argv, the C environment (taken aside at start-up, scanned,
//! handed back for exec), signal(3) and the check of fds 0-2 that std's start-up would
//! have done. Everything here is a thin function over one libc call; the rest of the
//! crate is `#![deny(unsafe_code)]`.
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
    static mut environ: *const *const u8;
    /// glibc and musl both give it BSD semantics: the handler stays installed.
    fn signal(signum: c_int, handler: usize) -> usize;
    fn poll(fds: *mut PollFd, count: u64, timeout: c_int) -> c_int;
    fn open(path: *const c_char, flags: c_int, ...) -> c_int;
}

/// What std's start-up would have done before `main`, which the C `main` skips; and the
/// C environment, taken aside (see `hide_environment`).
pub fn start_up() -> Environment {
    open_standard_fds();
    ignore_broken_pipe();
    hide_environment()
}

/// The C environment as the process got it. While this is held, `environ` is empty.
pub struct Environment {
    entries: *const *const u8,
}

/// What `environ` points to while the environment is taken aside: a list whose first
/// entry is its terminating null.
static EMPTY_ENVIRONMENT: usize = 0;

/// Takes the C environment aside and leaves an empty one. Why: ureq's `Config::default()`
/// (which every ureq config builder starts from) looks up 8 proxy variables with getenv,
/// each a scan of the whole environment: 264 instructions per variable of a container's
/// often hundreds, for proxies the probe then replaces by its own (--proxy) or none. No
/// ureq builder skips that, and nothing below cli.rs may read the environment anyway: cli
/// reads it from the returned value, and `Environment::restore` hands it back to exec.
fn hide_environment() -> Environment {
    // SAFETY: called first in the C `main`, before any other thread exists, so nothing
    // reads `environ` while it changes. The empty list is a static null entry.
    unsafe {
        let entries = environ;
        environ = (&raw const EMPTY_ENVIRONMENT).cast();
        Environment { entries }
    }
}

impl Environment {
    /// Each entry's C string (`NAME=value`), not yet measured.
    fn entries(&self) -> impl Iterator<Item = *const u8> + '_ {
        let mut entry = self.entries;
        std::iter::from_fn(move || {
            // SAFETY: environ was a null-terminated array of NUL-terminated strings, and
            // nothing has changed it since (no setenv here): `entry` stops at the null.
            unsafe {
                if entry.is_null() || (*entry).is_null() {
                    return None;
                }
                let string = *entry;
                entry = entry.add(1);
                Some(string)
            }
        })
    }

    /// The variables whose name starts with `prefix`, as (name, value), from one pass that
    /// looks only at the first bytes of the others.
    pub fn with_prefix(&self, prefix: &[u8]) -> Vec<(&OsStr, &OsStr)> {
        self.entries()
            .filter(|&entry| starts_with(entry, prefix))
            .map(|entry| {
                // SAFETY: a NUL-terminated string of the environment, alive as long as
                // `self` (nothing frees or changes it).
                let entry = unsafe { CStr::from_ptr(entry.cast()) }.to_bytes();
                let (name, value) = match entry.iter().position(|&byte| byte == b'=') {
                    Some(equals) => (&entry[..equals], &entry[equals + 1..]),
                    None => (entry, &entry[entry.len()..]),
                };
                (OsStr::from_bytes(name), OsStr::from_bytes(value))
            })
            .collect()
    }

    /// The value of the variable `name` (one pass), as getenv(3) finds it: the first.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        let name = name.as_bytes();
        if name.is_empty() || name.contains(&b'=') {
            return None;
        }
        let entry = self.entries().find(|&entry| {
            // SAFETY: the name's bytes matched and none was NUL, so the next byte is at
            // most the string's NUL.
            starts_with(entry, name) && unsafe { *entry.add(name.len()) } == b'='
        })?;
        // SAFETY: as in with_prefix; the value starts after `NAME=`.
        let value = unsafe { CStr::from_ptr(entry.add(name.len() + 1).cast()) };
        Some(OsStr::from_bytes(value.to_bytes()))
    }

    /// Hands the environment back to the C library, for exec (and execvp's PATH). Called
    /// once the probes are done: their threads, if any, have answered and read nothing of
    /// the environment (nothing but cli does), so nothing reads `environ` while it changes.
    pub fn restore(self) {
        // SAFETY: see above; `entries` is the array the process started with.
        unsafe { environ = self.entries };
    }
}

/// Whether the C string `entry` starts with `prefix`. It stops at the first byte that
/// differs or at the string's NUL, so it never reads past the string (and most entries
/// cost one byte: the prefix scan is that cheap per variable).
fn starts_with(entry: *const u8, prefix: &[u8]) -> bool {
    (0..prefix.len()).all(|i| {
        // SAFETY: the bytes before `i` were not NUL, so `i` is at most the NUL's index.
        let byte = unsafe { *entry.add(i) };
        byte != 0 && byte == prefix[i]
    })
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
