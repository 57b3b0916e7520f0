//! Exact nearest-neighbour search over unit-length embeddings.
//!
//! The Face API's semantics are exact: `identify` must consider every enrolled face of the trained snapshot, so
//! the default index is a brute-force scan. Vectors are stored contiguously, grouped by owner (a person, or the
//! face itself in a face list), and the scan runs on every core with a dot product the compiler vectorises.

use rayon::prelude::*;

/// One result: an owner (person or face) and its best cosine similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The owner's position in the index (see [`IndexBuilder::add`]).
    pub owner: u32,
    /// Cosine similarity of the owner's closest vector, in `[-1, 1]`.
    pub score: f32,
}

/// Search over a trained snapshot of embeddings.
pub trait VectorIndex: Send + Sync {
    /// Embedding dimension.
    fn dim(&self) -> usize;
    /// Live vectors.
    fn len(&self) -> usize;
    /// Whether there is nothing to search.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `k` owners whose closest live vector is most similar to `query` (unit length), best first.
    fn search(&self, query: &[f32], k: usize) -> Vec<Hit>;
    /// Forget one vector (by the key given to [`IndexBuilder::add`]); `true` if it was there. Deletions take
    /// effect at once (privacy), additions only at the next training.
    fn remove(&mut self, key: i64) -> bool;
    /// Bytes held.
    fn memory_bytes(&self) -> usize;
}

/// Collects vectors, then builds an [`ExactIndex`]. Vectors are kept in one flat buffer; adding them grouped by
/// owner (as the stores do) lets `build` keep that buffer as it is, without a second copy.
#[derive(Debug)]
pub struct IndexBuilder {
    dim: usize,
    data: Vec<f32>,
    meta: Vec<(u32, i64)>,
}

impl IndexBuilder {
    /// An empty builder for `dim`-dimensional vectors.
    pub fn new(dim: usize) -> Self {
        Self { dim, data: Vec::new(), meta: Vec::new() }
    }

    /// Add `vector` (normalised here) owned by `owner`, identified by `key`. Vectors of another dimension are
    /// ignored and reported as `false`.
    pub fn add(&mut self, owner: u32, key: i64, vector: &[f32]) -> bool {
        if vector.len() != self.dim {
            return false;
        }
        let n = dot(vector, vector).sqrt();
        let scale = if n > 0.0 { 1.0 / n } else { 1.0 };
        self.data.extend(vector.iter().map(|x| x * scale));
        self.meta.push((owner, key));
        true
    }

    /// The index.
    pub fn build(self) -> ExactIndex {
        let Self { dim, mut data, mut meta } = self;
        if !meta.is_sorted() {
            let mut order: Vec<usize> = (0..meta.len()).collect();
            order.sort_unstable_by_key(|&i| meta[i]);
            let mut sorted = Vec::with_capacity(data.len());
            for &i in &order {
                sorted.extend_from_slice(&data[i * dim..(i + 1) * dim]);
            }
            data = sorted;
            meta = order.iter().map(|&i| meta[i]).collect();
        }
        data.shrink_to_fit();
        let n = meta.len();
        let mut owners: Vec<u32> = Vec::new();
        let mut starts: Vec<u32> = Vec::new();
        for (i, &(owner, _)) in meta.iter().enumerate() {
            if owners.last() != Some(&owner) {
                owners.push(owner);
                starts.push(i as u32);
            }
        }
        starts.push(n as u32);
        ExactIndex {
            dim,
            live: vec![true; n],
            live_count: n,
            data,
            keys: meta.into_iter().map(|m| m.1).collect(),
            owners,
            starts,
        }
    }
}

/// Brute-force exact search, vectors grouped by owner.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    dim: usize,
    /// `n × dim`, row-major, unit rows, grouped by owner.
    data: Vec<f32>,
    keys: Vec<i64>,
    live: Vec<bool>,
    live_count: usize,
    /// Owner of each group.
    owners: Vec<u32>,
    /// First row of each group, then `n`.
    starts: Vec<u32>,
}

/// `v / |v|` (zero stays zero).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let n = dot(v, v).sqrt();
    if n > 0.0 { v.iter().map(|x| x / n).collect() } else { v.to_vec() }
}

/// Dot product with eight independent accumulators (vectorised by the compiler).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Keep the `k` best hits of `hits` (any order in, best first out).
pub(crate) fn top_k(mut hits: Vec<Hit>, k: usize) -> Vec<Hit> {
    let by_score = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.owner.cmp(&b.owner));
    if hits.len() > k && k > 0 {
        hits.select_nth_unstable_by(k - 1, by_score);
        hits.truncate(k);
    }
    hits.sort_unstable_by(by_score);
    hits.truncate(k);
    hits
}

/// Groups scanned per parallel task: large enough to amortise scheduling, small enough to balance two to many cores.
const GROUPS_PER_TASK: usize = 4096;

impl ExactIndex {
    fn scan(&self, query: &[f32], groups: std::ops::Range<usize>, k: usize) -> Vec<Hit> {
        let mut best: Vec<Hit> = Vec::with_capacity(k.min(groups.len()) * 2 + 1);
        let mut floor = f32::NEG_INFINITY;
        for g in groups {
            let (a, b) = (self.starts[g] as usize, self.starts[g + 1] as usize);
            let mut m = f32::NEG_INFINITY;
            for r in a..b {
                if self.live[r] {
                    m = m.max(dot(&self.data[r * self.dim..(r + 1) * self.dim], query));
                }
            }
            if m > floor {
                best.push(Hit { owner: self.owners[g], score: m });
                if best.len() >= 2 * k.max(1) {
                    best = top_k(best, k);
                    floor = best.last().map_or(f32::NEG_INFINITY, |h| h.score);
                }
            }
        }
        top_k(best, k)
    }
}

impl VectorIndex for ExactIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.live_count
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        if query.len() != self.dim || k == 0 || self.live_count == 0 {
            return Vec::new();
        }
        let q = normalized(query);
        let groups = self.owners.len();
        if groups <= GROUPS_PER_TASK {
            return self.scan(&q, 0..groups, k);
        }
        let parts: Vec<Vec<Hit>> = (0..groups.div_ceil(GROUPS_PER_TASK))
            .into_par_iter()
            .map(|t| self.scan(&q, t * GROUPS_PER_TASK..((t + 1) * GROUPS_PER_TASK).min(groups), k))
            .collect();
        top_k(parts.into_iter().flatten().collect(), k)
    }

    fn remove(&mut self, key: i64) -> bool {
        match self.keys.iter().position(|&k| k == key) {
            Some(i) if self.live[i] => {
                self.live[i] = false;
                self.data[i * self.dim..(i + 1) * self.dim].fill(0.0);
                self.live_count -= 1;
                true
            }
            _ => false,
        }
    }

    fn memory_bytes(&self) -> usize {
        self.data.capacity() * 4
            + self.keys.capacity() * 8
            + self.live.capacity()
            + self.owners.capacity() * 4
            + self.starts.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(rows: &[(u32, Vec<f32>)], q: &[f32], k: usize) -> Vec<(u32, f32)> {
        let mut best: std::collections::BTreeMap<u32, f32> = Default::default();
        let q = normalized(q);
        for (o, v) in rows {
            let s = dot(&normalized(v), &q);
            let e = best.entry(*o).or_insert(f32::NEG_INFINITY);
            *e = e.max(s);
        }
        let mut v: Vec<_> = best.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(k);
        v
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    }

    #[test]
    fn matches_a_plain_scan_with_many_owners_and_deletions() {
        let mut seed = 7;
        let dim = 20; // not a multiple of 8: the tail path runs too
        let rows: Vec<(u32, Vec<f32>)> =
            (0..20_000).map(|i| ((i * 7919 % 9000) as u32, (0..dim).map(|_| lcg(&mut seed)).collect())).collect();
        let mut b = IndexBuilder::new(dim);
        for (i, (o, v)) in rows.iter().enumerate() {
            assert!(b.add(*o, i as i64, v));
        }
        assert!(!b.add(0, -1, &[1.0; 3]), "wrong dimension refused");
        let mut idx = b.build();
        assert_eq!(idx.len(), 20_000);
        for _ in 0..5 {
            let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed)).collect();
            let got: Vec<(u32, f32)> = idx.search(&q, 10).into_iter().map(|h| (h.owner, h.score)).collect();
            let want = brute(&rows, &q, 10);
            assert_eq!(got.len(), 10);
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.0, w.0);
                assert!((g.1 - w.1).abs() < 1e-5);
            }
        }
        // Remove every row of the best owner: it must disappear at once.
        let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed)).collect();
        let top = idx.search(&q, 1)[0].owner;
        let mut remaining = rows.clone();
        for (i, (o, _)) in rows.iter().enumerate() {
            if *o == top {
                assert!(idx.remove(i as i64));
                assert!(!idx.remove(i as i64), "second removal is a no-op");
            }
        }
        remaining.retain(|r| r.0 != top);
        assert_eq!(idx.len(), remaining.len());
        let got = idx.search(&q, 3);
        assert!(got.iter().all(|h| h.owner != top));
        assert_eq!(
            got.iter().map(|h| h.owner).collect::<Vec<_>>(),
            brute(&remaining, &q, 3).iter().map(|w| w.0).collect::<Vec<_>>()
        );
    }

    #[test]
    fn empty_and_degenerate_queries() {
        let idx = IndexBuilder::new(4).build();
        assert!(idx.is_empty());
        assert!(idx.search(&[1.0, 0.0, 0.0, 0.0], 5).is_empty());
        let mut b = IndexBuilder::new(4);
        b.add(3, 1, &[1.0, 0.0, 0.0, 0.0]);
        let idx = b.build();
        assert!(idx.search(&[1.0, 0.0], 5).is_empty(), "wrong dimension: no hits, no panic");
        assert!(idx.search(&[1.0, 0.0, 0.0, 0.0], 0).is_empty());
        assert_eq!(idx.search(&[2.0, 0.0, 0.0, 0.0], 5), vec![Hit { owner: 3, score: 1.0 }]);
    }
}
