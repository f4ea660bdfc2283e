//! fedora-messaging over a real RabbitMQ (the machine's, on 127.0.0.1:5672, guest/guest; the
//! test declares an exchange and a queue of its own and deletes them): every message
//! dispatched exactly once, a malformed one dead-lettered, and a consumer killed with SIGKILL
//! mid-stream and restarted loses none.

use std::collections::BTreeMap;
use std::time::Duration;

use fmn_transport::DeadLetters;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use crate::cli::{configured, spawn, terminate, text};
use crate::support::{RabbitTls, RedisServer, fixture, idle_worker, wait_until};

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Bodies of real fedora-messaging messages, with their topics.
fn corpus() -> Vec<(String, String)> {
    fixture("fedora_messaging.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["topic"].as_str()?.to_owned(), v["body"].to_string())))
        .collect()
}

pub(crate) async fn publish(
    channel: &Channel,
    exchange: &str,
    from: usize,
    n: usize,
    bad: &[usize],
) {
    let corpus = corpus();
    for i in from..from + n {
        let (topic, body) = &corpus[i % corpus.len()];
        let body = if bad.contains(&i) {
            "this is not JSON".to_owned()
        } else {
            body.clone()
        };
        let mut headers = BTreeMap::new();
        headers.insert(
            ShortString::from("fedora_messaging_schema"),
            AMQPValue::LongString(LongString::from("base.message")),
        );
        headers.insert(
            ShortString::from("sent-at"),
            AMQPValue::LongString(LongString::from("2026-11-28T04:00:00+00:00")),
        );
        headers.insert(ShortString::from("priority"), AMQPValue::LongInt(0));
        let props = BasicProperties::default()
            .with_message_id(format!("amqp-{i}").as_str().into())
            .with_content_type("application/json".into())
            .with_headers(FieldTable::from(headers));
        channel
            .basic_publish(
                exchange.into(),
                format!("org.fedoraproject.prod.{topic}").as_str().into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                props,
            )
            .await
            .expect("publish")
            .await
            .expect("confirmed");
    }
}

/// Whether the queue exists: the consumer declared it, so messages published now reach it.
async fn queue_exists(conn: &Connection, name: &str) -> bool {
    // A passive declaration of a missing queue closes its channel: one per attempt.
    let Ok(probe) = conn.create_channel().await else {
        return false;
    };
    probe
        .queue_declare(
            name.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .is_ok()
}

/// Message ids in the work stream of worker `w`, with how often each is there.
pub(crate) async fn dispatched(url: &str) -> BTreeMap<String, usize> {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    // Thousands of entries while other tests load both cores.
    c.set_response_timeout(Duration::from_secs(60));
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("fmn:work:w")
        .arg("-")
        .arg("+")
        .query_async(&mut c)
        .await
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for (_, fields) in entries {
        for (k, v) in fields {
            if k == "d" {
                let item: serde_json::Value = serde_json::from_str(&v).unwrap();
                let id = item["envelope"]["id"].as_str().unwrap().to_owned();
                *out.entry(id).or_default() += 1;
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_messages_are_dispatched_once_and_survive_a_killed_consumer() {
    let redis = RedisServer::start();
    let (transport, beat) = idle_worker(&redis).await;

    let conn = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672 (Debian's rabbitmq-server; .ci/run starts it)");
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let name = format!("fmn-test-{}", std::process::id());
    channel
        .exchange_declare(
            name.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let with = configured(dir.path(), &format!("[redis]\nurl = \"{}\"\n", redis.url()));
    let consumer = || {
        spawn(&mut with(&[
            "consume",
            "--amqp",
            AMQP_URL,
            "--amqp-exchange",
            &name,
            "--amqp-queue",
            &name,
            "--amqp-routing-key",
            "org.fedoraproject.prod.#",
        ]))
    };

    // 10,000 messages, two of them malformed, one consumer all along: each dispatched once.
    let first = consumer();
    let url = redis.url();
    let dead_letters = async || transport.dead_letter_count().await.unwrap();
    // The queue exists once the consumer declared it; publish only then.
    wait_until(
        Duration::from_secs(30),
        "the consumer's queue",
        async || queue_exists(&conn, &name).await,
    )
    .await;
    publish(&channel, &name, 0, 10_000, &[17, 4242]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let (handled, mut got) = loop {
        let got = dispatched(&url).await;
        let dead = dead_letters().await;
        if got.len() as u64 + dead >= 10_000 {
            break (true, got);
        }
        if std::time::Instant::now() > deadline {
            break (false, got);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let out = terminate(first);
    // When it fails, say what the consumer said and how far it got.
    assert!(
        handled && out.status.success(),
        "{} dispatched, {} dead-lettered of 10,000 after 120 s; consumer {:?}: {}{}",
        got.len(),
        dead_letters().await,
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(got.len(), 9_998);
    assert!(got.values().all(|n| *n == 1), "each dispatched once");
    let dead = transport.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 2);
    assert!(
        dead.iter()
            .any(|d| d.item.origin == format!("amqp:{name}/amqp-17")),
        "{dead:?}"
    );

    // 5,000 more; the consumer is killed with SIGKILL a third of the way and started again.
    let mut second = consumer();
    let publisher = {
        let (channel, name) = (channel.clone(), name.clone());
        tokio::spawn(async move { publish(&channel, &name, 10_000, 5_000, &[]).await })
    };
    wait_until(
        Duration::from_secs(120),
        "a third of the second run",
        async || dispatched(&url).await.len() >= 9_998 + 1_700,
    )
    .await;
    second.kill().unwrap();
    let _ = second.wait();
    let third = consumer();
    publisher.await.unwrap();
    wait_until(Duration::from_secs(120), "all 15,000 handled", async || {
        got = dispatched(&url).await;
        got.len() >= 14_998
    })
    .await;
    let out = terminate(third);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for i in (0..15_000).filter(|i| ![17, 4242].contains(i)) {
        assert!(got.contains_key(&format!("amqp-{i}")), "amqp-{i} lost");
    }
    let twice = got.values().filter(|n| **n > 1).count();
    assert!(
        twice <= 1024,
        "only what was in flight (prefetch 1,024) is dispatched again: {twice}"
    );
    eprintln!("dispatched again after the SIGKILL: {twice}");

    // The envelope carries what fedora-messaging sent.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let first_entry: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("fmn:work:w")
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut c)
        .await
        .unwrap();
    let item: serde_json::Value = serde_json::from_str(&first_entry[0].1[0].1).unwrap();
    assert_eq!(item["envelope"]["id"], "amqp-0");
    assert!(
        item["envelope"]["topic"]
            .as_str()
            .unwrap()
            .starts_with("org.fedoraproject.prod."),
        "{item}"
    );
    assert_eq!(item["origin"], format!("amqp:{name}/amqp-0"));

    beat.abort();
    channel
        .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    channel
        .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .unwrap();
}

/// Fedora's public broker takes AMQP over TLS with a client certificate. A RabbitMQ node of
/// the test's own requires one signed by its CA: with `[amqp]` in the configuration naming
/// the CA, certificate and key, 100 messages come through; without a client certificate, or
/// without the CA, the consumer stops with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_over_tls_with_a_client_certificate() {
    let rabbit = RabbitTls::start();
    let redis = RedisServer::start();
    let (_transport, beat) = idle_worker(&redis).await;
    let certs = rabbit.dir.path();
    let url = format!("amqps://guest:guest@localhost:{}/%2f", rabbit.tls_port);
    let dir = tempfile::tempdir().unwrap();
    let with = configured(
        dir.path(),
        &format!(
            "[redis]\nurl = \"{}\"\n\n[amqp]\nurl = \"{url}\"\nexchange = \"amq.topic\"\nqueue = \"fmn-tls\"\nrouting_keys = [\"org.fedoraproject.prod.#\"]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
            redis.url(),
            certs.join("ca.pem").display(),
            certs.join("client.pem").display(),
            certs.join("client.key").display(),
        ),
    );
    let consumer = spawn(&mut with(&["consume"]));

    let conn = Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:{}/%2f", rabbit.plain_port),
        ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    // Publish once the consumer's queue is bound (unroutable messages would be dropped).
    wait_until(
        Duration::from_secs(60),
        "the consumer's queue",
        async || queue_exists(&conn, "fmn-tls").await,
    )
    .await;
    publish(&channel, "amq.topic", 0, 100, &[]).await;
    let redis_url = redis.url();
    wait_until(
        Duration::from_secs(60),
        "100 dispatched over TLS",
        async || dispatched(&redis_url).await.len() >= 100,
    )
    .await;
    let out = terminate(consumer);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(dispatched(&redis_url).await.len(), 100);

    // No client certificate: the broker refuses the handshake. Not told the broker's CA: we
    // refuse the broker.
    let path = |f: &str| certs.join(f).to_str().unwrap().to_owned();
    let no_cert = ["--amqp-ca".to_owned(), path("ca.pem")];
    let no_ca = [
        "--amqp-cert".to_owned(),
        path("client.pem"),
        "--amqp-key".to_owned(),
        path("client.key"),
    ];
    for (why, flags) in [
        ("no client certificate", &no_cert[..]),
        ("no CA", &no_ca[..]),
    ] {
        let redis_url = redis.url();
        let out = crate::cli::run(
            crate::cli::fmn()
                .args(["consume", "--redis", &redis_url, "--amqp", &url])
                .args(["--amqp-queue", "fmn-tls"])
                .args(flags),
        );
        assert!(!out.status.success(), "{why}: {}", text(&out.stdout));
        assert!(
            text(&out.stderr).contains("amqp:fmn-tls: cannot connect"),
            "{why}: {}",
            text(&out.stderr)
        );
    }
    beat.abort();
}
