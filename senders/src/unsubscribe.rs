//! The token of a one-click unsubscribe link: what the email sender puts in the links it
//! writes and what the web service checks before it switches anything off.
//!
//! A token is the hex HMAC-SHA256, under the operator's secret, of `USER\nCHANNEL\nFILTER`
//! (`FILTER` empty for a whole channel). It does not expire: a link in an old mail still
//! unsubscribes, as mail clients expect.

use fmn_core::ChannelKind;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

fn mac(secret: &str, user: &str, channel: ChannelKind, filter: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{user}\n{}\n{filter}", channel.as_str()).as_bytes());
    mac
}

/// The token for `user`'s `filter` on `channel` (`""`: the whole channel).
pub fn token(secret: &str, user: &str, channel: ChannelKind, filter: &str) -> String {
    hex::encode(mac(secret, user, channel, filter).finalize().into_bytes())
}

/// Whether `token` is the one [`token`] gives for these: compared in constant time, so its
/// answer tells a forger nothing about how close a guess came.
pub fn is_genuine(
    secret: &str,
    user: &str,
    channel: ChannelKind,
    filter: &str,
    token: &str,
) -> bool {
    let Ok(given) = hex::decode(token) else {
        return false;
    };
    mac(secret, user, channel, filter)
        .verify_slice(&given)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_genuine_only_for_what_it_was_made_for() {
        let t = token("s3cret", "ralph", ChannelKind::Email, "my packages");
        assert!(is_genuine(
            "s3cret",
            "ralph",
            ChannelKind::Email,
            "my packages",
            &t
        ));
        assert!(!is_genuine(
            "other",
            "ralph",
            ChannelKind::Email,
            "my packages",
            &t
        ));
        assert!(!is_genuine(
            "s3cret",
            "ralph2",
            ChannelKind::Email,
            "my packages",
            &t
        ));
        assert!(!is_genuine(
            "s3cret",
            "ralph",
            ChannelKind::Irc,
            "my packages",
            &t
        ));
        assert!(!is_genuine("s3cret", "ralph", ChannelKind::Email, "", &t));
        assert!(!is_genuine(
            "s3cret",
            "ralph",
            ChannelKind::Email,
            "my packages",
            "zz"
        ));
        assert!(!is_genuine(
            "s3cret",
            "ralph",
            ChannelKind::Email,
            "my packages",
            &t[..10]
        ));
    }

    /// The format mails already in mailboxes carry (the value from Python's `hmac` module):
    /// a change would break their links.
    #[test]
    fn the_token_is_the_hmac_of_user_channel_and_filter() {
        assert_eq!(
            token("key", "u", ChannelKind::Email, "f"),
            "83405f3aaaa6f0195ca01dc40502a78648806263692c204ab3fe36b9e2baffa1"
        );
    }
}
