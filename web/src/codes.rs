//! Verified IRC nicks and Matrix ids: the bot sends the address a short code, and the address
//! joins the person's preferences only once they type that code on the page, so fmn sends
//! nothing but the code to an address nobody confirmed.
//!
//! The web service opens no IRC or Matrix connection of its own: it queues the code as a
//! notification on the channel's queue ([`Outbox::queue_notification`]), and the channel's
//! running sender (`fmn send`) delivers it like any other.
//!
//! The code is stateless, like the email link: [`CODE_LEN`] symbols of the HMAC of user,
//! channel, address and expiry (purpose `verify-code`). The page's follow-up form carries the
//! address and expiry in hidden fields; the code works for [`CODE_SECS`].

use std::collections::BTreeMap;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fmn_core::{ChannelKind, Notification};
use fmn_transport::{Outbox, PrefsStore};

use crate::pages::{CodeForm, respond};
use crate::session::{Keys, now};
use crate::verify::{Said, add_address, say};

/// How long a code works: an hour.
pub(crate) const CODE_SECS: u64 = 3600;

/// Symbols in a code: 40 bits.
pub(crate) const CODE_LEN: usize = 8;

/// The signing purpose of codes: no link, CSRF token or other signature passes for one.
const PURPOSE: &str = "verify-code";

/// Crockford's base 32: no I, L, O or U, so what is read aloud or copied is typed right.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// What fmn's own notifications name as their writer.
const FROM: &str = "fmn-web";

/// The code for `user`'s `address` on `channel`, expiring at `expires` (seconds since the
/// epoch, as the form carries it).
pub(crate) fn code(
    keys: &Keys,
    user: &str,
    channel: ChannelKind,
    address: &str,
    expires: &str,
) -> String {
    code_of(&keys.sign(PURPOSE, &[user, channel.as_str(), address, expires]))
}

/// The first 40 bits of a hex MAC, as [`CODE_LEN`] symbols of 5 bits.
fn code_of(mac: &str) -> String {
    // A MAC of ours is 64 hex digits: its first 10 always parse.
    let bits = mac
        .get(..10)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or_default();
    (0..CODE_LEN)
        .rev()
        .map(|i| char::from(ALPHABET[((bits >> (5 * i)) & 31) as usize]))
        .collect()
}

/// What a person typed, as a code: upper case, without spaces or dashes, with the letters
/// Crockford's base 32 reads as digits (O as 0, I and L as 1).
fn normalise(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

/// Why a typed code is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// It is not the code of this user, channel, address and expiry.
    Wrong,
    /// It was, but its time is up.
    Expired,
}

/// Whether `typed` is the code of these, and still works.
pub(crate) fn check(
    keys: &Keys,
    user: &str,
    channel: ChannelKind,
    address: &str,
    expires: &str,
    typed: &str,
) -> Result<(), Refused> {
    let want = code(keys, user, channel, address, expires);
    if !same(normalise(typed).as_bytes(), want.as_bytes()) {
        return Err(Refused::Wrong);
    }
    if expires.parse::<u64>().map_or(true, |e| e <= now()) {
        return Err(Refused::Expired);
    }
    Ok(())
}

/// `a == b` in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Why `address` cannot be an address on `channel`; `None` when it can.
pub(crate) fn syntax_problem(channel: ChannelKind, address: &str) -> Option<String> {
    let (ok, what) = match channel {
        ChannelKind::Irc => (irc_nick(address), "an IRC nick"),
        ChannelKind::Matrix => (matrix_id(address), "a Matrix id (@name:server)"),
        _ => (false, "an address verified with a code"),
    };
    (!ok).then(|| format!("{address:?} is not {what}"))
}

/// An IRC nick as RFC 2812 spells one (a letter or special first, then letters, digits,
/// specials and dashes), at most 64 bytes as the IRC sender takes.
fn irc_nick(nick: &str) -> bool {
    // `[ \ ] ^ _ ` { | }`: RFC 2812's "special".
    let special = |c: char| matches!(c, '['..='`' | '{'..='}');
    let mut chars = nick.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    nick.len() <= 64
        && (first.is_ascii_alphabetic() || special(first))
        && chars.all(|c| c.is_ascii_alphanumeric() || special(c) || c == '-')
}

/// A Matrix user id: `@localpart:server`, the localpart in the characters the Matrix
/// specification allows (lower case letters, digits, `._=-/+`), the server a host name or IP
/// literal with an optional port, at most 255 bytes in all.
fn matrix_id(id: &str) -> bool {
    let Some((local, server)) = id.strip_prefix('@').and_then(|r| r.split_once(':')) else {
        return false;
    };
    let local_ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-/+".contains(c);
    id.len() <= 255 && !local.is_empty() && local.chars().all(local_ok) && server_name(server)
}

/// `host[:port]`, the host a DNS name, an IPv4 address or a bracketed IPv6 address.
fn server_name(server: &str) -> bool {
    let (host, port) = match server.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, rest)) => {
                let ok = !addr.is_empty()
                    && addr
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || ":.".contains(c));
                (
                    ok.then_some("v6"),
                    rest.strip_prefix(':').or(rest.is_empty().then_some("")),
                )
            }
            None => (None, None),
        },
        None => {
            let (host, port) = server.split_once(':').unwrap_or((server, ""));
            let ok = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
            (ok.then_some(host), Some(port))
        }
    };
    let port_ok = |p: &str| p.is_empty() || (p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    host.is_some() && port.is_some_and(port_ok)
}

/// What the bot says to the address.
fn message(code: &str, user: &str) -> String {
    format!(
        "Your Fedora Notifications code is {code}. Someone, probably you, signed in as {user} \
         and asked to send notifications here; type the code on the page within an hour to \
         confirm. If it was not you, ignore this message: nothing more is sent here."
    )
}

/// Has the bot send `address` its code on `channel`, then asks for the code: the rest of
/// `POST /addresses` for IRC and Matrix, with the form's checked CSRF token.
pub(crate) async fn send<S: Outbox>(
    state: &crate::Shared<S>,
    user: &str,
    channel: ChannelKind,
    address: &str,
    csrf: &str,
) -> Response {
    if let Some(why) = syntax_problem(channel, address) {
        return say(StatusCode::BAD_REQUEST, "Not changed", &why).into_response();
    }
    let expires = (now() + CODE_SECS).to_string();
    let code = code(&state.keys, user, channel, address, &expires);
    // Keyed by the code: the same request twice in one second is delivered once.
    let key = format!("{PURPOSE}:{code}");
    let n = Notification::direct(user, channel, address, &key, &message(&code, user), FROM);
    if let Err(e) = state.store.queue_notification(&n).await {
        tracing::warn!(%user, %channel, %address, "verification code not queued: {e}");
        let why = format!("the code could not be queued for the {channel} bot: {e}");
        return say(StatusCode::SERVICE_UNAVAILABLE, "Not sent", &why).into_response();
    }
    tracing::info!(%user, %channel, %address, "verification code queued");
    respond(
        StatusCode::OK,
        &CodeForm {
            channel: channel.as_str(),
            address,
            expires: &expires,
            csrf,
        },
    )
}

/// The page that says why a code typed for `address` was refused: `403` for a wrong code,
/// `400` for an expired one.
fn refusal(r: &Refused, address: &str) -> Said {
    match r {
        Refused::Wrong => {
            let why = format!(
                "that is not the code sent to {address}: check it, or add the address again for a new one"
            );
            say(StatusCode::FORBIDDEN, "This code is not valid", &why)
        }
        Refused::Expired => {
            let why = "the code has expired: add the address again for a new one";
            say(StatusCode::BAD_REQUEST, "This code has expired", why)
        }
    }
}

/// `POST /addresses/code`: the code typed for an IRC nick or a Matrix id; a right one adds the
/// address to the signed-in person's channel (made if missing).
pub(crate) async fn confirm<S: PrefsStore>(
    State(state): State<crate::State<S>>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let session = match crate::manage::signed_in(&state, &headers, &form) {
        Ok(s) => s,
        Err(d) => return d.respond(),
    };
    let field = |name: &str| form.get(name).map_or("", |v| v.trim());
    let (address, expires) = (field("address"), field("expires"));
    let channel = match field("channel").parse() {
        Ok(c @ (ChannelKind::Irc | ChannelKind::Matrix)) => c,
        _ => {
            let why = format!(
                "{:?} is not a channel verified with a code",
                field("channel")
            );
            return say(StatusCode::BAD_REQUEST, "Not changed", &why).into_response();
        }
    };
    let user = session.user.as_str();
    if let Err(r) = check(&state.keys, user, channel, address, expires, field("code")) {
        return refusal(&r, address).into_response();
    }
    match add_address(&state.store, user, channel, address).await {
        Ok(()) => {
            tracing::info!(%user, %channel, %address, "address verified");
            let text = format!("{address} now receives {user}'s {channel} notifications.");
            say(StatusCode::OK, "Address confirmed", &text).into_response()
        }
        Err(r) => r.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IRC: ChannelKind = ChannelKind::Irc;

    fn in_a_minute() -> String {
        (now() + 60).to_string()
    }

    #[test]
    fn a_code_is_eight_symbols_that_are_easy_to_type() {
        let keys = Keys::new("secret", false);
        let c = code(&keys, "ralph", IRC, "ralph_", &in_a_minute());
        assert_eq!(c.len(), CODE_LEN);
        assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
    }

    #[test]
    fn a_genuine_code_works_typed_loosely_until_it_expires() {
        let keys = Keys::new("secret", false);
        let e = in_a_minute();
        let c = code(&keys, "ralph", IRC, "ralph_", &e);
        assert_eq!(check(&keys, "ralph", IRC, "ralph_", &e, &c), Ok(()));
        let loose = format!(" {}-{} ", &c[..4], &c[4..]).to_lowercase();
        assert_eq!(check(&keys, "ralph", IRC, "ralph_", &e, &loose), Ok(()));
        let past = (now() - 1).to_string();
        let old = code(&keys, "ralph", IRC, "ralph_", &past);
        assert_eq!(
            check(&keys, "ralph", IRC, "ralph_", &past, &old),
            Err(Refused::Expired)
        );
    }

    #[test]
    fn a_code_is_only_for_its_user_channel_address_and_expiry() {
        let keys = Keys::new("secret", false);
        let e = in_a_minute();
        let c = code(&keys, "ralph", IRC, "ralph_", &e);
        let wrong = [
            ("mallory", IRC, "ralph_", e.clone()),
            ("ralph", ChannelKind::Matrix, "ralph_", e.clone()),
            ("ralph", IRC, "mallory", e.clone()),
            ("ralph", IRC, "ralph_", (now() + 10 * CODE_SECS).to_string()),
        ];
        for (user, channel, address, expires) in wrong {
            assert_eq!(
                check(&keys, user, channel, address, &expires, &c),
                Err(Refused::Wrong),
                "{user} {channel} {address} {expires}"
            );
        }
        assert_eq!(
            check(&keys, "ralph", IRC, "ralph_", &e, ""),
            Err(Refused::Wrong)
        );
        let elsewhere = Keys::new("another secret", false);
        assert_eq!(
            check(&elsewhere, "ralph", IRC, "ralph_", &e, &c),
            Err(Refused::Wrong)
        );
    }

    /// The same parts signed for another purpose (the email link's, a CSRF token's) give no
    /// code, and a code's signature is no email link's token.
    #[test]
    fn a_signature_for_another_purpose_is_no_code() {
        let keys = Keys::new("secret", false);
        let e = in_a_minute();
        let parts = ["ralph", "irc", "ralph_", e.as_str()];
        for purpose in ["verify", "csrf"] {
            let other = code_of(&keys.sign(purpose, &parts));
            assert_eq!(
                check(&keys, "ralph", IRC, "ralph_", &e, &other),
                Err(Refused::Wrong),
                "{purpose}"
            );
        }
        assert!(!keys.signed("verify", &parts, &keys.sign(PURPOSE, &parts)));
    }

    #[test]
    fn irc_nicks_are_checked_as_rfc_2812_spells_them() {
        for good in ["ralph", "ralph_", "[away]", "r-2", "`x", "a{b}|c^"] {
            assert_eq!(syntax_problem(IRC, good), None, "{good}");
        }
        for bad in [
            "",
            "2ralph",
            "-r",
            "a b",
            "a,b",
            "#fedora",
            "a@b",
            "r\r\nQUIT",
            "ä",
        ] {
            assert!(syntax_problem(IRC, bad).is_some(), "{bad:?}");
        }
        assert!(syntax_problem(IRC, &"a".repeat(65)).is_some());
    }

    #[test]
    fn matrix_ids_are_checked_as_the_specification_spells_them() {
        const M: ChannelKind = ChannelKind::Matrix;
        for good in [
            "@ralph:fedora.im",
            "@r.a-l_p=h/+1:matrix.example.org:8448",
            "@r:127.0.0.1",
            "@r:[::1]:8448",
            "@r:[2001:db8::1]",
        ] {
            assert_eq!(syntax_problem(M, good), None, "{good}");
        }
        for bad in [
            "ralph:fedora.im",
            "@ralph",
            "@:fedora.im",
            "@Ralph:fedora.im",
            "@ra lph:fedora.im",
            "@ralph:",
            "@ralph:fedora.im:port",
            "@ralph:fedora.im:123456",
            "@ralph:[::1",
            "@ralph:exa mple.org",
        ] {
            assert!(syntax_problem(M, bad).is_some(), "{bad:?}");
        }
        let long = format!("@{}:x.org", "a".repeat(250));
        assert!(syntax_problem(M, &long).is_some());
        assert!(syntax_problem(ChannelKind::Email, "r@x.org").is_some());
    }

    /// A wrong code and an expired one are told apart, each with its status and what to do.
    #[test]
    fn a_refused_code_says_why() {
        let wrong = refusal(&Refused::Wrong, "ralph_").into_response();
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
        let expired = refusal(&Refused::Expired, "ralph_").into_response();
        assert_eq!(expired.status(), StatusCode::BAD_REQUEST);
        let Said(_, title, text) = refusal(&Refused::Expired, "ralph_");
        assert_eq!(title, "This code has expired");
        assert!(text.contains("add the address again"), "{text}");
        let Said(_, title, text) = refusal(&Refused::Wrong, "ralph_");
        assert_eq!(title, "This code is not valid");
        assert!(text.contains("not the code sent to ralph_"), "{text}");
    }

    #[test]
    fn the_message_says_the_code() {
        let text = message("ABCD1234", "ralph");
        assert!(
            text.starts_with("Your Fedora Notifications code is ABCD1234"),
            "{text}"
        );
    }
}
