//! The instances' shared queue and leases, in the PostgreSQL database they share (tables
//! `import_queue` and `instances`, created by the store's migrations). One connection per
//! instance, made again when it breaks (a restarted server): a call made while the database is
//! away fails, and the next one reconnects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use crate::store::NewImport;

/// A ledger call that failed: the database's error, or a row that does not read back.
pub type LedgerError = Box<dyn std::error::Error + Send + Sync>;

pub struct Ledger {
    url: String,
    /// This instance's id in `instances` and `import_queue`.
    instance: String,
    client: Mutex<Option<Arc<Client>>>,
}

/// A queued or running import as any instance sees it.
pub struct Entry {
    pub instance: String,
    pub owner: i64,
    pub started: bool,
    /// Imports ahead of it (running or waiting), across instances.
    pub ahead: u64,
}

/// A queued import's place, across instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// Imports ahead of it, running or waiting.
    pub ahead: u64,
    /// Its place among the imports waiting (1 for the next to start).
    pub position: u64,
}

/// An import of a dead instance, taken out of the queue.
pub struct TakenUp {
    pub import: NewImport,
    pub started: bool,
}

impl Ledger {
    pub fn new(url: &str, instance: Uuid) -> Self {
        Ledger {
            url: url.to_owned(),
            instance: instance.to_string(),
            client: Mutex::default(),
        }
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    async fn client(&self) -> Result<Arc<Client>, LedgerError> {
        let mut client = self.client.lock().await;
        if let Some(open) = client.as_ref().filter(|open| !open.is_closed()) {
            return Ok(Arc::clone(open));
        }
        let (opened, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "the instances' database connection closed");
            }
        });
        let opened = Arc::new(opened);
        *client = Some(Arc::clone(&opened));
        Ok(opened)
    }

    /// Runs one statement; returns how many rows it changed.
    async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, LedgerError> {
        Ok(self.client().await?.execute(sql, params).await?)
    }

    /// Takes (or renews) this instance's lease. Returns false when the lease had run out and
    /// another instance may have taken up this one's imports.
    pub async fn renew(&self, address: &str) -> Result<bool, LedgerError> {
        let client = self.client().await?;
        let renewed = client
            .execute(
                "UPDATE instances SET heartbeat_at = now() WHERE id = $1",
                &[&self.instance],
            )
            .await?;
        if renewed == 0 {
            client
                .execute(
                    "INSERT INTO instances (id, address) VALUES ($1, $2)
                     ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
                    &[&self.instance, &address],
                )
                .await?;
        }
        Ok(renewed > 0)
    }

    /// Gives up this instance's lease (at shutdown, once its imports have ended).
    pub async fn leave(&self) -> Result<(), LedgerError> {
        self.execute("DELETE FROM instances WHERE id = $1", &[&self.instance])
            .await?;
        Ok(())
    }

    /// Puts an accepted import at the end of the shared queue; false when its session id is
    /// already there.
    pub async fn enqueue(&self, import: &NewImport, owner: i64) -> Result<bool, LedgerError> {
        let description = serde_json::to_value(import)?;
        let added = self
            .execute(
                "INSERT INTO import_queue (session_id, instance, owner, import)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (session_id) DO NOTHING",
                &[
                    &import.session_id.to_string(),
                    &self.instance,
                    &owner,
                    &description,
                ],
            )
            .await?;
        Ok(added == 1)
    }

    /// Notes that an import of this instance has begun to run.
    pub async fn started(&self, session_id: Uuid) -> Result<(), LedgerError> {
        self.execute(
            "UPDATE import_queue SET started_at = now() WHERE session_id = $1",
            &[&session_id.to_string()],
        )
        .await?;
        Ok(())
    }

    /// Takes an import that ended (or never ran) out of the queue.
    pub async fn remove(&self, session_id: Uuid) -> Result<(), LedgerError> {
        self.execute(
            "DELETE FROM import_queue WHERE session_id = $1",
            &[&session_id.to_string()],
        )
        .await?;
        Ok(())
    }

    /// Takes this instance's rows out of the queue except those of `held` (the imports it still
    /// holds): a removal that failed while the database was away is made good. Rows of the last
    /// minute stay: an upload is written here before this instance's queue holds it.
    pub async fn forget_all_but(&self, held: &[Uuid]) -> Result<u64, LedgerError> {
        let held: Vec<String> = held.iter().map(Uuid::to_string).collect();
        self.execute(
            "DELETE FROM import_queue WHERE instance = $1 AND session_id <> ALL($2)
               AND enqueued_at < now() - interval '1 minute'",
            &[&self.instance, &held],
        )
        .await
    }

    /// The places of this instance's queued imports.
    pub async fn places(&self) -> Result<HashMap<Uuid, Place>, LedgerError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT q.session_id, count(p.seq), count(p.seq) FILTER (WHERE p.started_at IS NULL)
                 FROM import_queue q LEFT JOIN import_queue p ON p.seq < q.seq
                 WHERE q.instance = $1
                 GROUP BY q.session_id",
                &[&self.instance],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let session_id: String = row.get(0);
                let place = Place {
                    ahead: row.get::<_, i64>(1) as u64,
                    position: row.get::<_, i64>(2) as u64 + 1,
                };
                Ok((Uuid::parse_str(&session_id)?, place))
            })
            .collect()
    }

    /// A queued or running import, on whichever instance holds it.
    pub async fn entry(&self, session_id: Uuid) -> Result<Option<Entry>, LedgerError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT q.instance, q.owner, q.started_at IS NOT NULL,
                        (SELECT count(*) FROM import_queue p WHERE p.seq < q.seq)
                 FROM import_queue q WHERE q.session_id = $1",
                &[&session_id.to_string()],
            )
            .await?;
        Ok(row.map(|row| Entry {
            instance: row.get(0),
            owner: row.get(1),
            started: row.get(2),
            ahead: row.get::<_, i64>(3) as u64,
        }))
    }

    /// Ends the leases that ran out `lease` ago and takes the imports of instances without a
    /// lease out of the queue. Each is returned to exactly one caller, whichever instance asks.
    pub async fn take_up_dead(&self, lease: Duration) -> Result<Vec<TakenUp>, LedgerError> {
        // One statement: the rows the CTE deletes are still visible to the outer DELETE, hence
        // both conditions. Two instances asking at once each take what the other did not.
        let rows = self
            .client()
            .await?
            .query(
                "WITH ended AS (
                     DELETE FROM instances
                     WHERE heartbeat_at < now() - make_interval(secs => $1)
                     RETURNING id)
                 DELETE FROM import_queue q
                 WHERE q.instance IN (SELECT id FROM ended)
                    OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = q.instance)
                 RETURNING q.import, q.started_at IS NOT NULL",
                &[&lease.as_secs_f64()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let import: serde_json::Value = row.get(0);
                Ok(TakenUp {
                    import: serde_json::from_value(import)?,
                    started: row.get(1),
                })
            })
            .collect()
    }

    /// Ends the database connections of a running import, so that nothing of it can commit.
    pub async fn end_connections(&self, application_name: &str) -> Result<u64, LedgerError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = $1",
                &[&application_name],
            )
            .await?;
        Ok(rows.len() as u64)
    }
}
