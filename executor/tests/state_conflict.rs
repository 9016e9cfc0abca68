//! Conditional state writes against the local store (issue #10): a pod never overwrites an
//! archive another writer put in place since it read it (see `common::conflict_scenario`).

mod common;

use std::path::Path;

use the0_executor::config::Config;
use the0_objstore::Store;

/// Two pods of bot `b1` sharing one object directory: `seed` and `pod`.
fn pods(root: &Path) -> (Store, Config, Config) {
    let objects = root.join("objects").display().to_string();
    let cfg = |name: &str| common::local_config(&root.join(name), &[("THE0_STORAGE_DIR", objects.as_str())]);
    (Store::local(root.join("objects")), cfg("seed"), cfg("pod"))
}

#[tokio::test]
async fn a_restored_archive_replaced_by_another_writer_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (store, seed, pod) = pods(dir.path());
    common::conflict_scenario(&store, &seed, &pod, false).await;
}

#[tokio::test]
async fn an_archive_created_by_another_writer_after_a_first_run_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (store, seed, pod) = pods(dir.path());
    common::conflict_scenario(&store, &seed, &pod, true).await;
}

/// The D8 delete of an emptied state is conditional too: the other writer's archive stays.
#[tokio::test]
async fn an_emptied_state_does_not_delete_another_writers_archive() {
    use the0_executor::state::{restore_with, RetryPolicy, StateSyncOutcome, StateSyncer};
    let dir = tempfile::tempdir().unwrap();
    let (store, seed, pod) = pods(dir.path());
    std::fs::create_dir_all(&seed.state_path).unwrap();
    std::fs::write(seed.state_path.join("k"), b"v").unwrap();
    let mut s = StateSyncer::new(&seed, None);
    assert!(matches!(s.sync(&store).await.unwrap(), StateSyncOutcome::Uploaded { .. }));
    restore_with(&store, &pod, &RetryPolicy { delays: vec![] }).await.unwrap();
    let mut s = StateSyncer::new(&pod, Some(the0_executor::state::Manifest::scan(&pod.state_path).unwrap()));
    let other = bytes::Bytes::from_static(b"another writer");
    store.put_bytes("bot-state", "b1/state.tar.gz", other.clone(), "").await.unwrap();
    std::fs::remove_file(pod.state_path.join("k")).unwrap();
    let outcome = s.sync(&store).await.unwrap();
    assert!(matches!(outcome, StateSyncOutcome::NotSaved { .. }), "{outcome:?}");
    let mut obj = store.get("bot-state", "b1/state.tar.gz").await.unwrap().expect("kept");
    let mut v = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut obj.body, &mut v).await.unwrap();
    assert_eq!(v, other);
}
