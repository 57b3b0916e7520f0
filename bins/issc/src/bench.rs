//! `issc bench`: the crop pipeline's throughput and time per stage, on the engine in use.
//!
//! Every photo goes through decode → detect → align → embed, in parallel over `--threads` workers as `issc crop`
//! does. Reported: photos/s and faces/s (wall clock), and the mean milliseconds per photo of each stage (time
//! inside the worker, so on N cores the stages sum to about N × wall / photos).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rayon::prelude::*;
use serde_json::json;

use crate::cli::{BenchArgs, Context};

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

/// The first bytes of a file (enough to sniff its format without reading the whole photo twice).
fn head(p: &std::path::Path) -> Vec<u8> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(64);
    if let Ok(f) = std::fs::File::open(p) {
        let _ = f.take(64).read_to_end(&mut buf);
    }
    buf
}

/// `issc bench`.
pub fn run(ctx: &Context, args: BenchArgs) -> anyhow::Result<ExitCode> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&args.input)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| issc_core::sniff_format(&head(p)).is_some())
        .collect();
    if let Some(n) = args.limit {
        files.truncate(n);
    }
    if files.is_empty() {
        bail!("--in {}: no photos found", args.input.display());
    }
    let threads = args.threads.unwrap_or_else(rayon::current_num_threads).max(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("cannot start worker threads")?;
    let pipeline = ctx.pipeline(&args.detector, 0.0, true)?;
    let engine = ctx.engine()?;
    let pass = || -> (Acc, Duration) {
        let start = Instant::now();
        let acc = pool.install(|| {
            files
                .par_iter()
                .map(|p| {
                    let mut a = Acc { photos: 1, ..Acc::default() };
                    let t = Instant::now();
                    let photo = match pipeline.load(p, &ctx.load) {
                        Ok(i) => i,
                        Err(_) => {
                            a.failed = 1;
                            return a;
                        }
                    };
                    a.decode = t.elapsed();
                    match pipeline.analyze_photo(&photo) {
                        Ok((faces, times, path)) => {
                            a.faces = faces.len();
                            a.decode += times.decode_full;
                            a.detect = times.detect;
                            a.align = times.align;
                            a.embed = times.embed;
                            a.reduced = usize::from(photo.is_reduced());
                            a.full_decodes = usize::from(photo.is_reduced() && path.full_decoded);
                            a.aligned_reduced = path.aligned_reduced;
                            a.aligned_full = path.aligned_full;
                        }
                        Err(_) => a.failed = 1,
                    }
                    a
                })
                .reduce(Acc::default, Acc::add)
        });
        (acc, start.elapsed())
    };
    let passes = args.passes.max(1);
    let mut measured = Vec::new();
    for i in 0..passes {
        let r = pass();
        if passes == 1 || i > 0 {
            measured.push(r);
        }
    }
    let total = measured.iter().fold(Acc::default(), |a, (b, _)| a.add(*b));
    let wall: Duration = measured.iter().map(|(_, w)| *w).sum();
    let n = total.photos;
    let per_pass = |v: usize| v / measured.len().max(1);
    let report = json!({
        "engine": engine.kind.to_string(),
        "mode": pipeline.mode().as_str(),
        "embedder": match pipeline.mode() {
            issc_detect::PipelineMode::Reference => issc_detect::models::SFACE_DEQUANT.file,
            _ => issc_detect::models::SFACE_FAST.file,
        },
        "decode": {
            "jpeg_scale_to_long_side": pipeline.decode_side(),
            "photos_decoded_reduced": per_pass(total.reduced),
            "photos_also_decoded_full": per_pass(total.full_decodes),
            "faces_aligned_from_reduced": per_pass(total.aligned_reduced),
            "faces_aligned_from_full": per_pass(total.aligned_full),
        },
        "detector": pipeline.detector().name(),
        "threads": threads,
        "photos": files.len(),
        "passes_measured": measured.len(),
        "faces_per_pass": total.faces / measured.len().max(1),
        "failed_per_pass": total.failed / measured.len().max(1),
        "wall_s": wall.as_secs_f64(),
        "photos_per_s": n as f64 / wall.as_secs_f64(),
        "faces_per_s": total.faces as f64 / wall.as_secs_f64(),
        "ms_per_photo": {
            "decode": ms(total.decode, n),
            "detect": ms(total.detect, n),
            "align": ms(total.align, n),
            "embed": ms(total.embed, n),
        },
        "ms_per_face": { "align": ms(total.align, total.faces), "embed": ms(total.embed, total.faces) },
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "engine {} · mode {} · detector {} · {} threads · {} photos × {} pass(es), {} faces/pass",
            report["engine"].as_str().unwrap_or_default(),
            report["mode"].as_str().unwrap_or_default(),
            report["detector"].as_str().unwrap_or_default(),
            threads,
            files.len(),
            measured.len(),
            report["faces_per_pass"]
        );
        println!(
            "throughput: {:.2} photos/s, {:.2} faces/s",
            report["photos_per_s"].as_f64().unwrap_or_default(),
            report["faces_per_s"].as_f64().unwrap_or_default()
        );
        println!(
            "ms per photo (worker time): decode {:.2} · detect {:.2} · align {:.2} · embed {:.2}",
            ms(total.decode, n),
            ms(total.detect, n),
            ms(total.align, n),
            ms(total.embed, n)
        );
        println!("ms per face: align {:.3} · embed {:.2}", ms(total.align, total.faces), ms(total.embed, total.faces));
        println!(
            "decode path: {} of {} photos decoded reduced (JPEG DCT scaling to a long side >= {}), {} also at full \
             size; faces aligned from reduced {} / full {}; embedder {}",
            per_pass(total.reduced),
            files.len(),
            pipeline.decode_side().map_or_else(|| "-".to_string(), |s| s.to_string()),
            per_pass(total.full_decodes),
            per_pass(total.aligned_reduced),
            per_pass(total.aligned_full),
            report["embedder"].as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}
