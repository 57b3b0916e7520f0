//! Make the bundled int8 SFace graph from the fast one (the reproducible script behind
//! `models/face_recognition_sface_2021dec_int8.onnx`; see `issc_export::int8` and models/README.md):
//!
//! ```sh
//! cargo run --release -p issc-export --example int8_sface -- \
//!     models/face_recognition_sface_2021dec_fast.onnx models/face_recognition_sface_2021dec_int8.onnx
//! sha256sum models/face_recognition_sface_2021dec_int8.onnx   # = models/SHA256SUMS
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: int8_sface FAST.onnx OUT.onnx");
        return ExitCode::from(2);
    };
    let fast = match std::fs::read(input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (bytes, q) = match issc_export::int8::int8_model_bytes(&fast) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if q.convolutions == 0 && q.gemms == 0 {
        eprintln!("{input}: no layer to quantize (is it SFace's fast graph?)");
        return ExitCode::FAILURE;
    }
    if let Err(e) = issc_core::write_atomic(std::path::Path::new(output), &bytes) {
        eprintln!("{output}: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "{output}: {} 1x1 convolutions ({} batch norms folded) and {} Gemm in int8, {} bytes, sha256 {}",
        q.convolutions,
        q.batch_norms_folded,
        q.gemms,
        bytes.len(),
        issc_predict::sha256_hex(&bytes)
    );
    ExitCode::SUCCESS
}
