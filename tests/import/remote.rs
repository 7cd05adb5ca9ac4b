//! `vulnimport import --server`: a real `vulnimport serve`, an account and a token made with the
//! command line, and the command uploading to it and following the import there.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{Database, large_export, sample};

const BIN: &str = env!("CARGO_BIN_EXE_vulnimport");

/// A server on a free port with a fresh database (see [`Database`]), an analyst `tester` and a token of theirs.
struct Server {
    process: Child,
    /// Kept open: the server may write to its standard output.
    _stdout: BufReader<ChildStdout>,
    url: String,
    token: String,
    database: Database,
    /// Holds the uploads (and the SQLite database) while the server runs.
    _dir: TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::fresh(dir.path());
        let url = database.url();
        let mut add = Command::new(BIN)
            .args(["user", "add", "tester", "--role", "analyst"])
            .args(["--password-stdin", "--database", &url])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        writeln!(add.stdin.take().unwrap(), "a long enough password").unwrap();
        assert!(add.wait().unwrap().success());
        let created = Command::new(BIN)
            .args(["token", "create", "--user", "tester", "--name", "ci"])
            .args(["--database", &url])
            .output()
            .unwrap();
        assert!(created.status.success(), "{created:?}");
        let token = String::from_utf8(created.stdout).unwrap();
        let token = token.lines().last().unwrap().trim().to_owned();
        let mut process = Command::new(BIN)
            .args(["serve", "--host", "127.0.0.1", "--port", "0"])
            .args(["--database", &url, "--upload-dir"])
            .arg(dir.path().join("uploads"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(process.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("vulnimport listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_owned();
        Server {
            process,
            _stdout: stdout,
            url,
            token,
            database,
            _dir: dir,
        }
    }

    /// `vulnimport import FILE --server URL --token TOKEN ARGS…`, ready to run.
    fn import(&self, file: &Path, token: &str, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("import")
            .arg(file)
            .args(["--server", &self.url, "--token", token])
            .args(args)
            .env_remove("VULNIMPORT_TOKEN");
        command
    }

    /// A `GET` of the API with the token, as JSON.
    fn get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.url);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let response = reqwest::Client::new()
                .get(&url)
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{url}: {response:?}");
            response.json().await.unwrap()
        })
    }

    /// Imports with the outcome `running` in the server's database.
    fn running_imports(&self) -> i64 {
        self.database
            .value("SELECT count(*) FROM imports WHERE outcome = 'running'")
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.kill().ok();
        self.process.wait().ok();
    }
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("no JSON summary on standard output: {output:?}"))
}

#[test]
fn imports_through_the_server() {
    let server = Server::start();
    let file = sample("multi-cve-test.csv");
    let output = server
        .import(
            &file,
            &server.token,
            &["--json", "--scan-date", "2026-01-05"],
        )
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let summary = json(&output);
    assert_eq!(summary["outcome"], "completed");
    assert_eq!(
        (summary["rows"].as_u64(), summary["records"].as_u64()),
        (Some(5), Some(13))
    );
    let session_id = summary["sessionId"].as_str().unwrap();
    let record = server.get(&format!("/api/imports/{session_id}/record"));
    assert_eq!(record["outcome"], "completed");
    assert_eq!(record["startedBy"], "tester");
    assert_eq!(record["scanDate"], "2026-01-05");
    assert_eq!(record["fileName"], "multi-cve-test.csv");
    for count in ["rows", "records", "new", "updated", "resolved", "rejected"] {
        assert_eq!(record["counts"][count], summary[count], "{count}");
    }
    assert_eq!(server.get("/api/stats")["total"], summary["new"]);

    // Without --json (and with standard error not a terminal, so no bar): the text summary.
    let output = server
        .import(&file, &server.token, &["--scan-date", "2026-01-06"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with("Imported 5 rows (13 records, 0 duplicates, 0 rejected)"),
        "{text}"
    );
    assert!(text.contains("0 new, 13 updated"), "{text}");
}

#[test]
fn a_refused_or_missing_token_is_an_error() {
    let server = Server::start();
    let file = sample("multi-cve-test.csv");
    let output = server
        .import(&file, "vit_1_not-a-real-token", &["--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the server refused the token: the API token is not valid"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    let output = Command::new(BIN)
        .arg("import")
        .arg(&file)
        .args(["--server", &server.url])
        .env_remove("VULNIMPORT_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--token or set VULNIMPORT_TOKEN"),
        "{stderr}"
    );
    assert_eq!(server.get("/api/imports")["total"], 0);
}

#[test]
fn ctrl_c_cancels_the_import_on_the_server() {
    let server = Server::start();
    let sample = sample("test-dates-small.csv");
    let seeded = server.import(&sample, &server.token, &["--json"]).output();
    assert!(seeded.unwrap().status.success());
    let before = server.get("/api/stats");

    let child = server
        .import(&large_export(), &server.token, &["--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.running_imports() == 0 {
        assert!(Instant::now() < deadline, "the import never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    let summary = json(&output);
    assert_eq!(summary["outcome"], "cancelled");
    let session_id = summary["sessionId"].as_str().unwrap();
    let record = server.get(&format!("/api/imports/{session_id}/record"));
    assert_eq!(record["outcome"], "cancelled");
    assert_eq!(record["cancelledBy"], "tester");
    assert_eq!(server.get("/api/stats"), before);
}
