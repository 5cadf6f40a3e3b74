//! The narrow storage trait and its two implementations: the durable JSON Lines file and an
//! in-memory twin for tests.

use crate::envelope::{Envelope, Head, LineProblem};
use crate::error::StoreError;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// A sealed batch: the lines to append (each ending in a newline) and the head they lead to.
pub struct SealedBatch {
    pub envelopes: Vec<Envelope>,
    pub text: String,
    pub head: Head,
}

/// What the store needs from a log: append a sealed batch at an expected head, read a range.
pub trait LogBackend {
    fn head(&self) -> &Head;
    /// Appends the batch as one all-or-nothing, durable step. Refuses (and writes nothing) if
    /// the log's head is not `expected_seq`.
    fn append(&mut self, expected_seq: u64, batch: &SealedBatch) -> Result<(), StoreError>;
    /// Appends the batch like `append`, but leaves making it durable to the caller (see
    /// `Store::write_group`). A backend without a separate sync makes it durable here.
    fn append_unsynced(&mut self, expected_seq: u64, batch: &SealedBatch) -> Result<(), StoreError> {
        self.append(expected_seq, batch)
    }
    /// Calls `each` for every envelope with `from <= seq <= to`, in order.
    fn read(
        &self,
        from: u64,
        to: u64,
        each: &mut dyn FnMut(Envelope) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// The in-memory twin: same contract, no durability.
#[derive(Default)]
pub struct MemoryLog {
    head: Option<Head>,
    lines: Vec<(Envelope, String)>,
}

impl MemoryLog {
    pub fn new() -> MemoryLog {
        MemoryLog { head: Some(Head::genesis()), lines: Vec::new() }
    }

    /// The log as the file would hold it.
    pub fn text(&self) -> String {
        self.lines.iter().map(|(_, l)| l.as_str()).collect()
    }
}

impl LogBackend for MemoryLog {
    fn head(&self) -> &Head {
        self.head.as_ref().expect("MemoryLog::new sets the head")
    }

    fn append(&mut self, expected_seq: u64, batch: &SealedBatch) -> Result<(), StoreError> {
        let actual = self.head().seq;
        if actual != expected_seq {
            return Err(StoreError::HeadMoved { expected: expected_seq, actual });
        }
        let mut lines = batch.text.split_inclusive('\n');
        for envelope in &batch.envelopes {
            let line = lines.next().expect("one line per envelope");
            self.lines.push((envelope.clone(), line.to_string()));
        }
        self.head = Some(batch.head.clone());
        Ok(())
    }

    fn read(
        &self,
        from: u64,
        to: u64,
        each: &mut dyn FnMut(Envelope) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for (envelope, _) in self.lines.iter().filter(|(e, _)| e.seq >= from && e.seq <= to) {
            each(envelope.clone())?;
        }
        Ok(())
    }
}

/// Where a scan of the log file ended.
#[derive(Debug, Clone)]
pub struct ScanEnd {
    /// Head after the last complete batch.
    pub head: Head,
    /// Byte length of the log up to the end of the last complete batch.
    pub valid_len: u64,
    /// Bytes after `valid_len`: an unfinished batch or a partial line (never acknowledged).
    pub torn_bytes: u64,
}

/// One line as the decoding thread hands it over. Nearly every item is a `Line`, so its size
/// is the enum's size anyway (boxing it would cost an allocation a line).
#[allow(clippy::large_enum_variant)]
enum Decoded {
    Line {
        envelope: Result<Envelope, LineProblem>,
        n: u64,
    },
    /// The file ends in a partial line; `too_long` if it is over the line limit.
    Partial {
        too_long: bool,
    },
    Failed(std::io::Error),
}

/// Lines per message between the threads.
const DECODED_PER_MESSAGE: usize = 512;

/// Reads the log file from `offset` (which must be the start of a line after a complete
/// batch whose head is `head`), calls `each` for every envelope of every complete batch, and
/// reports where the valid log ends. A damaged line that is not part of the torn tail is an
/// error that names the line.
///
/// Reading, hashing and decoding the lines runs on a thread of its own, a few hundred lines
/// ahead of `each` (which folds them into the ledger and the projection): on a machine with two
/// cores a replay takes about as long as the longer of the two halves, not their sum. The
/// order, the checks and the errors are those of one thread.
pub fn scan_file(
    path: &Path,
    offset: u64,
    head: Head,
    first_line_no: u64,
    each: &mut dyn FnMut(&Envelope, u64) -> Result<(), StoreError>,
) -> Result<ScanEnd, StoreError> {
    let mut file = File::open(path).map_err(|e| StoreError::io(path, "open", e))?;
    file.seek(SeekFrom::Start(offset)).map_err(|e| StoreError::io(path, "seek in", e))?;
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Decoded>>(8);
    // The envelopes go back to be dropped where they were allocated: freeing memory of
    // another thread's malloc arena takes that arena's lock, and costs more than the decoding.
    let (give_back, returned) = std::sync::mpsc::channel::<Vec<(Envelope, u64)>>();
    std::thread::scope(|scope| {
        scope.spawn(move || decode_lines(file, send, returned));
        fold_lines(path, offset, head, first_line_no, receive, give_back, each)
    })
}

/// The decoding half of `scan_file`: reads lines and opens them, until the end of the file or
/// until the folding half stops listening.
fn decode_lines(
    file: File,
    send: std::sync::mpsc::SyncSender<Vec<Decoded>>,
    returned: std::sync::mpsc::Receiver<Vec<(Envelope, u64)>>,
) {
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(DECODED_PER_MESSAGE);
    loop {
        while let Ok(done) = returned.try_recv() {
            drop(done);
        }
        buf.clear();
        let read = (&mut reader).take(crate::envelope::LINE_BYTES_MAX as u64 + 2).read_until(b'\n', &mut buf);
        let last = match read {
            Err(e) => Some(Decoded::Failed(e)),
            Ok(0) => None,
            Ok(n) if buf.last() != Some(&b'\n') => {
                Some(Decoded::Partial { too_long: n > crate::envelope::LINE_BYTES_MAX })
            }
            Ok(n) => {
                out.push(Decoded::Line { envelope: Envelope::open(&buf[..n - 1]), n: n as u64 });
                if out.len() < DECODED_PER_MESSAGE {
                    continue;
                }
                if send.send(std::mem::replace(&mut out, Vec::with_capacity(DECODED_PER_MESSAGE))).is_err() {
                    return;
                }
                continue;
            }
        };
        out.extend(last);
        let _ = send.send(out);
        return;
    }
}

/// The folding half of `scan_file`: checks the chain and the batches, and hands every envelope
/// of every complete batch to `each`, in order.
fn fold_lines(
    path: &Path,
    offset: u64,
    head: Head,
    first_line_no: u64,
    receive: std::sync::mpsc::Receiver<Vec<Decoded>>,
    give_back: std::sync::mpsc::Sender<Vec<(Envelope, u64)>>,
    each: &mut dyn FnMut(&Envelope, u64) -> Result<(), StoreError>,
) -> Result<ScanEnd, StoreError> {
    let mut pos = offset;
    let mut line_no = first_line_no;
    let mut chain = head.clone();
    let mut end = ScanEnd { head, valid_len: offset, torn_bytes: 0 };
    // Envelopes of the batch being read, with the byte offset after each line.
    let mut pending: Vec<(Envelope, u64)> = Vec::new();
    'lines: for message in receive {
        for decoded in message {
            let (envelope, n) = match decoded {
                Decoded::Failed(e) => return Err(StoreError::io(path, "read", e)),
                Decoded::Partial { too_long: true } => {
                    return Err(StoreError::Damaged {
                        path: path.to_path_buf(),
                        line: line_no + 1,
                        offset: pos,
                        problem: "a line longer than the 1 MiB limit".into(),
                    });
                }
                // A partial last line: the tail of a write that never finished.
                Decoded::Partial { too_long: false } => break 'lines,
                Decoded::Line { envelope, n } => (envelope, n),
            };
            line_no += 1;
            let line_start = pos;
            pos += n;
            let damaged = |problem: String| StoreError::Damaged {
                path: path.to_path_buf(),
                line: line_no,
                offset: line_start,
                problem,
            };
            let envelope = envelope.map_err(|problem| damaged(problem.0))?;
            if envelope.seq != chain.seq + 1 {
                return Err(damaged(format!("seq {} follows seq {} (seqs run without gaps)", envelope.seq, chain.seq)));
            }
            if envelope.prev_hash != chain.hash {
                return Err(damaged(format!(
                    "prev_hash {} is not the hash of seq {} ({})",
                    envelope.prev_hash, chain.seq, chain.hash
                )));
            }
            if let Some((first, _)) = pending.first() {
                if envelope.batch_last != first.batch_last {
                    return Err(damaged(format!(
                        "batch_last {} inside a batch that ends at {}",
                        envelope.batch_last, first.batch_last
                    )));
                }
            }
            chain = Head { seq: envelope.seq, hash: envelope.hash.clone() };
            let complete = envelope.seq == envelope.batch_last;
            pending.push((envelope, pos));
            if complete {
                for (e, after) in &pending {
                    each(e, *after)?;
                }
                // The receiver is gone only when the decoding thread has finished; then the
                // envelopes are simply dropped here.
                let _ = give_back.send(std::mem::take(&mut pending));
                end.head = chain.clone();
                end.valid_len = pos;
            }
        }
    }
    let file_len = std::fs::metadata(path).map_err(|e| StoreError::io(path, "stat", e))?.len();
    end.torn_bytes = file_len - end.valid_len;
    Ok(end)
}

/// The durable log file. Appends write the whole batch, then fdatasync; the batch is
/// acknowledged only after that returns.
/// The three things a log file must do for appends, so that tests can inject faults.
pub trait LogFile {
    fn write_all_at(&mut self, bytes: &[u8], offset: u64) -> std::io::Result<()>;
    fn sync_data(&mut self) -> std::io::Result<()>;
    fn set_len(&mut self, len: u64) -> std::io::Result<()>;
}

impl LogFile for File {
    fn write_all_at(&mut self, bytes: &[u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, bytes, offset)
    }

    fn sync_data(&mut self) -> std::io::Result<()> {
        File::sync_data(self)
    }

    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        File::set_len(self, len)
    }
}

pub struct FileLog<F: LogFile = File> {
    path: PathBuf,
    file: F,
    head: Head,
    len: u64,
    poisoned: Option<String>,
}

impl FileLog {
    /// Opens the log for appending at a scanned end; cuts away a torn tail first.
    pub fn open_for_append(path: &Path, end: &ScanEnd) -> Result<FileLog, StoreError> {
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| StoreError::io(path, "open", e))?;
        if end.torn_bytes > 0 {
            file.set_len(end.valid_len).map_err(|e| StoreError::io(path, "cut the torn tail of", e))?;
            file.sync_all().map_err(|e| StoreError::io(path, "sync", e))?;
        }
        Ok(FileLog { path: path.to_path_buf(), file, head: end.head.clone(), len: end.valid_len, poisoned: None })
    }

    /// The envelopes in the last `bytes` bytes of the acknowledged log, in order: a bounded read
    /// of what was recorded recently (the first, partial line is skipped). Lines that do not
    /// open are skipped too: the chain was verified when the store was opened.
    pub fn tail(&self, bytes: u64) -> Result<Vec<Envelope>, StoreError> {
        let start = self.len.saturating_sub(bytes);
        let mut file = File::open(&self.path).map_err(|e| StoreError::io(&self.path, "open", e))?;
        file.seek(SeekFrom::Start(start)).map_err(|e| StoreError::io(&self.path, "seek in", e))?;
        let mut text = Vec::new();
        file.take(self.len - start).read_to_end(&mut text).map_err(|e| StoreError::io(&self.path, "read", e))?;
        let mut lines = text.split(|b| *b == b'\n');
        if start > 0 {
            lines.next();
        }
        Ok(lines.filter(|l| !l.is_empty()).filter_map(|l| Envelope::open(l).ok()).collect())
    }

    /// The same log with its file wrapped (fault injection in tests).
    pub fn map_file<G: LogFile>(self, wrap: impl FnOnce(File) -> G) -> FileLog<G> {
        FileLog { path: self.path, file: wrap(self.file), head: self.head, len: self.len, poisoned: self.poisoned }
    }
}

impl<F: LogFile> FileLog<F> {
    /// Writes the batch after the last one, without fdatasync; a failed write is cut back.
    fn write_at_end(&mut self, expected_seq: u64, batch: &SealedBatch) -> Result<(), StoreError> {
        if let Some(reason) = &self.poisoned {
            return Err(StoreError::Poisoned { reason: reason.clone() });
        }
        if self.head.seq != expected_seq {
            return Err(StoreError::HeadMoved { expected: expected_seq, actual: self.head.seq });
        }
        if let Err(e) = self.file.write_all_at(batch.text.as_bytes(), self.len) {
            // Undo the partial write so the file ends on the last batch written whole.
            if let Err(undo) = self.file.set_len(self.len).and_then(|_| self.file.sync_data()) {
                self.poisoned = Some(format!("write failed ({e}) and so did cutting it back ({undo})"));
            }
            return Err(StoreError::io(self.path.clone(), "append to", e));
        }
        Ok(())
    }
}

impl FileLog {
    /// A second handle on the log file: a thread that makes written groups durable calls
    /// `sync_data` on it while the writer goes on (see `Store::write_group`).
    pub fn sync_handle(&self) -> Result<File, StoreError> {
        self.file.try_clone().map_err(|e| StoreError::io(&self.path, "open a second handle on", e))
    }
}

impl<F: LogFile> LogBackend for FileLog<F> {
    fn head(&self) -> &Head {
        &self.head
    }

    fn append(&mut self, expected_seq: u64, batch: &SealedBatch) -> Result<(), StoreError> {
        self.write_at_end(expected_seq, batch)?;
        if let Err(e) = self.file.sync_data() {
            // No retry after a failed fdatasync: the kernel may have dropped the dirty pages
            // and a second fdatasync could report success for data that is gone.
            self.poisoned = Some(format!("fdatasync of {} failed: {e}", self.path.display()));
            return Err(StoreError::Poisoned { reason: self.poisoned.clone().unwrap_or_default() });
        }
        self.len += batch.text.len() as u64;
        self.head = batch.head.clone();
        Ok(())
    }

    fn append_unsynced(&mut self, expected_seq: u64, batch: &SealedBatch) -> Result<(), StoreError> {
        self.write_at_end(expected_seq, batch)?;
        self.len += batch.text.len() as u64;
        self.head = batch.head.clone();
        Ok(())
    }

    fn read(
        &self,
        from: u64,
        to: u64,
        each: &mut dyn FnMut(Envelope) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let end = scan_file(&self.path, 0, Head::genesis(), 0, &mut |e, _| {
            if e.seq >= from && e.seq <= to {
                each(e.clone())?;
            }
            Ok(())
        })?;
        debug_assert!(end.head.seq >= self.head.seq, "the file holds at least what this writer appended");
        Ok(())
    }
}

/// Checks the hash chain of the first `len` bytes of the log without decoding the events:
/// every line's own hash, its seq and its link to the line before. This is what lets a writer
/// trust a checkpoint's ledger state: the prefix it was computed from is still intact.
/// Returns the head at `len`.
pub fn verify_chain_prefix(path: &Path, len: u64) -> Result<Head, StoreError> {
    verify_chain_in_blocks(path, len, CHAIN_BLOCK)
}

/// `verify_chain_prefix`, reading `block` bytes at a time (a line longer than that is read whole).
fn verify_chain_in_blocks(path: &Path, len: u64, block_size: usize) -> Result<Head, StoreError> {
    let mut file = File::open(path).map_err(|e| StoreError::io(path, "open", e))?.take(len);
    let mut chain = Head::genesis();
    // Read in blocks; each block's lines are hashed on two threads (each half's lines checked
    // on their own), then the links are followed in order on this one.
    let mut block: Vec<u8> = Vec::with_capacity(block_size);
    let mut pos = 0u64;
    loop {
        let start = block.len();
        block.resize(start + block_size, 0);
        let n = read_full(&mut file, &mut block[start..]).map_err(|e| StoreError::io(path, "read", e))?;
        block.truncate(start + n);
        let at_end = n == 0;
        if block.is_empty() {
            break;
        }
        // Whole lines only; the rest waits for the next block.
        let whole = match block.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if at_end => {
                let damaged = StoreError::Damaged {
                    path: path.to_path_buf(),
                    line: chain.seq + 1,
                    offset: pos,
                    problem: "the checkpointed part of the log ends in the middle of a line".into(),
                };
                return Err(damaged);
            }
            None => continue,
        };
        // Every line (an empty one too: it is damage, and says where).
        let lines: Vec<&[u8]> = block[..whole - 1].split(|b| *b == b'\n').collect();
        let middle = lines.len() / 2;
        let (first, second) = lines.split_at(middle);
        let links = |part: &[&[u8]]| -> Vec<Result<crate::envelope::ChainLink, String>> {
            part.iter().map(|l| crate::envelope::chain_link(l).map_err(|p| p.0)).collect()
        };
        let (a, b) = std::thread::scope(|scope| {
            let other = scope.spawn(|| links(second));
            (links(first), other.join().expect("a hashing thread does not panic"))
        });
        for (line, link) in lines.iter().zip(a.into_iter().chain(b)) {
            let line_no = chain.seq + 1;
            let damaged =
                |problem: String| StoreError::Damaged { path: path.to_path_buf(), line: line_no, offset: pos, problem };
            let link = link.map_err(damaged)?;
            if link.seq != line_no {
                return Err(damaged(format!("seq {} follows seq {} (seqs run without gaps)", link.seq, chain.seq)));
            }
            if link.prev_hash != chain.hash {
                return Err(damaged(format!(
                    "prev_hash {} is not the hash of seq {} ({})",
                    link.prev_hash, chain.seq, chain.hash
                )));
            }
            chain = Head { seq: link.seq, hash: link.hash };
            pos += line.len() as u64 + 1;
        }
        block.drain(..whole);
        if at_end {
            if !block.is_empty() {
                return Err(StoreError::Damaged {
                    path: path.to_path_buf(),
                    line: chain.seq + 1,
                    offset: pos,
                    problem: "the checkpointed part of the log ends in the middle of a line".into(),
                });
            }
            break;
        }
    }
    Ok(chain)
}

/// How much of the log `verify_chain_prefix` reads at a time.
const CHAIN_BLOCK: usize = 8 << 20;

/// Reads until `buf` is full or the reader ends; how much was read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod chain_tests {
    use super::*;
    use crate::store::Store;

    /// A log of a random history, written to a file; its text and the file.
    fn log_file(name: &str) -> (String, PathBuf) {
        let mut store = Store::in_memory();
        let events = finsam_generate::random_history(7, 120);
        for (i, e) in events.iter().enumerate() {
            store.record(&[(i + 1, e.clone())], "test", None).unwrap();
        }
        let text = store.log_text();
        let path = std::env::temp_dir().join(format!("finsam-chain-{name}-{}.jsonl", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        (text, path)
    }

    #[test]
    fn the_chain_is_checked_alike_whatever_the_blocks_and_damage_is_named_where_it_is() {
        let (text, path) = log_file("blocks");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 100);
        let len = text.len() as u64;
        let whole = verify_chain_in_blocks(&path, len, CHAIN_BLOCK).unwrap();
        assert_eq!(whole.seq, lines.len() as u64);
        // Blocks smaller than a line, of a few lines, and odd sizes give the same head.
        for block in [50, 333, 1000, 4096, 65_536] {
            assert_eq!(verify_chain_in_blocks(&path, len, block).unwrap(), whole, "blocks of {block}");
        }
        // A prefix that ends with a whole line gives that line's head.
        let prefix: usize = lines[..40].iter().map(|l| l.len() + 1).sum();
        assert_eq!(verify_chain_in_blocks(&path, prefix as u64, 333).unwrap().seq, 40);
        // One changed byte in line 57: named, with its offset, in every block size.
        let offset: usize = lines[..56].iter().map(|l| l.len() + 1).sum();
        let mut bytes = text.clone().into_bytes();
        let at = offset + lines[56].len() / 2;
        bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
        std::fs::write(&path, &bytes).unwrap();
        for block in [50, 333, 4096, CHAIN_BLOCK] {
            match verify_chain_in_blocks(&path, len, block) {
                Err(StoreError::Damaged { line, offset: o, .. }) => {
                    assert_eq!((line, o), (57, offset as u64), "blocks of {block}")
                }
                other => panic!("blocks of {block}: {other:?}"),
            }
        }
        // An empty line, and a prefix that ends inside a line, are damage too.
        let mut with_gap = text.clone().into_bytes();
        with_gap.insert(offset, b'\n');
        std::fs::write(&path, &with_gap).unwrap();
        assert!(matches!(verify_chain_in_blocks(&path, len + 1, 333), Err(StoreError::Damaged { line: 57, .. })));
        std::fs::write(&path, &text).unwrap();
        assert!(matches!(
            verify_chain_in_blocks(&path, prefix as u64 - 5, 333),
            Err(StoreError::Damaged { line: 40, .. })
        ));
        let _ = std::fs::remove_file(&path);
    }
}
