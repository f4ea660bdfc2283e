//! The API's errors: a status and a JSON body saying what went wrong, never a 500 for what
//! a caller sent.

use axum::Json;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fmn_core::prefs::PrefsProblem;
use fmn_transport::TransportError;
use serde_json::json;

/// Why an API call was not served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// No token, or one not kept (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Another user's data (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing there (404).
    #[error("{0}")]
    NotFound(String),
    /// The body is not what the route takes (400): which field, and why.
    #[error("the body is not valid: {why}")]
    Malformed { field: Option<String>, why: String },
    /// The preferences were changed since the version the change names (409).
    #[error("the preferences changed since that version")]
    Conflict(Option<String>),
    /// The preferences have problems (422), each with where it is.
    #[error("the preferences have {} problem(s)", .0.len())]
    Problems(Vec<PrefsProblem>),
    /// The store cannot be reached (503).
    #[error("the preferences cannot be reached now: {0}")]
    Store(#[from] TransportError),
    /// The service cannot serve it now (503): why.
    #[error("{0}")]
    Unavailable(String),
    /// The caller has such a call running already (429): why.
    #[error("{0}")]
    TooMany(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Malformed { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Problems(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Store(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error = self.to_string();
        let body = match self {
            ApiError::Malformed { field, .. } => json!({"error": error, "field": field}),
            ApiError::Conflict(version) => json!({"error": error, "version": version}),
            ApiError::Problems(problems) => json!({"error": error, "problems": problems}),
            ApiError::Store(e) => {
                tracing::warn!("API call not served: {e}");
                json!({ "error": error })
            }
            _ => json!({ "error": error }),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// What every API error answers (the fields beside `error` only where they apply).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: String,
    /// 400: the path to the field that is wrong, e.g. `preferences.channels.email.filters`.
    field: Option<String>,
    /// 409: the preferences' version now.
    version: Option<String>,
    /// 422: each problem, with where it is (`location`: `user`, `channel`, `filter`, `rule`).
    #[schema(value_type = Option<Vec<Object>>)]
    problems: Option<Vec<serde_json::Value>>,
}
