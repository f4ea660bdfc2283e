//! Greenwave, the gating decisions (`greenwave`), as fedmsg.meta's `greenwave.py` described
//! them: on `greenwave.decision.update` and the older `greenwave.greenwave.decision.update`
//! alike (and fedora-messaging's, which no schema package describes).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{py_scalar_str as py_str, truthy_at as py_truthy};
use crate::meta::bodhi::package;

pub(super) struct Greenwave;

/// Whether the policies were satisfied, under either spelling greenwave gave the key.
fn satisfied<'m>(msg: &'m Message) -> Option<&'m Value> {
    msg.get(&["policies_satisfied"])
        .or_else(|| msg.get(&["policies_satisified"]))
}

fn subject<'m>(msg: &'m Message) -> Option<&'m Vec<Value>> {
    msg.get(&["subject"])?.as_array()
}

/// `quote_plus`: what a query string may carry as it is, the rest percent-encoded.
fn quote_plus(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `urlencode(sorted(entry.items()))`.
fn urlencode(entry: &serde_json::Map<String, Value>) -> Option<String> {
    let mut pairs: Vec<(&String, &Value)> = entry.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let parts = pairs
        .into_iter()
        .map(|(k, v)| Some(format!("{}={}", quote_plus(k), quote_plus(&py_str(v)?))))
        .collect::<Option<Vec<_>>>()?;
    Some(parts.join("&"))
}

/// What the decision is on: its subject identifier, else the first subject item's.
fn item(msg: &Message) -> Option<String> {
    if let Some(id) = msg
        .get(&["subject_identifier"])
        .filter(|i| py_truthy(Some(i)))
    {
        return py_str(id);
    }
    let items = subject(msg)?
        .iter()
        .map(|e| Some(e.as_object()?.get("item").filter(|i| py_truthy(Some(i)))))
        .collect::<Option<Vec<_>>>()?;
    match items.into_iter().flatten().next() {
        Some(i) => py_str(i),
        None => Some("\"something\"".into()),
    }
}

impl Family for Greenwave {
    fn packages(&self, msg: &Message, out: &mut Keys) {
        let Some(subject) = subject(msg) else { return };
        let builds = subject.iter().filter_map(|e| {
            let item = e.get("item").filter(|i| py_truthy(Some(i)))?;
            (e.get("type")?.as_str()? == "koji_build").then_some(item.as_str()?)
        });
        out.extend(builds.map(package));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        // The template took the body's keys too: one named like its own fields clashed.
        if msg.get(&["decision"]).is_some() || msg.get(&["item"]).is_some() {
            return None;
        }
        let decision = if py_truthy(Some(satisfied(msg)?)) {
            "is a GO"
        } else {
            "says NO-GO"
        };
        Some(format!(
            "greenwave {decision} on {} for \"{}\" ({})",
            item(msg)?,
            py_str(msg.get(&["decision_context"])?)?,
            py_str(msg.get(&["product_version"])?)?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let subject = msg.get(&["subject"]).filter(|s| py_truthy(Some(s)))?;
        let first = subject.as_array()?.first()?.as_object()?;
        Some(format!(
            "https://taskotron.fedoraproject.org/resultsdb/results?{}",
            urlencode(first)?
        ))
    }
}
