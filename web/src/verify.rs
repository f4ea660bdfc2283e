//! Verified addresses: an email address joins a person's preferences only once its mailbox
//! has followed the link mailed to it (or when the provider vouched for it at sign-in), so
//! fmn mails nothing but that link to an address nobody confirmed.
//!
//! The link is stateless: it carries the user, channel, address and expiry, signed with the
//! service's key (purpose `verify`). It works for [`LINK_SECS`]. IRC nicks and Matrix ids are
//! verified with a code the bot sends instead ([`crate::codes`]), through the same form.

use std::collections::BTreeMap;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use fmn_core::ChannelKind;
use fmn_core::prefs_edit::UserEdits;
use fmn_transport::{EditUserError, Outbox, PrefsStore, edit_user_prefs};
use serde::Deserialize;

use crate::pages::{Message, respond};
use crate::session::now;

/// How long a verification link works: a day.
pub(crate) const LINK_SECS: u64 = 24 * 3600;

/// A page that says `text` under its title, with its status: what these routes answer.
pub(crate) struct Said(
    pub(crate) StatusCode,
    pub(crate) &'static str,
    pub(crate) String,
);

impl IntoResponse for Said {
    fn into_response(self) -> Response {
        let page = Message {
            title: self.1,
            text: &self.2,
            form: None,
        };
        respond(self.0, &page)
    }
}

pub(crate) fn say(status: StatusCode, title: &'static str, text: &str) -> Said {
    Said(status, title, text.to_owned())
}

/// `POST /addresses`: adds an address to the signed-in person's channel `channel` (`email`
/// when not given). An email address is added at once if the provider vouched for it, else
/// mailed a verification link; an IRC nick or a Matrix id is sent a code by the bot
/// ([`crate::codes::send`]).
pub(crate) async fn add<S: PrefsStore + Outbox>(
    State(state): State<crate::State<S>>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let session = match crate::manage::signed_in(&state, &headers, &form) {
        Ok(s) => s,
        Err(d) => return d.respond(),
    };
    let address = form.get("address").map_or("", |a| a.trim());
    let channel = form.get("channel").map_or("email", |c| c.trim());
    match channel.parse() {
        Ok(ChannelKind::Email) => add_email(&state, &session, address).await,
        Ok(kind @ (ChannelKind::Irc | ChannelKind::Matrix)) => {
            // The form's CSRF token was checked above: the code's form carries it on.
            let csrf = form.get("csrf").map_or("", String::as_str);
            crate::codes::send(&state, &session.user, kind, address, csrf).await
        }
        _ => say(
            StatusCode::BAD_REQUEST,
            "Not changed",
            &format!(
                "{channel:?} is not a channel addresses are added to here (email, irc, matrix)"
            ),
        )
        .into_response(),
    }
}

/// Adds `address` to the session's email channel, or mails it a link.
async fn add_email<S: PrefsStore>(
    state: &crate::Shared<S>,
    session: &crate::session::Session,
    address: &str,
) -> Response {
    if address.is_empty() || address.contains(char::is_whitespace) || !address.contains('@') {
        return say(
            StatusCode::BAD_REQUEST,
            "Not changed",
            &format!("{address:?} is not an email address"),
        )
        .into_response();
    }
    if session.email.as_deref() == Some(address) {
        return match add_address(&state.store, &session.user, ChannelKind::Email, address).await {
            Ok(()) => Redirect::to("/").into_response(),
            Err(r) => r.into_response(),
        };
    }
    match send_link(state, &session.user, address).await {
        Ok(()) => {
            let text = format!(
                "A link went to {address}: follow it within a day to confirm the address. Nothing else is sent there until then."
            );
            say(StatusCode::OK, "Check your mail", &text).into_response()
        }
        Err(r) => r.into_response(),
    }
}

async fn send_link<S>(state: &crate::Shared<S>, user: &str, address: &str) -> Result<(), Said> {
    let unavailable = |why: &str| say(StatusCode::SERVICE_UNAVAILABLE, "Not sent", why);
    let (Some(mailer), Some(oidc)) = (&state.mailer, &state.opts.oidc) else {
        return Err(unavailable(
            "this service cannot send mail ([senders.email] is not an SMTP sender)",
        ));
    };
    let expires = (now() + LINK_SECS).to_string();
    let token = state
        .keys
        .sign("verify", &[user, "email", address, &expires]);
    let base = oidc.public_url.trim_end_matches('/');
    let link = format!(
        "{base}/verify?u={}&c=email&a={}&e={expires}&t={token}",
        fmn_senders::email::percent(user),
        fmn_senders::email::percent(address)
    );
    let body = format!(
        "Someone, probably you, signed in to Fedora Notifications as {user} and asked to send\n\
         notifications to this address. To confirm, open this link within a day:\n\n{link}\n\n\
         If it was not you, ignore this mail: nothing more is sent here.\n"
    );
    let id = format!("verify-{}", &token[..16]);
    let sent = mailer
        .lock()
        .await
        .send_plain(
            address,
            &id,
            "Confirm your address for Fedora Notifications",
            &body,
        )
        .await;
    sent.map_err(|e| {
        tracing::warn!(%user, %address, "verification mail not sent: {e}");
        say(
            StatusCode::BAD_GATEWAY,
            "Not sent",
            &format!("the mail could not be sent: {e}"),
        )
    })?;
    tracing::info!(%user, %address, "verification link sent");
    Ok(())
}

/// The link's query.
#[derive(Deserialize)]
pub(crate) struct Link {
    u: String,
    c: String,
    a: String,
    e: String,
    t: String,
}

impl Link {
    /// Refuses a link that is not genuine (403) or has expired (400).
    fn check(&self, keys: &crate::session::Keys) -> Result<(), Said> {
        if !keys.signed("verify", &[&self.u, &self.c, &self.a, &self.e], &self.t) {
            return Err(say(
                StatusCode::FORBIDDEN,
                "This link is not valid",
                "the link's token does not match it",
            ));
        }
        if self.e.parse::<u64>().map_or(true, |e| e <= now()) {
            let why = "the link has expired: add the address again for a new one";
            return Err(say(StatusCode::BAD_REQUEST, "This link has expired", why));
        }
        Ok(())
    }
}

/// `GET /verify`: asks to confirm (a scanner following the link confirms nothing).
pub(crate) async fn confirm<S>(
    State(state): State<crate::State<S>>,
    Query(link): Query<Link>,
) -> Response {
    if let Err(r) = link.check(&state.keys) {
        return r.into_response();
    }
    let text = format!("Send {}'s notifications to {}?", link.u, link.a);
    respond(
        StatusCode::OK,
        &Message {
            title: "Confirm the address",
            text: &text,
            form: Some("Confirm"),
        },
    )
}

/// `POST /verify`: the address joins the user's channel.
pub(crate) async fn apply<S: PrefsStore>(
    State(state): State<crate::State<S>>,
    Query(link): Query<Link>,
) -> Response {
    if let Err(r) = link.check(&state.keys) {
        return r.into_response();
    }
    match add_address(&state.store, &link.u, ChannelKind::Email, &link.a).await {
        Ok(()) => {
            tracing::info!(user = %link.u, address = %link.a, "address verified");
            say(
                StatusCode::OK,
                "Address confirmed",
                &format!("{} now receives {}'s email notifications.", link.a, link.u),
            )
            .into_response()
        }
        Err(r) => r.into_response(),
    }
}

/// Adds `address` to `user`'s `channel` (made if missing).
pub(crate) async fn add_address<S: PrefsStore>(
    store: &S,
    user: &str,
    channel: ChannelKind,
    address: &str,
) -> Result<(), Said> {
    let edits = UserEdits {
        add_address: vec![(channel, address.to_owned())],
        ..UserEdits::default()
    };
    match edit_user_prefs(store, user, |current| edits.apply(user, current)).await {
        Ok(_) => Ok(()),
        Err(EditUserError::Edit(e)) => {
            Err(say(StatusCode::BAD_REQUEST, "Not changed", &e.to_string()))
        }
        Err(EditUserError::KeptChanging(_)) => Err(say(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not changed",
            "the preferences kept changing; try again",
        )),
        Err(EditUserError::Transport(e)) => Err(say(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not changed",
            &format!("the preferences cannot be reached now: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Keys;

    fn link(keys: &Keys, address: &str, expires: u64) -> Link {
        let e = expires.to_string();
        Link {
            t: keys.sign("verify", &["ralph", "email", address, &e]),
            u: "ralph".into(),
            c: "email".into(),
            a: address.into(),
            e,
        }
    }

    #[test]
    fn a_link_works_until_it_expires_and_only_as_made() {
        let keys = Keys::new("secret", false);
        assert!(link(&keys, "r@x", now() + 60).check(&keys).is_ok());
        let expired = link(&keys, "r@x", now() - 1).check(&keys);
        assert!(matches!(expired, Err(Said(StatusCode::BAD_REQUEST, ..))));
        let mut other = link(&keys, "r@x", now() + 60);
        other.a = "mallory@x".into();
        assert!(matches!(
            other.check(&keys),
            Err(Said(StatusCode::FORBIDDEN, ..))
        ));
        let mut later = link(&keys, "r@x", now() + 60);
        later.e = (now() + 10 * LINK_SECS).to_string();
        assert!(matches!(
            later.check(&keys),
            Err(Said(StatusCode::FORBIDDEN, ..))
        ));
        let elsewhere = Keys::new("another secret", false);
        assert!(link(&keys, "r@x", now() + 60).check(&elsewhere).is_err());
        // A CSRF token is no verification token, though both are made with the same key.
        let mut csrf = link(&keys, "r@x", now() + 60);
        csrf.t = keys.csrf("ralph");
        assert!(csrf.check(&keys).is_err());
    }
}
