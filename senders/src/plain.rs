//! Message text made safe for a channel's one-line fields (an email subject, an IRC line):
//! summaries come from bus messages and may hold line breaks, control characters and
//! unbroken tokens of any length.

/// `text` on one line: every control character (line breaks, tabs, IRC's formatting codes,
/// NUL) and every run of whitespace becomes one space; no space at either end.
pub fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` cut to at most `max` characters, ending in `...` when it was cut (ASCII, so that a
/// subject that was ASCII stays so).
pub fn cut_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(3);
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_drops_breaks_and_controls() {
        assert_eq!(one_line(" a\r\nb\t\u{3}4c\u{0}d  e\n"), "a b 4c d e");
        assert_eq!(one_line(""), "");
    }

    #[test]
    fn cut_at_characters_with_an_ellipsis() {
        assert_eq!(cut_chars("short", 10), "short");
        assert_eq!(cut_chars("ééééé", 4), "é...");
        assert_eq!(cut_chars(&"x".repeat(1000), 200).chars().count(), 200);
    }
}
