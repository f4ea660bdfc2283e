//! The summary of a message no family knows: a sentence that says what happened, made from
//! the topic's shape (`APP.OBJECT.ACTION`), not the topic's words strung together.

use fmn_rules_sdk::Message;
use serde::Serialize;
use serde_json::Value;

/// Topic words that are versions or environments, not part of what happened.
fn is_noise(word: &str) -> bool {
    let version =
        word.len() > 1 && word.starts_with('v') && word[1..].bytes().all(|b| b.is_ascii_digit());
    version || word.is_empty()
}

/// The past participle of a topic's last word, where it is a verb applications use.
fn done(action: &str) -> Option<&'static str> {
    Some(match action {
        "new" | "create" | "created" => "created",
        "add" | "added" => "added",
        "edit" | "edited" | "update" | "updated" | "change" | "changed" | "modify" => "changed",
        "delete" | "deleted" | "remove" | "removed" | "drop" => "removed",
        "complete" | "completed" | "done" | "finish" | "finished" | "end" => "completed",
        "start" | "started" | "begin" => "started",
        "fail" | "failed" | "error" => "failed",
        "sign" | "signed" => "signed",
        "tag" | "tagged" => "tagged",
        "untag" | "untagged" => "untagged",
        "publish" | "published" => "published",
        "upload" | "uploaded" => "uploaded",
        "init" => "initialized",
        "request" | "requested" => "requested",
        "comment" => "commented on",
        "receive" | "push" => "pushed",
        "build" => "built",
        "sync" => "synced",
        "approve" | "approved" => "approved",
        "reject" | "rejected" => "rejected",
        "cancel" | "canceled" | "cancelled" => "canceled",
        _ => return None,
    })
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u' | 'A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    }
}

/// `ralph signed a koji rpm`, `A koji repo was initialized`, `bodhi reported: compose
/// frobnicate` (an action it cannot put in words), `planet reported a build`.
pub(super) fn summary(msg: &Message, app: &str, agent: Option<&str>) -> String {
    let words: Vec<String> = msg
        .subtopic()
        .split('.')
        .filter(|w| !is_noise(w))
        .map(|w| w.replace(['_', '-'], " "))
        .collect();
    let Some((action, object)) = words.split_last() else {
        return match agent {
            Some(a) => format!("{a} did something in {app}"),
            None => format!("{app} reported an event"),
        };
    };
    let thing = if object.is_empty() {
        String::new()
    } else {
        format!("{app} {}", object.join(" "))
    };
    match (done(action), agent, thing.is_empty()) {
        (_, _, true) => format!("{app} reported {} {action}", article(action)),
        (Some(d), Some(a), false) => format!("{a} {d} {} {thing}", article(&thing)),
        (Some(d), None, false) => {
            let art = article(&thing);
            let mut first = art.chars();
            let cap: String = first
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(first)
                .collect();
            format!("{cap} {thing} was {d}")
        }
        (None, Some(a), false) => format!("{a}: {thing} {action}"),
        (None, None, false) => format!("{app} reported: {} {action}", object.join(" ")),
    }
}

/// fedora-messaging's own long text of a message whose class says nothing more
/// (`Message.__str__`): its id, topic, headers and body, the JSON as Python writes it.
pub(super) fn default_str(msg: &Message) -> String {
    format!(
        "Id: {}\nTopic: {}\nHeaders: {}\nBody: {}",
        msg.id(),
        msg.topic(),
        python_json(msg.headers()),
        python_json(msg.body())
    )
}

/// `json.dumps(value, sort_keys=True, indent=4, separators=(",", ": "))`: keys sorted (the
/// map is ordered), four spaces, and every character beyond ASCII escaped (`ensure_ascii`).
fn python_json(value: &Value) -> String {
    let value = if value.is_null() {
        &Value::Object(Default::default())
    } else {
        value
    };
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    if value.serialize(&mut ser).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&out);
    let mut ascii = String::with_capacity(text.len());
    for c in text.chars() {
        // Python escapes all but printable ASCII; serde_json has escaped the controls.
        if c.is_ascii() && c != '\u{7f}' {
            ascii.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    ascii
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(topic: &str, app: &str, agent: Option<&str>) -> String {
        let json = format!(
            r#"{{"id":"1","topic":"{topic}","timestamp":null,"format":"fedora-messaging","headers":{{}},"body":{{}}}}"#
        );
        let msg = Message::parse(&json).unwrap();
        summary(&msg, app, agent)
    }

    #[test]
    fn the_default_long_text_is_pythons() {
        let json = r#"{"id":"abc","topic":"copr.build.end","timestamp":null,"format":"fedora-messaging","headers":{"sent-at":"2024-01-01T00:00:00+00:00"},"body":{"user":"r\u00e9mi","n":[1,{}],"e":[]}}"#;
        let msg = Message::parse(json).unwrap();
        assert_eq!(
            default_str(&msg),
            "Id: abc\nTopic: copr.build.end\nHeaders: {\n    \"sent-at\": \"2024-01-01T00:00:00+00:00\"\n}\nBody: {\n    \"e\": [],\n    \"n\": [\n        1,\n        {}\n    ],\n    \"user\": \"r\\u00e9mi\"\n}"
        );
    }

    #[test]
    fn sentences_from_the_topics_shape() {
        let t = "org.fedoraproject.prod.buildsys.rpm.sign";
        assert_eq!(say(t, "koji", Some("ralph")), "ralph signed a koji rpm");
        assert_eq!(say(t, "koji", None), "A koji rpm was signed");
        let t = "org.fedoraproject.prod.anitya.project.version.update.v2";
        assert_eq!(
            say(t, "anitya", None),
            "An anitya project version was changed"
        );
        assert_eq!(
            say("planet.build", "planet", None),
            "planet reported a build"
        );
        assert_eq!(
            say("x.compose.frobnicate", "x", None),
            "x reported: compose frobnicate"
        );
        assert_eq!(say("x", "x", Some("ralph")), "ralph did something in x");
    }
}
