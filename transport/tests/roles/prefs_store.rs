//! [`PrefsStore`](fmn_transport::PrefsStore): users' preferences, imported, merged, changed
//! one user at a time with a compare-and-set, versioned, and caught up with since a version.

use fmn_core::Preferences;
use fmn_core::prefs::User;
use fmn_transport::{PrefsDelta, PrefsStore, SetUserError};

use crate::support::{RedisServer, redis};

/// Preferences of `users`, each with an email address and one filter of their own.
fn prefs_of(users: &[&str]) -> Preferences {
    let mut text = String::new();
    for u in users {
        text.push_str(&format!(
            "[users.{u}.channels.email]\naddresses = [\"{u}@example.org\"]\n\
             filters = [{{ name = \"mine\", rules = [{{ rule = \"fedora::user_filter\", args = {{ fasnick = \"{u}\" }} }}] }}]\n"
        ));
    }
    Preferences::from_text("test.toml", &text, false).unwrap()
}

/// One user of [`prefs_of`].
fn user(name: &str) -> User {
    prefs_of(&[name]).users.remove(name).unwrap()
}

/// An import replaces everyone, and what is loaded (whole, a page at a time, one user) is
/// what was imported, at the version the import returned.
async fn import_then_load<T: PrefsStore>(t: &T) {
    assert_eq!(t.prefs_version().await.unwrap(), 0);
    assert_eq!(t.load_prefs().await.unwrap(), (0, Preferences::default()));
    let v1 = t.import_prefs(&prefs_of(&["alice", "bob"])).await.unwrap();
    assert_eq!(v1, 1);
    let prefs = prefs_of(&["bob", "carol"]);
    let v2 = t.import_prefs(&prefs).await.unwrap();
    assert_eq!(v2, 2);
    assert_eq!(t.prefs_version().await.unwrap(), v2);
    assert_eq!(t.load_prefs().await.unwrap(), (v2, prefs.clone()));
    let mut paged = Preferences::default();
    let version = t
        .each_user_prefs(|name, user| {
            paged.users.insert(name, user);
        })
        .await
        .unwrap();
    assert_eq!((version, &paged), (v2, &prefs));
    assert_eq!(t.user_prefs("carol").await.unwrap(), Some(user("carol")));
    assert_eq!(t.user_prefs("alice").await.unwrap(), None);
}
conformance!(import_then_load);

/// A compare-and-set replaces a user only as the caller read them (or absent, as read);
/// without an expectation it always does. Each change bumps the version by one.
async fn set_user_prefs_with_conflict<T: PrefsStore>(t: &T) {
    let v1 = t.import_prefs(&prefs_of(&["alice"])).await.unwrap();
    let (alice, json) = t.user_prefs_raw("alice").await.unwrap().unwrap();
    assert_eq!(alice, user("alice"));
    let mut edited = alice.clone();
    edited.channels.clear();
    let v2 = t
        .set_user_prefs("alice", Some(&edited), Some(Some(&json)))
        .await
        .unwrap();
    assert_eq!(v2, v1 + 1);
    // A second edit from the same read lost the race.
    let lost = t
        .set_user_prefs("alice", Some(&alice), Some(Some(&json)))
        .await;
    assert!(matches!(lost, Err(SetUserError::Conflict(u)) if u == "alice"));
    assert_eq!(t.prefs_version().await.unwrap(), v2);
    assert_eq!(t.user_prefs("alice").await.unwrap(), Some(edited));
    // Expected absent: creates bob once, refuses the second time.
    let v3 = t
        .set_user_prefs("bob", Some(&user("bob")), Some(None))
        .await
        .unwrap();
    assert_eq!(v3, v2 + 1);
    let again = t
        .set_user_prefs("bob", Some(&user("bob")), Some(None))
        .await;
    assert!(matches!(again, Err(SetUserError::Conflict(_))));
    // No expectation: removes whatever is there.
    let v4 = t.set_user_prefs("alice", None, None).await.unwrap();
    assert_eq!(v4, v3 + 1);
    assert_eq!(t.user_prefs("alice").await.unwrap(), None);
}
conformance!(set_user_prefs_with_conflict);

/// Catching up from a version: the users changed since (removed ones as `None`), nothing
/// when up to date, and "load everything" from before a whole import; a merge changes only
/// the users it holds.
async fn changes_since_a_version<T: PrefsStore>(t: &T) {
    let v1 = t.import_prefs(&prefs_of(&["alice", "bob"])).await.unwrap();
    assert_eq!(
        t.prefs_changes_since(0).await.unwrap(),
        (v1, PrefsDelta::Reset)
    );
    let none = PrefsDelta::Users(Default::default());
    assert_eq!(t.prefs_changes_since(v1).await.unwrap(), (v1, none.clone()));
    let v2 = t.merge_prefs(&prefs_of(&["carol"])).await.unwrap();
    let v3 = t.set_user_prefs("bob", None, None).await.unwrap();
    assert_eq!((v2, v3), (v1 + 1, v1 + 2));
    let (now, delta) = t.prefs_changes_since(v1).await.unwrap();
    let want = [
        ("bob".to_owned(), None),
        ("carol".to_owned(), Some(user("carol"))),
    ];
    assert_eq!(
        (now, delta),
        (v3, PrefsDelta::Users(want.into_iter().collect()))
    );
    let (now, delta) = t.prefs_changes_since(v2).await.unwrap();
    let want = [("bob".to_owned(), None)];
    assert_eq!(
        (now, delta),
        (v3, PrefsDelta::Users(want.into_iter().collect()))
    );
    assert_eq!(t.prefs_changes_since(v3).await.unwrap(), (v3, none));
    // A whole import since: everything again, from any version before it.
    let v4 = t.import_prefs(&prefs_of(&["dave"])).await.unwrap();
    assert_eq!(
        t.prefs_changes_since(v3).await.unwrap(),
        (v4, PrefsDelta::Reset)
    );
    let (_, loaded) = t.load_prefs().await.unwrap();
    assert_eq!(loaded, prefs_of(&["dave"]));
}
conformance!(changes_since_a_version);

/// A merge bumps the version once per 500 users and leaves the users it does not hold; an
/// empty one changes nothing.
async fn merge_versions<T: PrefsStore>(t: &T) {
    let v1 = t.import_prefs(&prefs_of(&["zed"])).await.unwrap();
    assert_eq!(t.merge_prefs(&Preferences::default()).await.unwrap(), v1);
    let names: Vec<String> = (0..1_001).map(|i| format!("u{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let many = prefs_of(&names);
    let v2 = t.merge_prefs(&many).await.unwrap();
    assert_eq!(v2, v1 + 3);
    let (v, loaded) = t.load_prefs().await.unwrap();
    assert_eq!(v, v2);
    assert_eq!(loaded.users.len(), 1_002);
    assert_eq!(loaded.users.get("zed"), Some(&user("zed")));
}
conformance!(merge_versions);

/// Every change wakes a subscriber.
async fn changes_wake_subscribers<T: PrefsStore>(t: &T) {
    let mut sub = t.prefs_announcements().await.unwrap();
    t.set_user_prefs("alice", Some(&user("alice")), None)
        .await
        .unwrap();
    assert!(sub.next().await);
}
conformance!(changes_wake_subscribers);

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
