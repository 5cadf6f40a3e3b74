//! SIE 4 export: the golden checksum reproduced with our own CRC, every export accepted by the
//! independent checker, every voucher balanced, IB/UB/RES equal to `finsam balances`, the five
//! sample files from other programs read without error, and Swedish names round-tripping.

use crate::support::*;
use finsam_domain::Amount;
use finsam_sie::format::Field;
use std::collections::BTreeMap;
use std::path::Path;

fn reference(path: &str) -> std::path::PathBuf {
    root().join("tests/sie-reference").join(path.trim_start_matches("sie/"))
}

fn ksumma_check(file: &Path) -> String {
    let o = std::process::Command::new("python3")
        .arg(reference("sie/ksumma_check.py"))
        .arg(file)
        .output()
        .expect("python3 runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "the independent checker accepts {}: {out}", file.display());
    out
}

fn export(store: &Path, dir: &TempDir, forbund: &str, year: i32, kind: &str) -> std::path::PathBuf {
    let out = dir.0.join(format!("{forbund}-{year}.{kind}"));
    let o = finsam(
        store,
        &["export", "sie", "--forbund", forbund, "--year", &year.to_string(), "--type", kind, out.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 0);
    out
}

/// `#TRANS account {objects} amount …`: the amount, with the object list in its place.
fn trans_amount(t: &finsam_sie::format::Record) -> Amount {
    assert!(matches!(t.fields.get(1), Some(Field::Objects(_))), "#TRANS has its object list: {t:?}");
    kr(t.item(2).expect("#TRANS has an amount"))
}

fn kr(text: &str) -> Amount {
    Amount::parse(text).unwrap_or_else(|e| panic!("{text:?} is an SIE amount: {}", e.0))
}

#[test]
fn our_crc_reproduces_the_golden_files_checksum() {
    let golden = std::fs::read(reference("sie/golden.se")).expect("shared/sie/golden.se");
    let file = finsam_sie::parse(&golden).unwrap();
    assert_eq!(file.ksumma, Some((1_400_622_401, 1_400_622_401)));
    assert_eq!(file.vers.len(), 1);
}

#[test]
fn the_five_sample_files_from_other_programs_read_without_error() {
    let mut read = 0;
    for entry in std::fs::read_dir(reference("sie/samples")).expect("shared/sie/samples") {
        let path = entry.unwrap().path();
        let file =
            finsam_sie::parse(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!file.records.is_empty(), "{}", path.display());
        if let Some((declared, computed)) = file.ksumma {
            assert_eq!(declared, computed, "{}: our checksum agrees with the file's", path.display());
        }
        read += 1;
    }
    assert_eq!(read, 5);
}

#[test]
fn the_2024_export_of_samordningsforbundet_vastmanland_passes_every_check() {
    let dir = TempDir::new("sie");
    let store = fixture_store(&dir);
    let se = export(&store, &dir, "sf-vastmanland", 2024, "4e");
    let si = export(&store, &dir, "sf-vastmanland", 2024, "4i");
    ksumma_check(&se);
    ksumma_check(&si);
    let bytes = std::fs::read(&se).unwrap();
    assert!(bytes.windows(2).filter(|w| w == b"\r\n").count() > 100, "CRLF line ends");
    assert!(!bytes.contains(&0xc3), "CP437, not UTF-8");
    let file = finsam_sie::parse(&bytes).unwrap();
    let (declared, computed) = file.ksumma.unwrap();
    assert_eq!(declared, computed);
    // Every voucher balances, and there is one per voucher of the books.
    let balances = |as_of: &str| -> BTreeMap<String, Amount> {
        let o = finsam(&store, &["balances", "--forbund", "sf-vastmanland", "--as-of", as_of, "--format", "json"], "");
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["account"].as_str().unwrap().to_string(), kr(a["balance"].as_str().unwrap())))
            .collect()
    };
    let year_end = balances("2024-12-31");
    let o =
        finsam(&store, &["balances", "--forbund", "sf-vastmanland", "--as-of", "2024-12-31", "--format", "json"], "");
    let vouchers = serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap()["vouchers"].as_u64().unwrap();
    assert_eq!(file.vers.len() as u64, vouchers);
    for v in &file.vers {
        let sum: Amount = v.trans.iter().map(trans_amount).sum();
        assert!(sum.is_zero(), "#VER {:?} sums to {sum}", v.head.item(1));
    }
    // #UB 0 and #RES 0 equal the balances at year end; #IB 0 those at the year's start.
    let start = balances("2023-12-31");
    let mut ub = 0;
    for r in &file.records {
        let (year, account, value) = (r.item(0).unwrap_or(""), r.item(1).unwrap_or(""), r.item(2).unwrap_or("0"));
        match (r.label.as_str(), year) {
            ("#UB", "0") | ("#RES", "0") => {
                assert_eq!(kr(value), year_end.get(account).copied().unwrap_or_default(), "{} {account}", r.label);
                ub += usize::from(r.label == "#UB");
            }
            ("#IB", "0") => assert_eq!(kr(value), start.get(account).copied().unwrap_or_default(), "#IB {account}"),
            _ => {}
        }
    }
    assert!(ub >= 2, "#UB 0 for the bank and the equity received");
    // #PBUDGET adds up to the cost lines of the 2024 budget.
    let pbudget: Amount = file.records.iter().filter(|r| r.label == "#PBUDGET").map(|r| kr(r.item(4).unwrap())).sum();
    assert_eq!(pbudget.canonical(), "20983000");
    // The same log gives the same file.
    let again = dir.0.join("again.se");
    let o = finsam(
        &store,
        &["export", "sie", "--forbund", "sf-vastmanland", "--year", "2024", again.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 0);
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
    let o = finsam(
        &store,
        &["export", "sie", "--forbund", "sf-vastmanland", "--year", "2024", again.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 2);
}

#[test]
fn a_generated_log_exports_and_checks_too() {
    let dir = TempDir::new("sie-generated");
    let store = dir.store();
    assert_exit(&finsam(&store, &["init"], ""), 0);
    let g = finsam(&store, &["generate", "--forbund", "2", "--years", "3", "--seed", "3"], "");
    assert_exit(&finsam(&store, &["record", "--as", "gen", "--batch-size", "5000", "-"], &stdout(&g)), 0);
    for year in [2005, 2006, 2007] {
        let se = export(&store, &dir, "sf-gen-001", year, "4e");
        ksumma_check(&se);
        let file = finsam_sie::parse(&std::fs::read(&se).unwrap()).unwrap();
        for v in &file.vers {
            let sum: Amount = v.trans.iter().map(trans_amount).sum();
            assert!(sum.is_zero());
        }
    }
}

#[test]
fn names_with_swedish_letters_quotes_and_spaces_round_trip() {
    let dir = TempDir::new("sie-names");
    let name = r#"Samordningsförbundet "Åre Älvdal Öst" – test"#;
    let registration = fixture("00-forbund.jsonl")
        .lines()
        .last()
        .unwrap()
        .replace("Samordningsförbundet Västmanland", &name.replace('"', "\\\""));
    let insats = r#"{"type":"InsatsCreated","forbund":"sf-vastmanland","date":"2024-01-01","insats":"ett-team","name":"Teamet \"Lyftet\" i Ölme","category":"individ","decision":{"body":"styrelsen","date":"2024-01-01"}}"#;
    let store = store_with(&dir, &[&registration, insats]);
    let se = export(&store, &dir, "sf-vastmanland", 2024, "4e");
    ksumma_check(&se);
    let file = finsam_sie::parse(&std::fs::read(&se).unwrap()).unwrap();
    let fnamn = file.records.iter().find(|r| r.label == "#FNAMN").unwrap();
    assert_eq!(fnamn.item(0), Some(r#"Samordningsförbundet "Åre Älvdal Öst" - test"#), "the en dash is CP437's -");
    let objekt = file.records.iter().find(|r| r.label == "#OBJEKT").unwrap();
    assert_eq!((objekt.item(1), objekt.item(2)), (Some("ett-team"), Some(r#"Teamet "Lyftet" i Ölme"#)));
}
