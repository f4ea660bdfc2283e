//! Replay from datagrepper, Fedora's archive of the bus: a time window of real history, read
//! page by page from its HTTP API (`/v2/raw`, messages in fedora-messaging's shape), oldest
//! first.
//!
//! A page that cannot be fetched (connection refused, 5xx, 429) is asked for again with
//! backoff, a few times; a message on a page that is not a bus message is handed on like any
//! other and dead-lettered by the consumer, with the page and position as its origin.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use fmn_core::Backoff;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::source::{RawMessage, Source, SourceError};

/// Where and what to replay.
#[derive(Debug, Clone)]
pub struct DatagrepperOptions {
    /// The API's base URL, e.g. `https://apps.fedoraproject.org/datagrepper`.
    pub url: String,
    /// The window's start, in seconds since the Unix epoch.
    pub start: f64,
    /// The window's end, in seconds since the Unix epoch.
    pub end: f64,
    /// Only these topics (datagrepper's `topic` argument); all when empty.
    pub topics: Vec<String>,
    /// Messages per page (datagrepper serves at most 100).
    pub rows_per_page: u32,
    /// Attempts at a page before giving up.
    pub attempts: u32,
    /// The first retry's delay; each next one doubles, up to 10 s.
    pub retry_base: Duration,
}

impl DatagrepperOptions {
    /// The defaults for replaying `start..end` from `url`.
    pub fn new(url: impl Into<String>, start: f64, end: f64) -> Self {
        DatagrepperOptions {
            url: url.into(),
            start,
            end,
            topics: Vec::new(),
            rows_per_page: 100,
            attempts: 6,
            retry_base: Duration::from_millis(500),
        }
    }
}

/// One page of `/v2/raw`.
#[derive(Deserialize)]
struct Page {
    raw_messages: Vec<Box<RawValue>>,
    pages: u64,
}

/// A page being fetched: kept across calls, so that a caller giving up on `next` (the
/// consumer's batch deadline) does not make the request start over.
type Fetch = Pin<Box<dyn Future<Output = Result<Page, String>> + Send>>;

/// Messages from datagrepper, in the order it serves them.
pub struct DatagrepperSource {
    client: reqwest::Client,
    opts: DatagrepperOptions,
    /// The next page to fetch, from 1.
    page: u64,
    /// How many pages the window has, once the first is read.
    pages: Option<u64>,
    buffer: VecDeque<RawMessage>,
    inflight: Option<Fetch>,
}

impl DatagrepperSource {
    /// A source over `opts`' window; nothing is fetched until the first message is asked for.
    pub fn new(opts: DatagrepperOptions) -> Result<Self, SourceError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("fmn/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SourceError {
                origin: opts.url.clone(),
                source: std::io::Error::other(e),
            })?;
        Ok(DatagrepperSource {
            client,
            opts,
            page: 1,
            pages: None,
            buffer: VecDeque::new(),
            inflight: None,
        })
    }

    fn page_url(&self) -> String {
        format!("{}/v2/raw", self.opts.url.trim_end_matches('/'))
    }

    /// Fetching the current page, with retries.
    fn fetch(&self) -> Fetch {
        let mut query: Vec<(&'static str, String)> = vec![
            ("start", self.opts.start.to_string()),
            ("end", self.opts.end.to_string()),
            ("page", self.page.to_string()),
            ("rows_per_page", self.opts.rows_per_page.to_string()),
            ("order", "asc".into()),
        ];
        for t in &self.opts.topics {
            query.push(("topic", t.clone()));
        }
        let request = self.client.get(self.page_url()).query(&query);
        let (attempts, base, page) = (self.opts.attempts.max(1), self.opts.retry_base, self.page);
        Box::pin(async move {
            let mut backoff = Backoff::new(base, Duration::from_secs(10));
            let mut attempt = 0;
            loop {
                attempt += 1;
                let Some(request) = request.try_clone() else {
                    return Err("the request cannot be repeated".into());
                };
                match fetch_once(request).await {
                    Ok(p) => return Ok(p),
                    Err((true, reason)) if attempt < attempts => {
                        let wait = backoff.next_delay();
                        tracing::warn!(
                            page,
                            "datagrepper: attempt {attempt} failed: {reason}; retrying in {} ms",
                            wait.as_millis()
                        );
                        tokio::time::sleep(wait).await;
                    }
                    Err((_, reason)) => {
                        return Err(format!("{reason} (after {attempt} attempt(s))"));
                    }
                }
            }
        })
    }

    fn take(&mut self, page: Page, max_bytes: usize) {
        for (i, m) in page.raw_messages.into_iter().enumerate() {
            let bytes = m.get().as_bytes().to_vec();
            let size = bytes.len();
            self.buffer.push_back(RawMessage {
                bytes,
                origin: format!("datagrepper page {} #{}", self.page, i + 1),
                oversize: (size > max_bytes).then_some(size),
            });
        }
        self.pages = Some(page.pages);
        self.page += 1;
    }
}

/// One attempt at a page: `Err((worth retrying, reason))`.
async fn fetch_once(request: reqwest::RequestBuilder) -> Result<Page, (bool, String)> {
    let response = request
        .send()
        .await
        .map_err(|e| (true, format!("request failed: {e}")))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| (true, format!("reading the response failed: {e}")))?;
    if !status.is_success() {
        let retry = status.is_server_error() || status.as_u16() == 429;
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err((retry, format!("HTTP {status}: {text}")));
    }
    serde_json::from_slice(&body).map_err(|e| {
        (
            false,
            format!("not a datagrepper page (`raw_messages`, `pages`): {e}"),
        )
    })
}

impl Source for DatagrepperSource {
    async fn next(&mut self, max_bytes: usize) -> Option<Result<RawMessage, SourceError>> {
        loop {
            if let Some(m) = self.buffer.pop_front() {
                return Some(Ok(m));
            }
            if self.pages.is_some_and(|p| self.page > p) {
                return None;
            }
            if self.inflight.is_none() {
                self.inflight = Some(self.fetch());
            }
            let fetched = match self.inflight.as_mut() {
                Some(f) => f.await,
                None => continue,
            };
            self.inflight = None;
            match fetched {
                Ok(page) => self.take(page, max_bytes),
                Err(reason) => {
                    return Some(Err(SourceError {
                        origin: format!("{} page {}", self.page_url(), self.page),
                        source: std::io::Error::other(reason),
                    }));
                }
            }
        }
    }
}
