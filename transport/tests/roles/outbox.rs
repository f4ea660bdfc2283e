//! [`Outbox`]: the notifications a worker wrote are read by the senders, pending until
//! acknowledged, and one that failed for now waits apart until its retry is due; one queued
//! from outside any worker is read like theirs.

use std::time::Duration;

use fmn_core::{ChannelKind, Notification};
use fmn_transport::{Outbox, WorkQueue};

use crate::support::notification;

/// Read by one sender and by no other, acknowledged; one failed for now waits for its
/// retry apart from the queue, then comes back once, with its attempts.
async fn outbox<T: Outbox + WorkQueue>(t: &T) {
    let ch = ChannelKind::Email;
    let wait = Duration::from_millis(100);
    let (a, b) = (notification("a", ch), notification("b", ch));
    t.complete_work("w", &[], &[a.clone(), b.clone()])
        .await
        .unwrap();
    let got = t.read_notifications(ch, "s1", 10, wait).await.unwrap();
    let ids: Vec<_> = got.iter().map(|e| e.item.delivery_id.as_str()).collect();
    assert_eq!(ids, [a.delivery_id.as_str(), b.delivery_id.as_str()]);
    assert!(
        t.read_notifications(ch, "s2", 10, wait)
            .await
            .unwrap()
            .is_empty(),
        "what one sender read is not handed to another"
    );

    t.ack_notifications(ch, &[got[0].id.clone()]).await.unwrap();
    let mut failed = got[1].item.clone();
    failed.attempts = 1;
    t.retry_later(ch, &got[1].id, &failed, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(t.retries_waiting(ch).await.unwrap(), 1);
    assert!(
        t.read_notifications(ch, "s1", 10, wait)
            .await
            .unwrap()
            .is_empty(),
        "acknowledged, or waiting apart"
    );
    assert_eq!(t.promote_retries(ch).await.unwrap(), 1);
    assert_eq!(t.retries_waiting(ch).await.unwrap(), 0);
    assert_eq!(t.promote_retries(ch).await.unwrap(), 0, "once");
    let back = t.read_notifications(ch, "s1", 10, wait).await.unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].item.delivery_id, b.delivery_id);
    assert_eq!(back[0].item.attempts, 1);
}

conformance!(outbox);

/// A notification queued from outside any worker (fmn's own text to one address) is read
/// from its channel's queue by a sender like a worker's, whole, once, and no other channel
/// sees it.
async fn queued_from_outside<T: Outbox + WorkQueue>(t: &T) {
    let wait = Duration::from_millis(100);
    let worker = notification("a", ChannelKind::Irc);
    t.complete_work("w", &[], std::slice::from_ref(&worker))
        .await
        .unwrap();
    let code = Notification::direct(
        "ralph",
        ChannelKind::Irc,
        "ralph_",
        "key",
        "Your code is X",
        "web",
    );
    t.queue_notification(&code).await.unwrap();
    let got = t
        .read_notifications(ChannelKind::Irc, "s1", 10, wait)
        .await
        .unwrap();
    let ids: Vec<_> = got.iter().map(|e| e.item.delivery_id.as_str()).collect();
    assert_eq!(
        ids,
        [worker.delivery_id.as_str(), code.delivery_id.as_str()],
        "after what was queued before it"
    );
    let read = &got[1].item;
    assert!(read.is_direct());
    assert_eq!(
        (
            read.headline(),
            read.addresses.as_slice(),
            read.user.as_str()
        ),
        ("Your code is X", ["ralph_".to_owned()].as_slice(), "ralph")
    );
    for ch in [ChannelKind::Email, ChannelKind::Matrix] {
        assert!(
            t.read_notifications(ch, "s1", 10, wait)
                .await
                .unwrap()
                .is_empty(),
            "{ch} has nothing"
        );
    }
    t.ack_notifications(ChannelKind::Irc, &[got[0].id.clone(), got[1].id.clone()])
        .await
        .unwrap();
    assert!(
        t.read_notifications(ChannelKind::Irc, "s1", 10, wait)
            .await
            .unwrap()
            .is_empty(),
        "acknowledged like any other"
    );
}

conformance!(queued_from_outside);
