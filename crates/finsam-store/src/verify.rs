//! `audit verify`: everything a revisor can check about a store, without trusting its derived
//! state: the whole hash chain of the log file, seq continuity, the event schemas, the ledger
//! rules, the balance of every voucher, digests recorded earlier, and that the derived state
//! in sled agrees with a fresh replay.

use crate::envelope::{Envelope, Head, GENESIS_HASH, LINE_BYTES_MAX};
use crate::error::StoreError;
use crate::index::{Checkpoint, Index, TotalsFile};
use crate::store::{take_lock_for_verify, DERIVED_DIR, LOG_FILE};
use finsam_domain::{Amount, Ledger};
use finsam_projections::projection::Recorded;
use finsam_projections::Projection;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// How many problems a run lists before it stops listing.
pub const PROBLEMS_LISTED_MAX: usize = 100;

/// A digest SEQ:HASH, as `audit digest` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    pub seq: u64,
    pub hash: String,
}

impl Digest {
    pub fn parse(text: &str) -> Result<Digest, String> {
        let (seq, hash) = text.split_once(':').ok_or(format!("{text:?}: a digest is SEQ:HASH, e.g. 293:44b97981…"))?;
        let seq: u64 = seq.parse().map_err(|_| format!("{text:?}: the part before ':' is a seq (a whole number)"))?;
        let ok = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok || seq == 0 {
            return Err(format!("{text:?}: a digest is SEQ:HASH with seq ≥ 1 and a 64-character lower-case hex hash"));
        }
        Ok(Digest { seq, hash: hash.to_string() })
    }
}

#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// Events in complete batches.
    pub events: u64,
    pub head: Option<Head>,
    pub bytes: u64,
    /// (seq or line, what is wrong), in log order.
    pub problems: Vec<(u64, String)>,
    /// Things worth knowing that are not problems (an unfinished batch after a crash, a check
    /// that could not run).
    pub notes: Vec<String>,
    pub derived_checked: bool,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, seq: u64, text: String) {
        if self.problems.len() < PROBLEMS_LISTED_MAX {
            self.problems.push((seq, text));
        } else if self.problems.len() == PROBLEMS_LISTED_MAX {
            self.problems.push((seq, format!("… more problems after the first {PROBLEMS_LISTED_MAX} are not listed")));
        }
    }
}

/// Verifies the store in `dir`.
pub fn verify(dir: &Path, digests: &[Digest]) -> Result<VerifyReport, StoreError> {
    let log = dir.join(LOG_FILE);
    if !log.is_file() {
        return Err(StoreError::NotAStore { dir: dir.to_path_buf() });
    }
    let mut report = VerifyReport::default();
    let file = File::open(&log).map_err(|e| StoreError::io(&log, "open", e))?;
    report.bytes = file.metadata().map_err(|e| StoreError::io(&log, "stat", e))?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    // The last line's stated hash (whether or not the line was sound), for the next link.
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut chain_intact = true;
    let mut ledger = Ledger::new();
    let mut projection = Projection::new();
    let mut fresh_index = Index::memory();
    let mut pending: Vec<Envelope> = Vec::new();
    let mut hashes: Vec<String> = Vec::new();
    let mut complete_head = Head::genesis();
    // The derived state, opened once: the lock (so that no writer changes it meanwhile), the
    // index and its checkpoint.
    let lock = take_lock_for_verify(dir).ok();
    let derived = match (&lock, dir.join(DERIVED_DIR).exists()) {
        (Some(_), true) => {
            let (mut index, _) = Index::open_sled(&dir.join(DERIVED_DIR))?;
            let checkpoint = index.load_checkpoint();
            let totals = crate::index::read_totals(&dir.join(DERIVED_DIR), None);
            Some((index, checkpoint, totals))
        }
        _ => None,
    };
    let checkpoint_seq = derived.as_ref().and_then(|(_, cp, _)| cp.as_ref().map(|c| c.seq));
    let mut at_checkpoint: Option<(Ledger, Projection)> = None;
    if checkpoint_seq == Some(0) {
        at_checkpoint = Some((Ledger::new(), Projection::new()));
    }
    loop {
        buf.clear();
        use std::io::Read;
        let n = (&mut reader)
            .take(LINE_BYTES_MAX as u64 + 2)
            .read_until(b'\n', &mut buf)
            .map_err(|e| StoreError::io(&log, "read", e))?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            if n > LINE_BYTES_MAX {
                // Not a torn write: no line finsam writes is this long, and reading stopped at
                // the limit, not at the end of the file.
                report.problem(
                    line_no + 1,
                    format!("line {}: longer than the limit of {LINE_BYTES_MAX} bytes: damage", line_no + 1),
                );
                chain_intact = false;
                break;
            }
            report.notes.push(format!(
                "the log ends in a partial line of {n} byte(s): an unfinished write, never acknowledged"
            ));
            break;
        }
        line_no += 1;
        let envelope = match Envelope::open(&buf[..n - 1]) {
            Ok(e) => e,
            Err(problem) => {
                report.problem(line_no, format!("line {line_no}: {problem}"));
                chain_intact = false;
                // Keep following the chain with whatever hash the line states.
                prev_hash = stated_hash(&buf[..n - 1]).unwrap_or_default();
                hashes.push(prev_hash.clone());
                continue;
            }
        };
        if envelope.seq != line_no {
            report.problem(
                line_no,
                format!("line {line_no} carries seq {} (expected {line_no}): a line was removed, inserted, duplicated or moved", envelope.seq),
            );
            chain_intact = false;
        }
        if envelope.prev_hash != prev_hash {
            report.problem(
                line_no,
                format!(
                    "line {line_no}: prev_hash {} does not match the hash of the line before ({prev_hash})",
                    envelope.prev_hash
                ),
            );
            chain_intact = false;
        }
        prev_hash = envelope.hash.clone();
        hashes.push(envelope.hash.clone());
        if let Some(first) = pending.first() {
            if first.batch_last != envelope.batch_last {
                report.problem(
                    line_no,
                    format!(
                        "line {line_no}: batch_last {} inside a batch that ends at {}",
                        envelope.batch_last, first.batch_last
                    ),
                );
                chain_intact = false;
            }
        }
        let complete = envelope.seq == envelope.batch_last;
        pending.push(envelope);
        if !complete {
            continue;
        }
        for e in pending.drain(..) {
            complete_head = Head { seq: e.seq, hash: e.hash.clone() };
            report.events += 1;
            if !chain_intact {
                continue;
            }
            // The rules and the books: replayed only while the chain is intact, since after a
            // break the order of events can no longer be trusted.
            match ledger.check(&e.event) {
                Ok(()) => {
                    ledger.apply(&e.event);
                    projection.apply(Recorded {
                        seq: e.seq,
                        recorded_at: &e.recorded_at,
                        recorded_by: &e.recorded_by,
                        event: &e.event,
                    });
                    fresh_index.add(&e)?;
                }
                Err(r) => {
                    report.problem(e.seq, format!("seq {}: the recorded event breaks a ledger rule: {r}", e.seq));
                    chain_intact = false;
                }
            }
            if checkpoint_seq == Some(e.seq) && chain_intact {
                at_checkpoint = Some((ledger.clone(), projection.clone()));
            }
        }
    }
    if !pending.is_empty() && chain_intact {
        report.notes.push(format!(
            "the log ends in an unfinished batch ({} complete line(s) of a batch ending at seq {}), never acknowledged",
            pending.len(),
            pending[0].batch_last
        ));
    }
    report.head = Some(complete_head.clone());
    // Every voucher balances (asserted when built; checked again here, as read back).
    for v in projection.vouchers() {
        let sum: Amount = v.rows.iter().map(|r| r.amount).sum();
        if !sum.is_zero() {
            report.problem(
                v.seq,
                format!(
                    "voucher {} of {} (seq {}) does not balance: its rows sum to {sum}",
                    v.label(),
                    v.forbund,
                    v.seq
                ),
            );
        }
    }
    for d in digests {
        match hashes.get(d.seq as usize - 1) {
            None => report.problem(
                d.seq,
                format!(
                    "digest {}:{}: the log has no seq {} (its last line is {line_no}): it was cut short",
                    d.seq, d.hash, d.seq
                ),
            ),
            Some(h) if *h != d.hash => report.problem(
                d.seq,
                format!(
                    "digest {}:{}: seq {} now carries hash {h}: the history before it was rewritten",
                    d.seq, d.hash, d.seq
                ),
            ),
            Some(_) => {}
        }
    }
    if chain_intact {
        let held = lock.is_some();
        check_derived(&mut report, held, derived, &complete_head, &fresh_index, checkpoint_seq, at_checkpoint)?;
    } else {
        report.notes.push("the derived state was not compared: the chain is broken".into());
    }
    report.problems.sort_by_key(|(seq, _)| *seq);
    Ok(report)
}

/// The `hash` member a damaged line states, if it has one.
fn stated_hash(line: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?;
    let at = text.rfind(",\"hash\":\"")?;
    Some(text[at + 9..].trim_end_matches("\"}").to_string())
}

fn check_derived(
    report: &mut VerifyReport,
    lock_held: bool,
    derived: Option<(Index, Option<Checkpoint>, Option<TotalsFile>)>,
    head: &Head,
    fresh: &Index,
    checkpoint_seq: Option<u64>,
    at_checkpoint: Option<(Ledger, Projection)>,
) -> Result<(), StoreError> {
    if !lock_held {
        report.notes.push("the derived state was not compared: another process holds the store".into());
        return Ok(());
    }
    let Some((index, checkpoint, totals)) = derived else {
        report.notes.push("there is no derived state to compare (it is rebuilt on the next open)".into());
        return Ok(());
    };
    report.derived_checked = true;
    match (checkpoint, checkpoint_seq) {
        (None, _) => report
            .notes
            .push("the derived state holds no checkpoint of this version (it is rebuilt on the next open)".into()),
        (Some(cp), _) if cp.seq > head.seq => report.problem(
            head.seq,
            format!(
                "the derived state was computed at seq {}, but the log ends at seq {}: the log lost events after that",
                cp.seq, head.seq
            ),
        ),
        (Some(cp), _) => match at_checkpoint {
            Some((l, p)) => {
                if cp.ledger != l {
                    report.problem(
                        cp.seq,
                        format!("the checkpointed ledger state at seq {} differs from a fresh replay", cp.seq),
                    );
                }
                if cp.projection != p {
                    report.problem(
                        cp.seq,
                        format!("the checkpointed books at seq {} differ from a fresh replay", cp.seq),
                    );
                }
                // The totals the balances read, when they stand at the same seq.
                if let Some(t) = totals.filter(|t| t.seq == cp.seq) {
                    if t.view.totals != *p.totals() || t.view.forbund != p.forbund {
                        report
                            .problem(cp.seq, format!("the stored totals at seq {} differ from a fresh replay", cp.seq));
                    }
                }
                for v in cp.projection.vouchers() {
                    let sum: Amount = v.rows.iter().map(|r| r.amount).sum();
                    if !sum.is_zero() {
                        report.problem(
                            v.seq,
                            format!(
                                "checkpointed voucher {} of {} does not balance (rows sum to {sum})",
                                v.label(),
                                v.forbund
                            ),
                        );
                    }
                }
            }
            None => report
                .problem(cp.seq, format!("the derived state claims seq {}, which the replay never reached", cp.seq)),
        },
    }
    // The indexes must hold exactly what a fresh replay puts in them, up to the checkpoint.
    // (Only when the derived state stands at the log's head: after a lost tail it cannot.)
    if let (Index::Memory { idem, positions }, true) = (fresh, checkpoint_seq == Some(head.seq)) {
        for (key, (seq, digest)) in idem {
            if index.idempotency(key)?.as_ref() != Some(&(*seq, digest.clone())) {
                report.problem(
                    *seq,
                    format!("the idempotency index does not hold key {key:?} of seq {seq} as the log does"),
                );
            }
        }
        for (forbund, position) in positions {
            if index.position(forbund)? != *position {
                report.problem(position.last_seq, format!("the derived position of {forbund} differs from the log"));
            }
        }
    }
    Ok(())
}
