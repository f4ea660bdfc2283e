//! Discourse forums, Fedora Discussion and Ask Fedora, relayed by their webhooks
//! (`discourse`).

use fmn_rules_sdk::{Keys, Message};

use super::Family;

pub struct Discourse;

fn site(msg: &Message) -> &'static str {
    match msg.str_at(&["webhook_headers", "X-Discourse-Instance"]) {
        Some("https://discussion.fedoraproject.org") => "Fedora Discussion",
        Some("https://ask.fedoraproject.org") => "Ask Fedora",
        _ => "None",
    }
}

fn body<'m>(msg: &'m Message, keys: &[&str]) -> Option<&'m str> {
    let mut path = vec!["webhook_body"];
    path.extend_from_slice(keys);
    msg.str_at(&path)
}

/// Who acted, by the event.
fn actor<'m>(msg: &'m Message) -> Option<&'m str> {
    match msg.subtopic() {
        "like.post_liked" => body(msg, &["like", "user", "username"]),
        s if s.starts_with("post.") => body(msg, &["post", "username"]),
        s if s.starts_with("topic.") => body(msg, &["topic", "created_by", "username"]),
        _ => None,
    }
}

impl Family for Discourse {
    fn agent(&self, msg: &Message) -> Option<String> {
        actor(msg).map(str::to_owned)
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        out.extend(actor(msg));
        out.extend(body(msg, &["solved", "username"]));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let site = site(msg);
        let sub = msg.subtopic();
        let post = |k: &str| body(msg, &["post", k]);
        let topic = |k: &str| body(msg, &["topic", k]);
        let known = match sub {
            "like.post_liked" => Some(format!(
                "Post Liked on {site}: {} liked {}'s post on '{}'",
                body(msg, &["like", "user", "username"])?,
                body(msg, &["like", "post", "username"])?,
                body(msg, &["like", "post", "topic_title"])?
            )),
            "like.accepted_solution" => Some(format!(
                "Accepted Solution on {site}: {}'s post on topic '{}' marked as the solution.",
                body(msg, &["solved", "username"])?,
                body(msg, &["solved", "topic_title"])?
            )),
            "post.post_created" => Some(format!(
                "New Post on {site}: {} posted in '{}'",
                post("username")?,
                post("topic_title")?
            )),
            "post.post_edited" | "post.post_recovered" | "post.post_destroyed" => Some(format!(
                "Post {} on {site}: {}'s post on '{}'",
                capitalized(sub.rsplit('_').next()?),
                post("username")?,
                post("topic_title")?
            )),
            "topic.topic_created" => Some(format!(
                "New Topic on {site}: {} created the topic '{}'",
                body(msg, &["topic", "created_by", "username"])?,
                topic("title")?
            )),
            "topic.topic_edited" | "topic.topic_recovered" | "topic.topic_destroyed" => {
                Some(format!(
                    "Topic {} on {site}: {}'s topic '{}'",
                    capitalized(sub.rsplit('_').next()?),
                    body(msg, &["topic", "created_by", "username"])?,
                    topic("title")?
                ))
            }
            _ => None,
        };
        known.or_else(|| Some(format!("{site}: {sub}")))
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
