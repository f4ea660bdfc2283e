//! `fmn prefs import|export|show|set`: the preferences workers follow in Redis.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use fmn_core::prefs::User;
use fmn_core::{ChannelKind, Preferences};
use fmn_host::{Plan, RuleSet};
use fmn_transport::{DeliveryLedger, RedisTransport, SetUserError};

use crate::config::Config;
use crate::setup;

/// What `fmn prefs set` changes in one user's preferences.
#[derive(clap::Args, Default)]
pub struct Edits {
    /// Replace the user's preferences with theirs in this preferences file (TOML or JSON, as
    /// `fmn prefs import` takes).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Remove the user.
    #[arg(long, conflicts_with = "file")]
    pub remove: bool,
    /// Turn a channel on (email, irc, push, matrix); may repeat.
    #[arg(long, value_name = "CHANNEL")]
    pub enable: Vec<ChannelKind>,
    /// Turn a channel off; may repeat.
    #[arg(long, value_name = "CHANNEL")]
    pub disable: Vec<ChannelKind>,
    /// Add an address to a channel, as CHANNEL=ADDRESS (e.g. `email=me@example.org`).
    #[arg(long, value_name = "CHANNEL=ADDRESS")]
    pub add_address: Vec<String>,
    /// Activate a filter, as CHANNEL:FILTER.
    #[arg(long, value_name = "CHANNEL:FILTER")]
    pub activate: Vec<String>,
    /// Deactivate a filter, as CHANNEL:FILTER.
    #[arg(long, value_name = "CHANNEL:FILTER")]
    pub deactivate: Vec<String>,
    /// Remove a filter, as CHANNEL:FILTER.
    #[arg(long, value_name = "CHANNEL:FILTER")]
    pub remove_filter: Vec<String>,
    /// Add a filter, as CHANNEL:FILTER, made of the `--rule`s given (it replaces a filter of
    /// the same name).
    #[arg(long, value_name = "CHANNEL:FILTER", requires = "rule")]
    pub add_filter: Option<String>,
    /// A rule of the filter `--add-filter` adds (repeatable, AND-ed): `module::rule`, then
    /// its arguments as a JSON object after `=`, e.g. `fedora::package_filter={"package":
    /// "nethack"}`; a leading `!` negates it.
    #[arg(long, value_name = "RULE", requires = "add_filter")]
    pub rule: Vec<String>,
    /// Make the filter `--add-filter` adds one-shot.
    #[arg(long, requires = "add_filter")]
    pub oneshot: bool,
    /// Fold a channel's notifications into digests, as CHANNEL=COUNT,DELAY (e.g.
    /// `email=10,1h`; either part may be empty).
    #[arg(long, value_name = "CHANNEL=COUNT,DELAY")]
    pub digest: Vec<String>,
    /// Send a channel's notifications one by one again.
    #[arg(long, value_name = "CHANNEL")]
    pub no_digest: Vec<ChannelKind>,
}

/// `[!]module::rule[={json}]` as a rule reference.
fn rule_ref(spec: &str) -> Result<fmn_core::prefs::RuleRef> {
    let (negated, spec) = match spec.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, spec),
    };
    let (rule, args) = match spec.split_once('=') {
        Some((rule, json)) => {
            let args: serde_json::Value = serde_json::from_str(json)
                .with_context(|| format!("--rule {spec:?}: the arguments are not JSON"))?;
            if !args.is_object() {
                bail!("--rule {spec:?}: the arguments must be a JSON object");
            }
            (rule, args)
        }
        None => (spec, serde_json::json!({})),
    };
    Ok(fmn_core::prefs::RuleRef {
        rule: rule.trim().to_owned(),
        args,
        negated,
    })
}

/// `CHANNEL=COUNT,DELAY` as a channel and its digest settings.
fn digest_spec(spec: &str) -> Result<(ChannelKind, fmn_core::prefs::Digest)> {
    let bad = || format!("--digest {spec:?}: expected CHANNEL=COUNT,DELAY (e.g. email=10,1h)");
    let (ch, rest) = spec.split_once('=').with_context(bad)?;
    let kind: ChannelKind = ch.parse().map_err(|e| anyhow::anyhow!("{spec:?}: {e}"))?;
    let (count, delay) = rest.split_once(',').unwrap_or((rest, ""));
    let max_count = match count.trim() {
        "" => None,
        n => Some(n.parse::<u32>().with_context(bad)?),
    };
    let max_delay = match delay.trim() {
        "" => None,
        d => Some(humantime::parse_duration(d).with_context(bad)?),
    };
    if max_count.is_none() && max_delay.is_none() {
        bail!("{}: give a count, a delay or both", bad());
    }
    Ok((
        kind,
        fmn_core::prefs::Digest {
            max_count,
            max_delay,
        },
    ))
}

/// The rules a worker on this Redis would run: the local ones (`--rules`, else the
/// configuration's, else the bundled) with the published versions in place.
async fn rules(
    config: &Config,
    rules: Vec<PathBuf>,
    redis: &RedisTransport,
) -> Result<Arc<RuleSet>> {
    let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
    let paths = if rules.is_empty() {
        config.worker.rules.clone()
    } else {
        rules
    };
    let local = setup::local_modules(&sandbox, &paths)?;
    let modules = fmn_host::reload::with_published(&sandbox, local, redis)
        .await
        .context("reading the modules published in Redis")?;
    Ok(Arc::new(RuleSet::new(1, modules)?))
}

/// Every problem, each with its user, channel, filter and rule; `Err` when there is any.
fn validate(ruleset: &RuleSet, prefs: &Preferences, what: &str) -> Result<()> {
    if let Err(problems) = Plan::build(ruleset, prefs) {
        let mut msg = format!("{what}: {} problem(s), nothing stored:", problems.len());
        for p in problems {
            msg.push_str(&format!("\n  {p}"));
        }
        bail!(msg);
    }
    Ok(())
}

/// `fmn prefs import FILE`: all users, replaced at once.
pub async fn import(
    config: &Config,
    redis: &RedisTransport,
    file: &Path,
    rule_paths: Vec<PathBuf>,
) -> Result<ExitCode> {
    let prefs = Preferences::parse_path(file)?;
    let ruleset = rules(config, rule_paths, redis).await?;
    validate(&ruleset, &prefs, &file.display().to_string())?;
    let version = redis.import_prefs(&prefs).await?;
    println!(
        "imported {} users from {}; preferences version {version}",
        prefs.users.len(),
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `fmn prefs import --from-fmn FILE...`: FMN 2's per-user exports, converted, checked as a
/// whole, and stored beside the users already there.
pub async fn import_fmn(
    config: &Config,
    redis: &RedisTransport,
    files: &[PathBuf],
    rule_paths: Vec<PathBuf>,
) -> Result<ExitCode> {
    let mut prefs = Preferences::default();
    let mut skipped = Vec::new();
    for f in files {
        let name = f.display().to_string();
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {name}"))?;
        let c = fmn_core::prefs_fmn::from_fmn(&name, &text)?;
        if prefs.users.contains_key(&c.user) {
            bail!("{name}: user {:?} is in an earlier file too", c.user);
        }
        skipped.extend(
            c.skipped
                .iter()
                .map(|s| format!("{name} (user {:?}): {s}", c.user)),
        );
        prefs.users.insert(c.user, c.prefs);
    }
    let ruleset = rules(config, rule_paths, redis).await?;
    validate(&ruleset, &prefs, "the FMN 2 exports")?;
    let version = redis.merge_prefs(&prefs).await?;
    for s in &skipped {
        println!("left out: {s}");
    }
    println!(
        "imported {} users from FMN 2 exports; preferences version {version}",
        prefs.users.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `fmn prefs export`: every user, as one preferences file.
pub async fn export(redis: &RedisTransport, json: bool) -> Result<ExitCode> {
    let (version, prefs) = redis.load_prefs().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&prefs)?);
    } else {
        println!("# preferences version {version}");
        print!("{}", toml::to_string(&prefs)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `fmn prefs show USER`.
pub async fn show(redis: &RedisTransport, user: &str, json: bool) -> Result<ExitCode> {
    let Some(u) = redis.user_prefs(user).await? else {
        bail!("no preferences for user {user:?} in Redis");
    };
    let mut one = Preferences::default();
    one.users.insert(user.to_owned(), u);
    if json {
        println!("{}", serde_json::to_string_pretty(&one)?);
    } else {
        print!("{}", toml::to_string(&one)?);
    }
    // On stderr, so what is printed on stdout can be imported again as it is.
    for f in redis.address_failures(user).await? {
        let when = jiff::Timestamp::from_millisecond(f.last_ms as i64)
            .map_or_else(|_| format!("{} ms", f.last_ms), |t| t.to_string());
        eprintln!(
            "warning: {} address {:?} was refused for good {} time(s), last at {when}: {}",
            f.channel, f.address, f.count, f.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn channel_filter(spec: &str) -> Result<(ChannelKind, &str)> {
    let (ch, filter) = spec
        .split_once(':')
        .with_context(|| format!("{spec:?}: expected CHANNEL:FILTER"))?;
    let ch = ch.parse().map_err(|e| anyhow::anyhow!("{spec:?}: {e}"))?;
    Ok((ch, filter))
}

/// The user after `edits`; `None` when removed.
fn edited(name: &str, current: Option<&User>, edits: &Edits) -> Result<Option<User>> {
    if edits.remove {
        return Ok(None);
    }
    let mut user = match &edits.file {
        Some(f) => Preferences::parse_path(f)?
            .users
            .remove(name)
            .with_context(|| format!("{} has no user {name:?}", f.display()))?,
        None => current.cloned().unwrap_or_default(),
    };
    fn channel<'u>(
        user: &'u mut User,
        name: &str,
        kind: ChannelKind,
    ) -> Result<&'u mut fmn_core::prefs::Channel> {
        user.channels
            .get_mut(&kind)
            .with_context(|| format!("user {name:?} has no {kind} channel"))
    }
    for kind in &edits.enable {
        channel(&mut user, name, *kind)?.enabled = true;
    }
    for kind in &edits.disable {
        channel(&mut user, name, *kind)?.enabled = false;
    }
    for spec in &edits.add_address {
        let (ch, addr) = spec
            .split_once('=')
            .with_context(|| format!("{spec:?}: expected CHANNEL=ADDRESS"))?;
        let kind: ChannelKind = ch.parse().map_err(|e| anyhow::anyhow!("{spec:?}: {e}"))?;
        let c = user
            .channels
            .entry(kind)
            .or_insert_with(|| fmn_core::prefs::Channel {
                enabled: true,
                addresses: Vec::new(),
                digest: None,
                filters: Vec::new(),
            });
        if !c.addresses.iter().any(|a| a == addr) {
            c.addresses.push(addr.to_owned());
        }
    }
    for (specs, active) in [
        (&edits.activate, Some(true)),
        (&edits.deactivate, Some(false)),
        (&edits.remove_filter, None),
    ] {
        for spec in specs {
            let (kind, filter) = channel_filter(spec)?;
            let c = channel(&mut user, name, kind)?;
            let Some(at) = c.filters.iter().position(|f| f.name == filter) else {
                bail!("user {name:?} has no filter {filter:?} on {kind}");
            };
            match active {
                Some(a) => c.filters[at].active = a,
                None => {
                    c.filters.remove(at);
                }
            }
        }
    }
    if let Some(spec) = &edits.add_filter {
        let (kind, filter) = channel_filter(spec)?;
        let filter = fmn_core::prefs::Filter {
            name: filter.to_owned(),
            active: true,
            oneshot: edits.oneshot,
            rules: edits
                .rule
                .iter()
                .map(|r| rule_ref(r))
                .collect::<Result<_>>()?,
        };
        let c = channel(&mut user, name, kind)?;
        match c.filters.iter_mut().find(|f| f.name == filter.name) {
            Some(f) => *f = filter,
            None => c.filters.push(filter),
        }
    }
    for spec in &edits.digest {
        let (kind, digest) = digest_spec(spec)?;
        channel(&mut user, name, kind)?.digest = Some(digest);
    }
    for kind in &edits.no_digest {
        channel(&mut user, name, *kind)?.digest = None;
    }
    Ok(Some(user))
}

/// `fmn prefs set USER ...`: one user's preferences, edited and checked, then stored only if
/// nobody changed them meanwhile (else read and edited again).
pub async fn set(
    config: &Config,
    redis: &RedisTransport,
    name: &str,
    edits: &Edits,
    rule_paths: Vec<PathBuf>,
) -> Result<ExitCode> {
    let ruleset = rules(config, rule_paths, redis).await?;
    for _ in 0..5 {
        let current = redis.user_prefs_raw(name).await?;
        let new = edited(name, current.as_ref().map(|(u, _)| u), edits)?;
        if let Some(u) = &new {
            let mut one = Preferences::default();
            one.users.insert(name.to_owned(), u.clone());
            validate(&ruleset, &one, &format!("user {name:?}"))?;
        }
        match redis
            .set_user_prefs(
                name,
                new.as_ref(),
                Some(current.as_ref().map(|(_, j)| j.as_str())),
            )
            .await
        {
            Ok(version) => {
                let what = if new.is_some() { "stored" } else { "removed" };
                println!("user {name:?} {what}; preferences version {version}");
                return Ok(ExitCode::SUCCESS);
            }
            Err(SetUserError::Conflict(_)) => continue,
            Err(SetUserError::Transport(e)) => return Err(e.into()),
        }
    }
    bail!("user {name:?} kept changing under us; try again")
}
