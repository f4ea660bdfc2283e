//! The subcommands.

pub mod consume;
pub mod data;
pub mod dead;
pub mod prefs;
pub mod prefs_redis;
pub mod rules;
pub mod run;
pub mod send;
pub mod status;
pub mod worker;

use std::path::Path;

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
