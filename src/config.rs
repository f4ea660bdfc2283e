//! `fmn.toml`: the configuration file, with environment overrides.
//!
//! Every key can be overridden by an environment variable `FMN__SECTION__KEY` (double
//! underscores between levels, case-insensitive): `FMN__REDIS__URL=redis://db:6379`,
//! `FMN__SENDERS__EMAIL__PORT=2525`. Values that parse as TOML scalars (numbers, booleans) are
//! taken as such, anything else as a string.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use fmn_core::ChannelKind;
use fmn_core::lenient::Lenient;
use fmn_senders::SenderConfig;
use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Redis, for the distributed form.
    #[serde(default)]
    pub redis: RedisSection,
    /// The consumer.
    #[serde(default)]
    pub consumer: ConsumerSection,
    /// The AMQP bus the consumer reads (fedora-messaging).
    #[serde(default)]
    pub amqp: AmqpSection,
    /// Workers.
    #[serde(default)]
    pub worker: WorkerSection,
    /// One sender per channel.
    #[serde(default)]
    pub senders: BTreeMap<ChannelKind, SenderConfig>,
    /// Per-address rate limits, by channel.
    #[serde(default)]
    pub limits: BTreeMap<ChannelKind, LimitSection>,
    /// The operator's templates.
    #[serde(default)]
    pub templates: TemplatesSection,
    /// The web service (`fmn serve`).
    #[serde(default)]
    pub web: WebSection,
    /// What is kept for asking why: recent messages, delivery logs.
    #[serde(default)]
    pub history: HistorySection,
}

/// `[history]`: the recent-message window the consumer keeps and the delivery logs the
/// senders write, which `fmn serve` answers "why" and "what was sent" from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySection {
    /// How long a message stays in the window, e.g. `"7d"`; `"0s"` keeps no window.
    #[serde(default = "default_window")]
    pub window: String,
    /// The most bytes of messages the window holds; the oldest go first.
    #[serde(default = "default_window_bytes")]
    pub window_bytes: u64,
    /// How long a delivery record is kept, e.g. `"30d"`; `"0s"` keeps no log.
    #[serde(default = "default_delivery_log")]
    pub delivery_log: String,
    /// The most records kept per user.
    #[serde(default = "default_delivery_log_entries")]
    pub delivery_log_entries: u64,
}

impl Default for HistorySection {
    fn default() -> Self {
        HistorySection {
            window: default_window(),
            window_bytes: default_window_bytes(),
            delivery_log: default_delivery_log(),
            delivery_log_entries: default_delivery_log_entries(),
        }
    }
}

fn default_window() -> String {
    "7d".into()
}

fn default_window_bytes() -> u64 {
    fmn_transport::WindowLimits::default().bytes
}

fn default_delivery_log() -> String {
    "30d".into()
}

fn default_delivery_log_entries() -> u64 {
    fmn_transport::LogLimits::default().entries
}

impl HistorySection {
    /// The window's bounds; `None` when it keeps nothing.
    pub fn window(&self) -> Result<Option<fmn_transport::WindowLimits>> {
        let age = humantime::parse_duration(&self.window)
            .with_context(|| format!("[history] window = {:?} is not a duration", self.window))?;
        Ok(
            (!age.is_zero() && self.window_bytes > 0).then_some(fmn_transport::WindowLimits {
                age,
                bytes: self.window_bytes,
            }),
        )
    }

    /// The delivery logs' bounds; `None` when they keep nothing.
    pub fn delivery_log(&self) -> Result<Option<fmn_transport::LogLimits>> {
        let age = humantime::parse_duration(&self.delivery_log).with_context(|| {
            format!(
                "[history] delivery_log = {:?} is not a duration",
                self.delivery_log
            )
        })?;
        Ok(
            (!age.is_zero() && self.delivery_log_entries > 0).then_some(fmn_transport::LogLimits {
                age,
                entries: self.delivery_log_entries,
            }),
        )
    }
}

/// `[web]`: the web service (`fmn serve`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    /// The address it listens on.
    #[serde(default = "default_web_listen")]
    pub listen: std::net::SocketAddr,
    /// The key session cookies are signed with (any length; 32 random bytes or more);
    /// without one, a random key at each start.
    #[serde(default)]
    pub session_secret: Option<String>,
    /// Sign-in with OpenID Connect.
    #[serde(default)]
    pub oidc: Option<OidcSection>,
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection {
            listen: default_web_listen(),
            session_secret: None,
            oidc: None,
        }
    }
}

/// `[web.oidc]`: the OpenID provider people sign in with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSection {
    /// The issuer URL.
    pub issuer: String,
    /// The service's client id there.
    pub client_id: String,
    /// Its client secret; none for a public client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Where people reach the service; the redirect URI is this and `/oidc/callback`.
    pub public_url: String,
    /// The ID token claim holding the account name: `preferred_username` or `nickname`.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// Accounts that may act for everyone.
    #[serde(default)]
    pub admins: Vec<String>,
    /// Members of these groups (the ID token's `groups` claim) may act for everyone.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// Scopes asked for besides `openid`, `profile` and `email`.
    #[serde(default)]
    pub scopes: Vec<String>,
}

fn default_username_claim() -> String {
    "preferred_username".into()
}

impl WebSection {
    /// The web service's options, with the email sender's unsubscribe secret.
    pub fn options(
        &self,
        unsubscribe_secret: Option<String>,
        email: Option<fmn_senders::EmailConfig>,
    ) -> fmn_web::WebOptions {
        fmn_web::WebOptions {
            email,
            unsubscribe_secret,
            session_secret: self.session_secret.clone(),
            oidc: self.oidc.as_ref().map(|o| fmn_web::OidcOptions {
                issuer: o.issuer.clone(),
                client_id: o.client_id.clone(),
                client_secret: o.client_secret.clone(),
                public_url: o.public_url.clone(),
                username_claim: o.username_claim.clone(),
                admins: o.admins.clone(),
                admin_groups: o.admin_groups.clone(),
                scopes: o.scopes.clone(),
            }),
        }
    }
}

fn default_web_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Config {
    /// The key of one-click unsubscribe tokens: the email sender's `unsubscribe_secret`.
    pub fn unsubscribe_secret(&self) -> Option<String> {
        self.smtp()
            .and_then(|email| email.unsubscribe_secret.clone())
    }

    /// The email sender's SMTP configuration, if it is one.
    pub fn smtp(&self) -> Option<&fmn_senders::EmailConfig> {
        match self.senders.get(&ChannelKind::Email) {
            Some(SenderConfig::Smtp(email)) => Some(email),
            _ => None,
        }
    }
}

/// `[templates]`: what notifications say, per channel ([`fmn_senders::template`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesSection {
    /// A TOML file with `[email]`, `[irc]`, `[push]`, `[matrix]` tables of templates.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// `[limits.CHANNEL]`: at most `per_address` deliveries to one address in any `window`; more
/// wait their turn (in the retry set, not counted as failed attempts).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSection {
    /// Deliveries to one address.
    pub per_address: u32,
    /// Per this long, e.g. `"1h"` or `"90s"`.
    pub window: String,
}

impl LimitSection {
    /// The limit the sender applies.
    pub fn rate_limit(&self, channel: ChannelKind) -> Result<fmn_senders::RateLimit> {
        let window = humantime::parse_duration(&self.window).with_context(|| {
            format!(
                "[limits.{channel}] window = {:?} is not a duration",
                self.window
            )
        })?;
        anyhow::ensure!(
            self.per_address > 0 && !window.is_zero(),
            "[limits.{channel}]: per_address and window must be more than zero"
        );
        Ok(fmn_senders::RateLimit {
            count: self.per_address,
            window,
        })
    }
}

impl Config {
    /// The operator's templates, read and checked; the built-in ones where none is given.
    pub fn load_templates(&self) -> Result<fmn_senders::Templates> {
        Ok(match &self.templates.file {
            Some(path) => fmn_senders::Templates::load(path)?,
            None => fmn_senders::Templates::default(),
        })
    }

    /// The sender options for `channel`, with its rate limit if one is configured.
    pub fn sender_options(
        &self,
        channel: ChannelKind,
        consumer: String,
    ) -> Result<fmn_senders::SenderOptions> {
        let rate_limit = self
            .limits
            .get(&channel)
            .map(|l| l.rate_limit(channel))
            .transpose()?;
        Ok(fmn_senders::SenderOptions {
            rate_limit,
            delivery_log: self.history.delivery_log()?,
            ..fmn_senders::SenderOptions::new(channel, consumer)
        })
    }
}

/// `[amqp]`: fedora-messaging's broker. `fmn consume` reads it when `url` is set and no other
/// source is given on the command line; its options win over these.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpSection {
    /// `amqp://` or `amqps://user:password@host:port/vhost`.
    #[serde(default)]
    pub url: Option<String>,
    /// The topic exchange (default `amq.topic`).
    #[serde(default)]
    pub exchange: Option<String>,
    /// The queue (default `fmn`), declared durable if missing.
    #[serde(default)]
    pub queue: Option<String>,
    /// Routing keys to bind the queue with (default `#`).
    #[serde(default)]
    pub routing_keys: Vec<String>,
    /// Deliveries in flight before acknowledgement (default 1024).
    #[serde(default)]
    pub prefetch: Option<u16>,
    /// CA certificates (PEM) for `amqps://`.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for `amqps://`.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(default)]
    pub key: Option<PathBuf>,
}

/// `[redis]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://host:port/db`.
    #[serde(default)]
    pub url: Option<String>,
    /// Prefix of every key.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// How often the consumer and each worker process look for workers whose heartbeat
    /// stopped and hand their queued work to live ones; 0 turns it off.
    #[serde(default = "default_reclaim_ms")]
    pub reclaim_ms: u64,
    /// A worker silent this long, once its queued work is handed over, is forgotten: gone
    /// from `fmn status` and from the janitor's rounds; 0 keeps every worker ever seen.
    #[serde(default = "default_forget_workers_after_s")]
    pub forget_workers_after_s: u64,
}

impl Default for RedisSection {
    fn default() -> Self {
        RedisSection {
            url: None,
            namespace: default_namespace(),
            reclaim_ms: default_reclaim_ms(),
            forget_workers_after_s: default_forget_workers_after_s(),
        }
    }
}

impl RedisSection {
    /// How long a worker may be silent before the janitor forgets it; `None`: never.
    pub fn forget_after(&self) -> Option<std::time::Duration> {
        (self.forget_workers_after_s > 0)
            .then(|| std::time::Duration::from_secs(self.forget_workers_after_s))
    }
}

fn default_reclaim_ms() -> u64 {
    5000
}

/// A day: long enough to read what a worker that died overnight did.
fn default_forget_workers_after_s() -> u64 {
    86_400
}

fn default_namespace() -> String {
    "fmn".into()
}

/// `[consumer]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSection {
    /// Messages over this size are dead-lettered.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// Carry each message as it arrived (`raw`) along with the normalised fields.
    #[serde(default)]
    pub keep_raw: bool,
    /// Messages dispatched per round trip.
    #[serde(default = "default_consumer_batch")]
    pub batch: usize,
    /// How a worker is picked: `random` (the original design), `p2c` or `shared`.
    #[serde(default = "default_dispatch")]
    pub dispatch: String,
    /// Entries the live workers' queues may hold in all before the consumer stops reading.
    #[serde(default = "default_max_backlog")]
    pub max_backlog: u64,
    /// Bytes of queued work they may hold in all before the consumer stops reading.
    #[serde(default = "default_max_backlog_bytes")]
    pub max_backlog_bytes: u64,
}

impl Default for ConsumerSection {
    fn default() -> Self {
        ConsumerSection {
            max_message_bytes: default_max_message(),
            keep_raw: false,
            batch: default_consumer_batch(),
            dispatch: default_dispatch(),
            max_backlog: default_max_backlog(),
            max_backlog_bytes: default_max_backlog_bytes(),
        }
    }
}

fn default_dispatch() -> String {
    "random".into()
}

fn default_max_backlog() -> u64 {
    fmn_consumer::consume::DEFAULT_MAX_BACKLOG
}

fn default_max_backlog_bytes() -> u64 {
    fmn_consumer::consume::DEFAULT_MAX_BACKLOG_BYTES
}

fn default_max_message() -> usize {
    fmn_core::envelope::DEFAULT_MAX_MESSAGE_BYTES
}

fn default_consumer_batch() -> usize {
    256
}

/// `[worker]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSection {
    /// Rule module files or directories; the bundled modules when empty.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// The preferences file.
    #[serde(default)]
    pub prefs: Option<PathBuf>,
    /// Where workers take preferences from: `file` (`prefs`, read at start) or `redis`
    /// (`fmn prefs import|set`, followed live).
    #[serde(default)]
    pub prefs_from: PrefsFrom,
    /// Package ownership, in Pagure's owner-alias JSON (`{"rpms": {"name": ["user", "@group"]}}`),
    /// loaded under what Redis holds.
    #[serde(default)]
    pub owners: Option<PathBuf>,
    /// Package watchers, in the same shape.
    #[serde(default)]
    pub watchers: Option<PathBuf>,
    /// Group membership, `{"python-sig": ["user", ...]}`.
    #[serde(default)]
    pub groups: Option<PathBuf>,
    /// Aliases, `{"old-nick or address": "account"}`.
    #[serde(default)]
    pub aliases: Option<PathBuf>,
    /// The rule module whose extractors give every notification its metadata (summary, link,
    /// usernames, packages); other modules' extractors feed only their own rules.
    #[serde(default = "default_meta_module")]
    pub meta_module: String,
    /// Worker loops per process.
    #[serde(default = "one")]
    pub threads: usize,
    /// Messages read and acknowledged at once.
    #[serde(default = "default_worker_batch")]
    pub batch: usize,
    /// How much CPU time one call into a rule module may use, in milliseconds (and 10 times
    /// that of wall-clock time at most).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The most memory a rule module instance may use, in MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: usize,
    /// How long loading a module may take once compiled (instantiation, description,
    /// checks and samples together), in milliseconds.
    #[serde(default = "default_load_budget_ms")]
    pub load_budget_ms: u64,
    /// Where compiled modules are cached (default `~/.cache/fmn/modules`); `""` disables it.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// How often the rule files and Redis' published modules are checked for new versions, in
    /// milliseconds (a publication also wakes the workers at once); 0 turns hot reload off.
    #[serde(default = "default_reload_ms")]
    pub reload_ms: u64,
    /// How many times a message whose evaluation could not be completed (a module failed on
    /// it as a whole, or was in quarantine) is evaluated again before it becomes a dead letter.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The wait before the first of those retries, in seconds; each next one waits four times
    /// longer, up to 30 minutes.
    #[serde(default = "default_retry_first_s")]
    pub retry_first_s: u64,
    /// How much of the message each notification carries: `reference` (id, topic, timestamp,
    /// bus format: what the bundled senders use) or `whole` (headers and body too, and `raw`
    /// when the consumer keeps it).
    #[serde(default)]
    pub notification_message: fmn_core::MessageCopy,
}

fn default_retries() -> u32 {
    fmn_host::RetryPolicy::default().retries
}

fn default_retry_first_s() -> u64 {
    fmn_host::RetryPolicy::default().first.as_secs()
}

impl Default for WorkerSection {
    fn default() -> Self {
        WorkerSection {
            rules: Vec::new(),
            prefs: None,
            prefs_from: PrefsFrom::File,
            owners: None,
            watchers: None,
            groups: None,
            aliases: None,
            meta_module: default_meta_module(),
            threads: one(),
            batch: default_worker_batch(),
            timeout_ms: default_timeout_ms(),
            memory_mb: default_memory_mb(),
            load_budget_ms: default_load_budget_ms(),
            cache_dir: None,
            reload_ms: default_reload_ms(),
            retries: default_retries(),
            retry_first_s: default_retry_first_s(),
            notification_message: fmn_core::MessageCopy::Reference,
        }
    }
}

/// Where workers take preferences from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PrefsFrom {
    /// A file, read at start.
    #[default]
    File,
    /// Redis, followed live.
    Redis,
}

fn default_meta_module() -> String {
    fmn_host::ruleset::DEFAULT_META_MODULE.to_owned()
}

fn one() -> usize {
    1
}

fn default_worker_batch() -> usize {
    fmn_host::DEFAULT_WORKER_BATCH
}

fn default_timeout_ms() -> u64 {
    20
}

fn default_load_budget_ms() -> u64 {
    fmn_host::sandbox::DEFAULT_LOAD_BUDGET.as_millis() as u64
}

fn default_reload_ms() -> u64 {
    1000
}

fn default_memory_mb() -> usize {
    64
}

impl ConsumerSection {
    /// The consumer's options as this section sets them.
    pub fn options(&self) -> anyhow::Result<fmn_consumer::ConsumerOptions> {
        Ok(fmn_consumer::ConsumerOptions {
            max_message_bytes: self.max_message_bytes,
            keep_raw: self.keep_raw,
            batch: self.batch,
            dispatch: self
                .dispatch
                .parse()
                .map_err(|e| anyhow::anyhow!("[consumer] dispatch: {e}"))?,
            max_backlog: self.max_backlog,
            max_backlog_bytes: self.max_backlog_bytes,
            ..Default::default()
        })
    }
}

impl WorkerSection {
    /// The options of worker `id` as this section sets them.
    pub fn options(&self, id: String) -> fmn_host::WorkerOptions {
        let retry = fmn_host::RetryPolicy {
            retries: self.retries,
            first: Duration::from_secs(self.retry_first_s),
            ..fmn_host::RetryPolicy::default()
        };
        fmn_host::WorkerOptions {
            batch: self.batch,
            retry,
            message_copy: self.notification_message,
            ..fmn_host::WorkerOptions::new(id)
        }
    }

    /// The sandbox limits this section sets.
    pub fn sandbox(&self) -> fmn_host::SandboxConfig {
        let defaults = fmn_host::SandboxConfig::default();
        let cache_dir = match &self.cache_dir {
            Some(d) if d.as_os_str().is_empty() => None,
            Some(d) => Some(d.clone()),
            None => defaults.cache_dir.clone(),
        };
        fmn_host::SandboxConfig {
            timeout: Duration::from_millis(self.timeout_ms),
            memory_bytes: self.memory_mb << 20,
            load_budget: Duration::from_millis(self.load_budget_ms),
            cache_dir,
            ..defaults
        }
    }
}

impl Config {
    /// Reads `path` (if given), then applies `FMN__...` environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let mut table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                toml::from_str::<toml::Table>(&text)
                    .with_context(|| format!("{} is not valid TOML", p.display()))?
            }
            None => toml::Table::new(),
        };
        for (key, value) in std::env::vars() {
            if let Some(rest) = key.strip_prefix("FMN__") {
                let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
                set(&mut table, &path, &value)
                    .with_context(|| format!("environment variable {key}"))?;
            }
        }
        let name = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the configuration".into());
        Config::deserialize(Lenient(toml::Value::Table(table)))
            .with_context(|| format!("invalid configuration in {name}"))
    }
}

fn set(table: &mut toml::Table, path: &[String], value: &str) -> Result<()> {
    match path {
        [] => bail!("names no key"),
        // Text, read as the type of its key (`fmn_core::lenient`).
        [last] => {
            table.insert(last.clone(), toml::Value::String(value.to_owned()));
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => set(t, rest, value),
                _ => bail!("`{first}` is not a table"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in docs/configuration.md is a valid configuration with every key.
    #[test]
    fn documented_example_parses() {
        let doc = include_str!("../docs/configuration.md");
        let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
        let end = start + doc[start..].find("```").expect("its end");
        let c: Config = toml::from_str(&doc[start..end]).unwrap();
        assert_eq!(c.worker.reload_ms, 1000);
        assert_eq!(
            c.worker.cache_dir.as_deref(),
            Some(Path::new("/var/cache/fmn"))
        );
        assert_eq!(c.consumer.max_message_bytes, default_max_message());
        assert!(matches!(&c.senders[&ChannelKind::Email], SenderConfig::Smtp(e) if e.port == 587));
    }

    #[test]
    fn file_and_overrides() {
        let mut t: toml::Table = r#"
[redis]
url = "redis://a:1"
[senders.email]
backend = "smtp"
host = "mail"
from = "fmn <fmn@example.org>"
[senders.irc]
backend = "file"
path = "out/irc.jsonl"
"#
        .parse()
        .unwrap();
        set(&mut t, &["redis".into(), "url".into()], "redis://b:2").unwrap();
        let email = |key: &str| ["senders".into(), "email".into(), key.to_owned()];
        set(&mut t, &email("port"), "2525").unwrap();
        // Text that looks like a number stays text where the key is text.
        set(&mut t, &email("password"), "123456").unwrap();
        set(&mut t, &email("username"), "true").unwrap();
        let c = Config::deserialize(Lenient(toml::Value::Table(t))).unwrap();
        assert_eq!(c.redis.url.as_deref(), Some("redis://b:2"));
        match &c.senders[&ChannelKind::Email] {
            SenderConfig::Smtp(e) => {
                assert_eq!((e.host.as_str(), e.port), ("mail", 2525));
                assert_eq!(e.password.as_deref(), Some("123456"));
                assert_eq!(e.username.as_deref(), Some("true"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c.senders[&ChannelKind::Irc],
            SenderConfig::File { .. }
        ));
    }
}
