//! Sign-in through a real OpenID provider (npm's certified `oidc-provider`, started on a free
//! loopback port from `web/tests/node`; `scripts/test` installs it with `npm ci`): the
//! authorization code flow with PKCE, the session it starts, the CSRF token changes need,
//! IRC nicks and Matrix ids added with the code their bot sends, and sign-ins that must fail.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fmn_core::prefs::Preferences;
use fmn_core::{ChannelKind, Notification};
use fmn_host::RuleSet;
use fmn_transport::{MemoryTransport, Outbox, PrefsStore};
use reqwest::Client;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const PREFS: &str = r#"
[users.ralph.channels.email]
addresses = ["ralph@example.org"]
filters = [{ name = "vim builds", rules = [{ rule = "fedora::package_filter", args = { package = "vim" } }] }]
[users.bob.channels.irc]
addresses = ["bob"]
filters = [{ name = "secret", rules = [{ rule = "fedora::package_filter", args = { package = "bobs-secret" } }] }]
"#;

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The provider, killed when dropped.
struct Provider(Child);

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_provider(port: u16, redirect: &str) -> Provider {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        dir.join("node_modules/oidc-provider").is_dir(),
        "the test OpenID provider is not installed: run `npm ci --prefix web/tests/node` (scripts/test does)"
    );
    let child = Command::new("node")
        .arg("provider.mjs")
        .arg(port.to_string())
        .arg(redirect)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("node runs the test OpenID provider (install nodejs)");
    let provider = Provider(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the OpenID provider never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    provider
}

struct Site {
    base: String,
    store: MemoryTransport,
    stop: CancellationToken,
    _provider: Provider,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn site() -> Site {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let op = free_port();
    let provider = start_provider(op, &format!("{base}/oidc/callback"));
    let store = MemoryTransport::new(Duration::from_secs(10));
    let prefs = Preferences::parse_text("p.toml", PREFS, false).unwrap();
    for (name, user) in &prefs.users {
        store.set_user_prefs(name, Some(user), None).await.unwrap();
    }
    let rules = Arc::new(
        RuleSet::new(1, vec![fmn_host::LoadedModule::native(&fmn_rules::MODULE)]).unwrap(),
    );
    let opts = fmn_web::WebOptions {
        unsubscribe_secret: None,
        email: None,
        session_secret: Some("a session secret for tests".into()),
        oidc: Some(fmn_web::OidcOptions {
            issuer: format!("http://127.0.0.1:{op}"),
            client_id: "fmn".into(),
            client_secret: Some("fmn-test-secret".into()),
            public_url: base.clone(),
            username_claim: "preferred_username".into(),
            admins: Vec::new(),
            admin_groups: vec!["sysadmin-main".into()],
            scopes: vec!["groups".into()],
        }),
    };
    let stop = CancellationToken::new();
    let app = fmn_web::router(store.clone(), rules, opts);
    tokio::spawn(fmn_web::serve(listener, app, stop.clone()));
    Site {
        base,
        store,
        stop,
        _provider: provider,
    }
}

fn browser() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

/// The `action` of the page's first form.
fn form_action(page: &str) -> String {
    let at = page.find("<form").expect("a form on the page");
    let rest = &page[at..];
    let start = rest.find("action=\"").expect("the form's action") + "action=\"".len();
    let end = rest[start..].find('"').unwrap();
    rest[start..start + end].replace("&amp;", "&")
}

/// Submits the first form of `page` (at `url`) with `fields`: where the browser ends up, and
/// what it shows there.
async fn submit(
    b: &Client,
    url: &reqwest::Url,
    page: &str,
    fields: &[(&str, &str)],
) -> (reqwest::Url, u16, String) {
    let action = url.join(&form_action(page)).unwrap();
    let r = b.post(action).form(fields).send().await.unwrap();
    let (url, status) = (r.url().clone(), r.status().as_u16());
    (url, status, r.text().await.unwrap())
}

/// Signs `login` in through the provider's pages, as a person would; the page it ends on.
async fn sign_in(site: &Site, b: &Client, login: &str) -> (u16, String) {
    let r = b
        .get(format!("{}/login?to=/", site.base))
        .send()
        .await
        .unwrap();
    let url = r.url().clone();
    let page = r.text().await.unwrap();
    assert!(
        page.contains("name=\"login\""),
        "the provider's login page: {page}"
    );
    let login_form = [("prompt", "login"), ("login", login), ("password", "x")];
    let (url, _, page) = submit(b, &url, &page, &login_form).await;
    assert!(
        page.contains("value=\"consent\""),
        "the consent page: {page}"
    );
    let (url, status, page) = submit(b, &url, &page, &[("prompt", "consent")]).await;
    assert_eq!(url.as_str(), format!("{}/", site.base));
    (status, page)
}

/// What `GET /api/v1/session` says to this browser.
async fn session(site: &Site, b: &Client) -> Value {
    let r = b
        .get(format!("{}/api/v1/session", site.base))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

/// The CSRF token of this browser's session.
async fn csrf(site: &Site, b: &Client) -> String {
    session(site, b).await["csrf"].as_str().unwrap().to_owned()
}

/// Posts the form `fields` to `path`: the status and the page.
async fn post(site: &Site, b: &Client, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let r = b
        .post(format!("{}{path}", site.base))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn a_person_signs_in_and_changes_only_their_own_preferences() {
    let site = site().await;
    let b = browser();
    let (status, home) = sign_in(&site, &b, "ralph").await;
    assert_eq!(status, 200, "{home}");
    assert!(home.contains("Your notifications, ralph"), "{home}");
    assert!(home.contains("vim builds"), "{home}");
    assert!(
        home.contains("Messages that involve a given package") && home.contains("(package: vim)"),
        "the rule in plain words: {home}"
    );

    let session = session(&site, &b).await;
    assert_eq!(session["user"], "ralph", "{session}");
    let csrf = session["csrf"].as_str().unwrap().to_owned();

    let prefs_url = format!("{}/api/v1/users/ralph/preferences", site.base);
    let read: Value = b
        .get(&prefs_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut prefs = read["preferences"].clone();
    prefs["channels"]["email"]["filters"][0]["active"] = false.into();
    let change = json!({"version": read["version"], "preferences": prefs});

    // A change on a session without its CSRF token (what another site's form would send).
    let r = b.put(&prefs_url).json(&change).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = b
        .put(&prefs_url)
        .header("x-csrf-token", "00".repeat(32))
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = b
        .put(&prefs_url)
        .header("x-csrf-token", &csrf)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let ralph = site.store.user_prefs("ralph").await.unwrap().unwrap();
    assert!(!ralph.channels[&fmn_core::ChannelKind::Email].filters[0].active);

    // Not bob's.
    let r = b
        .get(format!("{}/api/v1/users/bob/preferences", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // Signing out needs the page's CSRF token too; then the session is gone.
    let r = b
        .post(format!("{}/logout", site.base))
        .form(&[("csrf", "bad")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = b
        .post(format!("{}/logout", site.base))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("Sign in"));
    let r = b.get(&prefs_url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

/// A callback that does not come from the sign-in this browser started starts no session.
#[tokio::test]
async fn forged_callbacks_start_no_session() {
    let site = site().await;
    let b = browser();
    let callback = format!("{}/oidc/callback?code=abc&state=xyz", site.base);
    let r = b.get(&callback).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("sign in again"));

    // Started here, but answered with another state: refused.
    let r = b.get(format!("{}/login", site.base)).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("name=\"login\""));
    let r = b.get(&callback).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("does not belong to this sign-in")
    );

    // The provider says no.
    let r = b
        .get(format!(
            "{}/oidc/callback?error=access_denied&error_description=no",
            site.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = b
        .get(format!("{}/api/v1/session", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "no session");
}

/// The page's forms: add a filter from the catalogue, turn it off, remove it, turn the
/// channel off; each stored, each refused without the session's CSRF token, and a wrong form
/// answered with what is wrong.
#[tokio::test]
async fn the_page_changes_the_signed_in_persons_preferences() {
    let site = site().await;
    let b = browser();
    let (_, home) = sign_in(&site, &b, "ralph").await;
    assert!(home.contains("Turn off the filter vim builds"), "{home}");
    let csrf = csrf(&site, &b).await;
    let page = b
        .get(format!("{}/filters/new?channel=email", site.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"value="fedora::package_filter""#), "{page}");
    assert!(
        page.contains(r#"<label for="fedora-package_filter-package">package (required)</label>"#),
        "{page}"
    );

    let change = async |fields: &[(&str, &str)]| post(&site, &b, "/change", fields).await;
    let email = |user: &fmn_core::prefs::User| user.channels[&fmn_core::ChannelKind::Email].clone();
    let add = [
        ("action", "add_filter"),
        ("channel", "email"),
        ("rule", "fedora::package_filter"),
        ("name", "emacs"),
        ("arg.package", "emacs"),
    ];
    let (status, page) = change(&add).await;
    assert_eq!(status, 403, "no CSRF token: {page}");
    let with = |fields: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = fields.to_vec();
        v.push(("csrf", csrf.as_str()));
        v
    };
    let (status, page) = change(&with(&add)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("emacs"), "back on the home page: {page}");
    let ralph = site.store.user_prefs("ralph").await.unwrap().unwrap();
    let added = &email(&ralph).filters[1];
    assert_eq!(added.name, "emacs");
    assert_eq!(added.rules[0].args, json!({"package": "emacs"}));

    for (action, check) in [("deactivate", 0), ("remove_filter", 1)] {
        let fields = [
            ("action", action),
            ("channel", "email"),
            ("filter", "emacs"),
        ];
        let (status, page) = change(&with(&fields)).await;
        assert_eq!(status, 200, "{action}: {page}");
        let ralph = site.store.user_prefs("ralph").await.unwrap().unwrap();
        let filters = email(&ralph).filters;
        match check {
            0 => assert!(!filters[1].active),
            _ => assert_eq!(filters.len(), 1),
        }
    }
    let (status, _) = change(&with(&[
        ("action", "disable_channel"),
        ("channel", "email"),
    ]))
    .await;
    assert_eq!(status, 200);
    assert!(!email(&site.store.user_prefs("ralph").await.unwrap().unwrap()).enabled);

    // Digests, and a preset's filters.
    let (status, _) = change(&with(&[
        ("action", "digest"),
        ("channel", "email"),
        ("digest", "10,1h"),
    ]))
    .await;
    assert_eq!(status, 200);
    let digest = email(&site.store.user_prefs("ralph").await.unwrap().unwrap())
        .digest
        .unwrap();
    assert_eq!(
        (digest.max_count, digest.max_delay),
        (Some(10), Some(Duration::from_secs(3600)))
    );
    let home = b
        .get(format!("{}/", site.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains(r#"value="10,1h""#), "{home}");
    let (status, _) = change(&with(&[("action", "no_digest"), ("channel", "email")])).await;
    assert_eq!(status, 200);
    assert_eq!(
        email(&site.store.user_prefs("ralph").await.unwrap().unwrap()).digest,
        None
    );
    let (status, _) = change(&with(&[
        ("action", "preset"),
        ("channel", "email"),
        ("preset", "fmn-defaults"),
    ]))
    .await;
    assert_eq!(status, 200);
    let filters = email(&site.store.user_prefs("ralph").await.unwrap().unwrap()).filters;
    assert!(
        filters.len() > 3,
        "the preset's filters beside vim builds: {}",
        filters.len()
    );
    assert_eq!(filters[0].name, "vim builds");

    // Wrong forms: said, nothing stored.
    let before = site.store.user_prefs("ralph").await.unwrap();
    /// A form's fields.
    type Fields<'a> = &'a [(&'a str, &'a str)];
    let wrong: [(Fields, u16, &str); 6] = [
        (
            &[
                ("action", "digest"),
                ("channel", "email"),
                ("digest", "often"),
            ],
            400,
            "COUNT,DELAY",
        ),
        (
            &[
                ("action", "preset"),
                ("channel", "email"),
                ("preset", "nope"),
            ],
            400,
            "no preset",
        ),
        (
            &[
                ("action", "add_filter"),
                ("channel", "email"),
                ("rule", "fedora::nope"),
                ("name", "x"),
            ],
            400,
            "there is no rule",
        ),
        (
            &[
                ("action", "add_filter"),
                ("channel", "email"),
                ("rule", "fedora::package_filter"),
                ("name", " "),
                ("arg.package", "emacs"),
            ],
            400,
            "no &#34;name&#34; field",
        ),
        (
            &[
                ("action", "deactivate"),
                ("channel", "email"),
                ("filter", "nope"),
            ],
            404,
            "no filter",
        ),
        (
            &[("action", "explode"), ("channel", "email")],
            400,
            "not an action",
        ),
    ];
    for (fields, want, says) in wrong {
        let mut v = fields.to_vec();
        v.push(("csrf", csrf.as_str()));
        let (status, page) = change(&v).await;
        assert_eq!(status, want, "{fields:?}: {page}");
        assert!(page.contains(says), "{fields:?}: {page}");
    }
    assert_eq!(site.store.user_prefs("ralph").await.unwrap(), before);
}

/// The code in the bot's text queued for `channel`, and the notification it came in.
async fn queued_code(store: &MemoryTransport, channel: ChannelKind) -> (String, Notification) {
    let wait = Duration::from_millis(100);
    let mut got = store
        .read_notifications(channel, "test", 10, wait)
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "one notification on the {channel} queue");
    let n = got.remove(0).item;
    const SAID: &str = "Your Fedora Notifications code is ";
    let text = n.headline();
    assert!(text.starts_with(SAID), "{text}");
    let code = text[SAID.len()..SAID.len() + 8].to_owned();
    (code, n)
}

/// The value of the hidden field `name` on `page`.
fn hidden(page: &str, name: &str) -> String {
    let key = format!(r#"name="{name}" value=""#);
    let at = page
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + key.len();
    page[at..at + page[at..].find('"').unwrap()].to_owned()
}

/// An IRC nick and a Matrix id are added through the page: the code goes to the channel's
/// queue (for its bot) and nothing is stored until the code is typed back; a wrong code, a
/// malformed address or a missing CSRF token change nothing.
#[tokio::test]
async fn a_nick_or_matrix_id_is_added_with_the_code_the_bot_sends() {
    let site = site().await;
    let b = browser();
    let (_, home) = sign_in(&site, &b, "ralph").await;
    assert!(home.contains("Add an IRC nick or a Matrix id"), "{home}");
    let csrf = csrf(&site, &b).await;
    let post = async |path: &str, fields: &[(&str, &str)]| post(&site, &b, path, fields).await;
    for (channel, address) in [
        (ChannelKind::Irc, "ralph_irc"),
        (ChannelKind::Matrix, "@ralph:example.org"),
    ] {
        let before = site.store.user_prefs("ralph").await.unwrap().unwrap();
        let add = [("channel", channel.as_str()), ("address", address)];
        let (status, _) = post("/addresses", &add).await;
        assert_eq!(status, 403, "no CSRF token");
        let mut with = add.to_vec();
        with.push(("csrf", &csrf));
        let (status, page) = post("/addresses", &with).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Type the code"), "{page}");
        assert_eq!(
            site.store.user_prefs("ralph").await.unwrap().unwrap(),
            before,
            "nothing stored yet"
        );
        let (code, n) = queued_code(&site.store, channel).await;
        assert_eq!(
            (n.user.as_str(), n.addresses.as_slice()),
            ("ralph", [address.to_owned()].as_slice())
        );
        assert!(n.is_direct() && n.digest.is_none() && !n.oneshot);

        // What the page's form sends back, with the code typed.
        let (shown, expires) = (hidden(&page, "address"), hidden(&page, "expires"));
        let confirm = async |code: &str| {
            let fields = [
                ("csrf", csrf.as_str()),
                ("channel", channel.as_str()),
                ("address", shown.as_str()),
                ("expires", expires.as_str()),
                ("code", code),
            ];
            post("/addresses/code", &fields).await
        };
        let wrong = if code == "00000000" {
            "11111111"
        } else {
            "00000000"
        };
        let (status, page) = confirm(wrong).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("not the code sent to"), "{page}");
        assert_eq!(
            site.store.user_prefs("ralph").await.unwrap().unwrap(),
            before
        );

        let (status, page) = confirm(&code).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Address confirmed"), "{page}");
        let ralph = site.store.user_prefs("ralph").await.unwrap().unwrap();
        assert_eq!(ralph.channels[&channel].addresses, [address]);
        assert_eq!(
            ralph.channels[&ChannelKind::Email],
            before.channels[&ChannelKind::Email]
        );
    }

    let (status, page) = post(
        "/addresses",
        &[("csrf", &csrf), ("channel", "irc"), ("address", "#fedora")],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("is not an IRC nick"), "{page}");
    let (status, page) = post(
        "/addresses",
        &[("csrf", &csrf), ("channel", "matrix"), ("address", "ralph")],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("is not a Matrix id"), "{page}");
    for channel in [ChannelKind::Irc, ChannelKind::Matrix] {
        let left = site
            .store
            .read_notifications(channel, "test", 10, Duration::from_millis(50))
            .await
            .unwrap();
        assert!(
            left.is_empty(),
            "nothing queued for a malformed address: {left:?}"
        );
    }
}

/// The same in a real browser (Debian's chromium, driven by playwright-core from
/// `web/tests/node/browser.mjs`): sign in through the provider's pages, add a filter from the
/// catalogue by its labelled fields, turn it off with the keyboard alone. Screenshots go to
/// `FMN_SCREENSHOTS` when set (`docs/screenshots/` holds the ones made so), else to a
/// temporary folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_does_it_in_a_real_browser() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no browser at {chromium}: install Debian's chromium (scripts/test does)"
    );
    let site = site().await;
    let tmp = tempfile::tempdir().unwrap();
    let out = std::env::var("FMN_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_owned());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let run = tokio::process::Command::new("node")
        .arg("browser.mjs")
        .arg(&site.base)
        .arg(&out)
        .env("CHROMIUM", &chromium)
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    assert!(
        run.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let ralph = site.store.user_prefs("ralph").await.unwrap().unwrap();
    let email = &ralph.channels[&fmn_core::ChannelKind::Email];
    let added = email
        .filters
        .iter()
        .find(|f| f.name == "emacs builds")
        .unwrap();
    assert!(!added.active, "turned off with the keyboard");
    assert_eq!(added.rules[0].args, json!({"package": "emacs"}));
    for shot in ["signed-out", "home", "new-filter", "home-after"] {
        assert!(out.join(format!("{shot}.png")).is_file(), "{shot}.png");
    }
}

/// Members of an admins' group (the provider's `groups` claim) may act for everyone; others
/// only for themselves.
#[tokio::test]
async fn the_admins_group_acts_for_everyone() {
    let site = site().await;
    let (ops, ralph) = (browser(), browser());
    sign_in(&site, &ops, "ops").await;
    sign_in(&site, &ralph, "ralph").await;
    assert_eq!(session(&site, &ops).await["admin"], true);
    assert_eq!(session(&site, &ralph).await["admin"], false);
    let bob = format!("{}/api/v1/users/bob/preferences", site.base);
    let r = ops.get(&bob).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = ralph.get(&bob).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
}
