//! Pungi, the compose tool, reporting its own progress (`pungi`), as fedmsg.meta's
//! `compose2.py` (`PungiKojiProcessor`) described it.

use fmn_rules_sdk::Message;
use serde_json::Value;

use super::Family;
use super::py::py_scalar_str as py_str;

pub(super) struct Pungi;

/// `msg.get(key)` rendered, a missing key as `None`.
fn get_or_none(msg: &Message, key: &str) -> Option<String> {
    py_str(msg.get(&[key]).unwrap_or(&Value::Null))
}

/// The image a createiso message names: its file after the last `compose/`.
fn image<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["file"])?.rsplit("compose/").next()
}

/// `len()` of a JSON value, where Python has one.
fn py_len(v: &Value) -> Option<usize> {
    match v {
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => Some(o.len()),
        Value::String(s) => Some(s.chars().count()),
        _ => None,
    }
}

impl Family for Pungi {
    fn summary(&self, msg: &Message) -> Option<String> {
        let topic = msg.topic();
        let ends = |t: &str| topic.ends_with(t);
        let compose = || get_or_none(msg, "compose_id");
        let field = |k: &str| py_str(msg.get(&[k])?);
        if ends("pungi.compose.status.change") {
            let status = field("status")?;
            let said = match status.as_str() {
                "STARTED" => "started",
                "FINISHED" => "just finished",
                "DOOMED" => "failed in a horrible fire",
                "TERMINATED" => "was terminated",
                other => other,
            };
            return Some(format!("pungi-koji compose of {} {said}", compose()?));
        }
        Some(if ends("pungi.compose.phase.start") {
            format!(
                "pungi-koji started the {} phase of the {} compose",
                field("phase_name")?,
                compose()?
            )
        } else if ends("pungi.compose.phase.stop") {
            format!(
                "pungi-koji finished the {} phase of the {} compose",
                field("phase_name")?,
                compose()?
            )
        } else if ends("pungi.compose.createiso.imagedone") {
            format!("pungi-koji finished createiso for {}", image(msg)?)
        } else if ends("pungi.compose.createiso.imagefail") {
            format!("pungi-koji createiso for {} failed!", image(msg)?)
        } else if ends("pungi.compose.createiso.targets") {
            format!(
                "pungi-koji assigned {} createiso targets",
                py_len(msg.get(&["deliverables"])?)?
            )
        } else if ends("pungi.compose.ostree") {
            format!(
                "pungi-koji ostree compose {} produced ostree commit {} for {} {}",
                compose()?,
                field("commitid")?,
                field("arch")?,
                field("ref")?
            )
        } else if ends("pungi.compose.fail.to.start") {
            format!(
                "failed to compose from {}: \"{}\"",
                get_or_none(msg, "config")?,
                get_or_none(msg, "detail")?
            )
        } else {
            return None;
        })
    }

    /// `location.strip('/').strip('/compose')`: the second strips any of those characters.
    fn link(&self, msg: &Message) -> Option<String> {
        let loc = msg.str_at(&["location"])?;
        let link = loc
            .trim_matches('/')
            .trim_matches(|c: char| "/compose".contains(c));
        Some(link.to_owned())
    }
}
