//! The email sender: SMTP through lettre, one recipient per mail.

use std::time::Duration;

use fmn_core::Notification;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::smtp::SmtpPool;
use crate::{SendError, Sender};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP (a local relay).
    #[default]
    None,
    /// STARTTLS, required.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

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
    /// The `From:` of every mail, e.g. `Fedora Notifications <notifications@fedoraproject.org>`.
    pub from: String,
    /// Seconds a connection or command may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Where users change their preferences; linked in every mail's footer.
    #[serde(default)]
    pub preferences_url: Option<String>,
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
        let pool = SmtpPool::new(
            &cfg.host,
            cfg.port,
            cfg.tls,
            Duration::from_secs(cfg.timeout_secs),
            credentials,
        )
        .map_err(|reason| EmailConfigError::Tls {
            host: cfg.host.clone(),
            reason,
        })?;
        let domain = from.email.domain().to_owned();
        Ok(EmailSender {
            pool,
            from,
            domain,
            preferences_url: cfg.preferences_url.clone(),
        })
    }

    /// The mail for `n` to `to`.
    pub fn compose(&self, n: &Notification, to: Mailbox) -> Result<Message, SendError> {
        let summary = n
            .meta
            .summary
            .clone()
            .unwrap_or_else(|| n.message.topic.clone());
        let category = fmn_rules_sdk::topic_parts(&n.message.topic).0;
        let address_tag = &hex::encode(Sha256::digest(to.email.to_string().as_bytes()))[..8];
        let mut body = String::new();
        body.push_str(&summary);
        body.push_str("\n\n");
        if let Some(link) = &n.meta.link {
            body.push_str(link);
            body.push_str("\n\n");
        }
        body.push_str("-- \n");
        body.push_str(&format!(
            "You received this because your filter \"{}\" matched.\n",
            n.filter
        ));
        if let Some(url) = &self.preferences_url {
            body.push_str(&format!("Change your notification preferences: {url}\n"));
        }
        body.push_str(&format!(
            "Topic: {}\nMessage: {}\n",
            n.message.topic, n.message.id
        ));

        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(one_line(&summary))
            .message_id(Some(format!(
                "<{}.{address_tag}@{}>",
                n.delivery_id, self.domain
            )))
            .date_now()
            .header(ContentType::TEXT_PLAIN);
        let mut headers = vec![
            ("Auto-Submitted", "auto-generated".to_owned()),
            ("Precedence", "bulk".to_owned()),
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

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Sender for EmailSender {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&mut self, n: &Notification, address: &str) -> Result<(), SendError> {
        let to: Mailbox = address.parse().map_err(|e| {
            SendError::Permanent(format!("{address:?} is not an email address: {e}"))
        })?;
        let mail = self.compose(n, to)?;
        match self.pool.send(mail.envelope(), &mail.formatted()).await {
            Ok(()) => Ok(()),
            Err(e) if e.permanent => Err(SendError::Permanent(e.message)),
            Err(e) => Err(SendError::Transient(e.message)),
        }
    }
}
