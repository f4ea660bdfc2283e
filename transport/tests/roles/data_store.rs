//! [`DataStore`](fmn_transport::DataStore): the shared data, imported, changed and versioned.

use fmn_transport::DataStore;

/// Shared data: an import replaces relations whole, changes edit one key, and every step
/// moves the version on.
async fn shared_data<T: DataStore>(t: &T) {
    use fmn_core::data::{COMMITTERS, Change, GROUPS, Relations};
    assert_eq!(t.data_version().await.unwrap(), 0);
    let mut data = Relations::new();
    data.add(
        COMMITTERS,
        "nethack",
        ["ralph".to_owned(), "bob".to_owned()],
    );
    data.add(COMMITTERS, "vim", ["carol".to_owned()]);
    data.add(GROUPS, "ralph", ["packager".to_owned()]);
    let v1 = t.import_data(&data).await.unwrap();
    assert!(v1 > 0);
    let (v, loaded) = t.load_data().await.unwrap();
    assert_eq!(v, v1);
    assert_eq!(loaded, data);

    let v2 = t
        .apply_data(&[
            Change {
                relation: COMMITTERS.into(),
                key: "nethack".into(),
                add: vec!["dave".into()],
                remove: vec!["bob".into()],
            },
            Change {
                relation: COMMITTERS.into(),
                key: "vim".into(),
                add: vec![],
                remove: vec!["carol".into()],
            },
        ])
        .await
        .unwrap();
    assert!(v2 > v1);
    let (_, loaded) = t.load_data().await.unwrap();
    assert_eq!(loaded.get(COMMITTERS, "nethack"), ["dave", "ralph"]);
    assert!(loaded.get(COMMITTERS, "vim").is_empty());
    assert_eq!(loaded.get(GROUPS, "ralph"), ["packager"]);

    // A new import of one relation replaces it and leaves the others alone.
    let mut committers = Relations::new();
    committers.add(COMMITTERS, "emacs", ["erin".to_owned()]);
    let v3 = t.import_data(&committers).await.unwrap();
    assert!(v3 > v2);
    let (_, loaded) = t.load_data().await.unwrap();
    assert!(loaded.get(COMMITTERS, "nethack").is_empty());
    assert_eq!(loaded.get(COMMITTERS, "emacs"), ["erin"]);
    assert_eq!(loaded.get(GROUPS, "ralph"), ["packager"]);
}

conformance!(shared_data);
