//! The "why" and dry-run calls evaluate messages with the rule modules: CPU work that one
//! person could ask for without end. The gate keeps that person's cost to them: one such call
//! per user at a time (another is refused, 429, while theirs runs), and at most a few at
//! once for everyone, waiting their turn in order, so the other routes keep their threads.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Evaluations running at once, all users together.
pub(crate) const AT_ONCE: usize = 2;

/// Who is evaluating now, and the permits.
pub(crate) struct Gate {
    permits: Arc<Semaphore>,
    busy: Arc<Mutex<HashSet<String>>>,
}

/// A turn to evaluate for one user; ends when dropped.
pub(crate) struct Turn {
    _mark: Mark,
    _permit: OwnedSemaphorePermit,
}

/// A user marked as evaluating, unmarked when dropped: also when the request waiting for a
/// permit is dropped (its client went away), which must not leave the user refused for good.
struct Mark {
    user: String,
    busy: Arc<Mutex<HashSet<String>>>,
}

impl Drop for Mark {
    fn drop(&mut self) {
        lock(&self.busy).remove(&self.user);
    }
}

/// The set of users evaluating; a panic while holding it left a set of names, still right.
fn lock(busy: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    busy.lock().unwrap_or_else(|p| p.into_inner())
}

impl Gate {
    pub(crate) fn new(at_once: usize) -> Gate {
        Gate {
            permits: Arc::new(Semaphore::new(at_once)),
            busy: Arc::default(),
        }
    }

    /// `user`'s turn: refused at once if they have one running, else when a permit is free.
    pub(crate) async fn enter(&self, user: &str) -> Result<Turn, ApiError> {
        if !lock(&self.busy).insert(user.to_owned()) {
            return Err(ApiError::TooMany(format!(
                "an evaluation for {user:?} is running; ask again when it has answered"
            )));
        }
        let mark = Mark {
            user: user.to_owned(),
            busy: self.busy.clone(),
        };
        let permit = self.permits.clone().acquire_owned().await;
        let permit = permit.map_err(|_| ApiError::Unavailable("the service is stopping".into()))?;
        Ok(Turn {
            _mark: mark,
            _permit: permit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_turn_a_user_and_a_few_for_everyone() {
        let gate = Gate::new(2);
        let ralph = gate.enter("ralph").await.unwrap();
        assert!(matches!(
            gate.enter("ralph").await,
            Err(ApiError::TooMany(_))
        ));
        let bob = gate.enter("bob").await.unwrap();
        // Both permits taken: a third user waits for one, and gets it when ralph is done.
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), gate.enter("eve"));
        assert!(waiting.await.is_err(), "no permit free");
        // Eve's request was dropped while it waited (her client went away): she is not
        // left marked as evaluating.
        drop(ralph);
        let eve = gate.enter("eve").await.unwrap();
        let again = gate.enter("ralph");
        let again = tokio::time::timeout(std::time::Duration::from_millis(50), again);
        assert!(
            again.await.is_err(),
            "ralph waits for a permit, not refused: his turn ended"
        );
        drop((bob, eve));
        assert!(gate.enter("ralph").await.is_ok());
    }
}
