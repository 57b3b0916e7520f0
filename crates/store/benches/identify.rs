//! Identify latency of the exact index over 10k, 100k and 1M synthetic 128-d enrolled faces, its memory, and the
//! ratio to a plain f32 dot-product scan at this machine's memory bandwidth.
//!
//! ```text
//! cargo bench -p issc-store --bench identify                      # 10k, 100k, 1M faces
//! ISSC_BENCH_SIZES=10000,50000 cargo bench -p issc-store --bench identify
//! ```
//! Faces belong to persons of 4 faces each (identify returns the best face per person, top 10 persons).

use std::time::Instant;

use issc_store::{IndexBuilder, VectorIndex, dot};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

const DIM: usize = 128;
const FACES_PER_PERSON: usize = 4;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map_or(f64::NAN, |pages| pages * 4096.0 / 1048576.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Read bandwidth: sum a buffer far larger than the caches, on every core; best of 5, GB/s.
fn bandwidth_gbs() -> f64 {
    let buf: Vec<f32> = (0..64 * 1024 * 1024).map(|i| (i % 7) as f32).collect(); // 256 MiB
    let mut best = 0.0f64;
    for _ in 0..5 {
        let t = Instant::now();
        // Eight independent sums per chunk, so that the adds keep up with memory and memory is what is measured.
        let s: f32 = buf
            .par_chunks(1 << 16)
            .map(|c| {
                let mut acc = [0.0f32; 8];
                for x in c.chunks_exact(8) {
                    for i in 0..8 {
                        acc[i] += x[i];
                    }
                }
                acc.iter().sum::<f32>()
            })
            .sum();
        let secs = t.elapsed().as_secs_f64();
        std::hint::black_box(s);
        best = best.max(buf.len() as f64 * 4.0 / secs / 1e9);
    }
    best
}

fn main() {
    let sizes: Vec<usize> = std::env::var("ISSC_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let threads = rayon::current_num_threads();
    let bw = bandwidth_gbs();
    println!("exact identify, {DIM}-d f32, {FACES_PER_PERSON} faces per person, top 10 persons, {threads} threads");
    println!("memory read bandwidth (sum of 256 MiB, {threads} threads): {bw:.1} GB/s\n");
    println!(
        "| faces | persons | index MiB | RSS +MiB | build s | identify p50 ms | p99 ms | plain scan ms | bandwidth bound ms | identify / bound |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    for &n in &sizes {
        let rss0 = rss_mb();
        let t = Instant::now();
        let mut b = IndexBuilder::new(DIM);
        let mut v = vec![0.0f32; DIM];
        for i in 0..n {
            for x in &mut v {
                *x = rng.random::<f32>() - 0.5;
            }
            b.add((i / FACES_PER_PERSON) as u32, i as i64, &v);
        }
        let index = b.build();
        let build = t.elapsed().as_secs_f64();
        let rss = rss_mb() - rss0;
        let queries: Vec<Vec<f32>> = (0..64).map(|_| (0..DIM).map(|_| rng.random::<f32>() - 0.5).collect()).collect();
        let rounds = (2_000_000_000 / (n * DIM)).clamp(20, 400);
        let _ = index.search(&queries[0], 10); // warm
        let mut lat: Vec<f64> = (0..rounds)
            .map(|r| {
                let t = Instant::now();
                let hits = index.search(&queries[r % queries.len()], 10);
                let ms = t.elapsed().as_secs_f64() * 1e3;
                assert_eq!(hits.len(), 10.min(n.div_ceil(FACES_PER_PERSON)));
                ms
            })
            .collect();
        lat.sort_by(f64::total_cmp);
        // A plain scan of the same bytes: one dot product per row, nothing else, on every core.
        let flat: Vec<f32> = (0..n * DIM).map(|i| ((i * 2654435761) % 1000) as f32 * 1e-3).collect();
        let mut plain: Vec<f64> = (0..rounds.min(50))
            .map(|r| {
                let q = &queries[r % queries.len()];
                let t = Instant::now();
                let m = flat
                    .par_chunks(DIM * 4096)
                    .map(|c| c.chunks_exact(DIM).map(|row| dot(row, q)).fold(f32::MIN, f32::max))
                    .reduce(|| f32::MIN, f32::max);
                std::hint::black_box(m);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        plain.sort_by(f64::total_cmp);
        let bound = (n * DIM * 4) as f64 / (bw * 1e9) * 1e3;
        let p50 = percentile(&lat, 0.5);
        println!(
            "| {n} | {} | {:.1} | {:.1} | {:.2} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} |",
            n.div_ceil(FACES_PER_PERSON),
            index.memory_bytes() as f64 / 1048576.0,
            rss,
            build,
            p50,
            percentile(&lat, 0.99),
            percentile(&plain, 0.5),
            bound,
            p50 / bound
        );
        drop(flat);
        drop(index);
    }
}
