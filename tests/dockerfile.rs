//! Dockerfile.example, built as a user builds it: BuildKit in the local engine runs its
//! builder stage and gives its default (probe-only) and service stages, for amd64 and, cross
//! compiled on this amd64 builder, arm64. No image can be pulled here, so the builder is a
//! local stand-in for the official Rust image (tests/rust-builder.sh: Debian bookworm with
//! this machine's rustup toolchain, offline), passed as `--build-arg RUST_IMAGE`. The first
//! run makes it and compiles cargo-auditable and the dependencies; later runs find the image
//! and BuildKit's cached layers.

use crate::common::docker::{
    Sandbox, buildkit_build, docker, docker_ok, inspect, last_check, text, wait_for,
    without_start_interval,
};
use crate::common::system::{TempDir, is_root, root};
use crate::common::{notice, require};

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

const QEMU: &str = "/usr/bin/qemu-aarch64-static";

/// The stand-in builder's tag, made (or found) once per test process.
fn rust_image(test: &str) -> Option<&'static str> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    let available = is_root() && Path::new("/usr/sbin/debootstrap").exists();
    if !require(available, test, "root and debootstrap (apt debootstrap)") {
        return None;
    }
    let image = IMAGE.get_or_init(|| {
        let output = Command::new("bash")
            .arg(root().join("tests/rust-builder.sh"))
            .output()
            .map_err(|e| format!("run tests/rust-builder.sh: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    });
    match image {
        Ok(tag) => Some(tag),
        Err(error) => panic!("tests/rust-builder.sh failed:\n{error}"),
    }
}

/// Dockerfile.example as this engine can take it: engines before 25 reject HEALTHCHECK
/// --start-interval (in the service stage) and fail the whole file on it, so there, and
/// only there, the flag goes.
fn dockerfile() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = fs::read_to_string(root().join("Dockerfile.example")).unwrap();
        let major = crate::common::docker::engine()
            .as_ref()
            .ok()
            .and_then(|version| version.split('.').next()?.parse::<u32>().ok());
        if major.is_some_and(|major| major < 25) {
            notice("NOTICE dockerfile: engine before 25: building without --start-interval");
            while let Some((without, _)) = without_start_interval(&text) {
                text = without;
            }
        }
        text
    })
}

/// Builds Dockerfile.example with BuildKit, with the stand-in as RUST_IMAGE, and these
/// arguments (--platform, --target, --tag or --output). None where the test is skipped.
fn build(test: &str, args: &[&str]) -> Option<()> {
    // One build at a time: the machine has two cores, and a build that waits reuses the
    // layers (cargo-auditable, the dependencies) that the one before it made.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let engine = crate::common::docker::engine();
    let why = engine.as_ref().err().cloned().unwrap_or_default();
    if !require(engine.is_ok(), test, &format!("a Docker engine ({why})")) {
        return None;
    }
    let rust_image = format!("RUST_IMAGE={}", rust_image(test)?);
    let mut full = vec![
        "--progress",
        "plain",
        "--build-arg",
        &rust_image,
        "--file",
        "-",
    ];
    full.extend_from_slice(args);
    let mut command = buildkit_build(test, &full)?;
    command.arg(root());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = command.spawn().expect("run docker build");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(dockerfile().as_bytes())
        .expect("write the Dockerfile");
    drop(stdin);
    let output = child.wait_with_output().expect("docker build");
    assert!(
        output.status.success(),
        "docker build {}:\n{}",
        args.join(" "),
        text(&output)
    );
    Some(())
}

/// `Machine:` of the ELF header, as readelf names it.
fn machine(binary: &Path) -> String {
    let output = Command::new("readelf")
        .arg("-hW")
        .arg(binary)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.trim().strip_prefix("Machine:"))
        .map(|machine| machine.trim().to_string())
        .unwrap_or_else(|| panic!("no ELF header in {}", binary.display()))
}

fn assert_static(binary: &Path) {
    let output = Command::new("bash")
        .arg(root().join("scripts/check-static.sh"))
        .arg(binary)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
}

#[test]
fn default_stage_is_the_static_probe_alone() {
    let Some(mut sandbox) = Sandbox::new("dockerfile-default") else {
        return;
    };
    let tag = sandbox.image("probe-only");
    // No --target: the last stage is what `docker build -f Dockerfile.example .` gives.
    if build(
        "dockerfile-default",
        &["--platform", "linux/amd64", "--tag", &tag],
    )
    .is_none()
    {
        return;
    }
    let config = inspect(&tag, ".Config");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/healthprobe"]));
    assert_eq!(config["User"], "65534:65534");
    assert_eq!(inspect(&tag, ".Architecture"), "amd64");
    // One layer: the COPY of /healthprobe, on scratch.
    let layers = inspect(&tag, ".RootFS.Layers");
    assert_eq!(layers.as_array().map(Vec::len), Some(1), "{layers}");

    // Its ENTRYPOINT runs: --help exits 0 with the usage, without a network.
    let output = docker(&["run", "--rm", "--network", "none", &tag, "--help"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("Usage: healthprobe"),
        "{}",
        text(&output)
    );

    // The file it holds is the static x86_64 musl build.
    let container = sandbox.container("probe-only-copy");
    docker_ok(&["create", "--name", &container, &tag]);
    let out = TempDir::new("dockerfile-default");
    docker_ok(&[
        "cp",
        &format!("{container}:/healthprobe"),
        &out.join("healthprobe"),
    ]);
    let binary = out.path().join("healthprobe");
    assert_eq!(machine(&binary), "Advanced Micro Devices X86-64");
    assert_static(&binary);
}

#[test]
fn service_stage_goes_healthy_around_a_service() {
    let Some(mut sandbox) = Sandbox::new("dockerfile-service") else {
        return;
    };
    let stage = sandbox.image("service");
    let built = build(
        "dockerfile-service",
        &[
            "--platform",
            "linux/amd64",
            "--target",
            "service",
            "--tag",
            &stage,
        ],
    );
    if built.is_none() {
        return;
    }
    let config = inspect(&stage, ".Config");
    assert_eq!(
        config["Healthcheck"]["Test"],
        serde_json::json!([
            "CMD",
            "/healthprobe",
            "--timeout",
            "2s",
            "http://localhost:8080/health"
        ]),
        "{config}"
    );
    assert_eq!(config["User"], "65534:65534");
    // Until the user adds their /app, the stage starts nothing: no ENTRYPOINT that points
    // at a file the image does not have.
    assert!(config["Entrypoint"].is_null(), "{config}");

    // The user's service in its place: busybox httpd on 8080, as the stage's user.
    let dir = sandbox.context();
    fs::create_dir(dir.join("www")).expect("create www");
    fs::write(dir.join("www/health"), "ok\n").expect("write www/health");
    let app = format!(
        "FROM {stage}\n\
         COPY busybox /bin/busybox\n\
         COPY www /www\n\
         ENTRYPOINT [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
    );
    let image = sandbox.build("service-app", &app).tag;
    // Its own check, its own timeout; only probed every second instead of every 30 s.
    let container = sandbox.run("service-app", &["--health-interval=1s", &image]);
    let health = wait_for(&container, "healthy");
    let (code, output) = last_check(&health);
    assert_eq!(code, 0, "{health}");
    assert!(
        output.starts_with("healthy: http://localhost:8080/health: 200 OK"),
        "{health}"
    );
}

#[test]
fn arm64_stage_is_cross_compiled_on_the_build_platform() {
    let test = "dockerfile-arm64";
    let available = Path::new(QEMU).exists();
    if !require(
        available,
        test,
        "qemu-aarch64-static (apt qemu-user-static)",
    ) {
        return;
    }
    let Some(mut sandbox) = Sandbox::new(test) else {
        return;
    };
    // The builder stage runs on this amd64 machine ($BUILDPLATFORM) and cross-compiles
    // for the platform asked: no emulation of the build, only of the result below.
    let tag = sandbox.image("probe-only-arm64");
    if build(test, &["--platform", "linux/arm64", "--tag", &tag]).is_none() {
        return;
    }
    assert_eq!(inspect(&tag, ".Architecture"), "arm64");
    assert_eq!(
        inspect(&tag, ".Config.Entrypoint"),
        serde_json::json!(["/healthprobe"])
    );

    // The same stage's files, exported: /healthprobe, a static aarch64 ELF that runs.
    let out = TempDir::new(test);
    let dest = format!("type=local,dest={}", out.path().display());
    build(test, &["--platform", "linux/arm64", "--output", &dest]);
    let binary = out.path().join("healthprobe");
    assert_eq!(machine(&binary), "AArch64");
    assert_static(&binary);
    let output = Command::new(QEMU)
        .arg(&binary)
        .arg("--help")
        .env_clear()
        .output()
        .expect("run qemu-aarch64-static");
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("Usage: healthprobe"),
        "{}",
        text(&output)
    );
    let entries: Vec<_> = fs::read_dir(out.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "the stage holds /healthprobe alone");
}
