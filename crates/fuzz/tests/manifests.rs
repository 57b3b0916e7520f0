//! Fuzz targets `fetch_manifest` (`raw/manifest.jsonl`, read by `issc_downloader::Manifest::open` when a fetch
//! resumes), `crop_manifest` (`crops.jsonl`, read by `issc_dataset::crops::read_manifest` when `issc crop` resumes
//! and by `issc run`) and `dataset_json` (`dataset/dataset.json`, read by `issc_dataset::read_manifest` for the up-to-date
//! check of `prepare`), on mutated real manifests written by the example pipeline.
//!
//! Properties: no panic, an answer within the case limit; the fetch manifest keeps exactly the lines that parse on
//! their own (a line cut by a crash, or damaged, is skipped, never fatal, when the file is UTF-8), what it reads
//! writes back and reads again unchanged, and `History` summarises it; `dataset.json` is either refused (`None`:
//! prepare runs again) or read into a manifest that writes back and reads again unchanged.

use issc_fuzz::bytes::{At, MAX_LEN};
use issc_fuzz::harness::{Case, Format, replay, text_cases};
use issc_fuzz::tree::{mutate_json, mutation};
use issc_fuzz::{bounded, case_limit, regressions, run, seeds};
use proptest::prelude::*;

/// JSON Lines: one line mutated structurally (or the whole file by bytes, through [`text_cases`]).
fn jsonl_cases(seeds: Vec<issc_fuzz::Seed>) -> impl Strategy<Value = Case<String>> {
    let bytes = text_cases(seeds.clone(), Format::Json).prop_map(|c| Case {
        mutation: format!("{:?}", c.mutation),
        seed: c.seed,
        input: c.input,
    });
    let lines = (0..seeds.len(), any::<u64>(), mutation()).prop_map(move |(i, line, m)| {
        let text = String::from_utf8_lossy(&seeds[i].bytes).into_owned();
        let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        let k = At(line).of(lines.len());
        lines[k] = String::from_utf8_lossy(&mutate_json(lines[k].as_bytes(), &m)).into_owned();
        let mut input = lines.join("\n").into_bytes();
        input.truncate(MAX_LEN);
        Case { seed: seeds[i].name.clone(), input, mutation: format!("line {k}: {m:?}") }
    });
    prop_oneof![1 => bytes, 2 => lines]
}

fn fetch_manifest(bytes: &[u8]) -> Result<(), String> {
    let input = bytes.to_vec();
    bounded("reading manifest.jsonl", case_limit(), move || {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("manifest.jsonl"), &input).map_err(|e| e.to_string())?;
        let (manifest, entries) = match issc_downloader::Manifest::open(dir.path()) {
            Ok(v) => v,
            Err(e) => return Err(format!("Manifest::open failed: {e}")),
        };
        let text = String::from_utf8_lossy(&input);
        let expected: Vec<issc_downloader::Entry> =
            text.lines().filter_map(|l| serde_json::from_str::<issc_downloader::Entry>(l).ok()).collect();
        if entries != expected {
            return Err(format!("read {} entries where {} lines parse on their own", entries.len(), expected.len()));
        }
        for label in entries.iter().map(|e| e.label.as_str()).chain(["", "Ada_Lovelace"]) {
            let h = issc_downloader::History::of(&entries, label);
            if h.stored > entries.len() {
                return Err(format!("History says {} stored of {} entries", h.stored, entries.len()));
            }
        }
        // What was read writes back and reads again the same (appended to a fresh manifest).
        drop(manifest);
        let again = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (m2, _) = issc_downloader::Manifest::open(again.path()).map_err(|e| e.to_string())?;
        for e in &entries {
            m2.append(e).map_err(|e| format!("append: {e}"))?;
        }
        drop(m2);
        let (_, reread) = issc_downloader::Manifest::open(again.path()).map_err(|e| e.to_string())?;
        if reread != entries {
            return Err(format!("{} entries written back read as {}", entries.len(), reread.len()));
        }
        Ok(())
    })
}

/// `crops.jsonl`: exactly the lines that parse on their own are read (a damaged line, or one of invalid UTF-8, is
/// skipped, never fatal), and what is read writes back and reads again unchanged.
fn crop_manifest(bytes: &[u8]) -> Result<(), String> {
    use issc_dataset::crops::{CropEntry, MANIFEST, read_manifest};
    let input = bytes.to_vec();
    bounded("reading crops.jsonl", case_limit(), move || {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join(MANIFEST);
        std::fs::write(&path, &input).map_err(|e| e.to_string())?;
        let entries = read_manifest(&path).map_err(|e| format!("read_manifest failed: {e}"))?;
        let text = String::from_utf8_lossy(&input);
        let expected: Vec<CropEntry> = text
            .split('\n')
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str::<CropEntry>(l).ok())
            .collect();
        if entries != expected {
            return Err(format!("read {} entries where {} lines parse on their own", entries.len(), expected.len()));
        }
        let mut out = String::new();
        for e in &entries {
            out.push_str(&serde_json::to_string(e).map_err(|e| format!("an entry read does not write back: {e}"))?);
            out.push('\n');
        }
        std::fs::write(&path, out).map_err(|e| e.to_string())?;
        let again = read_manifest(&path).map_err(|e| e.to_string())?;
        if again != entries {
            return Err(format!("{} entries written back read as {}", entries.len(), again.len()));
        }
        Ok(())
    })
}

#[test]
fn crop_manifest_seeds() {
    let s = seeds("crop_manifest");
    replay("crop_manifest", "seeds", &s, |b| {
        crop_manifest(b)?;
        let lines = String::from_utf8_lossy(b).lines().filter(|l| !l.trim().is_empty()).count();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("crops.jsonl");
        std::fs::write(&path, b).map_err(|e| e.to_string())?;
        let read = issc_dataset::crops::read_manifest(&path).map_err(|e| e.to_string())?.len();
        if read == lines { Ok(()) } else { Err(format!("a seed reads as {read} entries of {lines} lines")) }
    });
    replay("crop_manifest", "regression inputs", &regressions("crop_manifest"), crop_manifest);
}

#[test]
fn crop_manifest_mutated() {
    run("crop_manifest", 1500, jsonl_cases(seeds("crop_manifest")), crop_manifest);
}

fn dataset_json(bytes: &[u8]) -> Result<(), String> {
    let input = bytes.to_vec();
    bounded("reading dataset.json", case_limit(), move || {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("dataset.json"), &input).map_err(|e| e.to_string())?;
        let Some(m) = issc_dataset::read_manifest(dir.path()) else { return Ok(()) };
        let out = serde_json::to_vec_pretty(&m).map_err(|e| format!("a manifest read does not write back: {e}"))?;
        std::fs::write(dir.path().join("dataset.json"), &out).map_err(|e| e.to_string())?;
        let again = issc_dataset::read_manifest(dir.path()).ok_or("a manifest written back is not read again")?;
        let out2 = serde_json::to_vec_pretty(&again).map_err(|e| e.to_string())?;
        if out != out2 {
            return Err("a manifest written back reads as another one".into());
        }
        Ok(())
    })
}

#[test]
fn fetch_manifest_seeds() {
    let s = seeds("fetch_manifest");
    replay("fetch_manifest", "seeds", &s, fetch_manifest);
    replay("fetch_manifest", "regression inputs", &regressions("fetch_manifest"), fetch_manifest);
}

#[test]
fn fetch_manifest_mutated() {
    run("fetch_manifest", 1500, jsonl_cases(seeds("fetch_manifest")), fetch_manifest);
}

#[test]
fn dataset_json_seeds() {
    let s = seeds("dataset_json");
    replay("dataset_json", "seeds", &s, |b| {
        dataset_json(b)?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("dataset.json"), b).map_err(|e| e.to_string())?;
        issc_dataset::read_manifest(dir.path()).map(|_| ()).ok_or_else(|| "a seed no longer reads".to_string())
    });
    replay("dataset_json", "regression inputs", &regressions("dataset_json"), dataset_json);
}

#[test]
fn dataset_json_mutated() {
    run("dataset_json", 1500, text_cases(seeds("dataset_json"), Format::Json), dataset_json);
}
