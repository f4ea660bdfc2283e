//! Any configured sender: a `[senders.CHANNEL]` table read into a [`SenderConfig`], built
//! into an [`AnySender`] the loop ([`crate::run`]) drives like any other.

use std::path::{Path, PathBuf};

use fmn_core::{ChannelKind, Notification};
use serde::Deserialize;

use crate::email::{EmailConfig, EmailConfigError, EmailSender};
use crate::file::FileSender;
use crate::irc::{IrcConfig, IrcSender};
use crate::matrix::{MatrixConfig, MatrixConfigError, MatrixSender};
use crate::push::{PushConfig, PushConfigError, PushSender};
use crate::template::Templates;
use crate::{SendError, Sender};

/// `[senders.CHANNEL]`: how a channel is delivered, chosen by its `backend` key. Read
/// leniently (`fmn_core::lenient`): a key given as text, as environment overrides are, takes
/// its field's type.
#[derive(Debug, Clone)]
pub enum SenderConfig {
    /// SMTP.
    Smtp(EmailConfig),
    /// IRC private messages.
    Irc(IrcConfig),
    /// Firebase Cloud Messaging HTTP v1 (`gcm` is accepted: FMN's name for it).
    Fcm(PushConfig),
    /// Matrix notices.
    Matrix(MatrixConfig),
    /// Append JSON lines to a file.
    File {
        /// The file.
        path: PathBuf,
    },
}

impl<'de> Deserialize<'de> for SenderConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        /// `backend = "file"`'s one key.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct FileConfig {
            path: PathBuf,
        }
        fmn_core::lenient::tagged(d, "backend", |backend, rest| {
            Ok(match backend {
                "smtp" => SenderConfig::Smtp(EmailConfig::deserialize(rest)?),
                "irc" => SenderConfig::Irc(IrcConfig::deserialize(rest)?),
                "fcm" | "gcm" => SenderConfig::Fcm(PushConfig::deserialize(rest)?),
                "matrix" => SenderConfig::Matrix(MatrixConfig::deserialize(rest)?),
                "file" => SenderConfig::File {
                    path: FileConfig::deserialize(rest)?.path,
                },
                other => {
                    return Err(toml::de::Error::unknown_variant(
                        other,
                        &["smtp", "irc", "fcm", "matrix", "file"],
                    ));
                }
            })
        })
    }
}

/// A sender's configuration that cannot be used, found before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum SenderConfigError {
    /// `backend = "smtp"`.
    #[error(transparent)]
    Email(#[from] EmailConfigError),
    /// `backend = "fcm"`.
    #[error(transparent)]
    Push(#[from] PushConfigError),
    /// `backend = "matrix"`.
    #[error(transparent)]
    Matrix(#[from] MatrixConfigError),
}

/// A sender built, and where it delivers (for the operator's messages).
pub type Built = (AnySender, String);

impl SenderConfig {
    /// The sender this configures, with the operator's `templates` for its channel.
    pub fn build(&self, templates: &Templates) -> Result<Built, SenderConfigError> {
        Ok(match self {
            SenderConfig::Smtp(cfg) => (
                AnySender::Email(Box::new(
                    EmailSender::new(cfg)?.with_templates(templates.email.clone()),
                )),
                format!("smtp://{}:{}", cfg.host, cfg.port),
            ),
            SenderConfig::Irc(cfg) => (
                AnySender::Irc(Box::new(
                    IrcSender::new(cfg).with_templates(templates.irc.clone()),
                )),
                format!("irc://{}:{}", cfg.server, cfg.port),
            ),
            SenderConfig::Fcm(cfg) => (
                AnySender::Push(Box::new(
                    PushSender::new(cfg)?.with_templates(templates.push.clone()),
                )),
                cfg.endpoint.clone(),
            ),
            SenderConfig::Matrix(cfg) => (
                AnySender::Matrix(Box::new(
                    MatrixSender::new(cfg)?.with_templates(templates.matrix.clone()),
                )),
                cfg.homeserver.clone(),
            ),
            SenderConfig::File { path } => AnySender::file(path),
        })
    }
}

/// The sender for `channel`: as `config` says, or, with none, a file `out_dir/CHANNEL.jsonl`
/// (what `fmn run` does with a channel nobody configured).
pub fn sender_for(
    channel: ChannelKind,
    config: Option<&SenderConfig>,
    templates: &Templates,
    out_dir: &Path,
) -> Result<Built, SenderConfigError> {
    match config {
        Some(config) => config.build(templates),
        None => Ok(AnySender::file(&out_dir.join(format!("{channel}.jsonl")))),
    }
}

/// A sender of any configured kind.
pub enum AnySender {
    /// SMTP.
    Email(Box<EmailSender>),
    /// JSON lines.
    File(FileSender),
    /// IRC.
    Irc(Box<IrcSender>),
    /// FCM.
    Push(Box<PushSender>),
    /// Matrix.
    Matrix(Box<MatrixSender>),
}

impl AnySender {
    fn file(path: &Path) -> Built {
        (
            AnySender::File(FileSender::new(path)),
            path.display().to_string(),
        )
    }
}

/// `$body` with `$s` bound to the sender inside `$any`, whichever kind it is.
macro_rules! each {
    ($any:expr, $s:ident => $body:expr) => {
        match $any {
            AnySender::Email($s) => $body,
            AnySender::File($s) => $body,
            AnySender::Irc($s) => $body,
            AnySender::Push($s) => $body,
            AnySender::Matrix($s) => $body,
        }
    };
}

impl Sender for AnySender {
    fn name(&self) -> &'static str {
        each!(self, s => s.name())
    }

    async fn send(&mut self, n: &Notification, address: &str) -> Result<(), SendError> {
        each!(self, s => s.send(n, address).await)
    }

    async fn send_digest(
        &mut self,
        items: &[Notification],
        address: &str,
    ) -> Result<(), SendError> {
        each!(self, s => s.send_digest(items, address).await)
    }

    // Each provided method is forwarded too: the trait's default would hide the sender's own.
    async fn ready(&mut self) -> Result<(), SendError> {
        each!(self, s => s.ready().await)
    }

    async fn send_batch(&mut self, batch: &[(&Notification, &str)]) -> Vec<Result<(), SendError>> {
        each!(self, s => s.send_batch(batch).await)
    }

    fn max_batch(&self) -> usize {
        each!(self, s => s.max_batch())
    }

    fn fold_backlog(&self) -> Option<usize> {
        each!(self, s => s.fold_backlog())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file sender's batches reach the loop through `AnySender`: a provided method it did
    /// not forward would fall back to one delivery per call.
    #[test]
    fn any_sender_forwards_the_file_senders_batches() {
        let file = FileSender::new("out.jsonl");
        let any = AnySender::File(FileSender::new("out.jsonl"));
        assert!(file.max_batch() > 1);
        assert_eq!(any.max_batch(), file.max_batch());
    }

    /// With no configuration, a channel is written to its file under the directory given.
    #[test]
    fn unconfigured_channel_is_written_under_out_dir() {
        let (sender, destination) = sender_for(
            ChannelKind::Irc,
            None,
            &Templates::default(),
            Path::new("out"),
        )
        .unwrap();
        assert_eq!(sender.name(), "file");
        assert_eq!(
            destination,
            Path::new("out").join("irc.jsonl").display().to_string()
        );
    }
}
