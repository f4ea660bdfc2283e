//! `fmn serve` in a deployment: a mail's one-click unsubscribe (RFC 8058) reaches the service,
//! switches the filter off in Redis, and the workers follow: the next matching message brings
//! that user nothing, while others are notified as before. Then the user turns the filter on
//! again through the JSON API, with a token from `fmn tokens create`.

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use fmn_transport::Registry;

use crate::cli::{configured, run, spawn, terminate, text};
use crate::reload::processed;
use crate::support::{Mail, RedisServer, SmtpSink, free_port, wait_until};

/// Alice and bob both want every `org.test.*` message by email.
const PREFS: &str = r#"
[users.alice.channels.email]
addresses = ["alice@example.org"]
filters = [{ name = "tests & more", rules = [{ rule = "fedora::topic", args = { glob = "org.test.*" } }] }]

[users.bob.channels.email]
addresses = ["bob@example.org"]
filters = [{ name = "tests", rules = [{ rule = "fedora::topic", args = { glob = "org.test.*" } }] }]
"#;

fn message(id: &str) -> String {
    format!(
        r#"{{"topic": "org.test.web", "msg_id": "{id}", "timestamp": 1700000000, "msg": {{}}}}"#
    )
}

/// The mails to `to` about message `id`.
fn mails_about(smtp: &SmtpSink, to: &str, id: &str) -> Vec<Mail> {
    smtp.mails()
        .into_iter()
        .filter(|m| m.rcpt_tos.iter().any(|r| r == to))
        .filter(|m| m.body().contains(id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mails_one_click_unsubscribe_stops_that_users_notifications() {
    let redis = RedisServer::start();
    let smtp = SmtpSink::start();
    let web = free_port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = configured(
        d,
        &format!(
            "[redis]\nurl = \"{}\"\n\n[worker]\nprefs_from = \"redis\"\nreload_ms = 1000\n\
             timeout_ms = 5000\n\n[senders.email]\nbackend = \"smtp\"\nhost = \"127.0.0.1\"\n\
             port = {}\nfrom = \"fmn <fmn@example.org>\"\n\
             unsubscribe_url = \"http://127.0.0.1:{web}/unsubscribe?u={{user}}&f={{filter}}&t={{token}}\"\n\
             unsubscribe_secret = \"s3cret\"\n\n[web]\nlisten = \"127.0.0.1:{web}\"\n",
            redis.url(),
            smtp.port
        ),
    );
    std::fs::write(d.join("prefs.toml"), PREFS).unwrap();
    let out = run(&mut with(&["prefs", "import", "prefs.toml"]));
    assert!(out.status.success(), "{}", text(&out.stderr));

    let transport = redis.transport().await;
    let worker = spawn(&mut with(&["worker"]));
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    let serve = spawn(with(&["serve"]).env("FMN_LOG", "fmn_web=info"));
    wait_until(Duration::from_secs(60), "a live worker", async || {
        transport.live_workers().await.unwrap().len() == 1
    })
    .await;
    wait_until(Duration::from_secs(60), "the web service", async || {
        reqwest::get(format!("http://127.0.0.1:{web}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let mut consumer = with(&["consume", "--messages", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = consumer.stdin.take().unwrap();
    let mut send = |id: &str| {
        writeln!(stdin, "{}", message(id)).unwrap();
        stdin.flush().unwrap();
    };

    send("web-msg-1");
    wait_until(
        Duration::from_secs(120),
        "the first message mailed to both",
        async || {
            !mails_about(&smtp, "alice@example.org", "web-msg-1").is_empty()
                && !mails_about(&smtp, "bob@example.org", "web-msg-1").is_empty()
        },
    )
    .await;
    let mail = mails_about(&smtp, "alice@example.org", "web-msg-1").remove(0);
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let header = mail.header("List-Unsubscribe").unwrap();
    let link = header.trim_start_matches('<').trim_end_matches('>');
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{web}/unsubscribe?")),
        "{link}"
    );

    // What a mail client does on "unsubscribe": RFC 8058's POST.
    let r = reqwest::Client::new()
        .post(link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    let status = r.status();
    let page = r.text().await.unwrap();
    assert_eq!(status.as_u16(), 200, "{page}");
    assert!(page.contains("tests &#38; more"), "{page}");

    // The change is stored before the answer: the second message, dispatched after it, is
    // evaluated with it.
    send("web-msg-2");
    wait_until(
        Duration::from_secs(120),
        "the second message mailed to bob",
        async || !mails_about(&smtp, "bob@example.org", "web-msg-2").is_empty(),
    )
    .await;
    wait_until(
        Duration::from_secs(60),
        "the second message processed",
        async || processed(&transport).await >= 2,
    )
    .await;

    // Through the API, with a token the operator made, alice turns the filter on again: the
    // next message reaches her.
    let out = run(&mut with(&["tokens", "create", "alice", "--label", "test"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    let api = format!("http://127.0.0.1:{web}/api/v1/users/alice/preferences");
    let client = reqwest::Client::new();
    let read: serde_json::Value = client
        .get(&api)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut prefs = read["preferences"].clone();
    assert_eq!(
        prefs["channels"]["email"]["filters"][0]["active"], false,
        "{read}"
    );
    prefs["channels"]["email"]["filters"][0]["active"] = true.into();
    let r = client
        .put(&api)
        .bearer_auth(&token)
        .json(&serde_json::json!({"version": read["version"], "preferences": prefs}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    send("web-msg-3");
    wait_until(
        Duration::from_secs(120),
        "the third message mailed to alice",
        async || !mails_about(&smtp, "alice@example.org", "web-msg-3").is_empty(),
    )
    .await;
    drop(stdin);
    let _ = consumer.wait();
    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = terminate(serve);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("unsubscribed by link"),
        "{}",
        text(&out.stderr)
    );
    terminate(worker);
}
