//! Fuzzing of every parser of untrusted input, on the stable toolchain.
//!
//! Coverage-guided fuzzers (cargo-fuzz/libFuzzer, AFL) need nightly's `-Zsanitizer` flags, which this project's CI
//! does not have, so the fuzzing here is **property testing over mutated real inputs** with [`proptest`]: each
//! target starts from committed seeds (`seeds/<target>/`: real photos, multipart and JSON bodies, `pipeline.toml`,
//! manifest lines, Azure responses), mutates them the way AFL's havoc stage does ([`bytes`]: bit flips, truncation,
//! inserted, deleted and duplicated ranges, splices of two seeds, "interesting" values such as 0, 0xFF or huge
//! lengths written over headers) and, for text formats, the way a structure-aware fuzzer does ([`tree`]: values of
//! the wrong type, huge numbers, deep nesting, long and odd Unicode strings, missing and unknown keys), then checks
//! what every parser must guarantee: no panic, an answer (`Ok` or a typed error naming the input) within a bounded
//! time, and sane results.
//!
//! The targets are the integration tests in `tests/`. Each one runs
//!
//! - its seeds unmutated (they must parse: a seed that no longer parses is a stale seed or a regression),
//! - the regression corpus `regressions/<target>/` (raw inputs that once failed, replayed on every run; inputs of
//!   bugs still open live in `regressions/<target>/open/` and are replayed by an ignored test naming the bug),
//! - and a bounded number of mutated cases ([`harness::cases`]), with a fixed RNG seed per target so that CI runs
//!   are reproducible. `ISSC_FUZZ_CASES=N` and `ISSC_FUZZ_SEED=random` (or a number) make longer, different runs
//!   (see `docs/fuzzing.md`).
//!
//! ```
//! use issc_fuzz::bytes::{apply, At, Op};
//! // Truncating a seed is one of the mutations; positions are fractions of the input's length (here: about half).
//! let seed = b"\xFF\xD8\xFF\xE0 a JPEG, say".to_vec();
//! let cut = apply(&seed, &[Op::Truncate { at: At(u64::MAX / 2) }], &[]);
//! assert_eq!(cut.len(), seed.len() / 2 - 1);
//! ```

pub mod bytes;
pub mod corpus;
pub mod harness;
pub mod tree;

pub use corpus::{Seed, open_regressions, regressions, seeds};
pub use harness::{Case, Format, bounded, byte_cases, case_limit, cases, config, replay, run, text_cases, tree_cases};
