//! What the host's integration tests over the bundled corpus share.

use std::sync::Arc;

use fmn_core::Envelope;
use fmn_host::{LoadedModule, RuleSet};

const CORPUS: &str = include_str!("../../../tests/fixtures/corpus/bench_messages.jsonl");

/// (rules JSON, topic) of every corpus message.
pub fn messages() -> Vec<(String, String)> {
    CORPUS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| Envelope::from_bus_json(l.as_bytes(), usize::MAX).ok())
        .map(|e| (e.rules_json(), e.topic))
        .collect()
}

/// The bundled rules, compiled natively.
pub fn ruleset() -> Arc<RuleSet> {
    Arc::new(RuleSet::new(1, vec![LoadedModule::native(&fmn_rules::MODULE)]).unwrap())
}
