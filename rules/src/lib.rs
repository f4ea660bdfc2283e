//! `fedora`: fmn's standard rule module for Fedora's message bus.
//!
//! Generic rules (topic, category, user, package) and the extractors that say what a message
//! is about (usernames, packages, agent, summary, link) for both bus eras. Built to wasm by the
//! workspace's build script and bundled into `fmn`; natively, the same code backs the tests and
//! `fmn bench eval --native`.

mod generic;
mod meta;
mod util;

pub use generic::{CategoryArgs, PackageArgs, TopicArgs, UserArgs};

fmn_rules_sdk::module! {
    name: "fedora",
    doc: "Generic rules and message metadata for Fedora's message bus (fedmsg and fedora-messaging).",
    rules: [generic::topic, generic::category, generic::user_filter, generic::package_filter],
    extractors: [meta::usernames, meta::packages, meta::agent, meta::summary, meta::link],
}
