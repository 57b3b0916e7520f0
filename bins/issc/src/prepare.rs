//! `issc prepare`: face crops → a deduplicated, leakage-free `dataset/{train,val,test}/<label>/…`.

use std::process::ExitCode;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use issc_dataset::{Materialize, prepare};

use crate::cli::{Context, PrepareArgs};

fn parse_split(s: &str) -> anyhow::Result<[f64; 3]> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--split {s}: expected three numbers like 0.8,0.1,0.1"))?;
    match parts.as_slice() {
        [a, b, c] => Ok([*a, *b, *c]),
        _ => anyhow::bail!("--split {s}: expected three numbers (train,val,test) like 0.8,0.1,0.1"),
    }
}

/// `issc prepare`.
pub fn run(ctx: &Context, args: PrepareArgs) -> anyhow::Result<ExitCode> {
    if let Some(split) = &args.split {
        parse_split(split)?; // a malformed --split is named here; the value itself comes through the settings
    }
    let mut opts = ctx.settings.settings.prepare.options(ctx.load);
    opts.materialize = if args.link { Materialize::Link } else { Materialize::Copy };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} hashing [{bar:30}] {pos}/{len} files {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report = prepare(&args.input, &args.out, &opts, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .map_err(crate::cli::in_flags)?;
    bar.finish_and_clear();
    let m = &report.manifest;
    let (train, val, test, removed) = report.totals();
    if args.json {
        outln!(
            "{}",
            serde_json::json!({
                "up_to_date": report.up_to_date, "out": args.out.display().to_string(),
                "files": m.files.len(), "train": train, "val": val, "test": test, "removed": removed,
                "removed_by_reason": m.removed_by_reason, "near_duplicate_pairs": m.near_duplicates.len(),
                "labels": m.labels,
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    if report.up_to_date {
        eprintln!("{} is up to date ({} files; nothing to do)", args.out.display(), m.files.len());
    }
    outw!("{report}");
    outln!("details: {}", args.out.join(issc_dataset::MANIFEST).display());
    Ok(ExitCode::SUCCESS)
}
