//! finsam's storage. The only crate that touches files and databases.
//!
//! The log file is the system of record. `derived/` holds only a cache of it (the checkpoint,
//! its vouchers, the totals), each file sealed with a key kept outside the store and bound to
//! the log's head: anything that does not match is ignored and rebuilt from the log.

pub mod access;
pub mod backup;
pub mod copy;
pub mod envelope;
pub mod error;
pub mod files;
pub mod index;
pub mod key;
mod lines;
pub mod log;
pub mod pg;
#[doc(hidden)]
pub mod pg_cluster;
pub mod progress;
pub mod scrub;
pub mod store;
pub mod underlag;
pub mod verify;

pub use envelope::{Envelope, Head, GENESIS_HASH};
pub use error::StoreError;
pub use log::{FileLog, LogBackend, MemoryLog};
pub use pg::PgLog;
pub use scrub::{scrub, ScrubPoint};
pub use store::{
    init, open_books_of, open_books_of_share, open_totals, open_view, process_ends_with_command, read_events, read_log,
    read_ranges, BooksOf, GroupRequest, Locked, OpenReport, Recorded, Snapshot, StopSwitch, Store, View, MIRROR_FILE,
    PARTIAL_SHARE_MAX,
};
pub use verify::{verify, Digest, VerifyReport};

#[cfg(test)]
mod crash_tests;

#[cfg(test)]
mod fault_tests;

#[cfg(test)]
mod fuzz_tests;

#[cfg(test)]
mod pg_tests;
