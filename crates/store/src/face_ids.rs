//! Transient faceIds (what `detect` hands out): an embedding and its recognition model under a random id, kept until
//! its time to live is over and never dropped before. Beyond the most ids a server holds, new ones are refused with
//! [`StoreError::FaceIdsFull`] (the Face API's 429 + `Retry-After`) rather than dropping live ones.
//!
//! [`FaceIds`] is the interface; [`FaceStore::face_ids`] hands out the one matching the store's reach:
//! [`MemoryFaceIds`] (in the process; [`SqliteStore`], one machine) or `PgStore` itself (table `issc_face_ids`,
//! shared by every server on the database, expiry by the database's clock).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::*;

/// One detected face remembered under its faceId.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedFace {
    /// Its embedding, as detect computed it.
    pub embedding: Arc<Vec<f32>>,
    /// The `recognitionModel` it was detected with.
    pub recognition_model: String,
}

/// Where transient faceIds live. Every method is synchronous: call it off the async runtime.
pub trait FaceIds: Send + Sync + std::fmt::Debug {
    /// Whether `n` more faceIds fit now while at most `max` live ones are held; expired ones are swept first.
    /// [`StoreError::FaceIdsFull`] (with the time until enough of them expire) when they do not.
    fn room(&self, n: usize, max: usize) -> Result<()>;

    /// Remember every embedding under a new faceId for `ttl`, all or none (see [`room`](Self::room)).
    fn insert(&self, embeddings: &[Vec<f32>], recognition_model: &str, ttl: Duration, max: usize) -> Result<Vec<Uuid>>;

    /// The faces under `ids`, in order; `None` for an id never given out or expired.
    fn get(&self, ids: &[Uuid]) -> Result<Vec<Option<DetectedFace>>>;

    /// Drop every expired faceId now; how many went.
    fn sweep(&self) -> Result<usize>;

    /// Live faceIds held (expired ones not yet swept may count).
    fn held(&self) -> Result<usize>;
}

/// [`FaceIds`] in the process: a map and an expiry-ordered set (expired ids dropped from its front in O(log n)
/// each), bounded by the `max` of each call. What the embedded store uses; one machine only.
#[derive(Debug, Default)]
pub struct MemoryFaceIds {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    faces: HashMap<Uuid, (DetectedFace, Instant)>,
    by_expiry: BTreeSet<(Instant, Uuid)>,
}

impl Inner {
    fn sweep(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some(&(t, id)) = self.by_expiry.first() {
            if t > now {
                break;
            }
            self.by_expiry.pop_first();
            self.faces.remove(&id);
            n += 1;
        }
        n
    }

    fn room(&mut self, n: usize, max: usize, now: Instant) -> Result<()> {
        self.sweep(now);
        let held = self.faces.len();
        let over = (held + n).saturating_sub(max.max(1));
        if over == 0 {
            return Ok(());
        }
        // The `over`-th soonest expiry frees enough (or, for more faces than fit at all, the latest).
        let at = self.by_expiry.iter().nth(over - 1).or_else(|| self.by_expiry.last()).map(|(t, _)| *t);
        let retry_after =
            at.map_or(Duration::from_secs(1), |t| t.saturating_duration_since(now)).max(Duration::from_secs(1));
        Err(StoreError::FaceIdsFull { retry_after, held })
    }
}

impl MemoryFaceIds {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FaceIds for MemoryFaceIds {
    fn room(&self, n: usize, max: usize) -> Result<()> {
        self.lock().room(n, max, Instant::now())
    }

    fn insert(&self, embeddings: &[Vec<f32>], recognition_model: &str, ttl: Duration, max: usize) -> Result<Vec<Uuid>> {
        let now = Instant::now();
        let mut g = self.lock();
        g.room(embeddings.len(), max, now)?;
        // A time to live beyond what an Instant can hold is as good as forever (the API allows at most a day).
        let expires = now.checked_add(ttl).unwrap_or(now + Duration::from_secs(100 * 365 * 86_400));
        Ok(embeddings
            .iter()
            .map(|e| {
                let id = Uuid::new_v4();
                let face =
                    DetectedFace { embedding: Arc::new(e.clone()), recognition_model: recognition_model.to_string() };
                g.faces.insert(id, (face, expires));
                g.by_expiry.insert((expires, id));
                id
            })
            .collect())
    }

    fn get(&self, ids: &[Uuid]) -> Result<Vec<Option<DetectedFace>>> {
        let now = Instant::now();
        let g = self.lock();
        Ok(ids.iter().map(|id| g.faces.get(id).filter(|(_, t)| *t > now).map(|(f, _)| f.clone())).collect())
    }

    fn sweep(&self) -> Result<usize> {
        Ok(self.lock().sweep(Instant::now()))
    }

    fn held(&self) -> Result<usize> {
        Ok(self.lock().faces.len())
    }
}
