//! Spooled uploads: an upload is streamed to a file in the upload folder and waits there for its
//! turn. The file is deleted when its import ends or its upload is refused. While a process holds
//! it, the file is locked: a starting server deletes the unlocked ones, which a killed process
//! left behind, and keeps those of another server sharing the folder.

use std::fs::{File, TryLockError};
use std::io;
use std::path::Path;

use tempfile::TempPath;

const PREFIX: &str = "vulnimport-upload-";

/// An upload's file, deleted when dropped.
pub struct Spooled {
    path: TempPath,
    _lock: File,
}

impl Spooled {
    /// A new, locked, empty file in `dir`, and a handle to write the upload with.
    pub fn create(dir: &Path) -> io::Result<(Spooled, tokio::fs::File)> {
        let (file, path) = tempfile::Builder::new()
            .prefix(PREFIX)
            .suffix(".csv")
            .tempfile_in(dir)?
            .into_parts();
        file.try_lock().map_err(io::Error::from)?;
        let writer = tokio::fs::File::from_std(file.try_clone()?);
        Ok((Spooled { path, _lock: file }, writer))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Deletes the spooled uploads in `dir` that no running process holds. Returns how many files
/// and bytes.
pub fn remove_orphans(dir: &Path) -> io::Result<(u64, u64)> {
    let (mut files, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        match file.try_lock() {
            Ok(()) => {
                let size = file.metadata().map_or(0, |meta| meta.len());
                if std::fs::remove_file(entry.path()).is_ok() {
                    files += 1;
                    bytes += size;
                }
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(error)) => return Err(error),
        }
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphans_go_and_held_uploads_stay() {
        let dir = tempfile::tempdir().unwrap();
        let (held, _writer) = Spooled::create(dir.path()).unwrap();
        let orphan = dir.path().join(format!("{PREFIX}left.csv"));
        std::fs::write(&orphan, b"host,cve\n").unwrap();
        let unrelated = dir.path().join("notes.csv");
        std::fs::write(&unrelated, b"kept").unwrap();

        assert_eq!(remove_orphans(dir.path()).unwrap(), (1, 9));
        assert!(held.path().exists());
        assert!(!orphan.exists());
        assert!(unrelated.exists());

        let path = held.path().to_owned();
        drop(held);
        assert!(!path.exists());
    }
}
