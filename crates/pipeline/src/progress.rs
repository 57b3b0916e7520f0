//! How a long step reports what it does: stage lines, warnings and counted work. The library prints nothing; a
//! command line draws bars and lines, a server logs, a test records.

/// Receives a pipeline's progress. Every method has a do-nothing default, so `&()` is a silent progress.
pub trait Progress: Sync {
    /// A finished stage's one-line summary (what `issc run` prints).
    fn line(&self, _line: &str) {}
    /// Something the user should know that does not stop the work (a photo left out, a person without photos).
    fn warn(&self, message: &str) {
        tracing::warn!("{message}");
    }
    /// Counted work begins: `what` (e.g. "cropping", "photos") out of `total` (0 when not known yet).
    fn task(&self, _what: &str, _unit: &str, _total: u64) -> Box<dyn Task + '_> {
        Box::new(())
    }
}

/// One piece of counted work; dropping it ends it.
pub trait Task: Send + Sync {
    /// `done` of `total` units are done; `message` says more (may be empty).
    fn set(&self, _done: u64, _total: u64, _message: &str) {}
    /// One more unit is done.
    fn inc(&self) {}
}

impl Progress for () {}
impl Task for () {}
