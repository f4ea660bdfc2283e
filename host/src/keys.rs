//! The keys a rule declared `key(...)` looks up: what its argument names.

/// The keys a keyed rule's argument names: a string is one key, an array of strings several
/// (any of them matches).
pub(crate) fn key_values(
    arg: &str,
    value: Option<&serde_json::Value>,
) -> Result<Vec<String>, String> {
    let mut keys = match value {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    format!("argument `{arg}` must hold strings to be looked up, found {v}")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "argument `{arg}` must be a string or a list of strings to be looked up, found {other}"
            ));
        }
        None => return Err(format!("argument `{arg}` is required")),
    };
    keys.sort();
    keys.dedup();
    Ok(keys)
}
