//! Injected I/O faults: the log file fails its N-th write, fdatasync or truncate, for every N of
//! a run. A failed batch is never acknowledged, the log stays readable and verifiable, every
//! acknowledged event survives, and after a failed fdatasync the writer refuses to go on.

use crate::log::LogFile;
use crate::store::{init, read_log, Store};
use crate::verify::verify;
use crate::StoreError;
use finsam_domain::input::parse_batch;
use finsam_domain::Event;
use std::cell::Cell;
use std::fs::File;
use std::rc::Rc;

struct Faulty {
    inner: File,
    calls: Rc<Cell<u64>>,
    fail_at: Vec<u64>,
    failed: Rc<Cell<Option<&'static str>>>,
}

impl Faulty {
    fn tick(&mut self, op: &'static str) -> std::io::Result<()> {
        self.calls.set(self.calls.get() + 1);
        if self.fail_at.contains(&self.calls.get()) {
            self.failed.set(Some(op));
            return Err(std::io::Error::other(format!("injected fault in {op}")));
        }
        Ok(())
    }
}

impl LogFile for Faulty {
    fn write_all_at(&mut self, bytes: &[u8], offset: u64) -> std::io::Result<()> {
        if let Err(e) = self.tick("write") {
            // A torn write: half the bytes reach the file before the error.
            let _ = self.inner.write_all_at(&bytes[..bytes.len() / 2], offset);
            return Err(e);
        }
        self.inner.write_all_at(bytes, offset)
    }

    fn sync_data(&mut self) -> std::io::Result<()> {
        self.tick("fdatasync")?;
        LogFile::sync_data(&mut self.inner)
    }

    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        self.tick("truncate")?;
        LogFile::set_len(&mut self.inner, len)
    }
}

const REGISTRATION: &str = include_str!("../../../fixtures/00-forbund.jsonl");
const BATCHES: usize = 6;

fn batch(b: usize) -> Vec<(usize, Event)> {
    let lines: Vec<String> = (0..3)
        .map(|k| {
            format!(
                r#"{{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-03-01","member":"sala","year":2024,"amount":"{}","reference":"fault {b}-{k}"}}"#,
                100 + b * 10 + k
            )
        })
        .collect();
    parse_batch(lines.join("\n").as_bytes()).unwrap()
}

/// One run with a fault at call `fail_at`: (the op that failed, if any; the number of calls).
fn run(fail_at: &[u64]) -> (Option<&'static str>, u64) {
    let dir = std::env::temp_dir()
        .join(format!("finsam-fault-{}-{fail_at:?}", std::process::id()).replace([' ', ',', '[', ']'], "_"));
    let _ = std::fs::remove_dir_all(&dir);
    init(&dir).unwrap();
    let (mut store, _) = Store::open(&dir).unwrap();
    store.record(&parse_batch(REGISTRATION.as_bytes()).unwrap(), "t", None).unwrap();
    store.save_checkpoint().unwrap();
    drop(store);
    let calls = Rc::new(Cell::new(0));
    let failed = Rc::new(Cell::new(None));
    let (store, _) = Store::open(&dir).unwrap();
    let faults = fail_at.to_vec();
    let mut store =
        store.map_log(|inner| Faulty { inner, calls: calls.clone(), fail_at: faults, failed: failed.clone() });
    let mut acknowledged: Vec<(u64, Event)> = Vec::new();
    let mut poisoned = false;
    for b in 0..BATCHES {
        let events = batch(b);
        match store.record(&events, "t", None) {
            Ok(outcome) => {
                assert!(!poisoned, "fault {fail_at:?}: a poisoned writer wrote again");
                for (r, (_, e)) in outcome.iter().zip(events) {
                    acknowledged.push((r.seq, e));
                }
            }
            Err(StoreError::Poisoned { .. }) => poisoned = true,
            Err(StoreError::Io { .. }) => {
                assert!(!poisoned, "fault {fail_at:?}: after a failed fdatasync the writer answers Poisoned")
            }
            Err(other) => panic!("fault {fail_at:?}: unexpected {other}"),
        }
    }
    if matches!(failed.get(), Some("fdatasync") | Some("truncate")) {
        // One more attempt: a writer whose fdatasync (or undo of a torn write) failed refuses.
        let again = store.record(&batch(BATCHES), "t", None);
        assert!(
            matches!(again, Err(StoreError::Poisoned { .. })),
            "fault {fail_at:?}: a failed fdatasync, or a failed undo of a write, stops the writer"
        );
    }
    let _ = poisoned;
    drop(store);
    // The log stays readable; every acknowledged event is there, unchanged.
    let mut seen: Vec<(u64, Event)> = Vec::new();
    read_log(&dir, 1, u64::MAX, &mut |e| {
        seen.push((e.seq, e.event));
        Ok(())
    })
    .unwrap_or_else(|e| panic!("fault {fail_at:?}: the log is unreadable: {e}"));
    for (seq, event) in &acknowledged {
        assert_eq!(
            seen.get(*seq as usize - 1).map(|(_, e)| e),
            Some(event),
            "fault {fail_at:?}: acknowledged seq {seq}"
        );
    }
    // A new writer opens it (cutting any torn tail) and it verifies.
    let (w, _) = Store::open(&dir).unwrap_or_else(|e| panic!("fault {fail_at:?}: reopening: {e}"));
    drop(w);
    let report = verify(&dir, &[]).unwrap();
    assert!(report.ok(), "fault {fail_at:?}: {:?}", report.problems);
    let _ = std::fs::remove_dir_all(&dir);
    (failed.get(), calls.get())
}

#[test]
fn a_fault_in_any_write_fdatasync_or_truncate_loses_no_acknowledged_event() {
    let (none, calls) = run(&[]);
    assert_eq!(none, None);
    assert_eq!(calls, 2 * BATCHES as u64, "a write and an fdatasync per batch");
    let mut injected: Vec<&str> = Vec::new();
    for n in 1..=calls {
        let (failed, _) = run(&[n]);
        injected.push(failed.expect("every call of the run can fail"));
        // And the write with the undo after it: the truncate that cuts a torn write back fails too.
        if n % 2 == 1 {
            let (failed, _) = run(&[n, n + 1]);
            injected.push(failed.expect("the undo fails"));
        }
    }
    for op in ["write", "fdatasync", "truncate"] {
        assert!(injected.contains(&op), "a fault in {op}: {injected:?}");
    }
    assert_eq!(injected.len(), 18, "faults injected: {injected:?}");
}
