//! `fedora`: fmn's standard rule module for Fedora's message bus.
//!
//! Generic rules (topic, category, user, package) and the extractors that say what a message
//! is about (usernames, packages, agent, summary, link) for both bus eras. Built to wasm by the
//! workspace's build script and bundled into `fmn`; natively, the same code backs the tests and
//! `fmn bench eval --native`.

pub mod fmn2;
pub mod fmn3;
mod generic;
mod meta;
mod samples;
mod util;

pub use generic::{CategoryArgs, PackageArgs, TopicArgs, UserArgs};
pub use meta::account;

fmn_rules_sdk::module! {
    name: "fedora",
    doc: "Generic rules, FMN's rule catalogue and message metadata for Fedora's message bus (fedmsg and fedora-messaging).",
    rules: [
        ..generic::RULES,
        ..fmn3::RULES,
        ..fmn2::anitya::TOPIC,
        ..fmn2::anitya::RULES,
        ..fmn2::ansible::TOPIC,
        ..fmn2::askbot::TOPIC,
        ..fmn2::askbot::RULES,
        ..fmn2::autocloud::TOPIC,
        ..fmn2::bodhi::TOPIC,
        ..fmn2::bodhi::RULES,
        ..fmn2::bugzilla::TOPIC,
        ..fmn2::bugzilla::RULES,
        ..fmn2::buildsys::TOPIC,
        ..fmn2::buildsys::RULES,
        ..fmn2::ci::TOPIC,
        ..fmn2::ci::RULES,
        ..fmn2::compose::TOPIC,
        ..fmn2::compose::RULES,
        ..fmn2::copr::TOPIC,
        ..fmn2::copr::RULES,
        ..fmn2::faf::TOPIC,
        ..fmn2::faf::RULES,
        ..fmn2::fas::TOPIC,
        ..fmn2::fedbadges::TOPIC,
        ..fmn2::fedimg::TOPIC,
        ..fmn2::fedimg::RULES,
        ..fmn2::fedocal::TOPIC,
        ..fmn2::fedocal::RULES,
        ..fmn2::fedora_elections::TOPIC,
        ..fmn2::fedoratagger::TOPIC,
        ..fmn2::fedoratagger::RULES,
        ..fmn2::fmn::TOPIC,
        ..fmn2::fmn::RULES,
        ..fmn2::git::TOPIC,
        ..fmn2::git::RULES,
        ..fmn2::github::TOPIC,
        ..fmn2::github::RULES,
        ..fmn2::greenwave::TOPIC,
        ..fmn2::hotness::TOPIC,
        ..fmn2::infragit::TOPIC,
        ..fmn2::jenkins::TOPIC,
        ..fmn2::kerneltest::TOPIC,
        ..fmn2::koschei::TOPIC,
        ..fmn2::koschei::RULES,
        ..fmn2::logger::TOPIC,
        ..fmn2::mailman::TOPIC,
        ..fmn2::mbs::TOPIC,
        ..fmn2::mbs::RULES,
        ..fmn2::mdapi::TOPIC,
        ..fmn2::meetbot::TOPIC,
        ..fmn2::meetbot::RULES,
        ..fmn2::nagios::RULES,
        ..fmn2::nuancier::TOPIC,
        ..fmn2::pagure::TOPIC,
        ..fmn2::pagure::RULES,
        ..fmn2::pkgdb::TOPIC,
        ..fmn2::pkgdb::RULES,
        ..fmn2::planet::TOPIC,
        ..fmn2::summershum::TOPIC,
        ..fmn2::summershum::RULES,
        ..fmn2::taskotron::TOPIC,
        ..fmn2::taskotron::RULES,
        ..fmn2::trac::TOPIC,
        ..fmn2::trac::RULES,
        ..fmn2::wiki::TOPIC,
        ..fmn2::wiki::RULES,
    ],
    extractors: [meta::usernames, meta::packages, meta::groups, meta::agent, meta::summary, meta::link, meta::icon, meta::app_name, meta::long_text],
    samples: samples::SAMPLES,
}
