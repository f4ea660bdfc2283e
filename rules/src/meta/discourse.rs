//! Discourse forums, Fedora Discussion and Ask Fedora, relayed by their webhooks
//! (`discourse`): discourse2fedmsg's and webhook-to-fedora-messaging's `DiscourseMessageV1`,
//! which say the same. The event is the webhook's `X-Discourse-Event-Type` and
//! `X-Discourse-Event` headers (the topic repeats them).

use fmn_rules_sdk::{Keys, Message};
use serde_json::Value;

use super::Family;
use super::py::py_str;

pub(super) struct Discourse;

fn header<'m>(msg: &'m Message, name: &str) -> Option<&'m Value> {
    msg.get(&["webhook_headers", name])
}

/// `(event_type, event)` as the headers give them.
fn event<'m>(msg: &'m Message) -> Option<(&'m Value, &'m Value)> {
    Some((
        header(msg, "X-Discourse-Event-Type")?,
        header(msg, "X-Discourse-Event")?,
    ))
}

/// `webhook_contents`: the webhook body's part named by the event type (`{}` when absent).
fn contents<'m>(msg: &'m Message) -> Option<&'m Value> {
    let kind = header(msg, "X-Discourse-Event-Type")?.as_str()?;
    let body = msg.get(&["webhook_body"])?.as_object()?;
    Some(body.get(kind).unwrap_or(&Value::Null))
}

/// `d.get(key)` of a dict, `None` (printed `None`) when absent; nothing when `d` is no dict.
fn get<'v>(d: &'v Value, key: &str) -> Option<&'v Value> {
    match d {
        Value::Object(o) => Some(o.get(key).unwrap_or(&Value::Null)),
        // `webhook_contents` defaults to `{}`.
        Value::Null => Some(&Value::Null),
        _ => None,
    }
}

/// `post_contents`: a like's post, else the contents themselves.
fn post<'m>(msg: &'m Message) -> Option<&'m Value> {
    let c = contents(msg)?;
    if header(msg, "X-Discourse-Event-Type")?.as_str() == Some("like") {
        get(c, "post")
    } else {
        Some(c)
    }
}

/// `instance_name`.
fn site(msg: &Message) -> Option<&'static str> {
    Some(match header(msg, "X-Discourse-Instance")?.as_str() {
        Some("https://discussion.fedoraproject.org") => "Fedora Discussion",
        Some("https://ask.fedoraproject.org") => "Ask Fedora",
        _ => "None",
    })
}

/// `agent_name`: who posted, liked or created the topic (nobody for a solution: its marker
/// is not in the webhook).
fn actor<'m>(msg: &'m Message) -> Option<&'m Value> {
    let (kind, ev) = event(msg)?;
    let c = contents(msg)?;
    match (kind.as_str()?, ev.as_str()?) {
        ("post", "post_created" | "post_destroyed" | "post_recovered" | "post_edited") => {
            get(c, "username")
        }
        ("like", "post_liked") => get(get(c, "user")?, "username"),
        ("topic", "topic_created" | "topic_edited" | "topic_destroyed" | "topic_recovered") => {
            get(get(c, "created_by")?, "username")
        }
        _ => None,
    }
}

impl Family for Discourse {
    fn agent(&self, msg: &Message) -> Option<String> {
        actor(msg).and_then(Value::as_str).map(str::to_owned)
    }

    /// The solution's author, or the liked post's: the agent is not among them.
    fn agent_involved(&self, _msg: &Message) -> bool {
        false
    }

    fn usernames(&self, msg: &Message, out: &mut Keys) {
        let Some(c) = contents(msg) else { return };
        let who = match header(msg, "X-Discourse-Event-Type").and_then(Value::as_str) {
            Some("solved") => get(c, "username"),
            Some("like") => get(c, "post").and_then(|p| get(p, "username")),
            _ => None,
        };
        out.extend(who.and_then(Value::as_str));
    }

    fn summary(&self, msg: &Message) -> Option<String> {
        let site = site(msg)?;
        let (kind, ev) = event(msg)?;
        let p = post(msg)?;
        let c = contents(msg)?;
        let s = |v: Option<&Value>| v.map(py_str);
        let user = s(get(p, "username"))?;
        let title = s(get(p, "topic_title"))?;
        let known = match (kind.as_str(), ev.as_str()) {
            (Some("post"), Some("post_created")) => {
                Some(format!("New Post on {site}: {user} posted in '{title}'"))
            }
            (Some("post"), Some(e @ ("post_edited" | "post_recovered" | "post_destroyed"))) => {
                Some(format!(
                    "Post {} on {site}: {user}'s post on '{title}'",
                    capitalized(e.trim_start_matches("post_"))
                ))
            }
            (Some("like"), Some(e)) => {
                let liker = s(get(get(c, "user")?, "username"))?;
                (e == "post_liked").then(|| {
                    format!("Post Liked on {site}: {liker} liked {user}'s post on '{title}'")
                })
            }
            (Some("topic"), Some(e)) => {
                let user = s(get(get(c, "created_by")?, "username"))?;
                let title = s(get(c, "title"))?;
                match e {
                    "topic_created" => Some(format!(
                        "New Topic on {site}: {user} created the topic '{title}'"
                    )),
                    "topic_edited" | "topic_destroyed" | "topic_recovered" => Some(format!(
                        "Topic {} on {site}: {user}'s topic '{title}'",
                        capitalized(e.trim_start_matches("topic_"))
                    )),
                    _ => None,
                }
            }
            (Some("solved"), Some("accepted_solution")) => Some(format!(
                "Accepted Solution on {site}: {user}'s post on topic '{title}' marked as the solution."
            )),
            _ => None,
        };
        known.or_else(|| Some(format!("{site}: {}.{}", py_str(kind), py_str(ev))))
    }

    /// `__str__` is the summary.
    fn long_text(&self, msg: &Message) -> Option<String> {
        self.summary(msg)
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
