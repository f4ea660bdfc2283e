//! Helpers shared by the families' metadata.

use serde_json::Value;

/// A user's name, whether written as a string or as `{"name": ...}` / `{"username": ...}`.
pub fn user_name(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("name").or_else(|| o.get("username"))?.as_str(),
        _ => None,
    }
}

/// The package name of an NVR: `nethack-3.4.3-1.fc30` -> `nethack`.
pub fn nvr_name(nvr: &str) -> Option<&str> {
    let mut parts = nvr.trim().rsplitn(3, '-');
    let (_release, _version, name) = (parts.next()?, parts.next()?, parts.next()?);
    (!name.is_empty()).then_some(name)
}

/// Items as English prose: `a`, `a and b`, `a, b, and c`.
pub fn series<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [a] => a.as_ref().to_owned(),
        [a, b] => format!("{} and {}", a.as_ref(), b.as_ref()),
        [rest @ .., last] => {
            let head: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{}, and {}", head.join(", "), last.as_ref())
        }
    }
}

/// Python's `str()` of a JSON scalar, as `format` and f-strings render the values the
/// definitions format: `None`, `True`, `42`. Lists and dicts (rendered as Python reprs) give
/// nothing.
pub fn py_str(v: &Value) -> Option<String> {
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    })
}

/// Python's truth of a JSON value, a missing one false (`if msg.get(key):`).
pub fn py_truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvrs() {
        assert_eq!(
            nvr_name("golang-github-SAP-go-hdb-0.14.1-1.fc29"),
            Some("golang-github-SAP-go-hdb")
        );
        assert_eq!(nvr_name("nethack"), None);
    }
}
