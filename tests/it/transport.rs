//! The transports under the consumer and its sweep of stopped workers: one suite, two
//! transports, the in-memory one and Redis (a real `redis-server` started by each test). What each role of the transport does on its own is
//! checked in `transport/tests/roles`.

use std::time::Duration;

use fmn_core::{ChannelKind, Envelope, MessageMeta, Notification};
use fmn_transport::redis::RedisOptions;
use fmn_transport::{
    Backlog, EntryId, MemoryTransport, RedisTransport, Transport, WorkItem, WorkerInfo,
};

use crate::support::{RedisServer, keep_alive};

/// What the suite needs beyond [`Transport`]: a second view of the same queues, as a restarted
/// process would have.
trait Reopen: Transport {
    async fn reopen(&self) -> Self;
}

impl Reopen for MemoryTransport {
    async fn reopen(&self) -> Self {
        self.reconnect()
    }
}

impl Reopen for RedisTransport {
    async fn reopen(&self) -> Self {
        self.reconnect().await.expect("reconnect")
    }
}

pub(crate) fn item(id: &str) -> WorkItem {
    let bus = format!(
        r#"{{"topic": "org.fedoraproject.prod.test.x", "msg_id": "{id}", "msg": {{"n": 1}}}}"#
    );
    WorkItem::new(
        Envelope::from_bus_json(bus.as_bytes(), 1 << 20).unwrap(),
        format!("test:{id}"),
    )
}

pub(crate) fn notification(id: &str, channel: ChannelKind) -> Notification {
    let w = item(id);
    Notification {
        delivery_id: fmn_core::delivery_id(id, "ralph", channel),
        user: "ralph".into(),
        channel,
        addresses: vec!["ralph@example.org".into()],
        filter: "f".into(),
        oneshot: false,
        attempts: 0,
        digest: None,
        generation: 1,
        worker: "w".into(),
        meta: MessageMeta::default(),
        message: (&w.envelope).into(),
    }
}

const TTL: Duration = Duration::from_millis(300);

async fn redis(server: &RedisServer) -> RedisTransport {
    RedisTransport::connect(
        &server.url(),
        RedisOptions {
            namespace: "t".into(),
            worker_ttl: TTL,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// A worker that stops: what it read and never acknowledged, and what it never read, goes to
/// the live workers, once, and every entry is on exactly one queue.
async fn reclaim_from_a_stopped_worker<T: Transport>(t: &T) {
    for w in ["w1", "w2", "w3"] {
        t.register_worker(&WorkerInfo::local(w)).await.unwrap();
    }
    let ids: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let batch: Vec<(String, WorkItem)> = ids.iter().map(|i| ("w1".to_owned(), item(i))).collect();
    t.dispatch(&batch).await.unwrap();
    let held = t
        .read_work("w1", 4, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(held.len(), 4);
    // w1 goes silent; w2 and w3 stay live.
    t.deregister_worker("w1").await.unwrap();
    let sweep = fmn_consumer::sweep(t).await.unwrap();
    assert_eq!(sweep.reclaimed, [("w1".to_owned(), 10)]);
    assert_eq!(fmn_consumer::sweep(t).await.unwrap().total(), 0, "once");
    let mut got = Vec::new();
    for w in ["w2", "w3"] {
        let entries = t
            .read_work(w, 100, Duration::from_millis(100))
            .await
            .unwrap();
        assert_eq!(entries.len(), 5, "spread evenly");
        got.extend(entries.into_iter().map(|e| e.item.envelope.id));
    }
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want, "every entry, once");
    assert!(
        t.read_work("w1", 100, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty(),
        "w1's queue is empty when it comes back"
    );
    let counts = t.worker_counts().await.unwrap();
    let received = |w: &str| counts.iter().find(|c| c.id == w).unwrap().received;
    assert_eq!((received("w2"), received("w3")), (5, 5));
}

/// The shared queue: any worker takes what it reads, entries are acknowledged on the queue
/// they came from, a restarted worker gets back what it held, and what a worker that stopped
/// held goes back to the queue for the others, once.
async fn shared_queue<T: Reopen>(t: &T) {
    for w in ["w1", "w2"] {
        t.register_worker(&WorkerInfo::local(w)).await.unwrap();
    }
    let ids: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    let items: Vec<WorkItem> = ids.iter().map(|i| item(i)).collect();
    let bytes = t.dispatch_shared(&items).await.unwrap();
    // Ten items of one size: each is a tenth of the bytes.
    let each = bytes / 10;
    assert_eq!(each * 10, bytes);
    // w1 also has work of its own: both come through one read.
    t.dispatch(&[("w1".to_owned(), item("own"))]).await.unwrap();
    assert_eq!(
        t.shared_backlog().await.unwrap(),
        Backlog { entries: 10, bytes }
    );
    let first = t
        .read_work("w1", 4, Duration::from_millis(100))
        .await
        .unwrap();
    let names: Vec<&str> = first.iter().map(|e| e.item.envelope.id.as_str()).collect();
    assert!(names.contains(&"own"), "{names:?}");
    let held: Vec<_> = first
        .iter()
        .filter(|e| e.item.envelope.id != "own")
        .collect();
    assert!(!held.is_empty() && held.len() <= 4, "{names:?}");
    let w2 = t
        .read_work("w2", 2, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(w2.len(), 2);
    let w2_ids: Vec<EntryId> = w2.iter().map(|e| e.id.clone()).collect();
    t.complete_work("w2", &w2_ids, &[]).await.unwrap();
    assert_eq!(
        t.shared_backlog().await.unwrap(),
        Backlog {
            entries: 8,
            bytes: 8 * each
        },
        "w2's two are acknowledged on the shared queue, bytes and all"
    );
    // w1 acknowledges only its own entry, then restarts: it gets back what it held.
    let own: Vec<EntryId> = first
        .iter()
        .filter(|e| e.item.envelope.id == "own")
        .map(|e| e.id.clone())
        .collect();
    t.complete_work("w1", &own, &[]).await.unwrap();
    let again = t
        .reopen()
        .await
        .read_work("w1", 10, Duration::from_millis(100))
        .await
        .unwrap();
    let mut again_ids: Vec<String> = again.iter().map(|e| e.item.envelope.id.clone()).collect();
    let mut held_ids: Vec<String> = held.iter().map(|e| e.item.envelope.id.clone()).collect();
    again_ids.sort();
    held_ids.sort();
    assert_eq!(again_ids, held_ids);
    // w1 stops; the janitor puts what it held back on the shared queue, once.
    t.deregister_worker("w1").await.unwrap();
    let sweep = fmn_consumer::sweep(t).await.unwrap();
    assert_eq!(sweep.reclaimed, [("w1".to_owned(), held.len())]);
    assert_eq!(fmn_consumer::sweep(t).await.unwrap().total(), 0, "once");
    assert_eq!(
        t.shared_backlog().await.unwrap(),
        Backlog {
            entries: 8,
            bytes: 8 * each
        },
        "put back, not counted twice"
    );
    let mut got: Vec<String> = w2.iter().map(|e| e.item.envelope.id.clone()).collect();
    loop {
        let entries = t
            .read_work("w2", 100, Duration::from_millis(100))
            .await
            .unwrap();
        if entries.is_empty() {
            break;
        }
        let done: Vec<EntryId> = entries.iter().map(|e| e.id.clone()).collect();
        got.extend(entries.into_iter().map(|e| e.item.envelope.id));
        t.complete_work("w2", &done, &[]).await.unwrap();
    }
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want, "every entry, once");
    assert_eq!(t.shared_backlog().await.unwrap(), Backlog::default());
    let counts = t.worker_counts().await.unwrap();
    let received = |w: &str| counts.iter().find(|c| c.id == w).unwrap().received;
    assert_eq!(received("w2"), 10, "what w2 read from the shared queue");
    let depths = t.queue_depths().await.unwrap();
    assert!(
        depths
            .iter()
            .any(|d| d.name == "shared-work" && d.waiting == 0)
    );
}

/// Backpressure: with a worker that does not keep up, the consumer stops reading once the
/// queues hold `max_backlog` entries (plus at most one batch), and goes on, losing nothing,
/// once they drain.
async fn consumer_backpressure<T: Transport>(t: &T) {
    t.register_worker(&WorkerInfo::local("slow")).await.unwrap();
    let beat = keep_alive(t, "slow", Duration::from_millis(50));
    let input: String = (0..1000)
        .map(|i| format!("{{\"topic\": \"org.example.t\", \"id\": \"m{i}\", \"body\": {{}}}}\n"))
        .collect();
    let consumer = spawn_consumer(
        t,
        input,
        fmn_consumer::ConsumerOptions {
            batch: 10,
            max_backlog: 100,
            refresh_workers: Duration::from_millis(20),
            ..Default::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = t.backlogs(&["slow".to_owned()]).await.unwrap()[0].entries;
    assert!((100..=110).contains(&held), "the queue holds {held}");
    assert!(!consumer.is_finished(), "the consumer waits");

    drain(t, "slow", 1000, 50).await;
    let report = consumer.await.unwrap();
    beat.abort();
    assert_eq!((report.read, report.dispatched), (1000, 1000));
    assert!(report.backpressure_pauses >= 1, "{report:?}");
}

/// Runs a consumer of JSON lines `input` on `t` until the input ends.
fn spawn_consumer<T: Transport>(
    t: &T,
    input: String,
    opts: fmn_consumer::ConsumerOptions,
) -> tokio::task::JoinHandle<fmn_consumer::ConsumeReport> {
    let t = t.clone();
    tokio::spawn(async move {
        let mut source = fmn_consumer::JsonLines::new(input.as_bytes(), "generated");
        let cancel = tokio_util::sync::CancellationToken::new();
        fmn_consumer::consume(&t, &mut source, &opts, &cancel)
            .await
            .unwrap()
    })
}

/// Reads and acknowledges as `worker`, `max` at a time, until `total` distinct messages came,
/// none twice.
pub(crate) async fn drain<T: Transport>(t: &T, worker: &str, total: usize, max: usize) {
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < total {
        let got = t
            .read_work(worker, max, Duration::from_millis(200))
            .await
            .unwrap();
        let ids: Vec<EntryId> = got.iter().map(|e| e.id.clone()).collect();
        for e in got {
            assert!(seen.insert(e.item.envelope.id), "read twice");
        }
        t.complete_work(worker, &ids, &[]).await.unwrap();
    }
}

/// The bytes a work queue holds follow its entries exactly, whatever their sizes: dispatch
/// adds what it reports writing, an acknowledgement takes off the entry's bytes (once, however
/// often it is repeated), reclaiming moves them with the entries.
async fn work_bytes_follow_entries<T: Transport>(t: &T) {
    for w in ["w1", "w2", "w3"] {
        t.register_worker(&WorkerInfo::local(w)).await.unwrap();
    }
    // Items of different sizes, each dispatched alone to learn its size.
    let sized = |i: usize| {
        let mut it = item(&format!("m{i}"));
        it.origin = "x".repeat(100 * i);
        it
    };
    let mut sizes = Vec::new();
    for i in 0..6 {
        sizes.push(t.dispatch(&[("w1".to_owned(), sized(i))]).await.unwrap());
    }
    assert!(sizes.windows(2).all(|w| w[0] + 100 == w[1]), "{sizes:?}");
    let both = t
        .dispatch(&[("w2".to_owned(), sized(0)), ("w3".to_owned(), sized(5))])
        .await
        .unwrap();
    assert_eq!(both, sizes[0] + sizes[5], "a batch reports the sum");
    let backlog = |w: &'static str| async move { t.backlogs(&[w.to_owned()]).await.unwrap()[0] };
    let on_w1: u64 = sizes.iter().sum();
    assert_eq!(
        backlog("w1").await,
        Backlog {
            entries: 6,
            bytes: on_w1
        }
    );

    // w1 reads three (m0, m1, m2) and acknowledges the first two, then the first again.
    let got = t
        .read_work("w1", 3, Duration::from_millis(100))
        .await
        .unwrap();
    let ids: Vec<EntryId> = got.iter().map(|e| e.id.clone()).collect();
    t.complete_work("w1", &ids[..2], &[]).await.unwrap();
    t.complete_work("w1", &ids[..1], &[]).await.unwrap();
    let left = on_w1 - sizes[0] - sizes[1];
    assert_eq!(
        backlog("w1").await,
        Backlog {
            entries: 4,
            bytes: left
        }
    );

    // w1 stops: its four go to w2 and w3, bytes and all.
    t.deregister_worker("w1").await.unwrap();
    assert_eq!(fmn_consumer::sweep(t).await.unwrap().total(), 4);
    assert_eq!(backlog("w1").await, Backlog::default());
    let moved = t
        .backlogs(&["w2".to_owned(), "w3".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        moved.into_iter().sum::<Backlog>(),
        Backlog {
            entries: 6,
            bytes: left + both
        }
    );
    // w1 comes back and acknowledges the one it held, moved meanwhile: nothing changes.
    t.complete_work("w1", &ids[2..], &[]).await.unwrap();
    let after = t
        .backlogs(&["w1".to_owned(), "w2".to_owned(), "w3".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        after.into_iter().sum::<Backlog>(),
        Backlog {
            entries: 6,
            bytes: left + both
        }
    );
    for w in ["w2", "w3"] {
        let got = t
            .read_work(w, 10, Duration::from_millis(100))
            .await
            .unwrap();
        let ids: Vec<EntryId> = got.iter().map(|e| e.id.clone()).collect();
        t.complete_work(w, &ids, &[]).await.unwrap();
        assert_eq!(backlog(w).await, Backlog::default(), "{w} drained");
    }
}

/// Messages of 1 MiB and no worker reading: the consumer stops once the queue holds
/// `max_backlog_bytes` (plus at most one batch), far below `max_backlog` entries, says which
/// bound stopped it, and goes on, losing nothing, once a worker drains the queue; dispatching
/// to the worker's own queue and to the shared one alike.
async fn consumer_stops_at_max_backlog_bytes<T: Transport>(t: &T) {
    use fmn_consumer::DispatchMode;
    t.register_worker(&WorkerInfo::local("w")).await.unwrap();
    for mode in [DispatchMode::Random, DispatchMode::Shared] {
        stop_at_bytes(t, mode).await;
    }
}

async fn stop_at_bytes<T: Transport>(t: &T, mode: fmn_consumer::DispatchMode) {
    const TOTAL: usize = 40;
    const PAD: usize = 1 << 20;
    const BOUND: u64 = 8 << 20;
    const BATCH: usize = 2;
    let (logs, _guard) = crate::support::Logs::capture();
    let beat = keep_alive(t, "w", Duration::from_millis(50));
    let pad = "x".repeat(PAD);
    let input: String = (0..TOTAL)
        .map(|i| format!("{{\"topic\": \"org.example.t\", \"id\": \"m{i}\", \"body\": {{\"pad\": \"{pad}\"}}}}\n"))
        .collect();
    let consumer = spawn_consumer(
        t,
        input,
        fmn_consumer::ConsumerOptions {
            batch: BATCH,
            dispatch: mode,
            max_message_bytes: 2 * PAD,
            max_backlog_bytes: BOUND,
            // Not re-read while it dispatches: it must count what it sends itself.
            refresh_workers: Duration::from_secs(60),
            ..Default::default()
        },
    );
    // The consumer says when it stops; from then on it dispatches nothing until the queue
    // drains, so what the queue holds is all it dispatched.
    let paused = || {
        logs.text()
            .contains("reached [consumer] max_backlog_bytes (8388608)")
    };
    crate::support::wait_until(Duration::from_secs(60), "a pause", async || {
        paused() || consumer.is_finished()
    })
    .await;
    let held = async || {
        t.backlogs(&["w".to_owned()]).await.unwrap()[0] + t.shared_backlog().await.unwrap()
    };
    let held = held().await;
    eprintln!("{mode}: stopped holding {held:?}, bound {BOUND} bytes");
    assert!(
        paused(),
        "the consumer never paused; the queues hold {held:?}"
    );
    assert!(held.bytes >= BOUND, "stopped before the bound: {held:?}");
    // Every item is more than its pad.
    let most = BOUND / PAD as u64 + BATCH as u64;
    assert!(held.entries <= most, "{held:?}, at most {most}");
    assert!(!consumer.is_finished(), "the consumer waits");

    drain(t, "w", TOTAL, 4).await;
    let report = consumer.await.unwrap();
    beat.abort();
    assert_eq!(
        (report.read, report.dispatched),
        (TOTAL as u64, TOTAL as u64)
    );
    assert!(report.backpressure_pauses >= 1, "{report:?}");
    assert!(logs.text().contains("drained; reading again"));
    assert_eq!(
        t.backlogs(&["w".to_owned()]).await.unwrap()[0] + t.shared_backlog().await.unwrap(),
        Backlog::default()
    );
}

macro_rules! conformance {
    ($name:ident) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn memory() {
                super::$name(&MemoryTransport::new(TTL)).await;
            }

            #[tokio::test]
            async fn redis() {
                let server = RedisServer::start();
                super::$name(&super::redis(&server).await).await;
            }
        }
    };
}

conformance!(reclaim_from_a_stopped_worker);
conformance!(consumer_backpressure);
conformance!(work_bytes_follow_entries);
conformance!(consumer_stops_at_max_backlog_bytes);
conformance!(shared_queue);
