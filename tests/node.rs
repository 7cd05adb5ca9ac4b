//! Runs the Node test drivers against the real binary: the Socket.IO end-to-end suite (official
//! `socket.io-client`), the browser suite (Debian Chromium driven by `playwright-core`) and the
//! web UI's unit tests. Their packages come from `npm ci` (see the README).

use std::path::Path;
use std::process::Command;

#[test]
fn node_suites() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("node_modules/socket.io-client").exists(),
        "node_modules is missing: run `npm ci` first (the README's test command does)"
    );
    let suites: Vec<&str> = ["tests/e2e", "tests/browser", "tests/web"]
        .into_iter()
        .filter(|suite| root.join(suite).exists())
        .collect();
    let status = Command::new("node")
        .arg("--test")
        .args(&suites)
        .current_dir(root)
        .env("VULNIMPORT_BIN", env!("CARGO_BIN_EXE_vulnimport"))
        .status()
        .expect("node must be installed");
    assert!(
        status.success(),
        "a Node test suite failed (see its output above)"
    );
}
