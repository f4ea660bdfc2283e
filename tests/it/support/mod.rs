//! Real servers for the tests, each started on a free loopback port and killed on drop (one
//! module a server), the bundled rule modules and corpus fixtures, and polling helpers.

pub mod fixtures;
mod http;
mod rabbit;
mod redis;
mod smtp;

pub use fixtures::fixture;
pub use http::*;
pub use rabbit::*;
pub use redis::*;
pub use smtp::*;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening on {port}: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not listen on port {port} within 20 s");
}

/// The project's root directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Polls `done` until it holds, failing after `limit` (a guard against hangs, not a speed check).
pub async fn wait_until(limit: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A new version of `wasm`: the same code under another sha256.
pub fn wasm_variant(wasm: &[u8], tag: &str) -> Vec<u8> {
    fmn_host::module::with_custom_section(wasm, "fmn-test-variant", tag.as_bytes())
}

/// The sandbox for tests that run many workers (or processes) on two shared cores: the
/// per-call deadline is wall-clock, and a rule call starved of CPU for its default 20 ms would
/// fail and count as not matching, which is not what those tests are about.
pub fn generous_sandbox() -> fmn_host::SandboxConfig {
    fmn_host::SandboxConfig {
        timeout: Duration::from_secs(5),
        ..fmn_host::SandboxConfig::default()
    }
}

/// What the code under test logs on this thread, kept to be searched: for tests whose only
/// sign that something happened (a consumer pausing) is what it says.
#[derive(Clone, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    /// Captures this thread's logs (with a current-thread runtime, those of the tasks it
    /// spawns too) while the guard lives.
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}
