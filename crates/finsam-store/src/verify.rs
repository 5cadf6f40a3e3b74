//! `audit verify`: everything a revisor can check about a store, without trusting its derived
//! state: the whole hash chain of the log file, the canonical form of every line, seq
//! continuity, the event schemas, the ledger rules, that no idempotency key was used twice, the
//! balance of every voucher, digests recorded earlier, and that every derived file a report or
//! a writer would read agrees with a fresh replay.

use crate::envelope::{Envelope, Head, GENESIS_HASH, LINE_BYTES_MAX};
use crate::error::StoreError;
use crate::index::{Checkpoint, Derived, Index, TotalsFile};
use crate::log::{read_lines, read_lines_of, Decoded, Lines};
use crate::store::{DERIVED_DIR, LOG_FILE};
use finsam_domain::{Amount, Ledger};
use finsam_projections::projection::Recorded;
use finsam_projections::Projection;
use std::collections::{BTreeMap, BTreeSet};
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
    /// Bytes of the lines read (a database's log has no file length to state beforehand).
    pub bytes_read: u64,
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

/// Where the log's lines come from: the store's file, or a database's table.
enum Source {
    File,
    Database(Box<crate::pg::PgLines>),
}

/// Verifies the store in `dir`.
pub fn verify(dir: &Path, digests: &[Digest]) -> Result<VerifyReport, StoreError> {
    let log = dir.join(LOG_FILE);
    if !log.is_file() {
        return Err(StoreError::NotAStore { dir: dir.to_path_buf() });
    }
    let bytes = std::fs::metadata(&log).map_err(|e| StoreError::io(&log, "stat", e))?.len();
    let mut report = VerifyReport { bytes, ..VerifyReport::default() };
    // The derived state is read before the log and without a lock: every file in it is
    // replaced whole, so a writer recording meanwhile only makes the log longer than what was
    // read here, never different.
    let derived = read_derived(dir, &mut report);
    verify_lines(&log, Source::File, derived, report, digests)
}

/// Verifies the log a database holds, line by line as `verify` reads a file (a database keeps
/// no derived state to compare).
pub fn verify_database(url: &str, digests: &[Digest]) -> Result<VerifyReport, StoreError> {
    let lines = crate::pg::PgLines::new(url)?;
    let mut report = VerifyReport::default();
    report.notes.push("a database keeps no derived state: every instance builds its books from the log".into());
    let derived = DerivedFiles { checkpoint: None, totals: None, runs: None };
    let mut r =
        verify_lines(Path::new(&crate::pg::label(url)), Source::Database(Box::new(lines)), derived, report, digests)?;
    r.bytes = r.bytes_read;
    Ok(r)
}

fn verify_lines(
    log: &Path,
    source: Source,
    derived: DerivedFiles,
    mut report: VerifyReport,
    digests: &[Digest],
) -> Result<VerifyReport, StoreError> {
    let mut line_no = 0u64;
    // The last line's stated hash (whether or not the line was sound), for the next link.
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut chain_intact = true;
    let mut ledger = Ledger::new();
    let mut projection = Projection::new();
    let mut fresh_index = Index::new();
    // The envelopes of the batch being read, each with the decoding thread that made it.
    let mut pending: Vec<(Envelope, usize)> = Vec::new();
    // The hashes the digests name, as the lines state them (a whole log's would be 100 MB at a
    // million events).
    let named: BTreeSet<u64> = digests.iter().map(|d| d.seq).collect();
    let mut hashes: BTreeMap<u64, String> = BTreeMap::new();
    let mut complete_head = Head::genesis();
    let mut wanted: Vec<u64> = derived
        .checkpoint
        .iter()
        .map(|c| c.seq)
        .chain(derived.totals.iter().map(|t| t.seq))
        .chain(derived.runs.iter().map(|r| r.seq))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut snapshots: Vec<Snapshot> = Vec::new();
    if wanted.first() == Some(&0) {
        snapshots.push(Snapshot { seq: 0, ledger: Ledger::new(), projection: Projection::new(), index: Index::new() });
    }
    // A wanted seq's state is copied only when another event is about to change it: the
    // derived files usually stand for the head, whose state is the replay's own at the end.
    let mut snapshot_due: Option<u64> = None;
    let mut bytes_read = 0;
    let body = |lines: &mut Lines| -> Result<(), StoreError> {
        while let Some((decoded, from)) = lines.next_line() {
            let envelope = match decoded {
                Decoded::Failed(e) => return Err(StoreError::io(log, "read", e)),
                Decoded::Partial { too_long: true, .. } => {
                    // Not a torn write: no line finsam writes is this long.
                    report.problem(
                        line_no + 1,
                        format!("line {}: longer than the limit of {LINE_BYTES_MAX} bytes: damage", line_no + 1),
                    );
                    chain_intact = false;
                    break;
                }
                Decoded::Partial { n, too_long: false } => {
                    report.notes.push(format!(
                        "the log ends in a partial line of {n} byte(s): an unfinished write, never acknowledged"
                    ));
                    break;
                }
                Decoded::Line { envelope, .. } => envelope,
            };
            line_no += 1;
            let envelope = match envelope {
                Ok(e) => e,
                Err(bad) => {
                    report.problem(line_no, format!("line {line_no}: {}", bad.problem));
                    chain_intact = false;
                    // Keep following the chain with whatever hash the line states.
                    prev_hash = bad.stated_hash.unwrap_or_default();
                    if named.contains(&line_no) {
                        hashes.insert(line_no, prev_hash.clone());
                    }
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
            if named.contains(&line_no) {
                hashes.insert(line_no, envelope.hash.clone());
            }
            if let Some((first, _)) = pending.first() {
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
            pending.push((envelope, from));
            if !complete {
                continue;
            }
            for (e, from) in pending.drain(..) {
                complete_head = Head { seq: e.seq, hash: e.hash.clone() };
                report.events += 1;
                if !chain_intact {
                    lines.done_with(e, from);
                    continue;
                }
                if let Some(seq) = snapshot_due.take() {
                    snapshots.push(Snapshot {
                        seq,
                        ledger: ledger.clone(),
                        projection: projection.clone(),
                        index: fresh_index.clone(),
                    });
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
                        if let Some(earlier) = fresh_index.add(&e, &ledger) {
                            report.problem(
                                e.seq,
                                format!(
                                    "seq {}: idempotency key {:?} was already used by seq {earlier}: the same key may stand for one event only (a retry records nothing)",
                                    e.seq,
                                    e.event.idempotency_key.as_deref().unwrap_or_default()
                                ),
                            );
                        }
                    }
                    Err(r) => {
                        report.problem(e.seq, format!("seq {}: the recorded event breaks a ledger rule: {r}", e.seq));
                        chain_intact = false;
                    }
                }
                if chain_intact && wanted.binary_search(&e.seq).is_ok() {
                    snapshot_due = Some(e.seq);
                }
                lines.done_with(e, from);
            }
        }
        bytes_read = lines.bytes_read();
        Ok(())
    };
    match source {
        Source::File => read_lines(log, 0, body),
        Source::Database(reader) => read_lines_of(reader, body),
    }??;
    report.bytes_read = bytes_read;
    if !pending.is_empty() && chain_intact {
        report.notes.push(format!(
            "the log ends in an unfinished batch ({} complete line(s) of a batch ending at seq {}), never acknowledged",
            pending.len(),
            pending[0].0.batch_last
        ));
    }
    report.head = Some(complete_head.clone());
    // Every voucher balances (asserted when built; checked again here, as read back).
    for v in projection.unbalanced_vouchers() {
        let sum: Amount = v.rows.iter().map(|r| r.amount).sum();
        report.problem(
            v.seq,
            format!("voucher {} of {} (seq {}) does not balance: its rows sum to {sum}", v.label(), v.forbund, v.seq),
        );
    }
    for d in digests {
        match hashes.get(&d.seq) {
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
        snapshots.push(Snapshot { seq: complete_head.seq, ledger, projection, index: fresh_index });
        check_derived(&mut report, derived, &complete_head, &snapshots);
    } else {
        report.notes.push("the derived state was not compared: the chain is broken".into());
    }
    report.problems.sort_by_key(|(seq, _)| *seq);
    Ok(report)
}

/// The state of a fresh replay at one seq.
struct Snapshot {
    seq: u64,
    ledger: Ledger,
    projection: Projection,
    index: Index,
}

/// What `derived/` holds that a report or a writer would read.
struct DerivedFiles {
    checkpoint: Option<Checkpoint>,
    totals: Option<TotalsFile>,
    runs: Option<crate::index::ForbundRuns>,
}

fn read_derived(dir: &Path, report: &mut VerifyReport) -> DerivedFiles {
    let mut none = DerivedFiles { checkpoint: None, totals: None, runs: None };
    let path = dir.join(DERIVED_DIR);
    if !path.exists() {
        report.notes.push("there is no derived state to compare (it is rebuilt on the next open)".into());
        return none;
    }
    let key = match crate::key::machine_key() {
        Ok(k) => k,
        Err(why) => {
            report.notes.push(format!("the derived state was not compared: {why}"));
            return none;
        }
    };
    let mut derived = Derived::new(path.clone(), Some(key));
    none.checkpoint = derived.load_checkpoint();
    none.totals = derived.read_totals(None);
    none.runs = derived.read_runs();
    for (name, found) in [
        ("checkpoint.json", none.checkpoint.is_some()),
        ("totals.json", none.totals.is_some()),
        ("runs.json", none.runs.is_some()),
    ] {
        if !found && path.join(name).exists() {
            report.notes.push(format!(
                "derived/{name} is damaged or not sealed with this user's key: no report or writer reads it (the next writer replaces it)"
            ));
        }
    }
    none
}

fn check_derived(report: &mut VerifyReport, derived: DerivedFiles, head: &Head, snapshots: &[Snapshot]) {
    let at = |seq: u64| snapshots.iter().find(|s| s.seq == seq);
    if let Some(cp) = &derived.checkpoint {
        report.derived_checked = true;
        match at(cp.seq) {
            _ if cp.seq > head.seq => report.problem(
                head.seq,
                format!(
                    "the derived state was computed at seq {}, but the log ends at seq {}: the log lost events after that",
                    cp.seq, head.seq
                ),
            ),
            None => report
                .problem(cp.seq, format!("the derived state claims seq {}, which the replay never reached", cp.seq)),
            Some(s) => {
                if cp.ledger != s.ledger {
                    report.problem(
                        cp.seq,
                        format!("the checkpointed ledger state at seq {} differs from a fresh replay", cp.seq),
                    );
                }
                if cp.projection != s.projection {
                    report.problem(
                        cp.seq,
                        format!("the checkpointed books at seq {} differ from a fresh replay", cp.seq),
                    );
                }
                if cp.index != s.index {
                    report.problem(
                        cp.seq,
                        format!(
                            "the checkpointed idempotency keys or positions at seq {} differ from a fresh replay",
                            cp.seq
                        ),
                    );
                }
                // Books equal to the fresh replay's hold its vouchers, checked above.
                let unbalanced = (cp.projection != s.projection).then(|| cp.projection.unbalanced_vouchers());
                for v in unbalanced.into_iter().flatten() {
                    let sum: Amount = v.rows.iter().map(|r| r.amount).sum();
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
    }
    // Whose books each seq is in, which a report of one förbund and a writer of some förbund's
    // books go by: it stands for the head (a writer of some books leaves the checkpoint behind).
    if let Some(r) = &derived.runs {
        report.derived_checked = true;
        match at(r.seq) {
            Some(s) if r.runs.as_slice() == s.ledger.runs() && r.links == *s.index.links() => {}
            Some(_) => report.problem(
                r.seq,
                format!("derived/runs.json at seq {} differs from a fresh replay (whose books each event is in)", r.seq),
            ),
            None if r.seq > head.seq && derived.checkpoint.as_ref().is_some_and(|c| c.seq > head.seq) => {}
            None if r.seq > head.seq => report.problem(
                head.seq,
                format!(
                    "derived/runs.json was written at seq {}, but the log ends at seq {}: the log lost events after that",
                    r.seq, head.seq
                ),
            ),
            None => report.problem(
                r.seq,
                format!("derived/runs.json claims seq {}, which the replay of the log never reached", r.seq),
            ),
        }
    }
    // The totals the balances read: compared whatever became of the checkpoint.
    if let Some(t) = &derived.totals {
        report.derived_checked = true;
        match at(t.seq) {
            Some(s) if t.view.totals == *s.projection.totals() && t.view.forbund == s.projection.forbund => {}
            Some(_) => report.problem(t.seq, format!("the stored totals at seq {} differ from a fresh replay", t.seq)),
            // The same loss the checkpoint shows: said once.
            None if t.seq > head.seq && derived.checkpoint.as_ref().is_some_and(|c| c.seq > head.seq) => {}
            None => report.problem(
                t.seq,
                format!("the stored totals claim seq {}, which the replay of the log never reached", t.seq),
            ),
        }
    }
}
