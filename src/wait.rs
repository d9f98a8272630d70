//! Wait mode and exec, above the probes (which know nothing of either): attempts repeat
//! every --interval until every target is healthy at once or --wait has passed, then
//! `-- CMD` replaces this process. SIGTERM and SIGINT end the wait at once.

use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::config::{Config, Exec};
use crate::error::Error;
use crate::outcome::{MAX_LINE, Outcome, PREFIX, fit};
use crate::probe::{self, Budget};
use crate::sys;

/// How often a running attempt or a pause looks for SIGTERM/SIGINT: the longest a
/// stopped container waits for us.
const SLICE: Duration = Duration::from_millis(25);

/// Where execvp(3) looks when PATH is unset (musl's list, a superset of glibc's).
const DEFAULT_PATH: &str = "/usr/local/bin:/bin:/usr/bin";

/// A line for people watching the logs: printed when something changed, not per attempt.
pub enum Progress<'a> {
    Failing {
        at: Duration,
        target: &'a str,
        reason: &'a str,
    },
    Healthy {
        at: Duration,
        target: &'a str,
    },
    GaveUp {
        at: Duration,
    },
}

impl fmt::Display for Progress<'_> {
    /// Without the "healthprobe: " that main puts before it, and short enough for it: a
    /// long target is shortened first, so that the reason stays.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let room = MAX_LINE - PREFIX.len();
        let line = match self {
            Progress::Failing { at, target, reason } => fit(
                &format!("{}: waiting for ", seconds(*at)),
                target,
                &[": ", reason].concat(),
                "",
                room,
            ),
            Progress::Healthy { at, target } => fit(
                &format!("{}: ", seconds(*at)),
                target,
                " is healthy",
                "",
                room,
            ),
            Progress::GaveUp { at } => format!("{}: gave up waiting (--wait)", seconds(*at)),
        };
        f.write_str(&line)
    }
}

/// Seconds with one decimal. Integer arithmetic, as `outcome::millis`: a float format
/// here cost ~15.7 KB of binary.
fn seconds(elapsed: Duration) -> String {
    let tenths = u64::try_from((elapsed.as_millis() + 50) / 100).unwrap_or(u64::MAX);
    format!("{}.{} s", tenths / 10, tenths % 10)
}

/// What the logs last heard about a target.
#[derive(Clone, PartialEq)]
enum Seen {
    Healthy,
    Failing(String),
}

/// Probes every target until all are healthy in the same attempt, or --wait has passed
/// since `start`; without --wait (exec only) there is a single attempt. Returns the last
/// attempt's outcomes, or `Error::Stopped` as soon as SIGTERM or SIGINT arrives.
///
/// No attempt outlives the wait: each keeps its own --timeout but is cut short at the
/// wait's deadline, and once the deadline has come no attempt starts.
pub fn until_healthy(
    config: &Arc<Config>,
    start: Instant,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<Outcome>, Error> {
    sys::catch_termination();
    let deadline = start + config.wait.unwrap_or(config.timeout);
    let mut seen = vec![None; config.targets.len()];
    let mut attempt_start = start;
    loop {
        let outcomes = attempt(config, within(config, attempt_start, deadline))?;
        // A signal that came with the last answer still wins: CMD must not start then.
        if let Some(signal) = sys::received_signal() {
            return Err(Error::Stopped(signal));
        }
        if config.wait.is_none() {
            return Ok(outcomes);
        }
        for (seen, outcome) in seen.iter_mut().zip(&outcomes) {
            report_change(seen, outcome, start, &mut progress);
        }
        if outcomes.iter().all(|outcome| outcome.healthy) {
            return Ok(outcomes);
        }
        let resume = (Instant::now() + config.interval).min(deadline);
        pause_until(resume)?;
        if resume >= deadline {
            progress(Progress::GaveUp {
                at: start.elapsed(),
            });
            return Ok(outcomes);
        }
        attempt_start = Instant::now();
    }
}

/// Reports a target's first failure, each change of reason, and its becoming healthy.
fn report_change(
    seen: &mut Option<Seen>,
    outcome: &Outcome,
    start: Instant,
    progress: &mut impl FnMut(Progress),
) {
    let now = if outcome.healthy {
        Seen::Healthy
    } else {
        Seen::Failing(outcome.summary.clone())
    };
    if seen.as_ref() == Some(&now) {
        return;
    }
    let at = start.elapsed();
    let target = &outcome.target;
    match (&now, &seen) {
        // Healthy from the first attempt on: the final verdict says so.
        (Seen::Healthy, None) => {}
        (Seen::Healthy, Some(_)) => progress(Progress::Healthy { at, target }),
        (Seen::Failing(reason), _) => progress(Progress::Failing { at, target, reason }),
    }
    *seen = Some(now);
}

/// An attempt's budget: its own --timeout and --connect-timeout from `start`, but never
/// past the wait's deadline.
fn within(config: &Config, start: Instant, deadline: Instant) -> Budget {
    let budget = Budget::new(config, start);
    Budget {
        deadline: budget.deadline.min(deadline),
        connect_deadline: budget.connect_deadline.min(deadline),
        ..budget
    }
}

/// One attempt, on its own thread so that a signal ends the wait even while a connect or
/// a read blocks: that thread is then left behind, and ends with the process.
fn attempt(config: &Arc<Config>, budget: Budget) -> Result<Vec<Outcome>, Error> {
    let (sender, receiver) = mpsc::sync_channel(1);
    let shared = Arc::clone(config);
    let spawned =
        thread::Builder::new().spawn(move || sender.send(probe::run_all(&shared, budget)));
    let Ok(handle) = spawned else {
        // Out of threads: probe here, uninterruptible but bounded by the deadline.
        return Ok(probe::run_all(config, budget));
    };
    loop {
        if let Some(signal) = sys::received_signal() {
            return Err(Error::Stopped(signal));
        }
        match receiver.recv_timeout(SLICE) {
            Ok(outcomes) => return Ok(outcomes),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The attempt's thread died without an answer: it panicked, a bug, which goes
            // on up as it would in the release build (which aborts).
            Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(_) => unreachable!("the attempt ended without sending its outcomes"),
            },
        }
    }
}

/// Sleeps until `resume`, in slices, so that a signal is noticed promptly.
fn pause_until(resume: Instant) -> Result<(), Error> {
    loop {
        if let Some(signal) = sys::received_signal() {
            return Err(Error::Stopped(signal));
        }
        let left = resume.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        thread::sleep(left.min(SLICE));
    }
}

/// Finds the command before anything is probed, so that a typo fails at once (exit 64)
/// rather than after a whole wait. exec can still fail later (a #! interpreter that is
/// missing, or permissions only the kernel judges): `exec` reports that.
pub fn check_command(command: &Exec) -> Result<(), Error> {
    let program = Path::new(&command.program);
    let unrunnable = |reason: &str| Error::Command {
        program: program.display().to_string(),
        reason: reason.to_string(),
    };
    if command.program.is_empty() {
        return Err(unrunnable("the command is empty"));
    }
    // Like execvp(3): a name with a slash is a path, anything else is looked up in PATH.
    if command.program.as_bytes().contains(&b'/') {
        return match runnable(program) {
            Ok(()) => Ok(()),
            Err(reason) => Err(unrunnable(reason)),
        };
    }
    let search_path = command
        .search_path
        .clone()
        .unwrap_or_else(|| DEFAULT_PATH.into());
    let found = std::env::split_paths(&search_path)
        .map(|dir| {
            // An empty PATH entry means the current directory.
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            dir.join(program)
        })
        .any(|candidate| runnable(&candidate).is_ok());
    if found {
        Ok(())
    } else {
        Err(unrunnable("not found in PATH"))
    }
}

/// A regular file with an execute bit. Only the kernel knows for sure (a non-root user
/// may lack the bit that is set), so this is the early check, not the last word.
fn runnable(path: &Path) -> Result<(), &'static str> {
    let metadata = path.metadata().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => "not found",
        io::ErrorKind::PermissionDenied => "permission denied",
        _ => "cannot be read",
    })?;
    if metadata.is_dir() {
        return Err("is a directory");
    }
    if !metadata.is_file() {
        return Err("is not a regular file");
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err("not executable (no x permission)");
    }
    Ok(())
}

/// Replaces this process with the command (execvp: same PID, environment unchanged,
/// SIGTERM/SIGINT back to their default since exec resets caught signals). Returns only
/// if that fails, with what went wrong.
pub fn exec(command: &Exec) -> Error {
    let error = std::process::Command::new(&command.program)
        .args(&command.args)
        .exec();
    let program = Path::new(&command.program);
    let is_path = command.program.as_bytes().contains(&b'/');
    let reason = match error.kind() {
        io::ErrorKind::NotFound if is_path && !program.is_file() => "not found".to_string(),
        // The file is there (check_command found it), so what is missing is what it
        // needs to start.
        io::ErrorKind::NotFound => {
            "not found: its interpreter (the #! line) or dynamic loader is missing".to_string()
        }
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    };
    Error::Command {
        program: program.display().to_string(),
        reason,
    }
}
