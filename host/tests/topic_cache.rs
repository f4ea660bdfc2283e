//! The cache of topics and their rules stays within its bound in bytes, however many topics
//! come and however many rules apply to each, and evaluation is the same through it.

use std::sync::Arc;

use fmn_core::Preferences;
use fmn_host::{Evaluator, LoadedModule, Plan, RuleSet};

/// Users who each follow the topics ending in `.tN` (`fedora::topic`, a rule without topic
/// globs of its own: every user's rule applies to every topic).
fn prefs(users: usize) -> String {
    (0..users)
        .map(|i| {
            format!(
                "[users.u{i}.channels.email]\naddresses = [\"u{i}@x\"]\n\
                 filters = [{{ name = \"t\", rules = [{{ rule = \"fedora::topic\", args = {{ glob = \"*.t{i}\" }} }}] }}]\n"
            )
        })
        .collect()
}

#[test]
fn the_topic_cache_stays_within_its_bound_with_many_topics_and_rules_matching_all() {
    let ruleset =
        Arc::new(RuleSet::new(1, vec![LoadedModule::native(&fmn_rules::MODULE)]).unwrap());
    let users = 500;
    let prefs = Preferences::from_text("p.toml", &prefs(users), false).unwrap();
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let limit = 16 << 10;
    let mut e =
        Evaluator::new(ruleset, plan.clone(), Default::default()).with_topic_cache_bytes(limit);
    let mut cleared = 0;
    for t in 0..1_000 {
        let topic = format!("org.example.t{t}");
        let msg = fmn_rules_sdk::testing::envelope(&format!(
            r#"{{"topic": "{topic}", "msg_id": "m{t}", "msg": {{}}}}"#
        ))
        .unwrap();
        let before = e.topic_cache_bytes();
        let ev = e.evaluate(msg.as_bytes(), &topic);
        let after = e.topic_cache_bytes();
        assert!(after <= limit, "{after} bytes after {t} topics");
        cleared += usize::from(after < before);
        let who: Vec<&str> = ev
            .matches
            .iter()
            .map(|m| plan.users[m.user as usize].name.as_str())
            .collect();
        let expected = if t < users {
            vec![format!("u{t}")]
        } else {
            vec![]
        };
        assert_eq!(who, expected, "{topic}");
    }
    // 500 rules a topic (2 KB, shared by every topic) and 1,000 topics do not fit in 16 KiB:
    // the cache was started again, more than once.
    assert!(cleared >= 2, "{cleared}");
}
