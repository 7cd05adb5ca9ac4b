//! Runs the Node test drivers against the real binary: the Socket.IO end-to-end suite (official
//! `socket.io-client`), the browser suite (Debian Chromium driven by `playwright-core`) and the
//! web UI's unit tests. Their packages come from `npm ci` (see the README). `NODE_SUITES` (files
//! or folders, separated by spaces) runs only those: `scripts/test` runs the API tests of the
//! downloads once more with `TEST_DATABASE_URL` naming PostgreSQL.

use std::path::Path;
use std::process::Command;

#[test]
fn node_suites() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("node_modules/socket.io-client").exists(),
        "node_modules is missing: run `npm ci` first (the README's test command does)"
    );
    let chosen = std::env::var("NODE_SUITES").unwrap_or_default();
    let suites: Vec<&str> = if chosen.trim().is_empty() {
        ["tests/e2e", "tests/browser", "tests/web"]
            .into_iter()
            .filter(|suite| root.join(suite).exists())
            .collect()
    } else {
        chosen.split_whitespace().collect()
    };
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
