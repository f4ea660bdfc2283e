//! Real servers for the tests, each started on a free loopback port and killed on drop.

use fmn_transport::Registry;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

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

/// A corpus fixture's text.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures/corpus").join(name))
        .expect("corpus fixture")
}

/// A `redis-server` of our own.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    args: Vec<String>,
    /// Its working directory, removed on drop.
    _dir: TempDir,
}

impl RedisServer {
    /// Starts one that keeps nothing on disk.
    pub fn start() -> RedisServer {
        Self::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// Starts one with extra arguments (e.g. `--appendonly yes`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.path().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = spawn_redis(&args);
        let mut s = RedisServer {
            port,
            child,
            args,
            _dir: dir,
        };
        wait_for_port(port, "redis-server", &mut s.child);
        s
    }

    /// Kills it (SIGKILL: no chance to save anything more), waits `down`, and starts it again
    /// on the same port and directory, where it reloads what it had persisted.
    pub fn crash_and_restart(&mut self, down: std::time::Duration) {
        self.kill();
        std::thread::sleep(down);
        self.restart();
    }

    /// Kills it with SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.child = spawn_redis(&self.args);
        wait_for_port(self.port, "redis-server", &mut self.child);
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

fn spawn_redis(args: &[String]) -> Child {
    Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (Debian package redis-server; scripts/test installs it)")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python that has Debian's python3-aiosmtpd.
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// An SMTP server (aiosmtpd) that records every mail it accepts.
pub struct SmtpSink {
    pub port: u16,
    child: Child,
    dir: TempDir,
    /// TLS and login options, kept across a restart.
    secure: Vec<String>,
}

/// A mail the sink accepted.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub data: String,
    /// The session was encrypted (STARTTLS or TLS from the first byte).
    pub tls: bool,
    /// Who logged in, if anyone.
    pub login: Option<String>,
}

impl Mail {
    /// The value of header `name` (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut out: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = out.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if out.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                out = Some(v.trim().to_owned());
            }
        }
        out
    }
}

impl Mail {
    /// The body, decoded from quoted-printable when it is so encoded.
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or("");
        let qp = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if !qp {
            return body.to_owned();
        }
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && i + 2 < bytes.len()
                && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }
}

impl SmtpSink {
    /// Starts one that accepts everything.
    pub fn start() -> SmtpSink {
        Self::start_with_replies(&[])
    }

    /// Starts one that answers the first DATA commands with `replies` (e.g. `[451, 250]`).
    pub fn start_with_replies(replies: &[u16]) -> SmtpSink {
        Self::start_with(replies, 0)
    }

    /// Starts one that holds each mail `delay_ms` before accepting it; a mail whose client goes
    /// away meanwhile is dropped, as a real MTA drops a mail it never said 250 to.
    pub fn start_slow(delay_ms: u64) -> SmtpSink {
        Self::start_with(&[], delay_ms)
    }

    fn start_with(replies: &[u16], delay_ms: u64) -> SmtpSink {
        let reply: Vec<String> = replies.iter().map(u16::to_string).collect();
        let args = [
            "--reply".to_owned(),
            reply.join(","),
            "--delay-ms".to_owned(),
            delay_ms.to_string(),
        ];
        Self::start_args(&args, Vec::new())
    }

    /// Starts one that speaks TLS (`tls`: `starttls` or `tls`) with the server certificate of
    /// `certs` ([`test_certificates`]) and, with `login` (`USER:PASS`), requires that login.
    pub fn start_secure(tls: &str, certs: &Path, login: Option<&str>) -> SmtpSink {
        let mut secure: Vec<String> = vec![
            "--tls".into(),
            tls.into(),
            "--cert".into(),
            certs.join("server.pem").display().to_string(),
            "--key".into(),
            certs.join("server.key").display().to_string(),
        ];
        if let Some(login) = login {
            secure.extend(["--auth".to_owned(), login.to_owned()]);
        }
        Self::start_args(&[], secure)
    }

    fn start_args(args: &[String], secure: Vec<String>) -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let all: Vec<String> = args.iter().chain(&secure).cloned().collect();
        let child = Self::spawn(port, &dir, &all);
        SmtpSink {
            port,
            child,
            dir,
            secure,
        }
    }

    /// Kills it with SIGKILL: a mail relay gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port and directory, accepting everything.
    pub fn restart(&mut self) {
        self.child = Self::spawn(self.port, &self.dir, &self.secure);
    }

    fn spawn(port: u16, dir: &TempDir, args: &[String]) -> Child {
        let mut child = Command::new(python())
            .arg(root().join("tests/support/smtp_sink.py"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .expect(
                "python3 with aiosmtpd (Debian package python3-aiosmtpd; scripts/test installs it)",
            );
        wait_for_port(port, "the SMTP sink", &mut child);
        child
    }

    /// Every mail accepted so far, in order, with when the sink stored it.
    pub fn mails_with_times(&self) -> Vec<(std::time::SystemTime, Mail)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("sink dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let at = std::fs::metadata(f)
                    .and_then(|m| m.modified())
                    .expect("mtime");
                let mail = serde_json::from_str(&std::fs::read_to_string(f).expect("mail file"))
                    .expect("mail JSON");
                (at, mail)
            })
            .collect()
    }

    /// Every mail accepted so far, in order.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails_with_times()
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// Keeps `worker` live on `t`, a heartbeat every `every`, until the task is aborted.
pub fn keep_alive<T: fmn_transport::Transport>(
    t: &T,
    worker: &str,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    let (t, worker) = (t.clone(), worker.to_owned());
    tokio::spawn(async move {
        loop {
            t.heartbeat(&worker).await.unwrap();
            tokio::time::sleep(every).await;
        }
    })
}

/// A worker `w` registered on `redis` that stays live and reads nothing: its stream shows what
/// a consumer dispatched. Abort the task to let it die.
pub async fn idle_worker(
    redis: &RedisServer,
) -> (fmn_transport::RedisTransport, tokio::task::JoinHandle<()>) {
    let transport = fmn_transport::RedisTransport::connect(
        &redis.url(),
        fmn_transport::redis::RedisOptions::default(),
    )
    .await
    .unwrap();
    transport
        .register_worker(&fmn_transport::WorkerInfo::local("w"))
        .await
        .unwrap();
    let t = transport.clone();
    let beat = tokio::spawn(async move {
        loop {
            let _ = t.heartbeat("w").await;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
    (transport, beat)
}

/// A RabbitMQ node of our own that speaks AMQP over TLS and requires a client certificate
/// signed by its CA, as Fedora's public broker does; plain AMQP too, for publishing. Its
/// certificates are made with `openssl` in its directory: `ca.pem`, `client.pem`,
/// `client.key`. Killed on drop.
pub struct RabbitTls {
    pub tls_port: u16,
    pub plain_port: u16,
    child: Child,
    pub dir: TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's openssl package) runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A directory with a test CA (`ca.pem`), a server certificate for `localhost` and 127.0.0.1
/// (`server.pem`, `server.key`) and a client certificate (`client.pem`, `client.key`), all
/// signed by it and made with `openssl`, valid two days.
pub fn test_certificates() -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=fmn test CA",
        ],
    );
    // Version 3 certificates with their extensions: rustls takes no other.
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (who, cn) in [("server", "localhost"), ("client", "fmn-client")] {
        let (key, csr, pem, ext) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.pem"),
            format!("{who}.ext"),
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &ext,
            ],
        );
    }
    dir
}

impl RabbitTls {
    pub fn start() -> RabbitTls {
        let dir = test_certificates();
        let d = dir.path();
        let (plain_port, tls_port, dist_port) = (free_port(), free_port(), free_port());
        std::fs::write(
            d.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = 127.0.0.1:{plain_port}\n\
                 listeners.ssl.default = 127.0.0.1:{tls_port}\n\
                 ssl_options.cacertfile = {0}/ca.pem\n\
                 ssl_options.certfile = {0}/server.pem\n\
                 ssl_options.keyfile = {0}/server.key\n\
                 ssl_options.verify = verify_peer\n\
                 ssl_options.fail_if_no_peer_cert = true\n",
                d.display()
            ),
        )
        .unwrap();
        // Debian's script that does not switch to the rabbitmq user.
        let server = [
            "/usr/lib/rabbitmq/bin/rabbitmq-server",
            "/usr/sbin/rabbitmq-server",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("rabbitmq-server (Debian's rabbitmq-server package)");
        use std::os::unix::process::CommandExt as _;
        let mut child = Command::new(server)
            .env(
                "RABBITMQ_NODENAME",
                format!("fmn-test-{tls_port}@localhost"),
            )
            .env("RABBITMQ_NODE_PORT", plain_port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("plugins"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: the script starts the Erlang VM, which must go with it.
            .process_group(0)
            .spawn()
            .expect("rabbitmq-server starts");
        let deadline = Instant::now() + Duration::from_secs(90);
        while TcpStream::connect(("127.0.0.1", tls_port)).is_err()
            || TcpStream::connect(("127.0.0.1", plain_port)).is_err()
        {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "rabbitmq-server exited before listening: {status}; see {}",
                    d.join("log").display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "rabbitmq-server did not listen within 90 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        RabbitTls {
            tls_port,
            plain_port,
            child,
            dir,
        }
    }
}

impl Drop for RabbitTls {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
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

/// An HTTP request a stand-in server received.
pub struct HttpRequest {
    pub method: String,
    /// The path and query, as sent (percent-encoded).
    pub target: String,
    /// Header names lowercased.
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
}

/// An answer: status line (`"200 OK"`), extra header lines (each ending in CR LF), JSON body.
pub type HttpAnswer = (String, String, String);

/// A stand-in for a remote HTTP API on a loopback port: one request per connection, answered
/// by `handler`. Returns the port.
pub fn serve_http(handler: impl FnMut(&HttpRequest) -> HttpAnswer + Send + 'static) -> u16 {
    serve_http_on(0, handler)
}

/// [`serve_http`] on `port` (0: any free one).
pub fn serve_http_on(
    port: u16,
    mut handler: impl FnMut(&HttpRequest) -> HttpAnswer + Send + 'static,
) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_owned();
            let target = parts.next().unwrap_or("").to_owned();
            let mut headers = std::collections::BTreeMap::new();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = header.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                }
            }
            let length = headers
                .get("content-length")
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let req = HttpRequest {
                method,
                target,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            let (status, extra, answer) = handler(&req);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    port
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
