//! `issc fetch`: flags → [`issc_pipeline::fetch_label`] for one person, and the summary.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use issc_downloader::slug;
use issc_pipeline::{PhotoSource, SearchProvider};

use crate::cli::{Context, FetchArgs, ProviderArg};
use crate::progress::Bars;

/// `issc fetch`.
pub fn run(ctx: &Context, args: FetchArgs) -> anyhow::Result<ExitCode> {
    let provider = match (args.provider, &args.urls, &args.dir) {
        (Some(p), _, _) => p,
        (None, Some(_), _) => ProviderArg::Urls,
        (None, None, Some(_)) => ProviderArg::Dir,
        (None, None, None) => {
            if crate::cli::serpapi_key().is_some() {
                ProviderArg::Serpapi
            } else {
                ProviderArg::Commons
            }
        }
    };
    let label = match (&args.label, &args.query, &args.dir) {
        (Some(l), _, _) => l.clone(),
        (None, Some(q), _) => slug(q),
        (None, None, Some(d)) => d.file_name().map(|n| slug(&n.to_string_lossy())).unwrap_or_default(),
        (None, None, None) => bail!("give --label (or --query, whose slug becomes the label)"),
    };
    let search = |provider: SearchProvider| -> anyhow::Result<PhotoSource> {
        let query = args
            .query
            .clone()
            .with_context(|| format!("--provider {} searches for --query \"Person Name\"; give it", provider.name()))?;
        if args.category.is_some() && provider != SearchProvider::Commons {
            bail!("--category is a Wikimedia Commons category: use it with --provider commons");
        }
        let mut source = PhotoSource::search(query, provider);
        if let PhotoSource::Query { category, .. } = &mut source {
            category.clone_from(&args.category);
        }
        Ok(source)
    };
    let source = match provider {
        ProviderArg::Serpapi => search(SearchProvider::Serpapi)?,
        ProviderArg::Commons => search(SearchProvider::Commons)?,
        ProviderArg::Bing => search(SearchProvider::Bing)?,
        ProviderArg::Urls => PhotoSource::Urls {
            from: args.urls.clone().context("--provider urls needs --urls FILE (one URL per line)")?,
        },
        ProviderArg::Dir => PhotoSource::Dir { from: args.dir.clone().context("--provider dir needs --dir DIR")? },
    };
    let settings = ctx.fetch_settings();
    let summary =
        issc_pipeline::fetch_label(&source, &label, &args.out, &settings, &ctx.load, &Bars { quiet_lines: true })
            .map_err(crate::cli::in_flags)?;
    let manifest = args.out.join("manifest.jsonl");
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        v["label"] = label.into();
        v["manifest"] = manifest.display().to_string().into();
        outln!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{label}: {} downloaded, {} duplicates, {} stored in total (max {})",
        summary.downloaded,
        summary.duplicates,
        summary.stored_total,
        settings.max
    );
    for (title, map) in [("rejected", &summary.rejected), ("failed", &summary.failed), ("skipped", &summary.skipped)] {
        for (reason, n) in map {
            outln!("  {title} ({reason}): {n}");
        }
    }
    if let Some(a) = &summary.attribution {
        outln!("sources, authors and licences: {}", a.display());
    }
    outln!("details: {}", manifest.display());
    Ok(ExitCode::SUCCESS)
}
