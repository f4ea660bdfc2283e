//! Backpressure in bytes, end to end: `fmn consume` fed messages of 1 MiB with a worker that
//! reads nothing stops reading at `[consumer] max_backlog_bytes`, and says so in its log, its
//! metrics and `fmn status`; it goes on once the worker's queue is drained.

use std::io::Write;
use std::time::Duration;

use fmn_transport::WorkQueue;

use crate::cli::{configured, run, text};
use crate::metrics::{consume_stdin, sample, scrape};
use crate::support::{RedisServer, free_port, idle_worker, wait_until};

const TOTAL: usize = 40;
const PAD: usize = 1 << 20;
const BOUND: u64 = 8 << 20;
const BATCH: u64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_stops_at_max_backlog_bytes_and_says_so() {
    let redis = RedisServer::start();
    let (transport, beat) = idle_worker(&redis).await;
    let dir = tempfile::tempdir().unwrap();
    let with = configured(
        dir.path(),
        &format!(
            "[redis]\nurl = \"{}\"\n\n[consumer]\nbatch = {BATCH}\nmax_message_bytes = {}\nmax_backlog_bytes = {BOUND}\n",
            redis.url(),
            2 * PAD
        ),
    );
    let port = free_port();
    let mut consumer = consume_stdin(&with, port);
    // The pipe fills once the consumer stops reading: the messages go in from a thread.
    let mut stdin = consumer.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let pad = "x".repeat(PAD);
        for i in 0..TOTAL {
            writeln!(
                stdin,
                r#"{{"topic": "org.example.t", "id": "m{i}", "body": {{"pad": "{pad}"}}}}"#
            )
            .unwrap();
        }
    });

    let mut body = String::new();
    wait_until(Duration::from_secs(60), "a pause", async || {
        body = scrape(port).await;
        sample(&body, "fmn_consumer_backpressure_pauses_total").unwrap_or(0.0) >= 1.0
    })
    .await;
    // Paused: nothing more is dispatched until the queue drains.
    let held = transport.backlogs(&["w".to_owned()]).await.unwrap()[0];
    eprintln!("fmn consume stopped holding {held:?}, bound {BOUND} bytes");
    assert!(held.bytes >= BOUND, "{held:?}");
    assert!(held.entries <= BOUND / PAD as u64 + BATCH, "{held:?}");
    let seen = sample(&body, "fmn_consumer_backlog_bytes").expect("the gauge");
    assert!(seen >= BOUND as f64, "{seen}");

    let out = run(&mut with(&["status", "--json"]));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["backlog_bytes"], held.bytes, "{status}");
    assert_eq!(status["max_backlog_bytes"], BOUND);
    let out = run(&mut with(&["status"]));
    let want = format!(
        "backlog: {} entries, {} bytes in the live workers' queues and the shared queue; the consumer stops reading at 100000 entries or {BOUND} bytes",
        held.entries, held.bytes
    );
    assert!(text(&out.stdout).contains(&want), "{}", text(&out.stdout));

    crate::transport::drain(&transport, "w", TOTAL, 4).await;
    writer.join().unwrap();
    let out = consumer.wait_with_output().unwrap();
    beat.abort();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("{TOTAL} messages read, {TOTAL} dispatched")),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("reached [consumer] max_backlog_bytes ({BOUND})")),
        "the log names the bound: {stderr}"
    );
}
