//! What workers evaluate with: the rules, the preferences compiled against them and the data
//! rules are answered from, replaced as a whole between batches; and the gate that holds a
//! batch until the preferences it is evaluated with are current.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use fmn_core::Relations;
use fmn_transport::{PrefsStore, TransportError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::eval::Evaluator;
use crate::plan::Plan;
use crate::ruleset::RuleSet;

/// The rules and preferences a worker evaluates with; replaced as a whole, between batches.
/// Made by [`Snapshot::new`] (or from another snapshot with one part replaced).
#[non_exhaustive]
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

/// Makes a [`SharedSnapshot`] of preferences not from Redis.
pub fn shared(ruleset: Arc<RuleSet>, plan: Arc<Plan>, relations: Arc<Relations>) -> SharedSnapshot {
    Arc::new(ArcSwap::from_pointee(Snapshot::new(
        ruleset, plan, relations, 0,
    )))
}

impl Snapshot {
    /// `plan` compiles version `prefs_version` of Redis' preferences (0: not from Redis)
    /// against `ruleset`.
    pub fn new(
        ruleset: Arc<RuleSet>,
        plan: Arc<Plan>,
        relations: Arc<Relations>,
        prefs_version: u64,
    ) -> Snapshot {
        Snapshot {
            ruleset,
            plan,
            relations,
            prefs_version,
        }
    }

    /// This snapshot with a new rule set and the plan compiled against it.
    pub fn with_rules(&self, ruleset: Arc<RuleSet>, plan: Arc<Plan>) -> Snapshot {
        Snapshot::new(ruleset, plan, self.relations.clone(), self.prefs_version)
    }

    /// This snapshot with new preferences: `plan`, of version `prefs_version`.
    pub fn with_prefs(&self, plan: Arc<Plan>, prefs_version: u64) -> Snapshot {
        Snapshot::new(
            self.ruleset.clone(),
            plan,
            self.relations.clone(),
            prefs_version,
        )
    }

    /// This snapshot with new data.
    pub fn with_relations(&self, relations: Arc<Relations>) -> Snapshot {
        Snapshot::new(
            self.ruleset.clone(),
            self.plan.clone(),
            relations,
            self.prefs_version,
        )
    }

    /// An evaluator for this snapshot.
    pub fn evaluator(&self) -> Evaluator {
        Evaluator::new(
            self.ruleset.clone(),
            self.plan.clone(),
            self.relations.clone(),
        )
    }
}

/// The longest a worker holds a batch for its preferences to catch up.
const MAX_HOLD: Duration = Duration::from_secs(60);

/// Reads the store's preferences version.
type ReadVersion = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<u64, TransportError>> + Send>>
        + Send
        + Sync,
>;

/// Holds a worker's batch until the preferences it evaluates with are at least as new as
/// the store's version, waking the reloader to fetch them. Made by
/// [`Reloader::prefs_gate`](crate::Reloader::prefs_gate).
#[derive(Clone)]
pub struct PrefsGate {
    /// The store, behind a function: the worker options that carry a gate are the same
    /// whatever the store.
    version: ReadVersion,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for PrefsGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefsGate").finish_non_exhaustive()
    }
}

impl PrefsGate {
    /// A gate that reads `store`'s preferences version and wakes the reloader through `wake`.
    pub(crate) fn new<T: PrefsStore>(store: T, wake: Arc<Notify>) -> PrefsGate {
        let version: ReadVersion = Arc::new(move || {
            let store = store.clone();
            Box::pin(async move { store.prefs_version().await })
        });
        PrefsGate { version, wake }
    }

    /// Waits until `rules` compiles the store's current preferences version (or a later one).
    /// Returns false if `cancel` fired first: the caller must not acknowledge its batch.
    pub async fn wait_current(&self, rules: &SharedSnapshot, cancel: &CancellationToken) -> bool {
        let mut backoff = crate::retry::TRANSPORT_BACKOFF;
        let wanted = loop {
            match (self.version)().await {
                Ok(v) => break v,
                Err(e) => {
                    tracing::warn!("cannot read the preferences version: {e}; retrying");
                    if !crate::retry::pause(&mut backoff, cancel).await {
                        return false;
                    }
                }
            }
        };
        if rules.load().prefs_version >= wanted {
            return true;
        }
        self.wake.notify_one();
        let started = std::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(2)) => {}
                _ = cancel.cancelled() => return false,
            }
            if started.elapsed() > MAX_HOLD {
                // The reloader is gone or stuck: evaluating with older preferences beats
                // holding every message from now on.
                tracing::error!(
                    version = wanted,
                    have = rules.load().prefs_version,
                    "preferences not caught up after {} s; evaluating with the previous ones",
                    MAX_HOLD.as_secs()
                );
                return true;
            }
            if rules.load().prefs_version >= wanted {
                tracing::debug!(
                    version = wanted,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "batch held until the preferences caught up"
                );
                return true;
            }
            // The reloader may have been busy with an older version when woken.
            self.wake.notify_one();
        }
    }
}
