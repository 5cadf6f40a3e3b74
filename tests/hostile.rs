//! The hostile-input corpus (tests/hostile/cases.json): every bad input gets its exact rejection
//! — the rule, and the line and field where there is one — exit code 2, and the log is
//! byte-identical afterwards.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The fixture store, plus a closed year (2023), a correction, and a supplier invoice F-100 of
/// 100 000 kr with a payment of 40 000 for the cases to hit. Returns the store and the seqs of
/// the correction, an insats, the invoice and a contribution decided (and paid since).
fn hostile_store(dir: &TempDir) -> (PathBuf, u64, u64, u64, u64) {
    let store = fixture_store(dir);
    let close = r#"{"type":"YearClosed","forbund":"sf-vastmanland","date":"2024-03-01","year":2023,"decision":{"body":"styrelsen","date":"2024-03-01"}}"#;
    assert_exit(&finsam(&store, &["record", "--as", "setup", "-"], close), 0);
    let cost = r#"{"type":"CostRecorded","forbund":"sf-vastmanland","date":"2024-05-02","year":2024,"line":"styrelse","amount":"10","reference":"F","text":"fel"}"#;
    assert_exit(&finsam(&store, &["record", "--as", "setup", "-"], cost), 0);
    let head = log_json(&store).len() as u64;
    let correction = format!(
        r#"{{"type":"EventCorrected","forbund":"sf-vastmanland","date":"2024-05-03","corrects":{head},"reason":"fel"}}"#
    );
    assert_exit(&finsam(&store, &["record", "--as", "setup", "-"], &correction), 0);
    let insats = log_json(&store)
        .iter()
        .find(|e| e["event"]["type"] == "InsatsCreated" && e["event"]["forbund"] == "sf-vastmanland")
        .map(|e| e["seq"].as_u64().unwrap())
        .unwrap();
    let invoice = r#"{"type":"InvoiceReceived","forbund":"sf-vastmanland","date":"2024-05-10","year":2024,"invoice":"f-100","supplier":"Konsult AB","line":"styrelse","amount":"100000","due":"2024-06-09","reference":"F-100","text":"arvoden"}
{"type":"InvoicePaid","forbund":"sf-vastmanland","date":"2024-06-01","invoice":"f-100","amount":"40000","reference":"bank 2024-06-01"}"#;
    assert_exit(&finsam(&store, &["record", "--as", "setup", "-"], invoice), 0);
    let decided = log_json(&store)
        .iter()
        .find(|e| e["event"]["type"] == "ContributionDecided")
        .map(|e| e["seq"].as_u64().unwrap())
        .unwrap();
    (store, head + 1, insats, head + 2, decided)
}

fn generated(kind: &str) -> Vec<u8> {
    let event = contribution("sala", "1000", None);
    match kind {
        "invalid_utf8" => {
            let mut b = format!("{event}\n").into_bytes();
            b.extend_from_slice(b"{\"type\": \"Contribution\xff\xfe\"}\n");
            b
        }
        "ten_mb_line" => {
            format!("{{\"type\": \"ContributionReceived\", \"reference\": \"{}\"}}\n", "x".repeat(10 << 20))
                .into_bytes()
        }
        "hundred_thousand_events" => format!("{event}\n").repeat(100_000).into_bytes(),
        other => panic!("unknown generator {other}"),
    }
}

fn run_bytes(store: &Path, args: &[String], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = crate::support::in_english(&mut std::process::Command::new(FINSAM))
        .arg("--store")
        .arg(store)
        .args(["record", "--as", "hostile"])
        .args(args)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        if let Err(e) = pipe.write_all(&input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

#[test]
fn every_hostile_input_gets_its_exact_rejection_and_writes_nothing() {
    let dir = TempDir::new("hostile");
    let (store, correction_seq, insats_seq, invoice_seq, decided_seq) = hostile_store(&dir);
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/hostile/cases.json")).unwrap()).unwrap();
    assert!(cases.len() >= 60, "the corpus holds at least 60 bad inputs ({})", cases.len());
    // Places for the path tricks.
    let file = dir.0.join("a-file");
    std::fs::write(&file, "not a store").unwrap();
    let empty = dir.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let linked = dir.0.join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(store.join("log.jsonl"), linked.join("log.jsonl")).unwrap();
    let before = log_bytes(&store);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let input: Vec<u8> = match (&case["input"], &case["generate"]) {
            (Value::String(text), _) => text
                .replace("\"CORRECTION_SEQ\"", &correction_seq.to_string())
                .replace("\"INSATS_SEQ\"", &insats_seq.to_string())
                .replace("\"INVOICE_SEQ\"", &invoice_seq.to_string())
                .replace("\"DECIDED_SEQ\"", &decided_seq.to_string())
                .into_bytes(),
            (_, Value::String(kind)) => generated(kind),
            _ => panic!("{name}: a case has an input or a generator"),
        };
        let args: Vec<String> =
            case["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
        let target = match case["store"].as_str() {
            None => store.clone(),
            Some("file") => file.clone(),
            Some("empty") => empty.clone(),
            Some("dotdot") => empty.join("..").join("empty"),
            Some("symlink") => linked.clone(),
            Some(other) => panic!("{name}: unknown store {other}"),
        };
        let out = run_bytes(&target, &args, &input);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{name}: exit code 2\n{err}");
        let rule = case["rule"].as_str().unwrap();
        match rule {
            "not_a_store" => assert!(err.contains("is not a finsam store"), "{name}: {err}"),
            "refused" => assert!(err.contains("symbolic link"), "{name}: {err}"),
            // A warning that `--strict` turns into a refusal.
            _ if rule.starts_with("warning ") => {
                assert!(err.contains(&format!("[{rule}]")) && err.contains("refused under --strict"), "{name}: {err}")
            }
            _ => assert!(err.contains(&format!("[rule {rule}]")), "{name}: the rule {rule}\n{err}"),
        }
        if let Some(line) = case["line"].as_u64() {
            assert!(err.contains(&format!("line {line}")), "{name}: names line {line}\n{err}");
        }
        if let Some(field) = case["field"].as_str() {
            assert!(err.contains(&format!("field `{field}`")), "{name}: names field {field}\n{err}");
        }
        assert!(err.len() < 20_000, "{name}: the message stays short ({} bytes)", err.len());
        assert_eq!(log_bytes(&store), before, "{name}: the log is byte-identical afterwards");
    }
}
