//! Crash at every byte: a log cut (or overwritten with garbage) anywhere inside its last batch
//! opens as exactly the acknowledged prefix, or reports damage — never a panic, never another
//! balance.

use crate::store::{init, read_log, Store};
use crate::StoreError;
use finsam_domain::input::parse_batch;
use finsam_domain::Slug;
use finsam_projections::projection::Recorded;
use finsam_projections::{At, Chart, Projection};
use std::path::{Path, PathBuf};

const REGISTRATION: &str = include_str!("../../../fixtures/00-forbund.jsonl");

fn contribution(i: usize) -> String {
    format!(
        r#"{{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-02-01","member":"sala","year":2024,"amount":"{}.{:02}","reference":"crash {i}"}}"#,
        100 + i,
        i % 100
    )
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("finsam-crash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The head and the bank balance a reader sees: the log read without a lock, replayed in memory.
fn bank(dir: &Path) -> Result<(u64, String), StoreError> {
    let mut p = Projection::new();
    let head = read_log(dir, 1, u64::MAX, &mut |e| {
        p.apply(Recorded { seq: e.seq, recorded_at: &e.recorded_at, recorded_by: &e.recorded_by, event: &e.event });
        Ok(())
    })?;
    let at = At { as_of: chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(), known_at: head.seq };
    let f = Slug::parse("sf-vastmanland").unwrap();
    let b = p.balances(&f, at, &Chart::default_chart()).expect("registered");
    Ok((head.seq, b.bank.canonical()))
}

#[test]
fn a_log_cut_at_any_byte_of_its_last_batch_opens_as_the_acknowledged_prefix() {
    let dir = temp("source");
    init(&dir).unwrap();
    let (mut store, _) = Store::open(&dir).unwrap();
    store.record(&parse_batch(REGISTRATION.as_bytes()).unwrap(), "t", None).unwrap();
    let first: Vec<String> = (0..5).map(contribution).collect();
    store.record(&parse_batch(first.join("\n").as_bytes()).unwrap(), "t", None).unwrap();
    drop(store);
    let acknowledged = std::fs::read(dir.join("log.jsonl")).unwrap();
    let before = bank(&dir).unwrap();
    let (mut store, _) = Store::open(&dir).unwrap();
    let last: Vec<String> = (5..12).map(contribution).collect();
    store.record(&parse_batch(last.join("\n").as_bytes()).unwrap(), "t", None).unwrap();
    drop(store);
    let full = std::fs::read(dir.join("log.jsonl")).unwrap();
    let after = bank(&dir).unwrap();
    assert_ne!(before, after);

    let copy = temp("copy");
    let mut offsets = 0;
    for cut in acknowledged.len()..=full.len() {
        let _ = std::fs::remove_dir_all(&copy);
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::write(copy.join("log.jsonl"), &full[..cut]).unwrap();
        let expected = if cut == full.len() { &after } else { &before };
        assert_eq!(&bank(&copy).unwrap(), expected, "cut at byte {cut}: readers see the acknowledged prefix");
        offsets += 1;
        // A writer cuts the torn tail away and carries on from the acknowledged head (checked
        // on a sample of the offsets: opening a writer, which saves its derived state, for every
        // one is slow).
        if !(cut - acknowledged.len()).is_multiple_of(37) && cut + 3 < full.len() {
            continue;
        }
        let (mut w, report) = Store::open(&copy).unwrap();
        assert_eq!(
            report.torn_bytes_cut,
            (cut - if cut == full.len() { full.len() } else { acknowledged.len() }) as u64
        );
        assert_eq!(w.head().seq, expected.0);
        w.record(&parse_batch(contribution(99).as_bytes()).unwrap(), "t", None).unwrap();
    }
    assert_eq!(offsets, full.len() - acknowledged.len() + 1);

    // Garbage over the tail: the acknowledged prefix, or a damage report — never a panic or
    // another balance.
    let garbage: &[&[u8]] =
        &[b"\0\0\0\0\0\0\0\0", b"}{\"seq\":", b"\xff\xfe\n", b"garbage line\n{\"seq\":1}\n", b"\n\n\n"];
    let mut damaged = 0;
    let mut tried = 0;
    for (g, junk) in garbage.iter().enumerate() {
        for cut in acknowledged.len()..full.len() {
            let _ = std::fs::remove_dir_all(&copy);
            std::fs::create_dir_all(&copy).unwrap();
            let mut bytes = full[..cut].to_vec();
            bytes.extend_from_slice(junk);
            std::fs::write(copy.join("log.jsonl"), &bytes).unwrap();
            tried += 1;
            match bank(&copy) {
                Ok(seen) => assert_eq!(seen, before, "garbage {g} at byte {cut}"),
                Err(StoreError::Damaged { .. }) => damaged += 1,
                Err(other) => panic!("garbage {g} at byte {cut}: {other}"),
            }
        }
    }
    assert!(damaged > 0, "a complete garbage line is reported as damage");
    // (For the record: offsets × garbage patterns tried.)
    assert_eq!(tried, (full.len() - acknowledged.len()) * garbage.len());
    eprintln!(
        "crash at every byte: {offsets} cut offsets, {tried} garbage tails ({damaged} reported as damage), 0 wrong"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&copy);
}

/// The server's group commit in two steps: `write_group` checks and writes (a refused batch
/// changes nothing for the others), the caller makes the bytes durable, and a snapshot taken
/// before catches up with the envelopes written — the same projection as the writer's own.
#[test]
fn a_group_written_then_synced_reaches_a_snapshot_exactly_as_the_writer_sees_it() {
    use crate::store::{GroupRequest, Snapshot};
    let dir = temp("group");
    init(&dir).unwrap();
    let (mut store, _) = Store::open(&dir).unwrap();
    store.record(&parse_batch(REGISTRATION.as_bytes()).unwrap(), "t", None).unwrap();
    let mut readers = Snapshot::of(&store);
    let stale = readers.clone();
    let good = parse_batch(contribution(1).as_bytes()).unwrap();
    let unknown_member = parse_batch(contribution(2).replace("sala", "nowhere").as_bytes()).unwrap();
    let two: Vec<String> = (3..5).map(contribution).collect();
    let pair = parse_batch(two.join("\n").as_bytes()).unwrap();
    let requests = [
        GroupRequest { batch: &good, actor: "a", expect_head: None, expect_versions: &[], user: None },
        GroupRequest { batch: &unknown_member, actor: "b", expect_head: None, expect_versions: &[], user: None },
        GroupRequest { batch: &pair, actor: "c", expect_head: None, expect_versions: &[], user: None },
    ];
    let (results, envelopes) = store.write_group(&requests);
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(matches!(&results[1], Err(StoreError::Rejected(r)) if r.field == "member"), "{:?}", results[1]);
    assert_eq!(
        envelopes.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![5, 6, 7],
        "the registration holds four events"
    );
    store.log_sync_handle().unwrap().sync_data().unwrap();
    readers.advance(&envelopes);
    assert_eq!(readers.head, *store.head());
    assert!(readers.projection == *store.projection());
    assert!(stale.projection != readers.projection, "the snapshot taken before did not change");
    // Envelopes a snapshot already holds are skipped: advancing twice changes nothing.
    readers.advance(&envelopes);
    assert!(readers.projection == *store.projection());
    drop(store);
    assert_eq!(bank(&dir).unwrap().0, 7, "the log holds the two groups' events after a reopen");
}
