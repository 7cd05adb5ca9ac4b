//! `vulnimport user …` and `vulnimport token …`: accounts and API tokens from a shell, straight
//! on the database (so they also work before the server has any admin).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::auth;
use crate::store::accounts::{Role, User, UserChange};
use crate::store::{self, DEFAULT_DATABASE_URL, Store};

#[derive(Args, Debug, Clone)]
pub struct DatabaseArg {
    /// Database URL (sqlite://PATH or postgres://USER@HOST/DATABASE); the embedded SQLite file by default.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database: String,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account.
    Add {
        name: String,
        #[arg(long)]
        role: Role,
        /// Read the password from standard input (one line) instead of asking on the terminal.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List the accounts.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Set an account's password (its web sessions end).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Change an account's role.
    Role {
        name: String,
        role: Role,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Stop an account from signing in or using its tokens.
    Disable {
        name: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Let a disabled account in again.
    Enable {
        name: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Delete an account with its tokens (its name stays on the imports it made).
    Remove {
        name: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; it is printed once, alone on the last line.
    Create {
        #[arg(long)]
        user: String,
        /// What the token is for (e.g. "nightly CI").
        #[arg(long)]
        name: String,
        /// Validity, e.g. 90d or 12h; never expires without it.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Revoke a token by id: it is refused from the next request on.
    Revoke {
        id: i64,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

pub async fn user(command: UserCommand) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || run_user(command)).await?
}

pub async fn token(command: TokenCommand) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || run_token(command)).await?
}

fn open(database: &DatabaseArg) -> anyhow::Result<Arc<dyn Store>> {
    store::open(&database.database).with_context(|| {
        format!(
            "cannot open the database {}",
            crate::config::redacted_url(&database.database)
        )
    })
}

fn find(store: &dyn Store, name: &str) -> anyhow::Result<User> {
    store
        .user_by_name(name)?
        .with_context(|| format!("no user named \"{name}\""))
}

fn change(store: &dyn Store, name: &str, change: UserChange) -> anyhow::Result<User> {
    let user = find(store, name)?;
    store
        .update_user(user.id, &change)?
        .with_context(|| format!("no user named \"{name}\""))
}

fn run_user(command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
            database,
        } => {
            let store = open(&database)?;
            let password = read_password(password_stdin)?;
            let user = auth::add_user(&*store, &name, role, &password)?;
            println!("Created {} ({})", user.name, user.role);
        }
        UserCommand::List { json, database } => {
            let users = open(&database)?.users()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                println!("{:<24} {:<8} {:<9} CREATED", "NAME", "ROLE", "STATE");
                for user in users {
                    let state = if user.disabled { "disabled" } else { "enabled" };
                    println!(
                        "{:<24} {:<8} {:<9} {}",
                        user.name, user.role, state, user.created_at
                    );
                }
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
            database,
        } => {
            let store = open(&database)?;
            let user = find(&*store, &name)?;
            let password = read_password(password_stdin)?;
            auth::set_password(&*store, user.id, &password, None)?;
            println!(
                "Password of {} changed; its web sessions have ended",
                user.name
            );
        }
        UserCommand::Role {
            name,
            role,
            database,
        } => {
            let user = change(
                &*open(&database)?,
                &name,
                UserChange {
                    role: Some(role),
                    ..UserChange::default()
                },
            )?;
            println!("{} is now {}", user.name, user.role);
        }
        UserCommand::Disable { name, database } => {
            let user = change(
                &*open(&database)?,
                &name,
                UserChange {
                    disabled: Some(true),
                    ..UserChange::default()
                },
            )?;
            println!(
                "{} is disabled: its sessions and tokens are refused",
                user.name
            );
        }
        UserCommand::Enable { name, database } => {
            let user = change(
                &*open(&database)?,
                &name,
                UserChange {
                    disabled: Some(false),
                    ..UserChange::default()
                },
            )?;
            println!("{} is enabled", user.name);
        }
        UserCommand::Remove { name, database } => {
            let store = open(&database)?;
            let user = find(&*store, &name)?;
            store.remove_user(user.id)?;
            println!("Removed {}", user.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_token(command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create {
            user,
            name,
            expires,
            database,
        } => {
            let store = open(&database)?;
            let (token, secret) = auth::create_token(&*store, &user, &name, expires)?;
            let expiry = token
                .expires_at
                .as_deref()
                .map_or("never expires".to_owned(), |at| format!("expires {at}"));
            println!(
                "Token {} \"{}\" for {} ({expiry}). Keep it now: it is not shown again.",
                token.id, token.name, token.user
            );
            println!("{secret}");
        }
        TokenCommand::List { json, database } => {
            let tokens = open(&database)?.tokens()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                println!(
                    "{:<5} {:<24} {:<16} {:<25} {:<25} EXPIRES",
                    "ID", "NAME", "USER", "CREATED", "LAST USED"
                );
                for token in tokens {
                    println!(
                        "{:<5} {:<24} {:<16} {:<25} {:<25} {}",
                        token.id,
                        token.name,
                        token.user,
                        token.created_at,
                        token.last_used_at.as_deref().unwrap_or("never"),
                        token.expires_at.as_deref().unwrap_or("never"),
                    );
                }
            }
        }
        TokenCommand::Revoke { id, database } => {
            if !open(&database)?.revoke_token(id)? {
                bail!("no token with id {id}");
            }
            println!("Token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A new password: one line of standard input (its line ending dropped), or asked twice on the
/// terminal.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let password = line
            .strip_suffix('\n')
            .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
            .unwrap_or(&line);
        return Ok(password.to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask the password on; pass it with --password-stdin");
    }
    let password = rpassword::prompt_password("Password: ")?;
    if rpassword::prompt_password("Same password again: ")? != password {
        bail!("the two passwords differ");
    }
    Ok(password)
}
