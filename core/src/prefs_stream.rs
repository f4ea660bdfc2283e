//! Preferences read one user at a time. A worker compiles each user as it is read and keeps
//! only what it compiled: at 100,000 users, every user's preferences at once take gigabytes,
//! their compiled form a few hundred megabytes.
//!
//! JSON files are read as a stream (`{"users": {name: user, ...}}`, any size); TOML files,
//! written by hand and small, are read whole first.

use std::collections::HashSet;
use std::fmt;
use std::io::BufReader;
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};

use crate::prefs::{Location, Preferences, PrefsError, PrefsProblem, User};

/// Reads the preferences file at `path` and hands `each` every user whose preferences have no
/// structural problem ([`User::problems`]), in file order. Returns every problem found; a user
/// named twice is one. The caller decides what a file with problems means (a worker refuses
/// it whole, as [`Preferences::from_path`] does).
pub fn each_user_in_file(
    path: &Path,
    mut each: impl FnMut(String, User),
) -> Result<Vec<PrefsProblem>, PrefsError> {
    let name = path.display().to_string();
    let io = |source| PrefsError::Io {
        path: name.clone(),
        source,
    };
    let mut head = [0u8; 64];
    let file = std::fs::File::open(path).map_err(io)?;
    let n = std::io::Read::read(&mut &file, &mut head).map_err(io)?;
    let starts_json = head[..n]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{');
    let mut checked = Checked::new(&mut each);
    if path.extension().is_some_and(|e| e == "json") || starts_json {
        let file = std::fs::File::open(path).map_err(io)?;
        let mut de = serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, file));
        let parse = |e: serde_json::Error| PrefsError::Parse {
            path: name.clone(),
            format: "JSON",
            message: e.to_string(),
        };
        Top(&mut checked).deserialize(&mut de).map_err(parse)?;
        de.end().map_err(parse)?;
    } else {
        let prefs = Preferences::parse_path(path)?;
        for (name, user) in prefs.users {
            checked.user(name, user);
        }
    }
    Ok(checked.problems)
}

/// Hands on users without problems, and keeps the problems of the others.
struct Checked<'f, F> {
    each: &'f mut F,
    seen: HashSet<String>,
    problems: Vec<PrefsProblem>,
}

impl<'f, F: FnMut(String, User)> Checked<'f, F> {
    fn new(each: &'f mut F) -> Self {
        Checked {
            each,
            seen: HashSet::new(),
            problems: Vec::new(),
        }
    }

    fn user(&mut self, name: String, user: User) {
        if !self.seen.insert(name.clone()) {
            self.problems.push(PrefsProblem {
                location: Location {
                    user: name,
                    channel: None,
                    filter: None,
                    rule: None,
                },
                problem: "the user is named twice".into(),
            });
            return;
        }
        let problems = user.problems(&name);
        if problems.is_empty() {
            (self.each)(name, user);
        } else {
            self.problems.extend(problems);
        }
    }
}

/// The whole file: an object whose only field is `users`.
struct Top<'c, 'f, F>(&'c mut Checked<'f, F>);

impl<'de, F: FnMut(String, User)> DeserializeSeed<'de> for Top<'_, '_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(String, User)> Visitor<'de> for Top<'_, '_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("preferences: an object with `users`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key != "users" {
                return Err(A::Error::unknown_field(&key, &["users"]));
            }
            map.next_value_seed(Users(&mut *self.0))?;
        }
        Ok(())
    }
}

/// `users`: name to preferences, each handed on as soon as it is read.
struct Users<'c, 'f, F>(&'c mut Checked<'f, F>);

impl<'de, F: FnMut(String, User)> DeserializeSeed<'de> for Users<'_, '_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(String, User)> Visitor<'de> for Users<'_, '_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of users by name")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            let user: User = map.next_value()?;
            self.0.user(name, user);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> (Vec<(String, User)>, Vec<PrefsProblem>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let mut users = Vec::new();
        let problems = each_user_in_file(&path, |n, u| users.push((n, u))).unwrap();
        (users, problems)
    }

    const TOML: &str = r#"
[users.alice.channels.email]
addresses = ["alice@example.org"]
filters = [{ name = "mine", rules = [{ rule = "fedora::user_filter", args = { fasnick = "alice" } }] }]

[users.bob.channels.irc]
addresses = ["bob"]
filters = [{ name = "all", rules = [{ rule = "fedora::topic", args = { glob = "*" } }] }]
"#;

    #[test]
    fn a_json_file_streams_the_same_users_as_the_whole_file_parses() {
        let whole = Preferences::from_text("p.toml", TOML, false).unwrap();
        let json = serde_json::to_string(&whole).unwrap();
        let (users, problems) = read("p.json", &json);
        assert!(problems.is_empty(), "{problems:?}");
        let streamed = Preferences {
            users: users.into_iter().collect(),
        };
        assert_eq!(streamed, whole);
        let (users, _) = read("p.toml", TOML);
        assert_eq!(users.len(), 2);
    }

    #[test]
    fn users_with_problems_are_kept_back_and_named() {
        let json = r#"{"users": {
            "alice": {"channels": {"email": {"addresses": [], "filters": [{"name": "x", "rules": [{"rule": "fedora::topic", "args": {"glob": "*"}}]}]}}},
            "bob": {"channels": {"irc": {"addresses": ["bob"], "filters": [{"name": "all", "rules": [{"rule": "fedora::topic", "args": {"glob": "*"}}]}]}}},
            "bob": {"channels": {}}
        }}"#;
        let (users, problems) = read("p.json", json);
        let names: Vec<&str> = users.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["bob"]);
        let named: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.location.user.as_str(), p.problem.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                (
                    "alice",
                    "the channel is enabled and has active filters, but no address"
                ),
                ("bob", "the user is named twice"),
            ]
        );
    }

    #[test]
    fn a_broken_or_foreign_file_is_a_parse_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("a.json", r#"{"users": {"alice": {"channels": 3}}}"#),
            ("b.json", r#"{"people": {}}"#),
            ("c.json", r#"{"users": {}} trailing"#),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            match each_user_in_file(&path, |_, _| {}) {
                Err(PrefsError::Parse { path: p, .. }) => assert!(p.ends_with(name), "{p}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
