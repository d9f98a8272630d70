//! Running the real binary: one run and what it printed, the checks every run must pass,
//! and a table of runs checked in parallel.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::server::{Reply, Server, closed_port, header, method, path};

/// The proxy variables that an application's environment may hold, and that healthprobe
/// must ignore.
pub const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

pub const BIN: &str = env!("CARGO_BIN_EXE_healthprobe");
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// A line never exceeds this many bytes (src/outcome.rs).
pub const MAX_LINE: usize = 300;
/// How late a run may end past its deadline in these tests. The promise is "well under
/// 100 ms"; the margin is for process start-up on a CPU shared with other builds.
pub const LATE: Duration = Duration::from_millis(900);
/// How late the run's own count ("in N ms", which starts after process start-up) may be.
pub const LATE_REPORTED: Duration = Duration::from_millis(300);

/// One run of the real binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// stdout and stderr together, for assertions that do not care which.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The milliseconds the run reported for itself at the end of its (only) line.
    pub fn reported_ms(&self) -> u64 {
        let line = self.output();
        let ms = line
            .trim_end()
            .strip_suffix(" ms")
            .and_then(|rest| rest.rsplit(' ').next())
            .and_then(|ms| ms.parse().ok());
        ms.unwrap_or_else(|| panic!("no 'in N ms' at the end of {line:?}"))
    }
}

/// Runs healthprobe with an empty environment (no proxies, no HEALTHPROBE_* leaking in).
pub fn probe(args: &[&str]) -> Run {
    probe_env(args, &[])
}

pub fn probe_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(BIN);
    command.args(args).env_clear().envs(env.iter().copied());
    run(command)
}

pub fn run(mut command: Command) -> Run {
    let start = Instant::now();
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("the healthprobe binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// GNU time, which reports a child's peak resident memory; the CI installs it.
pub const GNU_TIME: &str = "/usr/bin/time";

/// Runs healthprobe under GNU time: the run, and the child's peak RSS in KiB.
pub fn probe_measured(args: &[&str]) -> (Run, u64) {
    assert!(
        Path::new(GNU_TIME).exists(),
        "{GNU_TIME} is needed to measure memory: apt-get install time"
    );
    let report = std::env::temp_dir().join(format!(
        "healthprobe-rss-{}-{:?}",
        std::process::id(),
        thread::current().id()
    ));
    let mut command = Command::new(GNU_TIME);
    command
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(BIN)
        .args(args)
        .env_clear();
    let run = run(command);
    let text = std::fs::read_to_string(&report).expect("GNU time wrote its report");
    std::fs::remove_file(&report).ok();
    // A non-zero exit adds a "Command exited with non-zero status" line before it.
    let kib = text
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {text:?}"));
    (run, kib)
}

/// Runs a helper command (initdb, pg_ctl ...), failing the test with its output if it fails.
pub fn run_ok(command: &mut Command) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs the probe and checks its exit code and that its output says `says`.
pub fn expect(args: &[&str], code: i32, says: &str) -> Run {
    let run = probe(args);
    assert_eq!(run.code, code, "{args:?}: {run:?}");
    assert!(
        run.output().contains(says),
        "{args:?} should say {says:?}: {run:?}"
    );
    run
}

/// What one measured run against a misbehaving server must show.
pub struct Verdict<'a> {
    pub code: i32,
    /// In the line: stdout when healthy, stderr otherwise.
    pub says: &'a str,
    /// The longest the run may take.
    pub within: Duration,
    pub max_rss_kib: u64,
}

impl Verdict<'_> {
    /// Runs healthprobe under GNU time and says what is wrong, if anything: `sane`, the
    /// exit code, exactly one line that says the text, by `within`, in bounded memory.
    pub fn check(&self, name: &str, args: &[&str]) -> Result<(), String> {
        let (run, rss) = probe_measured(args);
        let mut problems = sane(&run);
        if run.code != self.code {
            problems.push(format!("exit {} instead of {}", run.code, self.code));
        }
        let line = if self.code == 0 {
            &run.stdout
        } else {
            &run.stderr
        };
        if !line.contains(self.says) {
            problems.push(format!("no {:?}", self.says));
        }
        if run.output().lines().count() != 1 {
            problems.push("not exactly one line".to_string());
        }
        if run.elapsed > self.within {
            problems.push(format!(
                "took {:?}, more than {:?}",
                run.elapsed, self.within
            ));
        }
        if rss > self.max_rss_kib {
            problems.push(format!("peak RSS {rss} KiB"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            let problems = problems.join("; ");
            Err(format!("{name}: {problems}\n    {run:?} rss {rss} KiB"))
        }
    }
}

/// One row of a table of runs: arguments and environment, the server behind `{url}`,
/// and what the run must do. In args, env values and expected texts, `{url}` is
/// `http://127.0.0.1:PORT`, `{addr}` is `127.0.0.1:PORT` and `{port}` is PORT of the
/// case's server (or of a closed port when the case has no server).
pub type Routes = Arc<dyn Fn(u16, &str) -> Reply + Send + Sync>;

#[derive(Clone)]
pub struct Case {
    pub name: String,
    /// The server's answer to each request path, given the server's port.
    pub server: Option<Routes>,
    /// The requests the server must have seen, as "METHOD /path".
    pub seen: Option<Vec<String>>,
    /// Headers every request must have carried, each exactly once: (name, value).
    pub received: Vec<(String, String)>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub code: i32,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Case {
    pub fn new(name: &str, args: &[&str]) -> Case {
        Case {
            name: name.to_string(),
            server: None,
            seen: None,
            received: Vec::new(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            env: Vec::new(),
            code: -1,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    /// Every request gets this reply.
    pub fn server(self, reply: Reply) -> Case {
        self.routes(move |_, _| reply.clone())
    }

    /// Each request gets the reply for its path; `port` is the server's, for
    /// absolute redirects.
    pub fn routes(mut self, routes: impl Fn(u16, &str) -> Reply + Send + Sync + 'static) -> Case {
        self.server = Some(Arc::new(routes));
        self
    }

    /// The server must have seen exactly these requests ("METHOD /path"), in order.
    pub fn seen(mut self, requests: &[&str]) -> Case {
        self.seen = Some(requests.iter().map(|r| r.to_string()).collect());
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Case {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Every request must have carried this header, once, with this value.
    pub fn received(mut self, name: &str, value: &str) -> Case {
        self.received.push((name.to_string(), value.to_string()));
        self
    }

    /// Exit 0 with `text` on stdout.
    pub fn healthy(mut self, text: &str) -> Case {
        self.code = 0;
        self.stdout.push(text.to_string());
        self
    }

    /// Exit 1 with `text` on stderr.
    pub fn unhealthy(mut self, text: &str) -> Case {
        self.code = 1;
        self.stderr.push(text.to_string());
        self
    }

    /// Exit 64 with `text` in the one error line on stderr.
    pub fn usage(mut self, text: &str) -> Case {
        self.code = 64;
        self.stderr.push(text.to_string());
        self
    }

    /// Also expect `text` on stderr.
    pub fn stderr(mut self, text: &str) -> Case {
        self.stderr.push(text.to_string());
        self
    }

    /// Also expect `text` on stdout.
    pub fn stdout(mut self, text: &str) -> Case {
        self.stdout.push(text.to_string());
        self
    }

    /// Runs the case (starting its server) and returns what went wrong, if anything.
    fn check(&self) -> Result<(), String> {
        let server = self
            .server
            .clone()
            .map(|routes| Server::routes(move |port, path| routes(port, path)));
        let port = server.as_ref().map_or_else(closed_port, Server::port);
        let fill = |text: &str| {
            text.replace("{url}", &format!("http://127.0.0.1:{port}"))
                .replace("{addr}", &format!("127.0.0.1:{port}"))
                .replace("{port}", &port.to_string())
        };
        let args: Vec<String> = self.args.iter().map(|arg| fill(arg)).collect();
        let env: Vec<(String, String)> = self
            .env
            .iter()
            .map(|(name, value)| (name.clone(), fill(value)))
            .collect();
        let mut command = Command::new(BIN);
        command.args(&args).env_clear().envs(env.iter().cloned());
        let run = run(command);
        let mut problems = sane(&run);
        if run.code != self.code {
            problems.push(format!("exit code {} instead of {}", run.code, self.code));
        }
        for (stream, text, wanted) in [
            ("stdout", &run.stdout, &self.stdout),
            ("stderr", &run.stderr, &self.stderr),
        ] {
            for want in wanted {
                if !text.contains(&fill(want)) {
                    problems.push(format!("{stream} lacks {:?}", fill(want)));
                }
            }
        }
        if let (Some(seen), Some(server)) = (&self.seen, &server) {
            let requests: Vec<String> = server
                .requests()
                .iter()
                .map(|head| format!("{} {}", method(head), path(head)))
                .collect();
            let seen: Vec<String> = seen.iter().map(|request| fill(request)).collect();
            if requests != seen {
                problems.push(format!("the server saw {requests:?}, not {seen:?}"));
            }
        }
        if let Some(server) = &server {
            let requests = server.requests();
            if requests.is_empty() && !self.received.is_empty() {
                problems.push("the server saw no request".to_string());
            }
            for head in &requests {
                for (name, value) in &self.received {
                    if header(head, name) != [fill(value).as_str()] {
                        problems.push(format!("not one '{name}: {value}' in {head:?}"));
                    }
                }
            }
        }
        let verbose = args.iter().any(|arg| arg == "-v" || arg == "--verbose")
            || env
                .iter()
                .any(|(name, value)| name == "HEALTHPROBE_VERBOSE" && value == "1");
        match self.code {
            0 if !verbose && !run.stderr.is_empty() => {
                problems.push("a healthy run wrote to stderr".to_string())
            }
            64 if !run.stdout.is_empty() || run.stderr.lines().count() != 1 => {
                problems.push("a usage error is one line on stderr and nothing else".to_string())
            }
            _ => {}
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}: {}\n    args {args:?} env {env:?}\n    exit {} in {:?}\n    stdout {:?}\n    stderr {:?}",
                self.name,
                problems.join("; "),
                run.code,
                run.elapsed,
                run.stdout,
                run.stderr
            ))
        }
    }
}

/// What every run must do, whatever it was asked: exit 0, 1 or 64 (never Docker's 2,
/// never a panic) and print only short, printable lines.
pub fn sane(run: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    if ![0, 1, 64].contains(&run.code) {
        problems.push(format!("exit code {} is not 0, 1 or 64", run.code));
    }
    for line in run.stdout.lines().chain(run.stderr.lines()) {
        if line.len() > MAX_LINE {
            problems.push(format!("a line of {} bytes: {line:?}", line.len()));
        }
        if line.chars().any(deceptive) {
            problems.push(format!("a control character in {line:?}"));
        }
    }
    problems
}

/// What no line may hold: control characters, Unicode format characters (Cf: bidi
/// controls, zero-width ones, U+061C, U+FEFF, the tag characters) and line separators.
/// Written out here, apart from the binary's own table, so that each checks the other.
pub fn deceptive(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c,
            '\u{ad}' | '\u{600}'..='\u{605}' | '\u{61c}' | '\u{6dd}' | '\u{70f}' | '\u{180e}'
            | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}'
            | '\u{feff}' | '\u{fff9}'..='\u{fffb}' | '\u{e0000}'..='\u{e007f}')
}

/// Asserts what every run must do (see `sane`).
pub fn assert_sane(run: &Run) {
    let problems = sane(run);
    assert!(problems.is_empty(), "{problems:?} in {run:?}");
}

/// Runs every case at once and fails with the list of all that went wrong.
pub fn check(cases: Vec<Case>) {
    check_each(&cases, Case::check);
}

/// Runs `check` on every item at once (each starts its own server and process) and
/// fails with the list of every problem found, not just the first.
pub fn check_each<T: Sync>(items: &[T], check: impl Fn(&T) -> Result<(), String> + Sync) {
    let check = &check;
    let failures: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = items
            .iter()
            .map(|item| scope.spawn(move || check(item)))
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().expect("a case ran").err())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        items.len(),
        failures.join("\n")
    );
}
