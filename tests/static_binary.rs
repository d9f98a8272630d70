//! The static binary needs nothing from the image it runs in: no loader, no libraries, no
//! /etc, no writable disk, no particular uid. Proved with the real static build
//! (scripts/build-static.sh) in an empty root; the chroot cases need root.

use crate::common::system::{
    TempDir, clean, copy_executable, in_mount_namespace, is_root, static_binary,
};
use crate::common::*;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

fn readelf(flag: &str) -> String {
    let output = Command::new("readelf")
        .args([flag, "-W"])
        .arg(static_binary())
        .output()
        .expect("readelf runs (Debian package binutils)");
    assert!(output.status.success(), "readelf {flag} failed: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn has_no_interpreter_and_no_shared_libraries() {
    let dynamic = readelf("-d");
    assert!(!dynamic.contains("(NEEDED)"), "needs libraries:\n{dynamic}");
    let program_headers = readelf("-l");
    assert!(
        !program_headers.contains("INTERP"),
        "asks for a loader:\n{program_headers}"
    );
    assert!(
        program_headers.contains("LOAD"),
        "readelf -l did not list the segments:\n{program_headers}"
    );
}

/// A root directory that holds nothing but /healthprobe.
fn empty_root(name: &str) -> TempDir {
    let root = TempDir::new(name);
    copy_executable(static_binary(), &root.path().join("healthprobe"));
    root
}

/// `chroot ROOT /healthprobe ARGS...`.
fn in_root(root: &Path, args: &[&str]) -> Run {
    let mut command = clean("chroot");
    command.arg(root).arg("/healthprobe").args(args);
    run(command)
}

/// Every file under `dir` with its size and modification time, to show nothing changed.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("read the root").flatten() {
            let metadata = entry.metadata().expect("metadata");
            let name = entry.path().display().to_string();
            if metadata.is_dir() {
                pending.push(entry.path());
            }
            let modified = metadata.modified().expect("mtime");
            files.insert(name, (metadata.len(), modified));
        }
    }
    files
}

/// What each probe must say, healthy, from inside the root.
fn healthy_everywhere(root: &Path, cases: &[(String, &str)]) {
    for (target, expected) in cases {
        let run = in_root(root, &["--timeout", "3s", target]);
        assert_eq!(run.code, 0, "{target}: {run:?}");
        assert!(
            run.stdout.starts_with(&format!("healthy: {target}: "))
                && run.stdout.contains(expected),
            "{target}: expected '{expected}' in {run:?}"
        );
    }
}

#[test]
fn probes_from_an_empty_root_then_with_only_etc_hosts() {
    if !require(is_root(), "probes_from_an_empty_root", "root (chroot)") {
        return;
    }
    let ipv4 = Server::start(http("200 OK", &[], "ok"));
    // Nothing on 127.0.0.1 at its port, so localhost must find it on ::1.
    let (ipv6, _no_v4) = Server::only_on_family("::1", http("200 OK", &[], "ok"));
    let port = ipv4.port();
    let cases = [
        (
            format!("tcp://127.0.0.1:{port}"),
            "connected from 127.0.0.1:",
        ),
        (ipv4.url("/health"), "200 OK from 127.0.0.1:"),
        // localhost needs no /etc/hosts and no resolver, whichever family listens.
        (
            format!("http://localhost:{port}/health"),
            "200 OK from 127.0.0.1:",
        ),
        (
            format!("http://localhost:{}/health", ipv6.port()),
            "200 OK from [::1]:",
        ),
        (format!("tcp://localhost:{}", ipv6.port()), "from [::1]:"),
    ];
    let named = format!("http://hp-docker.test:{port}/health");

    let root = empty_root("chroot");
    let before = snapshot(root.path());
    healthy_everywhere(root.path(), &cases);
    // Any other name needs /etc/hosts (or DNS), and there is none yet.
    let run = in_root(root.path(), &["--timeout", "2s", &named]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("cannot resolve 'hp-docker.test'")
            || run.stderr.contains("timed out resolving"),
        "{run:?}"
    );
    assert_eq!(
        snapshot(root.path()),
        before,
        "the probe wrote into its root"
    );

    fs::create_dir(root.path().join("etc")).expect("mkdir etc");
    fs::write(
        root.path().join("etc/hosts"),
        "127.0.0.1 localhost\n::1 localhost\n127.0.0.1 hp-docker.test\n",
    )
    .expect("write /etc/hosts");
    healthy_everywhere(
        root.path(),
        &[
            cases.as_slice(),
            &[(named.clone(), "200 OK from 127.0.0.1:")],
        ]
        .concat(),
    );
    assert!(
        ipv4.requests().len() >= 4 && ipv6.requests().len() >= 2,
        "the servers outside the root saw the requests"
    );
}

#[test]
fn runs_as_nobody_on_a_read_only_root_and_writes_nothing() {
    if !require(
        is_root(),
        "runs_as_nobody_on_a_read_only_root",
        "root (chroot, mount)",
    ) {
        return;
    }
    let server = Server::start(http("200 OK", &[], "ok"));
    let http_target = format!("http://localhost:{}/health", server.port());
    let tcp_target = format!("tcp://localhost:{}", server.port());

    // A root that uid 65534 could write to: it writes nothing all the same.
    let root = empty_root("nobody");
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o1777)).expect("chmod");
    let before = snapshot(root.path());
    let mut command = clean("chroot");
    command
        .arg("--userspec=65534:65534")
        .arg(root.path())
        .args(["/healthprobe", &http_target, &tcp_target]);
    let as_nobody = run(command);
    assert_eq!(as_nobody.code, 0, "{as_nobody:?}");
    assert_eq!(as_nobody.stdout.lines().count(), 2, "{as_nobody:?}");
    assert_eq!(snapshot(root.path()), before, "the probe wrote a file");

    // The same root mounted read-only (in a mount namespace of its own, so nothing leaks
    // out): the shell proves it is read-only before the probe runs there as uid 65534.
    let read_only = in_mount_namespace(
        r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 90
           touch "$1/written" 2>/dev/null && exit 91
           exec chroot --userspec=65534:65534 "$1" /healthprobe "$2" "$3""#,
        &[
            &root.path().display().to_string(),
            &http_target,
            &tcp_target,
        ],
    );
    assert_eq!(read_only.code, 0, "{read_only:?}");
    let lines: Vec<&str> = read_only.stdout.lines().collect();
    assert!(
        lines.len() == 2 && lines.iter().all(|line| line.starts_with("healthy: ")),
        "{read_only:?}"
    );
    assert_eq!(snapshot(root.path()), before);
}
