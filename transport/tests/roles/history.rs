//! [`History`]: the recent-message window, newest first, paged, found by id, cut by bytes and
//! by age; delivery logs per user, newest first, cut by count.

use std::time::Duration;

use fmn_core::ChannelKind;
use fmn_transport::{Delivery, DeliveryOutcome, History, LogLimits, WindowLimits};

use crate::support::{item, notification};

fn ids(messages: &[fmn_transport::RecentMessage]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m.item.envelope.id.as_str())
        .collect()
}

async fn window<T: History>(t: &T) {
    let roomy = WindowLimits::default();
    let items: Vec<_> = (0..5).map(|i| item(&format!("m{i}"))).collect();
    t.keep_recent(&items[..3], roomy).await.unwrap();
    t.keep_recent(&items[3..], roomy).await.unwrap();
    let newest = t.recent_messages(None, 2).await.unwrap();
    assert_eq!(ids(&newest), ["m4", "m3"]);
    let older = t
        .recent_messages(Some(&newest[1].cursor), 10)
        .await
        .unwrap();
    assert_eq!(ids(&older), ["m2", "m1", "m0"]);
    let m1 = t.recent_message("m1").await.unwrap().unwrap();
    assert_eq!(m1.envelope.id, "m1");
    assert_eq!(m1.origin, "test:m1");
    assert!(t.recent_message("nope").await.unwrap().is_none());

    // Three items' bytes: the oldest go first, and cannot be found by id any more.
    let size = serde_json::to_string(&items[0]).unwrap().len() as u64;
    let tight = WindowLimits {
        bytes: 3 * size + 2,
        ..roomy
    };
    t.keep_recent(&[item("m5")], tight).await.unwrap();
    let kept = t.recent_messages(None, 10).await.unwrap();
    assert_eq!(ids(&kept), ["m5", "m4", "m3"]);
    assert!(t.recent_message("m1").await.unwrap().is_none());

    // Everything older than the age bound goes.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let short = WindowLimits {
        age: Duration::from_millis(20),
        ..roomy
    };
    t.keep_recent(&[item("m6")], short).await.unwrap();
    assert_eq!(ids(&t.recent_messages(None, 10).await.unwrap()), ["m6"]);
}

conformance!(window);

async fn delivery_log<T: History>(t: &T) {
    let limits = LogLimits {
        entries: 3,
        ..LogLimits::default()
    };
    let mut records = Vec::new();
    for i in 0..5 {
        let n = notification(&format!("m{i}"), ChannelKind::Email);
        let outcome = if i == 4 {
            DeliveryOutcome::Failed("550 no such user".into())
        } else {
            DeliveryOutcome::Sent
        };
        records.push(Delivery::of(&n, "ralph@example.org", outcome));
    }
    let mut other = Delivery::of(
        &notification("m9", ChannelKind::Irc),
        "ralph",
        DeliveryOutcome::HeldForDigest,
    );
    other.user = "bowlofeggs".into();
    records.push(other.clone());
    t.log_deliveries(&records, limits).await.unwrap();
    let ralph = t.deliveries("ralph", 10).await.unwrap();
    // Redis cuts streams approximately (MAXLEN ~), in whole nodes: at least the 3 newest.
    assert!(ralph.len() >= 3 && ralph.len() <= 5, "{ralph:?}");
    assert_eq!(ralph[0], records[4]);
    assert_eq!(ralph[1], records[3]);
    assert_eq!(
        t.deliveries("ralph", 1).await.unwrap(),
        [records[4].clone()]
    );
    assert_eq!(t.deliveries("bowlofeggs", 10).await.unwrap(), [other]);
    assert!(t.deliveries("nobody", 10).await.unwrap().is_empty());
}

conformance!(delivery_log);

/// A verification code's record does not carry the code: the user who asked for it reads
/// the log, the code is for whoever holds the address.
#[test]
fn a_codes_record_keeps_the_code_out() {
    let code = fmn_core::Notification::direct(
        "ralph",
        ChannelKind::Irc,
        "somebody",
        "k1",
        "Your Fedora Notifications code is ABCD2345",
        "web",
    );
    let r = Delivery::of(&code, "somebody", DeliveryOutcome::Sent);
    assert_eq!(r.summary.as_deref(), Some("a verification code"));
    assert!(!serde_json::to_string(&r).unwrap().contains("ABCD2345"));
}
