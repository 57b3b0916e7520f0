//! An approximate index: a hierarchical navigable small-world graph (HNSW, Malkov and Yashunin 2016) over the
//! int8 rows of a [`QuantizedIndex`], for identify at tens of thousands of queries per second on one core.
//!
//! The graph is walked with the scanned (int8 × int16) scores; the owners it finds are then re-scored exactly from
//! full precision, as [`QuantizedIndex::search_exact`] does, so the scores returned are exact. What is approximate
//! is which owners are found: an owner that the walk misses is not returned. On face-like vectors (several faces
//! per person, same-person cosine ≈ 0.6) the top person agrees with an exact scan for more than 99 % of queries
//! at the default settings (see `benches/index.rs`).

use std::cell::RefCell;
use std::collections::{BinaryHeap, HashMap};

use crate::index::{Hit, top_k};
use crate::quantized::{QuantizedIndex, Query};

/// Graph settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on the upper layers (twice this on the bottom layer).
    pub m: usize,
    /// Candidates kept while inserting (build time against graph quality).
    pub ef_construction: usize,
    /// Candidates kept while searching (speed against recall); at least `k` are kept.
    pub ef_search: usize,
    /// Seed of the layer draw (the build is deterministic).
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self { m: 16, ef_construction: 100, ef_search: 64, seed: 42 }
    }
}

const EMPTY: u32 = u32::MAX;

/// A score and a row, ordered by score (then row).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scored(f32, u32);

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Rows seen during one walk: a stamp per row, so that clearing is one increment.
#[derive(Debug, Default)]
struct Visited {
    marks: Vec<u32>,
    stamp: u32,
}

impl Visited {
    fn reset(&mut self, n: usize) {
        if self.marks.len() != n {
            self.marks = vec![0; n];
            self.stamp = 0;
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.fill(0);
            self.stamp = 1;
        }
    }

    /// Mark `r`; `true` if it was not marked yet.
    #[inline]
    fn insert(&mut self, r: u32) -> bool {
        let m = &mut self.marks[r as usize];
        let new = *m != self.stamp;
        *m = self.stamp;
        new
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = RefCell::new(Visited::default());
}

/// splitmix64: the layer draw.
fn next_u64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// HNSW over the rows of a [`QuantizedIndex`] (see the module documentation).
#[derive(Debug, Clone)]
pub struct HnswIndex {
    base: QuantizedIndex,
    row_group: Vec<u32>,
    m: usize,
    m0: usize,
    /// Bottom-layer links, `m0` per row, padded with `EMPTY`.
    links0: Vec<u32>,
    /// Upper-layer links of the rows that reach layer 1 or higher: `m` per layer, layer 1 first.
    upper: HashMap<u32, Vec<u32>>,
    entry: u32,
    top: usize,
    ef_search: usize,
}

impl HnswIndex {
    /// Build the graph over `base`'s live rows (one core; about 10 s per 100,000 rows of 128 dimensions here).
    pub fn build(base: QuantizedIndex, params: HnswParams) -> Self {
        let m = params.m.clamp(2, 255);
        let n = base.rows();
        let mut h = Self {
            row_group: base.row_groups(),
            base,
            m,
            m0: 2 * m,
            links0: vec![EMPTY; n * 2 * m],
            upper: HashMap::new(),
            entry: EMPTY,
            top: 0,
            ef_search: params.ef_search.max(1),
        };
        let ml = 1.0 / (m as f64).ln();
        let mut rng = params.seed;
        let mut visited = Visited::default();
        let efc = params.ef_construction.max(m);
        for r in 0..n {
            if !h.base.is_live(r) {
                continue;
            }
            let u = (next_u64(&mut rng) >> 11) as f64 / (1u64 << 53) as f64;
            let level = ((-(1.0 - u).ln() * ml) as usize).min(16);
            h.insert(r as u32, level, efc, &mut visited);
        }
        h
    }

    /// The rows' index (exact search, memory, removals).
    pub fn base(&self) -> &QuantizedIndex {
        &self.base
    }

    /// Set how many candidates a search keeps.
    pub fn set_ef_search(&mut self, ef: usize) {
        self.ef_search = ef.max(1);
    }

    fn neighbours(&self, r: u32, level: usize) -> &[u32] {
        let links = if level == 0 {
            &self.links0[r as usize * self.m0..(r as usize + 1) * self.m0]
        } else {
            match self.upper.get(&r) {
                Some(l) if l.len() >= level * self.m => &l[(level - 1) * self.m..level * self.m],
                _ => &[],
            }
        };
        let used = links.iter().position(|&x| x == EMPTY).unwrap_or(links.len());
        &links[..used]
    }

    fn set_neighbours(&mut self, r: u32, level: usize, nb: &[u32]) {
        let cap = if level == 0 { self.m0 } else { self.m };
        let slot = if level == 0 {
            &mut self.links0[r as usize * self.m0..(r as usize + 1) * self.m0]
        } else {
            let l = self.upper.entry(r).or_default();
            if l.len() < level * self.m {
                l.resize(level * self.m, EMPTY);
            }
            &mut l[(level - 1) * self.m..level * self.m]
        };
        slot.fill(EMPTY);
        for (s, &x) in slot.iter_mut().zip(nb.iter().take(cap)) {
            *s = x;
        }
    }

    fn query_of(&self, r: u32) -> Query {
        Query::from_codes(
            self.base.code(r as usize).iter().map(|&c| i16::from(c)).collect(),
            self.base.scale(r as usize),
        )
    }

    fn pair(&self, a: u32, b: u32) -> f32 {
        let (a, b) = (a as usize, b as usize);
        self.base.scale(a) * self.base.scale(b) * crate::quantized::dot_i8(self.base.code(a), self.base.code(b)) as f32
    }

    /// The best `ef` rows reachable from `entry` on `level`, best first.
    fn search_layer(&self, q: &Query, entry: &[Scored], ef: usize, level: usize, visited: &mut Visited) -> Vec<Scored> {
        visited.reset(self.base.rows());
        let mut cand: BinaryHeap<Scored> = BinaryHeap::new();
        let mut best: BinaryHeap<std::cmp::Reverse<Scored>> = BinaryHeap::new();
        for &e in entry {
            if visited.insert(e.1) {
                cand.push(e);
                best.push(std::cmp::Reverse(e));
                if best.len() > ef {
                    best.pop();
                }
            }
        }
        while let Some(c) = cand.pop() {
            let worst = best.peek().map_or(f32::NEG_INFINITY, |w| w.0.0);
            if best.len() >= ef && c.0 < worst {
                break;
            }
            for &nb in self.neighbours(c.1, level) {
                if !visited.insert(nb) {
                    continue;
                }
                let s = self.base.approx(q, nb as usize);
                let worst = best.peek().map_or(f32::NEG_INFINITY, |w| w.0.0);
                if best.len() < ef || s > worst {
                    cand.push(Scored(s, nb));
                    best.push(std::cmp::Reverse(Scored(s, nb)));
                    if best.len() > ef {
                        best.pop();
                    }
                }
            }
        }
        let mut out: Vec<Scored> = best.into_iter().map(|r| r.0).collect();
        out.sort_unstable_by(|a, b| b.cmp(a));
        out
    }

    /// Keep up to `cap` of `cand` (best first): each kept one is closer to the base row than to any kept before it.
    fn select(&self, cand: &[Scored], cap: usize) -> Vec<u32> {
        let mut kept: Vec<Scored> = Vec::with_capacity(cap);
        for &c in cand {
            if kept.len() >= cap {
                break;
            }
            if kept.iter().all(|k| self.pair(c.1, k.1) < c.0) {
                kept.push(c);
            }
        }
        kept.into_iter().map(|s| s.1).collect()
    }

    fn insert(&mut self, r: u32, level: usize, efc: usize, visited: &mut Visited) {
        if self.entry == EMPTY {
            self.entry = r;
            self.top = level;
            for l in 1..=level {
                self.set_neighbours(r, l, &[]);
            }
            return;
        }
        let q = self.query_of(r);
        let mut ep = vec![Scored(self.base.approx(&q, self.entry as usize), self.entry)];
        for l in (level + 1..=self.top).rev() {
            ep = self.search_layer(&q, &ep, 1, l, visited);
        }
        for l in (0..=level.min(self.top)).rev() {
            let w = self.search_layer(&q, &ep, efc, l, visited);
            let cap = if l == 0 { self.m0 } else { self.m };
            let chosen = self.select(&w, cap);
            self.set_neighbours(r, l, &chosen);
            for &nb in &chosen {
                let mut links: Vec<u32> = self.neighbours(nb, l).to_vec();
                if links.len() < cap {
                    links.push(r);
                } else {
                    let mut scored: Vec<Scored> =
                        links.iter().chain(std::iter::once(&r)).map(|&x| Scored(self.pair(nb, x), x)).collect();
                    scored.sort_unstable_by(|a, b| b.cmp(a));
                    links = self.select(&scored, cap);
                }
                self.set_neighbours(nb, l, &links);
            }
            ep = w;
        }
        if level > self.top {
            for l in self.top + 1..=level {
                self.set_neighbours(r, l, &[]);
            }
            self.top = level;
            self.entry = r;
        }
    }

    /// The groups (owners) whose rows the walk found, pruned to those that may be among the top `k`.
    fn candidates(&self, q: &Query, k: usize) -> Vec<(u32, f32)> {
        if self.entry == EMPTY {
            return Vec::new();
        }
        let found = VISITED.with(|v| {
            let mut visited = v.borrow_mut();
            let mut ep = vec![Scored(self.base.approx(q, self.entry as usize), self.entry)];
            for l in (1..=self.top).rev() {
                ep = self.search_layer(q, &ep, 1, l, &mut visited);
            }
            self.search_layer(q, &ep, self.ef_search.max(k), 0, &mut visited)
        });
        let mut by_group: HashMap<u32, f32> = HashMap::new();
        for s in found {
            if self.base.is_live(s.1 as usize) {
                let e = by_group.entry(self.row_group[s.1 as usize]).or_insert(f32::NEG_INFINITY);
                *e = e.max(s.0);
            }
        }
        let mut cand: Vec<(u32, f32)> = by_group.into_iter().collect();
        let window = 2.0 * self.base.bound(q);
        if cand.len() > k {
            cand.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            let floor = cand[k - 1].1;
            cand.retain(|c| c.1 >= floor - window);
        }
        cand
    }

    /// The `k` owners found most similar to `query`, best first, with exact scores from the full-precision
    /// vectors that `fetch` returns (as for [`QuantizedIndex::search_exact`]).
    pub fn search_exact<E>(
        &self,
        query: &[f32],
        k: usize,
        mut fetch: impl FnMut(&[i64]) -> Result<Vec<Option<Vec<f32>>>, E>,
    ) -> Result<Vec<Hit>, E> {
        if query.len() != self.base.dim() || k == 0 || self.base.is_empty() {
            return Ok(Vec::new());
        }
        let q = Query::new(query);
        if q.is_zero() {
            return Ok(self.base.zero_hits(k));
        }
        let cand = self.candidates(&q, k);
        self.base.rescore(&q, cand.into_iter().map(|c| c.0), k, &mut fetch)
    }

    /// The `k` owners found most similar to `query`, with their scanned scores (no re-scoring).
    pub fn search_approx(&self, query: &[f32], k: usize) -> Vec<Hit> {
        if query.len() != self.base.dim() || k == 0 || self.base.is_empty() {
            return Vec::new();
        }
        let q = Query::new(query);
        let hits =
            self.candidates(&q, k).into_iter().map(|(g, score)| Hit { owner: self.base.owner_of_group(g), score });
        top_k(hits.collect(), k)
    }

    /// Forget one vector (by its key): it is never returned again (the graph still walks through it).
    pub fn remove(&mut self, key: i64) -> bool {
        self.base.remove(key)
    }

    /// Bytes held, the rows' index included.
    pub fn memory_bytes(&self) -> usize {
        self.base.memory_bytes()
            + self.row_group.capacity() * 4
            + self.links0.capacity() * 4
            + self.upper.values().map(|l| l.capacity() * 4 + 32).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QuantizedBuilder;

    /// Deterministic Gaussian-ish values (sum of uniforms).
    fn gauss(seed: &mut u64) -> f32 {
        (0..4).map(|_| (next_u64(seed) >> 40) as f32 / (1u64 << 24) as f32 - 0.5).sum::<f32>()
    }

    fn unit(v: Vec<f32>) -> Vec<f32> {
        crate::quantized::unit(&v)
    }

    #[test]
    fn finds_the_exact_top_person_on_face_like_vectors() {
        let (dim, persons, per) = (64, 2000, 4);
        let mut seed = 5;
        let mut rows: Vec<(u32, Vec<f32>)> = Vec::new();
        let mut centres = Vec::new();
        for p in 0..persons {
            let c = unit((0..dim).map(|_| gauss(&mut seed)).collect());
            for _ in 0..per {
                let n = unit((0..dim).map(|_| gauss(&mut seed)).collect());
                rows.push((p, unit(c.iter().zip(&n).map(|(a, b)| 0.775 * a + 0.632 * b).collect())));
            }
            centres.push(c);
        }
        let mut b = QuantizedBuilder::new(dim);
        for (i, (o, v)) in rows.iter().enumerate() {
            b.add(*o, i as i64, v);
        }
        let base = b.build();
        let mut h = HnswIndex::build(base.clone(), HnswParams::default());
        let fetch = |keys: &[i64]| -> Result<Vec<Option<Vec<f32>>>, ()> {
            Ok(keys.iter().map(|&k| rows.get(k as usize).map(|r| r.1.clone())).collect())
        };
        let mut agree = 0;
        let trials = 200;
        for t in 0..trials {
            let c = &centres[(t * 7) % persons as usize];
            let n = unit((0..dim).map(|_| gauss(&mut seed)).collect());
            let q = unit(c.iter().zip(&n).map(|(a, b)| 0.775 * a + 0.632 * b).collect());
            let exact = base.search_exact(&q, 3, fetch).unwrap();
            let got = h.search_exact(&q, 3, fetch).unwrap();
            assert!(!got.is_empty());
            if got[0] == exact[0] {
                agree += 1;
            }
            for g in &got {
                assert!(exact.iter().all(|e| e.owner != g.owner || e.score == g.score), "exact scores");
            }
            assert_eq!(h.search_approx(&q, 3).len(), 3);
        }
        assert!(agree >= trials * 98 / 100, "top person agrees for {agree} of {trials} queries");
        // A removed row is never returned; a removed person disappears.
        let q = rows[0].1.clone();
        assert_eq!(h.search_exact(&q, 1, fetch).unwrap()[0].owner, 0);
        for key in 0..per as i64 {
            assert!(h.remove(key));
        }
        assert!(h.search_exact(&q, 5, fetch).unwrap().iter().all(|x| x.owner != 0));
        h.set_ef_search(0);
        assert!(!h.search_exact(&q, 5, fetch).unwrap().is_empty(), "ef below k still answers");
        assert!(h.memory_bytes() > base.memory_bytes());
    }

    #[test]
    fn empty_and_degenerate() {
        let h = HnswIndex::build(QuantizedBuilder::new(4).build(), HnswParams::default());
        let none = |_: &[i64]| -> Result<Vec<Option<Vec<f32>>>, ()> { Ok(Vec::new()) };
        assert!(h.search_exact(&[1.0; 4], 3, none).unwrap().is_empty());
        let mut b = QuantizedBuilder::new(4);
        b.add(0, 0, &[1.0, 0.0, 0.0, 0.0]);
        b.add(1, 1, &[0.0, 0.0, 0.0, 0.0]);
        let h = HnswIndex::build(b.build(), HnswParams { m: 0, ef_construction: 0, ef_search: 0, seed: 1 });
        let rows = [vec![1.0, 0.0, 0.0, 0.0], vec![0.0; 4]];
        let fetch = |keys: &[i64]| -> Result<Vec<Option<Vec<f32>>>, ()> {
            Ok(keys.iter().map(|&k| rows.get(k as usize).cloned()).collect())
        };
        assert_eq!(h.search_exact(&[2.0, 0.0, 0.0, 0.0], 2, fetch).unwrap()[0], Hit { owner: 0, score: 1.0 });
        assert_eq!(h.search_exact(&[0.0; 4], 2, fetch).unwrap().len(), 2, "zero query");
        assert!(h.search_exact(&[1.0], 2, fetch).unwrap().is_empty(), "wrong dimension");
    }
}
