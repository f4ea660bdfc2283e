//! What the [`PrefsStore`] role hands back: the changes since a version, why a user could not
//! be replaced, and every user read a page at a time.
//!
//! A worker holding version `v` catches up with [`PrefsStore::prefs_changes_since`]: one
//! atomic read of the users changed after `v` and their preferences now, or "load everything"
//! when a whole import happened after `v`.

use std::collections::{BTreeMap, HashSet};

use fmn_core::prefs::User;

use crate::{PrefsStore, TransportError};

/// Users changed after a version, and what they are now.
#[derive(Debug, Clone, PartialEq)]
pub enum PrefsDelta {
    /// A whole import replaced everything since: load it all again.
    Reset,
    /// Each changed user's preferences now; `None`: the user was removed.
    Users(BTreeMap<String, Option<User>>),
}

/// Why a user's preferences could not be replaced.
#[derive(Debug, thiserror::Error)]
pub enum SetUserError {
    /// Someone else changed them between the caller's read and write.
    #[error("user {0} was changed by someone else meanwhile")]
    Conflict(String),
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why [`edit_user_prefs`] stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum EditUserError<E> {
    /// The edit refused the user as they are.
    #[error(transparent)]
    Edit(E),
    /// Others changed the user between each of the reads and writes tried.
    #[error("user {0} kept changing while the edit was tried {EDIT_ATTEMPTS} times")]
    KeptChanging(String),
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// What [`edit_user_prefs`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edited {
    /// Stored; the preferences' version after the change.
    Stored(u64),
    /// The edit changed nothing (e.g. a filter already off): nothing was written.
    Unchanged,
}

/// How often [`edit_user_prefs`] reads, edits and tries to write before giving up.
pub const EDIT_ATTEMPTS: usize = 5;

/// Changes user `name`'s preferences with `edit` (given them as stored, `None` if absent; it
/// returns them changed, `None` to remove the user), as a compare-and-set: when someone else
/// changed them between the read and the write, it reads and edits again, so two edits of one
/// user never undo each other. What every front end (the command line, the web service) uses.
pub async fn edit_user_prefs<S, E>(
    store: &S,
    name: &str,
    mut edit: impl FnMut(Option<&User>) -> Result<Option<User>, E>,
) -> Result<Edited, EditUserError<E>>
where
    S: PrefsStore,
{
    for _ in 0..EDIT_ATTEMPTS {
        let current = store.user_prefs_raw(name).await?;
        let new = edit(current.as_ref().map(|(u, _)| u)).map_err(EditUserError::Edit)?;
        let before = current.as_ref().map(|(_, json)| json.as_str());
        if before == new.as_ref().map(user_json).as_deref() {
            return Ok(Edited::Unchanged);
        }
        match store.set_user_prefs(name, new.as_ref(), Some(before)).await {
            Ok(version) => return Ok(Edited::Stored(version)),
            Err(SetUserError::Conflict(_)) => continue,
            Err(SetUserError::Transport(e)) => return Err(e.into()),
        }
    }
    Err(EditUserError::KeptChanging(name.to_owned()))
}

/// Users stored by one step of [`PrefsStore::merge_prefs`]: each step is atomic and bumps the
/// version once (in Redis, small enough for Lua's argument limits).
pub(crate) const MERGE_CHUNK: usize = 500;

/// A user as the stores keep them, and as [`PrefsStore::user_prefs_raw`] hands them out for a
/// compare-and-set.
pub(crate) fn user_json(user: &User) -> String {
    // Plain data with string keys: serialisation cannot fail.
    serde_json::to_string(user).unwrap_or_default()
}

/// A user kept as `json`.
pub(crate) fn decode_user(name: &str, json: &str) -> Result<User, TransportError> {
    serde_json::from_str(json).map_err(|e| TransportError::Decode {
        queue: "prefs:users".into(),
        id: name.to_owned(),
        reason: e.to_string(),
    })
}

/// Every user's preferences, read a page at a time ([`PrefsStore::prefs_page`]) after the
/// version: what the pages hold is at least [`PrefsPages::version`] and perhaps some changes
/// after it, which catching up from that version ([`PrefsStore::prefs_changes_since`])
/// applies again. A user a store returns twice is handed on once. A worker compiles each page
/// as it comes and never holds every user's preferences at once.
pub struct PrefsPages<T> {
    transport: T,
    version: u64,
    /// `None` once the scan is over.
    cursor: Option<u64>,
    seen: HashSet<String>,
}

impl<T: PrefsStore> PrefsPages<T> {
    /// Pages of `transport`'s users, from their version now.
    pub(crate) async fn start(transport: T) -> Result<Self, TransportError> {
        Ok(PrefsPages {
            version: transport.prefs_version().await?,
            transport,
            cursor: Some(0),
            seen: HashSet::new(),
        })
    }

    /// The version read before the first page.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The next page of users, `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<(String, User)>>, TransportError> {
        let Some(cursor) = self.cursor else {
            return Ok(None);
        };
        let (next, page) = self.transport.prefs_page(cursor).await?;
        self.cursor = (next != 0).then_some(next);
        let page = page
            .into_iter()
            .filter(|(name, _)| self.seen.insert(name.clone()))
            .collect();
        Ok(Some(page))
    }
}
