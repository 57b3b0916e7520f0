//! `issc-prepare`: `issc prepare` as its own program (same flags; `issc-prepare --help`).

fn main() -> std::process::ExitCode {
    issc::stage_main("prepare")
}
