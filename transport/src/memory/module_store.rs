//! [`ModuleStore`] in process: published rule modules.

use super::*;
use crate::{Changes, ModuleStore};

/// What is published, as Redis keeps it: bytes by sha256, name -> sha256, a generation.
#[derive(Default)]
pub(super) struct Modules {
    bytes: HashMap<String, Vec<u8>>,
    published: BTreeMap<String, String>,
    generation: u64,
}

impl MemoryTransport {
    /// Bumps the generation and wakes the subscribers, as every (un)publication ends.
    fn announce(&self, st: &mut State, name: &str) -> u64 {
        st.modules.generation += 1;
        // No subscriber is not an error: nobody is waiting.
        let _ = self.inner.module_changes.send(name.to_owned());
        st.modules.generation
    }
}

impl ModuleStore for MemoryTransport {
    async fn publish_module(
        &self,
        name: &str,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<u64, TransportError> {
        let mut st = self.lock();
        st.modules.bytes.insert(sha256.to_owned(), bytes.to_vec());
        st.modules
            .published
            .insert(name.to_owned(), sha256.to_owned());
        Ok(self.announce(&mut st, name))
    }

    async fn unpublish_module(&self, name: &str) -> Result<bool, TransportError> {
        let mut st = self.lock();
        let removed = st.modules.published.remove(name).is_some();
        self.announce(&mut st, name);
        Ok(removed)
    }

    async fn published_modules(&self) -> Result<(u64, BTreeMap<String, String>), TransportError> {
        let st = self.lock();
        Ok((st.modules.generation, st.modules.published.clone()))
    }

    async fn module_bytes(
        &self,
        sha256: &str,
        max: usize,
    ) -> Result<Option<Result<Vec<u8>, usize>>, TransportError> {
        let st = self.lock();
        // As in Redis, where an empty value is no value.
        Ok(match st.modules.bytes.get(sha256) {
            None => None,
            Some(b) if b.is_empty() => None,
            Some(b) if b.len() > max => Some(Err(b.len())),
            Some(b) => Some(Ok(b.clone())),
        })
    }

    async fn module_changes(&self) -> Result<Changes, TransportError> {
        Ok(Changes::memory(self.inner.module_changes.subscribe()))
    }
}
