//! The journal export, checked by hledger: `hledger check` passes and `hledger bal` shows
//! exactly finsam's trial balance, to the öre, for every förbund. Skipped, with a message, when
//! hledger is not installed (Debian package `hledger`).

use crate::support::*;
use finsam_domain::Amount;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn hledger_present() -> bool {
    Command::new("hledger").arg("--version").output().is_ok_and(|o| o.status.success())
}

fn check_against_hledger(store: &Path, dir: &TempDir, name: &str) -> usize {
    let o = finsam(store, &["export", "journal", "--all"], "");
    assert_exit(&o, 0);
    let journal = dir.0.join(format!("{name}.journal"));
    std::fs::write(&journal, stdout(&o)).unwrap();
    let check = Command::new("hledger").arg("-f").arg(&journal).arg("check").output().unwrap();
    assert!(check.status.success(), "hledger check: {}", String::from_utf8_lossy(&check.stderr));
    let status: serde_json::Value =
        serde_json::from_str(&stdout(&finsam(store, &["status", "--format", "json"], ""))).unwrap();
    let mut compared = 0;
    for f in status["forbund"].as_array().unwrap() {
        let f = f["forbund"].as_str().unwrap();
        let ours: serde_json::Value = serde_json::from_str(&stdout(&finsam(
            store,
            &["balances", "--forbund", f, "--as-of", "2099-12-31", "--format", "json"],
            "",
        )))
        .unwrap();
        let ours: BTreeMap<String, Amount> = ours["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    format!("{f}:{}", a["account"].as_str().unwrap()),
                    Amount::parse(a["balance"].as_str().unwrap()).unwrap(),
                )
            })
            .filter(|(_, b)| !b.is_zero())
            .collect();
        let bal = Command::new("hledger")
            .arg("-f")
            .arg(&journal)
            .args(["bal", "--flat", "--no-total", "-O", "csv"])
            .arg(format!("^{f}:"))
            .output()
            .unwrap();
        assert!(bal.status.success(), "{}", String::from_utf8_lossy(&bal.stderr));
        let theirs: BTreeMap<String, Amount> = String::from_utf8_lossy(&bal.stdout)
            .lines()
            .skip(1)
            .map(|l| {
                let cells: Vec<&str> = l.split("\",\"").map(|c| c.trim_matches('"')).collect();
                let amount = cells[1].trim_end_matches(" SEK").replace(',', "");
                (cells[0].to_string(), Amount::parse(&amount).unwrap_or_else(|e| panic!("{amount:?}: {}", e.0)))
            })
            .filter(|(_, b)| !b.is_zero())
            .collect();
        assert_eq!(theirs, ours, "{name}: hledger's balance of {f} is finsam's trial balance, to the öre");
        compared += 1;
    }
    compared
}

#[test]
fn hledger_agrees_with_the_trial_balance_of_every_forbund() {
    if !hledger_present() {
        eprintln!(
            "SKIPPED: hledger is not installed (apt-get install hledger); the journal export was not checked by it"
        );
        return;
    }
    let dir = TempDir::new("journal");
    let store = fixture_store(&dir);
    assert_eq!(check_against_hledger(&store, &dir, "fixtures"), 4);
    let generated = TempDir::new("journal-generated");
    let store = generated.store();
    assert_exit(&finsam(&store, &["init"], ""), 0);
    let g = finsam(&store, &["generate", "--forbund", "3", "--years", "2", "--seed", "11"], "");
    assert_exit(&finsam(&store, &["record", "--as", "gen", "--batch-size", "5000", "-"], &stdout(&g)), 0);
    assert_eq!(check_against_hledger(&store, &generated, "generated"), 3);
}
