//! The Socket.IO channel (namespace `/`, one room per session id), as the progress protocol
//! fixes it:
//! - `joinSession(id)` joins the room and at once sends this socket the session's newest state
//!   (a `progress` event, or `importCancelled`), so late and reconnecting clients catch up;
//!   the ack carries `{ ok, state }`, or `{ ok: false, error }` for an id that is not a UUID;
//! - `leaveSession(id)` leaves the room;
//! - `cancelImport(id)` asks the import to stop, if the socket's account started it or is an
//!   admin; the ack says whether it was stopped, or why not;
//! - any other event is answered `{ ok: false, error }`; so is a missing or mistyped argument;
//! - the server sends `progress` and `importCancelled` to the room.
//!
//! The handshake is authenticated ([`authenticate`]): the session cookie, or `auth: { token }`;
//! without a valid one the client gets `connect_error` saying why. [`revalidate`] checks the
//! credentials of connected sockets every few seconds (at once after a revocation or sign-out)
//! and disconnects, after an `authError` event, the sockets whose credential stopped being valid.
//! A WebSocket upgrade is checked before Engine.IO sees it ([`handshake`]).
//!
//! Everything the tracker delivers goes through one queue drained by one task, so the events of
//! a session reach sockets in the order they were made; a joining socket's catch-up is queued
//! under the session's lock, so it cannot overtake or follow out of order. Every message to a
//! socket, and every event from it, passes [`flow`]: a socket that sends too much, or cannot take
//! what it is sent, is disconnected with a reason rather than left to lose messages.

mod flow;
pub mod handshake;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use socketioxide::ParserError;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::socket::Sid;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use uuid::Uuid;

use super::access::{self, Caller, Principal};
use super::{App, ImportStatus};
use crate::auth::{Credential, Refused};
use crate::domain::Outcome;
use crate::progress::{ProgressEvent, ProgressSink, SessionError};
use crate::store::accounts::Role;
use flow::{Flow, Kind};

pub use flow::BUFFER;

/// How often connected sockets' credentials are checked.
const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// What the forwarding task sends.
pub enum Outbound {
    /// A progress event, to the session's room.
    Progress(ProgressEvent),
    /// `importCancelled`, to the session's room.
    Cancelled(Uuid),
    /// The ending of an import this instance did not run (another instance died running it),
    /// to the session's room.
    Ended(ImportStatus),
    /// A session's newest state, to one socket that just joined.
    CatchUp { socket: Sid, status: ImportStatus },
}

/// The tracker's sink: queues deliveries for the forwarding task.
pub struct SocketSink {
    queue: UnboundedSender<Outbound>,
}

pub fn channel() -> (SocketSink, UnboundedReceiver<Outbound>) {
    let (queue, outbound) = unbounded_channel();
    (SocketSink { queue }, outbound)
}

impl SocketSink {
    pub(super) fn send(&self, message: Outbound) {
        if self.queue.send(message).is_err() {
            tracing::warn!("progress dropped: the Socket.IO forwarder has stopped");
        }
    }
}

impl ProgressSink for SocketSink {
    fn deliver(&self, event: &ProgressEvent) {
        self.send(Outbound::Progress(event.clone()));
    }

    fn cancelled(&self, session_id: Uuid) {
        self.send(Outbound::Cancelled(session_id));
    }
}

/// Sends queued deliveries to sockets, in order, until the queue closes. With other instances
/// (see `cluster`), each event also goes through the adapter to their sockets, and the session's
/// newest state is shared.
pub async fn forward<A: Adapter>(
    mut outbound: UnboundedReceiver<Outbound>,
    io: SocketIo<A>,
    app: App,
) {
    while let Some(message) = outbound.recv().await {
        // What goes to the room: a progress event, else `importCancelled`.
        let (session_id, progress, status) = match message {
            Outbound::Progress(event) => {
                app.metrics.progress_events.inc();
                let status = app.shared_status(event.session_id);
                (event.session_id, Some(event), status)
            }
            Outbound::Cancelled(session_id) => (session_id, None, app.shared_status(session_id)),
            Outbound::Ended(status) => {
                let progress = (status.outcome != Outcome::Cancelled).then(|| status.event.clone());
                (status.event.session_id, progress, Some(status))
            }
            Outbound::CatchUp { socket, status } => {
                // The namespace is gone once shutdown has closed the sockets.
                let Some(namespace) = io.of("/") else {
                    return;
                };
                if let Some(socket) = namespace.get_socket(socket) {
                    send_state(&socket, &status);
                }
                continue;
            }
        };
        let event = match progress {
            Some(event) => RoomEvent::Progress(event),
            None => RoomEvent::Cancelled { session_id },
        };
        if !to_room(&io, &app, session_id, &event, status).await {
            return;
        }
    }
}

/// What a session's room is sent: a progress event, or `importCancelled` (`{ sessionId }`).
#[derive(serde::Serialize)]
#[serde(untagged)]
enum RoomEvent {
    Progress(ProgressEvent),
    #[serde(rename_all = "camelCase")]
    Cancelled {
        session_id: Uuid,
    },
}

impl RoomEvent {
    fn name(&self) -> &'static str {
        match self {
            RoomEvent::Progress(_) => "progress",
            RoomEvent::Cancelled { .. } => "importCancelled",
        }
    }

    fn kind(&self) -> Kind {
        match self {
            RoomEvent::Progress(_) => Kind::Progress,
            RoomEvent::Cancelled { .. } => Kind::Cancelled,
        }
    }
}

/// Sends an event to a session's room: to this instance's sockets one at a time, so that one
/// whose buffer is full is known (see `flow`), and with other instances, through the adapter to
/// theirs, then shares the session's newest state (both while Redis answers). False once the
/// namespace is gone (shutdown has closed the sockets).
async fn to_room<A: Adapter>(
    io: &SocketIo<A>,
    app: &App,
    session_id: Uuid,
    event: &RoomEvent,
    status: Option<ImportStatus>,
) -> bool {
    let Some(namespace) = io.of("/") else {
        return false;
    };
    let room = session_id.to_string();
    for socket in namespace.clone().to(room.clone()).sockets() {
        flow::emit(&socket, event.kind(), event.name(), event);
    }
    // While Redis is away nothing waits for it: the other instances answer from the database.
    let Some(cluster) = app.cluster.as_ref().filter(|cluster| cluster.redis_up()) else {
        return true;
    };
    let sent = namespace
        .to(room)
        .except(cluster.own_room())
        .emit(event.name(), event)
        .await;
    cluster.note_redis(sent.err());
    if let Some(status) = status {
        cluster.share(&status, app.tracker.retention()).await;
    }
    true
}

/// The handshake's credential: `auth: { token }` from the client, else what the HTTP request
/// carried (the session cookie, or a bearer header). A refusal reaches the client as
/// `connect_error` with the reason as its message.
pub async fn authenticate<A: Adapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<Value>,
    State(app): State<App>,
) -> Result<(), Refused> {
    let token = auth
        .ok()
        .as_ref()
        .and_then(|auth| auth.get("token"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let user = match token {
        Some(token) => {
            let credential = Credential::Token(token);
            // Inline, as for a request (see `access::caller`): handed to the blocking pool, this
            // one lookup added a tenth to the time sockets take to connect.
            let identity = app.auth.identify(&credential)?;
            Principal {
                identity,
                credential,
            }
        }
        None => match access::caller(&app.auth, &socket.req_parts().headers) {
            Caller::User(principal) => principal,
            Caller::Refused(reason) => return Err(reason),
            Caller::Anonymous => return Err(Refused::Missing),
        },
    };
    socket.extensions.insert(user);
    Ok(())
}

/// Checks connected sockets' credentials every [`RECHECK_EVERY`] (and when woken), keeps their
/// identities current (a changed role counts at once) and disconnects the ones refused now.
pub async fn revalidate<A: Adapter>(app: App, io: SocketIo<A>) {
    let mut every = tokio::time::interval(RECHECK_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = app.recheck_sockets.notified() => {}
            () = app.stopping.cancelled() => return,
        }
        // The namespace is gone once shutdown has closed the sockets.
        let Some(namespace) = io.of("/") else {
            return;
        };
        let mut by_credential: HashMap<Credential, Vec<SocketRef<A>>> = HashMap::new();
        for socket in namespace.sockets() {
            if let Some(user) = socket.extensions.get::<Principal>() {
                by_credential
                    .entry(user.credential)
                    .or_default()
                    .push(socket);
            }
        }
        if by_credential.is_empty() {
            continue;
        }
        let credentials: Vec<Credential> = by_credential.keys().cloned().collect();
        let auth = app.auth.clone();
        let Ok(verdicts) = tokio::task::spawn_blocking(move || {
            credentials
                .into_iter()
                .map(|credential| {
                    let verdict = auth.check(&credential);
                    (credential, verdict)
                })
                .collect::<Vec<_>>()
        })
        .await
        else {
            continue;
        };
        for (credential, verdict) in verdicts {
            let sockets = by_credential.remove(&credential).unwrap_or_default();
            match verdict {
                Ok(identity) => {
                    for socket in sockets {
                        socket.extensions.insert(Principal {
                            identity: identity.clone(),
                            credential: credential.clone(),
                        });
                    }
                }
                // The database is busy or gone: try again next round rather than drop everyone.
                Err(Refused::Unavailable) => {}
                Err(reason) => {
                    for socket in sockets {
                        tracing::info!(socket = %socket.id, %reason, "socket signed out");
                        let notice = json!({ "error": reason.to_string() });
                        tokio::spawn(flow::dismiss(socket, "authError", notice));
                    }
                }
            }
        }
    }
}

/// A new socket: counted and logged.
pub async fn on_connect<A: Adapter>(socket: SocketRef<A>, State(app): State<App>) {
    app.metrics.connected_sockets.inc();
    tracing::info!(
        socket = %socket.id,
        connected = app.metrics.connected_sockets.get(),
        "socket connected"
    );
}

/// Registers a new socket's event handlers and gives it its flow state. A connect middleware,
/// because socketioxide awaits middlewares before telling the client it is connected, while it
/// runs the connect handler on a task of its own afterwards: an event the client sends at once
/// could beat a handler registered there.
pub async fn register_handlers<A: Adapter>(
    socket: SocketRef<A>,
    State(app): State<App>,
) -> Result<(), Infallible> {
    Flow::attach(&socket, Arc::clone(&app.metrics));
    if let Some(cluster) = &app.cluster {
        socket.join(cluster.own_room());
    }
    socket.on("joinSession", join_session::<A>);
    socket.on("leaveSession", leave_session::<A>);
    socket.on("cancelImport", cancel_import::<A>);
    socket.on_fallback(unknown_event::<A>);
    socket.on_disconnect(async |socket: SocketRef<A>, State(app): State<App>| {
        app.metrics.connected_sockets.dec();
        tracing::info!(
            socket = %socket.id,
            connected = app.metrics.connected_sockets.get(),
            "socket disconnected"
        );
    });
    Ok(())
}

/// An event's argument: `Err` when it is missing.
type Argument = Result<Value, ParserError>;

async fn join_session<A: Adapter>(
    socket: SocketRef<A>,
    TryData(argument): TryData<Value>,
    ack: AckSender<A>,
    State(app): State<App>,
) {
    if !flow::admit(&socket) {
        return;
    }
    let session_id = match session_id_of(&argument) {
        Ok(id) => id,
        Err(error) => return flow::ack(&socket, ack, &json!({ "ok": false, "error": error })),
    };
    socket.join(session_id.to_string());
    tracing::info!(socket = %socket.id, session = %session_id, "socket joined session");
    let queued = app.tracker.with_state(session_id, |state| {
        let status = ImportStatus::from_session(session_id, state);
        app.catch_up(socket.id, status.clone());
        status
    });
    let state = match queued {
        Some(status) => Some(status),
        None => match app.stored_status(session_id).await {
            Ok(Some(status)) => {
                send_state(&socket, &status);
                Some(status)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::error!(%error, "could not read an import's status");
                return flow::ack(
                    &socket,
                    ack,
                    &json!({ "ok": false, "error": "the import's status cannot be read now" }),
                );
            }
        },
    };
    flow::ack(&socket, ack, &json!({ "ok": true, "state": state }));
}

async fn leave_session<A: Adapter>(
    socket: SocketRef<A>,
    TryData(argument): TryData<Value>,
    ack: AckSender<A>,
) {
    if !flow::admit(&socket) {
        return;
    }
    match session_id_of(&argument) {
        Ok(session_id) => {
            socket.leave(session_id.to_string());
            flow::ack(&socket, ack, &json!({ "ok": true }));
        }
        Err(error) => flow::ack(&socket, ack, &json!({ "ok": false, "error": error })),
    }
}

async fn cancel_import<A: Adapter>(
    socket: SocketRef<A>,
    TryData(argument): TryData<Value>,
    ack: AckSender<A>,
    State(app): State<App>,
) {
    if !flow::admit(&socket) {
        return;
    }
    let session_id = match session_id_of(&argument) {
        Ok(id) => id,
        Err(error) => return flow::ack(&socket, ack, &json!({ "ok": false, "error": error })),
    };
    let Some(user) = socket.extensions.get::<Principal>() else {
        return flow::ack(
            &socket,
            ack,
            &json!({ "ok": false, "error": Refused::Missing.to_string() }),
        );
    };
    if let Some(error) = user.lacks(Role::Analyst) {
        return flow::ack(
            &socket,
            ack,
            &json!({ "ok": false, "sessionId": session_id, "error": error }),
        );
    }
    let answer = match app.request_cancel(session_id, &user.identity).await {
        Ok(()) => json!({ "ok": true, "sessionId": session_id }),
        Err(error) => json!({ "ok": false, "sessionId": session_id, "error": error.to_string() }),
    };
    flow::ack(&socket, ack, &answer);
}

/// Any other event: its ack, if it asked for one, says so.
async fn unknown_event<A: Adapter>(socket: SocketRef<A>, Event(event): Event, ack: AckSender<A>) {
    if !flow::admit(&socket) {
        return;
    }
    let error = format!(
        "unknown event \"{}\": expected joinSession, leaveSession or cancelImport",
        event.chars().take(64).collect::<String>()
    );
    flow::ack(&socket, ack, &json!({ "ok": false, "error": error }));
}

/// A session's state to one socket: its newest progress event, or `importCancelled`.
fn send_state<A: Adapter>(socket: &SocketRef<A>, status: &ImportStatus) {
    if status.outcome == Outcome::Cancelled {
        let notice = json!({ "sessionId": status.event.session_id });
        flow::emit(socket, Kind::CatchUp, "importCancelled", &notice);
    } else {
        flow::emit(socket, Kind::CatchUp, "progress", &status.event);
    }
}

/// The session id from an event argument: the id itself, or `{ sessionId }`.
fn session_id_of(argument: &Argument) -> Result<Uuid, String> {
    let text = match argument {
        Ok(Value::String(text)) => text,
        Ok(Value::Object(fields)) => match fields.get("sessionId") {
            Some(Value::String(text)) => text,
            _ => return Err(not_a_session_id("an object without a sessionId string")),
        },
        Ok(Value::Null) => return Err(not_a_session_id("null")),
        Ok(Value::Bool(_)) => return Err(not_a_session_id("a boolean")),
        Ok(Value::Number(_)) => return Err(not_a_session_id("a number")),
        Ok(Value::Array(_)) => return Err(not_a_session_id("an array")),
        Err(_) => return Err(not_a_session_id("no argument")),
    };
    parse_session_id(text)
}

fn not_a_session_id(got: &str) -> String {
    format!("invalid session id: expected a UUID (a string, or {{ sessionId }}), got {got}")
}

/// A session id must be a UUID.
pub fn parse_session_id(text: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text.trim()).map_err(|_| {
        format!(
            "invalid session id \"{}\": expected a UUID",
            text.chars().take(64).collect::<String>()
        )
    })
}

impl std::fmt::Display for CancelRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CancelRefused::Unknown => "no import with this session id is running",
            CancelRefused::Finished => {
                "this import has already finished; there is nothing to cancel"
            }
            CancelRefused::NotYours => {
                "only the account that started this import, or an admin, can cancel it"
            }
            CancelRefused::Unreachable => {
                "the instance running this import cannot be reached now (Redis is unavailable); try again shortly"
            }
        })
    }
}

/// Why a cancel request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelRefused {
    Unknown,
    Finished,
    NotYours,
    /// Another instance holds the import, and cannot be told now.
    Unreachable,
}

impl From<SessionError> for CancelRefused {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Finished => CancelRefused::Finished,
            SessionError::Unknown | SessionError::InUse => CancelRefused::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_uuids_given_plain_or_wrapped() {
        let id = Uuid::new_v4();
        assert_eq!(session_id_of(&Ok(json!(id.to_string()))), Ok(id));
        assert_eq!(
            session_id_of(&Ok(json!({ "sessionId": id.to_string() }))),
            Ok(id)
        );
        for bad in [
            json!("abc"),
            json!(42),
            json!(null),
            json!(true),
            json!([id.to_string()]),
            json!({ "id": "x" }),
            json!({ "sessionId": 42 }),
            json!(""),
        ] {
            assert!(
                session_id_of(&Ok(bad.clone()))
                    .unwrap_err()
                    .contains("expected a UUID"),
                "{bad}"
            );
        }
    }
}
