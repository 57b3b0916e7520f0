//! The shared backend: PostgreSQL with pgvector (feature `postgres`).
//!
//! Every call is one short transaction on a pooled connection; nothing is cached in the process, so several
//! `issc serve` processes can share one database. Search runs in the database. A collection with fewer trained
//! faces than [`PgAnnIndex::min_faces`] (or every collection, without an index setting) is searched exactly: a
//! sequential scan of its trained faces with pgvector's inner product. Training a larger one builds (or keeps) a
//! pgvector HNSW index of its own (a partial index over the collection's rows, built `CONCURRENTLY`, so other
//! collections keep taking faces meanwhile); identify then takes the graph's nearest candidates and re-scores them
//! exactly, as the sequential scan scores.
//!
//! Concurrency between connections (or processes) is settled with row locks on the collection (and person): face
//! additions hold the collection row `FOR SHARE` (face lists: `FOR UPDATE`, for the quota), a training holds it
//! `FOR UPDATE` while it reads the newest face, so no face committed later can carry a lower `seq` than the
//! snapshot bound `trained_upto`.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::time::Duration;

use ::postgres::error::SqlState;
use ::postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use ::postgres::{Client, GenericClient, NoTls};
use bytes::BufMut as _;

use super::*;

/// Most dimensions a pgvector `vector` holds.
const MAX_DIM: usize = 16_000;

/// Most connections one store opens (lazily).
const POOL_SIZE: usize = 8;

/// Serialises schema creation between processes connecting at once (`pg_advisory_xact_lock`).
const SCHEMA_LOCK: i64 = 0x6973_7363_7374_6f72; // "isscstor"

/// What a training interrupted by a restart reports (as in the SQLite store).
const STOPPED: &str = "the server stopped during training; train again";

/// How long a training may stay `running` before another server takes its owner for dead (a training here is one
/// short transaction, so only a server killed between `begin_training` and `run_training` leaves one behind).
const TRAINING_LEASE: Duration = Duration::from_secs(60);

/// Finished operations are kept this long (Azure keeps them two days), then swept by the next training.
const OPERATIONS_KEPT: &str = "2 days";

/// Most candidates pgvector's HNSW search returns (its `hnsw.ef_search` limit).
const MAX_EF_SEARCH: u32 = 1000;

/// The approximate index [`PgStore`] gives a large collection when it is trained: pgvector's HNSW graph on cosine
/// distance, one partial index per collection. Identify asks the graph for `ef_search` candidate faces and
/// re-scores them exactly; hit@1 against the exact scan and latency per setting are measured by
/// `cargo bench -p issc-store --features postgres --bench pg_index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgAnnIndex {
    /// Collections with fewer faces at training are searched exactly (and lose an index they had). Default 10,000.
    pub min_faces: usize,
    /// Candidate faces the graph search returns for re-scoring (pgvector `hnsw.ef_search`; raised to the number
    /// of results asked for, at most 1,000). Default 100.
    pub ef_search: u32,
    /// Graph degree (pgvector `m`, 2–100). Default 16.
    pub m: u32,
    /// Candidates kept while building (pgvector `ef_construction`, at least 2 × `m`). Default 64.
    pub ef_construction: u32,
    /// The most memory one index build may use, in MiB: the session's `maintenance_work_mem` is raised towards
    /// the graph's size up to this (never lowered). Default 1,024.
    pub build_memory_mib: u32,
}

impl Default for PgAnnIndex {
    fn default() -> Self {
        Self { min_faces: 10_000, ef_search: 100, m: 16, ef_construction: 64, build_memory_mib: 1024 }
    }
}

/// A trained collection's faces as this process searches them (see [`PgStore::with_memory_index`]): int8 rows
/// of the snapshot, with who owns each, for the training it was loaded for.
struct MemorySnapshot {
    /// `trained_upto` and `train_last_success` of the training it holds.
    version: (i64, Option<String>),
    /// `None`: the collection had fewer faces than the threshold (searched in the database).
    index: Option<QuantizedIndex>,
    owners: Vec<Uuid>,
}

/// A collection's snapshot in this process, shared by its searches.
type SharedSnapshot = Arc<RwLock<MemorySnapshot>>;

/// `s` as an SQL string literal (PostgreSQL's `quote_literal`: quotes doubled; with a backslash, an `E''` string
/// with backslashes doubled), for the partial index's predicate, which a query must repeat as constants.
fn literal(s: &str) -> String {
    let body = s.replace('\'', "''");
    if body.contains('\\') { format!("E'{}'", body.replace('\\', "\\\\")) } else { format!("'{body}'") }
}

/// The name of a collection's HNSW index: fixed by kind and id, so a collection created again under the same id
/// finds (or replaces) it.
fn ann_index_name(kind: Kind, id: &str) -> String {
    // FNV-1a, 64 bits: a name, not a secret. Two collections sharing one would only lose the index (the query's
    // predicate names the collection, so its rows stay its own).
    let h = format!("{}/{id}", kind.tag())
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    format!("issc_ann_{h:016x}")
}

/// Most expired faceIds one insertion sweeps in passing (more than it adds, so expired rows never pile up).
const SWEEP_IN_PASSING: i64 = 256;

fn schema(dim: usize) -> String {
    format!(
        r#"
CREATE TABLE IF NOT EXISTS issc_collections(
    kind text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, name text NOT NULL, user_data text,
    recognition_model text NOT NULL, created text NOT NULL,
    train_status text NOT NULL DEFAULT 'notStarted', train_created text, train_last_action text,
    train_last_success text, train_message text,
    -- faces with seq <= trained_upto form the trained snapshot (NULL: never trained)
    trained_upto bigint,
    PRIMARY KEY(kind, id));
CREATE TABLE IF NOT EXISTS issc_persons(
    person_id text COLLATE "C" PRIMARY KEY, kind text COLLATE "C" NOT NULL, collection text COLLATE "C" NOT NULL,
    name text NOT NULL, user_data text,
    FOREIGN KEY(kind, collection) REFERENCES issc_collections(kind, id) ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS issc_persons_by_collection ON issc_persons(kind, collection, person_id);
CREATE TABLE IF NOT EXISTS issc_faces(
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, face_id text COLLATE "C" NOT NULL UNIQUE,
    kind text COLLATE "C" NOT NULL, collection text COLLATE "C" NOT NULL,
    person_id text COLLATE "C" REFERENCES issc_persons(person_id) ON DELETE CASCADE, user_data text,
    -- |embedding| (f32, as the embedded index computes it): cosine = -(embedding <#> unit query) / norm
    norm real NOT NULL,
    embedding vector({dim}) NOT NULL,
    FOREIGN KEY(kind, collection) REFERENCES issc_collections(kind, id) ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS issc_faces_by_collection ON issc_faces(kind, collection, face_id);
CREATE INDEX IF NOT EXISTS issc_faces_by_person ON issc_faces(person_id, seq);
CREATE TABLE IF NOT EXISTS issc_operations(
    id text COLLATE "C" PRIMARY KEY, kind text NOT NULL, collection text NOT NULL, status text NOT NULL,
    created text NOT NULL, last_action text NOT NULL, finished text, message text);
-- Who runs a training, and since when (the database's clock): a running one whose owner is gone is failed.
ALTER TABLE issc_collections ADD COLUMN IF NOT EXISTS train_owner text, ADD COLUMN IF NOT EXISTS train_started timestamptz;
ALTER TABLE issc_operations ADD COLUMN IF NOT EXISTS started timestamptz;
-- The HNSW index the trained snapshot is searched with (NULL: exact scan).
ALTER TABLE issc_collections ADD COLUMN IF NOT EXISTS ann_index text;
-- detect's transient faceIds, shared by every server; expiry by the database's clock.
CREATE TABLE IF NOT EXISTS issc_face_ids(
    id text COLLATE "C" PRIMARY KEY, expires timestamptz NOT NULL, recognition_model text NOT NULL,
    embedding vector({dim}) NOT NULL);
CREATE INDEX IF NOT EXISTS issc_face_ids_by_expiry ON issc_face_ids(expires);
-- How many rows issc_face_ids holds; every change of it holds this row's lock, so the count is exact.
CREATE TABLE IF NOT EXISTS issc_face_id_count(one boolean PRIMARY KEY DEFAULT true CHECK (one), n bigint NOT NULL);
INSERT INTO issc_face_id_count(one, n) VALUES (true, 0) ON CONFLICT DO NOTHING;
"#
    )
}

/// A pgvector `vector` parameter, sent in its binary form: dimension (u16), an unused u16, big-endian f32s.
#[derive(Debug)]
struct Vector<'a>(&'a [f32]);

impl ToSql for Vector<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_u16(u16::try_from(self.0.len())?);
        out.put_u16(0);
        for &x in self.0 {
            out.put_f32(x);
        }
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }

    to_sql_checked!();
}

/// A pgvector `vector` read back (binary form, as above).
struct VectorOut(Vec<f32>);

impl<'a> FromSql<'a> for VectorOut {
    fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let (head, body) = raw.split_at_checked(4).ok_or("a pgvector value shorter than its header")?;
        let dim = usize::from(u16::from_be_bytes([head[0], head[1]]));
        if body.len() != dim * 4 {
            return Err(format!("a pgvector value of {} bytes for {dim} dimensions", body.len()).into());
        }
        Ok(VectorOut(body.chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect()))
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }
}

fn uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or_default()
}

/// `LIMIT` for `top` (SQLite reads a negative limit as "no limit"; PostgreSQL refuses it).
fn limit(top: usize) -> i64 {
    i64::try_from(top).unwrap_or(i64::MAX)
}

/// Idle connections and how many are open.
struct Pool {
    idle: Vec<Client>,
    open: usize,
}

/// The Face API collections in PostgreSQL with the pgvector extension: tables `issc_collections`,
/// `issc_persons`, `issc_faces` (embeddings as `vector(DIM)`), `issc_operations` and `issc_meta` in the schema the
/// connection's `search_path` selects. Several processes may share one database. Cheap to share behind an `Arc`.
///
/// Its methods block (they drive the client's own small runtime): call them off the async runtime, as with
/// [`SqliteStore`].
pub struct PgStore {
    config: ::postgres::Config,
    /// The URL with its password replaced by `***`.
    location: String,
    dim: usize,
    pool: Mutex<Pool>,
    freed: Condvar,
    /// Marks the trainings this store runs (a fresh id per connect).
    instance: String,
    /// See [`TRAINING_LEASE`].
    training_lease: Duration,
    /// What large collections are indexed with at training (`None`: no HNSW index).
    ann: Option<PgAnnIndex>,
    /// Collections of at least this many trained faces are searched from a snapshot in this process.
    memory_min_faces: Option<usize>,
    /// Those snapshots, by collection.
    memory: RwLock<HashMap<(Kind, String), SharedSnapshot>>,
    /// Held while a snapshot loads, so that concurrent first searches load it once.
    loading: Mutex<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("location", &self.location).field("dim", &self.dim).finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Closing a client blocks on its runtime, which panics inside an async context (where a server may drop
        // its state): close them on a thread of their own.
        let mut idle = std::mem::take(&mut self.pool.get_mut().unwrap_or_else(PoisonError::into_inner).idle);
        let (config, instance) = (self.config.clone(), self.instance.clone());
        // Trainings this store began and did not finish will not finish: say so now rather than at lease expiry.
        let _ = std::thread::spawn(move || {
            let client = match idle.pop() {
                Some(c) if !c.is_closed() => Some(c),
                _ => config.connect(NoTls).ok(),
            };
            if let Some(mut c) = client {
                let _ = fail_trainings(&mut c, "train_owner = $1", &[&instance]);
            }
            drop(idle);
        })
        .join();
    }
}

/// A checked-out connection, returned to the pool when dropped (or discarded, if the server closed it).
struct Conn<'a> {
    store: &'a PgStore,
    client: Option<Client>,
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("a checked-out connection is present until dropped")
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("a checked-out connection is present until dropped")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let Some(c) = self.client.take() else { return };
        // A connection the server closed, or one in use when a panic struck, is not reused.
        let keep = !c.is_closed() && !std::thread::panicking();
        let discarded = {
            let mut pool = self.store.pool.lock().unwrap_or_else(PoisonError::into_inner);
            if keep {
                pool.idle.push(c);
                None
            } else {
                pool.open -= 1;
                Some(c)
            }
        };
        self.store.freed.notify_one();
        drop(discarded); // closed outside the lock
    }
}

fn message(msg: String) -> Box<dyn std::error::Error + Send + Sync> {
    msg.into()
}

/// Fail the running trainings of the collections `filter` selects (its parameters from `$1`) and their operations.
fn fail_trainings(
    c: &mut impl GenericClient,
    filter: &str,
    params: &[&(dyn ToSql + Sync)],
) -> std::result::Result<u64, ::postgres::Error> {
    let t = now();
    let n = params.len();
    let mut p: Vec<&(dyn ToSql + Sync)> = params.to_vec();
    p.push(&t);
    p.push(&STOPPED);
    let ops = c.execute(
        &format!(
            "UPDATE issc_operations SET status = 'failed', last_action = ${a}, finished = ${a}, message = ${b}
             WHERE status = 'running' AND (kind, collection) IN (
                 SELECT kind, id FROM issc_collections WHERE train_status = 'running' AND ({filter}))",
            a = n + 1,
            b = n + 2
        ),
        &p,
    )?;
    c.execute(
        &format!(
            "UPDATE issc_collections SET train_status = 'failed', train_last_action = ${a}, train_message = ${b},
             train_owner = NULL WHERE train_status = 'running' AND ({filter})",
            a = n + 1,
            b = n + 2
        ),
        &p,
    )?;
    Ok(ops)
}

impl PgStore {
    /// Connect to the database at `url` (`postgresql://user:password@host:port/dbname`, or `key=value` pairs; a
    /// missing password is taken from `PGPASSWORD`), create the pgvector extension and the tables if missing, for
    /// `dim`-dimensional embeddings. A database created for another dimension is refused. Trainings that were
    /// running (in this or any other process sharing the database) are marked failed, as at a restart of the
    /// embedded store. Plain connections only (no TLS; `sslmode=require` fails): reach a remote server through a
    /// Unix socket, a private network or a TLS tunnel.
    pub fn connect(url: &str, dim: usize) -> Result<Self> {
        let location = redact_url(url);
        let fail =
            |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Db { store: location.clone(), source };
        let mut config: ::postgres::Config = url.parse().map_err(|e: ::postgres::Error| fail(Box::new(e)))?;
        if config.get_password().is_none()
            && let Ok(p) = std::env::var("PGPASSWORD")
        {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("issc-store");
        }
        if dim == 0 || dim > MAX_DIM {
            return Err(fail(message(format!("pgvector holds 1 to {MAX_DIM} dimensions, not {dim}"))));
        }
        let store = Self {
            config,
            location,
            dim,
            pool: Mutex::new(Pool { idle: vec![], open: 0 }),
            freed: Condvar::new(),
            instance: Uuid::new_v4().to_string(),
            training_lease: TRAINING_LEASE,
            ann: None,
            memory_min_faces: Some(10_000),
            memory: RwLock::new(HashMap::new()),
            loading: Mutex::new(()),
        };
        {
            let mut c = store.conn()?;
            store.prepare(&mut c)?;
        }
        Ok(store)
    }

    /// How long a training may stay running before other servers take its owner for dead and report it failed
    /// (default one minute; a training here takes one short transaction).
    pub fn with_training_lease(mut self, lease: Duration) -> Self {
        self.training_lease = lease;
        self
    }

    /// Give collections a pgvector HNSW index when trained (see [`PgAnnIndex`]; none by default): searched in the
    /// database through it, approximately, unless [`with_memory_index`](Self::with_memory_index) covers them.
    /// `None` drops a collection's index at its next training.
    pub fn with_ann_index(mut self, ann: Option<PgAnnIndex>) -> Self {
        self.ann = ann;
        self
    }

    /// Search trained collections of at least `min_faces` faces (default 10,000) from a snapshot in this
    /// process: their trained faces' int8 rows (about 150 bytes per face), loaded from the database right after a
    /// training by the server that ran it, and at their first search by the others; scanned on every core, the
    /// owners that may make the top `k` re-scored exactly from the embeddings in the database. The answer is the
    /// exact scan's; faces deleted by any server are found missing at re-scoring and dropped from the snapshot (the
    /// search then runs again). Nothing a request needs is held only here: every server builds its own from the
    /// database. `None`: every search runs in the database.
    pub fn with_memory_index(mut self, min_faces: Option<usize>) -> Self {
        self.memory_min_faces = min_faces;
        self.memory.write().unwrap_or_else(PoisonError::into_inner).clear();
        self
    }

    /// Whether this server holds a snapshot of the collection's faces to search (see
    /// [`with_memory_index`](Self::with_memory_index)); it may belong to an older training, replaced at the next
    /// search.
    pub fn searches_in_memory(&self, kind: Kind, id: &str) -> bool {
        let map = self.memory.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&(kind, id.to_string()))
            .is_some_and(|s| s.read().unwrap_or_else(PoisonError::into_inner).index.is_some())
    }

    /// The connection string with its password hidden, for logs.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn prepare(&self, c: &mut Client) -> Result<()> {
        let mut tx = c.transaction().map_err(|e| self.db(e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).map_err(|e| self.db(e))?;
        tx.batch_execute("CREATE EXTENSION IF NOT EXISTS vector").map_err(|e| StoreError::Db {
            store: self.location.clone(),
            source: message(format!(
                "cannot create the pgvector extension ({e}): install pgvector on the server \
                 (https://github.com/pgvector/pgvector) and have its owner or a superuser run \
                 `CREATE EXTENSION vector` in this database"
            )),
        })?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS issc_meta(key text PRIMARY KEY, value text NOT NULL)")
            .map_err(|e| self.db(e))?;
        let stored: Option<String> = tx
            .query_opt("SELECT value FROM issc_meta WHERE key = 'dim'", &[])
            .map_err(|e| self.db(e))?
            .map(|r| r.get(0));
        match stored.as_deref().map(str::parse::<usize>) {
            None => {
                tx.execute("INSERT INTO issc_meta(key, value) VALUES ('dim', $1)", &[&self.dim.to_string()])
                    .map_err(|e| self.db(e))?;
            }
            Some(Ok(d)) if d == self.dim => {}
            Some(_) => {
                return Err(StoreError::Dimension {
                    expected: stored.and_then(|s| s.parse().ok()).unwrap_or(0),
                    got: self.dim,
                });
            }
        }
        tx.batch_execute(&schema(self.dim)).map_err(|e| self.db(e))?;
        // Other servers may be training right now: only trainings whose owner is gone are failed (see `stale`).
        self.fail_stale(&mut tx)?;
        tx.commit().map_err(|e| self.db(e))
    }

    /// Fail the trainings that have been running longer than the lease (their server died), or that an older
    /// version left running without an owner.
    fn fail_stale(&self, c: &mut impl GenericClient) -> Result<()> {
        let lease = self.training_lease.as_secs_f64();
        fail_trainings(c, "train_started IS NULL OR train_started < now() - make_interval(secs => $1)", &[&lease])
            .map_err(|e| self.db(e))?;
        // Operations left running without their collection's training (the collection was deleted meanwhile).
        let t = now();
        c.execute(
            "UPDATE issc_operations SET status = 'failed', last_action = $2, finished = $2, message = $3
             WHERE status IN ('running', 'notStarted') AND (started IS NULL OR started < now() - make_interval(secs => $1))",
            &[&lease, &t, &STOPPED],
        )
        .map_err(|e| self.db(e))?;
        Ok(())
    }

    fn db(&self, source: ::postgres::Error) -> StoreError {
        StoreError::Db { store: self.location.clone(), source: Box::new(source) }
    }

    /// A connection from the pool: an idle one, a new one while fewer than [`POOL_SIZE`] are open, else the next
    /// one returned. Connections the server closed are dropped and replaced.
    fn conn(&self) -> Result<Conn<'_>> {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(c) = pool.idle.pop() {
                if c.is_closed() {
                    pool.open -= 1;
                    continue;
                }
                return Ok(Conn { store: self, client: Some(c) });
            }
            if pool.open < POOL_SIZE {
                pool.open += 1;
                drop(pool);
                return match self.config.connect(NoTls) {
                    Ok(c) => Ok(Conn { store: self, client: Some(c) }),
                    Err(e) => {
                        self.pool.lock().unwrap_or_else(PoisonError::into_inner).open -= 1;
                        self.freed.notify_one();
                        Err(self.db(e))
                    }
                };
            }
            pool = self.freed.wait(pool).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The collection exists; with `lock` (`FOR SHARE`, `FOR UPDATE`), its row is locked until the transaction ends.
    fn exists(&self, c: &mut impl GenericClient, kind: Kind, id: &str, lock: &str) -> Result<()> {
        let sql = format!("SELECT 1 FROM issc_collections WHERE kind = $1 AND id = $2 {lock}");
        match c.query_opt(&sql, &[&kind.tag(), &id]).map_err(|e| self.db(e))? {
            Some(_) => Ok(()),
            None => Err(StoreError::CollectionNotFound(kind, id.to_string())),
        }
    }

    fn check_person(&self, c: &mut impl GenericClient, kind: Kind, group: &str, person: Option<Uuid>) -> Result<()> {
        if let Some(p) = person {
            let found = c
                .query_opt(
                    "SELECT 1 FROM issc_persons WHERE person_id = $1 AND kind = $2 AND collection = $3",
                    &[&p.to_string(), &kind.tag(), &group],
                )
                .map_err(|e| self.db(e))?;
            if found.is_none() {
                return Err(StoreError::PersonNotFound(p));
            }
        }
        Ok(())
    }

    fn face_ids_of(&self, c: &mut impl GenericClient, person: Uuid) -> Result<Vec<Uuid>> {
        Ok(c.query("SELECT face_id FROM issc_faces WHERE person_id = $1 ORDER BY seq", &[&person.to_string()])
            .map_err(|e| self.db(e))?
            .iter()
            .map(|r| uuid(r.get(0)))
            .collect())
    }

    fn face_row(
        &self,
        c: &mut impl GenericClient,
        kind: Kind,
        collection: &str,
        person: Option<Uuid>,
        face: Uuid,
    ) -> Result<(i64, Option<String>)> {
        c.query_opt(
            "SELECT seq, user_data FROM issc_faces WHERE face_id = $1 AND kind = $2 AND collection = $3
             AND ($4::text IS NULL OR person_id = $4)",
            &[&face.to_string(), &kind.tag(), &collection, &person.map(|p| p.to_string())],
        )
        .map_err(|e| self.db(e))?
        .map(|r| (r.get(0), r.get(1)))
        .ok_or(StoreError::FaceNotFound(face))
    }

    fn training_row(
        &self,
        c: &mut impl GenericClient,
        kind: Kind,
        id: &str,
        lock: &str,
    ) -> Result<(Training, Option<i64>, Option<String>)> {
        let sql = format!(
            "SELECT train_status, coalesce(train_created, created), coalesce(train_last_action, created),
                    train_last_success, train_message, trained_upto, ann_index
             FROM issc_collections WHERE kind = $1 AND id = $2 {lock}"
        );
        let r = c
            .query_opt(&sql, &[&kind.tag(), &id])
            .map_err(|e| self.db(e))?
            .ok_or_else(|| StoreError::CollectionNotFound(kind, id.to_string()))?;
        Ok((
            Training {
                status: Status::parse(r.get(0)),
                created: r.get(1),
                last_action: r.get(2),
                last_success: r.get(3),
                message: r.get(4),
            },
            r.get(5),
            r.get(6),
        ))
    }

    /// The `k` owners (persons, or faces of a face list) whose closest trained face is most similar to `query`.
    fn search(&self, kind: Kind, id: &str, query: &[f32], k: usize) -> Result<Vec<(Uuid, f32)>> {
        if query.len() != self.dim {
            return Err(StoreError::Dimension { expected: self.dim, got: query.len() });
        }
        let mut c = self.conn()?;
        let (training, upto, ann_index) = match self.training_row(&mut *c, kind, id, "") {
            Err(e @ StoreError::CollectionNotFound(..)) => {
                // Deleted, perhaps through another server: this one's snapshot of it goes too.
                self.memory.write().unwrap_or_else(PoisonError::into_inner).remove(&(kind, id.to_string()));
                return Err(e);
            }
            other => other?,
        };
        let upto = match (kind.needs_training(), upto) {
            (false, _) => i64::MAX,
            (true, Some(u)) => u,
            (true, None) if training.status == Status::Running => {
                return Err(StoreError::TrainingRunning(kind, id.to_string()));
            }
            (true, None) => return Err(StoreError::NotTrained(kind, id.to_string())),
        };
        if k == 0 {
            return Ok(Vec::new());
        }
        let query = normalized(query);
        if let Some(min) = self.memory_min_faces.filter(|_| kind.needs_training()) {
            let version = (upto, training.last_success.clone());
            if let Some(snapshot) = self.memory_snapshot(&mut c, kind, id, version, min)? {
                return self.search_memory(&mut c, &snapshot, &query, k);
            }
        }
        if let (Some(ann), Some(_)) = (self.ann, &ann_index) {
            // The collection's HNSW index: its nearest candidates (the partial index's predicate repeated as
            // constants, so the planner can use it), each re-scored exactly as the scan below scores.
            let n = ann.ef_search.max(u32::try_from(k).unwrap_or(u32::MAX)).min(MAX_EF_SEARCH);
            let mut tx = c.transaction().map_err(|e| self.db(e))?;
            // The planner may price a sort of a few thousand rows below the graph search: the threshold, not its
            // estimate, decides (only this transaction's plan).
            tx.batch_execute(&format!("SET LOCAL hnsw.ef_search = {n}; SET LOCAL enable_seqscan = off"))
                .map_err(|e| self.db(e))?;
            let sql = format!(
                "SELECT owner, max(score) AS best FROM (
                     SELECT coalesce(person_id, face_id) AS owner, seq,
                            CASE WHEN norm > 0 THEN -(embedding <#> $1) / norm ELSE 0 END AS score
                     FROM (SELECT person_id, face_id, seq, norm, embedding FROM issc_faces
                           WHERE kind = {} AND collection = {} AND seq <= $2
                           ORDER BY embedding <=> $1 LIMIT {n}) AS near) AS candidates
                 GROUP BY owner ORDER BY best DESC, min(seq) LIMIT $3",
                literal(kind.tag()),
                literal(id)
            );
            let rows = tx.query(&sql, &[&Vector(&query), &upto, &limit(k)]).map_err(|e| self.db(e))?;
            tx.commit().map_err(|e| self.db(e))?;
            return Ok(rows.iter().map(|r| (uuid(r.get(0)), r.get::<_, f64>(1) as f32)).collect());
        }
        // Exact: every trained face of the collection is scanned.
        // Scores are computed in the scan, so that the grouping handles narrow rows (no embeddings).
        let rows = c
            .query(
                "SELECT owner, max(score) AS best FROM (
                     SELECT coalesce(person_id, face_id) AS owner, seq,
                            CASE WHEN norm > 0 THEN -(embedding <#> $1) / norm ELSE 0 END AS score
                     FROM issc_faces WHERE kind = $2 AND collection = $3 AND seq <= $4) AS trained
                 GROUP BY owner ORDER BY best DESC, min(seq) LIMIT $5",
                &[&Vector(&query), &kind.tag(), &id, &upto, &limit(k)],
            )
            .map_err(|e| self.db(e))?;
        Ok(rows.iter().map(|r| (uuid(r.get(0)), r.get::<_, f64>(1) as f32)).collect())
    }

    /// The collection's snapshot in this process for the training `version`, loaded if missing or older; `None`
    /// below `min` faces.
    fn memory_snapshot(
        &self,
        c: &mut Client,
        kind: Kind,
        id: &str,
        version: (i64, Option<String>),
        min: usize,
    ) -> Result<Option<SharedSnapshot>> {
        let key = (kind, id.to_string());
        let cached = || -> Option<SharedSnapshot> {
            let map = self.memory.read().unwrap_or_else(PoisonError::into_inner);
            map.get(&key).filter(|s| s.read().unwrap_or_else(PoisonError::into_inner).version == version).cloned()
        };
        let usable = |s: SharedSnapshot| {
            let large = s.read().unwrap_or_else(PoisonError::into_inner).index.is_some();
            large.then_some(s)
        };
        if let Some(s) = cached() {
            return Ok(usable(s));
        }
        let _loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = cached() {
            return Ok(usable(s));
        }
        let (upto, kind_tag) = (version.0, kind.tag());
        let faces: i64 = c
            .query_one(
                "SELECT count(*) FROM issc_faces WHERE kind = $1 AND collection = $2 AND seq <= $3",
                &[&kind_tag, &id, &upto],
            )
            .map_err(|e| self.db(e))?
            .get(0);
        let mut owners: Vec<Uuid> = Vec::new();
        let index = if usize::try_from(faces).unwrap_or(0) >= min {
            let started = std::time::Instant::now();
            let mut builder = QuantizedBuilder::new(self.dim);
            let mut owner_of: HashMap<String, u32> = HashMap::new();
            let mut rows = c
                .query_raw(
                    "SELECT seq, coalesce(person_id, face_id), embedding FROM issc_faces
                     WHERE kind = $1 AND collection = $2 AND seq <= $3",
                    [&kind_tag as &(dyn ToSql + Sync), &id, &upto],
                )
                .map_err(|e| self.db(e))?;
            while let Some(r) =
                ::postgres::fallible_iterator::FallibleIterator::next(&mut rows).map_err(|e| self.db(e))?
            {
                let (seq, owner, v): (i64, String, VectorOut) = (r.get(0), r.get(1), r.get(2));
                let next = owners.len() as u32;
                let o = *owner_of.entry(owner).or_insert_with_key(|owner| {
                    owners.push(uuid(owner));
                    next
                });
                builder.add(o, seq, &v.0);
            }
            let index = builder.build();
            tracing::info!(
                "{} '{id}': {} faces loaded for search in this process in {:.1} s",
                kind.azure_name(),
                index.len(),
                started.elapsed().as_secs_f64()
            );
            Some(index)
        } else {
            None
        };
        let snapshot = Arc::new(RwLock::new(MemorySnapshot { version, index, owners }));
        self.memory.write().unwrap_or_else(PoisonError::into_inner).insert(key, snapshot.clone());
        Ok(usable(snapshot))
    }

    /// Search a snapshot in this process, re-scoring from the database; rows found deleted are dropped from it and
    /// the search runs again, so the answer is the exact scan's over the faces that exist now.
    fn search_memory(
        &self,
        c: &mut Client,
        snapshot: &RwLock<MemorySnapshot>,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<(Uuid, f32)>> {
        loop {
            let mut gone: Vec<i64> = Vec::new();
            let hits = {
                let t = snapshot.read().unwrap_or_else(PoisonError::into_inner);
                let Some(index) = &t.index else { return Ok(Vec::new()) };
                let hits = index.search_exact(query, k, |keys| {
                    let rows = c
                        .query("SELECT seq, embedding FROM issc_faces WHERE seq = ANY($1)", &[&keys])
                        .map_err(|e| self.db(e))?;
                    let mut found: HashMap<i64, Vec<f32>> =
                        rows.iter().map(|r| (r.get::<_, i64>(0), r.get::<_, VectorOut>(1).0)).collect();
                    let out: Vec<Option<Vec<f32>>> = keys.iter().map(|key| found.remove(key)).collect();
                    gone.extend(keys.iter().zip(&out).filter(|(_, v)| v.is_none()).map(|(key, _)| *key));
                    Ok::<_, StoreError>(out)
                })?;
                hits.into_iter().map(|h| (t.owners[h.owner as usize], h.score)).collect::<Vec<_>>()
            };
            if gone.is_empty() {
                return Ok(hits);
            }
            let mut t = snapshot.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(index) = &mut t.index {
                for key in gone {
                    index.remove(key);
                }
            }
        }
    }

    /// Before a training's snapshot: the HNSW index the collection should be searched with, built now if it is
    /// missing (or left invalid by an interrupted build), or dropped if the collection is below the threshold.
    /// The training's lease is renewed while the index builds, so other servers do not take it for dead.
    fn prepare_ann_index(&self, kind: Kind, id: &str, operation: Uuid) -> Result<Option<String>> {
        let name = ann_index_name(kind, id);
        let mut c = self.conn()?;
        let valid: Option<bool> = c
            .query_opt("SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)", &[&name])
            .map_err(|e| self.db(e))?
            .map(|r| r.get(0));
        // Counted only when an index may be wanted (every training of a large collection otherwise pays a scan).
        let faces: i64 = match self.ann.filter(|_| kind.needs_training()) {
            Some(_) => c
                .query_one("SELECT count(*) FROM issc_faces WHERE kind = $1 AND collection = $2", &[&kind.tag(), &id])
                .map_err(|e| self.db(e))?
                .get(0),
            None => 0,
        };
        let wanted = self.ann.filter(|a| kind.needs_training() && usize::try_from(faces).unwrap_or(0) >= a.min_faces);
        let Some(ann) = wanted else {
            if valid.is_some() {
                c.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}")).map_err(|e| self.db(e))?;
            }
            return Ok(None);
        };
        // Fresh statistics, so the planner prices the graph search against the collection's real size.
        let analyze = |c: &mut Client| c.batch_execute("ANALYZE issc_faces").map_err(|e| self.db(e));
        if valid == Some(true) {
            // Kept up to date by every insertion since it was built.
            analyze(&mut c)?;
            return Ok(Some(name));
        }
        if valid == Some(false) {
            c.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}")).map_err(|e| self.db(e))?;
        }
        // pgvector builds fastest with the whole graph in memory: about the vectors plus 2·m neighbours each.
        let want_kib = (faces as u64 * (self.dim as u64 * 4 + u64::from(ann.m) * 2 * 10 + 64) / 1024)
            .min(u64::from(ann.build_memory_mib) * 1024);
        let have_kib: i64 = c
            .query_one("SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'", &[])
            .map_err(|e| self.db(e))?
            .get(0);
        let started = std::time::Instant::now();
        let built = self.renewing_lease(kind, id, operation, || {
            if want_kib > u64::try_from(have_kib).unwrap_or(0) {
                c.batch_execute(&format!("SET maintenance_work_mem = '{want_kib}kB'"))?;
            }
            let built = c.batch_execute(&format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON issc_faces
                     USING hnsw (embedding vector_cosine_ops) WITH (m = {}, ef_construction = {})
                     WHERE kind = {} AND collection = {}",
                ann.m,
                ann.ef_construction,
                literal(kind.tag()),
                literal(id)
            ));
            let reset = c.batch_execute("RESET maintenance_work_mem");
            built.and(reset)
        });
        if let Err(e) = built {
            // An interrupted concurrent build leaves an invalid index behind: drop it (the next training retries).
            if let Ok(mut c) = self.conn() {
                let _ = c.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"));
            }
            return Err(StoreError::Db {
                store: self.location.clone(),
                source: message(format!(
                    "{} '{id}': building its HNSW index of {faces} faces failed ({e}); the previous training stays \
                     in use. Train again, give the server more room (disk, maintenance_work_mem), or turn the \
                     index off (PgAnnIndex::min_faces, `issc serve --pg-hnsw-min-faces 0`)",
                    kind.azure_name()
                )),
            });
        }
        analyze(&mut c)?;
        tracing::info!(
            "{} '{id}': HNSW index of {faces} faces built in {:.1} s",
            kind.azure_name(),
            started.elapsed().as_secs_f64()
        );
        Ok(Some(name))
    }

    /// Run `work` while renewing the lease of `operation` (the training of `kind`/`id` this store runs) on another
    /// connection, every quarter of the lease.
    fn renewing_lease<T>(&self, kind: Kind, id: &str, operation: Uuid, work: impl FnOnce() -> T) -> T {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let every = (self.training_lease / 4).max(Duration::from_millis(100));
        std::thread::scope(|scope| {
            scope.spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let Ok(mut c) = self.conn() else { continue };
                    let _ = c.execute(
                        "UPDATE issc_collections SET train_started = now()
                         WHERE kind = $1 AND id = $2 AND train_owner = $3 AND train_status = 'running'",
                        &[&kind.tag(), &id, &self.instance],
                    );
                    let _ = c.execute(
                        "UPDATE issc_operations SET started = now() WHERE id = $1 AND status = 'running'",
                        &[&operation.to_string()],
                    );
                }
            });
            let out = work();
            drop(stop);
            out
        })
    }
}

fn collection_of(r: &::postgres::Row) -> Collection {
    Collection { id: r.get(0), name: r.get(1), user_data: r.get(2), recognition_model: r.get(3) }
}

impl FaceStore for PgStore {
    fn dim(&self) -> usize {
        self.dim
    }

    fn face_ids(&self) -> &dyn FaceIds {
        self
    }

    fn create_collection(
        &self,
        kind: Kind,
        id: &str,
        name: &str,
        user_data: Option<&str>,
        recognition_model: &str,
    ) -> Result<()> {
        let mut c = self.conn()?;
        let r = c.execute(
            "INSERT INTO issc_collections(kind, id, name, user_data, recognition_model, created)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&kind.tag(), &id, &name, &user_data, &recognition_model, &now()],
        );
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                Err(StoreError::CollectionExists(kind, id.to_string()))
            }
            Err(e) => Err(self.db(e)),
        }
    }

    fn collection(&self, kind: Kind, id: &str) -> Result<Collection> {
        let mut c = self.conn()?;
        c.query_opt(
            "SELECT id, name, user_data, recognition_model FROM issc_collections WHERE kind = $1 AND id = $2",
            &[&kind.tag(), &id],
        )
        .map_err(|e| self.db(e))?
        .map(|r| collection_of(&r))
        .ok_or_else(|| StoreError::CollectionNotFound(kind, id.to_string()))
    }

    fn collections(&self, kind: Kind, start: Option<&str>, top: usize) -> Result<Vec<Collection>> {
        let mut c = self.conn()?;
        Ok(c.query(
            "SELECT id, name, user_data, recognition_model FROM issc_collections WHERE kind = $1 AND id > $2
             ORDER BY id LIMIT $3",
            &[&kind.tag(), &start.unwrap_or(""), &limit(top)],
        )
        .map_err(|e| self.db(e))?
        .iter()
        .map(collection_of)
        .collect())
    }

    fn update_collection(&self, kind: Kind, id: &str, name: Option<&str>, user_data: Option<&str>) -> Result<()> {
        let mut c = self.conn()?;
        let n = c
            .execute(
                "UPDATE issc_collections SET name = coalesce($3, name), user_data = coalesce($4, user_data)
                 WHERE kind = $1 AND id = $2",
                &[&kind.tag(), &id, &name, &user_data],
            )
            .map_err(|e| self.db(e))?;
        if n == 0 { Err(StoreError::CollectionNotFound(kind, id.to_string())) } else { Ok(()) }
    }

    fn delete_collection(&self, kind: Kind, id: &str) -> Result<()> {
        self.memory.write().unwrap_or_else(PoisonError::into_inner).remove(&(kind, id.to_string()));
        let mut c = self.conn()?;
        let indexed: Option<Option<String>> = c
            .query_opt(
                "DELETE FROM issc_collections WHERE kind = $1 AND id = $2 RETURNING ann_index",
                &[&kind.tag(), &id],
            )
            .map_err(|e| self.db(e))?
            .map(|r| r.get(0));
        match indexed {
            None => Err(StoreError::CollectionNotFound(kind, id.to_string())),
            Some(Some(name)) => {
                // Its rows are gone; the (now empty) index goes too, without locking out other collections.
                if let Err(e) = c.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}")) {
                    tracing::warn!("{} '{id}' deleted, but not its index {name}: {e}", kind.azure_name());
                }
                Ok(())
            }
            Some(None) => Ok(()),
        }
    }

    fn create_person(&self, kind: Kind, group: &str, name: &str, user_data: Option<&str>) -> Result<Uuid> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(|e| self.db(e))?;
        let max = kind.max_persons();
        self.exists(&mut tx, kind, group, if max.is_some() { "FOR UPDATE" } else { "FOR SHARE" })?;
        if let Some(max) = max {
            let n: i64 = tx
                .query_one(
                    "SELECT count(*) FROM issc_persons WHERE kind = $1 AND collection = $2",
                    &[&kind.tag(), &group],
                )
                .map_err(|e| self.db(e))?
                .get(0);
            if n >= max {
                return Err(StoreError::Quota(format!("Person number reached limit ({max}).")));
            }
        }
        let id = Uuid::new_v4();
        tx.execute(
            "INSERT INTO issc_persons(person_id, kind, collection, name, user_data) VALUES ($1, $2, $3, $4, $5)",
            &[&id.to_string(), &kind.tag(), &group, &name, &user_data],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(id)
    }

    fn person(&self, kind: Kind, group: &str, person: Uuid) -> Result<Person> {
        let mut c = self.conn()?;
        self.exists(&mut *c, kind, group, "")?;
        let (name, user_data) = c
            .query_opt(
                "SELECT name, user_data FROM issc_persons WHERE person_id = $1 AND kind = $2 AND collection = $3",
                &[&person.to_string(), &kind.tag(), &group],
            )
            .map_err(|e| self.db(e))?
            .map(|r| (r.get(0), r.get(1)))
            .ok_or(StoreError::PersonNotFound(person))?;
        Ok(Person { person_id: person, name, user_data, persisted_face_ids: self.face_ids_of(&mut *c, person)? })
    }

    fn persons(&self, kind: Kind, group: &str, start: Option<&str>, top: usize) -> Result<Vec<Person>> {
        let mut c = self.conn()?;
        self.exists(&mut *c, kind, group, "")?;
        let rows = c
            .query(
                "SELECT p.person_id, p.name, p.user_data,
                        coalesce(array_agg(f.face_id ORDER BY f.seq) FILTER (WHERE f.face_id IS NOT NULL), '{}')
                 FROM (SELECT person_id, name, user_data FROM issc_persons
                       WHERE kind = $1 AND collection = $2 AND person_id > $3 ORDER BY person_id LIMIT $4) p
                 LEFT JOIN issc_faces f ON f.person_id = p.person_id
                 GROUP BY p.person_id, p.name, p.user_data ORDER BY p.person_id",
                &[&kind.tag(), &group, &start.unwrap_or(""), &limit(top)],
            )
            .map_err(|e| self.db(e))?;
        Ok(rows
            .iter()
            .map(|r| Person {
                person_id: uuid(r.get(0)),
                name: r.get(1),
                user_data: r.get(2),
                persisted_face_ids: r.get::<_, Vec<String>>(3).iter().map(|s| uuid(s)).collect(),
            })
            .collect())
    }

    fn update_person(
        &self,
        kind: Kind,
        group: &str,
        person: Uuid,
        name: Option<&str>,
        user_data: Option<&str>,
    ) -> Result<()> {
        let mut c = self.conn()?;
        self.exists(&mut *c, kind, group, "")?;
        let n = c
            .execute(
                "UPDATE issc_persons SET name = coalesce($4, name), user_data = coalesce($5, user_data)
                 WHERE person_id = $1 AND kind = $2 AND collection = $3",
                &[&person.to_string(), &kind.tag(), &group, &name, &user_data],
            )
            .map_err(|e| self.db(e))?;
        if n == 0 { Err(StoreError::PersonNotFound(person)) } else { Ok(()) }
    }

    fn delete_person(&self, kind: Kind, group: &str, person: Uuid) -> Result<()> {
        let mut c = self.conn()?;
        self.exists(&mut *c, kind, group, "")?;
        // The person's faces (embeddings, userData) go with them (ON DELETE CASCADE), from every search at once.
        let n = c
            .execute(
                "DELETE FROM issc_persons WHERE person_id = $1 AND kind = $2 AND collection = $3",
                &[&person.to_string(), &kind.tag(), &group],
            )
            .map_err(|e| self.db(e))?;
        if n == 0 { Err(StoreError::PersonNotFound(person)) } else { Ok(()) }
    }

    fn add_face(
        &self,
        kind: Kind,
        collection: &str,
        person: Option<Uuid>,
        embedding: &[f32],
        user_data: Option<&str>,
    ) -> Result<Uuid> {
        if embedding.len() != self.dim {
            return Err(StoreError::Dimension { expected: self.dim, got: embedding.len() });
        }
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(|e| self.db(e))?;
        // FOR SHARE: a training (FOR UPDATE) waits for this face, or this face for it (see the module's notes).
        let quota = !kind.has_persons() && kind.max_faces().is_some();
        self.exists(&mut tx, kind, collection, if quota { "FOR UPDATE" } else { "FOR SHARE" })?;
        let count = |tx: &mut ::postgres::Transaction<'_>, sql: &str, p: &[&(dyn ToSql + Sync)]| -> Result<i64> {
            tx.query_one(sql, p).map(|r| r.get(0)).map_err(|e| self.db(e))
        };
        match (kind.has_persons(), person) {
            (true, Some(p)) => {
                let found = tx
                    .query_opt(
                        "SELECT 1 FROM issc_persons WHERE person_id = $1 AND kind = $2 AND collection = $3 FOR UPDATE",
                        &[&p.to_string(), &kind.tag(), &collection],
                    )
                    .map_err(|e| self.db(e))?;
                if found.is_none() {
                    return Err(StoreError::PersonNotFound(p));
                }
                if count(&mut tx, "SELECT count(*) FROM issc_faces WHERE person_id = $1", &[&p.to_string()])?
                    >= MAX_FACES_PER_PERSON
                {
                    return Err(StoreError::Quota(format!(
                        "Persisted face number reached limit: a person has at most {MAX_FACES_PER_PERSON} faces."
                    )));
                }
            }
            (true, None) => return Err(StoreError::PersonNotFound(Uuid::nil())),
            (false, _) => {
                if let Some(max) = kind.max_faces() {
                    let n = count(
                        &mut tx,
                        "SELECT count(*) FROM issc_faces WHERE kind = $1 AND collection = $2",
                        &[&kind.tag(), &collection],
                    )?;
                    if n >= max {
                        return Err(StoreError::Quota(format!("Persisted face number reached limit ({max}).")));
                    }
                }
            }
        }
        let id = Uuid::new_v4();
        tx.execute(
            "INSERT INTO issc_faces(face_id, kind, collection, person_id, user_data, norm, embedding)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id.to_string(),
                &kind.tag(),
                &collection,
                &person.filter(|_| kind.has_persons()).map(|p| p.to_string()),
                &user_data,
                &dot(embedding, embedding).sqrt(),
                &Vector(embedding),
            ],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(id)
    }

    fn face(&self, kind: Kind, collection: &str, person: Option<Uuid>, face: Uuid) -> Result<StoredFace> {
        let mut c = self.conn()?;
        self.exists(&mut *c, kind, collection, "")?;
        self.check_person(&mut *c, kind, collection, person)?;
        let (_, user_data) = self.face_row(&mut *c, kind, collection, person, face)?;
        Ok(StoredFace { persisted_face_id: face, user_data })
    }

    fn faces(&self, kind: Kind, collection: &str, start: Option<&str>, top: usize) -> Result<Vec<StoredFace>> {
        let mut c = self.conn()?;
        self.exists(&mut *c, kind, collection, "")?;
        Ok(c.query(
            "SELECT face_id, user_data FROM issc_faces WHERE kind = $1 AND collection = $2 AND face_id > $3
             ORDER BY face_id LIMIT $4",
            &[&kind.tag(), &collection, &start.unwrap_or(""), &limit(top)],
        )
        .map_err(|e| self.db(e))?
        .iter()
        .map(|r| StoredFace { persisted_face_id: uuid(r.get(0)), user_data: r.get(1) })
        .collect())
    }

    fn update_face(
        &self,
        kind: Kind,
        collection: &str,
        person: Option<Uuid>,
        face: Uuid,
        user_data: Option<&str>,
    ) -> Result<()> {
        let mut c = self.conn()?;
        self.exists(&mut *c, kind, collection, "")?;
        self.check_person(&mut *c, kind, collection, person)?;
        let (seq, _) = self.face_row(&mut *c, kind, collection, person, face)?;
        c.execute("UPDATE issc_faces SET user_data = $2 WHERE seq = $1", &[&seq, &user_data])
            .map_err(|e| self.db(e))?;
        Ok(())
    }

    fn delete_face(&self, kind: Kind, collection: &str, person: Option<Uuid>, face: Uuid) -> Result<()> {
        let mut c = self.conn()?;
        self.exists(&mut *c, kind, collection, "")?;
        self.check_person(&mut *c, kind, collection, person)?;
        let (seq, _) = self.face_row(&mut *c, kind, collection, person, face)?;
        c.execute("DELETE FROM issc_faces WHERE seq = $1", &[&seq]).map_err(|e| self.db(e))?;
        Ok(())
    }

    fn person_embeddings(&self, kind: Kind, group: &str, person: Uuid) -> Result<Vec<Vec<f32>>> {
        let mut c = self.conn()?;
        self.exists(&mut *c, kind, group, "")?;
        self.check_person(&mut *c, kind, group, Some(person))?;
        Ok(c.query("SELECT embedding FROM issc_faces WHERE person_id = $1 ORDER BY seq", &[&person.to_string()])
            .map_err(|e| self.db(e))?
            .iter()
            .map(|r| r.get::<_, VectorOut>(0).0)
            .collect())
    }

    fn training(&self, kind: Kind, id: &str) -> Result<Training> {
        let mut c = self.conn()?;
        let (t, ..) = self.training_row(&mut *c, kind, id, "")?;
        if t.status != Status::Running {
            return Ok(t);
        }
        self.fail_stale(&mut *c)?;
        self.training_row(&mut *c, kind, id, "").map(|t| t.0)
    }

    fn begin_training(&self, kind: Kind, id: &str) -> Result<Operation> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(|e| self.db(e))?;
        let (t, ..) = self.training_row(&mut tx, kind, id, "FOR UPDATE")?;
        if t.status == Status::Running {
            // One whose server died is failed (and this one may start); a live one is refused.
            let lease = self.training_lease.as_secs_f64();
            let filter = "kind = $1 AND id = $2 AND (train_started IS NULL OR \
                          train_started < now() - make_interval(secs => $3))";
            let n = fail_trainings(&mut tx, filter, &[&kind.tag(), &id, &lease]).map_err(|e| self.db(e))?;
            let (t, ..) = self.training_row(&mut tx, kind, id, "")?;
            if t.status == Status::Running {
                return Err(StoreError::TrainingRunning(kind, id.to_string()));
            }
            tracing::warn!("{} '{id}': a training whose server stopped is failed ({n} operation)", kind.azure_name());
        }
        let op = Operation::running();
        let ts = op.created.clone();
        tx.execute(
            "UPDATE issc_collections SET train_status = 'running', train_created = $3, train_last_action = $3,
                 train_message = NULL, train_owner = $4, train_started = now() WHERE kind = $1 AND id = $2",
            &[&kind.tag(), &id, &ts, &self.instance],
        )
        .map_err(|e| self.db(e))?;
        tx.execute(
            "INSERT INTO issc_operations(id, kind, collection, status, created, last_action, started)
             VALUES ($1, $2, $3, 'running', $4, $4, now())",
            &[&op.id.to_string(), &kind.tag(), &id, &ts],
        )
        .map_err(|e| self.db(e))?;
        tx.execute(
            &format!("DELETE FROM issc_operations WHERE status <> 'running' AND started < now() - interval '{OPERATIONS_KEPT}'"),
            &[],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(op)
    }

    fn run_training(&self, kind: Kind, id: &str, operation: Uuid) -> Result<()> {
        let result: Result<()> = (|| {
            // The index first (minutes at millions of faces, without holding the collection): faces added while
            // it builds are in it too, and the snapshot below is taken once it is ready.
            let ann_index = self.prepare_ann_index(kind, id, operation)?;
            let mut c = self.conn()?;
            let mut tx = c.transaction().map_err(|e| self.db(e))?;
            // FOR UPDATE waits for faces being added (they hold the row FOR SHARE) and holds back new ones until
            // the snapshot bound is committed: every face present now is in, every later one gets a higher seq.
            self.exists(&mut tx, kind, id, "FOR UPDATE")?;
            let upto: i64 = tx
                .query_one(
                    "SELECT coalesce(max(seq), 0) FROM issc_faces WHERE kind = $1 AND collection = $2",
                    &[&kind.tag(), &id],
                )
                .map_err(|e| self.db(e))?
                .get(0);
            let ts = now();
            // Only the operation still running is finished: one failed meanwhile (its lease ran out) stays failed.
            let n = tx
                .execute(
                    "UPDATE issc_operations SET status = 'succeeded', last_action = $2, finished = $2
                     WHERE id = $1 AND status = 'running'",
                    &[&operation.to_string(), &ts],
                )
                .map_err(|e| self.db(e))?;
            if n == 0 {
                return Err(StoreError::OperationNotFound(operation));
            }
            tx.execute(
                "UPDATE issc_collections SET train_status = 'succeeded', train_last_action = $3,
                     train_last_success = $3, trained_upto = $4, train_owner = NULL, ann_index = $5
                 WHERE kind = $1 AND id = $2",
                &[&kind.tag(), &id, &ts, &upto, &ann_index],
            )
            .map_err(|e| self.db(e))?;
            tx.commit().map_err(|e| self.db(e))?;
            // This server loads its snapshot now, so that its first search does not wait for it (the others load
            // theirs at their first search). A failure here leaves that to the first search.
            if let Some(min) = self.memory_min_faces.filter(|_| kind.needs_training())
                && let Err(e) = self.memory_snapshot(&mut c, kind, id, (upto, Some(ts.clone())), min)
            {
                tracing::warn!("{} '{id}': snapshot not loaded after training: {e}", kind.azure_name());
            }
            Ok(())
        })();
        if let Err(e) = &result {
            let ts = now();
            let msg = e.to_string();
            if let Ok(mut c) = self.conn() {
                // Only this training: another server may have begun a newer one since (after this one's lease).
                let n = c.execute(
                    "UPDATE issc_operations SET status = 'failed', last_action = $2, finished = $2, message = $3
                     WHERE id = $1 AND status = 'running'",
                    &[&operation.to_string(), &ts, &msg],
                );
                if n.is_ok_and(|n| n > 0) {
                    let _ = c.execute(
                        "UPDATE issc_collections SET train_status = 'failed', train_last_action = $3,
                             train_message = $4, train_owner = NULL
                         WHERE kind = $1 AND id = $2 AND train_status = 'running' AND train_owner = $5",
                        &[&kind.tag(), &id, &ts, &msg, &self.instance],
                    );
                }
            }
        }
        result
    }

    fn operation(&self, id: Uuid) -> Result<Operation> {
        let mut c = self.conn()?;
        let running: Option<bool> = c
            .query_opt("SELECT status = 'running' FROM issc_operations WHERE id = $1", &[&id.to_string()])
            .map_err(|e| self.db(e))?
            .map(|r| r.get(0));
        if running == Some(true) {
            self.fail_stale(&mut *c)?;
        }
        c.query_opt(
            "SELECT status, created, last_action, finished, message FROM issc_operations WHERE id = $1",
            &[&id.to_string()],
        )
        .map_err(|e| self.db(e))?
        .map(|r| Operation {
            id,
            status: Status::parse(r.get(0)),
            created: r.get(1),
            last_action: r.get(2),
            finished: r.get(3),
            message: r.get(4),
        })
        .ok_or(StoreError::OperationNotFound(id))
    }

    fn identify(&self, kind: Kind, group: &str, query: &[f32], k: usize) -> Result<Vec<(Uuid, f32)>> {
        self.search(kind, group, query, k)
    }

    fn find_similar(&self, kind: Kind, list: &str, query: &[f32], k: usize) -> Result<Vec<(Uuid, f32)>> {
        self.search(kind, list, query, k)
    }

    fn face_count(&self, kind: Kind, collection: &str) -> Result<usize> {
        let mut c = self.conn()?;
        self.exists(&mut *c, kind, collection, "")?;
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM issc_faces WHERE kind = $1 AND collection = $2",
                &[&kind.tag(), &collection],
            )
            .map_err(|e| self.db(e))?
            .get(0);
        Ok(n as usize)
    }
}

impl PgStore {
    /// Lock the faceId count (every change of `issc_face_ids` holds it) and sweep expired ids in passing: at most
    /// `limit`, or all. The count afterwards.
    fn lock_and_sweep(&self, tx: &mut ::postgres::Transaction<'_>, limit: Option<i64>) -> Result<i64> {
        let held: i64 =
            tx.query_one("SELECT n FROM issc_face_id_count FOR UPDATE", &[]).map_err(|e| self.db(e))?.get(0);
        let swept = tx
            .execute(
                "DELETE FROM issc_face_ids WHERE id IN (
                     SELECT id FROM issc_face_ids WHERE expires <= now() ORDER BY expires LIMIT $1)",
                &[&limit],
            )
            .map_err(|e| self.db(e))?;
        let held = held - i64::try_from(swept).unwrap_or(i64::MAX);
        if swept > 0 {
            tx.execute("UPDATE issc_face_id_count SET n = $1", &[&held.max(0)]).map_err(|e| self.db(e))?;
        }
        Ok(held.max(0))
    }

    /// Inside a transaction holding the count: room for `n` more under `max`, else [`StoreError::FaceIdsFull`]
    /// (after sweeping every expired id and recounting, so that the answer is exact).
    fn make_room(&self, tx: &mut ::postgres::Transaction<'_>, n: usize, max: usize, held: i64) -> Result<()> {
        let want = |held: i64| usize::try_from(held).unwrap_or(usize::MAX).saturating_add(n);
        if want(held) <= max.max(1) {
            return Ok(());
        }
        self.lock_and_sweep(tx, None)?;
        let held: i64 = tx.query_one("SELECT count(*) FROM issc_face_ids", &[]).map_err(|e| self.db(e))?.get(0);
        tx.execute("UPDATE issc_face_id_count SET n = $1", &[&held]).map_err(|e| self.db(e))?;
        let over = want(held).saturating_sub(max.max(1));
        if over == 0 {
            return Ok(());
        }
        // The `over`-th soonest expiry frees enough (or, for more faces than fit at all, the latest).
        let secs: Option<f64> = tx
            .query_opt(
                "SELECT extract(epoch FROM coalesce(
                     (SELECT expires FROM issc_face_ids ORDER BY expires OFFSET $1 LIMIT 1),
                     (SELECT max(expires) FROM issc_face_ids)) - now())::float8",
                &[&i64::try_from(over - 1).unwrap_or(i64::MAX)],
            )
            .map_err(|e| self.db(e))?
            .and_then(|r| r.get(0));
        let retry_after = Duration::try_from_secs_f64(secs.unwrap_or(1.0).max(1.0)).unwrap_or(Duration::from_secs(1));
        Err(StoreError::FaceIdsFull { retry_after, held: usize::try_from(held).unwrap_or(usize::MAX) })
    }
}

impl FaceIds for PgStore {
    fn room(&self, n: usize, max: usize) -> Result<()> {
        let mut c = self.conn()?;
        let held: i64 = c.query_one("SELECT n FROM issc_face_id_count", &[]).map_err(|e| self.db(e))?.get(0);
        if usize::try_from(held).unwrap_or(usize::MAX).saturating_add(n) <= max.max(1) {
            return Ok(());
        }
        let mut tx = c.transaction().map_err(|e| self.db(e))?;
        let held = self.lock_and_sweep(&mut tx, Some(SWEEP_IN_PASSING))?;
        let room = self.make_room(&mut tx, n, max, held);
        // The sweep is kept whatever the answer.
        tx.commit().map_err(|e| self.db(e))?;
        room
    }

    fn insert(&self, embeddings: &[Vec<f32>], recognition_model: &str, ttl: Duration, max: usize) -> Result<Vec<Uuid>> {
        if let Some(e) = embeddings.iter().find(|e| e.len() != self.dim) {
            return Err(StoreError::Dimension { expected: self.dim, got: e.len() });
        }
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(|e| self.db(e))?;
        let held = self.lock_and_sweep(&mut tx, Some(SWEEP_IN_PASSING))?;
        if let Err(e) = self.make_room(&mut tx, embeddings.len(), max, held) {
            tx.commit().map_err(|e| self.db(e))?;
            return Err(e);
        }
        // At most a century (the API allows a day).
        let secs = ttl.as_secs_f64().min(100.0 * 365.0 * 86_400.0);
        let insert = tx
            .prepare(
                "INSERT INTO issc_face_ids(id, expires, recognition_model, embedding)
                 VALUES ($1, now() + make_interval(secs => $2), $3, $4)",
            )
            .map_err(|e| self.db(e))?;
        let mut ids = Vec::with_capacity(embeddings.len());
        for e in embeddings {
            let id = Uuid::new_v4();
            tx.execute(&insert, &[&id.to_string(), &secs, &recognition_model, &Vector(e)]).map_err(|e| self.db(e))?;
            ids.push(id);
        }
        tx.execute("UPDATE issc_face_id_count SET n = n + $1", &[&i64::try_from(ids.len()).unwrap_or(i64::MAX)])
            .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(ids)
    }

    fn get(&self, ids: &[Uuid]) -> Result<Vec<Option<DetectedFace>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let mut c = self.conn()?;
        let rows = c
            .query(
                "SELECT id, recognition_model, embedding FROM issc_face_ids WHERE id = ANY($1) AND expires > now()",
                &[&keys],
            )
            .map_err(|e| self.db(e))?;
        let found: std::collections::HashMap<Uuid, DetectedFace> = rows
            .iter()
            .map(|r| {
                let face = DetectedFace {
                    embedding: std::sync::Arc::new(r.get::<_, VectorOut>(2).0),
                    recognition_model: r.get(1),
                };
                (uuid(r.get(0)), face)
            })
            .collect();
        // The same id twice gets the same face twice.
        Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
    }

    fn sweep(&self) -> Result<usize> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(|e| self.db(e))?;
        let before: i64 =
            tx.query_one("SELECT n FROM issc_face_id_count FOR UPDATE", &[]).map_err(|e| self.db(e))?.get(0);
        let after = self.lock_and_sweep(&mut tx, None)?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(usize::try_from(before - after).unwrap_or(0))
    }

    fn held(&self) -> Result<usize> {
        let mut c = self.conn()?;
        let n: i64 = c.query_one("SELECT n FROM issc_face_id_count", &[]).map_err(|e| self.db(e))?.get(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }
}
