//! JPEG decode time per photo, full size against shrink-on-load (DCT-domain scaling to a long side of at least
//! `SIDE`, 640 by default: what `--shrink-on-load` does for a 640-px detector), over every JPEG under `DIR`:
//!
//! ```sh
//! cargo run --release -p issc-core --example decode_bench -- ../shared/data/identity/public [SIDE]
//! ```
//!
//! Rounds alternate the two so that a drift in machine speed affects both; medians are printed.

use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: decode_bench DIR [SIDE]")?;
    let side: u32 = args.next().map_or(Ok(640), |s| s.parse())?;
    let mut files = Vec::new();
    walk(Path::new(&dir), &mut files)?;
    let jpegs: Vec<Vec<u8>> = files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| issc_core::sniff_format(b) == Some(image::ImageFormat::Jpeg))
        .collect();
    if jpegs.is_empty() {
        return Err(format!("{dir}: no JPEG files").into());
    }
    let opts = issc_core::LoadOptions::default();
    let (mut full, mut shrunk) = (Vec::new(), Vec::new());
    let mut reduced = 0;
    for _ in 0..5 {
        let t = Instant::now();
        for b in &jpegs {
            issc_core::decode_image(b, "photo", &opts)?;
        }
        full.push(t.elapsed().as_secs_f64() * 1e3 / jpegs.len() as f64);
        let t = Instant::now();
        reduced = 0;
        for b in &jpegs {
            reduced += usize::from(issc_core::Photo::decode(b.clone(), "photo", &opts, Some(side))?.is_reduced());
        }
        shrunk.push(t.elapsed().as_secs_f64() * 1e3 / jpegs.len() as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (f, s) = (median(&mut full), median(&mut shrunk));
    println!(
        "{} JPEGs ({reduced} large enough to shrink): full size {f:.2} ms/photo, shrink-on-load to >= {side} px \
         {s:.2} ms/photo ({:.2}x)",
        jpegs.len(),
        f / s
    );
    Ok(())
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out)?;
        } else {
            out.push(e);
        }
    }
    Ok(())
}
