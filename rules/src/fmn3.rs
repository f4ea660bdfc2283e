//! FMN 3's tracking rules and filters, under FMN 3's names (`-` written `_`), with list
//! arguments as FMN 3 takes them: any item of the list matches.
//!
//! FMN 3 gave every rule one tracking rule (owned artifacts, followed artifacts, events about
//! me, followed users) and filters (applications, severities, my actions, topic). Here each is
//! a rule like any other, AND-ed in a filter; an exclusion is the rule with `negated = true`
//! (for example `applications` negated leaves those applications out, and `my_actions`
//! negated leaves out what the user did themselves, as FMN 3 did by default). The topic glob
//! is the generic `topic` rule.

use fmn_rules_sdk::{Args, Message, RuleDef, data, rule, rules};
use serde::Deserialize;

use crate::meta;

/// FMN 3's rules.
pub const RULES: &[RuleDef] = rules![
    artifacts_owned,
    artifacts_group_owned,
    artifacts_followed,
    related_events,
    users_followed,
    applications,
    severities,
    my_actions,
];

/// Arguments naming users.
#[derive(Debug, Deserialize, Args)]
pub struct UsersArgs {
    /// Account names.
    pub users: Vec<String>,
}

/// Arguments of `artifacts_group_owned`.
#[derive(Debug, Deserialize, Args)]
pub struct GroupsArgs {
    /// Group names, e.g. `python-packagers-sig`.
    pub groups: Vec<String>,
}

/// Arguments of `artifacts_followed`.
#[derive(Debug, Deserialize, Args)]
pub struct ArtifactsArgs {
    /// Names of packages, containers, modules or flatpaks.
    pub artifacts: Vec<String>,
}

/// Arguments of `related_events` and `my_actions`.
#[derive(Debug, Deserialize, Args)]
pub struct MeArgs {
    /// The user's account name.
    pub fasnick: String,
}

/// Arguments of `applications`.
#[derive(Debug, Deserialize, Args)]
pub struct ApplicationsArgs {
    /// Application names, e.g. `bodhi`, `koji`, `pagure`, `copr` (case does not matter).
    pub applications: Vec<String>,
}

/// Arguments of `severities`.
#[derive(Debug, Deserialize, Args)]
pub struct SeveritiesArgs {
    /// Levels: `debug`, `info`, `warning`, `error`.
    pub severities: Vec<String>,
}

fn owned_through(msg: &Message, relation: &str, wanted: &[String]) -> bool {
    let groups: Vec<String> = wanted
        .iter()
        .flat_map(|u| crate::generic::user_groups(relation, u))
        .collect();
    meta::packages(msg).iter().any(|p| {
        data::related(relation, p)
            .iter()
            .any(|o| wanted.contains(o))
            || crate::generic::owned_by_any(p, &groups)
    })
}

/// Messages about artifacts (packages, containers, modules, flatpaks) that any of the given
/// users owns, that is can commit to (ownership is data the worker holds).
#[rule(key(extractor = "packages", arg = "users", via = "committers"))]
fn artifacts_owned(msg: &Message, args: &UsersArgs) -> bool {
    owned_through(msg, "committers", &args.users)
}

/// Messages about artifacts that any of the given groups owns (`@group` entries of Pagure's
/// owner-alias data).
#[rule(key(extractor = "packages", arg = "groups", via = "group-owners"))]
fn artifacts_group_owned(msg: &Message, args: &GroupsArgs) -> bool {
    owned_through(msg, "group-owners", &args.groups)
}

/// Messages about any of the named artifacts.
#[rule(key(extractor = "packages", arg = "artifacts"))]
fn artifacts_followed(msg: &Message, args: &ArtifactsArgs) -> bool {
    meta::packages(msg)
        .iter()
        .any(|p| args.artifacts.iter().any(|a| a == p))
}

/// Messages about the user: they are among the message's `usernames`.
#[rule(key(extractor = "usernames", arg = "fasnick"))]
fn related_events(msg: &Message, args: &MeArgs) -> bool {
    meta::accounts(msg).contains(&args.fasnick)
}

/// Messages about what any of the given users did: the message's agent is one of them.
#[rule]
fn users_followed(msg: &Message, args: &UsersArgs) -> bool {
    agent_account(msg).is_some_and(|a| args.users.contains(&a))
}

/// Messages that the user caused themselves: the message's agent is `fasnick`. Negate it to
/// leave your own actions out.
#[rule]
fn my_actions(msg: &Message, args: &MeArgs) -> bool {
    agent_account(msg).is_some_and(|a| a == args.fasnick)
}

/// The agent's account, as `meta::accounts` names people.
fn agent_account(msg: &Message) -> Option<String> {
    meta::account(&meta::agent(msg)?).map(str::to_owned)
}

/// The names an application goes by: its topic category, and the name its message schemas
/// give it where that differs.
fn application_names(category: &str) -> &'static [&'static str] {
    match category {
        "buildsys" => &["koji", "buildsys"],
        "fedbadges" | "badges" => &["fedbadges", "badges", "tahrir"],
        "hotness" => &["the new hotness", "hotness", "the-new-hotness"],
        "fas" | "ipa" => &["fas", "ipa", "fasjson", "noggin"],
        "git" => &["git", "dist-git", "distgit"],
        "meetbot" => &["meetbot", "zodbot"],
        _ => &[],
    }
}

/// Messages from any of the given applications (`koji` or `buildsys`, `bodhi`, `pagure`,
/// `copr`, ...): the topic's category, or the name the application's message schemas use
/// (the `app_name` extractor), in any case.
#[rule]
fn applications(msg: &Message, args: &ApplicationsArgs) -> bool {
    let category = msg.category();
    let names = application_names(category);
    let app = meta::app_name(msg).map(|a| a.to_ascii_lowercase());
    args.applications.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == category || names.contains(&a.as_str()) || app.as_deref() == Some(a.as_str())
    })
}

/// The message's severity: the `fedora_messaging_severity` header (10 debug, 20 info, 30
/// warning, 40 error); info when it has none, as fedora-messaging's default.
fn severity(msg: &Message) -> &'static str {
    match msg
        .header("fedora_messaging_severity")
        .and_then(serde_json::Value::as_i64)
    {
        Some(10) => "debug",
        Some(30) => "warning",
        Some(40) => "error",
        _ => "info",
    }
}

/// Messages of any of the given severities: `debug`, `info`, `warning`, `error` (info when the
/// message states none).
#[rule]
fn severities(msg: &Message, args: &SeveritiesArgs) -> bool {
    let s = severity(msg);
    args.severities.iter().any(|l| l.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use fmn_rules_sdk::testing::check_samples;

    use super::*;
    use crate::MODULE;

    fn matches(rule: &str, args: &str, message: &str) -> bool {
        let idx = MODULE.rule_index(rule).unwrap();
        let def = MODULE.rule(idx).unwrap();
        let prepared = (def.prepare)(args.as_bytes()).unwrap();
        let json = fmn_rules_sdk::testing::envelope(message).unwrap();
        let msg = Message::parse(&json).unwrap();
        (def.eval)(&msg, prepared.as_ref()).unwrap()
    }

    const BUILD: &str = r#"{"topic": "org.fedoraproject.prod.buildsys.build.state.change",
        "body": {"name": "nethack", "version": "1", "release": "1.fc41", "owner": "ralph",
                 "new": 1, "old": 0, "build_id": 1, "instance": "primary"}}"#;
    const WARNING: &str = r#"{"topic": "org.fedoraproject.prod.copr.build.end",
        "headers": {"fedora_messaging_severity": 30},
        "body": {"agent": "bob", "user": "bob", "copr": "x", "build": 1, "status": 0, "chroot": "fedora-rawhide-x86_64",
                 "pkg": "nethack", "owner": "bob", "what": "build end"}}"#;

    #[test]
    fn ownership_and_following() {
        data::set_relation(
            "committers",
            HashMap::from([("nethack".to_owned(), vec!["ralph".to_owned()])]),
        );
        data::set_relation(
            "group-owners",
            HashMap::from([("nethack".to_owned(), vec!["games-sig".to_owned()])]),
        );
        assert!(matches(
            "artifacts_owned",
            r#"{"users": ["carol", "ralph"]}"#,
            BUILD
        ));
        assert!(!matches(
            "artifacts_owned",
            r#"{"users": ["carol"]}"#,
            BUILD
        ));
        assert!(matches(
            "artifacts_group_owned",
            r#"{"groups": ["games-sig"]}"#,
            BUILD
        ));
        assert!(matches(
            "artifacts_followed",
            r#"{"artifacts": ["vim", "nethack"]}"#,
            BUILD
        ));
        assert!(!matches(
            "artifacts_followed",
            r#"{"artifacts": []}"#,
            BUILD
        ));
        assert!(matches("related_events", r#"{"fasnick": "ralph"}"#, BUILD));
    }

    #[test]
    fn filters() {
        assert!(matches(
            "applications",
            r#"{"applications": ["Koji"]}"#,
            BUILD
        ));
        assert!(matches(
            "applications",
            r#"{"applications": ["buildsys"]}"#,
            BUILD
        ));
        assert!(!matches(
            "applications",
            r#"{"applications": ["bodhi"]}"#,
            BUILD
        ));
        assert!(matches("severities", r#"{"severities": ["info"]}"#, BUILD));
        assert!(matches(
            "severities",
            r#"{"severities": ["warning", "error"]}"#,
            WARNING
        ));
        assert!(!matches(
            "severities",
            r#"{"severities": ["info"]}"#,
            WARNING
        ));
        assert!(matches("users_followed", r#"{"users": ["bob"]}"#, WARNING));
        assert!(matches("my_actions", r#"{"fasnick": "bob"}"#, WARNING));
        assert!(!matches("my_actions", r#"{"fasnick": "ralph"}"#, WARNING));
    }

    #[test]
    fn samples_hold() {
        check_samples(&MODULE).unwrap();
    }
}
