//! The "why" page: for a message of the recent-message window, what the signed-in person's
//! preferences made of it, channel by channel, in plain words.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use fmn_core::prefs::RuleRef;
use fmn_host::explain::{ChannelAnswer, RuleVerdict};
use fmn_transport::{DataStore, History, PrefsStore};
use serde::Deserialize;

use crate::error::ApiError;
use crate::pages::{Problem, Why, WhyChannel, plain_words, respond};

/// `?id=MESSAGE_ID`.
#[derive(Deserialize)]
pub(crate) struct Asked {
    #[serde(default)]
    id: String,
}

/// `GET /why?id=MESSAGE_ID`.
pub(crate) async fn why<S: PrefsStore + DataStore + History>(
    State(state): State<crate::State<S>>,
    headers: HeaderMap,
    Query(asked): Query<Asked>,
) -> Response {
    let Some((session, _)) = state.keys.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let id = asked.id.trim();
    let answer = match state.store.recent_message(id).await {
        Ok(Some(item)) => crate::why::explain_item(&state, &session.user, item).await,
        Ok(None) => Err(ApiError::NotFound(format!(
            "message {id:?} is not among the recent messages this service keeps"
        ))),
        Err(e) => Err(e.into()),
    };
    match answer {
        Ok(x) => {
            let channels = x
                .channels
                .iter()
                .map(|c| channel(c, &state.rules))
                .collect();
            let page = Why {
                id: id.to_owned(),
                summary: x.meta.summary.clone().unwrap_or_default(),
                channels,
                failures: x.failures,
            };
            respond(StatusCode::OK, &page)
        }
        Err(e) => {
            let detail = e.to_string();
            let status = match e {
                ApiError::NotFound(_) => StatusCode::NOT_FOUND,
                ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            let title = "No answer";
            respond(
                status,
                &Problem {
                    title,
                    detail: &detail,
                },
            )
        }
    }
}

/// One channel's answer in plain words: what happened, then each filter.
fn channel(c: &ChannelAnswer, rules: &fmn_host::RuleSet) -> WhyChannel {
    let filters = c
        .filters
        .iter()
        .map(|f| {
            let state = if !f.active { " (off)" } else { "" };
            let said = match f.stopped_by.and_then(|i| f.rules.get(i)) {
                _ if f.matched => "matches".to_owned(),
                Some(r) => {
                    let rule = RuleRef {
                        rule: r.rule.clone(),
                        args: r.args.clone(),
                        negated: r.negated,
                    };
                    let words = plain_words(&rule, rules);
                    match &r.verdict {
                        RuleVerdict::Failed(e) => format!("does not match: {words} failed ({e})"),
                        _ => format!("does not match: {words} is not so"),
                    }
                }
                None => "does not match".to_owned(),
            };
            (format!("{}{state}", f.name), said)
        })
        .collect();
    WhyChannel {
        name: c.channel.as_str(),
        notified: c.notified,
        reason: c.reason.clone(),
        filters,
    }
}
