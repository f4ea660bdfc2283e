//! FMN's evaluation semantics, through the plan and its index, with the rule modules run
//! natively: AND within a filter, negation, OR across filters, one notification per
//! (user, channel), failures failing closed, and preference errors that say where.

use std::sync::Arc;

use fmn_core::Preferences;
use fmn_host::{Evaluator, LoadedModule, Plan, RuleSet};
use fmn_rules_sdk::{Message, module, rule};

/// A module whose rules fail on purpose.
mod failing {
    use super::*;

    /// Always an error.
    #[rule]
    pub fn errs(_msg: &Message) -> Result<bool, String> {
        Err("this rule always fails".into())
    }

    /// Always panics.
    #[rule]
    pub fn panics(_msg: &Message) -> bool {
        panic!("deliberate panic")
    }

    /// Always true.
    #[rule]
    pub fn yes(_msg: &Message) -> bool {
        true
    }

    module! {
        name: "failing",
        doc: "Rules that fail.",
        rules: [errs, panics, yes],
        extractors: [],
    }
}

fn ruleset() -> Arc<RuleSet> {
    Arc::new(
        RuleSet::new(
            1,
            vec![
                LoadedModule::native(&fmn_rules::MODULE),
                LoadedModule::native(&failing::MODULE),
            ],
        )
        .unwrap(),
    )
}

fn koji(owner: &str, package: &str) -> String {
    let bus = format!(
        r#"{{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "{owner}-{package}",
            "msg": {{"owner": "{owner}", "name": "{package}", "version": "1", "release": "1", "new": 3, "build_id": 7}}}}"#
    );
    fmn_rules_sdk::testing::envelope(&bus).unwrap()
}

fn bodhi_comment(author: &str) -> String {
    let bus = format!(
        r#"{{"topic": "org.fedoraproject.prod.bodhi.update.comment", "msg_id": "c-{author}",
            "msg": {{"comment": {{"author": "{author}", "text": "hi", "karma": 1, "update_title": "nethack-3.6-1.fc40"}}}}}}"#
    );
    fmn_rules_sdk::testing::envelope(&bus).unwrap()
}

/// (user, channel kind, filter name) of each match.
fn eval(plan: &Arc<Plan>, msg: &str) -> Vec<(String, String, String)> {
    let mut e = Evaluator::new(ruleset(), plan.clone(), Default::default());
    let topic = serde_json::from_str::<serde_json::Value>(msg).unwrap()["topic"]
        .as_str()
        .unwrap()
        .to_owned();
    let ev = e.evaluate(msg.as_bytes(), &topic);
    ev.matches
        .iter()
        .map(|m| {
            let u = &plan.users[m.user as usize];
            let c = &u.channels[m.channel as usize];
            (
                u.name.clone(),
                c.kind.to_string(),
                c.filters[m.filter as usize].clone(),
            )
        })
        .collect()
}

fn plan(toml: &str) -> Arc<Plan> {
    let prefs = Preferences::from_text("test.toml", toml, false).unwrap();
    Arc::new(Plan::build(&ruleset(), &prefs).unwrap())
}

fn t(u: &str, c: &str, f: &str) -> (String, String, String) {
    (u.into(), c.into(), f.into())
}

#[test]
fn and_negation_or_and_one_per_channel() {
    let p = plan(
        r#"
[users.alice.channels.email]
addresses = ["alice@example.org"]
filters = [
  { name = "nethack failures by others", rules = [
      { rule = "fedora::package_filter", args = { package = "nethack" } },
      { rule = "fedora::category", args = { category = "buildsys" } },
      { rule = "fedora::user_filter", args = { fasnick = "alice" }, negated = true },
  ] },
  { name = "about me", rules = [{ rule = "fedora::user_filter", args = { fasnick = "alice" } }] },
  { name = "all koji", rules = [{ rule = "fedora::category", args = { category = "buildsys" } }] },
]
[users.alice.channels.irc]
addresses = ["alice"]
filters = [{ name = "about me on irc", rules = [{ rule = "fedora::user_filter", args = { fasnick = "alice" } }] }]

[users.bob.channels.email]
addresses = ["bob@example.org"]
filters = [
  { name = "inactive", active = false, rules = [{ rule = "fedora::topic", args = { glob = "*" } }] },
  { name = "bodhi", rules = [{ rule = "fedora::topic", args = { glob = "*.bodhi.*" } }] },
]
"#,
    );
    // Someone else's nethack failure: alice's first and third filters match, one email, the
    // first filter named; nothing on irc; bob's bodhi filter does not match a koji message.
    assert_eq!(
        eval(&p, &koji("ralph", "nethack")),
        [t("alice", "email", "nethack failures by others")]
    );
    // Alice's own nethack failure: the negated rule excludes filter 1; filter 2 matches.
    assert_eq!(
        eval(&p, &koji("alice", "nethack")),
        [
            t("alice", "email", "about me"),
            t("alice", "irc", "about me on irc")
        ]
    );
    // Another package by someone else: only "all koji".
    assert_eq!(
        eval(&p, &koji("ralph", "vim")),
        [t("alice", "email", "all koji")]
    );
    // A bodhi comment by alice: "about me" on both channels, and bob's bodhi filter; bob's
    // inactive catch-all filter never matches.
    assert_eq!(
        eval(&p, &bodhi_comment("alice")),
        [
            t("alice", "email", "about me"),
            t("alice", "irc", "about me on irc"),
            t("bob", "email", "bodhi")
        ]
    );
    assert_eq!(
        eval(&p, &bodhi_comment("carol")),
        [t("bob", "email", "bodhi")]
    );
}

#[test]
fn identical_filters_are_evaluated_once_and_keys_anchor_them() {
    let mut toml = String::new();
    for i in 0..50 {
        toml.push_str(&format!(
            "[users.u{i}.channels.email]\naddresses = [\"u{i}@x\"]\nfilters = [\
             {{ name = \"me\", rules = [{{ rule = \"fedora::user_filter\", args = {{ fasnick = \"u{i}\" }} }}] }},\
             {{ name = \"koji\", rules = [{{ rule = \"fedora::category\", args = {{ category = \"buildsys\" }} }}] }}]\n"
        ));
    }
    let p = plan(&toml);
    let s = p.stats();
    // 50 "me" filters, each anchored on its own key, plus one shared "koji" shape.
    assert_eq!(
        (
            s.users,
            s.shapes,
            s.unanchored,
            s.keyed_rules,
            s.guest_rules
        ),
        (50, 51, 1, 50, 1)
    );
    let hits = eval(&p, &koji("u7", "vim"));
    assert_eq!(hits.len(), 50);
    assert!(hits.contains(&t("u7", "email", "me")));
    assert_eq!(hits.iter().filter(|h| h.2 == "me").count(), 1);
}

#[test]
fn failing_rules_make_their_filters_fail_even_negated() {
    let p = plan(
        r#"
[users.a.channels.email]
addresses = ["a@x"]
filters = [{ name = "errs", rules = [{ rule = "failing::errs" }] }]
[users.b.channels.email]
addresses = ["b@x"]
filters = [{ name = "not errs", rules = [{ rule = "failing::errs", negated = true }] }]
[users.c.channels.email]
addresses = ["c@x"]
filters = [{ name = "yes", rules = [{ rule = "failing::yes" }] }]
[users.d.channels.email]
addresses = ["d@x"]
filters = [{ name = "koji", rules = [{ rule = "fedora::category", args = { category = "buildsys" } }] }]
"#,
    );
    let mut e = Evaluator::new(ruleset(), p.clone(), Default::default());
    let msg = koji("ralph", "vim");
    let ev = e.evaluate(
        msg.as_bytes(),
        "org.fedoraproject.prod.buildsys.build.state.change",
    );
    let users: Vec<&str> = ev
        .matches
        .iter()
        .map(|m| p.users[m.user as usize].name.as_str())
        .collect();
    assert_eq!(users, ["c", "d"]);
    assert_eq!(ev.rule_errors.len(), 1);
    assert_eq!(ev.rule_errors[0].rule, "errs");
    assert_eq!(ev.rule_errors[0].error, "this rule always fails");
    assert_eq!(ev.meta.usernames, ["ralph"]);
}

#[test]
fn a_panicking_module_fails_alone() {
    let p = plan(
        r#"
[users.a.channels.email]
addresses = ["a@x"]
filters = [{ name = "panics", rules = [{ rule = "failing::panics" }] }]
[users.d.channels.email]
addresses = ["d@x"]
filters = [{ name = "koji", rules = [{ rule = "fedora::category", args = { category = "buildsys" } }] }]
"#,
    );
    let mut e = Evaluator::new(ruleset(), p.clone(), Default::default());
    for _ in 0..3 {
        let msg = koji("ralph", "vim");
        let ev = e.evaluate(
            msg.as_bytes(),
            "org.fedoraproject.prod.buildsys.build.state.change",
        );
        assert_eq!(
            ev.matches.len(),
            1,
            "the other module's filter still matches"
        );
        assert_eq!(p.users[ev.matches[0].user as usize].name, "d");
        // The panic is the rule's (the module answers without it): user a's filter fails.
        assert!(ev.failures.is_empty(), "{:?}", ev.failures);
        assert_eq!(ev.rule_errors.len(), 1);
        let e = &ev.rule_errors[0];
        assert_eq!(
            (e.module.as_str(), e.rule.as_str(), e.users.as_slice()),
            ("failing", "panics", ["a".to_owned()].as_slice())
        );
        assert_eq!(e.error, "panic: panicked: deliberate panic");
    }
}

#[test]
fn preference_errors_name_user_channel_filter_and_rule() {
    let prefs = Preferences::from_text(
        "p.toml",
        r#"
[users.ralph.channels.email]
addresses = ["r@x"]
filters = [
  { name = "a", rules = [{ rule = "fedora::user_filtre", args = { fasnick = "ralph" } }] },
  { name = "b", rules = [{ rule = "fedora::package_filter", args = { pkg = "nethack" } }] },
  { name = "c", rules = [{ rule = "fedorah::package_filter", args = { package = "nethack" } }] },
  { name = "d", rules = [{ rule = "fedora::package_filter" }] },
  { name = "e", rules = [{ rule = "fedora::user_filter", args = { fasnick = 3 } }] },
]
"#,
        false,
    )
    .unwrap();
    let problems: Vec<String> = Plan::build(&ruleset(), &prefs)
        .unwrap_err()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        problems,
        [
            "user \"ralph\", channel email, filter #1 \"a\", rule #1 \"fedora::user_filtre\": module fedora has no rule \"user_filtre\" (did you mean user_filter?)",
            "user \"ralph\", channel email, filter #2 \"b\", rule #1 \"fedora::package_filter\": invalid arguments {\"pkg\":\"nethack\"}: unknown argument(s) pkg (this rule takes: package)",
            "user \"ralph\", channel email, filter #3 \"c\", rule #1 \"fedorah::package_filter\": unknown module \"fedorah\" (loaded: fedora, failing)",
            "user \"ralph\", channel email, filter #4 \"d\", rule #1 \"fedora::package_filter\": invalid arguments {}: missing field `package`",
            "user \"ralph\", channel email, filter #5 \"e\", rule #1 \"fedora::user_filter\": invalid arguments {\"fasnick\":3}: invalid type: integer `3`, expected a string",
        ]
    );
}

/// FMN 3's list arguments: any listed key anchors the filter, directly or through a relation
/// the worker holds, and the answer is the same as the rule's own function gives.
#[test]
fn list_arguments_match_any_item_through_the_index() {
    use fmn_core::data::{COMMITTERS, GROUP_OWNERS};
    let toml = r#"
[users.alice.channels.email]
addresses = ["alice@x"]
filters = [{ name = "owned", rules = [{ rule = "fedora::artifacts_owned", args = { users = ["alice", "team-bot"] } }] }]

[users.bob.channels.email]
addresses = ["bob@x"]
filters = [{ name = "followed", rules = [{ rule = "fedora::artifacts_followed", args = { artifacts = ["vim", "emacs"] } }] }]

[users.carol.channels.email]
addresses = ["carol@x"]
filters = [{ name = "group", rules = [{ rule = "fedora::artifacts_group_owned", args = { groups = ["games-sig"] } }] }]
"#;
    let p = plan(toml);
    assert_eq!(
        p.stats().unanchored,
        0,
        "every list-keyed filter is anchored"
    );
    let mut relations = fmn_core::Relations::new();
    relations.add(COMMITTERS, "nethack", ["team-bot".to_owned()]);
    relations.add(GROUP_OWNERS, "emacs", ["games-sig".to_owned()]);
    let relations = Arc::new(relations);
    let run = |msg: &str| {
        let mut e = Evaluator::new(ruleset(), p.clone(), relations.clone());
        let ev = e.evaluate(
            msg.as_bytes(),
            "org.fedoraproject.prod.buildsys.build.state.change",
        );
        let mut users: Vec<String> = ev
            .matches
            .iter()
            .map(|m| p.users[m.user as usize].name.clone())
            .collect();
        users.sort();
        users
    };
    assert_eq!(run(&koji("x", "nethack")), ["alice"]);
    assert_eq!(run(&koji("x", "vim")), ["bob"]);
    assert_eq!(run(&koji("x", "emacs")), ["bob", "carol"]);
    assert!(run(&koji("x", "gimp")).is_empty());

    let bad = Preferences::from_text(
        "bad.toml",
        r#"
[users.dave.channels.email]
addresses = ["dave@x"]
filters = [{ name = "f", rules = [{ rule = "fedora::artifacts_followed", args = { artifacts = "vim" } }] }]
"#,
        false,
    )
    .unwrap();
    let err = Plan::build(&ruleset(), &bad).unwrap_err();
    let text = format!("{err:?}");
    assert!(text.contains("artifacts_followed"), "{text}");
}

/// The alias table is data the host holds: a message naming someone by an old nick or an
/// email address reaches the account's filters; an address with no account reaches nobody.
#[test]
fn aliases_name_people_by_account() {
    use fmn_core::data::ALIASES;
    let toml = r#"
[users.ralph.channels.email]
addresses = ["ralph@x"]
filters = [{ name = "me", rules = [{ rule = "fedora::user_filter", args = { fasnick = "ralph" } }] }]

[users."stranger@example.org".channels.email]
addresses = ["s@x"]
filters = [{ name = "me", rules = [{ rule = "fedora::user_filter", args = { fasnick = "stranger@example.org" } }] }]
"#;
    let p = plan(toml);
    let run = |relations: fmn_core::Relations, msg: &str| {
        let mut e = Evaluator::new(ruleset(), p.clone(), Arc::new(relations));
        let ev = e.evaluate(
            msg.as_bytes(),
            "org.fedoraproject.prod.bodhi.update.comment",
        );
        ev.matches
            .iter()
            .map(|m| p.users[m.user as usize].name.clone())
            .collect::<Vec<_>>()
    };
    let mut aliases = fmn_core::Relations::new();
    aliases.add(ALIASES, "threebean", ["ralph".to_owned()]);
    assert_eq!(run(aliases.clone(), &bodhi_comment("threebean")), ["ralph"]);
    assert!(run(fmn_core::Relations::new(), &bodhi_comment("threebean")).is_empty());
    assert!(run(aliases, &bodhi_comment("stranger@example.org")).is_empty());
}

/// The preference files docs/preferences.md shows compile against the bundled module.
#[test]
fn documented_preferences_compile() {
    let doc = include_str!("../../docs/preferences.md");
    let mut blocks = 0;
    for block in doc.split("```toml\n").skip(1) {
        let toml = block.split("```").next().unwrap();
        let prefs = Preferences::from_text("docs/preferences.md", toml, false)
            .unwrap_or_else(|e| panic!("{e}\n{toml}"));
        Plan::build(&ruleset(), &prefs).unwrap_or_else(|e| panic!("{e:?}\n{toml}"));
        blocks += 1;
    }
    assert!(blocks >= 2, "{blocks} blocks");
}
