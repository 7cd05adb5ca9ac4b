//! Accounts as stored: users with a role, their API tokens and their web sessions.
//!
//! Secrets never reach the store: passwords arrive as argon2id hashes, tokens and session ids
//! as SHA-256 digests of their random values (see [`crate::auth`]). Times are RFC 3339 text in
//! UTC, so they compare as strings.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// What an account may do; each role includes the rights of the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads findings and history, watches progress.
    Viewer,
    /// Also imports, and cancels its own imports.
    Analyst,
    /// Also manages users and tokens, and cancels any import.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role \"{other}\"; use admin, analyst or viewer"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// An account as lists show it (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: String,
}

/// Who a credential belongs to, as every request learns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub user_id: i64,
    pub name: String,
    pub role: Role,
}

/// An account found by name for a sign-in: its identity, password hash and whether it may sign in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub identity: Identity,
    pub password_hash: String,
    pub disabled: bool,
}

/// An API token as lists show it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub user: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
}

/// A token or web session found by its digest, with the account it belongs to when that account
/// may still act (it exists and is not disabled).
#[derive(Debug, Clone)]
pub struct Found {
    pub identity: Identity,
    /// Last use of a token, last request of a web session.
    pub last_used_at: Option<String>,
    /// A token's expiry; web sessions expire when idle (see [`Accounts::web_session`]).
    pub expires_at: Option<String>,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
    /// The web session (by digest) that survives a password change: the one making it.
    pub keep_session: Option<[u8; 32]>,
}

/// The account store every backend provides.
pub trait Accounts {
    fn count_users(&self) -> Result<u64, StoreError>;

    /// Creates an account; [`StoreError::Conflict`] when the name (case-insensitive) is taken.
    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User, StoreError>;

    /// Every account, by name.
    fn users(&self) -> Result<Vec<User>, StoreError>;

    fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError>;

    /// The account and password hash for a sign-in.
    fn credentials(&self, name: &str) -> Result<Option<Credentials>, StoreError>;

    /// Applies `change` at once, or not at all; disabling an account ends its web sessions, a
    /// new password all but `keep_session`. `None` when there is no such account;
    /// [`StoreError::Conflict`] when no enabled admin would remain.
    fn update_user(&self, id: i64, change: &UserChange) -> Result<Option<User>, StoreError>;

    /// Removes an account with its tokens and sessions; its name stays on the imports it made.
    /// [`StoreError::Conflict`] when it is the last enabled admin.
    fn remove_user(&self, id: i64) -> Result<bool, StoreError>;

    fn create_token(
        &self,
        user_id: i64,
        name: &str,
        secret_digest: &[u8],
        expires_at: Option<&str>,
    ) -> Result<ApiToken, StoreError>;

    /// Every token, newest first.
    fn tokens(&self) -> Result<Vec<ApiToken>, StoreError>;

    /// Deletes a token: it is refused from the next request on.
    fn revoke_token(&self, id: i64) -> Result<bool, StoreError>;

    /// A token's secret digest, if the token exists and its account may act (the caller compares
    /// the digest and checks the expiry).
    fn token(&self, id: i64) -> Result<Option<(Vec<u8>, Found)>, StoreError>;

    fn create_web_session(&self, id_digest: &[u8], user_id: i64) -> Result<(), StoreError>;

    /// The web session with this digest, if its account may act and it was used after
    /// `idle_since`.
    fn web_session(&self, id_digest: &[u8], idle_since: &str) -> Result<Option<Found>, StoreError>;

    fn end_web_session(&self, id_digest: &[u8]) -> Result<(), StoreError>;

    /// Deletes web sessions idle since before `idle_since`; returns how many.
    fn purge_web_sessions(&self, idle_since: &str) -> Result<u64, StoreError>;

    /// Records that a token was used now. Stamps never wait for the database: under a running
    /// import's write lock they are skipped (`Ok(false)`) and the next use stamps again.
    fn touch_token(&self, id: i64) -> Result<bool, StoreError>;

    /// Records that a web session was used now; like [`Accounts::touch_token`].
    fn touch_web_session(&self, id_digest: &[u8]) -> Result<bool, StoreError>;
}
