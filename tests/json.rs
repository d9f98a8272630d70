//! --json POINTER[=VALUES]: the value in a JSON body decides, as in Elasticsearch's
//! `/_cluster/health` or an actuator's `/health`. Against a Python http.server the test
//! starts, and scripted servers for the bodies no real one sends (hostile, cut, invalid).
use crate::common::python::Python;
use crate::common::*;

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn json(body: &str) -> Reply {
    http("200 OK", &[JSON], body)
}

const CLUSTER: &str = r#"{"cluster_name":"es","status":"green","number_of_nodes":3,
"checks":{"db":{"status":"UP"}},"items":[{"state":"ready"},{"state":"starting"}],
"a/b":{"m~n":"odd keys"},"ready":true,"paused":false,"gone":null,"ratio":0.5}"#;

#[test]
fn values_at_pointers_decide() {
    check(vec![
        Case::new("one of the values", &["--json", "/status=green,yellow", "{url}/h"])
            .server(json(CLUSTER))
            .healthy(r#"healthy: {url}/h: 200 OK, /status is "green" from {addr} in "#),
        Case::new("not one of them", &["--json", "/status=green,yellow", "{url}/h"])
            .server(json(r#"{"status":"red"}"#))
            .unhealthy(
                r#"unhealthy: {url}/h: 200 OK but /status is "red" (expected green,yellow) from {addr} in "#,
            ),
        Case::new(
            "nested objects, arrays, ~0 and ~1, every check",
            &[
                "--json",
                "/checks/db/status=UP",
                "--json",
                "/items/0/state=ready",
                "--json",
                "/a~1b/m~0n=odd keys",
                "{url}/h",
            ],
        )
        .server(json(CLUSTER))
        .healthy(r#"/checks/db/status is "UP", /items/0/state is "ready", /a~1b/m~0n is "odd keys""#),
        Case::new(
            "every check must hold",
            &["--json", "/status=green", "--json", "/items/1/state=ready", "{url}/h"],
        )
        .server(json(CLUSTER))
        .unhealthy(r#"200 OK but /items/1/state is "starting" (expected ready)"#),
        Case::new(
            "numbers, booleans and null by their JSON text",
            &[
                "--json",
                "/number_of_nodes=3",
                "--json",
                "/ready=true",
                "--json",
                "/paused=false",
                "--json",
                "/gone=null",
                "--json",
                "/ratio=0.5",
                "{url}/h",
            ],
        )
        .server(json(CLUSTER))
        .healthy("/number_of_nodes is 3, /ready is true, /paused is false, /gone is null, /ratio is 0.5"),
        Case::new("a number is not a string", &["--json", "/status=3", "{url}/h"])
            .server(json(r#"{"status":"3"}"#))
            .healthy(r#"/status is "3""#),
        Case::new("3.0 is not 3", &["--json", "/n=3", "{url}/h"])
            .server(json(r#"{"n":3.0}"#))
            .unhealthy("200 OK but /n is 3.0 (expected 3)"),
        Case::new("present", &["--json", "/ready", "--json", "/items", "{url}/h"])
            .server(json(CLUSTER))
            .healthy("/ready is true, /items is an array"),
        Case::new("present but false", &["--json", "/paused", "{url}/h"])
            .server(json(CLUSTER))
            .unhealthy("200 OK but /paused is false (expected present, not null or false)"),
        Case::new("present but null", &["--json", "/gone", "{url}/h"])
            .server(json(CLUSTER))
            .unhealthy("200 OK but /gone is null (expected present, not null or false)"),
        Case::new("a missing pointer", &["--json", "/health/status=UP", "{url}/h"])
            .server(json(CLUSTER))
            .unhealthy("200 OK but /health/status is not in the JSON body"),
        Case::new("an index past the end", &["--json", "/items/2/state", "{url}/h"])
            .server(json(CLUSTER))
            .unhealthy("200 OK but /items/2/state is not in the JSON body"),
        Case::new("the status rule first", &["--json", "/status=green", "{url}/h"])
            .server(http("503 Service Unavailable", &[JSON], r#"{"status":"green"}"#))
            .unhealthy("503 Service Unavailable (expected 200-399) from"),
        Case::new(
            "with --body-contains, one read",
            &["--body-contains", "cluster_name", "--json", "/status=green", "{url}/h"],
        )
        .server(json(CLUSTER))
        .healthy(r#"200 OK, /status is "green""#),
        Case::new("HEALTHPROBE_JSON, one check a line", &["{url}/h"])
            .env("HEALTHPROBE_JSON", "/status=green\n\n/checks/db/status=UP\n")
            .server(json(CLUSTER))
            .healthy(r#"200 OK, /status is "green", /checks/db/status is "UP""#),
        Case::new("${VAR} in a check", &["--json", "/status=${WANTED}", "{url}/h"])
            .env("WANTED", "green")
            .server(json(CLUSTER))
            .healthy(r#"/status is "green""#),
    ]);
}

#[test]
fn hostile_bodies_end_in_one_clear_line() {
    let deep = "[".repeat(10_000);
    let long_string = format!(r#"{{"status":"{}"}}"#, "x".repeat(60_000));
    let long_number = format!(r#"{{"status":{}}}"#, "9".repeat(60_000));
    let too_big = format!(r#"{{"status":"green","pad":"{}"}}"#, "x".repeat(70_000));
    let at_limit = format!(
        r#"{{"status":"green","pad":"{}"}}"#,
        "x".repeat(65_536 - 27)
    );
    assert_eq!(at_limit.len(), 65_536);
    let mut invalid_utf8 = http_bytes("200 OK", &[JSON], r#"{"status":"gr??n"}"#);
    let at = invalid_utf8.len() - 5;
    invalid_utf8[at] = 0xff;
    invalid_utf8[at + 1] = 0xfe;
    check(vec![
        Case::new("not JSON", &["--json", "/status", "{url}/h"])
            .server(http("200 OK", &[], "<html>ok</html>"))
            .unhealthy("200 OK but the body is not JSON: expected a value at byte 0 from"),
        Case::new("an empty body", &["--json", "/status", "{url}/h"])
            .server(http("200 OK", &[], ""))
            .unhealthy(
                "200 OK but the body is not JSON: it ends where a value should be at byte 0",
            ),
        Case::new("deep nesting", &["--json", "/status", "{url}/h"])
            .server(json(&deep))
            .unhealthy("200 OK but the body is not JSON: nested deeper than 64 levels at byte 64"),
        Case::new(
            "a huge string, cut in the line",
            &["--json", "/status=green", "{url}/h"],
        )
        .server(json(&long_string))
        .unhealthy(r#"200 OK but /status is "xxxxxxxxxx"#),
        Case::new(
            "a huge number, cut in the line",
            &["--json", "/status=green", "{url}/h"],
        )
        .server(json(&long_number))
        .unhealthy("200 OK but /status is 9999999999"),
        Case::new(
            "a body over the limit",
            &["--json", "/status=green", "{url}/h"],
        )
        .server(json(&too_big))
        .unhealthy(
            "200 OK but the body is cut off at 65536 bytes, the most --json reads: not judged",
        ),
        Case::new(
            "a body of exactly the limit",
            &["--json", "/status=green", "{url}/h"],
        )
        .server(json(&at_limit))
        .healthy(r#"200 OK, /status is "green""#),
        Case::new("invalid UTF-8", &["--json", "/status", "{url}/h"])
            .server(Reply::Bytes(invalid_utf8))
            .unhealthy("200 OK but the body is not JSON: invalid UTF-8 at byte 13"),
        Case::new(
            "duplicate keys: the last wins",
            &["--json", "/status=green", "{url}/h"],
        )
        .server(json(r#"{"status":"green","status":"red"}"#))
        .unhealthy(r#"200 OK but /status is "red" (expected green)"#),
        Case::new("a trailing comma", &["--json", "/status", "{url}/h"])
            .server(json(r#"{"status":"green",}"#))
            .unhealthy("the body is not JSON: expected a key in quotes at byte 18"),
        Case::new(
            "a body that trickles past the deadline",
            &["-t", "1s", "--json", "/status", "{url}/h"],
        )
        .server(Reply::TrickleAfter(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{".to_vec(),
            b"            ".to_vec(),
        ))
        .unhealthy("timed out reading the body"),
        Case::new("an endless body", &["--json", "/status", "{url}/h"])
            .server(Reply::Endless {
                head: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n[".to_vec(),
                repeat: b"1,".to_vec(),
            })
            .unhealthy("the body is cut off at 65536 bytes"),
    ]);
}

#[test]
fn json_mistakes_are_usage_errors() {
    check(vec![
        Case::new(
            "a non-HTTP target",
            &["--json", "/status", "tcp://127.0.0.1:1"],
        )
        .usage("--json applies only to http://, https:// targets, and none is given"),
        Case::new(
            "no leading slash",
            &["--json", "status=green", "http://127.0.0.1:1/"],
        )
        .usage("--json: invalid value 'status=green': expected a JSON Pointer such as /status"),
        Case::new("a bad escape", &["--json", "/a~2b", "http://127.0.0.1:1/"])
            .usage("--json: invalid value '/a~2b'"),
        Case::new(
            "an empty value",
            &["--json", "/status=green,", "http://127.0.0.1:1/"],
        )
        .usage("--json: invalid value '/status=green,'"),
        Case::new("in the variable", &["http://127.0.0.1:1/"])
            .env("HEALTHPROBE_JSON", "/ok\nnope")
            .usage("HEALTHPROBE_JSON: invalid value 'nope'"),
        Case::new(
            "HEAD has no body",
            &[
                "--method",
                "HEAD",
                "--json",
                "/status",
                "http://127.0.0.1:1/",
            ],
        )
        .usage("--json needs a body, and a HEAD response has none"),
    ]);
}

const ELASTIC_LIKE: &str = r#"
import http.server, json, sys
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status = {"/green": "green", "/yellow": "yellow"}.get(self.path, "red")
        body = json.dumps({"cluster_name": "test", "status": status,
                           "number_of_nodes": 1, "timed_out": False}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Health)
print(server.server_port, flush=True)
server.serve_forever()
"#;

/// A Python http.server answering like Elasticsearch's cluster health, on port 0.
struct PythonServer {
    _server: Python,
    port: u16,
}

impl PythonServer {
    fn start() -> Option<PythonServer> {
        let (server, port) = Python::start(
            &["-c", ELASTIC_LIKE],
            "import http.server",
            "json",
            "python3",
        )?;
        let port = port.parse().expect("a port number");
        Some(PythonServer {
            _server: server,
            port,
        })
    }
}

#[test]
fn a_real_server_green_yellow_and_red() {
    let Some(server) = PythonServer::start() else {
        return;
    };
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", server.port);
    for (path, code, says) in [
        (
            "/green",
            0,
            r#"200 OK, /status is "green", /timed_out is false"#,
        ),
        (
            "/yellow",
            0,
            r#"200 OK, /status is "yellow", /timed_out is false"#,
        ),
        (
            "/red",
            1,
            r#"200 OK but /status is "red" (expected green,yellow)"#,
        ),
    ] {
        let run = expect(
            &[
                "--json",
                "/status=green,yellow",
                "--json",
                "/timed_out=false",
                &url(path),
            ],
            code,
            says,
        );
        assert_sane(&run);
    }
}
