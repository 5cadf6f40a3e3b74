//! The store: a directory with the log (`log.jsonl`, the system of record), the writer lock
//! (`LOCK`) and the derived state (`derived/`, a sealed cache of the log).

use crate::envelope::{content_digest, Envelope, Head};
use crate::error::StoreError;
use crate::index::{Derived, ForbundRuns, Index};
use crate::lines::LineStarts;
use crate::log::{scan_file, FileLog, LogBackend, MemoryLog, ScanEnd, SealedBatch};
use finsam_domain::Slug;
use finsam_domain::{Event, Ledger, Rejection, Rule};
use finsam_projections::projection::Recorded as RecordedEvent;
use finsam_projections::totals::TotalsView;
use finsam_projections::Projection;
use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

pub const LOG_FILE: &str = "log.jsonl";
pub const LOCK_FILE: &str = "LOCK";
pub const DERIVED_DIR: &str = "derived";
/// In an instance's folder (`Store::open_mirrored`): the database whose log it copies.
pub const MIRROR_FILE: &str = "mirror-of";
/// The most events one batch may hold; a larger batch is refused whole.
pub use finsam_domain::input::BATCH_EVENTS_MAX;

/// What happened to one input line of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub line: usize,
    pub seq: u64,
    /// True when the line repeated an idempotency key with identical content: nothing new was
    /// written and `seq` is the original's.
    pub duplicate: bool,
}

/// One batch of a group commit: the events, who records them, the head it expects, and — for
/// a batch that comes through the service — the user whose rights every event is checked
/// against (`None`: recorded locally by someone who holds the store's files).
pub struct GroupRequest<'a> {
    pub batch: &'a [(usize, Event)],
    pub actor: &'a str,
    pub expect_head: Option<u64>,
    /// Per förbund, the version (the seq of its last event; 0 before any) the batch expects its
    /// books to be at: refused if another batch has recorded in them since — optimistic
    /// concurrency per förbund, beside the store-wide `expect_head`.
    pub expect_versions: &'a [(String, u64)],
    pub user: Option<&'a crate::access::User>,
}

/// A batch that passed its checks (and is applied to the ledger it was checked against): what to
/// answer, the events to write, and the idempotency keys they bring.
struct Prepared {
    outcome: Vec<Recorded>,
    fresh: Vec<Event>,
    keys: HashMap<String, (u64, String)>,
}

/// What opening a store for writing found and did.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    pub torn_bytes_cut: u64,
    pub events_replayed: u64,
    pub derived_rebuilt: bool,
    /// What went wrong with derived state on the way (never an error: the log is the record).
    pub warnings: Vec<String>,
}

pub struct Store<B: LogBackend> {
    backend: B,
    books: Books,
    /// Where the checkpoint is saved; `None` for the twin, or when derived state cannot be kept.
    derived: Option<Derived>,
    log_len: u64,
    /// True when events were recorded since the last checkpoint was saved.
    checkpoint_behind: bool,
    /// For a writer of some förbund's books (`open_for`): the runs it started from and the
    /// lines it appended since, which is all it saves.
    partial: Option<Partial>,
    /// Thrown (by a signal handler) to ask the store to write nothing more: checked before
    /// every append, never during one.
    stop: Option<&'static StopSwitch>,
    /// Held for the life of the store: the exclusive writer lock.
    _lock: Option<WriterLock>,
    /// Set when a group commit's write failed after its batches were taken into the ledger:
    /// the books in memory are ahead of the log, so the store writes nothing more (reopen it).
    poisoned: Option<String>,
}

/// A writer's books in memory: the ledger, the projection, the index and, when known for
/// every line, where each line of the log starts (`lines.bin`, saved with the checkpoint).
struct Books {
    ledger: Ledger,
    projection: Projection,
    index: Index,
    line_starts: Option<LineStarts>,
}

/// Set by a process that ends when its command does (the CLI), never by the service: then a
/// store or a view that is dropped does not free its books one allocation at a time (80 ms at
/// a million events); the operating system takes the memory back whole when the process exits.
static ENDS_WITH_COMMAND: AtomicBool = AtomicBool::new(false);

/// Says that this process ends when its command does (see `ENDS_WITH_COMMAND`).
pub fn process_ends_with_command() {
    ENDS_WITH_COMMAND.store(true, Ordering::Relaxed);
}

/// Part of the books of a store or a view that is being dropped: freed, or left to the
/// process's exit.
fn let_go<T: Default>(part: &mut T) {
    if ENDS_WITH_COMMAND.load(Ordering::Relaxed) {
        std::mem::forget(std::mem::take(part));
    }
}

impl Drop for Books {
    fn drop(&mut self) {
        let_go(&mut self.ledger);
        let_go(&mut self.projection);
        let_go(&mut self.index);
        let_go(&mut self.line_starts);
    }
}

impl Drop for View {
    fn drop(&mut self) {
        let_go(&mut self.ledger);
        let_go(&mut self.projection);
        let_go(&mut self.index);
    }
}

/// The open, locked `LOCK` file. It names the process that holds it while it is held; when the
/// writer ends it is emptied, so that a `LOCK` left in a store never names a process long gone
/// (the lock itself goes with the file descriptor, whatever happens).
struct WriterLock(File);

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = self.0.set_len(0);
    }
}

fn fsync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, "sync the directory", e))
}

/// Creates a new, empty store in `dir` (creating the directory if needed).
pub fn init(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, "create the directory", e))?;
    let log = dir.join(LOG_FILE);
    let file = match OpenOptions::new().write(true).create_new(true).open(&log) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(StoreError::AlreadyAStore { dir: dir.to_path_buf() })
        }
        Err(e) => return Err(StoreError::io(&log, "create", e)),
    };
    file.sync_all().map_err(|e| StoreError::io(&log, "sync", e))?;
    fsync_dir(dir)?;
    Ok(())
}

fn log_path(dir: &Path) -> Result<PathBuf, StoreError> {
    let log = dir.join(LOG_FILE);
    match std::fs::symlink_metadata(&log) {
        Ok(m) if m.file_type().is_symlink() => Err(StoreError::Refused(format!(
            "{} is a symbolic link; a store's log must be a regular file in the store's own folder",
            log.display()
        ))),
        Ok(m) if m.is_file() => Ok(log),
        _ => Err(StoreError::NotAStore { dir: dir.to_path_buf() }),
    }
}

/// Reads the envelopes with `from <= seq <= to` without taking the writer lock: a reader sees
/// every complete batch and ignores an unfinished one. Returns the head of the readable log.
pub fn read_log(
    dir: &Path,
    from: u64,
    to: u64,
    each: &mut dyn FnMut(Envelope) -> Result<(), StoreError>,
) -> Result<Head, StoreError> {
    let log = log_path(dir)?;
    let end = scan_file(&log, 0, Head::genesis(), 0, &mut |e, _| {
        if e.seq >= from && e.seq <= to {
            each(e.clone())?;
        }
        Ok(())
    })?;
    Ok(end.head)
}

/// The envelopes with these seqs (each of a complete batch), in the order given: read where
/// `derived/lines.bin` says they start, each line checked as it is read, or, when that hint is
/// missing or wrong, from the whole log.
pub fn read_events(
    dir: &Path,
    seqs: &[u64],
    each: &mut dyn FnMut(Envelope) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let log = log_path(dir)?;
    if let Some(envelopes) = crate::lines::by_offsets(&log, &dir.join(DERIVED_DIR), seqs) {
        return envelopes.into_iter().try_for_each(each);
    }
    let (Some(first), Some(last)) = (seqs.iter().min(), seqs.iter().max()) else {
        return Ok(());
    };
    let wanted: std::collections::HashSet<u64> = seqs.iter().copied().collect();
    let mut found: HashMap<u64, Envelope> = HashMap::with_capacity(seqs.len());
    read_log(dir, *first, *last, &mut |e| {
        if wanted.contains(&e.seq) {
            found.insert(e.seq, e);
        }
        Ok(())
    })?;
    seqs.iter().filter_map(|seq| found.get(seq).cloned()).try_for_each(each)
}

/// The envelopes of these inclusive seq ranges (in seq order, each of complete batches), in
/// order: each range read in one piece where `lines.bin` says it starts, or, when the hint does
/// not reach that far or is wrong, line by line as `read_events` reads them.
pub fn read_ranges(
    dir: &Path,
    ranges: &[(u64, u64)],
    each: &mut dyn FnMut(Envelope) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let log = log_path(dir)?;
    if let Some(envelopes) = crate::lines::ranges(&log, &dir.join(DERIVED_DIR), ranges) {
        return envelopes.into_iter().try_for_each(each);
    }
    let seqs: Vec<u64> = ranges.iter().flat_map(|(first, last)| *first..=*last).collect();
    read_events(dir, &seqs, each)
}

fn take_lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => StoreError::Refused(format!(
                "{} is a symbolic link; the writer lock must be a regular file in the store's own folder (remove the link)",
                path.display()
            )),
            _ => StoreError::io(&path, "open the writer lock", e),
        })?;
    if !file.metadata().map_err(|e| StoreError::io(&path, "read", e))?.is_file() {
        return Err(StoreError::Refused(format!("{} is not a regular file; remove it", path.display())));
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder =
                if holder.trim().is_empty() { "another process".to_string() } else { holder.trim().to_string() };
            return Err(StoreError::Locked { dir: dir.to_path_buf(), holder });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(&path, "lock", e)),
    }
    // Who holds it, for the message another writer gets: the process, since when, and its
    // command (no secrets are ever arguments: tokens come from files and the environment).
    let command: Vec<String> = std::env::args().skip(1).collect();
    let note = format!(
        "finsam pid {} since {}: finsam {}",
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        command.join(" ")
    );
    let _ = file.set_len(0).and_then(|_| file.seek(SeekFrom::Start(0))).and_then(|_| file.write_all(note.as_bytes()));
    Ok(file)
}

/// Reads the line that ends at byte `end` of the log.
fn line_ending_at(log: &Path, end: u64) -> Option<Envelope> {
    let mut file = File::open(log).ok()?;
    if end == 0 || file.metadata().ok()?.len() < end {
        return None;
    }
    let start = end.saturating_sub(crate::envelope::LINE_BYTES_MAX as u64 + 1);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = vec![0; (end - start) as usize];
    file.read_exact(&mut buf).ok()?;
    if buf.pop() != Some(b'\n') {
        return None;
    }
    let line_start = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if line_start == 0 && start != 0 {
        return None;
    }
    Envelope::open(&buf[line_start..]).ok()
}

/// The state derived from the log up to its last complete batch.
struct CaughtUp {
    ledger: Ledger,
    projection: Projection,
    index: Index,
    line_starts: Option<LineStarts>,
    end: ScanEnd,
    report: OpenReport,
}

/// Loads the checkpoint — when it carries this user's seal and stands for exactly the log
/// beside it (the line that ends at its `log_len` is its head: same seq, same hash) — and
/// replays the log's tail into the ledger, the projection and the index. The prefix the
/// checkpoint stands for is not read again: the seal says this user's finsam computed the
/// checkpoint from it, and the head binds it to this log. Damage in the middle of the log is
/// `audit verify`'s to find, and the background scrub's of `finsam serve` (`scrub`). A
/// `writer` also keeps where each line starts.
fn catch_up(log: &Path, derived: Option<&mut Derived>, rebuild: bool, writer: bool) -> Result<CaughtUp, StoreError> {
    let mut report = OpenReport { derived_rebuilt: rebuild, ..OpenReport::default() };
    let derived_dir = derived.as_ref().map(|d| d.dir().to_path_buf());
    let checkpoint = match derived {
        Some(d) if !rebuild => d.load_checkpoint(),
        _ => None,
    };
    let checkpoint = checkpoint.filter(|cp| {
        cp.seq == 0 && cp.log_len == 0
            || line_ending_at(log, cp.log_len).is_some_and(|e| e.seq == cp.seq && e.hash == cp.hash)
    });
    let (mut ledger, mut projection, mut index, offset, head) = match checkpoint {
        Some(cp) => (cp.ledger, cp.projection, cp.index, cp.log_len, Head { seq: cp.seq, hash: cp.hash }),
        None => {
            report.derived_rebuilt = true;
            (Ledger::new(), Projection::new(), Index::new(), 0, Head::genesis())
        }
    };
    // A writer's line starts: those saved with the checkpoint (a hint, checked where it is
    // used), then those of the tail as it is read. A reader keeps none: it reads the hint
    // itself when it needs a line.
    let mut line_starts = match (offset, derived_dir) {
        _ if !writer => None,
        (0, _) => Some(LineStarts::default()),
        // A hint that goes on past the checkpoint (a writer of one förbund's books added to
        // it) is cut there: the tail's starts are taken as its lines are read.
        // One that stops short of it (a writer died between saving the checkpoint and the hint,
        // in an earlier version) is made again from the log's line ends.
        (_, Some(d)) => match crate::lines::load(&d).filter(|s| s.len() as u64 >= head.seq) {
            Some(mut s) => {
                s.truncate(head.seq as usize);
                Some(s)
            }
            None => crate::lines::scan(log, offset).filter(|s| s.len() as u64 == head.seq),
        },
        _ => None,
    };
    let mut line_start = offset;
    let mut replayed = 0u64;
    let end = scan_file(log, offset, head.clone(), head.seq, &mut |envelope, after| {
        keep_start(&mut line_starts, line_start);
        line_start = after;
        take_in(&mut ledger, &mut projection, &mut index, envelope, log, after)?;
        replayed += 1;
        Ok(())
    })?;
    assert_eq!(ledger.head(), end.head.seq, "the ledger has applied exactly the log's complete batches");
    assert_eq!(projection.head, end.head.seq, "the projection has applied exactly the log's complete batches");
    report.events_replayed = replayed;
    report.torn_bytes_cut = end.torn_bytes;
    Ok(CaughtUp { ledger, projection, index, line_starts, end, report })
}

/// Adds a line's start to the starts kept, or lets them go when it does not follow the last one
/// (see `LineStarts::push`; a hint is then made again from the log by the next whole open).
fn keep_start(starts: &mut Option<LineStarts>, start: u64) {
    if starts.as_mut().is_some_and(|s| !s.push(start)) {
        *starts = None;
    }
}

/// Takes one envelope of the log (`log`, ending at byte `after`) into the books: checked
/// against the ledger's rules (a recorded event that breaks one is damage), then applied.
fn take_in(
    ledger: &mut Ledger,
    projection: &mut Projection,
    index: &mut Index,
    envelope: &Envelope,
    log: &Path,
    after: u64,
) -> Result<(), StoreError> {
    ledger.check(&envelope.event).map_err(|r| StoreError::Damaged {
        path: log.to_path_buf(),
        line: envelope.seq,
        offset: after,
        problem: format!("the recorded event breaks a ledger rule: {r}"),
    })?;
    ledger.apply(&envelope.event);
    projection.apply(recorded(envelope));
    index.add(envelope, ledger);
    Ok(())
}

/// Opens `derived/` for a writer. Derived state can never stop the store: a `derived` that is
/// not a folder (a file, a symbolic link, anything unreadable) is moved aside and a new one
/// made; if even that fails, or this user has no key, the writer goes on with the log alone
/// and says so.
fn open_derived_for_writing(dir: &Path, rebuild: bool, report: &mut OpenReport) -> Option<Derived> {
    let key = match crate::key::machine_key() {
        Ok(k) => k,
        Err(why) => {
            report.warnings.push(format!("derived state is not kept: {why}; every command replays the log"));
            return None;
        }
    };
    let derived = dir.join(DERIVED_DIR);
    let usable = |p: &Path| std::fs::symlink_metadata(p).map(|m| m.is_dir());
    let fresh = match usable(&derived) {
        Ok(true) if rebuild => {
            // Start from nothing.
            std::fs::remove_dir_all(&derived).map_err(|e| e.to_string()).and_then(|_| make_dir(&derived))
        }
        Ok(true) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => make_dir(&derived),
        _ => {
            let aside = dir.join(format!("{DERIVED_DIR}.damaged-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ")));
            report.warnings.push(format!(
                "{} is not a folder of derived state: moved aside to {} and rebuilt from the log",
                derived.display(),
                aside.display()
            ));
            std::fs::rename(&derived, &aside).map_err(|e| e.to_string()).and_then(|_| make_dir(&derived))
        }
    };
    match fresh {
        Ok(()) => Some(Derived::new(derived, Some(key))),
        Err(e) => {
            report.warnings.push(format!(
                "the derived state in {} cannot be used ({e}): going on from the log alone",
                derived.display()
            ));
            None
        }
    }
}

fn make_dir(path: &Path) -> Result<(), String> {
    std::fs::create_dir(path).map_err(|e| e.to_string())
}

fn recorded(e: &Envelope) -> RecordedEvent<'_> {
    RecordedEvent { seq: e.seq, recorded_at: &e.recorded_at, recorded_by: &e.recorded_by, event: &e.event }
}

/// What a report needs, kept by a server for its readers: the head and the projection at it.
/// A server keeps a few and brings each up to date with the envelopes made durable since
/// (`advance`), so that readers never wait for a write and never see what is not yet durable.
#[derive(Clone)]
pub struct Snapshot {
    pub head: Head,
    pub projection: Projection,
    /// Whose books each seq up to the head is in (`Ledger::runs`): a report of one förbund
    /// reads just those lines.
    pub runs: Vec<(u64, finsam_domain::Slug)>,
}

impl Snapshot {
    pub fn of<B: LogBackend>(store: &Store<B>) -> Snapshot {
        Snapshot {
            head: store.head().clone(),
            projection: store.projection().clone(),
            runs: store.ledger().runs().to_vec(),
        }
    }

    /// Takes the envelopes after its head (those at or before it are skipped), in order.
    pub fn advance<'a>(&mut self, envelopes: impl IntoIterator<Item = &'a Envelope>) {
        for e in envelopes {
            if e.seq == self.head.seq + 1 {
                self.projection.apply(recorded(e));
                finsam_domain::ledger::extend_runs(&mut self.runs, e.seq, &e.event.forbund);
                self.head = Head { seq: e.seq, hash: e.hash.clone() };
            } else {
                assert!(e.seq <= self.head.seq, "a snapshot takes the envelopes in order, without gaps");
            }
        }
    }
}

/// What a reader sees: the log's head and the state derived from it. Reports use this.
pub struct View {
    pub head: Head,
    pub ledger: Ledger,
    pub projection: Projection,
    pub index: Index,
}

/// The derived state as a reader finds it: never created, never written.
fn derived_for_reading(dir: &Path) -> Option<Derived> {
    let key = crate::key::machine_key().ok()?;
    Some(Derived::new(dir.join(DERIVED_DIR), Some(key)))
}

/// Opens the store for reading: the checkpoint in `derived/` (when it is sealed with this
/// user's key and stands for the log) and the log's new tail, replayed in memory. Takes no
/// lock and never writes: a report never stands in a writer's way.
pub fn open_view(dir: &Path) -> Result<View, StoreError> {
    let log = log_path(dir)?;
    let mut derived = derived_for_reading(dir);
    let c = catch_up(&log, derived.as_mut(), false, false)?;
    Ok(View { head: c.end.head, ledger: c.ledger, projection: c.projection, index: c.index })
}

/// The writer lock of a store, taken before its batch is read (`Store::lock`).
pub struct Locked {
    dir: PathBuf,
    lock: WriterLock,
}

/// A writer of some förbund's books (`Store::open_for`): the runs file it started from (then
/// the one it last saved), and the lines it appended since: (seq, förbund, where it starts).
struct Partial {
    runs: ForbundRuns,
    appended: Vec<(u64, Slug, u64)>,
}

/// An instance's copy of a database's log is written only through the database: an event
/// recorded in the folder alone would be in no other instance's books.
fn refuse_instance_copy(dir: &Path) -> Result<(), StoreError> {
    match std::fs::read_to_string(dir.join(MIRROR_FILE)) {
        Ok(database) => Err(StoreError::Refused(format!(
            "{} is an instance's copy of the log in {}: record through the service (finsam serve --database), not in the folder",
            dir.display(),
            database.trim()
        ))),
        Err(_) => Ok(()),
    }
}

/// The largest part of the log's events a writer reads apart (`open_for`); above it, the
/// checkpoint is the cheaper way to the books. Measured: at 102 227 events, books of 12.6 % and
/// 14.7 % of the log open apart and record one event in 75 and 80 ms, whole in 98 and 117 ms;
/// the lines cost about 5 µs each (opened on every core), so the two ways meet near a fifth.
pub const PARTIAL_SHARE_MAX: f64 = 0.2;

/// How far (in bytes of the log) the checkpoint may fall behind before a writer of one
/// förbund's books opens the whole books instead, and so saves them.
pub const PARTIAL_TAIL_MAX: u64 = 16 << 20;

/// The books `batch` touches (see `Store::open_for`), if they can be read apart.
fn books_for(dir: &Path, log: &Path, batch: &[(usize, Event)], share: f64) -> Option<(Books, ForbundRuns, Derived)> {
    let key = crate::key::machine_key().ok()?;
    let derived_dir = dir.join(DERIVED_DIR);
    if !std::fs::symlink_metadata(&derived_dir).ok()?.is_dir() {
        return None;
    }
    let derived = Derived::new(derived_dir, Some(key));
    let needed = |runs: &ForbundRuns| {
        if runs.log_len.checked_sub(runs.checkpoint_len)? > PARTIAL_TAIL_MAX {
            return None;
        }
        let mut needed = BTreeSet::new();
        for (_, event) in batch {
            if matches!(event.kind, finsam_domain::EventKind::ForbundRegistered { .. }) {
                return None;
            }
            for f in event.forbund_named() {
                runs.holds(f).then_some(())?;
                needed.insert(f.to_string());
            }
            let referred: Vec<u64> = match &event.kind {
                finsam_domain::EventKind::EventCorrected { corrects, .. } => vec![*corrects],
                finsam_domain::EventKind::UnderlagAttached { of, .. } => of.clone(),
                _ => Vec::new(),
            };
            for seq in referred {
                needed.insert(runs.forbund_of(seq)?.to_string());
            }
        }
        Some(needed)
    };
    let (runs, envelopes) = lines_apart(log, &derived, share, needed)?;
    let (mut ledger, mut projection, mut index) = (Ledger::new(), Projection::new(), Index::new());
    for e in &envelopes {
        if e.seq != ledger.head() + 1 {
            ledger.skip_to(e.seq);
            projection.skip_to(e.seq);
        }
        ledger.apply(&e.event);
        projection.apply(recorded(e));
        index.add(e, &ledger);
    }
    ledger.of_whole_log(runs.runs.clone(), runs.seq);
    if projection.head < runs.seq {
        projection.skip_to(runs.seq + 1);
    }
    Some((Books { ledger, projection, index, line_starts: None }, runs, derived))
}

/// Whether these seq ranges hold at most `share` of the log's `head` events. Reading lines
/// costs several times what reading the checkpoint does, event for event: worth it only for a
/// small part of the log (a store of one förbund, or of förbund that merged, reads its whole
/// books from the checkpoint).
fn small_part(ranges: &[(u64, u64)], head: u64, share: f64) -> bool {
    let events: u64 = ranges.iter().map(|(first, last)| last - first + 1).sum();
    events as f64 <= head as f64 * share
}

/// Whether the runs file stands for exactly the whole log: its length, and its last line.
fn stands_for_whole_log(log: &Path, runs: &ForbundRuns) -> bool {
    std::fs::metadata(log).is_ok_and(|m| m.len() == runs.log_len)
        && (runs.seq == 0
            || line_ending_at(log, runs.log_len).is_some_and(|e| e.seq == runs.seq && e.hash == runs.hash))
}

/// The books of one förbund, as a report of that förbund reads them (see `open_books_of`).
pub struct BooksOf {
    pub head: Head,
    /// The projection of the förbund asked for and of those linked to it (the whole
    /// projection when `whole`): it shows them exactly as the whole projection does.
    pub projection: Projection,
    /// True when the whole log's books were read (there was no shorter way).
    pub whole: bool,
    /// The envelopes the books were read from, in seq order, each checked as it was read
    /// (empty when `whole`): a report that shows events of these books takes them from here
    /// instead of reading them again.
    pub envelopes: Vec<Envelope>,
}

impl Drop for BooksOf {
    fn drop(&mut self) {
        let_go(&mut self.projection);
        let_go(&mut self.envelopes);
    }
}

impl BooksOf {
    /// The whole view's books (`open_view`), as a report of one förbund takes them when there
    /// is no shorter way.
    pub fn whole(dir: &Path) -> Result<BooksOf, StoreError> {
        let mut view = open_view(dir)?;
        let projection = std::mem::take(&mut view.projection);
        Ok(BooksOf { head: view.head.clone(), projection, whole: true, envelopes: Vec::new() })
    }
}

/// Opens the books a report of one förbund needs: only the lines of that förbund and of the
/// förbund linked to it (a merger, a transfer of equity), found through `runs.json` and
/// `lines.bin` and folded into a projection of their own, so that the cost follows that
/// förbund's history and not the whole log's. `runs.json` is used only when it carries this
/// user's seal and stands for exactly the whole log (its length and last line match); every
/// line read must open and follow the one before it in its run. Otherwise, and for a förbund
/// the books do not have, this is `open_view`. Takes no lock and never writes.
pub fn open_books_of(dir: &Path, forbund: &Slug) -> Result<BooksOf, StoreError> {
    open_books_of_share(dir, forbund, PARTIAL_SHARE_MAX)
}

/// `open_books_of`, with the books apart when they hold at most `share` of the log's events
/// (above `PARTIAL_SHARE_MAX` the checkpoint is the cheaper way; the tests take any share).
pub fn open_books_of_share(dir: &Path, forbund: &Slug, share: f64) -> Result<BooksOf, StoreError> {
    let log = log_path(dir)?;
    let wanted = |runs: &ForbundRuns| runs.holds(forbund).then(|| BTreeSet::from([forbund.to_string()]));
    let apart = derived_for_reading(dir).and_then(|d| lines_apart(&log, &d, share, wanted));
    let Some((runs, envelopes)) = apart else {
        return BooksOf::whole(dir);
    };
    let mut projection = Projection::new();
    for e in &envelopes {
        if e.seq != projection.head + 1 {
            projection.skip_to(e.seq);
        }
        projection.apply(recorded(e));
    }
    if projection.head < runs.seq {
        projection.skip_to(runs.seq + 1);
    }
    Ok(BooksOf { head: Head { seq: runs.seq, hash: runs.hash }, projection, whole: false, envelopes })
}

/// The lines of some förbund's books, read apart (`open_for`, `open_books_of`): `runs.json`,
/// when it is sealed and stands for the whole log; the förbund `wanted` names from it, with
/// every förbund linked to them; their lines, when they are at most `share` of the log's, read
/// where `lines.bin` says and each checked (`lines::ranges`). `None` at the first doubt.
fn lines_apart(
    log: &Path,
    derived: &Derived,
    share: f64,
    wanted: impl FnOnce(&ForbundRuns) -> Option<BTreeSet<String>>,
) -> Option<(ForbundRuns, Vec<Envelope>)> {
    let runs = derived.read_runs()?;
    if !stands_for_whole_log(log, &runs) {
        return None;
    }
    let ranges = runs.ranges_of(&runs.linked_to_all(wanted(&runs)?));
    if !small_part(&ranges, runs.seq, share) {
        return None;
    }
    let envelopes = crate::lines::ranges(log, derived.dir(), &ranges)?;
    Some((runs, envelopes))
}

/// The totals behind the balances, as known at the log's head, read from `derived/` alone:
/// when the totals there carry this user's seal and stand for exactly the whole log (its
/// length and last line match; nothing newer, no torn tail). Otherwise `None`, and the caller
/// opens the whole view. Reads no lock and writes nothing: a report of the balances loads a
/// few megabytes, not the checkpoint.
pub fn open_totals(dir: &Path, only: Option<&Slug>) -> Result<Option<(Head, TotalsView)>, StoreError> {
    let log = log_path(dir)?;
    let Some(t) = derived_for_reading(dir).and_then(|d| d.read_totals(only)) else {
        return Ok(None);
    };
    let len = std::fs::metadata(&log).map_err(|e| StoreError::io(&log, "read the length of", e))?.len();
    if len != t.log_len {
        return Ok(None);
    }
    Ok(match line_ending_at(&log, t.log_len) {
        Some(e) if e.seq == t.seq && e.hash == t.hash && t.view.head == t.seq => {
            Some((Head { seq: t.seq, hash: t.hash }, t.view))
        }
        _ => None,
    })
}

impl Store<FileLog> {
    /// Opens the store in `dir` as its one writer: takes the lock, cuts a torn tail, and
    /// catches the derived state up with the log (from the checkpoint, or from the start).
    pub fn open(dir: &Path) -> Result<(Store<FileLog>, OpenReport), StoreError> {
        refuse_instance_copy(dir)?;
        Store::open_with(dir, false, None)
    }

    /// Opens the store and rebuilds all derived state from the log.
    pub fn reindex(dir: &Path) -> Result<(Store<FileLog>, OpenReport), StoreError> {
        Store::open_with(dir, true, None)
    }

    /// Opens the store to record `batch` with only the books it touches: the lines of the
    /// förbund its events name or refer to, and of those linked to them, read through
    /// `runs.json` and `lines.bin` and folded into a ledger and a projection of their own
    /// (`Ledger::of_whole_log`), so that opening costs what those förbund's history costs, not
    /// the whole log's. Such a writer checks and records exactly as one with the whole books
    /// (a property test holds this), and saves only `runs.json` and `lines.bin`: the checkpoint
    /// falls behind by what it records, and the next whole open replays that. The whole books
    /// are opened instead (`open`) when the runs file is not sealed or does not stand for the
    /// whole log, when the checkpoint is more than `PARTIAL_TAIL_MAX` bytes behind (that open
    /// saves it), when an event registers a förbund, names one the books do not have or refers
    /// to an event the log does not have, and when a line read is not the one expected.
    pub fn open_for(dir: &Path, batch: &[(usize, Event)]) -> Result<(Store<FileLog>, OpenReport), StoreError> {
        Store::open_locked_for(Store::lock(dir)?, batch)
    }

    /// Takes the writer lock of the store in `dir`, to open it with `open_locked_for` once
    /// the batch is read (a writer holds the lock while it reads its input, as it always has).
    pub fn lock(dir: &Path) -> Result<Locked, StoreError> {
        refuse_instance_copy(dir)?;
        log_path(dir)?;
        Ok(Locked { dir: dir.to_path_buf(), lock: WriterLock(take_lock(dir)?) })
    }

    /// `open_for`, under a lock already taken.
    pub fn open_locked_for(
        locked: Locked,
        batch: &[(usize, Event)],
    ) -> Result<(Store<FileLog>, OpenReport), StoreError> {
        Store::open_locked_for_share(locked, batch, PARTIAL_SHARE_MAX)
    }

    /// `open_locked_for`, with the books apart when they hold at most `share` of the log's
    /// events (the tests take any share, to try the books apart on small logs).
    fn open_locked_for_share(
        locked: Locked,
        batch: &[(usize, Event)],
        share: f64,
    ) -> Result<(Store<FileLog>, OpenReport), StoreError> {
        let Locked { dir, lock } = locked;
        let dir = dir.as_path();
        let log = log_path(dir)?;
        let Some((books, runs, derived)) = books_for(dir, &log, batch, share) else {
            return Store::open_with(dir, false, Some(lock));
        };
        let end =
            ScanEnd { head: Head { seq: runs.seq, hash: runs.hash.clone() }, valid_len: runs.log_len, torn_bytes: 0 };
        let backend = FileLog::open_for_append(&log, &end)?;
        let store = Store {
            backend,
            books,
            derived: Some(derived),
            log_len: runs.log_len,
            checkpoint_behind: false,
            partial: Some(Partial { runs, appended: Vec::new() }),
            stop: None,
            _lock: Some(lock),
            poisoned: None,
        };
        Ok((store, OpenReport::default()))
    }

    /// Whether this writer holds only some förbund's books (see `open_for`).
    pub fn holds_some_books(&self) -> bool {
        self.partial.is_some()
    }

    fn open_with(
        dir: &Path,
        rebuild: bool,
        lock: Option<WriterLock>,
    ) -> Result<(Store<FileLog>, OpenReport), StoreError> {
        let log = log_path(dir)?;
        let lock = match lock {
            Some(lock) => lock,
            None => WriterLock(take_lock(dir)?),
        };
        let mut report = OpenReport::default();
        let mut derived = open_derived_for_writing(dir, rebuild, &mut report);
        let mut c = catch_up(&log, derived.as_mut(), rebuild, true)?;
        c.report.warnings.append(&mut report.warnings);
        if c.report.derived_rebuilt {
            if let Some(d) = derived.as_mut() {
                d.forget();
            }
        }
        let backend = FileLog::open_for_append(&log, &c.end)?;
        let mut store = Store {
            backend,
            books: Books { ledger: c.ledger, projection: c.projection, index: c.index, line_starts: c.line_starts },
            derived,
            log_len: c.end.valid_len,
            checkpoint_behind: c.report.events_replayed > 0 || c.report.derived_rebuilt,
            partial: None,
            stop: None,
            _lock: Some(lock),
            poisoned: None,
        };
        // Saving what was replayed is worth it but never required: the log is the record.
        if let Err(e) = store.save_checkpoint() {
            c.report.warnings.push(e.to_string());
        }
        Ok((store, c.report))
    }
}

impl Store<FileLog> {
    /// What the background scrub walks to: the log's length and head as this writer has
    /// written them (the group last written, durable or about to be).
    pub fn scrub_point(&self) -> crate::scrub::ScrubPoint {
        crate::scrub::ScrubPoint { log_len: self.log_len, head: self.backend.head().clone() }
    }

    /// A second handle on the log file, for the thread that makes `write_group`'s groups durable.
    pub fn log_sync_handle(&self) -> Result<File, StoreError> {
        self.backend.sync_handle()
    }

    /// The events recorded in the last `bytes` bytes of the log (see `FileLog::tail`).
    pub fn recent(&self, bytes: u64) -> Result<Vec<Envelope>, StoreError> {
        self.backend.tail(bytes)
    }

    /// The same store with its log file wrapped, e.g. to inject faults in tests.
    pub fn map_log<G: crate::log::LogFile>(self, wrap: impl FnOnce(File) -> G) -> Store<FileLog<G>> {
        Store {
            backend: self.backend.map_file(wrap),
            books: self.books,
            derived: self.derived,
            log_len: self.log_len,
            checkpoint_behind: self.checkpoint_behind,
            partial: self.partial,
            stop: self.stop,
            _lock: self._lock,
            poisoned: None,
        }
    }
}

impl Store<FileLog> {
    /// Opens the store in `dir` as one instance's copy of the log in the database at `url`
    /// (creating both the first time): the folder's log must be a prefix of the database's,
    /// line for line; what it lacks is taken in. From then on every batch is committed to the
    /// database first (that is its order and its durability), then written to the folder, and
    /// what other instances commit is taken in before each write and by `follow`. The folder
    /// keeps this instance's derived state as any store's, so a restart replays only the tail.
    pub fn open_mirrored(dir: &Path, url: &str) -> Result<(Store<FileLog>, OpenReport), StoreError> {
        if log_path(dir).is_err() {
            init(dir)?;
        }
        let (mut store, mut report) = Store::open_with(dir, false, None)?;
        let mut upstream = crate::pg::PgLog::open(url)?;
        let mirror = dir.join(MIRROR_FILE);
        if !mirror.exists() {
            crate::files::write_new(&mirror, format!("{}\n", upstream.name()).as_bytes())?;
        }
        let local = store.head().clone();
        let committed = upstream.committed_head()?;
        let theirs =
            if local.seq == 0 { Some(crate::GENESIS_HASH.to_string()) } else { upstream.hash_at(local.seq)? };
        if theirs.as_deref() != Some(local.hash.as_str()) {
            return Err(StoreError::Refused(format!(
                "the log in {} (head {local}) is not a copy of the log in {} (head {committed}): an instance's folder holds the database's log and nothing else; give this instance a new, empty folder",
                dir.display(),
                upstream.name()
            )));
        }
        upstream.set_head(local);
        store.backend.mirror(upstream);
        let taken = store.follow()?;
        report.events_replayed += taken.len() as u64;
        Ok((store, report))
    }
}

impl Store<FileLog> {
    /// Opens a mirrored store (`open_mirrored`) again in place: after a commit to the database
    /// that could not be confirmed stopped it. The books are rebuilt from the folder and what
    /// the database committed.
    pub fn reopen_mirrored(&mut self) -> Result<OpenReport, StoreError> {
        let url = self.backend.upstream_url().ok_or_else(|| {
            StoreError::Refused("this store keeps no copy of a database's log: open it again instead".into())
        })?;
        let dir = self.backend.dir();
        // The folder's writer lock goes first: the store opened anew takes it.
        self._lock = None;
        let (fresh, report) = Store::open_mirrored(&dir, &url)?;
        *self = fresh;
        Ok(report)
    }

    /// The database whose log this store's folder mirrors, if it does (without its password).
    pub fn upstream(&self) -> Option<String> {
        self.backend.upstream_url().map(|u| crate::pg::label(&u))
    }

    /// The full address of that database (with its password, if it has one): for a second
    /// connection, never for a message.
    pub fn upstream_url(&self) -> Option<String> {
        self.backend.upstream_url()
    }
}

impl Store<crate::pg::PgLog> {
    /// Opens the log in a PostgreSQL database (creating its tables the first time) as one of
    /// its writers: reads every line, checked as a file's are, into the books. Other instances
    /// may write to the same database meanwhile: each write first takes in what they wrote.
    /// No derived state is kept: the books are built from the log at every start.
    pub fn open_database(url: &str) -> Result<(Store<crate::pg::PgLog>, OpenReport), StoreError> {
        let mut backend = crate::pg::PgLog::open(url)?;
        let mut ledger = Ledger::new();
        let mut projection = Projection::new();
        let mut index = Index::new();
        let label = PathBuf::from(backend.name());
        let mut replayed = 0u64;
        let end = crate::log::scan_reader(&label, crate::pg::PgLines::new(url)?, 0, &mut |envelope, after| {
            take_in(&mut ledger, &mut projection, &mut index, envelope, &label, after)?;
            replayed += 1;
            Ok(())
        })?;
        if end.torn_bytes > 0 {
            return Err(StoreError::Damaged {
                path: label,
                line: end.head.seq + 1,
                offset: end.valid_len,
                problem: "a batch without its last line: a database commits whole batches, so a row was removed".into(),
            });
        }
        backend.set_head(end.head.clone());
        let report = OpenReport {
            events_replayed: replayed,
            derived_rebuilt: true,
            warnings: Vec::new(),
            ..OpenReport::default()
        };
        let store = Store {
            backend,
            books: Books { ledger, projection, index, line_starts: None },
            derived: None,
            log_len: end.valid_len,
            checkpoint_behind: false,
            partial: None,
            stop: None,
            _lock: None,
            poisoned: None,
        };
        Ok((store, report))
    }

    /// The database's address, without its password.
    pub fn database(&self) -> &str {
        self.backend.name()
    }
}

impl Store<MemoryLog> {
    /// The in-memory twin: the same rules and chain, no files.
    pub fn in_memory() -> Store<MemoryLog> {
        Store {
            backend: MemoryLog::new(),
            books: Books {
                ledger: Ledger::new(),
                projection: Projection::new(),
                index: Index::new(),
                line_starts: Some(LineStarts::default()),
            },
            derived: None,
            log_len: 0,
            checkpoint_behind: false,
            partial: None,
            stop: None,
            _lock: None,
            poisoned: None,
        }
    }

    pub fn log_text(&self) -> String {
        self.backend.text()
    }
}

impl<B: LogBackend> Store<B> {
    pub fn head(&self) -> &Head {
        self.backend.head()
    }

    /// Makes every later `record` write nothing once `stop` is thrown (it is checked before
    /// each append; an append under way is always finished, so a signal never leaves a batch
    /// half-acknowledged).
    pub fn stop_when(&mut self, stop: &'static StopSwitch) {
        self.stop = Some(stop);
    }

    pub fn ledger(&self) -> &Ledger {
        &self.books.ledger
    }

    pub fn projection(&self) -> &Projection {
        &self.books.projection
    }

    pub fn index(&self) -> &Index {
        &self.books.index
    }

    pub fn read(
        &self,
        from: u64,
        to: u64,
        each: &mut dyn FnMut(Envelope) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.backend.read(from, to, each)
    }

    /// Records a batch all-or-nothing. `batch` pairs each event with its input line number.
    /// A repeated idempotency key with identical content is a no-op reporting the original
    /// seq; with different content it is a rejection. Returns what each line became.
    pub fn record(
        &mut self,
        batch: &[(usize, Event)],
        actor: &str,
        expect_head: Option<u64>,
    ) -> Result<Vec<Recorded>, StoreError> {
        if let Some(reason) = &self.poisoned {
            return Err(StoreError::Poisoned { reason: reason.clone() });
        }
        self.take_newer(true)?;
        let head = self.backend.head().clone();
        // Checked and applied in place (a copy of the ledger costs as much as the ledger is
        // big): a refused batch leaves it as it was; a batch that passes but cannot be written
        // leaves the books ahead of the log, and the store writes nothing more.
        let mut ledger = std::mem::take(&mut self.books.ledger);
        let request = GroupRequest { batch, actor, expect_head, expect_versions: &[], user: None };
        let prepared = self.prepare(&mut ledger, &head, &HashMap::new(), &HashMap::new(), &request);
        self.books.ledger = ledger;
        let p = match prepared {
            Ok(p) if !p.fresh.is_empty() => p,
            Ok(p) => {
                self.backend.unlock();
                return Ok(p.outcome);
            }
            Err(e) => {
                self.backend.unlock();
                return Err(e);
            }
        };
        let sealed = seal(&head, p.fresh, actor.trim());
        if let Err(e) = self.append_sealed(head.seq, sealed, true) {
            self.poisoned = Some(format!("a batch could not be written ({e}); reopen the store"));
            return Err(e);
        }
        Ok(p.outcome)
    }

    /// Group commit: records several batches, each all or nothing and each checked against the
    /// log as the batches before it leave it, with one write and one fdatasync for all of them.
    /// A refused batch is answered with its refusal and changes nothing for the others. If the
    /// write fails, none is recorded and every batch that passed its checks gets the failure.
    ///
    /// The ledger is not copied for each batch (that would cost as much as the ledger is big):
    /// a batch of one event is checked and applied in place, a larger one on a copy that
    /// replaces the ledger when the whole batch passes.
    pub fn record_group(&mut self, requests: &[GroupRequest<'_>]) -> Vec<Result<Vec<Recorded>, StoreError>> {
        self.group(requests, true, |_| Ok(())).0
    }

    /// Group commit without the fdatasync, for a writer that checks and writes the next group
    /// while the last one is being made durable: as `record_group`, but the caller must call
    /// `sync_data` on `log_sync_handle()` before it acknowledges any of these batches, and must
    /// stop (and acknowledge none) if that fails. Returns the envelopes written, in order, for
    /// the readers' `Snapshot`s, which take them once they are durable.
    pub fn write_group(
        &mut self,
        requests: &[GroupRequest<'_>],
    ) -> (Vec<Result<Vec<Recorded>, StoreError>>, Vec<Envelope>) {
        self.group(requests, false, |_| Ok(()))
    }

    /// As `write_group`, with `before_write` called once every batch is checked and before a
    /// byte of the group is written, with each batch's outcome: the service writes there who
    /// recorded which seqs, so that no event is ever in the log without that line. If it fails,
    /// nothing is written and the store is poisoned (the ledger has taken the group already).
    pub fn write_group_with(
        &mut self,
        requests: &[GroupRequest<'_>],
        before_write: impl FnOnce(&[Result<Vec<Recorded>, StoreError>]) -> Result<(), String>,
    ) -> (Vec<Result<Vec<Recorded>, StoreError>>, Vec<Envelope>) {
        self.group(requests, false, before_write)
    }

    fn group(
        &mut self,
        requests: &[GroupRequest<'_>],
        durable: bool,
        before_write: impl FnOnce(&[Result<Vec<Recorded>, StoreError>]) -> Result<(), String>,
    ) -> (Vec<Result<Vec<Recorded>, StoreError>>, Vec<Envelope>) {
        if let Some(reason) = &self.poisoned {
            let refused = requests.iter().map(|_| Err(StoreError::Poisoned { reason: reason.clone() })).collect();
            return (refused, Vec::new());
        }
        // What other instances committed (a database's log) comes first, for the books and
        // for the readers' snapshots alike.
        let newer = match self.take_newer(true) {
            Ok(newer) => newer,
            Err(e) => {
                let refused = requests.iter().map(|_| Err(e.again())).collect();
                return (refused, Vec::new());
            }
        };
        let start = self.backend.head().clone();
        let mut head = start.clone();
        let mut keys: HashMap<String, (u64, String)> = HashMap::new();
        // The förbund the batches before this one in the group recorded in: their new version.
        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut results = Vec::with_capacity(requests.len());
        let mut sealed: Vec<SealedBatch> = Vec::new();
        let mut ledger = std::mem::take(&mut self.books.ledger);
        for r in requests {
            match self.prepare(&mut ledger, &head, &keys, &versions, r) {
                Ok(p) => {
                    for (e, outcome) in p.fresh.iter().zip(p.outcome.iter().filter(|o| !o.duplicate)) {
                        versions.insert(e.forbund.to_string(), outcome.seq);
                    }
                    if !p.fresh.is_empty() {
                        let batch = seal(&head, p.fresh, r.actor.trim());
                        head = batch.head.clone();
                        keys.extend(p.keys);
                        sealed.push(batch);
                    }
                    results.push(Ok(p.outcome));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        self.books.ledger = ledger;
        if sealed.is_empty() {
            self.backend.unlock();
            return (results, newer);
        }
        let mut all = SealedBatch { envelopes: Vec::new(), text: String::new(), head };
        for b in sealed {
            all.envelopes.extend(b.envelopes);
            all.text.push_str(&b.text);
        }
        let appended = before_write(&results)
            .map_err(|why| StoreError::Refused(format!("the line before the write failed: {why}")))
            .and_then(|()| self.append_sealed(start.seq, all, durable));
        match appended {
            Ok(envelopes) => (results, newer.into_iter().chain(envelopes).collect()),
            Err(e) => {
                let reason = e.to_string();
                self.poisoned = Some(format!("a group commit failed ({reason}); reopen the store"));
                for r in results.iter_mut().filter(|r| r.is_ok()) {
                    *r = Err(e.again());
                }
                (results, newer)
            }
        }
    }

    /// Appends sealed envelopes durably and takes them into the projection and the index (the
    /// ledger has taken them already: checked and applied).
    fn append_sealed(
        &mut self,
        expected: u64,
        sealed: SealedBatch,
        durable: bool,
    ) -> Result<Vec<Envelope>, StoreError> {
        // The last moment to stop: after this the batch is either durable (and acknowledged)
        // or, if the process dies first, an unfinished tail that the next open cuts away.
        if self.stop.is_some_and(|s| !s.begin_append()) {
            return Err(StoreError::Interrupted);
        }
        let appended = match durable {
            true => self.backend.append(expected, &sealed),
            false => self.backend.append_unsynced(expected, &sealed),
        };
        if let Some(s) = self.stop {
            s.end_append();
        }
        appended?;
        let mut start = self.log_len;
        for (line, envelope) in sealed.text.split_inclusive('\n').zip(&sealed.envelopes) {
            keep_start(&mut self.books.line_starts, start);
            if let Some(partial) = self.partial.as_mut() {
                partial.appended.push((envelope.seq, envelope.event.forbund.clone(), start));
            }
            start += line.len() as u64;
        }
        self.log_len += sealed.text.len() as u64;
        for envelope in &sealed.envelopes {
            self.books.projection.apply(recorded(envelope));
            self.books.index.add(envelope, &self.books.ledger);
        }
        self.checkpoint_behind = true;
        Ok(sealed.envelopes)
    }

    /// Takes into the books what other writers appended to the log since this store's head
    /// (a database with several instances; a file has one writer and never has any), holding
    /// them off until the next append or `unlock` when `lock`. Returns what was taken.
    fn take_newer(&mut self, lock: bool) -> Result<Vec<Envelope>, StoreError> {
        let mut newer = Vec::new();
        let looked = match lock {
            true => self.backend.lock_for_append(&mut |e, bytes| newer.push((e, bytes))),
            false => self.backend.newer(&mut |e, bytes| newer.push((e, bytes))),
        };
        for (e, bytes) in &newer {
            keep_start(&mut self.books.line_starts, self.log_len);
            self.log_len += bytes;
            if let Err(r) = self.books.ledger.check(&e.event) {
                self.backend.unlock();
                let reason = format!("event {} in the log breaks a ledger rule: {r}", e.seq);
                self.poisoned = Some(reason.clone());
                return Err(StoreError::Poisoned { reason });
            }
            self.books.ledger.apply(&e.event);
            self.books.projection.apply(recorded(e));
            self.books.index.add(e, &self.books.ledger);
        }
        if !newer.is_empty() {
            self.checkpoint_behind = true;
        }
        looked?;
        Ok(newer.into_iter().map(|(e, _)| e).collect())
    }

    /// Brings the books up to the log's head: what other instances on the same database
    /// recorded since this one last looked (never anything for a file store). Returns the
    /// envelopes taken, for the readers' snapshots.
    pub fn follow(&mut self) -> Result<Vec<Envelope>, StoreError> {
        if let Some(reason) = &self.poisoned {
            return Err(StoreError::Poisoned { reason: reason.clone() });
        }
        self.take_newer(false)
    }

    /// Every check of a batch against `ledger` and the log's `head`, with the idempotency keys
    /// of the index and of the batches before it in a group (`pending`). Changes nothing.
    fn prepare(
        &self,
        ledger: &mut Ledger,
        head: &Head,
        pending: &HashMap<String, (u64, String)>,
        versions: &HashMap<String, u64>,
        request: &GroupRequest<'_>,
    ) -> Result<Prepared, StoreError> {
        let GroupRequest { batch, actor, expect_head, expect_versions, user } = *request;
        if let Some(expected) = expect_head {
            if expected != head.seq {
                return Err(StoreError::HeadMoved { expected, actual: head.seq });
            }
        }
        for (forbund, expected) in expect_versions {
            let actual = versions.get(forbund).copied().unwrap_or_else(|| self.books.index.position(forbund).last_seq);
            if actual != *expected {
                return Err(StoreError::VersionMoved { forbund: forbund.clone(), expected: *expected, actual });
            }
        }
        if batch.is_empty() {
            return Err(Rejection::new(Rule::BatchEmpty, "", "", "the input holds no events").into());
        }
        if batch.len() > BATCH_EVENTS_MAX {
            return Err(Rejection::new(
                Rule::BatchTooLarge,
                "",
                batch.len().to_string(),
                format!("a batch holds at most {BATCH_EVENTS_MAX} events; split the input"),
            )
            .into());
        }
        let actor = actor.trim();
        if let Some((at, c)) = finsam_domain::text::first_forbidden(actor) {
            return Err(Rejection::new(
                Rule::TextControlCharacter,
                "--as",
                format!("\"{}\"", finsam_domain::text::escaped(actor)),
                finsam_domain::text::forbidden_message(at, c),
            )
            .into());
        }
        if actor.is_empty() || actor.chars().count() > 100 {
            return Err(Rejection::new(
                Rule::TextEmpty,
                "--as",
                format!("{actor:?}"),
                "the actor (who records) is 1 to 100 characters",
            )
            .into());
        }
        // One event: checked, then applied in place (a refusal leaves the ledger as it was).
        // More: on a copy, which replaces the ledger when every event passes.
        let mut copy = (batch.len() > 1).then(|| ledger.clone());
        let next: &mut Ledger = match copy.as_mut() {
            Some(c) => c,
            None => ledger,
        };
        let mut outcome = Vec::with_capacity(batch.len());
        let mut fresh: Vec<Event> = Vec::with_capacity(batch.len());
        let mut keys: HashMap<String, (u64, String)> = HashMap::new();
        for (line, event) in batch {
            // Who may: before anything else, so that a refusal tells nothing of another
            // förbund's books (not its keys, not its events).
            if let Some(user) = user {
                authorise(next, user, *line, event)?;
            }
            if let Some(key) = event.idempotency_key.as_deref() {
                let scoped = crate::index::scoped_key(&event.forbund, key);
                let digest = content_digest(event);
                let earlier = keys
                    .get(&scoped)
                    .or_else(|| pending.get(&scoped))
                    .cloned()
                    .or_else(|| self.books.index.idempotency(&scoped).cloned());
                if let Some((seq, earlier_digest)) = earlier {
                    if earlier_digest == digest {
                        outcome.push(Recorded { line: *line, seq, duplicate: true });
                        continue;
                    }
                    return Err(Rejection::new(
                        Rule::IdempotencyKeyReused,
                        "idempotency_key",
                        format!("\"{key}\""),
                        format!("this key was used by event {seq} of {} with different content; a retry must repeat the event exactly, a new event needs a new key", event.forbund),
                    )
                    .at_line(*line)
                    .into());
                }
                keys.insert(scoped, (next.head() + 1, digest));
            }
            next.check(event).map_err(|r| r.at_line(*line))?;
            if let finsam_domain::EventKind::UnderlagAttached { file, .. } = &event.kind {
                if !self.backend.holds_underlag(&file.sha256, file.size) {
                    return Err(Rejection::new(
                        Rule::ValueNotAllowed,
                        "file.sha256",
                        format!("\"{}\"", file.sha256),
                        format!("the store keeps no file of {} bytes with this SHA-256: the file is kept first (finsam attach does both)", file.size),
                    )
                    .at_line(*line)
                    .into());
                }
            }
            let seq = next.apply(event);
            outcome.push(Recorded { line: *line, seq, duplicate: false });
            fresh.push(event.clone());
        }
        if let Some(c) = copy {
            *ledger = c;
        }
        Ok(Prepared { outcome, fresh, keys })
    }

    /// The seq of the event a förbund recorded with an idempotency key, whatever its content:
    /// how an import knows that a bank payment or a voucher of a file was brought in before.
    pub fn recorded_with_key(&self, forbund: &finsam_domain::Slug, key: &str) -> Option<u64> {
        self.books.index.idempotency(&crate::index::scoped_key(forbund, key)).map(|(seq, _)| *seq)
    }

    /// The seq of an event already in the log under this event's idempotency key with the same
    /// content: recording it again is a no-op (and warns about nothing, since it changes nothing).
    pub fn already_recorded(&self, event: &Event) -> Option<u64> {
        let key = event.idempotency_key.as_deref()?;
        let (seq, digest) = self.books.index.idempotency(&crate::index::scoped_key(&event.forbund, key))?;
        (*digest == content_digest(event)).then_some(*seq)
    }

    /// Checks a batch without recording it: the ledger's rules for each event against the books
    /// as they stand (not against the events before it in the batch), and, for a user of the
    /// service, that the user may record in every förbund each event touches.
    pub fn check(&self, batch: &[(usize, Event)], user: Option<&crate::access::User>) -> Result<(), StoreError> {
        for (line, event) in batch {
            if let Some(user) = user {
                authorise(&self.books.ledger, user, *line, event)?;
            }
            self.books.ledger.check(event).map_err(|r| StoreError::Rejected(r.at_line(*line)))?;
        }
        Ok(())
    }

    /// Why the writer records nothing more, if it stopped (see `Poisoned`).
    pub fn stopped(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    /// Stops the writer for good: every write from now on is refused with `reason` (the
    /// background scrub found the log damaged). Reopening the store is the only way back.
    pub fn refuse_writes(&mut self, reason: String) {
        self.poisoned.get_or_insert(reason);
    }

    /// Saves the checkpoint of the derived state, if anything was recorded since the last one.
    /// Call it once a command has recorded what it will record: a command that records many
    /// batches saves one checkpoint, not one per batch. A failure here is never a failure of
    /// the recording (the log is already durable): the caller reports it as a warning, and the
    /// next open replays the tail. True when something was saved.
    pub fn save_checkpoint(&mut self) -> Result<bool, StoreError> {
        if !self.checkpoint_behind {
            return Ok(false);
        }
        let Some(derived) = self.derived.as_mut() else {
            return Ok(false);
        };
        if let Some(partial) = self.partial.as_mut() {
            let saved = derived
                .save_runs(
                    &partial.runs,
                    self.backend.head(),
                    self.log_len,
                    &partial.appended,
                    self.books.index.links(),
                    &self.books.projection,
                )
                .map_err(|e| StoreError::io(derived.dir(), "save the derived state (the log is unaffected) in", e))?;
            partial.runs = saved;
            partial.appended.clear();
            self.checkpoint_behind = false;
            return Ok(true);
        }
        // The line hint first, then the files that name the head: a writer that dies between
        // them leaves a hint that goes on past the checkpoint (cut on the next open), never
        // one that stops short of it.
        match &self.books.line_starts {
            Some(starts) if starts.len() as u64 == self.backend.head().seq => crate::lines::save(derived.dir(), starts),
            _ => Ok(()),
        }
        .and_then(|()| {
            derived.save(
                self.backend.head(),
                self.log_len,
                &self.books.ledger,
                &self.books.projection,
                &self.books.index,
            )
        })
        .map_err(|e| StoreError::io(derived.dir(), "save the derived state (the log is unaffected) in", e))?;
        self.checkpoint_behind = false;
        Ok(true)
    }
}

/// Whether `user` may record `event`: every förbund whose books it touches, given the books as
/// they stand, must be one the user may record in.
fn authorise(ledger: &Ledger, user: &crate::access::User, line: usize, event: &Event) -> Result<(), StoreError> {
    match ledger.touched(event).into_iter().find(|f| !user.may_record(f.as_str())) {
        Some(f) => Err(StoreError::Forbidden { line, user: user.name.clone(), forbund: f.to_string() }),
        None => Ok(()),
    }
}

/// A switch between a signal handler and a writer: the handler asks to stop, the writer asks
/// before each append whether it may still write. An append that has begun always finishes,
/// so every batch is either durable and acknowledged or never written.
#[derive(Default)]
pub struct StopSwitch(AtomicU8);

const IDLE: u8 = 0;
const APPENDING: u8 = 1;
const APPENDING_THEN_STOP: u8 = 2;
const STOPPED: u8 = 3;

impl StopSwitch {
    pub const fn new() -> StopSwitch {
        StopSwitch(AtomicU8::new(IDLE))
    }

    /// Asks the writer to write nothing more. True when nothing is being written (and nothing
    /// will be from now on); false when an append is under way: it finishes (durable and
    /// acknowledged) and nothing is written after it.
    pub fn request_stop(&self) -> bool {
        loop {
            match self.0.compare_exchange(IDLE, STOPPED, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) | Err(STOPPED) => return true,
                Err(APPENDING_THEN_STOP) => return false,
                Err(_) => {
                    if self
                        .0
                        .compare_exchange(APPENDING, APPENDING_THEN_STOP, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                    {
                        return false;
                    }
                }
            }
        }
    }

    fn begin_append(&self) -> bool {
        self.0.compare_exchange(IDLE, APPENDING, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    fn end_append(&self) {
        let next = if self.0.load(Ordering::SeqCst) == APPENDING_THEN_STOP { STOPPED } else { IDLE };
        self.0.store(next, Ordering::SeqCst);
    }
}

/// Seals events into envelopes chained onto `head`: one recording time for the batch, a new
/// UUID per event.
fn seal(head: &Head, events: Vec<Event>, actor: &str) -> SealedBatch {
    let recorded_at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let batch_last = head.seq + events.len() as u64;
    let mut prev = head.hash.clone();
    let mut text = String::new();
    let mut envelopes = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let (envelope, line) = Envelope::seal(
            head.seq + 1 + i as u64,
            uuid::Uuid::new_v4().to_string(),
            recorded_at.clone(),
            actor.to_string(),
            batch_last,
            event,
            prev,
        );
        prev = envelope.hash.clone();
        text.push_str(&line);
        envelopes.push(envelope);
    }
    let head = Head { seq: batch_last, hash: prev };
    SealedBatch { envelopes, text, head }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finsam_domain::input::parse_batch;

    const REGISTRATION: &str = r#"{"type":"ForbundRegistered","forbund":"sf-a","date":"2024-01-01","name":"SF A","members":[{"id":"fk","name":"FK","kind":"staten","share":"0.5"},{"id":"region","name":"Region","kind":"region","share":"0.25"},{"id":"sala","name":"Sala","kind":"kommun","share":"0.25"}]}"#;

    fn contribution(amount: &str, key: Option<&str>) -> String {
        let key = key.map(|k| format!(r#","idempotency_key":"{k}""#)).unwrap_or_default();
        format!(
            r#"{{"type":"ContributionReceived","forbund":"sf-a","date":"2024-02-01","member":"sala","year":2024,"amount":"{amount}","reference":"r"{key}}}"#
        )
    }

    fn batch(lines: &[String]) -> Vec<(usize, Event)> {
        parse_batch(lines.join("\n").as_bytes()).unwrap()
    }

    /// Runs `test` on a store of each backend, each with the registration recorded: the
    /// in-memory twin, a folder, and a PostgreSQL database (a throwaway cluster's): the same
    /// store tests for every implementation of `LogBackend`.
    macro_rules! on_every_backend {
        ($name:literal, $test:ident) => {{
            let mut twin = Store::in_memory();
            twin.record(&batch(&[REGISTRATION.to_string()]), "kansli", None).unwrap();
            $test(twin);
            let dir = std::env::temp_dir().join(format!("finsam-{}-{}", $name, std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            init(&dir).unwrap();
            let (mut file, _) = Store::open(&dir).unwrap();
            file.record(&batch(&[REGISTRATION.to_string()]), "kansli", None).unwrap();
            $test(file);
            let _ = std::fs::remove_dir_all(&dir);
            let (mut db, _) = Store::open_database(&crate::pg_cluster::cluster().database($name)).unwrap();
            db.record(&batch(&[REGISTRATION.to_string()]), "kansli", None).unwrap();
            $test(db);
        }};
    }

    /// The log's envelopes as the store reads them back.
    fn envelopes<B: LogBackend>(store: &Store<B>) -> Vec<Envelope> {
        let mut out = Vec::new();
        store
            .read(1, u64::MAX, &mut |e| {
                out.push(e);
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn every_line_seals_the_one_before_it() {
        fn test<B: LogBackend>(mut store: Store<B>) {
            store.record(&batch(&[contribution("1", None), contribution("2", None)]), "kansli", None).unwrap();
            let mut prev = crate::GENESIS_HASH.to_string();
            for (i, e) in envelopes(&store).into_iter().enumerate() {
                assert_eq!(e.seq, i as u64 + 1);
                assert_eq!(e.prev_hash, prev);
                prev = e.hash;
            }
            assert_eq!(store.head().hash, prev);
            assert_eq!(store.head().seq, 3);
        }
        on_every_backend!("seals", test);
    }

    #[test]
    fn a_refused_batch_leaves_the_store_unchanged() {
        fn test<B: LogBackend>(mut store: Store<B>) {
            let (head, before, ledger) = (store.head().clone(), envelopes(&store), store.ledger().clone());
            let mut lines: Vec<String> = (1..=10).map(|i| contribution(&i.to_string(), None)).collect();
            lines[7] = lines[7].replace("sala", "uppsala");
            let err = store.record(&batch(&lines), "kansli", None).unwrap_err();
            assert!(
                matches!(err, StoreError::Rejected(ref r) if r.rule == Rule::MemberUnknown && r.line == Some(8)),
                "{err}"
            );
            assert_eq!((store.head(), envelopes(&store), store.ledger()), (&head, before, &ledger));
        }
        on_every_backend!("refused", test);
    }

    #[test]
    fn a_key_repeated_inside_one_batch_is_recorded_once() {
        fn test<B: LogBackend>(mut store: Store<B>) {
            let lines = [contribution("5", Some("k1")), contribution("5", Some("k1"))];
            let outcome = store.record(&batch(&lines), "kansli", None).unwrap();
            assert_eq!(outcome[0], Recorded { line: 1, seq: 2, duplicate: false });
            assert_eq!(outcome[1], Recorded { line: 2, seq: 2, duplicate: true });
            assert_eq!(store.head().seq, 2);
            let lines = [contribution("5", Some("k2")), contribution("6", Some("k2"))];
            let err = store.record(&batch(&lines), "kansli", None).unwrap_err();
            assert!(
                matches!(err, StoreError::Rejected(ref r) if r.rule == Rule::IdempotencyKeyReused && r.line == Some(2)),
                "{err}"
            );
        }
        on_every_backend!("repeated", test);
    }

    #[test]
    fn a_group_commit_records_each_batch_alone_and_a_refused_one_changes_nothing_for_the_others() {
        fn test<B: LogBackend>(mut store: Store<B>) {
            let a = batch(&[contribution("1", Some("a"))]);
            let refused =
                batch(&[contribution("2", None), contribution("3", None).replace("\"member\":\"", "\"member\":\"no-")]);
            let b = batch(&[contribution("4", Some("b")), contribution("5", None)]);
            let again = batch(&[contribution("1", Some("a"))]);
            let stale = batch(&[contribution("6", None)]);
            let requests = [
                GroupRequest { batch: &a, actor: "anna", expect_head: Some(1), expect_versions: &[], user: None },
                GroupRequest { batch: &refused, actor: "anna", expect_head: None, expect_versions: &[], user: None },
                GroupRequest { batch: &b, actor: "olle", expect_head: Some(2), expect_versions: &[], user: None },
                GroupRequest { batch: &again, actor: "anna", expect_head: None, expect_versions: &[], user: None },
                GroupRequest { batch: &stale, actor: "anna", expect_head: Some(2), expect_versions: &[], user: None },
            ];
            let results = store.record_group(&requests);
            assert_eq!(results[0].as_ref().unwrap(), &vec![Recorded { line: 1, seq: 2, duplicate: false }]);
            assert!(matches!(results[1], Err(StoreError::Rejected(ref r)) if r.line == Some(2)), "{:?}", results[1]);
            let seqs: Vec<u64> = results[2].as_ref().unwrap().iter().map(|r| r.seq).collect();
            assert_eq!(seqs, [3, 4], "checked against the log as the batches before it leave it");
            assert_eq!(results[3].as_ref().unwrap(), &vec![Recorded { line: 1, seq: 2, duplicate: true }]);
            assert!(matches!(results[4], Err(StoreError::HeadMoved { expected: 2, actual: 4 })));
            // Each batch keeps its own actor and its own batch_last; the log is as if recorded one by one.
            let events = all_events(&store);
            assert_eq!(
                events.iter().map(|(seq, last, _)| (*seq, *last)).collect::<Vec<_>>(),
                [(1, 1), (2, 2), (3, 4), (4, 4)]
            );
            assert_eq!(envelopes(&store)[2].recorded_by, "olle");
            let mut one_by_one = Store::in_memory();
            one_by_one.record(&batch(&[REGISTRATION.to_string()]), "kansli", None).unwrap();
            one_by_one.record(&a, "anna", None).unwrap();
            one_by_one.record(&b, "olle", None).unwrap();
            assert_eq!(one_by_one.ledger(), store.ledger());
            assert_eq!(one_by_one.projection().totals(), store.projection().totals());
        }
        on_every_backend!("group", test);
    }

    #[test]
    fn the_backend_refuses_an_append_at_a_stale_head() {
        let mut store = Store::in_memory();
        store.record(&batch(&[REGISTRATION.to_string()]), "kansli", Some(0)).unwrap();
        let err = store.record(&batch(&[contribution("1", None)]), "kansli", Some(0)).unwrap_err();
        assert!(matches!(err, StoreError::HeadMoved { expected: 0, actual: 1 }), "{err}");
        let sealed = seal(&Head::genesis(), vec![batch(&[contribution("1", None)])[0].1.clone()], "x");
        assert!(matches!(store.backend.append(0, &sealed), Err(StoreError::HeadMoved { .. })));
    }

    fn all_events<B: LogBackend>(store: &Store<B>) -> Vec<(u64, u64, Event)> {
        let mut out = Vec::new();
        store
            .read(1, u64::MAX, &mut |e| {
                out.push((e.seq, e.batch_last, e.event));
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn the_file_store_and_its_twin_record_the_same_events() {
        let dir = std::env::temp_dir().join(format!("finsam-twin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        init(&dir).unwrap();
        let (mut file, _) = Store::open(&dir).unwrap();
        let mut twin = Store::in_memory();
        let batches =
            [batch(&[REGISTRATION.to_string()]), batch(&[contribution("1.50", None), contribution("2", Some("k"))])];
        for b in &batches {
            assert_eq!(file.record(b, "kansli", None).unwrap(), twin.record(b, "kansli", None).unwrap());
        }
        let from_file = all_events(&file);
        let from_twin = all_events(&twin);
        assert_eq!(from_file, from_twin);
        assert_eq!(from_file.len(), 3);
        drop(file);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod replay_tests {
    use super::*;
    use finsam_domain::input::parse_batch;

    const CONTRIBUTION: &str = r#"{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-02-01","member":"sala","year":2024,"amount":"5","reference":"r"}"#;

    /// A new store in the temp dir, opened as its writer.
    fn fresh(name: &str) -> (PathBuf, Store<FileLog>) {
        let dir = std::env::temp_dir().join(format!("finsam-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        init(&dir).unwrap();
        let (store, _) = Store::open(&dir).unwrap();
        (dir, store)
    }

    /// Records a file of `fixtures/` (or any batch text) as one batch.
    fn record(store: &mut Store<FileLog>, text: &str) {
        store.record(&parse_batch(text.as_bytes()).unwrap(), "t", None).unwrap();
    }

    /// The events `finsam generate` makes of these förbund, years and seed.
    fn generated(forbund: u32, years: u32, seed: u64) -> Vec<Event> {
        let mut events = Vec::new();
        finsam_generate::generate(&finsam_generate::Params { forbund, years, seed }, &mut |e| events.push(e.clone()));
        events
    }

    pub(super) fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/../../fixtures/{name}.jsonl", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// A reader's snapshot, advanced with what is recorded in batches of several förbund,
    /// knows whose books each seq is in exactly as the writer's ledger does.
    #[test]
    fn a_snapshot_keeps_the_runs_of_what_it_takes_in() {
        let (dir, mut store) = fresh("snapshot-runs");
        let events = generated(3, 2, 7);
        let (first, rest) = events.split_at(events.len() / 2);
        let batch = |events: &[Event]| -> Vec<(usize, Event)> {
            events.iter().cloned().enumerate().map(|(i, e)| (i + 1, e)).collect()
        };
        store.record(&batch(first), "t", None).unwrap();
        let mut snapshot = Snapshot::of(&store);
        assert_eq!(snapshot.runs, store.ledger().runs());
        // The rest, förbund by förbund in turn, so that the runs change at every batch.
        let mut turns: Vec<Vec<Event>> = Vec::new();
        for e in rest {
            match turns.last_mut() {
                Some(turn) if turn[0].forbund == e.forbund => turn.push(e.clone()),
                _ => turns.push(vec![e.clone()]),
            }
        }
        assert!(turns.len() > 3, "the rest changes förbund");
        for turn in &turns {
            let seen = snapshot.head.seq;
            store.record(&batch(turn), "t", None).unwrap();
            let mut envelopes = Vec::new();
            store
                .read(seen + 1, store.head().seq, &mut |e| {
                    envelopes.push(e);
                    Ok(())
                })
                .unwrap();
            snapshot.advance(envelopes.iter());
            assert_eq!(snapshot.runs, store.ledger().runs(), "at seq {}", snapshot.head.seq);
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The vouchers are saved apart from the checkpoint, appended chunk by chunk; reopening
    /// reads them back as they were, ignores what an unfinished save left after them, and
    /// replays the log when a chunk is damaged.
    #[test]
    fn the_checkpoints_vouchers_are_appended_and_read_back_whole() {
        let (dir, mut store) = fresh("vouchers");
        let fixtures = [
            "00-forbund",
            "10-vasteras-2021",
            "15-vastra-malardalen",
            "20-norra-vastmanland-2023",
            "30-vastmanland-2024",
            "35-merger-example",
            "40-vastmanland-2024-example",
        ];
        for name in fixtures {
            record(&mut store, &fixture(name));
            store.save_checkpoint().unwrap();
        }
        let (expected, head) = (store.projection().clone(), store.head().seq);
        assert!(expected.vouchers().len() > 10, "the fixtures book vouchers");
        let vouchers = dir.join(DERIVED_DIR).join("vouchers.bin");
        let reopen = || {
            let (store, report) = Store::open(&dir).unwrap();
            assert!(*store.projection() == expected, "the reopened projection is the one saved");
            report
        };
        drop(store);
        assert_eq!(reopen().events_replayed, 0, "the checkpoint and its vouchers are used");
        // An unfinished save leaves bytes after the last chunk: they are not read.
        let mut bytes = std::fs::read(&vouchers).unwrap();
        let whole = bytes.len();
        std::fs::write(&vouchers, [bytes.as_slice(), b"half a voucher"].concat()).unwrap();
        assert_eq!(reopen().events_replayed, 0, "bytes after the last chunk are ignored");
        // A damaged chunk: the checkpoint is not used, the log is replayed, the books are the same.
        bytes[whole / 2] ^= 0x5a;
        std::fs::write(&vouchers, &bytes).unwrap();
        assert_eq!(reopen().events_replayed, head, "a damaged chunk means a replay");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The totals file stands for the head it was written at, and only for it; read for one
    /// förbund or all, it gives the balances the projection gives.
    #[test]
    fn the_totals_beside_the_checkpoint_give_the_projections_balances() {
        let (dir, mut store) = fresh("totals");
        for name in ["00-forbund", "10-vasteras-2021", "15-vastra-malardalen", "20-norra-vastmanland-2023"] {
            record(&mut store, &fixture(name));
        }
        store.save_checkpoint().unwrap();
        let chart = finsam_projections::Chart::default_chart();
        let as_of = chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap();
        let at = finsam_projections::At { as_of, known_at: store.head().seq };
        let (head, all) = open_totals(&dir, None).unwrap().expect("the totals stand at the head");
        assert_eq!(head, *store.head());
        assert_eq!(all.forbund.len(), store.projection().forbund.len());
        assert!(all.totals.len() >= 2, "the fixtures book vouchers in several förbund");
        for f in store.projection().forbund.keys() {
            let expected = store.projection().balances_from_vouchers(f, at, &chart);
            assert_eq!(all.balances(f, as_of, &chart), expected, "{f}, read with all");
            let (_, one) = open_totals(&dir, Some(f)).unwrap().unwrap();
            let sections: Vec<&Slug> = one.totals.keys().collect();
            let own = if expected.as_ref().unwrap().vouchers > 0 { vec![f] } else { vec![] };
            assert_eq!(sections, own, "only {f}'s section is read");
            assert_eq!(one.balances(f, as_of, &chart), expected, "{f}, read alone");
        }
        // Totals sealed properly but not those of the books (as if forged): audit verify says so.
        let mut other = Projection::new();
        let registration = crate::log::LogBackend::head(&store.backend).clone();
        let forged_from = parse_batch(fixture("00-forbund").as_bytes()).unwrap();
        for (i, (_, e)) in forged_from.iter().enumerate() {
            other.apply(finsam_projections::projection::Recorded {
                seq: i as u64 + 1,
                recorded_at: "t",
                recorded_by: "t",
                event: e,
            });
        }
        let derived = dir.join(DERIVED_DIR);
        let totals_path = derived.join(crate::index::TOTALS_FILE);
        let genuine = std::fs::read(&totals_path).unwrap();
        let folder = derived.join(crate::index::TOTALS_DIR);
        let genuine_sections: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.clone(), std::fs::read(p).unwrap()))
            .collect();
        assert!(!genuine_sections.is_empty(), "the fixtures have totals");
        // Forged by someone who holds the key, so that only the comparison with a replay finds it.
        let key = crate::key::machine_key().unwrap();
        crate::index::write_totals(&derived, key, &registration, store.log_len, &other).unwrap();
        drop(store);
        let report = crate::verify::verify(&dir, &[]).unwrap();
        assert!(
            report.problems.iter().any(|p| p.1.contains("stored totals")),
            "forged totals are found: {:?}",
            report.problems
        );
        std::fs::write(&totals_path, genuine).unwrap();
        for (path, bytes) in genuine_sections {
            std::fs::write(path, bytes).unwrap();
        }
        assert!(crate::verify::verify(&dir, &[]).unwrap().problems.is_empty(), "the genuine totals pass");
        let (mut store, _) = Store::open(&dir).unwrap();
        // One more event and the totals no longer stand at the head until the next checkpoint.
        record(&mut store, CONTRIBUTION);
        assert!(open_totals(&dir, None).unwrap().is_none());
        store.save_checkpoint().unwrap();
        assert_eq!(open_totals(&dir, None).unwrap().unwrap().0, *store.head());
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A report of one förbund reads only its lines through `runs.json` and `lines.bin` when
    /// both stand for the whole log, and the whole view otherwise: a runs file that is forged,
    /// stale or of another log, a log with lines after it, a wrong line hint, a förbund the
    /// books do not have.
    #[test]
    fn the_books_of_one_forbund_are_read_apart_only_when_what_leads_to_them_stands_for_the_log() {
        let (dir, mut store) = fresh("books-of");
        let events = generated(3, 2, 5);
        let batch: Vec<(usize, Event)> = events.into_iter().enumerate().map(|(i, e)| (i + 1, e)).collect();
        store.record(&batch, "t", None).unwrap();
        store.save_checkpoint().unwrap();
        let f = store.projection().forbund.keys().next().unwrap().clone();
        let of = |f: &Slug| open_books_of_share(&dir, f, 1.0).unwrap();
        let apart = of(&f);
        assert!(!apart.whole);
        assert_eq!(apart.head, *store.head());
        assert_eq!(apart.projection.forbund.keys().collect::<Vec<_>>(), [&f], "only its own books");
        assert_eq!(
            apart.projection.voucher_book().of_forbund(&f, apart.head.seq).collect::<Vec<_>>(),
            store.projection().voucher_book().of_forbund(&f, apart.head.seq).collect::<Vec<_>>()
        );
        assert!(of(&Slug::parse("sf-none").unwrap()).whole, "a förbund the books do not have");
        let derived = dir.join(DERIVED_DIR);
        let runs = derived.join(crate::index::RUNS_FILE);
        let genuine = std::fs::read(&runs).unwrap();
        // Forged: one byte changed breaks the seal.
        let mut forged = genuine.clone();
        let at = forged.iter().position(|b| *b == b'[').unwrap() + 2;
        forged[at] ^= 1;
        std::fs::write(&runs, &forged).unwrap();
        assert!(of(&f).whole, "a forged runs file");
        std::fs::write(&runs, &genuine).unwrap();
        // Forged by someone who holds the key: the first run said to be another förbund's.
        // Only `audit verify`, which compares it with a replay, can tell.
        let mut wrong = Derived::new(derived.clone(), crate::key::machine_key().ok()).read_runs().unwrap();
        wrong.runs[0].1 = wrong.runs[1].1.clone();
        let body = serde_json::to_vec(&wrong).unwrap();
        let key = crate::key::machine_key().unwrap();
        std::fs::write(
            &runs,
            [body.clone(), format!("\nhmac-sha256 {} {}\n", key.seal(&body), body.len()).into_bytes()].concat(),
        )
        .unwrap();
        let report = crate::verify::verify(&dir, &[]).unwrap();
        assert!(
            report.problems.iter().any(|p| p.1.contains("derived/runs.json at seq")),
            "a forged runs file is found: {:?}",
            report.problems
        );
        std::fs::write(&runs, &genuine).unwrap();
        // A wrong line hint: every line read through it is checked.
        let lines = derived.join(crate::lines::LINES_FILE);
        let hint = std::fs::read(&lines).unwrap();
        let mut wrong = hint.clone();
        for start in wrong.chunks_mut(8) {
            start[0] ^= 4;
        }
        std::fs::write(&lines, &wrong).unwrap();
        assert!(of(&f).whole, "a wrong line hint");
        // A hint one whole line off: every line it points to opens and follows the one before
        // it, but carries the seq after the one asked for.
        let shifted = [&hint[8..], &hint[hint.len() - 8..]].concat();
        std::fs::write(&lines, &shifted).unwrap();
        assert!(of(&f).whole, "a line hint one line off");
        std::fs::write(&lines, &hint).unwrap();
        assert!(!of(&f).whole);
        // One more event, not yet in the runs file: the whole view, until the next save.
        record(
            &mut store,
            &format!(
                r#"{{"type":"ContributionReceived","forbund":"{f}","date":"2006-12-30","member":"forsakringskassan","year":2006,"amount":"1","reference":"sist"}}"#
            ),
        );
        assert!(of(&f).whole, "a log with lines after the runs file's head");
        store.save_checkpoint().unwrap();
        let after = of(&f);
        assert!(!after.whole);
        assert_eq!(after.head, *store.head());
        // A runs file of another log of the same length is not bound to this one's last line.
        drop(store);
        let log = dir.join("log.jsonl");
        let text = std::fs::read(&log).unwrap();
        let mut other = text.clone();
        let end = other.len() - 3;
        other[end] = if other[end] == b'0' { b'1' } else { b'0' };
        std::fs::write(&log, &other).unwrap();
        assert!(
            matches!(open_books_of_share(&dir, &f, 1.0), Err(StoreError::Damaged { .. })),
            "a log whose last line is another: the whole log is read, and its damage found"
        );
        std::fs::write(&log, &text).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A writer of some förbund's books (`open_for`) checks, warns and records exactly as a
    /// writer of the whole books: for books of unlinked förbund (generated ones, and random ones
    /// without mergers or transfers) and of linked ones (random, with everything), at every
    /// step a set of candidates — the next event, corrections of events of any förbund,
    /// underlag of any event, events of other books — gets the same answer from both, and the
    /// next event is then recorded by the writer of some books, alone.
    #[test]
    fn a_writer_of_some_forbunds_books_checks_and_records_as_a_writer_of_the_whole_books() {
        use finsam_domain::EventKind;
        let generated = generated(4, 2, 9);
        let unlinked = finsam_generate::random_history_of(21, 2000, |t| {
            !matches!(t, "MergerDecided" | "EquityTransferred" | "BalancesTakenOver" | "ForbundDissolved")
        });
        let linked = finsam_generate::random_history(22, 400);
        let strangers = finsam_generate::random_history(23, 400);
        let answer = |r: Result<(), StoreError>| r.map_err(|e| e.to_string());
        for (name, events, start) in [
            ("generated", &generated, generated.len() - 150),
            ("unlinked", &unlinked, unlinked.len() / 3),
            ("linked", &linked, linked.len() / 3),
        ] {
            let (dir, mut whole) = fresh(&format!("some-books-{name}"));
            let first: Vec<(usize, Event)> =
                events[..start].iter().cloned().enumerate().map(|(i, e)| (i + 1, e)).collect();
            whole.record(&first, "t", None).unwrap();
            whole.save_checkpoint().unwrap();
            drop(whole);
            let mut twin = Store::in_memory();
            twin.record(&first, "t", None).unwrap();
            let mut apart = 0;
            for (i, next) in events[start..].iter().take(80).enumerate() {
                let seq = twin.head().seq;
                let f = &next.forbund;
                let mut candidates = vec![next.clone(), strangers[(start + i) % strangers.len()].clone()];
                for corrects in [1 + (i as u64 * 7919) % seq, seq] {
                    let text = format!(
                        r#"{{"type":"EventCorrected","forbund":"{f}","date":"{}","corrects":{corrects},"reason":"prov"}}"#,
                        next.date
                    );
                    candidates.push(Event::from_json(&serde_json::from_str(&text).unwrap()).unwrap());
                }
                let underlag = format!(
                    r#"{{"type":"UnderlagAttached","forbund":"{f}","date":"{}","of":[{}],"file":{{"name":"a.pdf","media_type":"application/pdf","size":3,"sha256":"{}"}}}}"#,
                    next.date,
                    1 + (i as u64 * 104_729) % seq,
                    "0".repeat(64)
                );
                candidates.push(Event::from_json(&serde_json::from_str(&underlag).unwrap()).unwrap());
                for c in &candidates {
                    let (some, _) =
                        Store::open_locked_for_share(Store::lock(&dir).unwrap(), &[(1, c.clone())], 1.0).unwrap();
                    assert_eq!(
                        answer(some.check(&[(1, c.clone())], None)),
                        answer(twin.check(&[(1, c.clone())], None)),
                        "{name}, step {i}: {c:?}"
                    );
                    if some.holds_some_books() && matches!(c.kind, EventKind::EventCorrected { .. }) {
                        apart += 1;
                    }
                }
                let batch = [(1, next.clone())];
                let (mut some, _) = Store::open_locked_for_share(Store::lock(&dir).unwrap(), &batch, 1.0).unwrap();
                apart += usize::from(
                    some.holds_some_books() && some.projection().forbund.len() < twin.projection().forbund.len(),
                );
                let warn = |p: &Projection| {
                    finsam_projections::advice::Advisor::new(p, &[])
                        .advise(next)
                        .into_iter()
                        .map(|w| w.message)
                        .collect::<Vec<_>>()
                };
                assert_eq!(warn(some.projection()), warn(twin.projection()), "{name}, step {i}: the warnings");
                let recorded = some.record(&batch, "t", None).map(|r| r[0].seq);
                assert_eq!(
                    recorded.map_err(|e| e.to_string()),
                    twin.record(&batch, "t", None).map(|r| r[0].seq).map_err(|e| e.to_string())
                );
                some.save_checkpoint().unwrap();
            }
            eprintln!("{name}: {} events, {apart} apart", events.len());
            assert!(apart > 0, "{name}: some writers held only some förbund's books");
            // The whole books, opened again, take in what the writers of some books recorded.
            let (whole, report) = Store::open(&dir).unwrap();
            assert_eq!(whole.head().seq, twin.head().seq);
            assert_eq!(whole.ledger().runs(), twin.ledger().runs());
            assert!(report.events_replayed > 0 || name == "generated");
            drop(whole);
            assert!(crate::verify::verify(&dir, &[]).unwrap().ok(), "{name}: the store verifies");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// A writer that dies after appending but before saving its checkpoint leaves the indexes
    /// ahead of the checkpoint; the next writer replays that tail, and must not count it twice.
    #[test]
    fn a_tail_replayed_over_indexes_that_already_hold_it_counts_once() {
        let (dir, mut store) = fresh("replay");
        record(&mut store, &fixture("00-forbund"));
        store.save_checkpoint().unwrap();
        record(&mut store, CONTRIBUTION);
        // Dies here: the log and the indexes hold the contribution, the checkpoint does not.
        drop(store);
        let (store, report) = Store::open(&dir).unwrap();
        assert_eq!(report.events_replayed, 1);
        let position = store.index().position("sf-vastmanland");
        assert_eq!((position.events, position.last_seq), (2, 5));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod sealed_checkpoint_tests {
    use super::replay_tests::fixture;
    use super::*;
    use finsam_domain::input::parse_batch;

    /// A store in the temp dir with these fixtures recorded, one batch each, and the derived
    /// state saved after each.
    fn store_of(name: &str, fixtures: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("finsam-sealed-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        init(&dir).unwrap();
        let (mut store, _) = Store::open(&dir).unwrap();
        for f in fixtures {
            store.record(&parse_batch(fixture(f).as_bytes()).unwrap(), "t", None).unwrap();
            store.save_checkpoint().unwrap();
        }
        dir
    }

    fn copy_dir(from: &Path, to: &Path) {
        let _ = std::fs::remove_dir_all(to);
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &to.join(entry.file_name()));
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }

    /// The line number `Store::open` stops at, or `None` when it opens.
    fn damage_found_on_open(dir: &Path) -> Option<u64> {
        match Store::open(dir) {
            Ok(_) => None,
            Err(StoreError::Damaged { line, .. }) => Some(line),
            Err(e) => panic!("opening fails only for damage here: {e}"),
        }
    }

    /// A writer trusts the prefix its checkpoint stands for only when the checkpoint carries
    /// this user's seal and is bound to this log's head; a forged, stale or mismatched one is
    /// refused, and the log is replayed from its first line (which finds the damage). Damage
    /// under a good checkpoint is the scrub's to find.
    #[test]
    fn a_writer_trusts_only_a_sealed_checkpoint_bound_to_the_head_and_the_scrub_finds_what_it_skips() {
        let dir = store_of("main", &["00-forbund", "10-vasteras-2021"]);
        let early = dir.join("derived-early");
        copy_dir(&dir.join(DERIVED_DIR), &early);
        let (mut store, _) = Store::open(&dir).unwrap();
        store.record(&parse_batch(fixture("15-vastra-malardalen").as_bytes()).unwrap(), "t", None).unwrap();
        store.save_checkpoint().unwrap();
        let point = store.scrub_point();
        assert!(crate::scrub::scrub(&dir, &point).is_ok(), "the scrub passes an intact log");
        drop(store);
        let good = dir.join("derived-good");
        copy_dir(&dir.join(DERIVED_DIR), &good);

        // One letter of line 3 changed: the line no longer hashes to the hash it states.
        let log = dir.join(LOG_FILE);
        let text = std::fs::read_to_string(&log).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let event = lines[2].find("\"event\"").unwrap();
        let at = event + lines[2][event..].find('a').unwrap();
        lines[2].replace_range(at..at + 1, "b");
        let tampered = lines.join("\n") + "\n";
        assert_eq!(tampered.len(), text.len());
        std::fs::write(&log, &tampered).unwrap();

        // The sealed checkpoint at the head: the writer opens without reading the prefix…
        let (store, report) = Store::open(&dir).unwrap();
        assert_eq!(report.events_replayed, 0, "the prefix under the checkpoint is not read again");
        // …and the scrub finds the line.
        match crate::scrub::scrub(&dir, &store.scrub_point()) {
            Err(StoreError::Damaged { line, problem, .. }) => {
                assert_eq!(line, 3, "{problem}");
                assert!(problem.contains("hash mismatch"), "{problem}");
            }
            other => panic!("the scrub finds the changed line: {other:?}"),
        }
        drop(store);

        // Forged: a byte of the checkpoint changed without its seal.
        let checkpoint = dir.join(DERIVED_DIR).join("checkpoint.json");
        let mut bytes = std::fs::read(&checkpoint).unwrap();
        let at = bytes.iter().position(|b| *b == b':').unwrap() + 1;
        bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
        std::fs::write(&checkpoint, &bytes).unwrap();
        assert_eq!(damage_found_on_open(&dir), Some(3), "a forged checkpoint is refused: the log is replayed");

        // Mismatched: sealed by this user, but of another log.
        let other = store_of("other", &["00-forbund", "20-norra-vastmanland-2023"]);
        copy_dir(&other.join(DERIVED_DIR), &dir.join(DERIVED_DIR));
        assert_eq!(damage_found_on_open(&dir), Some(3), "another log's checkpoint is refused");

        // Stale: sealed and of this log, but for a head the log no longer has (cut back).
        copy_dir(&good, &dir.join(DERIVED_DIR));
        let without_last_line = tampered.trim_end().rfind('\n').unwrap() + 1;
        std::fs::write(&log, &tampered.as_bytes()[..without_last_line]).unwrap();
        assert_eq!(damage_found_on_open(&dir), Some(3), "a checkpoint beyond the log's head is refused");

        // An earlier checkpoint still bound to its line is a prefix of this log: it is used, and
        // only the tail after it is read.
        std::fs::write(&log, &tampered).unwrap();
        copy_dir(&early, &dir.join(DERIVED_DIR));
        let (_, report) = Store::open(&dir).unwrap();
        assert!(report.events_replayed > 0 && !report.derived_rebuilt, "the tail after the earlier checkpoint");
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&other);
    }
}
