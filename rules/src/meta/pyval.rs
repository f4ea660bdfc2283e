//! Python's text of JSON values: what the definitions' format strings print when they put a
//! message's value into a sentence (`str()` of a number, of `None`, of a list).

use fmn_rules_sdk::Message;
use serde_json::Value;

/// `str(value)` in Python, for a value decoded from JSON.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// `str(msg[path])`, with `None` for a missing value (as `dict.get` gives it).
pub fn py_at(msg: &Message, path: &[&str]) -> String {
    msg.get(path).map_or_else(|| "None".to_owned(), py_str)
}

/// `repr(value)` in Python, for a value decoded from JSON.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => py_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => py_repr_str(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr_str(k), py_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Python's truthiness of a JSON value (`if msg['x']:`).
pub fn py_truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// `len(value)` in Python, where it has one.
pub fn py_len(v: &Value) -> Option<usize> {
    match v {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => Some(o.len()),
        _ => None,
    }
}

/// `", ".join(value)` in Python: the items of a list of strings, a dict's keys, a string's
/// characters; nothing (Python raises) for anything else.
pub fn py_join(v: &Value, sep: &str) -> Option<String> {
    let items: Vec<String> = match v {
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect::<Option<_>>()?,
        Value::Object(o) => o.keys().cloned().collect(),
        Value::String(s) => s.chars().map(String::from).collect(),
        _ => return None,
    };
    Some(items.join(sep))
}

/// `repr(float)`: the shortest round-trip digits, in fixed notation between 1e-4 and 1e16.
fn py_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "nan"
        } else if f > 0.0 {
            "inf"
        } else {
            "-inf"
        }
        .to_owned();
    }
    let sci = format!("{f:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if mantissa.starts_with('-') { "-" } else { "" };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        if exp < 0 {
            let zeros = "0".repeat(usize::try_from(-exp - 1).unwrap_or(0));
            return format!("{sign}0.{zeros}{digits}");
        }
        let point = usize::try_from(exp).unwrap_or(0) + 1;
        let (int, frac) = if digits.len() > point {
            (digits[..point].to_owned(), digits[point..].to_owned())
        } else {
            (format!("{digits:0<point$}"), "0".to_owned())
        };
        return format!("{sign}{int}.{frac}");
    }
    let (first, rest) = digits.split_at(1.min(digits.len()));
    let rest = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    let esign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{first}{rest}e{esign}{:02}", exp.abs())
}

/// `repr(str)`: single quotes unless only double quotes avoid escaping, unprintables escaped.
fn py_repr_str(s: &str) -> String {
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
            c if c.is_control() || c == '\u{a0}' || c == '\u{ad}' => {
                let n = u32::from(c);
                if n < 0x100 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{n:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_text() {
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!(["a", "b"])), "['a', 'b']");
        assert_eq!(py_str(&json!({"k": true})), "{'k': True}");
        assert_eq!(py_str(&json!("it's")), "it's");
        assert_eq!(py_repr(&json!("it's")), "\"it's\"");
        assert_eq!(py_str(&json!(1.0)), "1.0");
        assert_eq!(py_str(&json!(0.5)), "0.5");
        assert_eq!(py_str(&json!(1e16)), "1e+16");
        assert_eq!(py_str(&json!(1.5e-5)), "1.5e-05");
        assert_eq!(py_str(&json!(123.25)), "123.25");
        assert_eq!(py_str(&json!(-0.001)), "-0.001");
        assert_eq!(py_join(&json!(["a", "b"]), ", ").as_deref(), Some("a, b"));
        assert_eq!(py_join(&json!([1]), ", "), None);
    }
}
