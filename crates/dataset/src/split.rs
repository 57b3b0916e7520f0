//! Seeded, ratio-honouring assignment of near-duplicate groups to train / val / test.

use rand::seq::SliceRandom;

use crate::Fate;

/// One of the three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Training.
    Train,
    /// Validation.
    Val,
    /// Test.
    Test,
}

impl Split {
    const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// Folder name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    pub(crate) fn fate(self) -> Fate {
        match self {
            Split::Train => Fate::Train,
            Split::Val => Fate::Val,
            Split::Test => Fate::Test,
        }
    }

    pub(crate) fn from_fate(f: Fate) -> Option<Split> {
        match f {
            Fate::Train => Some(Split::Train),
            Fate::Val => Some(Split::Val),
            Fate::Test => Some(Split::Test),
            Fate::Removed => None,
        }
    }
}

/// Target counts for `n` items: the largest-remainder rounding of `ratios · n` (they sum to `n`; ties go to the
/// earlier split).
pub fn split_counts(n: usize, ratios: [f64; 3]) -> [usize; 3] {
    let exact: Vec<f64> = ratios.iter().map(|r| r * n as f64).collect();
    let mut counts: [usize; 3] = [exact[0].floor() as usize, exact[1].floor() as usize, exact[2].floor() as usize];
    let mut left = n.saturating_sub(counts.iter().sum());
    let mut order: Vec<usize> = (0..3).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    for &k in order.iter().cycle() {
        if left == 0 {
            break;
        }
        if ratios[k] > 0.0 {
            counts[k] += 1;
            left -= 1;
        }
    }
    counts
}

/// Assign groups (given by size) to splits: shuffled by the seeded `rng`, then largest group first, each to the
/// split furthest below its target count. Groups are never divided, so near duplicates never straddle splits; the
/// counts meet the targets exactly whenever the group sizes allow.
pub(crate) fn assign(sizes: &[usize], ratios: [f64; 3], rng: &mut impl rand::Rng) -> Vec<Split> {
    let n: usize = sizes.iter().sum();
    let target = split_counts(n, ratios);
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.shuffle(rng);
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a])); // stable: shuffled order among equal sizes
    let mut have = [0usize; 3];
    let mut out = vec![Split::Train; sizes.len()];
    for g in order {
        // Prefer a split the whole group fits into; otherwise the one with the largest shortfall.
        let deficit = |k: usize| target[k] as i64 - have[k] as i64;
        let fits = (0..3)
            .filter(|&k| ratios[k] > 0.0 && deficit(k) >= sizes[g] as i64)
            .max_by_key(|&k| (deficit(k), -(k as i64)));
        let k = fits.unwrap_or_else(|| {
            (0..3).filter(|&k| ratios[k] > 0.0).max_by_key(|&k| (deficit(k), -(k as i64))).unwrap_or(0)
        });
        have[k] += sizes[g];
        out[g] = Split::ALL[k];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn counts_follow_ratios_and_sum_to_n() {
        assert_eq!(split_counts(10, [0.8, 0.1, 0.1]), [8, 1, 1]);
        assert_eq!(split_counts(7, [0.8, 0.1, 0.1]), [5, 1, 1]);
        assert_eq!(split_counts(3, [0.8, 0.1, 0.1]), [3, 0, 0]);
        assert_eq!(split_counts(100, [0.7, 0.2, 0.1]), [70, 20, 10]);
        assert_eq!(split_counts(5, [0.5, 0.5, 0.0]), [3, 2, 0]);
        for n in 0..50 {
            assert_eq!(split_counts(n, [0.8, 0.1, 0.1]).iter().sum::<usize>(), n);
        }
    }

    #[test]
    fn singletons_meet_targets_exactly_and_are_deterministic() {
        let sizes = vec![1; 20];
        let a = assign(&sizes, [0.8, 0.1, 0.1], &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
        let b = assign(&sizes, [0.8, 0.1, 0.1], &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a, b);
        let count = |s| a.iter().filter(|x| **x == s).count();
        assert_eq!((count(Split::Train), count(Split::Val), count(Split::Test)), (16, 2, 2));
        let c = assign(&sizes, [0.8, 0.1, 0.1], &mut rand_chacha::ChaCha8Rng::seed_from_u64(2));
        assert_ne!(a, c, "another seed, another split");
    }

    #[test]
    fn groups_stay_whole() {
        let sizes = vec![4, 1, 1, 1, 1, 1, 1];
        let a = assign(&sizes, [0.6, 0.2, 0.2], &mut rand_chacha::ChaCha8Rng::seed_from_u64(3));
        assert_eq!(a[0], Split::Train, "the big group goes where it fits");
        let count = |s| sizes.iter().zip(&a).filter(|(_, x)| **x == s).map(|(n, _)| n).sum::<usize>();
        assert_eq!((count(Split::Train), count(Split::Val), count(Split::Test)), (6, 2, 2));
    }
}
