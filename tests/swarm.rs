//! Proven under an orchestrator: examples/stack.yaml deployed with `docker stack deploy` on a
//! single-node swarm of this machine's engine, and Swarm acting on what the probe says:
//! services turn healthy in the order their `--wait` entrypoints give, an unhealthy task is
//! replaced, a broken rollout rolls back while the old task keeps serving, a good one rolls
//! forward. The images are FROM scratch with our static binary and Debian's static busybox
//! (httpd for the api and web, nc stand-ins for the database and the cache); nothing is
//! pulled. The swarm is created here only when the engine is not in one already, and left
//! again at the end; every stack, secret and image a test creates is removed by a guard,
//! pass or fail. Without an engine a plain `cargo test` skips with a notice; under CI=true
//! it fails.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::common::docker::{docker, docker_ok, engine};
use crate::common::system::{root, static_binary};
use crate::common::{notice, require};

/// Debian's busybox-static: one statically linked binary, so it runs FROM scratch.
const BUSYBOX: &str = "/bin/busybox";
/// How long Swarm may take to converge on a busy, shared 2-core machine.
const PATIENCE: Duration = Duration::from_secs(120);
/// The stack's health timing, as examples/stack.yaml sets it.
const TIMING: &str =
    "interval 1s, timeout 3s, retries 3, stop_grace_period 3s, restart_policy delay 2s";
/// The stack's start_period: Engine 20.10 counts no failed check inside it, not even after
/// a first success.
const START_PERIOD: Duration = Duration::from_secs(20);

/// The api's /health: a directory whose index is this CGI (busybox httpd redirects /health
/// to /health/ and runs it), so the service can be flipped to 503 from inside.
const HEALTH_CGI: &str = "#!/bin/busybox sh\n\
    if [ -e /tmp/down ]; then\n\
    printf 'Status: 503 Service Unavailable\\r\\nContent-Type: text/plain\\r\\n\\r\\ndown\\n'\n\
    else\n\
    printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\n\
    fi\n";
/// The broken version: its health endpoint never answers within the probe's --timeout.
const HANGING_CGI: &str = "#!/bin/busybox sh\nexec /bin/busybox sleep 5\n";

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The swarm as this process uses it.
struct Swarm {
    /// Tests holding a lease now.
    users: usize,
    /// This process ran `swarm init`, so it leaves the swarm again.
    created: bool,
    /// `docker_gwbridge` (the bridge init creates and leave keeps) was new at that init.
    created_gwbridge: bool,
}

static SWARM: Mutex<Swarm> = Mutex::new(Swarm {
    users: 0,
    created: false,
    created_gwbridge: false,
});

/// A test's hold on the swarm: the first one in creates it if the engine is in none; the
/// last one out leaves it again, only if this process created it.
struct SwarmLease;

impl SwarmLease {
    fn take(test: &str) -> Option<SwarmLease> {
        let mut swarm = SWARM.lock().unwrap_or_else(|e| e.into_inner());
        if swarm.users == 0 {
            let state = docker_ok(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
            if state == "inactive" {
                let gwbridge = docker(&["network", "inspect", "docker_gwbridge"]);
                docker_ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
                swarm.created = true;
                swarm.created_gwbridge = !gwbridge.status.success();
            }
        }
        let manager = docker_ok(&["info", "--format", "{{.Swarm.ControlAvailable}}"]);
        if !require(manager == "true", test, "a swarm manager node") {
            return None;
        }
        swarm.users += 1;
        Some(SwarmLease)
    }
}

impl Drop for SwarmLease {
    fn drop(&mut self) {
        let mut swarm = SWARM.lock().unwrap_or_else(|e| e.into_inner());
        swarm.users -= 1;
        if swarm.users == 0 && swarm.created {
            // Another test process on this engine may have found our swarm and be using it:
            // the swarm goes once its services are gone too (or after PATIENCE regardless).
            let start = Instant::now();
            while !docker(&["service", "ls", "--quiet"]).stdout.is_empty() {
                if start.elapsed() > PATIENCE {
                    notice("NOTICE swarm: services of another process remain; leaving anyway");
                    break;
                }
                thread::sleep(Duration::from_secs(1));
            }
            let _ = docker(&["swarm", "leave", "--force"]);
            swarm.created = false;
            if swarm.created_gwbridge {
                let _ = docker(&["network", "rm", "docker_gwbridge"]);
            }
        }
    }
}

/// What one test creates. Dropping it removes all of it, pass or fail, then lets go of
/// the swarm (fields drop after `drop` has run).
struct Sandbox {
    test: String,
    context: PathBuf,
    stacks: Vec<String>,
    images: Vec<String>,
    /// The health endpoint's credential, as the probe sends it (base64 of probe:TOKEN).
    token: String,
    _swarm: SwarmLease,
}

impl Sandbox {
    /// None (after a notice) when there is no engine or swarm and this is not CI.
    fn new(test: &str) -> Option<Sandbox> {
        let engine = engine();
        let why = engine.as_ref().err().cloned().unwrap_or_default();
        if !require(engine.is_ok(), test, &format!("a Docker engine ({why})")) {
            return None;
        }
        if !require(Path::new(BUSYBOX).is_file(), test, "busybox-static") {
            return None;
        }
        let swarm = SwarmLease::take(test)?;
        let context = std::env::temp_dir().join(format!("hp-swarm-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&context);
        for (www, cgi) in [("www-good", HEALTH_CGI), ("www-broken", HANGING_CGI)] {
            fs::create_dir_all(context.join(www).join("health")).unwrap();
            fs::create_dir_all(context.join(www).join("cgi-bin")).unwrap();
            let script = context.join(www).join("cgi-bin/index.cgi");
            fs::write(&script, cgi).unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::copy(static_binary(), context.join("healthprobe")).expect("copy healthprobe");
        fs::copy(BUSYBOX, context.join("busybox")).expect("copy busybox");
        // A token of this run only: whatever the probe sends came from the environment.
        let secret = format!("{:x}{:x}", std::process::id(), unix_nanos());
        fs::write(
            context.join("api-httpd.conf"),
            format!("/health:probe:{secret}\n"),
        )
        .unwrap();
        Some(Sandbox {
            test: test.to_string(),
            context,
            stacks: Vec::new(),
            images: Vec::new(),
            token: base64(format!("probe:{secret}").as_bytes()),
            _swarm: swarm,
        })
    }

    /// hpswarm-TEST-WHAT-PID: unique to this run, and easy to find if left behind.
    fn name(&self, what: &str) -> String {
        format!("hpswarm-{}-{what}-{}", self.test, std::process::id())
    }

    /// A FROM scratch image: busybox, the probe, and the www tree of `version`
    /// (`good` or `broken`); `label` makes otherwise equal images distinct tags.
    fn build(&mut self, what: &str, version: &str) -> String {
        // With its tag spelled out, as Swarm writes it into the service's spec.
        let tag = format!("{}:test", self.name(what));
        self.images.push(tag.clone());
        let dockerfile = format!(
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY healthprobe /healthprobe\n\
             COPY www-{version} /www\nLABEL healthprobe.test.image={what}\n\
             USER 65534:65534\nENTRYPOINT [\"/bin/busybox\"]\n"
        );
        // --no-cache: a layer cached from another test's image can vanish mid-build.
        let mut child = Command::new("docker")
            .args([
                "build",
                "--no-cache",
                "--quiet",
                "--tag",
                &tag,
                "--file",
                "-",
            ])
            .arg(&self.context)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run docker build");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(dockerfile.as_bytes()).unwrap();
        drop(stdin);
        let output = child.wait_with_output().expect("docker build");
        assert!(
            output.status.success(),
            "docker build {tag}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        tag
    }

    /// `docker stack deploy` of examples/stack.yaml with `image`; returns the stack's name.
    fn deploy(&mut self, image: &str) -> String {
        let stack = self.name("stack");
        self.stacks.push(stack.clone());
        let output = Command::new("docker")
            .args([
                "stack",
                "deploy",
                "--resolve-image",
                "never",
                "--compose-file",
            ])
            .arg(root().join("examples/stack.yaml"))
            .arg(&stack)
            .env("HEALTHPROBE_STACK_IMAGE", image)
            .env("HEALTH_TOKEN", &self.token)
            .env("API_HTTPD_CONF", self.context.join("api-httpd.conf"))
            .stdin(Stdio::null())
            .output()
            .expect("run docker stack deploy");
        assert!(
            output.status.success(),
            "docker stack deploy: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        stack
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for stack in &self.stacks {
            let _ = docker(&["stack", "rm", stack]);
            let label = format!("label=com.docker.stack.namespace={stack}");
            // stack rm returns at once; the tasks' containers and the network go after it.
            let start = Instant::now();
            let left = || {
                let containers = docker(&["ps", "--all", "--quiet", "--filter", &label]);
                let networks = docker(&["network", "ls", "--quiet", "--filter", &label]);
                [containers, networks]
                    .iter()
                    .any(|output| !output.stdout.is_empty())
            };
            while left() && start.elapsed() < Duration::from_secs(60) {
                thread::sleep(Duration::from_millis(500));
            }
            for list in [
                ["ps", "--all", "--quiet", "--filter", &label],
                ["secret", "ls", "--quiet", "--filter", &label],
                ["network", "ls", "--quiet", "--filter", &label],
            ] {
                let ids = String::from_utf8_lossy(&docker(&list).stdout).into_owned();
                let mut args: Vec<&str> = match list[0] {
                    "ps" => vec!["rm", "--force"],
                    other => vec![other, "rm"],
                };
                args.extend(ids.split_whitespace());
                if args.len() > 2 {
                    let _ = docker(&args);
                }
            }
        }
        if !self.images.is_empty() {
            let mut args = vec!["rmi", "--force"];
            args.extend(self.images.iter().map(String::as_str));
            let _ = docker(&args);
        }
        let _ = fs::remove_dir_all(&self.context);
    }
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Standard base64 with padding, for the Basic credential.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// Every task of a service, history included, as `docker inspect` gives them.
fn tasks(service: &str) -> Vec<Value> {
    let ids = docker_ok(&["service", "ps", "--no-trunc", "--quiet", service]);
    let mut args = vec!["inspect"];
    args.extend(ids.split_whitespace());
    if args.len() == 1 {
        return Vec::new();
    }
    let output = docker(&args);
    serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap_or_default()
}

fn task_state(task: &Value) -> &str {
    task["Status"]["State"].as_str().unwrap_or_default()
}

fn container_of(task: &Value) -> String {
    task["Status"]["ContainerStatus"]["ContainerID"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `docker inspect` of a container (`.State`, `.HostConfig`, `.Config`...).
fn container(id: &str) -> Value {
    let text = docker_ok(&["inspect", id]);
    let mut all: Vec<Value> = serde_json::from_str(&text).expect("docker inspect gives JSON");
    all.pop().expect("one container")
}

/// The output of the newest check in a container's health log, and its exit code.
fn last_check(container: &Value) -> (i64, String) {
    let log = container["State"]["Health"]["Log"].as_array();
    let last = log.and_then(|log| log.last());
    (
        last.and_then(|check| check["ExitCode"].as_i64())
            .unwrap_or(-1),
        last.and_then(|check| check["Output"].as_str())
            .unwrap_or_default()
            .to_string(),
    )
}

/// What a stack looks like now, for a failure message.
fn picture(stack: &str) -> String {
    let output = docker(&[
        "stack",
        "ps",
        "--no-trunc",
        "--format",
        "{{.Name}} {{.Image}} {{.CurrentState}} {{.Error}}",
        stack,
    ]);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Polls `check` until it gives a value, or fails after PATIENCE with `what`.
fn eventually<T>(stack: &str, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{what}: not after {PATIENCE:?}\n{}",
            picture(stack)
        );
        thread::sleep(Duration::from_millis(250));
    }
}

/// The service's running task whose container Docker reports healthy: (task, container).
fn healthy_task(service: &str) -> Option<(Value, Value)> {
    tasks(service).into_iter().find_map(|task| {
        let running = task_state(&task) == "running" && task["DesiredState"] == "running";
        let id = container_of(&task);
        if !running || id.is_empty() {
            return None;
        }
        let container = container(&id);
        (container["State"]["Health"]["Status"] == "healthy").then_some((task, container))
    })
}

fn wait_healthy(stack: &str, service: &str) -> (Value, Value) {
    let name = format!("{stack}_{service}");
    eventually(stack, &format!("{name} healthy"), || healthy_task(&name))
}

fn task_by_id(service: &str, id: &Value) -> Value {
    tasks(service)
        .into_iter()
        .find(|task| task["ID"] == *id)
        .unwrap_or_else(|| panic!("task {id} of {service} is gone"))
}

/// `docker service logs` of a service, both streams.
fn service_logs(service: &str) -> String {
    let output = docker(&["service", "logs", "--raw", service]);
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn update_state(service: &str) -> String {
    let output = docker(&[
        "service",
        "inspect",
        "--format",
        "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
        service,
    ]);
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn service_image(service: &str) -> String {
    docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        service,
    ])
}

/// `docker exec CONTAINER ARGS...`: (exit code, stdout + stderr).
fn exec(container: &str, args: &[&str]) -> (i32, String) {
    let mut full = vec!["exec", container];
    full.extend_from_slice(args);
    let output = docker(&full);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn stack_services_turn_healthy_in_wait_order_within_their_limits() {
    let Some(mut sandbox) = Sandbox::new("order") else {
        return;
    };
    let image = sandbox.build("good", "good");
    let since = unix_seconds() - 1;
    let stack = sandbox.deploy(&image);

    let lines = [
        (
            "db",
            "healthy: postgres://localhost:5432: accepting connections",
        ),
        ("cache", "healthy: redis://localhost:6379: PONG"),
        // Through busybox's redirect from /health to its CGI, with the Basic credential
        // that came from the deployer's environment (httpd answers 401 without it).
        (
            "api",
            "healthy: http://localhost:8080/health: 200 OK after 1 redirect",
        ),
        (
            "web",
            "healthy: http://localhost:8081/health: 200 OK after 1 redirect",
        ),
    ];
    let mut api = String::new();
    for (service, line) in lines {
        let (_, container) = wait_healthy(&stack, service);
        let (code, output) = last_check(&container);
        assert_eq!(code, 0, "{service}: {output}");
        assert!(
            output.starts_with(line),
            "{service}: expected '{line}': {output}"
        );
        // The stack file's limits reached the container, and the probe ran inside them.
        let host = &container["HostConfig"];
        assert_eq!(host["Memory"], 16 * 1024 * 1024, "{service}: {host}");
        assert_eq!(host["NanoCpus"], 250_000_000, "{service}: {host}");
        assert_eq!(host["PidsLimit"], 32, "{service}: {host}");
        assert_eq!(host["ReadonlyRootfs"], true, "{service}: {host}");
        assert_eq!(container["Config"]["User"], "65534:65534", "{service}");
        assert_eq!(container["State"]["OOMKilled"], false, "{service}");
        if service == "api" {
            api = container["Id"].as_str().unwrap().to_string();
        }
    }

    // Without the header the api refuses: the credential is what made it healthy.
    let (code, output) = exec(&api, &["/healthprobe", "http://localhost:8080/health"]);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("401 Unauthorized"), "{output}");

    // The order: each --wait entrypoint saw its dependencies healthy before it became the
    // service, and the engine saw them turn healthy first.
    let api_logs = service_logs(&format!("{stack}_api"));
    for line in [
        "healthy: postgres://db:5432: accepting connections from ",
        "healthy: redis://cache:6379: PONG from ",
    ] {
        assert!(
            api_logs.contains(line),
            "api's --wait: no '{line}':\n{api_logs}"
        );
    }
    let web_logs = service_logs(&format!("{stack}_web"));
    assert!(
        web_logs.contains("healthy: http://api:8080/health: 200 OK after 1 redirect from "),
        "web's --wait:\n{web_logs}"
    );
    let events = docker_ok(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &(unix_seconds() + 1).to_string(),
        "--filter",
        &format!("label=com.docker.stack.namespace={stack}"),
        "--filter",
        "event=health_status",
        "--format",
        "{{index .Actor.Attributes \"com.docker.swarm.service.name\"}} {{.Action}}",
    ]);
    let events: Vec<&str> = events.lines().collect();
    let first_healthy = |service: &str| {
        let event = format!("{stack}_{service} health_status: healthy");
        events
            .iter()
            .position(|line| *line == event)
            .unwrap_or_else(|| panic!("no '{event}' in {events:#?}"))
    };
    for (dependency, dependant) in [("db", "api"), ("cache", "api"), ("api", "web")] {
        assert!(
            first_healthy(dependency) < first_healthy(dependant),
            "{dependant} healthy before {dependency}: {events:#?}"
        );
    }
}

#[test]
fn a_task_that_turns_unhealthy_is_replaced() {
    let Some(mut sandbox) = Sandbox::new("replace") else {
        return;
    };
    let image = sandbox.build("good", "good");
    let stack = sandbox.deploy(&image);
    let service = format!("{stack}_api");
    let (old, container) = wait_healthy(&stack, "api");
    let old_container = container["Id"].as_str().unwrap().to_string();
    // The container started before it was seen healthy: past this, its start period is over
    // and a failed check counts.
    thread::sleep(START_PERIOD + Duration::from_millis(500));

    // The service starts answering 503.
    let (code, output) = exec(&old_container, &["/bin/busybox", "touch", "/tmp/down"]);
    assert_eq!(code, 0, "{output}");
    let flipped = Instant::now();

    let unhealthy = eventually(&stack, "the old task's container unhealthy", || {
        let state = &container_or_gone(&old_container)["State"];
        (state["Health"]["Status"] != "healthy").then(Instant::now)
    });
    let failed = eventually(&stack, "the old task failed", || {
        let task = task_by_id(&service, &old["ID"]);
        (task_state(&task) != "running").then_some(task)
    });
    let failed_at = Instant::now();
    let error = failed["Status"]["Err"].as_str().unwrap_or_default();
    assert!(error.contains("unhealthy container"), "{failed}");
    // The checks that failed it, in the health log Docker keeps (five at most; the newest
    // may be one cut short as the container was stopped).
    let health = &container_or_gone(&old_container)["State"]["Health"];
    if !health.is_null() {
        let said_503 = health["Log"].as_array().is_some_and(|log| {
            log.iter().any(|check| {
                check["ExitCode"] == 1
                    && check["Output"]
                        .as_str()
                        .is_some_and(|output| output.contains(" 503 Service Unavailable "))
            })
        });
        assert!(said_503, "no 503 in the old task's health log: {health}");
    }

    let (new, _) = eventually(&stack, "a new api task healthy", || {
        healthy_task(&service).filter(|(task, _)| task["ID"] != old["ID"])
    });
    let replaced = Instant::now();
    assert_eq!(task_state(&new), "running");
    let seconds = |from: Instant, to: Instant| (to - from).as_secs_f64();
    notice(&format!(
        "MEASURED replace: api answers 503 -> its container unhealthy after {:.1} s -> \
         old task failed (\"{error}\") after {:.1} s -> new task running and healthy after \
         {:.1} s; unhealthy -> replacement healthy: {:.1} s ({TIMING})",
        seconds(flipped, unhealthy),
        seconds(flipped, failed_at),
        seconds(flipped, replaced),
        seconds(unhealthy, replaced),
    ));
}

/// A container's inspect, or Null once Swarm has removed it.
fn container_or_gone(id: &str) -> Value {
    let output = docker(&["inspect", id]);
    serde_json::from_slice::<Vec<Value>>(&output.stdout)
        .ok()
        .and_then(|mut all| all.pop())
        .unwrap_or(Value::Null)
}

#[test]
fn a_broken_rollout_rolls_back_and_a_good_one_rolls_forward() {
    let Some(mut sandbox) = Sandbox::new("rollout") else {
        return;
    };
    let good = sandbox.build("good", "good");
    let broken = sandbox.build("broken", "broken");
    let next = sandbox.build("next", "good");
    let stack = sandbox.deploy(&good);
    let service = format!("{stack}_api");
    let (old, container) = wait_healthy(&stack, "api");
    let old_container = container["Id"].as_str().unwrap().to_string();
    let serving = |container: &str| {
        let header = format!("Authorization: Basic {}", sandbox.token);
        exec(
            container,
            &[
                "/healthprobe",
                "-H",
                &header,
                "http://localhost:8080/health",
            ],
        )
    };

    // The broken version starts next to the old one, never turns healthy, and the service
    // goes back to the old spec; the old task serves throughout.
    let update = |image: &str| {
        docker_ok(&[
            "service",
            "update",
            "--detach",
            "--no-resolve-image",
            "--image",
            image,
            &service,
        ])
    };
    update(&broken);
    let started = Instant::now();
    eventually(&stack, "the broken rollout rolled back", || {
        let task = task_by_id(&service, &old["ID"]);
        assert_eq!(task_state(&task), "running", "the old task stopped: {task}");
        (update_state(&service) == "rollback_completed").then_some(())
    });
    let rolled_back_after = started.elapsed();
    assert_eq!(service_image(&service), good);
    let broken_tasks: Vec<Value> = tasks(&service)
        .into_iter()
        .filter(|task| task["Spec"]["ContainerSpec"]["Image"] == broken.as_str())
        .collect();
    assert!(!broken_tasks.is_empty(), "no task of the broken version");
    for task in &broken_tasks {
        assert_ne!(task_state(task), "running", "{task}");
        assert_eq!(task["DesiredState"], "shutdown", "{task}");
    }
    let (code, output) = serving(&old_container);
    assert_eq!(code, 0, "the old task no longer serves: {output}");

    // A good version: started next to the old one, which goes only once the new is healthy.
    update(&next);
    let started = Instant::now();
    let mut overlap = false;
    eventually(&stack, "the good rollout completed", || {
        let all = tasks(&service);
        let old_running = all
            .iter()
            .any(|task| task["ID"] == old["ID"] && task_state(task) == "running");
        let new_running = all.iter().any(|task| {
            task["Spec"]["ContainerSpec"]["Image"] == next.as_str() && task_state(task) == "running"
        });
        overlap |= old_running && !new_running;
        assert!(
            old_running || new_running,
            "no api task running during the update:\n{}",
            picture(&stack)
        );
        (update_state(&service) == "completed").then_some(())
    });
    let rolled_forward_after = started.elapsed();
    assert!(
        overlap,
        "the old task was not kept while the new one started"
    );
    let (new, new_container) = healthy_task(&service).expect("a healthy api task");
    assert_eq!(new["Spec"]["ContainerSpec"]["Image"], next.as_str());
    assert_eq!(task_by_id(&service, &old["ID"])["DesiredState"], "shutdown");
    let (code, output) = serving(new_container["Id"].as_str().unwrap());
    assert_eq!(code, 0, "{output}");
    notice(&format!(
        "MEASURED rollout: broken version rolled back after {:.1} s, good version completed \
         after {:.1} s (start_period 20s, monitor 35s, {TIMING})",
        rolled_back_after.as_secs_f64(),
        rolled_forward_after.as_secs_f64(),
    ));
}
