//! `healthprobe --install DIR`: the copy-yourself step of the init-container pattern.
//! Exit 0 installed; 64 when DIR cannot take it (missing, not a directory, read-only,
//! not writable); 1 when the copy fails for another reason (a full disk).

use crate::common::system::{
    TempDir, clean, copy_executable, in_mount_namespace, is_root, static_binary,
};
use crate::common::*;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// The names in `dir`, sorted: shows that no temporary file was left behind.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
}

#[test]
fn installs_a_working_copy_and_replaces_an_old_one() {
    let dir = TempDir::new("install");
    let dir_text = dir.path().display().to_string();
    let installed = dir.path().join("healthprobe");

    let first = probe(&["--install", &dir_text]);
    assert_eq!(first.code, 0, "{first:?}");
    let size = fs::metadata(BIN).expect("the binary").len();
    assert_eq!(
        first.stdout,
        format!("installed {} ({size} bytes)\n", installed.display())
    );
    assert_eq!(fs::read(&installed).unwrap(), fs::read(BIN).unwrap());
    assert_eq!(mode(&installed), 0o755);
    assert_eq!(names(dir.path()), ["healthprobe"]);

    // An old copy (here: garbage with the wrong mode) is replaced whole.
    fs::write(&installed, b"stale").unwrap();
    fs::set_permissions(&installed, fs::Permissions::from_mode(0o600)).unwrap();
    let again = probe(&[&format!("--install={dir_text}")]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(fs::read(&installed).unwrap(), fs::read(BIN).unwrap());
    assert_eq!(mode(&installed), 0o755);
    assert_eq!(names(dir.path()), ["healthprobe"]);

    // And the copy is a working probe.
    let server = Server::start(http("200 OK", &[], "ok"));
    let mut command = Command::new(&installed);
    command.arg(server.url("/health")).env_clear();
    let copy = run(command);
    assert_eq!(copy.code, 0, "{copy:?}");
    assert!(copy.stdout.starts_with("healthy: "), "{copy:?}");
}

#[test]
fn bad_directories_and_arguments_are_usage_errors_that_name_them() {
    let dir = TempDir::new("install-bad");
    let missing = dir.path().join("missing").display().to_string();
    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    let file = file.display().to_string();
    let dir_text = dir.path().display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--install", &missing],
            &format!("cannot install into '{missing}': no such directory"),
        ),
        (
            &["--install", &file],
            &format!("cannot install into '{file}': not a directory"),
        ),
        (&["--install"], "--install needs a value"),
        (&["--install", ""], "--install needs a value"),
        (
            &["--install", &dir_text, "http://localhost:8080/"],
            "--install DIR takes no other argument (got 'http://localhost:8080/')",
        ),
        (
            &["--timeout", "2s", "--install", &dir_text],
            "--install DIR takes no other argument (got '--timeout')",
        ),
    ];
    for (args, expected) in cases {
        let run = probe(args);
        assert_eq!(run.code, 64, "{args:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
    assert_eq!(names(dir.path()), ["file"], "nothing was installed");
}

#[test]
fn read_only_and_unwritable_directories_are_usage_errors() {
    let dir = TempDir::new("install-ro");
    let dir_text = dir.path().display().to_string();
    if !is_root() {
        // Root ignores permission bits, so this case needs a plain user.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o555)).unwrap();
        let run = probe(&["--install", &dir_text]);
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(run.code, 64, "{run:?}");
        assert!(run.stderr.contains("permission denied"), "{run:?}");
        return;
    }
    let read_only = in_mount_namespace(
        r#"mount --bind "$2" "$2" && mount -o remount,bind,ro "$2" || exit 90
           exec "$1" --install "$2""#,
        &[BIN, &dir_text],
    );
    assert_eq!(read_only.code, 64, "{read_only:?}");
    assert_eq!(
        read_only.stderr,
        format!("healthprobe: cannot install into '{dir_text}': read-only file system\n")
    );

    // Not ours: a root-owned 0755 directory, and the probe running as uid 65534.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = clean("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args([static_binary().to_str().unwrap(), "--install", &dir_text]);
    let unwritable = run(command);
    assert_eq!(unwritable.code, 64, "{unwritable:?}");
    assert_eq!(
        unwritable.stderr,
        format!("healthprobe: cannot install into '{dir_text}': permission denied\n")
    );
    assert!(names(dir.path()).is_empty());
}

#[test]
fn a_full_disk_is_a_failure_and_leaves_no_temporary_file() {
    if !require(is_root(), "a_full_disk_is_a_failure", "root (tmpfs mount)") {
        return;
    }
    let dir = TempDir::new("install-full");
    let dir_text = dir.path().display().to_string();
    // A 64 KiB tmpfs cannot hold a binary of a megabyte or more.
    let full = in_mount_namespace(
        r#"mount -t tmpfs -o size=64k hp-docker-full "$2" || exit 90
           "$1" --install "$2"; code=$?
           ls -A "$2"
           exit $code"#,
        &[BIN, &dir_text],
    );
    assert_eq!(full.code, 1, "{full:?}");
    assert_eq!(
        full.stderr,
        format!("healthprobe: cannot install into '{dir_text}': No space left on device\n")
    );
    assert_eq!(full.stdout, "", "a temporary file was left: {full:?}");
}

#[test]
fn installs_from_a_bare_root_without_proc() {
    if !require(is_root(), "installs_from_a_bare_root", "root (chroot)") {
        return;
    }
    // Only /healthprobe and an empty /shared: no /proc, so the probe finds itself
    // through argv[0].
    let root = TempDir::new("install-chroot");
    copy_executable(static_binary(), &root.path().join("healthprobe"));
    fs::create_dir(root.path().join("shared")).unwrap();
    let in_root = |args: &[&str]| {
        let mut command = clean("chroot");
        command.arg(root.path()).args(args);
        run(command)
    };

    let installed = in_root(&["/healthprobe", "--install", "/shared"]);
    assert_eq!(installed.code, 0, "{installed:?}");
    let size = fs::metadata(static_binary()).unwrap().len();
    assert_eq!(
        installed.stdout,
        format!("installed /shared/healthprobe ({size} bytes)\n")
    );
    let copy = root.path().join("shared/healthprobe");
    assert_eq!(fs::read(&copy).unwrap(), fs::read(static_binary()).unwrap());
    assert_eq!(mode(&copy), 0o755);
    assert_eq!(names(&root.path().join("shared")), ["healthprobe"]);

    let server = Server::start(http("200 OK", &[], "ok"));
    let target = format!("http://localhost:{}/health", server.port());
    let from_copy = in_root(&["/shared/healthprobe", &target]);
    assert_eq!(from_copy.code, 0, "{from_copy:?}");

    let missing = in_root(&["/healthprobe", "--install", "/missing"]);
    assert_eq!(missing.code, 64, "{missing:?}");
    assert_eq!(
        missing.stderr,
        "healthprobe: cannot install into '/missing': no such directory\n"
    );
}
