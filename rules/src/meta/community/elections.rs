//! Fedora Elections, in both bus eras.

use fmn_rules_sdk::{Keys, Message};

use crate::meta::Family;
use crate::meta::py;
use crate::meta::py::truthy;

pub(crate) struct Elections;

/// fedmsg's voter: `agent` in old messages, `fas_user` in new ones.
fn elector<'m>(msg: &'m Message) -> Option<&'m str> {
    if msg.get(&["agent"]).is_some() {
        return msg.str_at(&["agent"]);
    }
    msg.str_at(&["fas_user"])
}

/// fedmsg's election: under `election` in old messages, the message itself in new ones.
fn election_alias<'m>(msg: &'m Message) -> Option<&'m str> {
    if msg.get(&["election"]).is_some() {
        return msg.str_at(&["election", "alias"]);
    }
    msg.str_at(&["alias"])
}

impl Family for Elections {
    fn agent(&self, msg: &Message) -> Option<String> {
        elector(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(elector(msg));
        if !msg.is_fedmsg()
            && let Some(fas) = msg.get(&["candidate", "fas_name"]).filter(|v| truthy(v))
        {
            out.insert(py::py_str(fas));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return schema_summary(msg);
        }
        let who = elector(msg)?;
        let election = election_alias(msg)?;
        let candidate = || msg.get(&["candidate", "name"]).map(py::py_str);
        Some(match msg.subtopic() {
            "election.new" => format!("{who} created election \"{election}\""),
            "election.edit" => format!("{who} edited election \"{election}\""),
            "candidate.new" => format!(
                "{who} added candidate \"{}\" to election \"{election}\"",
                candidate()?
            ),
            "candidate.edit" => format!(
                "{who} edited candidate \"{}\" of election \"{election}\"",
                candidate()?
            ),
            "candidate.delete" => format!(
                "{who} deleted candidate \"{}\" of election \"{election}\"",
                candidate()?
            ),
            _ => return None,
        })
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return None;
        }
        let election = py::py_str(msg.get(&["election", "shortdesc"])?);
        let agent = py::py_str(msg.get(&["agent"])?);
        let candidate = || msg.get(&["candidate", "name"]).map(py::py_str);
        Some(match msg.subtopic() {
            "election.new" => format!("New Election: {election}\nBy: {agent}\n"),
            "election.edit" => format!("Election edited: {election}\nBy: {agent}\n"),
            "candidate.new" => format!(
                "New Candidate for Election: {election}\nBy: {agent}\nCandidate: {}\n",
                candidate()?
            ),
            "candidate.edit" => format!(
                "Candidate for Election {election} was edited\nBy: {agent}\nCandidate: {}\n",
                candidate()?
            ),
            "candidate.delete" => format!(
                "Candidate for Election {election} was deleted\nBy: {agent}\nCandidate: {}\n",
                candidate()?
            ),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return msg.get(&["election", "url"]).map(py::py_str);
        }
        Some(format!(
            "https://admin.fedoraproject.org/voting/about/{}",
            election_alias(msg)?
        ))
    }

    fn icon(&self, msg: &Message) -> Option<String> {
        (!msg.is_fedmsg()).then(|| "https://apps.fedoraproject.org/img/icons/elections.png".into())
    }

    fn app_name(&self, msg: &Message) -> Option<String> {
        (!msg.is_fedmsg()).then(|| "elections".into())
    }
}

/// The schemas' summary: `AGENT VERB candidate "NAME" (FAS) for election "TITLE" (ALIAS)`.
fn schema_summary(msg: &Message) -> Option<String> {
    let agent = py::py_str(msg.get(&["agent"])?);
    let title = py::py_str(msg.get(&["election", "shortdesc"])?);
    let alias = py::py_str(msg.get(&["election", "alias"])?);
    let verb = match msg.subtopic() {
        "election.new" => return Some(format!("{agent} created election \"{title}\" ({alias})")),
        "election.edit" => return Some(format!("{agent} edited election \"{title}\" ({alias})")),
        "candidate.new" => "added",
        "candidate.edit" => "edited",
        "candidate.delete" => "deleted",
        _ => return None,
    };
    let name = py::py_str(msg.get(&["candidate", "name"])?);
    let fas = msg
        .get(&["candidate", "fas_name"])
        .filter(|v| truthy(v))
        .map(|f| format!(" ({})", py::py_str(f)))
        .unwrap_or_default();
    Some(format!(
        "{agent} {verb} candidate \"{name}\"{fas} for election \"{title}\" ({alias})"
    ))
}
