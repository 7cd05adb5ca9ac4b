//! Spooled uploads: an upload is streamed to a file in the upload folder and waits there for its
//! turn. Once accepted, a small JSON file beside it says what import it is, written to disk
//! before the client hears `202`. When the import ends both are deleted, or, when it did not
//! complete, the upload is kept for a retry (see [`super::kept`]); a refused upload is deleted.
//! A retry's upload is a link to the kept file.
//!
//! While a process holds an upload, its file is locked. A starting server takes the unlocked
//! ones, which a killed process left behind (keeping those of another server sharing the
//! folder): the accepted imports among them are recorded as interrupted and their uploads kept,
//! the rest deleted.

use std::fs::{File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempPath;
use uuid::Uuid;

use super::kept::KeptUploads;
use crate::store::NewImport;

const PREFIX: &str = "vulnimport-upload-";
const UPLOAD_SUFFIX: &str = ".upload";
const ACCEPTED_SUFFIX: &str = ".json";
/// How long a retry waits for a kept file's lock before taking it as held by another retry.
const LINK_LOCK_WAIT: Duration = Duration::from_millis(200);

/// An upload's file (and, once accepted, its description), deleted when dropped.
pub struct Spooled {
    path: TempPath,
    accepted: Option<(TempPath, NewImport)>,
    _lock: File,
}

impl Spooled {
    /// A new, locked, empty file in `dir`, and a handle to write the upload with.
    pub fn create(dir: &Path) -> io::Result<(Spooled, tokio::fs::File)> {
        let (file, path) = tempfile::Builder::new()
            .prefix(PREFIX)
            .suffix(UPLOAD_SUFFIX)
            .tempfile_in(dir)?
            .into_parts();
        file.try_lock().map_err(io::Error::from)?;
        let writer = tokio::fs::File::from_std(file.try_clone()?);
        let spooled = Spooled {
            path,
            accepted: None,
            _lock: file,
        };
        Ok((spooled, writer))
    }

    /// A new, locked upload in `dir` holding a kept upload's file: a hard link (a copy where
    /// the file system has none), so the kept file stays for another retry. Fails with
    /// `WouldBlock` while a retry of it holds it, `NotFound` when it is no longer kept. Runs
    /// on a blocking thread: it may wait a moment for the lock.
    pub fn link(dir: &Path, kept: &Path) -> io::Result<Spooled> {
        let path = TempPath::try_from_path(dir.join(format!(
            "{PREFIX}{}{UPLOAD_SUFFIX}",
            Uuid::new_v4().simple()
        )))?;
        if let Err(error) = std::fs::hard_link(kept, &path) {
            if error.kind() == io::ErrorKind::NotFound {
                return Err(error);
            }
            std::fs::copy(kept, &path)?;
        }
        let file = File::open(&path)?;
        // Retention holds kept files' locks for a moment while it looks at them.
        let deadline = Instant::now() + LINK_LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(LINK_LOCK_WAIT / 10);
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(Spooled {
            path,
            accepted: None,
            _lock: file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes (and syncs) what import the upload is, so it outlives a crash of this process.
    pub fn accept(&mut self, import: &NewImport) -> io::Result<()> {
        let path = accepted_path(&self.path);
        let mut file = File::create(&path)?;
        let description = TempPath::try_from_path(&path)?;
        file.write_all(&serde_json::to_vec(import)?)?;
        file.sync_all()?;
        self.accepted = Some((description, import.clone()));
        Ok(())
    }

    /// Moves an accepted upload into `kept`, its lock held until it is there; on an error it is
    /// deleted.
    pub fn keep(self, kept: &KeptUploads) -> io::Result<()> {
        let Some((_description, import)) = &self.accepted else {
            return Err(io::Error::other("an upload never accepted is not kept"));
        };
        kept.keep(&self.path, import)?;
        // Moved: nothing is left to delete at the spooled path.
        let Spooled { path, .. } = self;
        let _ = path.keep();
        Ok(())
    }
}

fn accepted_path(upload: &Path) -> PathBuf {
    let mut path = upload.as_os_str().to_owned();
    path.push(ACCEPTED_SUFFIX);
    path.into()
}

/// An upload that no running process holds, locked by this one until [`Orphan::remove`].
pub struct Orphan {
    path: PathBuf,
    /// The import it was accepted for, if it had been.
    pub accepted: Option<NewImport>,
    pub bytes: u64,
    _lock: File,
}

impl Orphan {
    /// Moves an accepted upload into `kept` (see [`Spooled::keep`]); on an error it is removed.
    pub fn keep(self, kept: &KeptUploads) -> io::Result<()> {
        let Some(import) = &self.accepted else {
            return Err(io::Error::other("an upload never accepted is not kept"));
        };
        if let Err(error) = kept.keep(&self.path, import) {
            let _ = self.remove();
            return Err(error);
        }
        std::fs::remove_file(accepted_path(&self.path))
    }

    pub fn remove(self) -> io::Result<()> {
        let accepted = accepted_path(&self.path);
        if accepted.exists() {
            std::fs::remove_file(accepted)?;
        }
        std::fs::remove_file(&self.path)
    }
}

/// The spooled uploads in `dir` that no running process holds.
pub fn orphans(dir: &Path) -> io::Result<Vec<Orphan>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_upload = path.file_name().is_some_and(|name| {
            let name = name.to_string_lossy();
            name.starts_with(PREFIX) && name.ends_with(UPLOAD_SUFFIX)
        });
        if !is_upload {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(error)) => return Err(error),
        }
        let accepted = std::fs::read(accepted_path(&path))
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok());
        found.push(Orphan {
            bytes: file.metadata().map_or(0, |meta| meta.len()),
            path,
            accepted,
            _lock: file,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Scope;

    fn import() -> NewImport {
        NewImport {
            session_id: uuid::Uuid::new_v4(),
            file_name: "scan.csv".into(),
            file_size: 9,
            scan_date: "2026-01-05".parse().unwrap(),
            scope: Scope::Hosts,
            started_by: "ana".into(),
            retry_of: None,
        }
    }

    #[test]
    fn orphans_are_found_with_their_imports_and_held_uploads_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let (mut held, _writer) = Spooled::create(dir.path()).unwrap();
        held.accept(&import()).unwrap();
        let left = dir.path().join(format!("{PREFIX}left{UPLOAD_SUFFIX}"));
        std::fs::write(&left, b"host,cve\n").unwrap();
        let accepted = import();
        std::fs::write(accepted_path(&left), serde_json::to_vec(&accepted).unwrap()).unwrap();
        let unrelated = dir.path().join("notes.csv");
        std::fs::write(&unrelated, b"kept").unwrap();

        let found = orphans(dir.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].accepted.as_ref(), Some(&accepted));
        assert_eq!(found[0].bytes, 9);
        found.into_iter().next().unwrap().remove().unwrap();
        assert!(!left.exists() && !accepted_path(&left).exists());
        assert!(held.path().exists() && unrelated.exists());

        let (path, description) = (held.path().to_owned(), accepted_path(held.path()));
        assert!(description.exists());
        drop(held);
        assert!(!path.exists() && !description.exists());
    }

    #[test]
    fn a_kept_file_is_linked_into_the_spool_by_one_retry_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("kept.upload");
        std::fs::write(&kept, b"host,cve\n").unwrap();
        let linked = Spooled::link(dir.path(), &kept).unwrap();
        assert_eq!(std::fs::read(linked.path()).unwrap(), b"host,cve\n");
        let second = Spooled::link(dir.path(), &kept).err().unwrap();
        assert_eq!(second.kind(), io::ErrorKind::WouldBlock, "{second}");
        let path = linked.path().to_owned();
        drop(linked);
        assert!(!path.exists() && kept.exists(), "the kept file stays");
        assert!(Spooled::link(dir.path(), &kept).is_ok());
        let gone = Spooled::link(dir.path(), &dir.path().join("gone.upload"));
        assert_eq!(gone.err().unwrap().kind(), io::ErrorKind::NotFound);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "refused links leave nothing behind"
        );
    }
}
