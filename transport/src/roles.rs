//! The role traits: each part of fmn is bounded on the roles it uses, and [`Transport`](crate::Transport)
//! combines them all.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use fmn_core::channel::ChannelKind;
use fmn_core::notification::Notification;
use fmn_core::prefs::{Digest, Preferences, User};

use crate::prefs_store::{PrefsDelta, PrefsPages, SetUserError};
use crate::{
    AddressFailure, Backlog, Changes, DeadLetter, DigestBatch, Entry, EntryId, Forget, QueueDepth,
    TransportError, WorkItem, WorkerCounts, WorkerInfo,
};

/// The work queues: the consumer dispatches bus messages to the workers (each worker's own
/// queue, or the shared one that every worker pulls from), the workers read and complete them, and
/// work whose evaluation failed waits for a retry. Every method may be called from many tasks at once.
pub trait WorkQueue: Clone + Send + Sync + 'static {
    /// Appends each item to its worker's queue, in one round trip. Returns the bytes written:
    /// what the queues' [`Backlog::bytes`] grew by.
    fn dispatch(
        &self,
        batch: &[(String, WorkItem)],
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// Appends items to the shared work queue, which every worker pulls from (the `shared`
    /// dispatch mode), in one round trip. A worker's `received` counter grows when it reads.
    /// Returns the bytes written, as [`Self::dispatch`] does.
    fn dispatch_shared(
        &self,
        items: &[WorkItem],
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// What the shared work queue holds (read or not, not yet acknowledged).
    fn shared_backlog(&self) -> impl Future<Output = Result<Backlog, TransportError>> + Send;

    /// Reads up to `max` entries from a worker's own queue and from the shared queue, waiting
    /// up to `block` for the first. Entries this worker read before and did not acknowledge
    /// come first.
    fn read_work(
        &self,
        worker: &str,
        max: usize,
        block: Duration,
    ) -> impl Future<Output = Result<Vec<Entry<WorkItem>>, TransportError>> + Send;

    /// Writes the notifications to their channels' queues, then acknowledges `done`: both or
    /// neither, so an acknowledged message always has its notifications written.
    fn complete_work(
        &self,
        worker: &str,
        done: &[EntryId],
        notifications: &[Notification],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Keeps work items whose evaluation could not be completed, each to be queued again on
    /// the shared work queue once its delay has passed. The caller acknowledges them
    /// afterwards, as it does after keeping dead letters: a failure in between makes a message
    /// evaluated once more, never zero times.
    fn retry_work(
        &self,
        items: &[(WorkItem, Duration)],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Queues on the shared work queue the work items whose retry is due; returns how many.
    fn promote_work(&self) -> impl Future<Output = Result<usize, TransportError>> + Send;

    /// Work items waiting for a retry.
    fn work_retries_waiting(&self) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// Moves up to `max` work items waiting for a retry, due or not, soonest first, to the dead
    /// letters (stage worker, the reason `why` and the last failure's): a run that ends keeps
    /// them there rather than leave them behind. Returns how many moved.
    fn dead_letter_work_retries(
        &self,
        max: usize,
        why: &str,
    ) -> impl Future<Output = Result<usize, TransportError>> + Send;

    /// What each of `workers`' queues holds (read or not, not yet acknowledged), in the order
    /// given, in one round trip. Every way an entry leaves a work queue (acknowledged by
    /// [`Self::complete_work`], moved by [`Self::reclaim`], dead-lettered as undecodable)
    /// takes its bytes off, and every way one arrives adds them.
    fn backlogs(
        &self,
        workers: &[String],
    ) -> impl Future<Output = Result<Vec<Backlog>, TransportError>> + Send;

    /// Moves up to `max` of the entries `dead`'s work queue still owes (read and not
    /// acknowledged, or not read at all) to the queues of `targets`, spread evenly, each
    /// atomically: an entry is on exactly one queue at any time. Then puts the entries `dead`
    /// read from the shared queue and did not acknowledge back at its end, for any worker to
    /// read. Returns how many moved in all.
    /// For a worker whose heartbeat stopped; if it comes back, it finds its queue emptied, and
    /// an entry it was evaluating when it was reclaimed is evaluated twice, which the
    /// senders' delivery ids make harmless.
    fn reclaim(
        &self,
        dead: &str,
        targets: &[String],
        max: usize,
    ) -> impl Future<Output = Result<usize, TransportError>> + Send;
}

/// The outboxes: one queue of notifications per channel, which the senders read and
/// acknowledge, and the notifications of a channel waiting for a retry. Every method may be called from many tasks at once.
pub trait Outbox: Clone + Send + Sync + 'static {
    /// Reads up to `max` notifications from a channel's queue as sender `consumer`.
    /// Entries this consumer read before and did not acknowledge come first.
    fn read_notifications(
        &self,
        channel: ChannelKind,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> impl Future<Output = Result<Vec<Entry<Notification>>, TransportError>> + Send;

    /// Queues `n` on its channel's queue from outside any worker, for the channel's senders to
    /// read like a worker's: how fmn sends a message of its own
    /// ([`Notification::direct`], e.g. a verification code) without a connection of its own.
    fn queue_notification(
        &self,
        n: &Notification,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Acknowledges notifications: delivered, or refused for good and dead-lettered.
    fn ack_notifications(
        &self,
        channel: ChannelKind,
        ids: &[EntryId],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Acknowledges notification `id` of `channel`, which failed for now, and schedules `n`
    /// (its attempts counted) to be queued again `delay` from now: both or neither. Until then
    /// it waits in a due-time set, not in the queue, so the sender goes on with the others.
    fn retry_later(
        &self,
        channel: ChannelKind,
        id: &EntryId,
        n: &Notification,
        delay: Duration,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Queues again the notifications of `channel` whose retry is due; returns how many.
    fn promote_retries(
        &self,
        channel: ChannelKind,
    ) -> impl Future<Output = Result<usize, TransportError>> + Send;

    /// Notifications of `channel` waiting for a retry.
    fn retries_waiting(
        &self,
        channel: ChannelKind,
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;
}

/// What could not go on, kept with the reason instead of being dropped. Every method may be called from many tasks at once.
pub trait DeadLetters: Clone + Send + Sync + 'static {
    /// Keeps things that could not go on, with the reason.
    fn dead_letter(
        &self,
        letters: &[DeadLetter],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// The oldest `max` dead letters.
    fn dead_letters(
        &self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Entry<DeadLetter>>, TransportError>> + Send;

    /// How many dead letters are kept.
    fn dead_letter_count(&self) -> impl Future<Output = Result<u64, TransportError>> + Send;
}

/// What the senders remember about deliveries: which were made (so a redelivered notification
/// is not sent twice), one-shot filters' claims, rate limits per address, and addresses refused
/// for good. Every method may be called from many tasks at once.
pub trait DeliveryLedger: Clone + Send + Sync + 'static {
    /// Remembers for `ttl` that the deliveries `keys` were made, so a redelivered
    /// notification is not sent twice; in one round trip (a digest records hundreds).
    fn mark_delivered(
        &self,
        keys: &[&str],
        ttl: Duration,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Whether a delivery was made within its remembered window.
    fn was_delivered(&self, key: &str)
    -> impl Future<Output = Result<bool, TransportError>> + Send;

    /// Whether each of the deliveries `keys` was made within its remembered window, in the
    /// order given, in one round trip: what a sender asks for a whole batch it read.
    fn was_delivered_many(
        &self,
        keys: &[&str],
    ) -> impl Future<Output = Result<Vec<bool>, TransportError>> + Send;

    /// Claims the one use of the one-shot filter that made `n`: true for the first
    /// notification of that filter to claim it (and again for that same notification, so a
    /// sender restarted after claiming still delivers it), false for every other. Where the
    /// user's preferences are in Redis the claim also deactivates the filter there, in the same
    /// step, so workers stop matching it; `fmn prefs set --activate` gives it a new use.
    fn claim_oneshot(
        &self,
        n: &Notification,
    ) -> impl Future<Output = Result<bool, TransportError>> + Send;

    /// Takes one delivery to `address` on `channel` from its rate limit, at most `limit` in any
    /// `window` (a sliding window, by the transport's clock): `None` when taken, else how long
    /// until one is free (nothing taken).
    fn take_rate(
        &self,
        channel: ChannelKind,
        address: &str,
        limit: u32,
        window: Duration,
    ) -> impl Future<Output = Result<Option<Duration>, TransportError>> + Send;

    /// Records that `address` of `user` on `channel` was refused for good (a bounced mail, an
    /// unregistered device), so `fmn prefs show` can say so. The newest failure per address is
    /// kept, with a count, for [`ADDRESS_FAILURES_KEPT`](crate::ADDRESS_FAILURES_KEPT) after the last one.
    fn record_address_failure(
        &self,
        user: &str,
        channel: ChannelKind,
        address: &str,
        reason: &str,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Removes `address` from `user`'s `channel` in the preferences kept by the transport (a
    /// device token the push service no longer knows), so workers stop notifying it. True when
    /// it was removed; false when it was not there or preferences are not kept here.
    fn disable_address(
        &self,
        user: &str,
        channel: ChannelKind,
        address: &str,
    ) -> impl Future<Output = Result<bool, TransportError>> + Send;

    /// The failures recorded for `user`'s addresses, by channel then address.
    fn address_failures(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Vec<AddressFailure>, TransportError>> + Send;
}

/// Notifications held in a user's digest on a channel until it falls due, then taken for
/// sending under a lease. Every method may be called from many tasks at once.
pub trait Digests: Clone + Send + Sync + 'static {
    /// Acknowledges notification `id` of `channel` and keeps `n` in its user's digest on that
    /// channel: both or neither. A notification already held (same delivery id) is not held
    /// twice. The digest falls due when it holds `digest.max_count` notifications or its
    /// oldest is `digest.max_delay` old, by the transport's clock; with no delay, after
    /// [`DIGEST_LONGEST_WAIT`](crate::DIGEST_LONGEST_WAIT).
    fn hold_for_digest(
        &self,
        channel: ChannelKind,
        id: &EntryId,
        n: &Notification,
        digest: &Digest,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Users whose digest on `channel` is due within `within` from now (zero: due now), at
    /// most `max`, soonest first.
    fn due_digests(
        &self,
        channel: ChannelKind,
        within: Duration,
        max: usize,
    ) -> impl Future<Output = Result<Vec<String>, TransportError>> + Send;

    /// Takes `user`'s digest on `channel` for sending, leased to `owner` for `lease` (other
    /// senders leave it alone meanwhile): its oldest notifications, at most `max` and at most
    /// the newest one's `digest.max_count`. A digest
    /// taken and not finished gives the same notifications again, to any taker, so sending it
    /// is idempotent. `None` when another sender holds it or it is empty.
    fn take_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        owner: &str,
        lease: Duration,
        max: usize,
    ) -> impl Future<Output = Result<Option<DigestBatch>, TransportError>> + Send;

    /// The `count` notifications taken were delivered or given up on: removes them and
    /// releases the digest. Notifications held meanwhile fall due by `digest`, counted from now.
    fn finish_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        count: usize,
        digest: &Digest,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Sending the digest taken failed for now: counts the failure, releases the digest and
    /// makes it due again `delay` from now.
    fn postpone_digest(
        &self,
        channel: ChannelKind,
        user: &str,
        delay: Duration,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Notifications held in the digests of `channel`.
    fn digests_waiting(
        &self,
        channel: ChannelKind,
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;
}

/// The workers: registration, heartbeats, the facts and counters kept per worker, and the
/// depths of every queue for status tools. Every method may be called from many tasks at once.
pub trait Registry: Clone + Send + Sync + 'static {
    /// Adds a worker to the registry, creating its queue, and marks it alive.
    fn register_worker(
        &self,
        info: &WorkerInfo,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Marks a worker alive now.
    fn heartbeat(&self, worker: &str) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Removes a worker from the set of live workers (its queue and counters stay).
    fn deregister_worker(
        &self,
        worker: &str,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// The workers whose last heartbeat is younger than the worker TTL, sorted.
    fn live_workers(&self) -> impl Future<Output = Result<Vec<String>, TransportError>> + Send;

    /// Counters of every worker ever registered, sorted by id.
    fn worker_counts(
        &self,
    ) -> impl Future<Output = Result<Vec<WorkerCounts>, TransportError>> + Send;

    /// Depths of every worker queue and every channel queue.
    fn queue_depths(&self) -> impl Future<Output = Result<Vec<QueueDepth>, TransportError>> + Send;

    /// Records a fact about a worker for status tools (e.g. `rules`: the modules it runs).
    fn set_worker_field(
        &self,
        worker: &str,
        field: &str,
        value: &str,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Forgets `worker` if it has been silent for at least `silent` and its queue is empty:
    /// it leaves the registry with its counters, fields and queue, atomically with those
    /// checks. A worker that beats again later registers anew.
    fn forget_worker(
        &self,
        worker: &str,
        silent: std::time::Duration,
    ) -> impl Future<Output = Result<Forget, TransportError>> + Send;

    /// The fields recorded for every worker ever registered, by worker id.
    fn worker_fields(
        &self,
    ) -> impl Future<
        Output = Result<
            std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
            TransportError,
        >,
    > + Send;
}

/// The shared data the host holds for rules (ownership, groups, aliases), versioned. Every method may be called from many tasks at once.
pub trait DataStore: Clone + Send + Sync + 'static {
    /// The version of the shared data (ownership, groups, aliases): 0 when none was ever
    /// stored; it grows with every import and change.
    fn data_version(&self) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// The shared data and its version.
    fn load_data(
        &self,
    ) -> impl Future<Output = Result<(u64, fmn_core::Relations), TransportError>> + Send;

    /// Replaces each relation `data` holds, whole; returns the new version.
    fn import_data(
        &self,
        data: &fmn_core::Relations,
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// Applies changes, each atomically; returns the new version.
    fn apply_data(
        &self,
        changes: &[fmn_core::data::Change],
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;
}

/// Rule modules published for every worker: their bytes by sha256, the published version of
/// each name, a generation that every publication and withdrawal bumps, and a subscription
/// that wakes the workers. Every method may be called from many tasks at once.
pub trait ModuleStore: Clone + Send + Sync + 'static {
    /// Stores a rule module's bytes and makes it the published version of `name`; every
    /// worker watching this store picks it up. Returns the new publication generation.
    fn publish_module(
        &self,
        name: &str,
        sha256: &str,
        bytes: &[u8],
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;
    /// Withdraws the published version of `name`; workers go back to their own copy, if any.
    /// True when `name` was published.
    fn unpublish_module(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<bool, TransportError>> + Send;
    /// The publication generation and the published modules: name -> sha256.
    fn published_modules(
        &self,
    ) -> impl Future<Output = Result<(u64, BTreeMap<String, String>), TransportError>> + Send;
    /// A published module's bytes; `Ok(Err(size))` when it is larger than `max`.
    fn module_bytes(
        &self,
        sha256: &str,
        max: usize,
    ) -> impl Future<Output = Result<Option<Result<Vec<u8>, usize>>, TransportError>> + Send;
    /// A subscription to publications: wakes its holder each time a module is (un)published.
    fn module_changes(&self) -> impl Future<Output = Result<Changes, TransportError>> + Send;
}

/// Users' preferences, with a version that every import and every change of a user bumps, and
/// a change log a worker catches up from. Every method may be called from many tasks at once.
pub trait PrefsStore: Clone + Send + Sync + 'static {
    /// The preferences' version: 0 when none were ever stored.
    fn prefs_version(&self) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// Every user's preferences and their version, read atomically.
    fn load_prefs(&self)
    -> impl Future<Output = Result<(u64, Preferences), TransportError>> + Send;

    /// One page of users from `cursor` (0: the first page), and the cursor of the next page
    /// (0: that was the last). A user may come on two pages of one scan; [`PrefsPages`] hands
    /// each on once.
    fn prefs_page(
        &self,
        cursor: u64,
    ) -> impl Future<Output = Result<(u64, Vec<(String, User)>), TransportError>> + Send;

    /// Every user's preferences a page at a time, instead of gathered: see [`PrefsPages`].
    fn prefs_pages(&self) -> impl Future<Output = Result<PrefsPages<Self>, TransportError>> + Send {
        PrefsPages::start(self.clone())
    }

    /// Every user's preferences, handed to `each` a page at a time (see [`PrefsPages`]);
    /// returns the version they are at least.
    fn each_user_prefs(
        &self,
        mut each: impl FnMut(String, User) + Send,
    ) -> impl Future<Output = Result<u64, TransportError>> + Send {
        async move {
            let mut pages = self.prefs_pages().await?;
            while let Some(page) = pages.next_page().await? {
                for (name, user) in page {
                    each(name, user);
                }
            }
            Ok(pages.version())
        }
    }

    /// One user's preferences, `None` if the store has none for them.
    fn user_prefs(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<User>, TransportError>> + Send {
        async move { Ok(self.user_prefs_raw(user).await?.map(|(u, _)| u)) }
    }

    /// One user's preferences and the JSON they were stored as, for a compare-and-set with
    /// [`Self::set_user_prefs`].
    fn user_prefs_raw(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Option<(User, String)>, TransportError>> + Send;

    /// What changed after `version`, and the version it brings the caller to.
    fn prefs_changes_since(
        &self,
        version: u64,
    ) -> impl Future<Output = Result<(u64, PrefsDelta), TransportError>> + Send;

    /// Replaces every user's preferences with `prefs`, atomically: a reader sees the old set or
    /// the new one, and a caller catching up from before it is told to load everything
    /// ([`PrefsDelta::Reset`]). Returns the new version.
    fn import_prefs(
        &self,
        prefs: &Preferences,
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// Stores the users `prefs` holds, replacing theirs and leaving every other user as it is,
    /// in atomic batches of 500 users, each bumping the version. Returns the last new version
    /// (the current one when `prefs` holds nobody).
    fn merge_prefs(
        &self,
        prefs: &Preferences,
    ) -> impl Future<Output = Result<u64, TransportError>> + Send;

    /// Replaces one user's preferences (`None`: removes the user). With `expected`, only if
    /// they are still stored as the JSON the caller read ([`Self::user_prefs_raw`];
    /// `Some(None)`: absent), else [`SetUserError::Conflict`], so two edits of one user cannot
    /// undo each other. Returns the new version.
    fn set_user_prefs(
        &self,
        name: &str,
        user: Option<&User>,
        expected: Option<Option<&str>>,
    ) -> impl Future<Output = Result<u64, SetUserError>> + Send;

    /// A subscription to preference changes: wakes its holder after each.
    fn prefs_announcements(&self) -> impl Future<Output = Result<Changes, TransportError>> + Send;
}

/// API tokens ([`crate::ApiToken`]), kept by digest.
pub trait ApiTokens: Clone + Send + Sync + 'static {
    /// Keeps `token`.
    fn add_api_token(
        &self,
        token: &crate::ApiToken,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// The token whose digest is `digest`, if it is kept.
    fn api_token(
        &self,
        digest: &str,
    ) -> impl Future<Output = Result<Option<crate::ApiToken>, TransportError>> + Send;

    /// Every token kept (of `user` only, when given), oldest first.
    fn api_tokens(
        &self,
        user: Option<&str>,
    ) -> impl Future<Output = Result<Vec<crate::ApiToken>, TransportError>> + Send;

    /// Forgets the token whose id is `id` (of `user` only, when given); whether there was one.
    fn revoke_api_token(
        &self,
        id: &str,
        user: Option<&str>,
    ) -> impl Future<Output = Result<bool, TransportError>> + Send;
}

/// What happened recently ([`crate::history`]): the recent-message window and the users'
/// delivery logs, each bounded by age and size.
pub trait History: Clone + Send + Sync + 'static {
    /// Adds `items`, just dispatched, to the recent-message window, then drops what `limits`
    /// no longer allow, oldest first.
    fn keep_recent(
        &self,
        items: &[crate::WorkItem],
        limits: crate::WindowLimits,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Up to `max` messages of the window, newest first, older than the one at `before` when
    /// given (a [`crate::RecentMessage::cursor`]).
    fn recent_messages(
        &self,
        before: Option<&str>,
        max: usize,
    ) -> impl Future<Output = Result<Vec<crate::RecentMessage>, TransportError>> + Send;

    /// The message of the window whose id is `id`, if it is still there.
    fn recent_message(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<crate::WorkItem>, TransportError>> + Send;

    /// Appends `records` to their users' delivery logs, each then cut to `limits`.
    fn log_deliveries(
        &self,
        records: &[crate::Delivery],
        limits: crate::LogLimits,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Up to `max` records of `user`'s delivery log, newest first.
    fn deliveries(
        &self,
        user: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<crate::Delivery>, TransportError>> + Send;
}
