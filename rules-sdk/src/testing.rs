//! Helpers for testing rules natively with `cargo test`, on real bus messages.

use crate::abi::Extracted;
use crate::module::{ModuleDef, ModuleState};

/// Normalises a bus message (a fedmsg envelope or a fedora-messaging message, as JSON) into
/// the envelope rules see, exactly as the consumer does.
pub fn envelope(bus_json: &str) -> Result<String, String> {
    fmn_core::envelope::rules_json_from_bus(bus_json.as_bytes()).map_err(|e| e.to_string())
}

/// Aliases (old nicks and addresses to accounts) given as a JSON object of strings, as
/// conformance corpora carry them; entries that are not strings are left out.
pub fn aliases(object: Option<&serde_json::Value>) -> std::collections::BTreeMap<String, String> {
    object
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs rule `rule` of `module` with `args` on a bus message.
pub fn check(
    module: &'static ModuleDef,
    rule: &str,
    args: serde_json::Value,
    bus_json: &str,
) -> Result<bool, String> {
    let idx = module
        .rule_index(rule)
        .ok_or_else(|| format!("module {} has no rule {rule}", module.name))?;
    let mut state = ModuleState::new(module);
    let handle = state.register(idx, args.to_string().as_bytes())?;
    let out = state.eval(envelope(bus_json)?.as_bytes(), &[handle], &[]);
    if let Some(e) = out.message_error {
        return Err(e);
    }
    if let Some((_, e)) = out.errors.first().cloned() {
        return Err(e);
    }
    Ok(out.is_match(0))
}

/// Runs extractor `extractor` of `module` on a bus message.
pub fn extract(
    module: &'static ModuleDef,
    extractor: &str,
    bus_json: &str,
) -> Result<Extracted, String> {
    let idx = module
        .extractor_index(extractor)
        .ok_or_else(|| format!("module {} has no extractor {extractor}", module.name))?;
    let mut state = ModuleState::new(module);
    let mut out = state.eval(envelope(bus_json)?.as_bytes(), &[], &[idx as u32]);
    if let Some(e) = out.message_error {
        return Err(e);
    }
    // People marked in a text are shown by name, as a worker without alias data shows them.
    match out.extracted.pop() {
        Some(Ok(Extracted::Text(Some(t)))) => {
            Ok(Extracted::Text(Some(crate::people::resolve(&t, |_| None))))
        }
        Some(other) => other,
        None => Err("no result".into()),
    }
}

/// The keys an extractor yields on a bus message (empty for a text extractor).
pub fn keys(
    module: &'static ModuleDef,
    extractor: &str,
    bus_json: &str,
) -> Result<Vec<String>, String> {
    match extract(module, extractor, bus_json)? {
        Extracted::Keys(k) => Ok(k),
        Extracted::Text(_) => Err(format!("{extractor} yields a text, not keys")),
    }
}

/// The text an extractor yields on a bus message.
pub fn text(
    module: &'static ModuleDef,
    extractor: &str,
    bus_json: &str,
) -> Result<Option<String>, String> {
    match extract(module, extractor, bus_json)? {
        Extracted::Text(t) => Ok(t),
        Extracted::Keys(_) => Err(format!("{extractor} yields keys, not a text")),
    }
}

/// Checks every sample of `module` as a worker does when it loads the module, and more: the
/// rule's own function must give the sample's answer, and so must the promise it makes to the
/// host (its topics; for `exact`, the topic alone; for `key`, the extractor's keys). Returns
/// how many samples were checked, or every failure, one per line.
///
/// Call it from a test so that `cargo test` catches what a worker would refuse:
///
/// ```ignore
/// #[test]
/// fn samples() {
///     fmn_rules_sdk::testing::check_samples(&my_rules::MODULE).unwrap();
/// }
/// ```
pub fn check_samples(module: &'static ModuleDef) -> Result<usize, String> {
    let mut failures = Vec::new();
    for (i, s) in module.samples.iter().enumerate() {
        let say = |b: bool| if b { "a match" } else { "no match" };
        let mut fail = |what: String| {
            failures.push(format!("sample {} ({}): {what}", i + 1, s.rule));
        };
        let Some(def) = module.rule_index(s.rule).and_then(|r| module.rule(r)) else {
            fail("the module has no such rule".into());
            continue;
        };
        let args: serde_json::Value = match serde_json::from_str(s.args) {
            Ok(a) => a,
            Err(e) => {
                fail(format!("its arguments are not JSON: {e}"));
                continue;
            }
        };
        let topic = match crate::Message::parse(&match envelope(s.message) {
            Ok(e) => e,
            Err(e) => {
                fail(format!("its message is not a bus message: {e}"));
                continue;
            }
        }) {
            Ok(m) => m.topic().to_owned(),
            Err(e) => {
                fail(format!("its message cannot be read: {e}"));
                continue;
            }
        };
        let in_topics = crate::glob::any_matches(def.topics, &topic);
        match check(module, s.rule, args.clone(), s.message) {
            Err(e) => fail(format!("the rule failed: {e}")),
            Ok(got) if got != s.matches => fail(format!(
                "expected {} on {topic}, the rule's function says {}",
                say(s.matches),
                say(got)
            )),
            Ok(_) => {}
        }
        if s.matches && !in_topics {
            fail(format!("matches {topic}, outside the topics it declares"));
        }
        if def.exact && in_topics != s.matches {
            fail(format!(
                "declared exact, so the host says {} on {topic}",
                say(in_topics)
            ));
        }
        if let Some(key) = def.key.filter(|k| k.via.is_none()) {
            let Some(wanted) = args.get(key.arg).and_then(|v| v.as_str()) else {
                fail(format!("argument `{}` is missing or not a string", key.arg));
                continue;
            };
            match keys(module, key.extractor, s.message) {
                Err(e) => fail(format!("extractor {} failed: {e}", key.extractor)),
                Ok(k) => {
                    let hit = in_topics && k.iter().any(|k| k == wanted);
                    if hit != s.matches {
                        fail(format!(
                            "keyed on {}, so the host says {} on {topic} (keys: {k:?})",
                            key.extractor,
                            say(hit)
                        ));
                    }
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(module.samples.len())
    } else {
        Err(failures.join("\n"))
    }
}
