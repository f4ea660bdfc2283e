//! Templates: what a notification says, per channel, from the message's metadata, overridable
//! by the operator with a TOML file (`[templates] file`).
//!
//! A template is text with fields in braces: `{summary}`, `{link}`, `{topic}`, `{category}`,
//! `{agent}` (the first user the message names, usually who acted), `{users}`, `{packages}`,
//! `{filter}`, `{user}` (the recipient) and `{id}` (the message id); `{{` and `}}` are
//! braces. A field the message lacks is empty. An unknown field is an error when the file is
//! read, with where it is.

use std::path::Path;

use fmn_core::Notification;
use serde::Deserialize;

/// One field a template can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Summary,
    Link,
    Topic,
    Category,
    Agent,
    Users,
    Packages,
    Filter,
    User,
    Id,
}

impl Field {
    const NAMES: [(&'static str, Field); 10] = [
        ("summary", Field::Summary),
        ("link", Field::Link),
        ("topic", Field::Topic),
        ("category", Field::Category),
        ("agent", Field::Agent),
        ("users", Field::Users),
        ("packages", Field::Packages),
        ("filter", Field::Filter),
        ("user", Field::User),
        ("id", Field::Id),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A template that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A field name that is not one.
    #[error("unknown field {{{name}}} at byte {at} (known: {known})")]
    UnknownField {
        /// The name.
        name: String,
        /// Where it starts.
        at: usize,
        /// The fields there are.
        known: String,
    },
    /// A `{` with no `}`, or a lone `}`.
    #[error("unbalanced brace at byte {0} (write {{{{ or }}}} for a brace)")]
    Brace(usize),
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((i, c)) = rest.next() {
            match c {
                '{' if rest.peek().is_some_and(|(_, n)| *n == '{') => {
                    rest.next();
                    lit.push('{');
                }
                '}' if rest.peek().is_some_and(|(_, n)| *n == '}') => {
                    rest.next();
                    lit.push('}');
                }
                '{' => {
                    let close = text[i..].find('}').ok_or(TemplateError::Brace(i))?;
                    let name = &text[i + 1..i + close];
                    let field = Field::NAMES
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, f)| *f)
                        .ok_or_else(|| TemplateError::UnknownField {
                            name: name.to_owned(),
                            at: i,
                            known: Field::NAMES.map(|(n, _)| n).join(", "),
                        })?;
                    while rest.peek().is_some_and(|(j, _)| *j <= i + close) {
                        rest.next();
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Field(field));
                }
                '}' => return Err(TemplateError::Brace(i)),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Template { parts })
    }

    /// The template filled in for `n`.
    pub fn render(&self, n: &Notification) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => match f {
                    Field::Summary => out.push_str(n.headline()),
                    Field::Link => out.push_str(n.meta.link.as_deref().unwrap_or("")),
                    Field::Topic => out.push_str(&n.message.topic),
                    Field::Category => {
                        out.push_str(fmn_rules_sdk::topic_parts(&n.message.topic).0);
                    }
                    Field::Agent => {
                        out.push_str(n.meta.usernames.first().map_or("", String::as_str));
                    }
                    Field::Users => out.push_str(&n.meta.usernames.join(", ")),
                    Field::Packages => out.push_str(&n.meta.packages.join(", ")),
                    Field::Filter => out.push_str(&n.filter),
                    Field::User => out.push_str(&n.user),
                    Field::Id => out.push_str(&n.message.id),
                },
            }
        }
        out
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Template::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The operator's template file: a table per channel, each template optional (the built-in
/// one applies).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// Mails.
    #[serde(default)]
    pub email: EmailTemplates,
    /// IRC messages.
    #[serde(default)]
    pub irc: IrcTemplates,
    /// Push notifications.
    #[serde(default)]
    pub push: PushTemplates,
    /// Matrix notices.
    #[serde(default)]
    pub matrix: MatrixTemplates,
}

/// `[email]` of the template file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailTemplates {
    /// The subject (default `{summary}`).
    pub subject: Option<Template>,
    /// The body before the footer (default `{summary}`, a blank line, `{link}`); the footer,
    /// naming the filter and the preferences link, is always added.
    pub body: Option<Template>,
}

/// `[irc]` of the template file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IrcTemplates {
    /// The text, cut into lines as the IRC sender does (default `{summary} {link}`).
    pub text: Option<Template>,
}

/// `[push]` of the template file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushTemplates {
    /// The notification's title (default `{summary}`).
    pub title: Option<Template>,
    /// Its body (default `{link}`, else `{topic}`).
    pub body: Option<Template>,
}

/// `[matrix]` of the template file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixTemplates {
    /// The notice (default `{summary} {link}`).
    pub body: Option<Template>,
}

/// A template file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("template file {path}: {reason}")]
pub struct TemplateFileError {
    /// The file.
    pub path: String,
    /// What is wrong, and where.
    pub reason: String,
}

impl Templates {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Templates, TemplateFileError> {
        let bad = |reason: String| TemplateFileError {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        toml::from_str(&text).map_err(|e| bad(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_braces_and_errors() {
        let t = Template::parse("{{x}} {summary}: {link}}}").unwrap();
        assert_eq!(
            t.parts,
            [
                Part::Text("{x} ".into()),
                Part::Field(Field::Summary),
                Part::Text(": ".into()),
                Part::Field(Field::Link),
                Part::Text("}".into()),
            ]
        );
        assert!(matches!(
            Template::parse("a {sumary}"),
            Err(TemplateError::UnknownField { at: 2, .. })
        ));
        assert_eq!(Template::parse("a {summary"), Err(TemplateError::Brace(2)));
        assert_eq!(Template::parse("a } b"), Err(TemplateError::Brace(2)));
        assert_eq!(Template::parse("é {id}").unwrap().parts.len(), 2);
    }
}
