//! FMN 2's preferences, as its API exported them per user, made into ours.
//!
//! FMN 2 served a user's preferences as a JSON list with one object per context (`email`,
//! `irc`, `android`, `sse`, ...): `{"context": {"name"}, "user": {"openid"}, "enabled",
//! "detail_values": [addresses], "batch_count", "batch_delta", "filters": [{"name", "oneshot",
//! "rules": [{"code_path": "fmn.rules:NAME", "arguments": {...}, "negated"}]}]}` (its export
//! holds active filters only). The rules of `fmn.rules` are the bundled module's rules of the
//! same name: `fmn.rules:user_filter` becomes `fedora::user_filter`, with the same arguments.

use std::time::Duration;

use serde::Deserialize;

use crate::channel::ChannelKind;
use crate::prefs::{Channel, Digest, Filter, PrefsError, RuleRef, User};

/// The module FMN 2's `fmn.rules` live on in.
pub const FMN_RULES_MODULE: &str = "fedora";

#[derive(Deserialize)]
#[serde(untagged)]
enum Export {
    Many(Vec<FmnPreference>),
    One(Box<FmnPreference>),
}

#[derive(Deserialize)]
struct FmnPreference {
    context: FmnContext,
    user: FmnUser,
    #[serde(default)]
    enabled: bool,
    #[serde(default)]
    detail_values: Vec<String>,
    #[serde(default)]
    batch_count: Option<u32>,
    #[serde(default)]
    batch_delta: Option<u64>,
    #[serde(default)]
    filters: Vec<FmnFilter>,
}

#[derive(Deserialize)]
struct FmnContext {
    name: String,
}

#[derive(Deserialize)]
struct FmnUser {
    openid: String,
}

#[derive(Deserialize)]
struct FmnFilter {
    name: String,
    #[serde(default)]
    oneshot: bool,
    #[serde(default)]
    rules: Vec<FmnRule>,
}

#[derive(Deserialize)]
struct FmnRule {
    code_path: String,
    #[serde(default)]
    arguments: Option<serde_json::Value>,
    #[serde(default)]
    negated: bool,
}

/// One user converted, and what could not come along.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The account name (the openid's first label: `ralph.id.fedoraproject.org` is `ralph`).
    pub user: String,
    /// Their preferences.
    pub prefs: User,
    /// Contexts left out, each with why (e.g. `sse: no such channel here`).
    pub skipped: Vec<String>,
}

/// The account name an FMN openid stands for.
fn account(openid: &str) -> &str {
    openid
        .strip_suffix(".id.fedoraproject.org")
        .unwrap_or(openid)
}

fn channel_of(context: &str) -> Option<ChannelKind> {
    match context {
        "email" => Some(ChannelKind::Email),
        "irc" => Some(ChannelKind::Irc),
        // FMN's Android app received Google Cloud Messaging pushes.
        "android" | "gcm" => Some(ChannelKind::Push),
        "matrix" => Some(ChannelKind::Matrix),
        _ => None,
    }
}

/// `fmn.rules:NAME` as `fedora::NAME`; anything else is kept as written, for validation to
/// name it.
fn rule_name(code_path: &str) -> String {
    match code_path.split_once(':') {
        Some(("fmn.rules", name)) => format!("{FMN_RULES_MODULE}::{name}"),
        _ => code_path.to_owned(),
    }
}

/// Converts one user's FMN 2 export (`name` is used in error messages).
pub fn from_fmn(name: &str, text: &str) -> Result<Converted, PrefsError> {
    let parse_error = |message: String| PrefsError::Parse {
        path: name.to_owned(),
        format: "FMN 2 JSON",
        message,
    };
    let export: Export = serde_json::from_str(text).map_err(|e| parse_error(e.to_string()))?;
    let prefs = match export {
        Export::Many(p) => p,
        Export::One(p) => vec![*p],
    };
    let Some(first) = prefs.first() else {
        return Err(parse_error("no preference in the export".into()));
    };
    let user = account(&first.user.openid).to_owned();
    let mut out = Converted {
        user: user.clone(),
        prefs: User::default(),
        skipped: Vec::new(),
    };
    for p in &prefs {
        if account(&p.user.openid) != user {
            return Err(parse_error(format!(
                "the export mixes users: {} and {}",
                user,
                account(&p.user.openid)
            )));
        }
        let Some(kind) = channel_of(&p.context.name) else {
            out.skipped
                .push(format!("{}: no such channel here", p.context.name));
            continue;
        };
        let digest = (p.batch_count.is_some() || p.batch_delta.is_some()).then(|| Digest {
            max_count: p.batch_count,
            max_delay: p.batch_delta.map(Duration::from_secs),
        });
        let filters = p
            .filters
            .iter()
            .map(|f| Filter {
                name: f.name.clone(),
                active: true,
                oneshot: f.oneshot,
                rules: f
                    .rules
                    .iter()
                    .map(|r| RuleRef {
                        rule: rule_name(&r.code_path),
                        args: match &r.arguments {
                            Some(v @ serde_json::Value::Object(_)) => v.clone(),
                            _ => serde_json::Value::Object(Default::default()),
                        },
                        negated: r.negated,
                    })
                    .collect(),
            })
            .collect();
        out.prefs.channels.insert(
            kind,
            Channel {
                enabled: p.enabled,
                addresses: p.detail_values.clone(),
                digest,
                filters,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORT: &str = r#"[
      {"created_on": 1400000000.0, "batch_delta": 3600, "batch_count": 10,
       "markup_messages": false, "triggered_by_links": true, "shorten_links": false,
       "verbose": true, "enabled": true,
       "context": {"name": "email", "detail_name": "email address"},
       "user": {"openid": "ralph.id.fedoraproject.org", "openid_url": "http://ralph.id.fedoraproject.org/"},
       "filters": [{"id": 7, "name": "Events on packages that I own", "oneshot": false,
                    "rules": [{"code_path": "fmn.rules:user_package_filter", "arguments": {"fasnick": "ralph"}, "negated": false, "cache_key": "x"},
                              {"code_path": "fmn.rules:user_filter", "arguments": {"fasnick": "ralph"}, "negated": true}]}],
       "detail_values": ["ralph@example.org"]},
      {"enabled": false, "batch_delta": null, "batch_count": null,
       "context": {"name": "irc"}, "user": {"openid": "ralph.id.fedoraproject.org"},
       "filters": [{"name": "once", "oneshot": true, "rules": [{"code_path": "fmn.rules:bodhi_update_comment", "arguments": {}}]}],
       "detail_values": ["ralph"]},
      {"enabled": true, "context": {"name": "android"}, "user": {"openid": "ralph.id.fedoraproject.org"},
       "filters": [], "detail_values": ["token-1"]},
      {"enabled": true, "context": {"name": "sse"}, "user": {"openid": "ralph.id.fedoraproject.org"},
       "filters": [], "detail_values": []}
    ]"#;

    #[test]
    fn an_fmn_export_becomes_our_preferences() {
        let c = from_fmn("ralph.json", EXPORT).unwrap();
        assert_eq!(c.user, "ralph");
        assert_eq!(c.skipped, ["sse: no such channel here"]);
        let email = &c.prefs.channels[&ChannelKind::Email];
        assert!(email.enabled);
        assert_eq!(email.addresses, ["ralph@example.org"]);
        assert_eq!(
            email.digest,
            Some(Digest {
                max_count: Some(10),
                max_delay: Some(Duration::from_secs(3600))
            })
        );
        let rules = &email.filters[0].rules;
        assert_eq!(email.filters[0].name, "Events on packages that I own");
        assert_eq!(rules[0].rule, "fedora::user_package_filter");
        assert_eq!(rules[0].args, serde_json::json!({"fasnick": "ralph"}));
        assert!(!rules[0].negated && rules[1].negated);
        let irc = &c.prefs.channels[&ChannelKind::Irc];
        assert!(!irc.enabled);
        assert_eq!(irc.digest, None);
        assert!(irc.filters[0].oneshot);
        assert_eq!(irc.filters[0].rules[0].rule, "fedora::bodhi_update_comment");
        assert_eq!(c.prefs.channels[&ChannelKind::Push].addresses, ["token-1"]);
    }

    #[test]
    fn bad_exports_say_what_is_wrong() {
        let err = from_fmn("x.json", "{}").unwrap_err().to_string();
        assert!(
            err.starts_with("x.json: invalid FMN 2 JSON preferences"),
            "{err}"
        );
        let err = from_fmn("x.json", "[]").unwrap_err().to_string();
        assert!(err.contains("no preference in the export"), "{err}");
        let mixed = r#"[{"context": {"name": "email"}, "user": {"openid": "a.id.fedoraproject.org"}},
                        {"context": {"name": "irc"}, "user": {"openid": "b.id.fedoraproject.org"}}]"#;
        let err = from_fmn("x.json", mixed).unwrap_err().to_string();
        assert!(err.contains("the export mixes users: a and b"), "{err}");
    }
}
