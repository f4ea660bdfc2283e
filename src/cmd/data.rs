//! `fmn data import` and `fmn data show`: the ownership, group and alias data workers answer
//! data rules from, kept in Redis.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use fmn_core::Relations;
use fmn_core::data::{DataKind, GROUP_OWNERS, RELATIONS};
use fmn_transport::DataStore;
use serde::Serialize;

use crate::config::Config;

/// `fmn data` subcommands.
#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// Load data files into Redis. Each relation a file gives replaces the stored one whole;
    /// the others stay. Live workers swap the new data in without a restart.
    Import(ImportArgs),
    /// What Redis holds: a count per relation, or what it says of packages, users and groups.
    Show(ShowArgs),
}

/// `fmn data import` options.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// Package ownership, Pagure's owner-alias JSON: `{"rpms": {"nethack": ["user", "@group"]}}`.
    #[arg(long)]
    owners: Option<PathBuf>,
    /// Package watchers, in the same shape.
    #[arg(long)]
    watchers: Option<PathBuf>,
    /// Group membership: `{"python-sig": ["user", ...]}`.
    #[arg(long)]
    groups: Option<PathBuf>,
    /// Aliases: `{"old-nick": "account", "someone@example.org": "account"}`.
    #[arg(long)]
    aliases: Option<PathBuf>,
    #[command(flatten)]
    redis: super::RedisArg,
}

/// `fmn data show` options.
#[derive(clap::Args)]
pub struct ShowArgs {
    /// Show what the data says of this package (owners, committers, watchers, groups).
    #[arg(long)]
    package: Vec<String>,
    /// Show this user's groups, the account an alias stands for, and the packages they own.
    #[arg(long)]
    user: Vec<String>,
    /// Show the members of this group and the packages it owns.
    #[arg(long)]
    group: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    redis: super::RedisArg,
}

/// Runs a `fmn data` subcommand.
pub async fn run(cmd: DataCommand, config: Config) -> Result<ExitCode> {
    match cmd {
        DataCommand::Import(a) => import(a, config).await,
        DataCommand::Show(a) => show(a, config).await,
    }
}

async fn import(args: ImportArgs, config: Config) -> Result<ExitCode> {
    let files = [
        (DataKind::Owners, args.owners),
        (DataKind::Watchers, args.watchers),
        (DataKind::Groups, args.groups),
        (DataKind::Aliases, args.aliases),
    ];
    if files.iter().all(|(_, f)| f.is_none()) {
        bail!("nothing to import: give --owners, --watchers, --groups or --aliases");
    }
    // Every file is read and checked before anything is written.
    let mut data = Relations::new();
    let mut read = Vec::new();
    for (kind, path) in files {
        if let Some(path) = path {
            let n = data.load_file(kind, &path)?;
            read.push(format!("{n} entries from {}", path.display()));
        }
    }
    let transport = args.redis.connect(&config).await?;
    let version = transport.import_data(&data).await?;
    let mut relations: Vec<String> = data
        .tables()
        .map(|(name, t)| format!("{name} ({} keys)", t.len()))
        .collect();
    relations.sort();
    println!(
        "imported {}: {}; data version {version}",
        read.join(", "),
        relations.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Shown {
    version: u64,
    relations: BTreeMap<String, usize>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    packages: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    users: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    groups: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// Keys of `relation` whose values include `value`, sorted.
fn keys_holding(data: &Relations, relation: &str, value: &str) -> Vec<String> {
    let mut out: Vec<String> = data
        .tables()
        .filter(|(name, _)| *name == relation)
        .flat_map(|(_, t)| t.iter())
        .filter(|(_, values)| values.iter().any(|v| v == value))
        .map(|(k, _)| k.clone())
        .collect();
    out.sort();
    out
}

async fn show(args: ShowArgs, config: Config) -> Result<ExitCode> {
    let transport = args.redis.connect(&config).await?;
    let (version, data) = transport.load_data().await?;
    let mut shown = Shown {
        version,
        relations: data
            .tables()
            .map(|(n, t)| (n.to_owned(), t.len()))
            .collect(),
        packages: BTreeMap::new(),
        users: BTreeMap::new(),
        groups: BTreeMap::new(),
    };
    for p in &args.package {
        let entry = shown.packages.entry(p.clone()).or_default();
        for relation in RELATIONS {
            let values = data.get(relation, p);
            if !values.is_empty() {
                entry.insert((*relation).to_owned(), values.to_vec());
            }
        }
    }
    for u in &args.user {
        let entry = shown.users.entry(u.clone()).or_default();
        let account = data.account(u).map(str::to_owned);
        if let Some(a) = account.as_ref().filter(|a| *a != u) {
            entry.insert("account".into(), vec![a.clone()]);
        }
        let who = account.unwrap_or_else(|| u.clone());
        let groups = data.get(fmn_core::data::GROUPS, &who);
        if !groups.is_empty() {
            entry.insert("groups".into(), groups.to_vec());
        }
        for relation in [
            fmn_core::data::COMMITTERS,
            fmn_core::data::WATCHERS,
            fmn_core::data::PACKAGERS,
        ] {
            let packages = keys_holding(&data, relation, &who);
            if !packages.is_empty() {
                entry.insert(format!("{relation} of"), packages);
            }
        }
    }
    for g in &args.group {
        let entry = shown.groups.entry(g.clone()).or_default();
        entry.insert(
            "members".into(),
            keys_holding(&data, fmn_core::data::GROUPS, g),
        );
        entry.insert("owns".into(), keys_holding(&data, GROUP_OWNERS, g));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("data version {version}");
    if shown.relations.is_empty() {
        println!("  no data: load some with `fmn data import`");
    }
    for (name, n) in &shown.relations {
        println!("  {name:<14} {n} keys");
    }
    for (title, section) in [
        ("package", &shown.packages),
        ("user", &shown.users),
        ("group", &shown.groups),
    ] {
        for (name, facts) in section {
            println!("{title} {name}");
            if facts.is_empty() {
                println!("  (nothing known)");
            }
            for (k, v) in facts {
                println!("  {k}: {}", v.join(", "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
