//! Sessions: who signed in, in a signed, HTTP-only, SameSite cookie, and the CSRF token a
//! page must send back with every change it makes.

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

/// The session cookie's name.
pub(crate) const SESSION: &str = "fmn_session";

/// How long a session lasts: a day.
const SESSION_SECS: u64 = 24 * 3600;

/// What the session cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Session {
    /// The account.
    pub(crate) user: String,
    /// It may act for everyone.
    pub(crate) admin: bool,
    /// The email address the provider vouched for (`email`, with `email_verified`): it needs
    /// no verification of ours.
    #[serde(default)]
    pub(crate) email: Option<String>,
    /// When it ends, in seconds since the Unix epoch.
    pub(crate) expires: u64,
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The keys cookies and CSRF tokens are made with, from the operator's secret.
#[derive(Clone)]
pub(crate) struct Keys {
    cookies: Key,
    /// The key of CSRF tokens and verification links, each message prefixed by its purpose
    /// so that neither passes for the other.
    macs: Vec<u8>,
    /// Cookies get `Secure` (the service is reached over HTTPS).
    pub(crate) secure: bool,
}

impl Keys {
    /// Keys derived from `secret` (any length): the cookie key from its SHA-512, the CSRF key
    /// from its SHA-256, so neither is the other.
    pub(crate) fn new(secret: &str, secure: bool) -> Keys {
        Keys {
            cookies: Key::from(Sha512::digest(secret.as_bytes()).as_slice()),
            macs: Sha256::digest(format!("macs\n{secret}").as_bytes()).to_vec(),
            secure,
        }
    }

    /// The request's signed cookies (a cookie whose signature is wrong is not there).
    pub(crate) fn jar(&self, headers: &HeaderMap) -> SignedCookieJar {
        SignedCookieJar::from_headers(headers, self.cookies.clone())
    }

    /// A cookie of ours: HTTP-only, SameSite=Lax, on the whole site.
    pub(crate) fn cookie(
        &self,
        name: &'static str,
        value: String,
        max_age: u64,
    ) -> Cookie<'static> {
        Cookie::build((name, value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .path("/")
            .max_age(time_secs(max_age))
            .build()
    }

    /// The session of the request, if it has a current one.
    pub(crate) fn session(&self, headers: &HeaderMap) -> Option<(Session, String)> {
        let raw = self.jar(headers).get(SESSION)?.value().to_owned();
        let s: Session = serde_json::from_str(&raw).ok()?;
        (s.expires > now()).then_some((s, raw))
    }

    /// `jar` with a new session for `user`.
    pub(crate) fn start(
        &self,
        jar: SignedCookieJar,
        user: &str,
        admin: bool,
        email: Option<String>,
    ) -> SignedCookieJar {
        let s = Session {
            user: user.to_owned(),
            admin,
            email,
            expires: now() + SESSION_SECS,
        };
        let value = serde_json::to_string(&s).unwrap_or_default();
        jar.add(self.cookie(SESSION, value, SESSION_SECS))
    }

    /// The CSRF token of the session whose cookie holds `raw`: what a page sends back in
    /// `X-CSRF-Token` (or a form's `csrf` field) with a change.
    pub(crate) fn csrf(&self, raw: &str) -> String {
        self.sign("csrf", &[raw])
    }

    /// Whether `token` is the CSRF token of the session `raw`, compared in constant time.
    pub(crate) fn csrf_ok(&self, raw: &str, token: &str) -> bool {
        self.signed("csrf", &[raw], token)
    }

    /// The hex HMAC of `parts` for `purpose`.
    pub(crate) fn sign(&self, purpose: &str, parts: &[&str]) -> String {
        hex::encode(self.mac(purpose, parts).finalize().into_bytes())
    }

    /// Whether `token` is [`Self::sign`]'s for these, compared in constant time.
    pub(crate) fn signed(&self, purpose: &str, parts: &[&str], token: &str) -> bool {
        hex::decode(token).is_ok_and(|t| self.mac(purpose, parts).verify_slice(&t).is_ok())
    }

    fn mac(&self, purpose: &str, parts: &[&str]) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.macs)
            .expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        for p in parts {
            // Lengths first: ("ab", "c") and ("a", "bc") sign differently.
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p.as_bytes());
        }
        mac
    }
}

fn time_secs(secs: u64) -> cookie::time::Duration {
    cookie::time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}
