//! The pipeline's progress on a terminal: stage lines on stdout, warnings on stderr, indicatif bars that vanish
//! when stderr is not a terminal.

use std::io::Write as _;

use indicatif::{ProgressBar, ProgressStyle};
use issc_pipeline::{Progress, Task};

/// Bars on stderr; stage lines on stdout unless `quiet_lines` (`--json` prints one object instead).
pub struct Bars {
    pub quiet_lines: bool,
}

impl Progress for Bars {
    fn line(&self, line: &str) {
        if !self.quiet_lines {
            out(line);
        }
    }

    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }

    fn task(&self, what: &str, unit: &str, total: u64) -> Box<dyn Task + '_> {
        let bar = ProgressBar::new(total);
        let template = format!("{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}} eta {{eta}}");
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Box::new(Bar(bar))
    }
}

struct Bar(ProgressBar);

impl Task for Bar {
    fn set(&self, done: u64, total: u64, message: &str) {
        self.0.set_length(total);
        self.0.set_position(done);
        self.0.set_message(message.to_string());
    }

    fn inc(&self) {
        self.0.inc(1);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A line on stdout; a closed stdout (`issc run | head`) does not stop the work.
pub fn out(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
