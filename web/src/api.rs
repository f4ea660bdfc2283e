//! The JSON API, `/api/v1`: the rule catalogue, a user's preferences (read, and replaced with
//! a version check), and the caller's API tokens. See `docs/api.md`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use fmn_core::prefs::{Preferences, User};
use fmn_host::Plan;
use fmn_transport::{ApiTokens, PrefsStore, SetUserError, token_digest};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{Caller, caller};
use crate::error::ApiError;

/// `GET /api/v1/rules`: every rule of the loaded modules, with its arguments, so that a page
/// can build a form for each. Public: it says nothing about anyone.
pub(crate) async fn catalogue<S>(State(state): State<crate::State<S>>) -> Response {
    let modules: Vec<_> = state
        .rules
        .modules()
        .iter()
        .map(|m| {
            let d = &m.description;
            json!({"name": d.name, "version": d.version, "doc": d.doc, "rules": d.rules})
        })
        .collect();
    Json(json!({ "modules": modules })).into_response()
}

/// `GET /api/v1/me`: who the token acts for.
pub(crate) async fn me<S: ApiTokens>(
    State(state): State<crate::State<S>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = caller(&state, &method, &headers).await?;
    Ok(Json(json!({"user": c.user, "admin": c.admin})).into_response())
}

/// A user's preferences as the API hands them out.
#[derive(Serialize)]
struct Stored {
    user: String,
    /// What a change must name to replace them; `null`: the user has none yet.
    version: Option<String>,
    preferences: User,
}

/// The version of preferences stored as `json`: changes whenever they do.
fn version_of(json: &str) -> String {
    token_digest(json)[..16].to_owned()
}

/// `GET /api/v1/users/{user}/preferences`.
pub(crate) async fn read_prefs<S: ApiTokens + PrefsStore>(
    State(state): State<crate::State<S>>,
    method: Method,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller(&state, &method, &headers)
        .await?
        .may_act_for(&user)?;
    let (preferences, version) = match state.store.user_prefs_raw(&user).await? {
        Some((u, json)) => (u, Some(version_of(&json))),
        None => (User::default(), None),
    };
    let body = Stored {
        user,
        version,
        preferences,
    };
    Ok(Json(body).into_response())
}

/// What a change sends: the version it was made from, and the whole of the new preferences.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    version: Option<String>,
    preferences: User,
}

/// `PUT /api/v1/users/{user}/preferences`: replaces them if they are still at `version`
/// (409 otherwise), checked as `fmn prefs check` checks (422 with every problem).
pub(crate) async fn write_prefs<S: ApiTokens + PrefsStore>(
    State(state): State<crate::State<S>>,
    method: Method,
    Path(user): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller(&state, &method, &headers)
        .await?
        .may_act_for(&user)?;
    let change: Change = parse_body(&body)?;
    let mut one = Preferences::default();
    one.users.insert(user.clone(), change.preferences);
    if let Err(problems) = Plan::build(&state.rules, &one) {
        return Err(ApiError::Problems(problems));
    }
    let current = state.store.user_prefs_raw(&user).await?;
    let current_version = current.as_ref().map(|(_, json)| version_of(json));
    if current_version != change.version {
        return Err(ApiError::Conflict(current_version));
    }
    let expected = Some(current.as_ref().map(|(_, json)| json.as_str()));
    let new = &one.users[&user];
    match state.store.set_user_prefs(&user, Some(new), expected).await {
        Ok(prefs_version) => {
            let version = state
                .store
                .user_prefs_raw(&user)
                .await?
                .map(|(_, j)| version_of(&j));
            tracing::info!(%user, prefs_version, "preferences replaced through the API");
            Ok(
                Json(json!({"user": user, "version": version, "prefs_version": prefs_version}))
                    .into_response(),
            )
        }
        Err(SetUserError::Conflict(_)) => {
            let now = state.store.user_prefs_raw(&user).await?;
            Err(ApiError::Conflict(now.map(|(_, j)| version_of(&j))))
        }
        Err(SetUserError::Transport(e)) => Err(e.into()),
    }
}

/// `body` as JSON of `T`; a mistake is a 400 naming the field (`preferences.channels...`).
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        ApiError::Malformed {
            field: (field != ".").then_some(field),
            why: e.into_inner().to_string(),
        }
    })
}

/// `GET /api/v1/tokens`: the caller's tokens (never the tokens themselves: only their ids).
pub(crate) async fn list_tokens<S: ApiTokens>(
    State(state): State<crate::State<S>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = caller(&state, &method, &headers).await?;
    let tokens = state.store.api_tokens(Some(&c.user)).await?;
    let listed: Vec<_> = tokens
        .iter()
        .map(|t| json!({"id": t.id, "label": t.label, "admin": t.admin, "created": t.created}))
        .collect();
    Ok(Json(json!({ "tokens": listed })).into_response())
}

/// What `POST /api/v1/tokens` takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    label: String,
}

/// `POST /api/v1/tokens`: a new token for the caller (never an admin one), shown once.
pub(crate) async fn create_token<S: ApiTokens>(
    State(state): State<crate::State<S>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c: Caller = caller(&state, &method, &headers).await?;
    let new: NewToken = parse_body(&body)?;
    let (token, record) = crate::auth::issue(&c.user, &new.label, false);
    state.store.add_api_token(&record).await?;
    let body = json!({"token": token, "id": record.id, "label": record.label});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/v1/tokens/{id}`: revokes one of the caller's tokens (any, for an admin).
pub(crate) async fn revoke_token<S: ApiTokens>(
    State(state): State<crate::State<S>>,
    method: Method,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = caller(&state, &method, &headers).await?;
    let whose = (!c.admin).then_some(c.user.as_str());
    if state.store.revoke_api_token(&id, whose).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(format!("no token {id:?} of yours")))
    }
}

/// `GET /api/v1/session`: the signed-in account and the CSRF token its page sends back with
/// every change; 401 without a session.
pub(crate) async fn session<S>(
    State(state): State<crate::State<S>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (s, raw) = state
        .keys
        .session(&headers)
        .ok_or(ApiError::Unauthorized("not signed in"))?;
    let csrf = state.keys.csrf(&raw);
    Ok(
        Json(json!({"user": s.user, "admin": s.admin, "csrf": csrf, "expires": s.expires}))
            .into_response(),
    )
}
