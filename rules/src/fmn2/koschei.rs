//! Koschei, continuous rebuilds of packages.

use fmn_rules_sdk::{Args, Message, RuleDef, rule, rules, topic_rules};
use serde::Deserialize;

use super::list;

topic_rules! {
    /// The rules answered from the topic alone.
    pub const TOPIC: {
        /// Koschei: the build or resolution state of a package changes.
        koschei_package_state_change => ["*koschei.package.state.change"],
    }
}

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![koschei_group];

/// Arguments of `koschei_group`.
#[derive(Debug, Deserialize, Args)]
pub struct GroupsArgs {
    /// Koschei package groups, comma-separated.
    pub group: String,
}

/// Koschei: messages about packages of particular Koschei groups.
#[rule(topics = ["*koschei*"])]
pub fn koschei_group(msg: &Message, args: &GroupsArgs) -> bool {
    if !msg.topic().contains("koschei") {
        return false;
    }
    let Some(groups) = msg.get(&["groups"]).and_then(|g| g.as_array()) else {
        return false;
    };
    list(&args.group).any(|g| groups.iter().any(|x| x.as_str() == Some(g)))
}
