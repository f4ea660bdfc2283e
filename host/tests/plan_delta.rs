//! A plan changed user by user ([`Plan::apply`]) evaluates as the plan built whole from the
//! same preferences, on every message of the bundled corpus, through random sequences of
//! changes; and an evaluator moved along the changes ([`Evaluator::advance`]) answers as a new
//! one.

use std::collections::BTreeSet;
use std::sync::Arc;

use fmn_core::data::PACKAGERS;
use fmn_core::prefs::User;
use fmn_core::{Preferences, Relations};
use fmn_host::{Evaluator, Plan, RuleSet};
use serde_json::{Value, json};

mod common;

use common::{messages, ruleset};

/// The usernames and packages the corpus mentions, as the module extracts them.
fn mentioned(rs: &Arc<RuleSet>, messages: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let plan = Arc::new(Plan::empty(rs));
    let mut e = Evaluator::new(rs.clone(), plan, Default::default());
    let (mut users, mut packages) = (BTreeSet::new(), BTreeSet::new());
    for (json, topic) in messages {
        let meta = e.evaluate(json.as_bytes(), topic).meta;
        users.extend(meta.usernames);
        packages.extend(meta.packages);
    }
    (users.into_iter().collect(), packages.into_iter().collect())
}

/// A small deterministic generator (xorshift*), so that a failure can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What users are made of: corpus names and packages, and filters some users share.
struct World {
    names: Vec<String>,
    packages: Vec<String>,
    shared: Vec<Value>,
}

impl World {
    fn rule(&self, rng: &mut Rng) -> Value {
        let name = rng.pick(&self.names).clone();
        let package = rng.pick(&self.packages).clone();
        let prefix: String = package.chars().take(2).collect();
        let (rule, args) = match rng.below(10) {
            0 => ("user_filter", json!({ "fasnick": name })),
            1 => ("user_package_filter", json!({ "fasnick": name })),
            2 => ("package_filter", json!({ "package": package })),
            3 => (
                "package_regex_filter",
                json!({ "pattern": format!("^{prefix}") }),
            ),
            4 => (
                "topic",
                json!({ "glob": rng.pick(&["*koji*", "*bodhi*", "*git*"]) }),
            ),
            5 => (
                "category",
                json!({ "category": rng.pick(&["bodhi", "buildsys", "git"]) }),
            ),
            6 => ("koji_build_failed", json!({})),
            7 => ("bodhi_catchall", json!({})),
            8 => (
                "taskotron_task_particular_or_changed_outcome",
                json!({ "outcome": "FAILED" }),
            ),
            _ => ("git_catchall", json!({})),
        };
        json!({ "rule": format!("fedora::{rule}"), "args": args, "negated": rng.chance(20) })
    }

    fn filter(&self, rng: &mut Rng, i: usize) -> Value {
        let mut f = if rng.chance(30) {
            rng.pick(&self.shared).clone()
        } else {
            let rules: Vec<Value> = (0..1 + rng.below(3)).map(|_| self.rule(rng)).collect();
            json!({ "name": format!("f{i}"), "rules": rules })
        };
        f["active"] = json!(rng.chance(90));
        f["oneshot"] = json!(rng.chance(20));
        f
    }

    fn user(&self, rng: &mut Rng, name: &str) -> User {
        let mut channels = serde_json::Map::new();
        for kind in ["email", "irc"] {
            if rng.chance(25) {
                continue;
            }
            let filters: Vec<Value> = (0..rng.below(4)).map(|i| self.filter(rng, i)).collect();
            let mut ch = json!({
                "enabled": rng.chance(85),
                "addresses": [format!("{name}-{kind}")],
                "filters": filters,
            });
            if rng.chance(20) {
                ch["digest"] = json!({ "max_count": 5 });
            }
            channels.insert(kind.to_owned(), ch);
        }
        serde_json::from_value(json!({ "channels": channels })).unwrap()
    }
}

fn world(rs: &Arc<RuleSet>, messages: &[(String, String)]) -> (World, Relations) {
    let (mut names, mut packages) = mentioned(rs, messages);
    names.truncate(40);
    packages.truncate(40);
    let mut relations = Relations::new();
    for (i, p) in packages.iter().enumerate() {
        relations.add(PACKAGERS, p, [names[i % names.len()].clone()]);
    }
    let mut rng = Rng(7);
    let mut shared: Vec<Value> = fmn_core::presets::fmn_defaults(&names[0])
        .into_iter()
        .map(|f| serde_json::to_value(f).unwrap())
        .collect();
    let partial = World {
        names: names.clone(),
        packages: packages.clone(),
        shared: Vec::new(),
    };
    shared.extend((0..3).map(|i| {
        let rules: Vec<Value> = (0..2).map(|_| partial.rule(&mut rng)).collect();
        json!({ "name": format!("shared{i}"), "rules": rules })
    }));
    let w = World {
        names,
        packages,
        shared,
    };
    (w, relations)
}

/// Each match as (user, channel, filter, one-shot, addresses, digest), sorted.
fn named(plan: &Plan, e: &mut Evaluator, json: &str, topic: &str) -> Vec<String> {
    let ev = e.evaluate(json.as_bytes(), topic);
    let mut out: Vec<String> = ev
        .matches
        .iter()
        .map(|m| {
            let u = &plan.users[m.user as usize];
            let c = &u.channels[m.channel as usize];
            format!(
                "{} {} {} {} {:?} {:?}",
                u.name,
                c.kind,
                plan.filter_name(m.user, m.channel, m.filter),
                plan.filter_oneshot(m.user, m.channel, m.filter),
                c.addresses,
                c.digest
            )
        })
        .collect();
    out.sort();
    out
}

/// Every corpus message evaluates alike with `changed` (by the evaluator moved along) and
/// with the plan built whole from `prefs`.
fn assert_same(
    rs: &Arc<RuleSet>,
    relations: &Arc<Relations>,
    messages: &[(String, String)],
    changed: (&Plan, &mut Evaluator),
    prefs: &Preferences,
    step: usize,
) {
    let full = Arc::new(Plan::build(rs, prefs).unwrap());
    let mut fresh = Evaluator::new(rs.clone(), full.clone(), relations.clone());
    let (plan, moved) = changed;
    for (i, (json, topic)) in messages.iter().enumerate() {
        assert_eq!(
            named(plan, moved, json, topic),
            named(&full, &mut fresh, json, topic),
            "step {step}, message {i} ({topic})"
        );
    }
    let (a, b) = (plan.stats(), full.stats());
    assert_eq!(
        (a.users, a.shapes, a.unanchored),
        (b.users, b.shapes, b.unanchored),
        "step {step}"
    );
}

#[test]
fn changes_applied_user_by_user_evaluate_as_a_whole_build() {
    let rs = ruleset();
    let messages = messages();
    assert!(messages.len() > 500, "{} messages", messages.len());
    let (world, relations) = world(&rs, &messages);
    let relations = Arc::new(relations);
    let mut notified = 0usize;
    for seed in [1u64, 2, 3] {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let pool: Vec<String> = (0..30)
            .map(|i| match i % 3 {
                0 => world.names[i % world.names.len()].clone(),
                _ => format!("u{i}"),
            })
            .collect();
        let mut prefs = Preferences::default();
        for name in pool.iter().take(12) {
            prefs.users.insert(name.clone(), world.user(&mut rng, name));
        }
        let mut plan = Arc::new(Plan::build(&rs, &prefs).unwrap());
        let mut moved = Evaluator::new(rs.clone(), plan.clone(), relations.clone());
        for step in 0..12 {
            let mut changes: Vec<(String, Option<User>)> = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let name = rng.pick(&pool).clone();
                if changes.iter().any(|(n, _)| *n == name) {
                    continue;
                }
                let user = (!rng.chance(20)).then(|| world.user(&mut rng, &name));
                changes.push((name, user));
            }
            for (name, user) in &changes {
                match user {
                    Some(u) => prefs.users.insert(name.clone(), u.clone()),
                    None => prefs.users.remove(name),
                };
            }
            let applied = plan.apply(&rs, changes.iter().map(|(n, u)| (n.as_str(), u.as_ref())));
            assert!(applied.problems.is_empty(), "{:?}", applied.problems);
            plan = Arc::new(applied.plan);
            assert!(moved.advance(&rs, plan.clone(), relations.clone()));
            assert_same(
                &rs,
                &relations,
                &messages,
                (&plan, &mut moved),
                &prefs,
                step,
            );
            notified += messages
                .iter()
                .map(|(j, t)| moved.evaluate(j.as_bytes(), t).matches.len())
                .sum::<usize>();
        }
    }
    // The users generated do receive something: the comparison is not between empty answers.
    assert!(notified > 1000, "{notified} notifications");
}

fn user(toml_filters: &str) -> User {
    let text = format!(
        "[users.x.channels.email]\naddresses = [\"x@example.org\"]\nfilters = [{toml_filters}]\n"
    );
    let prefs = Preferences::from_text("t.toml", &text, false).unwrap();
    prefs.users["x"].clone()
}

#[test]
fn a_change_that_does_not_compile_leaves_its_user_as_before_and_the_others_apply() {
    let rs = ruleset();
    let failed = r#"{ name = "failed", rules = [{ rule = "fedora::koji_build_failed" }] }"#;
    let mine = r#"{ name = "mine", rules = [{ rule = "fedora::user_filter", args = { fasnick = "ralph" } }] }"#;
    let mut prefs = Preferences::default();
    prefs.users.insert("ann".into(), user(failed));
    prefs.users.insert("bob".into(), user(failed));
    let plan = Plan::build(&rs, &prefs).unwrap();

    // Bob's new filter names a rule that does not exist, and one whose argument the module
    // refuses; Ann and Cid's changes are fine.
    let bad = user(
        r#"{ name = "typo", rules = [{ rule = "fedora::user_filtr", args = { fasnick = "bob" } }] },
           { name = "list", rules = [{ rule = "fedora::package_regex_filter", args = { pattern = "(" } }] }"#,
    );
    let (ann, cid) = (user(mine), user(mine));
    let changes = [
        ("ann", Some(&ann)),
        ("bob", Some(&bad)),
        ("cid", Some(&cid)),
    ];
    let applied = plan.apply(&rs, changes);
    assert_eq!(applied.problems.len(), 2, "{:?}", applied.problems);
    for p in &applied.problems {
        let text = p.to_string();
        assert!(text.contains("user \"bob\""), "{text}");
        assert!(text.contains("filter"), "{text}");
    }
    assert!(applied.problems[0].to_string().contains("user_filtr"));
    assert!(
        applied.problems[1]
            .to_string()
            .contains("package_regex_filter")
    );

    // As if built whole with Bob's previous preferences.
    prefs.users.insert("ann".into(), ann);
    prefs.users.insert("cid".into(), cid);
    let full = Plan::build(&rs, &prefs).unwrap();
    let msg = fmn_rules_sdk::testing::envelope(
        r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": "1",
            "msg": {"owner": "ralph", "name": "nethack", "new": 3}}"#,
    )
    .unwrap();
    let topic = "org.fedoraproject.prod.buildsys.build.state.change";
    let relations = Arc::new(Relations::new());
    let changed = applied.plan;
    let mut a = Evaluator::new(rs.clone(), Arc::new(changed.clone()), relations.clone());
    let mut b = Evaluator::new(rs.clone(), Arc::new(full.clone()), relations);
    let got = named(&changed, &mut a, &msg, topic);
    assert_eq!(got, named(&full, &mut b, &msg, topic));
    assert_eq!(
        got.iter()
            .map(|m| m.split(' ').take(3).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>(),
        ["ann email mine", "bob email failed", "cid email mine"]
    );
}
