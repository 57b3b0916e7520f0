//! The embedded backend: one SQLite database in WAL mode.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, OptionalExtension, params};

use super::*;

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS collections(
    kind TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, user_data TEXT, recognition_model TEXT NOT NULL,
    created TEXT NOT NULL,
    train_status TEXT NOT NULL DEFAULT 'notStarted', train_created TEXT, train_last_action TEXT,
    train_last_success TEXT, train_message TEXT,
    -- faces with seq <= trained_upto form the trained snapshot (NULL: never trained)
    trained_upto INTEGER,
    PRIMARY KEY(kind, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS persons(
    person_id TEXT PRIMARY KEY, kind TEXT NOT NULL, collection TEXT NOT NULL, name TEXT NOT NULL, user_data TEXT,
    FOREIGN KEY(kind, collection) REFERENCES collections(kind, id) ON DELETE CASCADE) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS persons_by_collection ON persons(kind, collection, person_id);
CREATE TABLE IF NOT EXISTS faces(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, face_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    collection TEXT NOT NULL, person_id TEXT REFERENCES persons(person_id) ON DELETE CASCADE, user_data TEXT,
    embedding BLOB NOT NULL,
    FOREIGN KEY(kind, collection) REFERENCES collections(kind, id) ON DELETE CASCADE);
CREATE INDEX IF NOT EXISTS faces_by_collection ON faces(kind, collection, face_id);
CREATE INDEX IF NOT EXISTS faces_by_person ON faces(person_id);
CREATE TABLE IF NOT EXISTS operations(
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, collection TEXT NOT NULL, status TEXT NOT NULL, created TEXT NOT NULL,
    last_action TEXT NOT NULL, finished TEXT, message TEXT) WITHOUT ROWID;
";

/// A trained snapshot, shared by searches and updated in place by deletions.
type Snapshot = Arc<RwLock<Trained>>;

/// What a trained snapshot is searched with: the int8 scan, or (with [`SqliteStore::with_hnsw`], once built) the
/// HNSW graph over the same rows. Both re-score their candidates exactly.
enum Searcher {
    Scan(QuantizedIndex),
    Graph(HnswIndex),
}

impl Searcher {
    fn remove(&mut self, key: i64) {
        match self {
            Searcher::Scan(i) => i.remove(key),
            Searcher::Graph(g) => g.remove(key),
        };
    }
}

/// A trained snapshot: the index and who each of its owners is.
struct Trained {
    index: Searcher,
    owners: Vec<Uuid>,
    /// While a graph is being built for this snapshot: the keys removed since its rows were copied, removed from
    /// the graph too when it is swapped in.
    removed_while_building: Option<Vec<i64>>,
}

/// The optional approximate index of [`SqliteStore`]: an HNSW graph over a trained collection's int8 rows,
/// candidates re-scored exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswSetting {
    /// Collections with fewer trained faces keep the exact int8 scan.
    pub min_faces: usize,
    /// The graph's settings (`ef_search`: candidates per search, speed against recall).
    pub params: HnswParams,
}

impl Default for HnswSetting {
    /// From 10,000 faces, the bench's graph (m 16, ef_construction 100, ef_search 64: hit@1 0.99 at 100,000
    /// face-like vectors, `cargo bench -p issc-store --bench index`).
    fn default() -> Self {
        Self { min_faces: 10_000, params: HnswParams::default() }
    }
}

/// The embedded store: one SQLite database in `DIR/store.sqlite3`. Cheap to share behind an `Arc`.
pub struct SqliteStore {
    path: PathBuf,
    dim: usize,
    conn: Mutex<Connection>,
    /// Read-only connections that fetch the full-precision embeddings for exact re-scoring, one per concurrent
    /// search (WAL readers: they never wait for a writer).
    readers: Mutex<Vec<Connection>>,
    trained: RwLock<HashMap<(Kind, String), Snapshot>>,
    /// detect's faceIds: in the process (one machine).
    face_ids: MemoryFaceIds,
    /// The approximate index for large trained collections (`None`: the exact int8 scan only).
    hnsw: Option<HnswSetting>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).field("dim", &self.dim).finish_non_exhaustive()
    }
}

pub(crate) fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap_or_default()
}

impl SqliteStore {
    /// Open (or create) the store in `dir` for `dim`-dimensional embeddings. A store created for another
    /// dimension is refused. A training that was running when the process stopped is marked failed.
    pub fn open(dir: &Path, dim: usize) -> Result<Self> {
        let path = dir.join("store.sqlite3");
        let db =
            |source: rusqlite::Error| StoreError::Db { store: path.display().to_string(), source: Box::new(source) };
        std::fs::create_dir_all(dir).map_err(|e| db(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        let conn = Connection::open(&path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        conn.pragma_update(None, "secure_delete", "ON").map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        let stored: Option<String> =
            conn.query_row("SELECT value FROM meta WHERE key = 'dim'", [], |r| r.get(0)).optional().map_err(db)?;
        match stored.as_deref().map(str::parse::<usize>) {
            None => {
                conn.execute("INSERT INTO meta(key, value) VALUES ('dim', ?1)", [dim.to_string()]).map_err(db)?;
            }
            Some(Ok(d)) if d == dim => {}
            Some(_) => {
                return Err(StoreError::Dimension {
                    expected: stored.and_then(|s| s.parse().ok()).unwrap_or(0),
                    got: dim,
                });
            }
        }
        let t = now();
        conn.execute(
            "UPDATE collections SET train_status = 'failed', train_last_action = ?1,
                 train_message = 'the server stopped during training; train again' WHERE train_status = 'running'",
            [&t],
        )
        .map_err(db)?;
        conn.execute(
            "UPDATE operations SET status = 'failed', last_action = ?1, finished = ?1,
                 message = 'the server stopped during training; train again' WHERE status IN ('running', 'notStarted')",
            [&t],
        )
        .map_err(db)?;
        Ok(Self {
            path,
            dim,
            conn: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            trained: RwLock::new(HashMap::new()),
            face_ids: MemoryFaceIds::new(),
            hnsw: None,
        })
    }

    /// Search trained collections of at least `hnsw.min_faces` faces through an HNSW graph (its candidates
    /// re-scored exactly) instead of the exact int8 scan: much faster at hundreds of thousands of faces, and
    /// approximate (the bench's hit@1 against the exact answer is 0.99 at the default `ef_search`). The graph is
    /// built on a thread of its own after each training, and after a restart at the collection's first search;
    /// searches use the exact scan until it is ready (about 20 s per 100,000 faces on one core here), holding a
    /// second copy of the int8 rows meanwhile. `None` (the default): every search is exact.
    pub fn with_hnsw(mut self, hnsw: Option<HnswSetting>) -> Self {
        self.hnsw = hnsw;
        self
    }

    /// Whether searches of this collection go through its HNSW graph now (see [`with_hnsw`](Self::with_hnsw)).
    pub fn searches_with_graph(&self, kind: Kind, id: &str) -> bool {
        let trained = self.trained.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        trained.get(&(kind, id.to_string())).is_some_and(|t| {
            matches!(t.read().unwrap_or_else(std::sync::PoisonError::into_inner).index, Searcher::Graph(_))
        })
    }

    /// Keep `trained` as the collection's snapshot, and start building its graph if it is large enough.
    fn install(&self, kind: Kind, id: &str, trained: Trained) -> Snapshot {
        let rows = match &trained.index {
            Searcher::Scan(i) => i.len(),
            Searcher::Graph(g) => g.base().len(),
        };
        let graph = self.hnsw.filter(|h| kind.needs_training() && rows >= h.min_faces && rows > 0);
        let base = match (&trained.index, graph) {
            (Searcher::Scan(i), Some(_)) => Some(i.clone()),
            _ => None,
        };
        let snapshot =
            Arc::new(RwLock::new(Trained { removed_while_building: base.as_ref().map(|_| Vec::new()), ..trained }));
        if kind.needs_training() {
            self.trained
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert((kind, id.to_string()), snapshot.clone());
        }
        if let (Some(base), Some(h)) = (base, graph) {
            let weak = Arc::downgrade(&snapshot);
            let name = format!("{} '{id}'", kind.azure_name());
            let spawned = std::thread::Builder::new().name("issc-hnsw".into()).spawn(move || {
                let started = std::time::Instant::now();
                let mut graph = HnswIndex::build(base, h.params);
                // A snapshot replaced (a newer training) or dropped meanwhile is no longer searched.
                let Some(snapshot) = weak.upgrade() else { return };
                let mut t = snapshot.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                for key in t.removed_while_building.take().unwrap_or_default() {
                    graph.remove(key);
                }
                t.index = Searcher::Graph(graph);
                tracing::info!("{name}: HNSW graph of {rows} faces built in {:.1} s", started.elapsed().as_secs_f64());
            });
            if let Err(e) = spawned {
                tracing::warn!(
                    "{} '{id}': no HNSW graph (cannot start a thread: {e}); searches stay exact",
                    kind.azure_name()
                );
                snapshot.write().unwrap_or_else(std::sync::PoisonError::into_inner).removed_while_building = None;
            }
        }
        snapshot
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Db { store: self.path.display().to_string(), source: Box::new(source) }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn exists(&self, c: &Connection, kind: Kind, id: &str) -> Result<()> {
        let n: i64 = c
            .query_row("SELECT count(*) FROM collections WHERE kind = ?1 AND id = ?2", params![kind.tag(), id], |r| {
                r.get(0)
            })
            .map_err(|e| self.db(e))?;
        if n == 0 { Err(StoreError::CollectionNotFound(kind, id.to_string())) } else { Ok(()) }
    }

    fn checkpoint(&self, c: &Connection) {
        // Deleted pages are zeroed (secure_delete); truncating the WAL drops the old copies too.
        if let Err(e) = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
            tracing::warn!("store checkpoint after a deletion failed (retried at the next one): {e}");
        }
    }

    fn face_ids_of(&self, c: &Connection, person: Uuid) -> Result<Vec<Uuid>> {
        let mut st =
            c.prepare_cached("SELECT face_id FROM faces WHERE person_id = ?1 ORDER BY seq").map_err(|e| self.db(e))?;
        st.query_map([person.to_string()], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.map(|s| s.map(|s| uuid(&s))).collect())
            .map_err(|e| self.db(e))
    }

    fn forget(&self, kind: Kind, collection: &str, seqs: &[i64]) {
        let snapshot = self
            .trained
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(kind, collection.to_string()))
            .cloned();
        if let Some(t) = snapshot {
            let mut t = t.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            for &s in seqs {
                t.index.remove(s);
            }
            if let Some(removed) = &mut t.removed_while_building {
                removed.extend_from_slice(seqs);
            }
        }
    }

    fn face_row(
        &self,
        c: &Connection,
        kind: Kind,
        collection: &str,
        person: Option<Uuid>,
        face: Uuid,
    ) -> Result<(i64, Option<String>)> {
        c.query_row(
            "SELECT seq, user_data FROM faces WHERE face_id = ?1 AND kind = ?2 AND collection = ?3
             AND (?4 IS NULL OR person_id = ?4)",
            params![face.to_string(), kind.tag(), collection, person.map(|p| p.to_string())],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| self.db(e))?
        .ok_or(StoreError::FaceNotFound(face))
    }

    fn check_person(&self, c: &Connection, kind: Kind, group: &str, person: Option<Uuid>) -> Result<()> {
        if let Some(p) = person {
            let n: i64 = c
                .query_row(
                    "SELECT count(*) FROM persons WHERE person_id = ?1 AND kind = ?2 AND collection = ?3",
                    params![p.to_string(), kind.tag(), group],
                    |r| r.get(0),
                )
                .map_err(|e| self.db(e))?;
            if n == 0 {
                return Err(StoreError::PersonNotFound(p));
            }
        }
        Ok(())
    }

    fn training_row(&self, c: &Connection, kind: Kind, id: &str) -> Result<(Training, Option<i64>)> {
        c.query_row(
            "SELECT train_status, coalesce(train_created, created), coalesce(train_last_action, created),
                    train_last_success, train_message, trained_upto
             FROM collections WHERE kind = ?1 AND id = ?2",
            params![kind.tag(), id],
            |r| {
                Ok((
                    Training {
                        status: Status::parse(&r.get::<_, String>(0)?),
                        created: r.get(1)?,
                        last_action: r.get(2)?,
                        last_success: r.get(3)?,
                        message: r.get(4)?,
                    },
                    r.get(5)?,
                ))
            },
        )
        .optional()
        .map_err(|e| self.db(e))?
        .ok_or_else(|| StoreError::CollectionNotFound(kind, id.to_string()))
    }

    fn load_snapshot(&self, c: &Connection, kind: Kind, id: &str, upto: i64) -> Result<Trained> {
        let mut st = c
            .prepare_cached(
                "SELECT seq, face_id, person_id, embedding FROM faces WHERE kind = ?1 AND collection = ?2 AND seq <= ?3
                 ORDER BY coalesce(person_id, face_id), seq",
            )
            .map_err(|e| self.db(e))?;
        let mut builder = QuantizedBuilder::new(self.dim);
        let mut owners: Vec<Uuid> = Vec::new();
        let mut owner_of: HashMap<Uuid, u32> = HashMap::new();
        let mut rows = st.query(params![kind.tag(), id, upto]).map_err(|e| self.db(e))?;
        while let Some(r) = rows.next().map_err(|e| self.db(e))? {
            let seq: i64 = r.get(0).map_err(|e| self.db(e))?;
            let face: String = r.get(1).map_err(|e| self.db(e))?;
            let person: Option<String> = r.get(2).map_err(|e| self.db(e))?;
            let emb: Vec<u8> = r.get(3).map_err(|e| self.db(e))?;
            let owner = uuid(person.as_deref().unwrap_or(&face));
            let o = *owner_of.entry(owner).or_insert_with(|| {
                owners.push(owner);
                (owners.len() - 1) as u32
            });
            builder.add(o, seq, &from_blob(&emb));
        }
        Ok(Trained { index: Searcher::Scan(builder.build()), owners, removed_while_building: None })
    }

    fn snapshot(&self, kind: Kind, id: &str) -> Result<Snapshot> {
        if let Some(t) =
            self.trained.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&(kind, id.to_string()))
        {
            return Ok(t.clone());
        }
        let c = self.conn();
        let (training, upto) = self.training_row(&c, kind, id)?;
        let upto = match (kind.needs_training(), upto) {
            (false, _) => i64::MAX,
            (true, Some(u)) => u,
            (true, None) if training.status == Status::Running => {
                return Err(StoreError::TrainingRunning(kind, id.to_string()));
            }
            (true, None) => return Err(StoreError::NotTrained(kind, id.to_string())),
        };
        let trained = self.load_snapshot(&c, kind, id, upto)?;
        // (Installed with the connection still held, as a training installs: a newer training cannot be replaced.)
        // Face lists are read afresh each time (≤ 1,000 faces, always current); trained snapshots are kept.
        Ok(self.install(kind, id, trained))
    }

    fn search(&self, kind: Kind, id: &str, query: &[f32], k: usize) -> Result<Vec<(Uuid, f32)>> {
        if query.len() != self.dim {
            return Err(StoreError::Dimension { expected: self.dim, got: query.len() });
        }
        let t = self.snapshot(kind, id)?;
        let t = t.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let hits = match &t.index {
            Searcher::Scan(i) => i.search_exact(query, k, |keys| self.embeddings(keys))?,
            Searcher::Graph(g) => g.search_exact(query, k, |keys| self.embeddings(keys))?,
        };
        Ok(hits.into_iter().map(|h| (t.owners[h.owner as usize], h.score)).collect())
    }

    /// The stored embeddings of faces `seqs`, in order (`None` for a face deleted meanwhile), read through a
    /// read-only connection so that searches never queue behind a write.
    fn embeddings(&self, seqs: &[i64]) -> Result<Vec<Option<Vec<f32>>>> {
        let pooled = self.readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let c = match pooled {
            Some(c) => c,
            None => {
                let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let c = Connection::open_with_flags(&self.path, flags).map_err(|e| self.db(e))?;
                c.busy_timeout(std::time::Duration::from_secs(10)).map_err(|e| self.db(e))?;
                c
            }
        };
        let out = (|| {
            let mut st = c.prepare_cached("SELECT embedding FROM faces WHERE seq = ?1")?;
            seqs.iter()
                .map(|&s| st.query_row([s], |r| r.get::<_, Vec<u8>>(0)).optional().map(|b| b.map(|b| from_blob(&b))))
                .collect::<rusqlite::Result<Vec<_>>>()
        })();
        let mut pool = self.readers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < 16 {
            pool.push(c);
        }
        out.map_err(|e| self.db(e))
    }
}

impl FaceStore for SqliteStore {
    fn dim(&self) -> usize {
        self.dim
    }

    fn face_ids(&self) -> &dyn FaceIds {
        &self.face_ids
    }

    fn create_collection(
        &self,
        kind: Kind,
        id: &str,
        name: &str,
        user_data: Option<&str>,
        recognition_model: &str,
    ) -> Result<()> {
        let c = self.conn();
        let r = c.execute(
            "INSERT INTO collections(kind, id, name, user_data, recognition_model, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![kind.tag(), id, name, user_data, recognition_model, now()],
        );
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                Err(StoreError::CollectionExists(kind, id.to_string()))
            }
            Err(e) => Err(self.db(e)),
        }
    }

    fn collection(&self, kind: Kind, id: &str) -> Result<Collection> {
        let c = self.conn();
        c.query_row(
            "SELECT id, name, user_data, recognition_model FROM collections WHERE kind = ?1 AND id = ?2",
            params![kind.tag(), id],
            |r| Ok(Collection { id: r.get(0)?, name: r.get(1)?, user_data: r.get(2)?, recognition_model: r.get(3)? }),
        )
        .optional()
        .map_err(|e| self.db(e))?
        .ok_or_else(|| StoreError::CollectionNotFound(kind, id.to_string()))
    }

    fn collections(&self, kind: Kind, start: Option<&str>, top: usize) -> Result<Vec<Collection>> {
        let c = self.conn();
        let mut st = c
            .prepare_cached(
                "SELECT id, name, user_data, recognition_model FROM collections WHERE kind = ?1 AND id > ?2
                 ORDER BY id LIMIT ?3",
            )
            .map_err(|e| self.db(e))?;
        st.query_map(params![kind.tag(), start.unwrap_or(""), top as i64], |r| {
            Ok(Collection { id: r.get(0)?, name: r.get(1)?, user_data: r.get(2)?, recognition_model: r.get(3)? })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.db(e))
    }

    fn update_collection(&self, kind: Kind, id: &str, name: Option<&str>, user_data: Option<&str>) -> Result<()> {
        let c = self.conn();
        let n = c
            .execute(
                "UPDATE collections SET name = coalesce(?3, name), user_data = coalesce(?4, user_data)
                 WHERE kind = ?1 AND id = ?2",
                params![kind.tag(), id, name, user_data],
            )
            .map_err(|e| self.db(e))?;
        if n == 0 { Err(StoreError::CollectionNotFound(kind, id.to_string())) } else { Ok(()) }
    }

    fn delete_collection(&self, kind: Kind, id: &str) -> Result<()> {
        let c = self.conn();
        let n = c
            .execute("DELETE FROM collections WHERE kind = ?1 AND id = ?2", params![kind.tag(), id])
            .map_err(|e| self.db(e))?;
        if n == 0 {
            return Err(StoreError::CollectionNotFound(kind, id.to_string()));
        }
        self.trained.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&(kind, id.to_string()));
        self.checkpoint(&c);
        Ok(())
    }

    fn create_person(&self, kind: Kind, group: &str, name: &str, user_data: Option<&str>) -> Result<Uuid> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(|e| self.db(e))?;
        self.exists(&tx, kind, group)?;
        if let Some(max) = kind.max_persons() {
            let n: i64 = tx
                .query_row(
                    "SELECT count(*) FROM persons WHERE kind = ?1 AND collection = ?2",
                    params![kind.tag(), group],
                    |r| r.get(0),
                )
                .map_err(|e| self.db(e))?;
            if n >= max {
                return Err(StoreError::Quota(format!("Person number reached limit ({max}).")));
            }
        }
        let id = Uuid::new_v4();
        tx.execute(
            "INSERT INTO persons(person_id, kind, collection, name, user_data) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id.to_string(), kind.tag(), group, name, user_data],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(id)
    }

    fn person(&self, kind: Kind, group: &str, person: Uuid) -> Result<Person> {
        let c = self.conn();
        self.exists(&c, kind, group)?;
        let row: Option<(String, Option<String>)> = c
            .query_row(
                "SELECT name, user_data FROM persons WHERE person_id = ?1 AND kind = ?2 AND collection = ?3",
                params![person.to_string(), kind.tag(), group],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.db(e))?;
        let (name, user_data) = row.ok_or(StoreError::PersonNotFound(person))?;
        Ok(Person { person_id: person, name, user_data, persisted_face_ids: self.face_ids_of(&c, person)? })
    }

    fn persons(&self, kind: Kind, group: &str, start: Option<&str>, top: usize) -> Result<Vec<Person>> {
        let c = self.conn();
        self.exists(&c, kind, group)?;
        let rows: Vec<(String, String, Option<String>)> = {
            let mut st = c
                .prepare_cached(
                    "SELECT person_id, name, user_data FROM persons WHERE kind = ?1 AND collection = ?2 AND person_id > ?3
                     ORDER BY person_id LIMIT ?4",
                )
                .map_err(|e| self.db(e))?;
            st.query_map(params![kind.tag(), group, start.unwrap_or(""), top as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .and_then(Iterator::collect)
            .map_err(|e| self.db(e))?
        };
        rows.into_iter()
            .map(|(id, name, user_data)| {
                let person_id = uuid(&id);
                Ok(Person { person_id, name, user_data, persisted_face_ids: self.face_ids_of(&c, person_id)? })
            })
            .collect()
    }

    fn update_person(
        &self,
        kind: Kind,
        group: &str,
        person: Uuid,
        name: Option<&str>,
        user_data: Option<&str>,
    ) -> Result<()> {
        let c = self.conn();
        self.exists(&c, kind, group)?;
        let n = c
            .execute(
                "UPDATE persons SET name = coalesce(?4, name), user_data = coalesce(?5, user_data)
                 WHERE person_id = ?1 AND kind = ?2 AND collection = ?3",
                params![person.to_string(), kind.tag(), group, name, user_data],
            )
            .map_err(|e| self.db(e))?;
        if n == 0 { Err(StoreError::PersonNotFound(person)) } else { Ok(()) }
    }

    fn delete_person(&self, kind: Kind, group: &str, person: Uuid) -> Result<()> {
        let c = self.conn();
        self.exists(&c, kind, group)?;
        let seqs: Vec<i64> = {
            let mut st = c.prepare_cached("SELECT seq FROM faces WHERE person_id = ?1").map_err(|e| self.db(e))?;
            st.query_map([person.to_string()], |r| r.get(0)).and_then(Iterator::collect).map_err(|e| self.db(e))?
        };
        let n = c
            .execute(
                "DELETE FROM persons WHERE person_id = ?1 AND kind = ?2 AND collection = ?3",
                params![person.to_string(), kind.tag(), group],
            )
            .map_err(|e| self.db(e))?;
        if n == 0 {
            return Err(StoreError::PersonNotFound(person));
        }
        self.forget(kind, group, &seqs);
        self.checkpoint(&c);
        Ok(())
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
        let mut c = self.conn();
        let tx = c.transaction().map_err(|e| self.db(e))?;
        self.exists(&tx, kind, collection)?;
        let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<i64> {
            tx.query_row(sql, p, |r| r.get(0)).map_err(|e| self.db(e))
        };
        match (kind.has_persons(), person) {
            (true, Some(p)) => {
                let n = count(
                    "SELECT count(*) FROM persons WHERE person_id = ?1 AND kind = ?2 AND collection = ?3",
                    &[&p.to_string(), &kind.tag(), &collection],
                )?;
                if n == 0 {
                    return Err(StoreError::PersonNotFound(p));
                }
                if count("SELECT count(*) FROM faces WHERE person_id = ?1", &[&p.to_string()])? >= MAX_FACES_PER_PERSON
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
                        "SELECT count(*) FROM faces WHERE kind = ?1 AND collection = ?2",
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
            "INSERT INTO faces(face_id, kind, collection, person_id, user_data, embedding) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id.to_string(),
                kind.tag(),
                collection,
                person.filter(|_| kind.has_persons()).map(|p| p.to_string()),
                user_data,
                to_blob(embedding)
            ],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(id)
    }

    fn face(&self, kind: Kind, collection: &str, person: Option<Uuid>, face: Uuid) -> Result<StoredFace> {
        let c = self.conn();
        self.exists(&c, kind, collection)?;
        self.check_person(&c, kind, collection, person)?;
        let (_, user_data) = self.face_row(&c, kind, collection, person, face)?;
        Ok(StoredFace { persisted_face_id: face, user_data })
    }

    fn faces(&self, kind: Kind, collection: &str, start: Option<&str>, top: usize) -> Result<Vec<StoredFace>> {
        let c = self.conn();
        self.exists(&c, kind, collection)?;
        let mut st = c
            .prepare_cached(
                "SELECT face_id, user_data FROM faces WHERE kind = ?1 AND collection = ?2 AND face_id > ?3
                 ORDER BY face_id LIMIT ?4",
            )
            .map_err(|e| self.db(e))?;
        st.query_map(params![kind.tag(), collection, start.unwrap_or(""), top as i64], |r| {
            Ok(StoredFace { persisted_face_id: uuid(&r.get::<_, String>(0)?), user_data: r.get(1)? })
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.db(e))
    }

    fn update_face(
        &self,
        kind: Kind,
        collection: &str,
        person: Option<Uuid>,
        face: Uuid,
        user_data: Option<&str>,
    ) -> Result<()> {
        let c = self.conn();
        self.exists(&c, kind, collection)?;
        self.check_person(&c, kind, collection, person)?;
        let (seq, _) = self.face_row(&c, kind, collection, person, face)?;
        c.execute("UPDATE faces SET user_data = ?2 WHERE seq = ?1", params![seq, user_data]).map_err(|e| self.db(e))?;
        Ok(())
    }

    fn delete_face(&self, kind: Kind, collection: &str, person: Option<Uuid>, face: Uuid) -> Result<()> {
        let c = self.conn();
        self.exists(&c, kind, collection)?;
        self.check_person(&c, kind, collection, person)?;
        let (seq, _) = self.face_row(&c, kind, collection, person, face)?;
        c.execute("DELETE FROM faces WHERE seq = ?1", [seq]).map_err(|e| self.db(e))?;
        self.forget(kind, collection, &[seq]);
        self.checkpoint(&c);
        Ok(())
    }

    fn person_embeddings(&self, kind: Kind, group: &str, person: Uuid) -> Result<Vec<Vec<f32>>> {
        let c = self.conn();
        self.exists(&c, kind, group)?;
        self.check_person(&c, kind, group, Some(person))?;
        let mut st = c.prepare_cached("SELECT embedding FROM faces WHERE person_id = ?1").map_err(|e| self.db(e))?;
        st.query_map([person.to_string()], |r| Ok(from_blob(&r.get::<_, Vec<u8>>(0)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.db(e))
    }

    fn training(&self, kind: Kind, id: &str) -> Result<Training> {
        let c = self.conn();
        self.training_row(&c, kind, id).map(|t| t.0)
    }

    fn begin_training(&self, kind: Kind, id: &str) -> Result<Operation> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(|e| self.db(e))?;
        let (t, _) = self.training_row(&tx, kind, id)?;
        if t.status == Status::Running {
            return Err(StoreError::TrainingRunning(kind, id.to_string()));
        }
        let op = Operation::running();
        let ts = op.created.clone();
        tx.execute(
            "UPDATE collections SET train_status = 'running', train_created = ?3, train_last_action = ?3,
                 train_message = NULL WHERE kind = ?1 AND id = ?2",
            params![kind.tag(), id, ts],
        )
        .map_err(|e| self.db(e))?;
        tx.execute(
            "INSERT INTO operations(id, kind, collection, status, created, last_action) VALUES (?1, ?2, ?3, 'running', ?4, ?4)",
            params![op.id.to_string(), kind.tag(), id, ts],
        )
        .map_err(|e| self.db(e))?;
        tx.commit().map_err(|e| self.db(e))?;
        Ok(op)
    }

    fn run_training(&self, kind: Kind, id: &str, operation: Uuid) -> Result<()> {
        let result: Result<()> = (|| {
            let c = self.conn();
            self.exists(&c, kind, id)?;
            let upto: i64 = c
                .query_row(
                    "SELECT coalesce(max(seq), 0) FROM faces WHERE kind = ?1 AND collection = ?2",
                    params![kind.tag(), id],
                    |r| r.get(0),
                )
                .map_err(|e| self.db(e))?;
            let trained = self.load_snapshot(&c, kind, id, upto)?;
            self.install(kind, id, trained);
            let ts = now();
            c.execute(
                "UPDATE collections SET train_status = 'succeeded', train_last_action = ?3, train_last_success = ?3,
                     trained_upto = ?4 WHERE kind = ?1 AND id = ?2",
                params![kind.tag(), id, ts, upto],
            )
            .map_err(|e| self.db(e))?;
            c.execute(
                "UPDATE operations SET status = 'succeeded', last_action = ?2, finished = ?2 WHERE id = ?1",
                params![operation.to_string(), ts],
            )
            .map_err(|e| self.db(e))?;
            Ok(())
        })();
        if let Err(e) = &result {
            let c = self.conn();
            let ts = now();
            let msg = e.to_string();
            let _ = c.execute(
                "UPDATE collections SET train_status = 'failed', train_last_action = ?3, train_message = ?4
                 WHERE kind = ?1 AND id = ?2",
                params![kind.tag(), id, ts, msg],
            );
            let _ = c.execute(
                "UPDATE operations SET status = 'failed', last_action = ?2, finished = ?2, message = ?3 WHERE id = ?1",
                params![operation.to_string(), ts, msg],
            );
        }
        result
    }

    fn operation(&self, id: Uuid) -> Result<Operation> {
        let c = self.conn();
        c.query_row(
            "SELECT status, created, last_action, finished, message FROM operations WHERE id = ?1",
            [id.to_string()],
            |r| {
                Ok(Operation {
                    id,
                    status: Status::parse(&r.get::<_, String>(0)?),
                    created: r.get(1)?,
                    last_action: r.get(2)?,
                    finished: r.get(3)?,
                    message: r.get(4)?,
                })
            },
        )
        .optional()
        .map_err(|e| self.db(e))?
        .ok_or(StoreError::OperationNotFound(id))
    }

    fn identify(&self, kind: Kind, group: &str, query: &[f32], k: usize) -> Result<Vec<(Uuid, f32)>> {
        self.search(kind, group, query, k)
    }

    fn find_similar(&self, kind: Kind, list: &str, query: &[f32], k: usize) -> Result<Vec<(Uuid, f32)>> {
        self.search(kind, list, query, k)
    }

    fn face_count(&self, kind: Kind, collection: &str) -> Result<usize> {
        let c = self.conn();
        self.exists(&c, kind, collection)?;
        c.query_row(
            "SELECT count(*) FROM faces WHERE kind = ?1 AND collection = ?2",
            params![kind.tag(), collection],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n as usize)
        .map_err(|e| self.db(e))
    }
}
