//! What every [`FaceStore`] must do, written once and run against each backend: the SQLite unit tests and the
//! PostgreSQL integration test (`tests/postgres.rs`) call the same checks, so the two backends provably behave
//! the same. Not part of the API (compiled for tests and with feature `postgres` only).
//!
//! A check takes an [`Open`]: a function that opens the store under test for `dim`-dimensional embeddings, the
//! same store every time (same folder, same database), as a restart of the server would. Each check needs a
//! store of its own, empty at the first call. Checks panic (assert) on the first difference.

use std::collections::BTreeMap;

use crate::*;

/// Opens the store under test (the same one at every call) for embeddings of the given dimension.
pub type Open<'a> = dyn Fn(usize) -> Result<Box<dyn FaceStore>> + 'a;

/// A named check.
pub type Check = (&'static str, fn(&Open<'_>));

/// Every backend-independent check. [`deletions_leave_no_rows`] needs a look inside the backend and is separate.
pub const CHECKS: &[Check] = &[
    ("collections_persons_and_faces_round_trip_with_paging", round_trip_with_paging),
    ("search_sees_the_trained_snapshot_and_deletions_at_once", trained_snapshot_and_deletions),
    ("face_lists_need_no_training_and_large_ones_do", face_lists),
    ("a_training_cut_short_by_a_restart_is_reported_failed", training_cut_short),
    ("quotas_hold_even_under_concurrent_additions", quotas),
    ("search_is_exact_best_face_per_person", search_is_exact),
    ("paging_ordering_and_errors_match", paging_ordering_and_errors),
    ("face_ids_live_until_their_ttl_and_a_full_store_refuses", face_ids),
];

const LPG: Kind = Kind::LargePersonGroup;

/// Distinct, recognisable vectors: a one-hot-ish direction per seed.
pub fn e(seed: u32, dim: usize) -> Vec<f32> {
    (0..dim).map(|i| if i as u32 == seed % dim as u32 { 1.0 } else { 0.01 * ((seed + i as u32) % 7) as f32 }).collect()
}

/// `begin_training` then `run_training`, which must succeed.
pub fn train(s: &dyn FaceStore, kind: Kind, id: &str) {
    let op = s.begin_training(kind, id).unwrap();
    assert_eq!(op.status, Status::Running);
    s.run_training(kind, id, op.id).unwrap();
    let op = s.operation(op.id).unwrap();
    assert_eq!(op.status, Status::Succeeded);
    assert!(op.finished.is_some());
    let t = s.training(kind, id).unwrap();
    assert_eq!(t.status, Status::Succeeded);
    assert!(t.last_success.is_some());
}

fn ids(hits: &[(Uuid, f32)]) -> Vec<Uuid> {
    hits.iter().map(|h| h.0).collect()
}

/// Create, read, list (paged), update and delete collections, persons and faces.
pub fn round_trip_with_paging(open: &Open<'_>) {
    let s = open(8).unwrap();
    assert_eq!(s.dim(), 8);
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
    let listed = s.persons(LPG, "a", None, 10).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].persisted_face_ids.as_slice()), ("Ada L.", [f1, f2].as_slice()));
    assert!(matches!(
        s.add_face(LPG, "a", Some(p), &[1.0; 3], None),
        Err(StoreError::Dimension { expected: 8, got: 3 })
    ));
    assert!(matches!(s.add_face(LPG, "a", Some(Uuid::new_v4()), &e(1, 8), None), Err(StoreError::PersonNotFound(_))));
    s.delete_face(LPG, "a", Some(p), f2).unwrap();
    assert!(matches!(s.face(LPG, "a", Some(p), f2), Err(StoreError::FaceNotFound(_))));
    assert_eq!(s.person(LPG, "a", p).unwrap().persisted_face_ids, [f1]);
    s.delete_collection(LPG, "a").unwrap();
    assert!(matches!(s.person(LPG, "a", p), Err(StoreError::CollectionNotFound(..))));
    assert!(matches!(s.delete_collection(LPG, "a"), Err(StoreError::CollectionNotFound(..))));
    assert!(s.collection(Kind::LargeFaceList, "a").is_ok(), "the list of the same id is untouched");
}

/// Searches see the faces present at the last training, minus deletions (at once), also after a restart.
pub fn trained_snapshot_and_deletions(open: &Open<'_>) {
    let s = open(8).unwrap();
    s.create_collection(LPG, "g", "g", None, "recognition_04").unwrap();
    let ada = s.create_person(LPG, "g", "Ada", None).unwrap();
    let bob = s.create_person(LPG, "g", "Bob", None).unwrap();
    s.add_face(LPG, "g", Some(ada), &e(1, 8), None).unwrap();
    assert!(matches!(s.identify(LPG, "g", &e(1, 8), 5), Err(StoreError::NotTrained(..))));
    assert_eq!(s.training(LPG, "g").unwrap().status, Status::NotStarted);
    train(&*s, LPG, "g");
    // Bob's face arrives after training: not searchable until the next one.
    let bob_face = s.add_face(LPG, "g", Some(bob), &e(3, 8), None).unwrap();
    let hits = s.identify(LPG, "g", &e(3, 8), 5).unwrap();
    assert_eq!(ids(&hits), [ada]);
    // A training in progress keeps the previous snapshot searchable.
    let op = s.begin_training(LPG, "g").unwrap();
    assert_eq!(ids(&s.identify(LPG, "g", &e(3, 8), 5).unwrap()), [ada]);
    s.run_training(LPG, "g", op.id).unwrap();
    let hits = s.identify(LPG, "g", &e(3, 8), 5).unwrap();
    assert_eq!(ids(&hits), [bob, ada]);
    assert!((hits[0].1 - 1.0).abs() < 1e-6, "{hits:?}");
    assert!(hits[1].1 < hits[0].1);
    assert_eq!(ids(&s.identify(LPG, "g", &e(3, 8), 1).unwrap()), [bob], "k limits the answer");
    // Deleting Bob's face removes it from the trained snapshot immediately.
    s.delete_face(LPG, "g", Some(bob), bob_face).unwrap();
    assert_eq!(ids(&s.identify(LPG, "g", &e(3, 8), 5).unwrap()), [ada]);
    s.delete_person(LPG, "g", ada).unwrap();
    assert!(s.identify(LPG, "g", &e(1, 8), 5).unwrap().is_empty());
    // Reopened: the snapshot is rebuilt from the store, without the deleted faces.
    drop(s);
    let s = open(8).unwrap();
    assert!(s.identify(LPG, "g", &e(1, 8), 5).unwrap().is_empty());
    let carl = s.create_person(LPG, "g", "Carl", None).unwrap();
    s.add_face(LPG, "g", Some(carl), &e(5, 8), None).unwrap();
    assert!(s.identify(LPG, "g", &e(5, 8), 5).unwrap().is_empty(), "added after training");
    train(&*s, LPG, "g");
    assert_eq!(ids(&s.identify(LPG, "g", &e(5, 8), 5).unwrap()), [carl]);
    assert!(matches!(open(16), Err(StoreError::Dimension { expected: 8, got: 16 })));
    assert!(matches!(s.identify(LPG, "g", &e(5, 16), 5), Err(StoreError::Dimension { expected: 8, got: 16 })));
}

/// Face lists are searched as they are; large face lists need training like groups.
pub fn face_lists(open: &Open<'_>) {
    let s = open(8).unwrap();
    s.create_collection(Kind::FaceList, "fl", "fl", None, "recognition_04").unwrap();
    s.create_collection(Kind::LargeFaceList, "lfl", "lfl", None, "recognition_04").unwrap();
    let a = s.add_face(Kind::FaceList, "fl", None, &e(1, 8), None).unwrap();
    let b = s.add_face(Kind::FaceList, "fl", None, &e(2, 8), None).unwrap();
    let hits = s.find_similar(Kind::FaceList, "fl", &e(2, 8), 2).unwrap();
    assert_eq!(ids(&hits), [b, a]);
    s.delete_face(Kind::FaceList, "fl", None, b).unwrap();
    assert_eq!(ids(&s.find_similar(Kind::FaceList, "fl", &e(2, 8), 2).unwrap()), [a]);
    let c = s.add_face(Kind::LargeFaceList, "lfl", None, &e(4, 8), None).unwrap();
    assert!(matches!(s.find_similar(Kind::LargeFaceList, "lfl", &e(4, 8), 2), Err(StoreError::NotTrained(..))));
    let op = s.begin_training(Kind::LargeFaceList, "lfl").unwrap();
    assert!(matches!(s.begin_training(Kind::LargeFaceList, "lfl"), Err(StoreError::TrainingRunning(..))));
    assert!(matches!(s.find_similar(Kind::LargeFaceList, "lfl", &e(4, 8), 2), Err(StoreError::TrainingRunning(..))));
    assert_eq!(s.training(Kind::LargeFaceList, "lfl").unwrap().status, Status::Running);
    s.run_training(Kind::LargeFaceList, "lfl", op.id).unwrap();
    assert_eq!(ids(&s.find_similar(Kind::LargeFaceList, "lfl", &e(4, 8), 2).unwrap()), [c]);
    let d = s.add_face(Kind::LargeFaceList, "lfl", None, &e(4, 8), Some("twin")).unwrap();
    assert_eq!(ids(&s.find_similar(Kind::LargeFaceList, "lfl", &e(4, 8), 2).unwrap()), [c], "d is not trained yet");
    train(&*s, Kind::LargeFaceList, "lfl");
    let mut both = ids(&s.find_similar(Kind::LargeFaceList, "lfl", &e(4, 8), 2).unwrap());
    both.sort();
    let mut want = vec![c, d];
    want.sort();
    assert_eq!(both, want, "each face of a face list is its own answer");
    assert_eq!(s.faces(Kind::LargeFaceList, "lfl", None, 10).unwrap().len(), 2);
    assert_eq!(s.face_count(Kind::FaceList, "fl").unwrap(), 1);
    assert_eq!(s.face_count(Kind::LargeFaceList, "lfl").unwrap(), 2);
}

/// A training whose process stopped before it finished is failed at the next open, and can run again.
pub fn training_cut_short(open: &Open<'_>) {
    let s = open(8).unwrap();
    s.create_collection(LPG, "g", "g", None, "recognition_04").unwrap();
    let op = s.begin_training(LPG, "g").unwrap();
    drop(s); // the process "dies" before run_training
    let s = open(8).unwrap();
    let t = s.training(LPG, "g").unwrap();
    assert_eq!(t.status, Status::Failed);
    assert!(t.message.unwrap().contains("train again"));
    let op = s.operation(op.id).unwrap();
    assert_eq!(op.status, Status::Failed);
    assert!(op.message.unwrap().contains("train again"));
    assert!(op.finished.is_some());
    assert!(matches!(s.operation(Uuid::new_v4()), Err(StoreError::OperationNotFound(_))));
    assert!(matches!(s.identify(LPG, "g", &e(1, 8), 1), Err(StoreError::NotTrained(..))));
    train(&*s, LPG, "g"); // and it can be trained again
    assert!(s.identify(LPG, "g", &e(1, 8), 1).unwrap().is_empty());
}

/// Faces per person, faces per face list; the list's limit also holds when additions race.
pub fn quotas(open: &Open<'_>) {
    let s = open(2).unwrap();
    s.create_collection(LPG, "g", "g", None, "recognition_04").unwrap();
    let p = s.create_person(LPG, "g", "P", None).unwrap();
    for i in 0..MAX_FACES_PER_PERSON {
        s.add_face(LPG, "g", Some(p), &[1.0, i as f32], None).unwrap();
    }
    assert!(matches!(s.add_face(LPG, "g", Some(p), &[1.0, 0.0], None), Err(StoreError::Quota(_))));
    assert_eq!(s.person(LPG, "g", p).unwrap().persisted_face_ids.len(), MAX_FACES_PER_PERSON as usize);
    // Another person of the same group is not limited by the first one's faces.
    let q = s.create_person(LPG, "g", "Q", None).unwrap();
    s.add_face(LPG, "g", Some(q), &[0.0, 1.0], None).unwrap();

    let s: &dyn FaceStore = &*s;
    s.create_collection(Kind::FaceList, "fl", "fl", None, "recognition_04").unwrap();
    for i in 0..995 {
        s.add_face(Kind::FaceList, "fl", None, &[1.0, i as f32], None).unwrap();
    }
    let (added, refused) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|t| {
                scope.spawn(move || {
                    (0..3)
                        .map(|i| match s.add_face(Kind::FaceList, "fl", None, &[t as f32, i as f32], None) {
                            Ok(_) => (1, 0),
                            Err(StoreError::Quota(m)) => {
                                assert!(m.contains("1000"), "{m}");
                                (0, 1)
                            }
                            Err(e) => panic!("unexpected error: {e}"),
                        })
                        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    });
    assert_eq!((added, refused), (5, 7), "12 racing additions to a list of 995 faces: 5 fit, 7 are refused");
    assert_eq!(s.face_count(Kind::FaceList, "fl").unwrap(), 1000);
}

/// A small deterministic generator (no dependency): values in [-0.5, 0.5).
fn lcg(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    ((*seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
}

/// The best `k` owners by their closest vector, computed plainly.
fn brute(rows: &[(Uuid, Vec<f32>)], q: &[f32], k: usize) -> Vec<(Uuid, f32)> {
    let q = normalized(q);
    let mut best: BTreeMap<Uuid, f32> = BTreeMap::new();
    for (o, v) in rows {
        let s = dot(&normalized(v), &q);
        let e = best.entry(*o).or_insert(f32::NEG_INFINITY);
        *e = e.max(s);
    }
    let mut v: Vec<_> = best.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.truncate(k);
    v
}

fn assert_same(got: &[(Uuid, f32)], want: &[(Uuid, f32)]) {
    assert_eq!(got.len(), want.len(), "{} hits instead of {}", got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.0, w.0, "hit {i}: {g:?} instead of {w:?}");
        assert!((g.1 - w.1).abs() < 1e-5, "hit {i}: score {} instead of {}", g.1, w.1);
    }
}

/// Identify and find-similar return exactly what a plain scan does: each person's best face, best first; a
/// zero vector scores 0; deletions are reflected at once.
pub fn search_is_exact(open: &Open<'_>) {
    let dim = 20; // not a multiple of 8
    let s = open(dim).unwrap();
    let mut seed = 7;
    s.create_collection(LPG, "g", "g", None, "recognition_04").unwrap();
    let mut rows: Vec<(Uuid, Vec<f32>)> = Vec::new();
    for i in 0..120 {
        let p = s.create_person(LPG, "g", &format!("p{i}"), None).unwrap();
        for _ in 0..(1 + i % 3) {
            let v: Vec<f32> = (0..dim).map(|_| lcg(&mut seed) * (1.0 + (i % 5) as f32)).collect();
            s.add_face(LPG, "g", Some(p), &v, None).unwrap();
            rows.push((p, v));
        }
    }
    // A face that must not count: added after the training.
    let late = s.create_person(LPG, "g", "late", None).unwrap();
    train(&*s, LPG, "g");
    s.add_face(LPG, "g", Some(late), &rows[0].1, None).unwrap();
    for _ in 0..5 {
        let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed)).collect();
        assert_same(&s.identify(LPG, "g", &q, 10).unwrap(), &brute(&rows, &q, 10));
    }
    let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed)).collect();
    assert_same(&s.identify(LPG, "g", &q, 1000).unwrap(), &brute(&rows, &q, 1000));
    assert_eq!(s.identify(LPG, "g", &q, 1000).unwrap().len(), 120, "every trained person once");
    assert!(s.identify(LPG, "g", &q, 0).unwrap().is_empty());
    // Delete the best person: gone from the next answer.
    let top = s.identify(LPG, "g", &q, 1).unwrap()[0].0;
    s.delete_person(LPG, "g", top).unwrap();
    rows.retain(|r| r.0 != top);
    assert_same(&s.identify(LPG, "g", &q, 5).unwrap(), &brute(&rows, &q, 5));
    // Embeddings come back as they were given (not normalised), oldest first.
    let p = rows[0].0;
    let mine: Vec<Vec<f32>> = rows.iter().filter(|r| r.0 == p).map(|r| r.1.clone()).collect();
    assert_eq!(s.person_embeddings(LPG, "g", p).unwrap(), mine);

    s.create_collection(Kind::FaceList, "fl", "fl", None, "recognition_04").unwrap();
    let mut faces: Vec<(Uuid, Vec<f32>)> = Vec::new();
    for i in 0..60 {
        let v: Vec<f32> = if i == 30 { vec![0.0; dim] } else { (0..dim).map(|_| lcg(&mut seed)).collect() };
        faces.push((s.add_face(Kind::FaceList, "fl", None, &v, None).unwrap(), v));
    }
    let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed)).collect();
    let all = s.find_similar(Kind::FaceList, "fl", &q, 100).unwrap();
    assert_same(&all, &brute(&faces, &q, 100));
    let zero = all.iter().find(|h| h.0 == faces[30].0).expect("the zero vector is listed");
    assert_eq!(zero.1, 0.0, "a zero vector is orthogonal to everything");
    let at_zero = s.find_similar(Kind::FaceList, "fl", &vec![0.0; dim], 3).unwrap();
    assert!(at_zero.len() == 3 && at_zero.iter().all(|h| h.1 == 0.0), "a zero query scores 0: {at_zero:?}");
}

/// Paging by id (exclusive start, byte order), `top` limits, and which error each missing thing gives.
pub fn paging_ordering_and_errors(open: &Open<'_>) {
    let s = open(4).unwrap();
    // Ids sort by their bytes ('-' < '0' < '_' < 'a'), whatever the database's locale.
    let names = ["b", "a_b", "a-b", "ab", "a", "a0", "_x", "-y", "z-9"];
    for id in names {
        s.create_collection(Kind::PersonGroup, id, id, None, "recognition_04").unwrap();
    }
    let mut want: Vec<&str> = names.to_vec();
    want.sort();
    let got: Vec<String> =
        s.collections(Kind::PersonGroup, None, usize::MAX).unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(got, want);
    let mut paged = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let page = s.collections(Kind::PersonGroup, start.as_deref(), 2).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        start = page.last().map(|c| c.id.clone());
        paged.extend(page.into_iter().map(|c| c.id));
    }
    assert_eq!(paged, want);
    assert!(s.collections(Kind::FaceList, None, 10).unwrap().is_empty(), "other kinds are apart");

    let g = "a";
    let mut people: Vec<Uuid> =
        (0..7).map(|i| s.create_person(Kind::PersonGroup, g, &format!("n{i}"), None).unwrap()).collect();
    people.sort_by_key(|p| p.to_string());
    let listed: Vec<Uuid> =
        s.persons(Kind::PersonGroup, g, None, usize::MAX).unwrap().iter().map(|p| p.person_id).collect();
    assert_eq!(listed, people);
    let after: Vec<Uuid> =
        s.persons(Kind::PersonGroup, g, Some(&people[2].to_string()), 3).unwrap().iter().map(|p| p.person_id).collect();
    assert_eq!(after, people[3..6]);
    let f = s.add_face(Kind::PersonGroup, g, Some(people[0]), &[0.5, -1.0, 2.0, 0.25], Some("x")).unwrap();
    let persons = s.persons(Kind::PersonGroup, g, None, 2).unwrap();
    assert_eq!(persons[0].persisted_face_ids, [f]);
    assert!(persons[1].persisted_face_ids.is_empty());

    s.create_collection(Kind::LargeFaceList, "l", "l", None, "recognition_04").unwrap();
    let mut faces: Vec<Uuid> =
        (0..5).map(|i| s.add_face(Kind::LargeFaceList, "l", None, &[1.0, i as f32, 0.0, 0.0], None).unwrap()).collect();
    faces.sort_by_key(|f| f.to_string());
    let listed: Vec<Uuid> = s
        .faces(Kind::LargeFaceList, "l", Some(&faces[0].to_string()), 10)
        .unwrap()
        .iter()
        .map(|f| f.persisted_face_id)
        .collect();
    assert_eq!(listed, faces[1..]);

    let nobody = Uuid::new_v4();
    let pg = Kind::PersonGroup;
    assert!(matches!(s.update_collection(pg, "nope", Some("n"), None), Err(StoreError::CollectionNotFound(..))));
    assert!(matches!(s.create_person(pg, "nope", "n", None), Err(StoreError::CollectionNotFound(..))));
    assert!(matches!(s.persons(pg, "nope", None, 1), Err(StoreError::CollectionNotFound(..))));
    assert!(
        matches!(s.update_person(pg, g, nobody, Some("n"), None), Err(StoreError::PersonNotFound(p)) if p == nobody)
    );
    assert!(matches!(s.delete_person(pg, g, nobody), Err(StoreError::PersonNotFound(_))));
    assert!(matches!(s.person_embeddings(pg, g, nobody), Err(StoreError::PersonNotFound(_))));
    assert!(matches!(s.add_face(pg, g, None, &[1.0; 4], None), Err(StoreError::PersonNotFound(p)) if p.is_nil()));
    // A face asked for under the wrong person, or in the wrong group, is not found.
    assert!(matches!(s.face(pg, g, Some(people[1]), f), Err(StoreError::FaceNotFound(x)) if x == f));
    assert!(matches!(s.face(pg, g, Some(nobody), f), Err(StoreError::PersonNotFound(_))));
    assert!(matches!(s.delete_face(pg, "b", None, f), Err(StoreError::FaceNotFound(_))));
    assert!(matches!(s.update_face(pg, g, Some(people[1]), f, Some("y")), Err(StoreError::FaceNotFound(_))));
    assert_eq!(s.face(pg, g, Some(people[0]), f).unwrap().user_data.as_deref(), Some("x"));
    assert!(matches!(s.face_count(pg, "nope"), Err(StoreError::CollectionNotFound(..))));
    assert!(matches!(s.training(pg, "nope"), Err(StoreError::CollectionNotFound(..))));
    assert!(matches!(s.begin_training(pg, "nope"), Err(StoreError::CollectionNotFound(..))));
    assert!(matches!(s.identify(pg, "nope", &[1.0; 4], 1), Err(StoreError::CollectionNotFound(..))));
    assert!(matches!(s.identify(pg, g, &[1.0; 4], 1), Err(StoreError::NotTrained(..))));
    // A training whose collection went away fails, and says so in its operation.
    let op = s.begin_training(pg, "b").unwrap();
    s.delete_collection(pg, "b").unwrap();
    assert!(matches!(s.run_training(pg, "b", op.id), Err(StoreError::CollectionNotFound(..))));
    let op = s.operation(op.id).unwrap();
    assert_eq!(op.status, Status::Failed);
    assert!(op.message.unwrap().contains("not found"));
    // User data: set, kept when not given, replaced.
    s.update_collection(pg, g, Some("renamed"), None).unwrap();
    s.update_collection(pg, g, None, Some("ud")).unwrap();
    let c = s.collection(pg, g).unwrap();
    assert_eq!((c.name.as_str(), c.user_data.as_deref()), ("renamed", Some("ud")));
}

/// After a person, a face or a whole group is deleted, nothing of theirs is left in the backend:
/// `remnants(marker, texts)` counts what the backend still holds (rows, or bytes in its files) of the embedding
/// `marker` or of any of `texts`.
pub fn deletions_leave_no_rows(open: &Open<'_>, remnants: &dyn Fn(&[f32], &[&str]) -> usize) {
    let s = open(128).unwrap();
    // A recognisable embedding that appears nowhere else.
    let marker: Vec<f32> = (0..128).map(|i| 1000.0 + i as f32 * 0.123_457).collect();
    let texts = ["Private Person", "secret note", "face note"];
    s.create_collection(LPG, "g", "g", None, "recognition_04").unwrap();
    s.create_collection(Kind::LargeFaceList, "l", "l", None, "recognition_04").unwrap();
    let p = s.create_person(LPG, "g", "Private Person", Some("secret note")).unwrap();
    s.add_face(LPG, "g", Some(p), &marker, Some("face note")).unwrap();
    let f = s.add_face(Kind::LargeFaceList, "l", None, &marker, None).unwrap();
    train(&*s, LPG, "g");
    assert!(remnants(&marker, &texts) > 0, "the probe sees what is stored");
    s.delete_person(LPG, "g", p).unwrap();
    s.delete_face(Kind::LargeFaceList, "l", None, f).unwrap();
    assert_eq!(remnants(&marker, &texts), 0, "a deleted person or face left something behind");
    // Deleting a whole group does the same.
    let q = s.create_person(LPG, "g", "Private Person", None).unwrap();
    s.add_face(LPG, "g", Some(q), &marker, None).unwrap();
    assert!(remnants(&marker, &texts) > 0);
    s.delete_collection(LPG, "g").unwrap();
    assert_eq!(remnants(&marker, &texts), 0, "a deleted group left something behind");
}

/// detect's faceIds ([`FaceStore::face_ids`]): kept with their model until their time to live, then gone and swept;
/// never dropped before it: when `max` live ones are held, more are refused (all or none) with the time until enough
/// expire.
pub fn face_ids(open: &Open<'_>) {
    use std::time::Duration;
    let s = open(4).unwrap();
    let ids = s.face_ids();
    let full = |r: Result<Vec<Uuid>>| match r {
        Err(StoreError::FaceIdsFull { retry_after, held }) => (retry_after, held),
        other => panic!("expected FaceIdsFull, got {other:?}"),
    };
    let a = ids.insert(&[e(1, 4)], "recognition_04", Duration::from_secs(60), 2).unwrap()[0];
    let got = ids.get(&[a, Uuid::new_v4(), a]).unwrap();
    let face = got[0].as_ref().expect("a live faceId");
    assert_eq!((face.embedding.as_slice(), face.recognition_model.as_str()), (e(1, 4).as_slice(), "recognition_04"));
    assert_eq!((got[1].is_none(), got[2].as_ref()), (true, Some(face)), "unknown: none; the same id twice: twice");
    assert!(ids.get(&[]).unwrap().is_empty());
    // A short-lived one expires (by the store's clock) and makes room.
    let gone = ids.insert(&[e(2, 4)], "recognition_01", Duration::from_millis(300), 2).unwrap()[0];
    assert!(ids.get(&[gone]).unwrap()[0].is_some());
    std::thread::sleep(Duration::from_millis(700));
    assert!(ids.get(&[gone]).unwrap()[0].is_none(), "expired");
    let b = ids.insert(&[e(3, 4)], "recognition_04", Duration::from_secs(120), 2).unwrap()[0];
    assert_eq!(ids.held().unwrap(), 2, "the expired one was swept to make room");
    // Full: nothing live is dropped; the answer says when the soonest expiry frees a place.
    let (retry, held) = full(ids.insert(&[e(4, 4)], "recognition_04", Duration::from_secs(180), 2));
    assert_eq!(held, 2);
    assert!(retry > Duration::from_secs(55) && retry <= Duration::from_secs(60), "{retry:?}");
    assert!(matches!(ids.room(1, 2), Err(StoreError::FaceIdsFull { .. })));
    ids.room(1, 3).unwrap();
    assert!(ids.get(&[a, b]).unwrap().iter().all(Option::is_some), "unexpired ids are kept");
    // Two more wait for the second expiry; all or none is inserted.
    let (retry, _) = full(ids.insert(&[e(5, 4), e(6, 4)], "recognition_04", Duration::from_secs(60), 2));
    assert!(retry > Duration::from_secs(115) && retry <= Duration::from_secs(120), "{retry:?}");
    assert_eq!(ids.held().unwrap(), 2);
    let (retry, _) = full(ids.insert(&vec![e(0, 4); 5], "recognition_04", Duration::from_secs(60), 2));
    assert!(retry >= Duration::from_secs(1));
    // Several at once, all or none, under a larger bound.
    let many = ids.insert(&[e(7, 4), e(8, 4), e(9, 4)], "recognition_03", Duration::from_millis(300), 10).unwrap();
    assert_eq!(many.len(), 3);
    assert_eq!(ids.held().unwrap(), 5);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(ids.sweep().unwrap(), 3, "the expired ones are swept");
    assert_eq!(ids.held().unwrap(), 2);
    assert_eq!(ids.sweep().unwrap(), 0);
    assert!(ids.get(&many).unwrap().iter().all(Option::is_none));
    assert!(ids.get(&[a, b]).unwrap().iter().all(Option::is_some));
}
