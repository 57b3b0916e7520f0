//! The face pipeline's throughput and time per stage on a folder of photos (`issc bench`).
//!
//! Every photo goes through decode → detect → align → embed, in parallel over `threads` workers as the crop stage
//! does. Reported: photos/s and faces/s (wall clock), and the mean milliseconds per photo of each stage (time inside
//! the worker, so on N cores the stages sum to about N × wall / photos).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Ctx, Result, bail};
use crate::{DetectorSettings, Runtime};

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BenchOptions {
    /// Use at most this many photos.
    pub limit: Option<usize>,
    /// Passes over the photos (the first also warms up and is not counted when there are several).
    pub passes: usize,
    /// Worker threads (`None`: every core).
    pub threads: Option<usize>,
    /// The detector.
    pub detector: DetectorSettings,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self { limit: None, passes: 2, threads: None, detector: DetectorSettings::default() }
    }
}

#[derive(Default, Clone, Copy)]
struct Acc {
    decode: Duration,
    detect: Duration,
    align: Duration,
    embed: Duration,
    faces: usize,
    photos: usize,
    failed: usize,
    reduced: usize,
    full_decodes: usize,
    aligned_reduced: usize,
    aligned_full: usize,
}

impl Acc {
    fn add(mut self, o: Acc) -> Acc {
        self.decode += o.decode;
        self.detect += o.detect;
        self.align += o.align;
        self.embed += o.embed;
        self.faces += o.faces;
        self.photos += o.photos;
        self.failed += o.failed;
        self.reduced += o.reduced;
        self.full_decodes += o.full_decodes;
        self.aligned_reduced += o.aligned_reduced;
        self.aligned_full += o.aligned_full;
        self
    }
}

fn ms(d: Duration, n: usize) -> f64 {
    if n == 0 { 0.0 } else { d.as_secs_f64() * 1000.0 / n as f64 }
}

/// Milliseconds per photo of each stage (worker time).
#[derive(Debug, Clone, Serialize)]
pub struct StageMs {
    /// Decoding (and any full-size decode for alignment).
    pub decode: f64,
    /// Resize + detector.
    pub detect: f64,
    /// 5-point alignment.
    pub align: f64,
    /// SFace.
    pub embed: f64,
}

/// Milliseconds per face.
#[derive(Debug, Clone, Serialize)]
pub struct FaceMs {
    /// Alignment.
    pub align: f64,
    /// Embedding.
    pub embed: f64,
}

/// Which decode path the photos took.
#[derive(Debug, Clone, Serialize)]
pub struct DecodePath {
    /// JPEG DCT scaling target (shrink-on-load), if on.
    pub jpeg_scale_to_long_side: Option<u32>,
    /// Photos decoded at a reduced scale, per pass.
    pub photos_decoded_reduced: usize,
    /// Of those, also decoded at full size, per pass.
    pub photos_also_decoded_full: usize,
    /// Faces aligned from the reduced image, per pass.
    pub faces_aligned_from_reduced: usize,
    /// Faces aligned from the full image, per pass.
    pub faces_aligned_from_full: usize,
}

/// What [`bench()`] measured (`issc bench --json` prints it).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct BenchReport {
    /// `onnxruntime …` or `tract`.
    pub engine: String,
    /// `fast` or `reference`.
    pub mode: String,
    /// The SFace graph used.
    pub embedder: String,
    /// Decode path counts.
    pub decode: DecodePath,
    /// The detector.
    pub detector: String,
    /// Worker threads.
    pub threads: usize,
    /// Photos per pass.
    pub photos: usize,
    /// Passes counted.
    pub passes_measured: usize,
    /// Faces per pass.
    pub faces_per_pass: usize,
    /// Photos that failed, per pass.
    pub failed_per_pass: usize,
    /// Wall seconds of the counted passes.
    pub wall_s: f64,
    /// Photos per second (wall).
    pub photos_per_s: f64,
    /// Faces per second (wall).
    pub faces_per_s: f64,
    /// Per photo and stage.
    pub ms_per_photo: StageMs,
    /// Per face.
    pub ms_per_face: FaceMs,
}

/// The first bytes of a file (enough to sniff its format without reading the whole photo twice).
fn head(p: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(64);
    if let Ok(f) = std::fs::File::open(p) {
        let _ = f.take(64).read_to_end(&mut buf);
    }
    buf
}

/// The photos under `input` (recursively, by content), sorted; at most `limit`.
fn photos(input: &Path, limit: Option<usize>) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(input)
        .sort_by_file_name()
        .into_iter()
        .filter_map(std::result::Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| issc_core::sniff_format(&head(p)).is_some())
        .collect();
    if let Some(n) = limit {
        files.truncate(n);
    }
    if files.is_empty() {
        bail!("{}: no photos found", input.display());
    }
    Ok(files)
}

/// Run the face pipeline over the photos of `input` and time each stage.
pub fn bench(runtime: &Runtime, input: &Path, opts: &BenchOptions) -> Result<BenchReport> {
    let files = photos(input, opts.limit)?;
    let threads = opts.threads.unwrap_or_else(rayon::current_num_threads).max(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().ctx(|| "cannot start worker threads")?;
    let pipeline = runtime.pipeline(&opts.detector, 0.0, true)?;
    let engine = runtime.engine()?;
    let one = |p: &PathBuf| {
        let mut a = Acc { photos: 1, ..Acc::default() };
        let t = Instant::now();
        let Ok(photo) = pipeline.load(p, runtime.load()) else {
            a.failed = 1;
            return a;
        };
        a.decode = t.elapsed();
        match pipeline.analyze_photo(&photo) {
            Ok((faces, times, path)) => {
                a.faces = faces.len();
                a.decode += times.decode_full;
                (a.detect, a.align, a.embed) = (times.detect, times.align, times.embed);
                a.reduced = usize::from(photo.is_reduced());
                a.full_decodes = usize::from(photo.is_reduced() && path.full_decoded);
                (a.aligned_reduced, a.aligned_full) = (path.aligned_reduced, path.aligned_full);
            }
            Err(_) => a.failed = 1,
        }
        a
    };
    let passes = opts.passes.max(1);
    let mut measured = Vec::new();
    for i in 0..passes {
        let start = Instant::now();
        let acc = pool.install(|| files.par_iter().map(one).reduce(Acc::default, Acc::add));
        if passes == 1 || i > 0 {
            measured.push((acc, start.elapsed()));
        }
    }
    let total = measured.iter().fold(Acc::default(), |a, (b, _)| a.add(*b));
    let wall: Duration = measured.iter().map(|(_, w)| *w).sum();
    let n = total.photos;
    let per_pass = |v: usize| v / measured.len().max(1);
    Ok(BenchReport {
        engine: engine.kind.to_string(),
        mode: pipeline.mode().as_str().into(),
        embedder: pipeline.embedder().and_then(|e| e.model_file()).unwrap_or("-").into(),
        decode: DecodePath {
            jpeg_scale_to_long_side: pipeline.decode_side(),
            photos_decoded_reduced: per_pass(total.reduced),
            photos_also_decoded_full: per_pass(total.full_decodes),
            faces_aligned_from_reduced: per_pass(total.aligned_reduced),
            faces_aligned_from_full: per_pass(total.aligned_full),
        },
        detector: pipeline.detector().name().into(),
        threads,
        photos: files.len(),
        passes_measured: measured.len(),
        faces_per_pass: per_pass(total.faces),
        failed_per_pass: per_pass(total.failed),
        wall_s: wall.as_secs_f64(),
        photos_per_s: n as f64 / wall.as_secs_f64(),
        faces_per_s: total.faces as f64 / wall.as_secs_f64(),
        ms_per_photo: StageMs {
            decode: ms(total.decode, n),
            detect: ms(total.detect, n),
            align: ms(total.align, n),
            embed: ms(total.embed, n),
        },
        ms_per_face: FaceMs { align: ms(total.align, total.faces), embed: ms(total.embed, total.faces) },
    })
}

impl std::fmt::Display for BenchReport {
    /// The report in lines: setup, throughput, milliseconds per photo and per face, and the decode path.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (p, per_face, d) = (&self.ms_per_photo, &self.ms_per_face, &self.decode);
        writeln!(
            f,
            "engine {} · mode {} · detector {} · {} threads · {} photos × {} pass(es), {} faces/pass",
            self.engine, self.mode, self.detector, self.threads, self.photos, self.passes_measured, self.faces_per_pass
        )?;
        writeln!(f, "throughput: {:.2} photos/s, {:.2} faces/s", self.photos_per_s, self.faces_per_s)?;
        writeln!(
            f,
            "ms per photo (worker time): decode {:.2} · detect {:.2} · align {:.2} · embed {:.2}",
            p.decode, p.detect, p.align, p.embed
        )?;
        writeln!(f, "ms per face: align {:.3} · embed {:.2}", per_face.align, per_face.embed)?;
        writeln!(
            f,
            "decode path: {} of {} photos decoded reduced (JPEG DCT scaling to a long side >= {}), {} also at full \
             size; faces aligned from reduced {} / full {}; embedder {}",
            d.photos_decoded_reduced,
            self.photos,
            d.jpeg_scale_to_long_side.map_or_else(|| "-".to_string(), |s| s.to_string()),
            d.photos_also_decoded_full,
            d.faces_aligned_from_reduced,
            d.faces_aligned_from_full,
            self.embedder
        )
    }
}
