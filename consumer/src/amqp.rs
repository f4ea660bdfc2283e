//! fedora-messaging over AMQP (RabbitMQ): a queue bound to a topic exchange.
//!
//! Each delivery becomes the JSON of a fedora-messaging message, `{"topic": routing key,
//! "id": message-id, "headers": {...}, "body": body}`, which the envelope parser reads like a
//! message from a file. Deliveries are acknowledged by [`Source::commit`], which the consumer
//! calls only once everything read so far is written to Redis (dispatched or dead-lettered):
//! a consumer that dies before that leaves them unacknowledged, and RabbitMQ hands them out
//! again. Nothing is lost; a message may be dispatched twice, and the senders' delivery ids
//! keep that from notifying twice.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use serde_json::{Map, Value};

use crate::source::{RawMessage, Source, SourceError};

/// Where and how to consume.
#[derive(Debug, Clone)]
pub struct AmqpOptions {
    /// `amqp://user:password@host:port/vhost` or `amqps://...`.
    pub url: String,
    /// The topic exchange to bind to (fedora-messaging publishes to `amq.topic`).
    pub exchange: String,
    /// The queue; it is declared if missing.
    pub queue: String,
    /// Keep the queue (and what it holds) when no consumer is connected.
    pub durable: bool,
    /// Routing keys to bind, e.g. `org.fedoraproject.prod.#`; none binds nothing (the queue
    /// is bound already).
    pub routing_keys: Vec<String>,
    /// Deliveries RabbitMQ sends before they are acknowledged: at least one consumer batch.
    pub prefetch: u16,
    /// TLS settings for `amqps://` URLs.
    pub tls: AmqpTls,
}

/// TLS for `amqps://`, as Fedora's public broker needs it: its CA, and a client certificate.
#[derive(Debug, Clone, Default)]
pub struct AmqpTls {
    /// CA certificates (PEM) to verify the broker with, besides the webpki roots.
    pub ca: Option<PathBuf>,
    /// The client certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

impl AmqpTls {
    /// The files read into lapin's TLS settings; a file that cannot be read, or a certificate
    /// without its key, is an error naming it.
    fn config(&self, origin: &str) -> Result<OwnedTLSConfig, SourceError> {
        let read = |what: &str, p: &Path| {
            std::fs::read(p).map_err(|e| io(origin, format!("{what} {}: {e}", p.display())))
        };
        let identity = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
                pem: read("client certificate", cert)?,
                key: read("client key", key)?,
            }),
            (None, None) => None,
            _ => {
                return Err(io(
                    origin,
                    "a client certificate needs its key and a key its certificate",
                ));
            }
        };
        let cert_chain = match &self.ca {
            Some(ca) => Some(
                String::from_utf8(read("CA certificates", ca)?)
                    .map_err(|_| io(origin, format!("{}: not PEM text", ca.display())))?,
            ),
            None => None,
        };
        Ok(OwnedTLSConfig {
            identity,
            cert_chain,
        })
    }
}

impl Default for AmqpOptions {
    fn default() -> Self {
        AmqpOptions {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            exchange: "amq.topic".into(),
            queue: "fmn".into(),
            durable: true,
            routing_keys: vec!["#".into()],
            prefetch: 1024,
            tls: AmqpTls::default(),
        }
    }
}

/// An AMQP queue as a [`Source`].
pub struct AmqpSource {
    _conn: Connection,
    channel: Channel,
    consumer: Consumer,
    queue: String,
    /// The highest delivery tag read and not yet acknowledged.
    unacked: Option<u64>,
}

fn io(origin: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError {
        origin: origin.to_owned(),
        source: std::io::Error::other(e.to_string()),
    }
}

impl AmqpSource {
    /// Connects, declares the queue, binds it and starts consuming.
    pub async fn connect(opts: &AmqpOptions) -> Result<Self, SourceError> {
        let origin = format!("amqp:{}", opts.queue);
        let tls = opts.tls.config(&origin)?;
        let runtime = lapin::runtime::default_runtime().map_err(|e| io(&origin, e))?;
        let conn = Connection::connect_with_config(
            &opts.url,
            ConnectionProperties::default(),
            tls,
            runtime,
        )
        .await
        .map_err(|e| io(&origin, format!("cannot connect: {e}")))?;
        let channel = conn.create_channel().await.map_err(|e| io(&origin, e))?;
        channel
            .basic_qos(opts.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| io(&origin, e))?;
        channel
            .queue_declare(
                opts.queue.as_str().into(),
                QueueDeclareOptions {
                    durable: opts.durable,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| io(&origin, format!("cannot declare the queue: {e}")))?;
        for key in &opts.routing_keys {
            channel
                .queue_bind(
                    opts.queue.as_str().into(),
                    opts.exchange.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| {
                    io(
                        &origin,
                        format!("cannot bind to {} with {key}: {e}", opts.exchange),
                    )
                })?;
        }
        let consumer = channel
            .basic_consume(
                opts.queue.as_str().into(),
                format!("fmn-{}-{}", fmn_transport::hostname(), std::process::id())
                    .as_str()
                    .into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| io(&origin, e))?;
        tracing::info!(queue = %opts.queue, exchange = %opts.exchange, keys = ?opts.routing_keys, "consuming from AMQP");
        Ok(AmqpSource {
            _conn: conn,
            channel,
            consumer,
            queue: opts.queue.clone(),
            unacked: None,
        })
    }
}

impl Source for AmqpSource {
    async fn next(&mut self, max_bytes: usize) -> Option<Result<RawMessage, SourceError>> {
        let origin = format!("amqp:{}", self.queue);
        let delivery = match self.consumer.next().await? {
            Ok(d) => d,
            Err(e) => return Some(Err(io(&origin, e))),
        };
        self.unacked = Some(delivery.delivery_tag);
        let props = &delivery.properties;
        let id = props.message_id().as_ref().map(|s| s.as_str().to_owned());
        let origin = match &id {
            Some(id) => format!("amqp:{}/{id}", self.queue),
            None => format!("amqp:{}#{}", self.queue, delivery.delivery_tag),
        };
        let headers = props
            .headers()
            .as_ref()
            .map(table_json)
            .unwrap_or_else(|| Value::Object(Map::new()));
        let bytes = message_json(
            delivery.routing_key.as_str(),
            id.as_deref(),
            &headers,
            &delivery.data,
        );
        let oversize = (bytes.len() > max_bytes).then_some(bytes.len());
        Some(Ok(RawMessage {
            bytes,
            origin,
            oversize,
        }))
    }

    async fn commit(&mut self) -> Result<(), SourceError> {
        let Some(tag) = self.unacked else {
            return Ok(());
        };
        self.channel
            .basic_ack(tag, BasicAckOptions { multiple: true })
            .await
            .map_err(|e| {
                io(
                    &format!("amqp:{}", self.queue),
                    format!("cannot acknowledge: {e}"),
                )
            })?;
        self.unacked = None;
        Ok(())
    }
}

/// The fedora-messaging message as JSON. A body that is not JSON is kept as a string, so the
/// envelope parser rejects it with a clear reason and the whole delivery is dead-lettered.
fn message_json(topic: &str, id: Option<&str>, headers: &Value, body: &[u8]) -> Vec<u8> {
    let body: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    let mut m = Map::new();
    m.insert("topic".into(), Value::String(topic.to_owned()));
    if let Some(id) = id {
        m.insert("id".into(), Value::String(id.to_owned()));
    }
    m.insert("headers".into(), headers.clone());
    m.insert("body".into(), body);
    serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
}

fn table_json(t: &FieldTable) -> Value {
    Value::Object(
        t.inner()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), value_json(v)))
            .collect(),
    )
}

fn value_json(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => (*n).into(),
        AMQPValue::ShortShortUInt(n) => (*n).into(),
        AMQPValue::ShortInt(n) => (*n).into(),
        AMQPValue::ShortUInt(n) => (*n).into(),
        AMQPValue::LongInt(n) => (*n).into(),
        AMQPValue::LongUInt(n) => (*n).into(),
        AMQPValue::LongLongInt(n) => (*n).into(),
        AMQPValue::Float(f) => {
            serde_json::Number::from_f64(f64::from(*f)).map_or(Value::Null, Value::Number)
        }
        AMQPValue::Double(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_owned()),
        AMQPValue::LongString(s) => {
            Value::String(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        AMQPValue::ByteArray(b) => {
            Value::String(String::from_utf8_lossy(b.as_slice()).into_owned())
        }
        AMQPValue::Timestamp(t) => (*t).into(),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(value_json).collect()),
        AMQPValue::FieldTable(t) => table_json(t),
        AMQPValue::DecimalValue(d) => Value::String(format!("{d:?}")),
        AMQPValue::Void => Value::Null,
    }
}
