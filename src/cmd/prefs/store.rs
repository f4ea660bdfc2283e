//! `fmn prefs import|export|show|set`: the preferences workers follow in Redis.

use fmn_transport::prelude::*;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use fmn_core::Preferences;
use fmn_host::{Plan, RuleSet};
use fmn_transport::{EditUserError, Edited, RedisTransport, edit_user_prefs};

use crate::config::Config;
use crate::setup;

/// Every problem, each with its user, channel, filter and rule; empty when none.
fn problems(ruleset: &RuleSet, prefs: &Preferences) -> Vec<fmn_core::prefs::PrefsProblem> {
    Plan::build(ruleset, prefs).err().unwrap_or_default()
}

/// Says that `what` was refused for its problems, nothing stored; exit code 2.
fn refused(what: &str, problems: &[fmn_core::prefs::PrefsProblem], json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::json!({"stored": false, "source": what, "problems": problems})
        );
    } else {
        eprintln!("{what}: {} problem(s), nothing stored:", problems.len());
        for p in problems {
            eprintln!("  {p}");
        }
    }
    super::super::problems_found()
}

/// What `fmn prefs import` and `fmn prefs set` share: the rules a change is checked against,
/// the output, the Redis it is stored in.
#[derive(clap::Args)]
pub struct StoreArgs {
    /// Rule module files or directories; the configuration's, else the bundled modules.
    #[arg(long = "rules")]
    pub rules: Vec<PathBuf>,
    /// One JSON object on stdout: stored or not, users or the change, version, problems.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub redis: crate::cmd::RedisArg,
}

/// `fmn prefs import FILE`: all users, replaced at once.
pub async fn import(
    config: &Config,
    redis: &RedisTransport,
    file: &Path,
    opts: StoreArgs,
) -> Result<ExitCode> {
    let prefs = Preferences::parse_path(file)?;
    let ruleset = setup::deployed_rules(config, &opts.rules, redis).await?;
    let name = file.display().to_string();
    let found = problems(&ruleset, &prefs);
    if !found.is_empty() {
        return Ok(refused(&name, &found, opts.json));
    }
    let version = redis.import_prefs(&prefs).await?;
    if opts.json {
        println!(
            "{}",
            serde_json::json!({"stored": true, "source": name, "users": prefs.users.len(),
                "version": version})
        );
    } else {
        println!(
            "imported {} users from {name}; preferences version {version}",
            prefs.users.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// FMN 2's per-user exports as one preferences set, with what each left out.
fn read_fmn_exports(files: &[PathBuf]) -> Result<(Preferences, Vec<String>)> {
    let mut prefs = Preferences::default();
    let mut skipped = Vec::new();
    let progress = crate::progress::Progress::new(files.len() as u64, "FMN 2 exports");
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
        progress.inc(1);
    }
    progress.finish();
    Ok((prefs, skipped))
}

/// `fmn prefs import --from-fmn FILE...`: FMN 2's per-user exports, converted, checked as a
/// whole, and stored beside the users already there.
pub async fn import_fmn(
    config: &Config,
    redis: &RedisTransport,
    files: &[PathBuf],
    opts: StoreArgs,
) -> Result<ExitCode> {
    let (prefs, skipped) = read_fmn_exports(files)?;
    let ruleset = setup::deployed_rules(config, &opts.rules, redis).await?;
    let found = problems(&ruleset, &prefs);
    if !found.is_empty() {
        return Ok(refused("the FMN 2 exports", &found, opts.json));
    }
    let version = redis.merge_prefs(&prefs).await?;
    if opts.json {
        println!(
            "{}",
            serde_json::json!({"stored": true, "source": "fmn2", "users": prefs.users.len(),
                "version": version, "left_out": skipped})
        );
        return Ok(ExitCode::SUCCESS);
    }
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

/// `fmn prefs set USER ...`: one user's preferences, edited and checked, then stored only if
/// nobody changed them meanwhile (else read and edited again).
pub async fn set(
    config: &Config,
    redis: &RedisTransport,
    name: &str,
    edits: &super::edits::Edits,
    opts: StoreArgs,
) -> Result<ExitCode> {
    /// Why an edit was not stored.
    enum Refusal {
        Edit(fmn_core::prefs_edit::EditError),
        Problems(Vec<fmn_core::prefs::PrefsProblem>),
    }
    let edits = edits.for_user(name)?;
    let ruleset = setup::deployed_rules(config, &opts.rules, redis).await?;
    let edited = edit_user_prefs(redis, name, |current| {
        let new = edits.apply(name, current).map_err(Refusal::Edit)?;
        if let Some(u) = &new {
            let mut one = Preferences::default();
            one.users.insert(name.to_owned(), u.clone());
            let found = problems(&ruleset, &one);
            if !found.is_empty() {
                return Err(Refusal::Problems(found));
            }
        }
        Ok(new)
    })
    .await;
    let (what, version) = match edited {
        Ok(Edited::Stored(version)) => {
            let removed = edits.remove;
            (if removed { "removed" } else { "stored" }, Some(version))
        }
        Ok(Edited::Unchanged) => ("unchanged", None),
        Err(EditUserError::Edit(Refusal::Edit(e))) => return Err(e.into()),
        Err(EditUserError::Edit(Refusal::Problems(found))) => {
            return Ok(refused(&format!("user {name:?}"), &found, opts.json));
        }
        Err(EditUserError::KeptChanging(_)) => {
            bail!("user {name:?} kept changing under us; try again")
        }
        Err(EditUserError::Transport(e)) => return Err(e.into()),
    };
    if opts.json {
        println!(
            "{}",
            serde_json::json!({"stored": version.is_some(), "user": name, "change": what,
                "version": version})
        );
    } else {
        match version {
            Some(v) => println!("user {name:?} {what}; preferences version {v}"),
            None => println!("user {name:?} unchanged: the edits change nothing"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
