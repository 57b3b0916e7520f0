//! Near-duplicate search at 10k and 100k synthetic 64-bit hashes (multi-index hashing), against brute force at
//! 10k.
#![allow(missing_docs)] // criterion's macros generate undocumented items
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use issc_dataset::mih::{MultiIndex, pairs_within_brute_force, synthetic_hashes};

fn near_duplicates(c: &mut Criterion) {
    let mut g = c.benchmark_group("near_duplicate_pairs_r6");
    g.sample_size(10);
    for n in [10_000usize, 100_000] {
        let hashes = synthetic_hashes(n, 6, 1);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("multi_index", n), &hashes, |b, h| {
            b.iter(|| MultiIndex::new(h).pairs_within(6).len())
        });
    }
    let hashes = synthetic_hashes(10_000, 6, 1);
    g.bench_with_input(BenchmarkId::new("brute_force", 10_000), &hashes, |b, h| {
        b.iter(|| pairs_within_brute_force(h, 6).len())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = near_duplicates
}
criterion_main!(benches);
