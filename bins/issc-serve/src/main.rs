//! `issc-serve`: `issc serve` as its own program (same flags; `issc-serve --help`).

fn main() -> std::process::ExitCode {
    issc::stage_main("serve")
}
