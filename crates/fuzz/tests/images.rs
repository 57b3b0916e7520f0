//! Fuzz target `images`: `issc_core::decode_image` and `issc_core::Photo::decode` (what the CLI, `/predict` and
//! the Face API decode uploads with) on mutated photos of every supported format: JPEG (baseline, progressive,
//! 4:4:4, grey, CMYK, EXIF orientations, restart markers), PNG (RGB, RGBA, palette, grey+alpha, 16-bit, eXIf),
//! WebP (lossy, lossless, alpha, animated), GIF (static, animated), BMP (24/32-bit, palette, grey), TIFF (raw, LZW,
//! Deflate, PackBits, 16-bit, CMYK, orientation) and PNM (P1–P7).
//!
//! Properties, for any input of at most 64 KiB, with the default limits the server and the CLI use:
//! - no panic, and an answer within [`issc_fuzz::case_limit`];
//! - an error names the input and has a kind;
//! - a decoded image is non-empty, within the pixel limit, upright (orientation 1–8), with as many bytes as pixels;
//! - the reduced decode (`Photo::decode` with a side, JPEG's DCT scaling) agrees with the full decode: same
//!   full-size dimensions, a view no larger than them, and the full-size pixels available on demand;
//! - the memory one decode adds (peak resident set, Linux) stays within what the header's pixel count allows
//!   (16 bytes a pixel, as `image`'s allocation limit, plus 96 MiB): a small file cannot make the decoder allocate
//!   for pixels it does not declare.

use std::collections::BTreeMap;
use std::sync::Mutex;

use issc_core::{ImageError, LoadOptions, Photo, decode_image};
use issc_fuzz::harness::replay;
use issc_fuzz::{bounded, byte_cases, case_limit, regressions, run, seeds};

const TARGET: &str = "images";
const NAME: &str = "upload-under-test.bin";

/// Memory is measured per process: the tests of this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reset the peak resident set to the current one (Linux: `clear_refs` 5); false where that is not possible.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn declared_pixels(bytes: &[u8]) -> u64 {
    let Ok(format) = image::guess_format(bytes) else { return 0 };
    image::ImageReader::with_format(std::io::Cursor::new(bytes), format)
        .into_dimensions()
        .map_or(0, |(w, h)| u64::from(w) * u64::from(h))
}

fn names_input(e: &ImageError) -> Result<(), String> {
    let msg = e.to_string();
    if !msg.contains(NAME) {
        return Err(format!("error does not name the input: {msg}"));
    }
    if e.kind().is_empty() {
        return Err(format!("error without a kind: {msg}"));
    }
    Ok(())
}

/// Outcomes by kind (`ok`, `corrupt`, `not_an_image`, ...), printed when `ISSC_FUZZ_STATS` is set.
static STATS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

fn tally(outcome: &str) {
    *STATS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(outcome.to_string()).or_default() += 1;
}

fn print_stats() {
    if std::env::var_os("ISSC_FUZZ_STATS").is_some() {
        eprintln!("{TARGET} outcomes: {:?}", STATS.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

fn decode_properties(bytes: &[u8]) -> Result<(), String> {
    let opts = LoadOptions::default();
    let full = decode_image(bytes, NAME, &opts);
    match &full {
        Ok(img) => tally(&format!("ok {:?}", img.format)),
        Err(e) => tally(e.kind()),
    }
    match &full {
        Ok(img) => {
            let (w, h) = (img.width(), img.height());
            if w == 0 || h == 0 {
                return Err(format!("decoded an empty {w}x{h} image"));
            }
            if u64::from(w) * u64::from(h) > opts.max_pixels {
                return Err(format!("decoded {w}x{h}, over the pixel limit {}", opts.max_pixels));
            }
            if !(1..=8).contains(&img.orientation) {
                return Err(format!("orientation {} is not an EXIF orientation", img.orientation));
            }
            if img.rgb.as_raw().len() as u64 != u64::from(w) * u64::from(h) * 3 {
                return Err(format!("{w}x{h} RGB image holds {} bytes", img.rgb.as_raw().len()));
            }
        }
        Err(e) => names_input(e)?,
    }
    // The server's and the CLI's face pipeline: JPEG decoded at a reduced scale when the detector needs no more.
    match Photo::decode(bytes.to_vec(), NAME, &opts, Some(160)) {
        Ok(photo) => {
            let (fw, fh) = photo.full_size();
            let view = photo.view();
            if view.width() > fw || view.height() > fh {
                return Err(format!("view {}x{} is larger than the photo {fw}x{fh}", view.width(), view.height()));
            }
            if u64::from(fw) * u64::from(fh) > opts.max_pixels {
                return Err(format!("photo {fw}x{fh} is over the pixel limit"));
            }
            match (&full, photo.full()) {
                (Ok(img), Ok(px)) => {
                    if px.dimensions() != (img.width(), img.height()) || (fw, fh) != px.dimensions() {
                        return Err(format!(
                            "sizes disagree: decode_image {}x{}, Photo::full_size {fw}x{fh}, Photo::full {}x{}",
                            img.width(),
                            img.height(),
                            px.width(),
                            px.height()
                        ));
                    }
                }
                (Err(e), Ok(_)) => {
                    return Err(format!("Photo::decode + full() accepted what decode_image refused ({e})"));
                }
                (Ok(_), Err(e)) => return Err(format!("decode_image accepted what Photo::full() refused ({e})")),
                (Err(_), Err(e)) => names_input(&e)?,
            }
        }
        Err(e) => {
            names_input(&e)?;
            if let Ok(img) = &full {
                return Err(format!(
                    "decode_image accepted this {}x{} {:?} but Photo::decode (reduced) refused it: {e}",
                    img.width(),
                    img.height(),
                    img.format
                ));
            }
        }
    }
    Ok(())
}

fn check(bytes: &[u8]) -> Result<(), String> {
    let measure = reset_peak();
    let before = status_kib("VmRSS:").unwrap_or(0);
    let input = bytes.to_vec();
    let result = bounded("decoding", case_limit(), move || decode_properties(&input));
    if measure && let Some(peak) = status_kib("VmHWM:") {
        let grown = peak.saturating_sub(before) * 1024;
        let allowed = declared_pixels(bytes).min(LoadOptions::default().max_pixels) * 16 + (96 << 20);
        if grown > allowed {
            return Err(format!(
                "decoding a {} byte input grew the resident set by {} MiB (allowed {} MiB for its declared pixels)",
                bytes.len(),
                grown >> 20,
                allowed >> 20
            ));
        }
    }
    result
}

#[test]
fn images_seeds_decode() {
    let _g = serial();
    let seeds = seeds(TARGET);
    assert!(seeds.len() >= 30, "image seeds missing: {}", seeds.len());
    replay(TARGET, "seeds", &seeds, |b| {
        check(b)?;
        let bomb = declared_pixels(b) > LoadOptions::default().max_pixels;
        match (decode_image(b, NAME, &LoadOptions::default()), bomb) {
            (Ok(_), false) => Ok(()),
            (Err(e), true) if e.kind() == "too_many_pixels" => Ok(()),
            (Ok(_), true) => Err("a decompression bomb was decoded".into()),
            (Err(e), _) => Err(format!("a seed no longer decodes: {e}")),
        }
    });
}

#[test]
fn images_regressions() {
    let _g = serial();
    replay(TARGET, "regression inputs", &regressions(TARGET), check);
}

#[test]
fn images_mutated() {
    let _g = serial();
    run(TARGET, 12_000, byte_cases(seeds(TARGET), 6), check);
    print_stats();
}
