//! fedmsg over ZeroMQ: a PUB socket in the test feeds `fmn consume --zmq`, with a topic prefix
//! filter, malformed envelopes among real ones, and the publisher going away and coming back.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::amqp::dispatched;
use crate::cli::{configured, spawn, terminate, text};
use crate::pipeline::corpus_messages;
use crate::support::{RedisServer, free_port, idle_worker, wait_until};

fn publisher(endpoint: &str) -> zmq::Socket {
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::PUB).unwrap();
    socket.set_sndhwm(1_000_000).unwrap();
    socket.set_linger(1_000).unwrap();
    socket.bind(endpoint).unwrap();
    socket
}

/// Publishes `probe-N` messages until one arrives: the subscription has reached the publisher
/// (a SUB socket misses what is published before it is connected and subscribed).
async fn until_connected(pubs: &zmq::Socket, url: &str, round: &str) {
    for i in 0.. {
        let id = format!("probe-{round}-{i}");
        let body = format!(
            r#"{{"topic": "org.fedoraproject.prod.probe", "msg_id": "{id}", "timestamp": 1700000000, "msg": {{}}}}"#
        );
        pubs.send_multipart(
            ["org.fedoraproject.prod.probe".as_bytes(), body.as_bytes()],
            0,
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        if dispatched(url)
            .await
            .keys()
            .any(|k| k.starts_with(&format!("probe-{round}-")))
        {
            return;
        }
        assert!(
            i < 300,
            "the consumer never received a message in round {round}"
        );
    }
}

/// `(topic, envelope)` for each corpus message, fedmsg's two frames, with a unique id.
fn frames(n: usize, round: &str) -> Vec<(String, String)> {
    corpus_messages(n)
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let mut v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let topic = v["topic"].as_str().unwrap().to_owned();
            let topic = if topic.starts_with("org.fedoraproject.") {
                topic
            } else {
                format!("org.fedoraproject.prod.{topic}")
            };
            v["topic"] = topic.clone().into();
            let field = if v.get("msg").is_some() {
                "msg_id"
            } else {
                "id"
            };
            v[field] = format!("{round}-{i}").into();
            (topic, v.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fedmsg_from_a_pub_socket_is_dispatched_and_survives_the_publisher_restarting() {
    let redis = RedisServer::start();
    let (_transport, beat) = idle_worker(&redis).await;
    let url = redis.url();
    let client = redis::Client::open(url.clone()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    let with = configured(dir.path(), &format!("[redis]\nurl = \"{}\"\n", redis.url()));
    let consumer = spawn(&mut with(&[
        "consume",
        "--zmq",
        &endpoint,
        "--zmq-topic",
        "org.fedoraproject.",
    ]));

    for round in ["first", "second"] {
        // The second round: the publisher went away and a new one took its place.
        let pubs = publisher(&endpoint);
        until_connected(&pubs, &url, round).await;
        for (topic, body) in frames(1000, round) {
            pubs.send_multipart([topic.as_bytes(), body.as_bytes()], 0)
                .unwrap();
        }
        // Not for us: another prefix.
        pubs.send_multipart(
            [
                &b"com.example.other"[..],
                br#"{"topic": "com.example.other", "msg_id": "other", "msg": {}}"#,
            ],
            0,
        )
        .unwrap();
        // Not bus messages.
        pubs.send_multipart([&b"org.fedoraproject.prod.bad"[..], &b"not json"[..]], 0)
            .unwrap();
        pubs.send_multipart(
            [
                &b"org.fedoraproject.prod.bad"[..],
                br#"{"topic": "org.fedoraproject.prod.bad", "msg": [1]}"#,
            ],
            0,
        )
        .unwrap();
        wait_until(
            Duration::from_secs(60),
            "every message of the round",
            async || {
                let got = dispatched(&url).await;
                (0..1000).all(|i| got.contains_key(&format!("{round}-{i}")))
            },
        )
        .await;
        drop(pubs);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let out = terminate(consumer);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = dispatched(&url).await;
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "dispatched more than once: {twice:?}");
    assert!(!got.contains_key("other"), "the topic prefix filters");
    let ours = got.keys().filter(|k| !k.starts_with("probe-")).count();
    assert_eq!(ours, 2000);
    let dead: Vec<(String, String)> = redis::cmd("XRANGE")
        .arg("fmn:dead")
        .arg("-")
        .arg("+")
        .query_async::<Vec<(String, BTreeMap<String, String>)>>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, f)| (f["origin"].clone(), f["reason"].clone()))
        .collect();
    assert_eq!(dead.len(), 4, "{dead:?}");
    assert!(
        dead.iter().all(
            |(origin, _)| origin.starts_with(&format!("zmq:{endpoint} #"))
                && origin.ends_with("(org.fedoraproject.prod.bad)")
        ),
        "{dead:?}"
    );
    assert!(dead[0].1.starts_with("not valid JSON"), "{dead:?}");
    assert_eq!(dead[1].1, "`msg` must be a JSON object, found an array");
    beat.abort();
}
