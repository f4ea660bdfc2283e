//! The worker loop: read messages from this worker's queue, evaluate them, write the
//! notifications and acknowledge, in that order.

use std::sync::Arc;
use std::time::Duration;

use fmn_core::metrics::label;
use fmn_core::notification::{MessageCopy, Notification, NotifiedMessage, delivery_id};
use fmn_transport::{DeadLetter, Entry, EntryId, Registry, Stage, Transport, WorkItem, WorkerInfo};
use tokio_util::sync::CancellationToken;

use crate::eval::{Evaluation, Evaluator};
use crate::plan::Plan;
use crate::retry::{Later, RetryPolicy, TRANSPORT_BACKOFF, pause, until_ok};
use crate::snapshot::{PrefsGate, SharedSnapshot, Snapshot};

/// Makes the snapshot [`run_worker`] reads (defined in [`crate::snapshot`]).
pub use crate::snapshot::shared;

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
    /// When a message whose evaluation could not be completed is evaluated again.
    pub retry: RetryPolicy,
    /// How often the worker queues the messages whose retry is due.
    pub promote_every: Duration,
    /// How much of the message each notification carries.
    pub message_copy: MessageCopy,
}

/// Messages a worker reads and acknowledges at once, unless told otherwise. A round trip to the
/// transport per 256 messages rather than 64 made a worker through Redis 12% faster under a
/// backlog (docs/benchmarks.md); a worker that dies holds at most this many until they are
/// reclaimed, and they are evaluated again elsewhere without duplicates.
pub const DEFAULT_WORKER_BATCH: usize = 256;

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
            batch: DEFAULT_WORKER_BATCH,
            block: Duration::from_millis(500),
            heartbeat: Duration::from_secs(2),
            latencies: None,
            prefs_gate: None,
            retry: RetryPolicy::default(),
            promote_every: Duration::from_secs(1),
            message_copy: MessageCopy::Reference,
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
    /// Messages a module failure left not wholly evaluated, kept to be evaluated again later.
    pub retried: u64,
    /// Messages a module failure left not wholly evaluated after their retries, kept as dead
    /// letters.
    pub dead_lettered: u64,
}

/// Turns an evaluation into notifications, one per (user, channel), each carrying as much of
/// the message as `copy` says.
pub fn notifications(
    plan: &Plan,
    ev: &Evaluation,
    item: &WorkItem,
    worker: &str,
    generation: u64,
    copy: MessageCopy,
) -> Vec<Notification> {
    if ev.matches.is_empty() {
        return Vec::new();
    }
    let message = NotifiedMessage::of(&item.envelope, copy);
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
                message: message.clone(),
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
async fn report_quarantine<T: Registry>(
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
async fn report_generation<T: Registry>(transport: &T, worker: &str, generation: u64) {
    if let Err(e) = transport
        .set_worker_field(worker, "generation", &generation.to_string())
        .await
    {
        tracing::warn!(worker, "cannot report the rule set generation: {e}");
    }
}

/// Runs a worker until `cancel` fires: registers, heartbeats, evaluates, acknowledges.
/// Transport failures are retried with backoff; a message is acknowledged only once its
/// notifications are written (and, if its evaluation could not be completed, once it is kept
/// for a retry or as a dead letter), and nothing is acknowledged after cancellation.
pub async fn run_worker<T: Transport>(
    transport: T,
    rules: SharedSnapshot,
    opts: WorkerOptions,
    cancel: CancellationToken,
) -> WorkerReport {
    let info = WorkerInfo::local(opts.id.clone());
    let registered = until_ok("registering the worker", &cancel, || {
        transport.register_worker(&info)
    })
    .await;
    if !registered {
        return WorkerReport::default();
    }
    tracing::info!(worker = %opts.id, "worker registered");
    let beat = cancel.child_token();
    let heartbeat = spawn_heartbeat(
        transport.clone(),
        opts.id.clone(),
        opts.heartbeat,
        beat.clone(),
    );
    let mut serve = Serve::new(transport.clone(), rules, opts, cancel).await;
    while serve.step().await {}
    let report = serve.report;
    beat.cancel();
    let _ = heartbeat.await;
    if let Err(e) = transport.deregister_worker(&serve.opts.id).await {
        tracing::warn!(worker = %serve.opts.id, "cannot deregister: {e}");
    }
    tracing::info!(worker = %serve.opts.id, processed = report.processed, notifications = report.notifications, "worker stopped");
    report
}

/// Says every `every` that worker `id` is alive, until `stop` fires.
fn spawn_heartbeat<T: Registry>(
    t: T,
    id: String,
    every: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
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
}

/// Runs the CPU-bound `work` (a batch's evaluation, seconds long) without holding up the
/// runtime's other tasks. On a multi-threaded runtime the thread hands its queued tasks to
/// another first: otherwise a task woken on it just before (the heartbeat above all) waits
/// for the whole batch, and a batch longer than the heartbeat's lifetime makes a busy worker
/// look dead, so its work is handed to another worker and evaluated twice.
fn off_the_runtime<R>(work: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// What one batch comes to: the notifications to write, the messages to evaluate again
/// later and those kept as dead letters.
#[derive(Default)]
struct Outcome {
    notifications: Vec<Notification>,
    retries: Vec<(WorkItem, Duration)>,
    dead: Vec<DeadLetter>,
}

/// The worker loop's state between batches.
struct Serve<T> {
    transport: T,
    rules: SharedSnapshot,
    opts: WorkerOptions,
    cancel: CancellationToken,
    snapshot: Arc<Snapshot>,
    evaluator: Evaluator,
    quarantine_reported: String,
    /// When due retries were last moved to the shared queue.
    promoted: Option<std::time::Instant>,
    report: WorkerReport,
}

impl<T: Transport> Serve<T> {
    async fn new(
        transport: T,
        rules: SharedSnapshot,
        opts: WorkerOptions,
        cancel: CancellationToken,
    ) -> Self {
        let snapshot = rules.load_full();
        let evaluator = snapshot.evaluator();
        report_generation(&transport, &opts.id, snapshot.ruleset.generation).await;
        Serve {
            transport,
            rules,
            opts,
            cancel,
            snapshot,
            evaluator,
            quarantine_reported: String::from("[]"),
            promoted: None,
            report: WorkerReport::default(),
        }
    }

    /// Reads and handles one batch (or finds none); false once the worker must stop.
    async fn step(&mut self) -> bool {
        if self.cancel.is_cancelled() {
            return false;
        }
        self.promote_due_retries().await;
        let Some(entries) = self.read().await else {
            return false;
        };
        // Every message of this batch was dispatched before the read: preferences changed
        // before it was dispatched have a version at most Redis' now, which the gate waits for.
        if let (Some(gate), false) = (&self.opts.prefs_gate, entries.is_empty())
            && !gate.wait_current(&self.rules, &self.cancel).await
        {
            return false;
        }
        self.take_new_snapshot().await;
        if entries.is_empty() {
            return true;
        }
        let outcome = off_the_runtime(|| self.evaluate_batch(&entries));
        self.finish(&entries, outcome).await
    }

    /// The next batch, empty when none came in time; `None` when cancelled.
    async fn read(&mut self) -> Option<Vec<Entry<WorkItem>>> {
        let mut backoff = TRANSPORT_BACKOFF;
        loop {
            let r = tokio::select! {
                r = self.transport.read_work(&self.opts.id, self.opts.batch, self.opts.block) => r,
                _ = self.cancel.cancelled() => return None,
            };
            match r {
                Ok(e) => return Some(e),
                Err(e) => {
                    tracing::warn!(worker = %self.opts.id, "reading work failed: {e}; retrying");
                    if !pause(&mut backoff, &self.cancel).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Queues the messages whose retry is due, at most once per `promote_every`: every worker
    /// does, so retries go on while any worker lives. A failure only delays them.
    async fn promote_due_retries(&mut self) {
        if self
            .promoted
            .is_some_and(|t| t.elapsed() < self.opts.promote_every)
        {
            return;
        }
        self.promoted = Some(std::time::Instant::now());
        match self.transport.promote_work().await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(worker = %self.opts.id, "{n} messages queued again for their retry")
            }
            Err(e) => {
                tracing::warn!(worker = %self.opts.id, "cannot queue the messages due for a retry: {e}")
            }
        }
    }

    /// A new rule set or new preferences take effect between batches, never within one; an
    /// idle worker takes them too, so that the status it reports is current.
    async fn take_new_snapshot(&mut self) {
        let current = self.rules.load();
        if Arc::ptr_eq(&current, &self.snapshot) {
            return;
        }
        self.snapshot = self.rules.load_full();
        // Changed preferences (or data) go on from the evaluator in use: its instances, caches
        // and health stay. A new rule set, or preferences compiled whole, start a new one.
        let s = &self.snapshot;
        if !self
            .evaluator
            .advance(&s.ruleset, s.plan.clone(), s.relations.clone())
        {
            let before = std::mem::replace(&mut self.evaluator, s.evaluator());
            self.evaluator.keep_quarantines_of(&before);
        }
        report_generation(
            &self.transport,
            &self.opts.id,
            self.snapshot.ruleset.generation,
        )
        .await;
    }

    /// Evaluates every message of the batch. What an evaluation could decide goes out now; a
    /// message it could not wholly decide is also kept whole, to be evaluated again later (the
    /// notifications sent now are not sent twice: deliveries are remembered by id).
    fn evaluate_batch(&mut self, entries: &[Entry<WorkItem>]) -> Outcome {
        let metrics = fmn_core::metrics::metrics();
        let mut outcome = Outcome::default();
        for e in entries {
            let started = std::time::Instant::now();
            let ev = evaluate(&mut self.evaluator, &e.item);
            metrics
                .eval_seconds
                .observe(started.elapsed().as_secs_f64());
            self.report.module_failures += ev.failures.len() as u64;
            for f in &ev.failures {
                metrics
                    .module_failures
                    .get_or_create(&label("module", f.module.as_str()))
                    .inc();
            }
            if let Some(why) = unevaluated(&ev) {
                metrics.messages_unevaluated.inc();
                self.keep_unevaluated(&e.item, why, &mut outcome);
            }
            outcome.notifications.extend(notifications(
                &self.snapshot.plan,
                &ev,
                &e.item,
                &self.opts.id,
                self.snapshot.ruleset.generation,
                self.opts.message_copy,
            ));
        }
        outcome
    }

    /// Schedules a message not wholly evaluated for a retry, or keeps it as a dead letter
    /// once its retries are spent.
    fn keep_unevaluated(&mut self, item: &WorkItem, why: String, outcome: &mut Outcome) {
        let (id, origin) = (&item.envelope.id, &item.origin);
        match self.opts.retry.after_failure(item, why.clone()) {
            Later::Retry(again, delay) => {
                tracing::warn!(message_id = %id, %origin, attempt = again.failed_attempts(), "message not wholly evaluated, evaluated again in {} s: {why}", delay.as_secs());
                self.report.retried += 1;
                outcome.retries.push((again, delay));
            }
            Later::Dead(letter) => {
                tracing::error!(message_id = %id, %origin, "message not wholly evaluated after its retries, dead-lettered for replay: {why}");
                outcome.dead.push(letter);
            }
        }
    }

    /// Keeps the batch's retries and dead letters, then writes its notifications and
    /// acknowledges it: a message is acknowledged with its notifications, its retry or dead
    /// letter, or both. False when cancelled before the batch was acknowledged.
    async fn finish(&mut self, entries: &[Entry<WorkItem>], outcome: Outcome) -> bool {
        let Outcome {
            notifications: out,
            retries,
            dead,
        } = outcome;
        let (t, cancel) = (&self.transport, &self.cancel);
        if !retries.is_empty()
            && !until_ok("keeping messages for a retry", cancel, || {
                t.retry_work(&retries)
            })
            .await
        {
            return false;
        }
        if !dead.is_empty()
            && !until_ok("keeping dead letters", cancel, || t.dead_letter(&dead)).await
        {
            return false;
        }
        self.count_dead(dead.len());
        self.report_quarantine().await;
        let ids: Vec<EntryId> = entries.iter().map(|e| e.id.clone()).collect();
        // Not acknowledged while this fails: after a restart these messages are read again.
        let (t, id) = (&self.transport, &self.opts.id);
        if !until_ok("writing notifications", &self.cancel, || {
            t.complete_work(id, &ids, &out)
        })
        .await
        {
            return false;
        }
        self.count_done(entries, &out);
        true
    }

    fn count_dead(&mut self, n: usize) {
        self.report.dead_lettered += n as u64;
        if n > 0 {
            fmn_core::metrics::metrics()
                .dead_letters
                .get_or_create(&label("stage", Stage::Worker.as_str()))
                .inc_by(n as u64);
        }
    }

    /// Publishes the modules and rules in quarantine, as metrics and in the registry.
    async fn report_quarantine(&mut self) {
        publish_quarantine(&self.evaluator);
        let mut quarantined = self.evaluator.quarantined_modules();
        quarantined.extend(self.evaluator.set_aside_rules());
        let json = serde_json::to_string(&quarantined).unwrap_or_default();
        report_quarantine(
            &self.transport,
            &self.opts.id,
            json,
            &mut self.quarantine_reported,
        )
        .await;
    }

    fn count_done(&mut self, entries: &[Entry<WorkItem>], out: &[Notification]) {
        let metrics = fmn_core::metrics::metrics();
        self.report.processed += entries.len() as u64;
        self.report.notifications += out.len() as u64;
        metrics.messages_processed.inc_by(entries.len() as u64);
        for n in out {
            metrics
                .notifications
                .get_or_create(&label("channel", n.channel.as_str()))
                .inc();
        }
        for e in entries {
            let latency = fmn_core::metrics::since_us(e.item.read_at_us);
            if e.item.read_at_us != 0 {
                metrics
                    .message_latency_seconds
                    .observe(latency.as_secs_f64());
            }
            if let Some(log) = &self.opts.latencies {
                log.record(latency);
            }
        }
    }
}
