//! Message sources.

use std::future::Future;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One message as it came off the bus, not yet parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The bytes; for a message over the size limit, only its first bytes.
    pub bytes: Vec<u8>,
    /// Where it came from, e.g. `messages.jsonl:12`.
    pub origin: String,
    /// Set when the message was over the size limit: its full size.
    pub oversize: Option<usize>,
}

/// A source could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {source}")]
pub struct SourceError {
    /// The source.
    pub origin: String,
    /// The I/O error.
    pub source: std::io::Error,
}

/// Where messages come from.
pub trait Source: Send {
    /// The next message, `None` at the end. Cancel-safe: a call dropped before it completes
    /// loses nothing, the next call carries on.
    fn next(
        &mut self,
        max_bytes: usize,
    ) -> impl Future<Output = Option<Result<RawMessage, SourceError>>> + Send;

    /// Every message returned so far is safely in Redis (dispatched or dead-lettered): a bus
    /// may now acknowledge them (AMQP) or move its offset past them. Called between batches.
    fn commit(&mut self) -> impl Future<Output = Result<(), SourceError>> + Send {
        async { Ok(()) }
    }
}

/// JSON lines: one message per line, from a file or stdin. Blank lines are skipped.
pub struct JsonLines<R> {
    reader: R,
    name: String,
    line_no: u64,
    line: Vec<u8>,
    /// Bytes of the current line seen so far, counting those not kept.
    seen: usize,
}

impl<R: AsyncBufRead + Unpin + Send> JsonLines<R> {
    /// Reads lines from `reader`; `name` is used in origins (`name:line`).
    pub fn new(reader: R, name: impl Into<String>) -> Self {
        JsonLines {
            reader,
            name: name.into(),
            line_no: 0,
            line: Vec::new(),
            seen: 0,
        }
    }

    /// Reads one line, keeping at most `max_bytes + 1` of it: enough to know it is too long
    /// without holding a huge line in memory.
    async fn read_line(&mut self, max_bytes: usize) -> Result<bool, std::io::Error> {
        loop {
            let buf = self.reader.fill_buf().await?;
            if buf.is_empty() {
                return Ok(self.seen > 0);
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            let room = (max_bytes + 1).saturating_sub(self.line.len());
            self.line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            self.seen += chunk.len();
            let used = done.unwrap_or(chunk.len());
            self.reader.consume(used);
            if done.is_some() {
                return Ok(true);
            }
        }
    }
}

impl<R: AsyncBufRead + Unpin + Send> Source for JsonLines<R> {
    async fn next(&mut self, max_bytes: usize) -> Option<Result<RawMessage, SourceError>> {
        loop {
            match self.read_line(max_bytes).await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(source) => {
                    return Some(Err(SourceError {
                        origin: format!("{}:{}", self.name, self.line_no + 1),
                        source,
                    }));
                }
            }
            self.line_no += 1;
            let mut bytes = std::mem::take(&mut self.line);
            let size = std::mem::take(&mut self.seen);
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
            if bytes.iter().all(u8::is_ascii_whitespace) && size <= max_bytes {
                continue;
            }
            let origin = format!("{}:{}", self.name, self.line_no);
            let oversize = (size > max_bytes).then_some(size);
            return Some(Ok(RawMessage {
                bytes,
                origin,
                oversize,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_numbers_and_oversize() {
        let long = "x".repeat(100);
        let input = format!("{{\"a\":1}}\n\n  \n{long}\r\n{{\"b\":2}}");
        let mut src = JsonLines::new(
            tokio::io::BufReader::with_capacity(7, input.as_bytes()),
            "in.jsonl",
        );
        let a = src.next(50).await.unwrap().unwrap();
        assert_eq!(
            (a.bytes.as_slice(), a.origin.as_str(), a.oversize),
            (&b"{\"a\":1}"[..], "in.jsonl:1", None)
        );
        let big = src.next(50).await.unwrap().unwrap();
        assert_eq!(big.origin, "in.jsonl:4");
        assert_eq!(big.oversize, Some(101));
        assert_eq!(big.bytes.len(), 51, "keeps only the limit plus one byte");
        let b = src.next(50).await.unwrap().unwrap();
        assert_eq!(
            (b.bytes.as_slice(), b.origin.as_str()),
            (&b"{\"b\":2}"[..], "in.jsonl:5")
        );
        assert!(src.next(50).await.is_none());
    }
}
