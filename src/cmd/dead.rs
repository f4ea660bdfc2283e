//! `fmn dead`: the dead letters in Redis, listed, replayed and purged.

use std::process::ExitCode;

use anyhow::Result;
use fmn_core::Notification;
use fmn_transport::{DeadLetter, Entry, EntryId, RedisTransport, Stage};

use crate::config::Config;

/// `fmn dead` subcommands.
#[derive(clap::Subcommand)]
pub enum DeadCommand {
    /// List dead letters, oldest first: id, stage, origin, reason and size (`--json`: with
    /// their payloads, e.g. to feed a consumer's back to `fmn consume --messages -`).
    List {
        /// Only those of this stage.
        #[arg(long, value_parser = stage())]
        stage: Option<Stage>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// JSON lines, one dead letter each, with its payload.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        redis: super::RedisArg,
    },
    /// Put what senders and workers gave up on back to work, once the cause is fixed, and
    /// delete their dead letters: notifications on their channel's queue (their deliveries
    /// tried again from the first attempt), messages a worker could not wholly evaluate on the
    /// shared work queue (deliveries made before are not made twice). Every sender and worker
    /// dead letter (`--all`), or those given with `--id`. Exits 2 if any is left.
    Replay {
        /// A dead letter's id (repeatable).
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        id: Vec<String>,
        /// Every sender and worker dead letter.
        #[arg(long)]
        all: bool,
        /// One JSON object on stdout: what was requeued, what was left and why.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        redis: super::RedisArg,
    },
    /// Delete dead letters: those given with `--id`, those of a `--stage`, or `--all`.
    Purge {
        /// A dead letter's id (repeatable).
        #[arg(long, conflicts_with_all = ["stage", "all"])]
        id: Vec<String>,
        /// Every dead letter of this stage.
        #[arg(long, value_parser = stage(), conflicts_with = "all")]
        stage: Option<Stage>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
        /// One JSON object on stdout: how many were deleted.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        redis: super::RedisArg,
    },
}

/// A stage's name, as `--help` lists them.
fn stage() -> impl clap::builder::TypedValueParser<Value = Stage> {
    use clap::builder::{PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(["consumer", "worker", "sender"]).map(|s| match s.as_str() {
        "consumer" => Stage::Consumer,
        "worker" => Stage::Worker,
        _ => Stage::Sender,
    })
}

/// The dead letters `keep` takes, oldest first, read a page at a time until `limit` are
/// taken or none is left.
async fn matching(
    redis: &RedisTransport,
    limit: usize,
    keep: impl Fn(&DeadLetter) -> bool,
) -> Result<Vec<Entry<DeadLetter>>> {
    let mut out = Vec::new();
    let mut last: Option<EntryId> = None;
    while out.len() < limit {
        let page = redis.dead_letters_after(last.as_ref(), 1000).await?;
        let Some(end) = page.last() else { break };
        last = Some(end.id.clone());
        out.extend(page.into_iter().filter(|e| keep(&e.item)));
    }
    out.truncate(limit);
    Ok(out)
}

/// Every dead letter, oldest first.
async fn all(redis: &RedisTransport) -> Result<Vec<Entry<DeadLetter>>> {
    matching(redis, usize::MAX, |_| true).await
}

pub async fn run(cmd: DeadCommand, config: Config) -> Result<ExitCode> {
    match cmd {
        DeadCommand::List {
            stage,
            limit,
            json,
            redis,
        } => list(&redis.connect(&config).await?, stage, limit, json).await,
        DeadCommand::Replay {
            id,
            all: _,
            json,
            redis,
        } => replay_chosen(&redis.connect(&config).await?, &id, json).await,
        DeadCommand::Purge {
            id,
            stage,
            all: everything,
            json,
            redis,
        } => {
            if id.is_empty() && stage.is_none() && !everything {
                anyhow::bail!("say what to purge: --id ID, --stage STAGE or --all");
            }
            purge(&redis.connect(&config).await?, id, stage, json).await
        }
    }
}

/// `fmn dead list`.
async fn list(
    redis: &RedisTransport,
    stage: Option<Stage>,
    limit: usize,
    json: bool,
) -> Result<ExitCode> {
    let shown = matching(redis, limit, |d| stage.is_none_or(|s| d.stage == s)).await?;
    for e in &shown {
        let d = &e.item;
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "id": e.id.0, "stage": d.stage, "origin": d.origin,
                    "reason": d.reason, "payload_bytes": d.payload_bytes,
                    "payload": d.payload,
                })
            );
        } else {
            println!(
                "{}  {:<8}  {}  {}  ({} bytes)",
                e.id.0,
                d.stage.as_str(),
                d.origin,
                d.reason,
                d.payload_bytes
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The dead letters `ids` names (every sender and worker one when empty: `--all`).
async fn chosen(redis: &RedisTransport, ids: &[String]) -> Result<Vec<Entry<DeadLetter>>> {
    let letters = all(redis).await?;
    if ids.is_empty() {
        return Ok(letters
            .into_iter()
            .filter(|e| e.item.stage != Stage::Consumer)
            .collect());
    }
    let mut chosen = Vec::new();
    for i in ids {
        match letters.iter().find(|e| e.id.0 == *i) {
            Some(e) => chosen.push(e.clone()),
            None => anyhow::bail!("no dead letter {i}"),
        }
    }
    Ok(chosen)
}

/// `fmn dead replay`: exit code 2 when a dead letter could not be replayed.
async fn replay_chosen(redis: &RedisTransport, ids: &[String], json: bool) -> Result<ExitCode> {
    let (mut notifications, mut messages, mut left) = (0, 0, Vec::new());
    for e in chosen(redis, ids).await? {
        match replay(redis, &e).await? {
            Ok(Stage::Worker) => messages += 1,
            Ok(_) => notifications += 1,
            Err(why) => {
                if !json {
                    eprintln!("fmn dead replay: {} left: {why}", e.id.0);
                }
                left.push(serde_json::json!({"id": e.id.0, "reason": why}));
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"notifications": notifications, "messages": messages,
                "left": left})
        );
    } else {
        println!(
            "fmn dead replay: {notifications} notification(s) and {messages} message(s) requeued, {} left",
            left.len()
        );
    }
    Ok(if left.is_empty() {
        ExitCode::SUCCESS
    } else {
        super::problems_found()
    })
}

/// `fmn dead purge`: the ids given, else every dead letter of `stage`, else every one.
async fn purge(
    redis: &RedisTransport,
    id: Vec<String>,
    stage: Option<Stage>,
    json: bool,
) -> Result<ExitCode> {
    let ids: Vec<EntryId> = if id.is_empty() {
        all(redis)
            .await?
            .into_iter()
            .filter(|e| stage.is_none_or(|s| e.item.stage == s))
            .map(|e| e.id)
            .collect()
    } else {
        id.into_iter().map(EntryId).collect()
    };
    let mut removed = 0;
    for chunk in ids.chunks(1000) {
        removed += redis.remove_dead_letters(chunk).await?;
    }
    if json {
        println!("{}", serde_json::json!({"deleted": removed}));
    } else {
        println!("fmn dead purge: {removed} dead letter(s) deleted");
    }
    Ok(ExitCode::SUCCESS)
}

/// Queues one dead letter again: a notification on its channel's queue, a message a worker
/// could not wholly evaluate on the shared work queue. `Ok(Err(why))` when it cannot be:
/// a consumer's dead letter (not a bus message), a cut payload, or one replayed already.
async fn replay(
    redis: &fmn_transport::RedisTransport,
    e: &Entry<DeadLetter>,
) -> Result<Result<Stage, String>> {
    let d = &e.item;
    if d.stage == Stage::Consumer {
        return Ok(Err(
            "a consumer dead letter: feed its payload (fmn dead list --json) to fmn consume instead"
                .into(),
        ));
    }
    if d.payload.len() < d.payload_bytes {
        return Ok(Err(format!(
            "its payload was cut to {} of {} bytes",
            d.payload.len(),
            d.payload_bytes
        )));
    }
    let queued = if d.stage == Stage::Worker {
        match serde_json::from_str::<fmn_transport::WorkItem>(&d.payload) {
            // A replay is the operator's new start: the message gets every retry again.
            Ok(item) => {
                let item = fmn_transport::WorkItem {
                    failed: None,
                    ..item
                };
                redis.requeue_dead_work(&e.id, &item).await?
            }
            Err(err) => return Ok(Err(format!("its payload is not a message: {err}"))),
        }
    } else {
        match serde_json::from_str::<Notification>(&d.payload) {
            Ok(n) => redis.requeue_dead_notification(&e.id, &n).await?,
            Err(err) => return Ok(Err(format!("its payload is not a notification: {err}"))),
        }
    };
    Ok(if queued {
        Ok(d.stage)
    } else {
        Err("replayed already".into())
    })
}
