//! The import pipeline.

pub mod format;
pub mod normalize;
