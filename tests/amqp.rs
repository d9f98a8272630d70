//! amqp:// against a real rabbitmq-server, started once per test process (it takes
//! seconds) on free loopback ports with its own node name, data and log directories,
//! and scripted servers for the other protocol headers.
use crate::common::system::TempDir;
use crate::common::*;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// A broker's AMQP port. The statics of a test process are never dropped, so a shell
/// supervisor stops the broker (and the epmd it started) once this process is gone.
struct Rabbit {
    port: u16,
    /// Never waited for: it outlives this process, to stop the broker after it.
    _supervisor: Child,
    _dir: TempDir,
}

fn rabbit() -> Option<&'static Rabbit> {
    static RABBIT: OnceLock<Option<Rabbit>> = OnceLock::new();
    let installed = std::path::Path::new(RABBITMQ_SERVER).exists();
    if !require(installed, "amqp", "rabbitmq-server") {
        return None;
    }
    RABBIT.get_or_init(start).as_ref()
}

fn start() -> Option<Rabbit> {
    let dir = TempDir::new("rabbitmq");
    let port = free_port();
    let epmd_port = free_port().to_string();
    std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("write enabled_plugins");
    std::fs::write(dir.join("rabbitmq.conf"), "").expect("write rabbitmq.conf");
    let supervisor = format!(
        "{RABBITMQ_SERVER} >{log} 2>&1 & \
         while kill -0 {parent} 2>/dev/null; do sleep 1; done; \
         trap '' TERM; kill -TERM -$$; wait; \
         epmd -kill >/dev/null 2>&1; rm -rf {dir}",
        log = dir.join("server.log"),
        parent = std::process::id(),
        dir = dir.join(""),
    );
    let supervisor = Command::new("sh")
        .args(["-c", &supervisor])
        .env("HOME", dir.path())
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", port.to_string())
        .env("RABBITMQ_DIST_PORT", free_port().to_string())
        .env(
            "RABBITMQ_NODENAME",
            format!("hp-test-{}@localhost", std::process::id()),
        )
        .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", dir.join("log"))
        .env("RABBITMQ_PID_FILE", dir.join("rabbitmq.pid"))
        .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
        .env("ERL_EPMD_PORT", &epmd_port)
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start rabbitmq-server");
    let rabbit = Rabbit {
        port,
        _supervisor: supervisor,
        _dir: dir,
    };
    assert!(
        wait_for_port(port, Duration::from_secs(90)),
        "rabbitmq-server did not listen on {port}"
    );
    Some(rabbit)
}

#[test]
fn a_running_rabbitmq_sends_connection_start() {
    let Some(rabbit) = rabbit() else { return };
    let target = format!("amqp://127.0.0.1:{}", rabbit.port);
    let run = probe(&[&target]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!("healthy: {target}: Connection.Start, AMQP 0-9, RabbitMQ 3.");
    assert!(run.stdout.starts_with(&expected), "{run:?}");
    assert!(
        run.stdout
            .contains(&format!(" from 127.0.0.1:{} in ", rabbit.port))
    );
}

#[test]
fn the_apps_url_with_credentials_and_vhost_is_probed_as_it_is() {
    let Some(rabbit) = rabbit() else { return };
    let target = format!("amqp://guest:s3cret@localhost:{}/%2f", rabbit.port);
    let run = probe(&[&target]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.starts_with("healthy: amqp://***@localhost:"),
        "{run:?}"
    );
    assert!(!run.output().contains("s3cret"), "{run:?}");
}

#[test]
fn an_amqp_1_0_server_is_named() {
    let server = Server::greet(Greeting::Bytes(b"AMQP\x00\x01\x00\x00".to_vec()));
    let target = format!("amqp://127.0.0.1:{}", server.port());
    expect(&[&target], 1, "an AMQP 1.0 server, not 0-9-1");

    let server = Server::greet(Greeting::Bytes(b"AMQP\x03\x01\x00\x00".to_vec()));
    let target = format!("amqp://127.0.0.1:{}", server.port());
    expect(&[&target], 1, "an AMQP 1.0 server, not 0-9-1");

    // Qpid's 0-10.
    let server = Server::greet(Greeting::Bytes(b"AMQP\x01\x01\x00\x0a".to_vec()));
    let target = format!("amqp://127.0.0.1:{}", server.port());
    expect(
        &[&target],
        1,
        "an AMQP server of protocol 1-1-0-10, not 0-9-1",
    );
}

#[test]
fn a_scripted_connection_start_names_the_product() {
    // Connection.Start 0-9 with server-properties {capabilities: F{}, product: "Fake"}.
    let mut properties = Vec::new();
    properties.extend_from_slice(b"\x0ccapabilitiesF\x00\x00\x00\x00");
    properties.extend_from_slice(b"\x07productS\x00\x00\x00\x04Fake");
    let mut payload = vec![0, 10, 0, 10, 0, 9];
    payload.extend_from_slice(&(properties.len() as u32).to_be_bytes());
    payload.extend_from_slice(&properties);
    payload.extend_from_slice(b"\x00\x00\x00\x05PLAIN\x00\x00\x00\x05en_US");
    let mut frame = vec![1, 0, 0];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    frame.push(0xce);
    let server = Server::start(Reply::Answer(frame));
    let target = format!("amqp://127.0.0.1:{}", server.port());
    let run = expect(&[&target], 0, "Connection.Start, AMQP 0-9, Fake from");
    assert_eq!(server.request(), "AMQP\0\0\u{9}\u{1}", "{run:?}");
}
