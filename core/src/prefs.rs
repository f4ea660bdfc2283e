//! Users' preferences: FMN's model of users, channels, filters and rules (the file format is in
//! docs/preferences.md).
//!
//! user -> channel (email, irc, push, matrix) -> { enabled, addresses, digest, filters } ->
//! filter { name, active, oneshot, rules } -> rule { rule: "module::name", args, negated }.
//!
//! A filter matches when all its rules match; a channel notifies when any of its active filters
//! matches; at most one notification goes out per (user, channel, message).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::channel::ChannelKind;

/// Every user's preferences.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Users by account name.
    #[serde(default)]
    pub users: BTreeMap<String, User>,
}

/// One user's preferences.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The user's channels.
    #[serde(default)]
    pub channels: BTreeMap<ChannelKind, Channel>,
}

/// One channel of one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Whether anything is sent on this channel at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Email addresses, IRC nicks, device tokens or Matrix ids.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Fold notifications into digests instead of sending each at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The filters; the channel notifies when any active one matches.
    #[serde(default)]
    pub filters: Vec<Filter>,
}

/// FMN's `batch_count` and `batch_delta`: a digest goes out when it holds `max_count`
/// notifications or its oldest is `max_delay` old, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    /// Send when this many notifications are waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    /// Send when the oldest waiting notification is this old, e.g. `"1h"` or `3600` (seconds).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_duration",
        deserialize_with = "de_duration"
    )]
    pub max_delay: Option<Duration>,
}

/// A named set of rules that must all match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Shown to the user, e.g. in the footer of an email.
    pub name: String,
    /// Inactive filters are kept but never match.
    #[serde(default = "yes")]
    pub active: bool,
    /// Deactivate the filter after its first match.
    #[serde(default)]
    pub oneshot: bool,
    /// The rules, AND-ed.
    #[serde(default)]
    pub rules: Vec<RuleRef>,
}

/// A rule of a rule module, with its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleRef {
    /// `module::rule`, e.g. `fedora::package_filter`.
    pub rule: String,
    /// The rule's arguments, an object (`{}` when it takes none).
    #[serde(default = "empty_args", skip_serializing_if = "is_empty_args")]
    pub args: serde_json::Value,
    /// Match when the rule does not.
    #[serde(default, skip_serializing_if = "is_false")]
    pub negated: bool,
}

impl RuleRef {
    /// Splits `module::rule` into its two parts.
    pub fn split(&self) -> Option<(&str, &str)> {
        let (module, rule) = self.rule.split_once("::")?;
        (!module.is_empty() && !rule.is_empty() && !rule.contains("::")).then_some((module, rule))
    }
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn empty_args() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

fn is_empty_args(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(|o| o.is_empty())
}

fn ser_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
        None => s.serialize_none(),
    }
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Seconds(s) => Ok(Some(Duration::from_secs(s))),
        Raw::Text(t) => humantime::parse_duration(&t).map(Some).map_err(|e| {
            serde::de::Error::custom(format!(
                "{t:?} is not a duration like \"90s\" or \"1h\": {e}"
            ))
        }),
    }
}

/// Where in a preferences set something is: the user, and as far down as known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The user's account name.
    pub user: String,
    /// The channel, if the problem is inside one.
    pub channel: Option<ChannelKind>,
    /// The filter's position (from 1) and name.
    pub filter: Option<(usize, String)>,
    /// The rule's position in its filter (from 1) and reference.
    pub rule: Option<(usize, String)>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user {:?}", self.user)?;
        if let Some(c) = self.channel {
            write!(f, ", channel {c}")?;
        }
        if let Some((i, name)) = &self.filter {
            write!(f, ", filter #{i} {name:?}")?;
        }
        if let Some((i, rule)) = &self.rule {
            write!(f, ", rule #{i} {rule:?}")?;
        }
        Ok(())
    }
}

/// A problem found in a preferences set, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{location}: {problem}")]
pub struct PrefsProblem {
    /// Where.
    pub location: Location,
    /// What.
    pub problem: String,
}

/// A preferences file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PrefsError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or JSON of the preferences format.
    #[error("{path}: invalid {format} preferences: {message}")]
    Parse {
        /// The file.
        path: String,
        /// `TOML` or `JSON`.
        format: &'static str,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The file parsed, but its content is not usable.
    #[error("{path}: {} problem(s):\n{}", problems.len(), list(problems))]
    Invalid {
        /// The file.
        path: String,
        /// Every problem found.
        problems: Vec<PrefsProblem>,
    },
}

fn list(problems: &[PrefsProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Preferences {
    /// Reads a preferences file: TOML, or JSON when the name ends in `.json` or the content
    /// starts with `{`. The file is also checked for structural problems ([`Self::problems`]).
    pub fn from_path(path: &Path) -> Result<Preferences, PrefsError> {
        let prefs = Self::parse_path(path)?;
        prefs.checked(&path.display().to_string())
    }

    /// Parses preferences from text and checks them for structural problems; `name` is used
    /// in error messages.
    pub fn from_text(name: &str, text: &str, json: bool) -> Result<Preferences, PrefsError> {
        Self::parse_text(name, text, json)?.checked(name)
    }

    fn checked(self, name: &str) -> Result<Preferences, PrefsError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(PrefsError::Invalid {
                path: name.to_owned(),
                problems,
            })
        }
    }

    /// Reads a preferences file without checking it beyond its syntax: for tools that report
    /// structural problems together with others.
    pub fn parse_path(path: &Path) -> Result<Preferences, PrefsError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PrefsError::Io {
            path: name.clone(),
            source,
        })?;
        let json = path.extension().is_some_and(|e| e == "json");
        Self::parse_text(&name, &text, json)
    }

    /// Parses preferences from text without checking them beyond their syntax.
    pub fn parse_text(name: &str, text: &str, json: bool) -> Result<Preferences, PrefsError> {
        let json = json || text.trim_start().starts_with('{');
        let prefs: Preferences = if json {
            serde_json::from_str(text).map_err(|e| PrefsError::Parse {
                path: name.to_owned(),
                format: "JSON",
                message: e.to_string(),
            })?
        } else {
            toml::from_str(text).map_err(|e| PrefsError::Parse {
                path: name.to_owned(),
                format: "TOML",
                message: e.to_string().trim_end().to_owned(),
            })?
        };
        Ok(prefs)
    }

    /// Problems that need no rule module to see: empty names, malformed rule references,
    /// arguments that are not objects, enabled channels with filters but no address.
    pub fn problems(&self) -> Vec<PrefsProblem> {
        self.users
            .iter()
            .flat_map(|(name, user)| user.problems(name))
            .collect()
    }
}

impl User {
    /// [`Preferences::problems`] of this one user, named `user`.
    pub fn problems(&self, user: &str) -> Vec<PrefsProblem> {
        let mut out = Vec::new();
        let at =
            |channel, filter: Option<(usize, &Filter)>, rule: Option<(usize, &RuleRef)>| Location {
                user: user.to_owned(),
                channel,
                filter: filter.map(|(i, f)| (i + 1, f.name.clone())),
                rule: rule.map(|(i, r)| (i + 1, r.rule.clone())),
            };
        if user.trim().is_empty() {
            out.push(PrefsProblem {
                location: at(None, None, None),
                problem: "the user name is empty".into(),
            });
        }
        let mut cost = Cost::default();
        for (&kind, ch) in &self.channels {
            let active = ch.filters.iter().any(|f| f.active);
            if ch.enabled && active && ch.addresses.iter().all(|a| a.trim().is_empty()) {
                out.push(PrefsProblem {
                    location: at(Some(kind), None, None),
                    problem: "the channel is enabled and has active filters, but no address".into(),
                });
            }
            if let Some(d) = ch.digest
                && d.max_count.is_none()
                && d.max_delay.is_none()
            {
                out.push(PrefsProblem {
                    location: at(Some(kind), None, None),
                    problem: "a digest needs `max_count`, `max_delay` or both".into(),
                });
            }
            for (fi, f) in ch.filters.iter().enumerate() {
                if f.name.trim().is_empty() {
                    out.push(PrefsProblem {
                        location: at(Some(kind), Some((fi, f)), None),
                        problem: "the filter has no name".into(),
                    });
                }
                if f.rules.is_empty() {
                    out.push(PrefsProblem {
                        location: at(Some(kind), Some((fi, f)), None),
                        problem: "the filter has no rules (it would match every message)".into(),
                    });
                }
                for (ri, r) in f.rules.iter().enumerate() {
                    cost.rules += 1;
                    cost.args_bytes += text_bytes(&r.args);
                    if r.split().is_none() {
                        out.push(PrefsProblem {
                            location: at(Some(kind), Some((fi, f)), Some((ri, r))),
                            problem: "a rule is named `module::rule`".into(),
                        });
                    }
                    if !r.args.is_object() {
                        out.push(PrefsProblem {
                            location: at(Some(kind), Some((fi, f)), Some((ri, r))),
                            problem: format!("`args` must be a table/object, found {}", r.args),
                        });
                    }
                }
            }
        }
        if let Some(problem) = cost.over_limits() {
            out.push(PrefsProblem {
                location: at(None, None, None),
                problem,
            });
        }
        out
    }
}

/// The most rules one user's filters may hold, all channels together: every message is
/// checked against them, in one call per module with everyone else's, so one user's thousands
/// would cost every user time (FMN's default filters hold about 180).
pub const MAX_RULES_PER_USER: usize = 2_000;
/// The most bytes of rule arguments one user may have (patterns, lists of names), all
/// channels together.
pub const MAX_ARGS_BYTES_PER_USER: usize = 256 * 1024;

/// The bytes of text in a JSON value (its strings and keys): what its size is made of, counted
/// without writing it out.
fn text_bytes(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::String(s) => s.len(),
        serde_json::Value::Array(a) => a.iter().map(text_bytes).sum(),
        serde_json::Value::Object(o) => o.iter().map(|(k, v)| k.len() + text_bytes(v)).sum(),
        _ => 8,
    }
}

/// What one user's preferences cost every message.
#[derive(Default)]
struct Cost {
    rules: usize,
    args_bytes: usize,
}

impl Cost {
    fn over_limits(&self) -> Option<String> {
        if self.rules > MAX_RULES_PER_USER {
            return Some(format!(
                "{} rules in all filters, over the limit of {MAX_RULES_PER_USER} a user",
                self.rules
            ));
        }
        if self.args_bytes > MAX_ARGS_BYTES_PER_USER {
            return Some(format!(
                "{} bytes of text in rule arguments, over the limit of {MAX_ARGS_BYTES_PER_USER} a user",
                self.args_bytes
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[users.ralph.channels.email]
addresses = ["ralph@example.org"]
digest = { max_count = 10, max_delay = "1h" }

[[users.ralph.channels.email.filters]]
name = "My packages"
rules = [
  { rule = "fedora::package_filter", args = { package = "nethack" } },
  { rule = "fedora::topic", args = { glob = "*.bodhi.*" }, negated = true },
]

[users.ralph.channels.gcm]
enabled = false
"#;

    #[test]
    fn toml_and_json_give_the_same_preferences() {
        let prefs = Preferences::from_text("x.toml", EXAMPLE, false).unwrap();
        let email = &prefs.users["ralph"].channels[&ChannelKind::Email];
        assert_eq!(email.filters[0].rules[1].split(), Some(("fedora", "topic")));
        assert!(email.filters[0].rules[1].negated);
        assert_eq!(
            email.digest.unwrap().max_delay,
            Some(Duration::from_secs(3600))
        );
        assert!(!prefs.users["ralph"].channels[&ChannelKind::Push].enabled);
        let json = serde_json::to_string(&prefs).unwrap();
        assert_eq!(
            Preferences::from_text("x.json", &json, true).unwrap(),
            prefs
        );
    }

    #[test]
    fn parse_errors_name_file_line_and_field() {
        let err = Preferences::from_text(
            "p.toml",
            "[users.ralph.channels.email]\naddress = 1\n",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("p.toml: invalid TOML preferences: TOML parse error at line 2"),
            "{err}"
        );
        assert!(err.contains("unknown field `address`"), "{err}");
        let err = Preferences::from_text(
            "p.json",
            r#"{"users": {"a": {"channels": {"telegram": {}}}}}"#,
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(r#"p.json: invalid JSON preferences: unknown channel "telegram""#),
            "{err}"
        );
    }

    #[test]
    fn structural_problems_name_user_channel_filter_rule() {
        let text = r#"
[[users.bob.channels.irc.filters]]
name = "x"
rules = [{ rule = "nomodule", args = { a = 1 } }, { rule = "m::r", args = 3 }]
"#;
        let err = Preferences::from_text("p.toml", text, false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "p.toml: 3 problem(s):\n  \
             user \"bob\", channel irc: the channel is enabled and has active filters, but no address\n  \
             user \"bob\", channel irc, filter #1 \"x\", rule #1 \"nomodule\": a rule is named `module::rule`\n  \
             user \"bob\", channel irc, filter #1 \"x\", rule #2 \"m::r\": `args` must be a table/object, found 3"
        );
    }

    /// One user's thousands of rules or megabytes of patterns would cost every user time on
    /// every message: refused, naming the user and the limit.
    #[test]
    fn a_users_cost_is_bounded() {
        let rules: Vec<String> = (0..2_001)
            .map(|i| format!("{{ rule = \"fedora::topic\", args = {{ topic = \"t{i}\" }} }}"))
            .collect();
        let text = format!(
            "[users.greedy.channels.email]\naddresses = [\"g@x\"]\nfilters = [{{ name = \"all\", rules = [{}] }}]\n\n[users.fine.channels.email]\naddresses = [\"f@x\"]\nfilters = [{{ name = \"one\", rules = [{{ rule = \"fedora::topic\", args = {{ topic = \"t\" }} }}] }}]\n",
            rules.join(", ")
        );
        let Err(PrefsError::Invalid { problems, .. }) =
            Preferences::from_text("p.toml", &text, false)
        else {
            panic!("2,001 rules accepted");
        };
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].location.user, "greedy");
        assert_eq!(
            problems[0].problem,
            "2001 rules in all filters, over the limit of 2000 a user"
        );
        let big = format!(
            "[users.big.channels.email]\naddresses = [\"b@x\"]\nfilters = [{{ name = \"re\", rules = [{{ rule = \"fedora::regex_filter\", args = {{ pattern = \"{}\" }} }}] }}]\n",
            "a".repeat(300_000)
        );
        let Err(PrefsError::Invalid { problems, .. }) =
            Preferences::from_text("p.toml", &big, false)
        else {
            panic!("300 KB of arguments accepted");
        };
        assert!(
            problems[0]
                .problem
                .starts_with("300007 bytes of text in rule arguments"),
            "{problems:?}"
        );
    }
}
