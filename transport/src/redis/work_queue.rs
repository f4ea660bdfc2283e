//! [`WorkQueue`] over Redis: the work queues.

use super::*;
use crate::WorkQueue;

impl WorkQueue for RedisTransport {
    async fn dispatch(&self, batch: &[(String, WorkItem)]) -> Result<u64, TransportError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        // Per worker: (entries, bytes).
        let mut per_worker: HashMap<&str, (u64, u64)> = HashMap::new();
        for (worker, item) in batch {
            let data = encode(item);
            let sums = per_worker.entry(worker).or_default();
            sums.0 += 1;
            sums.1 += data.len() as u64;
            pipe.cmd("XADD")
                .arg(self.key(&work_queue_name(worker)))
                .arg("*")
                .arg("d")
                .arg(data)
                .ignore();
        }
        let mut bytes = 0;
        for (worker, (n, b)) in per_worker {
            pipe.cmd("HINCRBY")
                .arg(self.key(&format!("worker:{worker}")))
                .arg("received")
                .arg(n)
                .ignore();
            self.add_bytes_into(&self.key(&work_queue_name(worker)), b, &mut pipe);
            bytes += b;
        }
        self.exec(&mut pipe).await?;
        Ok(bytes)
    }

    async fn dispatch_shared(&self, items: &[WorkItem]) -> Result<u64, TransportError> {
        if items.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        let key = self.key(SHARED_QUEUE);
        let mut bytes = 0;
        for item in items {
            let data = encode(item);
            bytes += data.len() as u64;
            pipe.cmd("XADD")
                .arg(&key)
                .arg("*")
                .arg("d")
                .arg(data)
                .ignore();
        }
        self.add_bytes_into(&key, bytes, &mut pipe);
        self.exec(&mut pipe).await?;
        Ok(bytes)
    }

    async fn shared_backlog(&self) -> Result<Backlog, TransportError> {
        let shared = self.work_backlogs(&[self.key(SHARED_QUEUE)]).await?;
        Ok(shared.into_iter().next().unwrap_or_default())
    }

    async fn read_work(
        &self,
        worker: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Entry<WorkItem>>, TransportError> {
        let own = self.key(&work_queue_name(worker));
        let shared = self.key(SHARED_QUEUE);
        let entries: Vec<Entry<WorkItem>> = self
            .read(
                &[(&own, ""), (&shared, SHARED_ID_PREFIX)],
                WORK_GROUP,
                worker,
                max,
                block,
            )
            .await?;
        let from_shared = count_shared(&entries);
        if from_shared > 0 {
            let mut conn = self.conn.clone();
            redis::cmd("HINCRBY")
                .arg(self.key(&format!("worker:{worker}")))
                .arg("received")
                .arg(from_shared)
                .query_async::<()>(&mut conn)
                .await?;
        }
        Ok(entries)
    }

    async fn complete_work(
        &self,
        worker: &str,
        done: &[EntryId],
        notifications: &[Notification],
    ) -> Result<(), TransportError> {
        let mut pipe = redis::pipe();
        for n in notifications {
            pipe.cmd("XADD")
                .arg(self.key(&out_queue_name(n.channel)))
                .arg("*")
                .arg("d")
                .arg(encode(n))
                .ignore();
        }
        pipe.cmd("HINCRBY")
            .arg(self.key(&format!("worker:{worker}")))
            .arg("processed")
            .arg(done.len())
            .ignore();
        pipe.cmd("HINCRBY")
            .arg(self.key(&format!("worker:{worker}")))
            .arg("notifications")
            .arg(notifications.len())
            .ignore();
        let (shared, own) = split_shared(done);
        self.ack_work_into(&self.key(&work_queue_name(worker)), &own, &mut pipe);
        self.ack_work_into(&self.key(SHARED_QUEUE), &shared, &mut pipe);
        self.exec(&mut pipe).await
    }

    async fn retry_work(&self, items: &[(WorkItem, Duration)]) -> Result<(), TransportError> {
        if items.is_empty() {
            return Ok(());
        }
        let script = Script::new(RETRY_WORK);
        let mut call = script.key(self.key(WORK_RETRIES));
        for (item, delay) in items {
            call.arg(delay.as_millis() as u64).arg(encode(item));
        }
        let mut conn = self.conn.clone();
        let _: i64 = call.invoke_async(&mut conn).await?;
        Ok(())
    }

    async fn promote_work(&self) -> Result<usize, TransportError> {
        let mut conn = self.conn.clone();
        let n: usize = Script::new(PROMOTE)
            .key(self.key(WORK_RETRIES))
            .key(self.key(SHARED_QUEUE))
            .key(self.key(WORK_BYTES))
            .invoke_async(&mut conn)
            .await?;
        Ok(n)
    }

    async fn work_retries_waiting(&self) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("ZCARD")
            .arg(self.key(WORK_RETRIES))
            .query_async(&mut conn)
            .await?)
    }

    async fn dead_letter_work_retries(
        &self,
        max: usize,
        why: &str,
    ) -> Result<usize, TransportError> {
        if max == 0 {
            return Ok(0);
        }
        let mut conn = self.conn.clone();
        let waiting: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.key(WORK_RETRIES))
            .arg(0)
            // Redis' indices are signed 64-bit: "all" is -1, not usize::MAX.
            .arg(i64::try_from(max).map_or(-1, |m| m - 1))
            .query_async(&mut conn)
            .await?;
        let mut moved = 0;
        for data in waiting.iter().take(max) {
            let letter = DeadLetter::waiting_work(data, why);
            let n: i64 = Script::new(DEAD_LETTER_RETRY)
                .key(self.key(WORK_RETRIES))
                .key(self.key("dead"))
                .arg(data)
                .arg(dead_letter_fields(&letter))
                .invoke_async(&mut conn)
                .await?;
            moved += n as usize;
        }
        Ok(moved)
    }

    async fn backlogs(&self, workers: &[String]) -> Result<Vec<Backlog>, TransportError> {
        let streams: Vec<String> = workers
            .iter()
            .map(|w| self.key(&work_queue_name(w)))
            .collect();
        self.work_backlogs(&streams).await
    }

    async fn reclaim(
        &self,
        dead: &str,
        targets: &[String],
        max: usize,
    ) -> Result<usize, TransportError> {
        if targets.is_empty() || max == 0 {
            return Ok(0);
        }
        let mut conn = self.conn.clone();
        let queue = self.key(&work_queue_name(dead));
        // Acknowledged entries are deleted, so what the stream holds is what is owed.
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(&queue)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut conn)
            .await?;
        let mut moved = 0;
        if !entries.is_empty() {
            let mut inv = self.reclaim.prepare_invoke();
            inv.key(&queue).key(self.key(WORK_BYTES));
            for t in targets {
                inv.key(self.key(&work_queue_name(t)));
                inv.key(self.key(&format!("worker:{t}")));
            }
            inv.arg(WORK_GROUP);
            for (i, (id, _)) in entries.iter().enumerate() {
                inv.arg(id).arg(3 + 2 * (i % targets.len()));
            }
            moved += inv.invoke_async::<usize>(&mut conn).await?;
        }
        if moved >= max {
            return Ok(moved);
        }
        // What it read from the shared queue goes back to its end, for anyone to read.
        let shared = self.key(SHARED_QUEUE);
        let pending: redis::RedisResult<Vec<(String, String, u64, u64)>> = redis::cmd("XPENDING")
            .arg(&shared)
            .arg(WORK_GROUP)
            .arg("-")
            .arg("+")
            .arg(max - moved)
            .arg(dead)
            .query_async(&mut conn)
            .await;
        let pending = match pending {
            Err(e) if e.code() == Some("NOGROUP") => Vec::new(),
            other => other?,
        };
        if !pending.is_empty() {
            let mut inv = self.reclaim.prepare_invoke();
            inv.key(&shared)
                .key(self.key(WORK_BYTES))
                .key(&shared)
                .key(self.key(&format!("{SHARED_QUEUE}:requeued")))
                .arg(WORK_GROUP);
            for (id, _, _, _) in &pending {
                inv.arg(id).arg(3);
            }
            moved += inv.invoke_async::<usize>(&mut conn).await?;
        }
        Ok(moved)
    }
}
