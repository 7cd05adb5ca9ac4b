//! A full disk at every moment of an import, through the command line: the database (and
//! SQLite's temporary files) on a small tmpfs, filled to leave less and less room. Every run has
//! one true outcome on every channel (exit status, JSON summary, the import's record, the final
//! tables), the final tables are unchanged or fully applied, and no stray file stays.
//!
//! Mounting a tmpfs needs root (as CI runs); elsewhere the test says so and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use rusqlite::Connection;
use serde_json::Value;
use tempfile::TempDir;
use vulnimport::generate::{GenerateOptions, write_tenable_export};

use crate::helpers::TestDb;

/// A tmpfs mounted on a temporary folder for as long as it lives.
struct SmallDisk {
    dir: TempDir,
}

impl SmallDisk {
    fn mount(size_mib: u64) -> Option<SmallDisk> {
        if !Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
        {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mounting a tmpfs failed");
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn available(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn clear(&self) {
        for entry in std::fs::read_dir(self.path()).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn generated(dir: &Path, rows: u64, seed: u64) -> PathBuf {
    let path = dir.join(format!("tenable-{rows}-{seed}.csv"));
    write_tenable_export(
        std::fs::File::create(&path).unwrap(),
        &GenerateOptions::new(rows, seed),
    )
    .unwrap();
    path
}

/// The final tables' content, to compare before and after.
fn final_tables(db: &Path) -> (i64, String) {
    let conn = Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*), coalesce(group_concat(state || last_seen || coalesce(resolved_date, ''), ','), '')
         FROM (SELECT state, last_seen, resolved_date FROM findings ORDER BY id)",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .unwrap()
}

fn record(db: &Path, session_id: &str) -> Option<(String, Option<String>)> {
    let conn = Connection::open(db).unwrap();
    conn.query_row(
        "SELECT outcome, error FROM imports WHERE session_id = ?1",
        [session_id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .ok()
}

#[test]
fn a_full_disk_at_any_moment_gives_one_true_outcome() {
    let Some(disk) = SmallDisk::mount(96) else {
        return;
    };
    let work = TestDb::new();
    let first = generated(work.dir.path(), 8_000, 1);
    let second = generated(work.dir.path(), 8_000, 2);
    // The database before the import under test: one earlier scan.
    let baseline = work.dir.path().join("baseline.db");
    let import = |db: &Path, file: &Path, date: &str| {
        Command::new(env!("CARGO_BIN_EXE_vulnimport"))
            .args(["import", "--json", "--scan-date", date, "--database"])
            .arg(db)
            .arg(file)
            .env("SQLITE_TMPDIR", disk.path())
            .output()
            .unwrap()
    };
    assert!(import(&baseline, &first, "2026-01-05").status.success());
    let before = final_tables(&baseline);

    // Which phase each failure came in: the last one with time spent in it (a stopped import
    // records the time it spent in the phase it stopped in, and none for the phases after).
    let mut failed_in = std::collections::BTreeSet::new();
    let mut completed = 0;
    for free_kib in [
        256, 1024, 2048, 4096, 6144, 8192, 12288, 14336, 16384, 18432, 24576, 49152,
    ] {
        disk.clear();
        let db = disk.path().join("vulnimport.db");
        std::fs::copy(&baseline, &db).unwrap();
        let filler = disk.available().saturating_sub(free_kib * 1024);
        std::fs::write(disk.path().join("filler"), vec![0u8; filler as usize]).unwrap();

        let output = import(&db, &second, "2026-01-12");
        let summary: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{free_kib} KiB free: no summary: {output:?}"));
        let session_id = summary["sessionId"].as_str().unwrap();
        let recorded = record(&db, session_id);
        let after = final_tables(&db);
        match output.status.code() {
            Some(0) => {
                completed += 1;
                assert_eq!(summary["outcome"], "completed");
                assert_eq!(recorded, Some(("completed".into(), None)), "{free_kib} KiB");
                assert_ne!(
                    after, before,
                    "{free_kib} KiB: completed but nothing applied"
                );
            }
            Some(1) => {
                let timings = &summary["timings"];
                let reached = ["parsing", "loading", "processing", "finalizing"]
                    .into_iter()
                    .rfind(|phase| timings[*phase].as_u64() > Some(0));
                failed_in.insert(reached.unwrap_or("parsing"));
                let error = summary["error"].as_str().unwrap();
                assert_eq!(summary["outcome"], "failed", "{free_kib} KiB");
                assert!(
                    error.contains("no space left on the disk holding the database"),
                    "{free_kib} KiB: {error}"
                );
                // Failing before the record could be written leaves no record at all.
                if let Some(recorded) = recorded {
                    assert_eq!(recorded, ("failed".into(), Some(error.to_owned())));
                }
                assert_eq!(
                    after, before,
                    "{free_kib} KiB: a failed import changed findings"
                );
            }
            other => panic!("{free_kib} KiB: exit status {other:?}: {output:?}"),
        }
        let mut left: Vec<String> = std::fs::read_dir(disk.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        left.retain(|name| {
            !["filler", "vulnimport.db", "vulnimport.db.lock"].contains(&name.as_str())
        });
        assert!(
            left.iter()
                .all(|name| name.ends_with("-wal") || name.ends_with("-shm")),
            "{free_kib} KiB: stray files {left:?}"
        );
    }
    assert!(completed > 0, "no import completed");
    assert_eq!(
        failed_in.into_iter().collect::<Vec<_>>(),
        ["finalizing", "loading", "processing"],
        "a full disk was met in every phase that writes"
    );
}
