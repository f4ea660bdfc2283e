//! `fmn serve`: the web service (`fmn_web`) over the deployment's Redis, or, with no Redis
//! configured, embedded on preferences held in memory (to try the pages and the API).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use fmn_host::RuleSet;
use fmn_transport::prelude::*;

use crate::config::Config;

/// `fmn serve` options.
#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    redis: super::RedisArg,
    /// The address to listen on (else `[web] listen`, else 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Rule module files or directories preferences are checked against and the catalogue
    /// lists (the configuration's, else the bundled, with the published versions in place).
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    /// Embedded (no Redis configured): the preferences to start from (else the bundled
    /// example preferences).
    #[arg(long)]
    prefs: Option<PathBuf>,
}

pub async fn run(args: ServeArgs, config: Config) -> Result<ExitCode> {
    let secret = config.unsubscribe_secret();
    if secret.is_none() {
        tracing::warn!(
            "no [senders.email] unsubscribe_secret: every unsubscribe link will be refused"
        );
    }
    let addr = args.listen.unwrap_or(config.web.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let opts = config.web.options(secret, config.smtp().cloned());
    let app = if args.redis.url(&config).is_ok() {
        let transport = args.redis.connect(&config).await?;
        let rules = crate::setup::deployed_rules(&config, &args.rules, &transport).await?;
        fmn_web::router(transport, rules, opts)
    } else {
        embedded(&config, &args, opts).await?
    };
    eprintln!("fmn serve: listening on http://{bound}; stop with SIGTERM or Ctrl-C");
    fmn_web::serve(listener, app, super::shutdown_on_signal())
        .await
        .context("serving")?;
    Ok(ExitCode::SUCCESS)
}

/// The service on preferences in memory, lost when it stops; an admin token for this run is
/// printed, since no one can sign in without a provider.
async fn embedded(
    config: &Config,
    args: &ServeArgs,
    opts: fmn_web::WebOptions,
) -> Result<fmn_web::Router> {
    let store = fmn_transport::MemoryTransport::new(fmn_transport::DEFAULT_WORKER_TTL);
    let prefs = crate::setup::load_prefs(args.prefs.as_deref())?;
    store.import_prefs(&prefs).await?;
    let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
    let paths = crate::setup::rule_paths(config, &args.rules);
    let rules = Arc::new(RuleSet::new(
        1,
        crate::setup::local_modules(&sandbox, &paths)?,
    )?);
    let (token, record) = fmn_web::issue("admin", "fmn serve (embedded)", true);
    store.add_api_token(&record).await?;
    eprintln!(
        "fmn serve: embedded, no Redis configured: {} users in memory, lost when it stops; \
         an admin token for this run: {token}",
        prefs.users.len()
    );
    Ok(fmn_web::router(store, rules, opts))
}
