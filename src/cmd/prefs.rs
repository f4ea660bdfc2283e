//! `fmn prefs`: preferences files, and the preferences workers follow in Redis.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use fmn_core::ChannelKind;
use fmn_host::Plan;

use crate::config::Config;
use crate::setup;

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
        /// Rule module files or directories; the configuration's, else the bundled modules.
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
        #[command(flatten)]
        redis: RedisArg,
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
        edits: super::prefs_redis::Edits,
        /// Rule module files or directories; the configuration's, else the bundled modules.
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
        #[command(flatten)]
        redis: RedisArg,
    },
    /// Check a preferences file (TOML or JSON) against the rule modules: every problem is
    /// listed with its user, channel, filter and rule. Exits 1 if there is any.
    Check {
        /// The file.
        file: PathBuf,
        /// Rule module files or directories; the bundled modules if omitted.
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
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

/// `--redis URL`.
#[derive(clap::Args)]
pub struct RedisArg {
    /// Redis URL (or `[redis] url` in the configuration).
    #[arg(long = "redis")]
    url: Option<String>,
}

impl RedisArg {
    pub(crate) async fn connect(self, config: &Config) -> Result<fmn_transport::RedisTransport> {
        let url = super::redis_url(self.url, config)?;
        setup::redis(&url, &config.redis.namespace).await
    }
}

pub async fn run(cmd: PrefsCommand, config: Config) -> Result<ExitCode> {
    use super::prefs_redis;
    match cmd {
        PrefsCommand::Import {
            files,
            from_fmn,
            rules,
            redis,
        } => {
            let r = redis.connect(&config).await?;
            if from_fmn {
                return prefs_redis::import_fmn(&config, &r, &files, rules).await;
            }
            let [file] = files.as_slice() else {
                anyhow::bail!("give one preferences file (several only with --from-fmn)");
            };
            prefs_redis::import(&config, &r, file, rules).await
        }
        PrefsCommand::Export { json, redis } => {
            prefs_redis::export(&redis.connect(&config).await?, json).await
        }
        PrefsCommand::Show { user, json, redis } => {
            prefs_redis::show(&redis.connect(&config).await?, &user, json).await
        }
        PrefsCommand::Set {
            user,
            edits,
            rules,
            redis,
        } => {
            let r = redis.connect(&config).await?;
            prefs_redis::set(&config, &r, &user, &edits, rules).await
        }
        PrefsCommand::Preset {
            name,
            user,
            email,
            irc,
            push,
            matrix,
        } => {
            let Some(filters) = fmn_core::presets::by_name(&name, &user) else {
                anyhow::bail!(
                    "no preset {name:?} (known: {})",
                    fmn_core::presets::NAMES.join(", ")
                );
            };
            let mut u = fmn_core::prefs::User::default();
            for (kind, addresses) in [
                (ChannelKind::Email, email),
                (ChannelKind::Irc, irc),
                (ChannelKind::Push, push),
                (ChannelKind::Matrix, matrix),
            ] {
                if !addresses.is_empty() {
                    u.channels.insert(
                        kind,
                        fmn_core::prefs::Channel {
                            enabled: true,
                            addresses,
                            digest: None,
                            filters: filters.clone(),
                        },
                    );
                }
            }
            if u.channels.is_empty() {
                anyhow::bail!("give at least one address: --email, --irc, --push or --matrix");
            }
            let mut prefs = fmn_core::Preferences::default();
            prefs.users.insert(user, u);
            print!("{}", toml::to_string(&prefs)?);
            Ok(ExitCode::SUCCESS)
        }
        PrefsCommand::Check { file, rules } => {
            let sandbox = fmn_host::Sandbox::new(config.worker.sandbox())?;
            let rule_paths = if rules.is_empty() {
                config.worker.rules.clone()
            } else {
                rules
            };
            let ruleset = setup::load_rules(&sandbox, &rule_paths)?;
            let name = file.display().to_string();
            let prefs = match fmn_core::Preferences::parse_path(&file) {
                Ok(p) => p,
                Err(e) => {
                    println!("{e}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            match Plan::build(&ruleset, &prefs) {
                Ok(plan) => {
                    let s = plan.stats();
                    let filters: usize = prefs
                        .users
                        .values()
                        .flat_map(|u| u.channels.values())
                        .map(|c| c.filters.len())
                        .sum();
                    println!(
                        "{name}: ok: {} users ({} with something to receive), {filters} filters \
                         ({} distinct active); distinct rules: {} looked up by key, {} answered by \
                         topic, {} evaluated by modules",
                        prefs.users.len(),
                        s.users,
                        s.shapes,
                        s.keyed_rules,
                        s.topic_rules,
                        s.guest_rules
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(problems) => {
                    println!("{name}: {} problem(s):", problems.len());
                    for p in problems {
                        println!("  {p}");
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
