//! Whole compiles read a user at a time ([`PrefsSource`]): from a JSON file, they make a plan
//! that evaluates as the one built from the whole preferences; onto the plan before (a whole
//! import reaching a worker), users whose new preferences do not compile keep theirs, and
//! users no longer there are taken out.

use std::sync::Arc;

use fmn_core::{Preferences, Relations};
use fmn_host::prefs_source::Compiled;
use fmn_host::{Evaluator, Plan, PrefsSource, RuleSet};

mod common;

use common::{messages, ruleset};

/// A source of preferences not kept in a store.
type Source = PrefsSource<fmn_transport::MemoryTransport>;

/// A user with one email filter of `rules` (TOML inline tables).
fn user_toml(name: &str, rules: &str) -> String {
    format!(
        "[users.{name}.channels.email]\naddresses = [\"{name}@example.org\"]\n\
         filters = [{{ name = \"f\", rules = [{rules}] }}]\n"
    )
}

fn prefs(text: &str) -> Preferences {
    Preferences::from_text("t.toml", text, false).unwrap()
}

/// Who each corpus message reaches, and by which filter, for every message.
fn reached(rs: &Arc<RuleSet>, plan: Plan) -> Vec<Vec<String>> {
    let plan = Arc::new(plan);
    let mut e = Evaluator::new(rs.clone(), plan.clone(), Arc::new(Relations::new()));
    messages()
        .iter()
        .map(|(json, topic)| {
            let mut names: Vec<String> = e
                .evaluate(json.as_bytes(), topic)
                .matches
                .iter()
                .map(|m| {
                    let u = &plan.users[m.user as usize];
                    format!(
                        "{} {}",
                        u.name,
                        plan.filter_name(m.user, m.channel, m.filter)
                    )
                })
                .collect();
            names.sort();
            names
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_json_file_compiled_a_user_at_a_time_evaluates_as_the_whole_build() {
    let rs = ruleset();
    let mut text = String::new();
    for (i, topic) in ["*bodhi*", "*koji*", "*copr*", "*pagure*", "*"]
        .iter()
        .enumerate()
    {
        text.push_str(&user_toml(
            &format!("u{i}"),
            &format!("{{ rule = \"fedora::topic\", args = {{ glob = \"{topic}\" }} }}"),
        ));
        text.push_str(&user_toml(
            &format!("v{i}"),
            "{ rule = \"fedora::user_filter\", args = { fasnick = \"ralph\" } }, \
             { rule = \"fedora::bodhi_catchall\", negated = true }",
        ));
    }
    let whole = prefs(&text);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prefs.json");
    std::fs::write(&path, serde_json::to_string(&whole).unwrap()).unwrap();

    let compiled = runtime()
        .block_on(Source::File(path).compile(rs.clone(), None))
        .unwrap();
    assert!(compiled.problems.is_empty(), "{:?}", compiled.problems);
    assert_eq!(compiled.users, 10);
    let want = reached(&rs, Plan::build(&rs, &whole).unwrap());
    assert!(
        want.iter().any(|r| !r.is_empty()),
        "the corpus reaches someone"
    );
    assert_eq!(reached(&rs, compiled.plan), want);
}

#[test]
fn a_whole_import_onto_the_plan_keeps_users_at_fault_and_takes_out_the_users_gone() {
    let rs = ruleset();
    let topic =
        |glob: &str| format!("{{ rule = \"fedora::topic\", args = {{ glob = \"{glob}\" }} }}");
    let before = prefs(
        &[
            user_toml("alice", &topic("*bodhi*")),
            user_toml("bob", &topic("*koji*")),
            user_toml("dave", &topic("*")),
        ]
        .concat(),
    );
    let plan = Arc::new(Plan::build(&rs, &before).unwrap());
    // Alice changes, bob's new preferences name a rule that does not exist, dave is gone and
    // carol is new.
    let imported = prefs(
        &[
            user_toml("alice", &topic("*copr*")),
            user_toml("bob", "{ rule = \"fedora::no_such_rule\" }"),
            user_toml("carol", &topic("*pagure*")),
        ]
        .concat(),
    );
    let source = Source::Given(Arc::new(imported));
    let compiled = runtime()
        .block_on(source.compile(rs.clone(), Some(plan)))
        .unwrap();
    assert_eq!(at_fault(&compiled), ["bob"], "{:?}", compiled.problems);

    let expected = prefs(
        &[
            user_toml("alice", &topic("*copr*")),
            user_toml("bob", &topic("*koji*")),
            user_toml("carol", &topic("*pagure*")),
        ]
        .concat(),
    );
    let want = reached(&rs, Plan::build(&rs, &expected).unwrap());
    for who in ["alice", "bob", "carol"] {
        assert!(
            want.iter().flatten().any(|r| r.starts_with(who)),
            "the corpus reaches {who}"
        );
    }
    assert_eq!(reached(&rs, compiled.plan), want);
}

#[test]
fn a_file_read_onto_the_plan_keeps_a_user_whose_entry_has_a_structural_problem() {
    let rs = ruleset();
    let topic =
        |glob: &str| format!("{{ rule = \"fedora::topic\", args = {{ glob = \"{glob}\" }} }}");
    let before = prefs(
        &[
            user_toml("alice", &topic("*bodhi*")),
            user_toml("bob", &topic("*koji*")),
        ]
        .concat(),
    );
    let plan = Arc::new(Plan::build(&rs, &before).unwrap());
    // Bob's new entry has an active filter on an enabled channel and no address: the file
    // reader keeps it back, so bob must keep his previous preferences, not be taken out.
    let json = serde_json::json!({"users": {
        "alice": serde_json::to_value(&prefs(&user_toml("alice", &topic("*copr*"))).users["alice"]).unwrap(),
        "bob": {"channels": {"email": {"addresses": [], "filters": [
            {"name": "f", "rules": [{"rule": "fedora::topic", "args": {"glob": "*"}}]}]}}},
    }});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prefs.json");
    std::fs::write(&path, json.to_string()).unwrap();
    let compiled = runtime()
        .block_on(Source::File(path).compile(rs.clone(), Some(plan)))
        .unwrap();
    assert_eq!(at_fault(&compiled), ["bob"], "{:?}", compiled.problems);
    let expected = prefs(
        &[
            user_toml("alice", &topic("*copr*")),
            user_toml("bob", &topic("*koji*")),
        ]
        .concat(),
    );
    let want = reached(&rs, Plan::build(&rs, &expected).unwrap());
    assert!(
        want.iter().flatten().any(|r| r.starts_with("bob")),
        "the corpus reaches bob"
    );
    assert_eq!(reached(&rs, compiled.plan), want);
}

/// The users whose preferences the compile refused.
fn at_fault(compiled: &Compiled) -> Vec<&str> {
    compiled
        .problems
        .iter()
        .map(|p| p.location.user.as_str())
        .collect()
}
