//! FMN's default filters, on real corpus messages, through the bundled wasm module.
//!
//! The corpus has no koji build of nethack, so the user here owns the packages of the corpus'
//! real koji and bodhi messages: ralph, owner of eclipse-ptp, 64tass and fedmsg.

use std::sync::Arc;

use fmn_core::data::PACKAGERS;
use fmn_core::prefs::{Channel, Preferences, User};
use fmn_core::{ChannelKind, Envelope, Relations};
use fmn_host::{Evaluator, LoadedModule, Plan, RuleSet, Sandbox, SandboxConfig, WasmModule};

use crate::support::fixture;
use crate::support::fixtures::BUNDLED;

/// The bench corpus message with this id.
fn message(id: &str) -> Envelope {
    fixture("bench_messages.jsonl")
        .lines()
        .map(|l| Envelope::from_bus_json(l.as_bytes(), 1 << 20).unwrap())
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no message {id} in the corpus"))
}

/// Which of ralph's filters the message triggers, by channel.
fn notified(evaluator: &mut Evaluator, plan: &Plan, id: &str) -> Vec<(ChannelKind, String)> {
    let env = message(id);
    let ev = evaluator.evaluate(env.rules_json().as_bytes(), &env.topic);
    assert!(
        ev.failures.is_empty() && ev.rule_errors.is_empty(),
        "{:?} {:?}",
        ev.failures,
        ev.rule_errors
    );
    ev.matches
        .iter()
        .map(|m| {
            let c = &plan.users[m.user as usize].channels[m.channel as usize];
            (c.kind, c.filters[m.filter as usize].clone())
        })
        .collect()
}

#[test]
fn fmn_defaults_on_real_messages() {
    let mut user = User::default();
    for (kind, address) in [
        (ChannelKind::Email, "ralph@example.org"),
        (ChannelKind::Irc, "ralph"),
    ] {
        user.channels.insert(
            kind,
            Channel {
                enabled: true,
                addresses: vec![address.into()],
                digest: None,
                filters: fmn_core::presets::fmn_defaults("ralph"),
            },
        );
    }
    let mut prefs = Preferences::default();
    prefs.users.insert("ralph".into(), user);
    let mut owners = Relations::new();
    for package in ["eclipse-ptp", "64tass", "fedmsg"] {
        owners.add(PACKAGERS, package, ["ralph".to_owned()]);
    }
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let module = LoadedModule::wasm(WasmModule::from_bytes(&sandbox, BUNDLED, "bundled").unwrap());
    let ruleset = Arc::new(RuleSet::new(1, vec![module]).unwrap());
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let mut e = Evaluator::new(ruleset, plan.clone(), Arc::new(owners));
    let both = |filter: &str| {
        vec![
            (ChannelKind::Email, filter.to_owned()),
            (ChannelKind::Irc, filter.to_owned()),
        ]
    };

    // rmattes' failed koji build of eclipse-ptp, on the primary koji: one of ralph's packages.
    assert_eq!(
        notified(&mut e, &plan, "2013-573a5d07-e8b8-526d-b720-500119748c7f"),
        both("Events on packages that I own")
    );
    // The same failure on the ppc secondary koji, and sharkcz's on s390: secondary kojis are
    // left out (FMN's default leaves out arm the same way).
    assert!(notified(&mut e, &plan, "2013-85481292-171c-55df-bab8-dfc060a09b1c").is_empty());
    assert!(notified(&mut e, &plan, "2015-e3483831-5f88-401b-b20d-05537e6a010d").is_empty());
    // ralph's own comment on his fedmsg update: his own bodhi activity is left out.
    assert!(notified(&mut e, &plan, "2012-0a319fe8-eaa3-560d-a2e3-2fbab3f29b31").is_empty());
    // ralph starting a build: builds starting are left out.
    assert!(notified(&mut e, &plan, "2013-78e9d57d-3dbe-54bd-8ea5-8e794ea9b595").is_empty());
    // jcline's completed build of fedmsg: ralph's package, someone else.
    assert_eq!(
        notified(&mut e, &plan, "2017-7c65d9ff-85c0-42bb-8288-9b6112cb3da2"),
        both("Events on packages that I own")
    );
}
