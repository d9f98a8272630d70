//! The shipped musl binary carries its dependency list the way vulnerability scanners
//! (cargo audit bin, trivy, grype, syft) read it: cargo-auditable's `.dep-v0` section, a
//! zlib-compressed JSON document. Read back here with objcopy and python3's zlib.

use std::process::Command;

use crate::common::system::static_binary;

#[test]
fn the_musl_binary_names_its_dependencies() {
    let binary = static_binary();
    let section = std::env::temp_dir().join(format!("healthprobe-dep-v0-{}", std::process::id()));
    let dumped = Command::new("objcopy")
        .arg(format!("--dump-section=.dep-v0={}", section.display()))
        .arg(binary)
        .arg(std::env::temp_dir().join(format!("healthprobe-objcopy-{}", std::process::id())))
        .output()
        .expect("run objcopy (Debian package binutils)");
    assert!(
        dumped.status.success(),
        "no .dep-v0 section in {}: {dumped:?}",
        binary.display()
    );
    let decoded = Command::new("python3")
        .args(["-c", "import sys, zlib; sys.stdout.write(zlib.decompress(open(sys.argv[1], 'rb').read()).decode())"])
        .arg(&section)
        .output()
        .expect("run python3");
    let _ = std::fs::remove_file(&section);
    let _ = std::fs::remove_file(
        std::env::temp_dir().join(format!("healthprobe-objcopy-{}", std::process::id())),
    );
    assert!(decoded.status.success(), "not zlib: {decoded:?}");
    let json = String::from_utf8_lossy(&decoded.stdout);
    for name in ["healthprobe", "ureq", "pico-args"] {
        assert!(
            json.contains(&format!("\"name\":\"{name}\"")),
            "{name} missing from {json}"
        );
    }
    // Only what is linked in: no dev-dependency.
    for name in ["rcgen", "serde_json", "socket2"] {
        assert!(
            !json.contains(&format!("\"name\":\"{name}\"")),
            "{name} listed in {json}"
        );
    }
}
