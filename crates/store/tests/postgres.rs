//! `PgStore` against a real PostgreSQL with pgvector: every check of `issc_store::conformance` (the same ones the
//! SQLite store passes), the privacy check (no rows left after deletions), and what only a server has: secrets
//! kept out of messages, two processes sharing one database, reconnection after the server drops a connection,
//! small collections searched exactly, large ones through an HNSW index of their own with exact re-scoring.
//!
//! The server: `ISSC_TEST_POSTGRES_URL` (a `postgresql://…/db` URL of a role that may create databases; pgvector
//! installed), or else a throwaway one started from the `pgserver` wheel (PostgreSQL 16 + pgvector) with the Python
//! of `ISSC_PG_PYTHON` or `target/pg-venv`:
//!
//! ```text
//! python3 -m venv target/pg-venv && target/pg-venv/bin/pip install pgserver
//! cargo test --release -p issc-store --features postgres -- --nocapture
//! ```
//!
//! Without either the test prints `SKIPPED: …` and passes, unless `ISSC_REQUIRE_POSTGRES=1` (CI), where it fails.
#![cfg(feature = "postgres")]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

mod pgserver;

use issc_store::{FaceStore, Kind, PgAnnIndex, PgStore, Result, StoreError, conformance};
use pgserver::{Server, with_db};
use postgres::{Client, NoTls};

/// Fresh databases, one per check, dropped afterwards.
struct Databases<'a> {
    server: &'a Server,
    admin: Client,
    made: usize,
}

impl Databases<'_> {
    fn create(&mut self) -> (String, String) {
        self.made += 1;
        let name = format!("issc_store_test_{}_{}", std::process::id(), self.made);
        self.admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        self.admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        (name.clone(), with_db(&self.server.uri, &name))
    }

    fn drop_db(&mut self, name: &str) {
        if let Err(e) = self.admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")) {
            eprintln!("could not drop test database {name}: {e}");
        }
    }
}

fn opener(url: &str) -> impl Fn(usize) -> Result<Box<dyn FaceStore>> + '_ {
    move |dim| PgStore::connect(url, dim).map(|s| Box::new(s) as Box<dyn FaceStore>)
}

/// Rows of the store's tables that still hold `marker` or one of `texts` (anywhere in the row).
fn remnants(url: &str, marker: &[f32], texts: &[&str]) -> usize {
    let mut c = Client::connect(url, NoTls).unwrap();
    let mut n: i64 = c
        .query_one("SELECT count(*) FROM issc_faces WHERE embedding = $1::real[]::vector", &[&marker.to_vec()])
        .unwrap()
        .get(0);
    for t in texts {
        let like = format!("%{t}%");
        n += c
            .query_one(
                "SELECT (SELECT count(*) FROM issc_faces t WHERE t::text LIKE $1)
                      + (SELECT count(*) FROM issc_persons t WHERE t::text LIKE $1)
                      + (SELECT count(*) FROM issc_collections t WHERE t::text LIKE $1)
                      + (SELECT count(*) FROM issc_operations t WHERE t::text LIKE $1)",
                &[&like],
            )
            .unwrap()
            .get::<_, i64>(0);
    }
    n as usize
}

/// Messages and Debug output never show the password of the connection string.
fn secrets_stay_out_of_messages(url: &str) {
    let secret = "hunter2-not-for-logs";
    let e = PgStore::connect(&format!("postgresql://ada:{secret}@127.0.0.1:1/faces?connect_timeout=2"), 8).unwrap_err();
    let (shown, debug) = (e.to_string(), format!("{e:?}"));
    assert!(matches!(e, StoreError::Db { .. }), "{e:?}");
    assert!(!shown.contains(secret) && !debug.contains(secret), "{shown} / {debug}");
    assert!(shown.contains("ada:***@127.0.0.1:1"), "{shown}");
    let e = PgStore::connect(&format!("host=127.0.0.1 port=1 user=ada password={secret} connect_timeout=2"), 8)
        .unwrap_err();
    assert!(!e.to_string().contains(secret) && !format!("{e:?}").contains(secret), "{e}");
    // A working store whose URL carries a password (pgserver trusts local connections and ignores it).
    if let Some(with_password) =
        url.contains("://postgres:@").then(|| url.replacen("://postgres:@", &format!("://postgres:{secret}@"), 1))
    {
        let s = PgStore::connect(&with_password, 8).unwrap();
        assert!(!format!("{s:?}").contains(secret) && format!("{s:?}").contains("***"), "{s:?}");
        assert!(!s.location().contains(secret));
    } else {
        eprintln!(
            "  (the Debug check of a live store needs the pgserver URL form; skipped for ISSC_TEST_POSTGRES_URL)"
        );
    }
}

/// Two stores on one database (as two `issc serve` processes): each sees the other's writes and trainings at
/// once, and a connection the server drops is replaced on the next call.
fn shared_by_two_processes_and_reconnects(url: &str) {
    let a = PgStore::connect(url, 4).unwrap();
    let b = PgStore::connect(url, 4).unwrap();
    let lpg = Kind::LargePersonGroup;
    a.create_collection(lpg, "g", "g", None, "recognition_04").unwrap();
    let ada = a.create_person(lpg, "g", "Ada", None).unwrap();
    a.add_face(lpg, "g", Some(ada), &[1.0, 0.0, 0.0, 0.0], None).unwrap();
    assert!(matches!(b.identify(lpg, "g", &[1.0, 0.0, 0.0, 0.0], 1), Err(StoreError::NotTrained(..))));
    let op = b.begin_training(lpg, "g").unwrap();
    assert!(matches!(a.begin_training(lpg, "g"), Err(StoreError::TrainingRunning(..))), "one training at a time");
    b.run_training(lpg, "g", op.id).unwrap();
    assert_eq!(a.operation(op.id).unwrap().status, issc_store::Status::Succeeded);
    assert_eq!(a.identify(lpg, "g", &[0.9, 0.1, 0.0, 0.0], 1).unwrap()[0].0, ada, "trained by the other process");
    b.delete_person(lpg, "g", ada).unwrap();
    assert!(a.identify(lpg, "g", &[1.0, 0.0, 0.0, 0.0], 1).unwrap().is_empty(), "deleted by the other process");

    // The server drops every connection of this database (a restart, a failover, an admin).
    let mut admin = Client::connect(url, NoTls).unwrap();
    let db: String = admin.query_one("SELECT current_database()", &[]).unwrap().get(0);
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db],
        )
        .unwrap()
        .get(0);
    assert!(killed >= 2, "both stores had a connection ({killed} terminated)");
    std::thread::sleep(Duration::from_millis(200));
    // The first call may find its connection dead (and says so, without secrets); the next one reconnects.
    let first = a.collection(lpg, "g");
    if let Err(e) = &first {
        assert!(matches!(e, StoreError::Db { .. }), "{e:?}");
    }
    assert_eq!(a.collection(lpg, "g").unwrap().id, "g");
    let _ = b.collections(lpg, None, 1);
    assert_eq!(b.collections(lpg, None, 10).unwrap().len(), 1);
}

/// As `issc serve` uses it: opened before the runtime, called from `spawn_blocking` on a multi-threaded tokio
/// runtime, and dropped inside it at shutdown (closing a client there must not panic).
fn used_from_a_tokio_server(url: &str) {
    let store: std::sync::Arc<dyn FaceStore> = std::sync::Arc::new(PgStore::connect(url, 4).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = store.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                s.create_collection(Kind::FaceList, &format!("l{i:02}"), "l", None, "recognition_04")?;
                s.add_face(Kind::FaceList, &format!("l{i:02}"), None, &[1.0, i as f32, 0.0, 0.0], None)?;
                s.find_similar(Kind::FaceList, &format!("l{i:02}"), &[1.0, 0.0, 0.0, 0.0], 1)
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().len(), 1);
        }
        let s = store.clone();
        let n = tokio::task::spawn_blocking(move || s.collections(Kind::FaceList, None, 100)).await.unwrap().unwrap();
        assert_eq!(n.len(), 16);
        drop(store); // the last reference, inside the runtime
    });
}

/// `?options=-csearch_path%3D…` puts the tables in a schema of their own (the README's advice).
fn a_schema_of_its_own(url: &str) {
    let mut admin = Client::connect(url, NoTls).unwrap();
    admin.batch_execute("CREATE EXTENSION IF NOT EXISTS vector; CREATE SCHEMA faces_here").unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let s = PgStore::connect(&format!("{url}{sep}options=-csearch_path%3Dfaces_here%2Cpublic"), 4).unwrap();
    s.create_collection(Kind::FaceList, "l", "l", None, "recognition_04").unwrap();
    let f = s.add_face(Kind::FaceList, "l", None, &[1.0, 0.0, 0.0, 0.0], None).unwrap();
    assert_eq!(s.find_similar(Kind::FaceList, "l", &[1.0, 0.0, 0.0, 0.0], 1).unwrap()[0].0, f);
    let count = |schema: &str| -> i64 {
        Client::connect(url, NoTls)
            .unwrap()
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'issc_%'",
                &[&schema],
            )
            .unwrap()
            .get(0)
    };
    assert_eq!((count("faces_here"), count("public")), (7, 0));
}

/// Indexes on `issc_faces` (name, definition).
fn face_indexes(url: &str) -> Vec<(String, String)> {
    let mut c = Client::connect(url, NoTls).unwrap();
    c.query("SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = 'issc_faces'", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// A collection below the threshold stays exact after training: no approximate (hnsw, ivfflat) index.
fn small_collections_stay_exact(url: &str) {
    let s = PgStore::connect(url, 4).unwrap();
    let lpg = Kind::LargePersonGroup;
    s.create_collection(lpg, "g", "g", None, "recognition_04").unwrap();
    let ada = s.create_person(lpg, "g", "Ada", None).unwrap();
    s.add_face(lpg, "g", Some(ada), &[1.0, 0.0, 0.0, 0.0], None).unwrap();
    conformance::train(&s, lpg, "g");
    let defs = face_indexes(url);
    assert!(!defs.is_empty());
    assert!(
        defs.iter().all(|(_, d)| !d.contains("hnsw") && !d.contains("ivfflat") && !d.contains("embedding")),
        "{defs:?}"
    );
}

/// `n` persons × `per` faces of `dim` dimensions, face-like: two faces of one person have cosine ≈ 0.6, of two
/// persons ≈ 0 (as SFace embeddings), so that near neighbours are many and close, as in a real gallery.
fn clustered(n: usize, per: usize, dim: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let unit = |rng: &mut rand_chacha::ChaCha8Rng| -> Vec<f32> {
        let v: Vec<f32> = (0..dim).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    };
    let centres: Vec<Vec<f32>> = (0..n).map(|_| unit(&mut rng)).collect();
    let face = |c: &[f32], rng: &mut rand_chacha::ChaCha8Rng| -> Vec<f32> {
        let e = unit(rng);
        c.iter().zip(&e).map(|(c, e)| 0.775 * c + 0.632 * e).collect()
    };
    let faces = (0..n * per).map(|i| face(&centres[i / per], &mut rng)).collect();
    let queries = (0..n).map(|i| face(&centres[(i * 7) % n], &mut rng)).collect();
    (faces, queries)
}

/// How many index scans PostgreSQL counted on the index `name`.
fn index_scans(url: &str, name: &str) -> i64 {
    let mut c = Client::connect(url, NoTls).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    c.query_opt("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = $1", &[&name])
        .unwrap()
        .map_or(0, |r| r.get(0))
}

/// A collection at the threshold gets an HNSW index of its own when trained; identify goes through it and answers
/// what the exact scan answers, with the same scores (candidates are re-scored exactly); faces added after the
/// training stay out until the next one, which keeps the index; below the threshold, or deleted, it is dropped.
fn large_collections_get_an_hnsw_index(url: &str) {
    const DIM: usize = 32;
    let ann = PgAnnIndex { min_faces: 600, ..PgAnnIndex::default() };
    let s = PgStore::connect(url, DIM).unwrap().with_ann_index(Some(ann)).with_memory_index(None);
    let exact = PgStore::connect(url, DIM).unwrap().with_memory_index(None);
    let lpg = Kind::LargePersonGroup;
    s.create_collection(lpg, "big'one", "big", None, "recognition_04").unwrap();
    s.create_collection(lpg, "other", "other", None, "recognition_04").unwrap();
    let (faces, queries) = clustered(150, 4, DIM, 7);
    let mut persons = Vec::new();
    for (i, f) in faces.iter().enumerate() {
        if i % 4 == 0 {
            persons.push(s.create_person(lpg, "big'one", &format!("p{i}"), None).unwrap());
        }
        s.add_face(lpg, "big'one", Some(persons[i / 4]), f, None).unwrap();
    }
    let o = s.create_person(lpg, "other", "o", None).unwrap();
    s.add_face(lpg, "other", Some(o), &queries[0], None).unwrap();
    conformance::train(&s, lpg, "big'one");
    conformance::train(&s, lpg, "other");
    let hnsw: Vec<(String, String)> = face_indexes(url).into_iter().filter(|(_, d)| d.contains("hnsw")).collect();
    assert_eq!(hnsw.len(), 1, "one index, for the large collection only: {hnsw:?}");
    let (name, def) = &hnsw[0];
    assert!(def.contains("vector_cosine_ops") && def.contains("'big''one'"), "{def}");

    let before = index_scans(url, name);
    let (mut same_top, mut same_all) = (0, 0);
    for q in &queries {
        let (a, e) = (s.identify(lpg, "big'one", q, 10).unwrap(), exact.identify(lpg, "big'one", q, 10).unwrap());
        assert_eq!(a.len(), 10);
        same_top += usize::from(a[0].0 == e[0].0);
        same_all += usize::from(a == e);
        for (person, score) in &a {
            // Re-scored exactly: any person both return has the same score, to the bit.
            if let Some((_, exact_score)) = e.iter().find(|(p, _)| p == person) {
                assert_eq!(score.to_bits(), exact_score.to_bits(), "{person}");
            }
        }
    }
    // A backend reports its counters when idle for a while, or when it closes: close the store's connections.
    drop(s);
    let s = PgStore::connect(url, DIM).unwrap().with_ann_index(Some(ann)).with_memory_index(None);
    let scans = index_scans(url, name) - before;
    eprintln!(
        "  hnsw over {} faces: top-1 = exact {same_top}/{n}, whole top 10 = exact {same_all}/{n}, {scans} index scans",
        faces.len(),
        n = queries.len()
    );
    assert!(scans >= queries.len() as i64, "identify used the index ({scans} scans for {} queries)", queries.len());
    assert!(same_top * 100 >= queries.len() * 99, "hit@1 {same_top}/{}", queries.len());
    assert_eq!(s.identify(lpg, "other", &queries[0], 1).unwrap()[0].0, o, "the other collection, exactly");

    // A face added after the training is not searched until the next one, which keeps the index (same oid).
    let oid = |url: &str| -> u32 {
        Client::connect(url, NoTls).unwrap().query_one("SELECT to_regclass($1)::oid", &[name]).unwrap().get(0)
    };
    let first = oid(url);
    let late = s.create_person(lpg, "big'one", "late", None).unwrap();
    let probe = &queries[3];
    s.add_face(lpg, "big'one", Some(late), probe, None).unwrap();
    assert_ne!(s.identify(lpg, "big'one", probe, 1).unwrap()[0].0, late, "not trained yet");
    conformance::train(&s, lpg, "big'one");
    let top = s.identify(lpg, "big'one", probe, 1).unwrap();
    assert_eq!(top[0].0, late);
    assert!((top[0].1 - 1.0).abs() < 1e-6, "{top:?}");
    assert_eq!(oid(url), first, "the index was kept, not rebuilt");

    // Below the threshold the index goes, and the search is exact again.
    for p in persons.iter().take(20) {
        s.delete_person(lpg, "big'one", *p).unwrap();
    }
    conformance::train(&s, lpg, "big'one");
    assert!(face_indexes(url).iter().all(|(n, _)| n != name), "dropped below the threshold");
    assert_eq!(s.identify(lpg, "big'one", probe, 3).unwrap(), exact.identify(lpg, "big'one", probe, 3).unwrap());
    // Deleting an indexed collection drops its index.
    for f in &faces[..100] {
        s.add_face(lpg, "big'one", Some(late), f, None).unwrap();
    }
    conformance::train(&s, lpg, "big'one");
    assert!(face_indexes(url).iter().any(|(n, _)| n == name), "indexed again");
    s.delete_collection(lpg, "big'one").unwrap();
    assert!(face_indexes(url).iter().all(|(n, _)| !n.starts_with("issc_ann_")), "{:?}", face_indexes(url));
}

/// Two servers searching a large collection from snapshots in their own memory answer what the database's exact
/// scan answers; a deletion through one is honoured by the other at once; a training through one is picked up by
/// the other at its next search; faces added after a training stay out until the next one.
fn large_collections_are_searched_in_memory_exactly(url: &str) {
    const DIM: usize = 32;
    let a = PgStore::connect(url, DIM).unwrap().with_memory_index(Some(500));
    let b = PgStore::connect(url, DIM).unwrap().with_memory_index(Some(500));
    let exact = PgStore::connect(url, DIM).unwrap().with_memory_index(None);
    let lpg = Kind::LargePersonGroup;
    a.create_collection(lpg, "big", "big", None, "recognition_04").unwrap();
    let (faces, queries) = clustered(150, 4, DIM, 9);
    let mut persons = Vec::new();
    for (i, f) in faces.iter().enumerate() {
        if i % 4 == 0 {
            persons.push(a.create_person(lpg, "big", &format!("p{i}"), None).unwrap());
        }
        a.add_face(lpg, "big", Some(persons[i / 4]), f, None).unwrap();
    }
    conformance::train(&a, lpg, "big");
    assert!(a.searches_in_memory(lpg, "big"), "loaded by the server that trained, right after");
    assert!(!b.searches_in_memory(lpg, "big") && !exact.searches_in_memory(lpg, "big"));
    let same = |x: &[(issc_store::Uuid, f32)], y: &[(issc_store::Uuid, f32)]| {
        x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.0 == q.0 && (p.1 - q.1).abs() < 1e-5)
    };
    for q in &queries {
        let want = exact.identify(lpg, "big", q, 10).unwrap();
        for s in [&a, &b] {
            let got = s.identify(lpg, "big", q, 10).unwrap();
            assert!(same(&got, &want), "{got:?} against the exact scan's {want:?}");
        }
    }
    // Deleted through A: gone for B, whose snapshot still held it.
    let probe = &queries[5];
    let top = b.identify(lpg, "big", probe, 1).unwrap()[0].0;
    a.delete_person(lpg, "big", top).unwrap();
    let after = b.identify(lpg, "big", probe, 10).unwrap();
    assert!(after.iter().all(|(p, _)| *p != top), "deleted through the other server");
    assert!(same(&after, &exact.identify(lpg, "big", probe, 10).unwrap()));
    // Added after the training: out until the next one (run by B), then A finds it.
    let late = a.create_person(lpg, "big", "late", None).unwrap();
    a.add_face(lpg, "big", Some(late), probe, None).unwrap();
    assert_ne!(a.identify(lpg, "big", probe, 1).unwrap()[0].0, late, "not trained yet");
    conformance::train(&b, lpg, "big");
    let top = a.identify(lpg, "big", probe, 1).unwrap();
    assert_eq!(top[0].0, late, "A picked up B's training");
    assert!((top[0].1 - 1.0).abs() < 1e-6);
    // Deleted through B: A's next search says so (and drops its snapshot).
    b.delete_collection(lpg, "big").unwrap();
    assert!(a.searches_in_memory(lpg, "big") && !b.searches_in_memory(lpg, "big"));
    assert!(matches!(a.identify(lpg, "big", probe, 1), Err(StoreError::CollectionNotFound(..))));
    assert!(!a.searches_in_memory(lpg, "big"), "dropped once found deleted");
}

/// detect's faceIds are shared by every server on the database: given out by one, found by the other, expired for
/// both by the database's clock, swept by either; the bound on live ids holds across servers adding at once.
fn face_ids_shared_by_two_processes(url: &str) {
    let a = PgStore::connect(url, 4).unwrap();
    let b = PgStore::connect(url, 4).unwrap();
    let (fa, fb) = (a.face_ids(), b.face_ids());
    let live = fa.insert(&[vec![1.0, 0.0, 0.0, 0.0]], "recognition_04", Duration::from_secs(60), 100).unwrap()[0];
    let brief = fb.insert(&[vec![0.0, 1.0, 0.0, 0.0]], "recognition_01", Duration::from_millis(300), 100).unwrap()[0];
    let seen = fb.get(&[live, brief]).unwrap();
    assert_eq!(seen[0].as_ref().map(|f| f.recognition_model.as_str()), Some("recognition_04"), "A's id on B");
    assert_eq!(seen[0].as_ref().map(|f| f.embedding.to_vec()), Some(vec![1.0, 0.0, 0.0, 0.0]));
    assert!(fa.get(&[brief]).unwrap()[0].is_some(), "B's id on A");
    std::thread::sleep(Duration::from_millis(600));
    assert!(fa.get(&[brief]).unwrap()[0].is_none() && fb.get(&[brief]).unwrap()[0].is_none(), "expired for both");
    assert_eq!(fa.sweep().unwrap(), 1, "A sweeps what B gave out");
    assert_eq!(fb.held().unwrap(), 1);
    let mut c = Client::connect(url, NoTls).unwrap();
    let rows: i64 = c.query_one("SELECT count(*) FROM issc_face_ids", &[]).unwrap().get(0);
    assert_eq!(rows, 1, "the expired row is gone from the database");

    // Eight threads over two stores add 3 faces at a time under a bound of 40 live ids: never more are held, and
    // every refusal is a FaceIdsFull with a wait.
    const MAX: usize = 40;
    let (given, refused) = std::thread::scope(|scope| {
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let ids = if t % 2 == 0 { fa } else { fb };
                scope.spawn(move || {
                    let (mut given, mut refused) = (0, 0);
                    for _ in 0..6 {
                        match ids.insert(&vec![vec![0.5; 4]; 3], "recognition_04", Duration::from_secs(60), MAX) {
                            Ok(v) => given += v.len(),
                            Err(StoreError::FaceIdsFull { retry_after, held }) => {
                                assert!(retry_after >= Duration::from_secs(1) && held + 3 > MAX, "{held}");
                                refused += 1;
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    (given, refused)
                })
            })
            .collect();
        tasks.into_iter().map(|t| t.join().unwrap()).fold((0, 0), |x, y| (x.0 + y.0, x.1 + y.1))
    });
    let rows: i64 = c.query_one("SELECT count(*) FROM issc_face_ids", &[]).unwrap().get(0);
    assert_eq!(rows as usize, 1 + given, "every id given out is stored once");
    assert!(rows as usize <= MAX && rows as usize > MAX - 3, "{rows} live ids for a bound of {MAX}");
    assert!(refused > 0);
    assert_eq!(fa.held().unwrap(), rows as usize, "the shared count is exact");
    assert!(matches!(fb.room(3, MAX), Err(StoreError::FaceIdsFull { .. })));
    assert!(matches!(
        fa.insert(&[vec![1.0; 5]], "recognition_04", Duration::from_secs(1), MAX),
        Err(StoreError::Dimension { expected: 4, got: 5 })
    ));
}

/// A server that starts while another trains leaves that training alone; a training whose server was killed (no
/// clean shutdown) is failed once its lease runs out, and the collection can be trained again.
fn trainings_survive_a_new_replica_and_a_dead_ones_lease_expires(url: &str) {
    let lpg = Kind::LargePersonGroup;
    let a = PgStore::connect(url, 4).unwrap();
    a.create_collection(lpg, "g", "g", None, "recognition_04").unwrap();
    let op = a.begin_training(lpg, "g").unwrap();
    let b = PgStore::connect(url, 4).unwrap().with_training_lease(Duration::from_secs(1));
    assert_eq!(b.operation(op.id).unwrap().status, issc_store::Status::Running, "a new replica's start");
    a.run_training(lpg, "g", op.id).unwrap();
    assert_eq!(b.operation(op.id).unwrap().status, issc_store::Status::Succeeded);

    let op = a.begin_training(lpg, "g").unwrap();
    std::mem::forget(a); // killed: no Drop, no clean-up
    assert!(matches!(b.begin_training(lpg, "g"), Err(StoreError::TrainingRunning(..))), "within the lease");
    assert_eq!(b.training(lpg, "g").unwrap().status, issc_store::Status::Running);
    std::thread::sleep(Duration::from_millis(1500));
    let stale = b.operation(op.id).unwrap();
    assert_eq!(stale.status, issc_store::Status::Failed, "{stale:?}");
    assert!(stale.message.is_some_and(|m| m.contains("train again")) && stale.finished.is_some());
    assert_eq!(b.training(lpg, "g").unwrap().status, issc_store::Status::Failed);
    conformance::train(&b, lpg, "g");
}

/// A check, given the URL of a fresh database.
type PgCheck = Box<dyn Fn(&str)>;

#[test]
fn pgstore_passes_every_check_against_a_real_postgres() {
    let required = std::env::var("ISSC_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    let started = Instant::now();
    let mut server = match Server::start() {
        Ok(s) => s,
        Err(why) if !required => {
            println!("SKIPPED: PgStore tests: {why}");
            return;
        }
        Err(why) => panic!("ISSC_REQUIRE_POSTGRES=1 but no PostgreSQL: {why}"),
    };
    let mut dbs = Databases { server: &server, admin: server.admin(), made: 0 };
    let row = dbs.admin.query_one("SELECT version()", &[]).unwrap();
    let version: String = row.get(0);
    eprintln!(
        "postgres: {} (up in {} ms)",
        version.split(" on ").next().unwrap_or(&version),
        started.elapsed().as_millis()
    );

    let mut checks: Vec<(&str, PgCheck)> = conformance::CHECKS
        .iter()
        .map(|&(name, check)| (name, Box::new(move |url: &str| check(&opener(url))) as PgCheck))
        .collect();
    checks.push((
        "deletions_leave_no_rows",
        Box::new(|url: &str| conformance::deletions_leave_no_rows(&opener(url), &|m, t| remnants(url, m, t))),
    ));
    checks.push(("secrets_stay_out_of_messages", Box::new(secrets_stay_out_of_messages)));
    checks.push(("shared_by_two_processes_and_reconnects", Box::new(shared_by_two_processes_and_reconnects)));
    checks.push(("used_from_a_tokio_server", Box::new(used_from_a_tokio_server)));
    checks.push(("a_schema_of_its_own", Box::new(a_schema_of_its_own)));
    // Every check again with each trained collection searched from a snapshot in the store's memory.
    for &(name, check) in conformance::CHECKS {
        let memory = move |url: &str| {
            check(&move |dim| {
                PgStore::connect(url, dim).map(|s| Box::new(s.with_memory_index(Some(1))) as Box<dyn FaceStore>)
            })
        };
        checks.push((Box::leak(format!("{name} (searched in memory)").into_boxed_str()), Box::new(memory)));
    }
    checks.push((
        "large_collections_are_searched_in_memory_exactly",
        Box::new(large_collections_are_searched_in_memory_exactly),
    ));
    checks.push(("small_collections_stay_exact", Box::new(small_collections_stay_exact)));
    checks.push(("large_collections_get_an_hnsw_index", Box::new(large_collections_get_an_hnsw_index)));
    checks.push(("face_ids_shared_by_two_processes", Box::new(face_ids_shared_by_two_processes)));
    checks.push((
        "trainings_survive_a_new_replica_and_a_dead_ones_lease_expires",
        Box::new(trainings_survive_a_new_replica_and_a_dead_ones_lease_expires),
    ));

    let mut failed = Vec::new();
    for (name, check) in &checks {
        let (db, url) = dbs.create();
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&url)));
        dbs.drop_db(&db);
        match outcome {
            Ok(()) => eprintln!("postgres check {name}: ok ({} ms)", t.elapsed().as_millis()),
            Err(_) => {
                eprintln!("postgres check {name}: FAILED (see the panic above)");
                failed.push(*name);
            }
        }
    }
    let leftover: i64 = dbs
        .admin
        .query_one("SELECT count(*) FROM pg_database WHERE datname LIKE 'issc_store_test_%'", &[])
        .unwrap()
        .get(0);
    drop(dbs);
    server.stop();
    println!(
        "postgres: {} of {} checks passed against a real PostgreSQL + pgvector in {:.1} s",
        checks.len() - failed.len(),
        checks.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failed.is_empty(), "PgStore failed: {failed:?}");
    assert_eq!(leftover, 0, "test databases left behind");
}
