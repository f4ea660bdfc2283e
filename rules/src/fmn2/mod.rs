//! FMN 2's rule catalogue: every rule FMN offered, by family, with FMN's names and arguments,
//! so that existing preferences move over unchanged.
//!
//! Rules that are only a topic test live in `topic_rules!` tables (the worker answers them from
//! the topic, without calling the module); the others are `#[rule]` functions. FMN tested
//! topics with `endswith`, hence globs of the form `*suffix`; its "catch-all" rules compared the
//! topic's category, which [`Message::category`](fmn_rules_sdk::Message::category) gives for
//! both bus eras.

pub mod anitya;
pub mod ansible;
pub mod askbot;
pub mod autocloud;
pub mod bodhi;
pub mod bugzilla;
pub mod buildsys;
pub mod ci;
pub mod compose;
pub mod copr;
pub mod faf;
pub mod fas;
pub mod fedbadges;
pub mod fedimg;
pub mod fedocal;
pub mod fedora_elections;
pub mod fedoratagger;
pub mod fmn;
pub mod git;
pub mod github;
pub mod greenwave;
pub mod hotness;
pub mod infragit;
pub mod jenkins;
pub mod kerneltest;
pub mod koschei;
pub mod logger;
pub mod mailman;
pub mod mbs;
pub mod mdapi;
pub mod meetbot;
pub mod nagios;
pub mod nuancier;
pub mod pagure;
pub mod pkgdb;
pub mod planet;
pub mod summershum;
pub mod taskotron;
pub mod trac;
pub mod wiki;

use fmn_rules_sdk::Message;

/// Comma-separated values, trimmed, without empty ones: how FMN's rules took lists.
pub fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

/// Whether the message comes from application `category`.
pub fn is(msg: &Message, category: &str) -> bool {
    msg.category() == category
}
