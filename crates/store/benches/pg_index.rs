//! Identify with the PostgreSQL store at scale, on face-like vectors, in one run, queries interleaved between the
//! methods: the exact scan in the database, the snapshot searched in the server's memory (int8 rows loaded from the
//! database, re-scored exactly from it; `PgStore::with_memory_index`, the default from 10,000 faces), and the
//! pgvector HNSW index a training builds (`PgStore::with_ann_index`, candidates re-scored exactly).
//!
//! ```text
//! python3 -m venv target/pg-venv && target/pg-venv/bin/pip install pgserver==0.1.4   # PostgreSQL 16 + pgvector
//! cargo bench -p issc-store --features postgres --bench pg_index                     # 100k and 1M faces
//! ISSC_BENCH_SIZES=100000 ISSC_BENCH_EF=40,100 cargo bench -p issc-store --features postgres --bench pg_index
//! ISSC_BENCH_SIZES=1000000 ISSC_BENCH_EF=0 cargo bench -p issc-store --features postgres --bench pg_index  # no HNSW
//! ```
//!
//! The server: `ISSC_TEST_POSTGRES_URL`, else a throwaway one from the `pgserver` wheel (as `tests/postgres.rs`).
//! Vectors: see `benches/common`; 4 enrolled faces per person, loaded with `COPY` (the Face API would take hours
//! to enrol a million faces one request at a time), then trained through `PgStore` as `issc serve` trains, so the
//! build time is that of the training (with HNSW: its index build), and for the
//! memory snapshot, the first search after it (loading the rows). Queries are fresh faces of enrolled persons; identify returns the top 10
//! persons. "hit@1" is the share of queries whose top person is the exact answer's (computed in process, in f32);
//! "= exact" the share whose whole top 10 (persons and order) equals it. Latency is per identify call, from the
//! client (one query at a time: PostgreSQL runs each on one backend, one core).
//! Knobs: `ISSC_BENCH_QUERIES` (default 300), `ISSC_BENCH_EXACT_QUERIES` (default 30: the exact scan is slow at
//! 1M), `ISSC_BENCH_BUILD_MIB` (the build's memory, default 2048).

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Instant;

use issc_store::{ExactIndex, FaceStore, Hit, IndexBuilder, Kind, PgAnnIndex, PgStore, Uuid, VectorIndex};
use postgres::{Client, NoTls};
use rand::{Rng, SeedableRng};

mod common;
#[path = "../tests/pgserver/mod.rs"]
mod pgserver;

use common::{DIM, env_list, face, percentile, random_unit};

const PER_PERSON: usize = 4;
const K: usize = 10;
const GROUP: &str = "bench";

/// `PGCOPY` binary rows: fields of text (UTF-8), `real` or `vector` (dimension, unused, big-endian f32s).
struct CopyRows(Vec<u8>);

impl CopyRows {
    fn new() -> Self {
        let mut b = b"PGCOPY\n\xff\r\n\0".to_vec();
        b.extend_from_slice(&0i32.to_be_bytes()); // flags
        b.extend_from_slice(&0i32.to_be_bytes()); // header extension
        Self(b)
    }
    fn row(&mut self, fields: u16) {
        self.0.extend_from_slice(&(fields as i16).to_be_bytes());
    }
    fn text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.0.extend_from_slice(&(s.len() as i32).to_be_bytes());
                self.0.extend_from_slice(s.as_bytes());
            }
            None => self.0.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    fn real(&mut self, x: f32) {
        self.0.extend_from_slice(&4i32.to_be_bytes());
        self.0.extend_from_slice(&x.to_be_bytes());
    }
    fn vector(&mut self, v: &[f32]) {
        self.0.extend_from_slice(&((4 + 4 * v.len()) as i32).to_be_bytes());
        self.0.extend_from_slice(&(v.len() as u16).to_be_bytes());
        self.0.extend_from_slice(&0u16.to_be_bytes());
        for x in v {
            self.0.extend_from_slice(&x.to_be_bytes());
        }
    }
    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&(-1i16).to_be_bytes());
        self.0
    }
}

fn copy_in(c: &mut Client, sql: &str, data: Vec<u8>) {
    let mut w = c.copy_in(sql).expect("COPY");
    for chunk in data.chunks(1 << 20) {
        w.write_all(chunk).expect("COPY data");
    }
    w.finish().expect("COPY finished");
}

struct Row {
    method: String,
    lat_ms: Vec<f64>,
    hit1: usize,
    same: usize,
}

impl Row {
    fn new(method: String) -> Self {
        Self { method, lat_ms: Vec::new(), hit1: 0, same: 0 }
    }
    fn print(&mut self, n: usize, build_s: Option<f64>) {
        let q = self.lat_ms.len();
        self.lat_ms.sort_by(f64::total_cmp);
        let mean = self.lat_ms.iter().sum::<f64>() / q as f64;
        println!(
            "| {n} | {} | {q} | {:.2} | {:.2} | {:.0} | {} | {:.4} | {:.4} |",
            self.method,
            percentile(&self.lat_ms, 0.5),
            percentile(&self.lat_ms, 0.99),
            1e3 / mean,
            build_s.map_or("–".to_string(), |b| format!("{b:.1}")),
            self.hit1 as f64 / q as f64,
            self.same as f64 / q as f64,
        );
    }
}

fn main() {
    let sizes = env_list("ISSC_BENCH_SIZES", &[100_000, 1_000_000]);
    let efs = env_list("ISSC_BENCH_EF", &[40, 100, 200]);
    let nq = env_list("ISSC_BENCH_QUERIES", &[300])[0].max(10);
    let n_exact = env_list("ISSC_BENCH_EXACT_QUERIES", &[30])[0].min(nq);
    let build_mib = env_list("ISSC_BENCH_BUILD_MIB", &[2048])[0] as u32;

    let mut server = pgserver::Server::start().unwrap_or_else(|why| panic!("no PostgreSQL to bench: {why}"));
    let mut admin = server.admin();
    let version: String = admin.query_one("SELECT version()", &[]).expect("version").get(0);
    let pgvector: String = admin
        .query_one("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'", &[])
        .expect("pgvector")
        .get(0);
    println!(
        "identify in PostgreSQL ({}, pgvector {pgvector}), {DIM}-d face-like vectors, {PER_PERSON} faces per person, \
         top {K} persons",
        version.split(" on ").next().unwrap_or(&version)
    );
    println!("| faces | method | queries | p50 ms | p99 ms | queries/s | build s | hit@1 | top-10 = exact |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &sizes {
        let db = format!("issc_bench_{}_{n}", std::process::id());
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).expect("drop database");
        admin.batch_execute(&format!("CREATE DATABASE {db}")).expect("create database");
        let url = pgserver::with_db(&server.uri, &db);

        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42 + n as u64);
        let persons = n.div_ceil(PER_PERSON);
        let centres: Vec<Vec<f32>> = (0..persons).map(|_| random_unit(&mut rng)).collect();
        let base: Vec<Vec<f32>> = (0..n).map(|i| face(&centres[i / PER_PERSON], &mut rng)).collect();
        let queries: Vec<Vec<f32>> = (0..nq).map(|_| face(&centres[rng.random_range(0..persons)], &mut rng)).collect();
        drop(centres);
        let exact: ExactIndex = {
            let mut b = IndexBuilder::new(DIM);
            for (i, v) in base.iter().enumerate() {
                b.add((i / PER_PERSON) as u32, i as i64, v);
            }
            b.build()
        };
        let reference: Vec<Vec<Hit>> = queries.iter().map(|q| exact.search(q, K)).collect();
        drop(exact);

        // The collection through the store, its persons and faces with COPY.
        let hnsw = !efs.is_empty() && efs != [0];
        let ann = PgAnnIndex { min_faces: 1, build_memory_mib: build_mib, ..PgAnnIndex::default() };
        let store =
            PgStore::connect(&url, DIM).expect("PgStore").with_ann_index(hnsw.then_some(ann)).with_memory_index(None);
        let lpg = Kind::LargePersonGroup;
        store.create_collection(lpg, GROUP, GROUP, None, "recognition_04").expect("collection");
        let ids: Vec<Uuid> = (0..persons).map(|_| Uuid::new_v4()).collect();
        let owner_of: HashMap<Uuid, u32> = ids.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
        let t = Instant::now();
        let mut c = Client::connect(&url, NoTls).expect("connect");
        let mut rows = CopyRows::new();
        for id in &ids {
            rows.row(4);
            for f in [id.to_string().as_str(), "lpg", GROUP, "p"] {
                rows.text(Some(f));
            }
        }
        copy_in(
            &mut c,
            "COPY issc_persons(person_id, kind, collection, name) FROM STDIN (FORMAT binary)",
            rows.finish(),
        );
        for chunk in base.chunks(100_000).enumerate() {
            let mut rows = CopyRows::new();
            for (j, v) in chunk.1.iter().enumerate() {
                let i = chunk.0 * 100_000 + j;
                rows.row(6);
                rows.text(Some(&Uuid::new_v4().to_string()));
                rows.text(Some("lpg"));
                rows.text(Some(GROUP));
                rows.text(Some(&ids[i / PER_PERSON].to_string()));
                rows.real(v.iter().map(|x| x * x).sum::<f32>().sqrt());
                rows.vector(v);
            }
            copy_in(
                &mut c,
                "COPY issc_faces(face_id, kind, collection, person_id, norm, embedding) FROM STDIN (FORMAT binary)",
                rows.finish(),
            );
        }
        eprintln!("{n} faces loaded in {:.1} s", t.elapsed().as_secs_f64());
        drop(base);

        let t = Instant::now();
        let op = store.begin_training(lpg, GROUP).expect("train");
        store.run_training(lpg, GROUP, op.id).expect("training");
        let build_s = t.elapsed().as_secs_f64();
        let index: Option<String> =
            c.query_one("SELECT ann_index FROM issc_collections WHERE id = $1", &[&GROUP]).expect("index name").get(0);
        let mut size = |rel: &str| -> f64 {
            let bytes: i64 =
                c.query_one("SELECT pg_total_relation_size(to_regclass($1))", &[&rel]).expect("size").get(0);
            bytes as f64 / n as f64
        };
        let (table_bytes, index_bytes) = (size("issc_faces"), index.as_deref().map_or(0.0, &mut size));
        eprintln!(
            "{n} faces: trained in {build_s:.1} s; the table holds {:.0} bytes per face with its indexes, the HNSW \
             index {:.0}",
            table_bytes, index_bytes
        );

        let open = || PgStore::connect(&url, DIM).expect("PgStore").with_memory_index(None);
        let exact_store = open();
        let memory_store = open().with_memory_index(Some(1));
        let t = Instant::now();
        memory_store.identify(lpg, GROUP, &queries[0], K).expect("identify");
        let load_s = t.elapsed().as_secs_f64();
        eprintln!("{n} faces: the memory snapshot loaded at the first search in {load_s:.1} s");
        let efs: Vec<usize> = if hnsw { efs.clone() } else { Vec::new() };
        let mut stores: Vec<PgStore> = vec![memory_store];
        let mut table = vec![Row::new("in-memory int8 + exact re-score from PostgreSQL".to_string())];
        for &ef in &efs {
            stores.push(open().with_ann_index(Some(PgAnnIndex { ef_search: ef as u32, ..ann })));
            table.push(Row::new(format!("pgvector HNSW ef_search={ef} + exact re-score")));
        }
        table.push(Row::new("exact scan in PostgreSQL (no index)".to_string()));
        let m = table.len();
        for (i, q) in queries.iter().enumerate() {
            for j in 0..m {
                let which = (i + j) % m; // rotate the order
                if which == m - 1 && i >= n_exact {
                    continue;
                }
                let s = stores.get(which).unwrap_or(&exact_store);
                let t = Instant::now();
                let hits = s.identify(lpg, GROUP, q, K).expect("identify");
                let ms = t.elapsed().as_secs_f64() * 1e3;
                let owners: Vec<u32> = hits.iter().map(|(p, _)| owner_of[p]).collect();
                let want: Vec<u32> = reference[i].iter().map(|h| h.owner).collect();
                let r = &mut table[which];
                r.lat_ms.push(ms);
                r.hit1 += usize::from(owners.first() == want.first());
                r.same += usize::from(owners == want);
            }
        }
        for (i, r) in table.iter_mut().enumerate() {
            r.print(n, if i == 0 { Some(load_s) } else { (i <= efs.len()).then_some(build_s) });
        }
        drop((stores, exact_store, store, c));
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).expect("drop database");
    }
    drop(admin);
    server.stop();
}
