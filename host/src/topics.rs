//! Which guest rules of a module apply to a topic, cached by topic and bounded in bytes.
//!
//! Most messages share a few hundred topics, and matching every rule's topic globs per message
//! would cost more than a lookup. But a rule list can hold every guest rule of the plan (a
//! hundred thousand users' rules whose globs match every topic: 400 KB a topic), so the cache
//! counts the bytes it holds, not its topics, and topics with the same list share one copy.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The bound of one module's topic cache, by default.
pub const TOPIC_CACHE_BYTES: usize = 16 << 20;

/// What a cached topic costs besides its bytes: the map's slot (the `String` and the `Arc`),
/// the string's allocation, the table's spare slots.
const TOPIC_OVERHEAD: usize = 64;
/// What a distinct rule list costs besides its indices: the `Arc`'s counts, two vectors, its
/// slot in the set of distinct lists, their allocations.
const RULES_OVERHEAD: usize = 96;

/// The guest rules of a module that apply to one topic: those to call, and those answered by
/// the topic alone (exact topic rules), by position in the module's plan.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TopicRules {
    pub(crate) call: Vec<u32>,
    pub(crate) exact: Vec<u32>,
}

impl TopicRules {
    /// What it costs in the cache.
    fn bytes(&self) -> usize {
        RULES_OVERHEAD + 4 * (self.call.capacity() + self.exact.capacity())
    }
}

/// Hashes the lengths and a sample of at most 64 indices of each list, so that finding a
/// shared copy of a list of a hundred thousand rules does not read them all; equality still
/// compares them all (one `memcmp`).
impl Hash for TopicRules {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for list in [&self.call, &self.exact] {
            list.len().hash(state);
            let step = list.len().div_ceil(64).max(1);
            for r in list.iter().step_by(step) {
                r.hash(state);
            }
        }
    }
}

/// One module's topics and their rule lists, at most `limit` bytes of them; when the next
/// topic would pass the bound, the cache starts again empty (the topics in use come back at
/// once, the others were not worth keeping).
#[derive(Debug)]
pub(crate) struct TopicCache {
    topics: HashMap<String, Arc<TopicRules>>,
    /// The distinct lists, shared by the topics that have the same.
    distinct: HashSet<Arc<TopicRules>>,
    bytes: usize,
    limit: usize,
}

impl TopicCache {
    /// An empty cache that holds at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> TopicCache {
        TopicCache {
            topics: HashMap::new(),
            distinct: HashSet::new(),
            bytes: 0,
            limit,
        }
    }

    /// The rules of `topic`, if cached.
    pub(crate) fn get(&self, topic: &str) -> Option<&Arc<TopicRules>> {
        self.topics.get(topic)
    }

    /// Caches `rules` as `topic`'s, shared with another topic's if the same; a list too large
    /// to fit the bound on its own is returned without being kept.
    pub(crate) fn insert(&mut self, topic: &str, mut rules: TopicRules) -> Arc<TopicRules> {
        rules.call.shrink_to_fit();
        rules.exact.shrink_to_fit();
        let topic_cost = TOPIC_OVERHEAD + topic.len();
        let rules_cost = rules.bytes();
        if topic_cost + rules_cost > self.limit {
            return Arc::new(rules);
        }
        let mut shared = self.distinct.get(&rules).cloned();
        let cost = topic_cost + if shared.is_some() { 0 } else { rules_cost };
        if self.bytes + cost > self.limit {
            self.clear();
            shared = None;
        }
        let rules = match shared {
            Some(r) => r,
            None => {
                let r = Arc::new(rules);
                self.distinct.insert(r.clone());
                self.bytes += rules_cost;
                r
            }
        };
        self.bytes += topic_cost;
        self.topics.insert(topic.to_owned(), rules.clone());
        rules
    }

    /// The bytes it holds, as counted against its bound.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Forgets every topic: the rules' list changed.
    pub(crate) fn clear(&mut self) {
        self.topics.clear();
        self.distinct.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(call: std::ops::Range<u32>) -> TopicRules {
        TopicRules {
            call: call.collect(),
            exact: Vec::new(),
        }
    }

    #[test]
    fn topics_with_the_same_rules_share_one_copy() {
        let mut cache = TopicCache::new(1 << 20);
        let a = cache.insert("a", rules(0..10_000));
        let b = cache.insert("b", rules(0..10_000));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(
            cache.bytes(),
            RULES_OVERHEAD + 40_000 + 2 * TOPIC_OVERHEAD + 2
        );
        let c = cache.insert("c", rules(1..10_001));
        assert!(!Arc::ptr_eq(&a, &c), "same length and samples, other rules");
        assert!(Arc::ptr_eq(cache.get("a").unwrap(), &a));
    }

    #[test]
    fn many_topics_with_distinct_large_lists_stay_within_the_bound() {
        let limit = 1 << 20;
        let mut cache = TopicCache::new(limit);
        let mut cleared = 0;
        for i in 0..2_000u32 {
            let before = cache.bytes();
            // 25,000 rules (100 KB), a different list for each topic.
            cache.insert(&format!("org.example.topic{i}"), rules(i..i + 25_000));
            assert!(cache.bytes() <= limit, "{} bytes", cache.bytes());
            cleared += usize::from(cache.bytes() < before);
        }
        assert!(cleared >= 2_000 / 11, "{cleared} clearings");
        assert!(cache.get("org.example.topic1999").is_some());
    }

    #[test]
    fn a_list_larger_than_the_bound_is_not_kept() {
        let mut cache = TopicCache::new(64 << 10);
        cache.insert("small", rules(0..10));
        let big = cache.insert("big", rules(0..100_000));
        assert_eq!(big.call.len(), 100_000);
        assert!(cache.get("big").is_none());
        assert!(cache.get("small").is_some(), "the others stay");
        assert!(cache.bytes() <= 64 << 10);
    }
}
