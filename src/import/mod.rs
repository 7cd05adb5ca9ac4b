//! The import pipeline.

pub mod format;
pub mod normalize;
pub mod reader;
pub mod source;
