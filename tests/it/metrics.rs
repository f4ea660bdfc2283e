//! `--metrics ADDR` on the consumer, a worker and a sender, each a process of its own on a real
//! redis-server: Prometheus text that counts what they did, and a health check that says when
//! Redis is gone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use crate::cli::{configured, spawn, terminate, text};
use crate::support::{RedisServer, free_port, wait_until};

/// `GET path` on 127.0.0.1:port: (status code, body); `None` when nothing answers yet.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The value of the sample named exactly `series` (name and labels) in Prometheus text.
pub(crate) fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// `fmn consume --messages - --metrics 127.0.0.1:port`, its standard streams piped.
pub(crate) fn consume_stdin(
    with: &impl Fn(&[&str]) -> std::process::Command,
    port: u16,
) -> std::process::Child {
    with(&[
        "consume",
        "--messages",
        "-",
        "--metrics",
        &format!("127.0.0.1:{port}"),
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap()
}

pub(crate) async fn scrape(port: u16) -> String {
    let mut body = String::new();
    wait_until(
        Duration::from_secs(30),
        "the metrics endpoint",
        async || match get(port, "/metrics") {
            Some((200, b)) => {
                body = b;
                true
            }
            _ => false,
        },
    )
    .await;
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_worker_and_sender_serve_metrics_and_health() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = configured(
        d,
        &format!(
            "[redis]\nurl = \"{}\"\n\n[worker]\nreload_ms = 0\n\n[senders.email]\nbackend = \"file\"\npath = \"out/email.jsonl\"\n",
            redis.url()
        ),
    );
    let (wp, cp, sp) = (free_port(), free_port(), free_port());
    let example = crate::support::root().join("examples/prefs.toml");
    let worker = spawn(&mut with(&[
        "worker",
        "--prefs",
        example.to_str().unwrap(),
        "--metrics",
        &format!("127.0.0.1:{wp}"),
    ]));
    let sender = spawn(&mut with(&[
        "send",
        "--channel",
        "email",
        "--metrics",
        &format!("127.0.0.1:{sp}"),
    ]));
    wait_until(Duration::from_secs(60), "a live worker", async || {
        sample(&scrape(wp).await, "fmn_live_workers") == Some(1.0)
    })
    .await;

    // The consumer reads stdin, kept open until its metrics are scraped.
    let messages = crate::support::fixture("bench_messages.jsonl");
    let lines = messages.lines().filter(|l| !l.trim().is_empty()).count() as f64;
    let mut consumer = consume_stdin(&with, cp);
    let mut stdin = consumer.stdin.take().unwrap();
    stdin.write_all(messages.as_bytes()).unwrap();
    stdin.flush().unwrap();

    let mut body = String::new();
    let (mut dispatched, mut dead) = (None, 0.0);
    wait_until(
        Duration::from_secs(60),
        "every message dispatched",
        async || {
            body = scrape(cp).await;
            dispatched = sample(
                &body,
                "fmn_consumer_messages_dispatched_total{mode=\"random\"}",
            );
            dead = sample(&body, "fmn_dead_letters_total{stage=\"consumer\"}").unwrap_or(0.0);
            dispatched.unwrap_or(0.0) + dead == lines
        },
    )
    .await;
    assert_eq!(
        sample(&body, "fmn_consumer_messages_read_total"),
        Some(lines)
    );
    assert!(
        body.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    drop(stdin);

    wait_until(
        Duration::from_secs(60),
        "every message processed",
        async || {
            body = scrape(wp).await;
            sample(&body, "fmn_worker_messages_processed_total") == dispatched
        },
    )
    .await;
    assert_eq!(
        sample(&body, "fmn_worker_message_latency_seconds_count"),
        dispatched,
        "one latency per message: {body}"
    );
    assert_eq!(sample(&body, "fmn_worker_eval_seconds_count"), dispatched);
    let emails = sample(&body, "fmn_worker_notifications_total{channel=\"email\"}")
        .expect("the example preferences notify by email");
    assert!(emails > 0.0);
    assert!(
        body.contains("fmn_queue_waiting{queue=\"out:email\"}"),
        "queue depths are read at scrape time: {body}"
    );

    wait_until(
        Duration::from_secs(60),
        "every mail delivered",
        async || {
            body = scrape(sp).await;
            // Delivered counts before the batch is acknowledged: wait for the queue too. The
            // example's pingou collects his in digests of 20 or an hour: some are held.
            sample(&body, "fmn_sender_delivered_total{channel=\"email\"}").unwrap_or(0.0)
                + sample(&body, "fmn_sender_held_for_digest_total{channel=\"email\"}")
                    .unwrap_or(0.0)
                >= emails
                && sample(&body, "fmn_queue_waiting{queue=\"out:email\"}") == Some(0.0)
        },
    )
    .await;
    let held = sample(&body, "fmn_sender_held_for_digest_total{channel=\"email\"}")
        .expect("pingou's digest");
    let digests = sample(&body, "fmn_sender_digests_sent_total{channel=\"email\"}")
        .expect("pingou's digests of 20");
    let delivered = sample(&body, "fmn_sender_delivered_total{channel=\"email\"}");
    assert!(held > 0.0 && digests >= 1.0, "{body}");
    // Each held notification is delivered in a digest of 20 or still held.
    assert_eq!(
        delivered.map(|d| d - 20.0 * digests),
        Some(emails - held),
        "each mail once, each digest of 20: {body}"
    );

    assert_eq!(get(wp, "/healthz"), Some((200, "ok\n".into())));
    assert_eq!(get(sp, "/nowhere").map(|(s, _)| s), Some(404));
    // Redis goes away: health says so, and metrics are still served.
    redis.kill();
    let mut health = None;
    wait_until(Duration::from_secs(30), "an unhealthy worker", async || {
        health = get(wp, "/healthz");
        health.as_ref().is_some_and(|(s, _)| *s == 503)
    })
    .await;
    let (_, why) = health.unwrap();
    assert!(why.starts_with("redis: "), "{why}");
    assert!(sample(&scrape(wp).await, "fmn_worker_messages_processed_total").is_some());
    redis.restart();
    wait_until(
        Duration::from_secs(30),
        "a healthy worker again",
        async || get(wp, "/healthz").is_some_and(|(s, _)| s == 200),
    )
    .await;

    let out = consumer.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    for p in [worker, sender] {
        let out = terminate(p);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    drop(redis);
}
