//! Where each line of the log starts: `derived/lines.bin`, so that a report can read the few
//! events it shows (the vouchers behind a balance, one event's page) without reading the log.
//!
//! The file holds one little-endian u64 per line: the byte offset of line `seq` at index
//! `seq - 1`. It is a hint, never trusted: every line read through it must open (its own hash,
//! the canonical line rule) and carry the seq asked for, or the whole request is answered by
//! reading the log from its start instead. The writer keeps it beside the checkpoint.

use crate::envelope::{Envelope, LINE_BYTES_MAX};
use crate::index::{open_regular, replace_file};
use crate::log::Decoded;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

pub(crate) const LINES_FILE: &str = "lines.bin";

/// Where each line of the log starts, as a writer keeps them in memory: the first start, and
/// each line's length (four bytes a line instead of eight: 4 MB less at a million lines).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LineStarts {
    /// The start of the first line, if there is one.
    first: Option<u64>,
    /// The start of the last line.
    last: u64,
    /// The length of each line but the last: the distance from its start to the next one's.
    lengths: Vec<u32>,
}

impl LineStarts {
    pub(crate) fn len(&self) -> usize {
        self.first.map_or(0, |_| self.lengths.len() + 1)
    }

    /// Adds the start of the next line; `false` (and nothing added) when it is not after the
    /// last one by at most 4 GiB, which no line of a log is (the hint is then not worth keeping).
    #[must_use]
    pub(crate) fn push(&mut self, start: u64) -> bool {
        if self.first.is_some() {
            match start.checked_sub(self.last).and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0) {
                Some(length) => self.lengths.push(length),
                None => return false,
            }
        } else {
            self.first = Some(start);
        }
        self.last = start;
        true
    }

    /// Keeps the first `n` starts.
    pub(crate) fn truncate(&mut self, n: usize) {
        match (n, self.first) {
            (0, _) => *self = LineStarts::default(),
            (_, Some(first)) if n < self.len() => {
                self.lengths.truncate(n - 1);
                self.last = first + self.lengths.iter().map(|l| u64::from(*l)).sum::<u64>();
            }
            _ => {}
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.first.into_iter().chain(self.lengths.iter().scan(self.first.unwrap_or(0), |at, n| {
            *at += u64::from(*n);
            Some(*at)
        }))
    }

    /// The starts given, if each is after the one before (else `None`: not a hint to keep).
    fn of(starts: impl IntoIterator<Item = u64>) -> Option<LineStarts> {
        let mut all = LineStarts::default();
        starts.into_iter().all(|s| all.push(s)).then_some(all)
    }
}

/// The line starts saved in `derived`, if the file is there and each start is after the one
/// before: its whole entries (an append cut short by a crash leaves a part of one at the end,
/// which is dropped; the writer that loads them saves the file whole again).
pub(crate) fn load(derived: &Path) -> Option<LineStarts> {
    let mut bytes = Vec::new();
    open_regular(&derived.join(LINES_FILE), 1 << 33).ok()?.read_to_end(&mut bytes).ok()?;
    LineStarts::of(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8"))))
}

/// Where each line of the log's first `len` bytes starts, found from the line ends alone.
pub(crate) fn scan(log: &Path, len: u64) -> Option<LineStarts> {
    let mut file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(log).ok()?).take(len);
    let (mut starts, mut at, mut buf) = (LineStarts::default(), 0u64, vec![0u8; 1 << 20]);
    let mut next = 0u64;
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        for end in buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| at + i as u64 + 1) {
            if !starts.push(next) {
                return None;
            }
            next = end;
        }
        at += n as u64;
    }
    // The log's first `len` bytes must end with a whole line.
    (next == len).then_some(starts)
}

/// Saves the line starts, whole or not at all.
pub(crate) fn save(derived: &Path, starts: &LineStarts) -> std::io::Result<()> {
    replace_file(&derived.join(LINES_FILE), |out| {
        for start in starts.iter() {
            out.write_all(&start.to_le_bytes())?;
        }
        Ok(())
    })
}

/// The envelopes with these seqs, in the order given: read where `lines.bin` says they start,
/// and those after the last line it knows by reading on from that line. `None` when the file
/// is missing, or any line read is not the one expected there.
pub(crate) fn by_offsets(log: &Path, derived: &Path, seqs: &[u64]) -> Option<Vec<Envelope>> {
    let (Some(lowest), Some(highest)) = (seqs.iter().min(), seqs.iter().max()) else {
        return Some(Vec::new());
    };
    // Only the stretch of the hint these seqs need: a line's start and the next one's, and the
    // start of the last line it knows when reading on past it.
    let hint = open_regular(&derived.join(LINES_FILE), 1 << 33).ok()?;
    let hint_len = hint.metadata().ok()?.len();
    if hint_len % 8 != 0 {
        return None;
    }
    let known = hint_len / 8;
    // A line's end is the next line's start: index `seq` for line `seq`.
    let last_index = (*highest).min(known.saturating_sub(1));
    let first_index = lowest.saturating_sub(1).min(last_index);
    let mut window = vec![0u8; usize::try_from((last_index + 1 - first_index) * 8).ok()?];
    if known > 0 {
        hint.read_exact_at(&mut window, first_index * 8).ok()?;
    }
    let start_of = |index: u64| {
        let at = usize::try_from((index - first_index) * 8).expect("inside the window");
        u64::from_le_bytes(window[at..at + 8].try_into().expect("8 bytes"))
    };
    let file = std::fs::File::open(log).ok()?;
    let mut found: HashMap<u64, Envelope> = HashMap::with_capacity(seqs.len());
    let mut buf = Vec::new();
    for &seq in seqs.iter().filter(|s| **s >= 1 && **s < known) {
        let (start, end) = (start_of(seq - 1), start_of(seq));
        buf.resize(usize::try_from(end.checked_sub(start)?).ok()?.min(LINE_BYTES_MAX + 1), 0);
        file.read_exact_at(&mut buf, start).ok()?;
        let line_end = buf.iter().position(|b| *b == b'\n')?;
        let envelope = Envelope::open(&buf[..line_end]).ok()?;
        if envelope.seq != seq {
            return None;
        }
        found.insert(seq, envelope);
    }
    // The last line the hint knows, and what follows it: read on, line by line.
    if let Some(last) = seqs.iter().copied().filter(|s| *s >= known.max(1)).max() {
        let wanted: HashSet<u64> = seqs.iter().copied().filter(|s| *s >= known).collect();
        let (mut expected, start) = if known == 0 { (1, 0) } else { (known, start_of(known - 1)) };
        let whole = crate::log::read_lines(log, start, |lines| {
            while expected <= last {
                let (decoded, from) = lines.next_line()?;
                let Decoded::Line { envelope: Ok(envelope), .. } = decoded else { return None };
                if envelope.seq != expected {
                    return None;
                }
                expected += 1;
                if wanted.contains(&envelope.seq) {
                    found.insert(envelope.seq, envelope);
                } else {
                    lines.done_with(envelope, from);
                }
            }
            Some(())
        });
        whole.ok()??;
    }
    seqs.iter().map(|seq| found.remove(seq)).collect()
}

/// Adds the starts of the lines after `seq` to `lines.bin`, synced, when the file ends at line
/// `seq`; otherwise leaves it as it is (a hint that stops short is read on from, or not used).
pub(crate) fn append(derived: &Path, seq: u64, starts: impl Iterator<Item = u64>) -> std::io::Result<()> {
    let path = derived.join(LINES_FILE);
    let mut file = match std::fs::OpenOptions::new().append(true).custom_flags(libc::O_NOFOLLOW).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() != seq * 8 {
        return Ok(());
    }
    let bytes: Vec<u8> = starts.flat_map(u64::to_le_bytes).collect();
    file.write_all(&bytes)?;
    file.sync_data()
}

/// The envelopes of these inclusive seq ranges, in order, each range read in one piece where
/// `lines.bin` says it starts and ends. `None` when the file is missing or does not reach that
/// far, or any line read is not the one expected there: each must open (its own hash, the
/// canonical line rule), carry the next seq, and name the line before it in its range as its
/// `prev_hash`.
pub(crate) fn ranges(log: &Path, derived: &Path, ranges: &[(u64, u64)]) -> Option<Vec<Envelope>> {
    let hint = open_regular(&derived.join(LINES_FILE), 1 << 33).ok()?;
    let known = hint.metadata().ok()?.len() / 8;
    let file = std::fs::File::open(log).ok()?;
    let log_len = file.metadata().ok()?.len();
    let start_of = |seq: u64| -> Option<u64> {
        let mut bytes = [0u8; 8];
        hint.read_exact_at(&mut bytes, (seq - 1) * 8).ok()?;
        Some(u64::from_le_bytes(bytes))
    };
    let mut out = Vec::new();
    // The ranges read but not yet opened, opened together once they hold enough lines for
    // every core, and then let go: the log's bytes are held a few MiB at a time, not whole.
    let mut pieces = Vec::new();
    let mut held = 0;
    for (i, &(first, last)) in ranges.iter().enumerate() {
        if first == 0 || last < first || last > known {
            return None;
        }
        let start = start_of(first)?;
        let end = if last == known { log_len } else { start_of(last + 1)? };
        let mut buf = vec![0; usize::try_from(end.checked_sub(start)?).ok()?];
        file.read_exact_at(&mut buf, start).ok()?;
        held += buf.len();
        pieces.push((first, last, buf));
        if held >= OPEN_TOGETHER_BYTES || i + 1 == ranges.len() {
            out.extend(open_pieces(&pieces)?);
            pieces.clear();
            held = 0;
        }
    }
    Some(out)
}

/// Bytes of ranges opened together (see `ranges`).
const OPEN_TOGETHER_BYTES: usize = 8 << 20;

/// The envelopes of whole ranges read, `(first seq, last seq, bytes)`, checked as `ranges` says.
fn open_pieces(pieces: &[(u64, u64, Vec<u8>)]) -> Option<Vec<Envelope>> {
    // Each line with the seq it must carry, and whether it starts its range.
    let mut lines: Vec<(&[u8], u64, bool)> = Vec::new();
    for (first, last, buf) in pieces {
        let mut expected = *first;
        for line in buf.split_inclusive(|b| *b == b'\n') {
            if expected > *last {
                // Past the range: only the last range may run on to the log's end.
                break;
            }
            lines.push((line.strip_suffix(b"\n")?, expected, expected == *first));
            expected += 1;
        }
        if expected != last + 1 {
            return None;
        }
    }
    let texts: Vec<&[u8]> = lines.iter().map(|(line, _, _)| *line).collect();
    let opened = crate::log::open_lines(&texts).into_iter().collect::<Result<Vec<_>, _>>().ok()?;
    for (i, ((_, seq, starts), envelope)) in lines.iter().zip(&opened).enumerate() {
        if envelope.seq != *seq || !starts && opened[i - 1].hash != envelope.prev_hash {
            return None;
        }
    }
    Some(opened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn events_are_read_where_the_hint_says_and_a_wrong_hint_is_never_believed() {
        let dir = std::env::temp_dir().join(format!("finsam-lines-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = Store::in_memory();
        for (i, e) in finsam_generate::random_history(3, 60).iter().enumerate() {
            store.record(&[(i + 1, e.clone())], "test", None).unwrap();
        }
        let text = store.log_text();
        let log = dir.join("log.jsonl");
        std::fs::write(&log, &text).unwrap();
        let mut starts = vec![0u64];
        starts.extend(text.match_indices('\n').map(|(i, _)| i as u64 + 1));
        starts.pop();
        assert_eq!(
            scan(&log, text.len() as u64).map(|s| s.iter().collect::<Vec<_>>()),
            Some(starts.clone()),
            "the line ends give the starts"
        );
        assert_eq!(scan(&log, text.len() as u64 - 1), None, "a length inside a line is no log's end");
        save(&dir, &LineStarts::of(starts.iter().copied()).unwrap()).unwrap();
        let n = starts.len() as u64;
        let seqs = [1, 2, n / 2, n - 1, n];
        let read = by_offsets(&log, &dir, &seqs).expect("every seq is found");
        assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);
        assert_eq!(read[2].hash, text.lines().nth(n as usize / 2 - 1).unwrap().rsplit('"').nth(1).unwrap());
        // A seq beyond the hint, a hint that points into the middle of a line or at another
        // line, and a file of odd length: none is believed.
        assert!(by_offsets(&log, &dir, &[n + 1]).is_none(), "a seq the log does not have");
        // A hint that knows only the first lines: the rest are read on from its last line.
        write_hint(&dir, &starts[..10]);
        let read = by_offsets(&log, &dir, &[3, 12, n]).expect("read on past the hint");
        assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 12, n]);
        let mut wrong = starts.clone();
        wrong[4] += 3;
        write_hint(&dir, &wrong);
        assert!(by_offsets(&log, &dir, &[5]).is_none());
        wrong[4] = starts[5];
        write_hint(&dir, &wrong);
        assert!(by_offsets(&log, &dir, &[5]).is_none());
        assert!(by_offsets(&log, &dir, &[4]).is_some(), "the lines the hint has right are read");
        std::fs::write(dir.join(LINES_FILE), [0u8; 12]).unwrap();
        assert!(by_offsets(&log, &dir, &[1]).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A hint as a file may hold it, right or wrong.
    fn write_hint(dir: &Path, starts: &[u64]) {
        std::fs::write(dir.join(LINES_FILE), starts.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<_>>()).unwrap();
    }

    #[test]
    fn line_starts_kept_as_lengths_give_back_the_starts_and_refuse_a_start_out_of_order() {
        let starts = [0u64, 480, 961, 2000, 2001, 5_000_000_000];
        let mut kept = LineStarts::default();
        assert_eq!(kept.iter().count(), 0);
        for s in &starts[..5] {
            assert!(kept.push(*s));
        }
        assert_eq!(kept.iter().collect::<Vec<_>>(), starts[..5]);
        // A start that does not follow the last, or follows it by 4 GiB or more, is refused.
        for wrong in [2001, 1999, starts[5]] {
            let mut copy = kept.clone();
            assert!(!copy.push(wrong), "{wrong}");
            assert_eq!(copy, kept, "nothing added");
        }
        kept.truncate(3);
        assert_eq!((kept.len(), kept.iter().collect::<Vec<_>>()), (3, starts[..3].to_vec()));
        assert!(kept.push(1500), "after a cut, the next start follows the kept last");
        kept.truncate(0);
        assert_eq!(kept, LineStarts::default());
        // A hint read from a file counts only when each start follows the one before.
        assert_eq!(LineStarts::of([7, 9, 30]).map(|s| s.iter().collect::<Vec<_>>()), Some(vec![7, 9, 30]));
        assert!(LineStarts::of([7, 30, 9]).is_none());
    }
}
