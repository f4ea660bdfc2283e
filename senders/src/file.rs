//! The file sender: appends each delivery as a JSON line. The embedded default of `fmn run`,
//! and handy to see what would have been sent.

use std::path::{Path, PathBuf};

use fmn_core::Notification;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::{SendError, Sender};

/// Lines written at once: the loop reads this many notifications per turn (a write, a flush
/// and a few round trips to Redis are shared by all of them).
const BATCH: usize = 512;

/// Appends deliveries to a JSON-lines file.
pub struct FileSender {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

/// One line of the file.
#[derive(Serialize)]
struct Line<'a> {
    address: &'a str,
    #[serde(flatten)]
    notification: &'a Notification,
}

/// One line of the file for a digest.
#[derive(Serialize)]
struct DigestLine<'a> {
    address: &'a str,
    user: &'a str,
    digest: &'a [Notification],
}

impl FileSender {
    /// A sender appending to `path` (created, with its directory, on first use).
    pub fn new(path: impl AsRef<Path>) -> Self {
        FileSender {
            path: path.as_ref().to_owned(),
            file: None,
        }
    }

    async fn file(&mut self) -> Result<&mut tokio::fs::File, SendError> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| SendError::Transient(format!("{}: {e}", dir.display())))?;
            }
            let f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await
                .map_err(|e| SendError::Transient(format!("{}: {e}", self.path.display())))?;
            self.file = Some(f);
        }
        self.file
            .as_mut()
            .ok_or_else(|| SendError::Transient("file not open".into()))
    }
}

impl Sender for FileSender {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn send(&mut self, n: &Notification, address: &str) -> Result<(), SendError> {
        let line = serde_json::to_vec(&Line {
            address,
            notification: n,
        })
        .map_err(|e| SendError::Permanent(format!("cannot encode: {e}")))?;
        self.append(line).await
    }

    fn max_batch(&self) -> usize {
        BATCH
    }

    /// One write and one flush for the whole batch: a line that cannot be encoded fails
    /// alone, a write that fails fails every line of it (some may be in the file: they are
    /// sent again, as a failed single write's would be).
    async fn send_batch(&mut self, batch: &[(&Notification, &str)]) -> Vec<Result<(), SendError>> {
        let mut lines = Vec::new();
        let mut results = Vec::with_capacity(batch.len());
        for (n, address) in batch {
            let at = lines.len();
            let line = Line {
                address,
                notification: n,
            };
            results.push(match serde_json::to_writer(&mut lines, &line) {
                Ok(()) => {
                    lines.push(b'\n');
                    Ok(())
                }
                Err(e) => {
                    lines.truncate(at);
                    Err(SendError::Permanent(format!("cannot encode: {e}")))
                }
            });
        }
        if let Err(error) = self.write(&lines).await {
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(error.clone());
            }
        }
        results
    }

    async fn send_digest(
        &mut self,
        items: &[Notification],
        address: &str,
    ) -> Result<(), SendError> {
        let line = serde_json::to_vec(&DigestLine {
            address,
            user: items.first().map_or("", |n| n.user.as_str()),
            digest: items,
        })
        .map_err(|e| SendError::Permanent(format!("cannot encode: {e}")))?;
        self.append(line).await
    }
}

impl FileSender {
    async fn append(&mut self, mut line: Vec<u8>) -> Result<(), SendError> {
        line.push(b'\n');
        self.write(&line).await
    }

    /// Writes `lines` and flushes.
    async fn write(&mut self, lines: &[u8]) -> Result<(), SendError> {
        if lines.is_empty() {
            return Ok(());
        }
        let path = self.path.display().to_string();
        let f = self.file().await?;
        let res = async {
            f.write_all(lines).await?;
            f.flush().await
        }
        .await;
        if let Err(e) = res {
            // Reopen next time: the file may have been rotated or the disk filled.
            self.file = None;
            return Err(SendError::Transient(format!("{path}: {e}")));
        }
        Ok(())
    }
}
