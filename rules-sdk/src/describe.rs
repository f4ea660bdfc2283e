//! How a module describes itself to the host, to `fmn rules list` and to `docs/rules.md`.

use serde::{Deserialize, Serialize};

/// A module's description, as `fmn_describe` returns it (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleDescription {
    /// The ABI version the module speaks.
    pub abi: u32,
    /// The module's name: rules are referred to as `name::rule`.
    pub name: String,
    /// The module's version.
    pub version: String,
    /// The version of fmn-rules-sdk it was built with; modules built before the SDK said so
    /// have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<String>,
    /// What the module is for.
    pub doc: String,
    /// Its rules, in index order.
    pub rules: Vec<RuleDescription>,
    /// Its extractors, in index order.
    pub extractors: Vec<ExtractorDescription>,
    /// Messages its rules must (or must not) match, checked when the module is loaded.
    #[serde(default)]
    pub samples: Vec<SampleDescription>,
}

/// A sample: rule `rule` with `args` on bus message `message` answers `matches`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleDescription {
    /// The rule's name.
    pub rule: String,
    /// Its arguments.
    pub args: serde_json::Value,
    /// A bus message (fedmsg or fedora-messaging).
    pub message: serde_json::Value,
    /// The expected answer.
    pub matches: bool,
}

/// A rule's description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleDescription {
    /// The rule's name.
    pub name: String,
    /// Its doc comment.
    pub doc: String,
    /// Its arguments.
    pub args: Vec<ArgDescription>,
    /// Topic globs outside which the rule never matches; empty for any topic.
    pub topics: Vec<String>,
    /// The rule is exactly "the topic matches one of `topics`", answered from the topic alone.
    #[serde(default)]
    pub exact: bool,
    /// Set when the rule matches exactly when argument `arg` is among the keys of extractor
    /// `extractor`: the host then answers it from an index instead of calling the rule.
    pub key: Option<KeyDescription>,
}

/// An argument of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArgDescription {
    /// Its name.
    pub name: String,
    /// Its type: `string`, `boolean`, `integer`, `number`, `list of string`, ...
    #[serde(rename = "type")]
    pub ty: String,
    /// Its doc comment.
    pub doc: String,
    /// Whether it must be given.
    pub required: bool,
}

/// How an indexed rule is answered: `args[arg]` in `extractor(message)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDescription {
    /// The extractor whose keys are looked up.
    pub extractor: String,
    /// The argument that holds the key.
    pub arg: String,
    /// The relation (host data, e.g. `owners`) the extractor's keys are mapped through first.
    #[serde(default)]
    pub via: Option<String>,
}

/// An extractor's description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractorDescription {
    /// Its name.
    pub name: String,
    /// Its doc comment.
    pub doc: String,
    /// Whether it yields keys or a text.
    pub kind: ExtractorKind,
}

/// What an extractor yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExtractorKind {
    /// A set of keys: usernames, packages, groups...
    Keys,
    /// One text: summary, link...
    Text,
}
