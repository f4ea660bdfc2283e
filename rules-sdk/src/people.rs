//! People in text answers. A summary that names a person by a nick or an email address wraps
//! it with [`person`]; the worker then writes the person's account name when its alias data
//! knows one, and the name as given otherwise. (The markers are U+E000 and U+E001, private-use
//! characters that no message text contains; see `rules-sdk/wit/fmn-rules.wit`.)

/// Opens a person's name in a text answer.
pub const START: char = '\u{E000}';
/// Closes it.
pub const END: char = '\u{E001}';

/// `name` marked as a person, for the worker to name by account.
pub fn person(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 6);
    s.push(START);
    s.push_str(name);
    s.push(END);
    s
}

/// `text` with each marked person replaced by what `account` says of them, or by the name as
/// given.
pub fn resolve(text: &str, account: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(START) {
        out.push_str(&rest[..start]);
        let after = &rest[start + START.len_utf8()..];
        let Some(end) = after.find(END) else {
            out.push_str(after);
            return out;
        };
        let name = &after[..end];
        out.push_str(&account(name).unwrap_or_else(|| name.to_owned()));
        rest = &after[end + END.len_utf8()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_people_resolve() {
        let text = format!(
            "{} commented on {}'s bug",
            person("rbean@redhat.com"),
            person("x")
        );
        let r = resolve(&text, |n| {
            (n == "rbean@redhat.com").then(|| "ralph".to_owned())
        });
        assert_eq!(r, "ralph commented on x's bug");
        assert_eq!(resolve("plain", |_| None), "plain");
        // A marker left open keeps the rest as it is.
        assert_eq!(resolve(&format!("a {START}b"), |_| None), "a b");
    }

    /// The host resolves with the same markers.
    #[test]
    fn same_markers_as_the_host() {
        assert_eq!(START, fmn_core::data::PERSON_START);
        assert_eq!(END, fmn_core::data::PERSON_END);
    }
}
