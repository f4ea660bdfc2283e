//! `fmn tokens create|list|revoke`: API tokens for the web service's JSON API, made by the
//! operator (users make their own through the API once they hold one).

use std::process::ExitCode;

use anyhow::Result;
use fmn_transport::ApiTokens;

use crate::config::Config;

/// `fmn tokens` subcommands.
#[derive(clap::Subcommand)]
pub enum TokensCommand {
    /// Makes a token acting for USER and prints it (only now: Redis keeps its digest).
    Create {
        user: String,
        /// What it is for, shown in lists.
        #[arg(long, default_value = "")]
        label: String,
        /// It may read and change every user's preferences.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        redis: super::RedisArg,
    },
    /// Lists the tokens (of USER only, when given): id, user, label, admin, created.
    List {
        user: Option<String>,
        #[command(flatten)]
        redis: super::RedisArg,
    },
    /// Revokes the token with this id.
    Revoke {
        id: String,
        #[command(flatten)]
        redis: super::RedisArg,
    },
}

pub async fn run(cmd: TokensCommand, config: Config) -> Result<ExitCode> {
    match cmd {
        TokensCommand::Create {
            user,
            label,
            admin,
            redis,
        } => {
            let t = redis.connect(&config).await?;
            let (token, record) = fmn_web::issue(&user, &label, admin);
            t.add_api_token(&record).await?;
            eprintln!(
                "token {} for {user}{}:",
                record.id,
                if admin { " (admin)" } else { "" }
            );
            println!("{token}");
        }
        TokensCommand::List { user, redis } => {
            let t = redis.connect(&config).await?;
            for r in t.api_tokens(user.as_deref()).await? {
                let admin = if r.admin { "admin" } else { "-" };
                println!(
                    "{}\t{}\t{:?}\t{admin}\t{}",
                    r.id, r.user, r.label, r.created
                );
            }
        }
        TokensCommand::Revoke { id, redis } => {
            let t = redis.connect(&config).await?;
            if !t.revoke_api_token(&id, None).await? {
                anyhow::bail!("no token {id:?}");
            }
            println!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}
