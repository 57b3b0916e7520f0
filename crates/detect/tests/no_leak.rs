//! Running a model again and again must not grow the process: `ort` 2.0.0-rc.14 leaked one `OrtTypeInfo` (~270
//! bytes) per output tensor of every run, so `issc serve` crept up by kilobytes per photo (vendor/README.md). YuNet
//! returns 12 tensors per run: 4,000 runs leaked ~13 MB before the fix, and hold flat after it.

use image::{Rgb, RgbImage};
use issc_detect::{Detector, DetectorConfig, EngineChoice, ModelDir, YuNet, init_engine};

/// Resident memory of this process, in bytes (Linux `/proc/self/statm`, 4 KiB pages).
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    Some(statm.split_whitespace().nth(1)?.parse::<u64>().ok()? * 4096)
}

#[test]
fn repeated_onnx_runtime_runs_do_not_grow_memory() {
    if let Err(e) = init_engine(EngineChoice::OnnxRuntime) {
        assert!(std::env::var_os("ISSC_REQUIRE_ORT").is_none(), "ISSC_REQUIRE_ORT is set but ONNX Runtime: {e}");
        println!("SKIPPED: ONNX Runtime is not available here ({e}); scripts/fetch-onnxruntime.sh installs it");
        return;
    }
    let Some(_) = rss_bytes() else {
        assert!(std::env::var_os("ISSC_REQUIRE_ORT").is_none(), "ISSC_REQUIRE_ORT is set but no /proc/self/statm");
        println!("SKIPPED: no /proc/self/statm on this system");
        return;
    };
    let models = ModelDir::locate(None).expect("the repository's models/");
    let detector = YuNet::new(&models, DetectorConfig::default()).expect("YuNet loads");
    // A small photo-like image (a gradient), so each run is quick and the same shape every time.
    let img = RgbImage::from_fn(320, 240, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8]));
    // Warm up: sessions, arena and memory patterns reach their size.
    for _ in 0..300 {
        detector.detect(&img).expect("detect");
    }
    let before = rss_bytes().unwrap();
    let runs = 4000;
    for _ in 0..runs {
        detector.detect(&img).expect("detect");
    }
    let after = rss_bytes().unwrap();
    let growth = after.saturating_sub(before);
    println!(
        "RSS {:.1} MiB -> {:.1} MiB over {runs} runs ({} bytes per run)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        growth / runs
    );
    // The rc.14 leak alone is 12 x ~270 bytes per run, ~13 MB here; allow 3 MiB for allocator noise.
    assert!(
        growth < 3 << 20,
        "memory grew by {growth} bytes over {runs} YuNet runs ({} per run): a per-run leak (is vendor/ort patched in?)",
        growth / runs
    );
}
