//! Composes: pungi runs of Rawhide, Branched, releases, EPEL and respins (`compose`), as
//! fedmsg.meta's `compose.py` described them.

use fmn_rules_sdk::Message;
use serde_json::Value;

use super::Family;
use super::py::{py_scalar_str as py_str, truthy_at as py_truthy};

pub(super) struct Compose;

/// The steps a topic may name, in the processor's order (the first found wins), with their
/// text and whether they are old (pre-pungi 4) and respin (`make-updates`) steps.
const EVENTS: [(&str, &str, bool, bool); 10] = [
    (".mash.", " mashing", true, false),
    (".pungify.", " building boot.iso for", true, false),
    (".image.", " building other images for", true, false),
    (".make-updates.", "", true, true),
    (".cloudimg-build.", " building images for", true, true),
    (".mash-atomic", " Atomic updates mash for", true, true),
    (".atomic-lorax", " Atomic lorax run for", true, true),
    (
        ".cloudimg-checksum.",
        " image checksum generation for",
        true,
        true,
    ),
    (
        ".cloudimg-staging.",
        " master mirror publication for",
        true,
        true,
    ),
    (".rsync.", " master mirror publication for", false, false),
];

/// Python's `str.capitalize`: the first character upper case, the rest lower.
fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// The release: the body's branch (`Modular-` dropped), else what the topic says.
fn release(msg: &Message) -> Option<String> {
    if let Some(branch) = msg.get(&["branch"]) {
        let branch = branch.as_str()?;
        return Some(capitalize(
            branch.rsplit("Modular-").next().unwrap_or(branch),
        ));
    }
    let comps: Vec<&str> = msg.topic().split('.').collect();
    Some(if comps.contains(&"rawhide") {
        "Rawhide".into()
    } else if comps.contains(&"epelbeta") {
        "EPEL Beta".into()
    } else {
        comps
            .iter()
            .find(|c| c.len() == 2 && c.chars().all(|d| d.is_ascii_digit()))
            .map_or("(unknown release)".into(), |c| (*c).to_owned())
    })
}

/// `arch and ' (%s)' % arch`: a falsy arch is itself (rendered), a missing one empty.
fn arch(msg: &Message) -> Option<String> {
    match msg.get(&["arch"]) {
        None => Some(String::new()),
        Some(a) if py_truthy(Some(a)) => Some(format!(" ({})", py_str(a)?)),
        Some(a) => py_str(a),
    }
}

/// The compose's short name, guessed where the message is ambiguous.
fn short(msg: &Message, release: &str, has_arch: bool, old_event: bool) -> Option<String> {
    if let Some(s) = msg.get(&["short"]) {
        return py_str(s);
    }
    let branch = match msg.get(&["branch"]) {
        None => "",
        Some(b) => b.as_str()?,
    };
    let mut short = if branch.to_lowercase().contains("modular") {
        "Fedora-Modular"
    } else {
        "Fedora"
    };
    let numeric = !release.is_empty() && release.chars().all(|c| c.is_ascii_digit());
    if numeric
        && !old_event
        && msg.get(&["compose_id"]).is_none()
        && !has_arch
        && !msg.topic().contains("branched")
    {
        short = "Fedora, Fedora-Atomic, Fedora-Cloud or Fedora-Docker";
    }
    Some(short.to_owned())
}

impl Family for Compose {
    fn summary(&self, msg: &Message) -> Option<String> {
        let topic = msg.topic();
        let event = EVENTS.iter().find(|(e, ..)| topic.contains(e));
        let (evtext, old, respin) = event.map_or(("", false, false), |&(_, t, o, r)| (t, o, r));
        let release = release(msg)?;
        let arch = arch(msg)?;
        let mut comptext = if respin {
            "post-release Cloud/Atomic/Docker respin compose".to_owned()
        } else {
            "compose".to_owned()
        };
        if let Some(cid) = msg.get(&["compose_id"]).filter(|c| py_truthy(Some(c))) {
            comptext.push(' ');
            comptext.push_str(&py_str(cid)?);
        }
        let short = short(msg, &release, py_truthy(msg.get(&["arch"])), old)?;
        let action = match topic.rsplit('.').next().unwrap_or_default() {
            "start" => "Started",
            "complete" | "done" | "stop" => "Completed",
            _ => "Did something to do with",
        };
        Some(format!(
            "{action}{evtext} {short} {release}{arch} {comptext}"
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        match msg.get(&["location"]) {
            None => Some("https://kojipkgs.fedoraproject.org/compose/".into()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => py_str(v),
        }
    }
}
