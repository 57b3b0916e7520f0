//! `issc detect`, `issc embed`, `issc verify`, `issc doctor`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use issc_detect::{AnalyzedFace, FacePipeline};
use rayon::prelude::*;
use serde_json::{Value, json};

use crate::cli::{Context, DoctorArgs, FacesArgs, VerifyArgs};

/// Photos analysed per parallel batch before their results are printed.
const CHUNK: usize = 64;

/// One photo's result: dimensions and faces, or why it could not be read.
struct PhotoResult {
    path: String,
    outcome: Result<(u32, u32, Vec<AnalyzedFace>), String>,
}

fn analyze_path(ctx: &Context, pipeline: &FacePipeline, path: &Path, embed: bool) -> PhotoResult {
    PhotoResult {
        path: path.display().to_string(),
        outcome: issc_pipeline::faces::analyze(pipeline, path, &ctx.load, embed),
    }
}

fn round(v: f32, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (f64::from(v) * k).round() / k
}

fn face_json(f: &AnalyzedFace) -> Value {
    let b = f.face.bbox;
    let mut v = json!({
        "box": [round(b.x, 3), round(b.y, 3), round(b.w, 3), round(b.h, 3)],
        "score": round(f.face.score, 5),
        "landmarks": f.face.landmarks.0.iter().map(|[x, y]| [round(*x, 3), round(*y, 3)]).collect::<Vec<_>>(),
    });
    if let Some(id) = &f.detector_id {
        v["face_id"] = json!(id);
    }
    if let Some(e) = &f.embedding {
        v["embedding"] = json!(e.as_slice());
    }
    v
}

/// `issc detect` and `issc embed`.
pub fn detect(ctx: &Context, args: FacesArgs, embed: bool) -> anyhow::Result<ExitCode> {
    let pipeline = ctx.pipeline(args.min_face, embed)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (mut failed, mut total) = (0usize, 0usize);
    // Chunks keep memory bounded and stream results, in input order, while each chunk runs on every core.
    for chunk in args.images.chunks(CHUNK) {
        let results: Vec<PhotoResult> = chunk.par_iter().map(|p| analyze_path(ctx, &pipeline, p, embed)).collect();
        total += results.len();
        for r in &results {
            match &r.outcome {
                Ok((w, h, faces)) => {
                    if args.json {
                        let line = json!({
                            "path": r.path, "width": w, "height": h,
                            "faces": faces.iter().map(face_json).collect::<Vec<_>>(),
                        });
                        writeln!(out, "{line}")?;
                    } else {
                        writeln!(
                            out,
                            "{} ({w}x{h}): {} face{}",
                            r.path,
                            faces.len(),
                            if faces.len() == 1 { "" } else { "s" }
                        )?;
                        for (i, f) in faces.iter().enumerate() {
                            let b = f.face.bbox;
                            write!(
                                out,
                                "  #{i} box x={:.1} y={:.1} w={:.1} h={:.1} score={:.3} landmarks=",
                                b.x, b.y, b.w, b.h, f.face.score
                            )?;
                            let lm: Vec<String> =
                                f.face.landmarks.0.iter().map(|[x, y]| format!("({x:.1},{y:.1})")).collect();
                            writeln!(out, "{}", lm.join(" "))?;
                            if let Some(e) = &f.embedding {
                                let head: Vec<String> =
                                    e.as_slice().iter().take(4).map(|v| format!("{v:.4}")).collect();
                                writeln!(out, "     embedding[{}] = [{}, ...]", e.dim(), head.join(", "))?;
                            }
                        }
                    }
                }
                Err(why) => {
                    failed += 1;
                    if args.json {
                        writeln!(out, "{}", json!({"path": r.path, "error": why}))?;
                    } else {
                        eprintln!("error: {why}");
                    }
                }
            }
        }
        out.flush()?;
    }
    out.flush()?;
    if failed > 0 {
        eprintln!("{failed} of {total} photo(s) could not be read");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// `issc verify`.
pub fn verify(ctx: &Context, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if !(-1.0..=1.0).contains(&args.threshold) {
        bail!("--threshold {} is not a cosine similarity in [-1, 1]", args.threshold);
    }
    let pipeline = ctx.pipeline(0.0, true)?;
    let largest = |p: &Path| issc_pipeline::faces::largest_embedding(&pipeline, p, &ctx.load);
    let (a, b) = rayon::join(|| largest(&args.a), || largest(&args.b));
    let (a, b) = (a?, b?);
    let cosine = a.cosine(&b);
    let same = cosine >= args.threshold;
    if args.json {
        println!("{}", json!({"same": same, "cosine": round(cosine, 6), "threshold": round(args.threshold, 6)}));
    } else {
        println!(
            "{}: cosine {cosine:.4} {} threshold {}",
            if same { "same person" } else { "different people" },
            if same { ">=" } else { "<" },
            args.threshold
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `issc doctor`.
pub fn doctor(ctx: &Context, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine()?;
    let models_dir = ctx.models()?;
    let checks = models_dir.verify_all();
    let all_ok = checks.iter().all(|(_, r)| r.is_ok());
    if args.json {
        let models: Vec<Value> = checks
            .iter()
            .map(|(m, r)| {
                json!({"file": m.file, "role": m.role, "sha256": m.sha256, "ok": r.is_ok(),
                       "error": r.as_ref().err().map(|e| e.to_string())})
            })
            .collect();
        println!(
            "{}",
            json!({
                "version": env!("CARGO_PKG_VERSION"),
                "engine": engine.kind.to_string(),
                "engine_library": engine.library.as_ref().map(|p| p.display().to_string()),
                "engine_reason": engine.reason,
                "models_dir": models_dir.path().display().to_string(),
                "models": models,
                "threads": rayon::current_num_threads(),
            })
        );
    } else {
        println!("issc {}", env!("CARGO_PKG_VERSION"));
        println!("engine:  {engine}");
        println!("models:  {} ({})", models_dir.path().display(), models_dir.origin());
        for (m, r) in &checks {
            match r {
                Ok(()) => println!("  ok     {}  {}", m.file, m.role),
                Err(e) => println!("  FAILED {}  {e}", m.file),
            }
        }
        println!("threads: {}", rayon::current_num_threads());
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
