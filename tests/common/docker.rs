//! The real `docker` CLI against this machine's engine: FROM scratch images built from a
//! context that holds our static binary and Debian's static busybox, containers, volumes
//! and compose stacks, all named hp-docker-TEST-WHAT-PID and removed by the sandbox's
//! guard when the test ends, pass or fail; and `docker inspect` read as JSON.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::system::{TempDir, static_binary};
use super::{notice, require};

/// Debian's busybox-static: one statically linked binary, so it runs FROM scratch.
const BUSYBOX: &str = "/bin/busybox";
/// How long a container may take to reach a health state on a busy 2-core machine.
const PATIENCE: Duration = Duration::from_secs(90);

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run docker")
}

/// Runs docker and returns its stdout, failing the test with stderr when it fails.
pub fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// stdout and stderr of a command, together.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The engine's version, or why there is none.
pub fn engine() -> &'static Result<String, String> {
    static ENGINE: OnceLock<Result<String, String>> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let output = Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("no docker CLI: {e}"))?;
        let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if output.status.success() && !version.is_empty() {
            Ok(version)
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    })
}

/// A `docker build` that runs on BuildKit (program and leading arguments; DOCKER_BUILDKIT=1
/// is set by `buildkit_build`), or why there is none. Docker's CLI 23 and later builds with
/// BuildKit only through the buildx plugin; without the plugin, the CLI that Debian's
/// docker.io ships beside a 20.10 engine (/usr/bin/docker) still has BuildKit built in.
pub fn buildkit() -> &'static Result<Vec<String>, String> {
    static BUILDKIT: OnceLock<Result<Vec<String>, String>> = OnceLock::new();
    BUILDKIT.get_or_init(|| {
        if docker(&["buildx", "version"]).status.success() {
            return Ok(vec!["docker".into(), "buildx".into(), "build".into()]);
        }
        let with_builtin_buildkit = |cli: &&str| -> bool {
            Command::new(cli)
                .args(["version", "--format", "{{.Client.Version}}"])
                .stdin(Stdio::null())
                .output()
                .ok()
                .and_then(|output| {
                    let version = String::from_utf8_lossy(&output.stdout).into_owned();
                    version.split('.').next()?.trim().parse::<u32>().ok()
                })
                .is_some_and(|major| major < 23)
        };
        ["docker", "/usr/bin/docker"]
            .into_iter()
            .find(with_builtin_buildkit)
            .map(|cli| vec![cli.to_string(), "build".into()])
            .ok_or_else(|| "docker buildx, or a docker CLI before 23 (Debian's docker.io)".into())
    })
}

/// A BuildKit `docker build` with these arguments; None (after a notice) where there is
/// no BuildKit client and this is not CI.
pub fn buildkit_build(test: &str, args: &[&str]) -> Option<Command> {
    let why = buildkit().as_ref().err().cloned().unwrap_or_default();
    if !require(buildkit().is_ok(), test, &format!("BuildKit ({why})")) {
        return None;
    }
    let cli = buildkit().as_ref().ok()?;
    let mut command = Command::new(&cli[0]);
    command
        .args(&cli[1..])
        .args(args)
        .env("DOCKER_BUILDKIT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Some(command)
}

/// A compose file brought up under a project name, to bring down again.
pub struct Stack {
    file: PathBuf,
    pub project: String,
    env: Vec<(String, String)>,
}

impl Stack {
    pub fn compose(&self, args: &[&str]) -> Output {
        let mut command = Command::new("docker-compose");
        command
            .arg("--project-name")
            .arg(&self.project)
            .arg("--file")
            .arg(&self.file)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command.output().expect("run docker-compose")
    }
}

/// What one test creates in Docker. Dropping it removes all of it, pass or fail.
pub struct Sandbox {
    test: String,
    context: TempDir,
    containers: Vec<String>,
    images: Vec<String>,
    volumes: Vec<String>,
    stacks: Vec<Stack>,
}

/// An image as built, and the --start-interval its HEALTHCHECK lost, if this engine
/// could not take it.
pub struct Built {
    pub tag: String,
    pub dropped_start_interval: Option<String>,
}

impl Sandbox {
    /// None (after a notice) when there is no engine and this is not CI. The build
    /// context holds `healthprobe` (the static binary) and `busybox`.
    pub fn new(test: &str) -> Option<Sandbox> {
        let why = engine().as_ref().err().cloned().unwrap_or_default();
        if !require(engine().is_ok(), test, &format!("a Docker engine ({why})")) {
            return None;
        }
        let context = TempDir::new(test);
        let dir = context.path();
        fs::copy(static_binary(), dir.join("healthprobe")).expect("copy healthprobe");
        fs::copy(BUSYBOX, dir.join("busybox")).expect("copy busybox (apt busybox-static)");
        Some(Sandbox {
            test: test.to_string(),
            context,
            containers: Vec::new(),
            images: Vec::new(),
            volumes: Vec::new(),
            stacks: Vec::new(),
        })
    }

    /// As `new`, for a test that also needs docker-compose.
    pub fn with_compose(test: &str) -> Option<Sandbox> {
        let sandbox = Sandbox::new(test)?;
        let compose = Command::new("docker-compose")
            .arg("version")
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|output| output.status.success());
        require(compose, test, "docker-compose").then_some(sandbox)
    }

    /// The build context, for the files a test's images need besides the two binaries.
    pub fn context(&self) -> &Path {
        self.context.path()
    }

    /// hp-docker-TEST-WHAT-PID: unique to this run, and easy to find if left behind.
    pub fn name(&self, what: &str) -> String {
        format!("hp-docker-{}-{what}-{}", self.test, std::process::id())
    }

    pub fn build(&mut self, what: &str, dockerfile: &str) -> Built {
        let tag = self.name(what);
        self.images.push(tag.clone());
        let output = self.build_as(&tag, dockerfile);
        if output.status.success() {
            return Built {
                tag,
                dropped_start_interval: None,
            };
        }
        let error = String::from_utf8_lossy(&output.stderr).into_owned();
        // Engines before 25 (API 1.44) do not know HEALTHCHECK --start-interval and fail
        // the build on it. There, and only there, the flag goes, and the caller gets its
        // value to probe the start period as briskly with --health-interval.
        let Some((without, value)) = without_start_interval(dockerfile)
            .filter(|_| error.contains("Unknown flag: start-interval"))
        else {
            panic!("docker build {tag}: {error}");
        };
        notice(&format!(
            "NOTICE {}: Docker Engine {} rejects HEALTHCHECK --start-interval (Engine 25+): \
             building without --start-interval={value}",
            self.test,
            engine().as_deref().unwrap_or("?"),
        ));
        let output = self.build_as(&tag, &without);
        assert!(
            output.status.success(),
            "docker build {tag}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Built {
            tag,
            dropped_start_interval: Some(value),
        }
    }

    fn build_as(&self, tag: &str, dockerfile: &str) -> Output {
        use std::io::Write;
        // --no-cache: tests build in parallel and remove their images when done; a layer
        // cached from another test's image can vanish mid-build ("failed to get digest").
        let mut child = Command::new("docker")
            .args([
                "build",
                "--no-cache",
                "--quiet",
                "--tag",
                tag,
                "--file",
                "-",
            ])
            .arg(self.context.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run docker build");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(dockerfile.as_bytes())
            .expect("write the Dockerfile");
        drop(stdin);
        child.wait_with_output().expect("docker build")
    }

    /// `docker run --detach --name NAME ARGS...`; returns NAME.
    pub fn run(&mut self, what: &str, args: &[impl AsRef<str>]) -> String {
        let name = self.name(what);
        self.containers.push(name.clone());
        let mut full = vec!["run", "--detach", "--name", &name];
        full.extend(args.iter().map(AsRef::as_ref));
        docker_ok(&full);
        name
    }

    /// A name for a container that the test runs itself (`docker run --name`), removed
    /// with the rest.
    pub fn container(&mut self, what: &str) -> String {
        let name = self.name(what);
        self.containers.push(name.clone());
        name
    }

    /// A name for an image that the test builds itself, removed with the rest.
    pub fn image(&mut self, what: &str) -> String {
        let name = self.name(what);
        self.images.push(name.clone());
        name
    }

    pub fn volume(&mut self, what: &str) -> String {
        let name = self.name(what);
        self.volumes.push(name.clone());
        docker_ok(&["volume", "create", &name]);
        name
    }

    /// A compose file under a project of its own, brought down with the rest.
    pub fn stack(&mut self, file: PathBuf, env: &[(&str, &str)]) -> &Stack {
        let project = self.name("stack");
        self.stacks.push(Stack {
            file,
            project,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        self.stacks.last().expect("the stack just added")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for stack in &self.stacks {
            let _ = stack.compose(&["down", "--volumes", "--remove-orphans", "--timeout", "1"]);
        }
        if !self.containers.is_empty() {
            let mut args = vec!["rm", "--force", "--volumes"];
            args.extend(self.containers.iter().map(String::as_str));
            let _ = docker(&args);
        }
        if !self.volumes.is_empty() {
            let mut args = vec!["volume", "rm", "--force"];
            args.extend(self.volumes.iter().map(String::as_str));
            let _ = docker(&args);
        }
        if !self.images.is_empty() {
            // By tag: an image that another test's tag shares is only untagged.
            let mut args = vec!["rmi", "--force"];
            args.extend(self.images.iter().map(String::as_str));
            let _ = docker(&args);
        }
    }
}

/// The HEALTHCHECK text without its --start-interval flag, and the flag's value.
pub fn without_start_interval(text: &str) -> Option<(String, String)> {
    const FLAG: &str = "--start-interval=";
    let start = text.find(FLAG)?;
    let rest = &text[start..];
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let value = rest[FLAG.len()..end].to_string();
    Some((
        format!("{}{}", &text[..start], rest[end..].trim_start()),
        value,
    ))
}

/// `docker inspect --format '{{json FIELD}}' OBJECT`, parsed.
pub fn inspect(object: &str, field: &str) -> Value {
    let text = docker_ok(&[
        "inspect",
        "--format",
        &format!("{{{{json {field}}}}}"),
        object,
    ]);
    serde_json::from_str(&text).expect("docker inspect gives JSON")
}

/// Waits until the container's health is `status`, and returns `.State.Health`.
pub fn wait_for(container: &str, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let state = inspect(container, ".State");
        let health = &state["Health"];
        if health["Status"] == status {
            return health.clone();
        }
        let logs = || text(&docker(&["logs", container]));
        assert!(
            state["Running"] == true,
            "{container} stopped before it was {status}: {state}\nlogs: {}",
            logs()
        );
        assert!(
            start.elapsed() < PATIENCE,
            "{container} not {status} after {PATIENCE:?}: {health}\nlogs: {}",
            logs()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// `State.Health.Log[-1]`: the newest check's exit code and output.
pub fn last_check(health: &Value) -> (i64, String) {
    let last = health["Log"]
        .as_array()
        .and_then(|log| log.last())
        .unwrap_or_else(|| panic!("no health log: {health}"));
    (
        last["ExitCode"].as_i64().unwrap_or(-1),
        last["Output"].as_str().unwrap_or_default().to_string(),
    )
}

/// `docker exec CONTAINER ARGS...`, its stdout.
pub fn exec(container: &str, args: &[&str]) -> String {
    let mut full = vec!["exec", container];
    full.extend_from_slice(args);
    docker_ok(&full)
}
