//! The preferences kept in Redis.

use crate::support::{RedisServer, redis};

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
