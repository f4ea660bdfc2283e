//! The Matrix sender: `m.notice` messages through the client-server API.
//!
//! An address is a room id (`!room:server`), a room alias (`#room:server`, resolved once) or a
//! user id (`@ralph:server`): a direct chat, found in the sender account's `m.direct` account
//! data or created (and recorded there) on first use. Each message is sent with
//! `PUT /rooms/{room}/send/m.room.message/{txn}` where the transaction id is the delivery's
//! idempotency key, so the homeserver itself drops a repeat of a delivery a killed sender could
//! not record. `429` answers wait `retry_after_ms` (or `Retry-After`).

use std::collections::HashMap;
use std::time::Duration;

use fmn_core::Notification;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use crate::{SendError, Sender};

/// `[senders.matrix]`, `backend = "matrix"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixConfig {
    /// The homeserver's base URL, e.g. `https://fedora.im`.
    pub homeserver: String,
    /// The sending account's access token.
    pub access_token: String,
    /// The sending account's user id, e.g. `@notifications:fedora.im` (its direct chats are
    /// recorded in its account data).
    pub user_id: String,
    /// Seconds a request may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    30
}

/// A problem with the Matrix configuration.
#[derive(Debug, thiserror::Error)]
pub enum MatrixConfigError {
    /// The homeserver URL is not one.
    #[error("matrix sender: homeserver {0:?} is not a URL: {1}")]
    Homeserver(String, String),
    /// The HTTP client could not be built.
    #[error("matrix sender: {0}")]
    Client(String),
}

#[derive(Deserialize, Default)]
struct MatrixError {
    #[serde(default)]
    errcode: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

/// Sends notifications to Matrix rooms and users.
pub struct MatrixSender {
    http: reqwest::Client,
    base: Url,
    token: String,
    user_id: String,
    /// Address (alias or user id) -> room id.
    rooms: HashMap<String, String>,
    templates: crate::template::MatrixTemplates,
    timeout: Duration,
}

impl MatrixSender {
    /// A sender for `cfg`.
    pub fn new(cfg: &MatrixConfig) -> Result<Self, MatrixConfigError> {
        let base = Url::parse(&cfg.homeserver)
            .map_err(|e| MatrixConfigError::Homeserver(cfg.homeserver.clone(), e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .build()
            .map_err(|e| MatrixConfigError::Client(e.to_string()))?;
        Ok(MatrixSender {
            http,
            base,
            token: cfg.access_token.clone(),
            user_id: cfg.user_id.clone(),
            rooms: HashMap::new(),
            templates: Default::default(),
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
        })
    }

    /// Uses the operator's templates where they give one.
    pub fn with_templates(mut self, templates: crate::template::MatrixTemplates) -> Self {
        self.templates = templates;
        self
    }

    /// `{homeserver}/_matrix/client/v3/{segments...}`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Url, SendError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| SendError::Permanent("homeserver URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(["_matrix", "client", "v3"])
            .extend(segments);
        Ok(url)
    }

    /// One request; the JSON answer, or the error classified.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, SendError> {
        let mut req = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| crate::http::failed("matrix", e))?;
        let status = resp.status();
        let header_wait = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            return serde_json::from_str(&text)
                .map_err(|e| SendError::Transient(format!("matrix: answer is not JSON: {e}")));
        }
        let err: MatrixError = serde_json::from_str(&text).unwrap_or_default();
        let reason = format!("matrix {} {}: {}", status.as_u16(), err.errcode, err.error);
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => {
                match err
                    .retry_after_ms
                    .map(Duration::from_millis)
                    .or(header_wait)
                {
                    Some(after) => SendError::RetryAfter { reason, after },
                    None => SendError::Transient(reason),
                }
            }
            // A token the operator must fix: tried again, then dead-lettered.
            StatusCode::UNAUTHORIZED => SendError::Transient(reason),
            s if s.is_server_error() => SendError::Transient(reason),
            _ => SendError::Permanent(reason),
        })
    }

    /// The room an address stands for.
    async fn room(&mut self, address: &str) -> Result<String, SendError> {
        if address.starts_with('!') {
            return Ok(address.to_owned());
        }
        if let Some(r) = self.rooms.get(address) {
            return Ok(r.clone());
        }
        let room = if address.starts_with('#') {
            let url = self.url(&["directory", "room", address])?;
            let v = self.call(Method::GET, url, None).await?;
            v["room_id"]
                .as_str()
                .ok_or_else(|| SendError::Transient(format!("matrix: no room_id for {address}")))?
                .to_owned()
        } else if address.starts_with('@') {
            self.direct_room(address).await?
        } else {
            return Err(SendError::Permanent(format!(
                "{address:?} is not a Matrix room id, alias or user id"
            )));
        };
        self.rooms.insert(address.to_owned(), room.clone());
        Ok(room)
    }

    /// The direct chat with `user`: from `m.direct`, else a new one, recorded there.
    async fn direct_room(&mut self, user: &str) -> Result<String, SendError> {
        let url = self.url(&["user", &self.user_id, "account_data", "m.direct"])?;
        let mut direct = match self.call(Method::GET, url.clone(), None).await {
            Ok(v) => v,
            Err(SendError::Permanent(e)) if e.contains("M_NOT_FOUND") => serde_json::json!({}),
            Err(e) => return Err(e),
        };
        if let Some(room) = direct[user]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|r| r.as_str())
        {
            return Ok(room.to_owned());
        }
        let created = self
            .call(
                Method::POST,
                self.url(&["createRoom"])?,
                Some(&serde_json::json!({
                    "is_direct": true,
                    "invite": [user],
                    "preset": "trusted_private_chat",
                })),
            )
            .await?;
        let room = created["room_id"]
            .as_str()
            .ok_or_else(|| SendError::Transient("matrix: createRoom gave no room_id".into()))?
            .to_owned();
        if !direct.is_object() {
            direct = serde_json::json!({});
        }
        direct[user] = serde_json::json!([room]);
        self.call(Method::PUT, url, Some(&direct)).await?;
        Ok(room)
    }

    async fn notice(&mut self, address: &str, txn: &str, text: String) -> Result<(), SendError> {
        let room = self.room(address).await?;
        let url = self.url(&["rooms", &room, "send", "m.room.message", txn])?;
        let body = serde_json::json!({"msgtype": "m.notice", "body": text});
        self.call(Method::PUT, url, Some(&body)).await.map(|_| ())
    }
}

fn line(n: &Notification) -> String {
    let summary = n.headline();
    match &n.meta.link {
        Some(link) => format!("{summary} {link}"),
        None => summary.to_owned(),
    }
}

impl Sender for MatrixSender {
    fn name(&self) -> &'static str {
        "matrix"
    }

    async fn ready(&mut self) -> Result<(), SendError> {
        crate::http::reachable(self.base.as_str(), self.timeout).await
    }

    async fn send(&mut self, n: &Notification, address: &str) -> Result<(), SendError> {
        // The delivery's key: the homeserver drops a repeat of the same transaction.
        let txn = crate::run::delivery_key(n, address).replace(':', "-");
        let text = match &self.templates.body {
            // fmn's own text (a verification code) is not a bus message's: no template.
            Some(t) if !n.is_direct() => t.render(n),
            _ => line(n),
        };
        self.notice(address, &txn, text).await
    }

    async fn send_digest(
        &mut self,
        items: &[Notification],
        address: &str,
    ) -> Result<(), SendError> {
        let txn = crate::run::address_key(
            &format!("digest-{}", crate::digest::digest_id(items)),
            address,
        )
        .replace(':', "-");
        let mut text = format!("{} notifications:\n", items.len());
        for (i, n) in items.iter().enumerate() {
            text.push_str(&format!("{}. {}\n", i + 1, line(n)));
        }
        self.notice(address, &txn, text).await
    }
}
