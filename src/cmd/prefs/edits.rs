//! `fmn prefs set`'s edit flags, turned into `fmn_core::prefs_edit::UserEdits`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use fmn_core::prefs::Filter;
use fmn_core::prefs_edit::{self, UserEdits};
use fmn_core::{ChannelKind, Preferences};

/// What `fmn prefs set` changes in one user's preferences.
#[derive(clap::Args, Default)]
pub struct Edits {
    /// Replace the user's preferences with theirs in this preferences file (TOML or JSON, as
    /// `fmn prefs import` takes).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Remove the user.
    #[arg(long, conflicts_with = "file")]
    pub remove: bool,
    /// Turn a channel on; may repeat.
    #[arg(long, value_name = "CHANNEL", value_parser = super::super::channel_kind())]
    pub enable: Vec<ChannelKind>,
    /// Turn a channel off; may repeat.
    #[arg(long, value_name = "CHANNEL", value_parser = super::super::channel_kind())]
    pub disable: Vec<ChannelKind>,
    /// Add an address to a channel, as CHANNEL=ADDRESS (e.g. `email=me@example.org`).
    #[arg(long, value_name = "CHANNEL=ADDRESS")]
    pub add_address: Vec<String>,
    /// Activate a filter, as CHANNEL:FILTER.
    #[arg(long, value_name = "CHANNEL:FILTER")]
    pub activate: Vec<String>,
    /// Deactivate a filter, as CHANNEL:FILTER.
    #[arg(long, value_name = "CHANNEL:FILTER")]
    pub deactivate: Vec<String>,
    /// Remove a filter, as CHANNEL:FILTER.
    #[arg(long, value_name = "CHANNEL:FILTER")]
    pub remove_filter: Vec<String>,
    /// Add a filter, as CHANNEL:FILTER, made of the `--rule`s given (it replaces a filter of
    /// the same name).
    #[arg(long, value_name = "CHANNEL:FILTER", requires = "rule")]
    pub add_filter: Option<String>,
    /// A rule of the filter `--add-filter` adds (repeatable, AND-ed): `module::rule`, then
    /// its arguments as a JSON object after `=`, e.g. `fedora::package_filter={"package":
    /// "nethack"}`; a leading `!` negates it.
    #[arg(long, value_name = "RULE", requires = "add_filter")]
    pub rule: Vec<String>,
    /// Make the filter `--add-filter` adds one-shot.
    #[arg(long, requires = "add_filter")]
    pub oneshot: bool,
    /// Fold a channel's notifications into digests, as CHANNEL=COUNT,DELAY (e.g.
    /// `email=10,1h`; either part may be empty).
    #[arg(long, value_name = "CHANNEL=COUNT,DELAY")]
    pub digest: Vec<String>,
    /// Send a channel's notifications one by one again.
    #[arg(long, value_name = "CHANNEL", value_parser = super::super::channel_kind())]
    pub no_digest: Vec<ChannelKind>,
}

impl Edits {
    /// The edits for user `name`, every spec parsed and the `--file` read.
    pub fn for_user(&self, name: &str) -> Result<UserEdits> {
        let replace = match &self.file {
            Some(f) => Some(
                Preferences::parse_path(f)?
                    .users
                    .remove(name)
                    .with_context(|| format!("{} has no user {name:?}", f.display()))?,
            ),
            None => None,
        };
        let pairs = |specs: &[String]| {
            specs
                .iter()
                .map(|s| prefs_edit::parse_channel_filter(s))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(UserEdits {
            remove: self.remove,
            replace,
            enable: self.enable.clone(),
            disable: self.disable.clone(),
            add_address: self
                .add_address
                .iter()
                .map(|s| prefs_edit::parse_address(s))
                .collect::<Result<_, _>>()?,
            activate: pairs(&self.activate)?,
            deactivate: pairs(&self.deactivate)?,
            remove_filter: pairs(&self.remove_filter)?,
            add_filters: self.added_filter()?.into_iter().collect(),
            digest: self
                .digest
                .iter()
                .map(|s| prefs_edit::parse_digest(s))
                .collect::<Result<_, _>>()?,
            no_digest: self.no_digest.clone(),
        })
    }

    fn added_filter(&self) -> Result<Option<(ChannelKind, Filter)>> {
        let Some(spec) = &self.add_filter else {
            return Ok(None);
        };
        let (kind, name) = prefs_edit::parse_channel_filter(spec)?;
        let rules = self
            .rule
            .iter()
            .map(|r| prefs_edit::parse_rule_ref(r))
            .collect::<Result<_, _>>()?;
        Ok(Some((
            kind,
            Filter {
                name,
                active: true,
                oneshot: self.oneshot,
                rules,
            },
        )))
    }
}
