//! The worker loop: read messages from this worker's queue, evaluate them, write the
//! notifications and acknowledge, in that order.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use fmn_core::Relations;
use fmn_core::metrics::label;
use fmn_core::notification::{Notification, delivery_id};
use fmn_core::transport::{DeadLetter, Entry, Stage, Transport, WorkItem, WorkerInfo};
use tokio_util::sync::CancellationToken;

use crate::eval::{Evaluation, Evaluator};
use crate::plan::Plan;
use crate::reload::PrefsGate;
use crate::ruleset::RuleSet;

/// The rules and preferences a worker evaluates with; replaced as a whole, between batches.
pub struct Snapshot {
    /// The modules.
    pub ruleset: Arc<RuleSet>,
    /// The preferences, compiled against them.
    pub plan: Arc<Plan>,
    /// The data rules keyed `via` a relation are answered from.
    pub relations: Arc<Relations>,
    /// The version of the preferences in Redis that `plan` compiles (0: not from Redis).
    pub prefs_version: u64,
}

/// Where workers get the current [`Snapshot`].
pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;

/// Makes a [`SharedSnapshot`].
pub fn shared(ruleset: Arc<RuleSet>, plan: Arc<Plan>, relations: Arc<Relations>) -> SharedSnapshot {
    Arc::new(ArcSwap::from_pointee(Snapshot {
        ruleset,
        plan,
        relations,
        prefs_version: 0,
    }))
}

impl Snapshot {
    /// An evaluator for this snapshot.
    pub fn evaluator(&self) -> Evaluator {
        Evaluator::new(
            self.ruleset.clone(),
            self.plan.clone(),
            self.relations.clone(),
        )
    }
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Unique among all workers.
    pub id: String,
    /// Messages read (and acknowledged) at once.
    pub batch: usize,
    /// How long a read waits for a message before the loop looks around.
    pub block: Duration,
    /// How often the worker says it is alive.
    pub heartbeat: Duration,
    /// Where to keep every message's latency (consumer read to notifications written), for
    /// benchmarks that want exact percentiles rather than the metrics' histogram buckets.
    pub latencies: Option<Arc<LatencyLog>>,
    /// With preferences kept in Redis: evaluate each batch with preferences at least as new as
    /// Redis' version once the batch was read.
    pub prefs_gate: Option<PrefsGate>,
}

/// Every message's latency, in microseconds, as workers finish them.
#[derive(Debug, Default)]
pub struct LatencyLog(std::sync::Mutex<Vec<u64>>);

impl LatencyLog {
    /// Keeps one latency.
    pub fn record(&self, latency: Duration) {
        self.lock().push(latency.as_micros() as u64);
    }

    /// The latencies kept so far, sorted.
    pub fn sorted(&self) -> Vec<u64> {
        let mut v = self.lock().clone();
        v.sort_unstable();
        v
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl WorkerOptions {
    /// Defaults for worker `id`.
    pub fn new(id: impl Into<String>) -> Self {
        WorkerOptions {
            id: id.into(),
            batch: 64,
            block: Duration::from_millis(500),
            heartbeat: Duration::from_secs(2),
            latencies: None,
            prefs_gate: None,
        }
    }
}

/// What a worker did, when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Messages evaluated and acknowledged.
    pub processed: u64,
    /// Notifications written.
    pub notifications: u64,
    /// Module calls that failed (each logged).
    pub module_failures: u64,
    /// Messages a module failure left not wholly evaluated, kept as dead letters.
    pub dead_lettered: u64,
}

/// Turns an evaluation into notifications, one per (user, channel).
pub fn notifications(
    plan: &Plan,
    ev: &Evaluation,
    item: &WorkItem,
    worker: &str,
    generation: u64,
) -> Vec<Notification> {
    ev.matches
        .iter()
        .filter_map(|m| {
            let user = plan.users.get(m.user as usize)?;
            let ch = user.channels.get(m.channel as usize)?;
            Some(Notification {
                delivery_id: delivery_id(&item.envelope.id, &user.name, ch.kind),
                user: user.name.clone(),
                channel: ch.kind,
                addresses: ch.addresses.clone(),
                filter: plan.filter_name(m.user, m.channel, m.filter).to_owned(),
                oneshot: plan.filter_oneshot(m.user, m.channel, m.filter),
                attempts: 0,
                digest: ch.digest,
                generation,
                worker: worker.to_owned(),
                meta: ev.meta.clone(),
                message: item.envelope.clone(),
            })
        })
        .collect()
}

/// Why an evaluation did not answer every rule the message needed: the modules that failed on
/// it as a whole, or were quarantined. `None` when every rule was answered (a rule that
/// returned an error is answered: the filters that contain it fail).
pub fn unevaluated(ev: &Evaluation) -> Option<String> {
    let mut why: Vec<String> = ev.failures.iter().map(|f| f.to_string()).collect();
    why.extend(
        ev.quarantined
            .iter()
            .map(|m| format!("module {m}: quarantined after failing repeatedly")),
    );
    (!why.is_empty()).then(|| why.join("; "))
}

/// How many times a message is evaluated while a module runs out of time on it: a call that
/// waited for a core on a loaded machine usually fits the next time.
const ATTEMPTS_ON_TIMEOUT: u32 = 3;

/// Evaluates one work item, again while a module only ran out of time on it, and logs what
/// failed.
pub fn evaluate(evaluator: &mut Evaluator, item: &WorkItem) -> Evaluation {
    let json = item.envelope.rules_json();
    let mut ev = evaluator.evaluate(json.as_bytes(), &item.envelope.topic);
    for _ in 1..ATTEMPTS_ON_TIMEOUT {
        let timed_out = !ev.failures.is_empty()
            && ev
                .failures
                .iter()
                .all(|f| f.kind == crate::error::FailureKind::Timeout);
        if !timed_out || !ev.quarantined.is_empty() {
            break;
        }
        tracing::info!(message_id = %item.envelope.id, "a module ran out of time on the message; evaluating it again");
        ev = evaluator.evaluate(json.as_bytes(), &item.envelope.topic);
    }
    for f in &ev.failures {
        tracing::warn!(
            message_id = %item.envelope.id,
            origin = %item.origin,
            module = %f.module,
            during = %f.during,
            kind = f.kind.as_str(),
            "rule module failed: {f}; its rules count as not matching for this message"
        );
    }
    for (what, length) in &ev.newly_quarantined {
        tracing::error!(
            quarantined = %what,
            "set aside for {} s after failing repeatedly: the filters that need it fail meanwhile",
            length.as_secs()
        );
    }
    for e in &ev.rule_errors {
        tracing::warn!(message_id = %item.envelope.id, module = %e.module, rule = %e.rule, args = %e.args, users = %e.users.join(","), "rule failed, its users' filters with it fail: {}", e.error);
    }
    ev
}

/// Sets `fmn_worker_module_quarantined` for every module of the rule set: 1 while this
/// evaluator holds it in quarantine.
fn publish_quarantine(evaluator: &Evaluator) {
    let metrics = fmn_core::metrics::metrics();
    let now = evaluator.quarantined_modules();
    for m in evaluator.ruleset().modules() {
        let on = now.iter().any(|q| q == m.name());
        metrics
            .module_quarantined
            .get_or_create(&label("module", m.name()))
            .set(i64::from(on));
    }
}

/// Records in the worker's registry entry (`quarantined`, for `fmn status`) the modules this
/// evaluator holds in quarantine, when that changed; a failure only costs the status report.
async fn report_quarantine<T: Transport>(
    transport: &T,
    worker: &str,
    json: String,
    reported: &mut String,
) {
    if json == *reported {
        return;
    }
    match transport
        .set_worker_field(worker, "quarantined", &json)
        .await
    {
        Ok(()) => *reported = json,
        Err(e) => tracing::warn!(worker, "cannot report the quarantined modules: {e}"),
    }
}

/// Records the rule set generation a worker evaluates with, for `fmn rules status`; a
/// failure only costs the status report, so it is logged, not retried.
async fn report_generation<T: Transport>(transport: &T, worker: &str, generation: u64) {
    if let Err(e) = transport
        .set_worker_field(worker, "generation", &generation.to_string())
        .await
    {
        tracing::warn!(worker, "cannot report the rule set generation: {e}");
    }
}

pub(crate) async fn backoff(attempt: &mut u32, cancel: &CancellationToken) -> bool {
    let ms = 50u64.saturating_mul(1 << (*attempt).min(7)).min(5_000);
    *attempt += 1;
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
        _ = cancel.cancelled() => false,
    }
}

/// Runs a worker until `cancel` fires: registers, heartbeats, evaluates, acknowledges.
/// Transport failures are retried with backoff; a message is acknowledged only once its
/// notifications are written, and nothing is acknowledged after cancellation.
pub async fn run_worker<T: Transport>(
    transport: T,
    rules: SharedSnapshot,
    opts: WorkerOptions,
    cancel: CancellationToken,
) -> WorkerReport {
    let mut report = WorkerReport::default();
    let info = WorkerInfo::local(opts.id.clone());
    let mut attempt = 0;
    loop {
        match transport.register_worker(&info).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(worker = %opts.id, "cannot register: {e}; retrying");
                if !backoff(&mut attempt, &cancel).await {
                    return report;
                }
            }
        }
    }
    tracing::info!(worker = %opts.id, "worker registered");

    let beat = cancel.child_token();
    let heartbeat = {
        let (t, id, every, stop) = (
            transport.clone(),
            opts.id.clone(),
            opts.heartbeat,
            beat.clone(),
        );
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.cancelled() => return,
                }
                if let Err(e) = t.heartbeat(&id).await {
                    tracing::warn!(worker = %id, "heartbeat failed: {e}");
                }
            }
        })
    };

    let mut snapshot = rules.load_full();
    let mut evaluator = snapshot.evaluator();
    let mut quarantine_reported = String::from("[]");
    report_generation(&transport, &opts.id, snapshot.ruleset.generation).await;
    let mut attempt = 0;
    'serve: while !cancel.is_cancelled() {
        let entries: Vec<Entry<WorkItem>> = tokio::select! {
            r = transport.read_work(&opts.id, opts.batch, opts.block) => match r {
                Ok(e) => { attempt = 0; e }
                Err(e) => {
                    tracing::warn!(worker = %opts.id, "reading work failed: {e}; retrying");
                    if !backoff(&mut attempt, &cancel).await { break 'serve; }
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        // Every message of this batch was dispatched before the read: preferences changed
        // before it was dispatched have a version at most Redis' now, which the gate waits for.
        if let (Some(gate), false) = (&opts.prefs_gate, entries.is_empty())
            && !gate.wait_current(&rules, &cancel).await
        {
            break 'serve;
        }
        // A new rule set or new preferences take effect between batches, never within one;
        // an idle worker takes it too, so that the status it reports is current.
        let current = rules.load();
        if !Arc::ptr_eq(&current, &snapshot) {
            snapshot = rules.load_full();
            let before = std::mem::replace(&mut evaluator, snapshot.evaluator());
            evaluator.keep_quarantines_of(&before);
            report_generation(&transport, &opts.id, snapshot.ruleset.generation).await;
        }
        if entries.is_empty() {
            continue;
        }
        let generation = snapshot.ruleset.generation;
        let mut out = Vec::new();
        let mut dead = Vec::new();
        let mut ids = Vec::with_capacity(entries.len());
        let metrics = fmn_core::metrics::metrics();
        for e in &entries {
            let started = std::time::Instant::now();
            let ev = evaluate(&mut evaluator, &e.item);
            metrics
                .eval_seconds
                .observe(started.elapsed().as_secs_f64());
            report.module_failures += ev.failures.len() as u64;
            for f in &ev.failures {
                metrics
                    .module_failures
                    .get_or_create(&label("module", f.module.as_str()))
                    .inc();
            }
            // What the evaluation could decide goes out now; a message it could not wholly
            // decide is kept whole as a dead letter, to be replayed (the notifications sent
            // now are not sent twice: deliveries are remembered by id).
            if let Some(why) = unevaluated(&ev) {
                tracing::error!(message_id = %e.item.envelope.id, origin = %e.item.origin, "message not wholly evaluated, dead-lettered for replay: {why}");
                metrics.messages_unevaluated.inc();
                dead.push(DeadLetter::work(&e.item.origin, why, &e.item));
            }
            out.extend(notifications(
                &snapshot.plan,
                &ev,
                &e.item,
                &opts.id,
                generation,
            ));
            ids.push(e.id.clone());
        }
        // The dead letters are kept before the messages are acknowledged: a message is
        // acknowledged with its notifications, its dead letter, or both.
        let mut attempt = 0;
        while !dead.is_empty() {
            match transport.dead_letter(&dead).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(worker = %opts.id, "keeping dead letters failed: {e}; retrying");
                    if !backoff(&mut attempt, &cancel).await {
                        break 'serve;
                    }
                }
            }
        }
        report.dead_lettered += dead.len() as u64;
        if !dead.is_empty() {
            metrics
                .dead_letters
                .get_or_create(&label("stage", Stage::Worker.as_str()))
                .inc_by(dead.len() as u64);
        }
        publish_quarantine(&evaluator);
        let mut quarantined = evaluator.quarantined_modules();
        quarantined.extend(evaluator.set_aside_rules());
        let quarantined = serde_json::to_string(&quarantined).unwrap_or_default();
        report_quarantine(&transport, &opts.id, quarantined, &mut quarantine_reported).await;
        let mut attempt = 0;
        loop {
            match transport.complete_work(&opts.id, &ids, &out).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(worker = %opts.id, "writing notifications failed: {e}; retrying");
                    // Not acknowledged: after a restart these messages are read again.
                    if !backoff(&mut attempt, &cancel).await {
                        break 'serve;
                    }
                }
            }
        }
        report.processed += ids.len() as u64;
        report.notifications += out.len() as u64;
        metrics.messages_processed.inc_by(ids.len() as u64);
        for n in &out {
            metrics
                .notifications
                .get_or_create(&label("channel", n.channel.as_str()))
                .inc();
        }
        for e in &entries {
            let latency = fmn_core::metrics::since_us(e.item.read_at_us);
            if e.item.read_at_us != 0 {
                metrics
                    .message_latency_seconds
                    .observe(latency.as_secs_f64());
            }
            if let Some(log) = &opts.latencies {
                log.record(latency);
            }
        }
    }
    beat.cancel();
    let _ = heartbeat.await;
    if let Err(e) = transport.deregister_worker(&opts.id).await {
        tracing::warn!(worker = %opts.id, "cannot deregister: {e}");
    }
    tracing::info!(worker = %opts.id, processed = report.processed, notifications = report.notifications, "worker stopped");
    report
}
