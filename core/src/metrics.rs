//! What every part of fmn counts, for Prometheus.
//!
//! One registry per process ([`metrics`]): the consumer, workers and senders record into it
//! wherever they run (one process each, or all in `fmn run`), and `--metrics ADDR` serves it.
//! Queue depths and live workers are not counted here but read from the transport when the
//! endpoint is scraped ([`Metrics::observe_queue`]), so every process reports the same
//! picture of Redis.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels: one `(name, value)` pair.
type Label = Vec<(&'static str, String)>;

/// The process's metrics. Every field is cheap to update from any thread.
pub struct Metrics {
    registry: Registry,
    /// Messages the consumer read from its source.
    pub messages_read: Counter,
    /// Messages dispatched, by dispatch mode (`random`, `p2c`, `shared`).
    pub messages_dispatched: Family<Label, Counter>,
    /// Times the consumer stopped reading because the workers' queues were full.
    pub backpressure_pauses: Counter,
    /// Bytes of work the consumer last saw queued for the workers (the live workers' queues,
    /// or the shared queue), which `[consumer] max_backlog_bytes` bounds.
    pub backlog_bytes: Gauge,
    /// Dead letters written, by stage (`consumer`, `worker`, `sender`).
    pub dead_letters: Family<Label, Counter>,
    /// Messages a worker evaluated and acknowledged.
    pub messages_processed: Counter,
    /// Notifications workers wrote, by channel.
    pub notifications: Family<Label, Counter>,
    /// Rule module calls that failed (trap, timeout, bad output), by module.
    pub module_failures: Family<Label, Counter>,
    /// Evaluations a module failure left incomplete: each message is evaluated again later,
    /// then kept as a dead letter to replay.
    pub messages_unevaluated: Counter,
    /// 1 while a module is quarantined in a worker of this process, else 0, by module.
    pub module_quarantined: Family<Label, Gauge>,
    /// Time to evaluate one message against every rule and preference.
    pub eval_seconds: Histogram,
    /// From the consumer reading a message to a worker writing its notifications.
    pub message_latency_seconds: Histogram,
    /// Entries the janitor moved from workers that were not live.
    pub reclaimed: Counter,
    /// Deliveries made, by channel.
    pub delivered: Family<Label, Counter>,
    /// Deliveries skipped because their delivery id was already delivered, by channel.
    pub duplicates_suppressed: Family<Label, Counter>,
    /// Deliveries that failed (to be retried or dead-lettered), by channel.
    pub delivery_failures: Family<Label, Counter>,
    /// Notifications held for a digest, by channel.
    pub held_for_digest: Family<Label, Counter>,
    /// Digest messages sent (one per address), by channel.
    pub digests_sent: Family<Label, Counter>,
    /// Times a sender found its remote side out of reach, by channel.
    pub outages: Family<Label, Counter>,
    /// 1 while a sender's remote side is out of reach (it sends nothing), else 0, by channel.
    pub out_of_reach: Family<Label, Gauge>,
    /// Entries each queue holds that are not yet acknowledged, as last scraped.
    pub queue_waiting: Family<Label, Gauge>,
    /// Of those, read and not yet acknowledged.
    pub queue_pending: Family<Label, Gauge>,
    /// Age of each queue's oldest entry in seconds, as last scraped (0 when empty).
    pub queue_oldest_seconds: Family<Label, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Workers whose heartbeat is current, as last scraped.
    pub live_workers: Gauge,
}

/// A label set of one pair.
pub fn label(name: &'static str, value: impl Into<String>) -> Label {
    vec![(name, value.into())]
}

impl Metrics {
    fn new() -> Self {
        let mut m = Metrics {
            registry: Registry::with_prefix("fmn"),
            messages_read: Counter::default(),
            messages_dispatched: Family::default(),
            backpressure_pauses: Counter::default(),
            backlog_bytes: Gauge::default(),
            dead_letters: Family::default(),
            messages_processed: Counter::default(),
            notifications: Family::default(),
            module_failures: Family::default(),
            messages_unevaluated: Counter::default(),
            module_quarantined: Family::default(),
            // 10 µs .. about 5 s.
            eval_seconds: Histogram::new(exponential_buckets(1e-5, 2.0, 20)),
            // 100 µs .. about 100 s.
            message_latency_seconds: Histogram::new(exponential_buckets(1e-4, 2.0, 21)),
            reclaimed: Counter::default(),
            delivered: Family::default(),
            duplicates_suppressed: Family::default(),
            delivery_failures: Family::default(),
            held_for_digest: Family::default(),
            digests_sent: Family::default(),
            outages: Family::default(),
            out_of_reach: Family::default(),
            queue_waiting: Family::default(),
            queue_pending: Family::default(),
            queue_oldest_seconds: Family::default(),
            live_workers: Gauge::default(),
        };
        m.register_consumer();
        m.register_worker();
        m.register_sender();
        m.register_queues();
        m
    }

    /// Registers the consumer's metrics, and the dead letters every part writes.
    fn register_consumer(&mut self) {
        self.registry.register(
            "consumer_messages_read",
            "Messages the consumer read from its source",
            self.messages_read.clone(),
        );
        self.registry.register(
            "consumer_messages_dispatched",
            "Messages dispatched to workers, by dispatch mode",
            self.messages_dispatched.clone(),
        );
        self.registry.register(
            "consumer_backpressure_pauses",
            "Times the consumer stopped reading because the workers' queues were full",
            self.backpressure_pauses.clone(),
        );
        self.registry.register(
            "consumer_backlog_bytes",
            "Bytes of work queued for the workers as the consumer last saw them",
            self.backlog_bytes.clone(),
        );
        self.registry.register(
            "dead_letters",
            "Dead letters written, by stage",
            self.dead_letters.clone(),
        );
    }

    /// Registers the workers' and the janitor's metrics.
    fn register_worker(&mut self) {
        self.registry.register(
            "worker_messages_processed",
            "Messages evaluated and acknowledged",
            self.messages_processed.clone(),
        );
        self.registry.register(
            "worker_notifications",
            "Notifications written, by channel",
            self.notifications.clone(),
        );
        self.registry.register(
            "worker_module_failures",
            "Rule module calls that failed, by module",
            self.module_failures.clone(),
        );
        self.registry.register(
            "worker_messages_unevaluated",
            "Messages a module failure left not wholly evaluated, kept as dead letters",
            self.messages_unevaluated.clone(),
        );
        self.registry.register(
            "worker_module_quarantined",
            "1 while a rule module is quarantined in a worker of this process, by module",
            self.module_quarantined.clone(),
        );
        self.registry.register(
            "worker_eval_seconds",
            "Time to evaluate one message",
            self.eval_seconds.clone(),
        );
        self.registry.register(
            "worker_message_latency_seconds",
            "From the consumer reading a message to its notifications being written",
            self.message_latency_seconds.clone(),
        );
        self.registry.register(
            "janitor_reclaimed",
            "Entries moved from workers that were not live",
            self.reclaimed.clone(),
        );
    }

    /// Registers the senders' metrics.
    fn register_sender(&mut self) {
        self.registry.register(
            "sender_delivered",
            "Deliveries made, by channel",
            self.delivered.clone(),
        );
        self.registry.register(
            "sender_held_for_digest",
            "Notifications held for a digest, by channel",
            self.held_for_digest.clone(),
        );
        self.registry.register(
            "sender_outages",
            "Times a sender found its remote side out of reach, by channel",
            self.outages.clone(),
        );
        self.registry.register(
            "sender_out_of_reach",
            "1 while a sender's remote side is out of reach and it sends nothing, by channel",
            self.out_of_reach.clone(),
        );
        self.registry.register(
            "sender_digests_sent",
            "Digest messages sent, by channel",
            self.digests_sent.clone(),
        );
        self.registry.register(
            "sender_duplicates_suppressed",
            "Deliveries skipped as already made (same delivery id), by channel",
            self.duplicates_suppressed.clone(),
        );
        self.registry.register(
            "sender_delivery_failures",
            "Deliveries that failed, by channel",
            self.delivery_failures.clone(),
        );
    }

    /// Registers the queues and live workers, as last scraped.
    fn register_queues(&mut self) {
        self.registry.register(
            "queue_waiting",
            "Entries not yet acknowledged, by queue",
            self.queue_waiting.clone(),
        );
        self.registry.register(
            "queue_pending",
            "Entries read and not yet acknowledged, by queue",
            self.queue_pending.clone(),
        );
        self.registry.register(
            "queue_oldest_seconds",
            "Age of the oldest entry not yet acknowledged, by queue",
            self.queue_oldest_seconds.clone(),
        );
        self.registry.register(
            "live_workers",
            "Workers whose heartbeat is current",
            self.live_workers.clone(),
        );
    }

    /// Records one queue's depth read from the transport: entries `waiting` (not yet
    /// acknowledged), of those `pending` (read), and the age of the oldest in milliseconds.
    pub fn observe_queue(&self, name: &str, waiting: u64, pending: u64, oldest_ms: Option<u64>) {
        let l = label("queue", name.to_owned());
        self.queue_waiting.get_or_create(&l).set(waiting as i64);
        self.queue_pending.get_or_create(&l).set(pending as i64);
        self.queue_oldest_seconds
            .get_or_create(&l)
            .set(oldest_ms.unwrap_or(0) as f64 / 1000.0);
    }

    /// Records how many workers the transport sees alive.
    pub fn observe_live_workers(&self, live_workers: usize) {
        self.live_workers.set(live_workers as i64);
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Microseconds since the Unix epoch, as a work item's `read_at_us` holds.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The time since `then_us` (microseconds since the epoch); zero if the clock went back or
/// `then_us` is unknown (0).
pub fn since_us(then_us: u64) -> Duration {
    if then_us == 0 {
        return Duration::ZERO;
    }
    Duration::from_micros(now_us().saturating_sub(then_us))
}
