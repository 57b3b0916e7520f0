//! `issc detect`, `issc embed`, `issc verify`, `issc doctor`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use issc_pipeline::faces;
use serde_json::json;

use crate::cli::{Context, DoctorArgs, FacesArgs, VerifyArgs};

/// `issc detect` and `issc embed`.
pub fn detect(ctx: &Context, args: FacesArgs, embed: bool) -> anyhow::Result<ExitCode> {
    let pipeline = ctx.pipeline(args.min_face, embed)?;
    let mut out = std::io::stdout().lock();
    let (failed, total) = faces::each_in_order(
        &args.images,
        |p| faces::analyze(&pipeline, p, &ctx.load, embed),
        |p, r| {
            match r {
                Ok((w, h, found)) if args.json => writeln!(out, "{}", faces::photo_json(p, (w, h), &found))?,
                Ok((w, h, found)) => write!(out, "{}", faces::photo_text(p, (w, h), &found))?,
                Err(why) => error_line(&mut out, args.json, p, &why)?,
            }
            out.flush()
        },
    )?;
    photos_failed(failed, total)
}

/// A photo that could not be read: a JSON line on stdout with `--json`, else an error on stderr.
pub fn error_line(out: &mut impl Write, json: bool, path: &Path, why: &str) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", json!({"path": path.display().to_string(), "error": why}))
    } else {
        eprintln!("error: {why}");
        Ok(())
    }
}

/// Exit code 2 when some photos could not be read.
pub fn photos_failed(failed: usize, total: usize) -> anyhow::Result<ExitCode> {
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
        let round = |v: f32| (f64::from(v) * 1e6).round() / 1e6;
        outln!("{}", json!({"same": same, "cosine": round(cosine), "threshold": round(args.threshold)}));
    } else {
        outln!(
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
    let report = ctx.runtime().doctor()?;
    if args.json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        outw!("{report}");
    }
    Ok(if report.all_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
