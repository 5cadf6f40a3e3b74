use finsam_domain::Rejection;
use std::path::PathBuf;

/// Everything that can go wrong in the store, by cause; each says what happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The input breaks a rule; nothing was written.
    #[error("rejected, nothing written: {0}")]
    Rejected(Rejection),
    /// `--expect-head` names a head the log has moved past (or not reached).
    #[error(
        "rejected, nothing written: the log's head is {actual}, but --expect-head says {expected}; read the new events (`finsam log --from {}`) and decide again [rule head_moved]",
        .expected + 1
    )]
    HeadMoved { expected: u64, actual: u64 },
    /// A förbund's books have moved past the version the writer expected (`If-Match`).
    #[error(
        "rejected, nothing written: the books of {forbund} are at version {actual}, not {expected}: read what was recorded since and decide again [rule version_moved]"
    )]
    VersionMoved { forbund: String, expected: u64, actual: u64 },
    /// Another process holds the store's writer lock.
    #[error("{}", locked(.dir, .holder))]
    Locked { dir: PathBuf, holder: String },
    #[error("{} is not a finsam store (no log.jsonl): create one with `finsam --store {} init`", .dir.display(), .dir.display())]
    NotAStore { dir: PathBuf },
    #[error("{} holds a finsam store already; nothing was changed", .dir.display())]
    AlreadyAStore { dir: PathBuf },
    /// A line of the log that is not a torn tail is wrong: the store stops.
    #[error(
        "the log {} is damaged at line {line} (byte {offset}): {problem}. The store stops rather than skip it: restore the log from a copy, or ask a revisor to compare it with the last digest",
        .path.display()
    )]
    Damaged { path: PathBuf, line: u64, offset: u64, problem: String },
    /// The writer stopped for good: an fsync (or the undo of a failed write) failed earlier
    /// (after a failed fsync the kernel may have dropped the dirty pages), or the background
    /// scrub found the log damaged. `reason` says which.
    #[error("the writer records nothing more until the store is reopened: {reason}")]
    Poisoned { reason: String },
    #[error("could not {action} {}: {source}", .path.display())]
    Io { path: PathBuf, action: &'static str, source: std::io::Error },
    #[error("derived state: could not {action}: {detail}")]
    Derived { action: &'static str, detail: String },
    /// A request the store will not carry out (e.g. writing over an existing folder).
    #[error("refused: {0}")]
    Refused(String),
    /// A backup cannot be made or restored: `damaged` when a file is not what it should be (the
    /// store's or the backup's), else a request the store will not carry out. In both languages,
    /// for the message the user reads.
    #[error("{en}")]
    Backup { sv: String, en: String, damaged: bool },
    /// The database holding the log cannot be reached or refused a statement: nothing was
    /// recorded (a write whose commit cannot be confirmed is not acknowledged; retry it with
    /// its idempotency key).
    #[error("the database {database}: {action}: {detail}")]
    Database { database: String, action: &'static str, detail: String },
    /// Asked to stop (a signal) before the batch was written: nothing was.
    #[error("interrupted before the batch was written: nothing was recorded")]
    Interrupted,
    /// The user recording through the service may not record in a förbund whose books the
    /// event at `line` would touch; nothing was written.
    #[error("refused, nothing written: line {line}: {user} may not record events that touch the books of {forbund}")]
    Forbidden { line: usize, user: String, forbund: String },
}

impl StoreError {
    /// The same error once more, for every batch of a group it stopped: a database that cannot
    /// be reached stays that error (the service answers 503); anything else is a refusal.
    pub fn again(&self) -> StoreError {
        match self {
            StoreError::Database { database, action, detail } => {
                StoreError::Database { database: database.clone(), action, detail: detail.clone() }
            }
            StoreError::Poisoned { reason } => StoreError::Poisoned { reason: reason.clone() },
            other => StoreError::Refused(format!("nothing was recorded: {other}")),
        }
    }

    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> StoreError {
        StoreError::Io { path: path.into(), action, source }
    }
}

impl From<Rejection> for StoreError {
    fn from(r: Rejection) -> Self {
        StoreError::Rejected(r)
    }
}

/// Why a writer cannot open the store, and what to do: a running `finsam serve` takes the
/// writes itself (through its API and its forms); another writer will finish.
fn locked(dir: &std::path::Path, holder: &str) -> String {
    if holder.contains(" serve") {
        format!(
            "the store {} is held by a running `finsam serve` ({holder}): while it runs, record through it — POST /api/v1/events with a kansli's token, or the web app's forms — or stop it (Ctrl-C) and try again",
            dir.display()
        )
    } else {
        format!(
            "the store {} is in use by another writer ({holder}); one writer at a time: try again when it has finished",
            dir.display()
        )
    }
}
