//! Face-like vectors for the identify benchmarks (`index.rs`, `pg_index.rs`).
//!
//! 128-d; a person is a random unit centre `c`, a face is `normalise(0.775·c + 0.632·n)` with `n` a random unit
//! vector, so that two faces of one person have cosine ≈ 0.6 and faces of different persons ≈ 0 (as SFace
//! embeddings).
#![allow(dead_code)] // each benchmark takes what it needs

use rand::Rng;

pub const DIM: usize = 128;

pub fn gauss(rng: &mut impl Rng) -> f32 {
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

pub fn unit(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

pub fn random_unit(rng: &mut impl Rng) -> Vec<f32> {
    unit((0..DIM).map(|_| gauss(rng)).collect())
}

pub fn face(centre: &[f32], rng: &mut impl Rng) -> Vec<f32> {
    let n = random_unit(rng);
    unit(centre.iter().zip(&n).map(|(c, e)| 0.775 * c + 0.632 * e).collect())
}

pub fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A comma-separated list of numbers from the environment variable `name`, or `default`.
pub fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}
