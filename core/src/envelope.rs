//! The one normalised message shape that rules see, for both bus eras.
//!
//! fedmsg (ZeroMQ, 2012-2021) sent `{"topic", "msg", "msg_id", "timestamp", "i", "username", ...}`;
//! fedora-messaging (AMQP, today) carries `{"id", "topic", "headers", "body"}`. Both become an
//! [`Envelope`]: `{"id", "topic", "timestamp", "format", "headers", "body"}`, plus the original
//! message in `raw` when the operator asks for it ([`Envelope::from_bus_json_keeping_raw`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// Messages larger than this are refused unless the operator sets another limit: Fedora's
/// largest real messages are tens of kilobytes, so a megabyte is already generous.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Which bus era a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BusFormat {
    /// fedmsg over ZeroMQ: the body is under `msg`.
    Fedmsg,
    /// fedora-messaging over AMQP: the body is under `body`, metadata under `headers`.
    FedoraMessaging,
}

/// The longest topic accepted: AMQP's routing keys (fedora-messaging's topics) hold at most
/// 255 bytes, and every topic is matched against rules' globs and cached per worker thread, so
/// a longer one is refused at the door rather than paid for on every hop.
pub const MAX_TOPIC_BYTES: usize = 255;

/// A bus message, normalised (docs/architecture.md, "The envelope": the fields of both bus
/// eras).
///
/// `headers` and `body` are kept as raw JSON objects: the consumer validates them, and nothing
/// between the bus and the rule modules needs to look inside them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The message id: fedmsg `msg_id`, fedora-messaging `id`, or a deterministic hash of
    /// topic, body and timestamp when the message has none.
    pub id: String,
    /// The topic, e.g. `org.fedoraproject.prod.buildsys.build.state.change`.
    pub topic: String,
    /// Seconds since the Unix epoch: fedmsg `timestamp`, fedora-messaging header `sent-at`.
    pub timestamp: Option<f64>,
    /// A JSON object: fedora-messaging headers as sent; for fedmsg, `sent-at` and the
    /// envelope's scalar fields (`fedmsg_username`, `fedmsg_i`).
    pub headers: Box<RawValue>,
    /// A JSON object: the message body.
    pub body: Box<RawValue>,
    /// Which bus shape the message arrived in.
    pub format: BusFormat,
    /// The message exactly as it arrived, when the consumer was asked to keep it
    /// (`[consumer] keep_raw`). Off by default: it carries every message twice through Redis,
    /// and the fields senders use are all above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Box<RawValue>>,
}

/// Why a line of input is not a bus message. Each names what was wrong; the caller adds where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Larger than the configured limit.
    #[error("message is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input, in bytes (at least; a reader may stop counting).
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Not parseable as JSON.
    #[error("not valid JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but not an object.
    #[error("expected a JSON object, found {0}")]
    NotObject(&'static str),
    /// No `topic` field.
    #[error("no `topic` field")]
    NoTopic,
    /// Neither `msg` nor `body`.
    #[error("no body: neither `msg` (fedmsg) nor `body` (fedora-messaging) is present")]
    NoBody,
    /// A field has the wrong JSON type.
    #[error("`{field}` must be {expected}, found {found}")]
    WrongType {
        /// The field's name.
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
        /// What it was.
        found: &'static str,
    },
    /// A field has the right type but a value we cannot use.
    #[error("`{field}` is invalid: {reason}")]
    BadValue {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// The fields we read from either bus shape; everything else stays in `raw`.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(borrow)]
    topic: Option<&'a RawValue>,
    #[serde(borrow)]
    msg: Option<&'a RawValue>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
    #[serde(borrow)]
    msg_id: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
    #[serde(borrow)]
    username: Option<&'a RawValue>,
    #[serde(borrow)]
    i: Option<&'a RawValue>,
}

impl Envelope {
    /// Parses one bus message (a fedmsg envelope or a fedora-messaging message as JSON).
    pub fn from_bus_json(input: &[u8], max_bytes: usize) -> Result<Envelope, EnvelopeError> {
        Self::parse(input, max_bytes, false)
    }

    /// As [`Envelope::from_bus_json`], and keeps the message as it arrived in `raw`.
    pub fn from_bus_json_keeping_raw(
        input: &[u8],
        max_bytes: usize,
    ) -> Result<Envelope, EnvelopeError> {
        Self::parse(input, max_bytes, true)
    }

    fn parse(input: &[u8], max_bytes: usize, keep_raw: bool) -> Result<Envelope, EnvelopeError> {
        let text = text_within(input, max_bytes)?;
        let not_json = |e: serde_json::Error| EnvelopeError::NotJson(e.to_string());
        // An object is read once, straight into its fields (which checks it is JSON); anything
        // else is read whole only to say what it is.
        if !text
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{')
        {
            let raw: &RawValue = serde_json::from_str(text).map_err(not_json)?;
            return Err(EnvelopeError::NotObject(json_kind(raw)));
        }
        let incoming: Incoming<'_> = serde_json::from_str(text).map_err(not_json)?;
        let raw = match keep_raw {
            true => Some(serde_json::from_str::<&RawValue>(text).map_err(not_json)?),
            false => None,
        };

        let topic = topic(incoming.topic)?;
        let (format, body_field, body) = match (incoming.msg, incoming.body) {
            (Some(msg), _) => (BusFormat::Fedmsg, "msg", msg),
            (None, Some(body)) => (BusFormat::FedoraMessaging, "body", body),
            (None, None) => return Err(EnvelopeError::NoBody),
        };
        expect_object(body_field, body)?;

        let id = given_id(format, &incoming)?;
        let (timestamp, headers) = match format {
            BusFormat::Fedmsg => fedmsg_headers(&incoming)?,
            BusFormat::FedoraMessaging => fedora_messaging_headers(incoming.headers)?,
        };

        let id = match id {
            Some(id) if !id.is_empty() => id,
            _ => derived_id(&topic, body, timestamp),
        };

        Ok(Envelope {
            id,
            topic,
            timestamp,
            headers,
            body: body.to_owned(),
            format,
            raw: raw.map(|r| r.to_owned()),
        })
    }

    /// The JSON that rule modules receive: `{"id","topic","timestamp","headers","body"}`.
    pub fn rules_json(&self) -> String {
        let view = RulesView {
            id: &self.id,
            topic: &self.topic,
            timestamp: self.timestamp,
            format: self.format,
            headers: &self.headers,
            body: &self.body,
        };
        // Serialising borrowed strings and raw JSON cannot fail.
        serde_json::to_string(&view).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct RulesView<'a> {
    id: &'a str,
    topic: &'a str,
    timestamp: Option<f64>,
    format: BusFormat,
    headers: &'a RawValue,
    body: &'a RawValue,
}

/// Normalises a bus message and returns the JSON rules see; a convenience for tests and tools.
pub fn rules_json_from_bus(input: &[u8]) -> Result<String, EnvelopeError> {
    Envelope::from_bus_json(input, usize::MAX).map(|e| e.rules_json())
}

fn json_kind(v: &RawValue) -> &'static str {
    match v.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

fn expect_object(field: &'static str, v: &RawValue) -> Result<(), EnvelopeError> {
    match json_kind(v) {
        "an object" => Ok(()),
        found => Err(EnvelopeError::WrongType {
            field,
            expected: "a JSON object",
            found,
        }),
    }
}

/// `input` as text, if it is UTF-8 of at most `max_bytes`.
fn text_within(input: &[u8], max_bytes: usize) -> Result<&str, EnvelopeError> {
    if input.len() > max_bytes {
        return Err(EnvelopeError::TooLarge {
            size: input.len(),
            limit: max_bytes,
        });
    }
    std::str::from_utf8(input)
        .map_err(|e| EnvelopeError::NotJson(format!("invalid UTF-8 at byte {}", e.valid_up_to())))
}

/// The topic, which must be a string usable as an AMQP routing key.
fn topic(field: Option<&RawValue>) -> Result<String, EnvelopeError> {
    let topic = match field {
        None => return Err(EnvelopeError::NoTopic),
        Some(t) => string_field("topic", t)?,
    };
    if topic.is_empty() {
        return Err(EnvelopeError::BadValue {
            field: "topic",
            reason: "it is empty".into(),
        });
    }
    if topic.len() > MAX_TOPIC_BYTES {
        return Err(EnvelopeError::BadValue {
            field: "topic",
            reason: format!(
                "{} bytes, over the {MAX_TOPIC_BYTES} an AMQP routing key may have",
                topic.len()
            ),
        });
    }
    Ok(topic)
}

/// The id the message gives in its format's field, if any (`null` is none).
fn given_id(format: BusFormat, incoming: &Incoming<'_>) -> Result<Option<String>, EnvelopeError> {
    let (id_field, id) = match format {
        BusFormat::Fedmsg => ("msg_id", incoming.msg_id),
        BusFormat::FedoraMessaging => ("id", incoming.id),
    };
    match id {
        Some(v) if v.get() != "null" => Ok(Some(id_text(id_field, v)?)),
        _ => Ok(None),
    }
}

fn string_field(field: &'static str, v: &RawValue) -> Result<String, EnvelopeError> {
    match json_kind(v) {
        "a string" => serde_json::from_str(v.get()).map_err(|e| EnvelopeError::BadValue {
            field,
            reason: e.to_string(),
        }),
        found => Err(EnvelopeError::WrongType {
            field,
            expected: "a string",
            found,
        }),
    }
}

/// Ids are strings on both buses, but some old producers sent numbers; those are kept as text.
fn id_text(field: &'static str, v: &RawValue) -> Result<String, EnvelopeError> {
    match json_kind(v) {
        "a number" => Ok(v.get().to_owned()),
        _ => string_field(field, v),
    }
}

fn fedmsg_headers(incoming: &Incoming<'_>) -> Result<(Option<f64>, Box<RawValue>), EnvelopeError> {
    let timestamp = match incoming.timestamp {
        None => None,
        Some(v) if v.get() == "null" => None,
        Some(v) => match json_kind(v) {
            "a number" => Some(
                v.get()
                    .parse::<f64>()
                    .map_err(|e| EnvelopeError::BadValue {
                        field: "timestamp",
                        reason: e.to_string(),
                    })?,
            ),
            found => {
                return Err(EnvelopeError::WrongType {
                    field: "timestamp",
                    expected: "a number (seconds since the epoch)",
                    found,
                });
            }
        },
    };
    let mut headers = serde_json::Map::new();
    if let Some(ts) = timestamp.and_then(iso8601) {
        headers.insert("sent-at".into(), ts.into());
    }
    for (name, value) in [
        ("fedmsg_username", incoming.username),
        ("fedmsg_i", incoming.i),
    ] {
        if let Some(v) = value.and_then(|v| serde_json::from_str::<serde_json::Value>(v.get()).ok())
            && !v.is_null()
        {
            headers.insert(name.into(), v);
        }
    }
    let headers =
        serde_json::value::to_raw_value(&headers).map_err(|e| EnvelopeError::BadValue {
            field: "headers",
            reason: e.to_string(),
        })?;
    Ok((timestamp, headers))
}

fn fedora_messaging_headers(
    headers: Option<&RawValue>,
) -> Result<(Option<f64>, Box<RawValue>), EnvelopeError> {
    let Some(headers) = headers.filter(|h| h.get() != "null") else {
        return Ok((None, empty_object()));
    };
    expect_object("headers", headers)?;
    #[derive(Deserialize)]
    struct SentAt<'a> {
        #[serde(rename = "sent-at", borrow)]
        sent_at: Option<&'a RawValue>,
    }
    let sent: SentAt<'_> =
        serde_json::from_str(headers.get()).map_err(|e| EnvelopeError::BadValue {
            field: "headers",
            reason: e.to_string(),
        })?;
    let timestamp = match sent.sent_at {
        None => None,
        Some(v) if v.get() == "null" => None,
        Some(v) => {
            let text = string_field("sent-at", v)?;
            let ts: jiff::Timestamp =
                text.parse()
                    .map_err(|e: jiff::Error| EnvelopeError::BadValue {
                        field: "sent-at",
                        reason: format!("{text:?} is not an RFC 3339 date-time: {e}"),
                    })?;
            Some(ts.as_millisecond() as f64 / 1000.0)
        }
    };
    Ok((timestamp, headers.to_owned()))
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("`{}` is valid JSON")
}

fn iso8601(seconds: f64) -> Option<String> {
    if !seconds.is_finite() {
        return None;
    }
    let ts = jiff::Timestamp::from_millisecond((seconds * 1000.0).round() as i64).ok()?;
    Some(ts.to_string())
}

/// A deterministic id for messages that carry none: the same message replayed gets the same id,
/// so redelivery is recognised downstream. The body is canonicalised (sorted keys, no spaces)
/// so that re-serialisation does not change it.
fn derived_id(topic: &str, body: &RawValue, timestamp: Option<f64>) -> String {
    let canonical = serde_json::from_str::<serde_json::Value>(body.get())
        .map(|v| v.to_string())
        .unwrap_or_else(|_| body.get().to_owned());
    let mut h = Sha256::new();
    h.update(topic.as_bytes());
    h.update([0]);
    h.update(canonical.as_bytes());
    h.update([0]);
    if let Some(ts) = timestamp {
        h.update(ts.to_bits().to_le_bytes());
    }
    let digest = h.finalize();
    format!("fmn-{}", hex::encode(&digest[..16]))
}

impl fmt::Display for BusFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BusFormat::Fedmsg => "fedmsg",
            BusFormat::FedoraMessaging => "fedora-messaging",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Envelope, EnvelopeError> {
        Envelope::from_bus_json(s.as_bytes(), DEFAULT_MAX_MESSAGE_BYTES)
    }

    #[test]
    fn fedmsg_envelope() {
        let e = parse(r#"{"i": 3, "msg": {"owner": "ralph"}, "msg_id": "2013-abc", "timestamp": 1359603469.0, "topic": "org.fedoraproject.prod.buildsys.build.state.change", "username": "apache"}"#).unwrap();
        assert_eq!(e.id, "2013-abc");
        assert_eq!(e.format, BusFormat::Fedmsg);
        assert_eq!(e.timestamp, Some(1359603469.0));
        assert_eq!(e.body.get(), r#"{"owner": "ralph"}"#);
        let headers: serde_json::Value = serde_json::from_str(e.headers.get()).unwrap();
        assert_eq!(headers["sent-at"], "2013-01-31T03:37:49Z");
        assert_eq!(headers["fedmsg_username"], "apache");
        assert_eq!(headers["fedmsg_i"], 3);
        let rules: serde_json::Value = serde_json::from_str(&e.rules_json()).unwrap();
        assert_eq!(
            rules["topic"],
            "org.fedoraproject.prod.buildsys.build.state.change"
        );
        assert_eq!(rules["body"]["owner"], "ralph");
        assert!(rules.get("raw").is_none());
    }

    #[test]
    fn raw_is_kept_only_when_asked() {
        let input = r#"{"msg": {"a": 1}, "topic": "a.b", "certificate": "LS0t", "i": 2}"#;
        let plain = parse(input).unwrap();
        assert!(plain.raw.is_none());
        let json = serde_json::to_string(&plain).unwrap();
        assert!(!json.contains("\"raw\""), "{json}");
        let kept = Envelope::from_bus_json_keeping_raw(input.as_bytes(), 1 << 20).unwrap();
        assert_eq!(kept.raw.as_ref().map(|r| r.get()), Some(input));
        assert_eq!(kept.id, plain.id);
        let back: Envelope = serde_json::from_str(&serde_json::to_string(&kept).unwrap()).unwrap();
        assert_eq!(back.raw.map(|r| r.get().to_owned()), Some(input.to_owned()));
    }

    #[test]
    fn fedora_messaging_message() {
        let e = parse(r#"{"id": "f1d2", "topic": "bodhi.update.comment", "headers": {"sent-at": "2019-07-30T19:12:22+00:00", "fedora_messaging_severity": 20}, "body": {"comment": {}}}"#).unwrap();
        assert_eq!(e.id, "f1d2");
        assert_eq!(e.format, BusFormat::FedoraMessaging);
        assert_eq!(e.timestamp, Some(1564513942.0));
        assert!(e.headers.get().contains("fedora_messaging_severity"));
    }

    #[test]
    fn missing_id_is_deterministic() {
        let a = parse(r#"{"topic": "a.b", "body": {"x": 1, "y": 2}}"#).unwrap();
        let b = parse(r#"{"body": {"y":2,"x":1}, "topic": "a.b"}"#).unwrap();
        let c = parse(r#"{"topic": "a.c", "body": {"x": 1, "y": 2}}"#).unwrap();
        assert!(a.id.starts_with("fmn-"));
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(a.headers.get(), "{}");
    }

    #[test]
    fn bad_inputs_say_what_is_wrong() {
        let cases = [
            (
                "not json at all",
                "not valid JSON: expected ident at line 1 column 2",
            ),
            ("[1, 2]", "expected a JSON object, found an array"),
            (r#"{"msg": {}}"#, "no `topic` field"),
            (
                r#"{"topic": 7, "msg": {}}"#,
                "`topic` must be a string, found a number",
            ),
            (
                r#"{"topic": "a.b"}"#,
                "no body: neither `msg` (fedmsg) nor `body` (fedora-messaging) is present",
            ),
            (
                &format!(r#"{{"topic": "{}", "msg": {{}}}}"#, "a.".repeat(128)),
                "`topic` is invalid: 256 bytes, over the 255 an AMQP routing key may have",
            ),
            (
                r#"{"topic": "a.b", "body": [1]}"#,
                "`body` must be a JSON object, found an array",
            ),
            (
                r#"{"topic": "a.b", "msg": "hi"}"#,
                "`msg` must be a JSON object, found a string",
            ),
            (
                r#"{"topic": "a.b", "msg": {}, "timestamp": "noon"}"#,
                "`timestamp` must be a number (seconds since the epoch), found a string",
            ),
            (
                r#"{"topic": "a.b", "body": {}, "headers": {"sent-at": "yesterday"}}"#,
                "`sent-at` is invalid: \"yesterday\" is not an RFC 3339 date-time",
            ),
        ];
        for (input, expected) in cases {
            let err = parse(input).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "{input}: got {err:?}, want {expected:?}"
            );
        }
        let big = format!(r#"{{"topic": "a", "msg": {{"x": "{}"}}}}"#, "y".repeat(100));
        assert_eq!(
            Envelope::from_bus_json(big.as_bytes(), 64)
                .unwrap_err()
                .to_string(),
            format!("message is {} bytes, over the limit of 64 bytes", big.len())
        );
    }
}
