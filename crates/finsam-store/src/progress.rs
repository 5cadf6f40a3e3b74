//! How far a long read of the log has come, for a person watching it.
//!
//! The store reads the log in blocks (replay, reindex, verification). A binary may install one
//! [`Observer`] that hears how many bytes of how many have been read; the store itself draws
//! nothing and never waits for it. Without an observer, nothing happens.

use std::sync::OnceLock;

/// Hears the progress of each read of the log.
pub trait Observer: Send + Sync {
    /// A read of `total` bytes begins.
    fn begin(&self, total: u64);
    /// `done` of the `total` bytes have been read.
    fn advance(&self, done: u64);
    /// The read has ended (at the end of the log, or stopped early).
    fn end(&self);
}

static OBSERVER: OnceLock<Box<dyn Observer>> = OnceLock::new();

/// Installs the observer of this process; the first one installed stays.
pub fn observe(observer: Box<dyn Observer>) {
    let _ = OBSERVER.set(observer);
}

/// One read of the log, told to the observer (if any) while it lasts.
pub(crate) struct Reading {
    observer: Option<&'static dyn Observer>,
    done: u64,
}

impl Reading {
    pub(crate) fn begin(total: u64) -> Reading {
        let observer = OBSERVER.get().map(|o| &**o);
        if let Some(o) = observer {
            o.begin(total);
        }
        Reading { observer, done: 0 }
    }

    pub(crate) fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        if let Some(o) = self.observer {
            o.advance(self.done);
        }
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        if let Some(o) = self.observer {
            o.end();
        }
    }
}
