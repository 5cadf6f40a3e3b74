//! A store in PostgreSQL (a throwaway cluster, `finsam_store::pg_cluster`): `finsam store copy`
//! both ways keeps the log's bytes, each side verifies, and the bundle from either is the same;
//! a changed row fails `audit verify --database`; copies that would overwrite are refused.

use crate::support::*;
use finsam_store::pg_cluster::cluster;
use std::path::Path;

fn copy(from: &str, to: &str) -> std::process::Output {
    // --store is not read by `store copy`; a folder that does not exist shows it.
    finsam(Path::new("/nonexistent-store"), &["store", "copy", from, to], "")
}

fn verify_database(url: &str) -> std::process::Output {
    finsam(Path::new("/nonexistent-store"), &["--database", url, "audit", "verify"], "")
}

/// Every file below `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut paths = Vec::new();
    list_files(dir, &mut paths);
    let mut out: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|p| (p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn a_store_copied_to_a_database_and_back_keeps_its_bytes_its_verification_and_its_bundle() {
    let dir = TempDir::new("database-copy");
    let store = fixture_store(&dir);
    let pdf = dir.0.join("protokoll.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n% minutes for the copy test\n%%EOF\n").unwrap();
    let last =
        log_json(&store).iter().rev().find(|e| e["event"]["forbund"] == "sf-vastmanland").unwrap()["seq"].to_string();
    let args = ["attach", "--forbund", "sf-vastmanland", "--to", &last, "--as", "anna", pdf.to_str().unwrap()];
    assert_exit(&finsam(&store, &args, ""), 0);
    let url = cluster().database("cli_copy");

    let o = copy(store.to_str().unwrap(), &url);
    assert_exit(&o, 0);
    let events = log_json(&store).len();
    assert!(stdout(&o).contains(&format!("copied {events} events")), "{}", stdout(&o));
    assert!(stdout(&o).contains("and 1 underlag"), "{}", stdout(&o));
    assert_eq!(
        finsam_store::copy::database_log_bytes(&url).unwrap(),
        log_bytes(&store),
        "the table holds the log's bytes"
    );
    let o = verify_database(&url);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains(&format!("{events} event(s)")), "{}", stdout(&o));

    let back = dir.0.join("back");
    let o = copy(&url, back.to_str().unwrap());
    assert_exit(&o, 0);
    assert_eq!(log_bytes(&back), log_bytes(&store), "the log's bytes are the same on both sides");
    assert_exit(&finsam(&back, &["audit", "verify"], ""), 0);
    let digest = |s: &Path| stdout(&finsam(s, &["audit", "digest"], ""));
    assert_eq!(digest(&back), digest(&store));
    // The underlag came along, byte for byte.
    assert_eq!(files(&back.join("underlag")), files(&store.join("underlag")));
    // The bundle a revisor gets is the same from either.
    let bundle = |s: &Path, out: &str| {
        let out = dir.0.join(out);
        let o =
            finsam(s, &["audit", "bundle", "--forbund", "sf-vastmanland", "--year", "2024", out.to_str().unwrap()], "");
        assert_exit(&o, 0);
        files(&out)
    };
    let (a, b) = (bundle(&store, "bundle-a"), bundle(&back, "bundle-b"));
    assert!(a.len() > 5, "the bundle holds its files");
    assert_eq!(a, b);

    // Nothing is copied over a database that holds a log, or into a folder that holds files.
    let o = copy(store.to_str().unwrap(), &url);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("holds a log already"), "{}", stderr(&o));
    let o = copy(&url, back.to_str().unwrap());
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
    let o = copy(store.to_str().unwrap(), back.to_str().unwrap());
    assert_exit(&o, 2);
}

#[test]
fn a_changed_row_in_the_database_fails_verification_and_is_never_copied() {
    let dir = TempDir::new("database-changed");
    let store = store_with(&dir, &[&fixture("00-forbund.jsonl"), &contribution("sala", "4711.00", Some("k-1"))]);
    let url = cluster().database("cli_changed");
    assert_exit(&copy(store.to_str().unwrap(), &url), 0);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let changed = client
        .execute("UPDATE finsam_log SET line = replace(line, '4711.00', '4712.00') WHERE line LIKE '%k-1%'", &[])
        .unwrap();
    assert_eq!(changed, 1);
    let seq = log_json(&store).len();
    let o = verify_database(&url);
    assert_exit(&o, 1);
    assert!(stdout(&o).contains(&format!("first bad seq {seq}")), "{}", stdout(&o));
    let o = copy(&url, dir.0.join("copy").to_str().unwrap());
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("does not verify"), "{}", stderr(&o));
    assert!(!dir.0.join("copy").exists(), "nothing was written");
}

#[test]
fn the_database_option_names_what_it_is_for() {
    let o = finsam(Path::new("/nonexistent-store"), &["--database", "/var/lib/finsam", "audit", "verify"], "");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("postgresql://USER@HOST:PORT/DATABASE"), "{}", stderr(&o));
    let o =
        finsam(Path::new("/nonexistent-store"), &["--database", "postgresql://x@localhost/y", "balances", "--all"], "");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("finsam store copy"), "{}", stderr(&o));
}
