//! Deliveries that fail for now are tried again through a due-time set in Redis, while the
//! sender goes on with the others, and given up on after the last attempt, with the count.

use std::time::Duration;

use fmn_core::{ChannelKind, Notification};
use fmn_transport::RedisTransport;
use fmn_transport::{DeadLetters, Outbox, Registry, WorkQueue};

use crate::cli::{configured, spawn, terminate, text};
use crate::support::{RedisServer, SmtpSink, wait_until};
use crate::transport::notification;

/// A Redis server, an SMTP sink answering its first mails with `replies`, a directory, and
/// a transport on that Redis: what a sender test needs.
pub(crate) async fn sender_setup(
    replies: &[u16],
) -> (RedisServer, SmtpSink, tempfile::TempDir, RedisTransport) {
    let redis = RedisServer::start();
    let smtp = SmtpSink::start_with_replies(replies);
    let dir = tempfile::tempdir().unwrap();
    let transport = redis.transport().await;
    (redis, smtp, dir, transport)
}

/// Redis, and the email sender on the SMTP sink.
pub(crate) fn smtp_config(redis: &RedisServer, smtp: &SmtpSink) -> String {
    format!(
        "[redis]\nurl = \"{}\"\n\n[senders.email]\nbackend = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"fmn <fmn@example.org>\"\n",
        redis.url(),
        smtp.port
    )
}

/// 451 to the first mail: it waits in the retry set while the second goes out, then is
/// delivered, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_451_is_retried_later_and_delivered_once_while_others_go_out() {
    let (redis, smtp, dir, transport) = sender_setup(&[451]).await;
    let with = configured(dir.path(), &smtp_config(&redis, &smtp));
    let mut first = notification("m-first", ChannelKind::Email);
    first.addresses = vec!["first@example.org".into()];
    let mut second = notification("m-second", ChannelKind::Email);
    second.addresses = vec!["second@example.org".into()];
    transport
        .complete_work("w", &[], &[first, second])
        .await
        .unwrap();
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    wait_until(Duration::from_secs(30), "both mails", async || {
        smtp.mails().len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to: Vec<String> = smtp
        .mails()
        .iter()
        .map(|m| m.header("To").unwrap_or_default())
        .collect();
    assert_eq!(
        to,
        ["second@example.org", "first@example.org"],
        "the second did not wait"
    );
    assert_eq!(
        transport.retries_waiting(ChannelKind::Email).await.unwrap(),
        0
    );
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "fmn send: 2 sent, 0 duplicates skipped, 1 retries scheduled, 0 dead-lettered"
        ),
        "{}",
        text(&out.stderr)
    );
}

/// A server that keeps answering 451: five attempts, then a dead letter that says so; the
/// retry set is empty afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_keeps_failing_is_dead_lettered_after_its_last_attempt() {
    let (redis, smtp, dir, transport) = sender_setup(&[451; 5]).await;
    let with = configured(dir.path(), &smtp_config(&redis, &smtp));
    transport
        .complete_work("w", &[], &[notification("m-1", ChannelKind::Email)])
        .await
        .unwrap();
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    let mut seen_waiting = false;
    wait_until(Duration::from_secs(60), "the dead letter", async || {
        seen_waiting |= transport.retries_waiting(ChannelKind::Email).await.unwrap() > 0;
        transport.dead_letter_count().await.unwrap() == 1
    })
    .await;
    assert!(seen_waiting, "the retries waited in the due-time set");
    let dead = transport.dead_letters(1).await.unwrap();
    assert!(
        dead[0]
            .item
            .reason
            .starts_with("email via smtp after 5 attempt(s): "),
        "{:?}",
        dead[0].item
    );
    assert!(smtp.mails().is_empty());
    assert_eq!(
        transport.retries_waiting(ChannelKind::Email).await.unwrap(),
        0
    );
    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The mail relay gone for longer than every retry would take: nothing is dead-lettered and
/// no attempt is counted; the mails wait in the queue, in order, and go out once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mails_wait_in_the_queue_while_the_relay_is_down_and_go_out_when_it_is_back() {
    let (redis, mut smtp, dir, transport) = sender_setup(&[]).await;
    let with = configured(dir.path(), &smtp_config(&redis, &smtp));
    let batch = |from: usize, to: usize| -> Vec<Notification> {
        (from..to)
            .map(|i| {
                let mut n = notification(&format!("m-{i:02}"), ChannelKind::Email);
                n.addresses = vec![format!("user{i:02}@example.org")];
                n
            })
            .collect()
    };
    transport
        .complete_work("w", &[], &batch(0, 3))
        .await
        .unwrap();
    let metrics = crate::support::free_port();
    let sender = spawn(&mut with(&[
        "send",
        "--channel",
        "email",
        "--metrics",
        &format!("127.0.0.1:{metrics}"),
    ]));
    wait_until(Duration::from_secs(30), "the first 3 mails", async || {
        smtp.mails().len() >= 3
    })
    .await;
    smtp.kill();
    transport
        .complete_work("w", &[], &batch(3, 13))
        .await
        .unwrap();
    // Five attempts take about 3 s: they would all be spent, and the mails dead-lettered.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
    assert_eq!(
        transport.retries_waiting(ChannelKind::Email).await.unwrap(),
        0,
        "nothing counted as a failed attempt"
    );
    let depths = transport.queue_depths().await.unwrap();
    let out = depths.iter().find(|d| d.name == "out:email");
    assert_eq!(out.map(|d| d.waiting), Some(10), "{depths:?}");
    let gauge = "fmn_sender_out_of_reach{channel=\"email\"}";
    let body = crate::metrics::scrape(metrics).await;
    assert_eq!(crate::metrics::sample(&body, gauge), Some(1.0), "{body}");
    smtp.restart();
    wait_until(Duration::from_secs(60), "all 13 mails", async || {
        smtp.mails().len() >= 13
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let body = crate::metrics::scrape(metrics).await;
    assert_eq!(crate::metrics::sample(&body, gauge), Some(0.0), "{body}");
    let outages = "fmn_sender_outages_total{channel=\"email\"}";
    assert_eq!(crate::metrics::sample(&body, outages), Some(1.0), "{body}");
    let out = terminate(sender);
    let stderr = text(&out.stderr);
    let to: Vec<String> = smtp
        .mails()
        .iter()
        .map(|m| m.header("To").unwrap_or_default())
        .collect();
    let want: Vec<String> = (0..13).map(|i| format!("user{i:02}@example.org")).collect();
    assert_eq!(to, want, "each once, in order\n{stderr}");
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
    assert!(stderr.contains("out of reach"), "{stderr}");
    assert!(stderr.contains("13 sent"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
}

/// A sender killed (`SIGKILL`) after some mails were accepted and before any was
/// acknowledged: restarted under the same name, it takes back what it held, skips what was
/// delivered, and every mail arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_between_send_and_ack_sends_no_duplicate() {
    let redis = crate::support::RedisServer::start();
    let smtp = SmtpSink::start_slow(150);
    let dir = tempfile::tempdir().unwrap();
    let transport = redis.transport().await;
    let with = configured(dir.path(), &smtp_config(&redis, &smtp));
    let all: Vec<_> = (0..20)
        .map(|i| {
            let mut n = notification(&format!("m-{i:02}"), ChannelKind::Email);
            n.addresses = vec![format!("user{i:02}@example.org")];
            n
        })
        .collect();
    transport.complete_work("w", &[], &all).await.unwrap();
    let mut sender = spawn(&mut with(&[
        "send",
        "--channel",
        "email",
        "--consumer",
        "s1",
    ]));
    wait_until(Duration::from_secs(30), "6 mails", async || {
        smtp.mails().len() >= 6
    })
    .await;
    sender.kill().unwrap();
    sender.wait().unwrap();
    let before = smtp.mails().len();
    // Killed between send and ack: what was sent is still held, unacknowledged.
    let depths = transport.queue_depths().await.unwrap();
    let out = depths.iter().find(|q| q.name == "out:email").unwrap();
    assert_eq!((out.waiting, out.pending), (20, 20), "{depths:?}");

    let sender = spawn(&mut with(&[
        "send",
        "--channel",
        "email",
        "--consumer",
        "s1",
    ]));
    wait_until(Duration::from_secs(60), "20 mails", async || {
        smtp.mails().len() >= 20
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let out = terminate(sender);
    let mut to: Vec<String> = smtp
        .mails()
        .iter()
        .map(|m| m.header("To").unwrap_or_default())
        .collect();
    to.sort();
    let want: Vec<String> = (0..20).map(|i| format!("user{i:02}@example.org")).collect();
    assert_eq!(to, want, "each once\n{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "fmn send: {} sent, {before} duplicates skipped",
            20 - before
        )),
        "{before} sent before the kill\n{}",
        text(&out.stderr)
    );
}

/// `[limits.email] per_address = 3, window = "2s"`: seven mails to one address go out three
/// at a time, no four within 2 s, while another address is not held up; none is lost, none
/// counts as a failed attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_spaces_the_mails_to_one_address() {
    let (redis, smtp, dir, transport) = sender_setup(&[]).await;
    let with = configured(
        dir.path(),
        &format!(
            "{}\n[limits.email]\nper_address = 3\nwindow = \"2s\"\n",
            smtp_config(&redis, &smtp)
        ),
    );
    let mut all: Vec<_> = (0..7)
        .map(|i| {
            let mut n = notification(&format!("rl-{i}"), ChannelKind::Email);
            n.addresses = vec!["busy@example.org".into()];
            n
        })
        .collect();
    let mut other = notification("rl-other", ChannelKind::Email);
    other.addresses = vec!["calm@example.org".into()];
    all.push(other);
    transport.complete_work("w", &[], &all).await.unwrap();
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    wait_until(Duration::from_secs(30), "8 mails", async || {
        smtp.mails().len() >= 8
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mails = smtp.mails_with_times();
    assert_eq!(mails.len(), 8);
    let busy: Vec<std::time::SystemTime> = mails
        .iter()
        .filter(|(_, m)| m.header("To").as_deref() == Some("busy@example.org"))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(busy.len(), 7);
    // No four within the window (less 10% for the time between the check and the sink).
    for w in busy.windows(4) {
        let span = w[3].duration_since(w[0]).unwrap_or_default();
        assert!(span >= Duration::from_millis(1800), "4 mails in {span:?}");
    }
    let calm = mails
        .iter()
        .position(|(_, m)| m.header("To").as_deref() == Some("calm@example.org"))
        .unwrap();
    assert!(calm < 4, "calm@ waited behind busy@: position {calm}");
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("fmn send: 8 sent, 0 duplicates skipped, 0 retries scheduled"),
        "{stderr}"
    );
    assert!(stderr.contains("put off by the rate limit"), "{stderr}");
}
