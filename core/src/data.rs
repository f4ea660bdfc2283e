//! Data the host supplies to rules: relations such as package -> owners or group -> members.
//!
//! Rules keyed `via` a relation (see `fmn_rules_sdk::data`) are answered from these tables:
//! the worker maps the keys a message's extractor yields (its packages) through the relation
//! (to their owners) and looks the rule's argument up among the result.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

/// Package -> users with any ACL on it (commit or watch): FMN's `user_package_filter`.
pub const PACKAGERS: &str = "packagers";
/// Package -> users with commit access: FMN's `user_package_commit_filter`.
pub const COMMITTERS: &str = "committers";
/// Package -> users watching it: FMN's `user_package_watch_filter`.
pub const WATCHERS: &str = "watchers";
/// User -> the groups they belong to: FMN's `fas_group_member_filter`.
pub const GROUPS: &str = "groups";
/// Old nick or email address -> account name (fedmsg.meta's `fas_cache`).
pub const ALIASES: &str = "aliases";
/// Package -> the groups with commit access to it (`@group` entries of Pagure's owner-alias
/// JSON): FMN 3's "artifacts owned by one of my groups".
pub const GROUP_OWNERS: &str = "group-owners";

/// Every relation fmn knows, in the order `fmn data show` lists them.
pub const RELATIONS: &[&str] = &[
    PACKAGERS,
    COMMITTERS,
    WATCHERS,
    GROUP_OWNERS,
    GROUPS,
    ALIASES,
];

/// Opens a person's name in a rule module's text answer (`fmn_rules_sdk::people::START`).
pub const PERSON_START: char = '\u{E000}';
/// Closes it (`fmn_rules_sdk::people::END`).
pub const PERSON_END: char = '\u{E001}';

/// Relations of a package to users that count the members of the groups owning it: Pagure
/// gives many packages to a group (`@python-sig`), and FMN counted the packages of a user's
/// groups as the user's. Watching is personal, so [`WATCHERS`] is not among them.
pub const GROUP_COUNTED: &[&str] = &[PACKAGERS, COMMITTERS];

/// Named relations, each from a key to a sorted set of values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relations {
    tables: HashMap<String, HashMap<String, Vec<String>>>,
    /// Group -> members: [`GROUPS`] turned around, made on first use after a change (each
    /// change drops it), for [`Relations::related`].
    members: OnceLock<HashMap<String, Vec<String>>>,
}

/// A data file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Not readable.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not in the expected format.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Relations {
    /// No data.
    pub fn new() -> Self {
        Self::default()
    }

    /// What `relation` maps `key` to.
    pub fn get(&self, relation: &str, key: &str) -> &[String] {
        self.tables
            .get(relation)
            .and_then(|t| t.get(key))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// What `relation` maps `key` to, with the members of the groups owning `key` where the
    /// relation counts them ([`GROUP_COUNTED`]): the users a package's `committers` or
    /// `packagers` stand for. Rules keyed `via` a relation are answered with this.
    pub fn related<'a>(&'a self, relation: &str, key: &str) -> impl Iterator<Item = &'a str> {
        let groups: &'a [String] = if GROUP_COUNTED.contains(&relation) {
            self.get(GROUP_OWNERS, key)
        } else {
            &[]
        };
        let members = if groups.is_empty() {
            None
        } else {
            Some(self.members())
        };
        let of_groups = groups.iter().flat_map(move |g| {
            members
                .and_then(|m| m.get(g))
                .map(Vec::as_slice)
                .unwrap_or(&[])
        });
        self.get(relation, key)
            .iter()
            .chain(of_groups)
            .map(String::as_str)
    }

    /// The members of each group, from [`GROUPS`].
    fn members(&self) -> &HashMap<String, Vec<String>> {
        self.members.get_or_init(|| {
            let mut out: HashMap<String, Vec<String>> = HashMap::new();
            for (user, groups) in self.tables.get(GROUPS).into_iter().flatten() {
                for g in groups {
                    out.entry(g.clone()).or_default().push(user.clone());
                }
            }
            out
        })
    }

    /// Whether `relation` is known at all.
    pub fn has(&self, relation: &str) -> bool {
        self.tables.contains_key(relation)
    }

    /// Adds `values` to what `relation` maps `key` to.
    /// The relation exists afterwards even when `values` is empty (an import of it then
    /// empties the stored one); the key only when it maps to something.
    pub fn add(&mut self, relation: &str, key: &str, values: impl IntoIterator<Item = String>) {
        self.members = OnceLock::new();
        let table = self.tables.entry(relation.to_owned()).or_default();
        let mut values = values.into_iter().peekable();
        if values.peek().is_none() {
            return;
        }
        let entry = table.entry(key.to_owned()).or_default();
        entry.extend(values);
        entry.sort();
        entry.dedup();
    }

    /// The number of keys of `relation`.
    pub fn len(&self, relation: &str) -> usize {
        self.tables.get(relation).map_or(0, HashMap::len)
    }

    /// Whether there is no data at all.
    pub fn is_empty(&self) -> bool {
        self.tables.values().all(HashMap::is_empty)
    }

    /// Removes `value` from what `relation` maps `key` to; a key left with nothing goes.
    pub fn remove(&mut self, relation: &str, key: &str, value: &str) {
        self.members = OnceLock::new();
        if let Some(t) = self.tables.get_mut(relation)
            && let Some(values) = t.get_mut(key)
        {
            values.retain(|v| v != value);
            if values.is_empty() {
                t.remove(key);
            }
        }
    }

    /// The relations held, by name, each as key -> values.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &HashMap<String, Vec<String>>)> {
        self.tables.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Replaces the whole of `relation` with `table`.
    pub fn set_table(&mut self, relation: &str, table: HashMap<String, Vec<String>>) {
        self.members = OnceLock::new();
        self.tables.insert(relation.to_owned(), table);
    }

    /// These relations, with each relation `other` holds replacing the one of the same name.
    pub fn overlaid(&self, other: &Relations) -> Relations {
        let mut out = self.clone();
        for (name, table) in other.tables() {
            out.set_table(name, table.clone());
        }
        out
    }

    /// Applies one change.
    pub fn apply(&mut self, change: &Change) {
        for v in &change.remove {
            self.remove(&change.relation, &change.key, v);
        }
        self.add(&change.relation, &change.key, change.add.iter().cloned());
    }

    /// The account a name that a message gives for a person stands for: its alias, else the
    /// local part of a fedoraproject.org address, else the name itself; `None` for another
    /// email address, which is no account name.
    pub fn account<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        if let Some(a) = self.get(ALIASES, name).first() {
            return Some(a);
        }
        match name.split_once('@') {
            None => Some(name),
            Some((local, "fedoraproject.org")) => Some(local),
            Some(_) => None,
        }
    }

    /// `text` with each person a rule module marked in it (between [`PERSON_START`] and
    /// [`PERSON_END`]) named by [`Self::account`], or as given when that finds none.
    pub fn resolve_people<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if !text.contains(PERSON_START) {
            return text.into();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(PERSON_START) {
            out.push_str(&rest[..start]);
            let after = &rest[start + PERSON_START.len_utf8()..];
            let Some(end) = after.find(PERSON_END) else {
                out.push_str(after);
                return out.into();
            };
            let name = &after[..end];
            out.push_str(self.account(name).unwrap_or(name));
            rest = &after[end + PERSON_END.len_utf8()..];
        }
        out.push_str(rest);
        out.into()
    }

    /// Loads package maintainers from Pagure's owner-alias JSON, as src.fedoraproject.org
    /// publishes it: `{"rpms": {"nethack": ["user", ...]}, "modules": {...}}`, into
    /// [`COMMITTERS`] and [`PACKAGERS`]. Every namespace maps in by bare package name.
    pub fn add_pagure_owners(&mut self, path: &str, json: &str) -> Result<usize, DataError> {
        let parsed: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = serde_json::from_str(
            json,
        )
        .map_err(|e| DataError::Format {
            path: path.to_owned(),
            message: format!(
                "not Pagure's owner-alias JSON ({{\"rpms\": {{\"name\": [\"user\", ...]}}}}): {e}"
            ),
        })?;
        let mut n = 0;
        for packages in parsed.into_values() {
            for (package, owners) in packages {
                let (groups, users): (Vec<String>, Vec<String>) =
                    owners.into_iter().partition(|o| o.starts_with('@'));
                self.add(PACKAGERS, &package, users.iter().cloned());
                self.add(COMMITTERS, &package, users);
                self.add(
                    GROUP_OWNERS,
                    &package,
                    groups.into_iter().map(|g| g[1..].to_owned()),
                );
                n += 1;
            }
        }
        Ok(n)
    }

    /// Loads watchers from a file in the owner-alias shape (`{"rpms": {"name": ["user"]}}`)
    /// into [`WATCHERS`] and [`PACKAGERS`].
    pub fn add_watchers(&mut self, path: &str, json: &str) -> Result<usize, DataError> {
        let parsed: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> =
            serde_json::from_str(json).map_err(|e| DataError::Format {
                path: path.to_owned(),
                message: format!(
                    "not a watchers JSON ({{\"rpms\": {{\"name\": [\"user\", ...]}}}}): {e}"
                ),
            })?;
        let mut n = 0;
        for packages in parsed.into_values() {
            for (package, users) in packages {
                self.add(PACKAGERS, &package, users.iter().cloned());
                self.add(WATCHERS, &package, users);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Loads group membership, `{"python-sig": ["alice", "bob"], ...}`, into [`GROUPS`]
    /// (user -> groups). Returns the number of groups.
    pub fn add_group_members(&mut self, path: &str, json: &str) -> Result<usize, DataError> {
        let parsed: BTreeMap<String, BTreeSet<String>> =
            serde_json::from_str(json).map_err(|e| DataError::Format {
                path: path.to_owned(),
                message: format!(
                    "not a group-membership JSON ({{\"group\": [\"user\", ...]}}): {e}"
                ),
            })?;
        for (group, members) in &parsed {
            for m in members {
                self.add(GROUPS, m, [group.clone()]);
            }
        }
        Ok(parsed.len())
    }

    /// Loads an alias table, `{"threebean": "ralph", "rbean@redhat.com": "ralph"}`, into
    /// [`ALIASES`]. Returns the number of aliases.
    pub fn add_aliases(&mut self, path: &str, json: &str) -> Result<usize, DataError> {
        let parsed: BTreeMap<String, String> =
            serde_json::from_str(json).map_err(|e| DataError::Format {
                path: path.to_owned(),
                message: format!("not an alias table ({{\"old-nick\": \"account\"}}): {e}"),
            })?;
        for (alias, account) in &parsed {
            self.add(ALIASES, alias, [account.clone()]);
        }
        Ok(parsed.len())
    }

    /// Reads a data file of `kind` (see [`DataKind`]). Returns how many entries it held.
    pub fn load_file(
        &mut self,
        kind: DataKind,
        path: &std::path::Path,
    ) -> Result<usize, DataError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            path: name.clone(),
            source,
        })?;
        match kind {
            DataKind::Owners => self.add_pagure_owners(&name, &text),
            DataKind::Watchers => self.add_watchers(&name, &text),
            DataKind::Groups => self.add_group_members(&name, &text),
            DataKind::Aliases => self.add_aliases(&name, &text),
        }
    }

    /// Reads a data file: Pagure's owner-alias JSON (see [`Self::add_pagure_owners`]).
    pub fn load_owners_file(&mut self, path: &std::path::Path) -> Result<usize, DataError> {
        self.load_file(DataKind::Owners, path)
    }
}

/// The kinds of data file fmn reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// Pagure's owner-alias JSON: package -> committers (and `@group` owners).
    Owners,
    /// The same shape: package -> watchers.
    Watchers,
    /// Group -> members.
    Groups,
    /// Alias -> account.
    Aliases,
}

/// A change to one key of one relation, as a bus message announces it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// The relation, e.g. [`COMMITTERS`].
    pub relation: String,
    /// The key, e.g. a package name.
    pub key: String,
    /// Values added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    /// Values removed (before the additions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_from_aliases_and_addresses() {
        let mut r = Relations::new();
        r.add(ALIASES, "rbean@redhat.com", ["ralph".to_owned()]);
        r.add(ALIASES, "threebean", ["ralph".to_owned()]);
        assert_eq!(r.account("threebean"), Some("ralph"));
        assert_eq!(r.account("rbean@redhat.com"), Some("ralph"));
        assert_eq!(r.account("bob@fedoraproject.org"), Some("bob"));
        assert_eq!(r.account("someone@gmail.com"), None);
        assert_eq!(r.account("pingou"), Some("pingou"));
        assert_eq!(
            r.resolve_people("\u{E000}rbean@redhat.com\u{E001} and \u{E000}x@y.org\u{E001} met \u{E000}threebean\u{E001}"),
            "ralph and x@y.org met ralph"
        );
        assert_eq!(r.resolve_people("nobody here"), "nobody here");
    }

    #[test]
    fn group_owners_count_their_members() {
        let mut r = Relations::new();
        r.add_pagure_owners(
            "o.json",
            r#"{"rpms": {"python-requests": ["ralph", "@python-sig"], "vim": ["@python-sig"]}}"#,
        )
        .unwrap();
        r.add_watchers("w.json", r#"{"rpms": {"vim": ["carol"]}}"#)
            .unwrap();
        r.add_group_members(
            "g.json",
            r#"{"python-sig": ["alice", "bob"], "qa": ["carol"]}"#,
        )
        .unwrap();
        fn related<'a>(r: &'a Relations, rel: &str, key: &str) -> Vec<&'a str> {
            let mut v: Vec<&str> = r.related(rel, key).collect();
            v.sort();
            v
        }
        assert_eq!(
            related(&r, COMMITTERS, "python-requests"),
            ["alice", "bob", "ralph"]
        );
        assert_eq!(related(&r, PACKAGERS, "vim"), ["alice", "bob", "carol"]);
        // Watching is personal: a group's members do not watch what the group owns.
        assert_eq!(related(&r, WATCHERS, "vim"), ["carol"]);
        assert!(related(&r, COMMITTERS, "emacs").is_empty());
        // A membership change is seen at once.
        r.apply(&Change {
            relation: GROUPS.into(),
            key: "dave".into(),
            add: vec!["python-sig".into()],
            remove: vec![],
        });
        assert_eq!(related(&r, COMMITTERS, "vim"), ["alice", "bob", "dave"]);
    }

    #[test]
    fn pagure_owner_alias() {
        let mut r = Relations::new();
        let n = r
            .add_pagure_owners("o.json", r#"{"rpms": {"nethack": ["ralph", "bob", "ralph"]}, "modules": {"nethack": ["carol"]}}"#)
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(r.get(COMMITTERS, "nethack"), ["bob", "carol", "ralph"]);
        assert_eq!(r.get(PACKAGERS, "nethack"), ["bob", "carol", "ralph"]);
        assert!(r.get(COMMITTERS, "vim").is_empty());
        let e = r
            .add_pagure_owners("o.json", "[1]")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("o.json: not Pagure's owner-alias JSON"),
            "{e}"
        );
    }
}
