//! The Face API collections of `issc serve`: large person groups, person groups, large face lists and face lists,
//! their persons and persisted faces (embeddings and `userData`), training state and training operations.
//!
//! [`FaceStore`] is the interface; two backends implement it with the same behaviour (the checks of
//! `conformance` run against both):
//!
//! - [`SqliteStore`] (the default): one SQLite database (`DIR/store.sqlite3`) in WAL mode with `synchronous=FULL`: a
//!   write acknowledged by one of its methods survives a crash of the process or of the machine. `secure_delete` is
//!   on and deletions are checkpointed at once, so a deleted face's embedding does not stay behind in the files.
//!   Search goes through [`QuantizedIndex`]: int8 rows (about 140 bytes per 128-d face) scanned on every core,
//!   and the few owners that may be in the top `k` re-scored exactly from the database, so the answer is the one
//!   an exact `f32` scan ([`ExactIndex`]) gives. [`HnswIndex`] is an approximate graph over the same rows.
//! - `PgStore` (cargo feature `postgres`): PostgreSQL with the pgvector extension, for several servers sharing one
//!   store. Search runs in the database, exactly (a scan with pgvector's inner product, no approximate index).
//!
//! As in Azure, additions become searchable at the next `train`; deletions take effect at once.
//!
//! Transient state follows the store's reach ([`FaceStore::face_ids`], [`FaceIds`]): `detect`'s faceIds live in
//! the process with [`SqliteStore`] ([`MemoryFaceIds`]) and in the database with `PgStore`, as training operations
//! do in both, so that replicas behind a load balancer answer any request whichever of them served the last.
//!
//! ```
//! use issc_store::{FaceStore, Kind, SqliteStore};
//! let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path(), 4)?;
//! store.create_collection(Kind::LargePersonGroup, "staff", "Staff", None, "recognition_04")?;
//! let ada = store.create_person(Kind::LargePersonGroup, "staff", "Ada", None)?;
//! store.add_face(Kind::LargePersonGroup, "staff", Some(ada), &[1.0, 0.0, 0.0, 0.0], None)?;
//! let op = store.begin_training(Kind::LargePersonGroup, "staff")?;
//! store.run_training(Kind::LargePersonGroup, "staff", op.id)?;
//! let found = store.identify(Kind::LargePersonGroup, "staff", &[0.9, 0.1, 0.0, 0.0], 1)?;
//! assert_eq!(found[0].0, ada);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(any(test, feature = "postgres"))]
#[doc(hidden)]
pub mod conformance;
mod face_ids;
mod hnsw;
mod index;
#[cfg(feature = "postgres")]
mod postgres;
mod quantized;
mod sqlite;

use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "postgres")]
pub use self::postgres::{PgAnnIndex, PgStore};
pub use face_ids::{DetectedFace, FaceIds, MemoryFaceIds};
pub use hnsw::{HnswIndex, HnswParams};
pub use index::{ExactIndex, Hit, IndexBuilder, VectorIndex, dot, normalized};
pub use quantized::{QuantizedBuilder, QuantizedIndex};
use serde::Serialize;
pub use sqlite::{HnswSetting, SqliteStore};
pub use uuid::Uuid;

/// The four kinds of collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `/persongroups` (≤ 10,000 persons).
    PersonGroup,
    /// `/largepersongroups`.
    LargePersonGroup,
    /// `/facelists` (≤ 1,000 faces, no training).
    FaceList,
    /// `/largefacelists`.
    LargeFaceList,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::PersonGroup => "pg",
            Kind::LargePersonGroup => "lpg",
            Kind::FaceList => "fl",
            Kind::LargeFaceList => "lfl",
        }
    }

    /// Whether faces belong to persons (person groups) rather than to the collection (face lists).
    pub fn has_persons(self) -> bool {
        matches!(self, Kind::PersonGroup | Kind::LargePersonGroup)
    }

    /// Whether searches need `train` first (everything but face lists).
    pub fn needs_training(self) -> bool {
        self != Kind::FaceList
    }

    /// Azure's name for it, e.g. `LargePersonGroup` (error codes are built from it).
    pub fn azure_name(self) -> &'static str {
        match self {
            Kind::PersonGroup => "PersonGroup",
            Kind::LargePersonGroup => "LargePersonGroup",
            Kind::FaceList => "FaceList",
            Kind::LargeFaceList => "LargeFaceList",
        }
    }

    /// Most faces in one collection (face lists) — Azure's S0 quotas.
    fn max_faces(self) -> Option<i64> {
        match self {
            Kind::FaceList => Some(1_000),
            Kind::LargeFaceList => Some(1_000_000),
            _ => None,
        }
    }

    /// Most persons in one group.
    fn max_persons(self) -> Option<i64> {
        match self {
            Kind::PersonGroup => Some(10_000),
            Kind::LargePersonGroup => Some(1_000_000),
            _ => None,
        }
    }
}

/// Faces one person may have (Azure's limit).
pub const MAX_FACES_PER_PERSON: i64 = 248;

/// A collection's user fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collection {
    /// Its id (`^[a-z0-9-_]{1,64}$`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub user_data: Option<String>,
    /// The recognition model it was created for.
    pub recognition_model: String,
}

/// A person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    /// Id.
    pub person_id: Uuid,
    /// Display name.
    pub name: String,
    /// Free text.
    pub user_data: Option<String>,
    /// Their faces, oldest first.
    pub persisted_face_ids: Vec<Uuid>,
}

/// A persisted face (its embedding stays inside the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredFace {
    /// Id.
    pub persisted_face_id: Uuid,
    /// Free text.
    pub user_data: Option<String>,
}

/// Training state of a collection or an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Never trained.
    NotStarted,
    /// In progress.
    Running,
    /// Done.
    Succeeded,
    /// Failed (see the message).
    Failed,
}

impl Status {
    fn parse(s: &str) -> Self {
        match s {
            "running" => Status::Running,
            "succeeded" => Status::Succeeded,
            "failed" => Status::Failed,
            _ => Status::NotStarted,
        }
    }

    /// The wire name (`notStarted`, `running`, `succeeded`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "notStarted",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }
}

/// A collection's training status (`GET …/training`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Training {
    /// State.
    pub status: Status,
    /// When the last training was asked for (RFC 3339).
    pub created: String,
    /// When it last changed.
    pub last_action: String,
    /// When a training last succeeded.
    pub last_success: Option<String>,
    /// Why it failed.
    pub message: Option<String>,
}

/// A training operation (`GET /operations/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Id.
    pub id: Uuid,
    /// State.
    pub status: Status,
    /// Created (RFC 3339).
    pub created: String,
    /// Last change.
    pub last_action: String,
    /// Finished, when it has.
    pub finished: Option<String>,
    /// Why it failed.
    pub message: Option<String>,
}

impl Operation {
    /// A training operation starting now.
    pub fn running() -> Self {
        let ts = now();
        Self {
            id: Uuid::new_v4(),
            status: Status::Running,
            created: ts.clone(),
            last_action: ts,
            finished: None,
            message: None,
        }
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such collection.
    #[error("{name} '{1}' is not found", name = .0.azure_name())]
    CollectionNotFound(Kind, String),
    /// The id is taken.
    #[error("{name} '{1}' already exists", name = .0.azure_name())]
    CollectionExists(Kind, String),
    /// No such person in that collection.
    #[error("person {0} is not found")]
    PersonNotFound(Uuid),
    /// No such persisted face there.
    #[error("persisted face {0} is not found")]
    FaceNotFound(Uuid),
    /// Never trained.
    #[error("{name} '{1}' is not trained: call train and wait for it", name = .0.azure_name())]
    NotTrained(Kind, String),
    /// Training in progress (and no earlier snapshot).
    #[error("{name} '{1}' is under training: wait for it to finish", name = .0.azure_name())]
    TrainingRunning(Kind, String),
    /// A limit is reached.
    #[error("{0}")]
    Quota(String),
    /// No such operation.
    #[error("operation {0} is not found")]
    OperationNotFound(Uuid),
    /// As many live faceIds as the server holds: none is dropped before its time to live.
    #[error("{held} faceIds are live, the most this server holds; retry in {} s", retry_after.as_secs())]
    FaceIdsFull {
        /// When enough of them will have expired.
        retry_after: std::time::Duration,
        /// Live faceIds held now.
        held: usize,
    },
    /// An embedding of the wrong length.
    #[error("embedding has {got} values; this store holds {expected}-d embeddings")]
    Dimension {
        /// The store's.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// The database failed (disk full, permissions, corruption, connection lost).
    #[error("store {store}: {source}")]
    Db {
        /// The database (file or server).
        store: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// RFC 3339 UTC timestamp with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Replace the password of a PostgreSQL connection string (URL `user:password@` or `password=` parameter, in a URL's
/// query or a `key=value` string) with `***`, so that it can be logged. Other strings come back unchanged.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(i) = out.find("://") {
        let start = i + 3;
        let end = out[start..].find('?').map_or(out.len(), |j| start + j);
        // The last '@' before the query ends the user info (a password may hold '@' or '/' unencoded).
        if let Some(at) = out[start..end].rfind('@')
            && let Some(colon) = out[start..start + at].find(':')
            && colon + 1 < at
        {
            out.replace_range(start + colon + 1..start + at, "***");
        }
    }
    let mut from = 0;
    while let Some(j) = out[from..].to_ascii_lowercase().find("password") {
        let key = from + j;
        let boundary = key == 0 || matches!(out.as_bytes()[key - 1], b'?' | b'&' | b' ' | b'\t' | b'\n');
        let mut value = key + "password".len();
        while out.as_bytes().get(value) == Some(&b' ') {
            value += 1;
        }
        if !boundary || out.as_bytes().get(value) != Some(&b'=') {
            from = key + 1;
            continue;
        }
        value += 1;
        while out.as_bytes().get(value) == Some(&b' ') {
            value += 1;
        }
        let rest = &out.as_bytes()[value..];
        let len = if rest.first() == Some(&b'\'') {
            // A quoted key=value value: up to the closing quote not escaped by a backslash.
            let mut k = 1;
            while k < rest.len() && rest[k] != b'\'' {
                k += if rest[k] == b'\\' { 2 } else { 1 };
            }
            (k + 1).min(rest.len())
        } else {
            rest.iter().position(|b| matches!(b, b'&' | b' ' | b'\t' | b'\n')).unwrap_or(rest.len())
        };
        out.replace_range(value..value + len, "***");
        from = value + 3;
    }
    out
}

fn now() -> String {
    rfc3339(SystemTime::now())
}

/// The Face API collections, whatever holds them: [`SqliteStore`] (embedded, the default) or `PgStore`
/// (PostgreSQL + pgvector, feature `postgres`). Every method is synchronous: call it off the async runtime.
pub trait FaceStore: Send + Sync + std::fmt::Debug {
    /// Embedding dimension.
    fn dim(&self) -> usize;

    /// Create a collection; [`StoreError::CollectionExists`] if the id is taken.
    fn create_collection(
        &self,
        kind: Kind,
        id: &str,
        name: &str,
        user_data: Option<&str>,
        recognition_model: &str,
    ) -> Result<()>;

    /// One collection.
    fn collection(&self, kind: Kind, id: &str) -> Result<Collection>;

    /// Collections with an id after `start` (exclusive), ascending, at most `top`.
    fn collections(&self, kind: Kind, start: Option<&str>, top: usize) -> Result<Vec<Collection>>;

    /// Change name and/or user data.
    fn update_collection(&self, kind: Kind, id: &str, name: Option<&str>, user_data: Option<&str>) -> Result<()>;

    /// Delete a collection with its persons, faces (embeddings) and trained snapshot.
    fn delete_collection(&self, kind: Kind, id: &str) -> Result<()>;

    /// Add a person to a group.
    fn create_person(&self, kind: Kind, group: &str, name: &str, user_data: Option<&str>) -> Result<Uuid>;

    /// One person with their face ids.
    fn person(&self, kind: Kind, group: &str, person: Uuid) -> Result<Person>;

    /// Persons with an id after `start`, ascending, at most `top`.
    fn persons(&self, kind: Kind, group: &str, start: Option<&str>, top: usize) -> Result<Vec<Person>>;

    /// Change a person's name and/or user data.
    fn update_person(
        &self,
        kind: Kind,
        group: &str,
        person: Uuid,
        name: Option<&str>,
        user_data: Option<&str>,
    ) -> Result<()>;

    /// Delete a person and their faces; they leave the trained snapshot at once.
    fn delete_person(&self, kind: Kind, group: &str, person: Uuid) -> Result<()>;

    /// Persist a face (its embedding) for `person` (person groups) or the collection (face lists).
    fn add_face(
        &self,
        kind: Kind,
        collection: &str,
        person: Option<Uuid>,
        embedding: &[f32],
        user_data: Option<&str>,
    ) -> Result<Uuid>;

    /// One persisted face (of `person`, in person groups).
    fn face(&self, kind: Kind, collection: &str, person: Option<Uuid>, face: Uuid) -> Result<StoredFace>;

    /// Faces of a face list with an id after `start`, ascending, at most `top`.
    fn faces(&self, kind: Kind, collection: &str, start: Option<&str>, top: usize) -> Result<Vec<StoredFace>>;

    /// Change a face's user data.
    fn update_face(
        &self,
        kind: Kind,
        collection: &str,
        person: Option<Uuid>,
        face: Uuid,
        user_data: Option<&str>,
    ) -> Result<()>;

    /// Delete a face; it leaves the trained snapshot at once.
    fn delete_face(&self, kind: Kind, collection: &str, person: Option<Uuid>, face: Uuid) -> Result<()>;

    /// Every embedding of a person (verify face-to-person needs no training).
    fn person_embeddings(&self, kind: Kind, group: &str, person: Uuid) -> Result<Vec<Vec<f32>>>;

    /// Training status of a collection.
    fn training(&self, kind: Kind, id: &str) -> Result<Training>;

    /// Mark a training as running and record its operation; then call [`run_training`](Self::run_training)
    /// (off the request path). [`StoreError::TrainingRunning`] if one already runs.
    fn begin_training(&self, kind: Kind, id: &str) -> Result<Operation>;

    /// Build the trained snapshot of every face present now, then mark the training and its operation done.
    fn run_training(&self, kind: Kind, id: &str, operation: Uuid) -> Result<()>;

    /// A training operation.
    fn operation(&self, id: Uuid) -> Result<Operation>;

    /// The `k` persons of a trained group whose closest face is most similar to `query` (cosine), best first.
    fn identify(&self, kind: Kind, group: &str, query: &[f32], k: usize) -> Result<Vec<(Uuid, f32)>>;

    /// The `k` faces of a face list most similar to `query` (cosine), best first; large face lists need training.
    fn find_similar(&self, kind: Kind, list: &str, query: &[f32], k: usize) -> Result<Vec<(Uuid, f32)>>;

    /// Faces in a face list (face lists answer `FaceListNotReady` when empty).
    fn face_count(&self, kind: Kind, collection: &str) -> Result<usize>;

    /// Where `detect`'s transient faceIds live: in this process for [`SqliteStore`] (one machine), in the database
    /// for `PgStore` (every server sharing it sees them and their expiry).
    fn face_ids(&self) -> &dyn FaceIds;
}

#[cfg(test)]
mod tests;
