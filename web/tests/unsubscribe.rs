//! One-click unsubscribe over a real HTTP connection, on preferences held in memory: what a
//! genuine link switches off (and only on `POST`), and every link refused, with the page
//! saying why and the preferences untouched.

use std::time::Duration;

use fmn_core::ChannelKind;
use fmn_core::prefs::{Preferences, User};
use fmn_senders::EmailSender;
use fmn_senders::unsubscribe::token;
use fmn_transport::{MemoryTransport, PrefsStore};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "s3cret";

const PREFS: &str = r#"
[users.ralph.channels.email]
addresses = ["ralph@example.org"]
filters = [
  { name = "my <packages>", rules = [{ rule = "fedora::package_filter", args = { package = "vim" } }] },
  { name = "my builds", rules = [{ rule = "fedora::package_filter", args = { package = "emacs" } }] },
]
[users.ralph.channels.irc]
addresses = ["ralph"]
filters = [{ name = "my <packages>", rules = [{ rule = "fedora::package_filter", args = { package = "vim" } }] }]
"#;

/// A service with ralph's preferences, and its base URL.
async fn service(secret: Option<&str>) -> (MemoryTransport, String, CancellationToken) {
    let store = MemoryTransport::new(Duration::from_secs(10));
    let prefs = Preferences::parse_text("p.toml", PREFS, false).unwrap();
    let ralph = &prefs.users["ralph"];
    store
        .set_user_prefs("ralph", Some(ralph), None)
        .await
        .unwrap();
    let rules = std::sync::Arc::new(fmn_host::RuleSet::new(1, Vec::new()).unwrap());
    let app = fmn_web::router(
        store.clone(),
        rules,
        fmn_web::WebOptions {
            unsubscribe_secret: secret.map(str::to_owned),
            ..Default::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(fmn_web::serve(listener, app, stop.clone()));
    (store, base, stop)
}

/// The link the email sender writes into ralph's mails of `filter`, on `base`.
fn mail_link(base: &str, filter: &str) -> String {
    let cfg: fmn_senders::EmailConfig = toml::from_str(&format!(
        "host = \"localhost\"\nfrom = \"n@example.org\"\n\
         unsubscribe_url = \"{base}/unsubscribe?u={{user}}&f={{filter}}&t={{token}}\"\n\
         unsubscribe_secret = \"{SECRET}\"\n"
    ))
    .unwrap();
    EmailSender::new(&cfg)
        .unwrap()
        .unsubscribe_link("ralph", filter)
        .unwrap()
}

async fn ralph(store: &MemoryTransport) -> User {
    store.user_prefs("ralph").await.unwrap().unwrap()
}

fn active(user: &User, channel: ChannelKind, filter: &str) -> bool {
    user.channels[&channel]
        .filters
        .iter()
        .find(|f| f.name == filter)
        .unwrap()
        .active
}

/// RFC 8058's request: a POST with `List-Unsubscribe=One-Click`.
async fn one_click(url: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `text` as the pages show it: HTML-escaped.
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[tokio::test]
async fn a_mails_link_asks_first_then_switches_off_only_its_filter() {
    let (store, base, stop) = service(Some(SECRET)).await;
    let link = mail_link(&base, "my <packages>");
    let before = ralph(&store).await;

    // Following the link (a person, or a scanner) only asks.
    let (status, page) = get(&link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Unsubscribe?"), "{page}");
    assert!(page.contains(&escaped("my <packages>")), "{page}");
    assert!(!page.contains("my <packages>"), "not escaped: {page}");
    assert!(page.contains(r#"<form method="post">"#), "{page}");
    assert_eq!(ralph(&store).await, before, "a GET changes nothing");

    let version = store.prefs_version().await.unwrap();
    let (status, page) = one_click(&link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Done:"), "{page}");
    let after = ralph(&store).await;
    assert!(!active(&after, ChannelKind::Email, "my <packages>"));
    assert!(
        active(&after, ChannelKind::Email, "my builds"),
        "the other filter stays on"
    );
    assert!(
        active(&after, ChannelKind::Irc, "my <packages>"),
        "the same name on IRC stays on"
    );
    assert!(after.channels[&ChannelKind::Email].enabled);
    assert!(
        store.prefs_version().await.unwrap() > version,
        "a change the workers see"
    );

    // Again: nothing more to do, and said so.
    let version = store.prefs_version().await.unwrap();
    let (status, page) = one_click(&link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("already off"), "{page}");
    assert_eq!(
        store.prefs_version().await.unwrap(),
        version,
        "nothing written"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_link_without_a_filter_switches_the_channel_off() {
    let (store, base, stop) = service(Some(SECRET)).await;
    let (status, page) = one_click(&mail_link(&base, "")).await;
    assert_eq!(status, 200, "{page}");
    let after = ralph(&store).await;
    assert!(!after.channels[&ChannelKind::Email].enabled);
    assert!(after.channels[&ChannelKind::Irc].enabled);
    assert!(
        active(&after, ChannelKind::Email, "my builds"),
        "filters are kept as they were"
    );
    stop.cancel();
}

/// Every refused link: its status, what the page says, and nothing changed.
#[tokio::test]
async fn links_that_are_not_genuine_change_nothing_and_say_why() {
    let (store, base, stop) = service(Some(SECRET)).await;
    let before = ralph(&store).await;
    let good = token(SECRET, "ralph", ChannelKind::Email, "my builds");
    let irc = token(SECRET, "ralph", ChannelKind::Irc, "my builds");
    let forged = token("not the secret", "ralph", ChannelKind::Email, "my builds");
    let ghost = token(SECRET, "ghost", ChannelKind::Email, "x");
    let none = token(SECRET, "ralph", ChannelKind::Email, "none");
    let mismatch = "the link's token does not match its user, channel and filter";
    let cases = [
        (format!("u=ralph&f=my%20builds&t={forged}"), 403, mismatch),
        (format!("u=ralph&f=my%20build&t={good}"), 403, mismatch),
        (format!("u=ralph&f=my%20builds&t={irc}"), 403, mismatch),
        (
            format!("u=ralph&c=irc&f=my%20builds&t={good}"),
            403,
            mismatch,
        ),
        ("u=ralph&f=my%20builds&t=nothex".to_owned(), 403, mismatch),
        (
            "f=my%20builds".to_owned(),
            400,
            r#"the link has no "u" parameter"#,
        ),
        (
            "u=ralph&f=my%20builds".to_owned(),
            400,
            r#"the link has no "t" parameter"#,
        ),
        (
            format!("u=ralph&c=fax&f=my%20builds&t={good}"),
            400,
            r#"the link's channel "fax" is not a channel"#,
        ),
        (
            format!("u=ghost&f=x&t={ghost}"),
            404,
            r#"there is no user "ghost""#,
        ),
        (
            format!("u=ralph&f=none&t={none}"),
            404,
            r#"user "ralph" has no filter "none" on email"#,
        ),
    ];
    for (query, want, says) in cases {
        let url = format!("{base}/unsubscribe?{query}");
        let (status, page) = one_click(&url).await;
        assert_eq!(status, want, "POST {query}: {page}");
        assert!(page.contains(&escaped(says)), "POST {query}: {page}");
        // A GET does not look the user up: it shows what a genuine link says.
        let (status, page) = get(&url).await;
        if want == 404 {
            assert_eq!(status, 200, "GET {query}: {page}");
        } else {
            assert_eq!(status, want, "GET {query}: {page}");
            assert!(page.contains(&escaped(says)), "GET {query}: {page}");
        }
    }
    assert_eq!(ralph(&store).await, before);
    stop.cancel();
}

#[tokio::test]
async fn without_a_secret_no_link_is_trusted() {
    let (store, base, stop) = service(None).await;
    let before = ralph(&store).await;
    // A link made with an empty secret (what the sender writes without one) is no key either.
    let t = token("", "ralph", ChannelKind::Email, "my builds");
    let url = format!("{base}/unsubscribe?u=ralph&f=my%20builds&t={t}");
    let (status, page) = one_click(&url).await;
    assert_eq!(status, 503, "{page}");
    assert!(page.contains("not configured"), "{page}");
    assert_eq!(ralph(&store).await, before);
    let (status, body) = get(&format!("{base}/healthz")).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    stop.cancel();
}
