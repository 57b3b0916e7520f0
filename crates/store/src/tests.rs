use super::sqlite::to_blob;
use super::*;
use rusqlite::Connection;

const LPG: Kind = Kind::LargePersonGroup;

fn e(seed: u32, dim: usize) -> Vec<f32> {
    // Distinct, recognisable vectors: a one-hot-ish direction per seed.
    (0..dim).map(|i| if i as u32 == seed % dim as u32 { 1.0 } else { 0.01 * ((seed + i as u32) % 7) as f32 }).collect()
}

fn train(s: &SqliteStore, kind: Kind, id: &str) {
    let op = s.begin_training(kind, id).unwrap();
    s.run_training(kind, id, op.id).unwrap();
    assert_eq!(s.operation(op.id).unwrap().status, Status::Succeeded);
}

#[test]
fn collections_persons_and_faces_round_trip_with_paging() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path(), 8).unwrap();
    for id in ["c", "a", "b"] {
        s.create_collection(LPG, id, &format!("group {id}"), Some("u"), "recognition_04").unwrap();
    }
    assert!(matches!(
        s.create_collection(LPG, "a", "again", None, "recognition_04"),
        Err(StoreError::CollectionExists(..))
    ));
    // Same id, other kind: a separate namespace.
    s.create_collection(Kind::LargeFaceList, "a", "list", None, "recognition_01").unwrap();
    let ids: Vec<_> = s.collections(LPG, None, 1000).unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let ids: Vec<_> = s.collections(LPG, Some("a"), 1).unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids, ["b"]);
    s.update_collection(LPG, "a", None, Some("new data")).unwrap();
    let a = s.collection(LPG, "a").unwrap();
    assert_eq!(
        (a.name.as_str(), a.user_data.as_deref(), a.recognition_model.as_str()),
        ("group a", Some("new data"), "recognition_04")
    );
    assert!(matches!(s.collection(LPG, "zz"), Err(StoreError::CollectionNotFound(LPG, _))));

    let p = s.create_person(LPG, "a", "Ada", None).unwrap();
    let f1 = s.add_face(LPG, "a", Some(p), &e(1, 8), Some("left")).unwrap();
    let f2 = s.add_face(LPG, "a", Some(p), &e(2, 8), None).unwrap();
    assert_eq!(s.person(LPG, "a", p).unwrap().persisted_face_ids, [f1, f2]);
    assert!(matches!(s.person(LPG, "b", p), Err(StoreError::PersonNotFound(_))), "a person belongs to one group");
    assert_eq!(s.face(LPG, "a", Some(p), f1).unwrap().user_data.as_deref(), Some("left"));
    s.update_face(LPG, "a", Some(p), f1, Some("right")).unwrap();
    assert_eq!(s.face(LPG, "a", Some(p), f1).unwrap().user_data.as_deref(), Some("right"));
    s.update_person(LPG, "a", p, Some("Ada L."), None).unwrap();
    assert_eq!(s.persons(LPG, "a", None, 10).unwrap()[0].name, "Ada L.");
    assert!(matches!(
        s.add_face(LPG, "a", Some(p), &[1.0; 3], None),
        Err(StoreError::Dimension { expected: 8, got: 3 })
    ));
    assert!(matches!(s.add_face(LPG, "a", Some(Uuid::new_v4()), &e(1, 8), None), Err(StoreError::PersonNotFound(_))));
    s.delete_face(LPG, "a", Some(p), f2).unwrap();
    assert!(matches!(s.face(LPG, "a", Some(p), f2), Err(StoreError::FaceNotFound(_))));
    s.delete_collection(LPG, "a").unwrap();
    assert!(matches!(s.person(LPG, "a", p), Err(StoreError::CollectionNotFound(..))));
    assert!(s.collection(Kind::LargeFaceList, "a").is_ok(), "the list of the same id is untouched");
}

#[test]
fn search_sees_the_trained_snapshot_and_deletions_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path(), 8).unwrap();
    s.create_collection(LPG, "g", "g", None, "recognition_04").unwrap();
    let ada = s.create_person(LPG, "g", "Ada", None).unwrap();
    let bob = s.create_person(LPG, "g", "Bob", None).unwrap();
    s.add_face(LPG, "g", Some(ada), &e(1, 8), None).unwrap();
    assert!(matches!(s.identify(LPG, "g", &e(1, 8), 5), Err(StoreError::NotTrained(..))));
    train(&s, LPG, "g");
    assert_eq!(s.training(LPG, "g").unwrap().status, Status::Succeeded);
    // Bob's face arrives after training: not searchable until the next one.
    let bob_face = s.add_face(LPG, "g", Some(bob), &e(3, 8), None).unwrap();
    let hits = s.identify(LPG, "g", &e(3, 8), 5).unwrap();
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [ada]);
    train(&s, LPG, "g");
    let hits = s.identify(LPG, "g", &e(3, 8), 5).unwrap();
    assert_eq!(hits[0].0, bob);
    assert!((hits[0].1 - 1.0).abs() < 1e-6);
    // Deleting Bob's face removes it from the trained snapshot immediately.
    s.delete_face(LPG, "g", Some(bob), bob_face).unwrap();
    assert_eq!(s.identify(LPG, "g", &e(3, 8), 5).unwrap().iter().map(|h| h.0).collect::<Vec<_>>(), [ada]);
    s.delete_person(LPG, "g", ada).unwrap();
    assert!(s.identify(LPG, "g", &e(1, 8), 5).unwrap().is_empty());
    // Reopened: the snapshot is rebuilt from the store, without the deleted faces.
    drop(s);
    let s = SqliteStore::open(dir.path(), 8).unwrap();
    assert!(s.identify(LPG, "g", &e(1, 8), 5).unwrap().is_empty());
    let carl = s.create_person(LPG, "g", "Carl", None).unwrap();
    s.add_face(LPG, "g", Some(carl), &e(5, 8), None).unwrap();
    assert!(s.identify(LPG, "g", &e(5, 8), 5).unwrap().is_empty(), "added after training");
    assert!(matches!(SqliteStore::open(dir.path(), 16), Err(StoreError::Dimension { expected: 8, got: 16 })));
}

#[test]
fn face_lists_need_no_training_and_large_ones_do() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path(), 8).unwrap();
    s.create_collection(Kind::FaceList, "fl", "fl", None, "recognition_04").unwrap();
    s.create_collection(Kind::LargeFaceList, "lfl", "lfl", None, "recognition_04").unwrap();
    let a = s.add_face(Kind::FaceList, "fl", None, &e(1, 8), None).unwrap();
    let b = s.add_face(Kind::FaceList, "fl", None, &e(2, 8), None).unwrap();
    let hits = s.find_similar(Kind::FaceList, "fl", &e(2, 8), 2).unwrap();
    assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), [b, a]);
    let c = s.add_face(Kind::LargeFaceList, "lfl", None, &e(4, 8), None).unwrap();
    assert!(matches!(s.find_similar(Kind::LargeFaceList, "lfl", &e(4, 8), 2), Err(StoreError::NotTrained(..))));
    let op = s.begin_training(Kind::LargeFaceList, "lfl").unwrap();
    assert!(matches!(s.begin_training(Kind::LargeFaceList, "lfl"), Err(StoreError::TrainingRunning(..))));
    assert!(matches!(s.find_similar(Kind::LargeFaceList, "lfl", &e(4, 8), 2), Err(StoreError::TrainingRunning(..))));
    assert_eq!(s.training(Kind::LargeFaceList, "lfl").unwrap().status, Status::Running);
    s.run_training(Kind::LargeFaceList, "lfl", op.id).unwrap();
    assert_eq!(s.find_similar(Kind::LargeFaceList, "lfl", &e(4, 8), 2).unwrap()[0].0, c);
    assert_eq!(s.faces(Kind::LargeFaceList, "lfl", None, 10).unwrap().len(), 1);
    assert_eq!(s.face_count(Kind::FaceList, "fl").unwrap(), 2);
}

#[test]
fn a_training_cut_short_by_a_restart_is_reported_failed() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path(), 8).unwrap();
    s.create_collection(LPG, "g", "g", None, "recognition_04").unwrap();
    let op = s.begin_training(LPG, "g").unwrap();
    drop(s); // the process "dies" before run_training
    let s = SqliteStore::open(dir.path(), 8).unwrap();
    let t = s.training(LPG, "g").unwrap();
    assert_eq!(t.status, Status::Failed);
    assert!(t.message.unwrap().contains("train again"));
    assert_eq!(s.operation(op.id).unwrap().status, Status::Failed);
    assert!(matches!(s.operation(Uuid::new_v4()), Err(StoreError::OperationNotFound(_))));
    train(&s, LPG, "g"); // and it can be trained again
}

#[test]
fn deleted_embeddings_leave_no_trace_in_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path(), 128).unwrap();
    // A recognisable embedding: 512 bytes that appear nowhere else.
    let marker: Vec<f32> = (0..128).map(|i| 1000.0 + i as f32 * 0.123_457).collect();
    let blob = to_blob(&marker);
    let contains = |needle: &[u8]| {
        std::fs::read_dir(dir.path()).unwrap().any(|f| {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
    };
    s.create_collection(LPG, "g", "g", None, "recognition_04").unwrap();
    s.create_collection(Kind::LargeFaceList, "l", "l", None, "recognition_04").unwrap();
    let p = s.create_person(LPG, "g", "Private Person", Some("secret note")).unwrap();
    s.add_face(LPG, "g", Some(p), &marker, Some("face note")).unwrap();
    let f = s.add_face(Kind::LargeFaceList, "l", None, &marker, None).unwrap();
    train(&s, LPG, "g");
    assert!(contains(&blob[..64]), "the test can see an embedding in the files");
    s.delete_person(LPG, "g", p).unwrap();
    s.delete_face(Kind::LargeFaceList, "l", None, f).unwrap();
    for needle in [&blob[..16], &blob[200..216], b"Private Person".as_slice(), b"secret note", b"face note"] {
        assert!(!contains(needle), "{:?} is still in the store files after deletion", String::from_utf8_lossy(needle));
    }
    // Deleting a whole group does the same.
    let q = s.create_person(LPG, "g", "Other", None).unwrap();
    s.add_face(LPG, "g", Some(q), &marker, None).unwrap();
    assert!(contains(&blob[..16]));
    s.delete_collection(LPG, "g").unwrap();
    assert!(!contains(&blob[..16]));
    let c = Connection::open(dir.path().join("store.sqlite3")).unwrap();
    let n: i64 = c.query_row("SELECT count(*) FROM faces", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn quotas_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path(), 2).unwrap();
    s.create_collection(LPG, "g", "g", None, "recognition_04").unwrap();
    let p = s.create_person(LPG, "g", "P", None).unwrap();
    for i in 0..MAX_FACES_PER_PERSON {
        s.add_face(LPG, "g", Some(p), &[1.0, i as f32], None).unwrap();
    }
    assert!(matches!(s.add_face(LPG, "g", Some(p), &[1.0, 0.0], None), Err(StoreError::Quota(_))));
}

#[test]
fn timestamps_are_rfc3339() {
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339(UNIX_EPOCH + std::time::Duration::from_millis(1_709_251_199_999)), "2024-02-29T23:59:59.999Z");
    assert_eq!(rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)), "2000-02-29T00:00:00.000Z");
}
