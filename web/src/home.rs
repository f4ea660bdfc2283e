//! The home page: who is signed in and what they receive, in plain words; sign in and out.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use fmn_transport::{History, PrefsStore};
use serde::Deserialize;

use crate::pages::{DeliveryLine, Home, HomeChannel, Problem, respond};
use crate::session::SESSION;

/// `GET /`.
pub(crate) async fn home<S: PrefsStore + History>(
    State(state): State<crate::State<S>>,
    headers: HeaderMap,
) -> Response {
    let Some((session, raw)) = state.keys.session(&headers) else {
        return respond(
            StatusCode::OK,
            &Home {
                user: None,
                csrf: String::new(),
                channels: Vec::new(),
                presets: fmn_core::presets::NAMES,
                deliveries: Vec::new(),
            },
        );
    };
    let user = match state.store.user_prefs(&session.user).await {
        Ok(u) => u.unwrap_or_default(),
        Err(e) => {
            tracing::warn!("home page: {e}");
            let detail = format!("the preferences cannot be reached now: {e}");
            return respond(
                StatusCode::SERVICE_UNAVAILABLE,
                &Problem {
                    title: "Try again later",
                    detail: &detail,
                },
            );
        }
    };
    let channels = user
        .channels
        .iter()
        .map(|(kind, c)| HomeChannel::new(kind.as_str(), c, &state.rules))
        .collect();
    let deliveries = match state
        .store
        .deliveries(&session.user, RECENT_DELIVERIES)
        .await
    {
        Ok(d) => d.iter().map(DeliveryLine::new).collect(),
        Err(e) => {
            // The log is a record: the page goes on without it.
            tracing::warn!(user = %session.user, "home page: the delivery log: {e}");
            Vec::new()
        }
    };
    respond(
        StatusCode::OK,
        &Home {
            user: Some(session.user),
            csrf: state.keys.csrf(&raw),
            channels,
            presets: fmn_core::presets::NAMES,
            deliveries,
        },
    )
}

/// The delivery records the home page shows.
const RECENT_DELIVERIES: usize = 20;

#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

/// `POST /logout`: ends the session (with the page's CSRF token, so no other site can).
pub(crate) async fn logout<S>(
    State(state): State<crate::State<S>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let jar = state.keys.jar(&headers);
    if let Some((s, raw)) = state.keys.session(&headers) {
        if !state.keys.csrf_ok(&raw, &form.csrf) {
            let detail = "the form's CSRF token does not match the session";
            return respond(
                StatusCode::FORBIDDEN,
                &Problem {
                    title: "Not signed out",
                    detail,
                },
            );
        }
        tracing::info!(user = %s.user, "signed out");
    }
    (jar.remove(SESSION), Redirect::to("/")).into_response()
}
