//! [`PrefsStore`] in process: users' preferences, versioned, with the change log Redis keeps.

use super::*;
use crate::prefs_store::{MERGE_CHUNK, PrefsDelta, SetUserError, decode_user, user_json};
use crate::{Changes, PrefsStore};
use fmn_core::prefs::{Preferences, User};

/// The preferences as Redis keeps them: users as JSON, a version, the version that last
/// changed each user, and the version of the last whole import.
#[derive(Default)]
pub(super) struct Prefs {
    users: BTreeMap<String, String>,
    version: u64,
    changed: HashMap<String, u64>,
    reset: u64,
}

impl Prefs {
    /// Bumps the version for a change of `names`.
    fn changed<'n>(&mut self, names: impl IntoIterator<Item = &'n str>) -> u64 {
        self.version += 1;
        for name in names {
            self.changed.insert(name.to_owned(), self.version);
        }
        self.version
    }
}

impl MemoryTransport {
    /// Wakes the subscribers of preference changes with the new `version`.
    fn announce_prefs(&self, version: u64) -> u64 {
        // No subscriber is not an error: nobody is waiting.
        let _ = self.inner.prefs_changes.send(version.to_string());
        version
    }
}

impl PrefsStore for MemoryTransport {
    async fn prefs_version(&self) -> Result<u64, TransportError> {
        Ok(self.lock().prefs.version)
    }

    async fn load_prefs(&self) -> Result<(u64, Preferences), TransportError> {
        let st = self.lock();
        let mut prefs = Preferences::default();
        for (name, json) in &st.prefs.users {
            prefs.users.insert(name.clone(), decode_user(name, json)?);
        }
        Ok((st.prefs.version, prefs))
    }

    async fn prefs_page(&self, _cursor: u64) -> Result<(u64, Vec<(String, User)>), TransportError> {
        // One page: the users are in this process already.
        let (_, prefs) = self.load_prefs().await?;
        Ok((0, prefs.users.into_iter().collect()))
    }

    async fn user_prefs_raw(&self, user: &str) -> Result<Option<(User, String)>, TransportError> {
        let json = self.lock().prefs.users.get(user).cloned();
        json.map(|j| decode_user(user, &j).map(|u| (u, j)))
            .transpose()
    }

    async fn prefs_changes_since(&self, version: u64) -> Result<(u64, PrefsDelta), TransportError> {
        let st = self.lock();
        let now = st.prefs.version;
        if st.prefs.reset > version {
            return Ok((now, PrefsDelta::Reset));
        }
        let mut users = BTreeMap::new();
        for (name, v) in &st.prefs.changed {
            if *v > version {
                let json = st.prefs.users.get(name);
                let user = json.map(|j| decode_user(name, j)).transpose()?;
                users.insert(name.clone(), user);
            }
        }
        Ok((now, PrefsDelta::Users(users)))
    }

    async fn import_prefs(&self, prefs: &Preferences) -> Result<u64, TransportError> {
        let mut st = self.lock();
        let p = &mut st.prefs;
        p.users = prefs
            .users
            .iter()
            .map(|(name, user)| (name.clone(), user_json(user)))
            .collect();
        p.changed.clear();
        p.version += 1;
        p.reset = p.version;
        Ok(self.announce_prefs(p.version))
    }

    async fn merge_prefs(&self, prefs: &Preferences) -> Result<u64, TransportError> {
        let mut st = self.lock();
        let users: Vec<(&String, &User)> = prefs.users.iter().collect();
        // In steps of the size Redis' are, so the versions come out the same.
        for chunk in users.chunks(MERGE_CHUNK) {
            for (name, user) in chunk {
                st.prefs.users.insert((*name).clone(), user_json(user));
            }
            let v = st.prefs.changed(chunk.iter().map(|(n, _)| n.as_str()));
            self.announce_prefs(v);
        }
        Ok(st.prefs.version)
    }

    async fn set_user_prefs(
        &self,
        name: &str,
        user: Option<&User>,
        expected: Option<Option<&str>>,
    ) -> Result<u64, SetUserError> {
        let mut st = self.lock();
        if let Some(expected) = expected
            && st.prefs.users.get(name).map(String::as_str) != expected
        {
            return Err(SetUserError::Conflict(name.to_owned()));
        }
        match user {
            Some(u) => st.prefs.users.insert(name.to_owned(), user_json(u)),
            None => st.prefs.users.remove(name),
        };
        let v = st.prefs.changed([name]);
        Ok(self.announce_prefs(v))
    }

    async fn prefs_announcements(&self) -> Result<Changes, TransportError> {
        Ok(Changes::memory(self.inner.prefs_changes.subscribe()))
    }
}
