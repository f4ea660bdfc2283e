//! [`WorkQueue`](fmn_transport::WorkQueue): dispatch, read, complete, retry.

use std::time::Duration;

use fmn_core::ChannelKind;
use fmn_transport::{
    Backlog, DeadLetters, EntryId, Registry, Stage, WorkItem, WorkQueue, WorkerInfo,
};

use crate::support::{RedisServer, Reopen, item, notification};

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

async fn blocking_read_wakes_on_dispatch<T: WorkQueue + Registry + DeadLetters>(t: &T) {
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

/// Work items whose evaluation could not be completed wait for their retry apart from the
/// queues, soonest first, go to the shared work queue once due (each once), and a run that
/// ends moves those still waiting to the dead letters with their last failure.
async fn work_retries<T: WorkQueue + Registry + DeadLetters>(t: &T) {
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

/// Redis only: an entry that is not ours is moved to the dead letters instead of blocking its
/// reader forever.
#[tokio::test]
async fn redis_undecodable_entries_are_dead_lettered() {
    let server = RedisServer::start();
    let t = crate::support::redis(&server).await;
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

conformance!(work_flow);
conformance!(blocking_read_wakes_on_dispatch);
conformance!(work_retries);
