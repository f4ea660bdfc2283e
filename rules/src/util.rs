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

/// NVRs in an old-style bodhi title: `a-1-1.fc18,b-2-1.fc18` or `a-1-1 and b-2-1`.
pub fn title_nvrs(title: &str) -> impl Iterator<Item = &str> {
    title
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "and")
}

/// `@name` mentions in free text.
pub fn mentions(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '@' || c == '-' || c == '_'))
        .filter_map(|w| w.strip_prefix('@'))
        .map(|w| w.trim_end_matches(['-', '_']))
        .filter(|w| !w.is_empty() && !w.contains('@'))
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
        let t: Vec<_> = title_nvrs("a-1-1.fc18,b-2-1.fc18").collect();
        assert_eq!(t, ["a-1-1.fc18", "b-2-1.fc18"]);
        let m: Vec<_> = mentions("thanks /cc @codeblock. and @ralph, mail me@x.org").collect();
        assert_eq!(m, ["codeblock", "ralph"]);
    }
}
