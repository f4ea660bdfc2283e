//! The push sender against a stand-in for FCM's HTTP v1 API and Google's OAuth2 token
//! endpoint, speaking their documented requests, answers and errors: a token obtained once
//! with a JWT signed by the service account's key, an `UNREGISTERED` device removed from the
//! user's preferences, a 429 with `Retry-After` waited out.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fmn_core::{ChannelKind, MessageMeta};
use fmn_transport::{DeadLetters, DeliveryLedger, PrefsStore, WorkQueue};

use crate::cli::{configured, run, spawn, terminate, text};
use crate::retries::sender_setup;
use crate::support::{HttpRequest, serve_http, wait_until};
use crate::transport::notification;

/// What the stand-in saw.
#[derive(Default)]
struct Seen {
    /// Token requests whose JWT verified.
    tokens: usize,
    /// Problems with requests, which fail the test.
    problems: Vec<String>,
    /// (when, device token) of every send request.
    sends: Vec<(Instant, String)>,
}

const PROJECT: &str = "fmn-test";
const CLIENT: &str = "fmn@fmn-test.iam.gserviceaccount.com";
const RETRY_AFTER_S: u64 = 2;

/// Serves the token endpoint at `/token` and FCM at `/v1/projects/fmn-test/messages:send`.
fn stand_in(public_pem: Vec<u8>) -> (u16, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(&public_pem).unwrap();
    let port = Arc::new(Mutex::new(0u16));
    let own_port = port.clone();
    let mut busy_refused = false;
    let serving = serve_http(move |req: &HttpRequest| {
        let token_uri = format!("http://127.0.0.1:{}/token", own_port.lock().unwrap());
        let mut s = log.lock().unwrap();
        let (status, extra, answer) = if req.target == "/token" {
            let assertion = req
                .body
                .split('&')
                .find_map(|kv| kv.strip_prefix("assertion="))
                .unwrap_or("");
            if !req
                .body
                .contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
            {
                s.problems.push(format!("grant type: {}", req.body));
            }
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            v.set_audience(&[token_uri.as_str()]);
            v.set_issuer(&[CLIENT]);
            match jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &v) {
                Ok(t) if t.claims["scope"] == fmn_senders::push::FCM_SCOPE => {
                    s.tokens += 1;
                    (
                        "200 OK",
                        "",
                        format!(
                            r#"{{"access_token": "tok-{}", "expires_in": 3599, "token_type": "Bearer"}}"#,
                            s.tokens
                        ),
                    )
                }
                other => {
                    s.problems.push(format!("token request: {other:?}"));
                    (
                        "400 Bad Request",
                        "",
                        r#"{"error": "invalid_grant"}"#.to_owned(),
                    )
                }
            }
        } else if req.method == "POST"
            && req.target == format!("/v1/projects/{PROJECT}/messages:send")
        {
            let m: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
            let device = m["message"]["token"].as_str().unwrap_or("").to_owned();
            let auth = req
                .headers
                .get("authorization")
                .cloned()
                .unwrap_or_default();
            if !auth.starts_with("Bearer tok-") {
                s.problems.push(format!("authorization {auth:?}"));
            }
            if m["message"]["notification"]["title"].as_str().is_none() {
                s.problems.push(format!("no title: {}", req.body));
            }
            s.sends.push((Instant::now(), device.clone()));
            let error = |code: u16, status: &str, fcm: &str| {
                format!(
                    r#"{{"error": {{"code": {code}, "message": "{fcm}", "status": "{status}", "details": [{{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "{fcm}"}}]}}}}"#
                )
            };
            match device.as_str() {
                "gone-device" => ("404 Not Found", "", error(404, "NOT_FOUND", "UNREGISTERED")),
                "busy-device" if !busy_refused => {
                    busy_refused = true;
                    (
                        "429 Too Many Requests",
                        "Retry-After: 2\r\n",
                        error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
                    )
                }
                _ => (
                    "200 OK",
                    "",
                    format!(
                        r#"{{"name": "projects/{PROJECT}/messages/{}"}}"#,
                        s.sends.len()
                    ),
                ),
            }
        } else {
            s.problems
                .push(format!("unexpected request {} {}", req.method, req.target));
            ("404 Not Found", "", "{}".to_owned())
        };
        (status.to_owned(), extra.to_owned(), answer)
    });
    *port.lock().unwrap() = serving;
    (serving, seen)
}

/// A fresh RSA key made by openssl: (private key as PKCS#8 PEM, public key PEM).
fn rsa_key(dir: &std::path::Path) -> (String, Vec<u8>) {
    let key = dir.join("key.pem");
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output()
        .expect("openssl (scripts/test installs it)");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let public = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(public.status.success(), "{}", text(&public.stderr));
    (std::fs::read_to_string(&key).unwrap(), public.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fcm_unregistered_tokens_are_removed_and_retry_after_is_honoured() {
    let (redis, _smtp, dir, transport) = sender_setup(&[]).await;
    let (private_pem, public_pem) = rsa_key(dir.path());
    let (port, seen) = stand_in(public_pem);
    let sa_path = dir.path().join("service-account.json");
    let account = serde_json::json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "k1",
        "private_key": private_pem,
        "client_email": CLIENT,
        "token_uri": format!("http://127.0.0.1:{port}/token"),
    });
    std::fs::write(&sa_path, account.to_string()).unwrap();
    let with = configured(
        dir.path(),
        &format!(
            "[redis]\nurl = \"{}\"\n\n[senders.push]\nbackend = \"gcm\"\nservice_account = \"{}\"\n\
             endpoint = \"http://127.0.0.1:{port}\"\n",
            redis.url(),
            sa_path.display()
        ),
    );
    let devices = ["good-device", "gone-device", "busy-device"];
    let prefs = dir.path().join("ralph.toml");
    std::fs::write(
        &prefs,
        format!(
            "[users.ralph.channels.push]\naddresses = {}\n",
            serde_json::to_string(&devices).unwrap()
        ),
    )
    .unwrap();
    let out = run(&mut with(&["prefs", "import", prefs.to_str().unwrap()]));
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut n = notification("push-1", ChannelKind::Push);
    n.addresses = devices.iter().map(|d| (*d).to_owned()).collect();
    n.meta = MessageMeta {
        summary: Some("ralph's build of nethack succeeded".into()),
        link: Some("https://koji.example.org/build/1".into()),
        ..MessageMeta::default()
    };
    transport.complete_work("w", &[], &[n]).await.unwrap();
    let sender = spawn(&mut with(&["send", "--channel", "push"]));
    wait_until(
        Duration::from_secs(30),
        "the busy device served",
        async || {
            seen.lock()
                .unwrap()
                .sends
                .iter()
                .filter(|(_, d)| d == "busy-device")
                .count()
                == 2
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let s = std::mem::take(&mut *seen.lock().unwrap());
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.tokens, 1, "one token, cached");
    let count = |d: &str| s.sends.iter().filter(|(_, x)| x == d).count();
    assert_eq!((count("good-device"), count("gone-device")), (1, 1));
    let busy: Vec<Instant> = s
        .sends
        .iter()
        .filter(|(_, d)| d == "busy-device")
        .map(|(t, _)| *t)
        .collect();
    let waited = busy[1].duration_since(busy[0]);
    assert!(
        waited >= Duration::from_secs(RETRY_AFTER_S),
        "tried again after {waited:?}, before Retry-After"
    );
    // The gone device: dead-lettered, flagged, and removed from ralph's preferences.
    let ralph = transport.user_prefs("ralph").await.unwrap().unwrap();
    assert_eq!(
        ralph.channels[&ChannelKind::Push].addresses,
        ["good-device", "busy-device"]
    );
    assert_eq!(transport.dead_letter_count().await.unwrap(), 1);
    let failures = transport.address_failures("ralph").await.unwrap();
    assert_eq!(failures.len(), 1);
    assert!(failures[0].reason.contains("UNREGISTERED"), "{failures:?}");
    assert!(
        text(&out.stderr).contains(
            "fmn send: 2 sent, 0 duplicates skipped, 1 retries scheduled, 1 dead-lettered"
        ),
        "{}",
        text(&out.stderr)
    );
}
