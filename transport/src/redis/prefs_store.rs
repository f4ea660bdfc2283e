//! [`PrefsStore`] in Redis: users' preferences, with a version every change bumps. The keys
//! (`{ns}:prefs:*`, `{ns}:oneshot:*`) are listed with the others in [`crate::redis`].

use std::collections::BTreeMap;

use redis::Script;

use crate::prefs_store::{MERGE_CHUNK, PrefsDelta, SetUserError, decode_user, user_json};
use crate::{Changes, PrefsStore, RedisTransport, TransportError};
use fmn_core::notification::Notification;
use fmn_core::prefs::{Preferences, User};

/// Replaces one user, if they are as the caller last read them: KEYS = users, changes,
/// version, channel; ARGV = user, "1" to check / "0" not to, the expected JSON ("" = absent),
/// the new JSON ("" = delete). Returns the new version, or -1 if the user changed meanwhile.
const SET_USER: &str = r"
if ARGV[2] == '1' then
  local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
  if cur ~= ARGV[3] then return -1 end
end
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
end
local v = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[2], v, ARGV[1])
redis.call('PUBLISH', KEYS[4], v)
return v
";

/// Deactivates a one-shot filter by replacing the user, if they are as read, and marks the
/// notification that used it: KEYS = users, changes, version, channel, marker; ARGV = user,
/// the JSON read, the new JSON, the marker's lifetime in seconds. Returns the new version, or
/// -1 if the user changed meanwhile.
const CLAIM: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if cur ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local v = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[2], v, ARGV[1])
redis.call('SET', KEYS[5], '1', 'EX', ARGV[4])
redis.call('PUBLISH', KEYS[4], v)
return v
";

/// How long a claimed one-shot use is remembered for the notification that made it: as long as
/// a delivery is.
const ONESHOT_MEMORY_SECONDS: u64 = 7 * 24 * 3600;

/// Stores some users, leaving the others: KEYS = users, changes, version, channel; ARGV =
/// (user, JSON) pairs. Returns the new version.
const MERGE: &str = r"
local v = redis.call('INCR', KEYS[3])
for i = 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], v, ARGV[i])
end
redis.call('PUBLISH', KEYS[4], v)
return v
";

/// Swaps a staged import in: KEYS = staged hash, users, changes, version, reset, channel.
const SWAP_IN: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
else
  redis.call('DEL', KEYS[2])
end
redis.call('DEL', KEYS[3])
local v = redis.call('INCR', KEYS[4])
redis.call('SET', KEYS[5], v)
redis.call('PUBLISH', KEYS[6], v)
return v
";

/// KEYS = version, reset, changes, users; ARGV = the caller's version. Returns
/// {version, 1} when a whole import happened since, else {version, 0, users, their JSON}.
const SINCE: &str = r"
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local reset = tonumber(redis.call('GET', KEYS[2]) or '0')
if reset > tonumber(ARGV[1]) then return {v, 1} end
local users = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf')
if #users == 0 then return {v, 0, {}, {}} end
return {v, 0, users, redis.call('HMGET', KEYS[4], unpack(users))}
";

/// Imports larger than this go to Redis in several commands, so that none is huge.
const IMPORT_CHUNK: usize = 1_000;

impl PrefsStore for RedisTransport {
    /// The preferences' version: 0 when none were ever stored.
    async fn prefs_version(&self) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        let v: Option<u64> = redis::cmd("GET")
            .arg(self.key("prefs:version"))
            .query_async(&mut conn)
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Every user's preferences and their version, read atomically.
    async fn load_prefs(&self) -> Result<(u64, Preferences), TransportError> {
        let mut conn = self.conn.clone();
        let (version, users): (Option<u64>, Vec<(String, String)>) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(self.key("prefs:version"))
            .cmd("HGETALL")
            .arg(self.key("prefs:users"))
            .query_async(&mut conn)
            .await?;
        let mut prefs = Preferences::default();
        for (name, json) in users {
            let user = decode_user(&name, &json)?;
            prefs.users.insert(name, user);
        }
        Ok((version.unwrap_or(0), prefs))
    }

    async fn prefs_page(&self, cursor: u64) -> Result<(u64, Vec<(String, User)>), TransportError> {
        let mut conn = self.conn.clone();
        // HSCAN, 512 users a page: what a page holds may have changed since the version read
        // before the first, which catching up from that version applies again.
        let (next, page): (u64, Vec<(String, String)>) = redis::cmd("HSCAN")
            .arg(self.key("prefs:users"))
            .arg(cursor)
            .arg("COUNT")
            .arg(512)
            .query_async(&mut conn)
            .await?;
        let users = page
            .into_iter()
            .map(|(name, json)| decode_user(&name, &json).map(|u| (name, u)))
            .collect::<Result<_, _>>()?;
        Ok((next, users))
    }

    /// One user's preferences and the JSON they were stored as, for a compare-and-set with
    /// [`Self::set_user_prefs`].
    async fn user_prefs_raw(&self, user: &str) -> Result<Option<(User, String)>, TransportError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = redis::cmd("HGET")
            .arg(self.key("prefs:users"))
            .arg(user)
            .query_async(&mut conn)
            .await?;
        json.map(|j| decode_user(user, &j).map(|u| (u, j)))
            .transpose()
    }

    /// What changed after `version`, and the version it brings the caller to.
    async fn prefs_changes_since(&self, version: u64) -> Result<(u64, PrefsDelta), TransportError> {
        let mut conn = self.conn.clone();
        let reply: redis::Value = Script::new(SINCE)
            .key(self.key("prefs:version"))
            .key(self.key("prefs:reset"))
            .key(self.key("prefs:changes"))
            .key(self.key("prefs:users"))
            .arg(version)
            .invoke_async(&mut conn)
            .await?;
        let bad = |reason: &str| TransportError::Decode {
            queue: "prefs:changes".into(),
            id: version.to_string(),
            reason: reason.into(),
        };
        let redis::Value::Array(parts) = reply else {
            return Err(bad("not an array"));
        };
        let num = |v: Option<&redis::Value>| match v {
            Some(redis::Value::Int(n)) => u64::try_from(*n).map_err(|_| bad("negative number")),
            _ => Err(bad("not a number")),
        };
        let now = num(parts.first())?;
        if num(parts.get(1))? == 1 {
            return Ok((now, PrefsDelta::Reset));
        }
        let names: Vec<String> = match parts.get(2) {
            Some(v) => redis::from_redis_value_ref(v).map_err(|e| bad(&e.to_string()))?,
            None => Vec::new(),
        };
        let values: Vec<Option<String>> = match parts.get(3) {
            Some(v) => redis::from_redis_value_ref(v).map_err(|e| bad(&e.to_string()))?,
            None => Vec::new(),
        };
        let mut users = BTreeMap::new();
        for (name, json) in names.into_iter().zip(values) {
            let user = json.map(|j| decode_user(&name, &j)).transpose()?;
            users.insert(name, user);
        }
        Ok((now, PrefsDelta::Users(users)))
    }

    /// Replaces every user's preferences with `prefs`, atomically: a reader sees the old set or
    /// the new one. Returns the new version.
    async fn import_prefs(&self, prefs: &Preferences) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        // Staged under a name of its own, invisible until the swap.
        let staged = self.key(&format!(
            "prefs:import:{}:{}",
            std::process::id(),
            fmn_core::metrics::now_us()
        ));
        let users: Vec<(&String, &User)> = prefs.users.iter().collect();
        for chunk in users.chunks(IMPORT_CHUNK) {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(&staged);
            for (name, user) in chunk {
                cmd.arg(name.as_str()).arg(user_json(user));
            }
            let _: () = cmd.query_async(&mut conn).await?;
        }
        let swapped: Result<u64, _> = Script::new(SWAP_IN)
            .key(&staged)
            .key(self.key("prefs:users"))
            .key(self.key("prefs:changes"))
            .key(self.key("prefs:version"))
            .key(self.key("prefs:reset"))
            .key(self.key("prefs:changed"))
            .invoke_async(&mut conn)
            .await;
        if swapped.is_err() {
            let _: Result<(), _> = redis::cmd("DEL").arg(&staged).query_async(&mut conn).await;
        }
        Ok(swapped?)
    }

    /// Stores the users `prefs` holds, replacing theirs and leaving every other user as it is,
    /// in atomic batches of 500 users. Returns the last new version.
    async fn merge_prefs(&self, prefs: &Preferences) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        let users: Vec<(&String, &User)> = prefs.users.iter().collect();
        let mut version = self.prefs_version().await?;
        for chunk in users.chunks(MERGE_CHUNK) {
            let script = Script::new(MERGE);
            let mut call = script.prepare_invoke();
            call.key(self.key("prefs:users"))
                .key(self.key("prefs:changes"))
                .key(self.key("prefs:version"))
                .key(self.key("prefs:changed"));
            for (name, user) in chunk {
                call.arg(name.as_str()).arg(user_json(user));
            }
            version = call.invoke_async(&mut conn).await?;
        }
        Ok(version)
    }

    /// Replaces one user's preferences (`None`: removes the user). With `expected`, only if
    /// they are still stored as the JSON the caller read ([`Self::user_prefs_raw`];
    /// `Some(None)`: absent), so two edits of one user cannot undo each other. Returns the new
    /// version.
    async fn set_user_prefs(
        &self,
        name: &str,
        user: Option<&User>,
        expected: Option<Option<&str>>,
    ) -> Result<u64, SetUserError> {
        let mut conn = self.conn.clone();
        let (check, expected) = match expected {
            Some(e) => ("1", e.unwrap_or_default().to_owned()),
            None => ("0", String::new()),
        };
        let v: i64 = Script::new(SET_USER)
            .key(self.key("prefs:users"))
            .key(self.key("prefs:changes"))
            .key(self.key("prefs:version"))
            .key(self.key("prefs:changed"))
            .arg(name)
            .arg(check)
            .arg(expected)
            .arg(user.map(user_json).unwrap_or_default())
            .invoke_async(&mut conn)
            .await
            .map_err(TransportError::from)?;
        u64::try_from(v).map_err(|_| SetUserError::Conflict(name.to_owned()))
    }

    /// A subscription to preference changes: yields the new version after each.
    async fn prefs_announcements(&self) -> Result<Changes, TransportError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(self.key("prefs:changed")).await?;
        Ok(Changes::redis(pubsub))
    }
}

impl RedisTransport {
    /// [`DeliveryLedger::disable_address`](crate::DeliveryLedger::disable_address) for Redis.
    pub(super) async fn remove_user_address(
        &self,
        name: &str,
        channel: fmn_core::ChannelKind,
        address: &str,
    ) -> Result<bool, TransportError> {
        // A few rounds: each lost one means someone else changed the user meanwhile.
        for _ in 0..16 {
            let Some((mut user, json)) = self.user_prefs_raw(name).await? else {
                return Ok(false);
            };
            let Some(ch) = user.channels.get_mut(&channel) else {
                return Ok(false);
            };
            let before = ch.addresses.len();
            ch.addresses.retain(|a| a != address);
            if ch.addresses.len() == before {
                return Ok(false);
            }
            match self
                .set_user_prefs(name, Some(&user), Some(Some(&json)))
                .await
            {
                Ok(_) => return Ok(true),
                Err(SetUserError::Conflict(_)) => continue,
                Err(SetUserError::Transport(e)) => return Err(e),
            }
        }
        Err(TransportError::Contended(format!(
            "user {name} kept changing while their {channel} address was being removed"
        )))
    }

    /// [`DeliveryLedger::claim_oneshot`](crate::DeliveryLedger::claim_oneshot) for Redis.
    pub(super) async fn claim_oneshot_use(&self, n: &Notification) -> Result<bool, TransportError> {
        let mut conn = self.conn.clone();
        let marker = self.key(&format!("oneshot:{}", n.delivery_id));
        // A few rounds: each lost one means someone else changed the user meanwhile.
        for _ in 0..16 {
            let Some((mut user, json)) = self.user_prefs_raw(&n.user).await? else {
                // Preferences from a file: the filter stays active in the workers' plans, and
                // this key remembers who used it.
                let key = self.key(&format!("oneshot:{}:{}:{}", n.user, n.channel, n.filter));
                let (_, winner): (Option<String>, String) = redis::pipe()
                    .atomic()
                    .cmd("SET")
                    .arg(&key)
                    .arg(&n.delivery_id)
                    .arg("NX")
                    .cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await?;
                return Ok(winner == n.delivery_id);
            };
            let filter = user
                .channels
                .get_mut(&n.channel)
                .and_then(|c| c.filters.iter_mut().find(|f| f.name == n.filter));
            match filter {
                Some(f) if f.active && f.oneshot => f.active = false,
                // Used already (or changed since): only the notification that used it goes on.
                _ => {
                    let used: bool = redis::cmd("EXISTS")
                        .arg(&marker)
                        .query_async(&mut conn)
                        .await?;
                    return Ok(used);
                }
            }
            let v: i64 = Script::new(CLAIM)
                .key(self.key("prefs:users"))
                .key(self.key("prefs:changes"))
                .key(self.key("prefs:version"))
                .key(self.key("prefs:changed"))
                .key(&marker)
                .arg(&n.user)
                .arg(&json)
                .arg(user_json(&user))
                .arg(ONESHOT_MEMORY_SECONDS)
                .invoke_async(&mut conn)
                .await?;
            if v >= 0 {
                return Ok(true);
            }
        }
        Err(TransportError::Contended(format!(
            "user {} kept changing while their one-shot filter {:?} was being used",
            n.user, n.filter
        )))
    }
}
