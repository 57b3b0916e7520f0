//! `issc export` (run → model.onnx + model.json) and `issc predict` (who is in these photos).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use issc_pipeline::faces;
use issc_predict::Predictor;

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
        outln!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    outw!("{report}");
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

/// `issc predict`.
pub fn predict(ctx: &Context, args: PredictArgs) -> anyhow::Result<ExitCode> {
    if args.top_k == 0 {
        anyhow::bail!("--top-k must be at least 1");
    }
    ctx.engine()?;
    let predictor = Predictor::open_with_mode(&args.model, ctx.mode)
        .with_context(|| format!("cannot load the model in {}", args.model.display()))?
        .with_max_faces(args.max_faces as usize);
    let pipeline = ctx.pipeline(args.min_face, false)?;
    let detector = pipeline.detector();
    let mut out = std::io::stdout().lock();
    let predict = |p: &std::path::Path| {
        let photo = issc_core::Photo::load(p, &ctx.load, pipeline.decode_side()).map_err(|e| e.to_string())?;
        let prediction =
            predictor.predict_photo(detector, &photo, args.top_k).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok::<_, String>((photo.full_size(), prediction))
    };
    let (failed, total) = faces::each_in_order(&args.images, predict, |p, r| {
        match r {
            Ok((size, prediction)) => {
                if prediction.dropped() > 0 {
                    let (found, dropped, cap) = (prediction.detected, prediction.dropped(), args.max_faces);
                    tracing::warn!(
                        "{}: {found} faces found, {dropped} not labelled (over --max-faces {cap})",
                        p.display()
                    );
                }
                if args.json {
                    writeln!(out, "{}", faces::prediction_json(p, size, &prediction))?;
                } else {
                    write!(out, "{}", faces::prediction_text(p, &prediction))?;
                }
            }
            Err(why) => crate::faces::error_line(&mut out, args.json, p, &why)?,
        }
        out.flush()
    })?;
    crate::faces::photos_failed(failed, total)
}
