//! The canonical line (events/CANONICAL.md): both verifiers — `finsam` and the independent
//! `events/verify_chain.py` — give one verdict for one file. A shared corpus of lines
//! (tests/canonical/cases.json), each correctly hashed, each with its expected verdict, runs
//! against both; so do damaged lines in the middle of the log.

use crate::support::*;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// The line (without newline) with its hash member recomputed over its (changed) body.
fn rehash(body: &[u8]) -> Vec<u8> {
    let mut hashed = body.to_vec();
    hashed.push(b'}');
    let hash = hex(&Sha256::digest(&hashed));
    let mut line = body.to_vec();
    line.extend_from_slice(format!(",\"hash\":\"{hash}\"}}").as_bytes());
    line
}

fn body_of(line: &[u8]) -> &[u8] {
    let cut = line.windows(9).rposition(|w| w == b",\"hash\":\"").expect("a hash member");
    &line[..cut]
}

/// What `verify_chain.py` says: (exit code, output).
fn python_verdict(log: &Path) -> (i32, String) {
    let o = Command::new("python3").arg(root().join("events/verify_chain.py")).arg(log).output().expect("python3 runs");
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
}

/// A store of two batches (a registration, then one contribution) and its log's lines.
fn two_batch_store(dir: &TempDir) -> (std::path::PathBuf, Vec<Vec<u8>>) {
    let store = store_with(dir, &[&fixture("00-forbund.jsonl"), &contribution("sala", "5", None)]);
    let lines = log_bytes(&store).split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
    (store, lines)
}

fn write_log(store: &Path, lines: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for l in lines {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    std::fs::write(store.join("log.jsonl"), bytes).unwrap();
    let _ = std::fs::remove_dir_all(store.join("derived"));
}

#[test]
fn both_verifiers_give_the_corpus_verdict_for_every_line() {
    let dir = TempDir::new("canonical");
    let (store, genuine) = two_batch_store(&dir);
    let seq = genuine.len().to_string();
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/canonical/cases.json")).unwrap()).unwrap();
    assert!(cases.len() >= 20, "the corpus holds the cases of the trust-boundaries issue");
    let (mut ok, mut damage) = (0, 0);
    for case in &cases {
        let name = case["case"].as_str().unwrap();
        let mut body = body_of(genuine.last().unwrap()).to_vec();
        if let Some(find) = case["find"].as_str() {
            let find = find.replace("{seq}", &seq);
            let replace = match case["replace_hex"].as_str() {
                Some(h) => unhex(h),
                None => case["replace"].as_str().unwrap().replace("{seq}", &seq).into_bytes(),
            };
            let at = body
                .windows(find.len())
                .position(|w| w == find.as_bytes())
                .unwrap_or_else(|| panic!("{name}: {find} not in the line"));
            body.splice(at..at + find.len(), replace);
        }
        if let Some(pad) = case["pad_recorded_by"].as_u64() {
            let find = b"\"recorded_by\":\"test";
            let at = body.windows(find.len()).position(|w| w == find).unwrap() + find.len();
            body.splice(at..at, std::iter::repeat_n(b'x', pad as usize));
        }
        if let Some(prefix) = case["prefix_hex"].as_str() {
            body.splice(0..0, unhex(prefix));
        }
        let mut line = rehash(&body);
        if let Some(suffix) = case["suffix"].as_str() {
            line.extend_from_slice(suffix.as_bytes());
        }
        let mut lines = genuine.clone();
        *lines.last_mut().unwrap() = line;
        write_log(&store, &lines);
        let expect_ok = case["verdict"] == "ok";
        let (py_code, py_out) = python_verdict(&store.join("log.jsonl"));
        let verify = finsam(&store, &["audit", "verify"], "");
        let log = finsam(&store, &["log"], "");
        let n = lines.len();
        if expect_ok {
            ok += 1;
            assert_eq!(py_code, 0, "{name}: verify_chain.py\n{py_out}");
            assert!(py_out.contains(&format!("OK events={n}")), "{name}: {py_out}");
            assert_exit(&verify, 0);
            assert!(stdout(&verify).contains(&format!("{n} event(s)")), "{name}: {}", stdout(&verify));
            assert_exit(&log, 0);
        } else {
            damage += 1;
            assert_eq!(py_code, 1, "{name}: verify_chain.py must say BAD\n{py_out}");
            assert!(py_out.contains(&format!("BAD line {n}")), "{name}: the Python verifier names line {n}: {py_out}");
            assert_exit(&verify, 1);
            let said = format!("{}{}", stdout(&verify), stderr(&verify));
            assert!(said.contains(&format!("line {n}")), "{name}: audit verify names line {n}: {said}");
            assert_exit(&log, 1);
        }
    }
    eprintln!("canonical corpus: {ok} canonical lines accepted and {damage} damaged lines refused by both verifiers");
}

#[test]
fn a_damaged_line_followed_by_more_lines_is_damage_in_both_never_a_torn_write() {
    let dir = TempDir::new("canonical-middle");
    let (store, genuine) = two_batch_store(&dir);
    assert!(genuine.len() >= 4);
    // Junk of 1.1 MB inserted after line 2, and a short junk line: followed by genuine lines,
    // neither can be an unfinished write.
    for junk in [vec![b'j'; 1_100_000], b"{\"seq\":3,\"half a line".to_vec()] {
        let mut lines = genuine.clone();
        lines.insert(2, junk.clone());
        write_log(&store, &lines);
        let (py_code, py_out) = python_verdict(&store.join("log.jsonl"));
        assert_eq!(py_code, 1, "{py_out}");
        assert!(py_out.contains("BAD line 3"), "{py_out}");
        let verify = finsam(&store, &["audit", "verify"], "");
        assert_exit(&verify, 1);
        let said = format!("{}{}", stdout(&verify), stderr(&verify));
        assert!(said.contains("line 3"), "{said}");
        assert!(!said.contains("never acknowledged"), "damage is not called a torn write: {said}");
        assert_exit(&finsam(&store, &["log"], ""), 1);
    }
    // The same junk at the very end without a newline: the 1.1 MB one is damage (no line is
    // that long), the short one an unfinished write.
    write_log(&store, &genuine);
    let bytes: Vec<u8> =
        std::fs::read(store.join("log.jsonl")).unwrap().into_iter().chain(vec![b'j'; 1_100_000]).collect();
    std::fs::write(store.join("log.jsonl"), &bytes).unwrap();
    let (py_code, py_out) = python_verdict(&store.join("log.jsonl"));
    assert_eq!(py_code, 1, "{py_out}");
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 1);
    write_log(&store, &genuine);
    let mut bytes = std::fs::read(store.join("log.jsonl")).unwrap();
    bytes.extend_from_slice(b"{\"seq\":9,\"id\"");
    std::fs::write(store.join("log.jsonl"), &bytes).unwrap();
    let (py_code, py_out) = python_verdict(&store.join("log.jsonl"));
    assert_eq!(py_code, 0, "{py_out}");
    let verify = finsam(&store, &["audit", "verify"], "");
    assert_exit(&verify, 0);
    assert!(stdout(&verify).contains("never acknowledged"), "{}", stdout(&verify));
}
