//! The Face Mesh's 27 landmarks against annotated points, under ONNX Runtime (the default engine). The same checks
//! run under tract in `face_mesh_tract.rs` (the engine is chosen once per process).

mod common;

use issc_detect::{EngineChoice, init_engine};

#[test]
fn twenty_seven_landmarks_match_annotated_points_on_onnx_runtime() {
    if let Err(e) = init_engine(EngineChoice::OnnxRuntime) {
        assert!(std::env::var_os("ISSC_REQUIRE_ORT").is_none(), "ISSC_REQUIRE_ORT is set but ONNX Runtime: {e}");
        println!("SKIPPED: ONNX Runtime is not available here ({e}); scripts/fetch-onnxruntime.sh installs it");
        return;
    }
    let Some(data) = common::shared_data() else { return };
    common::assert_figures(&common::compare(&data), "onnxruntime");
}
