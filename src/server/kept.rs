//! Kept uploads: the upload of an import that did not complete (failed, cancelled, interrupted)
//! leaves the spool for a folder of its own under the upload folder, `vulnimport-kept/`, so the
//! import can be retried without sending the file again. A completed import's upload is deleted.
//!
//! A kept upload is `<session id>.upload` beside `<session id>.json`, the import it was accepted
//! for, written when the upload is kept (its modification time says when). Retention removes the
//! uploads kept longer than the days allowed, then the oldest while they take more than the bytes
//! allowed (names of one file count it once); it runs at start, after each upload kept, and every
//! hour. A retry links the kept file into the spool, where the import locks it like any upload:
//! the kept file stays for another retry, and while its retry waits or runs it is locked too.
//!
//! Servers sharing an upload folder share this one, by the spool's rules: an upload is moved in
//! while the process that held it still holds its lock, and retention leaves locked files alone.

use std::collections::HashMap;
use std::fs::{self, File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use uuid::Uuid;

use super::http::human_bytes;
use crate::cli::LOCAL_STARTER;
use crate::domain::Outcome;
use crate::store::{ImportRecord, NewImport};

const FOLDER: &str = "vulnimport-kept";
const UPLOAD_EXTENSION: &str = "upload";
const DESCRIPTION_EXTENSION: &str = "json";
const DAY_SECONDS: u64 = 24 * 60 * 60;
/// How often retention runs besides at start and after each upload kept.
pub const RETENTION_EVERY: Duration = Duration::from_secs(60 * 60);

/// How long and how much kept uploads are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub days: u64,
    pub max_bytes: u64,
}

/// The folder of kept uploads.
pub struct KeptUploads {
    dir: PathBuf,
    retention: Retention,
}

/// What retention removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub files: u64,
    /// The bytes given back (a file with another name still kept counts once it all goes).
    pub bytes: u64,
}

/// A kept upload: its file and the import it was accepted for.
pub struct KeptUpload {
    pub path: PathBuf,
    pub import: NewImport,
}

impl KeptUploads {
    /// The kept uploads' folder under `upload_dir`, created when missing.
    pub fn open(upload_dir: &Path, retention: Retention) -> io::Result<Self> {
        let dir = upload_dir.join(FOLDER);
        fs::create_dir_all(&dir)?;
        Ok(KeptUploads { dir, retention })
    }

    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// How long an upload is kept at most.
    fn max_age(&self) -> Duration {
        Duration::from_secs(self.retention.days.saturating_mul(DAY_SECONDS))
    }

    fn upload_path(&self, session_id: Uuid) -> PathBuf {
        self.dir.join(format!("{session_id}.{UPLOAD_EXTENSION}"))
    }

    fn description_path(&self, session_id: Uuid) -> PathBuf {
        self.dir
            .join(format!("{session_id}.{DESCRIPTION_EXTENSION}"))
    }

    /// Moves `upload` in as the upload of `import`, with its description. The caller holds the
    /// upload's lock until this returns, so no retention takes it half kept. On an error nothing
    /// is kept (the upload may be gone).
    pub fn keep(&self, upload: &Path, import: &NewImport) -> io::Result<()> {
        let kept = self.upload_path(import.session_id);
        let description = self.description_path(import.session_id);
        fs::rename(upload, &kept)?;
        let written = File::create(&description).and_then(|mut file| {
            file.write_all(&serde_json::to_vec(import)?)?;
            file.sync_all()
        });
        if let Err(error) = written {
            let _ = fs::remove_file(&kept);
            let _ = fs::remove_file(&description);
            return Err(error);
        }
        Ok(())
    }

    /// The kept upload of an import, when it is still kept.
    pub fn find(&self, session_id: Uuid) -> io::Result<Option<KeptUpload>> {
        let path = self.upload_path(session_id);
        let description = match fs::read(self.description_path(session_id)) {
            Ok(json) => json,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        if !path.exists() {
            return Ok(None);
        }
        let import = serde_json::from_slice(&description).map_err(io::Error::other)?;
        Ok(Some(KeptUpload { path, import }))
    }

    /// When retention removes an import's kept upload at the latest (sooner when kept uploads
    /// outgrow their bytes); `None` when it is not kept.
    fn removal_time(&self, session_id: Uuid) -> Option<SystemTime> {
        if !self.upload_path(session_id).exists() {
            return None;
        }
        let kept_at = fs::metadata(self.description_path(session_id))
            .and_then(|meta| meta.modified())
            .ok()?;
        Some(kept_at + self.max_age())
    }

    /// An import's record with whether its upload is kept for a retry.
    pub fn describe(&self, record: ImportRecord) -> ImportEntry {
        let ended_early = matches!(
            record.outcome,
            Outcome::Failed | Outcome::Cancelled | Outcome::Interrupted
        );
        let until = ended_early
            .then(|| self.removal_time(record.session_id))
            .flatten();
        let gone = (ended_early && until.is_none()).then(|| {
            if record.started_by == LOCAL_STARTER {
                UploadGone::CommandLine
            } else {
                UploadGone::Retention {
                    kept_days: self.retention.days,
                }
            }
        });
        ImportEntry {
            record,
            upload_kept: until.is_some(),
            upload_kept_until: until.map(|at| {
                chrono::DateTime::<chrono::Utc>::from(at)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }),
            upload_gone: gone,
        }
    }

    /// Applies retention, logging what it removed.
    pub fn apply_retention(&self) {
        match self.prune(SystemTime::now()) {
            Ok(Pruned { files: 0, .. }) => {}
            Ok(Pruned { files, bytes }) => tracing::info!(
                files,
                bytes,
                days = self.retention.days,
                max_bytes = self.retention.max_bytes,
                "removed kept uploads past their retention"
            ),
            Err(error) => tracing::warn!(
                %error,
                folder = %self.dir.display(),
                "could not apply the kept uploads' retention"
            ),
        }
    }

    /// Removes the uploads kept longer than the retention's days, then the oldest while the
    /// rest take more than its bytes; also what a keep cut short left (an upload without its
    /// description, or the reverse). Locked uploads (being kept, or retried) stay.
    fn prune(&self, now: SystemTime) -> io::Result<Pruned> {
        let mut pruned = Pruned::default();
        let mut kept = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let extension = path.extension().and_then(|extension| extension.to_str());
            if extension == Some(DESCRIPTION_EXTENSION) {
                if !path.with_extension(UPLOAD_EXTENSION).exists() {
                    remove(&path)?;
                }
                continue;
            }
            if extension != Some(UPLOAD_EXTENSION) {
                continue;
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            let meta = file.metadata()?;
            let identity = FileIdentity::of(&meta, &path);
            // Another name of a file locked here already is held by that lock.
            if !kept.iter().any(|other: &Kept| other.identity == identity) {
                match file.try_lock() {
                    Ok(()) => {}
                    Err(TryLockError::WouldBlock) => continue,
                    Err(TryLockError::Error(error)) => return Err(error),
                }
            }
            let description = path.with_extension(DESCRIPTION_EXTENSION);
            // Without its description the upload was never kept whole: it goes first.
            let kept_at = fs::metadata(&description).and_then(|meta| meta.modified());
            kept.push(Kept {
                identity,
                bytes: meta.len(),
                complete: kept_at.is_ok(),
                kept_at: kept_at.unwrap_or(SystemTime::UNIX_EPOCH),
                path,
                description,
                _lock: file,
            });
        }
        kept.sort_by_key(|upload| upload.kept_at);
        let mut names: HashMap<FileIdentity, usize> = HashMap::new();
        let mut total = 0;
        for upload in &kept {
            let count = names.entry(upload.identity.clone()).or_default();
            if *count == 0 {
                total += upload.bytes;
            }
            *count += 1;
        }
        let max_age = self.max_age();
        for upload in kept {
            let age = now.duration_since(upload.kept_at).unwrap_or_default();
            if upload.complete && age < max_age && total <= self.retention.max_bytes {
                break;
            }
            remove(&upload.path)?;
            remove(&upload.description)?;
            pruned.files += 1;
            let count = names.entry(upload.identity).or_default();
            *count -= 1;
            if *count == 0 {
                total -= upload.bytes;
                pruned.bytes += upload.bytes;
            }
        }
        Ok(pruned)
    }
}

/// A kept upload that retention considers, locked until it is done.
struct Kept {
    path: PathBuf,
    description: PathBuf,
    identity: FileIdentity,
    bytes: u64,
    /// Whether its description is there.
    complete: bool,
    kept_at: SystemTime,
    _lock: File,
}

/// Tells names of one file (a retry's, linked to the upload it retried) from distinct files.
#[derive(Clone, PartialEq, Eq, Hash)]
enum FileIdentity {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg(not(unix))]
    Path(PathBuf),
}

impl FileIdentity {
    #[cfg(unix)]
    fn of(meta: &fs::Metadata, _path: &Path) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileIdentity::Inode(meta.dev(), meta.ino())
    }

    #[cfg(not(unix))]
    fn of(_meta: &fs::Metadata, path: &Path) -> Self {
        FileIdentity::Path(path.to_owned())
    }
}

/// Removes a file another server's retention may have removed already.
fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// An import's record as the API answers it, with whether its upload is kept for a retry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportEntry {
    #[serde(flatten)]
    pub record: ImportRecord,
    /// The import did not complete and its upload is kept: it can be retried.
    pub upload_kept: bool,
    /// When retention removes the kept upload at the latest.
    pub upload_kept_until: Option<String>,
    /// Why an import that did not complete has no kept upload.
    pub upload_gone: Option<UploadGone>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub enum UploadGone {
    /// Removed by retention (kept uploads are kept `keptDays` days, within a size).
    Retention {
        #[serde(rename = "keptDays")]
        kept_days: u64,
    },
    /// A local command-line import, which had no upload.
    CommandLine,
}

impl UploadGone {
    /// Why a retry is refused, for people.
    pub fn explain(&self, session_id: Uuid, retention: Retention) -> String {
        match self {
            UploadGone::CommandLine => format!(
                "import {session_id} was imported from the command line and had no upload to \
                 retry; import the file again"
            ),
            UploadGone::Retention { kept_days } => format!(
                "the upload of import {session_id} is no longer kept: uploads of imports that \
                 did not complete are kept {kept_days} days and {} in all, the oldest \
                 removed first; upload the file again",
                human_bytes(retention.max_bytes)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Scope;
    use crate::store::Store;

    const DAY: Duration = Duration::from_secs(DAY_SECONDS);
    const RETENTION: Retention = Retention {
        days: 7,
        max_bytes: 100,
    };

    fn import() -> NewImport {
        NewImport {
            session_id: Uuid::new_v4(),
            file_name: "scan.csv".into(),
            file_size: 40,
            scan_date: "2026-01-05".parse().unwrap(),
            scope: Scope::Hosts,
            started_by: "ana".into(),
            retry_of: None,
        }
    }

    /// Keeps a file of `bytes` bytes, kept `days_ago` days ago.
    fn keep(kept: &KeptUploads, bytes: usize, days_ago: u32) -> NewImport {
        let import = import();
        let upload = kept.dir.parent().unwrap().join("spooled.upload");
        fs::write(&upload, vec![b'x'; bytes]).unwrap();
        kept.keep(&upload, &import).unwrap();
        assert!(!upload.exists());
        let description = File::options()
            .write(true)
            .open(kept.description_path(import.session_id))
            .unwrap();
        description
            .set_modified(SystemTime::now() - DAY * days_ago)
            .unwrap();
        import
    }

    #[test]
    fn kept_uploads_are_found_with_their_imports() {
        let dir = tempfile::tempdir().unwrap();
        let kept = KeptUploads::open(dir.path(), RETENTION).unwrap();
        let import = keep(&kept, 40, 0);
        let found = kept.find(import.session_id).unwrap().unwrap();
        assert_eq!(found.import, import);
        assert_eq!(fs::read(&found.path).unwrap().len(), 40);
        assert!(kept.find(Uuid::new_v4()).unwrap().is_none());
        let until = kept.removal_time(import.session_id).unwrap();
        let left = until.duration_since(SystemTime::now()).unwrap();
        assert!(left > DAY * 6 && left <= DAY * 7, "{left:?}");
    }

    #[test]
    fn retention_removes_the_expired_then_the_oldest_over_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let kept = KeptUploads::open(dir.path(), RETENTION).unwrap();
        let expired = keep(&kept, 10, 8);
        let oldest = keep(&kept, 40, 3);
        let older = keep(&kept, 40, 2);
        let newest = keep(&kept, 40, 1);
        let pruned = kept.prune(SystemTime::now()).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                files: 2,
                bytes: 50
            }
        );
        for (import, still_kept) in [
            (&expired, false),
            (&oldest, false),
            (&older, true),
            (&newest, true),
        ] {
            assert_eq!(
                kept.find(import.session_id).unwrap().is_some(),
                still_kept,
                "{}",
                import.session_id
            );
        }
        assert_eq!(kept.prune(SystemTime::now()).unwrap(), Pruned::default());
    }

    #[test]
    fn names_of_one_file_count_once_and_locked_uploads_stay() {
        let dir = tempfile::tempdir().unwrap();
        let kept = KeptUploads::open(dir.path(), RETENTION).unwrap();
        let first = keep(&kept, 60, 3);
        // A retry of it that failed too: kept under its own name, the same file.
        let retry = NewImport {
            retry_of: Some(first.session_id),
            ..import()
        };
        let link = dir.path().join("retry.upload");
        fs::hard_link(kept.upload_path(first.session_id), &link).unwrap();
        kept.keep(&link, &retry).unwrap();
        assert_eq!(kept.prune(SystemTime::now()).unwrap(), Pruned::default());

        let locked = keep(&kept, 60, 8);
        let held = File::open(kept.upload_path(locked.session_id)).unwrap();
        held.try_lock().unwrap();
        assert_eq!(
            kept.prune(SystemTime::now()).unwrap(),
            Pruned::default(),
            "a retried upload is not removed while its retry holds it"
        );
        drop(held);
        assert_eq!(
            kept.prune(SystemTime::now()).unwrap(),
            Pruned {
                files: 1,
                bytes: 60
            }
        );

        let description = kept.description_path(first.session_id);
        fs::remove_file(&description).unwrap();
        assert_eq!(
            kept.prune(SystemTime::now()).unwrap(),
            Pruned { files: 1, bytes: 0 },
            "an upload without its description goes; its file has another name"
        );
        assert!(kept.find(retry.session_id).unwrap().is_some());
    }

    #[test]
    fn records_say_whether_their_upload_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let kept = KeptUploads::open(dir.path(), RETENTION).unwrap();
        let import = keep(&kept, 10, 0);
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("v.db")).unwrap();
        let mut sessions = Vec::new();
        for (started_by, outcome) in [
            ("ana", Outcome::Failed),
            ("ana", Outcome::Cancelled),
            (LOCAL_STARTER, Outcome::Interrupted),
        ] {
            let unstarted = NewImport {
                session_id: if sessions.is_empty() {
                    import.session_id
                } else {
                    Uuid::new_v4()
                },
                started_by: started_by.into(),
                ..import.clone()
            };
            store
                .record_unstarted(&unstarted, outcome, "stopped", None)
                .unwrap();
            sessions.push(unstarted.session_id);
        }
        let entry =
            |session_id| kept.describe(store.import_by_session(session_id).unwrap().unwrap());
        let failed = entry(sessions[0]);
        assert!(failed.upload_kept && failed.upload_kept_until.is_some());
        assert_eq!(failed.upload_gone, None);
        let cancelled = entry(sessions[1]);
        assert!(!cancelled.upload_kept);
        assert_eq!(
            cancelled.upload_gone,
            Some(UploadGone::Retention { kept_days: 7 })
        );
        assert_eq!(
            entry(sessions[2]).upload_gone,
            Some(UploadGone::CommandLine)
        );
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["uploadKept"], true);
        assert_eq!(json["fileName"], "scan.csv");
        assert_eq!(
            serde_json::to_value(&cancelled).unwrap()["uploadGone"],
            serde_json::json!({ "reason": "retention", "keptDays": 7 })
        );
    }
}
