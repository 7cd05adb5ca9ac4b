//! The import engine end to end: real files, a real SQLite database, the real pipeline.

mod atomicity;
mod bad_input;
mod cli;
mod eta;
mod faults;
mod formats;
mod helpers;
mod lifecycle;
mod properties;
mod reads;
mod remote;
mod trends;
