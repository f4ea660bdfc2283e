//! `fmn send`: deliver one channel's notifications, through Redis, until stopped.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use fmn_core::ChannelKind;
use fmn_senders::run_sender;

use crate::config::Config;
use crate::setup;

/// `fmn send` options.
#[derive(clap::Args)]
pub struct SendArgs {
    /// The channel: email, irc, push (or gcm), matrix.
    #[arg(long)]
    channel: ChannelKind,
    /// Redis URL (or `[redis] url` in the configuration).
    #[arg(long)]
    redis: Option<String>,
    /// Directory of the file sender, when the channel has no `[senders.CHANNEL]` configured.
    #[arg(long, default_value = "fmn-out")]
    out: PathBuf,
    /// This sender's name in the channel's consumer group; a restarted sender with the same
    /// name takes back the notifications it held.
    #[arg(long)]
    consumer: Option<String>,
    #[command(flatten)]
    metrics: super::MetricsArgs,
}

pub async fn run(args: SendArgs, config: Config) -> Result<ExitCode> {
    let url = super::redis_url(args.redis, &config)?;
    let transport = setup::redis(&url, &config.redis.namespace).await?;
    let (sender, destination) = setup::sender_for(
        args.channel,
        config.senders.get(&args.channel),
        &config.load_templates()?,
        &args.out,
    )?;
    let consumer = args
        .consumer
        .unwrap_or_else(|| format!("{}-{}", fmn_transport::hostname(), args.channel));
    eprintln!(
        "fmn send: {} -> {destination} as {consumer}; stop with SIGTERM or Ctrl-C",
        args.channel
    );
    let stop = super::shutdown_on_signal();
    let metrics = args.metrics.start(&transport, &stop).await?;
    let opts = config.sender_options(args.channel, consumer)?;
    let r = run_sender(transport, sender, opts, stop).await;
    if let Some(m) = metrics {
        m.await?;
    }
    eprintln!(
        "fmn send: {} sent, {} duplicates skipped, {} retries scheduled, {} dead-lettered, {} spent one-shot, {} held for digests, {} digests sent, {} put off by the rate limit, {} folded into digests after {} outage(s)",
        r.sent,
        r.duplicates,
        r.retries,
        r.dead_lettered,
        r.oneshot_spent,
        r.held,
        r.digests,
        r.deferred,
        r.folded,
        r.outages
    );
    Ok(ExitCode::SUCCESS)
}
