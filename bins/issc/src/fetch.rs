//! `issc fetch`: flags → [`issc_pipeline::fetch_label`] for one person, and the summary.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use issc_downloader::slug;
use issc_pipeline::PhotoSource;

use crate::cli::{Context, FetchArgs, ProviderArg};
use crate::progress::Bars;

/// `issc fetch`.
pub fn run(ctx: &Context, args: FetchArgs) -> anyhow::Result<ExitCode> {
    let provider = match (args.provider, &args.urls, &args.dir) {
        (Some(p), _, _) => p,
        (None, Some(_), _) => ProviderArg::Urls,
        (None, None, Some(_)) => ProviderArg::Dir,
        (None, None, None) => ProviderArg::Serpapi,
    };
    let label = match (&args.label, &args.query, &args.dir) {
        (Some(l), _, _) => l.clone(),
        (None, Some(q), _) => slug(q),
        (None, None, Some(d)) => d.file_name().map(|n| slug(&n.to_string_lossy())).unwrap_or_default(),
        (None, None, None) => bail!("give --label (or --query, whose slug becomes the label)"),
    };
    let source = match provider {
        ProviderArg::Serpapi => {
            PhotoSource::Query(args.query.clone().context("--provider serpapi needs --query \"Person Name\"")?)
        }
        ProviderArg::Urls => {
            PhotoSource::Urls(args.urls.clone().context("--provider urls needs --urls FILE (one URL per line)")?)
        }
        ProviderArg::Dir => PhotoSource::Dir(args.dir.clone().context("--provider dir needs --dir DIR")?),
    };
    let settings = args.settings();
    let summary =
        issc_pipeline::fetch_label(&source, &label, &args.out, &settings, &ctx.load, &Bars { quiet_lines: true })
            .map_err(crate::cli::in_flags)?;
    let manifest = args.out.join("manifest.jsonl");
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        v["label"] = label.into();
        v["manifest"] = manifest.display().to_string().into();
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{label}: {} downloaded, {} duplicates, {} stored in total (max {})",
        summary.downloaded, summary.duplicates, summary.stored_total, args.max
    );
    for (title, map) in [("rejected", &summary.rejected), ("failed", &summary.failed), ("skipped", &summary.skipped)] {
        for (reason, n) in map {
            println!("  {title} ({reason}): {n}");
        }
    }
    println!("details: {}", manifest.display());
    Ok(ExitCode::SUCCESS)
}
