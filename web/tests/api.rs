//! The JSON API over a real HTTP connection, on preferences held in memory and the bundled
//! rules: who may read and change what, the checks a change goes through, concurrent edits,
//! malformed bodies, and tokens made and revoked.

use std::sync::Arc;
use std::time::Duration;

use fmn_core::prefs::{MAX_RULES_PER_USER, Preferences};
use fmn_host::{LoadedModule, RuleSet};
use fmn_transport::{ApiTokens, MemoryTransport, PrefsStore};
use reqwest::{Client, Method};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const PREFS: &str = r#"
[users.ralph.channels.email]
addresses = ["ralph@example.org"]
filters = [{ name = "vim", rules = [{ rule = "fedora::package_filter", args = { package = "vim" } }] }]

[users.bob.channels.irc]
addresses = ["bob"]
filters = [{ name = "secret", rules = [{ rule = "fedora::package_filter", args = { package = "bobs-secret" } }] }]
"#;

struct Api {
    store: MemoryTransport,
    base: String,
    stop: CancellationToken,
    client: Client,
}

impl Api {
    async fn start() -> Api {
        let store = MemoryTransport::new(Duration::from_secs(10));
        let prefs = Preferences::parse_text("p.toml", PREFS, false).unwrap();
        for (name, user) in &prefs.users {
            store.set_user_prefs(name, Some(user), None).await.unwrap();
        }
        let rules =
            Arc::new(RuleSet::new(1, vec![LoadedModule::native(&fmn_rules::MODULE)]).unwrap());
        let app = fmn_web::router(store.clone(), rules, fmn_web::WebOptions::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        tokio::spawn(fmn_web::serve(listener, app, stop.clone()));
        Api {
            store,
            base,
            stop,
            client: Client::new(),
        }
    }

    /// A token for `user`, as `fmn tokens create` makes one.
    async fn token(&self, user: &str, admin: bool) -> String {
        let (token, record) = fmn_web::issue(user, "test", admin);
        self.store.add_api_token(&record).await.unwrap();
        token
    }

    /// `method path` with `token` (if any) and `body` (if any, sent as is): status and JSON.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn put(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(token), Some(body.to_string()))
            .await
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Ralph's preferences with one more email filter, `name`, of `rule` with `args`.
fn with_filter(prefs: &Value, name: &str, rule: &str, args: Value) -> Value {
    let mut p = prefs.clone();
    p["channels"]["email"]["filters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": name, "rules": [{"rule": rule, "args": args}]}));
    p
}

#[tokio::test]
async fn the_catalogue_lists_every_rule_with_its_arguments() {
    let api = Api::start().await;
    let (status, body) = api.call(Method::GET, "/rules", None, None).await;
    assert_eq!(status, 200, "{body}");
    let fedora = &body["modules"][0];
    assert_eq!(fedora["name"], "fedora");
    let rules = fedora["rules"].as_array().unwrap();
    assert!(rules.len() > 20, "{} rules", rules.len());
    let package = rules
        .iter()
        .find(|r| r["name"] == "package_filter")
        .unwrap();
    let arg = &package["args"][0];
    assert_eq!(
        (&arg["name"], &arg["required"]),
        (&json!("package"), &json!(true)),
        "{package}"
    );
    assert!(
        arg["type"].is_string() && package["doc"].is_string(),
        "{package}"
    );
}

/// Every route that needs a token refuses a request without one, or with one that is not
/// kept, with 401 and `WWW-Authenticate: Bearer`.
#[tokio::test]
async fn every_route_but_the_catalogue_wants_a_valid_token() {
    let api = Api::start().await;
    let ralph = api.token("ralph", false).await;
    let routes = [
        (Method::GET, "/me"),
        (Method::GET, "/users/ralph/preferences"),
        (Method::PUT, "/users/ralph/preferences"),
        (Method::POST, "/users/ralph/why"),
        (Method::POST, "/users/ralph/matches"),
        (Method::GET, "/users/ralph/deliveries"),
        (Method::GET, "/tokens"),
        (Method::POST, "/tokens"),
        (Method::DELETE, "/tokens/abc"),
    ];
    // The real token with its last digit changed: one digit off is no token.
    let last = if ralph.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &ralph[..ralph.len() - 1]);
    for (method, path) in routes {
        for token in [None, Some("fmn_nothing"), Some(forged.as_str())] {
            let r = api
                .client
                .request(method.clone(), format!("{}{path}", api.base));
            let r = match token {
                Some(t) => r.bearer_auth(t),
                None => r,
            };
            let r = r.body("{}").send().await.unwrap();
            assert_eq!(r.status().as_u16(), 401, "{method} {path} with {token:?}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
            let body: Value = r.json().await.unwrap();
            assert!(body["error"].is_string(), "{body}");
        }
    }
    let basic = api
        .client
        .get(format!("{}/me", api.base))
        .basic_auth("ralph", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 401);
    let (status, me) = api.get("/me", &ralph).await;
    assert_eq!(
        (status, me),
        (200, json!({"user": "ralph", "admin": false}))
    );
}

/// A user reads and changes only their own preferences: another user's (existing or not)
/// gives 403 and none of their data; an admin token may act for anyone.
#[tokio::test]
async fn a_user_reaches_only_their_own_preferences() {
    let api = Api::start().await;
    let ralph = api.token("ralph", false).await;
    let bob_before = api.store.user_prefs("bob").await.unwrap();
    for user in ["bob", "nobody"] {
        let path = format!("/users/{user}/preferences");
        let (status, body) = api.get(&path, &ralph).await;
        assert_eq!(status, 403, "{body}");
        assert!(!body.to_string().contains("bobs-secret"), "{body}");
        let change = json!({"version": null, "preferences": {"channels": {}}});
        let (status, body) = api.put(&path, &ralph, &change).await;
        assert_eq!(status, 403, "{body}");
        // Nor why messages reach them, what their filters match, or what was sent to them.
        for (method, route, body) in [
            (
                Method::POST,
                "why",
                Some(json!({"message_id": "m"}).to_string()),
            ),
            (Method::POST, "matches", Some("{}".to_owned())),
            (Method::GET, "deliveries", None),
        ] {
            let path = format!("/users/{user}/{route}");
            let (status, body) = api.call(method, &path, Some(&ralph), body).await;
            assert_eq!(status, 403, "{route}: {body}");
        }
    }
    assert_eq!(api.store.user_prefs("bob").await.unwrap(), bob_before);
    assert_eq!(api.store.user_prefs("nobody").await.unwrap(), None);

    let admin = api.token("ops", true).await;
    let (status, body) = api.get("/users/bob/preferences", &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["preferences"]["channels"]["irc"]["filters"][0]["name"],
        "secret"
    );
}

#[tokio::test]
async fn a_change_names_the_version_it_was_made_from() {
    let api = Api::start().await;
    let ralph = api.token("ralph", false).await;
    let path = "/users/ralph/preferences";
    let (status, read) = api.get(path, &ralph).await;
    assert_eq!(status, 200, "{read}");
    let version = read["version"].clone();
    assert!(version.is_string(), "{read}");
    let prefs_version = api.store.prefs_version().await.unwrap();

    let new = with_filter(
        &read["preferences"],
        "emacs",
        "fedora::package_filter",
        json!({"package": "emacs"}),
    );
    let (status, body) = api
        .put(
            path,
            &ralph,
            &json!({"version": version, "preferences": new}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["version"], version);
    assert!(
        api.store.prefs_version().await.unwrap() > prefs_version,
        "the workers see it"
    );
    let stored = api.store.user_prefs("ralph").await.unwrap().unwrap();
    assert_eq!(
        stored.channels[&fmn_core::ChannelKind::Email].filters.len(),
        2
    );

    // The same change again names a version that is gone.
    let (status, conflict) = api
        .put(
            path,
            &ralph,
            &json!({"version": version, "preferences": new}),
        )
        .await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(
        conflict["version"], body["version"],
        "it says the version now"
    );

    // A user with no preferences yet starts from version null.
    let newcomer = api.token("newcomer", false).await;
    let (status, read) = api.get("/users/newcomer/preferences", &newcomer).await;
    assert_eq!((status, &read["version"]), (200, &Value::Null), "{read}");
    let (status, body) = api
        .put(
            "/users/newcomer/preferences",
            &newcomer,
            &json!({"version": null, "preferences": {"channels": {}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Two edits made from the same version, sent at once: one is stored, the other gets 409;
/// neither undoes the other silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_edits_one_gets_a_conflict() {
    let api = Api::start().await;
    let ralph = api.token("ralph", false).await;
    let path = "/users/ralph/preferences";
    let (_, read) = api.get(path, &ralph).await;
    let edit = |name: &str| {
        let p = with_filter(
            &read["preferences"],
            name,
            "fedora::package_filter",
            json!({"package": name}),
        );
        json!({"version": read["version"], "preferences": p})
    };
    let (a, b) = (edit("a"), edit("b"));
    let ((sa, ba), (sb, bb)) = tokio::join!(api.put(path, &ralph, &a), api.put(path, &ralph, &b));
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{ba} {bb}");
    let stored = api.store.user_prefs("ralph").await.unwrap().unwrap();
    let names: Vec<_> = stored.channels[&fmn_core::ChannelKind::Email]
        .filters
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    let winner = if sa == 200 { "a" } else { "b" };
    assert_eq!(names, ["vim", winner]);
}

/// What is not a change: a 400 naming the field, never a 500; nothing stored.
#[tokio::test]
async fn malformed_bodies_are_refused_naming_the_field() {
    let api = Api::start().await;
    let ralph = api.token("ralph", false).await;
    let path = "/users/ralph/preferences";
    let before = api.store.user_prefs("ralph").await.unwrap();
    let (_, read) = api.get(path, &ralph).await;
    let v = read["version"].clone();
    let cases = [
        ("not json".to_owned(), None),
        ("{}".to_owned(), None),
        (
            json!({"version": v, "preferences": {"channels": {"email": {"filters": 5}}}})
                .to_string(),
            Some("preferences.channels.email.filters"),
        ),
        (
            json!({"version": v, "preferences": {"channels": {"fax": {}}}}).to_string(),
            Some("preferences.channels"),
        ),
        (
            json!({"version": v, "preferences": {"channels": {}}, "extra": 1}).to_string(),
            None,
        ),
        (
            json!({"version": 7, "preferences": {"channels": {}}}).to_string(),
            Some("version"),
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = api
            .call(Method::PUT, path, Some(&ralph), Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["error"].is_string(), "{body}: {answer}");
        if let Some(f) = field {
            assert!(
                answer["field"]
                    .as_str()
                    .is_some_and(|got| got.starts_with(f)),
                "{body}: {answer}"
            );
        }
    }
    let (status, answer) = api
        .call(Method::POST, "/tokens", Some(&ralph), Some("[1]".into()))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(api.store.user_prefs("ralph").await.unwrap(), before);
}

/// A change with problems is refused with each of them and where it is, as `fmn prefs check`
/// reports them: an unknown rule, a wrong argument, and more rules than a user may have.
#[tokio::test]
async fn a_change_is_checked_as_fmn_prefs_check_checks() {
    let api = Api::start().await;
    let ralph = api.token("ralph", false).await;
    let path = "/users/ralph/preferences";
    let before = api.store.user_prefs("ralph").await.unwrap();
    let (_, read) = api.get(path, &ralph).await;
    let v = &read["version"];
    let unknown = with_filter(
        &read["preferences"],
        "nope",
        "fedora::no_such_rule",
        json!({}),
    );
    let wrong = with_filter(
        &read["preferences"],
        "wrong",
        "fedora::package_filter",
        json!({"package": 5}),
    );
    let mut huge = read["preferences"].clone();
    let rules: Vec<_> = (0..=MAX_RULES_PER_USER)
        .map(|i| json!({"rule": "fedora::package_filter", "args": {"package": format!("p{i}")}}))
        .collect();
    huge["channels"]["email"]["filters"] = json!([{"name": "huge", "rules": rules}]);
    for (prefs, says) in [
        (unknown, "no_such_rule"),
        (wrong, "package"),
        (huge, "limit"),
    ] {
        let (status, body) = api
            .put(path, &ralph, &json!({"version": v, "preferences": prefs}))
            .await;
        assert_eq!(status, 422, "{body}");
        let problems = body["problems"].as_array().unwrap();
        assert!(!problems.is_empty(), "{body}");
        assert!(
            problems.iter().any(|p| p.to_string().contains(says)),
            "{says}: {body}"
        );
        assert_eq!(problems[0]["location"]["user"], "ralph", "{body}");
    }
    assert_eq!(api.store.user_prefs("ralph").await.unwrap(), before);
}

#[tokio::test]
async fn users_make_list_and_revoke_their_own_tokens() {
    let api = Api::start().await;
    let ralph = api.token("ralph", false).await;
    let bob = api.token("bob", false).await;
    let (status, made) = api
        .call(
            Method::POST,
            "/tokens",
            Some(&ralph),
            Some(json!({"label": "backup"}).to_string()),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let script = made["token"].as_str().unwrap().to_owned();
    assert!(script.starts_with("fmn_") && script.len() == 68, "{script}");
    let (status, me) = api.get("/me", &script).await;
    assert_eq!(
        (status, me),
        (200, json!({"user": "ralph", "admin": false}))
    );

    let (_, listed) = api.get("/tokens", &ralph).await;
    let ids: Vec<_> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids.len(), 2, "ralph's two, not bob's: {listed}");
    assert!(
        !listed.to_string().contains(&script),
        "a list never shows a token"
    );

    // Bob cannot revoke ralph's token, nor learn that it exists.
    let id = made["id"].as_str().unwrap();
    let (status, body) = api
        .call(Method::DELETE, &format!("/tokens/{id}"), Some(&bob), None)
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = api
        .call(Method::DELETE, &format!("/tokens/{id}"), Some(&ralph), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = api.get("/me", &script).await;
    assert_eq!(status, 401, "a revoked token no longer works");
}

/// The OpenAPI description, made from the code, describes every route of the API with its
/// answers.
#[tokio::test]
async fn the_openapi_description_covers_every_route() {
    let api = Api::start().await;
    let (status, doc) = api.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200, "{doc}");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let routes = [
        ("get", "/api/v1/rules"),
        ("get", "/api/v1/me"),
        ("get", "/api/v1/session"),
        ("get", "/api/v1/users/{user}/preferences"),
        ("put", "/api/v1/users/{user}/preferences"),
        ("get", "/api/v1/tokens"),
        ("post", "/api/v1/tokens"),
        ("delete", "/api/v1/tokens/{id}"),
        ("post", "/api/v1/users/{user}/why"),
        ("post", "/api/v1/users/{user}/matches"),
        ("get", "/api/v1/users/{user}/deliveries"),
    ];
    for (method, path) in routes {
        let op = &doc["paths"][path][method];
        assert!(op["responses"].is_object(), "{method} {path}: {op}");
    }
    let put = &doc["paths"]["/api/v1/users/{user}/preferences"]["put"];
    for status in ["200", "400", "401", "403", "409", "422"] {
        assert!(
            put["responses"][status].is_object(),
            "PUT answers {status}: {put}"
        );
    }
    let stored = &doc["components"]["schemas"]["Stored"]["properties"];
    assert!(
        stored["version"].is_object() && stored["preferences"].is_object(),
        "{stored}"
    );
}

/// "Why" over the recent-message window: a message that is there is explained, one that is
/// not is a 404, and a request that names neither (or both), a message that is no bus
/// message, or a draft filter with problems, a clear 4xx naming what is wrong.
#[tokio::test]
async fn why_and_matches_answer_or_say_what_is_wrong() {
    let api = Api::start().await;
    let ralph = api.token("ralph", false).await;
    let bus = |id: &str, package: &str| {
        json!({"topic": "org.fedoraproject.prod.buildsys.build.state.change", "msg_id": id,
               "msg": {"name": package, "owner": "someone", "new": 1, "version": "1", "release": "1"}})
    };
    let item = |v: Value| {
        let env = fmn_core::Envelope::from_bus_json(v.to_string().as_bytes(), 1 << 20).unwrap();
        fmn_transport::WorkItem::new(env, "test")
    };
    let items = [item(bus("w-vim", "vim")), item(bus("w-emacs", "emacs"))];
    fmn_transport::History::keep_recent(&api.store, &items, Default::default())
        .await
        .unwrap();
    let post = async |path: &str, body: Value| {
        api.call(Method::POST, path, Some(&ralph), Some(body.to_string()))
            .await
    };

    let (status, why) = post("/users/ralph/why", json!({"message_id": "w-vim"})).await;
    assert_eq!(status, 200, "{why}");
    let email = &why["channels"][0];
    assert_eq!(
        (email["channel"].as_str(), email["notified"].as_bool()),
        (Some("email"), Some(true)),
        "{why}"
    );
    let (status, why) = post(
        "/users/ralph/why",
        json!({"message": bus("given", "emacs")}),
    )
    .await;
    assert_eq!(status, 200, "{why}");
    assert_eq!(why["channels"][0]["notified"], false, "{why}");
    assert_eq!(why["channels"][0]["filters"][0]["stopped_by"], 0, "{why}");

    let (status, body) = post("/users/ralph/why", json!({"message_id": "gone"})).await;
    assert_eq!(status, 404, "{body}");
    for wrong in [
        json!({}),
        json!({"message_id": "w-vim", "message": bus("x", "vim")}),
    ] {
        let (status, body) = post("/users/ralph/why", wrong).await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, body) = post("/users/ralph/why", json!({"message": {"no": "topic"}})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("message")),
        "{body}"
    );
    let (status, body) = post("/users/ralph/why", json!({"message_id": 7})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("message_id")),
        "{body}"
    );

    // The dry run: ralph's own filters, then a draft one, then a draft with a mistake.
    let (status, found) = post("/users/ralph/matches", json!({})).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["matches"][0]["id"], "w-vim", "{found}");
    assert_eq!(found["scanned"], 2, "{found}");
    let draft = json!({"name": "x", "rules": [{"rule": "fedora::package_filter", "args": {"package": "emacs"}}]});
    let (status, found) = post("/users/ralph/matches", json!({"filter": draft})).await;
    assert_eq!(status, 200, "{found}");
    let ids: Vec<&str> = found["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["w-emacs"], "{found}");
    assert_eq!(
        found["matches"][0]["channels"],
        json!([["email", "draft"]]),
        "{found}"
    );
    let bad = json!({"name": "x", "rules": [{"rule": "fedora::no_such_rule"}]});
    let (status, body) = post("/users/ralph/matches", json!({"filter": bad})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = post("/users/ralph/matches", json!({"max": "many"})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("max")),
        "{body}"
    );

    let (status, log) = api.get("/users/ralph/deliveries", &ralph).await;
    assert_eq!((status, log), (200, json!({"deliveries": []})));
}
