//! healthprobe: probe, print one line per target, exit 0 (healthy) or 1 (unhealthy);
//! with --wait, retry until healthy; with `-- CMD`, then become CMD.

// A C `main` instead of std's runtime start-up: that start-up reads /proc/self/maps to
// find the main thread's stack guard (~42,000 instructions, more than the probe itself).
// Under `cargo test` the test harness brings its own main.
#![cfg_attr(not(test), no_main)]

#[cfg(feature = "bump-alloc")]
mod alloc;
mod cli;
mod error;
mod install;
mod net;
mod outcome;
mod probe;
mod signal;
mod target;
#[cfg(feature = "tls")]
mod tls;
mod wait;

use std::ffi::{CStr, OsStr, OsString, c_char, c_int};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use cli::{Command, Config};

/// Opt-in (`--features bump-alloc`): a bump arena in place of musl's mallocng for this
/// short-lived process (src/alloc.rs).
#[cfg(feature = "bump-alloc")]
#[global_allocator]
static ALLOCATOR: alloc::Bump = alloc::Bump;

/// Usage and configuration errors (BSD's EX_USAGE); never 2, which Docker reserves.
const EXIT_USAGE: u8 = 64;
const EXIT_UNHEALTHY: u8 = 1;

/// The process entry, called by libc's start-up code with the real argc/argv. They are
/// passed on explicitly: with no std runtime, `std::env::args()` is empty on musl.
#[cfg_attr(not(test), unsafe(no_mangle))]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let start = Instant::now();
    signal::ignore_broken_pipe();
    let count = usize::try_from(argc).unwrap_or(0);
    let mut args: Vec<OsString> = (0..count)
        .map(|index| {
            // SAFETY: libc hands main `argc` valid NUL-terminated strings in `argv`.
            let arg = unsafe { CStr::from_ptr(*argv.add(index)) };
            OsStr::from_bytes(arg.to_bytes()).to_os_string()
        })
        .collect();
    let program = (!args.is_empty()).then(|| args.remove(0));
    c_int::from(run(program, args, start))
}

/// Parses, probes, prints one line per target and returns the exit code (or becomes
/// the `-- CMD`). Output errors (a closed pipe) are ignored: the exit code is the answer.
fn run(program: Option<OsString>, args: Vec<OsString>, start: Instant) -> u8 {
    let env = cli::process_env();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let config: Arc<Config> = match cli::parse(args, &env) {
        Ok(Command::Probe(config)) => Arc::from(config),
        Ok(Command::Help) => {
            let _ = stdout.write_all(cli::HELP.as_bytes());
            let _ = stdout.flush();
            return 0;
        }
        Ok(Command::Version) => {
            let _ = writeln!(stdout, "healthprobe {}", env!("CARGO_PKG_VERSION"));
            let _ = stdout.flush();
            return 0;
        }
        Ok(Command::Install(dir)) => {
            // argv[0] is where to copy from when /proc is not mounted.
            return match install::install(&dir, program.as_deref().map(Path::new)) {
                Ok((installed, size)) => {
                    let _ = writeln!(stdout, "installed {} ({size} bytes)", installed.display());
                    let _ = stdout.flush();
                    0
                }
                Err(error) => {
                    let _ = writeln!(stderr, "healthprobe: {error}");
                    if error.is_usage() {
                        EXIT_USAGE
                    } else {
                        EXIT_UNHEALTHY
                    }
                }
            };
        }
        Err(error) => {
            let _ = writeln!(stderr, "healthprobe: {error} (see healthprobe --help)");
            return EXIT_USAGE;
        }
    };
    // Before any probing, so that a typo in CMD does not cost a whole wait.
    if let Some(Err(error)) = config.exec.as_ref().map(wait::check_command) {
        let _ = writeln!(stderr, "healthprobe: {error}");
        return EXIT_USAGE;
    }
    let outcomes = if config.wait.is_none() && config.exec.is_none() {
        probe::run_all(&config, probe::Budget::new(&config, start))
    } else {
        let progress = |line: wait::Progress| {
            if !config.quiet {
                let _ = writeln!(std::io::stderr(), "healthprobe: {line}");
            }
        };
        match wait::until_healthy(&config, start, progress) {
            Ok(outcomes) => outcomes,
            Err(stopped) => {
                let _ = writeln!(stderr, "healthprobe: {stopped}");
                return EXIT_UNHEALTHY;
            }
        }
    };
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
    // std's runtime would flush stdout at exit; without it, this does (and exec would
    // discard what is still buffered).
    let _ = stdout.flush();
    if !outcomes.iter().all(|outcome| outcome.healthy) {
        return EXIT_UNHEALTHY;
    }
    if let Some(command) = &config.exec {
        drop(stdout);
        let _ = writeln!(stderr, "healthprobe: {}", wait::exec(command));
        return EXIT_USAGE;
    }
    0
}
