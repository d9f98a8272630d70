//! Python servers the tests start (grpcio's health service, http.server on a unix
//! socket, JSON endpoints): started, read up to their first line, killed by PID on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::require;

/// A Python server, killed (by its PID) and reaped when dropped.
pub struct Python {
    child: Child,
}

impl Drop for Python {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Python {
    /// `python3 ARGS`, once `import` (e.g. "import grpc") works, and its first line (the
    /// port or "ready" it prints when it listens). None, with a notice, where the import
    /// fails, except under CI (see `require`): `test` and `what` say which test needs what.
    pub fn start(args: &[&str], import: &str, test: &str, what: &str) -> Option<(Python, String)> {
        let importable = Command::new("python3")
            .args(["-c", import])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !require(importable, test, what) {
            return None;
        }
        let mut child = Command::new("python3")
            .args(args)
            // Its stdin closing (when this process dies) also stops a server that reads it.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let server = Python { child };
        let mut line = String::new();
        stdout.read_line(&mut line).expect("its first line");
        // The rest is drained, so that a server that logs to stdout never writes to a
        // closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Some((server, line.trim_end().to_string()))
    }
}
