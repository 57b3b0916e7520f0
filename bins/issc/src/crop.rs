//! `issc crop`: flags → [`issc_pipeline::crop`], and the summary.

use std::process::ExitCode;

use crate::cli::{Context, CropArgs};
use crate::progress::Bars;
use issc_pipeline::crop::MANIFEST;

/// `issc crop`.
pub fn run(ctx: &Context, args: CropArgs) -> anyhow::Result<ExitCode> {
    let s = issc_pipeline::crop::crop(
        ctx.runtime(),
        &args.input,
        &args.out,
        &args.checked_options(ctx.detector())?,
        &Bars { quiet_lines: true },
    )?;
    let manifest_path = args.out.join(MANIFEST);
    if args.json {
        let mut v = serde_json::to_value(&s)?;
        v["out"] = args.out.display().to_string().into();
        v["manifest"] = manifest_path.display().to_string().into();
        outln!("{v}");
    } else {
        eprint!("{s}");
        eprintln!("details: {}", manifest_path.display());
    }
    // Every photo under --in unreadable (none done by an earlier run either): nothing to build on.
    if s.photos > 0 && s.failed == s.photos {
        eprintln!("error: none of the {} photo(s) could be read (reasons in {})", s.photos, manifest_path.display());
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
