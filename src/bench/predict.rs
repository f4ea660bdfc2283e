//! What `fmn bench pipeline` must deliver to a sample of its users, predicted without the
//! pipeline: each rule of each sampled user's filters is the rules crate's own function, called
//! natively on the parsed message, one by one, as FMN did; no plan, no index, no wasm, no
//! queue. The pipeline's count for those users must be exactly this.

use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use fmn_core::Envelope;
use fmn_core::data::PACKAGERS;
use fmn_core::prefs::User;
use fmn_rules_sdk::{Message, Prepared};

use crate::bench::population::Population;

/// The users a prediction is made for: the first `first` (the corpus' own people, who get
/// most notifications) and every `step`-th after them.
pub(crate) fn sample(population: &Population, first: usize, step: usize) -> Vec<usize> {
    let n = population.len();
    let head = 0..first.min(n);
    let tail = (first.min(n)..n).step_by(step.max(1));
    head.chain(tail).collect()
}

/// How many notifications the `sample` of `population` must get when the bundled sample of
/// messages is repeated to `total` messages (message `i` is line `i % lines`).
pub(crate) fn predict(
    population: &Population,
    sample: &[usize],
    lines: &[&[u8]],
    total: u64,
) -> Result<u64> {
    let module = &fmn_rules::MODULE;
    set_ownership(population);
    let users: Vec<(usize, User)> = sample.iter().map(|&i| (i, population.user(i))).collect();
    let mut prepared: HashMap<(String, String), Prepared> = HashMap::new();
    let mut count = 0u64;
    for (k, line) in lines.iter().enumerate() {
        let repeats =
            total / lines.len() as u64 + u64::from((k as u64) < total % lines.len() as u64);
        if repeats == 0 {
            continue;
        }
        // A line the consumer refuses reaches nobody.
        let Ok(env) = Envelope::from_bus_json(line, usize::MAX) else {
            continue;
        };
        let json = env.rules_json();
        let msg = Message::parse(&json).map_err(|e| anyhow!("message {}: {e}", env.id))?;
        let mut rule = |name: &str, args: &serde_json::Value| -> Result<bool> {
            let index = module
                .rule_index(name)
                .ok_or_else(|| anyhow!("no rule {name}"))?;
            let def = module
                .rule(index)
                .ok_or_else(|| anyhow!("no rule {name}"))?;
            let p = match prepared.entry((name.to_owned(), args.to_string())) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    (def.prepare)(args.to_string().as_bytes())
                        .map_err(|e| anyhow!("rule {name}: {e}"))?,
                ),
            };
            (def.eval)(&msg, p.as_ref()).map_err(|e| anyhow!("rule {name}: {e}"))
        };
        for (_, user) in &users {
            for ch in user.channels.values().filter(|c| c.enabled) {
                if first_match(ch, &mut rule)? {
                    count += repeats;
                }
            }
        }
    }
    Ok(count)
}

/// Whether any active filter of `ch` matches: all its rules, each negated or not.
fn first_match(
    ch: &fmn_core::prefs::Channel,
    rule: &mut impl FnMut(&str, &serde_json::Value) -> Result<bool>,
) -> Result<bool> {
    for f in ch.filters.iter().filter(|f| f.active) {
        let mut all = true;
        for r in &f.rules {
            let (_, name) = r
                .split()
                .ok_or_else(|| anyhow!("bad rule reference {}", r.rule))?;
            if rule(name, &r.args)? == r.negated {
                all = false;
                break;
            }
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Gives the native rules (on this thread) the ownership the workers hold.
fn set_ownership(population: &Population) {
    let relations = population.relations();
    let owners: HashMap<String, Vec<String>> = relations
        .tables()
        .filter(|(name, _)| *name == PACKAGERS)
        .flat_map(|(_, table)| table.iter())
        .map(|(pkg, users)| (pkg.clone(), users.clone()))
        .collect();
    fmn_rules_sdk::data::set_relation(PACKAGERS, owners);
}

/// How many notifications the file senders in `out` wrote for `users`: a line each, a
/// digest's line for each it holds.
pub(crate) fn delivered(out: &Path, users: &BTreeSet<String>) -> Result<u64> {
    #[derive(serde::Deserialize)]
    struct Line {
        user: String,
        /// A digest's line holds its notifications.
        digest: Option<Vec<serde::de::IgnoredAny>>,
    }
    let mut count = 0;
    for entry in std::fs::read_dir(out).with_context(|| format!("reading {}", out.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "jsonl")
            || path.file_name().is_some_and(|n| n == "dead-letters.jsonl")
        {
            continue;
        }
        let file =
            std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        for line in std::io::BufReader::new(file).lines() {
            let line: Line = serde_json::from_str(&line?)
                .with_context(|| format!("a line of {}", path.display()))?;
            if users.contains(&line.user) {
                count += line.digest.map_or(1, |d| d.len() as u64);
            }
        }
    }
    Ok(count)
}
