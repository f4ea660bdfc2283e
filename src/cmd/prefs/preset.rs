//! `fmn prefs preset`: a preset's filters for one user, as a preferences file.

use std::process::ExitCode;

use anyhow::{Result, bail};
use fmn_core::ChannelKind;
use fmn_core::prefs::{Channel, User};

/// Prints preferences giving `user` preset `name`'s filters on every channel with an address
/// in `addresses` (email, IRC, push, Matrix, in [`ChannelKind::ALL`]'s order).
pub fn print(name: &str, user: String, addresses: [Vec<String>; 4]) -> Result<ExitCode> {
    let Some(filters) = fmn_core::presets::by_name(name, &user) else {
        bail!(
            "no preset {name:?} (known: {})",
            fmn_core::presets::NAMES.join(", ")
        );
    };
    let mut u = User::default();
    for (kind, addresses) in ChannelKind::ALL.into_iter().zip(addresses) {
        if !addresses.is_empty() {
            u.channels.insert(
                kind,
                Channel {
                    enabled: true,
                    addresses,
                    digest: None,
                    filters: filters.clone(),
                },
            );
        }
    }
    if u.channels.is_empty() {
        bail!("give at least one address: --email, --irc, --push or --matrix");
    }
    let mut prefs = fmn_core::Preferences::default();
    prefs.users.insert(user, u);
    print!("{}", toml::to_string(&prefs)?);
    Ok(ExitCode::SUCCESS)
}
