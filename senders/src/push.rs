//! The push sender: Firebase Cloud Messaging's HTTP v1 API (FMN's "GCM" channel: the legacy
//! GCM and FCM APIs no longer exist).
//!
//! It signs a JWT with the service account's key, trades it for an OAuth2 access token at the
//! account's `token_uri` (cached until a minute before it expires, and fetched again after a
//! 401), and posts one message per device token to
//! `{endpoint}/v1/projects/{project_id}/messages:send`. Answers are classified as FCM
//! documents them: `UNREGISTERED` and `SENDER_ID_MISMATCH` mean the token is gone (it is
//! removed from the user's preferences), other 400s and 403s are permanent, 429 and 5xx are
//! tried again no sooner than their `Retry-After`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fmn_core::Notification;
use serde::{Deserialize, Serialize};

use crate::{SendError, Sender};

/// `[senders.push]`, `backend = "fcm"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// The service account's JSON key file, as the Firebase console downloads it.
    pub service_account: PathBuf,
    /// Where the API is.
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// The Firebase project; the service account's `project_id` when absent.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Seconds a request may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_endpoint() -> String {
    "https://fcm.googleapis.com".into()
}

fn default_timeout() -> u64 {
    30
}

/// The fields of a service account key the sender uses.
#[derive(Debug, Clone, Deserialize)]
struct ServiceAccount {
    project_id: String,
    private_key_id: Option<String>,
    private_key: String,
    client_email: String,
    #[serde(default = "default_token_uri")]
    token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

/// A problem with the push configuration, found before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum PushConfigError {
    /// The key file could not be read or parsed.
    #[error("push sender: service account {path}: {reason}")]
    ServiceAccount {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("push sender: {0}")]
    Client(String),
}

/// The scope FCM's send API wants.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Sends notifications to devices through FCM.
pub struct PushSender {
    http: reqwest::Client,
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    send_url: String,
    token: Option<(String, SystemTime)>,
    templates: crate::template::PushTemplates,
    timeout: Duration,
}

impl PushSender {
    /// A sender for `cfg`; its key is read and checked now, a token fetched on first use.
    pub fn new(cfg: &PushConfig) -> Result<Self, PushConfigError> {
        let bad = |reason: String| PushConfigError::ServiceAccount {
            path: cfg.service_account.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&cfg.service_account).map_err(|e| bad(e.to_string()))?;
        let account: ServiceAccount = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not a service account key: {e}")))?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|e| bad(format!("private_key: {e}")))?;
        let project = cfg.project_id.as_deref().unwrap_or(&account.project_id);
        let send_url = format!(
            "{}/v1/projects/{project}/messages:send",
            cfg.endpoint.trim_end_matches('/')
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs.max(1)))
            .build()
            .map_err(|e| PushConfigError::Client(e.to_string()))?;
        Ok(PushSender {
            http,
            account,
            key,
            send_url,
            token: None,
            templates: Default::default(),
            timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
        })
    }

    /// Uses the operator's templates where they give one.
    pub fn with_templates(mut self, templates: crate::template::PushTemplates) -> Self {
        self.templates = templates;
        self
    }

    /// An access token, fetched when there is none or it expires within a minute.
    async fn access_token(&mut self) -> Result<String, SendError> {
        let now = SystemTime::now();
        if let Some((t, until)) = &self.token
            && *until > now + Duration::from_secs(60)
        {
            return Ok(t.clone());
        }
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.account.private_key_id.clone();
        let claims = Claims {
            iss: &self.account.client_email,
            scope: FCM_SCOPE,
            aud: &self.account.token_uri,
            iat,
            exp: iat + 3600,
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| SendError::Permanent(format!("cannot sign the token request: {e}")))?;
        let resp = self
            .http
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", jwt.as_str()),
            ])
            .send()
            .await
            .map_err(|e| crate::http::failed("token request", e))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            // A refused key is an operator's problem: kept trying (then dead-lettered) while
            // it is fixed, rather than failing every notification for good.
            return Err(SendError::Transient(format!(
                "token request refused ({status}): {}",
                body.chars().take(300).collect::<String>()
            )));
        }
        let answer: TokenAnswer = serde_json::from_str(&body)
            .map_err(|e| SendError::Transient(format!("token answer: {e}")))?;
        let until = now + Duration::from_secs(answer.expires_in.unwrap_or(3600));
        self.token = Some((answer.access_token.clone(), until));
        Ok(answer.access_token)
    }

    /// The message FCM is asked to deliver to `token`.
    pub fn message(n: &Notification, token: &str) -> serde_json::Value {
        let title = n.headline();
        let body = n
            .meta
            .link
            .clone()
            .unwrap_or_else(|| n.message.topic.clone());
        serde_json::json!({
            "message": {
                "token": token,
                "notification": {"title": cut(title, 200), "body": cut(&body, 500)},
                "data": {
                    "topic": n.message.topic,
                    "msg_id": n.message.id,
                    "link": n.meta.link.clone().unwrap_or_default(),
                    "delivery_id": n.delivery_id,
                    "filter": n.filter,
                },
            }
        })
    }

    async fn post(&mut self, message: &serde_json::Value) -> Result<(), SendError> {
        let mut refreshed = false;
        loop {
            let token = self.access_token().await?;
            let resp = self
                .http
                .post(&self.send_url)
                .bearer_auth(&token)
                .json(message)
                .send()
                .await
                .map_err(|e| crate::http::failed("fcm", e))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body = resp.text().await.unwrap_or_default();
            if status == 401 && !refreshed {
                // The token was revoked or expired early: one more try with a new one.
                self.token = None;
                refreshed = true;
                continue;
            }
            return classify(status, retry_after, &body);
        }
    }
}

/// What an FCM answer means.
fn classify(status: u16, retry_after: Option<Duration>, body: &str) -> Result<(), SendError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let error: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let fcm_code = error["error"]["details"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|d| d["errorCode"].as_str())
        .unwrap_or("");
    let message = error["error"]["message"].as_str().unwrap_or("");
    let reason = format!(
        "fcm {status} {}: {}",
        if fcm_code.is_empty() {
            error["error"]["status"].as_str().unwrap_or("")
        } else {
            fcm_code
        },
        if message.is_empty() {
            body.chars().take(300).collect()
        } else {
            message.to_owned()
        }
    );
    match (status, fcm_code) {
        (_, "UNREGISTERED" | "SENDER_ID_MISMATCH") => Err(SendError::AddressGone(reason)),
        (429, _) | (500..=599, _) => match retry_after {
            Some(after) => Err(SendError::RetryAfter { reason, after }),
            None => Err(SendError::Transient(reason)),
        },
        (401, _) => Err(SendError::Transient(reason)),
        _ => Err(SendError::Permanent(reason)),
    }
}

/// `Retry-After` in seconds (the HTTP date form counts as 60 s: FCM sends seconds).
fn parse_retry_after(v: &str) -> Option<Duration> {
    match v.trim().parse::<u64>() {
        Ok(s) => Some(Duration::from_secs(s.min(3600))),
        Err(_) => Some(Duration::from_secs(60)),
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl Sender for PushSender {
    fn name(&self) -> &'static str {
        "fcm"
    }

    async fn ready(&mut self) -> Result<(), SendError> {
        crate::http::reachable(&self.send_url, self.timeout).await?;
        if self.token.is_none() {
            crate::http::reachable(&self.account.token_uri, self.timeout).await?;
        }
        Ok(())
    }

    async fn send(&mut self, n: &Notification, address: &str) -> Result<(), SendError> {
        let mut m = Self::message(n, address);
        if let Some(t) = &self.templates.title {
            m["message"]["notification"]["title"] = cut(&t.render(n), 200).into();
        }
        if let Some(t) = &self.templates.body {
            m["message"]["notification"]["body"] = cut(&t.render(n), 500).into();
        }
        self.post(&m).await
    }

    async fn send_digest(
        &mut self,
        items: &[Notification],
        address: &str,
    ) -> Result<(), SendError> {
        let Some(newest) = items.last() else {
            return Ok(());
        };
        let mut m = Self::message(newest, address);
        m["message"]["notification"]["title"] =
            serde_json::Value::String(format!("{} notifications", items.len()));
        m["message"]["notification"]["body"] =
            serde_json::Value::String(cut(newest.headline(), 500));
        m["message"]["data"]["count"] = serde_json::Value::String(items.len().to_string());
        self.post(&m).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fcm_error(code: u16, status: &str, fcm: &str) -> String {
        format!(
            r#"{{"error": {{"code": {code}, "message": "m", "status": "{status}", "details": [{{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "{fcm}"}}]}}}}"#
        )
    }

    #[test]
    fn answers_are_classified_as_fcm_documents_them() {
        assert_eq!(classify(200, None, "{}"), Ok(()));
        assert!(matches!(
            classify(404, None, &fcm_error(404, "NOT_FOUND", "UNREGISTERED")),
            Err(SendError::AddressGone(_))
        ));
        assert!(matches!(
            classify(
                403,
                None,
                &fcm_error(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH")
            ),
            Err(SendError::AddressGone(_))
        ));
        assert!(matches!(
            classify(
                400,
                None,
                &fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
            ),
            Err(SendError::Permanent(_))
        ));
        assert_eq!(
            classify(
                429,
                Some(Duration::from_secs(7)),
                &fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED")
            )
            .unwrap_err()
            .retry_after(),
            Some(Duration::from_secs(7))
        );
        assert!(matches!(
            classify(503, None, "busy"),
            Err(SendError::Transient(_))
        ));
        assert_eq!(parse_retry_after(" 12 "), Some(Duration::from_secs(12)));
    }
}
