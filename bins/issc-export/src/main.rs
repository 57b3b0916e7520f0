//! `issc-export`: `issc export` as its own program (same flags; `issc-export --help`).

fn main() -> std::process::ExitCode {
    issc::stage_main("export")
}
