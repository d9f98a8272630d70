//! healthprobe: probe, print one line per target, exit 0 (healthy) or 1 (unhealthy);
//! with --wait, retry until healthy; with `-- CMD`, then become CMD.

mod cli;
mod error;
mod install;
mod net;
mod outcome;
mod probe;
mod target;
#[cfg(feature = "tls")]
mod tls;
mod wait;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use cli::{Command, Config};

/// Usage and configuration errors (BSD's EX_USAGE); never 2, which Docker reserves.
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let start = Instant::now();
    let env = |name: &str| std::env::var_os(name);
    let config: Arc<Config> = match cli::parse(std::env::args_os().skip(1).collect(), &env) {
        Ok(Command::Probe(config)) => Arc::from(config),
        Ok(Command::Help) => {
            print!("{}", cli::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("healthprobe {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Install(dir)) => {
            // argv[0] is where to copy from when /proc is not mounted.
            let program = std::env::args_os().next().map(std::path::PathBuf::from);
            return match install::install(&dir, program.as_deref()) {
                Ok((installed, size)) => {
                    println!("installed {} ({size} bytes)", installed.display());
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("healthprobe: {error}");
                    ExitCode::from(if error.is_usage() { EXIT_USAGE } else { 1 })
                }
            };
        }
        Err(error) => {
            eprintln!("healthprobe: {error} (see healthprobe --help)");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Before any probing, so that a typo in CMD does not cost a whole wait.
    if let Some(Err(error)) = config.exec.as_ref().map(wait::check_command) {
        eprintln!("healthprobe: {error}");
        return ExitCode::from(EXIT_USAGE);
    }
    let outcomes = if config.wait.is_none() && config.exec.is_none() {
        probe::run_all(&config, probe::Budget::new(&config, start))
    } else {
        let progress = |line: wait::Progress| {
            if !config.quiet {
                eprintln!("healthprobe: {line}");
            }
        };
        match wait::until_healthy(&config, start, progress) {
            Ok(outcomes) => outcomes,
            Err(stopped) => {
                eprintln!("healthprobe: {stopped}");
                return ExitCode::FAILURE;
            }
        }
    };
    for outcome in &outcomes {
        if config.verbose {
            for line in &outcome.trace {
                eprintln!("  {}: {line}", outcome.target);
            }
        }
        if !outcome.healthy {
            eprintln!("{}", outcome.line());
        } else if !config.quiet {
            println!("{}", outcome.line());
        }
    }
    if !outcomes.iter().all(|outcome| outcome.healthy) {
        return ExitCode::FAILURE;
    }
    if let Some(command) = &config.exec {
        // exec discards anything still buffered.
        std::io::stdout().flush().ok();
        eprintln!("healthprobe: {}", wait::exec(command));
        return ExitCode::from(EXIT_USAGE);
    }
    ExitCode::SUCCESS
}
