//! One conformance suite, two transports: the in-memory one and Redis (a real `redis-server`
//! started by each test).

use std::time::Duration;

use fmn_core::{ChannelKind, Envelope, MessageMeta, Notification};
use fmn_transport::{
    Backlog, DeadLetter, EntryId, MemoryTransport, RedisTransport, Stage, Transport, WorkItem,
    WorkerInfo,
};
use fmn_transport::{DeadLetters, Registry, WorkQueue, redis::RedisOptions};

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

fn item(id: &str) -> WorkItem {
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

async fn registry<T: Transport>(t: &T) {
    assert!(t.live_workers().await.unwrap().is_empty());
    t.register_worker(&WorkerInfo::local("w2")).await.unwrap();
    t.register_worker(&WorkerInfo::local("w1")).await.unwrap();
    assert_eq!(t.live_workers().await.unwrap(), ["w1", "w2"]);
    t.deregister_worker("w1").await.unwrap();
    assert_eq!(t.live_workers().await.unwrap(), ["w2"]);
    // Silence past the TTL (300 ms in this suite) means not live.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(t.live_workers().await.unwrap().is_empty());
    t.heartbeat("w2").await.unwrap();
    assert_eq!(t.live_workers().await.unwrap(), ["w2"]);
}

async fn work_flow<T: Reopen>(t: &T) {
    t.register_worker(&WorkerInfo::local("w1")).await.unwrap();
    let batch: Vec<(String, WorkItem)> = ["a", "b", "c"]
        .iter()
        .map(|i| ("w1".to_owned(), item(i)))
        .collect();
    t.dispatch(&batch).await.unwrap();
    let got = t
        .read_work("w1", 10, Duration::from_millis(100))
        .await
        .unwrap();
    let ids: Vec<&str> = got.iter().map(|e| e.item.envelope.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"], "in order");
    assert_eq!(got[0].item.origin, "test:a");
    // Nothing new: an empty read after the block.
    assert!(
        t.read_work("w1", 10, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty()
    );

    // Complete two: their notifications appear on their channels, atomically with the ack.
    let done: Vec<EntryId> = got[..2].iter().map(|e| e.id.clone()).collect();
    t.complete_work(
        "w1",
        &done,
        &[
            notification("a", ChannelKind::Email),
            notification("b", ChannelKind::Irc),
        ],
    )
    .await
    .unwrap();
    let email = t
        .read_notifications(ChannelKind::Email, "s1", 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(email.len(), 1);
    assert_eq!(email[0].item.message.id, "a");
    assert_eq!(
        email[0].item.delivery_id,
        fmn_core::delivery_id("a", "ralph", ChannelKind::Email)
    );
    let irc = t
        .read_notifications(ChannelKind::Irc, "s1", 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(irc[0].item.message.id, "b");

    let depth = |name: &str, d: &[fmn_transport::QueueDepth]| {
        d.iter()
            .find(|q| q.name == name)
            .map(|q| (q.waiting, q.pending))
            .unwrap()
    };
    let d = t.queue_depths().await.unwrap();
    assert_eq!(
        depth("work:w1", &d),
        (1, 1),
        "c is read and not acknowledged"
    );
    assert_eq!(depth("out:email", &d), (1, 1));
    let oldest = |name: &str, d: &[fmn_transport::QueueDepth]| {
        d.iter().find(|q| q.name == name).unwrap().oldest_ms
    };
    assert!(oldest("work:w1", &d).is_some_and(|ms| ms < 60_000), "{d:?}");
    assert_eq!(
        oldest("out:push", &d),
        None,
        "an empty queue has no oldest entry"
    );

    // A restarted worker (same id, new connection) gets back what it held; the first
    // session does not see it again.
    let t2 = t.reopen().await;
    let again = t2
        .read_work("w1", 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].item.envelope.id, "c");
    assert_eq!(again[0].id, got[2].id);
    t2.complete_work("w1", &[again[0].id.clone()], &[])
        .await
        .unwrap();
    assert!(
        t.read_work("w1", 10, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty()
    );

    t.ack_notifications(ChannelKind::Email, &[email[0].id.clone()])
        .await
        .unwrap();
    t.ack_notifications(ChannelKind::Irc, &[irc[0].id.clone()])
        .await
        .unwrap();
    let d = t.queue_depths().await.unwrap();
    assert!(
        d.iter()
            .all(|q| q.waiting == 0 && q.pending == 0 && q.oldest_ms.is_none()),
        "{d:?}"
    );

    let counts = t.worker_counts().await.unwrap();
    let w1 = counts.iter().find(|c| c.id == "w1").unwrap();
    assert_eq!((w1.received, w1.processed, w1.notifications), (3, 3, 2));
}

async fn blocking_read_wakes_on_dispatch<T: Transport>(t: &T) {
    t.register_worker(&WorkerInfo::local("w1")).await.unwrap();
    let reader = {
        let t = t.clone();
        tokio::spawn(async move {
            t.read_work("w1", 10, Duration::from_secs(20))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.dispatch(&[("w1".to_owned(), item("late"))])
        .await
        .unwrap();
    // The read returns the message, not the empty answer of a 20 s timeout.
    let got = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].item.envelope.id, "late");
}

async fn dead_letters_and_deliveries<T: Transport>(t: &T) {
    let big = vec![b'x'; DeadLetter::MAX_PAYLOAD + 10];
    t.dead_letter(&[
        DeadLetter::new(Stage::Consumer, "in.jsonl:2", "not valid JSON", b"{oops"),
        DeadLetter::new(Stage::Sender, "email:ralph", "550 no such user", &big),
    ])
    .await
    .unwrap();
    assert_eq!(t.dead_letter_count().await.unwrap(), 2);
    let dead = t.dead_letters(10).await.unwrap();
    assert_eq!(
        dead[0].item,
        DeadLetter::new(Stage::Consumer, "in.jsonl:2", "not valid JSON", b"{oops")
    );
    assert_eq!(dead[1].item.stage, Stage::Sender);
    assert_eq!(dead[1].item.payload.len(), DeadLetter::MAX_PAYLOAD);
    assert_eq!(dead[1].item.payload_bytes, DeadLetter::MAX_PAYLOAD + 10);

    assert!(!t.was_delivered("k").await.unwrap());
    t.mark_delivered(&["k", "k2", "k3"], Duration::from_millis(300))
        .await
        .unwrap();
    t.mark_delivered(&[], Duration::from_millis(300))
        .await
        .unwrap();
    for k in ["k", "k2", "k3"] {
        assert!(t.was_delivered(k).await.unwrap(), "{k}");
    }
    assert!(!t.was_delivered("k4").await.unwrap());
    assert_eq!(
        t.was_delivered_many(&["k3", "k4", "k", "k3"])
            .await
            .unwrap(),
        [true, false, true, true],
        "each key answered, in the order asked"
    );
    assert!(t.was_delivered_many(&[]).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !t.was_delivered("k").await.unwrap() && !t.was_delivered("k3").await.unwrap(),
        "forgotten after their window"
    );
}

/// Work items whose evaluation could not be completed wait for their retry apart from the
/// queues, soonest first, go to the shared work queue once due (each once), and a run that
/// ends moves those still waiting to the dead letters with their last failure.
async fn work_retries<T: Transport>(t: &T) {
    use fmn_transport::Failed;
    let failed = |id: &str, attempts| WorkItem {
        failed: Some(Failed {
            attempts,
            reason: format!("module m: trapped on {id}"),
        }),
        ..item(id)
    };
    t.register_worker(&WorkerInfo::local("w")).await.unwrap();
    t.retry_work(&[
        (failed("soon", 1), Duration::from_millis(100)),
        (failed("later", 2), Duration::from_secs(3600)),
        (failed("last", 1), Duration::from_secs(7200)),
    ])
    .await
    .unwrap();
    t.retry_work(&[]).await.unwrap();
    assert_eq!(t.work_retries_waiting().await.unwrap(), 3);
    assert_eq!(t.promote_work().await.unwrap(), 0, "none is due yet");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.promote_work().await.unwrap(), 1);
    assert_eq!(t.promote_work().await.unwrap(), 0, "promoted once");
    assert_eq!(t.work_retries_waiting().await.unwrap(), 2);
    let got = t
        .read_work("w", 10, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].item.envelope.id, "soon");
    assert_eq!(
        got[0].item.failed_attempts(),
        1,
        "the count travels with the message"
    );
    let queued = t.shared_backlog().await.unwrap();
    assert_eq!(queued.entries, 1);
    assert!(
        queued.bytes > 100,
        "a promoted retry counts its bytes: {queued:?}"
    );
    let ids: Vec<_> = got.iter().map(|e| e.id.clone()).collect();
    t.complete_work("w", &ids, &[]).await.unwrap();
    assert_eq!(t.shared_backlog().await.unwrap().bytes, 0);

    assert_eq!(t.dead_letter_work_retries(0, "x").await.unwrap(), 0);
    assert_eq!(
        t.dead_letter_work_retries(1, "the run ended")
            .await
            .unwrap(),
        1
    );
    // `fmn run` asks for all of them, and for every dead letter, with usize::MAX.
    assert_eq!(
        t.dead_letter_work_retries(usize::MAX, "the run ended")
            .await
            .unwrap(),
        1
    );
    assert_eq!(t.work_retries_waiting().await.unwrap(), 0);
    let dead = t.dead_letters(usize::MAX).await.unwrap();
    let reasons: Vec<&str> = dead.iter().map(|d| d.item.reason.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "the run ended; last failure: module m: trapped on later",
            "the run ended; last failure: module m: trapped on last",
        ],
        "soonest first"
    );
    let kept: WorkItem = serde_json::from_str(&dead[0].item.payload).unwrap();
    assert_eq!(
        (kept.envelope.id.as_str(), dead[0].item.stage),
        ("later", Stage::Worker)
    );
}

/// A one-shot filter is used once: by the first notification to claim it, which may claim it
/// again (a sender restarted after claiming still delivers it); no other gets it. Users whose
/// preferences are not in Redis (here: none are) are remembered by (user, channel, filter).
async fn oneshot_claims<T: Transport>(t: &T) {
    let first = Notification {
        oneshot: true,
        ..notification("m1", ChannelKind::Email)
    };
    let second = Notification {
        oneshot: true,
        ..notification("m2", ChannelKind::Email)
    };
    let other_channel = Notification {
        oneshot: true,
        ..notification("m2", ChannelKind::Irc)
    };
    assert!(t.claim_oneshot(&first).await.unwrap());
    assert!(!t.claim_oneshot(&second).await.unwrap());
    assert!(t.claim_oneshot(&first).await.unwrap(), "the winner again");
    assert!(
        t.claim_oneshot(&other_channel).await.unwrap(),
        "a filter per channel"
    );
    let other_filter = Notification {
        filter: "g".into(),
        ..second.clone()
    };
    assert!(t.claim_oneshot(&other_filter).await.unwrap());
}

/// Held notifications make one digest, due by count or delay, taken by one sender at a time,
/// the same again until finished, nothing lost.
async fn digests<T: Transport>(t: &T) {
    let ch = ChannelKind::Email;
    let by_count = fmn_core::prefs::Digest {
        max_count: Some(3),
        max_delay: Some(Duration::from_secs(3600)),
    };
    let held = |id: &str| Notification {
        digest: Some(by_count),
        ..notification(id, ch)
    };
    let queued: Vec<Notification> = ["d1", "d2", "d3", "d2"].iter().map(|i| held(i)).collect();
    t.complete_work("w", &[], &queued).await.unwrap();
    let entries = t
        .read_notifications(ch, "s1", 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(entries.len(), 4);
    for e in &entries[..2] {
        t.hold_for_digest(ch, &e.id, &e.item, &by_count)
            .await
            .unwrap();
    }
    assert!(
        t.due_digests(ch, Duration::ZERO, 10)
            .await
            .unwrap()
            .is_empty(),
        "2 of 3"
    );
    for e in &entries[2..] {
        t.hold_for_digest(ch, &e.id, &e.item, &by_count)
            .await
            .unwrap();
    }
    assert_eq!(t.digests_waiting(ch).await.unwrap(), 3, "d2 held once");
    assert_eq!(
        t.due_digests(ch, Duration::ZERO, 10).await.unwrap(),
        ["ralph"]
    );
    assert!(
        t.read_notifications(ch, "s1", 10, Duration::from_millis(50))
            .await
            .unwrap()
            .is_empty(),
        "holding acknowledged them"
    );
    let lease = Duration::from_secs(60);
    let batch = t
        .take_digest(ch, "ralph", "s1", lease, 10)
        .await
        .unwrap()
        .unwrap();
    let ids: Vec<&str> = batch
        .notifications
        .iter()
        .map(|n| n.message.id.as_str())
        .collect();
    assert_eq!((ids, batch.failures), (vec!["d1", "d2", "d3"], 0));
    assert!(
        t.take_digest(ch, "ralph", "s2", lease, 10)
            .await
            .unwrap()
            .is_none(),
        "leased"
    );
    // Held while taken: not part of this digest, even when taken again.
    t.complete_work("w", &[], &[held("d4")]).await.unwrap();
    let e = t
        .read_notifications(ch, "s1", 10, Duration::from_millis(100))
        .await
        .unwrap();
    t.hold_for_digest(ch, &e[0].id, &e[0].item, &by_count)
        .await
        .unwrap();
    t.postpone_digest(ch, "ralph", Duration::from_millis(200))
        .await
        .unwrap();
    assert!(
        t.due_digests(ch, Duration::ZERO, 10)
            .await
            .unwrap()
            .is_empty(),
        "postponed"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        t.due_digests(ch, Duration::ZERO, 10).await.unwrap(),
        ["ralph"]
    );
    let again = t
        .take_digest(ch, "ralph", "s2", lease, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.notifications.len(), again.failures), (3, 1));
    t.finish_digest(ch, "ralph", 3, &by_count).await.unwrap();
    assert_eq!(t.digests_waiting(ch).await.unwrap(), 1);
    assert!(
        t.due_digests(ch, Duration::ZERO, 10)
            .await
            .unwrap()
            .is_empty(),
        "1 of 3, an hour to go"
    );
    assert_eq!(
        t.due_digests(ch, Duration::from_secs(3601), 10)
            .await
            .unwrap(),
        ["ralph"],
        "due within the hour"
    );
    // Four held: a digest carries `max_count` of them, the oldest.
    let more: Vec<Notification> = ["d5", "d6", "d7"].iter().map(|i| held(i)).collect();
    t.complete_work("w", &[], &more).await.unwrap();
    for e in t
        .read_notifications(ch, "s1", 10, Duration::from_millis(100))
        .await
        .unwrap()
    {
        t.hold_for_digest(ch, &e.id, &e.item, &by_count)
            .await
            .unwrap();
    }
    assert_eq!(
        t.due_digests(ch, Duration::ZERO, 10).await.unwrap(),
        ["ralph"]
    );
    let three = t
        .take_digest(ch, "ralph", "s1", lease, 10)
        .await
        .unwrap()
        .unwrap();
    let ids: Vec<&str> = three
        .notifications
        .iter()
        .map(|n| n.message.id.as_str())
        .collect();
    assert_eq!(ids, ["d4", "d5", "d6"]);
    t.finish_digest(ch, "ralph", 3, &by_count).await.unwrap();
    let rest = t
        .take_digest(ch, "ralph", "s1", lease, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest.notifications[0].message.id, "d7");
    t.finish_digest(ch, "ralph", 1, &by_count).await.unwrap();
    assert_eq!(t.digests_waiting(ch).await.unwrap(), 0);
    assert!(
        t.take_digest(ch, "ralph", "s1", lease, 10)
            .await
            .unwrap()
            .is_none()
    );
}

/// Addresses refused for good are kept per user, newest reason, with a count.
async fn address_failures<T: Transport>(t: &T) {
    assert!(t.address_failures("ralph").await.unwrap().is_empty());
    t.record_address_failure(
        "ralph",
        ChannelKind::Email,
        "r@example.org",
        "550 no such user",
    )
    .await
    .unwrap();
    t.record_address_failure("ralph", ChannelKind::Push, "tok:1", "UNREGISTERED")
        .await
        .unwrap();
    t.record_address_failure("ralph", ChannelKind::Email, "r@example.org", "551 gone")
        .await
        .unwrap();
    let f = t.address_failures("ralph").await.unwrap();
    let seen: Vec<(ChannelKind, &str, &str, u64)> = f
        .iter()
        .map(|f| (f.channel, f.address.as_str(), f.reason.as_str(), f.count))
        .collect();
    assert_eq!(
        seen,
        [
            (ChannelKind::Email, "r@example.org", "551 gone", 2),
            (ChannelKind::Push, "tok:1", "UNREGISTERED", 1)
        ]
    );
    assert!(f[0].last_ms > 1_700_000_000_000, "{}", f[0].last_ms);
    assert!(t.address_failures("other").await.unwrap().is_empty());
}

/// At most `limit` deliveries per address in any window, by address and channel.
async fn rate_limits<T: Transport>(t: &T) {
    let (ch, w) = (ChannelKind::Email, Duration::from_millis(400));
    assert_eq!(t.take_rate(ch, "a@x", 2, w).await.unwrap(), None);
    assert_eq!(t.take_rate(ch, "a@x", 2, w).await.unwrap(), None);
    let wait = t.take_rate(ch, "a@x", 2, w).await.unwrap().expect("full");
    assert!(wait <= w && wait > Duration::ZERO, "{wait:?}");
    assert_eq!(
        t.take_rate(ch, "b@x", 2, w).await.unwrap(),
        None,
        "per address"
    );
    assert_eq!(
        t.take_rate(ChannelKind::Irc, "a@x", 2, w).await.unwrap(),
        None
    );
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    assert_eq!(
        t.take_rate(ch, "a@x", 2, w).await.unwrap(),
        None,
        "a slot freed"
    );
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

/// Shared data: an import replaces relations whole, changes edit one key, and every step
/// moves the version on.
async fn shared_data<T: Transport>(t: &T) {
    use fmn_core::data::{COMMITTERS, Change, GROUPS, Relations};
    assert_eq!(t.data_version().await.unwrap(), 0);
    let mut data = Relations::new();
    data.add(
        COMMITTERS,
        "nethack",
        ["ralph".to_owned(), "bob".to_owned()],
    );
    data.add(COMMITTERS, "vim", ["carol".to_owned()]);
    data.add(GROUPS, "ralph", ["packager".to_owned()]);
    let v1 = t.import_data(&data).await.unwrap();
    assert!(v1 > 0);
    let (v, loaded) = t.load_data().await.unwrap();
    assert_eq!(v, v1);
    assert_eq!(loaded, data);

    let v2 = t
        .apply_data(&[
            Change {
                relation: COMMITTERS.into(),
                key: "nethack".into(),
                add: vec!["dave".into()],
                remove: vec!["bob".into()],
            },
            Change {
                relation: COMMITTERS.into(),
                key: "vim".into(),
                add: vec![],
                remove: vec!["carol".into()],
            },
        ])
        .await
        .unwrap();
    assert!(v2 > v1);
    let (_, loaded) = t.load_data().await.unwrap();
    assert_eq!(loaded.get(COMMITTERS, "nethack"), ["dave", "ralph"]);
    assert!(loaded.get(COMMITTERS, "vim").is_empty());
    assert_eq!(loaded.get(GROUPS, "ralph"), ["packager"]);

    // A new import of one relation replaces it and leaves the others alone.
    let mut committers = Relations::new();
    committers.add(COMMITTERS, "emacs", ["erin".to_owned()]);
    let v3 = t.import_data(&committers).await.unwrap();
    assert!(v3 > v2);
    let (_, loaded) = t.load_data().await.unwrap();
    assert!(loaded.get(COMMITTERS, "nethack").is_empty());
    assert_eq!(loaded.get(COMMITTERS, "emacs"), ["erin"]);
    assert_eq!(loaded.get(GROUPS, "ralph"), ["packager"]);
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

conformance!(registry);
conformance!(work_flow);
conformance!(blocking_read_wakes_on_dispatch);
conformance!(dead_letters_and_deliveries);
conformance!(shared_data);
conformance!(reclaim_from_a_stopped_worker);
conformance!(consumer_backpressure);
conformance!(work_bytes_follow_entries);
conformance!(consumer_stops_at_max_backlog_bytes);
conformance!(shared_queue);
conformance!(oneshot_claims);
conformance!(digests);
conformance!(address_failures);
conformance!(rate_limits);
conformance!(work_retries);

/// Redis only: an entry that is not ours is moved to the dead letters instead of blocking its
/// reader forever.
#[tokio::test]
async fn redis_undecodable_entries_are_dead_lettered() {
    let server = RedisServer::start();
    let t = redis(&server).await;
    t.register_worker(&WorkerInfo::local("w1")).await.unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("XADD")
        .arg("t:work:w1")
        .arg("*")
        .arg("d")
        .arg("garbage")
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    t.dispatch(&[("w1".to_owned(), item("good"))])
        .await
        .unwrap();
    let mut got = t
        .read_work("w1", 10, Duration::from_millis(100))
        .await
        .unwrap();
    if got.is_empty() {
        got = t
            .read_work("w1", 10, Duration::from_millis(100))
            .await
            .unwrap();
    }
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].item.envelope.id, "good");
    let dead = t.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].item.reason.starts_with("undecodable entry"),
        "{:?}",
        dead[0].item
    );
    assert_eq!(dead[0].item.payload, "garbage");
    // The stray entry was never counted and its bytes were taken off: the count does not go
    // below zero, so what comes next counts in full.
    t.complete_work("w1", &[got[0].id.clone()], &[])
        .await
        .unwrap();
    let next = t
        .dispatch(&[("w1".to_owned(), item("next"))])
        .await
        .unwrap();
    assert_eq!(
        t.backlogs(&["w1".to_owned()]).await.unwrap()[0],
        Backlog {
            entries: 1,
            bytes: next
        }
    );
}

/// Redis only: the preferences read a page at a time are the ones read whole, with the same
/// version, at a size that takes many `HSCAN` pages.
#[tokio::test]
async fn redis_preferences_read_a_page_at_a_time_are_the_whole_set() {
    let server = RedisServer::start();
    let t = redis(&server).await;
    let mut text = String::new();
    for i in 0..3_000 {
        text.push_str(&format!(
            "[users.u{i}.channels.email]\naddresses = [\"u{i}@example.org\"]\n\
             filters = [{{ name = \"mine\", rules = [{{ rule = \"fedora::user_filter\", args = {{ fasnick = \"u{i}\" }} }}] }}]\n"
        ));
    }
    let prefs = fmn_core::Preferences::from_text("gen.toml", &text, false).unwrap();
    t.import_prefs(&prefs).await.unwrap();
    let mut streamed = fmn_core::Preferences::default();
    let mut calls = 0;
    let version = t
        .each_user_prefs(|name, user| {
            calls += 1;
            streamed.users.insert(name, user);
        })
        .await
        .unwrap();
    let (whole_version, whole) = t.load_prefs().await.unwrap();
    assert_eq!(version, whole_version);
    assert_eq!(calls, 3_000);
    assert_eq!(streamed, whole);
    assert_eq!(streamed, prefs);
}
