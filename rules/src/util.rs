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
