//! Greenwave, the gating decisions (`greenwave`).

use fmn_rules_sdk::Message;
use serde_json::Value;

use super::Family;

pub struct Greenwave;

impl Family for Greenwave {
    fn summary(&self, msg: &Message) -> Option<String> {
        if msg.subtopic() != "decision.update" {
            return None;
        }
        let go = msg.get(&["policies_satisfied"]).and_then(Value::as_bool)?;
        Some(format!(
            "greenwave says {} on {} for \"{}\" ({})",
            if go { "GO" } else { "NO-GO" },
            msg.str_at(&["subject_identifier"])?,
            msg.str_at(&["decision_context"])?,
            msg.str_at(&["product_version"])?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        Some(format!(
            "https://taskotron.fedoraproject.org/resultsdb/results?item={}&type={}",
            msg.str_at(&["subject_identifier"])?,
            msg.str_at(&["subject_type"])?
        ))
    }
}
