//! Progress bars for long runs, drawn on stderr only when it is a terminal: what goes to a
//! file or a pipe stays clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps (or a counter when the length is unknown); draws nothing unless
/// stderr is a terminal.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for `len` steps of `what` (e.g. "messages").
    pub fn new(len: u64, what: &str) -> Progress {
        Progress::with(Some(len), what)
    }

    /// A counter of `what`, for a run whose length is not known ahead.
    pub fn counter(what: &str) -> Progress {
        Progress::with(None, what)
    }

    fn with(len: Option<u64>, what: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let (bar, template) = match len {
            Some(n) => (
                ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
                format!("{{wide_bar}} {{human_pos}}/{{human_len}} {what}, {{eta}} left"),
            ),
            None => (
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                format!("{{spinner}} {{human_pos}} {what} in {{elapsed}}"),
            ),
        };
        // A template of ours that does not parse is a bug; fall back to the default style.
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress(Some(bar))
    }

    /// `n` more steps done.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    /// Clears the bar: the command's own summary follows.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A message source whose messages tick a progress bar.
pub struct Counted<S> {
    inner: S,
    progress: Progress,
}

impl<S> Counted<S> {
    /// `inner`, ticking `progress` once per message.
    pub fn new(inner: S, progress: Progress) -> Self {
        Counted { inner, progress }
    }
}

impl<S: fmn_consumer::Source> fmn_consumer::Source for Counted<S> {
    async fn next(
        &mut self,
        max_bytes: usize,
    ) -> Option<Result<fmn_consumer::RawMessage, fmn_consumer::SourceError>> {
        let next = self.inner.next(max_bytes).await;
        match next {
            Some(_) => self.progress.inc(1),
            None => self.progress.finish(),
        }
        next
    }

    async fn commit(&mut self) -> Result<(), fmn_consumer::SourceError> {
        self.inner.commit().await
    }
}
