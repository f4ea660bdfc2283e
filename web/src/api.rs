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
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::{ActingFor, Caller, caller};
use crate::error::ApiError;

/// The rule catalogue.
#[derive(Serialize, ToSchema)]
pub(crate) struct Catalogue {
    modules: Vec<ModuleRules>,
}

/// One module's rules.
#[derive(Serialize, ToSchema)]
pub(crate) struct ModuleRules {
    name: String,
    version: String,
    doc: String,
    /// Each rule: `name`, `doc`, `args` (each `name`, `type`, `doc`, `required`), `topics`.
    #[schema(value_type = Vec<Object>)]
    rules: Value,
}

/// Every rule of the loaded modules, with its arguments, so that a page can build a form for
/// each. Public: it says nothing about anyone.
#[utoipa::path(get, path = "/api/v1/rules", responses((status = 200, body = Catalogue)))]
pub(crate) async fn catalogue<S>(State(state): State<crate::State<S>>) -> Json<Catalogue> {
    let modules = state
        .rules
        .modules()
        .iter()
        .map(|m| {
            let d = &m.description;
            ModuleRules {
                name: d.name.clone(),
                version: d.version.clone(),
                doc: d.doc.clone(),
                rules: serde_json::to_value(&d.rules).unwrap_or_default(),
            }
        })
        .collect();
    Json(Catalogue { modules })
}

/// Who the request acts for.
#[derive(Serialize, ToSchema)]
pub(crate) struct Me {
    user: String,
    admin: bool,
}

/// Who the token (or session) acts for.
#[utoipa::path(get, path = "/api/v1/me", responses(
    (status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn me<S: ApiTokens>(
    State(state): State<crate::State<S>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = caller(&state, &method, &headers).await?;
    Ok(Json(Me {
        user: c.user,
        admin: c.admin,
    })
    .into_response())
}

/// A user's preferences as the API hands them out.
#[derive(Serialize, ToSchema)]
pub(crate) struct Stored {
    user: String,
    /// What a change must name to replace them; `null`: the user has none yet.
    version: Option<String>,
    /// One user of the preferences format (`docs/preferences.md`), as JSON.
    #[schema(value_type = Object)]
    preferences: User,
}

/// The version of preferences stored as `json`: changes whenever they do.
fn version_of(json: &str) -> String {
    token_digest(json)[..16].to_owned()
}

/// A user's preferences and their version.
#[utoipa::path(get, path = "/api/v1/users/{user}/preferences",
    params(("user" = String, Path, description = "the account")),
    responses((status = 200, body = Stored), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn read_prefs<S: ApiTokens + PrefsStore>(
    State(state): State<crate::State<S>>,
    ActingFor(user): ActingFor,
) -> Result<Response, ApiError> {
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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    /// The version read; `null` for a user who has none yet.
    version: Option<String>,
    /// One user of the preferences format, as JSON.
    #[schema(value_type = Object)]
    preferences: User,
}

/// What a stored change answers.
#[derive(Serialize, ToSchema)]
pub(crate) struct Written {
    user: String,
    /// The preferences' new version.
    version: Option<String>,
    /// The store's version, which workers follow.
    prefs_version: u64,
}

/// Replaces a user's preferences if they are still at `version` (409 otherwise), checked as
/// `fmn prefs check` checks (422 with every problem).
#[utoipa::path(put, path = "/api/v1/users/{user}/preferences",
    params(("user" = String, Path, description = "the account")),
    request_body = Change,
    responses((status = 200, body = Written), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn write_prefs<S: ApiTokens + PrefsStore>(
    State(state): State<crate::State<S>>,
    ActingFor(user): ActingFor,
    body: Bytes,
) -> Result<Response, ApiError> {
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
            let written = Written {
                user,
                version,
                prefs_version,
            };
            Ok(Json(written).into_response())
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

/// One of the caller's tokens, as listed.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenInfo {
    id: String,
    label: String,
    admin: bool,
    /// When it was made, in seconds since the Unix epoch.
    created: u64,
}

/// The caller's tokens.
#[derive(Serialize, ToSchema)]
pub(crate) struct Tokens {
    tokens: Vec<TokenInfo>,
}

/// The caller's tokens (never the tokens themselves: only their ids).
#[utoipa::path(get, path = "/api/v1/tokens",
    responses((status = 200, body = Tokens), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn list_tokens<S: ApiTokens>(
    State(state): State<crate::State<S>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = caller(&state, &method, &headers).await?;
    let tokens = state.store.api_tokens(Some(&c.user)).await?;
    let tokens = tokens
        .into_iter()
        .map(|t| TokenInfo {
            id: t.id,
            label: t.label,
            admin: t.admin,
            created: t.created,
        })
        .collect();
    Ok(Json(Tokens { tokens }).into_response())
}

/// What `POST /api/v1/tokens` takes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    /// What it is for.
    #[serde(default)]
    label: String,
}

/// A token just made: the only time it is shown.
#[derive(Serialize, ToSchema)]
pub(crate) struct MadeToken {
    token: String,
    id: String,
    label: String,
}

/// A new token for the caller (never an admin one), shown once.
#[utoipa::path(post, path = "/api/v1/tokens", request_body = NewToken,
    responses((status = 201, body = MadeToken), (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody)))]
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
    let made = MadeToken {
        token,
        id: record.id,
        label: record.label,
    };
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

/// Revokes one of the caller's tokens (any, for an admin).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}",
    params(("id" = String, Path, description = "the token's id")),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
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

/// The session: who signed in, and the CSRF token a page sends back with every change.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionInfo {
    user: String,
    admin: bool,
    csrf: String,
    /// When it ends, in seconds since the Unix epoch.
    expires: u64,
}

/// The signed-in account and the CSRF token its page sends back with every change; 401
/// without a session.
#[utoipa::path(get, path = "/api/v1/session",
    responses((status = 200, body = SessionInfo), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn session<S>(
    State(state): State<crate::State<S>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (s, raw) = state
        .keys
        .session(&headers)
        .ok_or(ApiError::Unauthorized("not signed in"))?;
    let info = SessionInfo {
        user: s.user,
        admin: s.admin,
        csrf: state.keys.csrf(&raw),
        expires: s.expires,
    };
    Ok(Json(info).into_response())
}

/// The API's OpenAPI description, made from the handlers and types above.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "fmn",
        description = "The JSON API of fmn's web service (docs/api.md)."
    ),
    paths(
        catalogue,
        me,
        session,
        read_prefs,
        write_prefs,
        list_tokens,
        create_token,
        revoke_token,
        crate::why::why,
        crate::why::matches,
        crate::why::deliveries
    ),
    components(schemas(crate::error::ErrorBody))
)]
pub(crate) struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(<ApiDoc as utoipa::OpenApi>::openapi())
}
