//! vulnimport: imports vulnerability-scanner exports into a database and reports each import's
//! progress live.
//!
//! - [`domain`] is the vocabulary both share: records, severity, keys, row problems, scope,
//!   outcome.
//! - [`import`] reads a scanner export as a stream, recognises its format and turns rows into
//!   normalised, keyed finding records, then drives an import through its phases.
//! - [`store`] is the storage interface (staging, deduplication, lifecycle, history) and its
//!   SQLite backend.
//! - [`progress`] is the progress tracker: sessions, weighted phases, throttling, ETA, cleanup.
//! - [`server`] is `vulnimport serve`: HTTP API, Socket.IO progress rooms, import queue, web UI.
//! - [`auth`] is accounts and credentials: password hashing, API tokens, web sessions, throttling.
//! - [`export`] writes findings out: the findings export (CSV, JSON) and each import's report.
//! - [`config`] is the server's typed configuration; [`cli`] the command line's work.
//! - [`generate`] writes realistic synthetic exports for tests, demos and benchmarks.

pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod export;
pub mod generate;
pub mod import;
pub mod progress;
pub mod server;
pub mod store;

/// Locks a mutex, tolerating poisoning: shared state stays usable after a panic elsewhere.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
