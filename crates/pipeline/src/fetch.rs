//! The fetch stage: one person's photos into `raw/<label>/`, from a folder, a URL list or a search.

use std::path::{Path, PathBuf};
use std::time::Duration;

use issc_core::LoadOptions;
use issc_downloader::{Bing, Blacklist, Commons, FetchOptions, LicenseFilter, SerpApi, Source, Summary, provider};
use serde::{Deserialize, Serialize};

use crate::Progress;
use crate::error::{Ctx, PipelineError, Result};

/// A secret (an API key): never printed, never serialized; `Debug` shows `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Keep `value` as a secret; an empty or blank value is no secret (`None`).
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let v: String = value.into();
        if v.trim().is_empty() { None } else { Some(Self(v.trim().to_string())) }
    }

    /// The value, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which image search answers a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchProvider {
    /// SerpAPI when a SerpAPI key is set, else Wikimedia Commons.
    #[default]
    Auto,
    /// SerpAPI Google Images (a paid key).
    Serpapi,
    /// Wikimedia Commons (no key; every photo's licence and author kept).
    Commons,
    /// Bing Images (no key; no licence information).
    Bing,
}

impl SearchProvider {
    /// The provider that runs: [`Auto`](Self::Auto) resolved by whether a SerpAPI key is set.
    pub fn resolve(self, settings: &FetchSettings) -> SearchProvider {
        match self {
            SearchProvider::Auto if settings.serpapi_key.is_some() => SearchProvider::Serpapi,
            SearchProvider::Auto => SearchProvider::Commons,
            p => p,
        }
    }

    /// `auto`, `serpapi`, `commons` or `bing`.
    pub fn name(self) -> &'static str {
        match self {
            SearchProvider::Auto => "auto",
            SearchProvider::Serpapi => "serpapi",
            SearchProvider::Commons => "commons",
            SearchProvider::Bing => "bing",
        }
    }

    fn title(self) -> &'static str {
        match self {
            SearchProvider::Auto => "image",
            SearchProvider::Serpapi => "SerpAPI",
            SearchProvider::Commons => "Wikimedia Commons",
            SearchProvider::Bing => "Bing Images",
        }
    }
}

/// Where a person's photos come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
#[non_exhaustive]
pub enum PhotoSource {
    /// A local folder.
    Dir {
        /// The folder.
        from: PathBuf,
    },
    /// A file of image URLs, one per line.
    Urls {
        /// The file.
        from: PathBuf,
    },
    /// An image search.
    Query {
        /// What is searched for (the person's name).
        from: String,
        /// Which search.
        provider: SearchProvider,
        /// Wikimedia Commons: only files in this category.
        #[serde(skip_serializing_if = "Option::is_none")]
        category: Option<String>,
    },
}

impl PhotoSource {
    /// A search for `query` with `provider`.
    pub fn search(query: impl Into<String>, provider: SearchProvider) -> Self {
        PhotoSource::Query { from: query.into(), provider, category: None }
    }

    /// `dir`, `urls` or `query`.
    pub fn kind(&self) -> &'static str {
        match self {
            PhotoSource::Dir { .. } => "dir",
            PhotoSource::Urls { .. } => "urls",
            PhotoSource::Query { .. } => "query",
        }
    }

    /// For messages: `folder people/ada`, `Wikimedia Commons search "Ada Lovelace"`.
    pub fn describe(&self) -> String {
        match self {
            PhotoSource::Dir { from } => format!("folder {}", crate::show(from)),
            PhotoSource::Urls { from } => format!("URL list {}", crate::show(from)),
            PhotoSource::Query { from, provider, .. } => format!("{} search \"{from}\"", provider.title()),
        }
    }
}

/// How photos are gathered: `[fetch]` of `issc.toml` / `pipeline.toml`, and `issc fetch`'s flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct FetchSettings {
    /// Photos stored per person at most (earlier runs included).
    pub max: usize,
    /// Downloads at once.
    pub concurrency: usize,
    /// Downloads at once from one host.
    pub per_host: usize,
    /// Seconds for a whole request, body included.
    pub timeout: f64,
    /// Seconds to connect.
    pub connect_timeout: f64,
    /// Largest accepted body in bytes (enforced while streaming).
    pub max_bytes: u64,
    /// Smallest accepted image side in pixels.
    pub min_side: u32,
    /// Retries per URL on timeouts, connection errors, 408/429/5xx.
    pub retries: u32,
    /// Redirects followed at most.
    pub max_redirects: usize,
    /// URLs that failed this many times in earlier runs are skipped.
    pub fail_limit: u32,
    /// File of blacklisted domains and URL patterns, one per line.
    pub blacklist: Option<PathBuf>,
    /// Which search answers a person's `query` when the person does not say (`auto`: SerpAPI when a key is set,
    /// else Wikimedia Commons).
    pub provider: SearchProvider,
    /// Wikimedia Commons: keep only these licence families, comma-separated (`cc0,pd,cc-by,cc-by-sa`).
    pub license: Option<String>,
    /// SerpAPI search endpoint.
    pub serpapi_url: String,
    /// Wikimedia Commons API endpoint (`…/w/api.php`: the public one, a mirror, or a test server).
    pub commons_url: String,
    /// Bing Images results endpoint.
    pub bing_url: String,
    /// SerpAPI key: from the environment (`SERPAPI_API_KEY`) or `.env` only, never from a file.
    #[serde(skip)]
    pub serpapi_key: Option<Secret>,
}

impl Default for FetchSettings {
    fn default() -> Self {
        let d = FetchOptions::default();
        Self {
            max: d.max,
            concurrency: d.concurrency,
            per_host: d.per_host,
            timeout: d.timeout.as_secs_f64(),
            connect_timeout: d.connect_timeout.as_secs_f64(),
            max_bytes: d.max_bytes,
            min_side: d.min_side,
            retries: d.attempts.saturating_sub(1),
            max_redirects: d.max_redirects,
            fail_limit: d.fail_limit,
            blacklist: None,
            provider: SearchProvider::Auto,
            license: None,
            serpapi_url: issc_downloader::SERPAPI_URL.into(),
            commons_url: issc_downloader::COMMONS_URL.into(),
            bing_url: issc_downloader::BING_URL.into(),
            serpapi_key: None,
        }
    }
}

impl FetchSettings {
    /// Check every value (errors name the setting).
    pub fn validate(&self) -> Result<()> {
        let positive = |s: f64| s.is_finite() && s > 0.0;
        let bad = |key: &str, what: String| Err(PipelineError::Config(format!("fetch setting {key}: {what}")));
        if !positive(self.timeout) {
            return bad("timeout", format!("{} is not a positive number of seconds", self.timeout));
        }
        if !positive(self.connect_timeout) {
            return bad("connect_timeout", format!("{} is not a positive number of seconds", self.connect_timeout));
        }
        if self.concurrency == 0 || self.per_host == 0 {
            return bad(if self.concurrency == 0 { "concurrency" } else { "per_host" }, "must be at least 1".into());
        }
        if self.max_bytes == 0 {
            return bad("max_bytes", "must be at least 1".into());
        }
        for (key, u) in
            [("serpapi_url", &self.serpapi_url), ("commons_url", &self.commons_url), ("bing_url", &self.bing_url)]
        {
            url::Url::parse(u).map_err(|e| PipelineError::Config(format!("fetch setting {key}: {u:?}: {e}")))?;
        }
        if let Some(l) = &self.license {
            LicenseFilter::parse(l).map_err(|e| PipelineError::Config(format!("fetch setting license: {e}")))?;
        }
        Ok(())
    }

    /// The downloader's options for `label` (reads the blacklist file).
    pub fn options(&self, label: &str, load: &LoadOptions) -> Result<FetchOptions> {
        self.validate()?;
        let blacklist = match &self.blacklist {
            Some(p) => Blacklist::from_file(p).ctx(|| format!("blacklist {}: cannot read it", p.display()))?,
            None => Blacklist::default(),
        };
        Ok(FetchOptions {
            label: label.to_string(),
            max: self.max,
            concurrency: self.concurrency,
            per_host: self.per_host,
            connect_timeout: Duration::from_secs_f64(self.connect_timeout),
            timeout: Duration::from_secs_f64(self.timeout),
            max_bytes: self.max_bytes,
            min_side: self.min_side,
            attempts: self.retries.saturating_add(1),
            fail_limit: self.fail_limit,
            max_redirects: self.max_redirects,
            blacklist,
            load: *load,
            ..FetchOptions::default()
        })
    }
}

/// The downloader's source for `source` (reads the folder or the URL list; SerpAPI needs its key).
pub fn open_source(source: &PhotoSource, settings: &FetchSettings) -> Result<Source> {
    Ok(match source {
        PhotoSource::Dir { from } => Source::Dir(provider::read_dir(from)?),
        PhotoSource::Urls { from } => Source::Urls(provider::read_url_list(from)?),
        PhotoSource::Query { from, provider, category } => {
            let provider = provider.resolve(settings);
            if settings.license.is_some() && provider != SearchProvider::Commons {
                return Err(PipelineError::Config(format!(
                    "fetch setting license: only Wikimedia Commons says which licence a photo has; {} does not \
                     (use the commons provider, or leave the licence filter out)",
                    provider.title()
                )));
            }
            match provider {
                SearchProvider::Commons => {
                    let mut c = Commons::new(settings.commons_url.clone(), from.clone())?;
                    c.category = category.clone();
                    c.license = settings.license.as_deref().map(LicenseFilter::parse).transpose()?;
                    Source::Commons(c)
                }
                SearchProvider::Bing => Source::Bing(Bing::new(settings.bing_url.clone(), from.clone())?),
                SearchProvider::Serpapi | SearchProvider::Auto => {
                    // No key: the provider's own error says which variable to set.
                    let key = settings.serpapi_key.as_ref().map(|k| k.expose().to_string()).unwrap_or_default();
                    Source::SerpApi(SerpApi::new(settings.serpapi_url.clone(), key, from.clone())?)
                }
            }
        }
    })
}

/// Fetch one person's photos into `<out>/<label>/` (manifest `<out>/manifest.jsonl`); resumes where an earlier run
/// stopped. Returns this run's counts.
pub fn fetch_label(
    source: &PhotoSource,
    label: &str,
    out: &Path,
    settings: &FetchSettings,
    load: &LoadOptions,
    progress: &dyn Progress,
) -> Result<Summary> {
    issc_downloader::validate_label(label).ctx(|| format!("label {label:?}"))?;
    let opts = settings.options(label, load)?;
    let src = open_source(source, settings)?;
    let max = settings.max;
    let task = progress.task("fetching", "urls", 0);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().ctx(|| "cannot start the download runtime")?;
    let summary = runtime
        .block_on(issc_downloader::fetch(src, out, opts, &|done, known, stored| {
            task.set(done as u64, known as u64, &format!("{stored}/{max} images"));
        }))
        .ctx(|| format!("fetch {label} ({})", source.describe()))?;
    Ok(summary)
}
