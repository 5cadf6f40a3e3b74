//! `finsam backup` and `finsam restore`: backups taken while the service records, each restored
//! as a new store that verifies and whose log is a prefix of the running store's; a backup that
//! was changed, completed or cut is refused, and nothing is installed.

use crate::serve::{token, Server};
use crate::support::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("backup.json")).unwrap()).unwrap()
}

/// Every entry of a folder (hidden ones too), by name.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn restore(into: &Path, backup: &Path) -> std::process::Output {
    finsam(into, &["restore", backup.to_str().unwrap()], "")
}

#[test]
fn backups_taken_while_the_service_records_restore_as_stores_that_verify() {
    let dir = TempDir::new("backup-load");
    let store = fixture_store(&dir);
    let kansli = token(&store, "anna", "kansli", &["sf-vastmanland"]);
    // An underlag and a chart, so that the backup carries both.
    std::fs::create_dir_all(store.join("charts")).unwrap();
    std::fs::copy(root().join("fixtures/chart-kommunbas.json"), store.join("charts/sf-vastmanland.json")).unwrap();
    let pdf = dir.0.join("faktura.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n% underlag for the backup test\n%%EOF\n").unwrap();
    let last =
        log_json(&store).iter().rev().find(|e| e["event"]["forbund"] == "sf-vastmanland").unwrap()["seq"].to_string();
    let args = ["attach", "--forbund", "sf-vastmanland", "--to", &last, "--as", "anna", pdf.to_str().unwrap()];
    assert_exit(&finsam(&store, &args, ""), 0);
    let before_service = log_json(&store).len() as u64;
    let server = Arc::new(Server::start(&store));
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (server, stop, acknowledged, kansli) = (server.clone(), stop.clone(), acknowledged.clone(), kansli.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let line = format!(
                        r#"{{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-12-20","member":"sala","year":2024,"amount":"1","reference":"backup {w}-{n}","idempotency_key":"backup-{w}-{n}"}}"#
                    );
                    let (status, body) = server.call("POST", "/api/v1/events", Some(&kansli), &line);
                    assert_eq!(status, 201, "{body}");
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();
    // Three backups while the writers record.
    let mut backups: Vec<PathBuf> = Vec::new();
    for i in 0..3 {
        while acknowledged.load(Ordering::Relaxed) < 40 * (i + 1) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let to = dir.0.join(format!("backup-{i}"));
        let o = finsam(&store, &["backup", to.to_str().unwrap()], "");
        assert_exit(&o, 0);
        assert!(stdout(&o).contains("restore"), "{}", stdout(&o));
        backups.push(to);
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let server = Arc::into_inner(server).expect("the writers are done");
    assert!(server.stop().success());
    let final_log = log_bytes(&store);
    let mut heads = Vec::new();
    for (i, b) in backups.iter().enumerate() {
        let m = manifest(b);
        let head = m["head"]["seq"].as_u64().unwrap();
        assert!(head > before_service, "backup {i} holds events the service recorded: head {head}");
        let paths: Vec<&str> = m["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        for expected in ["log.jsonl", "users.jsonl", "access.jsonl", "charts/sf-vastmanland.json"] {
            assert!(paths.contains(&expected), "backup {i} holds {expected}: {paths:?}");
        }
        assert!(paths.iter().any(|p| p.starts_with("underlag/")), "backup {i} holds the underlag: {paths:?}");
        assert!(!paths.iter().any(|p| p.starts_with("derived") || p.starts_with("sessions")), "{paths:?}");
        // Restored as a new store: verified, the log a prefix of the running store's, and the
        // users' tokens valid in it.
        let restored = dir.0.join(format!("restored-{i}"));
        let o = restore(&restored, b);
        assert_exit(&o, 0);
        assert!(stdout(&o).contains(&format!("{head} events verified")), "{}", stdout(&o));
        assert_exit(&finsam(&restored, &["audit", "verify"], ""), 0);
        let log = log_bytes(&restored);
        assert_eq!(log[..], final_log[..log.len()], "backup {i}'s log is a prefix of the store's");
        assert_eq!(log_json(&restored).len() as u64, head);
        assert_eq!(
            std::fs::read(restored.join("charts/sf-vastmanland.json")).unwrap(),
            std::fs::read(store.join("charts/sf-vastmanland.json")).unwrap()
        );
        heads.push(head);
    }
    assert!(heads.windows(2).all(|w| w[0] < w[1]), "each backup holds more than the one before: {heads:?}");
    let restored = dir.0.join("restored-2");
    let server = Server::start(&restored);
    let (status, body) = server.call("GET", "/api/v1/forbund/sf-vastmanland/balances", Some(&kansli), "");
    assert_eq!(status, 200, "a token of the backed-up store is valid in the restored one: {body}");
    let (status, body) =
        server.call("GET", "/api/v1/audit/verify", Some(&token(&restored, "rev", "revisor", &["sf-vastmanland"])), "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ok\":true"), "the restored store and its access log verify: {body}");
}

#[test]
fn a_changed_completed_or_cut_backup_is_refused_and_nothing_is_installed() {
    let dir = TempDir::new("backup-refused");
    let store = fixture_store(&dir);
    let good = dir.0.join("good");
    assert_exit(&finsam(&store, &["backup", good.to_str().unwrap()], ""), 0);
    // A backup goes to a new folder only.
    let o = finsam(&store, &["backup", good.to_str().unwrap()], "");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("exists and is not empty"), "{}", stderr(&o));
    let swedish = finsam_with(&store, &["backup", good.to_str().unwrap()], "", crate::support::swedish);
    assert!(stderr(&swedish).contains("finns redan och är inte tom"), "{}", stderr(&swedish));
    let copy = |name: &str| {
        let to = dir.0.join(name);
        copy_tree(&good, &to);
        to
    };
    let target = |name: &str| dir.0.join(format!("into-{name}"));
    let refused = |backup: &Path, name: &str, code: i32, says: &str| {
        let o = restore(&target(name), backup);
        assert_exit(&o, code);
        assert!(stderr(&o).contains(says), "{name}: {}", stderr(&o));
        assert!(!target(name).exists(), "{name}: nothing installed");
        assert!(
            !entries(&dir.0).iter().any(|e| e.starts_with('.')),
            "{name}: no half-made store left: {:?}",
            entries(&dir.0)
        );
    };
    // One byte of the log changed.
    let changed = copy("changed");
    let mut log = std::fs::read(changed.join("log.jsonl")).unwrap();
    let at = log.len() / 2;
    log[at] = if log[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(changed.join("log.jsonl"), &log).unwrap();
    refused(&changed, "changed", 1, "log.jsonl was changed");
    // The log and backup.json changed together: the chain does not hold.
    let forged = copy("forged");
    std::fs::write(forged.join("log.jsonl"), &log).unwrap();
    let mut m = manifest(&forged);
    let sha = hex(&sha2_digest(&log));
    m["files"][0]["sha256"] = sha.into();
    std::fs::write(forged.join("backup.json"), m.to_string()).unwrap();
    refused(&forged, "forged", 1, "does not verify");
    // The log cut after a line, backup.json too: the head is not the one named.
    let cut = copy("cut");
    let text = std::fs::read_to_string(good.join("log.jsonl")).unwrap();
    let shorter: String = text.lines().take(100).map(|l| format!("{l}\n")).collect();
    std::fs::write(cut.join("log.jsonl"), &shorter).unwrap();
    let mut m = manifest(&cut);
    m["files"][0]["sha256"] = hex(&sha2_digest(shorter.as_bytes())).into();
    m["files"][0]["bytes"] = shorter.len().into();
    std::fs::write(cut.join("backup.json"), m.to_string()).unwrap();
    refused(&cut, "cut", 1, "does not verify");
    // A file no manifest names.
    let added = copy("added");
    std::fs::write(added.join("extra.jsonl"), "{}\n").unwrap();
    refused(&added, "added", 1, "extra.jsonl");
    // No manifest: not a whole backup.
    let partial = copy("partial");
    std::fs::remove_file(partial.join("backup.json")).unwrap();
    refused(&partial, "partial", 2, "is not a whole backup");
    // Never over a store.
    let o = restore(&store, &good);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("exists and is not empty"), "{}", stderr(&o));
    // The good one restores.
    assert_exit(&restore(&target("good"), &good), 0);
    assert_eq!(log_bytes(&target("good")), log_bytes(&store));
}

fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).to_vec()
}

#[test]
fn a_batch_being_written_is_left_for_the_next_backup() {
    let dir = TempDir::new("backup-torn");
    let store = fixture_store(&dir);
    let whole = log_bytes(&store);
    let head = log_json(&store).len();
    // The first half of a line the writer has not finished (a crash, or a write in progress).
    let last = String::from_utf8(whole.clone()).unwrap().lines().last().unwrap().to_string();
    let mut torn = whole.clone();
    torn.extend_from_slice(&last.as_bytes()[..last.len() / 2]);
    std::fs::write(store.join("log.jsonl"), &torn).unwrap();
    let to = dir.0.join("backup");
    let o = finsam(&store, &["--format", "json", "backup", to.to_str().unwrap()], "");
    assert_exit(&o, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["log_bytes_left_out"].as_u64(), Some((last.len() / 2) as u64), "{report}");
    assert_eq!(report["head"]["seq"].as_u64(), Some(head as u64));
    assert_eq!(std::fs::read(to.join("log.jsonl")).unwrap(), whole);
    let restored = dir.0.join("restored");
    assert_exit(&restore(&restored, &to), 0);
    assert_exit(&finsam(&restored, &["audit", "verify"], ""), 0);
}
