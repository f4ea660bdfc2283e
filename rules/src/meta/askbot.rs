//! Ask Fedora, the questions and answers site of the fedmsg era (`askbot`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub(super) struct Askbot;

fn title<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["thread", "title"])
}

impl Family for Askbot {
    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if let Some(users) = msg
            .get(&["newly_mentioned_users"])
            .and_then(Value::as_array)
        {
            out.extend(users.iter().filter_map(Value::as_str));
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let agent = msg.str_at(&["agent"])?;
        let created = msg.get(&["created"]).and_then(Value::as_bool) == Some(true);
        // What is not a question reads as an answer, as fedmsg.meta wrote it.
        let question = |path: &[&str]| msg.str_at(path) == Some("question");
        Some(match msg.subtopic() {
            "post.edit" => {
                let title = title(msg)?;
                match (created, question(&["post", "post_type"])) {
                    (true, true) => format!("{agent} asked the question '{title}'"),
                    (true, false) => {
                        format!("{agent} suggested an answer to the question '{title}'")
                    }
                    (false, true) => format!("{agent} updated the question '{title}'"),
                    (false, false) => {
                        format!("{agent} updated an answer to the question '{title}'")
                    }
                }
            }
            "tag.update" => {
                format!("{agent} altered tags on askbot question '{}'", title(msg)?)
            }
            "post.flag_offensive.add" if question(&["instance", "post_type"]) => {
                format!("{agent} flagged a question as offensive!")
            }
            "post.flag_offensive.add" => format!("{agent} flagged an answer as offensive!"),
            "post.flag_offensive.delete" if question(&["instance", "post_type"]) => {
                format!("{agent} unflagged a question as offensive...")
            }
            "post.flag_offensive.delete" => {
                format!("{agent} unflagged an answer as offensive...")
            }
            "post.delete" if question(&["instance", "post_type"]) => {
                format!("{agent} deleted the question '{}'", title(msg)?)
            }
            "post.delete" => format!("{agent} deleted an answer on '{}'", title(msg)?),
            _ => return None,
        })
    }

    fn link(&self, msg: &Message) -> Option<String> {
        let host = if msg.topic().contains(".stg.") {
            "ask.stg.fedoraproject.org"
        } else {
            "ask.fedoraproject.org"
        };
        let id = msg.get(&["topmost_post_id"]).and_then(Value::as_i64)?;
        Some(format!("https://{host}/question/{id}/"))
    }
}
