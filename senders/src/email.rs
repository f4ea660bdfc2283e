//! The email sender: SMTP through lettre, one recipient per mail.

use std::time::Duration;

use fmn_core::Notification;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::smtp::{SmtpPool, TlsMode};
use crate::{SendError, Sender};

/// The SMTP server and the mails' sender.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server's host name.
    pub host: String,
    /// Its port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// How the connection is secured.
    #[serde(default)]
    pub tls: TlsMode,
    /// Login, when the server wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for `username`.
    #[serde(default)]
    pub password: Option<String>,
    /// PEM certificates trusted besides the public roots (Mozilla's, from webpki-roots): a
    /// relay with a certificate from the organisation's own CA.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// The `From:` of every mail, e.g. `Fedora Notifications <notifications@fedoraproject.org>`.
    pub from: String,
    /// Seconds a connection or command may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Where users change their preferences; linked in every mail's footer.
    #[serde(default)]
    pub preferences_url: Option<String>,
    /// A page that says why the mail came, with `{id}` (the message id, percent-encoded)
    /// filled in, e.g. `fmn serve`'s `https://HOST/why?id={id}`; linked in every mail's
    /// footer.
    #[serde(default)]
    pub why_url: Option<String>,
    /// The `List-Id` of every mail; `<notifications.DOMAIN>` of `from` when absent.
    #[serde(default)]
    pub list_id: Option<String>,
    /// A one-click unsubscribe URL (RFC 8058), with `{user}`, `{channel}`, `{filter}` (empty
    /// for a digest: the whole channel) and `{token}` filled in (percent-encoded): it goes in
    /// `List-Unsubscribe`, with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    #[serde(default)]
    pub unsubscribe_url: Option<String>,
    /// The key of `{token}`: HMAC-SHA256 over user, channel and filter, hex, so the web side can
    /// tell a genuine link.
    #[serde(default)]
    pub unsubscribe_secret: Option<String>,
}

fn default_port() -> u16 {
    25
}

fn default_timeout() -> u64 {
    30
}

/// A configuration problem, found before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum EmailConfigError {
    /// `from` is not a mailbox.
    #[error("email sender: `from` = {from:?} is not an address: {reason}")]
    From {
        /// The value.
        from: String,
        /// Why.
        reason: String,
    },
    /// TLS could not be set up.
    #[error("email sender: TLS for {host}: {reason}")]
    Tls {
        /// The server.
        host: String,
        /// Why.
        reason: String,
    },
}

/// Sends notifications by email.
pub struct EmailSender {
    pool: SmtpPool,
    from: Mailbox,
    domain: String,
    preferences_url: Option<String>,
    why_url: Option<String>,
    list_id: String,
    unsubscribe_url: Option<String>,
    unsubscribe_secret: Option<String>,
    templates: crate::template::EmailTemplates,
}

impl EmailSender {
    /// A sender for `cfg`; connections are made (and pooled) on first use.
    pub fn new(cfg: &EmailConfig) -> Result<Self, EmailConfigError> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| EmailConfigError::From {
                from: cfg.from.clone(),
                reason: e.to_string(),
            })?;
        let credentials = match (&cfg.username, &cfg.password) {
            (Some(u), Some(p)) => Some(Credentials::new(u.clone(), p.clone())),
            _ => None,
        };
        let extra_roots = match &cfg.ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| EmailConfigError::Tls {
                host: cfg.host.clone(),
                reason: format!("ca_file {}: {e}", path.display()),
            })?),
            None => None,
        };
        let pool = SmtpPool::new(
            &cfg.host,
            cfg.port,
            cfg.tls,
            Duration::from_secs(cfg.timeout_secs),
            credentials,
            extra_roots.as_deref(),
        )
        .map_err(|reason| EmailConfigError::Tls {
            host: cfg.host.clone(),
            reason,
        })?;
        let domain = from.email.domain().to_owned();
        let list_id = cfg
            .list_id
            .clone()
            .unwrap_or_else(|| format!("<notifications.{domain}>"));
        Ok(EmailSender {
            pool,
            from,
            domain,
            preferences_url: cfg.preferences_url.clone(),
            why_url: cfg.why_url.clone(),
            list_id,
            unsubscribe_url: cfg.unsubscribe_url.clone(),
            unsubscribe_secret: cfg.unsubscribe_secret.clone(),
            templates: Default::default(),
        })
    }

    /// Uses the operator's templates where they give one.
    pub fn with_templates(mut self, templates: crate::template::EmailTemplates) -> Self {
        self.templates = templates;
        self
    }

    /// The mail for `n` to `to`.
    pub fn compose(&self, n: &Notification, to: Mailbox) -> Result<Message, SendError> {
        let category = fmn_rules_sdk::topic_parts(&n.message.topic).0;
        let subject = match &self.templates.subject {
            Some(t) => t.render(n),
            None => n.headline().to_owned(),
        };
        let mut body = String::new();
        match &self.templates.body {
            Some(t) => {
                body.push_str(t.render(n).trim_end());
                body.push_str("\n\n");
            }
            None => {
                body.push_str(n.headline());
                body.push_str("\n\n");
                if let Some(link) = &n.meta.link {
                    body.push_str(link);
                    body.push_str("\n\n");
                }
            }
        }
        body.push_str("-- \n");
        body.push_str(&format!(
            "You received this because your filter \"{}\" matched.\n",
            n.filter
        ));
        if let Some(url) = &self.why_url {
            let url = url.replace("{id}", &percent(&n.message.id));
            body.push_str(&format!("Why you got this, filter by filter: {url}\n"));
        }
        if let Some(url) = &self.preferences_url {
            body.push_str(&format!("Change your notification preferences: {url}\n"));
        }
        body.push_str(&format!(
            "Topic: {}\nMessage: {}\n",
            n.message.topic, n.message.id
        ));

        let unsubscribe = self.unsubscribe_link(&n.user, &n.filter);
        let mut b = self.builder(to, &subject, &n.delivery_id, unsubscribe);
        let mut headers = vec![
            ("X-Fedmsg-Topic", n.message.topic.clone()),
            ("X-Fedmsg-Category", category.to_owned()),
            ("X-Fmn-Filter", n.filter.clone()),
        ];
        if !n.meta.usernames.is_empty() {
            headers.push(("X-Fedmsg-Username", n.meta.usernames.join(" ")));
        }
        if !n.meta.packages.is_empty() {
            headers.push((
                "X-Fedmsg-Package",
                n.meta
                    .packages
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
            ));
            headers.push(("X-Fedmsg-Num-Packages", n.meta.packages.len().to_string()));
        }
        for (name, value) in headers {
            b = b.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(name),
                value,
            ));
        }
        b.body(body)
            .map_err(|e| SendError::Permanent(format!("cannot build the mail: {e}")))
    }
}

impl EmailSender {
    /// The one-click unsubscribe link for `user`'s `filter` on email (`""`: the channel).
    pub fn unsubscribe_link(&self, user: &str, filter: &str) -> Option<String> {
        let template = self.unsubscribe_url.as_ref()?;
        let token = self
            .unsubscribe_secret
            .as_ref()
            .map_or_else(String::new, |key| {
                crate::unsubscribe::token(key, user, fmn_core::ChannelKind::Email, filter)
            });
        Some(
            template
                .replace("{user}", &percent(user))
                .replace("{channel}", "email")
                .replace("{filter}", &percent(filter))
                .replace("{token}", &token),
        )
    }

    /// The headers every mail has; the Message-ID is `id` and a tag of the recipient.
    fn builder(
        &self,
        to: Mailbox,
        subject: &str,
        id: &str,
        unsubscribe: Option<String>,
    ) -> lettre::message::MessageBuilder {
        let address_tag = &hex::encode(Sha256::digest(to.email.to_string().as_bytes()))[..8];
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(one_line(subject))
            .message_id(Some(format!("<{id}.{address_tag}@{}>", self.domain)))
            .date_now()
            .header(ContentType::TEXT_PLAIN);
        let mut headers = vec![
            ("Auto-Submitted", "auto-generated".to_owned()),
            ("Precedence", "bulk".to_owned()),
            ("List-Id", self.list_id.clone()),
        ];
        if let Some(url) = unsubscribe {
            headers.push(("List-Unsubscribe", format!("<{url}>")));
            headers.push((
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".to_owned(),
            ));
        }
        for (name, value) in headers {
            b = b.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(name),
                value,
            ));
        }
        b
    }

    /// The digest mail of `items` (oldest first) to `to`: a numbered list of one-liners, then
    /// the entries in full while the body stays under [`DIGEST_FULL_BYTES`].
    pub fn compose_digest(
        &self,
        items: &[Notification],
        to: Mailbox,
    ) -> Result<Message, SendError> {
        let id = format!("digest-{}", crate::digest::digest_id(items));
        let subject = match items.len() {
            1 => "Notifications digest: 1 update".to_owned(),
            n => format!("Notifications digest: {n} updates"),
        };
        let mut body = format!("{subject}\n\n");
        for (i, n) in items.iter().enumerate() {
            body.push_str(&format!(
                "{:>3}. {}\n",
                i + 1,
                truncate(&one_line(n.headline()), 200)
            ));
        }
        body.push_str("\n\n");
        let mut shown = 0;
        for (i, n) in items.iter().enumerate() {
            let mut entry = format!("{:>3}. {}\n", i + 1, n.headline());
            if let Some(link) = &n.meta.link {
                entry.push_str(&format!("     {link}\n"));
            }
            entry.push_str(&format!(
                "     Topic: {}\n     Filter: {}\n     Message: {}\n\n",
                n.message.topic, n.filter, n.message.id
            ));
            if body.len() + entry.len() > DIGEST_FULL_BYTES {
                break;
            }
            body.push_str(&entry);
            shown += 1;
        }
        if shown < items.len() {
            body.push_str(&format!(
                "({} more not shown in full: the mail would be too long; see the list above.)\n\n",
                items.len() - shown
            ));
        }
        body.push_str("-- \n");
        body.push_str(
            "You received this digest because your notification settings collect \
                       notifications and send them together.\n",
        );
        if let Some(url) = &self.preferences_url {
            body.push_str(&format!("Change your notification preferences: {url}\n"));
        }
        let b = self
            .builder(
                to,
                &subject,
                &id,
                items
                    .first()
                    .and_then(|n| self.unsubscribe_link(&n.user, "")),
            )
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-Fmn-Digest"),
                items.len().to_string(),
            ));
        b.body(body)
            .map_err(|e| SendError::Permanent(format!("cannot build the mail: {e}")))
    }
}

/// The body of a digest mail stops showing entries in full past this size.
pub const DIGEST_FULL_BYTES: usize = 256 * 1024;

/// `s`, cut at a character boundary to at most `max` bytes, with an ellipsis when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// `address` as a recipient; not one is a permanent failure.
fn mailbox(address: &str) -> Result<Mailbox, SendError> {
    address
        .parse()
        .map_err(|e| SendError::Permanent(format!("{address:?} is not an email address: {e}")))
}

/// `s` percent-encoded for a URL's query or path: unreserved characters kept.
pub fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The longest subject a mail gets, in characters: RFC 5322 allows 998 bytes a line, and an
/// unbroken token cannot be folded; a server refuses a longer line, which would be a permanent
/// failure of fmn's own making.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// A summary as a subject: on one line, without control characters, cut to
/// [`MAX_SUBJECT_CHARS`].
fn one_line(s: &str) -> String {
    crate::plain::cut_chars(&crate::plain::one_line(s), MAX_SUBJECT_CHARS)
}

impl Sender for EmailSender {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn ready(&mut self) -> Result<(), SendError> {
        self.pool
            .ready()
            .await
            .map_err(|e| SendError::Unreachable(e.message))
    }

    async fn send(&mut self, n: &Notification, address: &str) -> Result<(), SendError> {
        let to = mailbox(address)?;
        let mail = self.compose(n, to)?;
        self.deliver(&mail).await
    }

    async fn send_digest(
        &mut self,
        items: &[Notification],
        address: &str,
    ) -> Result<(), SendError> {
        let to = mailbox(address)?;
        let mail = self.compose_digest(items, to)?;
        self.deliver(&mail).await
    }
}

impl EmailSender {
    /// Sends a plain mail of the service's own (an address's verification link, say) to
    /// `address`: from the sender's `from`, with its `List-Id`, without an unsubscribe link.
    /// `id` makes its Message-ID.
    pub async fn send_plain(
        &mut self,
        address: &str,
        id: &str,
        subject: &str,
        body: &str,
    ) -> Result<(), SendError> {
        let to = mailbox(address)?;
        let mail = self
            .builder(to, subject, id, None)
            .body(body.to_owned())
            .map_err(|e| SendError::Permanent(format!("cannot build the mail: {e}")))?;
        self.deliver(&mail).await
    }

    async fn deliver(&mut self, mail: &Message) -> Result<(), SendError> {
        match self.pool.send(mail.envelope(), &mail.formatted()).await {
            Ok(()) => Ok(()),
            Err(e) if e.unreachable => Err(SendError::Unreachable(e.message)),
            Err(e) if e.permanent => Err(SendError::Permanent(e.message)),
            Err(e) => Err(SendError::Transient(e.message)),
        }
    }
}
