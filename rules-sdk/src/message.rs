//! [`Message`]: what a rule sees of a bus message.

use std::borrow::Cow;
use std::cell::OnceCell;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// A normalised bus message: `{"id", "topic", "timestamp", "format", "headers", "body"}`.
///
/// The envelope is parsed once per call and borrowed; `headers` and `body` stay raw JSON until
/// a rule asks for them, and are then parsed once and shared by every rule of the call.
/// [`Message::body_as`] deserialises the body straight into a typed struct, without the DOM.
pub struct Message<'a> {
    id: Cow<'a, str>,
    topic: Cow<'a, str>,
    timestamp: Option<f64>,
    fedmsg: bool,
    headers_raw: Option<&'a RawValue>,
    body_raw: &'a RawValue,
    headers: OnceCell<Value>,
    body: OnceCell<Value>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    topic: Cow<'a, str>,
    #[serde(default)]
    timestamp: Option<f64>,
    #[serde(default)]
    format: Option<&'a str>,
    #[serde(borrow, default)]
    headers: Option<&'a RawValue>,
    #[serde(borrow)]
    body: &'a RawValue,
}

/// The input is not a normalised envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError(pub String);

impl std::fmt::Display for MessageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a normalised envelope: {}", self.0)
    }
}

impl std::error::Error for MessageError {}

static NULL: Value = Value::Null;

impl<'a> Message<'a> {
    /// Parses a normalised envelope, as the host passes it to rule modules.
    pub fn parse(json: &'a str) -> Result<Message<'a>, MessageError> {
        let w: Wire<'a> = serde_json::from_str(json).map_err(|e| MessageError(e.to_string()))?;
        Ok(Message {
            id: w.id,
            topic: w.topic,
            timestamp: w.timestamp,
            fedmsg: w.format == Some("fedmsg"),
            headers_raw: w.headers,
            body_raw: w.body,
            headers: OnceCell::new(),
            body: OnceCell::new(),
        })
    }

    /// The message id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The full topic, e.g. `org.fedoraproject.prod.buildsys.build.state.change`.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Seconds since the Unix epoch, when the message says.
    pub fn timestamp(&self) -> Option<f64> {
        self.timestamp
    }

    /// Whether the message came from fedmsg (2012-2021) rather than fedora-messaging: the two
    /// eras' bodies differ for the same topics.
    pub fn is_fedmsg(&self) -> bool {
        self.fedmsg
    }

    /// The application that sent the message: `buildsys` for
    /// `org.fedoraproject.prod.buildsys.build.state.change`, `bodhi` for `bodhi.update.comment`.
    pub fn category(&self) -> &str {
        topic_parts(&self.topic).0
    }

    /// The topic after the category: `build.state.change` for a koji build message.
    pub fn subtopic(&self) -> &str {
        topic_parts(&self.topic).1
    }

    /// The headers (fedora-messaging headers, or what fedmsg's envelope said), parsed on first use.
    pub fn headers(&self) -> &Value {
        self.headers
            .get_or_init(|| self.headers_raw.map(parse_or_null).unwrap_or(Value::Null))
    }

    /// One header.
    pub fn header(&self, name: &str) -> Option<&Value> {
        self.headers().get(name)
    }

    /// The body, parsed on first use.
    pub fn body(&self) -> &Value {
        self.body.get_or_init(|| parse_or_null(self.body_raw))
    }

    /// The body's raw JSON text.
    pub fn body_json(&self) -> &'a str {
        self.body_raw.get()
    }

    /// The body deserialised into `T`, borrowing from the message where `T` allows; no DOM.
    pub fn body_as<T: Deserialize<'a>>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.body_raw.get())
    }

    /// The value at `path` in the body: object keys, or array indices written as numbers.
    /// `msg.get(&["update", "builds", "0", "nvr"])`.
    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        lookup(self.body(), path)
    }

    /// The string at `path` in the body, if there is one.
    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        self.get(path).and_then(Value::as_str)
    }

    /// The value at `path` in the body, or `null`.
    pub fn at(&self, path: &[&str]) -> &Value {
        self.get(path).unwrap_or(&NULL)
    }
}

/// Follows `path` down `v`.
pub fn lookup<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    let mut cur = v;
    for part in path {
        cur = match cur {
            Value::Object(m) => m.get(*part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn parse_or_null(raw: &RawValue) -> Value {
    // The host validated the envelope, so this only fails past serde_json's nesting limit.
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// Splits a topic into (category, rest). Topics of the form `org.fedoraproject.ENV.CATEGORY...`
/// (and other reverse-domain prefixes with an environment: `prod`, `stg`, `dev`, `test`) have
/// their category fourth; bare topics such as `bodhi.update.comment` have it first.
pub fn topic_parts(topic: &str) -> (&str, &str) {
    let mut it = topic.splitn(5, '.');
    let parts: Vec<&str> = (&mut it).take(4).collect();
    if parts.len() == 4 && matches!(parts[2], "prod" | "stg" | "stage" | "dev" | "test") {
        let skip = parts[0].len() + parts[1].len() + parts[2].len() + 3;
        let rest = &topic[skip..];
        return rest.split_once('.').unwrap_or((rest, ""));
    }
    topic.split_once('.').unwrap_or((topic, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_of_both_eras() {
        assert_eq!(
            topic_parts("org.fedoraproject.prod.buildsys.build.state.change"),
            ("buildsys", "build.state.change")
        );
        assert_eq!(
            topic_parts("org.fedoraproject.stg.wiki.upload.complete"),
            ("wiki", "upload.complete")
        );
        assert_eq!(
            topic_parts("org.release-monitoring.prod.anitya.project.version.update"),
            ("anitya", "project.version.update")
        );
        assert_eq!(
            topic_parts("bodhi.update.comment"),
            ("bodhi", "update.comment")
        );
        assert_eq!(topic_parts("org.fedoraproject.prod.fas"), ("fas", ""));
        assert_eq!(topic_parts("fedoracollege"), ("fedoracollege", ""));
    }

    #[test]
    fn lazy_body_and_paths() {
        let json = r#"{"id":"1","topic":"bodhi.update.comment","timestamp":null,"headers":{"sent-at":"x"},"body":{"update":{"builds":[{"nvr":"a-1-1"}]}}}"#;
        let m = Message::parse(json).unwrap();
        assert_eq!(m.category(), "bodhi");
        assert_eq!(m.str_at(&["update", "builds", "0", "nvr"]), Some("a-1-1"));
        assert_eq!(m.get(&["update", "builds", "1"]), None);
        assert_eq!(m.header("sent-at").and_then(Value::as_str), Some("x"));
        #[derive(Deserialize)]
        struct B<'a> {
            #[serde(borrow)]
            update: U<'a>,
        }
        #[derive(Deserialize)]
        struct U<'a> {
            #[serde(borrow)]
            builds: Vec<N<'a>>,
        }
        #[derive(Deserialize)]
        struct N<'a> {
            nvr: &'a str,
        }
        let b: B<'_> = m.body_as().unwrap();
        assert_eq!(b.update.builds[0].nvr, "a-1-1");
        assert!(Message::parse(r#"{"topic": "x"}"#).is_err());
    }
}
