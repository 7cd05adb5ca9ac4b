//! A few connections for reads: a slow read (a search over every finding) holds one of them,
//! and the others keep answering pages, counts and the history meanwhile. Every backend keeps
//! its readers in one.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex};

pub(super) struct ReadPool<C> {
    idle: Mutex<Vec<C>>,
    returned: Condvar,
}

impl<C> ReadPool<C> {
    pub(super) fn new(connections: Vec<C>) -> Self {
        assert!(!connections.is_empty(), "a read pool needs a connection");
        ReadPool {
            idle: Mutex::new(connections),
            returned: Condvar::new(),
        }
    }

    /// An idle connection, waiting for one to come back when all are in use.
    pub(super) fn get(&self) -> PooledConnection<'_, C> {
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
pub(super) struct PooledConnection<'a, C> {
    pool: &'a ReadPool<C>,
    conn: Option<C>,
}

impl<C> Deref for PooledConnection<'_, C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.conn.as_ref().expect("held until dropped")
    }
}

impl<C> DerefMut for PooledConnection<'_, C> {
    fn deref_mut(&mut self) -> &mut C {
        self.conn.as_mut().expect("held until dropped")
    }
}

impl<C> Drop for PooledConnection<'_, C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            crate::lock(&self.pool.idle).push(conn);
            self.pool.returned.notify_one();
        }
    }
}
