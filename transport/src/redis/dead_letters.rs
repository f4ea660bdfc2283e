//! [`DeadLetters`] over Redis: the dead letters.

use super::*;
use crate::DeadLetters;

impl DeadLetters for RedisTransport {
    async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<(), TransportError> {
        if letters.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for l in letters {
            pipe.cmd("XADD")
                .arg(self.key("dead"))
                .arg("*")
                .arg(dead_letter_fields(l))
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<Entry<DeadLetter>>, TransportError> {
        self.dead_letters_after(None, max).await
    }

    async fn dead_letter_count(&self) -> Result<u64, TransportError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("XLEN")
            .arg(self.key("dead"))
            .query_async(&mut conn)
            .await?)
    }
}
