//! Configuration of `vulnimport serve`, in one typed struct: defaults, overridden by the
//! environment, overridden by command-line flags (clap applies that precedence). [`ReadLimits`]
//! is shared with the local `vulnimport import`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::import::ImportRequest;
use crate::store::DEFAULT_DATABASE_URL;

#[derive(Clone, clap::Args)]
pub struct ServeConfig {
    /// Port to listen on; 0 picks a free one (the address is printed).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Database URL (sqlite://PATH or postgres://USER@HOST/DATABASE); the embedded SQLite file by default.
    #[arg(long = "database", env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// `production` refuses cross-origin requests unless CORS_ORIGINS lists them.
    #[arg(long, env = "NODE_ENV", default_value = "development")]
    pub node_env: String,
    /// Origins allowed cross-origin access in production (comma-separated).
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Largest accepted upload, in bytes.
    #[arg(long, env = "MAX_UPLOAD_BYTES", default_value_t = 1 << 30)]
    pub max_upload_bytes: u64,
    /// Where uploads are kept while they wait and import; the system's temporary folder by default.
    #[arg(long, env = "UPLOAD_DIR")]
    pub upload_dir: Option<PathBuf>,
    /// The upload of an import that did not complete is kept this many days for a retry (0
    /// keeps none; at most 36500).
    #[arg(
        long,
        env = "UPLOAD_RETENTION_DAYS",
        default_value_t = 7,
        value_parser = clap::value_parser!(u64).range(0..=36_500)
    )]
    pub upload_retention_days: u64,
    /// Kept uploads take at most this many bytes; beyond it the oldest are removed.
    #[arg(long, env = "UPLOAD_RETENTION_BYTES", default_value_t = 10 << 30)]
    pub upload_retention_bytes: u64,
    /// An import fails when more than this share of its rows is rejected.
    #[arg(long, env = "MAX_REJECTED_SHARE", default_value_t = ImportRequest::DEFAULT_MAX_REJECTED_SHARE)]
    pub max_rejected_share: f64,
    #[command(flatten)]
    pub read_limits: ReadLimits,
    /// The address users reach the server at (e.g. https://vulns.example.com), behind a proxy or
    /// not: requests must name its host, cross-site checks use its origin, and cookies are
    /// `Secure` when it is https.
    #[arg(long, env = "PUBLIC_URL", value_parser = PublicUrl::parse)]
    pub public_url: Option<PublicUrl>,
    /// A web session ends after this long without a request (e.g. 12h, 30m).
    #[arg(long, env = "SESSION_IDLE_TIMEOUT", default_value = "12h", value_parser = humantime::parse_duration)]
    pub session_idle_timeout: Duration,
    /// Addresses of reverse proxies in front of the server (comma-separated): for requests from
    /// them, the client's address is taken from `X-Forwarded-For` (sign-in throttling counts per
    /// client address).
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
    /// Serve `/metrics` without a credential (for a scraper on a trusted network).
    #[arg(long, env = "METRICS_PUBLIC", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub metrics_public: bool,
    /// Redis (redis://HOST:PORT), for several instances on one PostgreSQL database: they share
    /// their queue, progress and cancel requests (see docs/operations.md, "Several instances").
    #[arg(long = "redis-url", env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// What this deployment's Redis keys and channels begin with, when others share the Redis.
    #[arg(long, env = "REDIS_PREFIX", default_value = "vulnimport")]
    pub redis_prefix: String,
    /// How long an instance may go without renewing its lease before another takes up its
    /// imports (as interrupted).
    #[arg(long, env = "INSTANCE_LEASE", default_value = "15s", value_parser = humantime::parse_duration)]
    pub instance_lease: Duration,
}

/// How much of a file an import holds in memory at once.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ReadLimits {
    /// The longest field an import accepts, in bytes (a row may hold twice as much); a row with
    /// a longer field is rejected. Memory per import grows with it.
    #[arg(
        long,
        env = "MAX_FIELD_BYTES",
        default_value_t = ImportRequest::DEFAULT_MAX_FIELD_BYTES,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub max_field_bytes: usize,
}

/// `PUBLIC_URL`, reduced to what the server checks: its origin and its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `scheme://host[:port]`, as browsers send it in `Origin`.
    pub origin: String,
    /// `host[:port]`, as clients send it in `Host`.
    pub host: String,
    pub https: bool,
}

impl PublicUrl {
    pub fn parse(text: &str) -> Result<PublicUrl, String> {
        let text = text.trim().trim_end_matches('/');
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("PUBLIC_URL \"{text}\" needs a scheme: http:// or https://"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "PUBLIC_URL \"{text}\" must start with http:// or https://"
            ));
        }
        let authority = rest
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if authority.is_empty() || authority.contains('@') {
            return Err(format!(
                "PUBLIC_URL \"{text}\" needs a host (and no user name)"
            ));
        }
        // The default port is left out, as browsers leave it out of `Origin`.
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let host = authority
            .strip_suffix(default_port)
            .unwrap_or(&authority)
            .to_owned();
        Ok(PublicUrl {
            origin: format!("{scheme}://{host}"),
            host,
            https: scheme == "https",
        })
    }
}

impl ServeConfig {
    /// The client's address: the peer's, or behind a trusted proxy the nearest address in
    /// `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_address(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        forwarded_for
            .unwrap_or_default()
            .rsplit(',')
            .map_while(|hop| hop.trim().parse::<IpAddr>().ok())
            .find(|hop| !self.trusted_proxies.contains(hop))
            .unwrap_or(peer)
    }

    pub fn is_production(&self) -> bool {
        self.node_env.eq_ignore_ascii_case("production")
    }

    pub fn upload_dir(&self) -> PathBuf {
        self.upload_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

/// The database URL with any password replaced, for logs.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("port", &self.port)
            .field("host", &self.host)
            .field("database_url", &redacted_url(&self.database_url))
            .field("node_env", &self.node_env)
            .field("cors_origins", &self.cors_origins)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("upload_dir", &self.upload_dir)
            .field("upload_retention_days", &self.upload_retention_days)
            .field("upload_retention_bytes", &self.upload_retention_bytes)
            .field("max_rejected_share", &self.max_rejected_share)
            .field("read_limits", &self.read_limits)
            .field("public_url", &self.public_url)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("metrics_public", &self.metrics_public)
            .field("redis_url", &self.redis_url.as_deref().map(redacted_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("instance_lease", &self.instance_lease)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: ServeConfig,
    }

    #[test]
    fn defaults_then_flags() {
        let defaults = Cli::try_parse_from(["serve"]).unwrap().config;
        assert_eq!(defaults.port, 8080);
        assert_eq!(defaults.max_upload_bytes, 1 << 30);
        assert_eq!(defaults.read_limits.max_field_bytes, 16 << 20);
        assert_eq!(defaults.upload_retention_days, 7);
        assert_eq!(defaults.upload_retention_bytes, 10 << 30);
        assert!(!defaults.is_production());
        let flagged = Cli::try_parse_from([
            "serve",
            "--port",
            "9000",
            "--node-env",
            "Production",
            "--cors-origins",
            "https://a.example,https://b.example",
            "--max-field-bytes",
            "1048576",
            "--upload-retention-days",
            "0",
            "--upload-retention-bytes",
            "1000",
        ])
        .unwrap()
        .config;
        assert_eq!(flagged.port, 9000);
        assert!(flagged.is_production());
        assert_eq!(
            flagged.cors_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(flagged.read_limits.max_field_bytes, 1 << 20);
        assert_eq!(
            (
                flagged.upload_retention_days,
                flagged.upload_retention_bytes
            ),
            (0, 1000)
        );
        assert!(Cli::try_parse_from(["serve", "--max-field-bytes", "0"]).is_err());
        assert!(Cli::try_parse_from(["serve", "--upload-retention-days", "36501"]).is_err());
    }

    #[test]
    fn public_urls_reduce_to_origin_and_host() {
        let url = PublicUrl::parse("HTTPS://Vulns.Example.com:443/app/").unwrap();
        assert_eq!(url.origin, "https://vulns.example.com");
        assert_eq!(url.host, "vulns.example.com");
        assert!(url.https);
        let url = PublicUrl::parse("http://10.0.0.5:8080").unwrap();
        assert_eq!(
            (url.origin.as_str(), url.host.as_str()),
            ("http://10.0.0.5:8080", "10.0.0.5:8080")
        );
        for bad in [
            "vulns.example.com",
            "ftp://x",
            "https://",
            "https://user@host",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
        let config =
            Cli::try_parse_from(["serve", "--metrics-public", "--session-idle-timeout", "30m"])
                .unwrap()
                .config;
        assert!(config.metrics_public);
        assert_eq!(config.session_idle_timeout, Duration::from_secs(1800));
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let config = Cli::try_parse_from(["serve", "--trusted-proxies", "10.0.0.1,10.0.0.2"])
            .unwrap()
            .config;
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(config.client_address(proxy, Some("192.0.2.7")), client);
        assert_eq!(
            config.client_address(proxy, Some("203.0.113.9, 192.0.2.7, 10.0.0.2")),
            client,
            "the nearest hop that is not a proxy; what the client wrote itself is not trusted"
        );
        assert_eq!(config.client_address(proxy, None), proxy);
        assert_eq!(config.client_address(proxy, Some("junk")), proxy);
        assert_eq!(
            config.client_address(stranger, Some("192.0.2.7")),
            stranger,
            "anyone else's header is ignored"
        );
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            redacted_url("postgres://app:s3cret@db.internal/vulns"),
            "postgres://app:***@db.internal/vulns"
        );
        assert_eq!(redacted_url("sqlite://data/v.db"), "sqlite://data/v.db");
        let config = Cli::try_parse_from(["serve", "--database", "postgres://u:pw@h/d"])
            .unwrap()
            .config;
        assert!(!format!("{config:?}").contains("pw"));
    }
}
