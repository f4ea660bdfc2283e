//! [`Registry`](fmn_transport::Registry): workers register, beat and fall silent; the facts kept
//! per worker.

use std::time::Duration;

use fmn_transport::{Forget, Registry, WorkQueue, WorkerInfo};

use crate::support::item;

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

/// A worker is forgotten only once silent for as long as asked and holding nothing; then its
/// counters, fields and queue are gone, and it can register anew.
async fn forget_worker<T: Registry + WorkQueue>(t: &T) {
    t.register_worker(&WorkerInfo::local("w1")).await.unwrap();
    t.set_worker_field("w1", "rules", "a").await.unwrap();
    assert_eq!(
        t.forget_worker("w1", Duration::from_secs(3600))
            .await
            .unwrap(),
        Forget::Recent
    );
    t.dispatch(&[("w1".to_owned(), item("m1")), ("w1".to_owned(), item("m2"))])
        .await
        .unwrap();
    assert_eq!(
        t.forget_worker("w1", Duration::ZERO).await.unwrap(),
        Forget::Holds(2),
        "its work first goes to a live worker"
    );
    let read = t
        .read_work("w1", 10, Duration::from_millis(10))
        .await
        .unwrap();
    let done: Vec<_> = read.iter().map(|e| e.id.clone()).collect();
    t.complete_work("w1", &done, &[]).await.unwrap();
    assert_eq!(
        t.forget_worker("w1", Duration::ZERO).await.unwrap(),
        Forget::Forgotten
    );
    assert!(t.worker_counts().await.unwrap().is_empty());
    assert!(t.worker_fields().await.unwrap().is_empty());
    assert!(t.live_workers().await.unwrap().is_empty());
    // Back again: a worker like any other.
    t.register_worker(&WorkerInfo::local("w1")).await.unwrap();
    t.dispatch(&[("w1".to_owned(), item("m3"))]).await.unwrap();
    assert_eq!(
        t.read_work("w1", 10, Duration::from_millis(10))
            .await
            .unwrap()
            .len(),
        1
    );
}

conformance!(forget_worker);
