//! Python's view of JSON values, for definitions that put message fields into text with
//! `str()` / `format()` or test them with `if`: a missing value reads `None`, a list
//! `['a', 'b']`, a float `1.0`; `""`, `0`, `[]` and `{}` are false. One module for every
//! family, so that all print values the same way.

use fmn_rules_sdk::Message;
use serde_json::Value;

/// `str(v)` of a value parsed from JSON.
pub(super) fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// `str(v)` of a value that may be absent, as `dict.get` gives it (`None`).
pub(super) fn py_str_opt(v: Option<&Value>) -> String {
    v.map_or_else(|| "None".to_owned(), py_str)
}

/// `repr(v)` of a value parsed from JSON.
pub(super) fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => float_repr(f),
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

/// Python's `str()` of a JSON scalar, as `format` and f-strings render the values the
/// definitions format: `None`, `True`, `42`. Lists and dicts (rendered as Python reprs) give
/// nothing.
pub(super) fn py_scalar_str(v: &Value) -> Option<String> {
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    })
}

/// Python's truth of a value: `None`, `""`, `0`, `[]`, `{}` and `False` are false.
pub(super) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The truth of a value that may be absent (`if msg.get(key):`): absent is false.
pub(super) fn truthy_at(v: Option<&Value>) -> bool {
    v.is_some_and(truthy)
}

/// `str(msg[path])`, with `None` for a missing value (as `dict.get` gives it).
pub(super) fn py_at(msg: &Message, path: &[&str]) -> String {
    py_str_opt(msg.get(path))
}

/// `len(value)` in Python, where it has one.
pub(super) fn py_len(v: &Value) -> Option<usize> {
    match v {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => Some(o.len()),
        _ => None,
    }
}

/// `sep.join(value)` in Python: the items of a list of strings, a dict's keys, a string's
/// characters; nothing (Python raises) for anything else.
pub(super) fn join(v: &Value, sep: &str) -> Option<String> {
    if let Value::Array(a) = v
        && a.iter().any(|x| !x.is_string())
    {
        return None;
    }
    Some(iter_strs(v)?.join(sep))
}

/// The items Python iterates over in `for x in v`: a list's items, a string's characters,
/// a dict's keys; nothing for what it cannot iterate.
pub(super) fn iter_strs(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(s.chars().map(String::from).collect()),
        Value::Array(a) => Some(a.iter().map(py_str).collect()),
        Value::Object(o) => Some(o.keys().cloned().collect()),
        _ => None,
    }
}

/// `repr()` of a string: single quotes unless it holds one and no double quote.
pub(super) fn str_repr(s: &str) -> String {
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
            // Python shows C0 and C1 controls and DEL by their code.
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr()` of a float: the shortest digits that read back, positional from 1e-4 up to 1e16.
pub(super) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sci = format!("{f:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// fedmsg.meta's `list_to_series`: sorted unique items, `a, b, and c`, the fourth and later
/// ones counted as `N others`.
pub(super) fn list_to_series(items: &[String], n: usize) -> String {
    let mut items: Vec<String> = items.to_vec();
    items.sort();
    items.dedup();
    if items.is_empty() {
        return "(nothing)".to_owned();
    }
    if items.len() == 1 {
        return items.swap_remove(0);
    }
    if n > 0 && items.len() > n {
        let others = items.len() - n + 1;
        items.truncate(n - 1);
        items.push(format!("{others} others"));
    }
    let Some((last, first)) = items.split_last() else {
        return String::new();
    };
    let conjunction = if items.len() > 2 { ", and " } else { " and " };
    format!("{}{conjunction}{last}", first.join(", "))
}

/// Python's `"%i" % v`: an integer, or a float cut to one; anything else fails.
pub(super) fn percent_i(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(i.to_string()),
            None => n.as_u64().map(|u| u.to_string()).or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| format!("{}", f.trunc()))
            }),
        },
        Value::Bool(b) => Some(u8::from(*b).to_string()),
        _ => None,
    }
}

/// `datetime.fromisoformat(s).strftime("%a, %d %b %Y %H:%M:%S %Z")` for the ISO forms
/// applications write (`2023-06-09T07:16:27.818161+00:00`, `...Z`, naive, date only); `None`
/// where Python would refuse the text.
pub(super) fn iso_date_text(s: &str) -> Option<String> {
    let (date, rest) = (s.get(..10)?, s.get(10..)?);
    let num = |t: &str| -> Option<u32> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (y, m, d) = match date.split('-').collect::<Vec<_>>().as_slice() {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => (num(y)?, num(m)?, num(d)?),
        _ => return None,
    };
    let (mut hh, mut mm, mut ss, mut tz) = (0, 0, 0, String::new());
    if !rest.is_empty() {
        // One separator of any kind, then the time and its zone.
        let mut chars = rest.chars();
        chars.next()?;
        let time = chars.as_str();
        let (clock, zone) = match time.find(['+', '-', 'Z']) {
            Some(i) => (time.get(..i)?, time.get(i..)?),
            None => (time, ""),
        };
        let (clock, frac) = clock.split_once('.').unwrap_or((clock, "0"));
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let fields: Vec<&str> = clock.split(':').collect();
        if fields.iter().any(|f| f.len() != 2) || fields.len() > 3 {
            return None;
        }
        let get = |i: usize| fields.get(i).map_or(Some(0), |f| num(f));
        (hh, mm, ss) = (get(0)?, get(1)?, get(2)?);
        tz = zone_name(zone)?;
    }
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || hh > 23 || mm > 59 || ss > 59
    {
        return None;
    }
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = DAYS.get(weekday(y, m, d))?;
    let month = MONTHS.get(usize::try_from(m).ok()? - 1)?;
    Some(format!(
        "{weekday}, {d:02} {month} {y} {hh:02}:{mm:02}:{ss:02} {tz}"
    ))
}

/// `%Z` of a fixed-offset zone: `UTC`, `UTC+05:30`; empty for a naive time.
fn zone_name(zone: &str) -> Option<String> {
    if zone.is_empty() {
        return Some(String::new());
    }
    if zone == "Z" {
        return Some("UTC".to_owned());
    }
    let (sign, off) = (zone.get(..1)?, zone.get(1..)?);
    let digits: String = off.chars().filter(|c| *c != ':').collect();
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.bytes().all(|b| b == b'0') {
        return Some("UTC".to_owned());
    }
    let (h, m, s) = (
        digits.get(..2)?,
        digits.get(2..4)?,
        digits.get(4..).unwrap_or(""),
    );
    Some(if s.is_empty() {
        format!("UTC{sign}{h}:{m}")
    } else {
        format!("UTC{sign}{h}:{m}:{s}")
    })
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Monday = 0, as Python counts.
fn weekday(y: u32, m: u32, d: u32) -> usize {
    // Sakamoto's method gives Sunday = 0.
    const T: [u32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = if m < 3 { y.saturating_sub(1) } else { y };
    let t = T.get(m as usize - 1).copied().unwrap_or(0);
    let sunday0 = (y + y / 4 - y / 100 + y / 400 + t + d) % 7;
    ((sunday0 + 6) % 7) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn like_python() {
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!(["a", 1, true])), "['a', 1, True]");
        assert_eq!(py_str(&json!({"k": "it's"})), "{'k': \"it's\"}");
        assert_eq!(py_str(&json!(1.0)), "1.0");
        assert_eq!(py_str(&json!(1.5e20)), "1.5e+20");
        assert_eq!(py_str(&json!(0.0001)), "0.0001");
        assert_eq!(py_str(&json!(0.00001)), "1e-05");
        assert!(!truthy_at(Some(&json!(0))));
        assert_eq!(
            iso_date_text("2023-06-09T07:16:27.818161+00:00").as_deref(),
            Some("Fri, 09 Jun 2023 07:16:27 UTC")
        );
        assert_eq!(
            iso_date_text("2024-02-29 10:00").as_deref(),
            Some("Thu, 29 Feb 2024 10:00:00 ")
        );
        assert_eq!(iso_date_text("x"), None);
        assert!(truthy_at(Some(&json!("x"))));
    }
}
