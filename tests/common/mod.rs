//! Shared by the integration tests (one binary, tests/main.rs), split by concern.

#[cfg(not(feature = "tls"))]
pub mod docker;
pub mod python;
pub mod run;
pub mod server;
pub mod system;
#[cfg(feature = "tls")]
pub mod tls;

use std::io::Write;

pub use run::*;
pub use server::*;

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// The one skip rule. True when the test may go on; otherwise prints why it is skipped,
/// or, under CI (CI=true), fails: a green CI always means every check ran.
pub fn require(available: bool, test: &str, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(!in_ci(), "{test}: {what} is required under CI");
    notice(&format!("SKIPPED {test}: needs {what}"));
    false
}

/// A line on the terminal even when the test passes (libtest captures only the print
/// macros, not writes to the stderr handle).
pub fn notice(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
