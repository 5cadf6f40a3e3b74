use finsam_domain::Rejection;
use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in the store, by cause.
#[derive(Debug)]
pub enum StoreError {
    /// The input breaks a rule; nothing was written.
    Rejected(Rejection),
    /// `--expect-head` names a head the log has moved past (or not reached).
    HeadMoved {
        expected: u64,
        actual: u64,
    },
    /// Another process holds the store's writer lock.
    Locked {
        dir: PathBuf,
        holder: String,
    },
    NotAStore {
        dir: PathBuf,
    },
    AlreadyAStore {
        dir: PathBuf,
    },
    /// A line of the log that is not a torn tail is wrong: the store stops.
    Damaged {
        path: PathBuf,
        line: u64,
        offset: u64,
        problem: String,
    },
    /// An fsync (or the undo of a failed write) failed earlier: the writer stops for good,
    /// because after a failed fsync the kernel may have dropped the dirty pages.
    Poisoned {
        reason: String,
    },
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    Derived {
        action: &'static str,
        detail: String,
    },
    /// A request the store will not carry out (e.g. writing over an existing folder).
    Refused(String),
    /// Asked to stop (a signal) before the batch was written: nothing was.
    Interrupted,
    /// The user recording through the service may not record in a förbund whose books the
    /// event at `line` would touch; nothing was written.
    Forbidden {
        line: usize,
        user: String,
        forbund: String,
    },
}

impl StoreError {
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> StoreError {
        StoreError::Io { path: path.into(), action, source }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Rejected(r) => write!(f, "rejected, nothing written: {r}"),
            StoreError::HeadMoved { expected, actual } => write!(
                f,
                "rejected, nothing written: the log's head is {actual}, but --expect-head says {expected}; read the new events (`finsam log --from {}`) and decide again [rule head_moved]",
                expected + 1
            ),
            StoreError::Locked { dir, holder } => write!(
                f,
                "the store {} is in use by another writer ({holder}); one writer at a time: try again when it has finished",
                dir.display()
            ),
            StoreError::NotAStore { dir } => {
                write!(f, "{} is not a finsam store (no log.jsonl): create one with `finsam --store {} init`", dir.display(), dir.display())
            }
            StoreError::AlreadyAStore { dir } => write!(f, "{} holds a finsam store already; nothing was changed", dir.display()),
            StoreError::Damaged { path, line, offset, problem } => write!(
                f,
                "the log {} is damaged at line {line} (byte {offset}): {problem}. The store stops rather than skip it: restore the log from a copy, or ask a revisor to compare it with the last digest",
                path.display()
            ),
            StoreError::Poisoned { reason } => write!(f, "the writer stopped after a failed sync and will not retry: {reason}"),
            StoreError::Io { path, action, source } => write!(f, "could not {action} {}: {source}", path.display()),
            StoreError::Interrupted => {
                write!(f, "interrupted before the batch was written: nothing was recorded")
            }
            StoreError::Derived { action, detail } => write!(f, "derived state (sled): could not {action}: {detail}"),
            StoreError::Refused(why) => write!(f, "refused: {why}"),
            StoreError::Forbidden { line, user, forbund } => write!(
                f,
                "refused, nothing written: line {line}: {user} may not record events that touch the books of {forbund}"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<Rejection> for StoreError {
    fn from(r: Rejection) -> Self {
        StoreError::Rejected(r)
    }
}
