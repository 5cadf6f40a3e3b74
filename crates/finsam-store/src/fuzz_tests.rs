//! A mutation fuzzer over the two readers of untrusted bytes: the event decoder (with the
//! batch parser and the ledger rules behind it) and the log line reader. Seeds come from
//! `tests/fuzz/corpus/`; each input is mutated a few times (bit flips, deletions, insertions,
//! duplications, splices, interesting values). Nothing may panic; whatever is accepted must
//! round-trip. `FINSAM_FUZZ_ITERATIONS` sets the run length (default 20 000, a few seconds);
//! `FINSAM_FUZZ_SEED` the seed.

use crate::envelope::{chain_link, Envelope};
use finsam_domain::input::parse_batch;
use finsam_domain::{Event, Ledger};
use finsam_generate::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};

const EVENTS: &str = include_str!("../../../tests/fuzz/corpus/events.jsonl");
const LOG: &str = include_str!("../../../tests/fuzz/corpus/log.jsonl");
const REGISTRATIONS: &str = include_str!("../../../fixtures/00-forbund.jsonl");

/// Draws an index in 0..n.
trait Index {
    fn idx(&mut self, n: usize) -> usize;
}

impl Index for Rng {
    fn idx(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"1e9",
    b"-0",
    b"0.001",
    b"99999999999999999999",
    b"null",
    b"true",
    b"[]",
    b"{}",
    b"\"\"",
    b"\\u0000",
    b"\xff",
    b"\xc3\xa5",
    b"2023-02-30",
    b"9999-12-31",
    b"NaN",
    b"-1",
    b"1.5",
    b"\"",
    b"}",
    b"{",
    b",",
    b"\n",
    b"\"type\"",
    b"\"amount\":",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    let len = input.len();
    match rng.idx(7) {
        0 if len > 0 => {
            let i = rng.idx(len);
            input[i] ^= 1 << rng.idx(8);
        }
        1 if len > 0 => {
            let i = rng.idx(len);
            let n = rng.idx(16).min(len - i);
            input.drain(i..i + n);
        }
        2 => {
            let i = rng.idx(len + 1);
            let value = INTERESTING[rng.idx(INTERESTING.len())];
            input.splice(i..i, value.iter().copied());
        }
        3 if len > 0 => {
            let i = rng.idx(len);
            let n = rng.idx(32).min(len - i);
            let piece = input[i..i + n].to_vec();
            let at = rng.idx(len + 1);
            input.splice(at..at, piece);
        }
        4 if !other.is_empty() => {
            let cut = rng.idx(len + 1);
            let from = rng.idx(other.len());
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        5 if len > 0 => {
            let i = rng.idx(len);
            input[i] = rng.next_u64() as u8;
        }
        _ => {
            let i = rng.idx(len + 1);
            input.insert(i, rng.next_u64() as u8);
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The checks of the `decode_batch` target.
fn check_decode(input: &[u8]) -> bool {
    match parse_batch(input) {
        Ok(batch) => {
            for (_, e) in &batch {
                assert_eq!(
                    &Event::from_json(&e.to_json()).expect("an accepted event re-reads"),
                    e,
                    "an accepted event round-trips"
                );
            }
            true
        }
        Err(_) => false,
    }
}

/// The checks of the `log_line` target.
fn check_line(input: &[u8]) -> bool {
    match Envelope::open(input) {
        Ok(env) => {
            let link = chain_link(input).expect("a line the reader accepts has a sound link");
            assert_eq!((link.seq, link.hash.as_str()), (env.seq, env.hash.as_str()));
            true
        }
        Err(_) => {
            let _ = chain_link(input);
            false
        }
    }
}

/// The corpus cargo fuzz built (kept in `tests/fuzz/corpus/cargo-fuzz/`), replayed through the
/// same checks on every test run.
#[test]
fn the_cargo_fuzz_corpus_replays_cleanly() {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz/corpus/cargo-fuzz");
    let mut inputs = 0;
    for (target, check) in [("decode_batch", check_decode as fn(&[u8]) -> bool), ("log_line", check_line)] {
        for entry in std::fs::read_dir(base.join(target)).expect("the kept corpus") {
            let input = std::fs::read(entry.unwrap().path()).unwrap();
            let outcome = catch_unwind(AssertUnwindSafe(|| check(&input)));
            assert!(outcome.is_ok(), "{target}: a panic on {:?}", String::from_utf8_lossy(&input));
            inputs += 1;
        }
    }
    assert!(inputs > 100, "{inputs} inputs");
}

#[test]
fn mutated_events_and_log_lines_never_panic_and_what_is_accepted_round_trips() {
    let iterations = env_number("FINSAM_FUZZ_ITERATIONS", 20_000);
    let seed = env_number("FINSAM_FUZZ_SEED", 7);
    let mut rng = Rng::new(seed);
    let events: Vec<&[u8]> = EVENTS.lines().map(str::as_bytes).collect();
    let lines: Vec<&[u8]> = LOG.lines().map(str::as_bytes).collect();
    let mut base = Ledger::new();
    for (_, e) in parse_batch(REGISTRATIONS.as_bytes()).unwrap() {
        base.record(&e).unwrap();
    }
    let (mut accepted_events, mut accepted_lines) = (0u64, 0u64);
    for i in 0..iterations {
        let (pool, is_event) = if i % 2 == 0 { (&events, true) } else { (&lines, false) };
        let mut input = pool[rng.idx(pool.len())].to_vec();
        let other = pool[rng.idx(pool.len())];
        for _ in 0..1 + rng.idx(4) {
            mutate(&mut rng, &mut input, other);
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if is_event {
                if check_decode(&input) {
                    for (_, e) in parse_batch(&input).expect("accepted above") {
                        let _ = base.check(&e);
                    }
                    return (1, 0);
                }
                (0, 0)
            } else {
                (0, u64::from(check_line(&input)))
            }
        }));
        match outcome {
            Ok((e, l)) => {
                accepted_events += e;
                accepted_lines += l;
            }
            Err(_) => panic!("fuzz seed {seed}, iteration {i}: a panic on input {:?}", String::from_utf8_lossy(&input)),
        }
    }
    // Some mutations leave the input valid (a flipped bit in a reference, say): they must be
    // among the inputs, or the fuzzer only ever tests the refusal path.
    assert!(
        accepted_events > 0 && iterations < 100 || accepted_events > iterations / 200,
        "{accepted_events} events accepted"
    );
    let _ = accepted_lines;
}
