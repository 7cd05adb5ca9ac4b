//! `vulnimport import --server URL`: uploads an export to a running server and follows its
//! import there on the same terminal progress bar as a local import.
//!
//! The order matters. The command makes the session id itself, connects to the server's
//! Socket.IO channel (the API token goes in `auth: { token }`) and joins the session's room
//! *before* it uploads, so no progress event can be missed. The upload is a multipart
//! `POST /api/imports`, streamed from disk. The import ends with a `progress` event of type
//! `complete` or `error`, whose data is the summary, or with `importCancelled`, after which the
//! summary comes from the import's record.
//!
//! A dropped socket reconnects and joins again (the server sends the newest state on join), and
//! whenever the channel has been quiet for [`QUIET_TIME`] the import's status is asked over HTTP,
//! so a lost connection or a missed event never leaves the command waiting. Ctrl-C asks the
//! server to cancel the import and waits until it has stopped; a second Ctrl-C stops waiting.

use std::future::Future;
use std::io::IsTerminal;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{ImportOptions, TerminalBar, display_name};
use crate::domain::Outcome;
use crate::import::ImportSummary;
use crate::progress::{Phase, ProgressEvent, ProgressSink};
use crate::store::{ImportCounts, PhaseTimings, Problems};

/// How long the server has to answer a request, a handshake or an acknowledgement.
const ANSWER_TIME: Duration = Duration::from_secs(15);
/// After this long without a progress event, the import's status is asked over HTTP.
const QUIET_TIME: Duration = Duration::from_secs(5);
/// After this long without a word from the server, the command gives up following the import.
const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

/// Imports a file through a server, showing its progress; Ctrl-C cancels the import there.
pub async fn import(
    options: ImportOptions,
    server: &str,
    token: Option<String>,
) -> anyhow::Result<ImportSummary> {
    let token = token.filter(|token| !token.trim().is_empty()).context(
        "importing through a server needs an API token: pass --token or set VULNIMPORT_TOKEN \
         (an admin makes one with `vulnimport token create`)",
    )?;
    let file = tokio::fs::File::open(&options.file)
        .await
        .with_context(|| format!("cannot open {}", options.file.display()))?;
    let api = Api::new(server, token)?;
    let session_id = Uuid::new_v4();
    let (socket, events) = connect(&api, session_id).await?;
    let mut follower = Follower {
        bar: TerminalBar::new(!options.json && std::io::stderr().is_terminal()),
        api,
        session_id,
        socket,
        events,
        shown: (Phase::Parsing, 0),
        interrupted: interrupts(),
    };
    let summary = follower.run(file, &options).await;
    follower.socket.disconnect().await.ok();
    summary
}

/// What the progress channel's callbacks pass on.
enum Incoming {
    /// Connected, at first or again: the session's room must be joined.
    Connected,
    /// The server refused the handshake, and why.
    Refused(String),
    /// A `progress` event.
    Progress(Value),
    /// `importCancelled`.
    Cancelled,
}

/// A progress event as the server sends it, or an import's status: the same with `outcome`.
#[derive(Deserialize)]
struct Update {
    #[serde(rename = "type")]
    phase: Phase,
    progress: u8,
    message: String,
    eta: Option<u64>,
    data: Option<Value>,
    outcome: Option<Outcome>,
}

impl Update {
    fn ended(&self) -> bool {
        self.phase.is_terminal()
            || self
                .outcome
                .is_some_and(|outcome| !matches!(outcome, Outcome::Queued | Outcome::Running))
    }
}

/// Follows one import: the socket's events, the status when it is quiet, and Ctrl-C.
struct Follower {
    api: Api,
    session_id: Uuid,
    bar: Arc<TerminalBar>,
    socket: Client,
    events: UnboundedReceiver<Incoming>,
    /// The phase and percentage on the bar.
    shown: (Phase, u8),
    interrupted: Arc<Notify>,
}

impl Follower {
    async fn run(
        &mut self,
        file: tokio::fs::File,
        options: &ImportOptions,
    ) -> anyhow::Result<ImportSummary> {
        self.show(format!("Uploading {}", display_name(&options.file)));
        let interrupted = self.interrupted.clone();
        tokio::select! {
            uploaded = self.api.upload(self.session_id, file, options) => uploaded?,
            () = interrupted.notified() => {
                // The server may have taken the whole file just before the upload was dropped.
                if self.api.cancel(self.session_id).await.is_err() {
                    self.bar.cancelled(self.session_id);
                    return Ok(unsent(self.session_id));
                }
                return self.follow(true).await;
            }
        }
        self.follow(false).await
    }

    /// Waits for the import to end and returns its summary.
    async fn follow(&mut self, mut cancelling: bool) -> anyhow::Result<ImportSummary> {
        let interrupted = self.interrupted.clone();
        let mut heard = Instant::now();
        loop {
            let update = tokio::select! {
                incoming = self.events.recv() => {
                    heard = Instant::now();
                    match incoming {
                        Some(Incoming::Progress(event)) => serde_json::from_value(event)
                            .context("the server sent a progress event this command cannot read")?,
                        Some(Incoming::Cancelled) => return self.cancelled().await,
                        // A failed join leaves the import to the status polls.
                        Some(Incoming::Connected) => {
                            join(&self.socket, self.session_id).await.ok();
                            continue;
                        }
                        Some(Incoming::Refused(reason)) => bail!(token_refused(&reason)),
                        None => bail!("the progress channel closed"),
                    }
                }
                () = interrupted.notified(), if !cancelling => {
                    cancelling = true;
                    self.request_cancel().await;
                    continue;
                }
                () = tokio::time::sleep(QUIET_TIME) => match self.api.status(self.session_id).await {
                    Ok(status) => {
                        heard = Instant::now();
                        status
                    }
                    Err(error) if heard.elapsed() > GIVE_UP_AFTER => {
                        return Err(error.context("lost contact with the server"));
                    }
                    Err(_) => continue,
                },
            };
            if update.outcome == Some(Outcome::Cancelled) {
                return self.cancelled().await;
            }
            let ended = update.ended();
            let data = update.data.clone();
            self.deliver(update);
            if ended {
                return match data.and_then(|data| serde_json::from_value(data).ok()) {
                    Some(summary) => Ok(summary),
                    None => self.api.record(self.session_id).await,
                };
            }
        }
    }

    async fn cancelled(&self) -> anyhow::Result<ImportSummary> {
        self.bar.cancelled(self.session_id);
        self.api.record(self.session_id).await
    }

    async fn request_cancel(&self) {
        match self.api.cancel(self.session_id).await {
            Ok(()) => self.show("Cancelling…".into()),
            Err(error) => self.show(format!("Cannot cancel: {error:#}")),
        }
    }

    fn deliver(&mut self, update: Update) {
        self.shown = (update.phase, update.progress);
        let event = ProgressEvent::new(
            self.session_id,
            update.phase,
            update.progress,
            update.message,
            update.eta,
            update.data,
        );
        self.bar.deliver(&event);
    }

    /// A message of the command's own on the bar, at the phase and percentage it shows.
    fn show(&self, message: String) {
        let (phase, progress) = self.shown;
        let event = ProgressEvent::new(self.session_id, phase, progress, message, None, None);
        self.bar.deliver(&event);
    }
}

/// Ctrl-C: the first press is notified; a second one ends the command at once.
fn interrupts() -> Arc<Notify> {
    let interrupted = Arc::new(Notify::new());
    let notify = interrupted.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            notify.notify_one();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nStopped waiting; the server goes on cancelling the import.");
            std::process::exit(130);
        }
    });
    interrupted
}

/// The summary of an import cancelled before the server had the whole file.
fn unsent(session_id: Uuid) -> ImportSummary {
    ImportSummary {
        session_id,
        outcome: Outcome::Cancelled,
        error: Some("the upload was cancelled; nothing was sent for import".into()),
        counts: ImportCounts::default(),
        backfill: false,
        duration_ms: 0,
        timings: PhaseTimings::default(),
        format: None,
        encoding: None,
        rejected_rows: Vec::new(),
    }
}

/// Connects to the server's progress channel and joins the session's room.
async fn connect(
    api: &Api,
    session_id: Uuid,
) -> anyhow::Result<(Client, UnboundedReceiver<Incoming>)> {
    let (sender, mut events) = unbounded_channel();
    let socket = ClientBuilder::new(api.url("/socket.io/"))
        .auth(json!({ "token": api.token }))
        // A server that drops the socket (a restart, a recheck of the token) is reconnected to.
        .reconnect_on_disconnect(true)
        .on(
            Event::Connect,
            pass_on(&sender, |_| Some(Incoming::Connected)),
        )
        .on(Event::Error, pass_on(&sender, refusal))
        .on(
            "progress",
            pass_on(&sender, |payload| argument(payload).map(Incoming::Progress)),
        )
        .on(
            "importCancelled",
            pass_on(&sender, |_| Some(Incoming::Cancelled)),
        )
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", api.base))?;
    match tokio::time::timeout(ANSWER_TIME, events.recv()).await {
        Ok(Some(Incoming::Connected)) => {}
        Ok(Some(Incoming::Refused(reason))) => bail!(token_refused(&reason)),
        _ => bail!("{} did not open its progress channel", api.base),
    }
    join(&socket, session_id).await?;
    Ok((socket, events))
}

type Callback = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A socket callback that passes what `read` makes of an event's payload on to the follower.
fn pass_on(
    sender: &UnboundedSender<Incoming>,
    read: fn(Payload) -> Option<Incoming>,
) -> impl FnMut(Payload, Client) -> Callback + Send + Sync + 'static {
    let sender = sender.clone();
    move |payload, _| {
        if let Some(incoming) = read(payload) {
            sender.send(incoming).ok();
        }
        Box::pin(std::future::ready(()))
    }
}

/// A refused handshake's reason. rust_socketio reports `connect_error` as an error whose text
/// ends with the packet's data, `{ "message": … }`; its other errors are the transport's, which
/// reconnecting and the status polls deal with.
fn refusal(payload: Payload) -> Option<Incoming> {
    let text = argument(payload)?;
    let (_, data) = text.as_str()?.split_once("ConnectError frame: ")?;
    let reason = serde_json::from_str::<Value>(data)
        .ok()
        .and_then(|data| data.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| data.to_owned());
    Some(Incoming::Refused(reason))
}

/// An event's first argument.
fn argument(payload: Payload) -> Option<Value> {
    match payload {
        Payload::Text(values) => values.into_iter().next(),
        _ => None,
    }
}

/// Joins the session's room: `joinSession(id)`, acknowledged with `{ ok, state }`.
async fn join(socket: &Client, session_id: Uuid) -> anyhow::Result<()> {
    let (answer, answered) = oneshot::channel();
    let mut answer = Some(answer);
    socket
        .emit_with_ack(
            "joinSession",
            json!(session_id),
            ANSWER_TIME,
            move |payload, _| -> Callback {
                if let Some(answer) = answer.take() {
                    answer.send(payload).ok();
                }
                Box::pin(std::future::ready(()))
            },
        )
        .await
        .context("cannot join the import's progress")?;
    let payload = tokio::time::timeout(ANSWER_TIME, answered)
        .await
        .ok()
        .and_then(Result::ok)
        .context("the server did not answer joinSession")?;
    // An acknowledgement's arguments arrive as one array.
    let reply = match argument(payload) {
        Some(Value::Array(arguments)) => arguments.into_iter().next(),
        other => other,
    }
    .unwrap_or_default();
    if reply["ok"] != true {
        bail!("the server refused joinSession: {}", reply["error"]);
    }
    Ok(())
}

fn token_refused(reason: &str) -> String {
    format!("the server refused the token: {reason}")
}

/// The server's HTTP API, called with the token.
struct Api {
    http: reqwest::Client,
    /// `http[s]://host:port`, without a trailing slash.
    base: String,
    token: String,
}

impl Api {
    fn new(server: &str, token: String) -> anyhow::Result<Self> {
        let base = server.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base)
            .with_context(|| format!("--server {server} is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("--server {server} is not an http:// or https:// URL");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(ANSWER_TIME)
            .build()?;
        Ok(Api { http, base, token })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /api/imports`, the file streamed from disk.
    async fn upload(
        &self,
        session_id: Uuid,
        file: tokio::fs::File,
        options: &ImportOptions,
    ) -> anyhow::Result<()> {
        let size = file.metadata().await?.len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));
        let part = Part::stream_with_length(body, size)
            .file_name(display_name(&options.file))
            .mime_str("text/csv")?;
        let scan_date = options
            .scan_date
            .unwrap_or_else(|| chrono::Local::now().date_naive());
        let form = Form::new()
            .text("sessionId", session_id.to_string())
            .text("scanDate", scan_date.to_string())
            .text("scope", options.scope.as_str())
            .part("file", part);
        let request = self.http.post(self.url("/api/imports")).multipart(form);
        self.send(request, "the upload").await.map(drop)
    }

    /// `POST /api/imports/{id}/cancel`.
    async fn cancel(&self, session_id: Uuid) -> anyhow::Result<()> {
        let url = self.url(&format!("/api/imports/{session_id}/cancel"));
        let request = self.http.post(url).timeout(ANSWER_TIME);
        self.send(request, "the cancel request").await.map(drop)
    }

    /// `GET /api/imports/{id}`: the newest progress event, with the outcome.
    async fn status(&self, session_id: Uuid) -> anyhow::Result<Update> {
        self.get(
            &format!("/api/imports/{session_id}"),
            "reading the import's status",
        )
        .await
    }

    /// The summary of an ended import, from `GET /api/imports/{id}/record`.
    async fn record(&self, session_id: Uuid) -> anyhow::Result<ImportSummary> {
        let path = format!("/api/imports/{session_id}/record");
        let record: Record = self.get(&path, "reading the import's record").await?;
        Ok(record.into())
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> anyhow::Result<T> {
        let request = self.http.get(self.url(path)).timeout(ANSWER_TIME);
        let response = self.send(request, what).await?;
        response
            .json()
            .await
            .with_context(|| format!("{what} failed: the answer is not what was expected"))
    }

    /// Sends a request with the token; a refusal becomes an error with the server's reason.
    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Response> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("{what} failed: cannot reach {}", self.base))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let reason = response
            .json::<Value>()
            .await
            .ok()
            .and_then(|body| body.get("error")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        if status == StatusCode::UNAUTHORIZED {
            bail!(token_refused(&reason));
        }
        bail!("{what} failed: {reason} ({status})")
    }
}

/// What a summary needs of an import's record.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    session_id: Uuid,
    outcome: Outcome,
    error: Option<String>,
    counts: ImportCounts,
    backfill: bool,
    timings: PhaseTimings,
    format: Option<String>,
    encoding: Option<String>,
    problems: Problems,
    duration_ms: Option<u64>,
}

impl From<Record> for ImportSummary {
    fn from(record: Record) -> Self {
        ImportSummary {
            session_id: record.session_id,
            outcome: record.outcome,
            error: record.error,
            counts: record.counts,
            backfill: record.backfill,
            duration_ms: record.duration_ms.unwrap_or(0),
            timings: record.timings,
            format: record.format,
            encoding: record.encoding,
            rejected_rows: record.problems.rejected_rows,
        }
    }
}
