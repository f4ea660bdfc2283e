//! Where people meet and talk: meetings, IRC and Matrix cookies, mailing lists, blogs, the
//! wiki, badges, elections, wallpaper contests, and FMN itself. One file per application
//! under `community/`.

use serde_json::Value;

mod badges;
mod elections;
mod meetbot;
mod people;
mod wiki;

pub(super) use badges::Badges;
pub(super) use elections::Elections;
pub(super) use meetbot::{Cookies, Meetbot};
pub(super) use people::{College, Fmn, Mailman, Nuancier, Planet};
pub(super) use wiki::Wiki;

fn names(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}
