//! The IRC sender: private messages from one connection shared by every notification.
//!
//! IRC has no per-message acknowledgement, so after a notification's lines the sender sends a
//! `PING` with a token of its own and counts the notification delivered only when the server
//! answers that `PONG`: a server handles a client's commands in order, so by then it has taken
//! every line before it. A connection lost before that answer leaves the notification to be
//! tried again.
//!
//! Lines are paced by a token bucket (a burst, then one line per interval, about 2 s by
//! default) so the server's flood protection never disconnects us, and cut by bytes, at word
//! and UTF-8 boundaries, so that no line passes IRC's 512 bytes once the server has put its
//! prefix (`:nick!user@host`) in front.

use std::time::{Duration, Instant};

use fmn_core::Notification;
use futures_util::StreamExt;
use irc::client::prelude::{Client, Command, Config, Response};
use irc::proto::Message;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::{SendError, Sender};

/// How the IRC sender connects and paces itself (`[senders.irc]`, `backend = "irc"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IrcConfig {
    /// The server's host name.
    pub server: String,
    /// Its port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The nick notifications come from.
    pub nickname: String,
    /// The server password (`PASS`), if it wants one.
    #[serde(default)]
    pub password: Option<String>,
    /// Identifies to NickServ with this password at the end of the MOTD
    /// (`PRIVMSG NickServ :IDENTIFY PASSWORD`, before any notification).
    #[serde(default)]
    pub nickserv_password: Option<String>,
    /// Lines sent at once before pacing starts.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Then one line per this many milliseconds.
    #[serde(default = "default_interval")]
    pub line_interval_ms: u64,
    /// Lines of text per notification at most (the link may take one more).
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// Seconds to connect and register, or to wait for the server's confirmation.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// A link the digest line ends with, e.g. the user's notification page.
    #[serde(default)]
    pub digest_link: Option<String>,
    /// After the server was out of reach, a user with at least this many notifications
    /// waiting gets one digest line instead (0: never fold).
    #[serde(default = "default_fold_backlog")]
    pub fold_backlog: usize,
}

fn default_port() -> u16 {
    6667
}
fn default_burst() -> u32 {
    4
}
fn default_interval() -> u64 {
    2000
}
fn default_max_lines() -> usize {
    3
}
fn default_timeout() -> u64 {
    30
}
fn default_fold_backlog() -> usize {
    3
}

/// IRC's line limit, CR LF included.
const IRC_LINE: usize = 512;
/// The longest host name a server may put in our prefix.
const MAX_HOST: usize = 63;

/// The bytes of text a `PRIVMSG` to `target` from `nick` may carry so that the line, with the
/// prefix the server adds when relaying it, stays within 512 bytes.
pub fn text_budget(nick: &str, target: &str) -> usize {
    // ":nick!~user@host PRIVMSG target :" + CR LF; the user name is the nick, maybe with "~".
    let overhead = 1 + nick.len() + 2 + nick.len() + 1 + MAX_HOST + 9 + target.len() + 2 + 2;
    IRC_LINE.saturating_sub(overhead).max(16)
}

/// Cuts `text` into lines of at most `max` bytes, at spaces where it can and at character
/// boundaries where a word is longer than a line. Line breaks and runs of whitespace become
/// single spaces: an IRC line cannot hold a line break.
pub fn split_lines(text: &str, max: usize) -> Vec<String> {
    let max = max.max(4);
    let mut lines = Vec::new();
    let mut line = String::new();
    // Control characters too: IRC reads some as formatting, CTCP or the end of the line.
    let text = crate::plain::one_line(text);
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word = word;
        loop {
            let sep = usize::from(!line.is_empty());
            if line.len() + sep + word.len() <= max {
                if sep == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                break;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word longer than a line: cut it at a character boundary.
            let mut cut = max;
            while !word.is_char_boundary(cut) {
                cut -= 1;
            }
            lines.push(word[..cut].to_owned());
            word = &word[cut..];
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The lines of a notification: its summary in at most `max_lines` lines (the last ending in
/// "..." when cut), then its link, on the last line if it fits, else on its own.
pub fn render(n: &Notification, budget: usize, max_lines: usize) -> Vec<String> {
    let mut lines = split_lines(n.headline(), budget);
    if lines.len() > max_lines.max(1) {
        lines.truncate(max_lines.max(1));
        if let Some(last) = lines.last_mut() {
            while last.len() + 3 > budget {
                last.pop();
            }
            last.push_str("...");
        }
    }
    if let Some(link) = &n.meta.link {
        match lines.last_mut() {
            Some(last) if last.len() + 1 + link.len() <= budget => {
                last.push(' ');
                last.push_str(link);
            }
            _ => lines.extend(split_lines(link, budget)),
        }
    }
    lines
}

/// A burst of `burst` lines, then one per `interval`.
struct Pacer {
    burst: f64,
    interval: Duration,
    tokens: f64,
    at: Instant,
}

impl Pacer {
    fn new(burst: u32, interval: Duration) -> Self {
        Pacer {
            burst: f64::from(burst.max(1)),
            interval: interval.max(Duration::from_millis(1)),
            tokens: f64::from(burst.max(1)),
            at: Instant::now(),
        }
    }

    async fn take(&mut self) {
        let now = Instant::now();
        let earned = now.duration_since(self.at).as_secs_f64() / self.interval.as_secs_f64();
        self.tokens = (self.tokens + earned).min(self.burst);
        self.at = now;
        if self.tokens < 1.0 {
            let wait = self.interval.mul_f64(1.0 - self.tokens);
            tokio::time::sleep(wait).await;
            self.tokens = 1.0;
            self.at = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

/// A registered connection: the client's sender, and what the server says.
struct Connection {
    sender: irc::client::Sender,
    events: mpsc::UnboundedReceiver<Message>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Sends notifications as IRC private messages.
pub struct IrcSender {
    cfg: IrcConfig,
    conn: Option<Connection>,
    pacer: Pacer,
    pings: u64,
    templates: crate::template::IrcTemplates,
}

impl IrcSender {
    /// A sender for `cfg`; it connects on first use.
    pub fn new(cfg: &IrcConfig) -> Self {
        IrcSender {
            pacer: Pacer::new(cfg.burst, Duration::from_millis(cfg.line_interval_ms)),
            cfg: cfg.clone(),
            conn: None,
            pings: 0,
            templates: Default::default(),
        }
    }

    /// Uses the operator's templates where they give one.
    pub fn with_templates(mut self, templates: crate::template::IrcTemplates) -> Self {
        self.templates = templates;
        self
    }

    /// The lines `n` is sent as, each within `budget` bytes: the operator's template, else
    /// [`render`]'s.
    fn lines(&self, n: &Notification, budget: usize) -> Vec<String> {
        match &self.templates.text {
            // fmn's own text (a verification code) is not a bus message's: no template.
            Some(t) if !n.is_direct() => {
                let mut lines = split_lines(&t.render(n), budget);
                lines.truncate(self.cfg.max_lines.max(1) + 1);
                lines
            }
            _ => render(n, budget, self.cfg.max_lines),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.timeout_secs.max(1))
    }

    async fn connect(&self) -> Result<Connection, String> {
        let config = Config {
            nickname: Some(self.cfg.nickname.clone()),
            server: Some(self.cfg.server.clone()),
            port: Some(self.cfg.port),
            password: self.cfg.password.clone(),
            ping_time: Some(60),
            ping_timeout: Some(20),
            ..Config::default()
        };
        let mut client = tokio::time::timeout(self.timeout(), Client::from_config(config))
            .await
            .map_err(|_| format!("no connection within {:?}", self.timeout()))?
            .map_err(|e| e.to_string())?;
        client.identify().map_err(|e| e.to_string())?;
        let mut stream = client.stream().map_err(|e| e.to_string())?;
        let (tx, mut events) = mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            // Polling the stream also writes what the sender queued and answers PINGs.
            loop {
                match stream.next().await {
                    Some(Ok(m)) => {
                        // Only what the sender waits for is passed on: messages users send the
                        // bot would pile up between notifications.
                        if matters(&m) && tx.send(m).is_err() {
                            break;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!("irc: connection lost: {e}");
                        break;
                    }
                    None => break,
                }
            }
        });
        let sender = client.sender();
        // Registered once the MOTD is over.
        let deadline = tokio::time::Instant::now() + self.timeout();
        loop {
            let m = tokio::time::timeout_at(deadline, events.recv())
                .await
                .map_err(|_| format!("not registered within {:?}", self.timeout()))?
                .ok_or("the server closed the connection while registering")?;
            match &m.command {
                Command::Response(Response::RPL_ENDOFMOTD | Response::ERR_NOMOTD, _) => break,
                Command::Response(r, args) if r.is_error() => {
                    return Err(format!("the server refused to register us: {r:?} {args:?}"));
                }
                Command::ERROR(e) => return Err(format!("the server said: {e}")),
                _ => {}
            }
        }
        // A private message rather than the crate's `NICKSERV` command, which servers without
        // that alias (ngircd) refuse.
        if let Some(password) = &self.cfg.nickserv_password {
            sender
                .send_privmsg("NickServ", format!("IDENTIFY {password}"))
                .map_err(|e| e.to_string())?;
        }
        tracing::info!(server = %self.cfg.server, port = self.cfg.port, nick = %self.cfg.nickname, "irc: connected");
        Ok(Connection {
            sender,
            events,
            driver,
        })
    }

    /// Makes the connection if there is none. Out of reach, the sender's loop backs off and
    /// sends nothing until [`Sender::ready`] connects.
    async fn connection(&mut self) -> Result<(), SendError> {
        if self.conn.as_ref().is_some_and(|c| c.driver.is_finished()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let c = self.connect().await.map_err(|e| {
                SendError::Unreachable(format!("irc {}:{}: {e}", self.cfg.server, self.cfg.port))
            })?;
            self.conn = Some(c);
        }
        Ok(())
    }

    /// Sends `lines` to `nick` and waits for the server to confirm it took them.
    async fn deliver(&mut self, nick: &str, lines: &[String]) -> Result<(), SendError> {
        let timeout = self.timeout();
        self.pings += 1;
        let token = format!("fmn-{}", self.pings);
        self.connection().await?;
        // What the dead connection took is unknown: the notification waits for the next one
        // (and, after the outage, may be folded into the user's backlog digest).
        let lost = |e: &dyn std::fmt::Display| SendError::Unreachable(format!("irc: {e}"));
        for line in lines {
            self.pacer.take().await;
            let conn = self.conn.as_mut().ok_or_else(|| lost(&"no connection"))?;
            conn.sender.send_privmsg(nick, line).map_err(|e| lost(&e))?;
        }
        let conn = self.conn.as_mut().ok_or_else(|| lost(&"no connection"))?;
        conn.sender
            .send(Command::PING(token.clone(), None))
            .map_err(|e| lost(&e))?;
        let deadline = tokio::time::Instant::now() + timeout;
        let outcome = loop {
            match tokio::time::timeout_at(deadline, conn.events.recv()).await {
                Err(_) => break Err(lost(&format!("no answer within {timeout:?}"))),
                Ok(None) => break Err(lost(&"connection lost before the server confirmed")),
                Ok(Some(m)) => match &m.command {
                    Command::PONG(a, b) if *a == token || b.as_deref() == Some(&token) => {
                        break Ok(());
                    }
                    Command::Response(Response::ERR_NOSUCHNICK, args)
                        if args.iter().any(|a| a.eq_ignore_ascii_case(nick)) =>
                    {
                        // Offline for now: tried again later, then dead-lettered.
                        break Err(SendError::Transient(format!("irc: {nick} is not online")));
                    }
                    Command::ERROR(e) => break Err(lost(&format!("the server said: {e}"))),
                    _ => {}
                },
            }
        };
        if let Err(SendError::Unreachable(_)) = &outcome {
            // Whatever the connection's state, start afresh.
            self.conn = None;
        }
        outcome
    }
}

impl Sender for IrcSender {
    fn name(&self) -> &'static str {
        "irc"
    }

    async fn ready(&mut self) -> Result<(), SendError> {
        self.connection().await
    }

    fn fold_backlog(&self) -> Option<usize> {
        (self.cfg.fold_backlog > 0).then_some(self.cfg.fold_backlog)
    }

    async fn send(&mut self, n: &Notification, address: &str) -> Result<(), SendError> {
        let nick = valid_nick(address)?;
        let lines = self.lines(n, text_budget(&self.cfg.nickname, nick));
        self.deliver(nick, &lines).await
    }

    async fn send_digest(
        &mut self,
        items: &[Notification],
        address: &str,
    ) -> Result<(), SendError> {
        let nick = valid_nick(address)?;
        let budget = text_budget(&self.cfg.nickname, nick);
        let line = digest_line(items, self.cfg.digest_link.as_deref(), budget);
        self.deliver(nick, &[line]).await
    }
}

/// A digest's one line: the count and the newest summary (on one line, without control
/// characters), cut to leave room for the link, which ends it.
pub fn digest_line(items: &[Notification], digest_link: Option<&str>, budget: usize) -> String {
    let newest = items
        .last()
        .and_then(|n| n.meta.summary.as_deref())
        .map(crate::plain::one_line)
        .unwrap_or_default();
    let mut line = format!("{} notifications; the newest: {newest}", items.len());
    let link = digest_link
        .map(str::to_owned)
        .or_else(|| items.last().and_then(|n| n.meta.link.clone()));
    let tail = link
        .map(|l| format!(" {}", crate::plain::one_line(&l)))
        .unwrap_or_default();
    let room = budget.saturating_sub(tail.len());
    if line.len() > room {
        let mut cut = room.saturating_sub(3);
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push_str("...");
    }
    line.push_str(&tail);
    line
}

/// What the sender waits for: the end of registration, our PONGs, errors.
fn matters(m: &Message) -> bool {
    match &m.command {
        Command::PONG(..) | Command::ERROR(_) => true,
        Command::Response(r, _) => {
            r.is_error() || matches!(r, Response::RPL_ENDOFMOTD | Response::ERR_NOMOTD)
        }
        _ => false,
    }
}

/// `address` if it can be a nick: IRC would read spaces, commas or a leading `#` otherwise.
fn valid_nick(address: &str) -> Result<&str, SendError> {
    let ok = !address.is_empty()
        && address.len() <= 64
        && !address.starts_with(['#', '&', ':'])
        && !address.contains([' ', ',', '\r', '\n', '\0', '!', '@']);
    if ok {
        Ok(address)
    } else {
        Err(SendError::Permanent(format!(
            "{address:?} is not an IRC nick"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_words_and_characters_within_the_budget() {
        let text = "héllo wörld ".repeat(100) + &"ä".repeat(300);
        for max in [16, 50, 397] {
            let lines = split_lines(&text, max);
            assert!(
                lines.iter().all(|l| l.len() <= max && !l.is_empty()),
                "{max}"
            );
            let joined: String = lines.concat();
            let words: String = text.split_whitespace().collect();
            assert_eq!(
                joined.replace(' ', ""),
                words,
                "nothing lost or added at {max}"
            );
        }
        assert_eq!(split_lines("a  b\r\nc", 100), ["a b c"]);
        assert_eq!(
            split_lines("a\u{1}ACTION\u{1}\u{3}4b", 100),
            ["a ACTION 4b"]
        );
        assert!(split_lines("  ", 10).is_empty());
    }

    /// A digest line carries the newest summary whole on its one line: line breaks and control
    /// characters from the message become spaces, and the link still ends it.
    #[test]
    fn a_digest_line_is_one_line_whatever_the_summary() {
        let n: Notification = serde_json::from_value(serde_json::json!({
            "delivery_id": "d", "user": "ralph", "channel": "irc", "addresses": ["ralph"],
            "filter": "f", "generation": 1, "worker": "w",
            "meta": {"summary": "ralph commented on\nbug 1:\r\n\u{2}bold\u{2} text",
                     "link": "https://example.org/1"},
            "message": {"id": "m", "topic": "t", "timestamp": null, "format": "fedora-messaging",
                        "headers": {}, "body": {}},
        }))
        .unwrap();
        let items = vec![n.clone(), n];
        assert_eq!(
            digest_line(&items, None, 400),
            "2 notifications; the newest: ralph commented on bug 1: bold text https://example.org/1"
        );
        let cut = digest_line(&items, None, 60);
        assert!(
            cut.len() <= 60 && cut.ends_with("... https://example.org/1"),
            "{cut}"
        );
    }

    #[test]
    fn the_budget_leaves_room_for_the_server_prefix() {
        let nick = "fmn-notifications";
        let target = "threebean";
        let budget = text_budget(nick, target);
        let prefix = format!(
            ":{nick}!~{nick}@{} PRIVMSG {target} :",
            "h".repeat(MAX_HOST)
        );
        assert_eq!(prefix.len() + budget + 2, IRC_LINE);
    }

    /// The operator's template shapes notifications about bus messages, not fmn's own text (a
    /// verification code), which goes out as it is.
    #[test]
    fn a_template_shapes_bus_notifications_but_not_fmns_own_text() {
        let cfg: IrcConfig = match toml::from_str("server = \"s\"\nnickname = \"fmn\"") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let templates = crate::template::IrcTemplates {
            text: crate::template::Template::parse("[{topic}] {summary} via {filter}").ok(),
        };
        let sender = IrcSender::new(&cfg).with_templates(templates);
        let code =
            Notification::direct("ralph", fmn_core::ChannelKind::Irc, "r", "k", "code 1", "t");
        assert_eq!(sender.lines(&code, 400), ["code 1"]);
        let mut bus = code.clone();
        bus.filter = "f".into();
        bus.message.topic = "org.x".into();
        assert_eq!(sender.lines(&bus, 400), ["[org.x] code 1 via f"]);
    }

    #[test]
    fn nicks_that_irc_would_misread_are_refused() {
        assert!(valid_nick("threebean").is_ok());
        for bad in ["", "#fedora", "a b", "a,b", "x\r\nQUIT"] {
            assert!(valid_nick(bad).is_err(), "{bad:?}");
        }
    }
}
