//! Ask Fedora, the questions and answers site of the fedmsg era (`askbot`).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;

pub struct Askbot;

fn title<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["thread", "title"])
}

/// `question` or `answer`, for the post a message is about.
fn post_type<'m>(msg: &'m Message) -> Option<&'m str> {
    msg.str_at(&["post", "post_type"])
        .or_else(|| msg.str_at(&["instance", "post_type"]))
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
        Some(match (msg.subtopic(), post_type(msg)) {
            ("tag.update", _) => {
                format!("{agent} altered tags on askbot question '{}'", title(msg)?)
            }
            ("post.edit", Some("question")) if created => {
                format!("{agent} asked the question '{}'", title(msg)?)
            }
            ("post.edit", Some("answer")) if created => {
                format!(
                    "{agent} suggested an answer to the question '{}'",
                    title(msg)?
                )
            }
            ("post.edit", Some("question")) => {
                format!("{agent} updated the question '{}'", title(msg)?)
            }
            ("post.edit", Some("answer")) => {
                format!(
                    "{agent} updated an answer to the question '{}'",
                    title(msg)?
                )
            }
            ("post.edit", Some("comment")) => {
                format!("{agent} commented on the question '{}'", title(msg)?)
            }
            ("post.delete", Some(kind)) => {
                format!("{agent} deleted an {kind} on '{}'", title(msg)?)
            }
            ("post.flag_offensive.add", Some(kind)) => {
                format!("{agent} flagged an {kind} as offensive!")
            }
            ("post.flag_offensive.delete", Some(kind)) => {
                format!("{agent} unflagged an {kind} as offensive...")
            }
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
