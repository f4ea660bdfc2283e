//! "Why" and "why not" against what the pipeline did: 1,000 corpus messages through
//! `fmn run` on a real Redis (the consumer keeping the recent-message window, the senders the
//! delivery logs), then the web service over the same Redis asked, for every user of the test
//! set, which messages reach them (the dry run over the whole window), why a sample of
//! messages did not, and what was delivered. Every answer must be what the pipeline did.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fmn_core::ChannelKind;
use fmn_core::prefs::Preferences;
use fmn_host::{Explainer, LoadedModule, RuleSet, Sandbox, WasmModule};
use fmn_transport::redis::RedisOptions;
use fmn_transport::{ApiTokens, PrefsStore, RedisTransport};
use serde_json::{Value, json};

use crate::cli::{fmn, run, text};
use crate::pipeline::{corpus_messages, preferences};
use crate::support::RedisServer;
use crate::support::fixtures::BUNDLED;

/// (user, message id, channel, filter): one notification.
type Sent = BTreeSet<(String, String, ChannelKind, String)>;

/// Runs the messages through `fmn run` on `redis`, namespace `why`; what the senders wrote.
fn pipeline(redis: &RedisServer, messages: &[String], prefs: &Preferences) -> Sent {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("messages.jsonl"), messages.join("\n")).unwrap();
    let prefs_json = serde_json::to_string(prefs).unwrap();
    std::fs::write(dir.path().join("prefs.json"), prefs_json).unwrap();
    let out = run(fmn()
        .args([
            "run",
            "--messages",
            "messages.jsonl",
            "--prefs",
            "prefs.json",
        ])
        .args(["--redis", &redis.url(), "--namespace", "why"])
        .current_dir(dir.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut sent = Sent::new();
    for channel in ["email", "irc"] {
        let file = dir.path().join(format!("fmn-out/{channel}.jsonl"));
        for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
            let n: fmn_core::Notification = serde_json::from_str(line).unwrap();
            sent.insert((n.user, n.message.id, n.channel, n.filter));
        }
    }
    sent
}

fn bundled() -> Arc<RuleSet> {
    let sandbox = Sandbox::new(crate::support::generous_sandbox()).unwrap();
    let module = WasmModule::from_bytes(&sandbox, BUNDLED, "bundled").unwrap();
    Arc::new(RuleSet::new(1, vec![LoadedModule::wasm(module)]).unwrap())
}

/// The web service over namespace `why` of `redis`, and an admin token for it.
async fn service(redis: &RedisServer, prefs: &Preferences) -> (String, String) {
    let opts = RedisOptions {
        namespace: "why".into(),
        ..RedisOptions::default()
    };
    let store = RedisTransport::connect(&redis.url(), opts).await.unwrap();
    store.import_prefs(prefs).await.unwrap();
    let (token, record) = fmn_web::issue("ops", "why test", true);
    store.add_api_token(&record).await.unwrap();
    let app = fmn_web::router(store, bundled(), fmn_web::WebOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(fmn_web::serve(listener, app, stop));
    (base, token)
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// Every notification the dry run says `user`'s preferences make of the window, paging
/// through it 100 matches at a time.
async fn dry_run(http: &reqwest::Client, base: &str, token: &str, user: &str) -> Sent {
    let mut out = Sent::new();
    let mut before = Value::Null;
    loop {
        let url = format!("{base}/api/v1/users/{user}/matches");
        let page = post(http, url, token, json!({"before": before, "max": 100})).await;
        let matches = page["matches"].as_array().unwrap();
        for m in matches {
            for c in m["channels"].as_array().unwrap() {
                let channel: ChannelKind = serde_json::from_value(c[0].clone()).unwrap();
                let filter = c[1].as_str().unwrap().to_owned();
                out.insert((
                    user.into(),
                    m["id"].as_str().unwrap().into(),
                    channel,
                    filter,
                ));
            }
        }
        if matches.len() < 100 {
            return out;
        }
        before = page["next"].clone();
    }
}

/// Checks one "why" answer for a (user, message) pair against what was sent on each channel.
fn check_why(answer: &Value, sent_on: &BTreeMap<ChannelKind, String>) {
    for c in answer["channels"].as_array().unwrap() {
        let channel: ChannelKind = serde_json::from_value(c["channel"].clone()).unwrap();
        let notified = c["notified"].as_bool().unwrap();
        assert_eq!(notified, sent_on.contains_key(&channel), "{c}");
        if let Some(filter) = sent_on.get(&channel) {
            assert_eq!(c["filter"].as_str(), Some(filter.as_str()), "{c}");
            continue;
        }
        // Why not: every active filter of an enabled channel is stopped by a rule that
        // does not let it through.
        for f in c["filters"].as_array().unwrap() {
            if f["active"] == true && c["reason"] != "the channel is switched off" {
                assert_eq!(f["matched"], false, "{c}");
                let stop = f["stopped_by"].as_u64().expect("a rule that stops it") as usize;
                let rule = &f["rules"][stop];
                let passes = match rule["verdict"].as_str().unwrap() {
                    "matched" => rule["negated"] == false,
                    "did_not_match" => rule["negated"] == true,
                    _ => false,
                };
                assert!(!passes, "{f}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_and_the_dry_run_agree_with_what_the_pipeline_did() {
    let messages = corpus_messages(1000);
    let prefs = preferences(&messages);
    let redis = RedisServer::start();
    let sent = pipeline(&redis, &messages, &prefs);
    assert!(
        sent.len() > 300,
        "a test worth running: {} sent",
        sent.len()
    );
    let (base, token) = service(&redis, &prefs).await;
    let http = reqwest::Client::new();

    let mut answered = Sent::new();
    for user in prefs.users.keys() {
        answered.extend(dry_run(&http, &base, &token, user).await);
    }
    assert_eq!(
        answered, sent,
        "the dry run over the window is what was sent"
    );

    // Why (not), for a sample of (user, message) pairs of every user: 3 messages that
    // reached them and 5 that did not.
    let ids: Vec<String> = messages
        .iter()
        .map(|m| {
            fmn_core::Envelope::from_bus_json(m.as_bytes(), 1 << 20)
                .unwrap()
                .id
        })
        .collect();
    let mut asked = 0;
    for user in prefs.users.keys() {
        let on = |id: &str| -> BTreeMap<ChannelKind, String> {
            sent.iter()
                .filter(|(u, m, ..)| u == user && m == id)
                .map(|(_, _, c, f)| (*c, f.clone()))
                .collect()
        };
        let (reached, missed): (Vec<&String>, Vec<&String>) =
            ids.iter().partition(|id| !on(id).is_empty());
        for id in reached
            .iter()
            .take(3)
            .chain(missed.iter().step_by(97).take(5))
        {
            let url = format!("{base}/api/v1/users/{user}/why");
            let answer = post(&http, url, &token, json!({"message_id": id})).await;
            check_why(&answer, &on(id));
            asked += 1;
        }
    }
    assert!(asked > 200, "{asked} asked");

    // The delivery log of the user with the most notifications: one "sent" record each.
    let mut per_user: BTreeMap<&str, usize> = BTreeMap::new();
    for (u, ..) in &sent {
        *per_user.entry(u).or_default() += 1;
    }
    let (top, count) = per_user.iter().max_by_key(|(_, n)| **n).unwrap();
    let log: Value = http
        .get(format!("{base}/api/v1/users/{top}/deliveries?max=1000"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let records = log["deliveries"].as_array().unwrap();
    let sent_records = records.iter().filter(|r| r["outcome"] == "sent").count();
    assert_eq!(sent_records, *count, "{top}'s log");
}

/// The explainer's two evaluations (the plan as workers hold it, and the probes that name the
/// rules) agree on every (user, message) pair of the test set: a notified channel's filter
/// matches, and a channel not notified has no active filter that matches.
#[test]
fn the_probes_agree_with_the_plan_on_every_pair() {
    let messages = corpus_messages(1000);
    let prefs = preferences(&messages);
    let rules = bundled();
    let relations = Arc::new(fmn_core::Relations::default());
    let envelopes: Vec<fmn_core::Envelope> = messages
        .iter()
        .map(|m| fmn_core::Envelope::from_bus_json(m.as_bytes(), 1 << 20).unwrap())
        .collect();
    let mut pairs = 0;
    for (user, u) in &prefs.users {
        let mut e = Explainer::new(&rules, &relations, user, u).unwrap();
        for env in &envelopes {
            let x = e.explain(env.rules_json().as_bytes(), &env.topic);
            for c in &x.channels {
                let enabled = u.channels[&c.channel].enabled;
                let first = c.filters.iter().find(|f| f.active && f.matched);
                let expected = first.filter(|_| enabled).map(|f| f.name.as_str());
                assert_eq!(c.filter.as_deref(), expected, "{user} {}: {c:?}", env.id);
                for f in &c.filters {
                    assert_eq!(f.matched, f.rules.iter().all(|r| r.passes()), "{f:?}");
                    assert_eq!(f.matched, f.stopped_by.is_none(), "{f:?}");
                }
                pairs += 1;
            }
        }
    }
    assert!(pairs > 40_000, "{pairs} pairs");
}

/// A rule that fails is named as what stopped its filter, with its error, whether negated or
/// not; the user's other filters still decide.
#[test]
fn a_failing_rule_is_named_with_its_error() {
    let sandbox = Sandbox::new(crate::support::generous_sandbox()).unwrap();
    let modules = vec![
        LoadedModule::wasm(WasmModule::from_bytes(&sandbox, BUNDLED, "bundled").unwrap()),
        LoadedModule::wasm(
            WasmModule::from_bytes(&sandbox, crate::support::fixtures::HOSTILE, "hostile").unwrap(),
        ),
    ];
    let rules = Arc::new(RuleSet::new(1, modules).unwrap());
    let prefs = Preferences::from_text(
        "why.toml",
        r#"
[users.ralph.channels.email]
addresses = ["ralph@example.org"]
filters = [
  { name = "errs", rules = [{ rule = "hostile::ok" }, { rule = "hostile::errs" }] },
  { name = "not panics", rules = [{ rule = "hostile::panics", negated = true }] },
  { name = "tests", rules = [{ rule = "fedora::topic", args = { glob = "org.test.*" } }, { rule = "hostile::ok" }] },
]
"#,
        false,
    )
    .unwrap();
    let relations = Arc::new(fmn_core::Relations::default());
    let mut e = Explainer::new(&rules, &relations, "ralph", &prefs.users["ralph"]).unwrap();
    let env = fmn_core::Envelope::from_bus_json(
        br#"{"topic": "org.test.why", "msg_id": "w1", "msg": {}}"#,
        1 << 20,
    )
    .unwrap();
    let x = e.explain(env.rules_json().as_bytes(), &env.topic);
    let email = &x.channels[0];
    assert!(email.notified, "{email:?}");
    assert_eq!(email.filter.as_deref(), Some("tests"));
    let [errs, panics, tests] = &email.filters[..] else {
        panic!("{email:?}")
    };
    assert_eq!((errs.matched, errs.stopped_by), (false, Some(1)));
    assert_eq!(
        errs.rules[1].verdict,
        fmn_host::explain::RuleVerdict::Failed("this rule refuses every message".into())
    );
    assert_eq!((panics.matched, panics.stopped_by), (false, Some(0)));
    match &panics.rules[0].verdict {
        fmn_host::explain::RuleVerdict::Failed(e) => assert!(e.contains("panic"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(tests.matched && tests.rules.iter().all(|r| r.passes()));
}
