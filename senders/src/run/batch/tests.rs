//! A batch with bad notifications among good ones, on the in-memory transport: each bad one
//! costs only itself, and each delivery is made once.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fmn_core::{ChannelKind, Notification};
use fmn_transport::{
    DeadLetters, DeliveryLedger, MemoryTransport, Outbox, Registry, WorkQueue, out_queue_name,
};
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::run::tests::{options, sized};
use crate::run::{SenderReport, delivery_key, run_sender};
use crate::{SendError, Sender};

#[derive(Default)]
struct Log {
    /// (summary, address) of each delivery made.
    sent: Vec<(String, String)>,
    /// Attempts at addresses that failed.
    failed: Vec<String>,
    /// The size of each `send_batch` call.
    calls: Vec<usize>,
}

/// Refuses `gone@x` for good and `flaky@x` for now, every time; takes the rest.
struct Batching(Arc<Mutex<Log>>);

impl Batching {
    fn one(&self, n: &Notification, address: &str) -> Result<(), SendError> {
        let mut log = self.0.lock().unwrap();
        let refused = match address {
            "gone@x" => SendError::Permanent("no such user".into()),
            "flaky@x" => SendError::Transient("try later".into()),
            _ => {
                log.sent.push((n.headline().to_owned(), address.to_owned()));
                return Ok(());
            }
        };
        log.failed.push(address.to_owned());
        Err(refused)
    }
}

impl Sender for Batching {
    fn name(&self) -> &'static str {
        "batching"
    }

    async fn send(&mut self, n: &Notification, address: &str) -> Result<(), SendError> {
        self.one(n, address)
    }

    fn max_batch(&self) -> usize {
        64
    }

    async fn send_batch(&mut self, batch: &[(&Notification, &str)]) -> Vec<Result<(), SendError>> {
        self.0.lock().unwrap().calls.push(batch.len());
        batch.iter().map(|(n, a)| self.one(n, a)).collect()
    }

    async fn send_digest(&mut self, _: &[Notification], _: &str) -> Result<(), SendError> {
        Err(SendError::Permanent("no digests here".into()))
    }
}

fn notification(summary: &str, addresses: &[&str], body: usize) -> Notification {
    Notification {
        addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
        ..sized("ada", summary, body)
    }
}

/// Runs the loop until `done` holds (or 20 s pass), then stops it.
async fn run_until(
    transport: &MemoryTransport,
    log: &Arc<Mutex<Log>>,
    done: impl Fn(&Log, &MemoryTransport) -> bool,
) -> SenderReport {
    let cancel = CancellationToken::new();
    let sender = Batching(log.clone());
    let task = tokio::spawn(run_sender(
        transport.clone(),
        sender,
        options(),
        cancel.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&log.lock().unwrap(), transport) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // What would happen after the condition held is seen too.
    tokio::time::sleep(Duration::from_millis(100)).await;
    cancel.cancel();
    task.await.expect("the loop ends")
}

/// Entries of the channel's queue not yet acknowledged.
async fn waiting(t: &MemoryTransport) -> u64 {
    let depths = t.queue_depths().await.unwrap();
    let out = out_queue_name(ChannelKind::Irc);
    depths
        .iter()
        .find(|q| q.name == out)
        .map_or(0, |q| q.waiting)
}

#[tokio::test]
async fn bad_notifications_in_a_batch_cost_only_themselves() {
    let transport = MemoryTransport::new(Duration::from_secs(10));
    let mut queued: Vec<Notification> = (0..10)
        .map(|i| notification(&format!("good-{i}"), &["ada@x"], 10))
        .collect();
    // Hostile ones among them: 2 MiB, no address, refused for good, refused for now (alone
    // and beside an address that takes it).
    queued.insert(3, notification("huge", &["ada@x"], 2 << 20));
    queued.insert(5, notification("nowhere", &[], 10));
    queued.insert(7, notification("gone", &["gone@x"], 10));
    queued.insert(9, notification("flaky", &["flaky@x"], 10));
    queued.insert(11, notification("mixed", &["flaky@x", "mixed@x"], 10));
    transport.complete_work("w", &[], &queued).await.unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let report = run_until(&transport, &log, |l, t| {
        l.sent.len() >= 12 && t.dead_letter_count().now_or_never().and_then(Result::ok) == Some(4)
    })
    .await;
    let log = std::mem::take(&mut *log.lock().unwrap());
    let want: Vec<(String, String)> = queued
        .iter()
        .flat_map(|n| {
            n.addresses
                .iter()
                .map(move |a| (n.headline().to_owned(), a.clone()))
        })
        .filter(|(_, a)| a != "gone@x" && a != "flaky@x")
        .collect();
    assert_eq!(want.len(), 12);
    assert_eq!(log.sent, want, "each good delivery once, in order");
    // Every address of the first round went in one call: the 12 good, gone, flaky, mixed's.
    assert_eq!(log.calls.first(), Some(&15), "{:?}", log.calls);
    // The flaky address was tried max_attempts (2) times for each of its notifications.
    let flaky = log.failed.iter().filter(|a| *a == "flaky@x").count();
    assert_eq!(flaky, 4, "{:?}", log.failed);
    assert_eq!(
        (report.sent, report.dead_lettered, report.retries),
        (12, 4, 2),
        "{report:?}"
    );
    let mut reasons: Vec<String> = transport
        .dead_letters(10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.item.reason)
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons[0].contains("after 1 attempt(s): permanent: no such user"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("after 2 attempt(s): transient: try later"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("after 2 attempt(s): transient: try later"),
        "{reasons:?}"
    );
    assert_eq!(reasons[3], "the notification has no address");
    assert_eq!(waiting(&transport).await, 0, "every entry acknowledged");
    assert_eq!(
        transport.retries_waiting(ChannelKind::Irc).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn deliveries_made_before_or_twice_in_a_batch_are_sent_once() {
    let transport = MemoryTransport::new(Duration::from_secs(10));
    let before = notification("before", &["ada@x"], 10);
    let twice = notification("twice", &["ada@x"], 10);
    let repeated = notification("repeated", &["ada@x", "ada@x"], 10);
    let key = delivery_key(&before, "ada@x");
    transport
        .mark_delivered(&[key.as_str()], Duration::from_secs(60))
        .await
        .unwrap();
    let queued = [before, twice.clone(), twice, repeated];
    transport.complete_work("w", &[], &queued).await.unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let report = run_until(&transport, &log, |l, t| {
        l.sent.len() >= 2 && waiting(t).now_or_never() == Some(0)
    })
    .await;
    let log = std::mem::take(&mut *log.lock().unwrap());
    let sent: Vec<&str> = log.sent.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(sent, ["twice", "repeated"]);
    // The second "twice" waits for a round of its own, which finds it made.
    assert_eq!(log.calls, [1, 1], "{:?}", log.calls);
    assert_eq!((report.sent, report.duplicates), (2, 3), "{report:?}");
    assert_eq!(waiting(&transport).await, 0, "every entry acknowledged");
}
