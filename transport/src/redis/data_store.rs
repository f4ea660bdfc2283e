//! [`DataStore`] over Redis: the shared data.

use super::*;
use crate::DataStore;

impl DataStore for RedisTransport {
    async fn data_version(&self) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        let v: Option<u64> = redis::cmd("GET")
            .arg(self.key("data:version"))
            .query_async(&mut conn)
            .await?;
        Ok(v.unwrap_or(0))
    }

    async fn load_data(&self) -> Result<(u64, fmn_core::Relations), TransportError> {
        // The version first: a change landing during the load makes the next check reload.
        let version = self.data_version().await?;
        let mut conn = self.conn.clone();
        let names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.key("data:relations"))
            .query_async(&mut conn)
            .await?;
        let mut out = fmn_core::Relations::new();
        for name in names {
            let key = self.key(&format!("data:{name}"));
            let raw: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await?;
            let mut table = HashMap::with_capacity(raw.len());
            for (k, v) in raw {
                let values: Vec<String> =
                    serde_json::from_str(&v).map_err(|e| TransportError::Decode {
                        queue: key.clone(),
                        id: k.clone(),
                        reason: format!("not a JSON array of strings: {e}"),
                    })?;
                table.insert(k, values);
            }
            out.set_table(&name, table);
        }
        Ok((version, out))
    }

    async fn import_data(&self, data: &fmn_core::Relations) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        for (name, table) in data.tables() {
            let key = self.key(&format!("data:{name}"));
            let staging = self.key(&format!("data-import:{name}"));
            redis::cmd("DEL")
                .arg(&staging)
                .query_async::<()>(&mut conn)
                .await?;
            let entries: Vec<(&String, String)> = table
                .iter()
                .map(|(k, v)| (k, serde_json::to_string(v).unwrap_or_else(|_| "[]".into())))
                .collect();
            for chunk in entries.chunks(1000) {
                let mut cmd = redis::cmd("HSET");
                cmd.arg(&staging);
                for (k, v) in chunk {
                    cmd.arg(k).arg(v);
                }
                cmd.query_async::<()>(&mut conn).await?;
            }
            // The whole relation is replaced at once: readers see the old table or the new.
            let mut pipe = redis::pipe();
            pipe.atomic();
            if entries.is_empty() {
                pipe.cmd("DEL").arg(&key).ignore();
            } else {
                pipe.cmd("RENAME").arg(&staging).arg(&key).ignore();
            }
            pipe.cmd("SADD")
                .arg(self.key("data:relations"))
                .arg(name)
                .ignore();
            pipe.query_async::<()>(&mut conn).await?;
        }
        let v: u64 = redis::cmd("INCR")
            .arg(self.key("data:version"))
            .query_async(&mut conn)
            .await?;
        Ok(v)
    }

    async fn apply_data(&self, changes: &[fmn_core::data::Change]) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        for c in changes {
            let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
            self.change
                .key(self.key(&format!("data:{}", c.relation)))
                .key(self.key("data:relations"))
                .arg(&c.relation)
                .arg(&c.key)
                .arg(json(&c.add))
                .arg(json(&c.remove))
                .invoke_async::<i64>(&mut conn)
                .await?;
        }
        let v: u64 = redis::cmd("INCR")
            .arg(self.key("data:version"))
            .query_async(&mut conn)
            .await?;
        Ok(v)
    }
}
