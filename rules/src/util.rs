//! Helpers shared by the families' metadata.

use serde_json::Value;

/// A user's name, whether written as a string or as `{"name": ...}` / `{"username": ...}`.
pub(crate) fn user_name(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("name").or_else(|| o.get("username"))?.as_str(),
        _ => None,
    }
}

/// Items as English prose: `a`, `a and b`, `a, b, and c`.
pub(crate) fn series<S: AsRef<str>>(items: &[S]) -> String {
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
    fn prose_series() {
        assert_eq!(series::<&str>(&[]), "");
        assert_eq!(series(&["a", "b"]), "a and b");
        assert_eq!(series(&["a", "b", "c"]), "a, b, and c");
    }
}
