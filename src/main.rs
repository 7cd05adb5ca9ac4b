//! The `vulnimport` command: parses arguments and calls the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use vulnimport::cli::accounts::{TokenCommand, UserCommand};
use vulnimport::cli::export::ExportArgs;
use vulnimport::cli::{self, ImportOptions};
use vulnimport::config::{ReadLimits, ServeConfig};
use vulnimport::domain::{Outcome, Scope};
use vulnimport::import::{ImportRequest, check_scan_date};
use vulnimport::store::DEFAULT_DATABASE_URL;

/// Parsing and loading run on separate threads that hand allocations to each other; mimalloc
/// keeps that cheap and memory flat where the system allocator contends on its arena locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "Imports vulnerability-scanner exports and shows their progress live"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Import a scanner export (Tenable.io, Nessus, Qualys or generic CSV).
    Import {
        /// The CSV file to import.
        file: PathBuf,
        /// The date of the scan (YYYY-MM-DD, from 1990 to tomorrow); today when not given.
        #[arg(long, value_parser = parse_scan_date)]
        scan_date: Option<NaiveDate>,
        /// `full`: the file is the whole estate; `hosts`: only its hosts' findings can be resolved.
        #[arg(long, default_value = "full")]
        scope: Scope,
        /// Database URL (sqlite://PATH or postgres://USER@HOST/DATABASE); the embedded SQLite file by default.
        #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database: String,
        /// The import fails when more than this share of its rows is rejected.
        #[arg(long, env = "MAX_REJECTED_SHARE", default_value_t = ImportRequest::DEFAULT_MAX_REJECTED_SHARE)]
        max_rejected_share: f64,
        /// Print one JSON summary on standard output instead of the progress bar.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        read_limits: ReadLimits,
        /// Import through a running server (http[s]://HOST:PORT) instead of into a database.
        #[arg(long)]
        server: Option<String>,
        /// API token for `--server` (see `vulnimport token create`).
        #[arg(
            long,
            env = "VULNIMPORT_TOKEN",
            hide_env_values = true,
            requires = "server"
        )]
        token: Option<String>,
    },
    /// Manage the accounts that can sign in.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens for scripts and CI.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Write the findings (filtered and ordered as the web UI's list) as CSV or JSON.
    Export(ExportArgs),
    /// Serve the web UI, the HTTP API and the Socket.IO progress channel.
    Serve(Box<ServeConfig>),
    /// Write a synthetic Tenable.io export (for demos, tests and benchmarks).
    Generate {
        /// Where to write it.
        output: PathBuf,
        /// Data rows to write.
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        /// The same seed writes the same file.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    // The server logs its activity; an import's terminal output is its progress bar.
    let default_level = match args.command {
        Command::Serve(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match args.command {
        Command::Import {
            file,
            scan_date,
            scope,
            database,
            max_rejected_share,
            json,
            read_limits,
            server,
            token,
        } => {
            let options = ImportOptions {
                file,
                scan_date,
                scope,
                database_url: database,
                max_rejected_share,
                json,
                max_field_bytes: read_limits.max_field_bytes,
            };
            let summary = match server {
                Some(server) => cli::remote::import(options, &server, token).await,
                None => cli::import(options).await,
            };
            summary.map(|summary| {
                if json {
                    println!(
                        "{}",
                        serde_json::to_string(&summary).expect("a summary serialises")
                    );
                } else {
                    println!("{}", cli::describe(&summary));
                }
                match summary.outcome {
                    Outcome::Completed => ExitCode::SUCCESS,
                    Outcome::Cancelled => ExitCode::from(130),
                    _ => ExitCode::FAILURE,
                }
            })
        }
        Command::User(command) => cli::accounts::user(command).await,
        Command::Token(command) => cli::accounts::token(command).await,
        Command::Export(args) => {
            let output = args.output.clone().filter(|path| path.as_os_str() != "-");
            cli::export::export(args).await.map(|written| {
                if let Some(path) = output {
                    eprintln!("Exported {written} findings to {}", path.display());
                }
                ExitCode::SUCCESS
            })
        }
        Command::Serve(config) => serve(*config).await.map(|()| ExitCode::SUCCESS),
        Command::Generate { output, rows, seed } => {
            cli::generate(rows, seed, &output).map(|()| ExitCode::SUCCESS)
        }
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::FAILURE
    })
}

/// `--scan-date`: a date in the range imports accept (see [`check_scan_date`]).
fn parse_scan_date(text: &str) -> Result<NaiveDate, String> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("\"{text}\" is not a date; use YYYY-MM-DD"))?;
    check_scan_date(date)
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    use anyhow::Context;
    let listener = tokio::net::TcpListener::bind((config.host, config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
    vulnimport::server::serve(listener, config, vulnimport::server::shutdown_signal()).await
}
