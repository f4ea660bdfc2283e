//! Who is calling the API: the account an `Authorization: Bearer` token acts for.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use fmn_transport::{ApiToken, ApiTokens, token_digest};
use rand::RngExt;

use crate::error::ApiError;

/// The account a request acts for.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) user: String,
    pub(crate) admin: bool,
}

impl Caller {
    /// Refuses (403) a caller acting on `user`'s data unless it is theirs or they are an
    /// admin; the answer is the same whether `user` exists or not.
    pub(crate) fn may_act_for(&self, user: &str) -> Result<(), ApiError> {
        if self.admin || self.user == user {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{:?} may not act for {user:?}",
                self.user
            )))
        }
    }
}

/// The caller the request's bearer token names: 401 without one, or with one not kept.
pub(crate) async fn caller<S: ApiTokens>(
    store: &S,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("no Authorization header"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(ApiError::Unauthorized(
            "the Authorization header is not `Bearer TOKEN`",
        ))?;
    // Looked up by digest: the store's lookup takes no time that depends on how close a
    // guess came to a real token.
    match store.api_token(&token_digest(token)).await? {
        Some(t) => Ok(Caller {
            user: t.user,
            admin: t.admin,
        }),
        None => Err(ApiError::Unauthorized(
            "the token is not valid (revoked, or never made)",
        )),
    }
}

/// A new token for `user`, and its record to keep: `fmn_` and 64 hex digits from the
/// thread's cryptographically secure generator.
pub fn issue(user: &str, label: &str, admin: bool) -> (String, ApiToken) {
    let bytes: [u8; 32] = rand::rng().random();
    let token = format!("fmn_{}", hex::encode(bytes));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let record = ApiToken::new(&token, user, label, admin, now);
    (token, record)
}
