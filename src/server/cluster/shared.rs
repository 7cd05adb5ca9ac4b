//! What instances share through Redis, beside the Socket.IO adapter's own traffic:
//! - each import's newest state (`{prefix}:state:{sessionId}`), written by the instance running
//!   it as its events leave, read by the others for status requests and for sockets joining;
//!   it expires with the session retention once the import ended;
//! - cancel requests, published on `{prefix}:cancel`; every instance listens, the one holding
//!   the import stops it.
//!
//! The clients reconnect by themselves (and subscribe again) when Redis comes back; while it is
//! away, calls fail at once rather than wait, and [`Shared::unavailable`] says why for the health
//! check.

use std::time::Duration;

use fred::clients::SubscriberClient;
use fred::interfaces::{ClientLike, EventInterface, KeysInterface, PubsubInterface};
use fred::prelude::{Builder, Config, Expiration, ReconnectPolicy};
use fred::types::RespVersion;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::super::ImportStatus;
use crate::domain::Outcome;
use crate::progress::ProgressEvent;

pub use fred::error::Error as RedisError;

/// How long a state of an import still running is kept without a newer one: longer than any
/// wait between two of its events (the positions of a long queue change seldom).
const RUNNING_STATE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a call waits for Redis before it fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// A client for `url`, reconnecting for ever with a backoff of up to 2 s, in RESP3 (the Socket.IO
/// adapter needs it). Once it has subscribed, [`resubscribe_on_reconnect`] keeps it subscribed.
pub fn client(url: &str) -> Result<SubscriberClient, RedisError> {
    let mut config = Config::from_url(url)?;
    config.version = RespVersion::RESP3;
    Builder::from_config(config)
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .with_connection_config(|connection| {
            connection.connection_timeout = CALL_TIMEOUT;
            connection.internal_command_timeout = CALL_TIMEOUT;
        })
        .with_performance_config(|performance| {
            performance.default_command_timeout = CALL_TIMEOUT;
        })
        .build_subscriber_client()
}

/// Subscribes a connected client again to its channels each time it reconnects. (The client's
/// own `manage_subscriptions` sends a `SUBSCRIBE` without channels, which Redis refuses, and stops
/// there, when a client has only shard channels, as the adapter's has.)
pub fn resubscribe_on_reconnect(client: &SubscriberClient) {
    let client = client.clone();
    let mut reconnects = client.reconnect_rx();
    tokio::spawn(async move {
        loop {
            match reconnects.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
            let channels: Vec<String> = client
                .tracked_channels()
                .iter()
                .map(|c| c.to_string())
                .collect();
            let shards: Vec<String> = client
                .tracked_shard_channels()
                .iter()
                .map(|c| c.to_string())
                .collect();
            let mut subscribed = Ok(());
            if !channels.is_empty() {
                subscribed = client.subscribe(channels).await;
            }
            if subscribed.is_ok() && !shards.is_empty() {
                subscribed = client.ssubscribe(shards).await;
            }
            match subscribed {
                Ok(()) => tracing::info!("subscribed again to Redis channels after a reconnection"),
                Err(error) => tracing::warn!(%error, "could not subscribe again to Redis channels"),
            }
        }
    });
}

/// An import's state as instances share it.
#[derive(Serialize, Deserialize)]
struct SharedState {
    outcome: Outcome,
    event: ProgressEvent,
}

/// A cancel request for the instance holding the import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    pub session_id: Uuid,
    /// Who asked, for the import's record.
    pub by: String,
}

pub struct Shared {
    client: SubscriberClient,
    /// The Socket.IO adapter's client, watched for the health check.
    adapter: SubscriberClient,
    prefix: String,
}

impl Shared {
    /// Connects (Redis must answer now) and subscribes to cancel requests.
    pub async fn connect(
        url: &str,
        prefix: &str,
        adapter: SubscriberClient,
    ) -> Result<Self, RedisError> {
        let client = client(url)?;
        client.init().await?;
        let shared = Shared {
            client,
            adapter,
            prefix: prefix.to_owned(),
        };
        shared.client.subscribe(shared.cancel_channel()).await?;
        resubscribe_on_reconnect(&shared.client);
        Ok(shared)
    }

    fn cancel_channel(&self) -> String {
        format!("{}:cancel", self.prefix)
    }

    fn state_key(&self, session_id: Uuid) -> String {
        format!("{}:state:{session_id}", self.prefix)
    }

    /// Why Redis cannot be used now, if it cannot.
    pub fn unavailable(&self) -> Option<String> {
        [&self.client, &self.adapter]
            .into_iter()
            .find(|client| !client.is_connected())
            .map(|client| {
                format!(
                    "Redis is {:?}: progress reaches only this instance's watchers, and cancel requests only its imports",
                    client.state()
                )
            })
    }

    /// Keeps an import's newest state, for `retention` once it has ended.
    pub async fn save(&self, status: &ImportStatus, retention: Duration) -> Result<(), RedisError> {
        let ttl = if status.outcome.has_ended() {
            retention
        } else {
            RUNNING_STATE_TTL
        };
        let state = SharedState {
            outcome: status.outcome,
            event: status.event.clone(),
        };
        let text = serde_json::to_string(&state).unwrap_or_default();
        self.client
            .set::<(), _, _>(
                self.state_key(status.event.session_id),
                text,
                Some(Expiration::PX(ttl.as_millis() as i64)),
                None,
                false,
            )
            .await
    }

    /// An import's newest state, if an instance shared one that has not expired.
    pub async fn load(&self, session_id: Uuid) -> Result<Option<ImportStatus>, RedisError> {
        let text: Option<String> = self.client.get(self.state_key(session_id)).await?;
        Ok(text
            .and_then(|text| serde_json::from_str::<SharedState>(&text).ok())
            .map(|state| ImportStatus {
                event: state.event,
                outcome: state.outcome,
            }))
    }

    /// Asks every instance to cancel an import; returns how many listened.
    pub async fn request_cancel(&self, request: &CancelRequest) -> Result<u64, RedisError> {
        let text = serde_json::to_string(request).unwrap_or_default();
        self.client.publish(self.cancel_channel(), text).await
    }

    /// Cancel requests as they arrive, until the client is dropped.
    pub fn cancel_requests(&self) -> mpsc::UnboundedReceiver<CancelRequest> {
        let (requests, received) = mpsc::unbounded_channel();
        let mut messages = self.client.message_rx();
        let channel = self.cancel_channel();
        tokio::spawn(async move {
            loop {
                let message = match messages.recv().await {
                    Ok(message) => message,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "cancel requests missed: too many at once");
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                if *message.channel != *channel {
                    continue;
                }
                let Ok(text) = message.value.convert::<String>() else {
                    continue;
                };
                match serde_json::from_str::<CancelRequest>(&text) {
                    Ok(request) => {
                        if requests.send(request).is_err() {
                            return;
                        }
                    }
                    Err(error) => tracing::warn!(%error, "a cancel request that does not read"),
                }
            }
        });
        received
    }
}
