//! [`DeliveryLedger`](fmn_transport::DeliveryLedger): deliveries remembered, one-shot claims,
//! rate limits and addresses refused for good.

use std::time::Duration;

use fmn_core::{ChannelKind, Notification};
use fmn_transport::DeliveryLedger;

use crate::support::notification;

/// Deliveries are remembered for their window, then forgotten.
async fn deliveries<T: DeliveryLedger>(t: &T) {
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

/// A one-shot filter is used once: by the first notification to claim it, which may claim it
/// again (a sender restarted after claiming still delivers it); no other gets it. Users whose
/// preferences are not in Redis (here: none are) are remembered by (user, channel, filter).
async fn oneshot_claims<T: DeliveryLedger>(t: &T) {
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

/// Addresses refused for good are kept per user, newest reason, with a count.
async fn address_failures<T: DeliveryLedger>(t: &T) {
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
async fn rate_limits<T: DeliveryLedger>(t: &T) {
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

conformance!(deliveries);
conformance!(oneshot_claims);
conformance!(address_failures);
conformance!(rate_limits);
