//! vulnimport: imports vulnerability-scanner exports into a database and reports each import's
//! progress live.
//!
//! - [`import`] reads a scanner export as a stream, recognises its format and turns rows into
//!   normalised, keyed finding records, then drives an import through its phases.
//! - [`store`] is the storage interface (staging, deduplication, lifecycle, history) and its
//!   SQLite backend.
//! - [`progress`] is the progress tracker: sessions, weighted phases, throttling, ETA, cleanup.
//! - [`generate`] writes realistic synthetic exports for tests, demos and benchmarks.

pub mod cli;
pub mod generate;
pub mod import;
pub mod progress;
pub mod store;
