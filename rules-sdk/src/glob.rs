//! Topic globs, as in FMN (Python's `fnmatch`): `*` matches any run of characters (dots
//! included), `?` any one, `[abc]` / `[a-z]` one of a set, `[!abc]` one not in it.
//!
//! Globs come from modules and users, and topics from the bus, so matching is bounded by the
//! pattern's length times the text's: the pattern is parsed once (each class read once), then
//! matched with the one-star backtracking algorithm, which only ever resumes after the last
//! `*` seen.

/// One piece of a parsed pattern.
#[derive(Debug, PartialEq)]
enum Token {
    /// `*`: any run of characters.
    Star,
    /// `?`: any one character.
    Any,
    /// A character standing for itself.
    Char(char),
    /// `[...]`: one character in one of the ranges (a single character is a range of one),
    /// or with `!` in none of them.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str) -> bool {
    matches_counting(pattern, text).0
}

/// Whether `text` matches `pattern`, and the steps matching took once the pattern is parsed
/// (in one pass over it): one per character compared and per range a class tried. Each
/// attempt from a `*` reads each byte of the pattern at most once, and there is at most one
/// attempt per character of the text: at most (pattern length + 1) x (text length + 1).
fn matches_counting(pattern: &str, text: &str) -> (bool, usize) {
    let p = parse(pattern);
    let t: Vec<char> = text.chars().collect();
    let mut steps = 0;
    let (mut pi, mut ti) = (0, 0);
    // Where to resume after the last `*`: its position in the pattern, and in the text.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        steps += 1;
        let ok = match p.get(pi) {
            Some(Token::Star) => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some(Token::Any) => true,
            Some(Token::Char(c)) => *c == t[ti],
            Some(Token::Class { negated, ranges }) => {
                steps += ranges.len();
                ranges.iter().any(|(a, b)| (a..=b).contains(&&t[ti])) != *negated
            }
            None => false,
        };
        match (ok, star) {
            (true, _) => {
                pi += 1;
                ti += 1;
            }
            // An earlier `*` never needs to take more: the last one can take it instead.
            (false, Some((sp, st))) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            (false, None) => return (false, steps),
        }
    }
    (p[pi..].iter().all(|t| *t == Token::Star), steps)
}

/// The tokens of `pattern`.
fn parse(pattern: &str) -> Vec<Token> {
    let p: Vec<char> = pattern.chars().collect();
    // A `[` with no `]` after it is a literal: knowing where the last `]` is tells at once,
    // instead of reading the rest of the pattern at every such `[`.
    let last_close = p.iter().rposition(|&c| c == ']');
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let token = match p[i] {
            '*' => Token::Star,
            '?' => Token::Any,
            '[' => match class(&p, i, last_close) {
                Some((token, next)) => {
                    out.push(token);
                    i = next;
                    continue;
                }
                None => Token::Char('['),
            },
            c => Token::Char(c),
        };
        out.push(token);
        i += 1;
    }
    out
}

/// The class starting at `p[at] == '['` and the position after it, or `None` when no `]`
/// closes it (it is then a literal `[`, as in `fnmatch`). A `]` first in the class (after
/// any `!`) is a member.
fn class(p: &[char], at: usize, last_close: Option<usize>) -> Option<(Token, usize)> {
    let mut i = at + 1;
    let negated = p.get(i) == Some(&'!');
    if negated {
        i += 1;
    }
    let start = i;
    if last_close.is_none_or(|l| l <= start) {
        return None;
    }
    let mut ranges = Vec::new();
    while let Some(&x) = p.get(i) {
        if x == ']' && i > start {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        match (p.get(i + 1), p.get(i + 2)) {
            (Some('-'), Some(&y)) if y != ']' => {
                ranges.push((x, y));
                i += 3;
            }
            _ => {
                ranges.push((x, x));
                i += 1;
            }
        }
    }
    None
}

/// Whether any of `patterns` matches `topic`; an empty list matches every topic.
pub fn any_matches(patterns: &[impl AsRef<str>], topic: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| matches(p.as_ref(), topic))
}

#[cfg(test)]
mod tests {
    use super::{matches, matches_counting};

    #[test]
    fn globs() {
        assert!(matches("*", ""));
        assert!(matches(
            "*.buildsys.build.state.change",
            "org.fedoraproject.prod.buildsys.build.state.change"
        ));
        assert!(!matches(
            "*.buildsys.build.state.change",
            "org.fedoraproject.prod.buildsys.tag"
        ));
        assert!(matches(
            "org.fedoraproject.*.bodhi.*",
            "org.fedoraproject.prod.bodhi.update.comment"
        ));
        assert!(matches("bodhi.update.?omment", "bodhi.update.comment"));
        assert!(!matches("bodhi.update", "bodhi.update.comment"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(matches("**", "anything"));
    }

    #[test]
    fn classes_as_fnmatch() {
        assert!(matches("dist.rpmlint.subtas[a-z]", "dist.rpmlint.subtask"));
        assert!(!matches(
            "dist.rpmlint.subtas[!a-z]",
            "dist.rpmlint.subtask"
        ));
        assert!(matches("dist.rpmlint.subtas[!0-9]", "dist.rpmlint.subtask"));
        assert!(matches("x[abc]y", "xby"));
        assert!(!matches("x[abc]y", "xdy"));
        assert!(matches("x[]]y", "x]y"));
        assert!(matches("x[y", "x[y"), "an unclosed bracket is literal");
        assert!(matches("*[0-9]", "build42"));
    }

    #[test]
    fn classes_edge_cases_as_fnmatch() {
        assert!(matches("x[]a]y", "xay"), "a leading ] is a member");
        assert!(matches("x[!]]y", "xay"));
        assert!(!matches("x[!]]y", "x]y"));
        assert!(matches("x[]-a]y", "x^y"), "a range from ]");
        assert!(matches("[a-]", "-"), "a - before ] is a member");
        assert!(matches("a[b", "a[b") && !matches("a[b", "ab"));
        assert!(
            matches("[[]x[", "[x["),
            "one closed class, then a literal ["
        );
        assert!(matches("*[[[b]", "x[") && matches("*[[[b]", "xb") && !matches("*[[[b]", "x]"));
    }

    /// The worst shapes a module could give on 255-byte topics take at most
    /// (pattern length + 1) x (text length + 1) steps. Before, a `[` that nothing closes was
    /// read to the end of the pattern at every attempt: `*`, 170 `[` and `b` took 1,264,716
    /// steps against 255 `[`, 29 times this bound.
    #[test]
    fn matching_is_bounded_by_pattern_times_text() {
        let a = "a".repeat(255);
        let brackets = "[".repeat(255);
        let mut cases = vec![
            (format!("{}b", "*a".repeat(127)), a.clone()),
            (format!("{}b", "*".repeat(254)), a.clone()),
            (format!("*{}b", "[a-z]".repeat(50)), a.clone()),
            (
                format!("*{}", "[!b]".repeat(63)),
                format!("{}b", "a".repeat(254)),
            ),
        ];
        for k in [1, 85, 127, 170, 200, 253] {
            cases.push((format!("*{}b", "a".repeat(k)), a.clone()));
            cases.push((format!("*{}b", "[".repeat(k)), brackets.clone()));
            cases.push((format!("*{}b", "?".repeat(k)), a.clone()));
        }
        for (pattern, text) in &cases {
            let (matched, steps) = matches_counting(pattern, text);
            let bound = (pattern.len() + 1) * (text.len() + 1);
            assert!(!matched, "{pattern} on {text}");
            assert!(
                steps <= bound,
                "{pattern} on {text}: {steps} steps, over {bound}"
            );
        }
        // The counting counts: the classic worst case costs more than one pass.
        let (_, steps) = matches_counting(&format!("*{}b", "a".repeat(127)), &a);
        assert!(steps > 127 * 128, "{steps}");
    }
}
