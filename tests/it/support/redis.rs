//! `redis-server` instances of our own, and Redis transports and workers on them.

use fmn_transport::prelude::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::{free_port, wait_for_port};

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

impl RedisServer {
    /// A transport on this server, in the default namespace, with the default options.
    pub async fn transport(&self) -> fmn_transport::RedisTransport {
        fmn_transport::RedisTransport::connect(
            &self.url(),
            fmn_transport::redis::RedisOptions::default(),
        )
        .await
        .expect("connecting to the test's redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let transport = redis.transport().await;
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
