//! [`DeadLetters`] in process: the dead letters.

use super::*;
use crate::DeadLetters;

impl DeadLetters for MemoryTransport {
    async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<(), TransportError> {
        let mut st = self.lock();
        for l in letters {
            st.next_dead += 1;
            let n = st.next_dead;
            st.dead.push((n, l.clone()));
        }
        Ok(())
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<Entry<DeadLetter>>, TransportError> {
        Ok(self
            .lock()
            .dead
            .iter()
            .take(max)
            .map(|(n, l)| Entry {
                id: EntryId(n.to_string()),
                item: l.clone(),
            })
            .collect())
    }

    async fn dead_letter_count(&self) -> Result<u64, TransportError> {
        Ok(self.lock().dead.len() as u64)
    }
}
