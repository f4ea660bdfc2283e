//! One round of a batch: the notifications read at once, no delivery among them twice.
//!
//! 1. `plan`: one-shot claims, then one round trip asking which deliveries were made before,
//!    and the rate limit's slots; nothing is sent or counted yet.
//! 2. `deliver`: the deliveries to make, in order, in as few [`Sender::send_batch`] calls as
//!    the sender allows ([`Sender::max_batch`]), up to the first that finds the remote side
//!    out of reach; after each call, one round trip recording the deliveries it made, before
//!    anything is acknowledged: a crash in between sends them again, never skips them.
//! 3. `settle`: in order, what became of each notification (done, held for a digest, retried,
//!    dead-lettered), up to the one the remote side was found out of reach at; then the dead
//!    letters in one round trip, then the retries. The caller acknowledges the rest at once.

use std::collections::HashSet;
use std::time::Duration;

use fmn_core::Notification;
use fmn_core::metrics::metrics;
use fmn_core::prefs::Digest;
use fmn_transport::{DeadLetter, DeliveryOutcome, Entry, EntryId, Stage, Transport};

use super::serve::Serve;
use super::{delay, delivery_key, flag_address, give_up, keep_dead_letters, retry_transport};
use crate::{SendError, Sender, digest};

/// What a round will do with one notification, decided before sending anything.
enum Plan {
    /// Its one-shot filter was used by another notification.
    Spent,
    /// Every delivery of it was made before: a digest's notification read again.
    Seen,
    /// To be held for its user's digest; `folding`: a backlog folded after an outage.
    Hold { settings: Digest, folding: bool },
    /// To be delivered: what is to become of each address, in order.
    Deliver(Vec<Step>),
}

/// One address of a notification to deliver.
enum Step {
    /// Delivered before.
    Duplicate,
    /// Its rate limit is reached: tried again after this long.
    Later(Duration),
    /// To be sent: its place among the round's deliveries.
    Send(usize),
}

/// The deliveries a round makes, in order.
#[derive(Default)]
struct Pending<'a> {
    items: Vec<(&'a Notification, &'a str)>,
    keys: Vec<String>,
}

/// How a delivery came out; `None`: not attempted (the remote side was found out of reach
/// before it).
type Outcome = Option<Result<(), SendError>>;

/// What became of a notification to deliver.
enum Settled {
    /// Every address delivered, duplicate, or given up on: acknowledged.
    Done,
    /// Some addresses are tried again later: `again` carries them (and the attempts).
    Retry {
        again: Box<Notification>,
        wait: Duration,
        /// It counts as a retry (an address failed for now, not only a rate limit reached).
        counted: bool,
        /// The remote side was found out of reach on the way: the notifications after this
        /// one are carried over.
        unreachable: Option<SendError>,
    },
    /// The remote side was found out of reach before anything else came of it: it and those
    /// after it are carried over.
    Carry(SendError),
}

/// A retry to schedule once the round's dead letters are kept.
struct Retry<'a> {
    id: &'a EntryId,
    again: Box<Notification>,
    wait: Duration,
    counted: bool,
}

impl<T: Transport, S: Sender> Serve<T, S> {
    /// Serves `entries`, in which no delivery comes twice: adds to `done` what is to be
    /// acknowledged. Some(Some((i, error))): the remote side was found out of reach at entry
    /// `i`, which and those after it are to be carried over. `None` when cancelled.
    pub(super) async fn round(
        &mut self,
        entries: &[Entry<Notification>],
        fold: &HashSet<String>,
        done: &mut Vec<EntryId>,
    ) -> Option<Option<(usize, SendError)>> {
        let mut pending = Pending::default();
        let plans = self.plan(entries, fold, &mut pending).await?;
        let mut outcomes = self.deliver(&pending).await?;
        let mut dead = Vec::new();
        let mut retries = Vec::new();
        let mut carry = None;
        for (i, (e, plan)) in entries.iter().zip(plans).enumerate() {
            let n = &e.item;
            let steps = match plan {
                Plan::Spent => {
                    tracing::info!(
                        channel = %self.opts.channel, user = %n.user, filter = %n.filter, delivery = %n.delivery_id,
                        "not sent: the one-shot filter was used already"
                    );
                    self.report.oneshot_spent += 1;
                    self.log.note(n, "", DeliveryOutcome::OneshotSpent);
                    done.push(e.id.clone());
                    continue;
                }
                Plan::Seen => {
                    self.report.duplicates += 1;
                    done.push(e.id.clone());
                    continue;
                }
                Plan::Hold { settings, folding } => {
                    self.hold(e, &settings, folding).await?;
                    self.log.note(n, "", DeliveryOutcome::HeldForDigest);
                    continue;
                }
                Plan::Deliver(steps) => steps,
            };
            match self.settle(n, &steps, &mut outcomes, &mut dead).await {
                Settled::Done => done.push(e.id.clone()),
                Settled::Carry(error) => {
                    carry = Some((i, error));
                    break;
                }
                Settled::Retry {
                    again,
                    wait,
                    counted,
                    unreachable,
                } => {
                    retries.push(Retry {
                        id: &e.id,
                        again,
                        wait,
                        counted,
                    });
                    if let Some(error) = unreachable {
                        carry = Some((i + 1, error));
                        break;
                    }
                }
            }
        }
        // Dead letters (in one round trip) before the retries and acknowledgements that let
        // go of their notifications.
        keep_dead_letters(&self.transport, &dead, &mut self.report, &self.cancel).await?;
        for r in &retries {
            self.retry_later(r).await?;
        }
        self.log.flush(&self.transport).await;
        Some(carry)
    }

    /// Decides what to do with each of `entries`, adding the deliveries to make to
    /// `pending`; `None` when cancelled.
    async fn plan<'a>(
        &self,
        entries: &'a [Entry<Notification>],
        fold: &HashSet<String>,
        pending: &mut Pending<'a>,
    ) -> Option<Vec<Plan>> {
        let mut spent = Vec::with_capacity(entries.len());
        for e in entries {
            spent.push(e.item.oneshot && !self.claim_oneshot(&e.item).await?);
        }
        let keys: Vec<Vec<String>> = entries
            .iter()
            .zip(&spent)
            .map(|(e, spent)| match spent {
                true => Vec::new(),
                false => (e.item.addresses.iter())
                    .map(|a| delivery_key(&e.item, a))
                    .collect(),
            })
            .collect();
        let asked: Vec<&str> = keys.iter().flatten().map(String::as_str).collect();
        let mut made = self.check_delivered(&asked).await?.into_iter();
        let mut plans = Vec::with_capacity(entries.len());
        for ((e, spent), keys) in entries.iter().zip(spent).zip(keys) {
            let n = &e.item;
            if spent {
                plans.push(Plan::Spent);
                continue;
            }
            // A transport that answered fewer than asked: not made, so sent (at least once).
            let addresses: Vec<(&str, String, bool)> = (n.addresses.iter().zip(keys))
                .map(|(a, k)| (a.as_str(), k, made.next().unwrap_or(false)))
                .collect();
            // fmn's own text (a verification code) goes out on its own, never in a digest.
            let folding = fold.contains(n.user.as_str()) && !n.is_direct();
            if let Some(settings) = digest::wants_digest(n).or(folding.then_some(&digest::FOLD)) {
                let seen = !addresses.is_empty() && addresses.iter().all(|(_, _, made)| *made);
                plans.push(if seen {
                    Plan::Seen
                } else {
                    Plan::Hold {
                        settings: *settings,
                        folding,
                    }
                });
                continue;
            }
            let mut steps = Vec::with_capacity(addresses.len());
            for (j, (address, key, made)) in addresses.into_iter().enumerate() {
                // The same address twice in one notification is one delivery.
                if made || n.addresses[..j].iter().any(|a| a == address) {
                    steps.push(Step::Duplicate);
                } else if let Some(wait) = self.rate_slot(n, address).await? {
                    steps.push(Step::Later(wait));
                } else {
                    steps.push(Step::Send(pending.items.len()));
                    pending.items.push((n, address));
                    pending.keys.push(key);
                }
            }
            plans.push(Plan::Deliver(steps));
        }
        Some(plans)
    }

    /// Claims `n`'s one-shot filter: false when another notification used it; `None` when
    /// cancelled.
    async fn claim_oneshot(&self, n: &Notification) -> Option<bool> {
        let t = &self.transport;
        retry_transport("claiming a one-shot filter", &self.cancel, move || {
            t.claim_oneshot(n)
        })
        .await
    }

    /// Which of the deliveries `asked` were made before, in one round trip; `None` when
    /// cancelled.
    async fn check_delivered(&self, keys: &[&str]) -> Option<Vec<bool>> {
        if keys.is_empty() {
            return Some(Vec::new());
        }
        let t = &self.transport;
        retry_transport("checking deliveries", &self.cancel, move || {
            t.was_delivered_many(keys)
        })
        .await
    }

    /// Takes a slot of `address`'s rate limit, if there is one: how long to wait when none is
    /// free. `None` when cancelled.
    async fn rate_slot(&self, n: &Notification, address: &str) -> Option<Option<Duration>> {
        let Some(limit) = self.opts.rate_limit else {
            return Some(None);
        };
        let t = &self.transport;
        retry_transport("taking a rate slot", &self.cancel, move || {
            t.take_rate(n.channel, address, limit.count, limit.window)
        })
        .await
    }

    /// Makes the deliveries `pending`, in order, [`Sender::max_batch`] per call at most, up to
    /// the first that finds the remote side out of reach, and records those made after each
    /// call: an outcome per delivery. `None` when cancelled.
    async fn deliver(&mut self, pending: &Pending<'_>) -> Option<Vec<Outcome>> {
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(pending.items.len());
        while outcomes.len() < pending.items.len() {
            let from = outcomes.len();
            let size = self.sender.max_batch().max(1);
            let call = &pending.items[from..pending.items.len().min(from.saturating_add(size))];
            let results = self.sender.send_batch(call).await;
            if results.is_empty() {
                // A sender that attempted nothing: each fails for now, rather than loop here.
                let error = SendError::Transient(format!("{} sent nothing", self.sender.name()));
                outcomes.extend(call.iter().map(|_| Some(Err(error.clone()))));
                continue;
            }
            let mut out_of_reach = false;
            for result in results.into_iter().take(call.len()) {
                let result = self.judge(result, &pending.keys[outcomes.len()]);
                out_of_reach = matches!(result, Err(SendError::Unreachable(_)));
                outcomes.push(Some(result));
                if out_of_reach {
                    break;
                }
            }
            self.record(&pending.keys[from..], &outcomes[from..])
                .await?;
            if out_of_reach {
                outcomes.resize_with(pending.items.len(), || None);
            }
        }
        Some(outcomes)
    }

    /// Counts a delivery's result; a delivery that lost the connection more than
    /// `max_attempts` times in a row is the problem, not the remote side: from then on, each
    /// is an attempt that counts, toward a dead letter.
    fn judge(&mut self, result: Result<(), SendError>, key: &str) -> Result<(), SendError> {
        match result {
            Ok(()) => {
                self.strikes = 0;
                self.suspect = None;
                self.report.sent += 1;
                metrics().delivered.get_or_create(&self.channel).inc();
                Ok(())
            }
            Err(SendError::Unreachable(reason)) => {
                let times = match &self.suspect {
                    Some((k, times)) if k == key => times + 1,
                    _ => 1,
                };
                self.suspect = Some((key.to_owned(), times));
                if times > self.opts.max_attempts {
                    return Err(SendError::Transient(format!(
                        "{reason} (each of the last {times} times it was sent)"
                    )));
                }
                Err(SendError::Unreachable(reason))
            }
            Err(error) => Err(error),
        }
    }

    /// Records the deliveries made (`keys` whose outcome is a success), in one round trip;
    /// `None` when cancelled.
    async fn record(&self, keys: &[String], outcomes: &[Outcome]) -> Option<()> {
        let made: Vec<&str> = (keys.iter().zip(outcomes))
            .filter(|(_, o)| matches!(o, Some(Ok(()))))
            .map(|(k, _)| k.as_str())
            .collect();
        if made.is_empty() {
            return Some(());
        }
        let (t, keys, remember) = (&self.transport, &made, self.opts.remember);
        retry_transport("recording deliveries", &self.cancel, move || {
            t.mark_delivered(keys, remember)
        })
        .await
    }

    /// Holds `e` for its user's digest (which acknowledges it); `None` when cancelled.
    async fn hold(
        &mut self,
        e: &Entry<Notification>,
        settings: &Digest,
        folding: bool,
    ) -> Option<()> {
        let (t, ch) = (&self.transport, self.opts.channel);
        retry_transport("holding for a digest", &self.cancel, || {
            t.hold_for_digest(ch, &e.id, &e.item, settings)
        })
        .await?;
        if folding {
            self.report.folded += 1;
        } else {
            self.report.held += 1;
        }
        metrics().held_for_digest.get_or_create(&self.channel).inc();
        Some(())
    }

    /// What became of `n`, whose addresses took `steps`; its dead letters go to `dead`.
    async fn settle(
        &mut self,
        n: &Notification,
        steps: &[Step],
        outcomes: &mut [Outcome],
        dead: &mut Vec<DeadLetter>,
    ) -> Settled {
        let kept = dead.len();
        if n.addresses.is_empty() {
            dead.push(DeadLetter::new(
                Stage::Sender,
                format!("{}:{}", n.channel, n.user),
                "the notification has no address",
                n.delivery_id.as_bytes(),
            ));
        }
        let attempts = n.attempts + 1;
        let mut for_now: Vec<(&str, SendError)> = Vec::new();
        let mut later: Vec<(&str, Duration)> = Vec::new();
        let mut unreachable = None;
        for (j, (address, step)) in n.addresses.iter().zip(steps).enumerate() {
            let outcome = match step {
                Step::Duplicate => {
                    self.report.duplicates += 1;
                    metrics()
                        .duplicates_suppressed
                        .get_or_create(&self.channel)
                        .inc();
                    continue;
                }
                Step::Later(wait) => {
                    later.push((address.as_str(), *wait));
                    continue;
                }
                Step::Send(k) => outcomes.get_mut(*k).and_then(Option::take),
            };
            let error = match outcome {
                Some(Ok(())) => {
                    self.log.note(n, address, DeliveryOutcome::Sent);
                    continue;
                }
                Some(Err(error)) => error,
                // Not attempted: only after the delivery that found the remote side out of
                // reach, which ends the round's settling first.
                None => SendError::Unreachable("not attempted".into()),
            };
            if let SendError::Unreachable(_) = error {
                if dead.len() == kept && for_now.is_empty() && later.is_empty() {
                    // Held back, in order: the addresses delivered are skipped when it is
                    // read again.
                    return Settled::Carry(error);
                }
                // Part of it is done or retried: the rest goes with it, no attempt counted
                // for it.
                later.extend(
                    n.addresses[j..]
                        .iter()
                        .map(|a| (a.as_str(), Duration::ZERO)),
                );
                unreachable = Some(error);
                break;
            }
            metrics()
                .delivery_failures
                .get_or_create(&self.channel)
                .inc();
            flag_address(&self.transport, n, address, &error).await;
            if error.is_permanent() || attempts >= self.opts.max_attempts {
                self.log
                    .note(n, address, DeliveryOutcome::Failed(error.to_string()));
                dead.push(give_up(n, address, &error, attempts, self.sender.name()));
            } else {
                self.log
                    .note(n, address, DeliveryOutcome::Retrying(error.to_string()));
                for_now.push((address.as_str(), error));
            }
        }
        if for_now.is_empty() && later.is_empty() {
            return Settled::Done;
        }
        self.retry_plan(n, &for_now, &later, unreachable)
    }

    /// The retry of `n` for the addresses that failed for now or wait for their rate limit
    /// only: through the due-time set, so the sender goes on with the others meanwhile.
    /// Waiting for the rate limit is not an attempt.
    fn retry_plan(
        &mut self,
        n: &Notification,
        for_now: &[(&str, SendError)],
        later: &[(&str, Duration)],
        unreachable: Option<SendError>,
    ) -> Settled {
        let attempts = n.attempts + 1;
        let asked = for_now.iter().filter_map(|(_, e)| e.retry_after()).max();
        let turn = later.iter().map(|(_, w)| *w).max().unwrap_or_default();
        let (attempts, wait) = if for_now.is_empty() {
            (n.attempts, turn)
        } else {
            (
                attempts,
                delay(&self.opts, attempts - 1)
                    .max(asked.unwrap_or_default())
                    .max(turn),
            )
        };
        let ch = self.opts.channel;
        for (address, w) in later {
            tracing::info!(
                channel = %ch, user = %n.user, address, delivery = %n.delivery_id,
                "rate limit reached; trying again in {} ms", w.as_millis()
            );
        }
        self.report.deferred += later.len() as u64;
        for (address, error) in for_now {
            tracing::info!(
                channel = %ch, user = %n.user, address, delivery = %n.delivery_id,
                "attempt {attempts} failed: {error}; retrying in {} ms", wait.as_millis()
            );
        }
        let again = Box::new(Notification {
            attempts,
            addresses: for_now
                .iter()
                .map(|(a, _)| *a)
                .chain(later.iter().map(|(a, _)| *a))
                .map(str::to_owned)
                .collect(),
            ..n.clone()
        });
        Settled::Retry {
            again,
            wait,
            counted: !for_now.is_empty(),
            unreachable,
        }
    }

    /// Schedules a retry (which acknowledges the entry); `None` when cancelled.
    async fn retry_later(&mut self, r: &Retry<'_>) -> Option<()> {
        let (t, ch) = (&self.transport, self.opts.channel);
        retry_transport("scheduling a retry", &self.cancel, || {
            t.retry_later(ch, r.id, &r.again, r.wait)
        })
        .await?;
        if r.counted {
            self.report.retries += 1;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests;
