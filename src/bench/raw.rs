//! The baseline of `fmn bench dispatch`: raw Redis streams on the same machine, in the same
//! run, with the same batch sizes as fmn's path, and nothing else (no envelope parsing, no
//! worker choice beyond round robin, no registry, no evaluation).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};

const GROUP: &str = "raw";
/// As fmn's consumer in the benchmark and its workers: XADD in transactions of 512, reads of 256.
const PRODUCE_BATCH: usize = 512;
const READ_BATCH: usize = 256;

/// Messages per second through `XADD` (in MULTI of 512) to `workers` streams, read back with
/// `XREADGROUP` (256 at a time) and removed with `XACK` + `XDEL` in one MULTI, the entries
/// carrying `payloads` in turn.
pub async fn raw_streams(
    url: &str,
    namespace: &str,
    messages: u64,
    workers: usize,
    payloads: &[String],
) -> Result<f64> {
    anyhow::ensure!(!payloads.is_empty(), "no payload to send");
    let client = redis::Client::open(url).context("the Redis URL")?;
    let keys: Vec<String> = (0..workers)
        .map(|w| format!("{namespace}:raw:{w}"))
        .collect();
    let mut conn = client.get_multiplexed_async_connection().await?;
    for k in &keys {
        let _: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(k)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
    }
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut readers = Vec::new();
    for (w, key) in keys.iter().enumerate() {
        let (client, key, done) = (client.clone(), key.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let mut conn = client.get_multiplexed_async_connection().await?;
            while done.load(Ordering::Relaxed) < messages {
                let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(format!("r{w}"))
                    .arg("COUNT")
                    .arg(READ_BATCH)
                    .arg("BLOCK")
                    .arg(50)
                    .arg("STREAMS")
                    .arg(&key)
                    .arg(">")
                    .query_async(&mut conn)
                    .await?;
                let ids: Vec<String> = reply
                    .keys
                    .into_iter()
                    .flat_map(|k| k.ids.into_iter().map(|e| e.id))
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .cmd("XACK")
                    .arg(&key)
                    .arg(GROUP)
                    .arg(&ids)
                    .ignore()
                    .cmd("XDEL")
                    .arg(&key)
                    .arg(&ids)
                    .ignore();
                pipe.query_async::<()>(&mut conn).await?;
                done.fetch_add(ids.len() as u64, Ordering::Relaxed);
            }
            Ok::<(), redis::RedisError>(())
        }));
    }
    let mut sent = 0u64;
    while sent < messages {
        let n = (messages - sent).min(PRODUCE_BATCH as u64);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for i in 0..n {
            let at = sent + i;
            let key = &keys[(at % workers as u64) as usize];
            let payload = &payloads[(at % payloads.len() as u64) as usize];
            pipe.cmd("XADD")
                .arg(key)
                .arg("*")
                .arg("d")
                .arg(payload)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
        sent += n;
    }
    for r in readers {
        r.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
    Ok(messages as f64 / seconds.max(1e-9))
}
