//! `issc fetch`: build `raw/<label>/` for one person from SerpAPI, a URL list or a folder.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use issc_downloader::{Blacklist, FetchOptions, SerpApi, Source, Summary, fetch, provider, slug};

use crate::cli::{Context, FetchArgs, ProviderArg};

/// `issc fetch`.
pub fn run(ctx: &Context, args: FetchArgs) -> anyhow::Result<ExitCode> {
    let (label, summary) = fetch_label(ctx, &args)?;
    let max = args.max;
    if args.json {
        let mut v = serde_json::to_value(&summary)?;
        v["label"] = label.into();
        v["manifest"] = args.out.join("manifest.jsonl").display().to_string().into();
        println!("{v}");
    } else {
        println!(
            "{label}: {} downloaded, {} duplicates, {} stored in total (max {max})",
            summary.downloaded, summary.duplicates, summary.stored_total
        );
        for (title, map) in
            [("rejected", &summary.rejected), ("failed", &summary.failed), ("skipped", &summary.skipped)]
        {
            for (reason, n) in map {
                println!("  {title} ({reason}): {n}");
            }
        }
        println!("details: {}", args.out.join("manifest.jsonl").display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Fetch one person's photos as `issc fetch` does, without printing: the label and the run's counts.
pub fn fetch_label(ctx: &Context, args: &FetchArgs) -> anyhow::Result<(String, Summary)> {
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
            let query = args.query.clone().context("--provider serpapi needs --query \"Person Name\"")?;
            let key = std::env::var("SERPAPI_API_KEY").unwrap_or_default();
            Source::SerpApi(SerpApi::new(args.serpapi_url.clone(), key, query)?)
        }
        ProviderArg::Urls => {
            let file = args.urls.as_ref().context("--provider urls needs --urls FILE (one URL per line)")?;
            Source::Urls(provider::read_url_list(file)?)
        }
        ProviderArg::Dir => {
            let dir = args.dir.as_ref().context("--provider dir needs --dir DIR")?;
            Source::Dir(provider::read_dir(dir)?)
        }
    };
    let blacklist = match &args.blacklist {
        Some(p) => Blacklist::from_file(p).with_context(|| format!("--blacklist {}: cannot read", p.display()))?,
        None => Blacklist::default(),
    };
    let positive = |s: f64| s.is_finite() && s > 0.0;
    if !positive(args.timeout) || !positive(args.connect_timeout) {
        bail!("--timeout and --connect-timeout must be positive numbers of seconds");
    }
    let opts = FetchOptions {
        label: label.clone(),
        max: args.max,
        concurrency: args.concurrency,
        per_host: args.per_host,
        connect_timeout: Duration::from_secs_f64(args.connect_timeout),
        timeout: Duration::from_secs_f64(args.timeout),
        max_bytes: args.max_bytes,
        min_side: args.min_side,
        attempts: args.retries + 1,
        fail_limit: args.fail_limit,
        max_redirects: args.max_redirects,
        blacklist,
        load: ctx.load,
        ..FetchOptions::default()
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} fetching [{bar:30}] {pos}/{len} urls · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let max = args.max;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start tokio")?;
    let summary = runtime.block_on(fetch(source, &args.out, opts, &|done, known, stored| {
        bar.set_length(known as u64);
        bar.set_position(done as u64);
        bar.set_message(format!("{stored}/{max} images"));
    }))?;
    bar.finish_and_clear();
    Ok((label, summary))
}
