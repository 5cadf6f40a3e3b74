//! Derived state: the idempotency keys, per-förbund positions and the ledger checkpoint.
//! Kept in sled on disk (or in memory for the twin). Everything here can be rebuilt from the
//! log, and is: on a version change, on a checkpoint that does not match the log, or on
//! `finsam reindex`.

use crate::envelope::{content_digest, hex, sha256_hex, Envelope, Head};
use crate::error::StoreError;
use finsam_domain::ledger::LEDGER_STATE_VERSION;
use finsam_domain::Ledger;
use finsam_domain::Slug;
use finsam_projections::book::{Book, BookSymbols};
use finsam_projections::projection::ForbundInfo;
use finsam_projections::projection::PROJECTION_VERSION;
use finsam_projections::totals::{Totals, TotalsView};
use finsam_projections::Projection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A snapshot of the ledger at a point of the log, so that opening reads only the tail.
#[derive(Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub seq: u64,
    pub hash: String,
    /// The log's length in bytes at `seq`.
    pub log_len: u64,
    pub ledger: Ledger,
    /// Without its vouchers until `load_checkpoint` puts them back from the vouchers file.
    pub projection: Projection,
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
const CHECKPOINT_VERSION: u32 = LEDGER_STATE_VERSION * 1000 + PROJECTION_VERSION;

#[derive(Serialize)]
struct CheckpointRef<'a> {
    version: u32,
    seq: u64,
    hash: &'a str,
    log_len: u64,
    ledger: &'a Ledger,
    projection: &'a Projection,
    vouchers: &'a SavedVouchers,
    symbols: BookSymbols,
}

/// Where a förbund's books stand in the log: its last seq and how many events it has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub last_seq: u64,
    pub events: u64,
}

/// The indexes. Lookups see everything added; with sled behind them, what was added since the
/// last checkpoint is kept in memory and written with the next checkpoint, in one go (a
/// replay of a million events writes once, not a million times).
pub enum Index {
    Memory { idem: HashMap<String, (u64, String)>, positions: BTreeMap<String, Position> },
    Sled(Box<SledIndex>),
}

pub struct SledIndex {
    db: sled::Db,
    idem: sled::Tree,
    positions_tree: sled::Tree,
    /// Every förbund's position: read from sled on opening, written back at each checkpoint.
    positions: BTreeMap<String, Position>,
    /// Idempotency keys added since the last checkpoint.
    pending: HashMap<String, (u64, String)>,
    /// The checkpoint file.
    checkpoint: PathBuf,
    /// What the vouchers file holds (as of the checkpoint loaded or last saved).
    saved: SavedVouchers,
}

fn derived(action: &'static str) -> impl Fn(sled::Error) -> StoreError {
    move |e| StoreError::Derived { action, detail: e.to_string() }
}

/// The checkpoint lives beside sled in `derived/`, as a file of its own: sled is made for
/// small values and reads a large one back whenever it is replaced or removed. The file is the
/// checkpoint's JSON followed by a trailer line `sha256 <hex of the JSON> <length>`, written to
/// a temporary file, synced and renamed into place; a file whose trailer does not match is
/// ignored (and the log replayed), like any other damaged derived state.
const CHECKPOINT_FILE: &str = "checkpoint.json";

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    sha: Sha256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The totals per förbund and day, stored beside the checkpoint and for the same seq, so that
/// the balances as known at the head are read without loading the checkpoint. One section per
/// förbund, so that a report on one förbund reads only its own:
///
/// ```text
/// {"version":…,"seq":…,"hash":…,"log_len":…,"forbund":{…},"sections":[[id,offset,len,sha256],…]}
/// sha256 <hex of the line above> <its length>
/// <section of the first förbund: its days as JSON><section of the next>…
/// ```
/// Offsets count from the end of the second line. A header or section whose digest does not
/// match is not used (the report falls back to the whole view).
pub const TOTALS_FILE: &str = "totals.json";

#[derive(Serialize, Deserialize)]
struct TotalsHeader<F> {
    version: u32,
    seq: u64,
    hash: String,
    log_len: u64,
    forbund: F,
    sections: Vec<(Slug, u64, u64, String)>,
}

/// What was read of the totals file: the view (with the days of the förbund asked for) and
/// the point of the log it stands for.
pub struct TotalsFile {
    pub seq: u64,
    pub hash: String,
    pub log_len: u64,
    pub view: TotalsView,
}

pub(crate) fn write_totals(path: &Path, head: &Head, log_len: u64, projection: &Projection) -> std::io::Result<()> {
    let mut body = Vec::new();
    let mut sections = Vec::new();
    for (f, days) in projection.totals() {
        let start = body.len();
        serde_json::to_writer(&mut body, days)?;
        let section = &body[start..];
        sections.push((f.clone(), start as u64, section.len() as u64, sha256_hex(section)));
    }
    let header = TotalsHeader {
        version: CHECKPOINT_VERSION,
        seq: head.seq,
        hash: head.hash.clone(),
        log_len,
        forbund: &projection.forbund,
        sections,
    };
    let header = serde_json::to_vec(&header)?;
    replace_file(path, |out| {
        out.write_all(&header)?;
        writeln!(out, "\nsha256 {} {}", sha256_hex(&header), header.len())?;
        out.write_all(&body)
    })
}

/// Writes a file whole or not at all: into a temporary file beside it, synced, then renamed
/// over it.
fn replace_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    write(&mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The totals in `derived/`, with the days of `only` (or of every förbund), if what is read is
/// whole and of this version.
pub fn read_totals(derived: &Path, only: Option<&Slug>) -> Option<TotalsFile> {
    let mut file = BufReader::new(std::fs::File::open(derived.join(TOTALS_FILE)).ok()?);
    let (mut header, mut seal) = (Vec::new(), String::new());
    file.by_ref().take(64 << 20).read_until(b'\n', &mut header).ok()?;
    file.by_ref().take(200).read_line(&mut seal).ok()?;
    header.pop_if(|b| *b == b'\n')?;
    if seal.trim_end() != format!("sha256 {} {}", sha256_hex(&header), header.len()) {
        return None;
    }
    let header: TotalsHeader<BTreeMap<Slug, ForbundInfo>> = serde_json::from_slice(&header).ok()?;
    if header.version != CHECKPOINT_VERSION {
        return None;
    }
    let mut totals = Totals::new();
    let mut position = 0u64;
    for (f, offset, len, digest) in &header.sections {
        if only.is_some_and(|o| o != f) {
            continue;
        }
        file.seek_relative(offset.checked_sub(position)? as i64).ok()?;
        let mut section = vec![0; usize::try_from(*len).ok()?];
        file.read_exact(&mut section).ok()?;
        position = offset + len;
        if sha256_hex(&section) != *digest {
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
    let mut file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
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

/// The vouchers a checkpoint names, if every chunk is whole and they are as many as it says.
fn read_vouchers(path: &Path, saved: &SavedVouchers, symbols: BookSymbols) -> Option<Book> {
    let mut bytes = Vec::with_capacity(usize::try_from(saved.end()).ok()?);
    if !saved.chunks.is_empty() {
        let mut file = BufReader::with_capacity(1 << 20, std::fs::File::open(path).ok()?);
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
    let book = Book::from_parts(bytes, symbols).ok()?;
    (book.len() == saved.count).then_some(book)
}

fn write_sealed(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    replace_file(path, |file| {
        let mut out = Hashing { inner: file, sha: Sha256::new(), len: 0 };
        serde_json::to_writer(&mut out, value)?;
        let (inner, digest, len) = (out.inner, out.sha.finalize(), out.len);
        writeln!(inner, "\nsha256 {} {len}", hex(&digest))
    })
}

/// The value in a file written by `write_sealed`, if the file is whole.
fn read_sealed<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    let body_end = bytes[..bytes.len().checked_sub(1)?].iter().rposition(|b| *b == b'\n')?;
    let trailer = std::str::from_utf8(&bytes[body_end + 1..]).ok()?.trim_end();
    let body = &bytes[..body_end];
    let expected = format!("sha256 {} {}", sha256_hex(body), body.len());
    if trailer != expected {
        return None;
    }
    serde_json::from_slice(body).ok()
}

impl SledIndex {
    fn open(dir: &Path) -> Result<SledIndex, StoreError> {
        let db = sled::Config::new().path(dir).open().map_err(derived("open"))?;
        let idem = db.open_tree("idempotency").map_err(derived("open tree"))?;
        let positions_tree = db.open_tree("positions").map_err(derived("open tree"))?;
        let mut positions = BTreeMap::new();
        for item in positions_tree.iter() {
            let (key, value) = item.map_err(derived("read"))?;
            let forbund = String::from_utf8(key.to_vec()).map_err(|e| StoreError::Derived {
                action: "read",
                detail: format!("a position key is not UTF-8: {e}"),
            })?;
            let position = serde_json::from_slice(&value)
                .map_err(|e| StoreError::Derived { action: "read", detail: format!("position of {forbund}: {e}") })?;
            positions.insert(forbund, position);
        }
        let checkpoint = dir.join(CHECKPOINT_FILE);
        let saved = SavedVouchers::default();
        Ok(SledIndex { db, idem, positions_tree, positions, pending: HashMap::new(), checkpoint, saved })
    }
}

impl Index {
    pub fn memory() -> Index {
        Index::Memory { idem: HashMap::new(), positions: BTreeMap::new() }
    }

    /// Opens (or recreates, when it cannot be opened or read) the sled database in `dir`.
    pub fn open_sled(dir: &Path) -> Result<(Index, bool), StoreError> {
        match SledIndex::open(dir) {
            Ok(index) => Ok((Index::Sled(Box::new(index)), false)),
            Err(_) => {
                // Derived state only: a database that cannot be opened is thrown away.
                std::fs::remove_dir_all(dir)
                    .map_err(|e| StoreError::io(dir, "remove the damaged derived state in", e))?;
                Ok((Index::Sled(Box::new(SledIndex::open(dir)?)), true))
            }
        }
    }

    pub fn clear(&mut self) -> Result<(), StoreError> {
        match self {
            Index::Memory { idem, positions } => {
                idem.clear();
                positions.clear();
            }
            Index::Sled(s) => {
                s.pending.clear();
                s.positions.clear();
                s.idem.clear().map_err(derived("clear"))?;
                s.positions_tree.clear().map_err(derived("clear"))?;
                s.saved = SavedVouchers::default();
                for name in [CHECKPOINT_FILE, TOTALS_FILE, VOUCHERS_FILE] {
                    let path = s.checkpoint.with_file_name(name);
                    match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(StoreError::io(&path, "remove", e));
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// The seq and content digest recorded under an idempotency key.
    pub fn idempotency(&self, key: &str) -> Result<Option<(u64, String)>, StoreError> {
        match self {
            Index::Memory { idem, .. } => Ok(idem.get(key).cloned()),
            Index::Sled(s) => {
                if let Some(found) = s.pending.get(key) {
                    return Ok(Some(found.clone()));
                }
                let Some(v) = s.idem.get(key.as_bytes()).map_err(derived("read"))? else {
                    return Ok(None);
                };
                let (seq, digest) = v.split_at(8);
                let seq = u64::from_be_bytes(seq.try_into().expect("8 bytes"));
                Ok(Some((seq, String::from_utf8_lossy(digest).into_owned())))
            }
        }
    }

    pub fn position(&self, forbund: &str) -> Result<Position, StoreError> {
        let positions = match self {
            Index::Memory { positions, .. } => positions,
            Index::Sled(s) => &s.positions,
        };
        Ok(positions.get(forbund).copied().unwrap_or_default())
    }

    /// Takes one recorded envelope into the indexes.
    /// Idempotent: an envelope the index holds already (a tail replayed after a writer died
    /// between appending and saving its checkpoint) changes nothing.
    pub fn add(&mut self, envelope: &Envelope) -> Result<(), StoreError> {
        let forbund = envelope.event.forbund.as_str();
        let (idem, positions) = match self {
            Index::Memory { idem, positions } => (idem, positions),
            Index::Sled(s) => (&mut s.pending, &mut s.positions),
        };
        let position = match positions.get_mut(forbund) {
            Some(p) => p,
            None => positions.entry(forbund.to_string()).or_default(),
        };
        if envelope.seq <= position.last_seq {
            return Ok(());
        }
        position.last_seq = envelope.seq;
        position.events += 1;
        if let Some(key) = envelope.event.idempotency_key.as_deref() {
            idem.insert(key.to_string(), (envelope.seq, content_digest(&envelope.event)));
        }
        Ok(())
    }

    pub fn save_checkpoint(
        &mut self,
        head: &Head,
        log_len: u64,
        ledger: &Ledger,
        projection: &Projection,
    ) -> Result<(), StoreError> {
        if let Index::Sled(s) = self {
            let mut batch = sled::Batch::default();
            for (key, (seq, digest)) in s.pending.drain() {
                let mut value = seq.to_be_bytes().to_vec();
                value.extend_from_slice(digest.as_bytes());
                batch.insert(key.as_bytes(), value);
            }
            s.idem.apply_batch(batch).map_err(derived("write"))?;
            let mut batch = sled::Batch::default();
            for (forbund, position) in &s.positions {
                batch.insert(forbund.as_bytes(), serde_json::to_vec(position).expect("serialises"));
            }
            s.positions_tree.apply_batch(batch).map_err(derived("write"))?;
            let path = s.checkpoint.with_file_name(VOUCHERS_FILE);
            append_vouchers(&path, &mut s.saved, projection.voucher_book())
                .map_err(|e| StoreError::io(&path, "write", e))?;
            let checkpoint = CheckpointRef {
                version: CHECKPOINT_VERSION,
                seq: head.seq,
                hash: &head.hash,
                log_len,
                ledger,
                projection,
                vouchers: &s.saved,
                symbols: projection.voucher_book().symbols(),
            };
            s.db.flush().map_err(derived("flush"))?;
            write_sealed(&s.checkpoint, &checkpoint).map_err(|e| StoreError::io(&s.checkpoint, "write", e))?;
            let path = s.checkpoint.with_file_name(TOTALS_FILE);
            write_totals(&path, head, log_len, projection).map_err(|e| StoreError::io(&path, "write", e))?;
        }
        Ok(())
    }

    /// The checkpoint, with its vouchers, if it and the vouchers file it stands on are whole.
    pub fn load_checkpoint(&mut self) -> Option<Checkpoint> {
        let Index::Sled(s) = self else {
            return None;
        };
        let mut checkpoint: Checkpoint = read_sealed(&s.checkpoint)?;
        if checkpoint.version != CHECKPOINT_VERSION {
            return None;
        }
        let symbols = std::mem::take(&mut checkpoint.symbols);
        let book = read_vouchers(&s.checkpoint.with_file_name(VOUCHERS_FILE), &checkpoint.vouchers, symbols)?;
        checkpoint.projection = std::mem::take(&mut checkpoint.projection).with_book(book);
        s.saved = checkpoint.vouchers.clone();
        Some(checkpoint)
    }
}
