//! `issc bench`: flags → [`issc_pipeline::bench`], and the report.

use std::process::ExitCode;

use issc_pipeline::bench::{BenchOptions, bench};

use crate::cli::{BenchArgs, Context};

/// `issc bench`.
pub fn run(ctx: &Context, args: BenchArgs) -> anyhow::Result<ExitCode> {
    let mut opts = BenchOptions::default();
    opts.limit = args.limit;
    opts.passes = args.passes;
    opts.threads = args.threads;
    opts.detector = ctx.detector();
    let r = bench(ctx.runtime(), &args.input, &opts)?;
    if args.json {
        outln!("{}", serde_json::to_string(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    outw!("{r}");
    Ok(ExitCode::SUCCESS)
}
