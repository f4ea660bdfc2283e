//! Replaying history: a time window from a local HTTP server that speaks datagrepper's `/v2/raw`
//! (pages, `rows_per_page`, `order=asc`, fedora-messaging's message shape), with a failing
//! page and malformed messages among real ones.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fmn_transport::{DeadLetters, WorkQueue};

use crate::cli::{configured, run, text};
use crate::support::{RedisServer, fixture, idle_worker};

const START: f64 = 1_700_000_000.0;
const END: f64 = 1_700_086_400.0;
const ROWS: usize = 100;

/// The corpus' fedora-messaging messages as datagrepper serves them, with two that are not bus
/// messages at positions 57 and 160 (1-based).
fn archive() -> Vec<String> {
    let mut out: Vec<String> = fixture("fedora_messaging.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        // Some corpus entries are schema samples without a topic: not what datagrepper holds.
        .filter(|v| v["topic"].as_str().is_some_and(|t| !t.is_empty()))
        .enumerate()
        .map(|(i, v)| {
            serde_json::json!({
                "body": v["body"],
                "headers": {"sent-at": format!("2023-11-14T22:{:02}:{:02}+00:00", i / 60, i % 60)},
                "id": format!("dg-{i}"),
                "queue": null,
                "topic": v["topic"],
            })
            .to_string()
        })
        .collect();
    out.insert(56, r#"{"id": "bad-1", "topic": 7, "body": {}}"#.into());
    out.insert(
        159,
        r#"{"id": "bad-2", "topic": "a.b", "body": [1, 2]}"#.into(),
    );
    out
}

/// Serves `messages` as datagrepper would, checking the arguments; the first request for page 2
/// gets a 503. Returns the port and the requests seen.
fn serve(messages: Vec<String>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut failed_once = false;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
            }
            let target = request.split_whitespace().nth(1).unwrap_or("").to_owned();
            log.lock().unwrap().push(target.clone());
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            let args: BTreeMap<&str, &str> = query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let page: usize = args.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let (status, body) = if path != "/datagrepper/v2/raw"
                || args.get("order") != Some(&"asc")
                || args.get("rows_per_page") != Some(&"100")
                || args.get("start").and_then(|s| s.parse::<f64>().ok()) != Some(START)
                || args.get("end").and_then(|s| s.parse::<f64>().ok()) != Some(END)
            {
                ("400 Bad Request", format!("unexpected request {target}"))
            } else if page == 2 && !failed_once {
                failed_once = true;
                ("503 Service Unavailable", "try again".to_owned())
            } else {
                let pages = messages.len().div_ceil(ROWS);
                let rows: Vec<&str> = messages
                    .iter()
                    .skip((page - 1) * ROWS)
                    .take(ROWS)
                    .map(String::as_str)
                    .collect();
                (
                    "200 OK",
                    format!(
                        r#"{{"arguments": {{"page": {page}, "rows_per_page": {ROWS}}}, "count": {}, "pages": {pages}, "total": {}, "raw_messages": [{}]}}"#,
                        rows.len(),
                        messages.len(),
                        rows.join(", ")
                    ),
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datagrepper_window_is_replayed_in_order_with_bad_messages_dead_lettered() {
    let messages = archive();
    let (port, seen) = serve(messages.clone());
    let redis = RedisServer::start();
    let (transport, _beat) = idle_worker(&redis).await;
    let dir = tempfile::tempdir().unwrap();
    let with = configured(dir.path(), &format!("[redis]\nurl = \"{}\"\n", redis.url()));
    let out = run(&mut with(&[
        "consume",
        "--datagrepper",
        &format!("http://127.0.0.1:{port}/datagrepper"),
        "--since",
        "2023-11-14T22:13:20Z",
        "--until",
        &END.to_string(),
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let total = messages.len();
    let want = format!(
        "fmn consume: datagrepper http://127.0.0.1:{port}/datagrepper: {total} messages read, {} dispatched, 2 dead-lettered",
        total - 2
    );
    // (A corpus message about package access also changes Redis' ownership data.)
    assert!(
        text(&out.stdout).starts_with(&want),
        "{}",
        text(&out.stdout)
    );
    // Three pages, the second asked for twice.
    let pages: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|t| {
            t.split("page=")
                .nth(1)
                .unwrap_or("")
                .chars()
                .take(1)
                .collect()
        })
        .collect();
    assert_eq!(pages, ["1", "2", "2", "3"]);

    let work = transport
        .read_work("w", 1000, Duration::from_millis(100))
        .await
        .unwrap();
    let ids: Vec<String> = work.iter().map(|e| e.item.envelope.id.clone()).collect();
    let want: Vec<String> = (0..total - 2).map(|i| format!("dg-{i}")).collect();
    assert_eq!(ids, want, "every good message, oldest first");
    assert_eq!(work[0].item.origin, "datagrepper page 1 #1");
    let dead = transport.dead_letters(10).await.unwrap();
    let got: Vec<(&str, &str)> = dead
        .iter()
        .map(|d| (d.item.origin.as_str(), d.item.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "datagrepper page 1 #57",
                "`topic` must be a string, found a number"
            ),
            (
                "datagrepper page 2 #60",
                "`body` must be a JSON object, found an array"
            ),
        ]
    );
}

/// A server that keeps failing: the replay stops with the page and the reason, and nothing is
/// dispatched out of order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_datagrepper_that_keeps_failing_stops_the_replay_with_the_reason() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let with = configured(dir.path(), &format!("[redis]\nurl = \"{}\"\n", redis.url()));
    let (port, _) = serve(Vec::new());
    // The server answers 400 to anything but the window it knows.
    let out = run(&mut with(&[
        "consume",
        "--datagrepper",
        &format!("http://127.0.0.1:{port}/datagrepper"),
        "--since",
        "0",
        "--until",
        "10",
    ]));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}/datagrepper/v2/raw page 1: HTTP 400 Bad Request: unexpected request")),
        "{err}"
    );
    let out = run(&mut with(&[
        "consume",
        "--datagrepper",
        "http://127.0.0.1:9/x",
        "--since",
        "yesterday",
        "--until",
        "0",
    ]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("\"yesterday\" is neither RFC 3339 nor seconds since the epoch"),
        "{}",
        text(&out.stderr)
    );
}

/// A JSON-lines file of corpus messages with malformed lines among them: every good one is
/// dispatched, in order, and each bad one is dead-lettered with its line and reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_lines_file_is_replayed_with_bad_lines_dead_lettered() {
    let good = crate::pipeline::corpus_messages(300);
    let mut lines = good.clone();
    lines.insert(
        10,
        "{\"topic\": \"a.b\", \"msg\": {\"unterminated\": ".into(),
    );
    lines.insert(150, "[\"not\", \"an\", \"object\"]".into());
    lines.insert(299, "{\"msg\": {}, \"msg_id\": \"no-topic\"}".into());
    let redis = RedisServer::start();
    let (transport, _beat) = idle_worker(&redis).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("history.jsonl"), lines.join("\n")).unwrap();
    let with = configured(dir.path(), &format!("[redis]\nurl = \"{}\"\n", redis.url()));
    let out = run(&mut with(&["consume", "--messages", "history.jsonl"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(
            "fmn consume: history.jsonl: 303 messages read, 300 dispatched, 3 dead-lettered"
        ),
        "{}",
        text(&out.stdout)
    );
    let work = transport
        .read_work("w", 1000, Duration::from_millis(100))
        .await
        .unwrap();
    let ids: Vec<String> = work.iter().map(|e| e.item.envelope.id.clone()).collect();
    let want: Vec<String> = good
        .iter()
        .map(|l| {
            fmn_core::Envelope::from_bus_json(l.as_bytes(), 1 << 20)
                .unwrap()
                .id
        })
        .collect();
    assert_eq!(ids, want);
    let dead = transport.dead_letters(10).await.unwrap();
    let got: Vec<(&str, &str)> = dead
        .iter()
        .map(|d| (d.item.origin.as_str(), d.item.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "history.jsonl:11",
                "not valid JSON: EOF while parsing a value at line 1 column 41"
            ),
            (
                "history.jsonl:151",
                "expected a JSON object, found an array"
            ),
            ("history.jsonl:300", "no `topic` field"),
        ]
    );
}
