//! A module's rules and extractors, and the state that evaluates them: the same code runs inside
//! the wasm guest and natively in the host.

use std::any::Any;
use std::collections::BTreeSet;

use crate::abi::{ABI_VERSION, EvalOutput, Extracted, Phase};
use crate::args::ArgField;
use crate::describe::{
    ArgDescription, ExtractorDescription, ExtractorKind, KeyDescription, ModuleDescription,
    RuleDescription, SampleDescription,
};
use crate::message::Message;

/// Decoded arguments of one registered rule.
pub type Prepared = Box<dyn Any + Send + Sync>;

/// A rule, as `#[rule]` declares it.
#[derive(Clone, Copy)]
pub struct RuleDef {
    /// Its name.
    pub name: &'static str,
    /// Its doc comment.
    pub doc: &'static str,
    /// Topic globs outside which it never matches; empty for any topic.
    pub topics: &'static [&'static str],
    /// The rule is exactly "the topic matches one of `topics`": the host answers it from the
    /// topic alone, without calling the module.
    pub exact: bool,
    /// Set for rules the host answers from an index: the argument is among the extractor's
    /// keys, or among what relation `via` (data the host holds) maps them to.
    pub key: Option<KeySpec>,
    /// Its arguments.
    pub args: &'static [ArgField],
    /// Decodes and checks arguments, once per registration.
    pub prepare: fn(&[u8]) -> Result<Prepared, String>,
    /// Evaluates the rule on a message with prepared arguments.
    pub eval: fn(&Message<'_>, &(dyn Any + Send + Sync)) -> Result<bool, String>,
}

/// How an indexed rule is answered: `args[arg]` among `extractor`'s keys (through `via`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// The extractor.
    pub extractor: &'static str,
    /// The argument holding the key.
    pub arg: &'static str,
    /// The relation the extractor's keys are mapped through first (e.g. `owners`: package to
    /// the users who own it), if any.
    pub via: Option<&'static str>,
}

/// An extractor, as `#[extractor]` declares it.
#[derive(Clone, Copy)]
pub struct ExtractorDef {
    /// Its name.
    pub name: &'static str,
    /// Its doc comment.
    pub doc: &'static str,
    /// Keys or text.
    pub kind: ExtractorKind,
    /// Runs it.
    pub run: fn(&Message<'_>) -> Result<Extracted, String>,
}

/// A message a module's rule must (or must not) match: the host checks every sample when it
/// loads the module, and refuses the module if one fails.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// The rule.
    pub rule: &'static str,
    /// Its arguments, a JSON object.
    pub args: &'static str,
    /// A bus message (fedmsg or fedora-messaging), JSON.
    pub message: &'static str,
    /// Whether the rule matches it.
    pub matches: bool,
}

/// A module, as `module!` declares it.
pub struct ModuleDef {
    /// Its name.
    pub name: &'static str,
    /// Its version.
    pub version: &'static str,
    /// What it is for.
    pub doc: &'static str,
    /// Its rules, in groups (a family's table, a list of `#[rule]` functions); a rule's index
    /// counts across the groups in order.
    pub rule_groups: &'static [&'static [RuleDef]],
    /// Its extractors.
    pub extractors: &'static [ExtractorDef],
    /// Messages its rules must (or must not) match.
    pub samples: &'static [Sample],
}

impl ModuleDef {
    /// The module's self-description.
    pub fn describe(&self) -> ModuleDescription {
        ModuleDescription {
            abi: ABI_VERSION,
            name: self.name.into(),
            version: self.version.into(),
            sdk: Some(crate::abi::SDK_VERSION.into()),
            doc: self.doc.into(),
            rules: self
                .rules()
                .map(|r| RuleDescription {
                    name: r.name.into(),
                    doc: clean_doc(r.doc),
                    args: r
                        .args
                        .iter()
                        .map(|a| ArgDescription {
                            name: a.name.into(),
                            ty: a.ty.into(),
                            doc: a.doc.into(),
                            required: a.required,
                        })
                        .collect(),
                    topics: r.topics.iter().map(|t| (*t).into()).collect(),
                    exact: r.exact,
                    key: r.key.map(|k| KeyDescription {
                        extractor: k.extractor.into(),
                        arg: k.arg.into(),
                        via: k.via.map(Into::into),
                    }),
                })
                .collect(),
            extractors: self
                .extractors
                .iter()
                .map(|e| ExtractorDescription {
                    name: e.name.into(),
                    doc: e.doc.into(),
                    kind: e.kind,
                })
                .collect(),
            samples: self
                .samples
                .iter()
                .map(|s| SampleDescription {
                    rule: s.rule.into(),
                    args: serde_json::from_str(s.args).unwrap_or(serde_json::Value::Null),
                    message: serde_json::from_str(s.message).unwrap_or(serde_json::Value::Null),
                    matches: s.matches,
                })
                .collect(),
        }
    }

    /// Every rule, in index order.
    pub fn rules(&self) -> impl Iterator<Item = &'static RuleDef> + use<> {
        let groups: &'static [&'static [RuleDef]] = self.rule_groups;
        groups.iter().flat_map(|g| g.iter())
    }

    /// How many rules there are.
    pub fn rule_count(&self) -> usize {
        self.rule_groups.iter().map(|g| g.len()).sum()
    }

    /// Rule number `index`.
    pub fn rule(&self, index: usize) -> Option<&'static RuleDef> {
        self.rules().nth(index)
    }

    /// The index of the rule called `name`.
    pub fn rule_index(&self, name: &str) -> Option<usize> {
        self.rules().position(|r| r.name == name)
    }

    /// The index of the extractor called `name`.
    pub fn extractor_index(&self, name: &str) -> Option<usize> {
        self.extractors.iter().position(|e| e.name == name)
    }
}

struct Registered {
    rule: usize,
    def: &'static RuleDef,
    prepared: Prepared,
}

/// A doc comment as written in a `///` block (each line after one space), or already clean.
fn clean_doc(doc: &str) -> String {
    let lines: Vec<&str> = doc
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect();
    lines.join("\n").trim().to_owned()
}

/// The registered rules of one module instance, and the evaluation of messages against them.
pub struct ModuleState {
    def: &'static ModuleDef,
    rules: Vec<&'static RuleDef>,
    handles: Vec<Option<Registered>>,
    free: Vec<u32>,
    track: fn(Phase, u32),
}

impl ModuleState {
    /// A fresh state with no rule registered.
    pub fn new(def: &'static ModuleDef) -> Self {
        Self::with_tracker(def, |_, _| {})
    }

    /// A fresh state that reports what it is doing to `track` (the guest writes it where the
    /// host can read it after a trap).
    pub fn with_tracker(def: &'static ModuleDef, track: fn(Phase, u32)) -> Self {
        ModuleState {
            def,
            rules: def.rules().collect(),
            handles: Vec::new(),
            free: Vec::new(),
            track,
        }
    }

    /// The module.
    pub fn def(&self) -> &'static ModuleDef {
        self.def
    }

    /// Registers rule `rule` with arguments `args` (a JSON object), decoding them once.
    pub fn register(&mut self, rule: usize, args: &[u8]) -> Result<u32, String> {
        let def = *self.rules.get(rule).ok_or_else(|| {
            format!(
                "no rule number {rule} (the module has {})",
                self.rules.len()
            )
        })?;
        (self.track)(Phase::Register, rule as u32);
        let prepared = (def.prepare)(args)?;
        (self.track)(Phase::Idle, 0);
        let reg = Some(Registered {
            rule,
            def,
            prepared,
        });
        Ok(match self.free.pop() {
            Some(h) => {
                self.handles[h as usize] = reg;
                h
            }
            None => {
                self.handles.push(reg);
                (self.handles.len() - 1) as u32
            }
        })
    }

    /// Forgets a handle; false if it was not registered.
    pub fn unregister(&mut self, handle: u32) -> bool {
        match self.handles.get_mut(handle as usize) {
            Some(slot @ Some(_)) => {
                *slot = None;
                self.free.push(handle);
                true
            }
            _ => false,
        }
    }

    /// Evaluates `handles` and runs `extractors` (indices) on one message.
    pub fn eval(&mut self, message: &[u8], handles: &[u32], extractors: &[u32]) -> EvalOutput {
        (self.track)(Phase::Parse, 0);
        let parsed = std::str::from_utf8(message)
            .map_err(|e| e.to_string())
            .and_then(|text| Message::parse(text).map_err(|e| e.to_string()));
        let msg = match parsed {
            Ok(m) => m,
            Err(e) => {
                (self.track)(Phase::Idle, 0);
                return EvalOutput {
                    message_error: Some(e),
                    ..Default::default()
                };
            }
        };
        let mut out = EvalOutput::with_handles(handles.len());
        for (pos, &h) in handles.iter().enumerate() {
            let Some(Some(reg)) = self.handles.get(h as usize) else {
                out.errors
                    .push((pos as u32, format!("handle {h} is not registered")));
                continue;
            };
            (self.track)(Phase::Rule, reg.rule as u32);
            match (reg.def.eval)(&msg, reg.prepared.as_ref()) {
                Ok(true) => out.set_match(pos),
                Ok(false) => {}
                Err(e) => out.errors.push((pos as u32, e)),
            }
        }
        out.extracted = extractors
            .iter()
            .map(|&x| match self.def.extractors.get(x as usize) {
                Some(e) => {
                    (self.track)(Phase::Extractor, x);
                    (e.run)(&msg)
                }
                None => Err(format!("no extractor number {x}")),
            })
            .collect();
        (self.track)(Phase::Idle, 0);
        out
    }
}

/// A set of keys an extractor yields: sorted, without duplicates or empty strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys(BTreeSet<String>);

impl Keys {
    /// No keys.
    pub fn new() -> Self {
        Keys::default()
    }

    /// Adds a key; empty (or all-blank) keys are ignored.
    pub fn insert(&mut self, key: impl Into<String>) {
        let key = key.into();
        if !key.trim().is_empty() {
            self.0.insert(key);
        }
    }

    /// Adds the string at `v`, if it is one.
    pub fn insert_value(&mut self, v: Option<&serde_json::Value>) {
        if let Some(s) = v.and_then(serde_json::Value::as_str) {
            self.insert(s);
        }
    }

    /// Whether `key` is among them.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains(key)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The keys, sorted.
    pub fn into_vec(self) -> Vec<String> {
        self.0.into_iter().collect()
    }
}

impl<S: Into<String>> FromIterator<S> for Keys {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut k = Keys::new();
        for s in iter {
            k.insert(s);
        }
        k
    }
}

impl<S: Into<String>> Extend<S> for Keys {
    fn extend<I: IntoIterator<Item = S>>(&mut self, iter: I) {
        for s in iter {
            self.insert(s);
        }
    }
}

/// What a `#[rule]` function may return: `bool`, or `Result<bool, E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "a rule returns `bool` or `Result<bool, E>` with `E: Display`, not `{Self}`",
    label = "the rule's answer",
    note = "write `-> bool`, or `-> Result<bool, String>` to report errors"
)]
pub trait IntoVerdict {
    /// The verdict, or the rule's error as text.
    fn into_verdict(self) -> Result<bool, String>;
}

impl IntoVerdict for bool {
    fn into_verdict(self) -> Result<bool, String> {
        Ok(self)
    }
}

impl<E: std::fmt::Display> IntoVerdict for Result<bool, E> {
    fn into_verdict(self) -> Result<bool, String> {
        self.map_err(|e| e.to_string())
    }
}

/// What an `#[extractor]` function may return: [`Keys`], `Option<String>` (a text), or a
/// `Result` of either with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "an extractor returns `Keys` or `Option<String>` (or a `Result` of either with `E: Display`), not `{Self}`",
    label = "the extractor's answer",
    note = "write `-> Keys` for keys (usernames, packages), `-> Option<String>` for a text (summary, link)"
)]
pub trait IntoExtracted {
    /// Keys or text.
    const KIND: ExtractorKind;
    /// The result, or the extractor's error as text.
    fn into_extracted(self) -> Result<Extracted, String>;
}

impl IntoExtracted for Keys {
    const KIND: ExtractorKind = ExtractorKind::Keys;
    fn into_extracted(self) -> Result<Extracted, String> {
        Ok(Extracted::Keys(self.into_vec()))
    }
}

impl IntoExtracted for Option<String> {
    const KIND: ExtractorKind = ExtractorKind::Text;
    fn into_extracted(self) -> Result<Extracted, String> {
        Ok(Extracted::Text(self.filter(|s| !s.is_empty())))
    }
}

impl<T: IntoExtracted, E: std::fmt::Display> IntoExtracted for Result<T, E> {
    const KIND: ExtractorKind = T::KIND;
    fn into_extracted(self) -> Result<Extracted, String> {
        self.map_err(|e| e.to_string()).and_then(T::into_extracted)
    }
}
