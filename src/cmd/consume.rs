//! `fmn consume`: read bus messages, dispatch them to live workers through Redis.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use fmn_consumer::consume;

use crate::config::Config;
use crate::setup;

/// `fmn consume` options.
#[derive(clap::Args)]
pub struct ConsumeArgs {
    /// Bus messages as JSON lines (`-` for stdin); the bundled sample if omitted.
    #[arg(long)]
    messages: Option<PathBuf>,
    /// Redis URL (or `[redis] url` in the configuration).
    #[arg(long)]
    redis: Option<String>,
    /// Consume fedora-messaging from this AMQP broker instead of a file, e.g.
    /// `amqp://guest:guest@127.0.0.1:5672/%2f`; deliveries are acknowledged only once
    /// dispatched.
    #[arg(long, value_name = "URL", conflicts_with = "messages")]
    amqp: Option<String>,
    /// The AMQP topic exchange to bind to.
    #[arg(long, default_value = "amq.topic", requires = "amqp")]
    amqp_exchange: String,
    /// The AMQP queue (declared durable if missing).
    #[arg(long, default_value = "fmn", requires = "amqp")]
    amqp_queue: String,
    /// A routing key to bind the queue with (repeatable); default `#`, everything.
    #[arg(long = "amqp-routing-key", requires = "amqp")]
    amqp_routing_keys: Vec<String>,
    /// Deliveries in flight before acknowledgement.
    #[arg(long, default_value_t = 1024, requires = "amqp")]
    amqp_prefetch: u16,
    /// Subscribe to fedmsg over ZeroMQ at this PUB endpoint (repeatable), e.g.
    /// `tcp://hub.fedoraproject.org:9940`; runs until stopped.
    #[arg(long = "zmq", value_name = "ENDPOINT", conflicts_with_all = ["messages", "amqp"])]
    zmq: Vec<String>,
    /// Only topics starting with this prefix (repeatable); every topic if omitted.
    #[arg(long = "zmq-topic", value_name = "PREFIX", requires = "zmq")]
    zmq_topics: Vec<String>,
    /// Replay a time window of bus history from datagrepper's HTTP API (`/v2/raw`), e.g.
    /// `https://apps.fedoraproject.org/datagrepper`, then stop.
    #[arg(long, value_name = "URL", conflicts_with_all = ["messages", "amqp", "zmq"], requires_all = ["since", "until"])]
    datagrepper: Option<String>,
    /// The window's start: RFC 3339 (`2024-05-01T00:00:00Z`) or seconds since the epoch.
    #[arg(long, value_parser = epoch_seconds, requires = "datagrepper")]
    since: Option<f64>,
    /// The window's end, in the same forms.
    #[arg(long, value_parser = epoch_seconds, requires = "datagrepper")]
    until: Option<f64>,
    /// Only this topic (repeatable); every topic if omitted.
    #[arg(long = "datagrepper-topic", requires = "datagrepper")]
    datagrepper_topics: Vec<String>,
    /// How a worker is picked: `random`, `p2c` or `shared` (or `[consumer] dispatch`).
    #[arg(long)]
    dispatch: Option<String>,
    #[command(flatten)]
    metrics: super::MetricsArgs,
}

pub async fn run(args: ConsumeArgs, config: Config) -> Result<ExitCode> {
    let url = super::redis_url(args.redis, &config)?;
    let transport = setup::redis(&url, &config.redis.namespace).await?;
    let mut consumer = config.consumer.clone();
    if let Some(d) = args.dispatch {
        consumer.dispatch = d;
    }
    let opts = consumer.options()?;
    let stop = super::shutdown_on_signal();
    let janitor_stop = stop.child_token();
    let janitor = config.redis.janitor(&transport, &janitor_stop);
    let metrics = args.metrics.start(&transport, &janitor_stop).await?;
    let (r, name) = match &args.amqp {
        Some(url) => {
            let mut amqp = fmn_consumer::AmqpOptions {
                url: url.clone(),
                exchange: args.amqp_exchange.clone(),
                queue: args.amqp_queue.clone(),
                prefetch: args.amqp_prefetch,
                ..Default::default()
            };
            if !args.amqp_routing_keys.is_empty() {
                amqp.routing_keys = args.amqp_routing_keys.clone();
            }
            let mut source = fmn_consumer::AmqpSource::connect(&amqp).await?;
            eprintln!(
                "fmn consume: amqp queue {} on {}; stop with SIGTERM or Ctrl-C",
                amqp.queue, amqp.exchange
            );
            (
                consume(&transport, &mut source, &opts, &stop).await,
                format!("amqp:{}", amqp.queue),
            )
        }
        None if !args.zmq.is_empty() => {
            let zmq = fmn_consumer::ZmqOptions {
                endpoints: args.zmq.clone(),
                topics: args.zmq_topics.clone(),
            };
            let mut source = fmn_consumer::ZmqSource::connect(&zmq)?;
            eprintln!(
                "fmn consume: subscribed to {}; stop with SIGTERM or Ctrl-C",
                zmq.endpoints.join(", ")
            );
            (
                consume(&transport, &mut source, &opts, &stop).await,
                format!("zmq {}", zmq.endpoints.join(",")),
            )
        }
        None if args.datagrepper.is_some() => {
            let (Some(url), Some(since), Some(until)) = (&args.datagrepper, args.since, args.until)
            else {
                anyhow::bail!("--datagrepper needs --since and --until");
            };
            let opts_dg = fmn_consumer::DatagrepperOptions {
                topics: args.datagrepper_topics.clone(),
                ..fmn_consumer::DatagrepperOptions::new(url.clone(), since, until)
            };
            let mut source = fmn_consumer::DatagrepperSource::new(opts_dg)?;
            (
                consume(&transport, &mut source, &opts, &stop).await,
                format!("datagrepper {url}"),
            )
        }
        None => {
            let (mut source, name) = super::messages(args.messages.as_deref()).await?;
            (consume(&transport, &mut source, &opts, &stop).await, name)
        }
    };
    janitor_stop.cancel();
    if let Some(j) = janitor {
        j.await?;
    }
    if let Some(m) = metrics {
        m.await?;
    }
    let r = r?;
    let data = if r.data_changes > 0 {
        format!(
            "; {} ownership and group data changes applied",
            r.data_changes
        )
    } else {
        String::new()
    };
    println!(
        "fmn consume: {name}: {} messages read, {} dispatched, {} dead-lettered{data}",
        r.read, r.dispatched, r.dead_lettered
    );
    if r.backpressure_pauses > 0 {
        println!(
            "fmn consume: paused {} time(s) while the workers' queues held {} entries or more",
            r.backpressure_pauses, opts.max_backlog
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A point in time as seconds since the epoch: RFC 3339, or a number of seconds.
fn epoch_seconds(s: &str) -> Result<f64, String> {
    if let Ok(n) = s.parse::<f64>() {
        return Ok(n);
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond() as f64 / 1000.0)
        .map_err(|e| format!("{s:?} is neither RFC 3339 nor seconds since the epoch: {e}"))
}
