//! Pungi, the compose tool, reporting its own progress (`pungi`).

use fmn_rules_sdk::Message;
use serde_json::Value;

use super::Family;

pub struct Pungi;

impl Family for Pungi {
    fn summary(&self, msg: &Message) -> Option<String> {
        let id = msg.str_at(&["compose_id"]);
        Some(match msg.subtopic() {
            "compose.status.change" => {
                let state = match msg.str_at(&["status"])? {
                    "STARTED" => "started",
                    "FINISHED" => "just finished",
                    "FINISHED_INCOMPLETE" => "just finished, but is incomplete",
                    "TERMINATED" => "was terminated",
                    "DOOMED" => "is doomed",
                    other => return Some(format!("pungi-koji compose of {} is {other}", id?)),
                };
                format!("pungi-koji compose of {} {state}", id?)
            }
            "compose.createiso.targets" => format!(
                "pungi-koji assigned {} createiso targets",
                msg.get(&["deliverables"])?.as_array()?.len()
            ),
            "compose.createiso.imagedone" => {
                let file = msg.str_at(&["file"])?;
                let short = file.rsplit_once("/compose/").map_or(file, |(_, rest)| rest);
                format!("pungi-koji finished createiso for {short}")
            }
            "compose.createiso.imagefail" => format!(
                "pungi-koji failed createiso for {}/{}",
                msg.str_at(&["variant"])?,
                msg.str_at(&["arch"])?
            ),
            "compose.ostree" => format!(
                "pungi-koji ostree compose {} produced ostree commit {} for {} {}",
                id?,
                msg.str_at(&["commitid"])?,
                msg.str_at(&["arch"])?,
                msg.str_at(&["ref"])?
            ),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let loc = msg.get(&["location"]).and_then(Value::as_str)?;
        Some(loc.strip_suffix("/compose").unwrap_or(loc).to_owned())
    }
}
