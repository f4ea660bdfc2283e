//! The IRC sender against Debian's ngircd, read by a second client on the same server: every
//! notification arrives once, paced, in lines IRC accepts, though the server is killed and
//! started again mid-stream: what waited while it was down comes as one digest line.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fmn_core::{ChannelKind, MessageMeta, Notification};
use fmn_transport::{DeadLetters, WorkQueue};

use crate::cli::{configured, spawn, terminate, text};
use crate::retries::sender_setup;
use crate::support::{free_port, wait_for_port, wait_until};
use crate::transport::notification;

/// An ngircd on a loopback port, with penalties off so the test is paced by fmn alone.
pub(crate) struct IrcServer {
    pub(crate) port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

fn ngircd() -> &'static str {
    if std::path::Path::new("/usr/sbin/ngircd").exists() {
        "/usr/sbin/ngircd"
    } else {
        "ngircd"
    }
}

impl IrcServer {
    pub(crate) fn start() -> IrcServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = format!(
            "[Global]\nName = irc.fmn.test\nInfo = fmn test\nListen = 127.0.0.1\nPorts = {port}\n\
             MotdPhrase = \"fmn test\"\n\n[Limits]\nMaxConnectionsIP = 0\nMaxNickLength = 30\n\
             MaxPenaltyTime = 0\n\n[Options]\nPAM = no\nIdent = no\nDNS = no\n"
        );
        std::fs::write(dir.path().join("ngircd.conf"), conf).unwrap();
        let mut s = IrcServer {
            port,
            dir,
            child: None,
        };
        s.restart();
        s
    }

    fn restart(&mut self) {
        let mut child = Command::new(ngircd())
            .arg("-n")
            .arg("-f")
            .arg(self.dir.path().join("ngircd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ngircd (Debian package ngircd; scripts/test installs it)");
        wait_for_port(self.port, "ngircd", &mut child);
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for IrcServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A second client: registers as `nick`, records every private message to it with when it
/// arrived, and connects again whenever the connection is lost.
pub(crate) struct Reader {
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    online: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Reader {
    pub(crate) fn start(port: u16, nick: &'static str) -> Reader {
        let r = Reader {
            lines: Arc::default(),
            online: Arc::default(),
            stop: Arc::default(),
        };
        let (lines, online, stop) = (r.lines.clone(), r.online.clone(), r.stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                };
                let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = write!(s, "NICK {nick}\r\nUSER {nick} 0 * :reader\r\n");
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                let marker = format!(" PRIVMSG {nick} :");
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                        Err(_) => break,
                    }
                    let raw = line.trim_end_matches(['\r', '\n']);
                    if let Some(token) = raw.strip_prefix("PING ") {
                        let _ = write!(s, "PONG {token}\r\n");
                    } else if raw.contains(" 376 ") || raw.contains(" 422 ") {
                        online.store(true, Ordering::SeqCst);
                    } else if raw.contains(&marker) {
                        lines.lock().unwrap().push((Instant::now(), line.clone()));
                    }
                }
                online.store(false, Ordering::SeqCst);
            }
        });
        r
    }

    /// The raw lines received (with CR LF), and when.
    fn received(&self) -> Vec<(Instant, String)> {
        self.lines.lock().unwrap().clone()
    }

    /// The text of each private message received.
    pub(crate) fn texts(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter_map(|(_, raw)| {
                let raw = raw.trim_end_matches(['\r', '\n']);
                raw.split_once(" :")
                    .map(|(_, rest)| rest.split_once(" :").map_or(rest, |(_, t)| t).to_owned())
            })
            .collect()
    }

    pub(crate) async fn wait_online(&self) {
        let online = self.online.clone();
        wait_until(
            Duration::from_secs(20),
            "the reader registered",
            async || online.load(Ordering::SeqCst),
        )
        .await;
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn to_threebean(i: usize, summary: String, link: Option<String>) -> Notification {
    let mut n = notification(&format!("irc-{i:03}"), ChannelKind::Irc);
    n.addresses = vec!["threebean".into()];
    n.meta = MessageMeta {
        summary: Some(summary),
        link,
        ..MessageMeta::default()
    };
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_notifications_arrive_once_paced_split_and_across_a_server_restart() {
    let (redis, _smtp, dir, transport) = sender_setup(&[]).await;
    let mut server = IrcServer::start();
    let reader = Reader::start(server.port, "threebean");
    reader.wait_online().await;
    // ngircd has no services: a client in NickServ's place reads the identification.
    let nickserv = Reader::start(server.port, "NickServ");
    nickserv.wait_online().await;
    let (burst, interval_ms) = (3usize, 250u64);
    let with = configured(
        dir.path(),
        &format!(
            "[redis]\nurl = \"{}\"\n\n[senders.irc]\nbackend = \"irc\"\nserver = \"127.0.0.1\"\n\
             port = {}\nnickname = \"fmn-bot\"\nburst = {burst}\nline_interval_ms = {interval_ms}\n\
             max_lines = 8\ntimeout_secs = 5\nnickserv_password = \"s3cret pass\"\n",
            redis.url(),
            server.port
        ),
    );
    // A 1,500-byte summary first: it must arrive whole, cut into lines IRC accepts.
    let long: String = (0..167)
        .map(|i| format!("long-{i:03}"))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(long.len() >= 1500, "{}", long.len());
    transport
        .complete_work("w", &[], &[to_threebean(0, long.clone(), None)])
        .await
        .unwrap();
    let sender = spawn(&mut with(&["send", "--channel", "irc"]));
    wait_until(
        Duration::from_secs(30),
        "the long notification",
        async || {
            reader
                .texts()
                .iter()
                .filter(|t| t.starts_with("long-"))
                .count()
                >= 4
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let parts: Vec<String> = reader
        .texts()
        .into_iter()
        .filter(|t| t.starts_with("long-"))
        .collect();
    assert_eq!(parts.join(" "), long, "split at words, nothing lost");
    assert!(parts.len() >= 4, "{} lines", parts.len());

    let many: Vec<Notification> = (1..=30)
        .map(|i| {
            to_threebean(
                i,
                format!("notification {i} of 30"),
                Some(format!("https://example.org/{i}")),
            )
        })
        .collect();
    transport.complete_work("w", &[], &many).await.unwrap();
    wait_until(Duration::from_secs(30), "10 notifications", async || {
        reader
            .texts()
            .iter()
            .filter(|t| t.starts_with("notification "))
            .count()
            >= 10
    })
    .await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart();
    reader.wait_online().await;
    // The backlog: the newest of 30 closes the one digest line.
    let folded = " notifications; the newest: notification 30 of 30 https://example.org/30";
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reader.texts().iter().any(|t| t.ends_with(folded)) {
        if Instant::now() > deadline {
            let out = terminate(sender);
            panic!(
                "no line for the backlog in 60 s:\n{:#?}\n{}",
                reader.texts(),
                text(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A digest of 5 is one line with the count, the newest summary and its link.
    let digest = fmn_core::prefs::Digest {
        max_count: Some(5),
        max_delay: None,
    };
    let five: Vec<Notification> = (31..=35)
        .map(|i| Notification {
            digest: Some(digest),
            ..to_threebean(
                i,
                format!("digested {i}"),
                Some(format!("https://example.org/{i}")),
            )
        })
        .collect();
    transport.complete_work("w", &[], &five).await.unwrap();
    wait_until(Duration::from_secs(30), "the digest line", async || {
        reader
            .texts()
            .iter()
            .any(|t| t.starts_with("5 notifications"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let out = terminate(sender);
    let texts = reader.texts();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("digested"))
            .collect::<Vec<_>>(),
        ["5 notifications; the newest: digested 35 https://example.org/35"]
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The first ones arrive one by one, in order, once; the rest in one digest line that
    // counts them. The one in flight when the server was killed counts there too: IRC cannot
    // say whether a dead server relayed it (docs/architecture.md states it).
    let texts = reader.texts();
    let one_by_one: Vec<usize> = texts
        .iter()
        .filter_map(|t| {
            let i: usize = t
                .strip_prefix("notification ")?
                .split(' ')
                .next()?
                .parse()
                .ok()?;
            (*t == format!("notification {i} of 30 https://example.org/{i}")).then_some(i)
        })
        .collect();
    let sent = one_by_one.len();
    assert!(sent >= 10, "{texts:#?}");
    assert_eq!(
        one_by_one,
        (1..=sent).collect::<Vec<_>>(),
        "each once, in order:\n{texts:#?}"
    );
    let lines: Vec<usize> = texts
        .iter()
        .filter_map(|t| t.strip_suffix(folded)?.parse().ok())
        .collect();
    assert_eq!(lines.len(), 1, "one line for the backlog:\n{texts:#?}");
    assert!(
        lines[0] == 30 - sent || lines[0] == 31 - sent,
        "{} in the digest after {sent} one by one:\n{texts:#?}\n{}",
        lines[0],
        text(&out.stderr)
    );
    let stderr = text(&out.stderr);
    let folded_line = stderr
        .lines()
        .find(|l| l.contains("folded into digests"))
        .unwrap_or_default();
    eprintln!(
        "{sent} one by one, {} in the backlog's line; {folded_line}",
        lines[0]
    );
    assert!(
        folded_line.contains(&format!(
            " {} folded into digests after 1 outage(s)",
            lines[0]
        )),
        "{stderr}"
    );
    let received = reader.received();
    for (_, raw) in &received {
        assert!(
            raw.len() <= 512 && raw.ends_with("\r\n"),
            "{} bytes: {raw:?}",
            raw.len()
        );
    }
    // Paced: any burst + 10 lines in a row took at least 10 intervals (less 10% for timing).
    let at: Vec<Instant> = received.iter().map(|(t, _)| *t).collect();
    for w in at.windows(burst + 11) {
        let took = w[burst + 10].duration_since(w[0]);
        assert!(
            took >= Duration::from_millis(10 * interval_ms * 9 / 10),
            "{} lines in {took:?}",
            burst + 11
        );
    }
    assert_eq!(
        transport.dead_letter_count().await.unwrap(),
        0,
        "{}",
        text(&out.stderr)
    );
    // Identified on the first connection (and on the second, if NickServ's stand-in was
    // back online by then).
    let identified = nickserv.texts();
    assert!(
        (1..=2).contains(&identified.len())
            && identified.iter().all(|t| t == "IDENTIFY s3cret pass"),
        "{identified:?}"
    );
}
