//! Edits to one user's preferences: the vocabulary `fmn prefs set` speaks, as an API any
//! front end (the command line, a web page) can parse and apply.
//!
//! An edit is checked against the user as they are (a channel must exist before its filters
//! change), not against the rule modules: whoever stores the result checks it against the
//! rules it will run.

use crate::ChannelKind;
use crate::prefs::{Channel, Digest, Filter, RuleRef, User};

/// Why an edit cannot be parsed or applied; says which spec or which part of the user.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EditError {
    /// A spec given by the user does not parse.
    #[error("{spec:?}: {why}")]
    Spec {
        /// The spec as given.
        spec: String,
        /// What was expected.
        why: String,
    },
    /// The user has no such channel.
    #[error("user {user:?} has no {channel} channel")]
    NoChannel {
        /// The user's account name.
        user: String,
        /// The channel the edit names.
        channel: ChannelKind,
    },
    /// The channel has no such filter.
    #[error("user {user:?} has no filter {filter:?} on {channel}")]
    NoFilter {
        /// The user's account name.
        user: String,
        /// The channel the edit names.
        channel: ChannelKind,
        /// The filter the edit names.
        filter: String,
    },
}

fn spec_error(spec: &str, why: impl Into<String>) -> EditError {
    EditError::Spec {
        spec: spec.to_owned(),
        why: why.into(),
    }
}

/// A channel name, as `email`, `irc`, `push` or `matrix`.
pub fn parse_channel(spec: &str, name: &str) -> Result<ChannelKind, EditError> {
    name.parse().map_err(|e| spec_error(spec, format!("{e}")))
}

/// `CHANNEL:FILTER` as a channel and a filter name.
pub fn parse_channel_filter(spec: &str) -> Result<(ChannelKind, String), EditError> {
    let (ch, filter) = spec
        .split_once(':')
        .ok_or_else(|| spec_error(spec, "expected CHANNEL:FILTER"))?;
    Ok((parse_channel(spec, ch)?, filter.to_owned()))
}

/// `CHANNEL=ADDRESS` as a channel and an address.
pub fn parse_address(spec: &str) -> Result<(ChannelKind, String), EditError> {
    let (ch, addr) = spec
        .split_once('=')
        .ok_or_else(|| spec_error(spec, "expected CHANNEL=ADDRESS"))?;
    Ok((parse_channel(spec, ch)?, addr.to_owned()))
}

/// `[!]module::rule[={json object}]` as a rule reference.
pub fn parse_rule_ref(spec: &str) -> Result<RuleRef, EditError> {
    let (negated, body) = match spec.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, spec),
    };
    let (rule, args) = match body.split_once('=') {
        Some((rule, json)) => {
            let args: serde_json::Value = serde_json::from_str(json)
                .map_err(|e| spec_error(spec, format!("the arguments are not JSON: {e}")))?;
            if !args.is_object() {
                return Err(spec_error(spec, "the arguments must be a JSON object"));
            }
            (rule, args)
        }
        None => (body, serde_json::json!({})),
    };
    Ok(RuleRef {
        rule: rule.trim().to_owned(),
        args,
        negated,
    })
}

/// `CHANNEL=COUNT,DELAY` (either part may be empty, not both) as a channel and its digest.
pub fn parse_digest(spec: &str) -> Result<(ChannelKind, Digest), EditError> {
    let bad = || spec_error(spec, "expected CHANNEL=COUNT,DELAY (e.g. email=10,1h)");
    let (ch, rest) = spec.split_once('=').ok_or_else(bad)?;
    let kind = parse_channel(spec, ch)?;
    let (count, delay) = rest.split_once(',').unwrap_or((rest, ""));
    let max_count = match count.trim() {
        "" => None,
        n => Some(n.parse::<u32>().map_err(|_| bad())?),
    };
    let max_delay = match delay.trim() {
        "" => None,
        d => Some(humantime::parse_duration(d).map_err(|_| bad())?),
    };
    if max_count.is_none() && max_delay.is_none() {
        return Err(spec_error(spec, "give a count, a delay or both"));
    }
    Ok((
        kind,
        Digest {
            max_count,
            max_delay,
        },
    ))
}

/// What to change in one user's preferences, applied in the order of the fields.
#[derive(Debug, Clone, Default)]
pub struct UserEdits {
    /// Remove the user (every other edit is then moot).
    pub remove: bool,
    /// Start from these preferences instead of the user's current ones.
    pub replace: Option<User>,
    /// Channels to turn on.
    pub enable: Vec<ChannelKind>,
    /// Channels to turn off.
    pub disable: Vec<ChannelKind>,
    /// Addresses to add; a channel missing so far is created, enabled and without filters.
    pub add_address: Vec<(ChannelKind, String)>,
    /// Filters to activate.
    pub activate: Vec<(ChannelKind, String)>,
    /// Filters to deactivate.
    pub deactivate: Vec<(ChannelKind, String)>,
    /// Filters to remove.
    pub remove_filter: Vec<(ChannelKind, String)>,
    /// Filters to add, each replacing one of the same name on its channel (a preset adds
    /// several).
    pub add_filters: Vec<(ChannelKind, Filter)>,
    /// Digest settings to set.
    pub digest: Vec<(ChannelKind, Digest)>,
    /// Channels to send one by one again.
    pub no_digest: Vec<ChannelKind>,
}

impl UserEdits {
    /// User `name` after the edits, from `current` (`None`: no such user yet); `None` when
    /// removed.
    pub fn apply(&self, name: &str, current: Option<&User>) -> Result<Option<User>, EditError> {
        if self.remove {
            return Ok(None);
        }
        let mut user = Edited {
            name,
            user: self
                .replace
                .clone()
                .or_else(|| current.cloned())
                .unwrap_or_default(),
        };
        user.switch(&self.enable, true)?;
        user.switch(&self.disable, false)?;
        for (kind, addr) in &self.add_address {
            user.add_address(*kind, addr);
        }
        user.filters(&self.activate, FilterChange::Active(true))?;
        user.filters(&self.deactivate, FilterChange::Active(false))?;
        user.filters(&self.remove_filter, FilterChange::Remove)?;
        for (kind, filter) in &self.add_filters {
            user.add_filter(*kind, filter.clone())?;
        }
        for (kind, digest) in &self.digest {
            user.channel(*kind)?.digest = Some(*digest);
        }
        for kind in &self.no_digest {
            user.channel(*kind)?.digest = None;
        }
        Ok(Some(user.user))
    }
}

/// What happens to a named filter.
#[derive(Clone, Copy)]
enum FilterChange {
    Active(bool),
    Remove,
}

/// A user being edited, with their name for errors.
struct Edited<'n> {
    name: &'n str,
    user: User,
}

impl Edited<'_> {
    fn channel(&mut self, kind: ChannelKind) -> Result<&mut Channel, EditError> {
        self.user
            .channels
            .get_mut(&kind)
            .ok_or_else(|| EditError::NoChannel {
                user: self.name.to_owned(),
                channel: kind,
            })
    }

    fn switch(&mut self, kinds: &[ChannelKind], on: bool) -> Result<(), EditError> {
        for kind in kinds {
            self.channel(*kind)?.enabled = on;
        }
        Ok(())
    }

    fn add_address(&mut self, kind: ChannelKind, addr: &str) {
        let c = self.user.channels.entry(kind).or_insert_with(|| Channel {
            enabled: true,
            addresses: Vec::new(),
            digest: None,
            filters: Vec::new(),
        });
        if !c.addresses.iter().any(|a| a == addr) {
            c.addresses.push(addr.to_owned());
        }
    }

    fn filters(
        &mut self,
        named: &[(ChannelKind, String)],
        change: FilterChange,
    ) -> Result<(), EditError> {
        for (kind, filter) in named {
            let user = self.name.to_owned();
            let c = self.channel(*kind)?;
            let Some(at) = c.filters.iter().position(|f| f.name == *filter) else {
                return Err(EditError::NoFilter {
                    user,
                    channel: *kind,
                    filter: filter.clone(),
                });
            };
            match change {
                FilterChange::Active(a) => c.filters[at].active = a,
                FilterChange::Remove => {
                    c.filters.remove(at);
                }
            }
        }
        Ok(())
    }

    fn add_filter(&mut self, kind: ChannelKind, filter: Filter) -> Result<(), EditError> {
        let c = self.channel(kind)?;
        match c.filters.iter_mut().find(|f| f.name == filter.name) {
            Some(f) => *f = filter,
            None => c.filters.push(filter),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        let mut u = UserEdits {
            add_address: vec![(ChannelKind::Email, "a@example.org".into())],
            ..UserEdits::default()
        }
        .apply("alice", None)
        .unwrap()
        .unwrap();
        u.channels
            .get_mut(&ChannelKind::Email)
            .unwrap()
            .filters
            .push(Filter {
                name: "mine".into(),
                active: true,
                oneshot: false,
                rules: vec![parse_rule_ref("fedora::my_actions").unwrap()],
            });
        u
    }

    #[test]
    fn specs_parse_or_say_what_was_expected() {
        let r = parse_rule_ref(r#"!fedora::package_filter={"package": "nethack"}"#).unwrap();
        assert!(r.negated);
        assert_eq!(r.rule, "fedora::package_filter");
        assert_eq!(r.args["package"], "nethack");
        assert!(matches!(
            parse_rule_ref("x::y=[1]"),
            Err(EditError::Spec { why, .. }) if why.contains("JSON object")
        ));
        let (kind, d) = parse_digest("irc=,1h").unwrap();
        assert_eq!(kind, ChannelKind::Irc);
        assert_eq!(d.max_count, None);
        assert_eq!(d.max_delay, Some(std::time::Duration::from_secs(3600)));
        assert!(parse_digest("email=,").is_err());
        assert!(parse_digest("email").is_err());
        assert!(parse_channel_filter("fax:mine").is_err());
        assert_eq!(
            parse_address("matrix=@a:b").unwrap(),
            (ChannelKind::Matrix, "@a:b".into())
        );
    }

    #[test]
    fn edits_apply_in_order_and_name_what_is_missing() {
        let edits = UserEdits {
            deactivate: vec![(ChannelKind::Email, "mine".into())],
            disable: vec![ChannelKind::Email],
            digest: vec![parse_digest("email=5,").unwrap()],
            ..UserEdits::default()
        };
        let u = edits.apply("alice", Some(&alice())).unwrap().unwrap();
        let c = &u.channels[&ChannelKind::Email];
        assert!(!c.enabled && !c.filters[0].active);
        assert_eq!(c.digest.as_ref().and_then(|d| d.max_count), Some(5));

        let missing = UserEdits {
            remove_filter: vec![(ChannelKind::Email, "theirs".into())],
            ..UserEdits::default()
        };
        assert_eq!(
            missing
                .apply("alice", Some(&alice()))
                .unwrap_err()
                .to_string(),
            r#"user "alice" has no filter "theirs" on email"#
        );
        let no_channel = UserEdits {
            enable: vec![ChannelKind::Irc],
            ..UserEdits::default()
        };
        assert!(matches!(
            no_channel.apply("alice", Some(&alice())),
            Err(EditError::NoChannel {
                channel: ChannelKind::Irc,
                ..
            })
        ));
        let removed = UserEdits {
            remove: true,
            ..UserEdits::default()
        };
        assert_eq!(removed.apply("alice", Some(&alice())).unwrap(), None);
    }
}
