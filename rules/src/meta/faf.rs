//! FAF, the ABRT crash analysis server (`faf`): crashes that reached a threshold of
//! occurrences, with the packages (`components`) they crash in.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::{join, py_at};

pub(super) struct Faf;

/// A list field's strings (`components`, `maintainers`).
fn strings<'m>(msg: &'m Message, key: &str) -> impl Iterator<Item = &'m str> {
    msg.get(&[key])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// `", ".join(msg.get('components', []))`.
fn components(msg: &Message) -> Option<String> {
    match msg.get(&["components"]) {
        Some(c) => join(c, ", "),
        None => Some(String::new()),
    }
}

impl Family for Faf {
    /// The maintainers are who the crash concerns, not the envelope's `agent`.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    /// fedmsg.meta's agent is the one user it names (of several, an arbitrary one).
    fn agent(&self, msg: &Message) -> Option<String> {
        let mut maintainers = strings(msg, "maintainers");
        let first = maintainers.next()?;
        maintainers.next().is_none().then(|| first.to_owned())
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(strings(msg, "maintainers"));
    }

    fn packages(&self, msg: &Message, out: &mut Keys) {
        out.extend(strings(msg, "components"));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let what = if msg.topic().contains("problem.threshold") {
            "problem"
        } else {
            "report"
        };
        Some(format!(
            "ABRT {what} for package {} has reached {} occurrences",
            components(msg)?,
            py_at(msg, &["count"])
        ))
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "Packages: {}\nFunction: {}\nFirst occurrence: {}\nType:     {}\nCount:    {}\nURL:      {}\n",
            components(msg)?,
            py_at(msg, &["function"]),
            py_at(msg, &["first_occurrence"]),
            py_at(msg, &["type"]),
            py_at(msg, &["count"]),
            py_at(msg, &["url"]),
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        msg.str_at(&["url"]).map(str::to_owned)
    }

    fn icon(&self, _msg: &Message) -> Option<String> {
        Some("https://apps.fedoraproject.org/packages/images/icons/abrt.png".to_owned())
    }
}
