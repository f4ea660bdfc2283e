//! Helpers for testing rules natively with `cargo test`, on real bus messages.

use crate::abi::Extracted;
use crate::module::{ModuleDef, ModuleState};

/// Normalises a bus message (a fedmsg envelope or a fedora-messaging message, as JSON) into
/// the envelope rules see, exactly as the consumer does.
pub fn envelope(bus_json: &str) -> Result<String, String> {
    fmn_core::envelope::rules_json_from_bus(bus_json.as_bytes()).map_err(|e| e.to_string())
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
    out.extracted
        .pop()
        .unwrap_or_else(|| Err("no result".into()))
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
