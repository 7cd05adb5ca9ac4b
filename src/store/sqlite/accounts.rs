//! Accounts on SQLite. Lookups go through a connection of their own, so a request's credential
//! check never queues behind a long findings query, nor behind an account change waiting for a
//! running import's write lock (changes have their own connection); use stamps go through one that
//! does not wait for locks at all, so they never stall behind an import.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Row, Transaction, TransactionBehavior, params,
};

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::accounts::{
    Accounts, ApiToken, Credentials, Found, Identity, Role, User, UserChange,
};
use crate::store::now;

impl Accounts for SqliteStore {
    fn count_users(&self) -> Result<u64, StoreError> {
        let conn = self.accounts();
        let count: i64 = conn.query_row("SELECT count(*) FROM users", [], |row| row.get(0))?;
        Ok(count as u64)
    }

    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User, StoreError> {
        let conn = self.account_changes();
        let created_at = now();
        conn.execute(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, role.as_str(), password_hash, created_at],
        )
        .map_err(|error| match error.sqlite_error_code() {
            Some(ErrorCode::ConstraintViolation) => {
                StoreError::Conflict(format!("a user named \"{name}\" already exists"))
            }
            _ => error.into(),
        })?;
        Ok(User {
            id: conn.last_insert_rowid(),
            name: name.to_owned(),
            role,
            disabled: false,
            created_at,
        })
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        let conn = self.accounts();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY name COLLATE NOCASE"
        ))?;
        let rows = statement.query_map([], user_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        let conn = self.accounts();
        let mut statement =
            conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"))?;
        Ok(statement.query_row([name], user_from_row).optional()?)
    }

    fn credentials(&self, name: &str) -> Result<Option<Credentials>, StoreError> {
        let conn = self.accounts();
        let mut statement = conn.prepare_cached(
            "SELECT id, name, role, password_hash, disabled FROM users WHERE name = ?1",
        )?;
        let credentials = statement
            .query_row([name], |row| {
                Ok(Credentials {
                    identity: identity_at(row, 0)?,
                    password_hash: row.get(3)?,
                    disabled: row.get(4)?,
                })
            })
            .optional()?;
        Ok(credentials)
    }

    fn update_user(&self, id: i64, change: &UserChange) -> Result<Option<User>, StoreError> {
        let mut conn = self.account_changes();
        // IMMEDIATE: two admins demoting each other cannot both see the other still enabled.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists = tx
            .query_row("SELECT 1 FROM users WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let admins = enabled_admins(&tx)?;
        tx.execute(
            "UPDATE users SET role = coalesce(?2, role), disabled = coalesce(?3, disabled),
                              password_hash = coalesce(?4, password_hash)
             WHERE id = ?1",
            params![
                id,
                change.role.map(Role::as_str),
                change.disabled,
                change.password_hash
            ],
        )?;
        if change.disabled == Some(true) || change.password_hash.is_some() {
            tx.execute(
                "DELETE FROM web_sessions WHERE user_id = ?1 AND id_digest IS NOT ?2",
                params![id, change.keep_session.as_ref().map(|digest| &digest[..])],
            )?;
        }
        keep_an_enabled_admin(&tx, admins)?;
        let user = tx.query_row(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
            [id],
            user_from_row,
        )?;
        tx.commit()?;
        Ok(Some(user))
    }

    fn remove_user(&self, id: i64) -> Result<bool, StoreError> {
        let mut conn = self.account_changes();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let admins = enabled_admins(&tx)?;
        tx.execute("DELETE FROM web_sessions WHERE user_id = ?1", [id])?;
        tx.execute("DELETE FROM api_tokens WHERE user_id = ?1", [id])?;
        let removed = tx.execute("DELETE FROM users WHERE id = ?1", [id])?;
        keep_an_enabled_admin(&tx, admins)?;
        tx.commit()?;
        Ok(removed > 0)
    }

    fn create_token(
        &self,
        user_id: i64,
        name: &str,
        secret_digest: &[u8],
        expires_at: Option<&str>,
    ) -> Result<ApiToken, StoreError> {
        let conn = self.account_changes();
        let created_at = now();
        conn.execute(
            "INSERT INTO api_tokens (user_id, name, secret_digest, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![user_id, name, secret_digest, created_at, expires_at],
        )?;
        let id = conn.last_insert_rowid();
        let user: String =
            conn.query_row("SELECT name FROM users WHERE id = ?1", [user_id], |row| {
                row.get(0)
            })?;
        Ok(ApiToken {
            id,
            name: name.to_owned(),
            user,
            created_at,
            last_used_at: None,
            expires_at: expires_at.map(str::to_owned),
        })
    }

    fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let conn = self.accounts();
        let mut statement = conn.prepare_cached(
            "SELECT t.id, t.name, u.name, t.created_at, t.last_used_at, t.expires_at
             FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id DESC",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(ApiToken {
                id: row.get(0)?,
                name: row.get(1)?,
                user: row.get(2)?,
                created_at: row.get(3)?,
                last_used_at: row.get(4)?,
                expires_at: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        let conn = self.account_changes();
        Ok(conn.execute("DELETE FROM api_tokens WHERE id = ?1", [id])? > 0)
    }

    fn token(&self, id: i64) -> Result<Option<(Vec<u8>, Found)>, StoreError> {
        let conn = self.accounts();
        let mut statement = conn.prepare_cached(
            "SELECT u.id, u.name, u.role, t.secret_digest, t.last_used_at, t.expires_at
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.id = ?1 AND NOT u.disabled",
        )?;
        let token = statement
            .query_row([id], |row| {
                let found = Found {
                    identity: identity_at(row, 0)?,
                    last_used_at: row.get(4)?,
                    expires_at: row.get(5)?,
                };
                Ok((row.get(3)?, found))
            })
            .optional()?;
        Ok(token)
    }

    fn create_web_session(&self, id_digest: &[u8], user_id: i64) -> Result<(), StoreError> {
        let conn = self.account_changes();
        let at = now();
        conn.execute(
            "INSERT INTO web_sessions (id_digest, user_id, created_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?3)",
            params![id_digest, user_id, at],
        )?;
        Ok(())
    }

    fn web_session(&self, id_digest: &[u8], idle_since: &str) -> Result<Option<Found>, StoreError> {
        let conn = self.accounts();
        let mut statement = conn.prepare_cached(
            "SELECT u.id, u.name, u.role, s.last_seen_at
             FROM web_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_digest = ?1 AND s.last_seen_at >= ?2 AND NOT u.disabled",
        )?;
        let session = statement
            .query_row(params![id_digest, idle_since], |row| {
                Ok(Found {
                    identity: identity_at(row, 0)?,
                    last_used_at: row.get(3)?,
                    expires_at: None,
                })
            })
            .optional()?;
        Ok(session)
    }

    fn end_web_session(&self, id_digest: &[u8]) -> Result<(), StoreError> {
        let conn = self.account_changes();
        conn.execute("DELETE FROM web_sessions WHERE id_digest = ?1", [id_digest])?;
        Ok(())
    }

    fn purge_web_sessions(&self, idle_since: &str) -> Result<u64, StoreError> {
        let conn = self.account_changes();
        let purged = conn.execute(
            "DELETE FROM web_sessions WHERE last_seen_at < ?1",
            [idle_since],
        )?;
        Ok(purged as u64)
    }

    fn touch_token(&self, id: i64) -> Result<bool, StoreError> {
        stamp(
            &self.stamps(),
            "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
            params![id, now()],
        )
    }

    fn touch_web_session(&self, id_digest: &[u8]) -> Result<bool, StoreError> {
        stamp(
            &self.stamps(),
            "UPDATE web_sessions SET last_seen_at = ?2 WHERE id_digest = ?1",
            params![id_digest, now()],
        )
    }
}

const USER_COLUMNS: &str = "id, name, role, disabled, created_at";

fn enabled_admins(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    Ok(tx.query_row(
        "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled",
        [],
        |row| row.get(0),
    )?)
}

/// Refuses a change that took the last enabled admin away (the transaction is then rolled back
/// when dropped).
fn keep_an_enabled_admin(tx: &Transaction<'_>, before: i64) -> Result<(), StoreError> {
    if before > 0 && enabled_admins(tx)? == 0 {
        return Err(StoreError::Conflict(
            "at least one enabled admin must remain".into(),
        ));
    }
    Ok(())
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        role: row.get(2)?,
        disabled: row.get(3)?,
        created_at: row.get(4)?,
    })
}

/// An identity from three columns: user id, name, role, starting at `first`.
fn identity_at(row: &Row<'_>, first: usize) -> rusqlite::Result<Identity> {
    Ok(Identity {
        user_id: row.get(first)?,
        name: row.get(first + 1)?,
        role: row.get(first + 2)?,
    })
}

impl FromSql for Role {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|error: String| FromSqlError::Other(error.into()))
    }
}

/// A write that gives up at once when another connection holds the write lock.
fn stamp(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<bool, StoreError> {
    match conn.execute(sql, params) {
        Ok(_) => Ok(true),
        Err(error)
            if matches!(
                error.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ) =>
        {
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}
