//! finsam's storage. The only crate that touches files and sled.
//!
//! The log file is the system of record; sled holds only state derived from it (indexes and
//! checkpoints), because sled 0.34's `flush()` does not fully fsync on Linux and its on-disk
//! format is not frozen. Everything in `derived/` can be deleted and is rebuilt on open.

pub mod envelope;
pub mod error;
pub mod files;
pub mod index;
pub mod log;
pub mod store;
pub mod verify;

pub use envelope::{Envelope, Head, GENESIS_HASH};
pub use error::StoreError;
pub use log::{FileLog, LogBackend, MemoryLog};
pub use store::{init, open_totals, open_view, read_log, OpenReport, Recorded, Store, View};
pub use verify::{verify, Digest, VerifyReport};

#[cfg(test)]
mod crash_tests;

#[cfg(test)]
mod fault_tests;

#[cfg(test)]
mod fuzz_tests;
