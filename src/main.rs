//! healthprobe: probe, print one line per target, exit 0 (healthy) or 1 (unhealthy).

// A C `main` instead of std's runtime start-up: that start-up reads /proc/self/maps to
// find the main thread's stack guard (~42,000 instructions, more than the probe itself).
// Under `cargo test` the test harness brings its own main.
#![cfg_attr(not(test), no_main)]

mod cli;
mod error;
mod net;
mod outcome;
mod probe;
mod target;

use std::ffi::{CStr, OsString, c_char, c_int};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use cli::Command;

/// Usage and configuration errors (BSD's EX_USAGE); never 2, which Docker reserves.
const EXIT_USAGE: u8 = 64;
const EXIT_UNHEALTHY: u8 = 1;

unsafe extern "C" {
    /// From libc (glibc and musl alike).
    fn signal(signum: c_int, handler: usize) -> usize;
}
const SIGPIPE: c_int = 13;
const SIG_IGN: usize = 1;

/// The process entry, called by libc's start-up code with the real argc/argv. They are
/// passed on explicitly: with no std runtime, `std::env::args()` is empty on musl.
#[cfg_attr(not(test), unsafe(no_mangle))]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let start = Instant::now();
    // As std's start-up does: a closed stdout is an error to ignore, not a signal to die of.
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe { signal(SIGPIPE, SIG_IGN) };
    let count = usize::try_from(argc).unwrap_or(0);
    let args = (1..count)
        .map(|index| {
            // SAFETY: libc hands main `argc` valid NUL-terminated strings in `argv`.
            let arg = unsafe { CStr::from_ptr(*argv.add(index)) };
            OsString::from(std::ffi::OsStr::from_bytes(arg.to_bytes()))
        })
        .collect();
    c_int::from(run(args, start))
}

/// Parses, probes, prints one line per target and returns the exit code.
fn run(args: Vec<OsString>, start: Instant) -> u8 {
    let env = |name: &str| std::env::var_os(name);
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    // Output errors (a closed pipe) are ignored: the exit code is the answer.
    let config = match cli::parse(args, &env) {
        Ok(Command::Probe(config)) => config,
        Ok(Command::Help) => {
            let _ = stdout.write_all(cli::HELP.as_bytes());
            return 0;
        }
        Ok(Command::Version) => {
            let _ = writeln!(stdout, "healthprobe {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Err(error) => {
            let _ = writeln!(stderr, "healthprobe: {error} (see healthprobe --help)");
            return EXIT_USAGE;
        }
    };
    let outcomes = probe::run_all(&config, probe::Budget::new(&config, start));
    for outcome in &outcomes {
        if config.verbose {
            for line in &outcome.trace {
                let _ = writeln!(stderr, "  {}: {line}", outcome.target);
            }
        }
        if !outcome.healthy {
            let _ = writeln!(stderr, "{}", outcome.line());
        } else if !config.quiet {
            let _ = writeln!(stdout, "{}", outcome.line());
        }
    }
    // std's runtime would flush stdout at exit; without it, this does.
    let _ = stdout.flush();
    if outcomes.iter().all(|outcome| outcome.healthy) {
        0
    } else {
        EXIT_UNHEALTHY
    }
}
