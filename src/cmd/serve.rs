//! `fmn serve`: the web service (`fmn_web`) over the deployment's Redis.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, Result};

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
    rules: Vec<std::path::PathBuf>,
}

pub async fn run(args: ServeArgs, config: Config) -> Result<ExitCode> {
    let transport = args.redis.connect(&config).await?;
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
    let rules = crate::setup::deployed_rules(&config, &args.rules, &transport).await?;
    let email = config.smtp().cloned();
    let app = fmn_web::router(transport, rules, config.web.options(secret, email));
    eprintln!("fmn serve: listening on http://{bound}; stop with SIGTERM or Ctrl-C");
    fmn_web::serve(listener, app, super::shutdown_on_signal())
        .await
        .context("serving")?;
    Ok(ExitCode::SUCCESS)
}
