//! A subscription that wakes its holder when a store changed: a Redis pub/sub channel, or an
//! in-process broadcast.

use futures_util::StreamExt;
use tokio::sync::broadcast;

/// A subscription to the changes of a store ([`ModuleStore::module_changes`](crate::ModuleStore::module_changes),
/// [`PrefsStore::prefs_announcements`](crate::PrefsStore::prefs_announcements)).
pub struct Changes(Source);

enum Source {
    Redis(Box<::redis::aio::PubSub>),
    Memory(broadcast::Receiver<String>),
}

impl Changes {
    pub(crate) fn redis(pubsub: ::redis::aio::PubSub) -> Self {
        Changes(Source::Redis(Box::new(pubsub)))
    }

    pub(crate) fn memory(rx: broadcast::Receiver<String>) -> Self {
        Changes(Source::Memory(rx))
    }

    /// Waits for the next change. False once the subscription ended (Redis restarted, the
    /// connection was cut): the holder subscribes again, and looks for what it missed.
    pub async fn next(&mut self) -> bool {
        match &mut self.0 {
            Source::Redis(p) => p.on_message().next().await.is_some(),
            // Changes missed because the holder lagged behind still mean "look again".
            Source::Memory(rx) => {
                !matches!(rx.recv().await, Err(broadcast::error::RecvError::Closed))
            }
        }
    }
}
