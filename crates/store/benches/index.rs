//! Identify on face-like vectors: today's exact `f32` scan (`ExactIndex`), the int8 index with exact re-scoring
//! from SQLite (`QuantizedIndex`, what `SqliteStore` uses) and the HNSW graph over it (`HnswIndex`), measured in one
//! run, queries interleaved between the methods.
//!
//! ```text
//! cargo bench -p issc-store --bench index                         # 100k and 1M faces
//! ISSC_BENCH_SIZES=100000 ISSC_BENCH_EF=32,64 cargo bench -p issc-store --bench index
//! ISSC_BENCH_DUMP=target/bench-index cargo bench -p issc-store --bench index   # also write the vectors (.npy)
//! ISSC_BENCH_K=1 ISSC_BENCH_SIZES=100000 cargo bench -p issc-store --bench index   # top 1, the Face API's default
//! ```
//!
//! Vectors: 128-d, 4 enrolled faces per person; a person is a random unit centre `c`, a face is
//! `normalise(0.775·c + 0.632·n)` with `n` a random unit vector, so that two faces of one person have cosine ≈ 0.6
//! and faces of different persons ≈ 0 (as SFace embeddings). Queries are fresh faces of enrolled persons. Identify
//! returns the top 10 persons (`ISSC_BENCH_K`); "hit@1" is the share of queries whose top person is the exact scan's
//! top person; "= exact" the share whose whole top k (persons and scores) equals the exact scan's.

use std::io::Write;
use std::time::Instant;

use issc_store::{ExactIndex, Hit, HnswIndex, HnswParams, IndexBuilder, QuantizedBuilder, QuantizedIndex, VectorIndex};
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OptionalExtension, params};

mod common;

use common::{DIM, cos, env_list, face, percentile, random_unit};

const PER_PERSON: usize = 4;

/// Write a little-endian `.npy` file (`<f4` or `<i4`).
fn write_npy(path: &std::path::Path, descr: &str, shape: &[usize], bytes: &[u8]) -> std::io::Result<()> {
    let shape = match shape {
        [n] => format!("({n},)"),
        s => format!("({})", s.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    f.write_all(bytes)?;
    f.flush()
}

fn f32_bytes(v: impl IntoIterator<Item = f32>) -> Vec<u8> {
    v.into_iter().flat_map(f32::to_le_bytes).collect()
}

struct Row {
    method: String,
    threads: usize,
    lat_ms: Vec<f64>,
    bytes_per_face: f64,
    build_s: f64,
    hit1: f64,
    same: Option<f64>,
}

impl Row {
    fn print(&mut self, n: usize) {
        self.lat_ms.sort_by(f64::total_cmp);
        let mean = self.lat_ms.iter().sum::<f64>() / self.lat_ms.len() as f64;
        println!(
            "| {n} | {} | {} | {:.3} | {:.3} | {:.0} | {:.0} | {:.1} | {:.4} | {} |",
            self.method,
            self.threads,
            percentile(&self.lat_ms, 0.5),
            percentile(&self.lat_ms, 0.99),
            1e3 / mean,
            self.bytes_per_face,
            self.build_s,
            self.hit1,
            self.same.map_or("–".to_string(), |s| format!("{s:.4}")),
        );
    }
}

/// Full-precision vectors in SQLite, read back the way `SqliteStore` re-scores.
fn sqlite_source(dir: &std::path::Path, base: &[Vec<f32>]) -> Connection {
    let path = dir.join("vectors.sqlite3");
    let _ = std::fs::remove_file(&path);
    let mut c = Connection::open(&path).expect("create the bench database");
    c.pragma_update(None, "journal_mode", "WAL").expect("WAL");
    c.pragma_update(None, "synchronous", "OFF").expect("synchronous");
    c.execute_batch("CREATE TABLE faces(seq INTEGER PRIMARY KEY AUTOINCREMENT, embedding BLOB NOT NULL)")
        .expect("table");
    let tx = c.transaction().expect("transaction");
    {
        let mut st = tx.prepare("INSERT INTO faces(seq, embedding) VALUES (?1, ?2)").expect("insert");
        for (i, v) in base.iter().enumerate() {
            st.execute(params![i as i64, f32_bytes(v.iter().copied())]).expect("insert row");
        }
    }
    tx.commit().expect("commit");
    drop(c);
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(&path, flags).expect("open read-only")
}

fn fetch(c: &std::sync::Mutex<Connection>, keys: &[i64]) -> Result<Vec<Option<Vec<f32>>>, rusqlite::Error> {
    let c = c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut st = c.prepare_cached("SELECT embedding FROM faces WHERE seq = ?1")?;
    keys.iter()
        .map(|&k| {
            st.query_row([k], |r| r.get::<_, Vec<u8>>(0))
                .optional()
                .map(|b| b.map(|b| b.chunks_exact(4).map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]])).collect()))
        })
        .collect()
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64() * 1e3)
}

fn main() {
    let sizes = env_list("ISSC_BENCH_SIZES", &[100_000, 1_000_000]);
    let efs = env_list("ISSC_BENCH_EF", &[32, 64, 96]);
    let nq = env_list("ISSC_BENCH_QUERIES", &[2000])[0].max(10);
    // Persons returned per identify: 10 by default; the Face API's default maxNumOfCandidatesReturned is 1.
    let k = env_list("ISSC_BENCH_K", &[10])[0].max(1);
    let dump = std::env::var_os("ISSC_BENCH_DUMP").map(std::path::PathBuf::from);
    let threads = rayon::current_num_threads();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool");
    let tmp = tempfile::tempdir().expect("temporary directory");
    println!("identify, {DIM}-d face-like vectors, {PER_PERSON} faces per person, top {k} persons, {nq} queries");
    println!(
        "| faces | method | threads | p50 ms | p99 ms | queries/s | bytes/face | build s | hit@1 | top-10 = exact |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &n in &sizes {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42 + n as u64);
        let persons = n.div_ceil(PER_PERSON);
        let centres: Vec<Vec<f32>> = (0..persons).map(|_| random_unit(&mut rng)).collect();
        let base: Vec<Vec<f32>> = (0..n).map(|i| face(&centres[i / PER_PERSON], &mut rng)).collect();
        let queries: Vec<Vec<f32>> = (0..nq).map(|_| face(&centres[rng.random_range(0..persons)], &mut rng)).collect();
        let (same, diff): (f32, f32) = (0..1000).fold((0.0, 0.0), |(s, d), i| {
            let p = (i * 7919) % persons;
            let o = (p + 1 + i % (persons - 1).max(1)) % persons;
            (
                s + cos(&base[p * PER_PERSON], &base[p * PER_PERSON + 1]),
                d + cos(&base[p * PER_PERSON], &base[o * PER_PERSON]),
            )
        });
        eprintln!("{n} faces: mean cosine same person {:.3}, different persons {:.3}", same / 1000.0, diff / 1000.0);

        let (exact, build_exact): (ExactIndex, f64) = timed(|| {
            let mut b = IndexBuilder::new(DIM);
            for (i, v) in base.iter().enumerate() {
                b.add((i / PER_PERSON) as u32, i as i64, v);
            }
            b.build()
        });
        let (quant, build_quant): (QuantizedIndex, f64) = timed(|| {
            let mut b = QuantizedBuilder::new(DIM);
            for (i, v) in base.iter().enumerate() {
                b.add((i / PER_PERSON) as u32, i as i64, v);
            }
            b.build()
        });
        let db = std::sync::Mutex::new(sqlite_source(tmp.path(), &base));
        if let Some(dir) = &dump {
            std::fs::create_dir_all(dir).expect("dump directory");
            let d = dir.join(n.to_string());
            std::fs::create_dir_all(&d).expect("dump directory");
            write_npy(&d.join("base.npy"), "<f4", &[n, DIM], &f32_bytes(base.iter().flatten().copied())).expect("dump");
            write_npy(&d.join("queries.npy"), "<f4", &[nq, DIM], &f32_bytes(queries.iter().flatten().copied()))
                .expect("dump");
            let owners: Vec<u8> = (0..n).flat_map(|i| ((i / PER_PERSON) as i32).to_le_bytes()).collect();
            write_npy(&d.join("owners.npy"), "<i4", &[n], &owners).expect("dump");
        }

        // Exact answers (the reference), then exact vs int8, interleaved, on a share of the queries at 1M.
        let n_exact = if n > 200_000 { nq.min(300) } else { nq };
        let reference: Vec<Vec<Hit>> = queries.iter().map(|q| exact.search(q, k)).collect();
        if let Some(dir) = &dump {
            let top: Vec<u8> = reference.iter().flat_map(|h| (h[0].owner as i32).to_le_bytes()).collect();
            write_npy(&dir.join(n.to_string()).join("exact_top.npy"), "<i4", &[nq], &top).expect("dump");
        }
        let bpf = |bytes: usize| bytes as f64 / n as f64;
        let mk = |method: &str, threads: usize, bytes: usize, build: f64| Row {
            method: method.to_string(),
            threads,
            lat_ms: Vec::new(),
            bytes_per_face: bpf(bytes),
            build_s: build / 1e3,
            hit1: 0.0,
            same: Some(0.0),
        };
        let mut rows = vec![
            mk("exact f32 (today)", threads, exact.memory_bytes(), build_exact),
            mk("int8 + exact re-score (SQLite)", threads, quant.memory_bytes(), build_quant),
            mk("exact f32 (today)", 1, exact.memory_bytes(), build_exact),
            mk("int8 + exact re-score (SQLite)", 1, quant.memory_bytes(), build_quant),
        ];
        let mut fetched = 0usize;
        for (i, q) in queries.iter().take(n_exact).enumerate() {
            for j in 0..4 {
                let m = (i + j) % 4; // rotate the order
                let (hits, ms) = match m {
                    0 => timed(|| exact.search(q, k)),
                    1 => timed(|| {
                        quant
                            .search_exact(q, k, |keys| {
                                fetched += keys.len();
                                fetch(&db, keys)
                            })
                            .expect("fetch")
                    }),
                    2 => timed(|| one.install(|| exact.search(q, k))),
                    _ => timed(|| one.install(|| quant.search_exact(q, k, |keys| fetch(&db, keys)).expect("fetch"))),
                };
                let r = &mut rows[m];
                r.lat_ms.push(ms);
                r.hit1 += f64::from(u8::from(hits.first().map(|h| h.owner) == Some(reference[i][0].owner)));
                *r.same.as_mut().unwrap_or(&mut 0.0) += f64::from(u8::from(hits == reference[i]));
            }
        }
        for r in &mut rows {
            r.hit1 /= n_exact as f64;
            r.same = r.same.map(|s| s / n_exact as f64);
            r.print(n);
        }
        eprintln!("{n} faces: {:.1} rows re-scored per query", fetched as f64 / n_exact as f64);
        drop(rows);
        drop(exact);

        if efs.is_empty() || efs == [0] {
            continue;
        }
        let (mut hnsw, build_hnsw) = timed(|| HnswIndex::build(quant.clone(), HnswParams::default()));
        drop(quant);
        for &ef in &efs {
            hnsw.set_ef_search(ef);
            let mut rows = vec![
                mk(&format!("HNSW ef={ef} + exact re-score (SQLite)"), 1, hnsw.memory_bytes(), build_hnsw),
                mk(&format!("HNSW ef={ef}, int8 scores"), 1, hnsw.memory_bytes(), build_hnsw),
            ];
            for (i, q) in queries.iter().enumerate() {
                for j in 0..2 {
                    let m = (i + j) % 2;
                    let (hits, ms) = if m == 0 {
                        timed(|| hnsw.search_exact(q, k, |keys| fetch(&db, keys)).expect("fetch"))
                    } else {
                        timed(|| hnsw.search_approx(q, k))
                    };
                    let r = &mut rows[m];
                    r.lat_ms.push(ms);
                    r.hit1 += f64::from(u8::from(hits.first().map(|h| h.owner) == Some(reference[i][0].owner)));
                    if m == 0 {
                        *r.same.as_mut().unwrap_or(&mut 0.0) += f64::from(u8::from(hits == reference[i]));
                    }
                }
            }
            for r in &mut rows {
                r.hit1 /= nq as f64;
                r.same = if r.method.contains("int8 scores") { None } else { r.same.map(|s| s / nq as f64) };
                r.print(n);
            }
        }
    }
}
