//! Writing results and failures.

use finsam_domain::Rejection;
use finsam_store::{OpenReport, StoreError};
use std::io::Write;
use std::process::ExitCode;

/// A failure with its exit code (1 problems found / store unreadable, 2 usage or rejected).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: String) -> Failure {
        Failure { code: 2, message }
    }

    pub fn exit(self) -> ExitCode {
        eprintln!("finsam: {}", self.message);
        ExitCode::from(self.code)
    }
}

/// Writes to standard output; a closed pipe (`finsam log | head`) ends the program quietly.
pub fn emit(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|_| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("finsam: could not write the output: {e}");
        std::process::exit(1);
    }
}

/// Saves the derived state after recording. The batch is durable already, so a failure here
/// (a full disk, a folder that cannot be written) is a warning, never an error: the next open
/// replays what the checkpoint lacks.
pub fn save_derived(store: &mut finsam_store::Store<finsam_store::FileLog>) {
    if let Err(e) = store.save_checkpoint() {
        eprintln!("finsam: warning: the events are recorded, but {e}; it is rebuilt from the log when the store is next opened");
    }
}

/// Tells the user, on standard error, what opening the store repaired.
pub fn report_open(report: &OpenReport) {
    for w in &report.warnings {
        eprintln!("finsam: warning: {w}");
    }
    if report.torn_bytes_cut > 0 {
        eprintln!(
            "finsam: cut {} byte(s) at the end of the log: an unfinished batch from an interrupted run, never acknowledged",
            report.torn_bytes_cut
        );
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        let code = match &e {
            StoreError::Rejected(_)
            | StoreError::HeadMoved { .. }
            | StoreError::VersionMoved { .. }
            | StoreError::Locked { .. }
            | StoreError::NotAStore { .. }
            | StoreError::AlreadyAStore { .. }
            | StoreError::Refused(_)
            | StoreError::Forbidden { .. } => 2,
            StoreError::Interrupted => 130,
            StoreError::Damaged { .. }
            | StoreError::Poisoned { .. }
            | StoreError::Io { .. }
            | StoreError::Derived { .. } => 1,
        };
        Failure { code, message: e.to_string() }
    }
}

impl Failure {
    /// Every refusal of a batch, one per line: exit 2, nothing written.
    pub fn rejected(rejections: Vec<Rejection>) -> Failure {
        let mut message = format!("rejected, nothing written ({} problem(s)):", rejections.len());
        for r in &rejections {
            message.push_str("\n  ");
            message.push_str(&r.to_string());
        }
        Failure { code: 2, message }
    }
}
