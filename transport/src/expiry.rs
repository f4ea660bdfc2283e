//! Time-ordered structures of the in-process transport: each operation looks only at the
//! entries it adds, changes or finds due, never at every entry it holds, so a run of a million
//! deliveries costs a million times one delivery, not the square of it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

/// Keys remembered until a time each, forgotten in the order they expire.
#[derive(Default)]
pub(super) struct Ledger {
    until: HashMap<String, Instant>,
    /// The same keys by expiry, so expiring visits only the expired ones.
    by_expiry: BTreeSet<(Instant, String)>,
    /// Entries looked at by marks and expiry so far: the work, for tests to see it stay flat.
    visited: u64,
}

impl Ledger {
    /// Remembers `key` until `until`; marking it again moves its expiry.
    pub(super) fn mark(&mut self, key: &str, until: Instant) {
        self.visited += 1;
        if let Some(old) = self.until.insert(key.to_owned(), until) {
            self.by_expiry.remove(&(old, key.to_owned()));
        }
        self.by_expiry.insert((until, key.to_owned()));
    }

    /// Forgets the keys whose time is up at `now`, soonest first.
    pub(super) fn expire(&mut self, now: Instant) {
        while self.by_expiry.first().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, key)) = self.by_expiry.pop_first() {
                self.until.remove(&key);
                self.visited += 1;
            }
        }
    }

    /// Whether `key` is remembered past `now`.
    pub(super) fn contains(&self, key: &str, now: Instant) -> bool {
        self.until.get(key).is_some_and(|until| *until > now)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.until.len()
    }
}

/// Entries waiting for their time, soonest first, in arrival order among equal times.
#[derive(Default)]
pub(super) struct DueQueue {
    waiting: BTreeMap<(Instant, u64), String>,
    next: u64,
}

impl DueQueue {
    pub(super) fn push(&mut self, at: Instant, data: String) {
        self.next += 1;
        self.waiting.insert((at, self.next), data);
    }

    /// Takes out the entries due at `now`; only those are visited.
    pub(super) fn pop_due(&mut self, now: Instant) -> Vec<String> {
        let mut due = Vec::new();
        while let Some(entry) = self.waiting.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        due
    }

    /// Takes out the soonest entry, due or not.
    pub(super) fn pop_first(&mut self) -> Option<String> {
        self.waiting.pop_first().map(|(_, data)| data)
    }

    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }
}

/// Who is due when, by key: the index beside a map whose entries carry a due time.
#[derive(Default)]
pub(super) struct DueIndex {
    by_due: BTreeSet<(Instant, String)>,
}

impl DueIndex {
    /// Moves `key` from due at `old` to due at `new` (either may be none).
    pub(super) fn set(&mut self, key: &str, old: Option<Instant>, new: Option<Instant>) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            self.by_due.remove(&(old, key.to_owned()));
        }
        if let Some(new) = new {
            self.by_due.insert((new, key.to_owned()));
        }
    }

    /// The keys due at `now`, soonest first, at most `max`.
    pub(super) fn due(&self, now: Instant, max: usize) -> Vec<String> {
        self.by_due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(max)
            .map(|(_, key)| key.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Work per delivery over `n` deliveries one microsecond apart, each remembered for `ttl`,
    /// expiring before each mark as the transport does.
    fn work_per_delivery(n: u64, ttl: Duration) -> (f64, usize) {
        let start = Instant::now();
        let mut ledger = Ledger::default();
        for i in 0..n {
            let now = start + Duration::from_micros(i);
            ledger.expire(now);
            ledger.mark(&format!("delivery-{i}"), now + ttl);
            assert!(ledger.contains(&format!("delivery-{i}"), now));
        }
        (ledger.visited as f64 / n as f64, ledger.len())
    }

    #[test]
    fn ledger_work_per_delivery_stays_flat_from_10k_to_1m_when_nothing_expires() {
        // Remembered for a day: every delivery stays, as in a mass rebuild. Sweeping all
        // entries on each mark would visit n/2 per delivery on average.
        let day = Duration::from_secs(86_400);
        let (small, kept_small) = work_per_delivery(10_000, day);
        let (big, kept_big) = work_per_delivery(1_000_000, day);
        assert_eq!((kept_small, kept_big), (10_000, 1_000_000));
        assert!(small <= 1.0 && big <= 1.0, "{small} {big}");
    }

    #[test]
    fn ledger_work_per_delivery_stays_flat_from_10k_to_1m_when_deliveries_expire() {
        // Remembered for 1,000 deliveries' time: each is visited once to mark, once to forget.
        let ttl = Duration::from_micros(1_000);
        let (small, kept_small) = work_per_delivery(10_000, ttl);
        let (big, kept_big) = work_per_delivery(1_000_000, ttl);
        assert!(
            kept_small <= 1_001 && kept_big <= 1_001,
            "{kept_small} {kept_big}"
        );
        assert!(small <= 2.0 && big <= 2.0, "{small} {big}");
    }

    #[test]
    fn marking_again_moves_the_expiry_both_ways() {
        let t0 = Instant::now();
        let mut ledger = Ledger::default();
        ledger.mark("k", t0 + Duration::from_secs(1));
        ledger.mark("k", t0 + Duration::from_secs(10));
        ledger.expire(t0 + Duration::from_secs(5));
        assert!(ledger.contains("k", t0 + Duration::from_secs(5)));
        ledger.mark("k", t0 + Duration::from_secs(6));
        ledger.expire(t0 + Duration::from_secs(7));
        assert!(!ledger.contains("k", t0 + Duration::from_secs(7)));
        assert_eq!(ledger.len(), 0);
        assert!(ledger.by_expiry.is_empty(), "no stale expiry left behind");
    }

    #[test]
    fn due_queue_hands_out_only_what_is_due_in_time_then_arrival_order() {
        let t0 = Instant::now();
        let mut q = DueQueue::default();
        q.push(t0 + Duration::from_secs(2), "late".into());
        q.push(t0, "first".into());
        q.push(t0, "second".into());
        assert_eq!(q.pop_due(t0 + Duration::from_secs(1)), ["first", "second"]);
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop_first().as_deref(), Some("late"));
    }

    #[test]
    fn due_index_moves_keys_and_lists_the_due_soonest_first() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut ix = DueIndex::default();
        ix.set("a", None, Some(t0 + s(3)));
        ix.set("b", None, Some(t0 + s(1)));
        ix.set("c", None, Some(t0 + s(9)));
        ix.set("a", Some(t0 + s(3)), Some(t0 + s(2)));
        assert_eq!(ix.due(t0 + s(5), 10), ["b", "a"]);
        assert_eq!(ix.due(t0 + s(5), 1), ["b"]);
        ix.set("b", Some(t0 + s(1)), None);
        assert_eq!(ix.due(t0 + s(10), 10), ["a", "c"]);
    }
}
