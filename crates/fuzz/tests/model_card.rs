//! Fuzz target `model_json`: `issc_predict::ModelCard::from_json`, the reader of an exported model's `model.json`
//! (what `issc serve --model DIR` and `issc predict` load first), on mutations of the card the example pipeline
//! exports.
//!
//! Properties: no panic (and no abort), an answer within the case limit; an error names the file; a card accepted is
//! internally consistent (`check`, `centroid_matrix` of labels × embedding dim values).
//!
//! Its own test binary: a bug of this kind aborts the process (a failed allocation is not a panic), which would take
//! other targets' tests down with it. regressions/model_json/huge_embedding_dim.json is the one found so far
//! (`centroid_matrix` reserved labels × `embedding_dim` before checking the lengths; fixed).

use std::path::Path;

use issc_fuzz::harness::{Format, replay, text_cases};
use issc_fuzz::{bounded, case_limit, regressions, run, seeds};

const TARGET: &str = "model_json";
const PATH: &str = "models/under-test/model.json";

fn card(bytes: &[u8]) -> Result<(), String> {
    let input = bytes.to_vec();
    bounded("reading model.json", case_limit(), move || {
        match issc_predict::ModelCard::from_json(&input, Path::new(PATH)) {
            Ok(c) => {
                c.check().map_err(|e| format!("a card accepted fails its own check: {e}"))?;
                let m = c.centroid_matrix().map_err(|e| format!("a card accepted has no centroid matrix: {e}"))?;
                if !m.is_empty() && m.len() != c.labels.len() * c.outputs.embedding_dim {
                    return Err(format!(
                        "{} centroid values for {} labels × {}",
                        m.len(),
                        c.labels.len(),
                        c.outputs.embedding_dim
                    ));
                }
                Ok(())
            }
            Err(e) if e.to_string().contains(PATH) => Ok(()),
            Err(e) => Err(format!("error does not name the file: {e}")),
        }
    })
}

fn check(bytes: &[u8]) -> Result<(), String> {
    card(bytes)
}

#[test]
fn model_json_seeds() {
    replay(TARGET, "seeds", &seeds(TARGET), |b| {
        issc_predict::ModelCard::from_json(b, Path::new(PATH)).map(|_| ()).map_err(|e| e.to_string())
    });
    replay(TARGET, "regression inputs", &regressions(TARGET), check);
}

#[test]
fn model_json_mutated() {
    run(TARGET, 1500, text_cases(seeds(TARGET), Format::Json), check);
}
