//! A database of a bench run's own: SQLite in a temporary folder, or a PostgreSQL database
//! created on a server (`BENCH_DATABASE_URL`) and dropped at the end.

use std::path::Path;

use uuid::Uuid;

pub enum BenchDatabase {
    Sqlite(tempfile::TempDir),
    Postgres { server: String, name: String },
}

impl BenchDatabase {
    /// A SQLite database in a new folder under `dir`.
    pub fn sqlite_in(dir: &Path) -> Self {
        BenchDatabase::Sqlite(tempfile::tempdir_in(dir).expect("temp dir"))
    }

    /// A new database on the PostgreSQL server at `server` (a URL naming a database to connect
    /// to while creating and dropping it).
    pub fn postgres(server: &str) -> Self {
        let name = format!("vi_bench_{}", Uuid::new_v4().simple());
        postgres::Client::connect(server, postgres::NoTls)
            .and_then(|mut admin| admin.batch_execute(&format!("CREATE DATABASE {name}")))
            .expect("a PostgreSQL server at BENCH_DATABASE_URL");
        BenchDatabase::Postgres {
            server: server.to_owned(),
            name,
        }
    }

    pub fn url(&self) -> String {
        match self {
            BenchDatabase::Sqlite(dir) => {
                format!("sqlite://{}", dir.path().join("bench.db").display())
            }
            BenchDatabase::Postgres { server, name } => {
                let (base, _) = server.rsplit_once('/').expect("a URL with a database");
                format!("{base}/{name}")
            }
        }
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if let BenchDatabase::Postgres { server, name } = self
            && let Ok(mut admin) = postgres::Client::connect(server, postgres::NoTls)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}
