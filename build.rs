//! Prepares the web UI for embedding: installs the front-end packages pinned in
//! `package-lock.json` when `node_modules` is missing or older than the lockfile, copies the vendor
//! files the UI loads into `$OUT_DIR`, and writes `$OUT_DIR/web_assets.rs`, the table of every file
//! `src/server/web.rs` serves (its URL path and its bytes, through `include_bytes!`).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The vendor files the UI loads: URL path under `/vendor/`, file under `node_modules/`.
/// `socket.io.js` is the full build: unlike the minified ones it keeps the client's debug logging,
/// which `localStorage.debug = 'socket.io-client:*'` turns on.
const VENDOR: &[(&str, &str)] = &[
    ("bootstrap.min.css", "bootstrap/dist/css/bootstrap.min.css"),
    (
        "bootstrap.bundle.min.js",
        "bootstrap/dist/js/bootstrap.bundle.min.js",
    ),
    ("socket.io.js", "socket.io-client/dist/socket.io.js"),
    ("uPlot.iife.min.js", "uplot/dist/uPlot.iife.min.js"),
    ("uPlot.min.css", "uplot/dist/uPlot.min.css"),
];

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=package-lock.json");
    println!("cargo:rerun-if-changed=web");
    // npm rewrites this file on every install, and it is absent when node_modules is.
    println!("cargo:rerun-if-changed=node_modules/.package-lock.json");

    install_packages(&root);

    let mut assets = Vec::new();
    collect_files(&root.join("web"), "", &mut assets);
    let vendor_dir = out.join("vendor");
    fs::create_dir_all(&vendor_dir).expect("create $OUT_DIR/vendor");
    for (name, source) in VENDOR {
        let source = root.join("node_modules").join(source);
        let bytes = fs::read(&source).unwrap_or_else(|error| {
            panic!(
                "{} is missing ({error}); run `npm ci` in {}",
                source.display(),
                root.display()
            )
        });
        let target = vendor_dir.join(name);
        write_if_changed(&target, &bytes);
        assets.push((format!("/vendor/{name}"), target));
    }
    assets.sort();

    let mut table = String::from("/// Every embedded file: its URL path and its bytes.\n");
    table.push_str("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for (url, path) in &assets {
        writeln!(table, "    ({url:?}, include_bytes!({path:?})),").unwrap();
    }
    table.push_str("];\n");
    write_if_changed(&out.join("web_assets.rs"), table.as_bytes());
}

/// Runs `npm ci` when `node_modules` is missing or older than `package-lock.json`.
fn install_packages(root: &Path) {
    let installed = modified(&root.join("node_modules/.package-lock.json"));
    let locked = modified(&root.join("package-lock.json"))
        .expect("package-lock.json is missing: it pins the web UI's packages");
    if installed.is_some_and(|installed| installed >= locked) {
        return;
    }
    println!("cargo:warning=installing the web UI's packages with `npm ci`");
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(root)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "the web UI needs npm to install Bootstrap and socket.io-client (`npm ci`), \
                 but npm could not be run: {error}. Install Node.js and npm, then build again."
            )
        });
    if !output.status.success() {
        panic!(
            "`npm ci` failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|meta| meta.modified()).ok()
}

/// Every file under `dir`, as (URL path, file path).
fn collect_files(dir: &Path, prefix: &str, assets: &mut Vec<(String, PathBuf)>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
    for entry in entries {
        let entry = entry.expect("read web/");
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with('.') {
            continue; // editors' and file managers' droppings
        } else if path.is_dir() {
            collect_files(&path, &format!("{prefix}/{name}"), assets);
        } else {
            assets.push((format!("{prefix}/{name}"), path));
        }
    }
}

/// Leaves unchanged files alone, so their timestamps do not force the crate to rebuild.
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if fs::read(path).is_ok_and(|current| current == bytes) {
        return;
    }
    fs::write(path, bytes).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
}
