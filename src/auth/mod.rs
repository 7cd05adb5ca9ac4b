//! Accounts and credentials: who may act, shared by the server and the `user`/`token` commands.
//!
//! - Passwords are hashed with argon2id ([`password`]); names and passwords are checked here,
//!   once, for every way an account is made or changed.
//! - API tokens are `vit_<id>_<secret>`: the id finds the row, the secret's SHA-256 is compared in
//!   constant time with the stored digest ([`secret`]). Web sessions are 256-bit random cookie
//!   values, kept as their digest.
//! - [`throttle`] slows password guessing per account and per address.
//! - [`Authenticator`] turns a bearer token or a session cookie into an [`Identity`], or says why
//!   it cannot.

pub mod password;
pub mod secret;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use crate::store::accounts::{ApiToken, Identity, Role, User, UserChange};
use crate::store::{Store, StoreError};

/// Uses are stamped (token last use, session activity) at most this often.
const STAMP_EVERY: Duration = Duration::from_secs(60);

/// Why a request or a socket is not let in. The text is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("sign-in required: send a session cookie or an API token (Authorization: Bearer …)")]
    Missing,
    #[error(
        "the API token is not valid: it is malformed, unknown, revoked or its account is disabled"
    )]
    BadToken,
    #[error("the API token has expired")]
    ExpiredToken,
    #[error("the session has ended or expired; sign in again")]
    BadSession,
    #[error("the accounts cannot be read now; try again")]
    Unavailable,
}

/// A credential as presented.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    Token(String),
    /// A session cookie's value.
    Session(String),
}

/// Checks credentials against the store.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn Store>,
    idle_timeout: Duration,
}

impl Authenticator {
    pub fn new(store: Arc<dyn Store>, idle_timeout: Duration) -> Self {
        Authenticator {
            store,
            idle_timeout,
        }
    }

    /// The identity behind a credential used now (its use is stamped, which keeps a web session
    /// alive). Blocking: call it off the async runtime.
    pub fn identify(&self, credential: &Credential) -> Result<Identity, Refused> {
        self.look_up(credential, true)
    }

    /// Like [`Authenticator::identify`], for a check that is no use: nothing is stamped.
    pub fn check(&self, credential: &Credential) -> Result<Identity, Refused> {
        self.look_up(credential, false)
    }

    fn look_up(&self, credential: &Credential, used: bool) -> Result<Identity, Refused> {
        match credential {
            Credential::Token(token) => self.identify_token(token, used),
            Credential::Session(value) => self.identify_session(value, used),
        }
    }

    fn identify_token(&self, token: &str, used: bool) -> Result<Identity, Refused> {
        let (id, secret) = secret::split_token(token).ok_or(Refused::BadToken)?;
        let (stored, found) = self
            .store
            .token(id)
            .map_err(unavailable)?
            .ok_or(Refused::BadToken)?;
        let presented = secret::digest(secret);
        if !bool::from(presented.as_slice().ct_eq(&stored)) {
            return Err(Refused::BadToken);
        }
        if found
            .expires_at
            .as_deref()
            .is_some_and(|expires| expires <= now().as_str())
        {
            return Err(Refused::ExpiredToken);
        }
        if used && is_stale(found.last_used_at.as_deref()) {
            self.store.touch_token(id).map_err(unavailable)?;
        }
        Ok(found.identity)
    }

    fn identify_session(&self, value: &str, used: bool) -> Result<Identity, Refused> {
        let digest = secret::digest(value);
        let found = self
            .store
            .web_session(&digest, &self.idle_since())
            .map_err(unavailable)?
            .ok_or(Refused::BadSession)?;
        if used && is_stale(found.last_used_at.as_deref()) {
            self.store.touch_web_session(&digest).map_err(unavailable)?;
        }
        Ok(found.identity)
    }

    /// Starts a web session for an account; returns the cookie's value.
    pub fn start_session(&self, user_id: i64) -> Result<String, StoreError> {
        let value = secret::random();
        self.store
            .create_web_session(&secret::digest(&value), user_id)?;
        Ok(value)
    }

    pub fn end_session(&self, value: &str) -> Result<(), StoreError> {
        self.store.end_web_session(&secret::digest(value))
    }

    /// Deletes sessions idle for longer than the timeout.
    pub fn purge_idle_sessions(&self) -> Result<u64, StoreError> {
        self.store.purge_web_sessions(&self.idle_since())
    }

    fn idle_since(&self) -> String {
        let idle = chrono::Duration::from_std(self.idle_timeout).unwrap_or(chrono::Duration::MAX);
        stamp(
            Utc::now()
                .checked_sub_signed(idle)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        )
    }
}

fn unavailable(error: StoreError) -> Refused {
    tracing::error!(%error, "credential check failed");
    Refused::Unavailable
}

/// A use stamp older than [`STAMP_EVERY`] (or none) is renewed.
fn is_stale(last: Option<&str>) -> bool {
    let Some(last) = last.and_then(|at| DateTime::parse_from_rfc3339(at).ok()) else {
        return true;
    };
    Utc::now()
        .signed_duration_since(last)
        .to_std()
        .is_ok_and(|age| age >= STAMP_EVERY)
}

fn now() -> String {
    stamp(Utc::now())
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Why an account could not be made or changed. The text is what the user is told.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("no user named \"{0}\"")]
    UnknownUser(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(message) => AccountError::Conflict(message),
            other => AccountError::Store(other),
        }
    }
}

/// A user name: 1–64 letters, digits, `.`, `_`, `-` or `@`.
pub fn check_user_name(name: &str) -> Result<(), AccountError> {
    let valid = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if valid {
        Ok(())
    } else {
        Err(AccountError::Invalid(
            "a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'".into(),
        ))
    }
}

/// Creates an account after checking its name and password.
pub fn add_user(
    store: &dyn Store,
    name: &str,
    role: Role,
    password: &str,
) -> Result<User, AccountError> {
    check_user_name(name)?;
    let hash = password::hash(password)?;
    Ok(store.create_user(name, role, &hash)?)
}

/// Sets a new password (checked and hashed); the account's web sessions end, except `keep`.
pub fn set_password(
    store: &dyn Store,
    user_id: i64,
    password: &str,
    keep_session: Option<&str>,
) -> Result<(), AccountError> {
    let change = UserChange {
        password_hash: Some(password::hash(password)?),
        keep_session: keep_session.map(secret::digest),
        ..UserChange::default()
    };
    store
        .update_user(user_id, &change)?
        .ok_or_else(|| AccountError::UnknownUser(format!("#{user_id}")))?;
    Ok(())
}

/// Creates an API token for `user`; returns it with its secret, which is shown once.
pub fn create_token(
    store: &dyn Store,
    user: &str,
    name: &str,
    valid_for: Option<Duration>,
) -> Result<(ApiToken, String), AccountError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AccountError::Invalid(
            "a token's name is 1 to 100 characters".into(),
        ));
    }
    let owner = store
        .user_by_name(user)?
        .ok_or_else(|| AccountError::UnknownUser(user.to_owned()))?;
    let expires_at = valid_for
        .map(|valid_for| {
            chrono::Duration::from_std(valid_for)
                .ok()
                .and_then(|valid_for| Utc::now().checked_add_signed(valid_for))
                .map(stamp)
                .ok_or_else(|| AccountError::Invalid("the expiry is too far away".into()))
        })
        .transpose()?;
    let secret = secret::random();
    let token = store.create_token(
        owner.id,
        name,
        &secret::digest(&secret),
        expires_at.as_deref(),
    )?;
    let full = secret::join_token(token.id, &secret);
    Ok((token, full))
}

#[cfg(test)]
mod tests;
