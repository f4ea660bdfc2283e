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
        /// Only those of this stage: consumer, worker or sender.
        #[arg(long, value_parser = stage)]
        stage: Option<Stage>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// JSON lines, one dead letter each, with its payload.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        redis: super::prefs::RedisArg,
    },
    /// Put what senders and workers gave up on back to work, once the cause is fixed, and
    /// delete their dead letters: notifications on their channel's queue (their deliveries
    /// tried again from the first attempt), messages a worker could not wholly evaluate on the
    /// shared work queue (deliveries made before are not made twice). Every sender and worker
    /// dead letter, or those given with `--id`.
    Replay {
        /// A dead letter's id (repeatable); every sender and worker dead letter if omitted.
        #[arg(long)]
        id: Vec<String>,
        #[command(flatten)]
        redis: super::prefs::RedisArg,
    },
    /// Delete dead letters: those given with `--id`, those of a `--stage`, or `--all`.
    Purge {
        /// A dead letter's id (repeatable).
        #[arg(long, conflicts_with_all = ["stage", "all"])]
        id: Vec<String>,
        /// Every dead letter of this stage.
        #[arg(long, value_parser = stage, conflicts_with = "all")]
        stage: Option<Stage>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        redis: super::prefs::RedisArg,
    },
}

fn stage(s: &str) -> Result<Stage, String> {
    match s {
        "consumer" => Ok(Stage::Consumer),
        "worker" => Ok(Stage::Worker),
        "sender" => Ok(Stage::Sender),
        other => Err(format!(
            "{other:?} is not a stage (consumer, worker or sender)"
        )),
    }
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
        } => {
            let redis = redis.connect(&config).await?;
            let shown = matching(&redis, limit, |d| stage.is_none_or(|s| d.stage == s)).await?;
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
        DeadCommand::Replay { id, redis } => {
            let redis = redis.connect(&config).await?;
            let letters = all(&redis).await?;
            let chosen: Vec<&Entry<DeadLetter>> = if id.is_empty() {
                letters
                    .iter()
                    .filter(|e| e.item.stage != Stage::Consumer)
                    .collect()
            } else {
                let mut chosen = Vec::new();
                for i in &id {
                    match letters.iter().find(|e| e.id.0 == *i) {
                        Some(e) => chosen.push(e),
                        None => anyhow::bail!("no dead letter {i}"),
                    }
                }
                chosen
            };
            let (mut notifications, mut messages, mut refused) = (0, 0, 0);
            for e in chosen {
                match replay(&redis, e).await? {
                    Ok(Stage::Worker) => messages += 1,
                    Ok(_) => notifications += 1,
                    Err(why) => {
                        eprintln!("fmn dead replay: {} left: {why}", e.id.0);
                        refused += 1;
                    }
                }
            }
            println!(
                "fmn dead replay: {notifications} notification(s) and {messages} message(s) requeued, {refused} left"
            );
            Ok(if refused > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        DeadCommand::Purge {
            id,
            stage,
            all: everything,
            redis,
        } => {
            if id.is_empty() && stage.is_none() && !everything {
                anyhow::bail!("say what to purge: --id ID, --stage STAGE or --all");
            }
            let redis = redis.connect(&config).await?;
            let ids: Vec<EntryId> = if id.is_empty() {
                all(&redis)
                    .await?
                    .into_iter()
                    .filter(|e| everything || stage.is_some_and(|s| e.item.stage == s))
                    .map(|e| e.id)
                    .collect()
            } else {
                id.into_iter().map(EntryId).collect()
            };
            let mut removed = 0;
            for chunk in ids.chunks(1000) {
                removed += redis.remove_dead_letters(chunk).await?;
            }
            println!("fmn dead purge: {removed} dead letter(s) deleted");
            Ok(ExitCode::SUCCESS)
        }
    }
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
