//! Command-line interface: flags, help texts, and the shared context (engine, models, image limits).

use std::path::PathBuf;
use std::str::FromStr as _;

use clap::{Args, Parser, Subcommand, ValueEnum};
use issc_core::LoadOptions;
use issc_detect::{DetectorKind, EngineChoice, EngineInfo, FacePipeline, ModelDir, PipelineMode};
use issc_pipeline::{CropMode, CropOptions, DetectorSettings, FetchSettings, Runtime, RuntimeOptions};
use serde::de::DeserializeOwned;

/// A value of a library's settings enum from its settings name (`yunet`, `finetune`, `aligned`, ...): the names
/// in `issc.toml`, `pipeline.toml` and on the command line are one set.
pub fn setting<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase())).map_err(|e| {
        let e = e.to_string();
        // serde: "unknown variant `x`, expected one of `a`, `b`" → "expected one of a, b".
        e.split_once("expected").map_or(e.clone(), |(_, rest)| format!("expected{}", rest.replace('`', "")))
    })
}

const ABOUT: &str = "isshesarahconnor: who is in this photo? Face detection, alignment, crops and embeddings, offline.";

/// Top-level command line.
#[derive(Parser, Debug)]
#[command(name = "issc", version, about = ABOUT, after_help = include_str!("../help/issc.txt"), propagate_version = true)]
pub struct Cli {
    /// Folder holding the ONNX models and SHA256SUMS [env: ISSC_MODELS_DIR] [default: ./models found upward].
    #[arg(long, global = true, value_name = "DIR", help_heading = "Global options")]
    pub models: Option<PathBuf>,

    /// Inference engine: auto (ONNX Runtime if found, else tract), ort (ONNX Runtime; an error if not found), or
    /// tract (pure Rust).
    #[arg(long, global = true, value_name = "ENGINE", value_parser = EngineChoice::from_str, env = "ISSC_ENGINE", default_value = "auto", help_heading = "Global options")]
    pub engine: EngineChoice,

    /// Reference mode: OpenCV's pipeline bit for bit (full-size decode, the original SFace graph; exported models
    /// run as exported), for parity checks; slower. The default runs SFace in int8 under ONNX Runtime (cosine >= 0.99
    /// to the original on the shared faces; exported models too) and its fp32 fast graph under tract (cosine >=
    /// 0.99999).
    #[arg(long, global = true, env = "ISSC_REFERENCE", help_heading = "Global options")]
    pub reference: bool,

    /// Decode JPEGs at the smallest DCT-domain scale the detector needs (1/2 .. 1/8: a 4000-px photo several times
    /// faster), aligning faces from that image when they are large enough there. Off by default: boxes then move
    /// by up to a few percent of the face and small faces' embeddings change (docs/benchmarks.md). Ignored with
    /// --reference.
    #[arg(long, global = true, env = "ISSC_SHRINK_ON_LOAD", help_heading = "Global options")]
    pub shrink_on_load: bool,

    /// Accept JPEGs whose data is damaged but decodable (cut short, bad codes): the decoder fills what it cannot
    /// read with grey and the photo is used with a warning. Off by default: such photos are refused with an error
    /// naming them (CLI, /predict and the Face API alike).
    #[arg(long, global = true, env = "ISSC_ACCEPT_DAMAGED", help_heading = "Global options")]
    pub accept_damaged: bool,

    /// Settings file (TOML: [detector], [fetch], [prepare], [train]) [default: issc.toml in the current folder or a
    /// parent]. Precedence: defaults < this file < ISSC_<SECTION>__<KEY> environment < flags; `issc config` shows
    /// the result.
    #[arg(long, global = true, value_name = "FILE", env = "ISSC_SETTINGS", help_heading = "Global options")]
    pub settings: Option<PathBuf>,

    /// Refuse images with more pixels than this (decompression-bomb guard), in megapixels.
    #[arg(long, global = true, value_name = "MP", default_value_t = 64.0, help_heading = "Global options")]
    pub max_megapixels: f64,

    /// More logging on stderr (-v info, -vv debug); ISSC_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Global options")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Download a person's photos (Wikimedia Commons, Bing Images, SerpAPI, a URL list, or a folder) into raw/<label>/.
    #[command(after_help = include_str!("../help/fetch.txt"))]
    Fetch(FetchArgs),
    /// Find faces: box (x, y, w, h), score and 5 landmarks per face.
    #[command(after_help = include_str!("../help/detect.txt"))]
    Detect(FacesArgs),
    /// Find faces and compute a 128-d SFace embedding for each.
    #[command(after_help = include_str!("../help/embed.txt"))]
    Embed(FacesArgs),
    /// Are the largest faces in two photos the same person?
    #[command(after_help = include_str!("../help/verify.txt"))]
    Verify(VerifyArgs),
    /// Cut every face out of a folder of photos into aligned (or margin) crops, one folder per label.
    #[command(after_help = include_str!("../help/crop.txt"))]
    Crop(CropArgs),
    /// Turn face crops into a deduplicated, leakage-free train/val/test dataset.
    #[command(after_help = include_str!("../help/prepare.txt"))]
    Prepare(PrepareArgs),
    /// Show the engine, model files and checksums in use.
    Doctor(DoctorArgs),
    /// Show the effective settings and where each came from (default, issc.toml, environment, flag); secrets only
    /// as set / not set.
    #[command(after_help = include_str!("../help/config.txt"))]
    Config(DoctorArgs),
    /// Measure images/s and milliseconds per stage (decode, detect, align, embed) over a folder.
    #[command(after_help = include_str!("../help/bench.txt"))]
    Bench(BenchArgs),
    /// Train a face classifier on a prepared dataset (SFace embeddings + a softmax head, with burn).
    #[command(after_help = include_str!("../help/train.txt"))]
    Train(crate::train::TrainArgs),
    /// Export a training run as one ONNX graph (aligned face in; embedding and probabilities out) + model card.
    #[command(after_help = include_str!("../help/export.txt"))]
    Export(crate::model::ExportArgs),
    /// Who is in these photos? Detect, align and label every face with an exported model (or \"unknown\").
    #[command(after_help = include_str!("../help/predict.txt"))]
    Predict(crate::model::PredictArgs),
    /// The whole pipeline from one config file: fetch → crop → prepare → train → export, a summary and report.html.
    #[command(after_help = include_str!("../help/run.txt"))]
    Run(crate::pipeline::RunArgs),
    /// Serve an exported model over HTTP: /predict, /predict_json, /healthz, /readyz, /metrics, /openapi.json, /.
    #[command(after_help = include_str!("../help/serve.txt"))]
    Serve(crate::serve::ServeArgs),
}

/// Detector flags shared by several commands (defaults: [`DetectorSettings::default`]).
#[derive(Args, Debug, Clone)]
pub struct DetectorArgs {
    /// Which face detector to run: yunet (YuNet-n: fast, accurate, 5 landmarks), retinaface
    /// (RetinaFace-MobileNet0.25, a second architecture) or azure (Azure AI Face detection_03, remote:
    /// AZURE_FACE_ENDPOINT, AZURE_FACE_KEY).
    #[arg(long, value_name = "NAME", value_parser = setting::<DetectorKind>, default_value_t = DetectorSettings::default().detector)]
    pub detector: DetectorKind,
    /// Minimum detection score, 0..1.
    #[arg(long = "score", value_name = "S", default_value_t = DetectorSettings::default().score)]
    pub score_threshold: f32,
    /// NMS IoU threshold, 0..1.
    #[arg(long = "nms", value_name = "IOU", default_value_t = DetectorSettings::default().nms)]
    pub nms_threshold: f32,
    /// Long side (pixels) photos are shrunk to before detection.
    #[arg(long, value_name = "PX", default_value_t = DetectorSettings::default().max_side)]
    pub max_side: u32,
}

#[derive(Args, Debug)]
pub struct FacesArgs {
    /// Photos to read (any of JPEG, PNG, WebP, GIF, BMP, TIFF, PNM; the format is read from the bytes); `-` reads one
    /// from standard input. Only regular files are read: a folder, FIFO or device is refused with an error.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// JSON Lines on stdout: one object per photo, in input order.
    #[arg(long)]
    pub json: bool,
    /// Drop faces smaller than this many pixels (short side of the box).
    #[arg(long, value_name = "PX", default_value_t = 0.0)]
    pub min_face: f32,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// First photo.
    pub a: PathBuf,
    /// Second photo.
    pub b: PathBuf,
    /// Cosine similarity at or above which the faces are the same person (SFace author value: 0.363).
    #[arg(long, default_value_t = issc_detect::SFACE_THRESHOLD)]
    pub threshold: f32,
    /// Print `{"same", "cosine", "threshold"}` as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

#[derive(Args, Debug)]
pub struct CropArgs {
    /// Input folder: <in>/<label>/<photo> or photos directly inside.
    #[arg(long = "in", value_name = "DIR")]
    pub input: PathBuf,
    /// Output folder (created); mirrors the label folders.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Crop style: aligned (5-point similarity alignment to the ArcFace template, what SFace expects) or margin
    /// (the box enlarged by --margin, squared and resized, no rotation).
    #[arg(long, value_name = "MODE", value_parser = setting::<CropMode>, default_value = CropOptions::default().mode.name())]
    pub mode: CropMode,
    /// Side of the square crops in pixels.
    #[arg(long, value_name = "PX", default_value_t = CropOptions::default().size)]
    pub size: u32,
    /// For --mode margin: how much to enlarge the box on each side, as a fraction of its size.
    #[arg(long, default_value_t = CropOptions::default().margin)]
    pub margin: f32,
    /// Skip faces smaller than this many pixels (short side of the box).
    #[arg(long, value_name = "PX", default_value_t = CropOptions::default().min_face)]
    pub min_face: f32,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

/// A library's settings error in the words of the command line: `crop margin -1 …` → `--margin -1 …`,
/// `fetch setting connect_timeout: …` → `--connect-timeout: …`, `serve setting max_wait = -1: …` → `--max-wait -1: …`.
pub fn in_flags(e: impl std::fmt::Display) -> anyhow::Error {
    const NAMES: [(&str, &str); 10] = [
        (
            "resume it (the resume option), or train into another folder",
            "pass --resume to continue it, or another --out",
        ),
        ("resuming with different settings", "--resume with different settings"),
        ("resume with the same settings (only epochs", "use the same flags (only --epochs"),
        ("may change), or train into another folder", "may change) or another --out"),
        ("crop margin ", "--margin "),
        ("crop size ", "--size "),
        ("min_face ", "--min-face "),
        ("detector setting score = ", "--score "),
        ("detector setting nms = ", "--nms "),
        ("detector setting max_side = ", "--max-side "),
    ];
    let mut msg = NAMES.iter().fold(e.to_string(), |m, (lib, flag)| m.replace(lib, flag));
    for prefix in ["fetch setting ", "serve setting ", "prepare setting ", "train setting "] {
        if let Some((head, rest)) = msg.split_once(prefix) {
            let end = rest.find([':', ' ']).unwrap_or(rest.len());
            let tail = rest[end..].strip_prefix(" =").unwrap_or(&rest[end..]);
            msg = format!("{head}--{}{tail}", rest[..end].replace('_', "-"));
        }
    }
    anyhow::anyhow!(msg)
}

impl CropArgs {
    /// The crop stage's options with the effective detector settings, checked (errors name the flags).
    pub fn checked_options(&self, detector: DetectorSettings) -> anyhow::Result<CropOptions> {
        let mut o = self.options();
        o.detector = detector;
        o.validate().map_err(in_flags)?;
        Ok(o)
    }

    /// The crop stage's options.
    pub fn options(&self) -> CropOptions {
        let mut o = CropOptions::default();
        o.mode = self.mode;
        o.size = self.size;
        o.margin = self.margin;
        o.min_face = self.min_face;
        o
    }
}

/// `--provider` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProviderArg {
    /// Wikimedia Commons search (no key; licence and author of every photo kept).
    Commons,
    /// Bing Images search (no key; no licence information).
    Bing,
    /// SerpAPI Google Images (needs SERPAPI_API_KEY).
    Serpapi,
    /// A file of URLs, one per line (--urls).
    Urls,
    /// Image files in a local folder (--dir).
    Dir,
}

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Who to search for, e.g. "Ada Lovelace".
    #[arg(long)]
    pub query: Option<String>,
    /// Label (folder name) [default: a slug of --query, e.g. ada-lovelace].
    #[arg(long)]
    pub label: Option<String>,
    /// Output folder (raw/).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Where candidates come from [default: urls with --urls, dir with --dir; for --query serpapi when
    /// SERPAPI_API_KEY is set, else commons].
    #[arg(long, value_enum)]
    pub provider: Option<ProviderArg>,
    /// URL list file for --provider urls.
    #[arg(long, value_name = "FILE")]
    pub urls: Option<PathBuf>,
    /// Folder for --provider dir.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Stop when this many images are stored for the label (earlier runs included).
    #[arg(long, default_value_t = FetchSettings::default().max)]
    pub max: usize,
    /// Downloads at once.
    #[arg(long, default_value_t = FetchSettings::default().concurrency)]
    pub concurrency: usize,
    /// Downloads at once from one host.
    #[arg(long, default_value_t = FetchSettings::default().per_host)]
    pub per_host: usize,
    /// Seconds for a whole request (body included).
    #[arg(long, value_name = "S", default_value_t = FetchSettings::default().timeout)]
    pub timeout: f64,
    /// Seconds to connect.
    #[arg(long, value_name = "S", default_value_t = FetchSettings::default().connect_timeout)]
    pub connect_timeout: f64,
    /// Largest body accepted, in bytes (enforced while streaming).
    #[arg(long, value_name = "B", default_value_t = FetchSettings::default().max_bytes)]
    pub max_bytes: u64,
    /// Smallest accepted image side, in pixels.
    #[arg(long, value_name = "PX", default_value_t = FetchSettings::default().min_side)]
    pub min_side: u32,
    /// Retries per URL on timeouts, connection errors, 408/429/5xx.
    #[arg(long, default_value_t = FetchSettings::default().retries)]
    pub retries: u32,
    /// Redirects followed at most (a redirect into a blacklisted host is never followed).
    #[arg(long, default_value_t = FetchSettings::default().max_redirects)]
    pub max_redirects: usize,
    /// Skip URLs that failed this many times in earlier runs.
    #[arg(long, default_value_t = FetchSettings::default().fail_limit)]
    pub fail_limit: u32,
    /// File of blacklisted domains and URL patterns (one per line).
    #[arg(long, value_name = "FILE")]
    pub blacklist: Option<PathBuf>,
    /// Wikimedia Commons: keep only photos under these licence families (cc0, pd, cc-by, cc-by-sa, ...;
    /// "CC BY 2.0" is cc-by, not cc-by-sa; versions ignored). Only with --provider commons.
    #[arg(long, value_name = "LIST")]
    pub license: Option<String>,
    /// Wikimedia Commons: only files in this category (e.g. "Ada Lovelace").
    #[arg(long, value_name = "NAME")]
    pub category: Option<String>,
    /// SerpAPI search endpoint.
    #[arg(long, env = "SERPAPI_URL", default_value_t = FetchSettings::default().serpapi_url)]
    pub serpapi_url: String,
    /// Wikimedia Commons API endpoint (a mirror, or a test server).
    #[arg(long, value_name = "URL", default_value_t = FetchSettings::default().commons_url)]
    pub commons_url: String,
    /// Bing Images results endpoint (a test server).
    #[arg(long, value_name = "URL", default_value_t = FetchSettings::default().bing_url)]
    pub bing_url: String,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `SERPAPI_API_KEY` from the environment (or `.env`, loaded at start).
pub fn serpapi_key() -> Option<issc_pipeline::Secret> {
    issc_pipeline::Secret::new(std::env::var("SERPAPI_API_KEY").unwrap_or_default())
}

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// Folder of face crops, one sub-folder per label.
    #[arg(long = "in", value_name = "DIR")]
    pub input: PathBuf,
    /// Dataset folder to create (replaced only if it is a dataset made by `issc prepare`).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Fractions for train,val,test [default: 0.8,0.1,0.1].
    #[arg(long, value_name = "T,V,T")]
    pub split: Option<String>,
    /// Seed of the split.
    #[arg(long, default_value_t = issc_pipeline::PrepareSection::default().seed)]
    pub seed: u64,
    /// Largest pHash Hamming distance (of 64 bits) for near duplicates.
    #[arg(long, default_value_t = issc_pipeline::PrepareSection::default().phash_distance)]
    pub phash_distance: u32,
    /// Labels with fewer usable images are reported and skipped.
    #[arg(long, default_value_t = issc_pipeline::PrepareSection::default().min_per_label)]
    pub min_per_label: usize,
    /// Hard-link files into the dataset instead of copying them.
    #[arg(long, conflicts_with = "copy")]
    pub link: bool,
    /// Copy files into the dataset (default).
    #[arg(long)]
    pub copy: bool,
    /// Do not compare mirror images.
    #[arg(long)]
    pub no_mirror: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Folder of photos (searched recursively).
    #[arg(long = "in", value_name = "DIR")]
    pub input: PathBuf,
    /// Use at most this many photos.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Passes over the photos (the first one also warms up sessions and is not counted when > 1).
    #[arg(long, default_value_t = issc_pipeline::bench::BenchOptions::default().passes)]
    pub passes: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

/// What every command needs: the engine, the models folder and image limits (an [`issc_pipeline::Runtime`]).
pub struct Context {
    runtime: Runtime,
    /// The effective settings of this command.
    pub settings: issc_pipeline::settings::Layered,
    pub load: LoadOptions,
    pub mode: PipelineMode,
    pub shrink_on_load: bool,
}

impl Context {
    pub fn new(cli: &Cli, sub: Option<(&str, &clap::ArgMatches)>) -> anyhow::Result<Self> {
        let settings = crate::settings::load(cli.settings.as_deref(), sub)?;
        if cli.max_megapixels.is_nan() || cli.max_megapixels <= 0.0 {
            anyhow::bail!("--max-megapixels must be > 0");
        }
        let load = LoadOptions {
            max_pixels: (cli.max_megapixels * 1e6) as u64,
            accept_damaged: cli.accept_damaged,
            ..LoadOptions::default()
        };
        let mode = if cli.reference { PipelineMode::Reference } else { PipelineMode::Fast };
        let mut opts = RuntimeOptions::default();
        opts.engine = cli.engine;
        opts.models = cli.models.clone();
        opts.load = load;
        opts.mode = mode;
        opts.shrink_on_load = cli.shrink_on_load;
        Ok(Self { runtime: Runtime::new(opts), settings, load, mode, shrink_on_load: cli.shrink_on_load })
    }

    /// The stages' runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The inference engine, started on first use (commands without models never start one).
    pub fn engine(&self) -> anyhow::Result<&'static EngineInfo> {
        Ok(self.runtime.engine()?)
    }

    /// The models folder, located on first use.
    pub fn models(&self) -> anyhow::Result<&ModelDir> {
        Ok(self.runtime.models()?)
    }

    /// The face pipeline with the effective detector settings (`[detector]`, ISSC_DETECTOR__*, flags).
    pub fn pipeline(&self, min_face: f32, embed: bool) -> anyhow::Result<FacePipeline> {
        self.runtime.pipeline(&self.detector(), min_face, embed).map_err(in_flags)
    }

    /// The effective detector settings.
    pub fn detector(&self) -> DetectorSettings {
        self.settings.settings.detector
    }

    /// The effective fetch settings, with the SerpAPI key from the environment.
    pub fn fetch_settings(&self) -> FetchSettings {
        let mut f = self.settings.settings.fetch.clone();
        f.serpapi_key = serpapi_key();
        f
    }
}
