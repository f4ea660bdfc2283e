//! Data the host supplies to rules: relations such as package -> owners or group -> members.
//!
//! Rules keyed `via` a relation (see `fmn_rules_sdk::data`) are answered from these tables:
//! the worker maps the keys a message's extractor yields (its packages) through the relation
//! (to their owners) and looks the rule's argument up among the result.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Package -> users with any ACL on it (commit or watch): FMN's `user_package_filter`.
pub const PACKAGERS: &str = "packagers";
/// Package -> users with commit access: FMN's `user_package_commit_filter`.
pub const COMMITTERS: &str = "committers";
/// Package -> users watching it: FMN's `user_package_watch_filter`.
pub const WATCHERS: &str = "watchers";
/// User -> the groups they belong to: FMN's `fas_group_member_filter`.
pub const GROUPS: &str = "groups";

/// Named relations, each from a key to a sorted set of values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relations {
    tables: HashMap<String, HashMap<String, Vec<String>>>,
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

    /// Whether `relation` is known at all.
    pub fn has(&self, relation: &str) -> bool {
        self.tables.contains_key(relation)
    }

    /// Adds `values` to what `relation` maps `key` to.
    pub fn add(&mut self, relation: &str, key: &str, values: impl IntoIterator<Item = String>) {
        let entry = self
            .tables
            .entry(relation.to_owned())
            .or_default()
            .entry(key.to_owned())
            .or_default();
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
                self.add(PACKAGERS, &package, owners.iter().cloned());
                self.add(COMMITTERS, &package, owners);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Reads a data file: Pagure's owner-alias JSON (see [`Self::add_pagure_owners`]).
    pub fn load_owners_file(&mut self, path: &std::path::Path) -> Result<usize, DataError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            path: name.clone(),
            source,
        })?;
        self.add_pagure_owners(&name, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
