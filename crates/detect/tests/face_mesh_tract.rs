//! The Face Mesh's 27 landmarks against annotated points, under tract (see `face_mesh.rs`).

mod common;

use issc_detect::{EngineChoice, init_engine};

#[test]
fn twenty_seven_landmarks_match_annotated_points_on_tract() {
    init_engine(EngineChoice::Tract).expect("tract is built in");
    let Some(data) = common::shared_data() else { return };
    common::assert_figures(&common::compare(&data), "tract");
}
