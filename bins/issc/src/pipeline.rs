//! `issc run`: the pipeline file → [`issc_pipeline::run`], the summary on stdout, then optionally `issc serve`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use issc_pipeline::{Outcome, PipelineConfig, show};

use crate::cli::Context;
use crate::progress::{Bars, out};

/// `issc run --help`'s tail: the config format, with an example.
pub const AFTER_HELP: &str = r#"Stages whose outputs are up to date are skipped ("up to date"): after a
change, a run redoes only what the change touches; an interrupted run continues where it
stopped. The work folder holds raw/ (fetch), crops/ (every face), faces/<label>/ (the faces
kept), dataset/, runs/<name>/, model/ (the exported model), report.html (counts, crops per
person, duplicates, curves, confusion matrix, unknown rejection) and issc-run.json (the
summary that --json prints).

Config (TOML; paths are relative to the config file; unknown keys are refused):
  work = "../target/example"     # where everything goes (--work DIR overrides)
  strangers = "strangers"        # optional: photos of people NOT listed below;
                                 # the report shows what the model answers
  [fetch]       # as `issc fetch`: max (per person, 100), concurrency, per_host, timeout,
  max = 50      # connect_timeout, max_bytes, min_side, retries, max_redirects,
                # fail_limit, blacklist = "file", provider (for queries: "auto" =
                # serpapi with a key, else commons), license (commons: "cc0,pd,cc-by"),
                # serpapi_url, commons_url, bing_url
  [crop]        # faces = "largest" (default: the largest face of each photo, i.e. the
  faces = "largest"   # person it is labelled with) | "best" (highest score) | "all";
                # detector = "yunet" | "retinaface", score (0.6), nms, max_side, min_face
  [prepare]     # as `issc prepare`: split, seed, phash_distance, min_per_label, mirror
  split = [0.6, 0.2, 0.2]
  [train]       # as `issc train`: name (run folder; default: the mode), mode = "head" |
  mode = "head" # "finetune", epochs, patience, lr, weight_decay, batch, seed, hidden,
                # unfreeze, backbone_lr_scale, augment
  [[person]]    # one per person: a label and exactly one source of photos
  label = "Ada_Lovelace"
  dir = "people/Ada_Lovelace"    # a folder of photos, or
  # urls = "ada.txt"             # a file of image URLs (one per line), or
  # query = "Ada Lovelace"       # a search: provider = "commons" (no key; licence and
  # provider = "commons"         # author kept), "bing" (no key) or "serpapi"
                                 # (SERPAPI_API_KEY: env or .env); category = "…" (commons)
  # max = 20                     # optional: this person's [fetch] max

Examples:
  issc run --config examples/pipeline.toml       # bundled photos of 6 people, offline
  issc run --config examples/pipeline.toml --work /tmp/x
  issc run --config people.toml --json > summary.json
  issc predict --model target/example/model photo.jpg"#;

/// `issc run` flags.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The pipeline file (TOML): the people, where their photos come from, and settings per stage.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Work folder, instead of the config's `work` (relative to the current folder).
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout (stage lines are not printed).
    #[arg(long)]
    pub json: bool,
    /// Then serve the exported model (`issc serve`) until Ctrl-C or SIGTERM.
    #[arg(long)]
    pub serve: bool,
    /// Address for --serve.
    #[arg(long, default_value = "127.0.0.1:8080", requires = "serve")]
    pub addr: std::net::SocketAddr,
}

/// `issc run`: the pipeline, then the summary on stdout.
pub fn run(ctx: &Context, args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = PipelineConfig::load(&args.config, args.work.as_deref()).map_err(work_flag)?;
    // The environment over the pipeline file, as for every command (ISSC_FETCH__MAX, SERPAPI_URL, ISSC_CACHE_DIR,
    // ...); the SerpAPI key only from there.
    env_over_sections(&mut cfg, &ctx.settings)?;
    cfg.fetch.serpapi_key = crate::cli::serpapi_key();
    let done = issc_pipeline::run(&cfg, ctx.runtime(), &Bars { quiet_lines: args.json }).map_err(work_flag)?;
    if args.json {
        out(&serde_json::to_string(&done.summary)?);
    } else {
        print_tail(&done);
    }
    if args.serve {
        return crate::serve::run(ctx, crate::serve::ServeArgs::for_model(done.model_dir, args.addr));
    }
    Ok(ExitCode::SUCCESS)
}

/// Settings that came from the environment replace the pipeline file's: `[fetch]`, `[prepare]`, `[train]`, and
/// `[detector]` onto `[crop]`'s detector keys.
fn env_over_sections(cfg: &mut PipelineConfig, l: &crate::settings::Layered) -> anyhow::Result<()> {
    fn patch<T: serde::Serialize + serde::de::DeserializeOwned>(
        section: &mut T,
        from: &serde_json::Value,
        keys: &[&str],
    ) -> anyhow::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut v = serde_json::to_value(&*section)?;
        for k in keys {
            v[*k] = from[*k].clone();
        }
        *section = serde_json::from_value(v)?;
        Ok(())
    }
    let values = serde_json::to_value(&l.settings)?;
    let env = |section: &str| -> Vec<&str> {
        l.origins
            .iter()
            .filter(|(_, o)| **o == crate::settings::Origin::Env)
            .filter_map(|(k, _)| k.strip_prefix(section).and_then(|r| r.strip_prefix('.')))
            .collect()
    };
    patch(&mut cfg.fetch, &values["fetch"], &env("fetch"))?;
    patch(&mut cfg.prepare, &values["prepare"], &env("prepare"))?;
    patch(&mut cfg.train, &values["train"], &env("train"))?;
    patch(&mut cfg.crop, &values["detector"], &env("detector"))?;
    Ok(())
}

/// The pipeline's errors name the work folder setting; on this command line it is `--work DIR`.
fn work_flag(e: issc_pipeline::PipelineError) -> anyhow::Error {
    let msg = e.to_string();
    let msg = msg.replace("give the work folder on the command line", "pass --work DIR");
    anyhow::anyhow!(msg.replace("another work folder on the command line", "--work DIR"))
}

fn print_tail(o: &Outcome) {
    let s = &o.summary;
    let t = &s.stages.train;
    out(&format!("test accuracy: {:.3} on {} faces (best epoch {})", t.test_accuracy, t.test_faces, t.best_epoch));
    let os = &s.open_set;
    out(&format!(
        "unknown rejection: {} ≥ {:.4} · on validation: known people accepted {:.3}, unknown rejected {:.3} \
         (AUC {:.3})",
        os.rule, os.threshold, os.known_accept, os.unknown_reject, os.auc
    ));
    let model = show(&o.model_dir);
    out(&format!("model:  {model}  (issc predict --model {model} photo.jpg)"));
    out(&format!("report: {}", show(&o.report)));
    out(&format!("engine: {}", s.engine));
    out(&format!("total:  {:.1} s", s.seconds));
}
