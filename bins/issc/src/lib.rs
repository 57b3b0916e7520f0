//! `issc`: who is in this photo? The command line over the isshesarahconnor libraries: argument parsing, settings,
//! printing. `issc` runs every subcommand; `issc-fetch`, `issc-crop`, `issc-prepare`, `issc-train`, `issc-export` and
//! `issc-serve` run one stage each with the same flags ([`stage_main`]).

/// `println!` that does not panic when stdout is closed (`issc config | head -1`): the line is dropped.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

/// `print!` that does not panic when stdout is closed.
macro_rules! outw {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}

mod bench;
mod cli;
mod crop;
mod faces;
mod fetch;
mod model;
mod pipeline;
mod prepare;
mod progress;
mod serve;
mod settings;
mod train;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// `issc`: every subcommand.
pub fn main() -> ExitCode {
    start(None)
}

/// A per-stage program (`issc-fetch`, ...): `issc <stage>` with the same flags, its own name in `--help`.
pub fn stage_main(stage: &str) -> ExitCode {
    start(Some(stage))
}

fn start(stage: Option<&str>) -> ExitCode {
    // Secrets (SERPAPI_API_KEY, ...) may live in a git-ignored .env; the environment wins.
    let _ = dotenvy::dotenv();
    let (args, matches) = parse_args(stage);
    init_logging(args.verbose, args.quiet);
    match run(args, &matches) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, with negative numbers accepted as values everywhere (`--margin -1` reaches the option's
/// own check, which names it and its range, instead of clap's "unexpected argument '-1'").
fn parse_args(stage: Option<&str>) -> (cli::Cli, clap::ArgMatches) {
    fn negatives(cmd: clap::Command) -> clap::Command {
        cmd.allow_negative_numbers(true).mut_subcommands(negatives)
    }
    let cmd = negatives(cli::Cli::command());
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(stage) = stage {
        // `issc-fetch ARGS` is `issc fetch ARGS`. Its help, usage and errors come from the subcommand made a program
        // of its own (with the global options), so they say `issc-fetch [OPTIONS]`.
        let name: &'static str = Box::leak(format!("issc-{stage}").into_boxed_str()); // once per process
        let mut own = cmd.find_subcommand(stage).cloned().unwrap_or_else(|| clap::Command::new(name));
        for global in cmd.get_arguments().filter(|a| a.is_global_set()) {
            own = own.arg(global.clone());
        }
        own.name(name).bin_name(name).version(env!("CARGO_PKG_VERSION")).get_matches_from(&argv);
        argv.insert(1.min(argv.len()), stage.into());
    }
    let matches = cmd.get_matches_from(argv);
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (cli, matches)
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ISSC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn run(args: cli::Cli, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    use cli::Command;
    let ctx = cli::Context::new(&args, matches.subcommand())?;
    match args.command {
        Command::Fetch(a) => fetch::run(&ctx, a),
        Command::Detect(a) => faces::detect(&ctx, a, false),
        Command::Embed(a) => faces::detect(&ctx, a, true),
        Command::Verify(a) => faces::verify(&ctx, a),
        Command::Crop(a) => crop::run(&ctx, a),
        Command::Prepare(a) => prepare::run(&ctx, a),
        Command::Doctor(a) => faces::doctor(&ctx, a),
        Command::Config(a) => settings::print(&ctx.settings, a.json).map(|()| ExitCode::SUCCESS),
        Command::Bench(a) => bench::run(&ctx, a),
        Command::Train(a) => train::run(&ctx, a),
        Command::Export(a) => model::export(&ctx, a),
        Command::Predict(a) => model::predict(&ctx, a),
        Command::Run(a) => pipeline::run(&ctx, a),
        Command::Serve(a) => serve::run(&ctx, a),
    }
}
