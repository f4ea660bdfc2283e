//! [`Registry`](fmn_transport::Registry): workers register, beat and fall silent; the facts kept
//! per worker.

use std::time::Duration;

use fmn_transport::{Registry, WorkerInfo};

async fn registry<T: Registry>(t: &T) {
    assert!(t.live_workers().await.unwrap().is_empty());
    t.register_worker(&WorkerInfo::local("w2")).await.unwrap();
    t.register_worker(&WorkerInfo::local("w1")).await.unwrap();
    assert_eq!(t.live_workers().await.unwrap(), ["w1", "w2"]);
    t.deregister_worker("w1").await.unwrap();
    assert_eq!(t.live_workers().await.unwrap(), ["w2"]);
    // Silence past the TTL (300 ms in this suite) means not live.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(t.live_workers().await.unwrap().is_empty());
    t.heartbeat("w2").await.unwrap();
    assert_eq!(t.live_workers().await.unwrap(), ["w2"]);
}

conformance!(registry);

/// Facts recorded about a worker are listed by worker, the newest value of each; counters are
/// kept for every worker ever registered.
async fn worker_fields<T: Registry>(t: &T) {
    t.register_worker(&WorkerInfo::local("w1")).await.unwrap();
    t.set_worker_field("w1", "rules", "a,b").await.unwrap();
    t.set_worker_field("w1", "rules", "a").await.unwrap();
    let fields = t.worker_fields().await.unwrap();
    assert_eq!(fields["w1"]["rules"], "a");
    t.deregister_worker("w1").await.unwrap();
    let counts = t.worker_counts().await.unwrap();
    let ids: Vec<_> = counts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["w1"]);
}

conformance!(worker_fields);
