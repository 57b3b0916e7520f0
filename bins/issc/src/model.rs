//! `issc export` (run → model.onnx + model.json) and `issc predict` (who is in these photos).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use issc_predict::{PredictedFace, Predictor};
use rayon::prelude::*;
use serde_json::{Value, json};

use crate::cli::{Context, DetectorArgs};

/// `issc export` flags.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Training run folder written by `issc train`.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Output folder: model.onnx and model.json (created; an earlier export there is replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Skip the parity check of the graph against the trained model on the run's test faces.
    #[arg(long)]
    pub no_check: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `issc export`.
pub fn export(ctx: &Context, args: ExportArgs) -> anyhow::Result<ExitCode> {
    ctx.engine()?;
    let models = ctx.models()?;
    let opts = issc_export::ExportOptions { check: !args.no_check };
    let report = issc_export::export_run(&args.run, &args.out, models, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "exported {} ({} labels, {} mode): {} ({:.1} MB, sha256 {}) and {}",
        args.run.display(),
        report.labels,
        report.mode,
        report.model_path.display(),
        report.bytes as f64 / 1e6,
        &report.sha256[..16],
        report.card_path.display()
    );
    match (&report.check, &report.check_skipped) {
        (Some(c), _) => println!(
            "parity: max |Δp| = {:.2e} between the graph ({}) and the trained model on {} faces",
            c.max_abs_diff_probabilities, c.engine, c.faces
        ),
        (None, Some(why)) => eprintln!("warning: parity check skipped: {why}"),
        (None, None) => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `issc predict` flags.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Model folder written by `issc export` (model.onnx + model.json).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Photos to label; `-` reads one from standard input.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// JSON Lines on stdout, one object per photo, like `issc detect --json` with label, probability and top_k per
    /// face.
    #[arg(long)]
    pub json: bool,
    /// How many candidate labels to list per face.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub top_k: usize,
    /// Drop faces smaller than this many pixels (short side of the box).
    #[arg(long, value_name = "PX", default_value_t = 0.0)]
    pub min_face: f32,
    /// Most faces labelled per photo, the largest kept (as Azure's detect); a photo with more says how many were
    /// dropped. Bounds memory per photo.
    #[arg(long, value_name = "N", default_value_t = issc_predict::DEFAULT_MAX_FACES as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_faces: u32,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

fn round(v: f32, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (f64::from(v) * k).round() / k
}

/// One face as JSON: `issc detect --json`'s fields plus label, probability and top_k.
pub fn predicted_face_json(f: &PredictedFace) -> Value {
    let b = f.face.bbox;
    json!({
        "box": [round(b.x, 3), round(b.y, 3), round(b.w, 3), round(b.h, 3)],
        "score": round(f.face.score, 5),
        "landmarks": f.face.landmarks.0.iter().map(|[x, y]| [round(*x, 3), round(*y, 3)]).collect::<Vec<_>>(),
        "label": f.label.name(),
        "probability": round(f.label.probability, 6),
        "top_k": f.label.top_k.iter()
            .map(|c| json!({"label": c.label, "probability": round(c.probability, 6)}))
            .collect::<Vec<_>>(),
    })
}

/// `issc predict`.
pub fn predict(ctx: &Context, args: PredictArgs) -> anyhow::Result<ExitCode> {
    if args.top_k == 0 {
        anyhow::bail!("--top-k must be at least 1");
    }
    ctx.engine()?;
    let predictor = Predictor::open(&args.model)
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?
        .with_max_faces(args.max_faces as usize);
    let pipeline = ctx.pipeline(args.min_face, false)?;
    let detector = pipeline.detector();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (mut failed, mut total) = (0usize, 0usize);
    for chunk in args.images.chunks(64) {
        let results: Vec<_> = chunk
            .par_iter()
            .map(|p| {
                let name = p.display().to_string();
                let side = pipeline.decode_side();
                let r = issc_core::Photo::load(p, &ctx.load, side).map_err(|e| e.to_string()).and_then(|photo| {
                    predictor
                        .predict_photo(detector, &photo, args.top_k)
                        .map(|faces| (photo.full_size().0, photo.full_size().1, faces))
                        .map_err(|e| format!("{name}: {e}"))
                });
                (name, r)
            })
            .collect();
        total += results.len();
        for (name, r) in results {
            match r {
                Ok((w, h, prediction)) => {
                    let dropped = prediction.dropped();
                    let faces = prediction.faces;
                    if dropped > 0 {
                        tracing::warn!(
                            "{name}: {} faces found, {dropped} not labelled (over --max-faces {}, smallest dropped)",
                            prediction.detected,
                            args.max_faces
                        );
                    }
                    if args.json {
                        let faces: Vec<Value> = faces.iter().map(predicted_face_json).collect();
                        let line = json!({"path": name, "width": w, "height": h, "faces": faces,
                            "faces_detected": prediction.detected, "faces_dropped": dropped});
                        writeln!(out, "{line}")?;
                    } else {
                        let more = if dropped > 0 {
                            format!(" ({dropped} more not labelled: --max-faces)")
                        } else {
                            String::new()
                        };
                        writeln!(out, "{name}: {} face{}{more}", faces.len(), if faces.len() == 1 { "" } else { "s" })?;
                        for (i, f) in faces.iter().enumerate() {
                            let b = f.face.bbox;
                            let others: Vec<String> =
                                f.label.top_k.iter().map(|c| format!("{} {:.3}", c.label, c.probability)).collect();
                            writeln!(
                                out,
                                "  #{i} {:<24} p={:.3}  box x={:.0} y={:.0} w={:.0} h={:.0}  top: {}",
                                f.label.name(),
                                f.label.probability,
                                b.x,
                                b.y,
                                b.w,
                                b.h,
                                others.join(", ")
                            )?;
                        }
                    }
                }
                Err(why) => {
                    failed += 1;
                    if args.json {
                        writeln!(out, "{}", json!({"path": name, "error": why}))?;
                    } else {
                        eprintln!("error: {why}");
                    }
                }
            }
        }
        out.flush()?;
    }
    if failed > 0 {
        eprintln!("{failed} of {total} photo(s) could not be read");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
