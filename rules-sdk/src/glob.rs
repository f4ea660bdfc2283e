//! Topic globs, as in FMN: `*` matches any run of characters (dots included), `?` any one.

/// Whether `topic` matches `pattern`.
pub fn matches(pattern: &str, topic: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), topic.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where to resume after the last `*`: its position in the pattern, and in the topic.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
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
}
