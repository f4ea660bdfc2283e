//! `fmn consume`: read bus messages, dispatch them to live workers through Redis.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use fmn_consumer::consume;

use crate::config::Config;

/// `fmn consume` options.
#[derive(clap::Args)]
pub struct ConsumeArgs {
    /// Bus messages as JSON lines (`-` for stdin).
    #[arg(long)]
    messages: Option<PathBuf>,
    #[command(flatten)]
    redis: super::RedisArg,
    /// Consume fedora-messaging from this AMQP broker instead of a file, e.g.
    /// `amqp://guest:guest@127.0.0.1:5672/%2f`; deliveries are acknowledged only once
    /// dispatched. Without it, `[amqp] url` is used when no other source is given.
    #[arg(long, value_name = "URL", conflicts_with = "messages")]
    amqp: Option<String>,
    /// The AMQP topic exchange to bind to (`[amqp] exchange`, else `amq.topic`).
    #[arg(long)]
    amqp_exchange: Option<String>,
    /// The AMQP queue, declared durable if missing (`[amqp] queue`, else `fmn`).
    #[arg(long)]
    amqp_queue: Option<String>,
    /// A routing key to bind the queue with (repeatable; `[amqp] routing_keys`, else `#`).
    #[arg(long = "amqp-routing-key")]
    amqp_routing_keys: Vec<String>,
    /// Deliveries in flight before acknowledgement (`[amqp] prefetch`, else 1024).
    #[arg(long)]
    amqp_prefetch: Option<u16>,
    /// CA certificates (PEM) to verify an `amqps://` broker with (`[amqp] ca`).
    #[arg(long, value_name = "FILE")]
    amqp_ca: Option<PathBuf>,
    /// Client certificate (PEM) for an `amqps://` broker (`[amqp] cert`).
    #[arg(long, value_name = "FILE")]
    amqp_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM; `[amqp] key`).
    #[arg(long, value_name = "FILE")]
    amqp_key: Option<PathBuf>,
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
    /// How a worker is picked (or `[consumer] dispatch`).
    #[arg(long, value_parser = ["random", "p2c", "shared"])]
    dispatch: Option<String>,
    #[command(flatten)]
    metrics: super::MetricsArgs,
}

/// The one message source a consumer reads; there is no default outside `fmn run`.
const NO_SOURCE: &str = "no source of messages: give --messages FILE (- for stdin), --amqp URL, \
     --zmq ENDPOINT or --datagrepper URL, or set [amqp] url in the configuration";

pub async fn run(args: ConsumeArgs, config: Config) -> Result<ExitCode> {
    // Everything the command line and configuration decide is checked before connecting.
    let mut consumer = config.consumer.clone();
    if let Some(d) = args.dispatch.clone() {
        consumer.dispatch = d;
    }
    let opts = fmn_consumer::ConsumerOptions {
        recent: config.history.window()?,
        ..consumer.options()?
    };
    let source = Chosen::of(&args, &config)?;
    let transport = args.redis.connect(&config).await?;
    let stop = super::shutdown_on_signal();
    let janitor_stop = stop.child_token();
    let janitor = super::start_janitor(&config.redis, &transport, &janitor_stop);
    let metrics = args.metrics.start(&transport, &janitor_stop).await?;
    let (r, name) = read_source(&args, &config, source, &transport, &opts, &stop).await?;
    janitor_stop.cancel();
    if let Some(j) = janitor {
        j.await?;
    }
    if let Some(m) = metrics {
        m.await?;
    }
    let r = r?;
    print_report(&name, &r, &opts);
    Ok(ExitCode::SUCCESS)
}

fn print_report(name: &str, r: &fmn_consumer::ConsumeReport, opts: &fmn_consumer::ConsumerOptions) {
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
            "fmn consume: paused {} time(s) while the workers' queues held {} entries or {} bytes or more",
            r.backpressure_pauses, opts.max_backlog, opts.max_backlog_bytes
        );
    }
}

/// Consumes the source the command line or configuration names, until it ends or `stop`;
/// the consumer's outcome and the source's name.
/// The source the command line names, else the broker of `[amqp] url`.
enum Chosen {
    Amqp(String),
    Zmq,
    Datagrepper,
    Messages(PathBuf),
}

impl Chosen {
    fn of(args: &ConsumeArgs, config: &Config) -> Result<Chosen> {
        // clap lets at most one source through.
        Ok(if let Some(url) = &args.amqp {
            Chosen::Amqp(url.clone())
        } else if !args.zmq.is_empty() {
            Chosen::Zmq
        } else if args.datagrepper.is_some() {
            Chosen::Datagrepper
        } else if let Some(path) = &args.messages {
            Chosen::Messages(path.clone())
        } else {
            Chosen::Amqp(config.amqp.url.clone().context(NO_SOURCE)?)
        })
    }
}

async fn read_source(
    args: &ConsumeArgs,
    config: &Config,
    source: Chosen,
    transport: &fmn_transport::RedisTransport,
    opts: &fmn_consumer::ConsumerOptions,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<(
    Result<fmn_consumer::ConsumeReport, fmn_consumer::SourceError>,
    String,
)> {
    Ok(match source {
        Chosen::Amqp(url) => {
            let amqp = amqp_options(url, args, &config.amqp);
            let mut source = fmn_consumer::AmqpSource::connect(&amqp).await?;
            eprintln!(
                "fmn consume: amqp queue {} on {}; stop with SIGTERM or Ctrl-C",
                amqp.queue, amqp.exchange
            );
            (
                consume(transport, &mut source, opts, stop).await,
                format!("amqp:{}", amqp.queue),
            )
        }
        Chosen::Zmq => {
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
                consume(transport, &mut source, opts, stop).await,
                format!("zmq {}", zmq.endpoints.join(",")),
            )
        }
        Chosen::Datagrepper => {
            let (Some(url), Some(since), Some(until)) = (&args.datagrepper, args.since, args.until)
            else {
                anyhow::bail!("--datagrepper needs --since and --until");
            };
            let opts_dg = fmn_consumer::DatagrepperOptions {
                topics: args.datagrepper_topics.clone(),
                ..fmn_consumer::DatagrepperOptions::new(url.clone(), since, until)
            };
            let mut source = crate::progress::Counted::new(
                fmn_consumer::DatagrepperSource::new(opts_dg)?,
                crate::progress::Progress::counter("messages replayed"),
            );
            (
                consume(transport, &mut source, opts, stop).await,
                format!("datagrepper {url}"),
            )
        }
        Chosen::Messages(path) => {
            let (mut source, name) = super::messages(Some(&path)).await?;
            (consume(transport, &mut source, opts, stop).await, name)
        }
    })
}

/// The command line's AMQP settings over `[amqp]`'s, over the defaults.
fn amqp_options(
    url: String,
    args: &ConsumeArgs,
    section: &crate::config::AmqpSection,
) -> fmn_consumer::AmqpOptions {
    let defaults = fmn_consumer::AmqpOptions::default();
    let pick = |arg: &Option<PathBuf>, conf: &Option<PathBuf>| arg.clone().or_else(|| conf.clone());
    fmn_consumer::AmqpOptions {
        url,
        exchange: args
            .amqp_exchange
            .clone()
            .or_else(|| section.exchange.clone())
            .unwrap_or(defaults.exchange),
        queue: args
            .amqp_queue
            .clone()
            .or_else(|| section.queue.clone())
            .unwrap_or(defaults.queue),
        routing_keys: [&args.amqp_routing_keys, &section.routing_keys]
            .into_iter()
            .find(|k| !k.is_empty())
            .cloned()
            .unwrap_or(defaults.routing_keys),
        prefetch: args
            .amqp_prefetch
            .or(section.prefetch)
            .unwrap_or(defaults.prefetch),
        tls: fmn_consumer::AmqpTls {
            ca: pick(&args.amqp_ca, &section.ca),
            cert: pick(&args.amqp_cert, &section.cert),
            key: pick(&args.amqp_key, &section.key),
        },
        ..defaults
    }
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
