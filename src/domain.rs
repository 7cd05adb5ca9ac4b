//! The vocabulary that reading exports and storing findings share, with no dependency on
//! either: a finding [`Record`] and its [`Definition`], [`Severity`], the key rules ([`KeyTier`])
//! and the key's stored hash, a problem with a row ([`RowProblem`]), an import's [`Scope`] and
//! its [`Outcome`].

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{Xxh3Default, xxh3_128};

/// How serious a finding is, ordered from least to most serious.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const MOST_SERIOUS_FIRST: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// The stored name: `critical`, `high`, `medium`, `low` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Reads a stored name, as [`Severity::as_str`] writes it.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// Which rule of the key order (`docs/import-semantics.md` §2) identified a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTier {
    /// `asset|plugin|cve`
    AssetPluginCve = 1,
    /// `host|cve`
    HostCve = 2,
    /// `host|plugin`
    HostPlugin = 3,
    /// `host|` hash of the normalised title, or of the description without a title
    HostText = 4,
}

/// The 16 bytes a finding's key is stored as: xxh3-128 of the key, little-endian.
pub fn key_hash(key: &str) -> [u8; 16] {
    xxh3_128(key.as_bytes()).to_le_bytes()
}

/// The descriptive text of a vulnerability definition, shared by every finding of it. Stored once
/// per distinct content.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// xxh3-128 over all the fields below, each tagged as missing or length-prefixed, as
    /// little-endian bytes.
    pub hash: [u8; 16],
    pub plugin_id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub solution: Option<String>,
    pub family: Option<String>,
    pub published: Option<String>,
}

impl Definition {
    pub fn new(
        plugin_id: Option<&str>,
        title: Option<&str>,
        description: Option<&str>,
        solution: Option<&str>,
        family: Option<&str>,
        published: Option<&str>,
    ) -> Definition {
        let mut hasher = Xxh3Default::new();
        for field in [plugin_id, title, description, solution, family, published] {
            match field {
                None => hasher.update(&[0]),
                Some(text) => {
                    hasher.update(&[1]);
                    hasher.update(&(text.len() as u64).to_le_bytes());
                    hasher.update(text.as_bytes());
                }
            }
        }
        Definition {
            hash: hasher.digest128().to_le_bytes(),
            plugin_id: plugin_id.map(str::to_owned),
            title: title.map(str::to_owned),
            description: description.map(str::to_owned),
            solution: solution.map(str::to_owned),
            family: family.map(str::to_owned),
            published: published.map(str::to_owned),
        }
    }
}

/// One finding as read from one row: one vulnerability on one asset.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: String,
    pub tier: KeyTier,
    /// The key's host: the asset id if present, else the IP, else the lower-cased hostname.
    pub host: String,
    pub asset_id: Option<String>,
    /// Trimmed and lower-cased; the full name is kept.
    pub hostname: Option<String>,
    pub ip: Option<String>,
    /// One CVE (upper-cased) or `cisco-sa-` id, or none.
    pub cve: Option<String>,
    pub plugin_id: Option<String>,
    pub severity: Severity,
    pub vpr: Option<f64>,
    pub cvss: Option<f64>,
    pub port: Option<u16>,
    /// Lower-cased.
    pub protocol: Option<String>,
    pub os: Option<String>,
    /// The same for every record of one row.
    pub definition: Arc<Definition>,
}

/// A problem with one row of an export: why it was rejected, or what of it was dropped (a
/// warning), with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowProblem {
    pub line: u64,
    pub reason: String,
}

/// Which open findings an import may resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// A full export of the estate: every open finding it lacks is resolved.
    #[default]
    Full,
    /// A partial export: only findings of the hosts in the file can be resolved.
    Hosts,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::Hosts => "hosts",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(Scope::Full),
            "hosts" => Ok(Scope::Hosts),
            other => Err(format!(
                "unknown scope \"{other}\"; use \"full\" or \"hosts\""
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Accepted by a server, waiting for its turn (never stored: a record is written when the
    /// import starts or ends).
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Running => "running",
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Interrupted => "interrupted",
        }
    }

    /// Whether the import has ended (queued and running ones have not).
    pub fn has_ended(self) -> bool {
        !matches!(self, Outcome::Queued | Outcome::Running)
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Queued,
            Outcome::Running,
            Outcome::Completed,
            Outcome::Failed,
            Outcome::Cancelled,
            Outcome::Interrupted,
        ]
        .into_iter()
        .find(|outcome| outcome.as_str() == s)
    }
}
