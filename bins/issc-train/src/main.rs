//! `issc-train`: `issc train` as its own program (same flags; `issc-train --help`).

fn main() -> std::process::ExitCode {
    issc::stage_main("train")
}
