//! A fresh database per test, importing helpers and views of the final tables.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use rusqlite::Connection;
use serde_json::Value;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vulnimport::domain::Scope;
use vulnimport::domain::key_hash;
use vulnimport::generate::{GenerateOptions, write_tenable_export};
use vulnimport::import::{ImportRequest, ImportSummary, run_import};
use vulnimport::progress::{Phase, ProgressReporter};
use vulnimport::store::{self, Store};

/// The real sample exports, kept with the tests.
pub const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hextrackr");

pub fn sample(name: &str) -> PathBuf {
    Path::new(SAMPLES).join(name)
}

/// A generated Tenable.io export of 40,000 rows (~28 MB), written once and kept with the build.
pub fn large_export() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tenable-40000-seed7.csv");
        if !path.exists() {
            let partial = path.with_extension("partial");
            let file = std::fs::File::create(&partial).unwrap();
            write_tenable_export(file, &GenerateOptions::new(40_000, 7)).unwrap();
            std::fs::rename(&partial, &path).unwrap();
        }
        path
    })
    .clone()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A zip archive of these files, deflated.
pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

pub fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// A request to import the file at `path` with the default limits, started by `test`.
pub fn request(path: &Path, scan_date: &str, scope: Scope) -> ImportRequest {
    ImportRequest {
        path: path.to_owned(),
        file_name: path.file_name().unwrap().to_string_lossy().into_owned(),
        session_id: Uuid::new_v4(),
        scan_date: date(scan_date),
        scope,
        started_by: "test".into(),
        canceller: Default::default(),
        max_rejected_share: ImportRequest::DEFAULT_MAX_REJECTED_SHARE,
        max_field_bytes: ImportRequest::DEFAULT_MAX_FIELD_BYTES,
        retry_of: None,
    }
}

/// The database a test runs against: a SQLite file, or a fresh PostgreSQL database when
/// `TEST_DATABASE_URL` names a PostgreSQL server (`postgres://USER@HOST:PORT/DATABASE`, a database
/// to connect to while creating and dropping the test's own).
pub enum Database {
    Sqlite(PathBuf),
    Postgres { server: String, name: String },
}

impl Database {
    /// A database of its own for one test: a file in `dir`, or a new PostgreSQL database.
    pub fn fresh(dir: &Path) -> Database {
        Database::named(dir, &format!("vi_test_{}", Uuid::new_v4().simple()))
    }

    /// A database by name: the file `dir/vulnimport.db`, or the PostgreSQL database `name`,
    /// created anew (an earlier one of that name is dropped).
    pub fn named(dir: &Path, name: &str) -> Database {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(server) if server.starts_with("postgres") => {
                let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap();
                for statement in [
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    format!("CREATE DATABASE {name}"),
                ] {
                    admin.batch_execute(&statement).unwrap();
                }
                Database::Postgres {
                    server,
                    name: name.to_owned(),
                }
            }
            _ => Database::Sqlite(dir.join("vulnimport.db")),
        }
    }

    pub fn url(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite://{}", path.display()),
            Database::Postgres { server, name } => {
                let (base, _) = server.rsplit_once('/').expect("a URL with a database");
                format!("{base}/{name}")
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Database::Postgres { .. })
    }

    fn postgres(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).unwrap()
    }

    /// Runs statements: `sqlite` on SQLite, `postgres` on PostgreSQL.
    pub fn execute(&self, sqlite: &str, postgres: &str) {
        match self {
            Database::Sqlite(path) => Connection::open(path)
                .unwrap()
                .execute_batch(sqlite)
                .unwrap(),
            Database::Postgres { .. } => self.postgres().batch_execute(postgres).unwrap(),
        }
    }

    /// The rows of a query that reads the same on both engines, every value as text.
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        match self {
            Database::Sqlite(path) => {
                let conn = Connection::open(path).unwrap();
                let mut statement = conn.prepare(sql).unwrap();
                let columns = statement.column_count();
                let mut rows = statement.query([]).unwrap();
                let mut all = Vec::new();
                while let Some(row) = rows.next().unwrap() {
                    all.push(
                        (0..columns)
                            .map(|i| match row.get::<_, rusqlite::types::Value>(i).unwrap() {
                                rusqlite::types::Value::Null => None,
                                rusqlite::types::Value::Integer(n) => Some(n.to_string()),
                                rusqlite::types::Value::Real(x) => Some(x.to_string()),
                                rusqlite::types::Value::Text(text) => Some(text),
                                rusqlite::types::Value::Blob(bytes) => Some(format!("{bytes:?}")),
                            })
                            .collect(),
                    );
                }
                all
            }
            Database::Postgres { .. } => self
                .postgres()
                .simple_query(sql)
                .unwrap()
                .into_iter()
                .filter_map(|message| match message {
                    postgres::SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_owned))
                            .collect(),
                    ),
                    _ => None,
                })
                .collect(),
        }
    }

    /// The one value a query answers.
    pub fn value(&self, sql: &str) -> Option<String> {
        let mut rows = self.query(sql);
        assert_eq!(rows.len(), 1, "{sql}");
        rows.remove(0).remove(0)
    }

    /// Makes the database refuse a write to `table` on `event` (`INSERT`, `UPDATE OF column`)
    /// when `condition` holds for the new row, as a failing disk would.
    pub fn refuse(&self, event: &str, table: &str, condition: &str) {
        self.execute(
            &format!(
                "CREATE TRIGGER refuse BEFORE {event} ON {table} WHEN {condition}
                 BEGIN SELECT RAISE(ABORT, 'disk says no'); END;"
            ),
            &format!(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RAISE EXCEPTION 'disk says no'; END $$;
                 CREATE TRIGGER refuse BEFORE {event} ON {table} FOR EACH ROW
                     WHEN ({condition}) EXECUTE FUNCTION refuse();"
            ),
        );
    }

    /// Every finding, by id.
    pub fn findings(&self) -> Vec<Finding> {
        const SQL: &str = "SELECT key_hash, host, cve, severity, state, first_seen, last_seen,
                                  resolved_date, hostname, ip, vpr, cvss
                           FROM findings ORDER BY id";
        match self {
            Database::Sqlite(path) => {
                let conn = Connection::open(path).unwrap();
                let mut statement = conn.prepare(SQL).unwrap();
                statement
                    .query_map([], |row| {
                        Ok(Finding {
                            key_hash: row.get(0)?,
                            host: row.get(1)?,
                            cve: row.get(2)?,
                            severity: row.get(3)?,
                            state: row.get(4)?,
                            first_seen: row.get(5)?,
                            last_seen: row.get(6)?,
                            resolved_date: row.get(7)?,
                            hostname: row.get(8)?,
                            ip: row.get(9)?,
                            vpr: row.get(10)?,
                            cvss: row.get(11)?,
                        })
                    })
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            }
            Database::Postgres { .. } => self
                .postgres()
                .query(SQL, &[])
                .unwrap()
                .iter()
                .map(|row| {
                    let date = |i| row.get::<_, Option<NaiveDate>>(i).map(|d| d.to_string());
                    Finding {
                        key_hash: row.get::<_, Vec<u8>>(0).try_into().unwrap(),
                        host: row.get(1),
                        cve: row.get(2),
                        severity: row.get(3),
                        state: row.get(4),
                        first_seen: date(5).unwrap(),
                        last_seen: date(6).unwrap(),
                        resolved_date: date(7),
                        hostname: row.get(8),
                        ip: row.get(9),
                        vpr: row.get(10),
                        cvss: row.get(11),
                    }
                })
                .collect(),
        }
    }

    /// The final tables, every column of every row, in a stable order.
    pub fn snapshot(&self) -> String {
        let mut dump = String::new();
        for (table, order) in [
            ("findings", "id"),
            ("definitions", "hash"),
            ("import_changes", "import_id, change, finding_id"),
        ] {
            let sql = match self {
                Database::Sqlite(_) => format!("SELECT * FROM {table} ORDER BY {order}"),
                Database::Postgres { .. } => {
                    format!("SELECT t::text FROM {table} t ORDER BY {order}")
                }
            };
            for row in self.query(&sql) {
                dump.push_str(table);
                for value in row {
                    dump.push_str(&format!("|{value:?}"));
                }
                dump.push('\n');
            }
        }
        dump
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres { server, name } = self
            && let Ok(mut admin) = postgres::Client::connect(server, postgres::NoTls)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A fresh database for one test (its store open) and a folder for its files.
pub struct TestDb {
    pub store: Arc<dyn Store>,
    pub database: Database,
    pub dir: TempDir,
}

impl TestDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::fresh(dir.path());
        let store = store::open(&database.url()).unwrap();
        TestDb {
            store,
            database,
            dir,
        }
    }

    pub fn url(&self) -> String {
        self.database.url()
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn request(&self, path: &Path, scan_date: &str, scope: Scope) -> ImportRequest {
        request(path, scan_date, scope)
    }

    pub fn import(&self, path: &Path, scan_date: &str) -> ImportSummary {
        self.import_with(
            self.request(path, scan_date, Scope::Full),
            &Recorder::default(),
        )
    }

    pub fn import_text(&self, text: &str, scan_date: &str) -> ImportSummary {
        let path = self.write(&format!("{}.csv", Uuid::new_v4()), text);
        self.import(&path, scan_date)
    }

    pub fn import_with(&self, request: ImportRequest, reporter: &Recorder) -> ImportSummary {
        run_import(&*self.store, &request, reporter, &reporter.cancel)
    }

    /// Every finding, by id.
    pub fn findings(&self) -> Vec<Finding> {
        self.database.findings()
    }

    /// The finding with this deduplication key.
    pub fn finding(&self, key: &str) -> Finding {
        let hash = key_hash(key);
        self.findings()
            .into_iter()
            .find(|finding| finding.key_hash == hash)
            .unwrap_or_else(|| panic!("no finding {key}"))
    }

    /// The final tables, every column of every row, in a stable order.
    pub fn snapshot(&self) -> String {
        self.database.snapshot()
    }

    /// Starts `vulnimport import` of the large export into this database in a child process,
    /// and returns once its import is running.
    pub fn start_cli_import(&self, stdout: Stdio) -> Child {
        let child = Command::new(env!("CARGO_BIN_EXE_vulnimport"))
            .args([
                "import",
                "--json",
                "--scan-date",
                "2026-01-12",
                "--database",
            ])
            .arg(self.url())
            .arg(large_export())
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.running_imports() == 0 {
            assert!(Instant::now() < deadline, "the import never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    pub fn running_imports(&self) -> i64 {
        self.database
            .value("SELECT count(*) FROM imports WHERE outcome = 'running'")
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The loading time noted in the newest import's record (0 before any).
    pub fn noted_loading_ms(&self) -> i64 {
        let timings = self
            .database
            .query("SELECT timings FROM imports ORDER BY id DESC LIMIT 1");
        timings
            .first()
            .and_then(|row| row[0].as_deref())
            .and_then(|timings| serde_json::from_str::<Value>(timings).ok())
            .and_then(|timings| timings["loading"].as_i64())
            .unwrap_or(0)
    }

    /// `(outcome, error)` of the import recorded for a session.
    pub fn outcome(&self, session_id: Uuid) -> (String, Option<String>) {
        let mut rows = self.database.query(&format!(
            "SELECT outcome, error FROM imports WHERE session_id = '{session_id}'"
        ));
        assert_eq!(rows.len(), 1, "one record of {session_id}");
        let mut row = rows.remove(0);
        let error = row.pop().unwrap();
        (row.pop().unwrap().unwrap(), error)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub key_hash: [u8; 16],
    pub host: String,
    pub cve: Option<String>,
    pub severity: String,
    pub state: String,
    pub first_seen: String,
    pub last_seen: String,
    pub resolved_date: Option<String>,
    pub hostname: Option<String>,
    pub ip: Option<String>,
    pub vpr: Option<f64>,
    pub cvss: Option<f64>,
}

/// One report as an import made it.
pub type Report = (Phase, u8, String, Option<Value>);

/// Records every report, unthrottled; optionally cancels once a phase reaches a percentage.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<Report>>,
    /// The ETA of each event, in order.
    pub etas: Mutex<Vec<Option<u64>>>,
    pub cancelled: Mutex<bool>,
    pub cancel: CancellationToken,
    pub cancel_at: Option<(Phase, u8)>,
    pub cancel_requested: Mutex<Option<Instant>>,
}

impl Recorder {
    pub fn cancelling_at(phase: Phase, percent: u8) -> Self {
        Recorder {
            cancel_at: Some((phase, percent)),
            ..Recorder::default()
        }
    }

    pub fn phases(&self) -> Vec<Phase> {
        let mut phases: Vec<Phase> = Vec::new();
        for (phase, ..) in self.events.lock().unwrap().iter() {
            if phases.last() != Some(phase) {
                phases.push(*phase);
            }
        }
        phases
    }

    pub fn progress(&self) -> Vec<u8> {
        self.events.lock().unwrap().iter().map(|e| e.1).collect()
    }
}

impl ProgressReporter for Recorder {
    fn report(
        &self,
        phase: Phase,
        progress: u8,
        message: String,
        eta: Option<u64>,
        data: Option<Value>,
    ) {
        if !self.cancel.is_cancelled()
            && self
                .cancel_at
                .is_some_and(|(at_phase, at)| phase == at_phase && progress >= at)
        {
            *self.cancel_requested.lock().unwrap() = Some(Instant::now());
            self.cancel.cancel();
        }
        self.events
            .lock()
            .unwrap()
            .push((phase, progress, message, data));
        self.etas.lock().unwrap().push(eta);
    }

    fn cancelled(&self) {
        *self.cancelled.lock().unwrap() = true;
    }
}
