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
    let readers: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(w, key)| {
            let reader = Reader {
                client: client.clone(),
                key: key.clone(),
                consumer: format!("r{w}"),
                done: done.clone(),
                messages,
            };
            tokio::spawn(reader.run())
        })
        .collect();
    produce(&mut conn, &keys, messages, payloads).await?;
    for r in readers {
        r.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
    Ok(messages as f64 / seconds.max(1e-9))
}

/// `messages` entries, round robin over `keys`, in transactions of [`PRODUCE_BATCH`].
async fn produce(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &[String],
    messages: u64,
    payloads: &[String],
) -> redis::RedisResult<()> {
    let mut sent = 0u64;
    while sent < messages {
        let n = (messages - sent).min(PRODUCE_BATCH as u64);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for i in 0..n {
            let at = sent + i;
            let key = &keys[(at % keys.len() as u64) as usize];
            let payload = &payloads[(at % payloads.len() as u64) as usize];
            pipe.cmd("XADD")
                .arg(key)
                .arg("*")
                .arg("d")
                .arg(payload)
                .ignore();
        }
        pipe.query_async::<()>(conn).await?;
        sent += n;
    }
    Ok(())
}

/// One stream's reader: reads, acknowledges and deletes until every message is done.
struct Reader {
    client: redis::Client,
    key: String,
    consumer: String,
    done: Arc<AtomicU64>,
    messages: u64,
}

impl Reader {
    async fn run(self) -> redis::RedisResult<()> {
        let mut conn = self.client.get_multiplexed_async_connection().await?;
        while self.done.load(Ordering::Relaxed) < self.messages {
            let ids = self.read(&mut conn).await?;
            if ids.is_empty() {
                continue;
            }
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("XACK")
                .arg(&self.key)
                .arg(GROUP)
                .arg(&ids)
                .ignore()
                .cmd("XDEL")
                .arg(&self.key)
                .arg(&ids)
                .ignore();
            pipe.query_async::<()>(&mut conn).await?;
            self.done.fetch_add(ids.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn read(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> redis::RedisResult<Vec<String>> {
        let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(READ_BATCH)
            .arg("BLOCK")
            .arg(50)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(">")
            .query_async(conn)
            .await?;
        Ok(reply
            .keys
            .into_iter()
            .flat_map(|k| k.ids.into_iter().map(|e| e.id))
            .collect())
    }
}
