//! `issc-fetch`: `issc fetch` as its own program (same flags; `issc-fetch --help`).

fn main() -> std::process::ExitCode {
    issc::stage_main("fetch")
}
