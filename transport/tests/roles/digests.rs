//! [`Digests`](fmn_transport::Digests): notifications held, due, taken, finished, postponed.

use std::time::Duration;

use fmn_core::{ChannelKind, Notification};
use fmn_transport::{Digests, Outbox, WorkQueue};

use crate::support::notification;

/// Held notifications make one digest, due by count or delay, taken by one sender at a time,
/// the same again until finished, nothing lost.
async fn digests<T: Digests + Outbox + WorkQueue>(t: &T) {
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

conformance!(digests);
