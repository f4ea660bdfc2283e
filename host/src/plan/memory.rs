//! An estimate of the memory a plan holds, by part: what benchmarks report, to see what to
//! make smaller. Counted from lengths and capacities, without the allocator's own overhead;
//! parts shared with another plan are counted in full.

use std::mem::size_of;

use serde::Serialize;

use super::cow::Sharded;
use super::{ChannelPlan, GuestRule, KeyedRule, Plan, Shape, Sub, Term, UserPlan};

/// Bytes a plan holds, by part (estimated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanMemory {
    /// The users: names, channels, addresses, filter names, the shapes each uses.
    pub users: usize,
    /// The distinct filters: their terms and subscribers.
    pub shapes: usize,
    /// The anchor index: key -> shapes, and the unanchored shapes.
    pub anchors: usize,
    /// The guest and keyed rules.
    pub rules: usize,
    /// The interning maps kept to apply changes: (rule, arguments), keys, filters, users.
    pub index: usize,
}

impl PlanMemory {
    /// All parts together.
    pub fn total(&self) -> usize {
        self.users + self.shapes + self.anchors + self.rules + self.index
    }
}

fn strings<'a>(v: impl IntoIterator<Item = &'a String>) -> usize {
    v.into_iter()
        .map(|s| size_of::<String>() + s.capacity())
        .sum()
}

fn user(u: &UserPlan) -> usize {
    let channel = |c: &ChannelPlan| {
        size_of::<ChannelPlan>()
            + strings(&c.addresses)
            + strings(&c.filters)
            + c.oneshot.capacity()
    };
    size_of::<UserPlan>()
        + u.name.capacity()
        + u.channels.iter().map(channel).sum::<usize>()
        + 4 * u.shapes.capacity()
}

fn shape(s: &Shape) -> usize {
    // Each `Arc` allocation carries two counters.
    size_of::<Shape>()
        + 16
        + s.terms.len() * size_of::<(Term, bool)>()
        + 16
        + s.subs.capacity() * size_of::<Sub>()
}

/// A map's entries (`size` each, plus what `extra` says an entry owns), and a control byte
/// per slot.
fn map<K, V>(m: &Sharded<K, V>, extra: impl Fn(&K, &V) -> usize) -> usize {
    m.slots() * (size_of::<(K, V)>() + 1) + m.entries().map(|(k, v)| extra(k, v)).sum::<usize>()
}

impl Plan {
    /// An estimate of the bytes this plan holds, by part.
    pub fn memory(&self) -> PlanMemory {
        let guest = |g: &GuestRule| size_of::<GuestRule>() + g.args.capacity() + strings(&g.topics);
        let keyed = |k: &KeyedRule| size_of::<KeyedRule>() + strings(&k.keys);
        let ix = &self.index;
        PlanMemory {
            users: self.users.iter().map(user).sum(),
            shapes: self.shapes.iter().map(shape).sum(),
            anchors: self
                .anchors
                .iter()
                .map(|a| map(a, |k, v| k.capacity() + 4 * v.capacity()))
                .sum::<usize>()
                + 4 * self.unanchored.capacity(),
            rules: self
                .modules
                .iter()
                .flat_map(|m| m.guest_rules.iter())
                .map(guest)
                .sum::<usize>()
                + self.keyed.iter().map(keyed).sum::<usize>(),
            index: map(&ix.guest_of, |k, _| k.2.capacity())
                + map(&ix.keyed_args, |k, _| k.2.capacity())
                + map(&ix.keyed_of, |k, _| strings(&k.1))
                + map(&ix.shape_of, |_, _| 0)
                + map(&ix.user_of, |k, _| k.capacity()),
        }
    }
}
