//! The import pipeline: a scanner export, read as a stream, becomes normalised and keyed finding
//! records that a [`crate::store::Store`] applies atomically.
//!
//! - [`source`] recognises the file (a CSV, gzipped or the one CSV of a zip), decides its
//!   encoding and hands out UTF-8 text;
//! - [`reader`] splits it into rows with line numbers, rejecting malformed ones;
//! - [`format`] recognises the export's columns from its header;
//! - [`normalize`] turns a row into records (one per CVE) with their deduplication keys;
//! - [`pipeline`] runs an import through its phases, reporting progress.

pub mod format;
pub mod normalize;
pub mod pipeline;
pub mod reader;
pub mod source;

pub use pipeline::{Canceller, ImportRequest, ImportSummary, check_scan_date, run_import};
