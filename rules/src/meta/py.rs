//! Python's own text for JSON values, for definitions that write message values with
//! `str.format` or `str()`: a message field that is a number, `null` or a list is printed
//! the way Python prints it, so summaries match what the schema packages say.

use serde_json::Value;

/// `str(v)` in Python of a JSON value as `json.loads` gives it.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// `repr(v)` in Python of a JSON value as `json.loads` gives it.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => py_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => str_repr(s),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(py_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{}: {}", str_repr(k), py_repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's float repr: the shortest round-trip digits, `.0` on integral values, and an
/// exponent (`1e+16`, `1e-05`) outside [1e-4, 1e16).
fn py_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "nan".into()
        } else if f > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let e = format!("{f:e}");
        let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    if f.fract() == 0.0 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// `repr()` of a Python string: single quotes unless the text has one and no double quote.
fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's truth value of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `sep.join(v)` in Python: a list of strings, or the characters of a string; anything
/// else raises there, so it gives nothing here.
pub fn join(v: &Value, sep: &str) -> Option<String> {
    match v {
        Value::String(s) => Some(s.chars().map(String::from).collect::<Vec<_>>().join(sep)),
        Value::Array(a) => {
            let items: Option<Vec<&str>> = a.iter().map(Value::as_str).collect();
            Some(items?.join(sep))
        }
        _ => None,
    }
}

/// The items Python iterates over in `for x in v`: a list's items, a string's characters,
/// a dict's keys; nothing for what it cannot iterate.
pub fn iter_strs(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(s.chars().map(String::from).collect()),
        Value::Array(a) => Some(a.iter().map(py_str).collect()),
        Value::Object(o) => Some(o.keys().cloned().collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_text() {
        assert_eq!(py_str(&json!(3)), "3");
        assert_eq!(py_str(&json!(3.0)), "3.0");
        assert_eq!(py_str(&json!(1.5)), "1.5");
        assert_eq!(py_str(&json!(1e16)), "1e+16");
        assert_eq!(py_str(&json!(1.5e-5)), "1.5e-05");
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!(["a", 1, null])), "['a', 1, None]");
        assert_eq!(py_str(&json!({"k": "it's"})), "{'k': \"it's\"}");
        assert_eq!(join(&json!(["a", "b"]), ", ").as_deref(), Some("a, b"));
        assert_eq!(join(&json!("ab"), ", ").as_deref(), Some("a, b"));
        assert_eq!(join(&json!(["a", 1]), ", "), None);
    }
}
