//! Fuzz target `pipeline_toml`: the reader of `issc run --config pipeline.toml`
//! (`issc_pipeline::PipelineConfig::load`),
//! on mutated pipeline files (structure-aware: keys of the wrong type, huge numbers, NaN, long and odd Unicode
//! strings, missing and unknown keys, extra tables; and bytes).
//!
//! Properties: no panic, an answer within the case limit, in a folder where every path the seeds name exists; an
//! error names the file; a config accepted is sane (at least two people with distinct valid labels, sources that
//! exist, thresholds within range, the work folder outside every photo folder).

use std::path::{Path, PathBuf};

use issc_fuzz::harness::{Format, replay, text_cases};
use issc_fuzz::{bounded, case_limit, regressions, run, seeds};

use issc_pipeline::{PhotoSource, PipelineConfig};

/// The path as error messages name it (the test's folder is not under the current folder).
fn show(p: &Path) -> String {
    issc_pipeline::show(p)
}

const TARGET: &str = "pipeline_toml";

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for d in ["people/Ada", "people/Grace", "strangers"] {
        std::fs::create_dir_all(dir.path().join(d)).expect("create a folder");
    }
    std::fs::write(dir.path().join("urls.txt"), "https://example.org/a.jpg\n").expect("write urls.txt");
    std::fs::write(dir.path().join("blacklist.txt"), "example.com\n").expect("write blacklist.txt");
    dir
}

fn check(bytes: &[u8]) -> Result<(), String> {
    let input = bytes.to_vec();
    bounded("reading pipeline.toml", case_limit(), move || {
        let dir = folder();
        let path: PathBuf = dir.path().join("pipeline.toml");
        std::fs::write(&path, &input).map_err(|e| e.to_string())?;
        match PipelineConfig::load(&path, None) {
            Err(e) => {
                let msg = format!("{e:#}");
                if msg.contains(&show(&path)) { Ok(()) } else { Err(format!("error does not name the file: {msg}")) }
            }
            Ok(c) => {
                if c.people.len() < 2 {
                    return Err(format!("accepted {} people", c.people.len()));
                }
                let mut labels: Vec<String> = c.people.iter().map(|p| p.label.to_lowercase()).collect();
                labels.sort();
                labels.dedup();
                if labels.len() != c.people.len() {
                    return Err("accepted two people with the same label".into());
                }
                for p in &c.people {
                    issc_downloader::validate_label(&p.label)
                        .map_err(|e| format!("accepted label {:?}: {e}", p.label))?;
                    if p.max == 0 {
                        return Err(format!("accepted max 0 for {}", p.label));
                    }
                    match &p.source {
                        PhotoSource::Dir { from: d } if !d.is_dir() => {
                            return Err(format!("accepted missing folder {d:?}"));
                        }
                        PhotoSource::Dir { from: d } if c.work.starts_with(d) => {
                            return Err(format!("accepted work {:?} inside photo folder {d:?}", c.work));
                        }
                        PhotoSource::Urls { from: u } if !u.is_file() => {
                            return Err(format!("accepted missing file {u:?}"));
                        }
                        PhotoSource::Query { from: q, .. } if q.trim().is_empty() => {
                            return Err("accepted an empty query".into());
                        }
                        _ => {}
                    }
                }
                let cr = &c.crop;
                if !(0.0..=1.0).contains(&cr.score) || !(0.0..=1.0).contains(&cr.nms) || cr.max_side < 32 {
                    return Err(format!("accepted crop settings {cr:?}"));
                }
                if !(c.fetch.timeout.is_finite() && c.fetch.timeout > 0.0) || c.fetch.concurrency == 0 {
                    return Err(format!("accepted fetch settings {:?}", c.fetch));
                }
                if c.prepare.split.iter().any(|s| !s.is_finite() || *s < 0.0) || c.prepare.split[1] <= 0.0 {
                    return Err(format!("accepted split {:?}", c.prepare.split));
                }
                Ok(())
            }
        }
    })
}

#[test]
fn pipeline_toml_seeds_load() {
    replay(TARGET, "seeds", &seeds(TARGET), |b| {
        check(b)?;
        let dir = folder();
        let path = dir.path().join("pipeline.toml");
        std::fs::write(&path, b).map_err(|e| e.to_string())?;
        PipelineConfig::load(&path, None).map(|_| ()).map_err(|e| format!("a seed no longer loads: {e:#}"))
    });
    replay(TARGET, "regression inputs", &regressions(TARGET), check);
}

#[test]
fn pipeline_toml_mutated() {
    run(TARGET, 1500, text_cases(seeds(TARGET), Format::Toml), check);
}
