//! Derived state, all of it in `derived/` and all of it a cache of the log: the checkpoint
//! (ledger state, books without their vouchers, idempotency keys, per-förbund positions), the
//! vouchers file it stands on, and the totals file the balances read.
//!
//! Trust rule: a derived file is used only when it is sealed with this user's key (see `key`)
//! and stands for exactly the log beside it (its head seq, hash and length match the log's
//! line at that length). Anything else is ignored and rebuilt from the log. Nothing a writer
//! decides with (ledger state, idempotency keys, positions) lives anywhere else.

use crate::envelope::{content_digest, sha256_hex, Envelope, Head};
use crate::key::Key;
use finsam_domain::ledger::LEDGER_STATE_VERSION;
use finsam_domain::Ledger;
use finsam_domain::Slug;
use finsam_projections::book::{Book, BookSymbols};
use finsam_projections::projection::ForbundInfo;
use finsam_projections::projection::PROJECTION_VERSION;
use finsam_projections::totals::{Totals, TotalsView};
use finsam_projections::Projection;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A snapshot of the ledger at a point of the log, so that opening reads only the tail.
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
    /// The log's length in bytes at `seq`.
    pub log_len: u64,
    pub ledger: Ledger,
    /// With its vouchers, read back from the vouchers file.
    pub projection: Projection,
    pub index: Index,
}

/// A checkpoint file as first read: the small members parsed, the large ones still text, so
/// that they are parsed while the vouchers are read.
#[derive(Deserialize)]
struct CheckpointParts<'a> {
    version: u32,
    seq: u64,
    hash: String,
    log_len: u64,
    #[serde(borrow)]
    ledger: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    projection: &'a serde_json::value::RawValue,
    #[serde(borrow)]
    index: &'a serde_json::value::RawValue,
    vouchers: SavedVouchers,
    symbols: BookSymbols,
}

/// The vouchers file a checkpoint stands on: how many vouchers, in which chunks.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SavedVouchers {
    count: usize,
    chunks: Vec<Chunk>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Chunk {
    offset: u64,
    len: u64,
    sha256: String,
}

impl SavedVouchers {
    fn end(&self) -> u64 {
        self.chunks.last().map_or(0, |c| c.offset + c.len)
    }
}

/// The vouchers file, beside the checkpoint (see `vouchers`).
const VOUCHERS_FILE: &str = "vouchers.bin";
/// A chunk is at most this long (each is sealed with its own digest).
const CHUNK_BYTES: usize = 16 << 20;

/// The version a checkpoint must carry to be trusted: the ledger's and the projection's.
const CHECKPOINT_VERSION: u32 = (LEDGER_STATE_VERSION * 1000 + PROJECTION_VERSION) * 10 + 7;

#[derive(Serialize)]
struct CheckpointRef<'a> {
    version: u32,
    seq: u64,
    hash: &'a str,
    log_len: u64,
    ledger: &'a Ledger,
    projection: &'a Projection,
    index: &'a Index,
    vouchers: &'a SavedVouchers,
    symbols: BookSymbols,
}

/// Where a förbund's books stand in the log: its last seq and how many events it has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub last_seq: u64,
    pub events: u64,
}

/// The indexes a writer decides with: every idempotency key with the seq and content digest of
/// the event that used it, and where each förbund's books stand. Held in memory, saved inside
/// the checkpoint (never apart from it), so that they always stand for the same head.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    idempotency: BTreeMap<String, (u64, String)>,
    positions: BTreeMap<String, Position>,
    /// The pairs of förbund one event's vouchers touched together (a merger, a transfer of
    /// equity, a takeover, a dissolution into another, a correction of another's event), each
    /// pair once, the lesser id first: whose books a report of one förbund must read (see
    /// `ForbundRuns`).
    links: BTreeSet<(String, String)>,
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    /// The seq and content digest recorded under an idempotency key, as scoped by
    /// `scoped_key`.
    pub fn idempotency(&self, scoped: &str) -> Option<&(u64, String)> {
        self.idempotency.get(scoped)
    }

    pub fn position(&self, forbund: &str) -> Position {
        self.positions.get(forbund).copied().unwrap_or_default()
    }

    /// Takes the next recorded envelope into the indexes. Returns the seq of an earlier event
    /// that used the same idempotency key, if one did (a log that holds such a pair was not
    /// written by finsam's rules: `audit verify` reports it).
    ///
    /// `ledger` is the ledger the event is recorded in (before or after it: a correction's
    /// link is to the förbund of the event it corrects, which never changes).
    pub fn add(&mut self, envelope: &Envelope, ledger: &Ledger) -> Option<u64> {
        let event = &envelope.event;
        let named = event.forbund_named();
        let corrected = match &event.kind {
            finsam_domain::EventKind::EventCorrected { corrects, .. } => ledger.forbund_of(*corrects),
            _ => None,
        };
        for other in named.into_iter().skip(1).chain(corrected).filter(|o| **o != event.forbund) {
            let (a, b) = (event.forbund.as_str(), other.as_str());
            let (a, b) = if a < b { (a, b) } else { (b, a) };
            self.links.insert((a.to_string(), b.to_string()));
        }
        let forbund = envelope.event.forbund.as_str();
        let position = match self.positions.get_mut(forbund) {
            Some(p) => p,
            None => self.positions.entry(forbund.to_string()).or_default(),
        };
        position.last_seq = envelope.seq;
        position.events += 1;
        let key = &scoped_key(&envelope.event.forbund, envelope.event.idempotency_key.as_deref()?);
        let earlier = self.idempotency.get(key).map(|(seq, _)| *seq);
        if earlier.is_none() {
            self.idempotency.insert(key.to_string(), (envelope.seq, content_digest(&envelope.event)));
        }
        earlier
    }

    /// The pairs of förbund one event touched together (see the field).
    pub fn links(&self) -> &BTreeSet<(String, String)> {
        &self.links
    }

    /// Whether the indexes can stand for a log whose head is `seq`: every position and key
    /// points at or before it, and the positions count `seq` events in all. A cheap check that
    /// a checkpoint's parts belong together.
    fn consistent_with(&self, seq: u64) -> bool {
        let events: u64 = self.positions.values().map(|p| p.events).sum();
        events == seq
            && self.positions.values().all(|p| p.last_seq <= seq && p.events <= seq)
            && self.idempotency.values().all(|(s, _)| *s <= seq)
    }
}

/// An idempotency key as the index holds it: scoped by the förbund of the event, so that two
/// förbund never share a key, and a key taken in one förbund's books says nothing of another's.
pub fn scoped_key(forbund: &finsam_domain::Slug, key: &str) -> String {
    format!("{forbund} {key}")
}

/// The files of the derived state and the key they are sealed with. `key` is `None` when this
/// user has no key: then nothing is read or written.
pub struct Derived {
    dir: PathBuf,
    key: Option<&'static Key>,
    /// What the vouchers file holds (as of the checkpoint loaded or last saved).
    saved: SavedVouchers,
}

/// The largest derived file finsam reads (a checkpoint of tens of millions of events).
const DERIVED_BYTES_MAX: u64 = 8 << 30;

/// Opens a file for reading without following a symbolic link, if it is a regular file of at
/// most `limit` bytes.
pub(crate) fn open_regular(path: &Path, limit: u64) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} bytes, more than the limit of {limit}", meta.len()),
        ));
    }
    Ok(file)
}

fn read_all(path: &Path) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    open_regular(path, DERIVED_BYTES_MAX).ok()?.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

const CHECKPOINT_FILE: &str = "checkpoint.json";

impl Derived {
    pub fn new(dir: PathBuf, key: Option<&'static Key>) -> Derived {
        Derived { dir, key, saved: SavedVouchers::default() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The checkpoint, with its vouchers, if it carries this key's seal and is whole, and the
    /// vouchers file it stands on is whole. Whether it stands for the log is the caller's to
    /// check (`seq`, `hash`, `log_len`).
    pub fn load_checkpoint(&mut self) -> Option<Checkpoint> {
        let key = self.key?;
        let bytes = read_all(&self.dir.join(CHECKPOINT_FILE))?;
        let body = unseal(key, &bytes)?;
        let parts: CheckpointParts<'_> = serde_json::from_slice(body).ok()?;
        if parts.version != CHECKPOINT_VERSION {
            return None;
        }
        // The vouchers on another thread, the ledger, the projection's lists and the indexes on
        // this one.
        let path = self.dir.join(VOUCHERS_FILE);
        let (saved, symbols) = (&parts.vouchers, parts.symbols);
        let (vouchers, rest) = std::thread::scope(|scope| {
            let vouchers = scope.spawn(move || Projection::read_vouchers(read_vouchers(&path, saved)?, symbols).ok());
            let rest = || -> Option<(Ledger, Projection, Index)> {
                let ledger = serde_json::from_str(parts.ledger.get()).ok()?;
                let projection = serde_json::from_str(parts.projection.get()).ok()?;
                Some((ledger, projection, serde_json::from_str(parts.index.get()).ok()?))
            };
            let rest = rest();
            (vouchers.join().expect("reading the vouchers does not panic"), rest)
        });
        let ((ledger, projection, index), vouchers) = (rest?, vouchers?);
        let seq = parts.seq;
        if ledger.head() != seq || projection.head != seq || !index.consistent_with(seq) {
            return None;
        }
        if vouchers.len() != parts.vouchers.count {
            return None;
        }
        let projection = projection.with_vouchers(vouchers);
        self.saved = parts.vouchers;
        Some(Checkpoint { seq, hash: parts.hash, log_len: parts.log_len, ledger, projection, index })
    }

    /// Forgets the files (after a rebuild starts from nothing): the next save writes the
    /// vouchers file from its start.
    pub fn forget(&mut self) {
        self.saved = SavedVouchers::default();
    }

    /// Saves the checkpoint, its vouchers and the totals for `head`. Each file is written whole
    /// or not at all (a failure leaves the previous one, and no temporary file, behind).
    pub fn save(
        &mut self,
        head: &Head,
        log_len: u64,
        ledger: &Ledger,
        projection: &Projection,
        index: &Index,
    ) -> std::io::Result<()> {
        let Some(key) = self.key else {
            return Ok(());
        };
        // The totals (bound to the head on their own) on another thread; the vouchers, then the
        // checkpoint that names them, on this one.
        let (checkpoint, totals) = std::thread::scope(|scope| {
            let totals = scope.spawn(|| write_totals(&self.dir, key, head, log_len, projection));
            let checkpoint = (|| {
                let mut saved = self.saved.clone();
                append_vouchers(&self.dir.join(VOUCHERS_FILE), &mut saved, projection.voucher_book())?;
                self.saved = saved;
                let checkpoint = CheckpointRef {
                    version: CHECKPOINT_VERSION,
                    seq: head.seq,
                    hash: &head.hash,
                    log_len,
                    ledger,
                    projection,
                    index,
                    vouchers: &self.saved,
                    symbols: projection.voucher_book().symbols(),
                };
                write_sealed(&self.dir.join(CHECKPOINT_FILE), key, &checkpoint)
            })();
            (checkpoint, totals.join().expect("writing the totals does not panic"))
        });
        checkpoint.and(totals)?;
        let runs = RunsRef {
            version: CHECKPOINT_VERSION,
            seq: head.seq,
            hash: &head.hash,
            log_len,
            runs: ledger.runs(),
            links: &index.links,
            checkpoint_len: log_len,
        };
        write_runs(&self.dir.join(RUNS_FILE), key, &runs)
    }

    /// What a writer of some förbund's books saves (see `Store::open_for`): the starts of the
    /// lines it appended, added to `lines.bin` when that file ends where `runs` does; the
    /// totals of the förbund in its `projection` (`update_totals`); then `runs.json` for the
    /// new head, with the runs and links of the events appended. The checkpoint and the
    /// vouchers stay as they were: the next whole open replays what they lack. Returns the
    /// runs now saved.
    pub fn save_runs(
        &mut self,
        runs: &ForbundRuns,
        head: &Head,
        log_len: u64,
        appended: &[(u64, Slug, u64)],
        links: &BTreeSet<(String, String)>,
        projection: &Projection,
    ) -> std::io::Result<ForbundRuns> {
        let Some(key) = self.key else {
            return Err(std::io::Error::other("no key to seal the derived state with"));
        };
        crate::lines::append(&self.dir, runs.seq, appended.iter().map(|(_, _, start)| *start))?;
        update_totals(&self.dir, key, runs, head, log_len, projection)?;
        let mut next = ForbundRuns {
            version: CHECKPOINT_VERSION,
            seq: head.seq,
            hash: head.hash.clone(),
            log_len,
            runs: runs.runs.clone(),
            links: runs.links.union(links).cloned().collect(),
            checkpoint_len: runs.checkpoint_len,
        };
        for (seq, forbund, _) in appended {
            finsam_domain::ledger::extend_runs(&mut next.runs, *seq, forbund);
        }
        let saved = RunsRef {
            version: next.version,
            seq: next.seq,
            hash: &next.hash,
            log_len,
            runs: &next.runs,
            links: &next.links,
            checkpoint_len: next.checkpoint_len,
        };
        write_runs(&self.dir.join(RUNS_FILE), key, &saved)?;
        Ok(next)
    }

    /// Whose books each seq is in and which förbund are linked, if the file carries this key's
    /// seal and is of this version (whether it stands for the log is the caller's to check).
    pub fn read_runs(&self) -> Option<ForbundRuns> {
        let bytes = read_all(&self.dir.join(RUNS_FILE))?;
        let runs: ForbundRuns = serde_json::from_slice(unseal(self.key?, &bytes)?).ok()?;
        (runs.version == CHECKPOINT_VERSION).then_some(runs)
    }

    /// The totals, with the days of `only` (or of every förbund), if they carry this key's
    /// seal and are whole and of this version.
    pub fn read_totals(&self, only: Option<&Slug>) -> Option<TotalsFile> {
        read_totals(&self.dir, self.key?, only)
    }
}

/// Writes `value` as a sealed file, whole or not at all: its JSON (the body), a newline, the
/// trailer line `hmac-sha256 <hex> <length of the body>`, a newline. The seal is taken as the
/// body is written, so that the body (40 MB of checkpoint at a million events) is never held
/// in memory.
fn write_sealed<T: Serialize + ?Sized>(path: &Path, key: &Key, value: &T) -> std::io::Result<()> {
    replace_file(path, |out| {
        let sealing = Sealing { out: &mut *out, sealer: key.sealer(), len: 0 };
        let mut body = BufWriter::with_capacity(1 << 16, sealing);
        serde_json::to_writer(&mut body, value)?;
        let Sealing { sealer, len, .. } = body.into_inner().map_err(|e| e.into_error())?;
        writeln!(out, "\nhmac-sha256 {} {len}", sealer.finish())
    })
}

/// A writer that seals what passes through it (`write_sealed`).
struct Sealing<W> {
    out: W,
    sealer: crate::key::Sealer,
    len: u64,
}

impl<W: Write> Write for Sealing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.sealer.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The body of a file written as body, newline, seal line, newline — if the seal is right.
fn unseal<'a>(key: &Key, bytes: &'a [u8]) -> Option<&'a [u8]> {
    let body_end = bytes[..bytes.len().checked_sub(1)?].iter().rposition(|b| *b == b'\n')?;
    let trailer = std::str::from_utf8(&bytes[body_end + 1..]).ok()?.trim_end_matches('\n');
    let body = &bytes[..body_end];
    check_seal(key, body, trailer).then_some(body)
}

fn check_seal(key: &Key, body: &[u8], trailer: &str) -> bool {
    let mut parts = trailer.split(' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("hmac-sha256"), Some(seal), Some(len), None) => len == body.len().to_string() && key.verify(body, seal),
        _ => false,
    }
}

/// Whose books each seq of the log is in, and which förbund share books, stored beside the
/// checkpoint and for the same seq: a report of one förbund reads these few kilobytes and then
/// only the lines of that förbund and of those linked to it, never the checkpoint.
pub(crate) const RUNS_FILE: &str = "runs.json";

/// What `runs.json` holds (sealed like the checkpoint; see `read_runs`).
#[derive(Serialize, Deserialize)]
pub struct ForbundRuns {
    version: u32,
    pub seq: u64,
    pub hash: String,
    pub log_len: u64,
    /// `(first seq of the run, förbund)`, in seq order (`Ledger::runs`).
    pub runs: Vec<(u64, Slug)>,
    /// The pairs of förbund one event touched together (`Index`'s links).
    pub links: BTreeSet<(String, String)>,
    /// The log's length at the last whole checkpoint: a writer of one förbund's books
    /// updates only this file and `lines.bin`, so the checkpoint is as far behind as the log
    /// is longer than this (see `Store::open_for`).
    pub checkpoint_len: u64,
}

impl ForbundRuns {
    /// Whether some seq is in the books of `forbund`.
    pub fn holds(&self, forbund: &Slug) -> bool {
        self.runs.iter().any(|(_, f)| f == forbund)
    }

    /// The förbund whose books hold event `seq`.
    pub fn forbund_of(&self, seq: u64) -> Option<&Slug> {
        if seq == 0 || seq > self.seq {
            return None;
        }
        let run = self.runs.partition_point(|(start, _)| *start <= seq);
        run.checked_sub(1).map(|r| &self.runs[r].1)
    }

    /// These förbund and every förbund linked to one of them, directly or through others.
    pub fn linked_to_all(&self, mut found: BTreeSet<String>) -> BTreeSet<String> {
        let mut grew = true;
        while grew {
            grew = false;
            for (a, b) in &self.links {
                if found.contains(a) != found.contains(b) {
                    found.insert(a.clone());
                    found.insert(b.clone());
                    grew = true;
                }
            }
        }
        found
    }

    /// The seqs of those förbund's books, as inclusive ranges in seq order (adjacent runs
    /// joined).
    pub fn ranges_of(&self, forbund: &BTreeSet<String>) -> Vec<(u64, u64)> {
        finsam_domain::ledger::run_ranges(&self.runs, self.seq, |f| forbund.contains(f.as_str()))
    }
}

#[derive(Serialize)]
struct RunsRef<'a> {
    version: u32,
    seq: u64,
    hash: &'a str,
    log_len: u64,
    runs: &'a [(u64, Slug)],
    links: &'a BTreeSet<(String, String)>,
    checkpoint_len: u64,
}

fn write_runs(path: &Path, key: &Key, runs: &RunsRef<'_>) -> std::io::Result<()> {
    write_sealed(path, key, runs)
}

/// The totals per förbund and day, stored beside the checkpoint and for the same seq, so that
/// the balances as known at the head are read without loading the checkpoint. One file per
/// förbund, so that a report on one förbund reads only its own, and a writer of one förbund's
/// books rewrites only the files of those books:
///
/// ```text
/// totals.json            {"version":…,"seq":…,"hash":…,"log_len":…,"forbund":{…},"sections":[[id,len,sha256],…]}
///                        hmac-sha256 <seal of the line above> <its length>
/// totals/<förbund>.json  that förbund's days as JSON
/// ```
/// A header whose seal, or a förbund's file whose length or digest, does not match is not
/// used (the report falls back to reading the books).
pub const TOTALS_FILE: &str = "totals.json";

/// The folder of the förbund's totals files, beside `totals.json`.
pub const TOTALS_DIR: &str = "totals";

#[derive(Serialize, Deserialize)]
struct TotalsHeader<F> {
    version: u32,
    seq: u64,
    hash: String,
    log_len: u64,
    forbund: F,
    /// `(förbund, length of its file, SHA-256 of its file)`, in förbund order.
    sections: Vec<(Slug, u64, String)>,
}

/// What was read of the totals file: the view (with the days of the förbund asked for) and
/// the point of the log it stands for.
pub struct TotalsFile {
    pub seq: u64,
    pub hash: String,
    pub log_len: u64,
    pub view: TotalsView,
}

/// Saves the totals of every förbund of the projection, then the sealed header naming them.
pub(crate) fn write_totals(
    derived: &Path,
    key: &Key,
    head: &Head,
    log_len: u64,
    projection: &Projection,
) -> std::io::Result<()> {
    let folder = totals_folder(derived)?;
    let sections =
        projection.totals().iter().map(|(f, days)| write_section(&folder, f, days)).collect::<Result<_, _>>()?;
    let header = TotalsHeader {
        version: CHECKPOINT_VERSION,
        seq: head.seq,
        hash: head.hash.clone(),
        log_len,
        forbund: &projection.forbund,
        sections,
    };
    write_header(derived, key, &header)
}

/// After a writer of some förbund's books appended to the log: the totals of the förbund in its
/// projection saved anew, the others kept, and the header sealed for the new head. Only when
/// the totals saved stand for the point `before` the writer started from (else they are left
/// as they are, behind the log, and the next whole save replaces them). True when saved.
pub(crate) fn update_totals(
    derived: &Path,
    key: &Key,
    before: &ForbundRuns,
    head: &Head,
    log_len: u64,
    projection: &Projection,
) -> std::io::Result<bool> {
    let Some(old) = read_header(derived, key) else {
        return Ok(false);
    };
    if (old.seq, old.hash.as_str(), old.log_len) != (before.seq, before.hash.as_str(), before.log_len) {
        return Ok(false);
    }
    let folder = totals_folder(derived)?;
    let mut forbund = old.forbund;
    forbund.extend(projection.forbund.iter().map(|(f, info)| (f.clone(), info.clone())));
    let mut sections: BTreeMap<Slug, (u64, String)> =
        old.sections.into_iter().map(|(f, len, digest)| (f, (len, digest))).collect();
    for (f, days) in projection.totals() {
        let (f, len, digest) = write_section(&folder, f, days)?;
        sections.insert(f, (len, digest));
    }
    let sections = sections.into_iter().map(|(f, (len, digest))| (f, len, digest)).collect();
    let header = TotalsHeader {
        version: CHECKPOINT_VERSION,
        seq: head.seq,
        hash: head.hash.clone(),
        log_len,
        forbund: &forbund,
        sections,
    };
    write_header(derived, key, &header)?;
    Ok(true)
}

/// The folder of the förbund's totals files, made when missing; anything else by that name (a
/// file, a symbolic link) is removed first, so that no save writes outside `derived/`.
fn totals_folder(derived: &Path) -> std::io::Result<PathBuf> {
    let folder = derived.join(TOTALS_DIR);
    match std::fs::symlink_metadata(&folder) {
        Ok(m) if m.is_dir() => return Ok(folder),
        Ok(_) => std::fs::remove_file(&folder)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(&folder)?;
    Ok(folder)
}

/// Saves one förbund's days; returns what the header says of them.
fn write_section(
    folder: &Path,
    f: &Slug,
    days: &BTreeMap<chrono::NaiveDate, finsam_projections::totals::DayTotal>,
) -> std::io::Result<(Slug, u64, String)> {
    let body = serde_json::to_vec(days)?;
    replace_file(&folder.join(format!("{f}.json")), |out| out.write_all(&body))?;
    Ok((f.clone(), body.len() as u64, sha256_hex(&body)))
}

fn write_header(derived: &Path, key: &Key, header: &TotalsHeader<&BTreeMap<Slug, ForbundInfo>>) -> std::io::Result<()> {
    write_sealed(&derived.join(TOTALS_FILE), key, header)
}

/// The totals header, if it carries this key's seal and is of this version.
fn read_header(derived: &Path, key: &Key) -> Option<TotalsHeader<BTreeMap<Slug, ForbundInfo>>> {
    let bytes = read_all(&derived.join(TOTALS_FILE))?;
    let header: TotalsHeader<BTreeMap<Slug, ForbundInfo>> = serde_json::from_slice(unseal(key, &bytes)?).ok()?;
    (header.version == CHECKPOINT_VERSION).then_some(header)
}

/// Writes a file whole or not at all: into a new temporary file beside it (a name of its own,
/// created exclusively and never through a symbolic link), synced, then renamed over it. On any
/// failure the temporary file is removed and the old file stays as it was.
pub(crate) fn replace_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("derived");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let tmp = path.with_file_name(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let result = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        write(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The totals in `derived/`, with the days of `only` (or of every förbund), if what is read is
/// sealed with `key` (the header; each förbund's file by its length and digest there), whole
/// and of this version.
fn read_totals(derived: &Path, key: &Key, only: Option<&Slug>) -> Option<TotalsFile> {
    let header = read_header(derived, key)?;
    let folder = derived.join(TOTALS_DIR);
    let mut totals = Totals::new();
    for (f, len, digest) in &header.sections {
        if only.is_some_and(|o| o != f) {
            continue;
        }
        let mut section = Vec::with_capacity(usize::try_from(*len).ok()?);
        open_regular(&folder.join(format!("{f}.json")), *len).ok()?.read_to_end(&mut section).ok()?;
        if section.len() as u64 != *len || sha256_hex(&section) != *digest {
            return None;
        }
        totals.insert(f.clone(), serde_json::from_slice(&section).ok()?);
    }
    let view = TotalsView { head: header.seq, forbund: header.forbund, totals };
    Some(TotalsFile { seq: header.seq, hash: header.hash, log_len: header.log_len, view })
}

/// Appends the bytes of the vouchers booked since the last save (cutting whatever a save that
/// did not finish left after them), in chunks, synced; `saved` then names them.
fn append_vouchers(path: &Path, saved: &mut SavedVouchers, book: &Book) -> std::io::Result<()> {
    assert!(book.len() >= saved.count, "vouchers are only ever added");
    if book.len() == saved.count {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mut end = saved.end();
    file.set_len(end)?;
    file.seek(std::io::SeekFrom::Start(end))?;
    let mut chunks = Vec::new();
    for chunk in book.bytes_from(saved.count).chunks(CHUNK_BYTES) {
        file.write_all(chunk)?;
        chunks.push(Chunk { offset: end, len: chunk.len() as u64, sha256: sha256_hex(chunk) });
        end += chunk.len() as u64;
    }
    file.sync_data()?;
    saved.chunks.extend(chunks);
    saved.count = book.len();
    Ok(())
}

/// The bytes of the vouchers a checkpoint names, if every chunk is whole (their count is the
/// caller's to check).
fn read_vouchers(path: &Path, saved: &SavedVouchers) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(saved.end()).ok()?);
    if !saved.chunks.is_empty() {
        let mut file = BufReader::with_capacity(1 << 20, open_regular(path, DERIVED_BYTES_MAX).ok()?);
        for chunk in &saved.chunks {
            if chunk.offset != bytes.len() as u64 {
                return None;
            }
            let start = bytes.len();
            bytes.resize(start + usize::try_from(chunk.len).ok()?, 0);
            file.read_exact(&mut bytes[start..]).ok()?;
            if sha256_hex(&bytes[start..]) != chunk.sha256 {
                return None;
            }
        }
    }
    Some(bytes)
}
