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
        println!("{}", serde_json::to_string(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let (p, f, d) = (&r.ms_per_photo, &r.ms_per_face, &r.decode);
    println!(
        "engine {} · mode {} · detector {} · {} threads · {} photos × {} pass(es), {} faces/pass",
        r.engine, r.mode, r.detector, r.threads, r.photos, r.passes_measured, r.faces_per_pass
    );
    println!("throughput: {:.2} photos/s, {:.2} faces/s", r.photos_per_s, r.faces_per_s);
    println!(
        "ms per photo (worker time): decode {:.2} · detect {:.2} · align {:.2} · embed {:.2}",
        p.decode, p.detect, p.align, p.embed
    );
    println!("ms per face: align {:.3} · embed {:.2}", f.align, f.embed);
    println!(
        "decode path: {} of {} photos decoded reduced (JPEG DCT scaling to a long side >= {}), {} also at full \
         size; faces aligned from reduced {} / full {}; embedder {}",
        d.photos_decoded_reduced,
        r.photos,
        d.jpeg_scale_to_long_side.map_or_else(|| "-".to_string(), |s| s.to_string()),
        d.photos_also_decoded_full,
        d.faces_aligned_from_reduced,
        d.faces_aligned_from_full,
        r.embedder
    );
    Ok(ExitCode::SUCCESS)
}
