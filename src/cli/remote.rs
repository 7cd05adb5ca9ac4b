//! `vulnimport import --server URL`: uploads to a running server and follows the import there.

use super::ImportOptions;
use crate::import::ImportSummary;

pub async fn import(
    _options: ImportOptions,
    _server: &str,
    _token: Option<String>,
) -> anyhow::Result<ImportSummary> {
    anyhow::bail!("importing through a server is not available yet")
}
