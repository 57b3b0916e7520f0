//! Multi-index hashing (Norouzi et al., 2012) for 64-bit perceptual hashes: every pair within Hamming distance
//! `r` without comparing all pairs.
//!
//! The hash is cut into four 16-bit blocks, each indexed in its own table. If two hashes differ in at most `r`
//! bits, then by the pigeonhole principle at least one block differs in at most `⌊r/4⌋` bits, so a query only
//! looks up, in each table, the block values within `⌊r/4⌋` bits of its own (17 values per block at `r ≤ 7`) and
//! checks those candidates exactly. With 65,536 buckets per table, the candidates per query stay small until
//! millions of hashes, so the search grows far slower than the n²/2 pairs of a brute-force scan.

/// Hamming distance between two 64-bit hashes.
#[inline]
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

const BLOCKS: usize = 4;
const BUCKETS: usize = 1 << 16;

#[inline]
fn block(h: u64, k: usize) -> usize {
    ((h >> (16 * k)) & 0xFFFF) as usize
}

/// An index over a fixed list of hashes.
#[derive(Debug)]
pub struct MultiIndex<'a> {
    hashes: &'a [u64],
    /// Per block: CSR offsets (`BUCKETS + 1`) into `items`.
    offsets: Vec<Vec<u32>>,
    items: Vec<Vec<u32>>,
}

impl<'a> MultiIndex<'a> {
    /// Index `hashes` (item `i` is `hashes[i]`).
    pub fn new(hashes: &'a [u64]) -> Self {
        let mut offsets = Vec::with_capacity(BLOCKS);
        let mut items = Vec::with_capacity(BLOCKS);
        for k in 0..BLOCKS {
            let mut counts = vec![0u32; BUCKETS + 1];
            for &h in hashes {
                counts[block(h, k) + 1] += 1;
            }
            for b in 0..BUCKETS {
                counts[b + 1] += counts[b];
            }
            let mut fill = counts.clone();
            let mut list = vec![0u32; hashes.len()];
            for (i, &h) in hashes.iter().enumerate() {
                let b = block(h, k);
                list[fill[b] as usize] = i as u32;
                fill[b] += 1;
            }
            offsets.push(counts);
            items.push(list);
        }
        Self { hashes, offsets, items }
    }

    /// Items within `radius` of `query`, appended to `out` as `(item, distance)`, each once. `seen` must have one
    /// slot per item and is used as scratch (pass the same buffer to every call; `stamp` must differ per call).
    pub fn find_within(&self, query: u64, radius: u32, stamp: u32, seen: &mut [u32], out: &mut Vec<(usize, u32)>) {
        let per_block = radius / BLOCKS as u32;
        let mut probes = Vec::new();
        for k in 0..BLOCKS {
            probes.clear();
            neighbours16(block(query, k) as u16, per_block, &mut probes);
            for &v in &probes {
                let (s, e) = (self.offsets[k][v as usize] as usize, self.offsets[k][v as usize + 1] as usize);
                for &i in &self.items[k][s..e] {
                    let i = i as usize;
                    if seen[i] == stamp {
                        continue;
                    }
                    seen[i] = stamp;
                    let d = hamming(self.hashes[i], query);
                    if d <= radius {
                        out.push((i, d));
                    }
                }
            }
        }
    }

    /// Every pair `(i, j, distance)` with `i < j` within `radius`.
    pub fn pairs_within(&self, radius: u32) -> Vec<(usize, usize, u32)> {
        let mut seen = vec![u32::MAX; self.hashes.len()];
        let mut found = Vec::new();
        let mut pairs = Vec::new();
        for (i, &h) in self.hashes.iter().enumerate() {
            found.clear();
            self.find_within(h, radius, i as u32, &mut seen, &mut found);
            pairs.extend(found.iter().filter(|(j, _)| *j > i).map(|&(j, d)| (i, j, d)));
        }
        pairs
    }
}

/// All 16-bit values within `r` bits of `v` (r = 0, 1, 2 or 3; larger radii are enumerated the same way).
fn neighbours16(v: u16, r: u32, out: &mut Vec<u16>) {
    fn rec(v: u16, start: u32, left: u32, out: &mut Vec<u16>) {
        out.push(v);
        if left == 0 {
            return;
        }
        for bit in start..16 {
            rec(v ^ (1 << bit), bit + 1, left - 1, out);
        }
    }
    rec(v, 0, r.min(16), out);
}

/// Brute force, for tests and benchmarks.
pub fn pairs_within_brute_force(hashes: &[u64], radius: u32) -> Vec<(usize, usize, u32)> {
    let mut pairs = Vec::new();
    for i in 0..hashes.len() {
        for j in i + 1..hashes.len() {
            let d = hamming(hashes[i], hashes[j]);
            if d <= radius {
                pairs.push((i, j, d));
            }
        }
    }
    pairs
}

/// `n` random 64-bit hashes, a tenth of them near copies (1–`max_flip` bits flipped) of others: the synthetic set
/// used by the tests and the benchmark.
pub fn synthetic_hashes(n: usize, max_flip: u32, seed: u64) -> Vec<u64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<u64> = Vec::with_capacity(n);
    for i in 0..n {
        if i > 10 && i % 10 == 0 {
            let mut h = v[rng.random_range(0..i)];
            for _ in 0..rng.random_range(1..=max_flip) {
                h ^= 1 << rng.random_range(0..64);
            }
            v.push(h);
        } else {
            v.push(rng.random());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_pairs_brute_force_finds() {
        for radius in [0, 3, 6, 9] {
            let hashes = synthetic_hashes(4000, 10, u64::from(radius));
            let mut got = MultiIndex::new(&hashes).pairs_within(radius);
            got.sort_unstable();
            let want = pairs_within_brute_force(&hashes, radius);
            assert!(!want.is_empty());
            assert_eq!(got, want, "radius {radius}");
        }
    }

    #[test]
    fn neighbour_enumeration_counts() {
        let mut v = Vec::new();
        neighbours16(0xABCD, 1, &mut v);
        assert_eq!(v.len(), 17);
        v.clear();
        neighbours16(0xABCD, 2, &mut v);
        assert_eq!(v.len(), 1 + 16 + 120);
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), 137);
    }
}
