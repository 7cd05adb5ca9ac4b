//! `POST /api/imports/{sessionId}/retry`: an import that did not complete (failed, cancelled or
//! interrupted) started again from its kept upload (see [`super::kept`]): a new import with a new
//! session id, the same file name, scan date and scope, started by the caller and queued like an
//! upload. Its record names the import it retries. The kept file stays for another retry.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use super::App;
use super::access::Caller;
use super::http::{ApiError, ApiResult, queue_accepted, spool_error, unknown_session};
use super::kept::UploadGone;
use super::realtime::parse_session_id;
use super::spool::Spooled;
use crate::domain::Outcome;
use crate::store::NewImport;
use crate::store::accounts::Role;

pub(super) async fn retry_import(
    State(app): State<App>,
    Extension(caller): Extension<Caller>,
    Path(session_id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let retried = parse_session_id(&session_id).map_err(ApiError::BadRequest)?;
    let starter = caller.require(Role::Analyst)?.identity.clone();
    if app.stopping.is_cancelled() || !app.queue.is_open() {
        return Err(ApiError::ShuttingDown);
    }
    let status = app
        .status(retried)
        .await?
        .ok_or_else(|| unknown_session(retried))?;
    match status.outcome {
        Outcome::Completed => {
            return Err(ApiError::Conflict(format!(
                "import {retried} completed; there is nothing to retry"
            )));
        }
        Outcome::Queued | Outcome::Running => {
            return Err(ApiError::Conflict(format!(
                "import {retried} is still queued or running; it can be retried once it has ended"
            )));
        }
        Outcome::Failed | Outcome::Cancelled | Outcome::Interrupted => {}
    }
    let (kept, upload_dir) = (app.kept.clone(), app.config.upload_dir());
    let spool_dir = upload_dir.clone();
    let taken = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        let Some(found) = kept.find(retried)? else {
            return Ok(None);
        };
        match Spooled::link(&spool_dir, &found.path) {
            Ok(spooled) => Ok(Some((spooled, found.import))),
            // Removed by retention meanwhile.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    })
    .await
    .map_err(|error| ApiError::Internal(format!("retry task: {error}")))?;
    let (spooled, original) = match taken {
        Ok(Some(taken)) => taken,
        Ok(None) => return Err(upload_gone(&app, retried).await),
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
            return Err(ApiError::Conflict(format!(
                "a retry of import {retried} is already queued or running"
            )));
        }
        Err(error) => return Err(spool_error(error, &upload_dir)),
    };
    let session_id = Uuid::new_v4();
    let accepted = NewImport {
        session_id,
        started_by: starter.name.clone(),
        retry_of: Some(retried),
        ..original
    };
    queue_accepted(&app, spooled, accepted, starter.user_id).await?;
    tracing::info!(session = %session_id, retry_of = %retried, by = %starter.name, "import retried");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "sessionId": session_id, "retryOf": retried })),
    ))
}

/// The `410` of an import whose upload is not kept, saying why.
async fn upload_gone(app: &App, retried: Uuid) -> ApiError {
    let kept = app.kept.clone();
    let gone = app
        .blocking(move |store| {
            Ok(store
                .import_by_session(retried)?
                .and_then(|record| kept.describe(record).upload_gone))
        })
        .await;
    let retention = app.kept.retention();
    let gone = match gone {
        Ok(gone) => gone.unwrap_or(UploadGone::Retention {
            kept_days: retention.days,
        }),
        Err(error) => return error.into(),
    };
    ApiError::Gone(gone.explain(retried, retention))
}
