//! The subcommands.

pub mod consume;
pub mod data;
pub mod dead;
pub mod prefs;
pub mod rules;
pub mod run;
pub mod send;
pub mod serve;
pub mod status;
pub mod tokens;
pub mod worker;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use fmn_consumer::JsonLines;
use tokio::io::{AsyncBufRead, BufReader};
use tokio_util::sync::CancellationToken;

use crate::setup::bundled;

/// A JSON-lines source of any origin.
pub type Lines = JsonLines<Box<dyn AsyncBufRead + Unpin + Send>>;

/// Messages from `path` (`-` for stdin), or the bundled sample.
pub async fn messages(path: Option<&Path>) -> Result<(Lines, String)> {
    Ok(match path {
        Some(p) if p == Path::new("-") => (
            JsonLines::new(Box::new(BufReader::new(tokio::io::stdin())), "stdin"),
            "stdin".into(),
        ),
        Some(p) => {
            let f = tokio::fs::File::open(p)
                .await
                .with_context(|| format!("opening {}", p.display()))?;
            let name = p.display().to_string();
            (
                JsonLines::new(Box::new(BufReader::with_capacity(1 << 16, f)), name.clone()),
                name,
            )
        }
        None => (
            JsonLines::new(Box::new(bundled::SAMPLE_MESSAGES), bundled::SAMPLE_NAME),
            bundled::SAMPLE_NAME.into(),
        ),
    })
}

/// A token cancelled on SIGINT or SIGTERM: stop intake, finish what is in hand.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let term = async {
            #[cfg(unix)]
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
            #[cfg(not(unix))]
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
        tracing::info!("shutting down: finishing what is in hand");
        t.cancel();
    });
    token
}

/// Exit code 2: the command ran and found problems (in a preferences file, a rule module's
/// tests, dead letters it could not replay); 1 is kept for failures to run at all.
pub fn problems_found() -> ExitCode {
    ExitCode::from(2)
}

/// A channel's name, as `--help` lists them; `gcm` and `fcm` still name push.
pub fn channel_kind() -> impl clap::builder::TypedValueParser<Value = fmn_core::ChannelKind> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("email"),
        PossibleValue::new("irc"),
        PossibleValue::new("push").aliases(["gcm", "fcm"]),
        PossibleValue::new("matrix"),
    ])
    .try_map(|s| s.parse::<fmn_core::ChannelKind>())
}

/// `--redis URL`, shared by every command that talks to a deployment.
#[derive(clap::Args, Clone, Default)]
pub struct RedisArg {
    /// Redis URL (or `[redis] url` in the configuration, or FMN__REDIS__URL).
    #[arg(long = "redis", value_name = "URL")]
    pub url: Option<String>,
}

impl RedisArg {
    /// The URL from the command line, else the configuration's.
    pub fn url(&self, config: &crate::config::Config) -> Result<String> {
        redis_url(self.url.clone(), config)
    }

    /// Connects to the deployment's Redis, in the configured namespace.
    pub async fn connect(
        &self,
        config: &crate::config::Config,
    ) -> Result<fmn_transport::RedisTransport> {
        crate::setup::redis(&self.url(config)?, &config.redis.namespace).await
    }
}

/// Starts the janitor (`[redis] reclaim_ms`; 0 turns it off) on `transport` until `cancel`.
pub fn start_janitor<T: fmn_transport::Transport>(
    redis: &crate::config::RedisSection,
    transport: &T,
    cancel: &CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    (redis.reclaim_ms > 0).then(|| {
        tokio::spawn(fmn_consumer::run_janitor(
            transport.clone(),
            std::time::Duration::from_millis(redis.reclaim_ms),
            redis.forget_after(),
            cancel.clone(),
        ))
    })
}

/// The Redis URL from the command line or the configuration.
pub fn redis_url(arg: Option<String>, config: &crate::config::Config) -> Result<String> {
    arg.or_else(|| config.redis.url.clone()).context(
        "no Redis URL: give --redis URL, [redis] url in the configuration, or FMN__REDIS__URL",
    )
}

/// `--metrics ADDR`, shared by `fmn consume`, `fmn worker` and `fmn send`.
#[derive(clap::Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics on `http://ADDR/metrics` and a health check on
    /// `http://ADDR/healthz` (e.g. `127.0.0.1:9101`).
    #[arg(long = "metrics", value_name = "ADDR")]
    addr: Option<std::net::SocketAddr>,
}

impl MetricsArgs {
    /// Starts the metrics and health endpoint, if an address was given, until `stop` fires.
    pub async fn start<T: fmn_transport::Transport>(
        &self,
        transport: &T,
        stop: &CancellationToken,
    ) -> Result<Option<tokio::task::JoinHandle<()>>> {
        match self.addr {
            Some(a) => Ok(Some(
                crate::metrics_http::start(a, transport.clone(), stop.clone()).await?,
            )),
            None => Ok(None),
        }
    }
}
