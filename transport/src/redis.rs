//! The distributed transport: Redis streams with consumer groups.
//!
//! Keys, under a namespace (default `fmn`):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `{ns}:workers` | sorted set | live worker id -> last heartbeat, milliseconds of Redis' clock |
//! | `{ns}:known-workers` | set | every worker id ever registered (for counters and status) |
//! | `{ns}:worker:{id}` | hash | `host`, `pid`, counters `received`, `processed`, `notifications` |
//! | `{ns}:work:{id}` | stream, group `workers` | field `d`: a [`WorkItem`] as JSON |
//! | `{ns}:shared-work` | stream, group `workers` | the same, for any worker (`shared` dispatch) |
//! | `{ns}:shared-work:requeued` | hash | `received`: entries of dead workers put back |
//! | `{ns}:work-bytes` | hash | work stream key -> bytes of its entries' `d` fields |
//! | `{ns}:out:{channel}` | stream, group `senders` | field `d`: a [`Notification`] as JSON |
//! | `{ns}:retry:{channel}` | sorted set | a [`Notification`] as JSON -> when its retry is due (ms) |
//! | `{ns}:digest:{channel}:{user}` | list | notifications held for the user's digest, as JSON, oldest first |
//! | `{ns}:digest-ids:{channel}:{user}` | set | their delivery ids |
//! | `{ns}:digest-taken:{channel}:{user}` | hash | `count` taken for sending, `failures` so far |
//! | `{ns}:digest-lease:{channel}:{user}` | string with TTL | the sender holding the digest |
//! | `{ns}:digests:{channel}` | sorted set | user -> when their digest is due (ms) |
//! | `{ns}:digest-held:{channel}` | counter | notifications held in the channel's digests |
//! | `{ns}:rate:{channel}:{address hash}` | sorted set | deliveries within the rate window -> when (ms) |
//! | `{ns}:address-failures:{user}` | hash, TTL 30 days | `{channel}:{address}` -> JSON `{reason, last_ms, count}` |
//! | `{ns}:dead` | stream | fields `stage`, `origin`, `reason`, `payload`, `payload_bytes` |
//! | `{ns}:delivered:{key}` | string with TTL | a delivery was made |
//! | `{ns}:module:{sha256}` | string | a published rule module's bytes |
//! | `{ns}:modules` | hash | module name -> sha256 of its published version |
//! | `{ns}:modules:generation` | counter | bumped by every publication |
//! | `{ns}:modules:changed` | pub/sub channel | a module name, on every publication |
//! | `{ns}:data:{relation}` | hash | key -> JSON array of values (e.g. package -> committers) |
//! | `{ns}:data:relations` | set | the relations stored |
//! | `{ns}:data:version` | counter | bumped by every import and every change |
//! | `{ns}:prefs:users` | hash | user -> their preferences as JSON |
//! | `{ns}:prefs:version` | counter | bumped by every import and every change of a user |
//! | `{ns}:prefs:changes` | sorted set | user -> the version that last changed them |
//! | `{ns}:prefs:reset` | string | the version of the last whole import |
//! | `{ns}:prefs:changed` | pub/sub channel | the new version, after every change |
//! | `{ns}:oneshot:{delivery id}` | string, 7 days | this notification used its one-shot filter |
//! | `{ns}:oneshot:{user}:{channel}:{filter}` | string | the delivery id that used a one-shot filter of a user whose preferences are not in Redis |
//!
//! Acknowledged entries are deleted (`XACK` then `XDEL` in one transaction), so a stream's
//! length is what is still owed; nothing is ever trimmed by length.
//!
//! `{ns}:work-bytes` is kept in the same transaction as every change to a work stream:
//! dispatching and dead replay add the bytes they write; reclaiming moves the length of the
//! `d` field it finds in the stream; acknowledging takes off the bytes the entry's id carries
//! (read_work hands ids out as `{stream id}#{bytes}`), for each entry that was still there. So
//! the count is exact whatever the sizes. It cannot go below zero, and an empty stream's count
//! is dropped when the backlog is read: entries queued before the count was kept, or removed
//! by a version that did not keep it, cannot hold the consumer back for good.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script, Value};

use crate::{DIGEST_LONGEST_WAIT, DeadLetters};

use crate::{
    AddressFailure, Backlog, DEFAULT_WORKER_TTL, DeadLetter, DigestBatch, Entry, EntryId,
    QueueDepth, SHARED_ID_PREFIX, SHARED_QUEUE, Stage, TransportError, WorkItem, WorkerCounts,
    WorkerInfo, count_shared, decode, digest_due_in, encode, out_queue_name, split_shared,
    work_queue_name,
};
use fmn_core::channel::ChannelKind;
use fmn_core::notification::Notification;
use fmn_core::prefs::Digest;

mod api_tokens;
mod data_store;
mod dead_letters;
mod digests;
mod history;
mod ledger;
mod module_store;
mod outbox;
mod prefs_store;
mod registry;
mod work_queue;

const WORK_GROUP: &str = "workers";
/// The hash of work streams' byte counts, under the namespace.
const WORK_BYTES: &str = "work-bytes";
const OUT_GROUP: &str = "senders";

/// Heartbeats use Redis' clock, so workers on machines with skewed clocks are judged alike.
/// One [`Change`](fmn_core::data::Change) to one key of one relation, atomically: KEYS = the
/// relation's hash, the set of relations; ARGV = relation, key, JSON values added, removed.
const CHANGE: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[2])
local set = {}
if cur then for _, v in ipairs(cjson.decode(cur)) do set[v] = true end end
for _, v in ipairs(cjson.decode(ARGV[4])) do set[v] = nil end
for _, v in ipairs(cjson.decode(ARGV[3])) do set[v] = true end
local out = {}
for v, _ in pairs(set) do table.insert(out, v) end
table.sort(out)
if #out == 0 then
  redis.call('HDEL', KEYS[1], ARGV[2])
else
  redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(out))
end
redis.call('SADD', KEYS[2], ARGV[1])
return #out
";

/// The bytes of work streams' entries (`{ns}:work-bytes`), for the Lua scripts that change
/// them: `entry_bytes(fields)` is the length of an entry's `d` field, as `XRANGE` gives its
/// fields; `take_bytes(counts, stream, n)` takes `n` off a stream's count, never below zero.
macro_rules! lua_work_bytes {
    () => {
        r"
local function entry_bytes(f)
  for j = 1, #f, 2 do
    if f[j] == 'd' then return #f[j + 1] end
  end
  return 0
end
local function take_bytes(counts, stream, n)
  if n > 0 and redis.call('HINCRBY', counts, stream, -n) <= 0 then
    redis.call('HDEL', counts, stream)
  end
end
"
    };
}

/// Moves entries of a dead worker's queue, each only if it is still there, with their bytes:
/// KEYS = the dead queue, the byte counts, then (queue, counters hash) per target; ARGV = the
/// group, then (entry id, index in KEYS of the target's queue) pairs.
const RECLAIM: &str = concat!(
    lua_work_bytes!(),
    r"
local moved = 0
local freed = 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local k = tonumber(ARGV[i + 1])
  local e = redis.call('XRANGE', KEYS[1], id, id)
  if #e > 0 then
    local n = entry_bytes(e[1][2])
    redis.call('XADD', KEYS[k], '*', unpack(e[1][2]))
    redis.call('HINCRBY', KEYS[k + 1], 'received', 1)
    redis.call('HINCRBY', KEYS[2], KEYS[k], n)
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    freed = freed + n
    moved = moved + 1
  end
end
take_bytes(KEYS[2], KEYS[1], freed)
return moved
"
);

/// Acknowledges and deletes entries of a work stream, taking the bytes of those still there
/// off its count: KEYS = the stream, the byte counts; ARGV = the group, then (entry id, its
/// bytes) pairs. Returns the bytes freed. An entry leaves the group's pending list and the
/// stream at once, so when every id was pending every entry was there: one `XACK` and one
/// `XDEL` for them all, as without the count. Otherwise (an entry reclaimed meanwhile, an id
/// given twice) each is deleted alone, to learn which were there.
const ACK_WORK: &str = concat!(
    lua_work_bytes!(),
    r"
local ids = {}
local freed = 0
for i = 2, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  freed = freed + tonumber(ARGV[i + 1])
end
if redis.call('XACK', KEYS[1], ARGV[1], unpack(ids)) == #ids then
  redis.call('XDEL', KEYS[1], unpack(ids))
else
  freed = 0
  for i = 2, #ARGV, 2 do
    if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then freed = freed + tonumber(ARGV[i + 1]) end
  end
end
take_bytes(KEYS[2], KEYS[1], freed)
return freed
"
);

/// Entries acknowledged by one [`ACK_WORK`] at most: Lua's `unpack` takes a few thousand.
const ACK_CHUNK: usize = 1000;

/// A work entry's id, as [`WorkQueue::read_work`](crate::WorkQueue::read_work) hands it out, carries the bytes of its `d`
/// field after this mark (stream ids are digits and `-`), so that acknowledging it takes them
/// off the count without reading the entry again.
const BYTES_MARK: char = '#';

/// The id an entry read by `group` is handed out under: a work entry's carries its bytes.
fn handed_out_id(group: &str, id: &str, bytes: usize) -> String {
    if group == WORK_GROUP {
        format!("{id}{BYTES_MARK}{bytes}")
    } else {
        id.to_owned()
    }
}

/// A work entry id's stream id and bytes (0 when it carries none).
fn split_bytes(id: &str) -> (&str, u64) {
    match id.rsplit_once(BYTES_MARK) {
        Some((id, bytes)) => (id, bytes.parse().unwrap_or(0)),
        None => (id, 0),
    }
}

/// What work streams hold: KEYS = the byte counts, then the streams; returns (entries, bytes)
/// per stream. The count of an empty stream is dropped: whatever it says, it holds nothing.
const WORK_BACKLOGS: &str = r"
local out = {}
for i = 2, #KEYS do
  local len = redis.call('XLEN', KEYS[i])
  local bytes = 0
  if len == 0 then
    redis.call('HDEL', KEYS[1], KEYS[i])
  else
    bytes = math.max(0, tonumber(redis.call('HGET', KEYS[1], KEYS[i]) or '0'))
  end
  table.insert(out, {len, bytes})
end
return out
";

/// Moves a dead item back to a queue, if the dead letter is still there: KEYS = the
/// dead-letter stream, the queue, and for a work queue its byte counts; ARGV = the dead
/// letter's id, the item.
const REQUEUE: &str = r"
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'd', ARGV[2])
if KEYS[3] then redis.call('HINCRBY', KEYS[3], KEYS[2], #ARGV[2]) end
return 1
";

/// Schedules work items again: KEYS = the work retry set; ARGV = pairs of (delay in
/// milliseconds, work item). Redis' clock decides when they are due.
const RETRY_WORK: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for i = 1, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[i]), ARGV[i + 1])
end
return 1
";

/// Moves a work item waiting for a retry to the dead letters, unless someone took it first:
/// KEYS = the work retry set, the dead letters; ARGV = the item as queued, then the dead
/// letter's fields and values.
const DEAD_LETTER_RETRY: &str = r"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
return 1
";

/// Work items waiting for a retry: a sorted set scored by when each is due.
const WORK_RETRIES: &str = "work-retries";

/// A dead letter's fields and values, as its stream entry holds them.
fn dead_letter_fields(l: &DeadLetter) -> Vec<(&'static str, String)> {
    vec![
        ("stage", l.stage.as_str().to_owned()),
        ("origin", l.origin.clone()),
        ("reason", l.reason.clone()),
        ("payload", l.payload.clone()),
        ("payload_bytes", l.payload_bytes.to_string()),
    ]
}

/// Acknowledges a notification and schedules it again: KEYS = the channel's retry set, its
/// queue; ARGV = the group, the entry id, the notification, the delay in milliseconds. Redis'
/// clock decides when it is due, as for heartbeats.
const RETRY_LATER: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
return 1
";

/// Queues again what is due: KEYS = the retry set, the queue, and for a work queue its byte
/// counts. At most 500 at a time.
const PROMOTE: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 500)
for _, d in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'd', d)
  redis.call('ZREM', KEYS[1], d)
  if KEYS[3] then redis.call('HINCRBY', KEYS[3], KEYS[2], #d) end
end
return #due
";

/// Holds a notification for a digest: KEYS = the user's digest list, its delivery ids, the due
/// set, the channel's queue, the held counter; ARGV = group, entry id, notification, delivery
/// id, user, max count (0: none), delay in ms.
const HOLD_DIGEST: &str = r"
if redis.call('SADD', KEYS[2], ARGV[4]) == 1 then
  redis.call('RPUSH', KEYS[1], ARGV[3])
  redis.call('INCR', KEYS[5])
end
redis.call('XACK', KEYS[4], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[4], ARGV[2])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local due = now + tonumber(ARGV[7])
local count = tonumber(ARGV[6])
if count > 0 and redis.call('LLEN', KEYS[1]) >= count then due = now end
local was = redis.call('ZSCORE', KEYS[3], ARGV[5])
if was and tonumber(was) < due then due = tonumber(was) end
redis.call('ZADD', KEYS[3], due, ARGV[5])
return 1
";

/// Users whose digest is due: KEYS = the due set; ARGV = max, within (ms).
const DUE_DIGESTS: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now + tonumber(ARGV[2]), 'LIMIT', 0, tonumber(ARGV[1]))
";

/// Takes a digest: KEYS = lease, list, taken; ARGV = owner, lease ms, max. At most the newest
/// notification's `max_count` are taken.
const TAKE_DIGEST: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return false end
local len = redis.call('LLEN', KEYS[2])
if len == 0 then return false end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local n = tonumber(redis.call('HGET', KEYS[3], 'count') or '0')
if n == 0 or n > len then
  local max = tonumber(ARGV[3])
  local ok, newest = pcall(cjson.decode, redis.call('LINDEX', KEYS[2], -1))
  if ok and type(newest) == 'table' and type(newest.digest) == 'table'
    and type(newest.digest.max_count) == 'number' and newest.digest.max_count > 0 then
    max = math.min(max, newest.digest.max_count)
  end
  n = math.min(len, max)
  redis.call('HSET', KEYS[3], 'count', n)
end
local failures = tonumber(redis.call('HGET', KEYS[3], 'failures') or '0')
return {failures, redis.call('LRANGE', KEYS[2], 0, n - 1)}
";

/// Finishes a digest: KEYS = lease, list, ids, taken, due set, held counter; ARGV = user, count,
/// max count (0: none), delay in ms.
const FINISH_DIGEST: &str = r"
local n = tonumber(ARGV[2])
local items = redis.call('LRANGE', KEYS[2], 0, n - 1)
for _, item in ipairs(items) do
  local ok, d = pcall(cjson.decode, item)
  if ok and type(d) == 'table' and d.delivery_id then redis.call('SREM', KEYS[3], d.delivery_id) end
end
redis.call('LTRIM', KEYS[2], #items, -1)
redis.call('DECRBY', KEYS[6], #items)
redis.call('DEL', KEYS[4], KEYS[1])
local left = redis.call('LLEN', KEYS[2])
if left == 0 then
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('DEL', KEYS[3])
  return 0
end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local due = now + tonumber(ARGV[4])
local count = tonumber(ARGV[3])
if count > 0 and left >= count then due = now end
redis.call('ZADD', KEYS[5], due, ARGV[1])
return left
";

/// Postpones a digest: KEYS = lease, taken, due set; ARGV = user, delay in ms.
const POSTPONE_DIGEST: &str = r"
redis.call('HINCRBY', KEYS[2], 'failures', 1)
redis.call('DEL', KEYS[1])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
return 1
";

/// Records an address failure: KEYS = the user's failures; ARGV = field, reason, TTL in ms.
const ADDRESS_FAILURE: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local count = 0
local was = redis.call('HGET', KEYS[1], ARGV[1])
if was then
  local ok, d = pcall(cjson.decode, was)
  if ok and type(d) == 'table' and type(d.count) == 'number' then count = d.count end
end
redis.call('HSET', KEYS[1], ARGV[1],
  cjson.encode({reason = ARGV[2], last_ms = now, count = count + 1}))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return count + 1
";

/// A sliding-window rate limit: KEYS = the window's log; ARGV = limit, window in ms, a unique
/// member. Returns -1 when taken, else the milliseconds until a slot frees.
const TAKE_RATE: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return -1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return wait
";

const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now";

const LIVE: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')";

/// Options of the Redis transport.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prefix of every key, so that several deployments (or tests) can share one Redis.
    pub namespace: String,
    /// A worker silent for longer is not dispatched to.
    pub worker_ttl: Duration,
    /// How long a non-blocking command may take before it counts as failed.
    pub response_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            namespace: "fmn".into(),
            worker_ttl: DEFAULT_WORKER_TTL,
            response_timeout: Duration::from_secs(10),
        }
    }
}

/// The Redis transport. Clones share connections.
#[derive(Clone)]
pub struct RedisTransport {
    url: Arc<str>,
    pub(super) client: Client,
    pub(super) conn: ConnectionManager,
    ns: Arc<str>,
    opts: Arc<RedisOptions>,
    /// One connection per blocking reader: a blocked `XREADGROUP` holds its connection.
    readers: Arc<Mutex<HashMap<String, Reader>>>,
    heartbeat: Arc<Script>,
    live: Arc<Script>,
    change: Arc<Script>,
    reclaim: Arc<Script>,
    work_backlogs: Arc<Script>,
}

impl RedisTransport {
    /// Connects to Redis at `url` (e.g. `redis://127.0.0.1:6379`).
    pub async fn connect(url: &str, opts: RedisOptions) -> Result<Self, TransportError> {
        let client = Client::open(url)?;
        let conn = ConnectionManager::new_with_config(
            client.clone(),
            ConnectionManagerConfig::new().set_response_timeout(Some(opts.response_timeout)),
        )
        .await?;
        Ok(RedisTransport {
            url: url.into(),
            client,
            conn,
            ns: opts.namespace.clone().into(),
            opts: Arc::new(opts),
            readers: Arc::default(),
            heartbeat: Arc::new(Script::new(HEARTBEAT)),
            live: Arc::new(Script::new(LIVE)),
            change: Arc::new(Script::new(CHANGE)),
            reclaim: Arc::new(Script::new(RECLAIM)),
            work_backlogs: Arc::new(Script::new(WORK_BACKLOGS)),
        })
    }

    /// New connections to the same Redis and namespace, as a restarted process would make.
    pub async fn reconnect(&self) -> Result<Self, TransportError> {
        Self::connect(&self.url, (*self.opts).clone()).await
    }

    /// The namespace keys are under.
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// Deletes every key of this namespace: for benchmarks and tests that made their own.
    pub async fn purge_namespace(&self) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}:*", self.ns);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                deleted += redis::cmd("DEL")
                    .arg(&keys)
                    .query_async::<u64>(&mut conn)
                    .await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// Up to `max` dead letters, oldest first, after the entry `after` (from the first when
    /// `None`).
    pub async fn dead_letters_after(
        &self,
        after: Option<&EntryId>,
        max: usize,
    ) -> Result<Vec<Entry<DeadLetter>>, TransportError> {
        let mut conn = self.conn.clone();
        let start = after.map_or_else(|| "-".to_owned(), |a| format!("({}", a.0));
        let v: Value = redis::cmd("XRANGE")
            .arg(self.key("dead"))
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(redis_count(max.max(1)))
            .query_async(&mut conn)
            .await?;
        let Value::Array(entries) = v else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in entries {
            let Value::Array(mut pair) = e else { continue };
            let fields = match pair.pop() {
                Some(Value::Array(f)) => f,
                _ => continue,
            };
            let Some(id) = pair.pop().and_then(text) else {
                continue;
            };
            let mut map: HashMap<String, String> = HashMap::new();
            let mut it = fields.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let (Some(k), Some(v)) = (text(k), text(v)) {
                    map.insert(k, v);
                }
            }
            let stage = match map.get("stage").map(String::as_str) {
                Some("consumer") => Stage::Consumer,
                Some("sender") => Stage::Sender,
                _ => Stage::Worker,
            };
            let field = |k: &str| map.get(k).cloned().unwrap_or_default();
            out.push(Entry {
                id: EntryId(id),
                item: DeadLetter {
                    stage,
                    origin: field("origin"),
                    reason: field("reason"),
                    payload: field("payload"),
                    payload_bytes: field("payload_bytes").parse().unwrap_or(0),
                },
            });
        }
        Ok(out)
    }

    /// Deletes dead letters; returns how many there were.
    pub async fn remove_dead_letters(&self, ids: &[EntryId]) -> Result<u64, TransportError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn.clone();
        let ids: Vec<&str> = ids.iter().map(|i| i.0.as_str()).collect();
        Ok(redis::cmd("XDEL")
            .arg(self.key("dead"))
            .arg(&ids)
            .query_async(&mut conn)
            .await?)
    }

    /// Puts a notification a sender gave up on back on its channel's queue and deletes its
    /// dead letter, in one transaction. Returns false if the dead letter was gone already
    /// (someone else replayed it), in which case nothing is queued.
    pub async fn requeue_dead_notification(
        &self,
        dead: &EntryId,
        n: &Notification,
    ) -> Result<bool, TransportError> {
        let mut conn = self.conn.clone();
        let queued: i64 = Script::new(REQUEUE)
            .key(self.key("dead"))
            .key(self.key(&out_queue_name(n.channel)))
            .arg(&dead.0)
            .arg(encode(n))
            .invoke_async(&mut conn)
            .await?;
        Ok(queued == 1)
    }

    /// Puts a message a worker could not wholly evaluate back on the shared work queue, for
    /// any live worker, and deletes its dead letter, in one transaction. Returns false if the
    /// dead letter was gone already (someone else replayed it), in which case nothing is queued.
    pub async fn requeue_dead_work(
        &self,
        dead: &EntryId,
        item: &WorkItem,
    ) -> Result<bool, TransportError> {
        let mut conn = self.conn.clone();
        let queued: i64 = Script::new(REQUEUE)
            .key(self.key("dead"))
            .key(self.key(SHARED_QUEUE))
            .key(self.key(WORK_BYTES))
            .arg(&dead.0)
            .arg(encode(item))
            .invoke_async(&mut conn)
            .await?;
        Ok(queued == 1)
    }

    pub(super) fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.ns)
    }

    /// The reader's connection, and whether it has yet to collect entries an earlier run under
    /// the same consumer name read and did not acknowledge.
    async fn reader(&self, name: &str) -> Result<(ConnectionManager, bool), TransportError> {
        if let Some(r) = self.lock_readers().get_mut(name) {
            return Ok((r.conn.clone(), std::mem::take(&mut r.backlog)));
        }
        let conn = ConnectionManager::new_with_config(
            self.client.clone(),
            ConnectionManagerConfig::new().set_response_timeout(None),
        )
        .await?;
        self.lock_readers().insert(
            name.to_owned(),
            Reader {
                conn: conn.clone(),
                backlog: false,
            },
        );
        Ok((conn, true))
    }

    fn lock_readers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Reader>> {
        self.readers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates the consumer group of a stream (and the stream) if missing. The group starts at
    /// the beginning of the stream, so entries written before it existed are not skipped.
    async fn ensure_group(&self, stream: &str, group: &str) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        let res: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match res {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => Ok(other?),
        }
    }

    /// Reads from streams of one group: this consumer's unacknowledged entries first (left by
    /// an earlier run under the same name), then new ones, blocking up to `block`. Each
    /// stream comes with the prefix its entries' ids get.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        streams: &[(&str, &str)],
        group: &str,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Entry<T>>, TransportError> {
        let keys: Vec<&str> = streams.iter().map(|(k, _)| *k).collect();
        let name = format!("{}\u{0}{consumer}", keys.join("\u{0}"));
        let (mut conn, backlog) = self.reader(&name).await?;
        let result = self
            .read_entries(
                &mut conn,
                &name,
                &keys,
                group,
                consumer,
                max.max(1),
                block,
                backlog,
            )
            .await;
        if result.is_err()
            && let Some(r) = self.lock_readers().get_mut(&name)
        {
            // After a failure, collect what this consumer may hold before reading new entries.
            r.backlog = true;
        }
        let entries = result?;
        let mut out = Vec::with_capacity(entries.len());
        let mut bad: Vec<(&str, String, Vec<u8>, String)> = Vec::new();
        for (stream, id, data) in entries {
            let Some((key, prefix)) = streams.iter().find(|(k, _)| *k == stream) else {
                continue;
            };
            let bytes = data.as_ref().map_or(0, Vec::len);
            let decoded = match &data {
                Some(d) => decode::<T>(key, &id, d),
                None => Err(TransportError::Decode {
                    queue: stream.clone(),
                    id: id.clone(),
                    reason: "the entry has no `d` field".into(),
                }),
            };
            match decoded {
                Ok(item) => out.push(Entry {
                    id: EntryId(format!("{prefix}{}", handed_out_id(group, &id, bytes))),
                    item,
                }),
                Err(e) => bad.push((key, id, data.unwrap_or_default(), e.to_string())),
            }
        }
        // An undecodable entry would block its reader forever: keep it as a dead letter.
        if !bad.is_empty() {
            let letters: Vec<DeadLetter> = bad
                .iter()
                .map(|(key, id, data, reason)| {
                    DeadLetter::new(Stage::Worker, format!("{key}/{id}"), reason.clone(), data)
                })
                .collect();
            tracing::error!(
                ?keys,
                count = letters.len(),
                "undecodable entries moved to dead letters"
            );
            self.dead_letter(&letters).await?;
            let mut pipe = redis::pipe();
            for (key, id, data, _) in &bad {
                let ids = [EntryId(handed_out_id(group, id, data.len()))];
                if group == WORK_GROUP {
                    self.ack_work_into(key, &ids, &mut pipe);
                } else {
                    self.ack_into(key, group, &ids, &mut pipe);
                }
            }
            self.exec(&mut pipe).await?;
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    async fn read_entries(
        &self,
        conn: &mut ConnectionManager,
        name: &str,
        streams: &[&str],
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
        backlog: bool,
    ) -> Result<Vec<(String, String, Option<Vec<u8>>)>, TransportError> {
        if backlog {
            let entries = self
                .xreadgroup_or_create(conn, streams, group, consumer, count, None, "0")
                .await?;
            if !entries.is_empty() {
                if let Some(r) = self.lock_readers().get_mut(name) {
                    r.backlog = true;
                }
                return Ok(entries);
            }
        }
        let block_ms = block.as_millis().max(1) as u64;
        self.xreadgroup_or_create(conn, streams, group, consumer, count, Some(block_ms), ">")
            .await
    }

    /// `XREADGROUP`, creating the groups first if one is missing.
    #[allow(clippy::too_many_arguments)]
    async fn xreadgroup_or_create(
        &self,
        conn: &mut ConnectionManager,
        streams: &[&str],
        group: &str,
        consumer: &str,
        count: usize,
        block_ms: Option<u64>,
        from: &str,
    ) -> Result<Vec<(String, String, Option<Vec<u8>>)>, TransportError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count);
        if let Some(ms) = block_ms {
            cmd.arg("BLOCK").arg(ms);
        }
        cmd.arg("STREAMS").arg(streams);
        for _ in streams {
            cmd.arg(from);
        }
        let mut raw = cmd.query_async(conn).await;
        if let Err(e) = &raw
            && e.code() == Some("NOGROUP")
        {
            for s in streams {
                self.ensure_group(s, group).await?;
            }
            raw = cmd.query_async(conn).await;
        }
        Ok(parse_read(raw?))
    }

    /// Adds acknowledging and deleting entries to `pipe`.
    fn ack_into(&self, stream: &str, group: &str, ids: &[EntryId], pipe: &mut redis::Pipeline) {
        if !ids.is_empty() {
            let ids: Vec<&str> = ids.iter().map(|i| i.0.as_str()).collect();
            pipe.cmd("XACK").arg(stream).arg(group).arg(&ids).ignore();
            pipe.cmd("XDEL").arg(stream).arg(&ids).ignore();
        }
    }

    /// Adds acknowledging and deleting entries of a work stream to `pipe`, with the bytes
    /// their ids carry taken off its count. The script's text goes along (`EVAL`): a
    /// transaction cannot load a missing script and retry.
    fn ack_work_into(&self, stream: &str, ids: &[EntryId], pipe: &mut redis::Pipeline) {
        for chunk in ids.chunks(ACK_CHUNK) {
            pipe.cmd("EVAL")
                .arg(ACK_WORK)
                .arg(2)
                .arg(stream)
                .arg(self.key(WORK_BYTES))
                .arg(WORK_GROUP);
            for id in chunk {
                let (id, bytes) = split_bytes(&id.0);
                pipe.arg(id).arg(bytes);
            }
            pipe.ignore();
        }
    }

    /// What work streams hold, in one round trip.
    async fn work_backlogs(&self, streams: &[String]) -> Result<Vec<Backlog>, TransportError> {
        if streams.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = self.work_backlogs.prepare_invoke();
        inv.key(self.key(WORK_BYTES));
        for s in streams {
            inv.key(s);
        }
        let mut conn = self.conn.clone();
        let raw: Vec<(u64, u64)> = inv.invoke_async(&mut conn).await?;
        Ok(raw
            .into_iter()
            .map(|(entries, bytes)| Backlog { entries, bytes })
            .collect())
    }

    /// Adds counting `bytes` written to a work stream to `pipe`.
    fn add_bytes_into(&self, stream: &str, bytes: u64, pipe: &mut redis::Pipeline) {
        pipe.cmd("HINCRBY")
            .arg(self.key(WORK_BYTES))
            .arg(stream)
            .arg(bytes)
            .ignore();
    }

    /// Runs `pipe` as one transaction.
    async fn exec(&self, pipe: &mut redis::Pipeline) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        pipe.atomic().query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// (entries, pending, age of the oldest entry in ms) of a stream.
    async fn stream_depth(
        &self,
        stream: &str,
        group: &str,
    ) -> Result<(u64, u64, Option<u64>), TransportError> {
        let mut conn = self.conn.clone();
        let len: u64 = redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut conn)
            .await?;
        if len == 0 {
            return Ok((0, 0, None));
        }
        // An entry id starts with the milliseconds of Redis' clock when it was added.
        let first: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await?;
        let now_ms = secs * 1000 + micros / 1000;
        let oldest = first
            .first()
            .and_then(|(id, _)| id.split('-').next()?.parse::<u64>().ok())
            .map(|born| now_ms.saturating_sub(born));
        let summary: redis::RedisResult<Value> = redis::cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .query_async(&mut conn)
            .await;
        let pending = match summary {
            Ok(Value::Array(v)) => match v.first() {
                Some(Value::Int(n)) => *n as u64,
                _ => 0,
            },
            Ok(_) => 0,
            Err(e) if e.code() == Some("NOGROUP") => 0,
            Err(e) => return Err(e.into()),
        };
        Ok((len, pending, oldest))
    }
}

struct Reader {
    conn: ConnectionManager,
    backlog: bool,
}

/// `XREADGROUP` answers `[[stream, [[id, [field, value, ...] | nil], ...]]]` (RESP2) or a map
/// (RESP3); a nil field list is an entry deleted while pending.
fn parse_read(v: Value) -> Vec<(String, String, Option<Vec<u8>>)> {
    let streams: Vec<(String, Value)> = match v {
        Value::Array(s) => s
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => {
                    let entries = kv.pop()?;
                    Some((text(kv.pop()?)?, entries))
                }
                _ => None,
            })
            .collect(),
        Value::Map(m) => m
            .into_iter()
            .filter_map(|(k, entries)| Some((text(k)?, entries)))
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for (stream, entries) in streams {
        let Value::Array(entries) = entries else {
            continue;
        };
        for e in entries {
            let Value::Array(mut pair) = e else { continue };
            if pair.len() != 2 {
                continue;
            }
            let fields = pair.pop();
            let Some(id) = pair.pop().and_then(text) else {
                continue;
            };
            let data = match fields {
                Some(Value::Array(f)) => {
                    let mut data = None;
                    let mut it = f.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        if text(k).as_deref() == Some("d") {
                            data = bytes(v);
                        }
                    }
                    data
                }
                Some(Value::Map(f)) => f
                    .into_iter()
                    .find(|(k, _)| text(k.clone()).as_deref() == Some("d"))
                    .and_then(|(_, v)| bytes(v)),
                _ => None,
            };
            out.push((stream.clone(), id, data));
        }
    }
    out
}

fn text(v: Value) -> Option<String> {
    bytes(v).and_then(|b| String::from_utf8(b).ok())
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.into_bytes()),
        _ => None,
    }
}

/// A process-unique suffix, so two deliveries in the same microsecond are two log entries.
fn rand_suffix() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    u64::from(std::process::id()) << 32 | NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// `n` as Redis takes a count or an index: a signed 64-bit integer, so "all" (`usize::MAX`)
/// becomes the largest it accepts rather than an error.
fn redis_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
