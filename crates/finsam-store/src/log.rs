//! The narrow storage trait and its two implementations: the durable JSON Lines file and an
//! in-memory twin for tests.

use crate::envelope::{Envelope, Head, LineProblem};
use crate::error::StoreError;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
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
    /// Whether the store keeps an underlag file with this SHA-256 and size: an
    /// `UnderlagAttached` is recorded only when the bytes it names are kept. The in-memory twin
    /// keeps no files and answers yes.
    fn holds_underlag(&self, _sha256: &str, _size: u64) -> bool {
        true
    }
    /// Before a write: hands `newer` every envelope other writers have appended since this
    /// one's head (in order, each checked against the chain, with the bytes of its line and
    /// newline) and holds them off until the append or `unlock`. A log with one writer (a file
    /// of its own, behind its writer lock) has none.
    fn lock_for_append(&mut self, _newer: &mut dyn FnMut(Envelope, u64)) -> Result<(), StoreError> {
        Ok(())
    }
    /// Lets other writers go on after `lock_for_append` when nothing is appended.
    fn unlock(&mut self) {}
    /// As `lock_for_append`, without holding other writers off: for a reader keeping up.
    fn newer(&mut self, _each: &mut dyn FnMut(Envelope, u64)) -> Result<(), StoreError> {
        Ok(())
    }
    /// The log's length in bytes, where it has one (a file).
    fn log_len(&self) -> Option<u64> {
        None
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

/// One line as the decoding threads hand it over. Nearly every item is a `Line`, so its size
/// is the enum's size anyway (boxing it would cost an allocation a line).
#[allow(clippy::large_enum_variant)]
pub enum Decoded {
    /// A whole line of `n` bytes with its newline: its envelope, or what is wrong with it.
    Line {
        envelope: Result<Envelope, BadLine>,
        n: u64,
    },
    /// The file ends in a partial line of `n` bytes; `too_long` if it is over the line limit.
    Partial {
        n: u64,
        too_long: bool,
    },
    Failed(std::io::Error),
}

/// A line that does not open, and the hash it states (to follow the chain past it).
pub struct BadLine {
    pub problem: LineProblem,
    pub stated_hash: Option<String>,
}

/// The `hash` member a line states, if it has one.
fn stated_hash(line: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?;
    let at = text.rfind(",\"hash\":\"")?;
    Some(text[at + 9..].trim_end_matches("\"}").to_string())
}

/// Bytes read at a time; each block, cut at its last newline, is decoded by one thread.
const BLOCK_BYTES: usize = 1 << 20;
/// Most decoding threads, whatever the machine has.
const DECODERS_MAX: usize = 8;

/// Reads the log file from `offset` (which must be the start of a line after a complete
/// batch whose head is `head`), calls `each` for every envelope of every complete batch, and
/// reports where the valid log ends. A damaged line that is not part of the torn tail is an
/// error that names the line.
///
/// One thread reads the file in blocks cut at line ends; as many decoding threads as the
/// machine has cores hash and decode the blocks' lines, taking the blocks in turn; `each`
/// (which folds them into the ledger and the projection) takes the decoded lines in the log's
/// order, block by block. The order, the checks and the errors are those of one thread.
pub fn scan_file(
    path: &Path,
    offset: u64,
    head: Head,
    first_line_no: u64,
    each: &mut dyn FnMut(&Envelope, u64) -> Result<(), StoreError>,
) -> Result<ScanEnd, StoreError> {
    scan_file_holding(path, offset, head, first_line_no, each, BLOCK_BYTES, decoders()).map(|(end, _)| end)
}

/// `scan_file` with the block size and the number of decoding threads given, and the most
/// envelopes it held at once waiting for their batch's last line (none while it reads up to the
/// last batch end the log's tail shows, see `last_batch_end`).
fn scan_file_holding(
    path: &Path,
    offset: u64,
    head: Head,
    first_line_no: u64,
    each: &mut dyn FnMut(&Envelope, u64) -> Result<(), StoreError>,
    block_bytes: usize,
    decoders: usize,
) -> Result<(ScanEnd, usize), StoreError> {
    let complete_until = last_batch_end(path, offset);
    let (mut end, held) = with_lines(path, offset, block_bytes, decoders, |lines| {
        fold_lines(path, offset, head, first_line_no, lines, complete_until, each)
    })??;
    let file_len = std::fs::metadata(path).map_err(|e| StoreError::io(path, "stat", e))?.len();
    end.torn_bytes = file_len - end.valid_len;
    Ok((end, held))
}

/// How far back from the end of the log `last_batch_end` looks for a line that ends a batch.
const BATCH_END_SEARCH_BYTES: u64 = 4 << 20;

/// The end of the last line, at or after `offset` and within the last `BATCH_END_SEARCH_BYTES`
/// of the file, that opens (`Envelope::open`) and ends its batch (`seq == batch_last`); `offset`
/// when there is none. Every line before it that reads without damage is then part of a
/// complete batch: the chain runs without gaps and a batch's lines all name its last seq, so a
/// batch left open before this line would be damage, found as the scan reaches it. That lets
/// `fold_lines` hand such lines on at once instead of holding a whole batch (an import of ten
/// thousand events is a batch), and hold only what follows (perhaps a torn batch).
fn last_batch_end(path: &Path, offset: u64) -> u64 {
    let Ok(mut file) = File::open(path) else { return offset };
    let Ok(len) = file.metadata().map(|m| m.len()) else { return offset };
    let start = len.saturating_sub(BATCH_END_SEARCH_BYTES).max(offset);
    let mut tail = Vec::new();
    if len <= start
        || file.seek(SeekFrom::Start(start)).is_err()
        || file.take(len - start).read_to_end(&mut tail).is_err()
    {
        return offset;
    }
    // The lines of the tail that end in a newline, from the last; the first is whole only if
    // the tail starts at `offset` (the start of a line).
    let mut end = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    while end > 0 {
        let line_start = tail[..end - 1].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if line_start == 0 && start != offset {
            break;
        }
        let line = &tail[line_start..end - 1];
        if looks_like_batch_end(line) && Envelope::open(line).is_ok_and(|e| e.seq == e.batch_last) {
            return start + end as u64;
        }
        end = line_start;
    }
    offset
}

/// Whether a canonical line states `"batch_last"` equal to its `"seq"` (a cheap test before
/// the line is opened: only a line that opens counts).
fn looks_like_batch_end(line: &[u8]) -> bool {
    let digits = |from: &[u8]| from.iter().take_while(|b| b.is_ascii_digit()).count();
    let Some(rest) = line.strip_prefix(b"{\"seq\":") else { return false };
    let seq = &rest[..digits(rest)];
    const MEMBER: &[u8] = b",\"batch_last\":";
    match rest.windows(MEMBER.len()).position(|w| w == MEMBER) {
        Some(at) => {
            let after = &rest[at + MEMBER.len()..];
            !seq.is_empty() && after[..digits(after)] == *seq
        }
        None => false,
    }
}

/// `scan_file` for a log that is not a file (a database's table read as lines, see
/// `pg::PgLines`): `label` names it in errors, `total` (its length, if known) drives the
/// progress line. Nothing is cut: whatever follows the last complete batch is `torn_bytes`.
pub fn scan_reader<R: Read + Send>(
    label: &Path,
    reader: R,
    total: u64,
    each: &mut dyn FnMut(&Envelope, u64) -> Result<(), StoreError>,
) -> Result<ScanEnd, StoreError> {
    let mut read = 0u64;
    let end = with_reader(reader, total, BLOCK_BYTES, decoders(), |lines| {
        let end = fold_lines(label, 0, Head::genesis(), 0, lines, 0, each).map(|(end, _)| end);
        read = lines.bytes_read();
        end
    })?;
    let mut end = end?;
    end.torn_bytes = read.saturating_sub(end.valid_len);
    Ok(end)
}

/// Reads the log file from `offset` (the start of a line) and lets `body` take its lines, in
/// order, from `Lines`: one thread reads the file in blocks cut at line ends; `decoders`
/// threads hash and decode the blocks' lines, taking the blocks in turn.
pub fn read_lines<T>(path: &Path, offset: u64, body: impl FnOnce(&mut Lines) -> T) -> Result<T, StoreError> {
    with_lines(path, offset, BLOCK_BYTES, decoders(), body)
}

/// `read_lines` for a log that is not a file (a database's table, `pg::PgLines`).
pub fn read_lines_of<R: Read + Send, T>(reader: R, body: impl FnOnce(&mut Lines) -> T) -> Result<T, StoreError> {
    with_reader(reader, 0, BLOCK_BYTES, decoders(), body)
}

/// As many decoding threads as the machine has cores (at most `DECODERS_MAX`).
fn decoders() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, DECODERS_MAX)
}

/// Opens each line (see `Envelope::open`), on as many threads as the machine has cores (a few
/// lines on this one), and answers in the lines' order.
pub(crate) fn open_lines(lines: &[&[u8]]) -> Vec<Result<Envelope, LineProblem>> {
    open_lines_on(lines, decoders().min(lines.len() / 1024 + 1))
}

fn open_lines_on(lines: &[&[u8]], threads: usize) -> Vec<Result<Envelope, LineProblem>> {
    let open = |part: &[&[u8]]| part.iter().map(|line| Envelope::open(line)).collect::<Vec<_>>();
    if threads <= 1 || lines.len() < 2 {
        return open(lines);
    }
    let mut parts = lines.chunks(lines.len().div_ceil(threads));
    let first = parts.next().expect("more than one part");
    std::thread::scope(|scope| {
        let others: Vec<_> = parts.map(|part| scope.spawn(move || open(part))).collect();
        let mut all = open(first);
        for other in others {
            all.extend(other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        all
    })
}

fn with_lines<T>(
    path: &Path,
    offset: u64,
    block_bytes: usize,
    decoders: usize,
    body: impl FnOnce(&mut Lines) -> T,
) -> Result<T, StoreError> {
    let mut file = File::open(path).map_err(|e| StoreError::io(path, "open", e))?;
    file.seek(SeekFrom::Start(offset)).map_err(|e| StoreError::io(path, "seek in", e))?;
    let total = file.metadata().map_or(0, |m| m.len()).saturating_sub(offset);
    with_reader(file, total, block_bytes, decoders, body)
}

/// Lets `body` take the decoded lines of `reader` (see `with_lines`).
fn with_reader<R: Read + Send, T>(
    file: R,
    total: u64,
    block_bytes: usize,
    decoders: usize,
    body: impl FnOnce(&mut Lines) -> T,
) -> Result<T, StoreError> {
    Ok(std::thread::scope(|scope| {
        // Made inside the scope, so that when `body` stops early (at damage) the channels
        // close and the other threads end before the scope waits for them.
        let mut to_decoders = Vec::with_capacity(decoders);
        let mut lines = Lines {
            from: Vec::with_capacity(decoders),
            give_back: Vec::new(),
            emptied: Vec::new(),
            turn: 0,
            message: None,
            bytes: 0,
        };
        // The blocks' buffers and the messages' lists go back to be filled again: allocating
        // each anew (a few MiB a block) costs a page fault per 4 KiB (see
        // `fixed_malloc_thresholds` in the binary).
        let (read_again, buffers) = std::sync::mpsc::channel::<Vec<u8>>();
        for _ in 0..decoders {
            let (send_block, blocks) = std::sync::mpsc::sync_channel::<Block>(2);
            let (send_decoded, decoded) = std::sync::mpsc::sync_channel::<Message>(2);
            // The envelopes go back to be dropped where they were allocated: freeing memory of
            // another thread's malloc arena takes that arena's lock, and costs more than the
            // decoding.
            let (send_back, returned) = std::sync::mpsc::channel::<Vec<Envelope>>();
            let (send_emptied, emptied) = std::sync::mpsc::channel::<Message>();
            let read_again = read_again.clone();
            scope.spawn(move || decode_blocks(blocks, send_decoded, returned, emptied, read_again));
            to_decoders.push(send_block);
            lines.from.push(decoded);
            lines.give_back.push((send_back, Vec::new()));
            lines.emptied.push(send_emptied);
        }
        drop(read_again);
        scope.spawn(move || {
            read_blocks(file, to_decoders, buffers, block_bytes, crate::progress::Reading::begin(total))
        });
        body(&mut lines)
    }))
}

/// The decoded lines of the log, in its order (see `read_lines`).
pub struct Lines {
    from: Vec<std::sync::mpsc::Receiver<Message>>,
    give_back: Vec<(std::sync::mpsc::Sender<Vec<Envelope>>, Vec<Envelope>)>,
    /// Where each decoding thread takes back its messages, emptied.
    emptied: Vec<std::sync::mpsc::Sender<Message>>,
    turn: usize,
    message: Option<(Message, usize)>,
    /// Bytes of the lines handed out so far.
    bytes: u64,
}

impl Lines {
    /// The next line, and which decoding thread made it (for `done_with`); `None` at the end.
    pub fn next_line(&mut self) -> Option<(Decoded, usize)> {
        loop {
            if let Some((message, from)) = &mut self.message {
                if let Some(decoded) = message.pop_front() {
                    self.bytes += match &decoded {
                        Decoded::Line { n, .. } | Decoded::Partial { n, .. } => *n,
                        Decoded::Failed(_) => 0,
                    };
                    return Some((decoded, *from));
                }
            }
            if let Some((message, from)) = self.message.take() {
                // Gone only when the decoding thread has finished: then it is simply dropped.
                let _ = self.emptied[from].send(message);
            }
            // The blocks come back in the order they were read: from each thread in turn.
            let from = self.turn % self.from.len();
            let message = self.from[from].recv().ok()?;
            self.turn += 1;
            self.message = Some((message, from));
        }
    }

    /// The bytes of the lines handed out so far, partial lines included.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Hands an envelope back to the thread that made it, to be freed there.
    pub fn done_with(&mut self, envelope: Envelope, from: usize) {
        let (to, envelopes) = &mut self.give_back[from];
        envelopes.push(envelope);
        if envelopes.len() >= 256 {
            // The receiver is gone only when the decoding thread has finished; then the
            // envelopes are simply dropped here.
            let _ = to.send(std::mem::take(envelopes));
        }
    }
}

/// The lines of one block, decoded, in order.
type Message = std::collections::VecDeque<Decoded>;

/// What the reading thread hands a decoding thread: whole lines, and after the last of them
/// perhaps a partial line (the file's end), or the error that stopped the reading.
struct Block {
    bytes: Vec<u8>,
    /// `bytes` ends in a line without its newline: the end of the file.
    partial_tail: bool,
    failed: Option<std::io::Error>,
}

/// The reading half of `scan_file`: reads blocks, cuts them after their last newline, and
/// hands them to the decoding threads in turn, until the end of the file or until nobody
/// listens.
fn read_blocks(
    mut file: impl Read,
    decoders: Vec<std::sync::mpsc::SyncSender<Block>>,
    buffers: std::sync::mpsc::Receiver<Vec<u8>>,
    block_bytes: usize,
    mut progress: crate::progress::Reading,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(2 * block_bytes);
    // The lines after the last newline read go into the next buffer, a used one if one is back.
    let next_buffer = || {
        let mut next = buffers.try_recv().unwrap_or_else(|_| Vec::with_capacity(2 * block_bytes));
        next.clear();
        next
    };
    for turn in 0.. {
        let to = &decoders[turn % decoders.len()];
        let block = loop {
            let start = buf.len();
            buf.resize(start + block_bytes, 0);
            let read = read_full(&mut file, &mut buf[start..]);
            let n = *read.as_ref().unwrap_or(&0);
            buf.truncate(start + n);
            progress.advance(n as u64);
            if let Err(e) = read {
                break Block { bytes: Vec::new(), partial_tail: false, failed: Some(e) };
            }
            if n == 0 {
                if buf.is_empty() {
                    return;
                }
                break Block { bytes: std::mem::take(&mut buf), partial_tail: true, failed: None };
            }
            match buf.iter().rposition(|b| *b == b'\n') {
                Some(last) => {
                    let mut next = next_buffer();
                    next.extend_from_slice(&buf[last + 1..]);
                    buf.truncate(last + 1);
                    break Block { bytes: std::mem::replace(&mut buf, next), partial_tail: false, failed: None };
                }
                // A line longer than any line may be: it is damage, whatever follows.
                None if buf.len() > crate::envelope::LINE_BYTES_MAX + 1 => {
                    break Block { bytes: std::mem::take(&mut buf), partial_tail: true, failed: None };
                }
                None => {}
            }
        };
        let last = block.partial_tail || block.failed.is_some();
        if to.send(block).is_err() || last {
            return;
        }
    }
}

/// A decoding half of `scan_file`: opens every line of every block it is given, and hands the
/// block's lines on as one message.
fn decode_blocks(
    blocks: std::sync::mpsc::Receiver<Block>,
    send: std::sync::mpsc::SyncSender<Message>,
    returned: std::sync::mpsc::Receiver<Vec<Envelope>>,
    emptied: std::sync::mpsc::Receiver<Message>,
    read_again: std::sync::mpsc::Sender<Vec<u8>>,
) {
    for block in blocks {
        while let Ok(done) = returned.try_recv() {
            drop(done);
        }
        // A list used before starts again at its front, so that its pages already written are
        // the ones written again.
        let mut out = match emptied.try_recv() {
            Ok(mut used) => {
                used.clear();
                used
            }
            Err(_) => Message::new(),
        };
        out.reserve(block.bytes.iter().filter(|b| **b == b'\n').count() + 2);
        let mut lines = block.bytes.split_inclusive(|b| *b == b'\n').peekable();
        while let Some(line) = lines.next() {
            if block.partial_tail && lines.peek().is_none() {
                let n = line.len();
                out.push_back(Decoded::Partial { n: n as u64, too_long: n > crate::envelope::LINE_BYTES_MAX });
            } else {
                let body = &line[..line.len() - 1];
                let envelope =
                    Envelope::open(body).map_err(|problem| BadLine { problem, stated_hash: stated_hash(body) });
                out.push_back(Decoded::Line { envelope, n: line.len() as u64 });
            }
        }
        out.extend(block.failed.map(Decoded::Failed));
        // Gone only when the reader has finished: then the buffer is simply dropped.
        let _ = read_again.send(block.bytes);
        if send.send(out).is_err() {
            return;
        }
    }
}

/// The folding half of `scan_file`: checks the chain and the batches, and hands every envelope
/// of every complete batch to `each`, in order: a line that ends at or before `complete_until`
/// (a batch's end, see `last_batch_end`) as soon as it is read, a later one when its batch's
/// last line is read. Returns where the valid log ends and the most envelopes held at once.
fn fold_lines(
    path: &Path,
    offset: u64,
    head: Head,
    first_line_no: u64,
    lines: &mut Lines,
    complete_until: u64,
    each: &mut dyn FnMut(&Envelope, u64) -> Result<(), StoreError>,
) -> Result<(ScanEnd, usize), StoreError> {
    let mut pos = offset;
    let mut line_no = first_line_no;
    let mut chain = head.clone();
    let mut end = ScanEnd { head, valid_len: offset, torn_bytes: 0 };
    // The last seq of the batch being read, once its first line is read.
    let mut batch_last: Option<u64> = None;
    // Envelopes of the batch being read past `complete_until` (see `last_batch_end`), with the
    // byte offset after each line and the decoding thread that made it.
    let mut pending: Vec<(Envelope, u64, usize)> = Vec::new();
    let mut held = 0;
    while let Some((decoded, from)) = lines.next_line() {
        {
            let (envelope, n) = match decoded {
                Decoded::Failed(e) => return Err(StoreError::io(path, "read", e)),
                Decoded::Partial { too_long: true, .. } => {
                    return Err(StoreError::Damaged {
                        path: path.to_path_buf(),
                        line: line_no + 1,
                        offset: pos,
                        problem: "a line longer than the 1 MiB limit".into(),
                    });
                }
                // A partial last line: the tail of a write that never finished.
                Decoded::Partial { too_long: false, .. } => break,
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
            let envelope = envelope.map_err(|bad| damaged(bad.problem.0))?;
            if envelope.seq != chain.seq + 1 {
                return Err(damaged(format!("seq {} follows seq {} (seqs run without gaps)", envelope.seq, chain.seq)));
            }
            if envelope.prev_hash != chain.hash {
                return Err(damaged(format!(
                    "prev_hash {} is not the hash of seq {} ({})",
                    envelope.prev_hash, chain.seq, chain.hash
                )));
            }
            match batch_last {
                Some(last) if envelope.batch_last != last => {
                    return Err(damaged(format!(
                        "batch_last {} inside a batch that ends at {last}",
                        envelope.batch_last
                    )));
                }
                _ => batch_last = Some(envelope.batch_last),
            }
            chain = Head { seq: envelope.seq, hash: envelope.hash.clone() };
            let complete = envelope.seq == envelope.batch_last;
            if pos <= complete_until {
                each(&envelope, pos)?;
                lines.done_with(envelope, from);
            } else {
                pending.push((envelope, pos, from));
                held = held.max(pending.len());
            }
            if complete {
                for (e, after, _) in &pending {
                    each(e, *after)?;
                }
                for (e, _, from) in pending.drain(..) {
                    lines.done_with(e, from);
                }
                batch_last = None;
                end.head = chain.clone();
                end.valid_len = pos;
            }
        }
    }
    Ok((end, held))
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
    /// The database this file mirrors, for an instance of a service on PostgreSQL: a batch is
    /// committed there first (that is what makes it durable and puts it in order), then
    /// written here; what other instances committed is written here as it is taken in. The
    /// file is this instance's copy, for its reads and its derived state.
    upstream: Option<Box<crate::pg::PgLog>>,
}

impl FileLog {
    /// Opens the log for appending at a scanned end; cuts away a torn tail first.
    pub fn open_for_append(path: &Path, end: &ScanEnd) -> Result<FileLog, StoreError> {
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| StoreError::io(path, "open", e))?;
        if end.torn_bytes > 0 {
            file.set_len(end.valid_len).map_err(|e| StoreError::io(path, "cut the torn tail of", e))?;
            file.sync_all().map_err(|e| StoreError::io(path, "sync", e))?;
        }
        Ok(FileLog {
            path: path.to_path_buf(),
            file,
            head: end.head.clone(),
            len: end.valid_len,
            poisoned: None,
            upstream: None,
        })
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
        let lines: Vec<&[u8]> = lines.filter(|l| !l.is_empty()).collect();
        Ok(open_lines(&lines).into_iter().filter_map(Result::ok).collect())
    }

    /// The same log with its file wrapped (fault injection in tests).
    pub fn map_file<G: LogFile>(self, wrap: impl FnOnce(File) -> G) -> FileLog<G> {
        FileLog {
            path: self.path,
            file: wrap(self.file),
            head: self.head,
            len: self.len,
            poisoned: self.poisoned,
            upstream: self.upstream,
        }
    }
}

impl<F: LogFile> FileLog<F> {
    /// The store's folder.
    pub fn dir(&self) -> PathBuf {
        self.path.parent().map(Path::to_path_buf).unwrap_or_default()
    }

    /// The address of the database this file mirrors, if it does.
    pub fn upstream_url(&self) -> Option<String> {
        self.upstream.as_ref().map(|u| u.url().to_string())
    }

    /// Makes this file the copy of the log in a database (see `upstream`); its head must be a
    /// head the database has committed.
    pub fn mirror(&mut self, upstream: crate::pg::PgLog) {
        self.upstream = Some(Box::new(upstream));
    }

    /// Writes lines taken in from the database at the end of the file (no fdatasync: the
    /// database holds them durably; a torn copy is cut and taken in again at the next open).
    fn take_line(&mut self, envelope: &Envelope, line: &str) -> Result<u64, StoreError> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        if let Err(e) = self.file.write_all_at(&bytes, self.len) {
            self.poisoned = Some(format!("the copy of the database's log could not be written ({e})"));
            return Err(StoreError::io(self.path.clone(), "append to", e));
        }
        self.len += bytes.len() as u64;
        self.head = Head { seq: envelope.seq, hash: envelope.hash.clone() };
        Ok(bytes.len() as u64)
    }

    /// What the database committed since this file's head, written here and handed on.
    fn follow_upstream(&mut self, lock: bool, newer: &mut dyn FnMut(Envelope, u64)) -> Result<(), StoreError> {
        if let Some(reason) = &self.poisoned {
            return Err(StoreError::Poisoned { reason: reason.clone() });
        }
        let Some(mut upstream) = self.upstream.take() else {
            return Ok(());
        };
        let mut failed = None;
        let looked = upstream.take_newer(lock, &mut |e, line| {
            if failed.is_some() {
                return;
            }
            match self.take_line(&e, line) {
                Ok(n) => newer(e, n),
                Err(err) => failed = Some(err),
            }
        });
        if failed.is_some() && lock {
            upstream.unlock_head();
        }
        self.upstream = Some(upstream);
        match failed {
            Some(e) => Err(e),
            None => looked,
        }
    }

    /// Commits the batch to the database this file mirrors, if any, before it is written here:
    /// once committed it is acknowledged whatever happens to this copy, so a copy that then
    /// cannot be written stops this writer (the next open takes it in from the database).
    fn commit_upstream(&mut self, expected_seq: u64, batch: &SealedBatch) -> Result<(), StoreError> {
        if let Some(reason) = &self.poisoned {
            return Err(StoreError::Poisoned { reason: reason.clone() });
        }
        let Some(upstream) = self.upstream.as_mut() else {
            return Ok(());
        };
        upstream.append(expected_seq, batch)
    }

    /// `write_at_end` after `commit_upstream`: a batch the database holds that this copy
    /// cannot hold stops this writer.
    fn write_committed(&mut self, expected_seq: u64, batch: &SealedBatch) -> Result<(), StoreError> {
        let written = self.write_at_end(expected_seq, batch);
        if let (Err(e), Some(_)) = (&written, &self.upstream) {
            self.poisoned = Some(format!("the database holds the batch, but its copy could not be written here ({e})"));
        }
        written
    }

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
    fn holds_underlag(&self, sha256: &str, size: u64) -> bool {
        self.path.parent().is_some_and(|store| crate::underlag::has(store, sha256, size))
    }

    fn head(&self) -> &Head {
        &self.head
    }

    fn lock_for_append(&mut self, newer: &mut dyn FnMut(Envelope, u64)) -> Result<(), StoreError> {
        self.follow_upstream(true, newer)
    }

    fn unlock(&mut self) {
        if let Some(upstream) = self.upstream.as_mut() {
            upstream.unlock_head();
        }
    }

    fn newer(&mut self, each: &mut dyn FnMut(Envelope, u64)) -> Result<(), StoreError> {
        self.follow_upstream(false, each)
    }

    fn log_len(&self) -> Option<u64> {
        Some(self.len)
    }

    fn append(&mut self, expected_seq: u64, batch: &SealedBatch) -> Result<(), StoreError> {
        self.commit_upstream(expected_seq, batch)?;
        self.write_committed(expected_seq, batch)?;
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
        self.commit_upstream(expected_seq, batch)?;
        self.write_committed(expected_seq, batch)?;
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

    #[test]
    fn lines_opened_on_several_threads_come_back_in_order_with_the_damaged_one_named() {
        let (text, path) = log_file("open");
        let _ = std::fs::remove_file(&path);
        let mut bytes = text.into_bytes();
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        let damaged_at = lines[..56].iter().map(|l| l.len() + 1).sum::<usize>() + 30;
        bytes[damaged_at] = if bytes[damaged_at] == b'1' { b'2' } else { b'1' };
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        let one_by_one: Vec<_> = lines.iter().map(|l| Envelope::open(l)).collect();
        assert!(one_by_one[56].is_err() && one_by_one.iter().filter(|o| o.is_err()).count() == 1);
        for threads in [1, 2, 3, 7] {
            assert_eq!(open_lines_on(&lines, threads), one_by_one, "on {threads} threads");
        }
        assert_eq!(open_lines_on(&lines[..1], 4), one_by_one[..1], "one line on four threads");
        assert!(open_lines_on(&[], 2).is_empty());
    }

    /// The seqs and byte ends `scan_file_holding` hands over, the valid length and the torn bytes.
    type Scanned = (Vec<(u64, u64)>, u64, u64);

    /// What `scan_file_holding` hands over and where it ends, or its error.
    fn scan(path: &Path, block: usize, decoders: usize) -> Result<Scanned, String> {
        let mut seen = Vec::new();
        let (end, _) = scan_file_holding(
            path,
            0,
            Head::genesis(),
            0,
            &mut |e, after| {
                seen.push((e.seq, after));
                Ok(())
            },
            block,
            decoders,
        )
        .map_err(|e| match e {
            StoreError::Damaged { line, offset, problem, .. } => format!("line {line} at {offset}: {problem}"),
            other => other.to_string(),
        })?;
        Ok((seen, end.valid_len, end.torn_bytes))
    }

    #[test]
    fn a_batch_is_held_only_where_the_log_may_end_in_a_torn_one() {
        // Batches of five events; the last batch loses its last line (a writer killed mid-batch).
        let mut store = Store::in_memory();
        let events = finsam_generate::random_history(11, 60);
        for (i, batch) in events.chunks(5).enumerate() {
            let batch: Vec<_> = batch.iter().enumerate().map(|(j, e)| (i * 5 + j + 1, e.clone())).collect();
            store.record(&batch, "test", None).unwrap();
        }
        let text = store.log_text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() >= 20 && lines.len().is_multiple_of(5), "{} lines", lines.len());
        let path = std::env::temp_dir().join(format!("finsam-held-{}.jsonl", std::process::id()));
        let scan_held = |path: &Path| {
            let mut seen = 0u64;
            let mut count = |_: &Envelope, _: u64| {
                seen += 1;
                Ok(())
            };
            let (end, held) = scan_file_holding(path, 0, Head::genesis(), 0, &mut count, 333, 2).unwrap();
            (seen, end.valid_len, end.torn_bytes, held)
        };
        std::fs::write(&path, &text).unwrap();
        assert_eq!(scan_held(&path), (lines.len() as u64, text.len() as u64, 0, 0), "whole batches: none held");
        let kept = lines.len() - 1;
        let torn: String = lines[..kept].iter().map(|l| format!("{l}\n")).collect();
        let complete: usize = lines[..kept - 4].iter().map(|l| l.len() + 1).sum();
        std::fs::write(&path, &torn).unwrap();
        assert_eq!(last_batch_end(&path, 0), complete as u64);
        assert_eq!(
            scan_held(&path),
            (kept as u64 - 4, complete as u64, (torn.len() - complete) as u64, 4),
            "the torn batch's four lines are held, and not handed on"
        );
        // Read from a line after the batch ends: nothing the search finds there, so the batch
        // that starts there is held until its end.
        let from: usize = lines[..kept - 4].iter().map(|l| l.len() + 1).sum();
        assert_eq!(last_batch_end(&path, from as u64), from as u64);
        // A batch end whose line is damaged is no batch end: the search goes back to the one
        // before, and the scan names the damage.
        let mut bytes = text.clone().into_bytes();
        let last_start = text.len() - lines[kept].len() - 1;
        bytes[last_start + lines[kept].len() / 2] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(last_batch_end(&path, 0), complete as u64);
        let damaged = scan_file_holding(&path, 0, Head::genesis(), 0, &mut |_, _| Ok(()), 333, 2).unwrap_err();
        assert!(matches!(damaged, StoreError::Damaged { line, .. } if line == lines.len() as u64), "{damaged}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_batch_end_is_told_by_its_seq_and_batch_last() {
        assert!(looks_like_batch_end(br#"{"seq":12,"id":"x","batch_last":12,"event":{}}"#));
        assert!(!looks_like_batch_end(br#"{"seq":12,"id":"x","batch_last":120,"event":{}}"#));
        assert!(!looks_like_batch_end(br#"{"seq":12,"id":"x","batch_last":13,"event":{}}"#));
        assert!(!looks_like_batch_end(br#"{"seq":,"batch_last":,"event":{}}"#));
        assert!(!looks_like_batch_end(br#"{"id":"x","seq":12,"batch_last":12}"#));
    }

    #[test]
    fn the_log_is_read_alike_whatever_the_blocks_and_the_decoding_threads() {
        let (text, path) = log_file("scan");
        let lines: Vec<&str> = text.lines().collect();
        let whole = scan(&path, BLOCK_BYTES, 1).unwrap();
        assert_eq!(whole.0.len(), lines.len());
        assert_eq!((whole.1, whole.2), (text.len() as u64, 0));
        assert!(whole.0.iter().enumerate().all(|(i, (seq, _))| *seq == i as u64 + 1), "in the log's order");
        let ways = [(50, 2), (333, 3), (1000, 2), (4096, 4), (BLOCK_BYTES, 2)];
        for (block, decoders) in ways {
            assert_eq!(scan(&path, block, decoders), Ok(whole.clone()), "blocks of {block}, {decoders} threads");
        }
        // A torn last line: the same valid end and torn bytes, however it is read.
        let half = lines.last().unwrap().len() / 2;
        std::fs::write(&path, format!("{text}{}", &lines.last().unwrap()[..half])).unwrap();
        let torn = scan(&path, BLOCK_BYTES, 1).unwrap();
        assert_eq!((torn.1, torn.2), (text.len() as u64, half as u64));
        for (block, decoders) in ways {
            assert_eq!(scan(&path, block, decoders), Ok(torn.clone()), "torn, blocks of {block}, {decoders} threads");
        }
        // One changed byte in line 57 is named with its line and offset, however it is read.
        let offset: usize = lines[..56].iter().map(|l| l.len() + 1).sum();
        let mut bytes = text.clone().into_bytes();
        let at = offset + lines[56].len() / 2;
        bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
        std::fs::write(&path, &bytes).unwrap();
        let damaged = scan(&path, BLOCK_BYTES, 1).unwrap_err();
        assert!(damaged.starts_with(&format!("line 57 at {offset}: ")), "{damaged}");
        for (block, decoders) in ways {
            assert_eq!(scan(&path, block, decoders), Err(damaged.clone()), "damaged, blocks of {block}");
        }
        // A last line longer than any line may be is damage, not a torn tail.
        let long = format!("{text}{}", "x".repeat(crate::envelope::LINE_BYTES_MAX + 10));
        std::fs::write(&path, long).unwrap();
        for (block, decoders) in [(333, 2), (BLOCK_BYTES, 2)] {
            let e = scan(&path, block, decoders).unwrap_err();
            assert!(e.contains(&format!("line {}", lines.len() + 1)) && e.contains("1 MiB limit"), "{e}");
        }
        let _ = std::fs::remove_file(&path);
    }
}
