//! The Matrix sender against a stand-in homeserver speaking the client-server API: a direct
//! chat created once and recorded in `m.direct`, a 429 waited out for its `retry_after_ms`, a
//! room the account may not post in dead-lettered, and the delivery key as transaction id, so
//! a repeat the sender could not recognise is dropped by the homeserver.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fmn_core::{ChannelKind, MessageMeta};
use fmn_transport::{DeadLetters, Outbox, Registry, WorkQueue};

use crate::cli::{configured, spawn, terminate, text};
use crate::retries::sender_setup;
use crate::support::{HttpRequest, free_port, serve_http_on, wait_until};
use crate::transport::notification;

#[derive(Default)]
pub(crate) struct Homeserver {
    pub(crate) problems: Vec<String>,
    m_direct: Option<serde_json::Value>,
    pub(crate) rooms_created: Vec<serde_json::Value>,
    /// (room, body) of each event stored, in order.
    pub(crate) events: Vec<(String, String)>,
    /// Transaction ids seen, with their event ids.
    txns: BTreeMap<String, String>,
    /// When each send to the busy room arrived.
    busy: Vec<Instant>,
}

const ME: &str = "@notifications:fmn.test";

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn homeserver() -> (u16, Arc<Mutex<Homeserver>>) {
    homeserver_on(0)
}

fn homeserver_on(port: u16) -> (u16, Arc<Mutex<Homeserver>>) {
    let state = Arc::new(Mutex::new(Homeserver::default()));
    let hs = state.clone();
    let port = serve_http_on(port, move |req: &HttpRequest| {
        let mut s = hs.lock().unwrap();
        if req.headers.get("authorization").map(String::as_str) != Some("Bearer secret") {
            return (
                "401 Unauthorized".into(),
                String::new(),
                r#"{"errcode": "M_UNKNOWN_TOKEN", "error": "bad token"}"#.into(),
            );
        }
        let api = req
            .target
            .strip_prefix("/_matrix/client/v3/")
            .unwrap_or("?");
        let segments: Vec<String> = api.split('/').map(decode).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let ok = |v: serde_json::Value| ("200 OK".to_owned(), String::new(), v.to_string());
        match (req.method.as_str(), segments.as_slice()) {
            ("GET", ["user", ME, "account_data", "m.direct"]) => match &s.m_direct {
                Some(v) => ok(v.clone()),
                None => (
                    "404 Not Found".into(),
                    String::new(),
                    r#"{"errcode": "M_NOT_FOUND", "error": "no account data"}"#.into(),
                ),
            },
            ("PUT", ["user", ME, "account_data", "m.direct"]) => {
                s.m_direct = serde_json::from_str(&req.body).ok();
                ok(serde_json::json!({}))
            }
            ("POST", ["createRoom"]) => {
                let v: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
                s.rooms_created.push(v);
                ok(serde_json::json!({"room_id": format!("!dm{}:fmn.test", s.rooms_created.len())}))
            }
            ("PUT", ["rooms", room, "send", "m.room.message", txn]) => {
                let (room, txn) = ((*room).to_owned(), (*txn).to_owned());
                let v: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
                if v["msgtype"] != "m.notice" {
                    s.problems.push(format!("msgtype: {}", req.body));
                }
                if room == "!busy:fmn.test" {
                    s.busy.push(Instant::now());
                    if s.busy.len() == 1 {
                        return (
                            "429 Too Many Requests".into(),
                            String::new(),
                            r#"{"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 1500}"#.into(),
                        );
                    }
                }
                if room == "!forbidden:fmn.test" {
                    return (
                        "403 Forbidden".into(),
                        String::new(),
                        r#"{"errcode": "M_FORBIDDEN", "error": "not in room"}"#.into(),
                    );
                }
                // The spec: the same transaction id gets the same event, stored once.
                if let Some(id) = s.txns.get(&txn) {
                    return ok(serde_json::json!({"event_id": id}));
                }
                let body = v["body"].as_str().unwrap_or("").to_owned();
                s.events.push((room, body));
                let id = format!("$e{}", s.events.len());
                s.txns.insert(txn, id.clone());
                ok(serde_json::json!({"event_id": id}))
            }
            _ => {
                s.problems
                    .push(format!("unexpected {} {}", req.method, req.target));
                (
                    "404 Not Found".into(),
                    String::new(),
                    r#"{"errcode": "M_UNRECOGNIZED", "error": "?"}"#.into(),
                )
            }
        }
    });
    (port, state)
}

/// Redis at `redis`, the Matrix sender on the stand-in homeserver at `port`.
fn matrix_config(redis: &str, port: u16) -> String {
    format!("[redis]\nurl = \"{redis}\"\n\n{}", matrix_sender(port))
}

/// `[senders.matrix]` on the stand-in homeserver at `port`.
pub(crate) fn matrix_sender(port: u16) -> String {
    format!(
        "[senders.matrix]\nbackend = \"matrix\"\nhomeserver = \"http://127.0.0.1:{port}\"\n\
         access_token = \"secret\"\nuser_id = \"{ME}\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_notices_reach_rooms_and_direct_chats_once() {
    let (redis, _smtp, dir, transport) = sender_setup(&[]).await;
    let (port, hs) = homeserver();
    let with = configured(dir.path(), &matrix_config(&redis.url(), port));
    let notice = |i: usize, addresses: &[&str]| {
        let mut n = notification(&format!("mx-{i}"), ChannelKind::Matrix);
        n.addresses = addresses.iter().map(|a| (*a).to_owned()).collect();
        n.meta = MessageMeta {
            summary: Some(format!("update {i}")),
            link: Some(format!("https://example.org/{i}")),
            ..MessageMeta::default()
        };
        n
    };
    let first = notice(
        1,
        &["@ralph:fmn.test", "!busy:fmn.test", "!forbidden:fmn.test"],
    );
    let second = notice(2, &["@ralph:fmn.test"]);
    transport
        .complete_work("w", &[], &[first.clone(), second])
        .await
        .unwrap();
    let sender = spawn(&mut with(&["send", "--channel", "matrix"]));
    wait_until(Duration::from_secs(30), "three notices", async || {
        hs.lock().unwrap().events.len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));
    {
        let s = hs.lock().unwrap();
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(s.rooms_created.len(), 1, "one direct chat, made once");
        assert_eq!(s.rooms_created[0]["is_direct"], true);
        assert_eq!(
            s.rooms_created[0]["invite"],
            serde_json::json!(["@ralph:fmn.test"])
        );
        assert_eq!(
            s.m_direct,
            Some(serde_json::json!({"@ralph:fmn.test": ["!dm1:fmn.test"]}))
        );
        let events: BTreeSet<(String, String)> = s.events.iter().cloned().collect();
        let want: BTreeSet<(String, String)> = [
            ("!dm1:fmn.test", "update 1 https://example.org/1"),
            ("!dm1:fmn.test", "update 2 https://example.org/2"),
            ("!busy:fmn.test", "update 1 https://example.org/1"),
        ]
        .iter()
        .map(|(r, b)| ((*r).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(events, want);
        assert_eq!(s.events.len(), 3);
        let waited = s.busy[1].duration_since(s.busy[0]);
        assert!(
            waited >= Duration::from_millis(1500),
            "retried after {waited:?}"
        );
    }
    assert_eq!(
        transport.dead_letter_count().await.unwrap(),
        1,
        "the forbidden room"
    );

    // The recording of a delivery lost (the window a killed sender leaves): sent again, the
    // same transaction id, and the homeserver stores nothing new.
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("fmn:delivered:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let _: i64 = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut again = first;
    again.addresses = vec!["@ralph:fmn.test".into()];
    transport.complete_work("w", &[], &[again]).await.unwrap();
    let txns_before = hs.lock().unwrap().txns.len();
    let sender = spawn(&mut with(&["send", "--channel", "matrix"]));
    wait_until(Duration::from_secs(30), "the repeat handled", async || {
        transport
            .queue_depths()
            .await
            .unwrap()
            .iter()
            .any(|q| q.name == "out:matrix" && q.waiting == 0)
    })
    .await;
    let out = terminate(sender);
    assert!(
        text(&out.stderr).contains("fmn send: 1 sent"),
        "{}",
        text(&out.stderr)
    );
    let s = hs.lock().unwrap();
    assert_eq!(
        (s.events.len(), s.txns.len()),
        (3, txns_before),
        "stored once"
    );
}

/// The homeserver down for longer than every retry would take: nothing dead-lettered, no
/// attempt counted; once it answers, the notices go out once each, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_wait_while_the_homeserver_is_down() {
    let (redis, _smtp, dir, transport) = sender_setup(&[]).await;
    let port = free_port();
    let with = configured(dir.path(), &matrix_config(&redis.url(), port));
    let notices: Vec<_> = (0..6)
        .map(|i| {
            let mut n = notification(&format!("down-{i}"), ChannelKind::Matrix);
            n.addresses = vec!["!room:fmn.test".into()];
            n.meta = MessageMeta {
                summary: Some(format!("notice {i}")),
                ..MessageMeta::default()
            };
            n
        })
        .collect();
    transport.complete_work("w", &[], &notices).await.unwrap();
    let sender = spawn(&mut with(&["send", "--channel", "matrix"]));
    // Five attempts take about 3 s: they would all be spent, and the notices dead-lettered.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
    assert_eq!(
        transport
            .retries_waiting(ChannelKind::Matrix)
            .await
            .unwrap(),
        0
    );
    let (_, hs) = homeserver_on(port);
    wait_until(Duration::from_secs(60), "6 notices", async || {
        hs.lock().unwrap().events.len() >= 6
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = terminate(sender);
    let stderr = text(&out.stderr);
    let bodies: Vec<String> = hs
        .lock()
        .unwrap()
        .events
        .iter()
        .map(|(_, body)| body.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    let want: Vec<String> = (0..6).map(|i| format!("notice {i}")).collect();
    assert_eq!(bodies, want, "{stderr}");
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
    assert!(stderr.contains("out of reach"), "{stderr}");
}
