//! `fmn prefs`: preferences files, and the preferences workers follow in Redis.

mod check;
mod edits;
mod preset;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::RedisArg;
use crate::config::Config;

/// `fmn prefs` subcommands.
#[derive(clap::Subcommand)]
pub enum PrefsCommand {
    /// Store a preferences file (TOML or JSON) in Redis, replacing every user's at once, after
    /// checking it against the rules workers run (the local ones with Redis' publications):
    /// all or nothing. Workers with `prefs_from = "redis"` take it before their next batch.
    Import {
        /// The file; with `--from-fmn`, one or more files, each one user's FMN 2 export.
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// The files are FMN 2's per-user exports (JSON): their users are converted and
        /// stored, every other user left as is.
        #[arg(long)]
        from_fmn: bool,
        #[command(flatten)]
        store: store::StoreArgs,
    },
    /// Print every user's preferences in Redis, as a file `fmn prefs import` takes.
    Export {
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        redis: RedisArg,
    },
    /// Print one user's preferences in Redis.
    Show {
        /// The user's account name.
        user: String,
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        redis: RedisArg,
    },
    /// Change one user's preferences in Redis: checked against the rules, stored only if
    /// nobody changed the user meanwhile. Returns once every worker is bound to use them for
    /// any message dispatched from then on.
    Set {
        /// The user's account name.
        user: String,
        #[command(flatten)]
        edits: Box<edits::Edits>,
        #[command(flatten)]
        store: store::StoreArgs,
    },
    /// Check a preferences file (TOML or JSON) against the rule modules: every problem is
    /// listed with its user, channel, filter and rule. Exits 2 if there is any.
    Check {
        /// The file.
        file: PathBuf,
        /// Rule module files or directories; the bundled modules if omitted.
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
        /// One JSON object on stdout: the counts, or the problems.
        #[arg(long)]
        json: bool,
    },
    /// Print preferences (TOML) giving a user a preset's filters on the channels given, to
    /// merge into a preferences file. `fmn-defaults` is FMN's default set for new users.
    Preset {
        /// The preset.
        #[arg(default_value = "fmn-defaults")]
        name: String,
        /// The user's account name.
        #[arg(long)]
        user: String,
        /// An email address (may repeat).
        #[arg(long)]
        email: Vec<String>,
        /// An IRC nick.
        #[arg(long)]
        irc: Vec<String>,
        /// A push device token.
        #[arg(long)]
        push: Vec<String>,
        /// A Matrix id.
        #[arg(long)]
        matrix: Vec<String>,
    },
}

pub async fn run(cmd: PrefsCommand, config: Config) -> Result<ExitCode> {
    match cmd {
        PrefsCommand::Import {
            files,
            from_fmn,
            store: opts,
        } => {
            let r = opts.redis.connect(&config).await?;
            if from_fmn {
                return store::import_fmn(&config, &r, &files, opts).await;
            }
            let [file] = files.as_slice() else {
                anyhow::bail!("give one preferences file (several only with --from-fmn)");
            };
            store::import(&config, &r, file, opts).await
        }
        PrefsCommand::Export { json, redis } => {
            store::export(&redis.connect(&config).await?, json).await
        }
        PrefsCommand::Show { user, json, redis } => {
            store::show(&redis.connect(&config).await?, &user, json).await
        }
        PrefsCommand::Set {
            user,
            edits,
            store: opts,
        } => {
            let r = opts.redis.connect(&config).await?;
            store::set(&config, &r, &user, &edits, opts).await
        }
        PrefsCommand::Preset {
            name,
            user,
            email,
            irc,
            push,
            matrix,
        } => preset::print(&name, user, [email, irc, push, matrix]),
        PrefsCommand::Check { file, rules, json } => check::check(&config, &file, rules, json),
    }
}
