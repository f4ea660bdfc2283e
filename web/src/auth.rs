//! Who is calling the API: the account an `Authorization: Bearer` token acts for.

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method};
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

/// The caller: the account the request's bearer token acts for, else its session's. A
/// request that changes something on a session must carry the session's CSRF token in
/// `X-CSRF-Token`: a bearer token cannot be sent by another site, a cookie can. 401 when
/// neither names anyone; 403 for a change without the CSRF token.
pub(crate) async fn caller<S: ApiTokens>(
    state: &crate::Shared<S>,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return session_caller(state, method, headers);
    };
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
    match state.store.api_token(&token_digest(token)).await? {
        Some(t) => Ok(Caller {
            user: t.user,
            admin: t.admin,
        }),
        None => Err(ApiError::Unauthorized(
            "the token is not valid (revoked, or never made)",
        )),
    }
}

fn session_caller<S>(
    state: &crate::Shared<S>,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let (session, raw) = state.keys.session(headers).ok_or(ApiError::Unauthorized(
        "no Authorization header and no session",
    ))?;
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let given = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !state.keys.csrf_ok(&raw, given) {
            return Err(ApiError::Forbidden(
                "a change on a session needs its CSRF token in X-CSRF-Token (GET /api/v1/session)"
                    .into(),
            ));
        }
    }
    Ok(Caller {
        user: session.user,
        admin: session.admin,
    })
}

/// `fmn_` and 64 hex digits from the thread's cryptographically secure generator.
pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("fmn_{}", hex::encode(bytes))
}

/// A new token for `user` (`fmn_` and 64 random hex digits), and its record to keep.
pub fn issue(user: &str, label: &str, admin: bool) -> (String, ApiToken) {
    let token = random_token();
    let record = ApiToken::new(&token, user, label, admin, crate::session::now());
    (token, record)
}

/// The user of a `/api/v1/users/{user}/...` route, once the caller is found to act for them
/// (401 without a caller, 403 for another user's data): what those routes extract instead of
/// checking it each.
pub(crate) struct ActingFor(pub(crate) String);

impl<S: ApiTokens + Send + Sync> axum::extract::FromRequestParts<crate::State<S>> for ActingFor {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::State<S>,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse as _;
        let axum::extract::Path(user) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| e.into_response())?;
        let c = caller(state, &parts.method, &parts.headers)
            .await
            .map_err(|e| e.into_response())?;
        c.may_act_for(&user).map_err(|e| e.into_response())?;
        Ok(ActingFor(user))
    }
}
