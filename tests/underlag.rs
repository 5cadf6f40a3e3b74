//! Underlag: a document attached to recorded events, kept by its SHA-256, named in the chain,
//! carried in the revisor's bundle and checked there byte for byte.

use crate::support::*;
use serde_json::Value;
use std::path::Path;

/// A small PDF: enough of one for its first bytes to say what it is.
fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {text}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n").into_bytes()
}

fn seq_of(store: &Path, kind: &str, forbund: &str) -> u64 {
    log_json(store)
        .iter()
        .rev()
        .find(|e| e["event"]["type"] == kind && e["event"]["forbund"] == forbund)
        .map(|e| e["seq"].as_u64().unwrap())
        .unwrap()
}

#[test]
fn a_pdf_attached_to_an_invoice_is_in_the_chain_in_the_store_and_in_the_bundle_byte_for_byte() {
    let dir = TempDir::new("underlag");
    let store = fixture_store(&dir);
    let invoice = seq_of(&store, "InvoiceReceived", "sf-vastmanland");
    let file = dir.0.join("faktura-118.pdf");
    let bytes = pdf("Faktura 2024-118");
    std::fs::write(&file, &bytes).unwrap();
    let o = finsam(
        &store,
        &[
            "attach",
            "--forbund",
            "sf-vastmanland",
            "--to",
            &invoice.to_string(),
            "--as",
            "kansli",
            "--format",
            "json",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert_exit(&o, 0);
    let answer: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let sha = answer["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha, hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
    // The event names the file; the store keeps it under its hash.
    let last = log_json(&store).pop().unwrap();
    assert_eq!(last["event"]["type"], "UnderlagAttached");
    assert_eq!(last["event"]["of"], serde_json::json!([invoice]));
    assert_eq!(last["event"]["file"]["media_type"], "application/pdf");
    assert_eq!(last["event"]["file"]["size"], bytes.len());
    assert_eq!(std::fs::read(store.join("underlag").join(&sha)).unwrap(), bytes);
    // `audit voucher` lists it with the invoice's voucher.
    let trail = finsam(&store, &["audit", "trail", "--forbund", "sf-vastmanland", "--format", "json"], "");
    let rows: Vec<Value> = serde_json::from_str(&stdout(&trail)).unwrap();
    let label =
        rows.iter().find(|r| r["seq"] == invoice).unwrap()["vouchers"][0]["voucher"].as_str().unwrap().to_string();
    let o = finsam(&store, &["audit", "voucher", "--forbund", "sf-vastmanland", &label], "");
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains(&format!("underlag     faktura-118.pdf ({} byte, SHA-256 {sha}", bytes.len())),
        "{}",
        stdout(&o)
    );
    let o = finsam(&store, &["audit", "voucher", "--forbund", "sf-vastmanland", &label, "--format", "json"], "");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["underlag"][0]["sha256"], sha.as_str());

    // The revisor's bundle carries it, and the verifier checks it against the log.
    let out = dir.0.join("bundle");
    let said = bundle_checks_out(&store, "sf-vastmanland", 2024, &out);
    assert!(said.starts_with("OK") || said.contains("\nOK"), "{said}");
    assert_eq!(std::fs::read(out.join("underlag").join(&sha)).unwrap(), bytes);
    // A file swapped in the bundle, its MANIFEST line made to fit, is still found: the log names
    // the hash.
    let forged = pdf("Faktura 2024-118, ändrad");
    std::fs::write(out.join("underlag").join(&sha), &forged).unwrap();
    let manifest = std::fs::read_to_string(out.join("MANIFEST")).unwrap().replace(
        &format!("{}  underlag/{sha}", sha),
        &format!("{}  underlag/{sha}", hex(&<sha2::Sha256 as sha2::Digest>::digest(&forged))),
    );
    std::fs::write(out.join("MANIFEST"), manifest).unwrap();
    let check = std::process::Command::new("python3")
        .args(["events/verify_chain.py", "--manifest", "MANIFEST"])
        .current_dir(&out)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success() && said.contains("is not the file the event names"), "{said}");
}

#[test]
fn only_a_document_of_the_forbunds_own_events_is_attached_and_nothing_is_kept_when_refused() {
    let dir = TempDir::new("underlag-refused");
    let store = fixture_store(&dir);
    let before = log_bytes(&store);
    let other = seq_of(&store, "CostRecorded", "sf-vasteras");
    let file = dir.0.join("kvitto.pdf");
    std::fs::write(&file, pdf("kvitto")).unwrap();
    let o = finsam(
        &store,
        &[
            "attach",
            "--forbund",
            "sf-vastmanland",
            "--to",
            &other.to_string(),
            "--as",
            "kansli",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("in the books of sf-vasteras"), "{}", stderr(&o));
    let o = finsam(
        &store,
        &["attach", "--forbund", "sf-vastmanland", "--to", "99999", "--as", "kansli", file.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 2);
    let text = dir.0.join("anteckning.txt");
    std::fs::write(&text, "inte en pdf").unwrap();
    let o = finsam(
        &store,
        &["attach", "--forbund", "sf-vastmanland", "--to", "300", "--as", "kansli", text.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("PDF, PNG eller JPEG"), "{}", stderr(&o));
    assert_eq!(log_bytes(&store), before);
    assert!(!store.join("underlag").exists(), "a refused attachment keeps no file");
    // An event naming a file the store does not keep is refused, whatever way it comes in.
    let event = serde_json::json!({"type": "UnderlagAttached", "forbund": "sf-vastmanland", "date": "2026-01-05",
        "of": [300], "file": {"name": "x.pdf", "media_type": "application/pdf", "size": 10, "sha256": "ab".repeat(32)}});
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &event.to_string());
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("keeps no file"), "{}", stderr(&o));
}
