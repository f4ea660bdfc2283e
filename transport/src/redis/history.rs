//! [`History`] over Redis: the window is a stream (`fmn:recent`, one entry a message: its id
//! and work item), its byte count (`fmn:recent-bytes`) and an index from message id to entry
//! (`fmn:recent-ids`), trimmed together by one script; a user's delivery log is a stream
//! (`fmn:deliveries:USER`) cut by count and age on every append, and expiring with its last
//! record's age.

use super::*;
use crate::history::now_ms;
use crate::{Delivery, History, LogLimits, RecentMessage, WindowLimits};

const RECENT: &str = "recent";

/// Adds messages to the window and trims it. KEYS = stream, byte count, id index; ARGV =
/// oldest time kept (ms), most bytes kept, then (message id, item) pairs. Entries' ids are
/// Redis' clock in ms, so age is read from them. One HSET and one INCRBY a batch, and the
/// oldest entry read one at a time, only as long as something is to go: the window must cost
/// the dispatch path little (docs/benchmarks.md). Drops at most 10,000 entries a call: a
/// window shrunk by configuration is cut down over the next calls rather than in one long
/// script.
const KEEP_RECENT: &str = r"
local ids, total = {}, 0
for i = 3, #ARGV, 2 do
  local sid = redis.call('XADD', KEYS[1], '*', 'id', ARGV[i], 'item', ARGV[i + 1])
  ids[#ids + 1] = ARGV[i]
  ids[#ids + 1] = sid
  total = total + #ARGV[i + 1]
end
if #ids > 0 then redis.call('HSET', KEYS[3], unpack(ids)) end
local bytes = redis.call('INCRBY', KEYS[2], total)
local cutoff, max = tonumber(ARGV[1]), tonumber(ARGV[2])
local dropped, freed = 0, 0
while dropped < 10000 do
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  if not oldest then break end
  local ms = tonumber(string.match(oldest[1], '^(%d+)'))
  if ms >= cutoff and bytes - freed <= max then break end
  local f, id, size = oldest[2], nil, 0
  for j = 1, #f, 2 do
    if f[j] == 'id' then id = f[j + 1] elseif f[j] == 'item' then size = #f[j + 1] end
  end
  redis.call('XDEL', KEYS[1], oldest[1])
  if id and redis.call('HGET', KEYS[3], id) == oldest[1] then redis.call('HDEL', KEYS[3], id) end
  freed = freed + size
  dropped = dropped + 1
end
if freed > 0 then redis.call('DECRBY', KEYS[2], freed) end
return dropped
";

/// A stream entry as XRANGE gives it: its id and its fields, flat.
type StreamEntry = (String, Vec<Vec<u8>>);

/// The value of `field` in a flat field list.
fn field<'a>(fields: &'a [Vec<u8>], name: &str) -> Option<&'a [u8]> {
    fields
        .chunks(2)
        .find(|kv| kv.first().is_some_and(|k| k == name.as_bytes()))
        .and_then(|kv| kv.get(1))
        .map(Vec::as_slice)
}

impl RedisTransport {
    /// Up to `max` entries of stream `key` from `end` back, newest first.
    async fn newest(
        &self,
        key: &str,
        end: &str,
        max: usize,
    ) -> Result<Vec<StreamEntry>, TransportError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("XREVRANGE")
            .arg(key)
            .arg(end)
            .arg("-")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut conn)
            .await?)
    }

    fn recent_item(&self, (sid, fields): &StreamEntry) -> Result<crate::WorkItem, TransportError> {
        decode(RECENT, sid, field(fields, "item").unwrap_or_default())
    }
}

impl History for RedisTransport {
    async fn keep_recent(
        &self,
        items: &[WorkItem],
        limits: WindowLimits,
    ) -> Result<(), TransportError> {
        let cutoff = if limits.age.is_zero() {
            u64::MAX
        } else {
            now_ms().saturating_sub(limits.age.as_millis() as u64)
        };
        let keep = Script::new(KEEP_RECENT);
        let mut script = keep.prepare_invoke();
        script
            .key(self.key(RECENT))
            .key(self.key("recent-bytes"))
            .key(self.key("recent-ids"))
            .arg(cutoff)
            .arg(limits.bytes);
        for item in items {
            script.arg(&item.envelope.id).arg(encode(item));
        }
        let mut conn = self.conn.clone();
        let _: u64 = script.invoke_async(&mut conn).await?;
        Ok(())
    }

    async fn recent_messages(
        &self,
        before: Option<&str>,
        max: usize,
    ) -> Result<Vec<RecentMessage>, TransportError> {
        let end = before.map_or_else(|| "+".to_owned(), |b| format!("({b}"));
        self.newest(&self.key(RECENT), &end, max)
            .await?
            .iter()
            .map(|e| {
                Ok(RecentMessage {
                    cursor: e.0.clone(),
                    item: self.recent_item(e)?,
                })
            })
            .collect()
    }

    async fn recent_message(&self, id: &str) -> Result<Option<WorkItem>, TransportError> {
        let mut conn = self.conn.clone();
        let sid: Option<String> = redis::cmd("HGET")
            .arg(self.key("recent-ids"))
            .arg(id)
            .query_async(&mut conn)
            .await?;
        let Some(sid) = sid else { return Ok(None) };
        let entries: Vec<StreamEntry> = redis::cmd("XRANGE")
            .arg(self.key(RECENT))
            .arg(&sid)
            .arg(&sid)
            .query_async(&mut conn)
            .await?;
        entries.first().map(|e| self.recent_item(e)).transpose()
    }

    async fn log_deliveries(
        &self,
        records: &[Delivery],
        limits: LogLimits,
    ) -> Result<(), TransportError> {
        if records.is_empty() || limits.age.is_zero() {
            return Ok(());
        }
        let cutoff = now_ms().saturating_sub(limits.age.as_millis() as u64);
        let mut pipe = redis::pipe();
        pipe.atomic();
        for r in records {
            let key = self.key(&format!("deliveries:{}", r.user));
            pipe.cmd("XADD")
                .arg(&key)
                .arg("MAXLEN")
                .arg("~")
                .arg(limits.entries)
                .arg("*")
                .arg("r")
                .arg(encode(r))
                .ignore();
            pipe.cmd("XTRIM")
                .arg(&key)
                .arg("MINID")
                .arg(cutoff)
                .ignore();
            pipe.cmd("EXPIRE")
                .arg(&key)
                .arg(limits.age.as_secs().max(1))
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn deliveries(&self, user: &str, max: usize) -> Result<Vec<Delivery>, TransportError> {
        let key = self.key(&format!("deliveries:{user}"));
        self.newest(&key, "+", max)
            .await?
            .iter()
            .map(|(sid, f)| decode(&key, sid, field(f, "r").unwrap_or_default()))
            .collect()
    }
}
