//! Accounts on PostgreSQL, as the SQLite backend keeps them. Lookups and changes have
//! connections of their own, so a credential check never queues behind a findings query or an
//! account change; use stamps give up at once on a lock (see [`Accounts::touch_token`]). Names
//! compare regardless of ASCII case, as SQLite's `NOCASE` does. Lookups run inline on the
//! server's async threads, so each call tells the runtime it blocks (see [`blocking`]).

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, Row};

use super::{PostgresStore, blocking};
use crate::store::accounts::{
    Accounts, ApiToken, Credentials, Found, Identity, Role, User, UserChange,
};
use crate::store::{StoreError, now};

impl Accounts for PostgresStore {
    fn count_users(&self) -> Result<u64, StoreError> {
        blocking(|| {
            let count: i64 = self
                .accounts()
                .query_one("SELECT count(*) FROM users", &[])?
                .get(0);
            Ok(count as u64)
        })
    }

    fn create_user(&self, name: &str, role: Role, password_hash: &str) -> Result<User, StoreError> {
        blocking(|| {
            let created_at = now();
            let id: i64 = self
                .account_changes()
                .query_one(
                    "INSERT INTO users (name, role, password_hash, created_at)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                    &[&name, &role.as_str(), &password_hash, &created_at],
                )
                .map_err(|error| match error.code() {
                    Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
                        StoreError::Conflict(format!("a user named \"{name}\" already exists"))
                    }
                    _ => error.into(),
                })?
                .get(0);
            Ok(User {
                id,
                name: name.to_owned(),
                role,
                disabled: false,
                created_at,
            })
        })
    }

    fn users(&self) -> Result<Vec<User>, StoreError> {
        blocking(|| {
            self.accounts()
                .query(
                    &format!("SELECT {USER_COLUMNS} FROM users ORDER BY lower(name), id"),
                    &[],
                )?
                .iter()
                .map(user_from_row)
                .collect()
        })
    }

    fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        blocking(|| {
            self.accounts()
                .query_opt(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE lower(name) = lower($1)"),
                    &[&name],
                )?
                .as_ref()
                .map(user_from_row)
                .transpose()
        })
    }

    fn credentials(&self, name: &str) -> Result<Option<Credentials>, StoreError> {
        blocking(|| {
            let row = self.accounts().query_opt(
                "SELECT id, name, role, password_hash, disabled FROM users
                 WHERE lower(name) = lower($1)",
                &[&name],
            )?;
            row.map(|row| {
                Ok(Credentials {
                    identity: identity_at(&row, 0)?,
                    password_hash: row.try_get(3)?,
                    disabled: row.try_get(4)?,
                })
            })
            .transpose()
        })
    }

    fn update_user(&self, id: i64, change: &UserChange) -> Result<Option<User>, StoreError> {
        blocking(|| {
            let mut conn = self.account_changes();
            let mut tx = conn.transaction()?;
            // Two admins demoting each other cannot both see the other still enabled.
            tx.batch_execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")?;
            if tx
                .query_opt("SELECT 1 FROM users WHERE id = $1", &[&id])?
                .is_none()
            {
                return Ok(None);
            }
            let admins = enabled_admins(&mut tx)?;
            tx.execute(
                "UPDATE users SET role = coalesce($2, role), disabled = coalesce($3, disabled),
                                  password_hash = coalesce($4, password_hash)
                 WHERE id = $1",
                &[
                    &id,
                    &change.role.map(Role::as_str),
                    &change.disabled,
                    &change.password_hash,
                ],
            )?;
            if change.disabled == Some(true) || change.password_hash.is_some() {
                let keep: Option<&[u8]> = change.keep_session.as_ref().map(|digest| &digest[..]);
                tx.execute(
                    "DELETE FROM web_sessions WHERE user_id = $1 AND id_digest IS DISTINCT FROM $2",
                    &[&id, &keep],
                )?;
            }
            keep_an_enabled_admin(&mut tx, admins)?;
            let user = user_from_row(&tx.query_one(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
                &[&id],
            )?)?;
            tx.commit()?;
            Ok(Some(user))
        })
    }

    fn remove_user(&self, id: i64) -> Result<bool, StoreError> {
        blocking(|| {
            let mut conn = self.account_changes();
            let mut tx = conn.transaction()?;
            tx.batch_execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")?;
            let admins = enabled_admins(&mut tx)?;
            tx.execute("DELETE FROM web_sessions WHERE user_id = $1", &[&id])?;
            tx.execute("DELETE FROM api_tokens WHERE user_id = $1", &[&id])?;
            let removed = tx.execute("DELETE FROM users WHERE id = $1", &[&id])?;
            keep_an_enabled_admin(&mut tx, admins)?;
            tx.commit()?;
            Ok(removed > 0)
        })
    }

    fn create_token(
        &self,
        user_id: i64,
        name: &str,
        secret_digest: &[u8],
        expires_at: Option<&str>,
    ) -> Result<ApiToken, StoreError> {
        blocking(|| {
            let created_at = now();
            let row = self.account_changes().query_one(
                "WITH token AS (
                     INSERT INTO api_tokens (user_id, name, secret_digest, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id, user_id)
                 SELECT token.id, users.name FROM token JOIN users ON users.id = token.user_id",
                &[&user_id, &name, &secret_digest, &created_at, &expires_at],
            )?;
            Ok(ApiToken {
                id: row.try_get(0)?,
                name: name.to_owned(),
                user: row.try_get(1)?,
                created_at,
                last_used_at: None,
                expires_at: expires_at.map(str::to_owned),
            })
        })
    }

    fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        blocking(|| {
            self.accounts()
                .query(
                    "SELECT t.id, t.name, u.name, t.created_at, t.last_used_at, t.expires_at
                     FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id DESC",
                    &[],
                )?
                .iter()
                .map(|row| {
                    Ok(ApiToken {
                        id: row.try_get(0)?,
                        name: row.try_get(1)?,
                        user: row.try_get(2)?,
                        created_at: row.try_get(3)?,
                        last_used_at: row.try_get(4)?,
                        expires_at: row.try_get(5)?,
                    })
                })
                .collect()
        })
    }

    fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        blocking(|| {
            Ok(self
                .account_changes()
                .execute("DELETE FROM api_tokens WHERE id = $1", &[&id])?
                > 0)
        })
    }

    fn token(&self, id: i64) -> Result<Option<(Vec<u8>, Found)>, StoreError> {
        blocking(|| {
            let row = self.accounts().query_opt(
                "SELECT u.id, u.name, u.role, t.secret_digest, t.last_used_at, t.expires_at
                 FROM api_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.id = $1 AND NOT u.disabled",
                &[&id],
            )?;
            row.map(|row| {
                let found = Found {
                    identity: identity_at(&row, 0)?,
                    last_used_at: row.try_get(4)?,
                    expires_at: row.try_get(5)?,
                };
                Ok((row.try_get(3)?, found))
            })
            .transpose()
        })
    }

    fn create_web_session(&self, id_digest: &[u8], user_id: i64) -> Result<(), StoreError> {
        blocking(|| {
            let at = now();
            self.account_changes().execute(
                "INSERT INTO web_sessions (id_digest, user_id, created_at, last_seen_at)
                 VALUES ($1, $2, $3, $3)",
                &[&id_digest, &user_id, &at],
            )?;
            Ok(())
        })
    }

    fn web_session(&self, id_digest: &[u8], idle_since: &str) -> Result<Option<Found>, StoreError> {
        blocking(|| {
            let row = self.accounts().query_opt(
                "SELECT u.id, u.name, u.role, s.last_seen_at
                 FROM web_sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_digest = $1 AND s.last_seen_at >= $2 AND NOT u.disabled",
                &[&id_digest, &idle_since],
            )?;
            row.map(|row| {
                Ok(Found {
                    identity: identity_at(&row, 0)?,
                    last_used_at: row.try_get(3)?,
                    expires_at: None,
                })
            })
            .transpose()
        })
    }

    fn end_web_session(&self, id_digest: &[u8]) -> Result<(), StoreError> {
        blocking(|| {
            self.account_changes().execute(
                "DELETE FROM web_sessions WHERE id_digest = $1",
                &[&id_digest],
            )?;
            Ok(())
        })
    }

    fn purge_web_sessions(&self, idle_since: &str) -> Result<u64, StoreError> {
        blocking(|| {
            Ok(self.account_changes().execute(
                "DELETE FROM web_sessions WHERE last_seen_at < $1",
                &[&idle_since],
            )?)
        })
    }

    fn touch_token(&self, id: i64) -> Result<bool, StoreError> {
        blocking(|| {
            stamp(
                &mut self.stamps(),
                "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1",
                &[&id, &now()],
            )
        })
    }

    fn touch_web_session(&self, id_digest: &[u8]) -> Result<bool, StoreError> {
        blocking(|| {
            stamp(
                &mut self.stamps(),
                "UPDATE web_sessions SET last_seen_at = $2 WHERE id_digest = $1",
                &[&id_digest, &now()],
            )
        })
    }
}

const USER_COLUMNS: &str = "id, name, role, disabled, created_at";

fn enabled_admins(tx: &mut impl GenericClient) -> Result<i64, StoreError> {
    Ok(tx
        .query_one(
            "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled",
            &[],
        )?
        .get(0))
}

/// Refuses a change that took the last enabled admin away (the transaction is then rolled back
/// when dropped).
fn keep_an_enabled_admin(tx: &mut impl GenericClient, before: i64) -> Result<(), StoreError> {
    if before > 0 && enabled_admins(tx)? == 0 {
        return Err(StoreError::Conflict(
            "at least one enabled admin must remain".into(),
        ));
    }
    Ok(())
}

fn role(text: &str) -> Result<Role, StoreError> {
    text.parse().map_err(StoreError::Corrupt)
}

fn user_from_row(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        role: role(row.try_get(2)?)?,
        disabled: row.try_get(3)?,
        created_at: row.try_get(4)?,
    })
}

/// An identity from three columns: user id, name, role, starting at `first`.
fn identity_at(row: &Row, first: usize) -> Result<Identity, StoreError> {
    Ok(Identity {
        user_id: row.try_get(first)?,
        name: row.try_get(first + 1)?,
        role: role(row.try_get(first + 2)?)?,
    })
}

/// A write that gives up when another transaction holds a lock it needs (the connection's lock
/// timeout is short).
fn stamp(conn: &mut Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<bool, StoreError> {
    match conn.execute(sql, params) {
        Ok(_) => Ok(true),
        Err(error) if error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => Ok(false),
        Err(error) => Err(error.into()),
    }
}
