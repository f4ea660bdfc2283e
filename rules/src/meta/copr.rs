//! Copr, the community build service (`copr`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct Copr;

/// The submitter, when a Fedora account: Copr also names GitHub users (`github.com:NAME`).
fn user<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["user"]).filter(|u| !u.contains(':'))
}

/// The project's owner path: `USER`, or `g/GROUP` for a group's project.
fn owner_path(msg: &Message) -> Option<String> {
    let owner = msg.str_at(&["owner"]).or_else(|| msg.str_at(&["user"]))?;
    Some(match owner.strip_prefix('@') {
        Some(group) => format!("g/{group}"),
        None => owner.to_owned(),
    })
}

fn status(n: i64) -> &'static str {
    match n {
        0 => "failed",
        1 => "succeeded",
        2 => "canceled",
        3 => "running",
        4 => "pending",
        5 => "skipped",
        _ => "unknown",
    }
}

impl Family for Copr {
    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() || !msg.subtopic().ends_with(".start") {
            return None;
        }
        user(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() || msg.subtopic().ends_with(".start") {
            out.extend(user(msg));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let who = msg.str_at(&["user"]);
        let copr = msg.str_at(&["copr"]);
        let chroot = msg.str_at(&["chroot"]);
        Some(match msg.subtopic() {
            "build.end" => format!(
                "{}'s {} copr build of {}-{} for {} finished with '{}'",
                who?,
                copr?,
                msg.str_at(&["pkg"])?,
                msg.str_at(&["version"])?,
                chroot?,
                status(msg.get(&["status"]).and_then(Value::as_i64)?)
            ),
            "build.start" => format!(
                "{}'s {} copr build of {} for {} started",
                who?,
                copr?,
                msg.str_at(&["pkg"])?,
                chroot?
            ),
            "chroot.start" => format!("{}'s {} copr started a new {} chroot", who?, copr?, chroot?),
            "worker.create" => "a new worker was created".into(),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        match msg.subtopic() {
            "worker.create" => Some("https://copr.fedoraproject.org".into()),
            "chroot.start" => Some(format!(
                "https://copr-be.cloud.fedoraproject.org/results/{}/{}/{}/",
                msg.str_at(&["user"])?,
                msg.str_at(&["copr"])?,
                msg.str_at(&["chroot"])?
            )),
            _ => Some(format!(
                "https://copr.fedoraproject.org/coprs/{}/{}/build/{}/",
                owner_path(msg)?,
                msg.str_at(&["copr"])?,
                msg.get(&["build"])?
            )),
        }
    }
}
