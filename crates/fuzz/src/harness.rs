//! Running a target: the case budget, the RNG seed, proptest's persisted failures, the hang guard and the report
//! of a failing input (saved as a file, ready to be added to the regression corpus).

use std::fmt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{
    Config as ProptestConfig, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner,
};

use crate::bytes::{Op, apply, hex_head, ops};
use crate::corpus::Seed;
use crate::tree::{TreeMutation, mutate_json, mutate_toml, mutation};

/// Cases of a target: `ISSC_FUZZ_CASES` (or `PROPTEST_CASES`) when set, else `default` (sized so that the whole
/// crate's tests stay around a minute in CI on two cores).
pub fn cases(default: u32) -> u32 {
    ["ISSC_FUZZ_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|k| std::env::var(k).ok().and_then(|v| v.trim().parse::<u32>().ok()))
        .unwrap_or(default)
}

/// Longest a single case may run before it counts as a hang: `ISSC_FUZZ_TIMEOUT_S` seconds, default 30 (generous:
/// a case takes milliseconds; this only catches inputs that never finish).
pub fn case_limit() -> Duration {
    let s = std::env::var("ISSC_FUZZ_TIMEOUT_S").ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(30);
    Duration::from_secs(s.max(1))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The RNG seed of a target: fixed per target unless `ISSC_FUZZ_SEED` says `random` (a new seed each run) or gives
/// a number (mixed with the target's name), so CI runs are reproducible and long local runs explore.
pub fn rng_seed(target: &str) -> RngSeed {
    match std::env::var("ISSC_FUZZ_SEED").ok().map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if v == "random" => RngSeed::Random,
        Some(v) => match v.parse::<u64>() {
            Ok(n) => RngSeed::Fixed(n ^ fnv1a(target.as_bytes())),
            Err(_) => RngSeed::Fixed(fnv1a(target.as_bytes())),
        },
        None => RngSeed::Fixed(fnv1a(target.as_bytes())),
    }
}

/// proptest's settings for `target`: [`cases`], [`rng_seed`], and failures persisted (as RNG seeds, replayed
/// first on the next run) in `regressions/proptest/<target>.txt`.
pub fn config(target: &str, default_cases: u32) -> ProptestConfig {
    let path = crate::corpus::root().join("regressions").join("proptest").join(format!("{target}.txt"));
    // proptest wants a `&'static str`; one small string per target and process.
    let path: &'static str = Box::leak(path.display().to_string().into_boxed_str());
    ProptestConfig {
        cases: cases(default_cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))),
        rng_seed: rng_seed(target),
        max_shrink_iters: 2048,
        max_shrink_time: 120_000,
        ..ProptestConfig::default()
    }
}

/// One mutated input: which seed it came from, the mutation, and the bytes the parser gets.
#[derive(Clone)]
pub struct Case<M> {
    /// The seed's file name.
    pub seed: String,
    /// The edits.
    pub mutation: M,
    /// The mutated bytes.
    pub input: Vec<u8>,
}

impl<M: fmt::Debug> fmt::Debug for Case<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} mutated by {:?} -> {} bytes: {}",
            self.seed,
            self.mutation,
            self.input.len(),
            hex_head(&self.input, 64)
        )
    }
}

/// Byte-mutated cases of `seeds` (up to `max_ops` edits each; splices draw from the same seeds).
pub fn byte_cases(seeds: Vec<Seed>, max_ops: usize) -> impl Strategy<Value = Case<Vec<Op>>> {
    let corpus: Vec<Vec<u8>> = seeds.iter().map(|s| s.bytes.clone()).collect();
    (0..seeds.len(), ops(max_ops)).prop_map(move |(i, ops)| Case {
        seed: seeds[i].name.clone(),
        input: apply(&seeds[i].bytes, &ops, &corpus),
        mutation: ops,
    })
}

/// Which text format [`tree_cases`] parses its seeds as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// TOML.
    Toml,
}

/// Structure-aware cases of text `seeds` ([`crate::tree`]).
pub fn tree_cases(seeds: Vec<Seed>, format: Format) -> impl Strategy<Value = Case<TreeMutation>> {
    (0..seeds.len(), mutation()).prop_map(move |(i, m)| {
        let seed = &seeds[i];
        let input = match format {
            Format::Json => mutate_json(&seed.bytes, &m),
            Format::Toml => mutate_toml(&String::from_utf8_lossy(&seed.bytes), &m),
        };
        Case { seed: seed.name.clone(), input, mutation: m }
    })
}

/// Either kind of mutation, for text formats: mostly structural, sometimes raw bytes.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Byte edits.
    Bytes(Vec<Op>),
    /// Structural edits.
    Tree(TreeMutation),
}

/// [`tree_cases`] three times out of four, [`byte_cases`] otherwise.
pub fn text_cases(seeds: Vec<Seed>, format: Format) -> impl Strategy<Value = Case<Mutation>> {
    prop_oneof![
        3 => tree_cases(seeds.clone(), format).prop_map(|c| Case { seed: c.seed, input: c.input, mutation: Mutation::Tree(c.mutation) }),
        1 => byte_cases(seeds, 6).prop_map(|c| Case { seed: c.seed, input: c.input, mutation: Mutation::Bytes(c.mutation) }),
    ]
}

/// Where a failing input is written: `$ISSC_FUZZ_FAILURES/<target>/` or the system's temporary folder.
pub fn failures_dir(target: &str) -> PathBuf {
    std::env::var_os("ISSC_FUZZ_FAILURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("issc-fuzz-failures"))
        .join(target)
}

/// Write a failing input to [`failures_dir`] (named by its hash) and return the path.
pub fn save_failure(target: &str, input: &[u8]) -> PathBuf {
    let dir = failures_dir(target);
    let path = dir.join(format!("{:016x}.bin", fnv1a(input)));
    if std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)).is_err() {
        return PathBuf::from("(could not be saved)");
    }
    path
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "(a panic without a message)".into())
}

/// Run `target`: `default_cases` cases drawn from `strategy` (after the failures proptest persisted), each
/// checked by `check` (`Err(why)` or a panic fails it). A failure is shrunk, its minimal input saved with
/// [`save_failure`], and the test panics with the input, the reason and the file to add to
/// `regressions/<target>/`.
pub fn run<M, S>(target: &str, default_cases: u32, strategy: S, check: impl Fn(&[u8]) -> Result<(), String>)
where
    M: fmt::Debug + Clone,
    S: Strategy<Value = Case<M>>,
{
    let mut runner = TestRunner::new(config(target, default_cases));
    let result = runner.run(&strategy, |case| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&case.input))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(TestCaseError::fail(why)),
            Err(p) => Err(TestCaseError::fail(format!("panicked: {}", panic_message(p.as_ref())))),
        }
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, case)) => {
            let saved = save_failure(target, &case.input);
            panic!(
                "fuzz target `{target}` failed: {why}\n  minimal input: {case:?}\n  saved to {}: copy it into \
                 crates/fuzz/regressions/{target}/ to replay it on every run (docs/fuzzing.md)",
                saved.display()
            );
        }
        Err(TestError::Abort(why)) => panic!("fuzz target `{target}` aborted: {why}"),
    }
}

/// Replay committed inputs (seeds or regressions) through `check`, reporting every failure at once.
pub fn replay(target: &str, what: &str, inputs: &[Seed], check: impl Fn(&[u8]) -> Result<(), String>) {
    let mut failed = Vec::new();
    for s in inputs {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&s.bytes))) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failed.push(format!("{}: {why}", s.name)),
            Err(p) => failed.push(format!("{}: panicked: {}", s.name, panic_message(p.as_ref()))),
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} {what} failed:\n  {}",
        failed.len(),
        inputs.len(),
        failed.join("\n  ")
    );
}

/// Run `f` on its own thread and wait at most `limit` ([`case_limit`] for the targets): a parser that does not
/// answer in time is a hang, reported with `what`. A panic in `f` is passed on.
pub fn bounded<T: Send + 'static>(what: &str, limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("issc-fuzz-case".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .unwrap_or_else(|e| panic!("cannot start a thread for {what}: {e}"));
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => panic!("{what}: finished without an answer"),
        },
        // The thread is left running (it cannot be stopped); the test fails now.
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer within {limit:?} (a hang)"),
    }
}
