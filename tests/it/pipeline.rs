//! The whole pipeline on real parts: 1,000 corpus messages through a real `redis-server`, four
//! workers running the bundled wasm module, and a real SMTP server (aiosmtpd). What arrives
//! must be exactly what an independent evaluation predicts: the rules run natively one by one,
//! without the plan, its index or wasm.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use fmn_consumer::{ConsumerOptions, JsonLines, consume};
use fmn_core::prefs::Preferences;
use fmn_core::{ChannelKind, Envelope};
use fmn_host::{LoadedModule, Plan, RuleSet, Sandbox, WasmModule, WorkerOptions, run_worker};
use fmn_rules_sdk::Message;
use fmn_rules_sdk::testing::{keys, text};
use fmn_senders::{EmailConfig, EmailSender, FileSender, SenderOptions, run_sender};
use fmn_transport::Registry;
use tokio_util::sync::CancellationToken;

use crate::support::fixtures::BUNDLED;
use crate::support::{RedisServer, SmtpSink, fixture, wait_until};

/// 1,000 distinct real messages, both eras: the benchmark set and fedora-messaging bodies.
pub fn corpus_messages(n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    let bench = fixture("bench_messages.jsonl");
    let fm = fixture("fedora_messaging.jsonl");
    let fm_lines = fm.lines().map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        serde_json::json!({"topic": v["topic"], "body": v["body"]}).to_string()
    });
    for line in bench.lines().map(str::to_owned).chain(fm_lines) {
        let Ok(env) = Envelope::from_bus_json(line.as_bytes(), 1 << 20) else {
            continue;
        };
        if ids.insert(env.id) {
            out.push(line);
        }
        if out.len() == n {
            break;
        }
    }
    assert_eq!(out.len(), n, "the corpus has {n} distinct messages");
    out
}

/// Preferences for the people and packages the messages talk about most, with every feature
/// of the model: several filters per channel, AND, negation, topic globs, two channels, an
/// inactive filter and a disabled channel.
pub fn preferences(messages: &[String]) -> Preferences {
    let mut users: BTreeMap<String, usize> = BTreeMap::new();
    let mut packages: BTreeMap<String, usize> = BTreeMap::new();
    for m in messages {
        // Users are named by account; an email address names nobody a worker knows.
        for u in keys(&fmn_rules::MODULE, "usernames", m).unwrap() {
            if !u.contains('@') {
                *users.entry(u).or_default() += 1;
            }
        }
        for p in keys(&fmn_rules::MODULE, "packages", m).unwrap() {
            *packages.entry(p).or_default() += 1;
        }
    }
    let mut top_users: Vec<(String, usize)> = users.into_iter().collect();
    top_users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut top_packages: Vec<(String, usize)> = packages.into_iter().collect();
    top_packages.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let categories = ["bodhi", "buildsys", "pagure", "copr", "fas", "anitya"];
    let mut toml = String::new();
    for (i, (u, _)) in top_users.iter().take(40).enumerate() {
        let pkg = &top_packages[i % top_packages.len().min(15)].0;
        let cat = categories[i % categories.len()];
        toml.push_str(&format!(
            r#"
[users."{u}".channels.email]
addresses = ["{u}@example.org"]
filters = [
  {{ name = "about {u}", rules = [{{ rule = "fedora::user_filter", args = {{ fasnick = "{u}" }} }}] }},
  {{ name = "{pkg} outside {cat}", rules = [
      {{ rule = "fedora::package_filter", args = {{ package = "{pkg}" }} }},
      {{ rule = "fedora::category", args = {{ category = "{cat}" }}, negated = true }},
  ] }},
  {{ name = "never", active = false, rules = [{{ rule = "fedora::topic", args = {{ glob = "*" }} }}] }},
]
"#
        ));
        if i % 3 == 0 {
            toml.push_str(&format!(
                r#"
[users."{u}".channels.irc]
addresses = ["{u}"]
filters = [
  {{ name = "{cat} but not {u}", rules = [
      {{ rule = "fedora::topic", args = {{ glob = "*{cat}.*" }} }},
      {{ rule = "fedora::user_filter", args = {{ fasnick = "{u}" }}, negated = true }},
  ] }},
]
"#
            ));
        }
        if i % 5 == 1 {
            toml.push_str(&format!(
                "\n[users.\"{u}\".channels.push]\nenabled = false\naddresses = [\"token-{u}\"]\n\
                 filters = [{{ name = \"all\", rules = [{{ rule = \"fedora::topic\", args = {{ glob = \"*\" }} }}] }}]\n"
            ));
        }
    }
    Preferences::from_text("generated.toml", &toml, false).unwrap()
}

/// The independent prediction: (message id, user, channel) -> first matching filter's name.
/// Each rule's own function is called on the parsed message, as FMN would: no plan, no
/// index, no wasm.
pub fn predict(
    prefs: &Preferences,
    messages: &[String],
) -> BTreeMap<(String, String, ChannelKind), String> {
    let module = &fmn_rules::MODULE;
    let mut prepared: HashMap<(String, String), fmn_rules_sdk::Prepared> = HashMap::new();
    let mut out = BTreeMap::new();
    for m in messages {
        let env = Envelope::from_bus_json(m.as_bytes(), 1 << 20).unwrap();
        let json = env.rules_json();
        let msg = Message::parse(&json).unwrap();
        let mut rule = |name: &str, args: &serde_json::Value| -> bool {
            let def = module.rule(module.rule_index(name).unwrap()).unwrap();
            let p = prepared
                .entry((name.to_owned(), args.to_string()))
                .or_insert_with(|| (def.prepare)(args.to_string().as_bytes()).unwrap());
            (def.eval)(&msg, p.as_ref()).unwrap()
        };
        for (user, u) in &prefs.users {
            for (&kind, ch) in &u.channels {
                if !ch.enabled {
                    continue;
                }
                let hit = ch.filters.iter().filter(|f| f.active).find(|f| {
                    f.rules.iter().all(|r| {
                        let (_, name) = r.split().unwrap();
                        rule(name, &r.args) != r.negated
                    })
                });
                if let Some(f) = hit {
                    out.insert((env.id.clone(), user.clone(), kind), f.name.clone());
                }
            }
        }
    }
    out
}

/// The prediction by message id: the (user, channel) pairs each message must reach.
pub type PerMessage = BTreeMap<String, BTreeSet<(String, ChannelKind)>>;

/// [`predict`], grouped by message id.
pub fn predict_per_message(prefs: &Preferences, messages: &[String]) -> PerMessage {
    let mut out = PerMessage::new();
    for (id, user, channel) in predict(prefs, messages).into_keys() {
        out.entry(id).or_default().insert((user, channel));
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`), as lettre writes non-ASCII subjects.
fn decode_header(v: &str) -> String {
    let mut out = String::new();
    // Whitespace between two encoded words is dropped; anywhere else it is kept.
    let mut last_encoded = false;
    for (i, word) in v.split_whitespace().enumerate() {
        let encoded = word.to_ascii_lowercase().starts_with("=?utf-8?b?") && word.ends_with("?=");
        if i > 0 && !(encoded && last_encoded) {
            out.push(' ');
        }
        if encoded {
            out.push_str(&String::from_utf8(base64(&word[10..word.len() - 2])).unwrap());
        } else {
            out.push_str(word);
        }
        last_encoded = encoded;
    }
    out
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(val).collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &v)| acc | (v as u32) << (18 - 6 * i));
        let take = chunk.len() * 6 / 8;
        out.extend(n.to_be_bytes()[1..1 + take].iter());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_corpus_messages_through_redis_four_workers_and_smtp() {
    let messages = corpus_messages(1000);
    let prefs = preferences(&messages);
    let expected = predict(&prefs, &messages);
    let by_channel = |c: ChannelKind| expected.keys().filter(|k| k.2 == c).count();
    assert!(
        by_channel(ChannelKind::Email) > 300,
        "a test worth running: {} emails",
        by_channel(ChannelKind::Email)
    );
    assert!(
        by_channel(ChannelKind::Irc) > 20,
        "{} irc",
        by_channel(ChannelKind::Irc)
    );

    let redis = RedisServer::start();
    let smtp = SmtpSink::start();
    let out_dir = tempfile::tempdir().unwrap();
    let irc_file = out_dir.path().join("irc.jsonl");

    let sandbox = Sandbox::new(crate::support::generous_sandbox()).unwrap();
    let module = WasmModule::from_bytes(&sandbox, BUNDLED, "bundled").unwrap();
    let ruleset = Arc::new(RuleSet::new(7, vec![LoadedModule::wasm(module)]).unwrap());
    let plan = Arc::new(Plan::build(&ruleset, &prefs).unwrap());
    let transport = redis.transport().await;

    let stop = CancellationToken::new();
    let snapshot = fmn_host::worker::shared(ruleset, plan, Default::default());
    let mut tasks = Vec::new();
    for i in 0..4 {
        let opts = WorkerOptions::new(format!("w{i}"));
        let t = tokio::spawn(run_worker(
            transport.clone(),
            snapshot.clone(),
            opts,
            stop.clone(),
        ));
        tasks.push(tokio::spawn(async move {
            t.await.unwrap();
        }));
    }
    let email = EmailSender::new(&EmailConfig {
        host: "127.0.0.1".into(),
        port: smtp.port,
        tls: Default::default(),
        username: None,
        password: None,
        ca_file: None,
        from: "Fedora Notifications <notifications@example.org>".into(),
        timeout_secs: 10,
        preferences_url: Some("https://notifications.example.org/".into()),
        why_url: None,
        list_id: None,
        unsubscribe_url: Some(
            "https://notifications.example.org/unsubscribe?u={user}&f={filter}&t={token}".into(),
        ),
        unsubscribe_secret: Some("s3cret".into()),
    })
    .unwrap();
    let s1 = tokio::spawn(run_sender(
        transport.clone(),
        email,
        SenderOptions::new(ChannelKind::Email, "email-1"),
        stop.clone(),
    ));
    let s2 = tokio::spawn(run_sender(
        transport.clone(),
        FileSender::new(&irc_file),
        SenderOptions::new(ChannelKind::Irc, "irc-1"),
        stop.clone(),
    ));

    let input = messages.join("\n");
    let mut source = JsonLines::new(input.as_bytes(), "corpus");
    let report = consume(
        &transport,
        &mut source,
        &ConsumerOptions::default(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.read, report.dispatched, report.dead_lettered),
        (1000, 1000, 0)
    );

    let want_mails = by_channel(ChannelKind::Email);
    let want_irc = by_channel(ChannelKind::Irc);
    let irc_lines = || {
        std::fs::read_to_string(&irc_file)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    wait_until(
        Duration::from_secs(120),
        "every notification delivered",
        async || {
            let drained = transport
                .queue_depths()
                .await
                .unwrap()
                .iter()
                .all(|q| q.waiting == 0);
            drained && smtp.mails().len() >= want_mails && irc_lines() >= want_irc
        },
    )
    .await;
    // Anything sent twice would arrive now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    let (r1, r2) = (s1.await.unwrap(), s2.await.unwrap());
    assert_eq!(r1.dead_lettered + r2.dead_lettered, 0);

    // Every worker took part, and the shares add up.
    let counts = transport.worker_counts().await.unwrap();
    assert_eq!(counts.len(), 4);
    assert!(
        counts
            .iter()
            .all(|c| c.received > 150 && c.received == c.processed),
        "{counts:?}"
    );
    assert_eq!(counts.iter().map(|c| c.received).sum::<u64>(), 1000);

    // Emails: exactly the predicted ones, each once, to the right address, with a subject
    // built from the message.
    let by_delivery: HashMap<String, (&(String, String, ChannelKind), &String)> = expected
        .iter()
        .map(|(k, f)| (fmn_core::delivery_id(&k.0, &k.1, k.2), (k, f)))
        .collect();
    let envelopes: HashMap<String, (String, String)> = messages
        .iter()
        .map(|m| {
            let env = Envelope::from_bus_json(m.as_bytes(), 1 << 20).unwrap();
            (
                env.id,
                (
                    env.topic,
                    text(&fmn_rules::MODULE, "summary", m).unwrap().unwrap(),
                ),
            )
        })
        .collect();
    let mails = smtp.mails();
    let mut got_email = BTreeSet::new();
    for mail in &mails {
        let mid = mail.header("Message-ID").expect("a Message-ID");
        let delivery = mid
            .trim_start_matches('<')
            .split('.')
            .next()
            .unwrap()
            .to_owned();
        let (key, filter) = by_delivery
            .get(&delivery)
            .unwrap_or_else(|| panic!("unexpected mail {mid}"));
        assert_eq!(key.2, ChannelKind::Email);
        assert_eq!(mail.rcpt_tos, [format!("{}@example.org", key.1)]);
        assert_eq!(mail.mail_from, "notifications@example.org");
        let (topic, summary) = &envelopes[&key.0];
        // The subject is the summary on one line, cut to the subject's length (header folding
        // may turn any run of spaces into one, so runs compare as one space).
        let subject = fmn_senders::plain::cut_chars(
            &fmn_senders::plain::one_line(summary),
            fmn_senders::email::MAX_SUBJECT_CHARS,
        );
        assert_eq!(decode_header(&mail.header("Subject").unwrap()), subject);
        let body = mail.body();
        assert!(body.starts_with(summary.as_str()), "{body}");
        assert!(
            body.contains(&format!("your filter \"{filter}\" matched")),
            "{body}"
        );
        assert_eq!(mail.header("X-Fedmsg-Topic").as_ref(), Some(topic));
        assert_eq!(
            mail.header("List-Id").as_deref(),
            Some("<notifications.example.org>")
        );
        assert_eq!(
            mail.header("List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        assert_eq!(
            mail.header("List-Unsubscribe"),
            Some(format!(
                "<https://notifications.example.org/unsubscribe?u={}&f={}&t={}>",
                key.1,
                percent(filter),
                unsubscribe_token("s3cret", &key.1, filter)
            ))
        );
        assert!(
            got_email.insert((*key).clone()),
            "a duplicate mail for {key:?}"
        );
    }
    let want_email: BTreeSet<_> = expected
        .keys()
        .filter(|k| k.2 == ChannelKind::Email)
        .cloned()
        .collect();
    assert_eq!(got_email, want_email);

    // IRC (file sender): exactly the predicted ones, each once, with the filter that matched.
    let mut got_irc = BTreeMap::new();
    for line in std::fs::read_to_string(&irc_file).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            v["message"]["id"].as_str().unwrap().to_owned(),
            v["user"].as_str().unwrap().to_owned(),
            ChannelKind::Irc,
        );
        assert_eq!(v["generation"], 7);
        assert!(
            got_irc
                .insert(key, v["filter"].as_str().unwrap().to_owned())
                .is_none(),
            "duplicate irc line"
        );
    }
    let want_irc: BTreeMap<_, _> = expected
        .into_iter()
        .filter(|(k, _)| k.2 == ChannelKind::Irc)
        .collect();
    assert_eq!(got_irc, want_irc);
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// HMAC-SHA256 (RFC 2104) of user, channel and filter, computed here from its definition so
/// the sender's token is checked against an independent implementation.
fn unsubscribe_token(key: &str, user: &str, filter: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key.as_bytes());
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(format!("{user}\nemail\n{filter}"))
        .finalize();
    hex::encode(
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize(),
    )
}
