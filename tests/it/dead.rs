//! `fmn dead`: what a sender gave up on is listed with its reason, replayed once the cause is
//! fixed (and delivered), and dead letters are purged by id, stage or all at once.

use std::time::Duration;

use fmn_core::{ChannelKind, Notification};
use fmn_transport::{DeadLetter, DeadLetters, DeliveryLedger, Registry, Stage, WorkQueue};

use crate::cli::{configured, run, spawn, terminate, text};
use crate::retries::{sender_setup, smtp_config};
use crate::support::wait_until;
use crate::transport::notification;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_mail_is_dead_lettered_listed_replayed_and_delivered() {
    // The first mail is refused for good; the server accepts everything after.
    let (redis, smtp, dir, transport) = sender_setup(&[550]).await;
    let with = configured(dir.path(), &smtp_config(&redis, &smtp));
    transport
        .complete_work("w", &[], &[notification("m-1", ChannelKind::Email)])
        .await
        .unwrap();
    transport
        .dead_letter(&[DeadLetter::new(
            Stage::Consumer,
            "bus.jsonl:3",
            "not valid JSON",
            b"{oops",
        )])
        .await
        .unwrap();
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    wait_until(
        Duration::from_secs(30),
        "the refusal dead-lettered",
        async || transport.dead_letter_count().await.unwrap() == 2,
    )
    .await;
    assert!(smtp.mails().is_empty());

    let out = run(&mut with(&["dead", "list"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[0].contains("  consumer  bus.jsonl:3  not valid JSON  (5 bytes)"),
        "{listed}"
    );
    assert!(
        lines[1].contains("  sender    email:ralph:ralph@example.org  email via smtp after 1 attempt(s): permanent: permanent error (550): Mailbox unavailable"),
        "{listed}"
    );
    let out = run(&mut with(&["dead", "list", "--stage", "sender", "--json"]));
    let json: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let n: Notification = serde_json::from_str(json["payload"].as_str().unwrap()).unwrap();
    assert_eq!(n.user, "ralph");

    // The address is flagged: `fmn prefs show` says so on stderr, stdout stays importable.
    let prefs = dir.path().join("ralph.toml");
    std::fs::write(
        &prefs,
        "[users.ralph.channels.email]\naddresses = [\"ralph@example.org\"]\n",
    )
    .unwrap();
    let out = run(&mut with(&["prefs", "import", prefs.to_str().unwrap()]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&mut with(&["prefs", "show", "ralph"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        fmn_core::Preferences::parse_text("shown", &text(&out.stdout), false).is_ok(),
        "{}",
        text(&out.stdout)
    );
    let warning = text(&out.stderr);
    assert!(
        warning.starts_with("warning: email address \"ralph@example.org\" was refused for good 1 time(s), last at 20")
            && warning.trim_end().ends_with(": permanent error (550): Mailbox unavailable"),
        "{warning}"
    );
    let failures = transport.address_failures("ralph").await.unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (
            failures[0].channel,
            failures[0].address.as_str(),
            failures[0].count
        ),
        (ChannelKind::Email, "ralph@example.org", 1)
    );

    // Replaying needs to be told what: ids, or --all.
    let out = run(&mut with(&["dead", "replay"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--id <ID>"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        transport.dead_letter_count().await.unwrap(),
        2,
        "nothing replayed"
    );

    // Fixed: the sender, still running, delivers what is replayed.
    let out = run(&mut with(&["dead", "replay", "--all"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "fmn dead replay: 1 notification(s) and 0 message(s) requeued, 0 left"
    );
    wait_until(Duration::from_secs(30), "the replayed mail", async || {
        smtp.mails().len() == 1
    })
    .await;
    assert_eq!(
        smtp.mails()[0].header("To").as_deref(),
        Some("ralph@example.org")
    );
    assert_eq!(transport.dead_letter_count().await.unwrap(), 1);

    // A consumer's dead letter is not a notification: replaying it by id says so.
    let id = text(&run(&mut with(&["dead", "list"])).stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let out = run(&mut with(&["dead", "replay", "--id", &id]));
    assert_eq!(out.status.code(), Some(2), "a letter left: problems found");
    assert!(
        text(&out.stderr).contains("a consumer dead letter: feed its payload"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&mut with(&["dead", "replay", "--json", "--id", &id]));
    assert_eq!(out.status.code(), Some(2));
    let left: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(left["notifications"], 0);
    assert_eq!(left["left"][0]["id"], id.as_str());
    let out = run(&mut with(&["dead", "purge"]));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("say what to purge"));
    let out = run(&mut with(&[
        "dead", "purge", "--json", "--stage", "consumer",
    ]));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!({"deleted": 1})
    );
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);

    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// A message a worker could not wholly evaluate is kept whole; `fmn dead replay` puts it back
/// on the shared work queue, where any worker reads it as it was, and deletes its dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_dead_letter_is_replayed_onto_the_shared_work_queue() {
    use fmn_transport::{Backlog, WorkItem, WorkerInfo};

    let redis = crate::support::RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let transport = redis.transport().await;
    let with = configured(dir.path(), &format!("[redis]\nurl = \"{}\"\n", redis.url()));
    // A big message: the dead letter keeps all of it, not the first 64 KiB.
    let big = "x".repeat(200_000);
    let bus = serde_json::json!({"topic": "org.fedoraproject.prod.buildsys.build.state.change",
        "msg_id": "m-big", "msg": {"owner": "ralph", "name": "vim", "notes": big}})
    .to_string();
    let item = WorkItem::new(
        fmn_core::Envelope::from_bus_json(bus.as_bytes(), 1 << 20).unwrap(),
        "bus.jsonl:9",
    );
    let letter = DeadLetter::work(
        "bus.jsonl:9",
        "module hostile: rule spin: ran past its time limit (20 ms)",
        &item,
    );
    transport
        .dead_letter(std::slice::from_ref(&letter))
        .await
        .unwrap();
    let out = run(&mut with(&["dead", "list", "--stage", "worker"]));
    assert!(
        text(&out.stdout).contains(
            "  worker    bus.jsonl:9  module hostile: rule spin: ran past its time limit (20 ms)"
        ),
        "{}",
        text(&out.stdout)
    );
    let out = run(&mut with(&["dead", "replay", "--all"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "fmn dead replay: 0 notification(s) and 1 message(s) requeued, 0 left"
    );
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
    assert_eq!(
        transport.shared_backlog().await.unwrap(),
        Backlog {
            entries: 1,
            bytes: letter.payload_bytes as u64
        },
        "the replayed item counts against the consumer's bound"
    );
    transport
        .register_worker(&WorkerInfo::local("w"))
        .await
        .unwrap();
    let read = transport
        .read_work("w", 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].item.envelope.id, "m-big");
    assert_eq!(
        read[0].item.envelope.rules_json(),
        item.envelope.rules_json()
    );
    transport
        .complete_work("w", &[read[0].id.clone()], &[])
        .await
        .unwrap();
    assert_eq!(
        transport.shared_backlog().await.unwrap(),
        Backlog::default()
    );
}
