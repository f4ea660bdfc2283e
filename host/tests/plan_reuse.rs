//! A plan is reused across a module's new version only when nothing it depends on changed:
//! the modules' interface, and the new version's acceptance of every registered argument.

use std::sync::Arc;

use fmn_core::Preferences;
use fmn_host::{Evaluator, LoadedModule, Plan, RuleSet};
use fmn_rules_sdk::{ModuleDef, Prepared, RuleDef};

const PREFS: &str = r#"
[users.ralph.channels.email]
addresses = ["ralph@example.org"]
filters = [
  { name = "mine", rules = [{ rule = "fedora::user_filter", args = { fasnick = "ralph" } }] },
  { name = "nethack", rules = [{ rule = "fedora::package_regex_filter", args = { pattern = "^net" } }] },
  { name = "failed", rules = [{ rule = "fedora::koji_build_failed" }] },
]
"#;

/// `fedora` as built, but with `edit` applied to its rules and another doc.
fn variant(edit: impl FnOnce(&mut Vec<RuleDef>)) -> LoadedModule {
    let mut rules: Vec<RuleDef> = fmn_rules::MODULE.rules().copied().collect();
    edit(&mut rules);
    let rules: &'static [RuleDef] = Box::leak(rules.into_boxed_slice());
    let groups: &'static [&'static [RuleDef]] = Box::leak(Box::new([rules]));
    let def: &'static ModuleDef = Box::leak(Box::new(ModuleDef {
        doc: "The same rules, documented otherwise.",
        rule_groups: groups,
        ..fmn_rules::MODULE
    }));
    LoadedModule::native(def)
}

fn set(m: LoadedModule) -> RuleSet {
    RuleSet::new(1, vec![m]).unwrap()
}

fn refuse(_args: &[u8]) -> Result<Prepared, String> {
    Err("this version takes no pattern".into())
}

#[test]
fn reused_only_when_interface_and_arguments_still_hold() {
    let prefs = Preferences::from_text("prefs.toml", PREFS, false).unwrap();
    let old = set(LoadedModule::native(&fmn_rules::MODULE));
    let plan = Arc::new(Plan::build(&old, &prefs).unwrap());

    // New code, same interface, arguments accepted: the plan holds, and evaluates alike.
    let same = Arc::new(set(variant(|_| {})));
    assert!(plan.holds_for(&old, &same));
    let msg = fmn_rules_sdk::testing::envelope(
        r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "1",
            "msg": {"owner": "ralph", "name": "nethack", "new": 3}}"#,
    )
    .unwrap();
    let topic = "org.fedoraproject.prod.buildsys.build.state.change";
    let ev = Evaluator::new(same, plan.clone(), Default::default()).evaluate(msg.as_bytes(), topic);
    assert_eq!(ev.matches.len(), 1);
    assert_eq!(plan.filter_name(0, 0, ev.matches[0].filter), "mine");

    // The new version refuses an argument the preferences use: not reused, and a full build
    // says who is concerned.
    let refusing = set(variant(|rules| {
        for r in rules
            .iter_mut()
            .filter(|r| r.name == "package_regex_filter")
        {
            r.prepare = refuse;
        }
    }));
    assert!(!plan.holds_for(&old, &refusing));
    let problems = Plan::build(&refusing, &prefs).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].to_string().contains("user \"ralph\""),
        "{}",
        problems[0]
    );

    // The interface changed: a rule gone, a topic changed, a key dropped.
    let gone = set(variant(|rules| {
        rules.retain(|r| r.name != "koji_build_failed")
    }));
    assert!(!plan.holds_for(&old, &gone));
    let retopic = set(variant(|rules| {
        for r in rules.iter_mut().filter(|r| r.name == "koji_build_failed") {
            r.topics = &["*.koji.build"];
        }
    }));
    assert!(!plan.holds_for(&old, &retopic));
    let unkeyed = set(variant(|rules| {
        for r in rules.iter_mut().filter(|r| r.name == "user_filter") {
            r.key = None;
        }
    }));
    assert!(!plan.holds_for(&old, &unkeyed));

    // A module added beside it: another set.
    let two = RuleSet::new(
        2,
        vec![
            LoadedModule::native(&fmn_rules::MODULE),
            LoadedModule::native(&other::MODULE),
        ],
    )
    .unwrap();
    assert!(!plan.holds_for(&old, &two));
}

mod other {
    use fmn_rules_sdk::{Message, module, rule};

    /// Everything.
    #[rule]
    pub fn yes(_msg: &Message) -> bool {
        true
    }

    module! {
        name: "other",
        doc: "Another module.",
        rules: [yes],
        extractors: [],
    }
}
