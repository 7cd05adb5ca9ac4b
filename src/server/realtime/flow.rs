//! Flow control for sockets, so that no message is lost without a word:
//! - each socket may send [`EVENT_BURST`] events at once, then [`EVENTS_PER_SECOND`] (a token
//!   bucket, [`admit`]); past that it is disconnected, after an `overloaded` event saying why;
//! - everything sent to a socket goes through [`emit`] or [`ack`]: a message its buffer (of
//!   [`BUFFER`] messages) cannot take is counted and logged, and the socket is disconnected the
//!   same way, since it no longer gets what it was promised;
//! - [`dismiss`] sends a socket its last event and disconnects it a little later, waiting for room
//!   in its buffer when it is full (socketioxide refuses to queue the disconnect packet then).
//!
//! Drops count in `/metrics` as `socket_messages_dropped` by kind; the first drop of a socket is
//! logged at warn, the ones that follow while it is being disconnected at debug.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::{SendError, SocketError};

use super::super::metrics::Metrics;

/// Events a socket may send at once.
pub const EVENT_BURST: u32 = 200;
/// Events a socket may send each second, once its burst is spent.
pub const EVENTS_PER_SECOND: u32 = 50;
/// Messages waiting to be written to one socket; room for the answers to a whole burst (an ack
/// and a catch-up each) and the progress of the sessions it watches.
pub const BUFFER: usize = 1024;
/// How long [`dismiss`] waits for room in a full buffer. Long enough for a slow reader;
/// a client that reads nothing at all is closed sooner by the Engine.IO heartbeat, whose ping
/// finds no room either.
const DISMISS_WITHIN: Duration = Duration::from_secs(60);
const DISMISS_RETRY: Duration = Duration::from_millis(50);
/// How long a dismissed socket stays in the namespace, its events refused, after its last event
/// was queued. Events the client sent before it read that one are still arriving, and
/// socketioxide closes the whole connection at the first event for a socket no longer in the
/// namespace, dropping what is still queued for it (the notice too).
const DISMISS_GRACE: Duration = Duration::from_secs(1);

/// What was not delivered: a label of `socket_messages_dropped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An incoming event refused: over the rate, or from a socket being disconnected.
    Event,
    Ack,
    CatchUp,
    Progress,
    Cancelled,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Ack => "ack",
            Kind::CatchUp => "catch_up",
            Kind::Progress => "progress",
            Kind::Cancelled => "cancelled",
        }
    }
}

/// Why a socket is disconnected for overload: a label of `sockets_overloaded`, and the `error`
/// of its `overloaded` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overload {
    /// It sent events faster than [`admit`] allows.
    TooManyEvents,
    /// Its buffer was full: it does not read what it is sent fast enough.
    Backlog,
}

impl Overload {
    pub fn as_str(self) -> &'static str {
        match self {
            Overload::TooManyEvents => "too_many_events",
            Overload::Backlog => "backlog",
        }
    }
}

impl fmt::Display for Overload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overload::TooManyEvents => write!(
                f,
                "too many events: a socket may send {EVENT_BURST} at once, then \
                 {EVENTS_PER_SECOND} a second; disconnected"
            ),
            Overload::Backlog => write!(
                f,
                "the socket did not read what it was sent fast enough ({BUFFER} messages \
                 waiting); disconnected"
            ),
        }
    }
}

/// A socket's flow state, kept in its extensions.
#[derive(Clone)]
pub struct Flow(Arc<FlowState>);

struct FlowState {
    metrics: Arc<Metrics>,
    bucket: Mutex<Bucket>,
    /// Set once the socket is being disconnected: nothing more is sent to it but its last event.
    leaving: AtomicBool,
}

impl Flow {
    /// Gives a new socket its flow state.
    pub fn attach<A: Adapter>(socket: &SocketRef<A>, metrics: Arc<Metrics>) {
        socket.extensions.insert(Flow(Arc::new(FlowState {
            metrics,
            bucket: Mutex::new(Bucket::full(Instant::now())),
            leaving: AtomicBool::new(false),
        })));
    }

    /// The socket's flow state: every connected socket has one, given before it was connected
    /// (see `register_handlers`).
    fn of<A: Adapter>(socket: &SocketRef<A>) -> Option<Flow> {
        socket.extensions.get::<Flow>()
    }

    /// Counts a drop of `kind` to `socket`.
    fn dropped<A: Adapter>(&self, socket: &SocketRef<A>, kind: Kind, detail: &dyn fmt::Display) {
        self.0.metrics.message_dropped(kind.as_str());
        if self.0.leaving.load(Ordering::Relaxed) {
            tracing::debug!(socket = %socket.id, kind = kind.as_str(), %detail, "socket message dropped");
        } else {
            tracing::warn!(socket = %socket.id, kind = kind.as_str(), %detail, "socket message dropped");
        }
    }

    /// Marks the socket as leaving; true the first time only.
    fn leave(&self) -> bool {
        !self.0.leaving.swap(true, Ordering::Relaxed)
    }

    fn is_leaving(&self) -> bool {
        self.0.leaving.load(Ordering::Relaxed)
    }
}

/// Whether an incoming event may be handled. An event refused is counted; the first one
/// refused for the rate disconnects the socket (see [`overloaded`]).
pub fn admit<A: Adapter>(socket: &SocketRef<A>) -> bool {
    let Some(flow) = Flow::of(socket) else {
        return true;
    };
    if flow.is_leaving() {
        flow.dropped(socket, Kind::Event, &"the socket is being disconnected");
        return false;
    }
    let admitted = flow
        .0
        .bucket
        .lock()
        .expect("the bucket's lock is never poisoned: nothing panics while holding it")
        .take(Instant::now());
    if !admitted {
        overloaded(socket, &flow, Overload::TooManyEvents);
        flow.dropped(socket, Kind::Event, &Overload::TooManyEvents);
    }
    admitted
}

/// Sends `event` to one socket; see the module's overview for what happens when it cannot.
pub fn emit<A: Adapter, T: Serialize + ?Sized>(
    socket: &SocketRef<A>,
    kind: Kind,
    event: &str,
    data: &T,
) {
    let Some(flow) = Flow::of(socket) else {
        return;
    };
    if flow.is_leaving() {
        flow.dropped(socket, kind, &"the socket is being disconnected");
        return;
    }
    sent(socket, &flow, kind, socket.emit(event, data));
}

/// Answers an event's acknowledgement, if the client asked for one.
pub fn ack<A: Adapter>(socket: &SocketRef<A>, ack: AckSender<A>, answer: &Value) {
    let Some(flow) = Flow::of(socket) else {
        return;
    };
    if flow.is_leaving() {
        flow.dropped(socket, Kind::Ack, &"the socket is being disconnected");
        return;
    }
    sent(socket, &flow, Kind::Ack, ack.send(answer));
}

fn sent<A: Adapter>(socket: &SocketRef<A>, flow: &Flow, kind: Kind, result: Result<(), SendError>) {
    match result {
        Ok(()) => {}
        // The socket has gone: there is no one left to tell.
        Err(SendError::Socket(SocketError::Closed)) => {
            tracing::debug!(socket = %socket.id, kind = kind.as_str(), "socket gone before a message");
        }
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            flow.dropped(socket, kind, &Overload::Backlog);
            overloaded(socket, flow, Overload::Backlog);
        }
        Err(SendError::Serialize(error)) => flow.dropped(socket, kind, &error),
    }
}

/// Disconnects an overloaded socket after an `overloaded` event saying why (once per socket).
fn overloaded<A: Adapter>(socket: &SocketRef<A>, flow: &Flow, reason: Overload) {
    if !flow.leave() {
        return;
    }
    flow.0.metrics.socket_overloaded(reason.as_str());
    tracing::warn!(socket = %socket.id, %reason, "disconnecting an overloaded socket");
    tokio::spawn(dismiss(
        socket.clone(),
        "overloaded",
        json!({ "error": reason.to_string() }),
    ));
}

/// Sends `event` with `notice`, then disconnects the socket after [`DISMISS_GRACE`]; while its
/// buffer is full, tries again every [`DISMISS_RETRY`] for up to [`DISMISS_WITHIN`]. Meanwhile
/// its events are refused and nothing else is sent to it.
pub async fn dismiss<A: Adapter>(socket: SocketRef<A>, event: &'static str, notice: Value) {
    if let Some(flow) = Flow::of(&socket) {
        flow.leave();
    }
    let deadline = tokio::time::Instant::now() + DISMISS_WITHIN;
    let noticed = when_room(deadline, || match socket.emit(event, &notice) {
        Err(SendError::Socket(error)) => Err(error),
        // A JSON value always serializes.
        Ok(()) | Err(SendError::Serialize(_)) => Ok(()),
    })
    .await;
    let result = match noticed {
        Ok(()) => {
            tokio::time::sleep(DISMISS_GRACE).await;
            when_room(deadline, || socket.clone().disconnect()).await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(()) | Err(SocketError::Closed) => {}
        Err(SocketError::InternalChannelFull) => tracing::warn!(
            socket = %socket.id,
            "could not disconnect a socket: its buffer stayed full"
        ),
    }
}

/// Runs `send` until the buffer has room for it, or `deadline` passes.
async fn when_room(
    deadline: tokio::time::Instant,
    mut send: impl FnMut() -> Result<(), SocketError>,
) -> Result<(), SocketError> {
    loop {
        match send() {
            Err(SocketError::InternalChannelFull) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(DISMISS_RETRY).await;
            }
            result => return result,
        }
    }
}

/// A token bucket: [`EVENT_BURST`] tokens, refilled at [`EVENTS_PER_SECOND`].
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(now: Instant) -> Self {
        Bucket {
            tokens: f64::from(EVENT_BURST),
            at: now,
        }
    }

    /// Takes a token if there is one.
    fn take(&mut self, now: Instant) -> bool {
        let refill =
            now.saturating_duration_since(self.at).as_secs_f64() * f64::from(EVENTS_PER_SECOND);
        self.tokens = (self.tokens + refill).min(f64::from(EVENT_BURST));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::full(start);
        let admitted = (0..EVENT_BURST * 2).filter(|_| bucket.take(start)).count();
        assert_eq!(admitted, EVENT_BURST as usize);
        let second = start + Duration::from_secs(1);
        let admitted = (0..EVENT_BURST).filter(|_| bucket.take(second)).count();
        assert_eq!(admitted, EVENTS_PER_SECOND as usize);
        // An idle socket gets its whole burst back, and no more.
        let later = second + Duration::from_secs(3600);
        let admitted = (0..EVENT_BURST * 2).filter(|_| bucket.take(later)).count();
        assert_eq!(admitted, EVENT_BURST as usize);
    }
}
