//! The loop's handling of a remote side out of reach, with a scripted sender on the in-memory
//! transport: what waits is sent once back in reach, a backlog is folded, and a notification
//! that loses the connection each time is dead-lettered rather than tried forever.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fmn_core::{ChannelKind, Envelope, MessageCopy, MessageMeta, Notification, NotifiedMessage};
use fmn_transport::{DeadLetters, MemoryTransport, WorkQueue};
use tokio_util::sync::CancellationToken;

use super::{SenderOptions, SenderReport, run_sender};
use crate::{SendError, Sender};

#[derive(Default)]
struct Log {
    /// Summaries sent one by one.
    sent: Vec<String>,
    /// Each digest's summaries.
    digests: Vec<Vec<String>>,
}

/// A remote side that goes away: after `drops` more sends, the connection is lost; then
/// `down_checks` calls of `ready` fail before it is back. `poison` loses it every time.
struct Scripted {
    drops: u32,
    down: bool,
    down_checks: u32,
    poison: Option<&'static str>,
    fold: Option<usize>,
    log: Arc<Mutex<Log>>,
}

impl Scripted {
    fn new(log: &Arc<Mutex<Log>>) -> Scripted {
        Scripted {
            drops: 0,
            down: false,
            down_checks: 0,
            poison: None,
            fold: None,
            log: log.clone(),
        }
    }

    fn lose(&mut self) -> Result<(), SendError> {
        if self.down {
            return Err(SendError::Unreachable("connection refused".into()));
        }
        if self.drops > 0 {
            self.drops -= 1;
            if self.drops == 0 {
                self.down = true;
                return Err(SendError::Unreachable("connection lost".into()));
            }
        }
        Ok(())
    }
}

impl Sender for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn send(&mut self, n: &Notification, _address: &str) -> Result<(), SendError> {
        let summary = n.headline().to_owned();
        if self.poison == Some(summary.as_str()) {
            return Err(SendError::Unreachable("connection lost".into()));
        }
        self.lose()?;
        self.log.lock().unwrap().sent.push(summary);
        Ok(())
    }

    async fn send_digest(&mut self, items: &[Notification], _: &str) -> Result<(), SendError> {
        self.lose()?;
        let summaries = items.iter().map(|n| n.headline().to_owned()).collect();
        self.log.lock().unwrap().digests.push(summaries);
        Ok(())
    }

    async fn ready(&mut self) -> Result<(), SendError> {
        if self.down_checks > 0 {
            self.down_checks -= 1;
            return Err(SendError::Unreachable("connection refused".into()));
        }
        self.down = false;
        Ok(())
    }

    fn fold_backlog(&self) -> Option<usize> {
        self.fold
    }
}

fn notification(user: &str, summary: &str) -> Notification {
    sized(user, summary, 0)
}

/// A notification whose message body carries `body` bytes more.
pub(super) fn sized(user: &str, summary: &str, body: usize) -> Notification {
    let msg = match body {
        0 => String::new(),
        _ => format!(r#""body": "{}""#, "x".repeat(body)),
    };
    let bus = format!(
        r#"{{"topic": "org.fedoraproject.prod.test", "msg_id": "{summary}", "msg": {{{msg}}}}}"#
    );
    Notification {
        delivery_id: fmn_core::delivery_id(summary, user, ChannelKind::Irc),
        user: user.into(),
        channel: ChannelKind::Irc,
        addresses: vec![format!("{user}-nick")],
        filter: "f".into(),
        oneshot: false,
        digest: None,
        attempts: 0,
        generation: 1,
        worker: "w".into(),
        meta: MessageMeta {
            summary: Some(summary.into()),
            ..MessageMeta::default()
        },
        // Whole, so that `body` bytes travel with it as they do with `notification_message = "whole"`.
        message: NotifiedMessage::of(
            &Envelope::from_bus_json(bus.as_bytes(), 4 << 20).expect("a bus message"),
            MessageCopy::Whole,
        ),
    }
}

pub(super) fn options() -> SenderOptions {
    SenderOptions {
        block: Duration::from_millis(20),
        max_attempts: 2,
        retry_base: Duration::from_millis(1),
        retry_max: Duration::from_millis(10),
        ..SenderOptions::new(ChannelKind::Irc, "test")
    }
}

/// Runs the loop until `done` holds of the log (or 20 s pass), then stops it.
async fn run_until(
    transport: &MemoryTransport,
    sender: Scripted,
    opts: SenderOptions,
    done: impl Fn(&Log) -> bool,
) -> SenderReport {
    let log = sender.log.clone();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(run_sender(transport.clone(), sender, opts, cancel.clone()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&log.lock().unwrap()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // What would arrive after the condition held is seen too.
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    task.await.expect("the loop ends")
}

/// Queues `queued`, then runs a sender that folds backlogs of 3 and loses the connection at
/// its second send, until it sent a digest and 3 notifications one by one.
async fn folded_after_an_outage(
    transport: &MemoryTransport,
    queued: &[Notification],
) -> (Log, SenderReport) {
    transport.complete_work("w", &[], queued).await.unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let sender = Scripted {
        drops: 2,
        down_checks: 2,
        fold: Some(3),
        ..Scripted::new(&log)
    };
    let report = run_until(transport, sender, options(), |l| {
        !l.digests.is_empty() && l.sent.len() >= 3
    })
    .await;
    let log = std::mem::take(&mut *log.lock().unwrap());
    (log, report)
}

#[tokio::test]
async fn a_backlog_after_an_outage_is_folded_per_user_and_the_rest_sent_in_order() {
    let transport = MemoryTransport::new(Duration::from_secs(10));
    let mut queued = Vec::new();
    for i in 0..8 {
        queued.push(notification("ada", &format!("ada-{i}")));
        if i % 4 == 0 {
            queued.push(notification("bob", &format!("bob-{i}")));
        }
    }
    let (log, report) = folded_after_an_outage(&transport, &queued).await;
    // The first goes before the connection is lost; the rest of ada's 8 make one digest.
    assert_eq!(log.sent, ["ada-0", "bob-0", "bob-4"]);
    let ada: Vec<String> = (1..8).map(|i| format!("ada-{i}")).collect();
    assert_eq!(log.digests, [ada]);
    assert_eq!((report.folded, report.outages), (7, 1), "{report:?}");
    assert_eq!(report.sent, 3 + 7);
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
}

/// fmn's own text to a user (a verification code) waiting among their backlog is sent on
/// its own, not folded into their digest with the rest.
#[tokio::test]
async fn a_direct_notification_in_a_folded_backlog_is_sent_on_its_own() {
    let transport = MemoryTransport::new(Duration::from_secs(10));
    let code = Notification::direct("ada", ChannelKind::Irc, "ada-new", "k", "code 42", "test");
    let mut queued: Vec<Notification> = (0..8)
        .map(|i| notification("ada", &format!("ada-{i}")))
        .collect();
    queued.insert(4, code);
    queued.insert(1, notification("bob", "bob-0"));
    let (log, report) = folded_after_an_outage(&transport, &queued).await;
    assert_eq!(log.sent, ["ada-0", "bob-0", "code 42"]);
    let ada: Vec<String> = (1..8).map(|i| format!("ada-{i}")).collect();
    assert_eq!(log.digests, [ada]);
    assert_eq!(report.folded, 7, "{report:?}");
}

#[tokio::test]
async fn without_folding_what_waited_goes_out_in_order_and_no_attempt_is_counted() {
    let transport = MemoryTransport::new(Duration::from_secs(10));
    let queued: Vec<Notification> = (0..6)
        .map(|i| notification("ada", &format!("ada-{i}")))
        .collect();
    transport.complete_work("w", &[], &queued).await.unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    // More failed checks than the notifications have attempts.
    let sender = Scripted {
        drops: 3,
        down_checks: 3,
        ..Scripted::new(&log)
    };
    let report = run_until(&transport, sender, options(), |l| l.sent.len() >= 6).await;
    let sent = log.lock().unwrap().sent.clone();
    let want: Vec<String> = (0..6).map(|i| format!("ada-{i}")).collect();
    assert_eq!(sent, want);
    assert_eq!((report.retries, report.outages), (0, 1), "{report:?}");
    assert_eq!(transport.dead_letter_count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_notification_that_loses_the_connection_each_time_is_dead_lettered() {
    let transport = MemoryTransport::new(Duration::from_secs(10));
    let queued = [
        notification("ada", "poison"),
        notification("ada", "after-1"),
        notification("ada", "after-2"),
    ];
    transport.complete_work("w", &[], &queued).await.unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let sender = Scripted {
        poison: Some("poison"),
        ..Scripted::new(&log)
    };
    let t = transport.clone();
    let report = run_until(&transport, sender, options(), |l| {
        l.sent.len() >= 2
            && futures_util::FutureExt::now_or_never(t.dead_letter_count()).and_then(Result::ok)
                == Some(1)
    })
    .await;
    assert_eq!(log.lock().unwrap().sent, ["after-1", "after-2"]);
    assert_eq!(report.dead_lettered, 1, "{report:?}");
    let dead = transport.dead_letters(1).await.unwrap();
    assert!(
        dead[0].item.reason.contains("each of the last"),
        "{:?}",
        dead[0].item.reason
    );
}
