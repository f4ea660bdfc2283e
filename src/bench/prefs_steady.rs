//! `fmn bench prefs`' steady-rate part: evaluation throughput over the bench corpus with no
//! preference change, and with a steady rate of users changed (each change applied to the plan
//! on another thread, as the reloader does, and taken by the evaluator between batches of 64
//! messages, as a worker does).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fmn_core::Relations;
use fmn_core::prefs::User;
use fmn_host::{Evaluator, Plan, RuleSet};
use serde::Serialize;

/// Messages a worker evaluates between two looks at the snapshot (its default batch).
const BATCH: usize = 64;

/// What one steady run measured.
#[derive(Debug, Serialize)]
pub struct SteadyRun {
    /// Changes applied per second (0: none).
    pub changes_per_second: f64,
    pub messages: usize,
    pub messages_per_second: f64,
    /// Plans the evaluator moved to.
    pub swaps: usize,
    /// Per change, applying it to the plan (the reloader's thread).
    pub apply_mean_ms: f64,
    pub apply_max_ms: f64,
}

/// The users the changes cycle through, each with their preferences and those preferences
/// less their channels' last filter (`fmn prefs set USER --remove-filter`).
pub struct Changes {
    users: Vec<(String, User, User)>,
}

impl Changes {
    /// Changes of the first `n` users of `users`.
    pub fn new<'a>(users: impl Iterator<Item = (&'a String, &'a User)>, n: usize) -> Self {
        let users = users
            .take(n)
            .map(|(name, u)| {
                let mut less = u.clone();
                for ch in less.channels.values_mut() {
                    ch.filters.pop();
                }
                (name.clone(), u.clone(), less)
            })
            .collect();
        Changes { users }
    }

    /// Change `i`: a user loses a filter, and on the next round gets it back.
    fn nth(&self, i: usize) -> (&str, &User) {
        let (name, whole, less) = &self.users[i % self.users.len()];
        let round = i / self.users.len();
        (name, if round.is_multiple_of(2) { less } else { whole })
    }
}

/// Applies changes `0..n`, one at a time, each to the plan the one before made; returns each
/// apply's time in milliseconds.
pub fn apply_one_by_one(
    ruleset: &RuleSet,
    plan: &Arc<Plan>,
    changes: &Changes,
    n: usize,
) -> Vec<f64> {
    let mut plan = plan.clone();
    (0..n)
        .map(|i| {
            let started = Instant::now();
            let applied = plan.apply(ruleset, [changes.nth(i)].map(|(n, u)| (n, Some(u))));
            let t = started.elapsed().as_secs_f64() * 1e3;
            plan = Arc::new(applied.plan);
            t
        })
        .collect()
}

/// Evaluates the corpus over and over for `seconds`, with `rate` changes a second applied to
/// the plan meanwhile (none for 0).
pub fn run(
    ruleset: &Arc<RuleSet>,
    plan: &Arc<Plan>,
    relations: &Arc<Relations>,
    messages: &[(String, String)],
    changes: &Changes,
    rate: f64,
    seconds: f64,
) -> SteadyRun {
    let latest = Mutex::new(plan.clone());
    let stop = AtomicBool::new(false);
    let mut applies: Vec<f64> = Vec::new();
    let mut evaluated = (0usize, 0usize, 0.0f64);
    std::thread::scope(|s| {
        if rate > 0.0 {
            s.spawn(|| applies = apply_steadily(ruleset, &latest, changes, rate, &stop));
        }
        evaluated = evaluate_for(ruleset, plan, relations, messages, &latest, seconds);
        stop.store(true, Ordering::Relaxed);
    });
    let (messages, swaps, elapsed) = evaluated;
    SteadyRun {
        changes_per_second: rate,
        messages,
        messages_per_second: messages as f64 / elapsed,
        swaps,
        apply_mean_ms: applies.iter().fold(0.0, |a, b| a + b) / applies.len().max(1) as f64,
        apply_max_ms: applies.iter().copied().fold(0.0, f64::max),
    }
}

/// Applies change after change at `rate` a second until `stop`; returns each apply's time.
fn apply_steadily(
    ruleset: &RuleSet,
    latest: &Mutex<Arc<Plan>>,
    changes: &Changes,
    rate: f64,
    stop: &AtomicBool,
) -> Vec<f64> {
    let every = Duration::from_secs_f64(1.0 / rate);
    let mut times = Vec::new();
    let mut next = Instant::now() + every;
    for i in 0.. {
        while Instant::now() < next {
            if stop.load(Ordering::Relaxed) {
                return times;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        next += every;
        let before = latest.lock().map(|p| p.clone());
        let Ok(before) = before else {
            return times;
        };
        let started = Instant::now();
        let applied = before.apply(ruleset, [changes.nth(i)].map(|(n, u)| (n, Some(u))));
        times.push(started.elapsed().as_secs_f64() * 1e3);
        if let Ok(mut l) = latest.lock() {
            *l = Arc::new(applied.plan);
        }
    }
    times
}

/// Evaluates the corpus for `seconds`, moving to the latest plan between batches; returns
/// (messages, plans moved to, seconds).
fn evaluate_for(
    ruleset: &Arc<RuleSet>,
    plan: &Arc<Plan>,
    relations: &Arc<Relations>,
    messages: &[(String, String)],
    latest: &Mutex<Arc<Plan>>,
    seconds: f64,
) -> (usize, usize, f64) {
    let mut evaluator = Evaluator::new(ruleset.clone(), plan.clone(), relations.clone());
    for (json, topic) in messages {
        evaluator.evaluate(json.as_bytes(), topic);
    }
    let (mut done, mut swaps) = (0usize, 0usize);
    let started = Instant::now();
    while started.elapsed().as_secs_f64() < seconds {
        for batch in messages.chunks(BATCH) {
            let newest = latest.lock().map(|p| p.clone()).ok();
            if let Some(p) = newest.filter(|p| !Arc::ptr_eq(p, evaluator.plan())) {
                if !evaluator.advance(ruleset, p.clone(), relations.clone()) {
                    evaluator = Evaluator::new(ruleset.clone(), p, relations.clone());
                }
                swaps += 1;
            }
            for (json, topic) in batch {
                std::hint::black_box(evaluator.evaluate(json.as_bytes(), topic));
            }
            done += batch.len();
        }
    }
    (done, swaps, started.elapsed().as_secs_f64())
}
