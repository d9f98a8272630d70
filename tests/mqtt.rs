//! mqtt:// against a real mosquitto the test starts (compared with mosquitto_pub when
//! mosquitto-clients is installed), and scripted CONNACKs for the codes mosquitto will not
//! send on demand.
use crate::common::system::TempDir;
use crate::common::*;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A mosquitto on 127.0.0.1 with the given settings, killed when dropped.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Mosquitto {
    fn start(settings: &str) -> Option<Mosquitto> {
        let installed = Command::new("mosquitto")
            .arg("-h")
            .output()
            .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("mosquitto"));
        if !require(installed, "mqtt", "mosquitto") {
            return None;
        }
        let dir = TempDir::new("mqtt");
        let port = free_port();
        let config = dir.join("mosquitto.conf");
        let text = format!("listener {port} 127.0.0.1\npersistence false\n{settings}\n");
        std::fs::write(&config, text).expect("write mosquitto.conf");
        let child = Command::new("mosquitto")
            .args(["-c", &config])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let mosquitto = Mosquitto {
            child,
            port,
            _dir: dir,
        };
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "mosquitto did not listen on {port}"
        );
        Some(mosquitto)
    }

    /// mosquitto_pub's exit code for an MQTT 3.1.1 publish without credentials (the
    /// CONNACK return code), when mosquitto-clients is installed.
    fn reference_code(&self) -> Option<i32> {
        let output = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-V", "mqttv311", "-t", "healthprobe", "-m", "test"])
            .output()
            .ok()?;
        output.status.code()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[test]
fn anonymous_mosquitto_accepts_the_connection() {
    let Some(mosquitto) = Mosquitto::start("allow_anonymous true") else {
        return;
    };
    let run = probe(&[&format!("mqtt://localhost:{}", mosquitto.port)]);
    assert_eq!(run.code, 0, "{run:?}");
    let expected = format!(
        "healthy: mqtt://localhost:{port}: connection accepted from 127.0.0.1:{port}",
        port = mosquitto.port
    );
    assert!(run.stdout.starts_with(&expected), "{run:?}");
    if let Some(code) = mosquitto.reference_code() {
        assert_eq!(code, 0, "mosquitto_pub disagrees");
    }
}

/// mosquitto answers a CONNECT without credentials with return code 5, not 4.
#[test]
fn mosquitto_without_anonymous_access_is_not_authorized() {
    let Some(mosquitto) = Mosquitto::start("allow_anonymous false") else {
        return;
    };
    let run = probe(&[&format!("mqtt://127.0.0.1:{}", mosquitto.port)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("connection refused: 5 not authorized from"),
        "{run:?}"
    );
    if let Some(code) = mosquitto.reference_code() {
        assert_eq!(code, 5, "mosquitto_pub exits with the CONNACK code");
    }
}

#[test]
fn each_refusal_code_is_named_and_the_connect_is_3_1_1() {
    for (code, name) in [
        (1, "unacceptable protocol version"),
        (2, "identifier rejected"),
        (3, "server unavailable"),
        (4, "bad user name or password"),
        (5, "not authorized"),
        (6, "return code 6"),
    ] {
        let server = Server::start(Reply::Answer(vec![0x20, 0x02, 0, code]));
        let run = probe(&[&format!("mqtt://127.0.0.1:{}", server.port())]);
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains(name), "{code}: {run:?}");
        let connect = &server.requests()[0];
        // CONNECT, its remaining length, "MQTT" level 4, clean session, keep alive 10 s.
        let bytes = connect.as_bytes();
        assert_eq!(bytes[0], 0x10, "{connect:?}");
        assert_eq!(usize::from(bytes[1]), bytes.len() - 2, "{connect:?}");
        assert!(
            connect[2..].starts_with("\0\u{4}MQTT\u{4}\u{2}\0\n\0"),
            "{connect:?}"
        );
        assert!(connect.contains("healthprobe-"), "{connect:?}");
    }
}

/// No login is sent, so credentials are refused, and the usage error masks them.
#[test]
fn credentials_in_a_mqtt_url_are_refused_and_masked() {
    for target in ["mqtt://probe:s3cret@localhost", "mqtt://s3cret@localhost"] {
        let run = probe(&[target]);
        assert_eq!(run.code, 64, "{target}: {run:?}");
        assert!(run.stderr.contains("credentials"), "{target}: {run:?}");
        assert!(run.stderr.contains("***@localhost"), "{target}: {run:?}");
        assert!(!run.stderr.contains("s3cret"), "{target}: {run:?}");
    }
}
