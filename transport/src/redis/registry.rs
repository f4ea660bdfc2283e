//! [`Registry`] over Redis: the worker registry.

use super::*;
use crate::{Forget, Registry};

/// Forgets a worker silent for at least ARGV[2] ms whose queue is empty: -1 when heard from
/// since, the queue's length when it holds entries, 0 when forgotten. One script, so a
/// heartbeat or a dispatch cannot come between the checks and the deletion.
const FORGET: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if seen and tonumber(seen) > now - tonumber(ARGV[2]) then return -1 end
local held = redis.call('XLEN', KEYS[4])
if held > 0 then return held end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[4])
return 0";

impl Registry for RedisTransport {
    async fn register_worker(&self, info: &WorkerInfo) -> Result<(), TransportError> {
        self.ensure_group(&self.key(&work_queue_name(&info.id)), WORK_GROUP)
            .await?;
        self.ensure_group(&self.key(SHARED_QUEUE), WORK_GROUP)
            .await?;
        let mut conn = self.conn.clone();
        redis::pipe()
            .cmd("HSET")
            .arg(self.key(&format!("worker:{}", info.id)))
            .arg("host")
            .arg(&info.host)
            .arg("pid")
            .arg(info.pid)
            .ignore()
            .cmd("SADD")
            .arg(self.key("known-workers"))
            .arg(&info.id)
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        self.heartbeat(&info.id).await
    }

    async fn heartbeat(&self, worker: &str) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        self.heartbeat
            .key(self.key("workers"))
            .arg(worker)
            .invoke_async::<i64>(&mut conn)
            .await?;
        Ok(())
    }

    async fn deregister_worker(&self, worker: &str) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        redis::cmd("ZREM")
            .arg(self.key("workers"))
            .arg(worker)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn live_workers(&self) -> Result<Vec<String>, TransportError> {
        let mut conn = self.conn.clone();
        let mut live: Vec<String> = self
            .live
            .key(self.key("workers"))
            .arg(self.opts.worker_ttl.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        live.sort();
        Ok(live)
    }

    async fn worker_counts(&self) -> Result<Vec<WorkerCounts>, TransportError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key("known-workers"))
            .query_async(&mut conn)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let h: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(self.key(&format!("worker:{id}")))
                .query_async(&mut conn)
                .await?;
            let n = |k: &str| h.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
            out.push(WorkerCounts {
                received: n("received"),
                processed: n("processed"),
                notifications: n("notifications"),
                id,
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn queue_depths(&self) -> Result<Vec<QueueDepth>, TransportError> {
        let mut queues: Vec<(String, &str)> = self
            .worker_counts()
            .await?
            .iter()
            .map(|w| (work_queue_name(&w.id), WORK_GROUP))
            .collect();
        queues.push((SHARED_QUEUE.to_owned(), WORK_GROUP));
        queues.extend(
            ChannelKind::ALL
                .iter()
                .map(|c| (out_queue_name(*c), OUT_GROUP)),
        );
        let mut out = Vec::with_capacity(queues.len());
        for (name, group) in queues {
            let (waiting, pending, oldest_ms) = self.stream_depth(&self.key(&name), group).await?;
            out.push(QueueDepth {
                name,
                waiting,
                pending,
                oldest_ms,
            });
        }
        Ok(out)
    }

    async fn set_worker_field(
        &self,
        worker: &str,
        field: &str,
        value: &str,
    ) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        redis::cmd("HSET")
            .arg(self.key(&format!("worker:{worker}")))
            .arg(field)
            .arg(value)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn forget_worker(
        &self,
        worker: &str,
        silent: std::time::Duration,
    ) -> Result<Forget, TransportError> {
        let mut conn = self.conn.clone();
        let held: i64 = Script::new(FORGET)
            .key(self.key("workers"))
            .key(self.key("known-workers"))
            .key(self.key(&format!("worker:{worker}")))
            .key(self.key(&work_queue_name(worker)))
            .arg(worker)
            .arg(silent.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        Ok(match held {
            0 => Forget::Forgotten,
            n if n < 0 => Forget::Recent,
            n => Forget::Holds(n as u64),
        })
    }

    async fn worker_fields(
        &self,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, TransportError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key("known-workers"))
            .query_async(&mut conn)
            .await?;
        let mut out = BTreeMap::new();
        for id in ids {
            let h: BTreeMap<String, String> = redis::cmd("HGETALL")
                .arg(self.key(&format!("worker:{id}")))
                .query_async(&mut conn)
                .await?;
            out.insert(id, h);
        }
        Ok(out)
    }
}
