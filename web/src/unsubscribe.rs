//! One-click unsubscribe (RFC 8058): the links in the mails fmn sends.
//!
//! `GET` only shows what the link would switch off: mail scanners and previews follow links,
//! and must not unsubscribe anyone. `POST` switches it off; the body is not read (mail
//! clients send `List-Unsubscribe=One-Click`, as a form or as multipart data). The token
//! alone is the authority: the link was made for this user, channel and filter.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use fmn_core::ChannelKind;
use fmn_core::prefs::User;
use fmn_core::prefs_edit::{EditError, UserEdits};
use fmn_transport::{EditUserError, Edited, PrefsStore, TransportError, edit_user_prefs};
use serde::Deserialize;

use crate::pages::{Confirm, Done, Problem, respond};

/// The link's query, as the email sender fills it in: every part optional here, so that a
/// missing one is named on the page rather than in a parser's words.
#[derive(Debug, Deserialize)]
pub(crate) struct Link {
    /// The user.
    u: Option<String>,
    /// The channel; `email` when absent (the email sender's links need not name it).
    c: Option<String>,
    /// The filter; absent or empty: the whole channel.
    f: Option<String>,
    /// The token.
    t: Option<String>,
}

/// A link checked: genuine, for this user, channel and filter.
struct Checked {
    user: String,
    channel: ChannelKind,
    filter: String,
}

/// Why a link is not served.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("the link has no {0:?} parameter")]
    Missing(&'static str),
    #[error("the link's channel {0:?} is not a channel")]
    Channel(String),
    #[error("unsubscribe links are not configured on this service")]
    NotConfigured,
    #[error("the link's token does not match its user, channel and filter")]
    Forged,
    #[error("there is no user {0:?}")]
    NoUser(String),
    #[error(transparent)]
    Edit(EditError),
    #[error("the preferences kept changing; try again")]
    KeptChanging,
    #[error("the preferences cannot be reached: {0}")]
    Store(#[from] TransportError),
}

impl LinkError {
    fn status(&self) -> StatusCode {
        match self {
            LinkError::Missing(_) | LinkError::Channel(_) => StatusCode::BAD_REQUEST,
            LinkError::Forged => StatusCode::FORBIDDEN,
            LinkError::NoUser(_) | LinkError::Edit(_) => StatusCode::NOT_FOUND,
            LinkError::NotConfigured | LinkError::KeptChanging | LinkError::Store(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn respond(&self) -> Response {
        let title = match self.status() {
            StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN => "This link is not valid",
            StatusCode::NOT_FOUND => "Nothing to unsubscribe from",
            _ => "Try again later",
        };
        let detail = self.to_string();
        respond(
            self.status(),
            &Problem {
                title,
                detail: &detail,
            },
        )
    }
}

impl Link {
    /// The link's parts, if its token is genuine under `secret`.
    fn check(self, secret: Option<&str>) -> Result<Checked, LinkError> {
        let user = self.u.ok_or(LinkError::Missing("u"))?;
        let token = self.t.ok_or(LinkError::Missing("t"))?;
        let channel = match self.c.as_deref() {
            None | Some("") => ChannelKind::Email,
            Some(c) => c.parse().map_err(|_| LinkError::Channel(c.to_owned()))?,
        };
        let filter = self.f.unwrap_or_default();
        let secret = secret.ok_or(LinkError::NotConfigured)?;
        if !fmn_senders::unsubscribe::is_genuine(secret, &user, channel, &filter, &token) {
            return Err(LinkError::Forged);
        }
        Ok(Checked {
            user,
            channel,
            filter,
        })
    }
}

/// `GET /unsubscribe`: what the link would switch off, and a button to do it.
pub(crate) async fn confirm<S: PrefsStore>(
    State(state): State<crate::State<S>>,
    Query(link): Query<Link>,
) -> Response {
    let secret = state.opts.unsubscribe_secret.as_deref();
    match link.check(secret) {
        Ok(c) => respond(
            StatusCode::OK,
            &Confirm {
                user: &c.user,
                channel: c.channel.as_str(),
                filter: &c.filter,
            },
        ),
        Err(e) => e.respond(),
    }
}

/// `POST /unsubscribe`: switches the link's filter (or channel) off.
pub(crate) async fn apply<S: PrefsStore>(
    State(state): State<crate::State<S>>,
    Query(link): Query<Link>,
) -> Response {
    let secret = state.opts.unsubscribe_secret.as_deref();
    let checked = match link.check(secret) {
        Ok(c) => c,
        Err(e) => return e.respond(),
    };
    match switch_off(&state.store, &checked).await {
        Ok(edited) => {
            let already = edited == Edited::Unchanged;
            tracing::info!(user = %checked.user, channel = %checked.channel.as_str(),
                filter = %checked.filter, already, "unsubscribed by link");
            respond(
                StatusCode::OK,
                &Done {
                    user: &checked.user,
                    channel: checked.channel.as_str(),
                    filter: &checked.filter,
                    already,
                },
            )
        }
        Err(e) => {
            tracing::warn!(user = %checked.user, "unsubscribe link not applied: {e}");
            e.respond()
        }
    }
}

/// Stores the user with the filter (or channel) off.
async fn switch_off<S: PrefsStore>(store: &S, link: &Checked) -> Result<Edited, LinkError> {
    let mut edits = UserEdits::default();
    if link.filter.is_empty() {
        edits.disable.push(link.channel);
    } else {
        edits.deactivate.push((link.channel, link.filter.clone()));
    }
    let edit = |current: Option<&User>| match current {
        None => Err(LinkError::NoUser(link.user.clone())),
        Some(u) => edits.apply(&link.user, Some(u)).map_err(LinkError::Edit),
    };
    edit_user_prefs(store, &link.user, edit)
        .await
        .map_err(|e| match e {
            EditUserError::Edit(e) => e,
            EditUserError::KeptChanging(_) => LinkError::KeptChanging,
            EditUserError::Transport(e) => LinkError::Store(e),
        })
}
