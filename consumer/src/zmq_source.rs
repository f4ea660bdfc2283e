//! fedmsg over ZeroMQ, the historic bus: a SUB socket connected to one or more PUB endpoints,
//! subscribed to topic prefixes. Each message is two frames, the topic and the fedmsg envelope
//! as JSON; the envelope is what the consumer parses.
//!
//! libzmq (the `zmq` crate) does the connecting and reconnecting, with a backoff from 100 ms to
//! 10 s; PUB/SUB keeps no history, so what is published while no connection is up is not seen
//! (the fedmsg bus always worked this way). The socket lives in a thread of its own, since
//! libzmq's calls block, and hands messages over through a bounded channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

use crate::source::{RawMessage, Source, SourceError};

/// Where to subscribe.
#[derive(Debug, Clone)]
pub struct ZmqOptions {
    /// PUB endpoints, e.g. `tcp://hub.fedoraproject.org:9940`.
    pub endpoints: Vec<String>,
    /// Topic prefixes; every topic when empty.
    pub topics: Vec<String>,
}

/// Messages from ZeroMQ PUB sockets.
pub struct ZmqSource {
    rx: mpsc::Receiver<Result<(String, Vec<u8>), String>>,
    stop: Arc<AtomicBool>,
    received: u64,
    label: String,
}

/// Messages held between the socket's thread and the consumer; beyond this libzmq's own
/// receive queue fills, and then the publisher drops (PUB/SUB has no other backpressure).
const CHANNEL: usize = 4096;
/// How long a receive waits before the thread looks whether it should stop.
const POLL_MS: i32 = 200;

impl ZmqSource {
    /// Connects (in the background: endpoints that are not up yet are retried by libzmq) and
    /// subscribes.
    pub fn connect(opts: &ZmqOptions) -> Result<Self, SourceError> {
        let label = format!("zmq:{}", opts.endpoints.join(","));
        let err = |e: zmq::Error| SourceError {
            origin: label.clone(),
            source: std::io::Error::other(e),
        };
        let ctx = zmq::Context::new();
        let socket = ctx.socket(zmq::SUB).map_err(err)?;
        socket.set_reconnect_ivl(100).map_err(err)?;
        socket.set_reconnect_ivl_max(10_000).map_err(err)?;
        socket.set_rcvhwm(100_000).map_err(err)?;
        socket.set_rcvtimeo(POLL_MS).map_err(err)?;
        socket.set_linger(0).map_err(err)?;
        if opts.topics.is_empty() {
            socket.set_subscribe(b"").map_err(err)?;
        }
        for t in &opts.topics {
            socket.set_subscribe(t.as_bytes()).map_err(err)?;
        }
        for e in &opts.endpoints {
            socket.connect(e).map_err(|x| SourceError {
                origin: format!("zmq:{e}"),
                source: std::io::Error::other(x),
            })?;
        }
        let (tx, rx) = mpsc::channel(CHANNEL);
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        std::thread::Builder::new()
            .name("fmn-zmq".into())
            .spawn(move || receive(ctx, socket, tx, halt))
            .map_err(|e| SourceError {
                origin: label.clone(),
                source: e,
            })?;
        Ok(ZmqSource {
            rx,
            stop,
            received: 0,
            label,
        })
    }
}

/// The socket's thread: until stopped or the consumer is gone.
fn receive(
    _ctx: zmq::Context,
    socket: zmq::Socket,
    tx: mpsc::Sender<Result<(String, Vec<u8>), String>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let frames = match socket.recv_multipart(0) {
            Ok(f) => f,
            Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => continue,
            Err(e) => {
                let _ = tx.blocking_send(Err(e.to_string()));
                return;
            }
        };
        // fedmsg: [topic, envelope]; a single frame is taken as the envelope alone.
        let (topic, body) = match <[Vec<u8>; 2]>::try_from(frames) {
            Ok([t, b]) => (String::from_utf8_lossy(&t).into_owned(), b),
            Err(mut other) => {
                let body = other.pop().unwrap_or_default();
                let topic = other
                    .first()
                    .map(|t| String::from_utf8_lossy(t).into_owned())
                    .unwrap_or_default();
                (topic, body)
            }
        };
        if tx.blocking_send(Ok((topic, body))).is_err() {
            return;
        }
    }
}

impl Drop for ZmqSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Source for ZmqSource {
    async fn next(&mut self, max_bytes: usize) -> Option<Result<RawMessage, SourceError>> {
        match self.rx.recv().await? {
            Ok((topic, mut bytes)) => {
                self.received += 1;
                let size = bytes.len();
                let oversize = (size > max_bytes).then_some(size);
                if oversize.is_some() {
                    bytes.truncate(max_bytes + 1);
                }
                Some(Ok(RawMessage {
                    bytes,
                    origin: format!("{} #{} ({topic})", self.label, self.received),
                    oversize,
                }))
            }
            Err(e) => Some(Err(SourceError {
                origin: self.label.clone(),
                source: std::io::Error::other(e),
            })),
        }
    }
}
