//! One conformance suite per role, two transports: each role's checks run against the
//! in-memory transport and against Redis (a real `redis-server` started by each test on a free
//! loopback port).

mod support;

/// Runs the check `$name` (a function of the module, generic over the transport) against
/// both transports, as the tests `$name::memory` and `$name::redis`.
macro_rules! conformance {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn memory() {
                super::$name(&crate::support::memory()).await;
            }

            #[tokio::test]
            async fn redis() {
                let server = crate::support::RedisServer::start();
                super::$name(&crate::support::redis(&server).await).await;
            }
        }
    };
}

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
