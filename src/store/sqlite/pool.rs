//! A few connections for reads: a slow read (a search over every finding) holds one of them,
//! and the others keep answering pages, counts and the history meanwhile.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex};

use rusqlite::Connection;

pub(super) struct ReadPool {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
}

impl ReadPool {
    pub(super) fn new(connections: Vec<Connection>) -> Self {
        assert!(!connections.is_empty(), "a read pool needs a connection");
        ReadPool {
            idle: Mutex::new(connections),
            returned: Condvar::new(),
        }
    }

    /// An idle connection, waiting for one to come back when all are in use.
    pub(super) fn get(&self) -> PooledConnection<'_> {
        let mut idle = crate::lock(&self.idle);
        loop {
            if let Some(conn) = idle.pop() {
                return PooledConnection {
                    pool: self,
                    conn: Some(conn),
                };
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// A connection taken from a [`ReadPool`]; it goes back when dropped.
pub(super) struct PooledConnection<'a> {
    pool: &'a ReadPool,
    conn: Option<Connection>,
}

impl Deref for PooledConnection<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("held until dropped")
    }
}

impl DerefMut for PooledConnection<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("held until dropped")
    }
}

impl Drop for PooledConnection<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            crate::lock(&self.pool.idle).push(conn);
            self.pool.returned.notify_one();
        }
    }
}
