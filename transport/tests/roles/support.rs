//! What the checks share: a `redis-server` of their own, the two transports, and work items
//! and notifications to pass through them.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fmn_core::{ChannelKind, Envelope, MessageMeta, Notification};
use fmn_transport::redis::RedisOptions;
use fmn_transport::{MemoryTransport, RedisTransport, WorkItem};

/// How long a worker's heartbeat counts in this suite.
pub const TTL: Duration = Duration::from_millis(300);

/// A `redis-server` on a free loopback port, keeping nothing on disk; killed on drop.
pub struct RedisServer {
    port: u16,
    child: Child,
    /// Its working directory, removed on drop.
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one and waits until it listens.
    pub fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server; scripts/test installs it)");
        let mut s = RedisServer {
            port,
            child,
            _dir: dir,
        };
        s.wait_until_listening();
        s
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "redis-server exited before listening on {}: {status}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server did not listen on port {} within 20 s",
            self.port
        );
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The in-memory transport, with the suite's worker TTL.
pub fn memory() -> MemoryTransport {
    MemoryTransport::new(TTL)
}

/// A Redis transport on `server`, in namespace `t`, with the suite's worker TTL.
pub async fn redis(server: &RedisServer) -> RedisTransport {
    RedisTransport::connect(
        &server.url(),
        RedisOptions {
            namespace: "t".into(),
            worker_ttl: TTL,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// What the work queue checks need beyond the role: a second view of the same queues, as a
/// restarted process would have.
pub trait Reopen: fmn_transport::Transport {
    async fn reopen(&self) -> Self;
}

impl Reopen for MemoryTransport {
    async fn reopen(&self) -> Self {
        self.reconnect()
    }
}

impl Reopen for RedisTransport {
    async fn reopen(&self) -> Self {
        self.reconnect().await.expect("reconnect")
    }
}

/// A work item for the bus message `id`.
pub fn item(id: &str) -> WorkItem {
    let bus = format!(
        r#"{{"topic": "org.fedoraproject.prod.test.x", "msg_id": "{id}", "msg": {{"n": 1}}}}"#
    );
    WorkItem::new(
        Envelope::from_bus_json(bus.as_bytes(), 1 << 20).unwrap(),
        format!("test:{id}"),
    )
}

/// A notification of message `id` to ralph on `channel`.
pub fn notification(id: &str, channel: ChannelKind) -> Notification {
    let w = item(id);
    Notification {
        delivery_id: fmn_core::delivery_id(id, "ralph", channel),
        user: "ralph".into(),
        channel,
        addresses: vec!["ralph@example.org".into()],
        filter: "f".into(),
        oneshot: false,
        attempts: 0,
        digest: None,
        generation: 1,
        worker: "w".into(),
        meta: MessageMeta::default(),
        message: (&w.envelope).into(),
    }
}
