//! Exact search over int8 codes: a quarter of the memory of `f32` rows, scanned with integer dot products, and
//! re-scored from the full-precision vectors so that the answer is the one an exact `f32` scan gives.
//!
//! Each unit row `x` is stored as `s·c`, with `c` in `[-127, 127]^dim` and one scale `s = max|xᵢ| / 127` per row.
//! The query is kept at 16 bits (`q ≈ t·d`, `t = max|qᵢ| / 32767`). The scan's score `s·t·(c·d)` is within
//! `ε = max‖x − s·c‖ + ‖q − t·d‖·(1 + max‖x − s·c‖)` of the exact `q·x`, so an owner whose scanned score is more
//! than `2ε` below the k-th best scanned score cannot be among the exact top `k`. The remaining owners (a few dozen
//! at most on face-like data) are re-scored exactly from their `f32` vectors, which the caller fetches (the SQLite
//! store reads them from its database), and the top `k` of those exact scores is the answer.

use rayon::prelude::*;

use crate::index::{Hit, dot, top_k};

/// Groups scanned per parallel task.
const GROUPS_PER_TASK: usize = 4096;
/// What a fetch of full-precision vectors returns: one entry per key, `None` for a key that no longer exists.
pub type Fetched<E> = Result<Vec<Option<Vec<f32>>>, E>;

/// Rounding slack added to the bound (the scanned score is computed in `f32`).
const SLACK: f32 = 1e-5;

/// `v · (1/|v|)`, as [`crate::IndexBuilder`] normalises rows (zero stays zero).
pub(crate) fn unit(v: &[f32]) -> Vec<f32> {
    let n = dot(v, v).sqrt();
    let scale = if n > 0.0 { 1.0 / n } else { 1.0 };
    v.iter().map(|x| x * scale).collect()
}

/// Quantise unit row `x` into `out`; returns the scale and the norm of the rounding error.
fn quantize_row(x: &[f32], out: &mut [i8]) -> (f32, f32) {
    let m = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    if !(m > 0.0 && m.is_finite()) {
        out.fill(0);
        return (0.0, dot(x, x).sqrt());
    }
    let (s, inv) = (m / 127.0, 127.0 / m);
    let mut e2 = 0.0f32;
    for (o, &v) in out.iter_mut().zip(x) {
        let c = (v * inv).round().clamp(-127.0, 127.0);
        *o = c as i8;
        let r = v - s * c;
        e2 += r * r;
    }
    (s, e2.sqrt())
}

/// `Σ aᵢ·bᵢ` in integers, `b` int8 or int16: 16 lanes at a time widened to 16 bits and multiplied-and-added in
/// pairs (`pmaddwd`: one instruction for 16 products with AVX2, two with SSE2).
#[inline]
pub(crate) fn dot_i8<T: Copy + Into<i16>>(a: &[i8], b: &[T]) -> i32 {
    use wide::{i8x16, i16x16, i32x8};
    let mut acc = i32x8::ZERO;
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: i32 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| i32::from(x) * i32::from(y.into())).sum();
    for (x, y) in ca.zip(cb) {
        let x = i16x16::from_i8x16(i8x16::new(x.try_into().unwrap_or_default()));
        let y = i16x16::new(std::array::from_fn(|i| y[i].into()));
        acc += x.dot(y);
    }
    acc.reduce_add() + tail
}

/// `Σ aᵢ·qᵢ` for int8 `a` and a query split by [`split_lanes`]: each 16 bytes of `a` are read as eight 16-bit
/// lanes, whose high bytes an arithmetic shift by 8 sign-extends and whose low bytes a shift left then right by 8
/// do, so the bytes need no unpacking before the multiply-adds (`pmaddwd`), one instruction fewer per 8 codes than
/// [`dot_i8`]'s widening; the result is the same integer.
#[inline]
fn dot_split(a: &[i8], even: &[i16], odd: &[i16]) -> i32 {
    use wide::{i16x8, i32x4};
    let mut acc = i32x4::ZERO;
    let chunks = a.chunks_exact(16);
    let tail_start = a.len() - chunks.remainder().len();
    for ((x, e), o) in chunks.zip(even.chunks_exact(8)).zip(odd.chunks_exact(8)) {
        let bytes: [i8; 16] = x.try_into().unwrap_or_default();
        let w: i16x8 = bytemuck::cast(bytes); // lane i: byte 2i low, byte 2i+1 high (little-endian)
        let hi: i16x8 = w >> 8_i32;
        let lo: i16x8 = (w << 8_i32) >> 8_i32;
        let (e, o): (&[i16; 8], &[i16; 8]) = (e.try_into().unwrap_or(&[0; 8]), o.try_into().unwrap_or(&[0; 8]));
        acc += lo.dot(i16x8::new(*e)) + hi.dot(i16x8::new(*o));
    }
    let tail: i32 =
        a[tail_start..].iter().zip(&even[tail_start / 2..]).map(|(&x, &q)| i32::from(x) * i32::from(q)).sum();
    acc.reduce_add() + tail
}

/// A query's codes rearranged for [`dot_split`]: per 16 codes, the 8 even ones then the 8 odd ones; a tail of
/// fewer than 16 codes is kept as it is, after the even half.
fn split_lanes(codes: &[i16]) -> (Vec<i16>, Vec<i16>) {
    let chunks = codes.chunks_exact(16);
    let tail = chunks.remainder();
    let (mut even, mut odd) = (Vec::with_capacity(codes.len() / 2 + tail.len()), Vec::with_capacity(codes.len() / 2));
    for c in chunks {
        even.extend(c.iter().step_by(2));
        odd.extend(c.iter().skip(1).step_by(2));
    }
    even.extend_from_slice(tail);
    (even, odd)
}

/// A query prepared for the scan: unit `f32` and its 16-bit codes.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    /// The unit query, for exact re-scoring.
    pub(crate) unit: Vec<f32>,
    /// Its 16-bit codes, split for [`dot_split`].
    even: Vec<i16>,
    odd: Vec<i16>,
    /// `t`: `unit ≈ t·codes`.
    pub(crate) scale: f32,
    /// `‖unit − t·codes‖`.
    pub(crate) err: f32,
}

impl Query {
    /// A stored row as a query (`unit ≈ scale·codes`; no unit vector, no error bound): the graph's builds.
    pub(crate) fn from_codes(codes: Vec<i16>, scale: f32) -> Self {
        let (even, odd) = split_lanes(&codes);
        Self { unit: Vec::new(), even, odd, scale, err: 0.0 }
    }

    pub(crate) fn new(query: &[f32]) -> Self {
        // As the exact index normalises queries, so that scores agree to the bit.
        let unit = crate::index::normalized(query);
        let m = unit.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        if !(m > 0.0 && m.is_finite()) {
            let codes = vec![0; unit.len()];
            let (even, odd) = split_lanes(&codes);
            return Self { even, odd, scale: 0.0, err: dot(&unit, &unit).sqrt(), unit };
        }
        let (t, inv) = (m / 32767.0, 32767.0 / m);
        let mut e2 = 0.0f32;
        let codes: Vec<i16> = unit
            .iter()
            .map(|&v| {
                let c = (v * inv).round().clamp(-32767.0, 32767.0);
                let r = v - t * c;
                e2 += r * r;
                c as i16
            })
            .collect();
        let (even, odd) = split_lanes(&codes);
        Self { even, odd, scale: t, err: e2.sqrt(), unit }
    }

    /// Whether every exact score is 0 (a zero query).
    pub(crate) fn is_zero(&self) -> bool {
        self.unit.iter().all(|&x| x == 0.0)
    }
}

/// Collects rows grouped by owner, quantising as they come (no `f32` copy is kept), then builds a
/// [`QuantizedIndex`].
#[derive(Debug)]
pub struct QuantizedBuilder {
    dim: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    meta: Vec<(u32, i64)>,
    err: f32,
}

impl QuantizedBuilder {
    /// An empty builder for `dim`-dimensional vectors.
    pub fn new(dim: usize) -> Self {
        Self { dim, codes: Vec::new(), scales: Vec::new(), meta: Vec::new(), err: 0.0 }
    }

    /// Add `vector` (normalised here) owned by `owner`, identified by `key`. Vectors of another dimension are
    /// ignored and reported as `false`.
    pub fn add(&mut self, owner: u32, key: i64, vector: &[f32]) -> bool {
        if vector.len() != self.dim {
            return false;
        }
        let u = unit(vector);
        let at = self.codes.len();
        self.codes.resize(at + self.dim, 0);
        let (s, e) = quantize_row(&u, &mut self.codes[at..]);
        self.scales.push(s);
        self.err = self.err.max(e);
        self.meta.push((owner, key));
        true
    }

    /// The index.
    pub fn build(self) -> QuantizedIndex {
        let Self { dim, mut codes, mut scales, mut meta, err } = self;
        if !meta.is_sorted() {
            let mut order: Vec<usize> = (0..meta.len()).collect();
            order.sort_unstable_by_key(|&i| meta[i]);
            let mut sorted = Vec::with_capacity(codes.len());
            for &i in &order {
                sorted.extend_from_slice(&codes[i * dim..(i + 1) * dim]);
            }
            codes = sorted;
            scales = order.iter().map(|&i| scales[i]).collect();
            meta = order.iter().map(|&i| meta[i]).collect();
        }
        codes.shrink_to_fit();
        scales.shrink_to_fit();
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
        owners.shrink_to_fit();
        starts.shrink_to_fit();
        QuantizedIndex {
            dim,
            codes,
            scales,
            keys: meta.into_iter().map(|m| m.1).collect(),
            live: vec![true; n],
            live_count: n,
            owners,
            starts,
            err,
        }
    }
}

/// Exact search over int8 rows grouped by owner, re-scored from full precision (see the module documentation).
#[derive(Debug, Clone)]
pub struct QuantizedIndex {
    dim: usize,
    /// `n × dim`, row-major, grouped by owner.
    codes: Vec<i8>,
    scales: Vec<f32>,
    keys: Vec<i64>,
    live: Vec<bool>,
    live_count: usize,
    /// Owner of each group.
    owners: Vec<u32>,
    /// First row of each group, then `n`.
    starts: Vec<u32>,
    /// The largest rounding error `‖x − s·c‖` of any row.
    err: f32,
}

/// Keep the groups whose scanned score is within `window` of the k-th best; returns that k-th best score.
fn prune(cand: &mut Vec<(u32, f32)>, k: usize, window: f32) -> f32 {
    if cand.len() <= k {
        return f32::NEG_INFINITY;
    }
    cand.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
    let floor = cand[k - 1].1;
    cand.retain(|c| c.1 >= floor - window);
    floor
}

impl QuantizedIndex {
    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Live rows.
    pub fn len(&self) -> usize {
        self.live_count
    }

    /// Whether there is nothing to search.
    pub fn is_empty(&self) -> bool {
        self.live_count == 0
    }

    /// Rows, live or removed (row numbers run below this).
    pub(crate) fn rows(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn group_rows(&self, g: usize) -> std::ops::Range<usize> {
        self.starts[g] as usize..self.starts[g + 1] as usize
    }

    pub(crate) fn is_live(&self, r: usize) -> bool {
        self.live[r]
    }

    pub(crate) fn code(&self, r: usize) -> &[i8] {
        &self.codes[r * self.dim..(r + 1) * self.dim]
    }

    pub(crate) fn scale(&self, r: usize) -> f32 {
        self.scales[r]
    }

    /// The scanned (approximate) score of row `r`.
    #[inline]
    pub(crate) fn approx(&self, q: &Query, r: usize) -> f32 {
        self.scales[r] * q.scale * dot_split(self.code(r), &q.even, &q.odd) as f32
    }

    /// How far a scanned score may be from the exact one, for query `q`.
    pub(crate) fn bound(&self, q: &Query) -> f32 {
        self.err + q.err * (1.0 + self.err) + SLACK
    }

    fn scan(&self, q: &Query, groups: std::ops::Range<usize>, k: usize, window: f32) -> Vec<(u32, f32)> {
        let mut cand: Vec<(u32, f32)> = Vec::new();
        let mut floor = f32::NEG_INFINITY;
        let mut limit = 4 * k + 64;
        for g in groups {
            let mut m = f32::NEG_INFINITY;
            for r in self.group_rows(g) {
                if self.live[r] {
                    m = m.max(self.approx(q, r));
                }
            }
            if m > f32::NEG_INFINITY && m >= floor - window {
                cand.push((g as u32, m));
                if cand.len() >= limit {
                    floor = prune(&mut cand, k, window);
                    limit = limit.max(2 * cand.len());
                }
            }
        }
        prune(&mut cand, k, window);
        cand
    }

    /// The groups that may hold the exact top `k` (scanned on every core for large indexes).
    fn candidates(&self, q: &Query, k: usize) -> Vec<(u32, f32)> {
        let window = 2.0 * self.bound(q);
        let groups = self.owners.len();
        if groups <= GROUPS_PER_TASK {
            return self.scan(q, 0..groups, k, window);
        }
        let parts: Vec<Vec<(u32, f32)>> = (0..groups.div_ceil(GROUPS_PER_TASK))
            .into_par_iter()
            .map(|t| self.scan(q, t * GROUPS_PER_TASK..((t + 1) * GROUPS_PER_TASK).min(groups), k, window))
            .collect();
        let mut cand: Vec<(u32, f32)> = parts.into_iter().flatten().collect();
        prune(&mut cand, k, window);
        cand
    }

    /// Every live group scores exactly 0 against a zero query: the first `k` owners, as an exact scan orders ties.
    pub(crate) fn zero_hits(&self, k: usize) -> Vec<Hit> {
        let hits = (0..self.owners.len())
            .filter(|&g| self.group_rows(g).any(|r| self.live[r]))
            .map(|g| Hit { owner: self.owners[g], score: 0.0 })
            .collect();
        top_k(hits, k)
    }

    /// Exact scores of `groups` (all their live rows), from the vectors `fetch` returns for a list of keys (in
    /// the same order; `None` for a key that no longer exists, which is then left out); the best `k`.
    pub(crate) fn rescore<E>(
        &self,
        q: &Query,
        groups: impl IntoIterator<Item = u32>,
        k: usize,
        fetch: &mut dyn FnMut(&[i64]) -> Fetched<E>,
    ) -> Result<Vec<Hit>, E> {
        let mut keys: Vec<i64> = Vec::new();
        let mut of_group: Vec<u32> = Vec::new();
        for g in groups {
            for r in self.group_rows(g as usize) {
                if self.live[r] {
                    keys.push(self.keys[r]);
                    of_group.push(g);
                }
            }
        }
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let vectors = fetch(&keys)?;
        let mut best: Vec<(u32, f32)> = Vec::new();
        for (g, v) in of_group.iter().zip(vectors) {
            let Some(v) = v.filter(|v| v.len() == self.dim) else { continue };
            let s = dot(&unit(&v), &q.unit);
            match best.last_mut() {
                Some(b) if b.0 == *g => b.1 = b.1.max(s),
                _ => best.push((*g, s)),
            }
        }
        Ok(top_k(best.into_iter().map(|(g, score)| Hit { owner: self.owners[g as usize], score }).collect(), k))
    }

    /// The `k` owners whose closest live vector is most similar to `query`, best first, with exact scores:
    /// the answer of an exact `f32` scan. `fetch` returns the stored (full-precision) vectors of the keys it is
    /// given, in order, `None` for a key that no longer exists; its error is passed on.
    pub fn search_exact<E>(
        &self,
        query: &[f32],
        k: usize,
        mut fetch: impl FnMut(&[i64]) -> Result<Vec<Option<Vec<f32>>>, E>,
    ) -> Result<Vec<Hit>, E> {
        if query.len() != self.dim || k == 0 || self.live_count == 0 {
            return Ok(Vec::new());
        }
        let q = Query::new(query);
        if q.is_zero() {
            return Ok(self.zero_hits(k));
        }
        let cand = self.candidates(&q, k);
        self.rescore(&q, cand.into_iter().map(|c| c.0), k, &mut fetch)
    }

    /// The same search with the scanned scores only (no re-scoring): scores within [`Self::max_error`] of the
    /// exact ones, and owners closer than that to each other may swap places.
    pub fn search_approx(&self, query: &[f32], k: usize) -> Vec<Hit> {
        if query.len() != self.dim || k == 0 || self.live_count == 0 {
            return Vec::new();
        }
        let q = Query::new(query);
        let hits = self.candidates(&q, k).into_iter().map(|(g, score)| Hit { owner: self.owners[g as usize], score });
        top_k(hits.collect(), k)
    }

    /// The largest difference between a scanned score and the exact one, for a typical query.
    pub fn max_error(&self) -> f32 {
        self.err
    }

    /// Forget one vector (by its key); `true` if it was there. Its codes are zeroed.
    pub fn remove(&mut self, key: i64) -> bool {
        match self.keys.iter().position(|&k| k == key) {
            Some(i) if self.live[i] => {
                self.live[i] = false;
                self.codes[i * self.dim..(i + 1) * self.dim].fill(0);
                self.live_count -= 1;
                true
            }
            _ => false,
        }
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.codes.capacity()
            + self.scales.capacity() * 4
            + self.keys.capacity() * 8
            + self.live.capacity()
            + self.owners.capacity() * 4
            + self.starts.capacity() * 4
    }

    /// The group of each row (for graph indexes over the same rows).
    pub(crate) fn row_groups(&self) -> Vec<u32> {
        let mut out = vec![0u32; self.keys.len()];
        for g in 0..self.owners.len() {
            for r in self.group_rows(g) {
                out[r] = g as u32;
            }
        }
        out
    }

    pub(crate) fn owner_of_group(&self, g: u32) -> u32 {
        self.owners[g as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IndexBuilder, VectorIndex};

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    }

    type Fetched = Result<Vec<Option<Vec<f32>>>, ()>;

    /// The split-lane kernel gives exactly the widening kernel's integer, extremes and tails included.
    #[test]
    fn split_lanes_dot_equals_the_widening_dot() {
        let mut seed = 7u64;
        for dim in [1, 4, 15, 16, 17, 20, 32, 100, 128, 512] {
            for round in 0..20 {
                let a: Vec<i8> = (0..dim)
                    .map(|i| match round {
                        0 => i8::MIN,
                        1 => i8::MAX,
                        _ => (lcg(&mut seed) * 255.0) as i8,
                    } ^ if i % 3 == 0 { 0 } else { 1 })
                    .collect();
                let q: Vec<i16> = (0..dim)
                    .map(|_| match round {
                        0 | 1 => -32767,
                        _ => (lcg(&mut seed) * 65534.0) as i16,
                    })
                    .collect();
                let (even, odd) = split_lanes(&q);
                assert_eq!(dot_split(&a, &even, &odd), dot_i8(&a, &q), "dim {dim}, round {round}");
            }
        }
    }

    fn from_rows(rows: &[(u32, Vec<f32>)]) -> impl FnMut(&[i64]) -> Fetched + '_ {
        |keys| Ok(keys.iter().map(|&k| rows.get(k as usize).map(|r| r.1.clone())).collect())
    }

    #[test]
    fn matches_the_exact_index_with_many_owners_and_deletions() {
        let mut seed = 11;
        for dim in [20, 128] {
            let rows: Vec<(u32, Vec<f32>)> =
                (0..20_000).map(|i| ((i * 7919 % 9000) as u32, (0..dim).map(|_| lcg(&mut seed)).collect())).collect();
            let (mut e, mut qb) = (IndexBuilder::new(dim), QuantizedBuilder::new(dim));
            for (i, (o, v)) in rows.iter().enumerate() {
                assert!(e.add(*o, i as i64, v));
                assert!(qb.add(*o, i as i64, v));
            }
            assert!(!qb.add(0, -1, &[1.0; 3]), "wrong dimension refused");
            let (mut exact, mut quant) = (e.build(), qb.build());
            assert_eq!(quant.len(), 20_000);
            assert!(quant.memory_bytes() < exact.memory_bytes() / 2);
            for round in 0..20 {
                let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed)).collect();
                let k = [1, 10, 100][round % 3];
                let got = quant.search_exact(&q, k, from_rows(&rows)).unwrap();
                assert_eq!(got, exact.search(&q, k), "round {round}, dim {dim}");
                let approx = quant.search_approx(&q, k);
                assert_eq!(approx.len(), k);
                for (a, g) in approx.iter().zip(&got) {
                    assert!((a.score - g.score).abs() < 0.05, "{a:?} vs {g:?}");
                }
            }
            // Remove every row of the best owner: it must disappear at once.
            let q: Vec<f32> = (0..dim).map(|_| lcg(&mut seed)).collect();
            let top = exact.search(&q, 1)[0].owner;
            for (i, (o, _)) in rows.iter().enumerate() {
                if *o == top {
                    assert!(quant.remove(i as i64));
                    assert!(!quant.remove(i as i64), "second removal is a no-op");
                    exact.remove(i as i64);
                }
            }
            assert_eq!(quant.len(), exact.len());
            let got = quant.search_exact(&q, 5, from_rows(&rows)).unwrap();
            assert!(got.iter().all(|h| h.owner != top));
            assert_eq!(got, exact.search(&q, 5));
        }
    }

    #[test]
    fn zero_vectors_missing_rows_and_fetch_errors() {
        let mut b = QuantizedBuilder::new(4);
        b.add(2, 0, &[0.0; 4]);
        b.add(1, 1, &[1.0, 0.0, 0.0, 0.0]);
        b.add(3, 2, &[0.0, 1.0, 0.0, 0.0]);
        let idx = b.build();
        let rows = vec![(2, vec![0.0; 4]), (1, vec![1.0, 0.0, 0.0, 0.0]), (3, vec![0.0, 1.0, 0.0, 0.0])];
        let zero = idx.search_exact(&[0.0; 4], 2, from_rows(&rows)).unwrap();
        assert_eq!(zero, vec![Hit { owner: 1, score: 0.0 }, Hit { owner: 2, score: 0.0 }], "ties by owner");
        let hits = idx.search_exact(&[3.0, 0.0, 0.0, 0.0], 3, from_rows(&rows)).unwrap();
        assert_eq!(hits.iter().map(|h| h.owner).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(hits[0].score, 1.0);
        // A row deleted from the source meanwhile is left out, not an error.
        let gone = idx.search_exact(&[3.0, 0.0, 0.0, 0.0], 3, from_rows(&rows[..2])).unwrap();
        assert_eq!(gone.iter().map(|h| h.owner).collect::<Vec<_>>(), [1, 2]);
        let failed = idx.search_exact(&[1.0, 0.0, 0.0, 0.0], 1, |_| Err::<Vec<Option<Vec<f32>>>, _>("db down"));
        assert_eq!(failed, Err("db down"));
        assert!(idx.search_exact(&[1.0, 0.0], 1, from_rows(&rows)).unwrap().is_empty(), "wrong dimension");
        assert!(idx.search_exact(&[f32::NAN; 4], 1, from_rows(&rows)).is_ok(), "NaN query: no panic");
        assert!(QuantizedBuilder::new(4).build().search_exact(&[1.0; 4], 1, from_rows(&rows)).unwrap().is_empty());
    }
}
