//! Make the bundled fast SFace graph from the original (the reproducible script behind
//! `models/face_recognition_sface_2021dec_fast.onnx`; see `issc_export::fast` and models/README.md):
//!
//! ```sh
//! cargo run --release -p issc-export --example fast_sface -- \
//!     models/face_recognition_sface_2021dec_dequant.onnx models/face_recognition_sface_2021dec_fast.onnx
//! sha256sum models/face_recognition_sface_2021dec_fast.onnx   # = models/SHA256SUMS
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: fast_sface ORIGINAL.onnx OUT.onnx");
        return ExitCode::from(2);
    };
    let original = match std::fs::read(input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (bytes, n) = match issc_export::fast::fast_model_bytes(&original) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = issc_core::write_atomic(std::path::Path::new(output), &bytes) {
        eprintln!("{output}: {e}");
        return ExitCode::FAILURE;
    }
    println!("{output}: {n} PRelu rewritten, {} bytes, sha256 {}", bytes.len(), issc_predict::sha256_hex(&bytes));
    ExitCode::SUCCESS
}
