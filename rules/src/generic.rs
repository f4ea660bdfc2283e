//! Rules that apply to every message: topic, category, users, packages, groups, patterns.

use fmn_rules_sdk::{Args, Message, RuleDef, data, glob, rule, rules};
use serde::{Deserialize, Deserializer};

use crate::fmn2::list;
use crate::meta;

/// The generic rules.
pub(crate) const RULES: &[RuleDef] = rules![
    topic,
    category,
    user_filter,
    not_user_filter,
    fas_group_member_filter,
    user_package_filter,
    user_package_commit_filter,
    user_package_watch_filter,
    package_filter,
    package_regex_filter,
    regex_filter,
    trac_hosted_filter,
];

/// Arguments of `topic`.
#[derive(Debug, Deserialize, Args)]
pub struct TopicArgs {
    /// A glob: `*` matches any run of characters, dots included; `?` any one character.
    pub glob: String,
}

/// Messages whose topic matches a glob, e.g. `org.fedoraproject.*.bodhi.update.comment`.
#[rule]
fn topic(msg: &Message, args: &TopicArgs) -> bool {
    glob::matches(&args.glob, msg.topic())
}

/// Arguments of `category`.
#[derive(Debug, Deserialize, Args)]
pub struct CategoryArgs {
    /// The application, e.g. `buildsys`, `bodhi`, `pagure`.
    pub category: String,
}

/// Messages from one application: the topic's category, `buildsys` in
/// `org.fedoraproject.prod.buildsys.build.state.change`, `bodhi` in `bodhi.update.comment`.
#[rule]
fn category(msg: &Message, args: &CategoryArgs) -> bool {
    msg.category() == args.category
}

/// Arguments of the rules about one user.
#[derive(Debug, Deserialize, Args)]
pub struct UserArgs {
    /// The user's account name.
    pub fasnick: String,
}

/// Messages that involve a given user: the user is among the message's `usernames`.
#[rule(key(extractor = "usernames", arg = "fasnick"))]
fn user_filter(msg: &Message, args: &UserArgs) -> bool {
    meta::accounts(msg).contains(&args.fasnick)
}

/// Arguments of `not_user_filter`.
#[derive(Debug, Deserialize, Args)]
pub(crate) struct UsersArgs {
    /// Account names, comma-separated.
    pub fasnick: String,
}

/// Messages that involve none of the given users (comma-separated).
#[rule]
fn not_user_filter(msg: &Message, args: &UsersArgs) -> bool {
    let users = meta::accounts(msg);
    let mut nicks = list(&args.fasnick).peekable();
    nicks.peek().is_some() && nicks.all(|n| !users.contains(n))
}

/// Arguments of `fas_group_member_filter`.
#[derive(Debug, Deserialize, Args)]
pub(crate) struct GroupArgs {
    /// The group's name, e.g. `python-sig`.
    pub group: String,
}

/// Messages that involve any member of a group: one of the message's users belongs to it
/// (group membership is data the worker holds).
#[rule(key(extractor = "usernames", arg = "group", via = "groups"))]
fn fas_group_member_filter(msg: &Message, args: &GroupArgs) -> bool {
    meta::accounts(msg)
        .iter()
        .any(|u| data::related("groups", u).contains(&args.group))
}

fn related_user(msg: &Message, relation: &str, user: &str) -> bool {
    let groups = user_groups(relation, user);
    meta::packages(msg)
        .iter()
        .any(|p| data::related(relation, p).iter().any(|u| u == user) || owned_by_any(p, &groups))
}

/// The groups whose packages count as `user`'s for `relation`: Pagure gives packages to
/// groups (`@python-sig`), and FMN counted a group's packages as its members'. Watching is
/// personal, so no group counts for `watchers`.
pub(crate) fn user_groups(relation: &str, user: &str) -> Vec<String> {
    match relation {
        "packagers" | "committers" => data::related("groups", user),
        _ => Vec::new(),
    }
}

/// Whether one of `groups` owns package `p`.
pub(crate) fn owned_by_any(p: &str, groups: &[String]) -> bool {
    !groups.is_empty()
        && data::related("group-owners", p)
            .iter()
            .any(|g| groups.contains(g))
}

/// Messages about a user's packages: those where the user has any ACL, commit or watch, or
/// that a group of the user's owns (package ownership is data the worker holds).
#[rule(key(extractor = "packages", arg = "fasnick", via = "packagers"))]
fn user_package_filter(msg: &Message, args: &UserArgs) -> bool {
    related_user(msg, "packagers", &args.fasnick)
}

/// Messages about the packages where a user has commit access, themselves or through a group
/// of theirs.
#[rule(key(extractor = "packages", arg = "fasnick", via = "committers"))]
fn user_package_commit_filter(msg: &Message, args: &UserArgs) -> bool {
    related_user(msg, "committers", &args.fasnick)
}

/// Messages about the packages a user watches.
#[rule(key(extractor = "packages", arg = "fasnick", via = "watchers"))]
fn user_package_watch_filter(msg: &Message, args: &UserArgs) -> bool {
    related_user(msg, "watchers", &args.fasnick)
}

/// Arguments of `package_filter`.
#[derive(Debug, Deserialize, Args)]
pub struct PackageArgs {
    /// The package's name.
    pub package: String,
}

/// Messages that involve a given package: it is among the message's `packages`.
#[rule(key(extractor = "packages", arg = "package"))]
fn package_filter(msg: &Message, args: &PackageArgs) -> bool {
    meta::packages(msg).contains(&args.package)
}

/// A regular expression, compiled once when the rule is registered. Its compiled forms are
/// bounded (1 MiB each), so one user's pattern cannot take a worker's memory.
#[derive(Debug)]
pub(crate) struct Pattern(regex::Regex);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        regex::RegexBuilder::new(&text)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 20)
            .build()
            .map(Pattern)
            .map_err(|e| {
                serde::de::Error::custom(format!("{text:?} is not a regular expression: {e}"))
            })
    }
}

/// Arguments of the regular-expression rules.
#[derive(Debug, Deserialize, Args)]
pub(crate) struct PatternArgs {
    /// A regular expression, searched anywhere (e.g. `(maven|javapackages-tools)`).
    pub pattern: Pattern,
}

/// Messages about any package whose name matches a regular expression.
#[rule]
fn package_regex_filter(msg: &Message, args: &PatternArgs) -> bool {
    meta::packages(msg)
        .iter()
        .any(|p| args.pattern.0.is_match(p))
}

/// Messages whose body, as JSON, contains a match of a regular expression.
#[rule]
fn regex_filter(msg: &Message, args: &PatternArgs) -> bool {
    args.pattern.0.is_match(msg.body_json())
}

/// Arguments of `trac_hosted_filter`.
#[derive(Debug, Deserialize, Args)]
pub(crate) struct ProjectArgs {
    /// fedorahosted project names, comma-separated.
    pub project: String,
}

/// Messages about particular fedorahosted.org projects (by their link).
#[rule(topics = ["*trac.*"])]
fn trac_hosted_filter(msg: &Message, args: &ProjectArgs) -> bool {
    let Some(link) = meta::link(msg) else {
        return false;
    };
    list(&args.project).any(|p| link.contains(&format!("://fedorahosted.org/{p}/")))
}
