//! The background scrub: walks the log's hash chain while the writer goes on, so that damage in
//! the middle of the log (a changed byte, a line removed or inserted) is found by a running
//! service and not only by `audit verify`.
//!
//! A writer does not re-hash the log when it opens: it trusts the prefix its sealed checkpoint
//! stands for, bound to the log by the head (the line ending at the checkpoint's length must be
//! that seq with that hash). The scrub takes the other half of that bargain: it re-hashes every
//! line up to a point the writer knows (`ScrubPoint`: a length and the head ending there), and
//! the caller stops the writer if the chain is broken or ends anywhere else. TigerBeetle's grid
//! scrubber is the anchor: read everything again, on a schedule, while serving.

use crate::envelope::Head;
use crate::error::StoreError;
use crate::log::verify_chain_prefix;
use std::path::Path;

/// A point of the log the writer has written: its first `log_len` bytes end with the line
/// `head`. The log only grows, so those bytes never change unless something damages them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrubPoint {
    pub log_len: u64,
    pub head: Head,
}

/// Re-hashes the chain of the log's first `point.log_len` bytes: every line's own hash, its seq
/// and its link to the line before, ending at `point.head`. Reads the log only; an error names
/// the damaged line.
pub fn scrub(dir: &Path, point: &ScrubPoint) -> Result<(), StoreError> {
    let log = dir.join(crate::store::LOG_FILE);
    let head = verify_chain_prefix(&log, point.log_len)?;
    if head != point.head {
        return Err(StoreError::Damaged {
            path: log,
            line: head.seq,
            offset: point.log_len,
            problem: format!(
                "the chain up to byte {} ends at {head}, but the writer wrote {} there",
                point.log_len, point.head
            ),
        });
    }
    Ok(())
}
