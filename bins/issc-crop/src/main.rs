//! `issc-crop`: `issc crop` as its own program (same flags; `issc-crop --help`).

fn main() -> std::process::ExitCode {
    issc::stage_main("crop")
}
