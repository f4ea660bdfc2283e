//! Topic globs, as in FMN (Python's `fnmatch`): `*` matches any run of characters (dots
//! included), `?` any one, `[abc]` / `[a-z]` one of a set, `[!abc]` one not in it.

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where to resume after the last `*`: its position in the pattern, and in the text.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class(&p, pi, t[ti]),
            Some(c) if *c == t[ti] => Some(pi + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ti += 1;
            }
            (None, Some((sp, st))) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[at] == '['`: the position after the class if
/// it matches. An unclosed `[` is a literal, as in `fnmatch`.
fn class(p: &[char], at: usize, c: char) -> Option<usize> {
    let mut i = at + 1;
    let negated = matches!(p.get(i), Some('!'));
    if negated {
        i += 1;
    }
    let start = i;
    let mut hit = false;
    while let Some(&x) = p.get(i) {
        if x == ']' && i > start {
            return (hit != negated).then_some(i + 1);
        }
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&y| y != ']') {
            hit |= (x..=p[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= x == c;
            i += 1;
        }
    }
    (c == '[').then_some(at + 1)
}

/// Whether any of `patterns` matches `topic`; an empty list matches every topic.
pub fn any_matches(patterns: &[impl AsRef<str>], topic: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| matches(p.as_ref(), topic))
}

#[cfg(test)]
mod tests {
    use super::matches;

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
}
