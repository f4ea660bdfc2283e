//! Rules that apply to every message: topic, category, users and packages involved.

use fmn_rules_sdk::{Args, Message, glob, rule};
use serde::Deserialize;

use crate::meta;

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

/// Arguments of `user_filter`.
#[derive(Debug, Deserialize, Args)]
pub struct UserArgs {
    /// The user's account name.
    pub fasnick: String,
}

/// Messages that involve a given user (FMN's `user_filter`): the user is among the message's
/// `usernames`.
#[rule(key(extractor = "usernames", arg = "fasnick"))]
fn user_filter(msg: &Message, args: &UserArgs) -> bool {
    meta::usernames(msg).contains(&args.fasnick)
}

/// Arguments of `package_filter`.
#[derive(Debug, Deserialize, Args)]
pub struct PackageArgs {
    /// The package's name.
    pub package: String,
}

/// Messages that involve a given package (FMN's `package_filter`): the package is among the
/// message's `packages`.
#[rule(key(extractor = "packages", arg = "package"))]
fn package_filter(msg: &Message, args: &PackageArgs) -> bool {
    meta::packages(msg).contains(&args.package)
}
