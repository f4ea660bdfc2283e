//! How well the loaded modules' extractors say what messages are about, against corpus files
//! whose answers come from elsewhere (Fedora's `fedmsg.meta` tests, the fedora-messaging schema
//! packages' tests), and how well their rules answer recorded rule cases.
//!
//! Two line formats are read: a fedmsg corpus line `{"topic", "envelope", "expected",
//! "context"}` and a fedora-messaging corpus line `{"topic", "body", "headers"?, "expected"}`.
//! Fields are compared as the corpus states them: `usernames`, `packages` and `groups` as sets;
//! the one-line summary (fedmsg `subtitle`, fedora-messaging `summary`), the link (`link`,
//! `url`) and the `agent` exactly.

use std::collections::{BTreeMap, BTreeSet};

use fmn_core::data::ALIASES;
use fmn_core::{Envelope, Relations};
use fmn_rules_sdk::Extracted;
use serde::Serialize;
use serde_json::Value;

use crate::backend::LoadedModule;
use crate::error::CallError;

/// The fields scored, with the extractor that answers each.
pub const FIELDS: &[(&str, &str)] = &[
    ("usernames", "usernames"),
    ("packages", "packages"),
    ("groups", "groups"),
    ("agent", "agent"),
    ("summary", "summary"),
    ("link", "link"),
    ("icon", "icon"),
    ("app_name", "app_name"),
    ("long_text", "long_text"),
];

/// A corpus line that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{place}: {reason}")]
pub struct LineError {
    /// `file:line`.
    pub place: String,
    /// What is wrong.
    pub reason: String,
}

/// Which bus era a line comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Era {
    /// fedmsg, 2012-2021.
    Fedmsg,
    /// fedora-messaging.
    FedoraMessaging,
}

/// An expected answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// A set of keys.
    Keys(BTreeSet<String>),
    /// A text.
    Text(String),
}

/// One corpus line, ready to score.
#[derive(Debug, Clone)]
pub struct Line {
    /// `file:line`.
    pub place: String,
    /// The bus era.
    pub era: Era,
    /// The topic's category (application family).
    pub family: String,
    /// The message as it comes off the bus.
    pub bus: String,
    /// What the corpus states, by field name of [`FIELDS`].
    pub expected: BTreeMap<&'static str, Answer>,
    /// Aliases the line's source test mocked (`context.fas_cache`).
    pub aliases: BTreeMap<String, String>,
}

fn answer(v: &Value) -> Option<Answer> {
    match v {
        Value::Array(items) => Some(Answer::Keys(
            items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
        )),
        Value::String(s) => Some(Answer::Text(s.clone())),
        _ => None,
    }
}

/// Reads a corpus file of either format; `name` is used in places. Lines that cannot be
/// scored (not JSON, no answers, not a bus message) are returned apart, with the reason.
pub fn parse_corpus(name: &str, text: &str) -> (Vec<Line>, Vec<LineError>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        match parse_line(name, i, raw) {
            Ok(Some(line)) => out.push(line),
            Ok(None) => {}
            Err(e) => skipped.push(e),
        }
    }
    (out, skipped)
}

fn parse_line(name: &str, i: usize, raw: &str) -> Result<Option<Line>, LineError> {
    {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let place = format!("{name}:{}", i + 1);
        let fail = |reason: String| LineError {
            place: place.clone(),
            reason,
        };
        let v: Value = serde_json::from_str(raw).map_err(|e| fail(format!("not JSON: {e}")))?;
        let expected_raw = v
            .get("expected")
            .and_then(Value::as_object)
            .ok_or_else(|| fail("no `expected` object".into()))?;
        let (era, bus, renames): (Era, Value, &[(&str, &'static str)]) =
            if let Some(env) = v.get("envelope") {
                let renames: &[(&str, &'static str)] = &[
                    ("usernames", "usernames"),
                    ("packages", "packages"),
                    ("agent", "agent"),
                    ("subtitle", "summary"),
                    ("link", "link"),
                    ("icon", "icon"),
                    ("long_form", "long_text"),
                ];
                (Era::Fedmsg, env.clone(), renames)
            } else if let Some(body) = v.get("body") {
                let mut bus = serde_json::json!({"topic": v["topic"], "body": body});
                for field in ["headers", "id"] {
                    if let Some(x) = v.get(field) {
                        bus[field] = x.clone();
                    }
                }
                let renames: &[(&str, &'static str)] = &[
                    ("usernames", "usernames"),
                    ("packages", "packages"),
                    ("groups", "groups"),
                    ("agent", "agent"),
                    ("summary", "summary"),
                    ("url", "link"),
                    ("app_icon", "icon"),
                    ("app_name", "app_name"),
                    ("str", "long_text"),
                ];
                (Era::FedoraMessaging, bus, renames)
            } else {
                return Err(fail("neither an `envelope` nor a `body`".into()));
            };
        let bus = bus.to_string();
        let env = Envelope::from_bus_json(bus.as_bytes(), usize::MAX)
            .map_err(|e| fail(format!("not a bus message: {e}")))?;
        let expected = renames
            .iter()
            .filter_map(|(from, to)| expected_raw.get(*from).and_then(answer).map(|a| (*to, a)))
            .collect();
        let aliases = fmn_rules_sdk::testing::aliases(v.pointer("/context/fas_cache"));
        Ok(Some(Line {
            place,
            era,
            family: fmn_rules_sdk::topic_parts(&env.topic).0.to_owned(),
            bus,
            expected,
            aliases,
        }))
    }
}

/// Stated and matched counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Score {
    /// Lines that state the field.
    pub stated: usize,
    /// Lines where the extractors agree.
    pub matched: usize,
}

impl Score {
    /// `matched / stated`, 1 when nothing is stated.
    pub fn rate(&self) -> f64 {
        if self.stated == 0 {
            1.0
        } else {
            self.matched as f64 / self.stated as f64
        }
    }
}

/// A disagreement.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    /// `file:line`.
    pub place: String,
    /// The field.
    pub field: &'static str,
    /// What the corpus states.
    pub expected: Answer,
    /// What the extractors said (none when the extractor is missing or failed).
    pub got: Option<Answer>,
}

/// Scores by era and field, by era, family and field, and every miss.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// (era, field) -> score.
    pub fields: BTreeMap<Era, BTreeMap<&'static str, Score>>,
    /// (era, family, field) -> score.
    pub families: BTreeMap<Era, BTreeMap<String, BTreeMap<&'static str, Score>>>,
    /// Every disagreement, in corpus order.
    pub misses: Vec<Miss>,
}

impl Report {
    /// The score of `field` in `era`.
    pub fn score(&self, era: Era, field: &str) -> Score {
        self.fields
            .get(&era)
            .and_then(|f| f.get(field))
            .copied()
            .unwrap_or_default()
    }
}

/// What the modules' extractors say about one message, by field, with people named by their
/// accounts as a worker names them ([`Relations::account`], [`Relations::resolve_people`]).
pub fn extract(
    modules: &[LoadedModule],
    relations: &Relations,
    message_json: &[u8],
) -> Result<BTreeMap<&'static str, Answer>, CallError> {
    let mut out: BTreeMap<&'static str, Answer> = BTreeMap::new();
    for m in modules {
        let wanted: Vec<(&'static str, u32)> = FIELDS
            .iter()
            .filter_map(|(field, x)| {
                let i = m.description.extractors.iter().position(|d| d.name == *x)?;
                Some((*field, i as u32))
            })
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let indices: Vec<u32> = wanted.iter().map(|w| w.1).collect();
        let o = m.instantiate()?.eval(message_json, &[], &indices)?;
        for ((field, _), r) in wanted.iter().zip(o.extracted) {
            let a = match r {
                Ok(Extracted::Keys(k)) => Answer::Keys(k.into_iter().collect()),
                Ok(Extracted::Text(Some(t))) => Answer::Text(t),
                Ok(Extracted::Text(None)) | Err(_) => continue,
            };
            // The first module that answers a field wins, as in notifications' metadata.
            out.entry(field).or_insert(a);
        }
    }
    if let Some(Answer::Keys(users)) = out.get_mut("usernames") {
        *users = users
            .iter()
            .filter_map(|u| relations.account(u).map(str::to_owned))
            .collect();
    }
    if let Some(Answer::Text(agent)) = out.get_mut("agent")
        && let Some(a) = relations.account(agent)
    {
        *agent = a.to_owned();
    }
    for field in ["summary", "long_text"] {
        if let Some(Answer::Text(text)) = out.get_mut(field) {
            *text = relations.resolve_people(text).into_owned();
        }
    }
    Ok(out)
}

/// Scores `lines`. `relations` is the host's data; each line's own aliases are added to it,
/// as the test that line comes from mocked them.
pub fn score(modules: &[LoadedModule], relations: &Relations, lines: &[Line]) -> Report {
    let mut report = Report::default();
    for line in lines {
        let env = match Envelope::from_bus_json(line.bus.as_bytes(), usize::MAX) {
            Ok(e) => e,
            Err(_) => continue,
        };
        let mut rel;
        let relations = if line.aliases.is_empty() {
            relations
        } else {
            rel = relations.clone();
            for (from, to) in &line.aliases {
                rel.add(ALIASES, from, [to.clone()]);
            }
            &rel
        };
        let got = extract(modules, relations, env.rules_json().as_bytes()).unwrap_or_default();
        for (field, want) in &line.expected {
            let have = got.get(field);
            let ok = have == Some(want)
                // An empty set stated is matched by no answer at all.
                || (have.is_none() && matches!(want, Answer::Keys(k) if k.is_empty()));
            for s in [
                report
                    .fields
                    .entry(line.era)
                    .or_default()
                    .entry(field)
                    .or_default(),
                report
                    .families
                    .entry(line.era)
                    .or_default()
                    .entry(line.family.clone())
                    .or_default()
                    .entry(field)
                    .or_default(),
            ] {
                s.stated += 1;
                s.matched += usize::from(ok);
            }
            if !ok {
                report.misses.push(Miss {
                    place: line.place.clone(),
                    field,
                    expected: want.clone(),
                    got: have.cloned(),
                });
            }
        }
    }
    report
}

/// One recorded rule call: FMN 2's rule tests (`fmn_rules_cases.jsonl`).
#[derive(Debug, Clone)]
pub struct Case {
    /// `file:line`.
    pub place: String,
    /// The rule's name (FMN's function name, e.g. `koji_build_failed`).
    pub rule: String,
    /// Positional arguments, as FMN called the rule.
    pub args: Vec<Value>,
    /// Named arguments.
    pub kwargs: serde_json::Map<String, Value>,
    /// The bus message.
    pub bus: String,
    /// Whether the rule matches it.
    pub expected: bool,
    /// The case depends on data the corpus does not include (its notes say so).
    pub informative: bool,
}

/// Reads a rule-case file.
pub fn parse_cases(name: &str, text: &str) -> Result<Vec<Case>, LineError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let place = format!("{name}:{}", i + 1);
        let fail = |reason: &str| LineError {
            place: place.clone(),
            reason: reason.to_owned(),
        };
        let v: Value = serde_json::from_str(raw).map_err(|e| fail(&format!("not JSON: {e}")))?;
        let rule = v["rule"]
            .as_str()
            .ok_or_else(|| fail("no `rule`"))?
            .rsplit([':', '.'])
            .next()
            .unwrap_or_default()
            .to_owned();
        // FMN tested topic-only rules with messages that are only a topic: give them a body.
        let mut message = v["message"].clone();
        let m = message
            .as_object_mut()
            .ok_or_else(|| fail("`message` is not an object"))?;
        if !m.contains_key("msg") && !m.contains_key("body") {
            m.insert("msg".into(), Value::Object(Default::default()));
        }
        out.push(Case {
            place,
            rule,
            args: v["args"].as_array().cloned().unwrap_or_default(),
            kwargs: v["kwargs"].as_object().cloned().unwrap_or_default(),
            bus: message.to_string(),
            expected: v["expected"]
                .as_bool()
                .unwrap_or_else(|| !v["expected"].is_null()),
            informative: v["notes"].to_string().contains("ownership"),
        });
    }
    Ok(out)
}

/// What one case gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "lowercase")]
pub enum Outcome {
    /// The rule gave the recorded answer.
    Pass,
    /// It did not, or failed; why.
    Fail(String),
    /// No loaded module has the rule.
    Missing,
    /// Not counted: the case depends on data not included.
    Informative,
}

/// FMN called rules with positional arguments; ours are named, in schema order. `None` and
/// missing required arguments become empty strings, which FMN's rules took as "no match".
fn named_args(rule: &fmn_rules_sdk::describe::RuleDescription, case: &Case) -> Value {
    let mut out = serde_json::Map::new();
    for (field, value) in rule.args.iter().zip(&case.args) {
        let v = if value.is_null() {
            Value::String(String::new())
        } else {
            value.clone()
        };
        out.insert(field.name.clone(), v);
    }
    for (k, v) in &case.kwargs {
        out.insert(k.clone(), v.clone());
    }
    for field in rule.args.iter().filter(|a| a.required) {
        out.entry(field.name.clone())
            .or_insert_with(|| Value::String(String::new()));
    }
    Value::Object(out)
}

/// Runs `case` as a worker would evaluate the rule: through the module's own function, with
/// the arguments registered once. Rules keyed through ownership data are answered from
/// `relations` the way the host answers them.
pub fn run_case(modules: &[LoadedModule], relations: &Relations, case: &Case) -> Outcome {
    if case.informative {
        return Outcome::Informative;
    }
    let found = modules.iter().find_map(|m| {
        let i = m
            .description
            .rules
            .iter()
            .position(|r| r.name == case.rule)?;
        Some((m, i))
    });
    let Some((module, index)) = found else {
        return Outcome::Missing;
    };
    let rule = &module.description.rules[index];
    let args = named_args(rule, case);
    let env = match Envelope::from_bus_json(case.bus.as_bytes(), usize::MAX) {
        Ok(e) => e,
        Err(e) => return Outcome::Fail(format!("message not accepted: {e}")),
    };
    let json = env.rules_json();
    let got = (|| -> Result<bool, String> {
        if rule.exact {
            return Ok(fmn_rules_sdk::glob::any_matches(&rule.topics, &env.topic));
        }
        if !fmn_rules_sdk::glob::any_matches(&rule.topics, &env.topic) {
            return Ok(false);
        }
        let mut backend = module.instantiate().map_err(|e| e.to_string())?;
        if let Some(key) = &rule.key {
            let wanted = crate::keys::key_values(&key.arg, args.get(&key.arg))?;
            let x = module
                .description
                .extractors
                .iter()
                .position(|d| d.name == key.extractor)
                .ok_or_else(|| format!("no extractor {}", key.extractor))?;
            let o = backend
                .eval(json.as_bytes(), &[], &[x as u32])
                .map_err(|e| e.to_string())?;
            let keys = match o.extracted.into_iter().next() {
                Some(Ok(Extracted::Keys(k))) => k,
                Some(Err(e)) => return Err(e),
                _ => Vec::new(),
            };
            return Ok(match &key.via {
                None => keys.iter().any(|k| wanted.contains(k)),
                Some(rel) => keys.iter().any(|k| {
                    relations
                        .related(rel, k)
                        .any(|v| wanted.iter().any(|w| w == v))
                }),
            });
        }
        let handle = backend
            .register(index, args.to_string().as_bytes())
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("arguments {args} refused: {e}"))?;
        let o = backend
            .eval(json.as_bytes(), &[handle], &[])
            .map_err(|e| e.to_string())?;
        if let Some((_, e)) = o.errors.first() {
            return Err(e.clone());
        }
        Ok(o.is_match(0))
    })();
    match got {
        Ok(g) if g == case.expected => Outcome::Pass,
        Ok(g) => Outcome::Fail(format!(
            "{}({args}) on {}: expected {}, got {g}",
            case.rule, env.topic, case.expected
        )),
        Err(e) => Outcome::Fail(format!("{}({args}) on {}: {e}", case.rule, env.topic)),
    }
}
