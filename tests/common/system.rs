//! What tests need from the machine: the static build, root, clean commands, mount
//! namespaces and temporary directories.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The crate's root, where scripts/ and examples/ live.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The static release binary, built once per test process by scripts/build-static.sh
/// (the one static build command; a no-op when it is up to date, as in CI, which builds
/// it before `cargo test`).
pub fn static_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| build_static(&[]))
}

/// The opt-in small build (`scripts/build-static.sh --small`: std without backtrace),
/// built once per test process. (Its tests, like the other static builds', run without tls.)
#[cfg(not(feature = "tls"))]
pub fn small_static_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| build_static(&["--small"]))
}

/// Runs scripts/build-static.sh with `args` and returns the path it prints.
fn build_static(args: &[&str]) -> PathBuf {
    let output = Command::new("bash")
        .arg(root().join("scripts/build-static.sh"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run scripts/build-static.sh");
    assert!(
        output.status.success(),
        "scripts/build-static.sh {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let relative = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let path = root().join(relative);
    assert!(path.is_file(), "no static binary at {}", path.display());
    path
}

/// Copies an executable with cp(1), not std::fs::copy: while this process holds the copy
/// open for writing, a child that another test forks at that moment inherits the handle
/// until it execs, and running the copy then fails with ETXTBSY ("Text file busy").
pub fn copy_executable(from: &Path, to: &Path) {
    super::run_ok(Command::new("cp").arg(from).arg(to));
}

pub fn is_root() -> bool {
    // The real uid, from the kernel's own account of this process.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next().map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// A command with an environment that holds only PATH.
pub fn clean(program: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    command
}

/// `sh -c SCRIPT sh` in a mount namespace of its own (root only), so the mounts the
/// script makes vanish with it; add the script's arguments, then run or spawn it.
pub fn mount_namespace(script: &str) -> Command {
    let mut command = clean("unshare");
    command.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
    ]);
    command
}

/// `sh -c SCRIPT sh ARGS...` in a mount namespace of its own, run to its end.
pub fn in_mount_namespace(script: &str, args: &[&str]) -> super::Run {
    let mut command = mount_namespace(script);
    command.args(args);
    super::run(command)
}

/// A fresh directory under the system's temp dir, removed (with what is in it) when
/// dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("hp-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside, as text for a command's argument.
    pub fn join(&self, name: &str) -> String {
        self.path.join(name).to_string_lossy().into_owned()
    }

    /// Writes a file inside with these contents and permission bits; its path, as text.
    pub fn write(&self, name: &str, contents: &str, mode: u32) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path.join(name);
        std::fs::write(&path, contents).expect("write a file in the temporary directory");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path.to_string_lossy().into_owned()
    }

    /// Hands the directory to a server's user (postgres, mysql), who must write in it.
    pub fn give_to(&self, owner: &str) {
        super::run_ok(
            Command::new("chown")
                .arg(format!("{owner}:"))
                .arg(&self.path),
        );
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
