//! Digests: notifications held in Redis until the user's digest falls due, then one mail,
//! whatever happens to the sender meanwhile.

use std::time::{Duration, Instant};

use fmn_core::prefs::Digest;
use fmn_core::{ChannelKind, MessageMeta, Notification};
use fmn_transport::{Digests, Outbox, WorkQueue};

use crate::cli::{configured, spawn, terminate, text};
use crate::retries::{sender_setup, smtp_config};
use crate::support::wait_until;
use crate::transport::notification;

fn digested(i: usize, digest: Digest) -> Notification {
    let mut n = notification(&format!("msg-{i:02}"), ChannelKind::Email);
    n.user = "alice".into();
    n.delivery_id = fmn_core::delivery_id(&n.message.id, "alice", ChannelKind::Email);
    n.addresses = vec!["alice@example.org".into()];
    n.digest = Some(digest);
    n.meta = MessageMeta {
        summary: Some(format!("build number {i} of package-{i} succeeded")),
        link: Some(format!("https://koji.example.org/build/{i}")),
        ..MessageMeta::default()
    };
    n
}

/// 25 notifications with `batch_count` 25 make one mail, though the sender is killed (`-9`)
/// after holding the first 10 and the other 15 arrive while it is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_of_25_is_one_mail_across_a_killed_sender() {
    let (redis, smtp, dir, transport) = sender_setup(&[]).await;
    let with = configured(dir.path(), &smtp_config(&redis, &smtp));
    let digest = Digest {
        max_count: Some(25),
        max_delay: Some(Duration::from_secs(3600)),
    };
    let all: Vec<Notification> = (1..=25).map(|i| digested(i, digest)).collect();
    transport.complete_work("w", &[], &all[..10]).await.unwrap();
    let mut sender = spawn(&mut with(&[
        "send",
        "--channel",
        "email",
        "--consumer",
        "s1",
    ]));
    wait_until(Duration::from_secs(30), "10 held", async || {
        transport.digests_waiting(ChannelKind::Email).await.unwrap() == 10
    })
    .await;
    sender.kill().unwrap();
    sender.wait().unwrap();
    transport.complete_work("w", &[], &all[10..]).await.unwrap();
    assert!(smtp.mails().is_empty(), "nothing sent before the 25th");

    let sender = spawn(&mut with(&[
        "send",
        "--channel",
        "email",
        "--consumer",
        "s1",
    ]));
    wait_until(Duration::from_secs(30), "the digest", async || {
        !smtp.mails().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "one mail");
    let mail = &mails[0];
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Notifications digest: 25 updates")
    );
    assert_eq!(mail.header("To").as_deref(), Some("alice@example.org"));
    assert_eq!(mail.header("X-Fmn-Digest").as_deref(), Some("25"));
    let body = mail.body();
    // The numbered summary, in order, then every entry in full with its link.
    let mut at = 0;
    for i in 1..=25 {
        let line = format!("{i:>3}. build number {i} of package-{i} succeeded\n");
        let found = body[at..]
            .find(&line)
            .unwrap_or_else(|| panic!("summary line {i} missing or out of order:\n{body}"));
        at += found + line.len();
    }
    for i in 1..=25 {
        let link = format!("https://koji.example.org/build/{i}\n");
        assert!(body[at..].contains(&link), "entry {i} in full:\n{body}");
    }
    assert_eq!(
        transport.digests_waiting(ChannelKind::Email).await.unwrap(),
        0
    );
    assert!(
        transport
            .read_notifications(ChannelKind::Email, "check", 10, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        text(&out.stderr).contains("15 held for digests, 1 digests sent"),
        "{}",
        text(&out.stderr)
    );
}

/// With `batch_delta` 2 s the digest goes out once the oldest is 2 s old, not before; a 451 to
/// the first attempt sends it again later, once; the same notification evaluated again after
/// the digest went out is not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_goes_out_after_its_delay_and_is_retried_once() {
    let (redis, smtp, dir, transport) = sender_setup(&[451]).await;
    let with = configured(dir.path(), &smtp_config(&redis, &smtp));
    let digest = Digest {
        max_count: Some(100),
        max_delay: Some(Duration::from_secs(2)),
    };
    let five: Vec<Notification> = (1..=5).map(|i| digested(i, digest)).collect();
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    let queued = Instant::now();
    transport.complete_work("w", &[], &five).await.unwrap();
    wait_until(Duration::from_secs(30), "the digest", async || {
        !smtp.mails().is_empty()
    })
    .await;
    let waited = queued.elapsed();
    assert!(
        waited >= Duration::from_secs(2),
        "sent after {waited:?}, before the oldest was 2 s old"
    );
    // Evaluated again (a worker redelivery): already delivered, not held again.
    transport.complete_work("w", &[], &five[..1]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let out = terminate(sender);
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{}", text(&out.stderr));
    assert_eq!(mails[0].header("X-Fmn-Digest").as_deref(), Some("5"));
    assert_eq!(
        transport.digests_waiting(ChannelKind::Email).await.unwrap(),
        0
    );
    assert!(
        text(&out.stderr).contains("1 duplicates skipped, 1 retries scheduled"),
        "{}",
        text(&out.stderr)
    );
}
