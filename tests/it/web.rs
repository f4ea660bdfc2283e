//! `fmn serve` in a deployment: a mail's one-click unsubscribe (RFC 8058) reaches the service,
//! switches the filter off in Redis, and the workers follow: the next matching message brings
//! that user nothing, while others are notified as before. Then the user turns the filter on
//! again through the JSON API, with a token from `fmn tokens create`.

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use fmn_core::ChannelKind;
use fmn_transport::{PrefsStore, Registry};

use crate::cli::{configured, run, spawn, terminate, text};
use crate::irc::{IrcServer, Reader};
use crate::reload::processed;
use crate::support::{Mail, RedisServer, SmtpSink, free_port, wait_until};

/// Alice and bob both want every `org.test.*` message by email.
const PREFS: &str = r#"
[users.alice.channels.email]
addresses = ["alice@example.org"]
filters = [{ name = "tests & more", rules = [{ rule = "fedora::topic", args = { glob = "org.test.*" } }] }]

[users.bob.channels.email]
addresses = ["bob@example.org"]
filters = [{ name = "tests", rules = [{ rule = "fedora::topic", args = { glob = "org.test.*" } }] }]
"#;

fn message(id: &str) -> String {
    format!(
        r#"{{"topic": "org.test.web", "msg_id": "{id}", "timestamp": 1700000000, "msg": {{}}}}"#
    )
}

/// The mails to `to` about message `id`.
fn mails_about(smtp: &SmtpSink, to: &str, id: &str) -> Vec<Mail> {
    smtp.mails()
        .into_iter()
        .filter(|m| m.rcpt_tos.iter().any(|r| r == to))
        .filter(|m| m.body().contains(id))
        .collect()
}

/// What `url` answers `token`'s GET, as JSON.
async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let r = client.get(url).bearer_auth(token).send().await.unwrap();
    r.json().await.unwrap()
}

/// Replaces the preferences `read` from `url` by `prefs`, naming `read`'s version: stored.
async fn put_prefs(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    read: &serde_json::Value,
    prefs: serde_json::Value,
) {
    let change = serde_json::json!({"version": read["version"], "preferences": prefs});
    let r = client
        .put(url)
        .bearer_auth(token)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
}

/// Waits until both addresses were mailed about message `id`.
async fn mailed_to_both(smtp: &SmtpSink, to: [&str; 2], id: &str) {
    wait_until(
        Duration::from_secs(120),
        &format!("{id} mailed to {to:?}"),
        async || to.iter().all(|a| !mails_about(smtp, a, id).is_empty()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mails_one_click_unsubscribe_stops_that_users_notifications() {
    let redis = RedisServer::start();
    let smtp = SmtpSink::start();
    let web = free_port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = format!("http://127.0.0.1:{web}");
    let with = configured(
        d,
        &format!(
            "{}[web]
listen = \"127.0.0.1:{web}\"
",
            deployment_config(&redis, &smtp, Some(&base))
        ),
    );
    std::fs::write(d.join("prefs.toml"), PREFS).unwrap();
    let out = run(&mut with(&["prefs", "import", "prefs.toml"]));
    assert!(out.status.success(), "{}", text(&out.stderr));

    let transport = redis.transport().await;
    let worker = spawn(&mut with(&["worker"]));
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    let serve = spawn(with(&["serve"]).env("FMN_LOG", "fmn_web=info"));
    wait_until(Duration::from_secs(60), "a live worker", async || {
        transport.live_workers().await.unwrap().len() == 1
    })
    .await;
    wait_until(Duration::from_secs(60), "the web service", async || {
        reqwest::get(format!("http://127.0.0.1:{web}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let mut consumer = with(&["consume", "--messages", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = consumer.stdin.take().unwrap();
    let mut send = |id: &str| {
        writeln!(stdin, "{}", message(id)).unwrap();
        stdin.flush().unwrap();
    };

    send("web-msg-1");
    mailed_to_both(&smtp, ["alice@example.org", "bob@example.org"], "web-msg-1").await;
    let mail = mails_about(&smtp, "alice@example.org", "web-msg-1").remove(0);
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let header = mail.header("List-Unsubscribe").unwrap();
    let link = header.trim_start_matches('<').trim_end_matches('>');
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{web}/unsubscribe?")),
        "{link}"
    );

    // What a mail client does on "unsubscribe": RFC 8058's POST.
    let r = reqwest::Client::new()
        .post(link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    let status = r.status();
    let page = r.text().await.unwrap();
    assert_eq!(status.as_u16(), 200, "{page}");
    assert!(page.contains("tests &#38; more"), "{page}");

    // The change is stored before the answer: the second message, dispatched after it, is
    // evaluated with it.
    send("web-msg-2");
    wait_until(
        Duration::from_secs(120),
        "the second message mailed to bob",
        async || !mails_about(&smtp, "bob@example.org", "web-msg-2").is_empty(),
    )
    .await;
    wait_until(
        Duration::from_secs(60),
        "the second message processed",
        async || processed(&transport).await >= 2,
    )
    .await;

    // Through the API, with a token the operator made, alice turns the filter on again: the
    // next message reaches her.
    let out = run(&mut with(&["tokens", "create", "alice", "--label", "test"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    let api = format!("http://127.0.0.1:{web}/api/v1/users/alice/preferences");
    let client = reqwest::Client::new();
    let read: serde_json::Value = get_json(&client, &api, &token).await;
    let mut prefs = read["preferences"].clone();
    assert_eq!(
        prefs["channels"]["email"]["filters"][0]["active"], false,
        "{read}"
    );
    prefs["channels"]["email"]["filters"][0]["active"] = true.into();
    put_prefs(&client, &api, &token, &read, prefs).await;
    send("web-msg-3");
    wait_until(
        Duration::from_secs(120),
        "the third message mailed to alice",
        async || !mails_about(&smtp, "alice@example.org", "web-msg-3").is_empty(),
    )
    .await;
    drop(stdin);
    let _ = consumer.wait();
    let out = terminate(sender);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = terminate(serve);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("unsubscribed by link"),
        "{}",
        text(&out.stderr)
    );
    terminate(worker);
}

/// The test OpenID provider (npm's oidc-provider, `web/tests/node`), killed when dropped.
struct Provider(std::process::Child);

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn provider(port: u16, redirect: &str) -> Provider {
    let dir = crate::support::root().join("web/tests/node");
    let mut child = std::process::Command::new("node")
        .args(["provider.mjs", &port.to_string(), redirect])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs the test OpenID provider (scripts/test installs it)");
    crate::support::wait_for_port(port, "the OpenID provider", &mut child);
    Provider(child)
}

/// The `action` of the page's first form, and the value of its hidden `csrf` field.
fn form(page: &str) -> (String, Option<String>) {
    let at = page.find("<form").expect("a form");
    let rest = &page[at..];
    let attr = |name: &str| {
        let key = format!("{name}=\"");
        rest.find(&key).map(|i| {
            let v = &rest[i + key.len()..];
            v[..v.find('"').unwrap()].replace("&amp;", "&")
        })
    };
    let csrf = rest
        .find("name=\"csrf\" value=\"")
        .map(|i| rest[i + 19..i + 19 + 64].to_owned());
    (attr("action").unwrap_or_default(), csrf)
}

/// A deployment on `redis` whose workers follow the preferences stored there and whose email
/// sender mails through `smtp`; `unsubscribe` adds the one-click unsubscribe links (and the
/// why links) to the service at `base`.
fn deployment_config(redis: &RedisServer, smtp: &SmtpSink, unsubscribe: Option<&str>) -> String {
    let links = unsubscribe.map_or_else(String::new, |base| {
        format!(
            "unsubscribe_url = \"{base}/unsubscribe?u={{user}}&f={{filter}}&t={{token}}\"\n\
             unsubscribe_secret = \"s3cret\"\nwhy_url = \"{base}/why?id={{id}}\"\n"
        )
    });
    format!(
        "[redis]\nurl = \"{}\"\n\n[worker]\nprefs_from = \"redis\"\nreload_ms = 1000\n\
         timeout_ms = 5000\n\n[senders.email]\nbackend = \"smtp\"\nhost = \"127.0.0.1\"\n\
         port = {}\nfrom = \"fmn <fmn@example.org>\"\n{links}\n",
        redis.url(),
        smtp.port
    )
}

/// `[web]` for `fmn serve` on loopback port `web`, signing in at the provider on port `op`.
fn web_config(web: u16, op: u16) -> String {
    format!(
        "[web]\nlisten = \"127.0.0.1:{web}\"\nsession_secret = \"test\"\n\n[web.oidc]\n\
         issuer = \"http://127.0.0.1:{op}\"\nclient_id = \"fmn\"\nclient_secret = \"fmn-test-secret\"\n\
         public_url = \"http://127.0.0.1:{web}\"\n"
    )
}

/// Starts `fmn serve` (logging what the web service does) and waits until it answers at
/// `base`.
async fn serve(cmd: &mut std::process::Command, base: &str) -> std::process::Child {
    let child = spawn(cmd.env("FMN_LOG", "fmn_web=info"));
    wait_until(Duration::from_secs(60), "the web service", async || {
        reqwest::get(format!("{base}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    child
}

/// Signs `login` in on the provider's pages, as a person would: the browser (with the
/// session's cookie) and the CSRF token of the home page's address form.
async fn sign_in(base: &str, login: &str) -> (reqwest::Client, String) {
    let b = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = b.get(format!("{base}/login")).send().await.unwrap();
    let url = r.url().clone();
    let (action, _) = form(&r.text().await.unwrap());
    let fields = [("prompt", "login"), ("login", login), ("password", "x")];
    let r = b
        .post(url.join(&action).unwrap())
        .form(&fields)
        .send()
        .await
        .unwrap();
    let url = r.url().clone();
    let (action, _) = form(&r.text().await.unwrap());
    let r = b
        .post(url.join(&action).unwrap())
        .form(&[("prompt", "consent")])
        .send()
        .await
        .unwrap();
    let home = r.text().await.unwrap();
    assert!(
        home.contains(&format!("Your notifications, {login}")),
        "{home}"
    );
    let add_form = &home[home.find("action=\"/addresses\"").unwrap() - 40..];
    let csrf = form(add_form).1.unwrap();
    (b, csrf)
}

/// Someone signs in through the provider, adds an address that is not their account's: it
/// gets only a verification link until they follow it; then a filter added on the page
/// brings them a notification for a matching message. The account's own address (vouched
/// for by the provider) is added at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_is_verified_before_anything_is_sent_to_it() {
    let redis = RedisServer::start();
    let smtp = SmtpSink::start();
    let (web, op) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{web}");
    let _provider = provider(op, &format!("{base}/oidc/callback"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = configured(
        d,
        &format!(
            "{}{}",
            deployment_config(&redis, &smtp, None),
            web_config(web, op)
        ),
    );
    let transport = redis.transport().await;
    let serve = serve(&mut with(&["serve"]), &base).await;

    let (b, csrf) = sign_in(&base, "alice").await;

    // Another address: a link goes there, and nothing is stored yet.
    let r = b
        .post(format!("{base}/addresses"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("address", "alice-work@example.org"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("Check your mail"));
    assert_eq!(transport.user_prefs("alice").await.unwrap(), None);
    wait_until(
        Duration::from_secs(60),
        "the verification mail",
        async || {
            smtp.mails()
                .iter()
                .any(|m| m.rcpt_tos == ["alice-work@example.org"])
        },
    )
    .await;
    let mail = smtp.mails().remove(0);
    let body = mail.body();
    let link = body
        .lines()
        .find(|l| l.starts_with(&format!("{base}/verify?")))
        .unwrap_or_else(|| panic!("a link in {body}"))
        .trim()
        .to_owned();

    // A forged link (another address, same token) is refused; the real one asks, then adds.
    let forged = link.replace("alice-work%40example.org", "mallory%40example.org");
    let r = b.post(&forged).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = b.get(&link).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("Confirm the address"));
    assert_eq!(
        transport.user_prefs("alice").await.unwrap(),
        None,
        "a GET adds nothing"
    );
    let r = b.post(&link).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let alice = transport.user_prefs("alice").await.unwrap().unwrap();
    assert_eq!(
        alice.channels[&ChannelKind::Email].addresses,
        ["alice-work@example.org"]
    );

    // The account's own address needs no link.
    let mails = smtp.mails().len();
    let r = b
        .post(format!("{base}/addresses"))
        .form(&[("csrf", csrf.as_str()), ("address", "alice@example.org")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let alice = transport.user_prefs("alice").await.unwrap().unwrap();
    assert_eq!(
        alice.channels[&ChannelKind::Email].addresses,
        ["alice-work@example.org", "alice@example.org"]
    );
    assert_eq!(
        smtp.mails().len(),
        mails,
        "no link for the account's own address"
    );

    // A filter from the page, then a matching message reaches both addresses.
    let r = b
        .post(format!("{base}/change"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "add_filter"),
            ("channel", "email"),
            ("rule", "fedora::topic"),
            ("name", "tests"),
            ("arg.glob", "org.test.*"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let worker = spawn(&mut with(&["worker"]));
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    let messages = d.join("m.jsonl");
    std::fs::write(&messages, format!("{}\n", message("web-msg-v"))).unwrap();
    let out = run(&mut with(&[
        "consume",
        "--messages",
        messages.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    mailed_to_both(
        &smtp,
        ["alice-work@example.org", "alice@example.org"],
        "web-msg-v",
    )
    .await;
    terminate(sender);
    terminate(worker);
    let out = terminate(serve);
    assert!(
        text(&out.stderr).contains("address verified"),
        "{}",
        text(&out.stderr)
    );
}

/// Someone signs in as alice and adds `address` on `channel`, whose sender `sender_toml`
/// configures: the running sender (`fmn send`), not the web service, brings the address its
/// code (`received` says what the address got); a wrong code is refused, and the code the
/// address received, typed into the page's form, adds it to alice's preferences. The code is
/// all the address receives.
async fn verified_with_the_bots_code(
    channel: ChannelKind,
    address: &str,
    sender_toml: &str,
    received: impl Fn() -> Vec<String>,
) {
    let redis = RedisServer::start();
    let (web, op) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{web}");
    let _provider = provider(op, &format!("{base}/oidc/callback"));
    let dir = tempfile::tempdir().unwrap();
    let with = configured(
        dir.path(),
        &format!(
            "[redis]\nurl = \"{}\"\n\n{sender_toml}\n{}",
            redis.url(),
            web_config(web, op)
        ),
    );
    let transport = redis.transport().await;
    let sender = spawn(&mut with(&["send", "--channel", channel.as_str()]));
    let serve = serve(&mut with(&["serve"]), &base).await;
    let (b, csrf) = sign_in(&base, "alice").await;

    let r = b
        .post(format!("{base}/addresses"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("channel", channel.as_str()),
            ("address", address),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Type the code"), "{page}");
    assert_eq!(transport.user_prefs("alice").await.unwrap(), None);
    const SAID: &str = "Your Fedora Notifications code is ";
    wait_until(Duration::from_secs(60), "the code", async || {
        received().iter().any(|t| t.starts_with(SAID))
    })
    .await;
    let texts = received();
    let line = texts.iter().find(|t| t.starts_with(SAID)).unwrap();
    let code = line[SAID.len()..SAID.len() + 8].to_owned();

    // The page's form, as the browser sends it back, with the code typed.
    let expires = {
        let key = r#"name="expires" value=""#;
        let at = page.find(key).unwrap() + key.len();
        page[at..at + page[at..].find('"').unwrap()].to_owned()
    };
    let confirm = async |code: &str| {
        let fields = [
            ("csrf", csrf.as_str()),
            ("channel", channel.as_str()),
            ("address", address),
            ("expires", expires.as_str()),
            ("code", code),
        ];
        let r = b
            .post(format!("{base}/addresses/code"))
            .form(&fields)
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    };
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    assert_eq!(confirm(wrong).await, 403);
    assert_eq!(transport.user_prefs("alice").await.unwrap(), None);
    assert_eq!(confirm(&code).await, 200);
    let alice = transport.user_prefs("alice").await.unwrap().unwrap();
    assert_eq!(alice.channels[&channel].addresses, [address]);
    assert_eq!(received().len(), 1, "only the code: {:?}", received());
    terminate(sender);
    let out = terminate(serve);
    let said = text(&out.stderr);
    assert!(said.contains("verification code queued"), "{said}");
    assert!(said.contains("address verified"), "{said}");
}

/// An IRC nick gets its code from the IRC sender on a real ngircd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irc_nick_is_verified_with_the_code_the_bot_sends() {
    let irc = IrcServer::start();
    let reader = Reader::start(irc.port, "alice_irc");
    reader.wait_online().await;
    let sender = format!(
        "[senders.irc]\nbackend = \"irc\"\nserver = \"127.0.0.1\"\nport = {}\n\
         nickname = \"fmn-bot\"\ntimeout_secs = 5\n",
        irc.port
    );
    verified_with_the_bots_code(ChannelKind::Irc, "alice_irc", &sender, || reader.texts()).await;
}

/// A Matrix id gets its code from the Matrix sender, in a direct chat on the stand-in
/// homeserver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_id_is_verified_with_the_code_the_bot_sends() {
    let (port, hs) = crate::matrix::homeserver();
    let notices = || {
        let s = hs.lock().unwrap();
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        s.events.iter().map(|(_, body)| body.clone()).collect()
    };
    let sender = crate::matrix::matrix_sender(port);
    verified_with_the_bots_code(ChannelKind::Matrix, "@alice:fmn.test", &sender, notices).await;
    let s = hs.lock().unwrap();
    assert_eq!(
        s.rooms_created[0]["invite"],
        serde_json::json!(["@alice:fmn.test"])
    );
    assert!(
        s.events.iter().all(|(room, _)| room == "!dm1:fmn.test"),
        "{:?}",
        s.events
    );
}

/// With no Redis configured, `fmn serve` runs embedded: the example preferences in memory,
/// and an admin token for the run printed, with which the API reads and changes them.
#[tokio::test]
async fn fmn_serve_runs_embedded_without_redis() {
    use std::io::BufRead as _;
    let web = free_port();
    let dir = tempfile::tempdir().unwrap();
    let with = configured(
        dir.path(),
        &format!("[web]\nlisten = \"127.0.0.1:{web}\"\n"),
    );
    let mut serve = with(&["serve"])
        .env_remove("FMN__REDIS__URL")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(serve.stderr.take().unwrap());
    // Read on a thread that keeps reading: a closed pipe would fail the service's next line.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        const SAID: &str = "an admin token for this run: ";
        for line in stderr.lines().map_while(Result::ok) {
            if let Some((_, t)) = line.split_once(SAID) {
                let _ = tx.send(t.trim().to_owned());
            }
        }
    });
    let token = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the admin token is printed");
    wait_until(Duration::from_secs(60), "the web service", async || {
        reqwest::get(format!("http://127.0.0.1:{web}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let url = format!("http://127.0.0.1:{web}/api/v1/users/ralph/preferences");
    let client = reqwest::Client::new();
    let read: serde_json::Value = get_json(&client, &url, &token).await;
    let mut prefs = read["preferences"].clone();
    assert!(prefs["channels"]["email"]["filters"].is_array(), "{read}");
    prefs["channels"]["email"]["enabled"] = false.into();
    put_prefs(&client, &url, &token, &read, prefs).await;
    let again: serde_json::Value = get_json(&client, &url, &token).await;
    assert_eq!(again["preferences"]["channels"]["email"]["enabled"], false);
    let _ = serve.kill();
    let _ = serve.wait();
}

/// The line of `body` that starts with `prefix`: a link in a mail.
fn link_in(body: &str, prefix: &str) -> String {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("a link starting {prefix} in {body}"))
        .trim()
        .to_owned()
}

/// The journey in a real browser (Debian's chromium, driven by playwright-core from
/// `web/tests/node/journey.mjs`), against `fmn serve`, a worker and the email sender on
/// Redis, an SMTP sink and the test OpenID provider: sign in on the provider's pages, add an
/// address and confirm it through the link the SMTP sink received, add a filter from the
/// catalogue, get a notification for a matching message fed to the consumer (the page's log
/// shows it, its why page says which filter), then follow the mail's unsubscribe link and
/// get nothing more. Screenshots go to `FMN_SCREENSHOTS` when set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_does_it_all_in_a_real_browser() {
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no browser at {chromium}: install Debian's chromium (scripts/test does)"
    );
    let redis = RedisServer::start();
    let smtp = SmtpSink::start();
    let (web, op) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{web}");
    let _provider = provider(op, &format!("{base}/oidc/callback"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = configured(
        d,
        &format!(
            "{}{}",
            deployment_config(&redis, &smtp, Some(&base)),
            web_config(web, op)
        ),
    );
    let transport = redis.transport().await;
    let serve = serve(&mut with(&["serve"]), &base).await;
    let worker = spawn(&mut with(&["worker"]));
    let sender = spawn(&mut with(&["send", "--channel", "email"]));
    wait_until(Duration::from_secs(60), "a live worker", async || {
        transport.live_workers().await.unwrap().len() == 1
    })
    .await;

    let tmp = tempfile::tempdir().unwrap();
    let out = std::env::var("FMN_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| tmp.path().to_owned());
    let mut browser = tokio::process::Command::new("node")
        .arg("journey.mjs")
        .arg(&base)
        .arg(&out)
        .env("CHROMIUM", &chromium)
        .current_dir(crate::support::root().join("web/tests/node"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs web/tests/node/journey.mjs (scripts/test installs it)");
    let mut to_browser = browser.stdin.take().unwrap();
    let mut from_browser = tokio::io::BufReader::new(browser.stdout.take().unwrap()).lines();
    let mut consumer = with(&["consume", "--messages", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut feed = consumer.stdin.take().unwrap();
    let mut fed = 0;
    let to = "carol-work@example.org";
    // Each step of the browser takes seconds; a browser that says nothing for minutes is stuck.
    let said = async |lines: &mut tokio::io::Lines<_>| {
        tokio::time::timeout(Duration::from_secs(300), lines.next_line())
            .await
            .expect("the browser says its next step within 5 minutes")
            .unwrap()
    };
    while let Some(line) = said(&mut from_browser).await {
        let answer = match line.as_str() {
            "NEED verify-link" => {
                wait_until(
                    Duration::from_secs(60),
                    "the verification mail",
                    async || smtp.mails().iter().any(|m| m.rcpt_tos == [to]),
                )
                .await;
                let mail = smtp.mails().into_iter().find(|m| m.rcpt_tos == [to]);
                link_in(&mail.unwrap().body(), &format!("{base}/verify?"))
            }
            "NEED unsubscribe-link" => {
                writeln!(feed, "{}", message("web-journey-1")).unwrap();
                feed.flush().unwrap();
                fed += 1;
                wait_until(
                    Duration::from_secs(120),
                    "the notification mail",
                    async || !mails_about(&smtp, to, "web-journey-1").is_empty(),
                )
                .await;
                let mail = mails_about(&smtp, to, "web-journey-1").remove(0);
                let why =
                    format!("Why you got this, filter by filter: {base}/why?id=web-journey-1");
                assert!(mail.body().contains(&why), "{}", mail.body());
                let header = mail.header("List-Unsubscribe").unwrap();
                header
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            }
            "DONE" => break,
            other => panic!("the browser said {other:?}"),
        };
        to_browser
            .write_all(format!("{answer}\n").as_bytes())
            .await
            .unwrap();
    }
    let run = browser.wait_with_output().await.unwrap();
    let said = String::from_utf8_lossy(&run.stderr);
    // Every page of the journey passed axe-core's WCAG 2.1 A and AA checks.
    assert!(said.contains("audited: signed out, check your mail, confirm the address, address confirmed, type the code, add a filter, home with the delivery log, why, unsubscribe, unsubscribed"), "{said}");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let carol = transport.user_prefs("carol").await.unwrap().unwrap();
    let email = &carol.channels[&ChannelKind::Email];
    assert_eq!(email.addresses, [to]);
    assert!(
        !carol.channels.contains_key(&ChannelKind::Irc),
        "a nick whose code was never typed is not added"
    );
    assert!(!email.filters[0].active, "unsubscribed");

    // Nothing more: a matching message after the unsubscribe is evaluated and not mailed.
    writeln!(feed, "{}", message("web-journey-2")).unwrap();
    feed.flush().unwrap();
    fed += 1;
    wait_until(
        Duration::from_secs(60),
        "the second message processed",
        async || processed(&transport).await >= fed,
    )
    .await;
    drop(feed);
    let _ = consumer.wait();
    terminate(sender);
    terminate(worker);
    terminate(serve);
    // The worker made no notification of it (the one it made is the first message's), so
    // none can still be on its way.
    let counts = transport.worker_counts().await.unwrap();
    assert_eq!(counts.iter().map(|c| c.notifications).sum::<u64>(), 1);
    assert!(mails_about(&smtp, to, "web-journey-2").is_empty());
    assert_eq!(
        smtp.mails().iter().filter(|m| m.rcpt_tos == [to]).count(),
        2
    );
    for shot in ["home-delivered", "why", "unsubscribe"] {
        assert!(out.join(format!("{shot}.png")).is_file(), "{shot}.png");
    }
}
