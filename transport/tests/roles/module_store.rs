//! [`ModuleStore`]: modules published, read back within a size limit, withdrawn; every change
//! bumps the generation and wakes the subscribers.

use std::collections::BTreeMap;

use fmn_transport::ModuleStore;

/// Publishing and withdrawing, as `fmn rules publish` does and the workers see it.
async fn module_store<T: ModuleStore>(t: &T) {
    let mut changes = t.module_changes().await.unwrap();
    assert_eq!(t.published_modules().await.unwrap(), (0, BTreeMap::new()));
    let g1 = t.publish_module("fedora", "aa11", b"one").await.unwrap();
    assert!(changes.next().await, "a publication wakes the subscribers");
    let g2 = t.publish_module("other", "bb22", b"two!").await.unwrap();
    assert!(g2 > g1);
    assert!(changes.next().await);
    let (g, published) = t.published_modules().await.unwrap();
    assert_eq!(g, g2);
    assert_eq!(
        published,
        BTreeMap::from([
            ("fedora".to_owned(), "aa11".to_owned()),
            ("other".to_owned(), "bb22".to_owned())
        ])
    );
    assert_eq!(
        t.module_bytes("bb22", 1024).await.unwrap(),
        Some(Ok(b"two!".to_vec()))
    );
    assert_eq!(t.module_bytes("bb22", 3).await.unwrap(), Some(Err(4)));
    assert_eq!(t.module_bytes("cc33", 1024).await.unwrap(), None);

    assert!(t.unpublish_module("fedora").await.unwrap());
    assert!(changes.next().await, "a withdrawal wakes the subscribers");
    assert!(!t.unpublish_module("fedora").await.unwrap(), "once");
    let (g3, published) = t.published_modules().await.unwrap();
    assert!(g3 > g2);
    assert_eq!(published.keys().collect::<Vec<_>>(), ["other"]);
}

conformance!(module_store);
