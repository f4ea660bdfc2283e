//! Nagios, Fedora Infrastructure's service monitoring.

use fmn_rules_sdk::{Message, RuleDef, rule, rules};

use super::is;

/// The rules that look inside the message.
pub const RULES: &[RuleDef] = rules![nagios_catchall];

/// Nagios: every notification about the health of Fedora Infrastructure's services.
#[rule(topics = ["*nagios.*"])]
pub fn nagios_catchall(msg: &Message) -> bool {
    is(msg, "nagios")
}
