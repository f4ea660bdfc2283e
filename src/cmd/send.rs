//! `fmn send`: deliver one channel's notifications, through Redis, until stopped.

use std::process::ExitCode;

use anyhow::{Context, Result};
use fmn_core::ChannelKind;
use fmn_senders::run_sender;

use crate::config::Config;

/// `fmn send` options.
#[derive(clap::Args)]
pub struct SendArgs {
    /// The channel (`gcm` also names push).
    #[arg(long, value_parser = super::channel_kind())]
    channel: ChannelKind,
    #[command(flatten)]
    redis: super::RedisArg,
    /// This sender's name in the channel's consumer group; a restarted sender with the same
    /// name takes back the notifications it held.
    #[arg(long)]
    consumer: Option<String>,
    #[command(flatten)]
    metrics: super::MetricsArgs,
}

pub async fn run(args: SendArgs, config: Config) -> Result<ExitCode> {
    // Checked before connecting anywhere: with no configuration there is nowhere to deliver,
    // and writing the notifications to a local file would take them off the queue undelivered.
    let channel = args.channel;
    let (sender, destination) = config
        .senders
        .get(&channel)
        .with_context(|| {
            format!(
                "no sender configured for channel {channel}: add [senders.{channel}] to the configuration"
            )
        })?
        .build(&config.load_templates()?)?;
    let transport = args.redis.connect(&config).await?;
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
