//! The quick start, from a checkout: `rustc -O -o /tmp/demo examples/demo.rs && /tmp/demo`
//! (std only, so no dependency is compiled for it; `cargo run --release --example demo`
//! works too, but cargo then builds the test-only dev-dependencies first).
//!
//! Starts a small HTTP service on 127.0.0.1 (std only), probes it with the real
//! healthprobe binary (healthy), makes the service fail (503), and probes it again
//! (unhealthy), printing each command, its output and its exit code.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

fn main() -> ExitCode {
    let binary = match healthprobe_binary() {
        Ok(binary) => binary,
        Err(why) => {
            eprintln!("demo: {why}");
            return ExitCode::FAILURE;
        }
    };
    let healthy = Arc::new(AtomicBool::new(true));
    let port = match start_service(healthy.clone()) {
        Ok(port) => port,
        Err(why) => {
            eprintln!("demo: cannot start the service: {why}");
            return ExitCode::FAILURE;
        }
    };
    let target = format!("http://localhost:{port}/health");
    println!("A service listens on 127.0.0.1:{port}; its /health answers 200 OK.\n");
    let first = probe(&binary, &target);

    healthy.store(false, Ordering::SeqCst);
    println!("\nThe service starts failing: /health now answers 503 Service Unavailable.\n");
    let second = probe(&binary, &target);

    if first == Some(0) && second == Some(1) {
        println!("\nExit 0 means healthy and 1 unhealthy: what Docker's HEALTHCHECK and a");
        println!(
            "Kubernetes exec probe read. See `{} --help`.",
            binary.display()
        );
        ExitCode::SUCCESS
    } else {
        eprintln!("\ndemo: expected exit codes 0 then 1, got {first:?} then {second:?}");
        ExitCode::FAILURE
    }
}

/// Runs the probe as a user would, echoing the command, its line and its exit code.
fn probe(binary: &Path, target: &str) -> Option<i32> {
    println!("$ healthprobe {target}");
    let output = match Command::new(binary).arg(target).output() {
        Ok(output) => output,
        Err(why) => {
            eprintln!("demo: cannot run {}: {why}", binary.display());
            return None;
        }
    };
    print!("{}", String::from_utf8_lossy(&output.stdout));
    print!("{}", String::from_utf8_lossy(&output.stderr));
    let code = output.status.code();
    match code {
        Some(code) => println!("$ echo $?\n{code}"),
        None => println!("(killed by a signal)"),
    }
    code
}

/// target/<profile>/healthprobe, next to target/<profile>/examples/demo (or
/// target/release/healthprobe of the checkout the demo runs in, when rustc built it
/// elsewhere), built first: `cargo run --example` does not build the binary by itself.
fn healthprobe_binary() -> Result<PathBuf, String> {
    let demo = std::env::current_exe().map_err(|e| format!("where am I? {e}"))?;
    let profile_dir = match demo.parent() {
        Some(examples) if examples.ends_with("examples") => examples
            .parent()
            .ok_or("the demo is not inside target/<profile>/examples")?
            .to_path_buf(),
        _ => Path::new("target").join("release"),
    };
    let binary = profile_dir.join("healthprobe");
    let release = profile_dir
        .file_name()
        .is_some_and(|name| name == "release");
    if !binary.exists() {
        println!("{} is missing: building it first.", binary.display());
    }
    // Always: cargo rebuilds only what changed, and a stale binary would mislead.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "--bin", "healthprobe"]);
    if release {
        build.arg("--release");
    }
    let status = build
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() || !binary.exists() {
        return Err(format!("cargo build did not produce {}", binary.display()));
    }
    Ok(binary)
}

/// A minimal HTTP service: /health answers 200 while `healthy`, 503 after.
fn start_service(healthy: Arc<AtomicBool>) -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let healthy = healthy.load(Ordering::SeqCst);
            thread::spawn(move || answer(stream, healthy));
        }
    });
    Ok(port)
}

fn answer(mut stream: TcpStream, healthy: bool) {
    // Read the request head (a probe sends no body), at most 8 KiB.
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let (status, body) = if !head.starts_with(b"GET /health ") {
        ("404 Not Found", "no such page\n")
    } else if healthy {
        ("200 OK", "{\"status\":\"up\"}\n")
    } else {
        ("503 Service Unavailable", "{\"status\":\"down\"}\n")
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).ok();
}
