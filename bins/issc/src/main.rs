//! `issc`: who is in this photo? Detect, align, crop and embed faces, train and serve a recognizer, offline.

fn main() -> std::process::ExitCode {
    issc::main()
}
