//! `issc run`: the pipeline file → [`issc_pipeline::run`], the summary on stdout, then optionally `issc serve`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use issc_pipeline::{Outcome, PipelineConfig, show};

use crate::cli::Context;
use crate::progress::{Bars, out};

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
    ctx.settings.apply_env(&mut cfg)?;
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

/// The pipeline's errors name the work folder setting; on this command line it is `--work DIR`.
fn work_flag(e: issc_pipeline::PipelineError) -> anyhow::Error {
    let msg = e.to_string();
    let msg = msg.replace("give the work folder on the command line", "pass --work DIR");
    anyhow::anyhow!(msg.replace("another work folder on the command line", "--work DIR"))
}

fn print_tail(o: &Outcome) {
    for line in o.to_string().lines() {
        out(line);
    }
    out(&format!("predict: issc predict --model {} photo.jpg", show(&o.model_dir)));
}
