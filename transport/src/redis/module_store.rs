//! [`ModuleStore`] over Redis: published rule modules.

use super::*;
use crate::{Changes, ModuleStore};

impl ModuleStore for RedisTransport {
    async fn publish_module(
        &self,
        name: &str,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(self.key(&format!("module:{sha256}")))
            .arg(bytes)
            .ignore()
            .cmd("HSET")
            .arg(self.key("modules"))
            .arg(name)
            .arg(sha256)
            .ignore();
        let (generation,): (u64,) = self.announce(pipe, name).query_async(&mut conn).await?;
        Ok(generation)
    }

    async fn unpublish_module(&self, name: &str) -> Result<bool, TransportError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("HDEL").arg(self.key("modules")).arg(name);
        let (removed, _): (u64, u64) = self.announce(pipe, name).query_async(&mut conn).await?;
        Ok(removed > 0)
    }

    async fn published_modules(&self) -> Result<(u64, BTreeMap<String, String>), TransportError> {
        let mut conn = self.conn.clone();
        let (generation, modules): (Option<u64>, BTreeMap<String, String>) = redis::pipe()
            .cmd("GET")
            .arg(self.key("modules:generation"))
            .cmd("HGETALL")
            .arg(self.key("modules"))
            .query_async(&mut conn)
            .await?;
        Ok((generation.unwrap_or(0), modules))
    }

    async fn module_bytes(
        &self,
        sha256: &str,
        max: usize,
    ) -> Result<Option<Result<Vec<u8>, usize>>, TransportError> {
        let mut conn = self.conn.clone();
        let key = self.key(&format!("module:{sha256}"));
        let size: usize = redis::cmd("STRLEN")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        if size == 0 {
            return Ok(None);
        }
        if size > max {
            return Ok(Some(Err(size)));
        }
        let bytes: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
        Ok(bytes.map(Ok))
    }

    async fn module_changes(&self) -> Result<Changes, TransportError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(self.key("modules:changed")).await?;
        Ok(Changes::redis(pubsub))
    }
}

impl RedisTransport {
    /// Ends a publication's transaction: bumps the generation and wakes the workers.
    fn announce(&self, mut pipe: redis::Pipeline, name: &str) -> redis::Pipeline {
        pipe.cmd("INCR")
            .arg(self.key("modules:generation"))
            .cmd("PUBLISH")
            .arg(self.key("modules:changed"))
            .arg(name)
            .ignore();
        pipe
    }
}
