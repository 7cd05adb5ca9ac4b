//! Walks the server's whole route table against a running `vulnimport serve`: every route not
//! marked public answers 401 without a credential and 403 to a role one step too low, and lets
//! the role it names through. A route added without stating its access fails here.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use clap::Parser;
use reqwest::{Method, StatusCode};
use vulnimport::config::ServeConfig;
use vulnimport::server::access::Access;
use vulnimport::server::http::routes;
use vulnimport::store::accounts::Role;

const BIN: &str = env!("CARGO_BIN_EXE_vulnimport");

#[derive(Parser)]
struct Defaults {
    #[command(flatten)]
    config: ServeConfig,
}

/// A server on a fresh database with one account and token per role.
struct Server {
    child: Child,
    url: String,
    tokens: Vec<(Role, String)>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn cli(args: &[&str], input: &str) -> String {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("v.db").display());
    let mut tokens = Vec::new();
    for role in [Role::Viewer, Role::Analyst, Role::Admin] {
        let name = role.as_str();
        cli(
            &[
                "user",
                "add",
                name,
                "--role",
                name,
                "--password-stdin",
                "--database",
                &database,
            ],
            "a password for the route table\n",
        );
        let out = cli(
            &[
                "token",
                "create",
                "--user",
                name,
                "--name",
                "routes",
                "--database",
                &database,
            ],
            "",
        );
        tokens.push((role, out.lines().last().unwrap().to_owned()));
    }
    let mut child = Command::new(BIN)
        .args(["serve", "--host", "127.0.0.1", "--port", "0", "--database"])
        .arg(&database)
        .arg("--upload-dir")
        .arg(dir.path().join("uploads"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let url = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("vulnimport listening on ")
                .map(str::to_owned)
        })
        .expect("the server prints its address");
    Server {
        child,
        url,
        tokens,
        _dir: dir,
    }
}

impl Server {
    async fn status(&self, method: &Method, path: &str, token: Option<&str>) -> StatusCode {
        let mut request =
            reqwest::Client::new().request(method.clone(), format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().status()
    }

    fn token(&self, role: Role) -> &str {
        &self.tokens.iter().find(|(r, _)| *r == role).unwrap().1
    }
}

fn below(role: Role) -> Option<Role> {
    match role {
        Role::Viewer => None,
        Role::Analyst => Some(Role::Viewer),
        Role::Admin => Some(Role::Analyst),
    }
}

#[tokio::test]
async fn every_route_states_its_access_and_the_server_enforces_it() {
    let server = start();
    let config = Defaults::try_parse_from(["serve"]).unwrap().config;
    let table = routes(&config);
    assert!(table.len() >= 20, "the table lists every route");
    let public: Vec<String> = table
        .iter()
        .filter(|route| route.access == Access::Public)
        .map(|route| format!("{} {}", route.method, route.path))
        .collect();
    assert_eq!(
        public,
        ["GET /api/health", "POST /api/session", "POST /api/setup"],
        "public routes are the ones meant to be"
    );
    for route in &table {
        let path = route
            .path
            .replace("{session_id}", "6c1f1a4e-8d1b-4a53-9d0a-0e1f2a3b4c5d")
            .replace("{id}", "999999");
        let what = format!("{} {}", route.method, route.path);
        let Access::Signed(role) = route.access else {
            continue;
        };
        assert_eq!(
            server.status(&route.method, &path, None).await,
            StatusCode::UNAUTHORIZED,
            "{what} without a credential"
        );
        assert_eq!(
            server
                .status(
                    &route.method,
                    &path,
                    Some("vit_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                )
                .await,
            StatusCode::UNAUTHORIZED,
            "{what} with a forged token"
        );
        if let Some(lower) = below(role) {
            assert_eq!(
                server
                    .status(&route.method, &path, Some(server.token(lower)))
                    .await,
                StatusCode::FORBIDDEN,
                "{what} as {lower}"
            );
        }
        let allowed = server
            .status(&route.method, &path, Some(server.token(role)))
            .await;
        assert!(
            allowed != StatusCode::UNAUTHORIZED && allowed != StatusCode::FORBIDDEN,
            "{what} as {role} answered {allowed}"
        );
    }
}
