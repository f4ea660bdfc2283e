//! The Fedora wiki (MediaWiki), in both bus eras.

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use crate::meta::Family;
use crate::meta::py;

pub(crate) struct Wiki;

/// fedmsg.meta's one person of a wiki message: the editor (`user`) or uploader
/// (`user_text`), lower-cased as account names are.
fn fedmsg_user(msg: &Message) -> Option<String> {
    let user = match msg.get(&["user"]) {
        Some(v) => v.as_str()?,
        None => msg.str_at(&["user_text"]).unwrap_or_default(),
    };
    Some(user.to_lowercase())
}

impl Family for Wiki {
    fn agent(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() {
            return fedmsg_user(msg);
        }
        msg.str_at(&["user"]).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        if msg.is_fedmsg() {
            out.extend(fedmsg_user(msg));
            return;
        }
        out.extend(msg.str_at(&["user"]));
        // A user's own page concerns that user.
        if let Some(user) = msg.str_at(&["title"]).and_then(|t| t.strip_prefix("User:")) {
            out.insert(user.to_lowercase());
        }
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let field = |path: &[&str]| msg.get(path).map(py::py_str);
        match (msg.subtopic(), msg.is_fedmsg()) {
            ("upload.complete", true) => {
                let desc: String = field(&["description"])?.chars().take(35).collect();
                Some(format!(
                    "{} uploaded {} to the wiki: \"{desc}...\"",
                    field(&["user_text"])?,
                    field(&["title", "mPrefixedText"])?
                ))
            }
            ("article.edit", true) => Some(format!(
                "{} made a wiki edit to \"{}\"",
                field(&["user"])?,
                field(&["title"])?
            )),
            ("article.edit", false) => Some(format!(
                "Wiki page {} was edited by {}",
                field(&["title"])?,
                field(&["user"])?
            )),
            _ => None,
        }
    }

    fn long_text(&self, msg: &Message) -> Option<String> {
        if msg.is_fedmsg() || msg.subtopic() != "article.edit" {
            return None;
        }
        let field = |k: &str| msg.get(&[k]).map(py::py_str);
        Some(format!(
            "{}\nSummary: {}\nPage: {}\nDiff: {}\n",
            self.summary(msg)?,
            field("summary")?,
            field("page_url")?,
            field("diff_url")?
        ))
    }

    fn link(&self, msg: &Message) -> Option<String> {
        if !msg.is_fedmsg() {
            return msg.str_at(&["diff_url"]).map(str::to_owned);
        }
        if msg.subtopic() != "article.edit" {
            return None;
        }
        msg.get(&["url"])
            .and_then(Value::as_str)
            .map(|u| u.replace("http://", "https://"))
    }
}
