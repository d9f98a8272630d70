//! healthprobe: probe, print one line per target, exit 0 (healthy) or 1 (unhealthy);
//! with --wait, retry until healthy; with `-- CMD`, then become CMD.

// The entry point is `main` below, a C `main`: see there why.
#![cfg_attr(not(test), no_main)]

use std::ffi::{OsString, c_char, c_int};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use healthprobe::arena::Arena;
use healthprobe::cli::{self, Command};
use healthprobe::config::Config;
use healthprobe::error::Error;
use healthprobe::outcome::{MAX_LINE, PREFIX, bounded, fit};
use healthprobe::{install, probe, sys, wait};

/// A bump arena in front of musl's allocator, whose malloc and free were 40% of a probe
/// (src/arena.rs). 128 KiB hold a healthy HTTP probe's 16 KB several times over.
#[global_allocator]
static ALLOCATOR: Arena<{ 128 * 1024 }> = Arena::new();

/// The process entry, called by libc's start-up code with the real argc/argv. They are
/// passed on explicitly: with no std runtime, `std::env::args()` is empty on musl.
/// A C `main` instead of std's runtime start-up: that start-up reads /proc/self/maps to
/// find the main thread's stack guard (~42,000 instructions, more than the probe itself).
/// Under `cargo test` the test harness brings its own main. It lives here, not in the
/// library, whose users (the fuzz crate, the unit tests) bring their own `main` too.
#[allow(unsafe_code)]
#[cfg_attr(not(test), unsafe(no_mangle))]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let start = Instant::now();
    let environment = sys::start_up();
    // SAFETY: libc hands main `argc` valid NUL-terminated strings in `argv`.
    let mut args = unsafe { sys::arguments(argc, argv) };
    let program = (!args.is_empty()).then(|| args.remove(0));
    c_int::from(run(program, args, environment, start))
}

/// Parses, probes, prints one line per target and returns the exit code (or becomes
/// the `-- CMD`). Output errors (a closed pipe) are ignored: the exit code is the answer.
fn run(
    program: Option<OsString>,
    args: Vec<OsString>,
    environment: sys::Environment,
    start: Instant,
) -> u8 {
    let parsed = {
        let (env, ours) = cli::process_env(&environment);
        cli::parse(args, &env, &ours, probe::KINDS)
    };
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let config: Arc<Config> = match parsed {
        Ok(Command::Probe(config)) => Arc::from(config),
        Ok(Command::Help) => {
            let _ = stdout.write_all(cli::HELP.as_bytes());
            let _ = stdout.flush();
            return 0;
        }
        Ok(Command::Version) => {
            say(
                &mut stdout,
                &["healthprobe ", env!("CARGO_PKG_VERSION")].concat(),
                "",
            );
            let _ = stdout.flush();
            return 0;
        }
        Ok(Command::Install(dir)) => {
            // argv[0] is where to copy from when /proc is not mounted.
            return match install::install(&dir, program.as_deref().map(Path::new)) {
                Ok((installed, size)) => {
                    let size = format!(" ({size} bytes)");
                    let installed = installed.to_string_lossy();
                    say(&mut stdout, &["installed ", &installed].concat(), &size);
                    let _ = stdout.flush();
                    0
                }
                Err(error) => {
                    say(&mut stderr, &format!("{PREFIX}{error}"), "");
                    error.exit_code()
                }
            };
        }
        Err(error) => {
            say(
                &mut stderr,
                &format!("{PREFIX}{error}"),
                " (see healthprobe --help)",
            );
            return error.exit_code();
        }
    };
    // Before any probing, so that a typo in CMD does not cost a whole wait.
    if let Some(Err(error)) = config.exec.as_ref().map(wait::check_command) {
        say(&mut stderr, &format!("{PREFIX}{error}"), "");
        return error.exit_code();
    }
    let outcomes = if config.wait.is_none() && config.exec.is_none() {
        probe::run_all(&config, probe::Budget::new(&config, start))
    } else {
        let progress = |line: wait::Progress| {
            if !config.quiet {
                say(&mut std::io::stderr(), &format!("{PREFIX}{line}"), "");
            }
        };
        match wait::until_healthy(&config, start, progress) {
            Ok(outcomes) => outcomes,
            Err(stopped) => {
                say(&mut stderr, &format!("{PREFIX}{stopped}"), "");
                return stopped.exit_code();
            }
        }
    };
    for outcome in &outcomes {
        if config.verbose {
            for line in &outcome.trace {
                let line = fit("  ", &outcome.target, &[": ", line].concat(), "", MAX_LINE);
                say(&mut stderr, &line, "");
            }
        }
        if !outcome.healthy {
            say(&mut stderr, &outcome.line(), "");
        } else if !config.quiet {
            say(&mut stdout, &outcome.line(), "");
        }
    }
    // std's runtime would flush stdout at exit; without it, this does (and exec would
    // discard what is still buffered).
    let _ = stdout.flush();
    if !outcomes.iter().all(|outcome| outcome.healthy) {
        // Each unhealthy line is printed already.
        return Error::Unhealthy.exit_code();
    }
    if let Some(command) = &config.exec {
        drop(stdout);
        // CMD gets the environment we got (execvp reads its PATH from it too).
        environment.restore();
        let error = wait::exec(command);
        say(&mut stderr, &format!("{PREFIX}{error}"), "");
        return error.exit_code();
    }
    0
}

/// Writes one line: every line printed goes through here, made printable and cut to
/// MAX_LINE bytes with `tail` (ours, kept whole) at its end. Errors (a closed pipe) are
/// ignored: the exit code is the answer.
fn say(out: &mut impl Write, text: &str, tail: &str) {
    let mut line = bounded(text, tail);
    line.push('\n');
    let _ = out.write_all(line.as_bytes());
}
