//! The journal export, checked by hledger: `hledger check --strict ordereddates` passes, and for
//! every förbund and year `hledger is` gives finsam's income, costs and result and `hledger bs`
//! its asset and liability accounts and net assets, to the öre — from the whole journal and from
//! the journal of that year alone. ledger-cli reads the same journals with `--pedantic --strict`
//! without a warning and gives hledger's balance of every account. Skipped, with a message, when
//! hledger or ledger is not installed (Debian packages `hledger`, `ledger`), unless
//! `FINSAM_REQUIRE_HLEDGER` or `FINSAM_REQUIRE_LEDGER` is set, as CI sets them: then a missing tool
//! fails.

use crate::support::*;
use finsam_domain::Amount;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn hledger_present() -> bool {
    let present = Command::new("hledger").arg("--version").output().is_ok_and(|o| o.status.success());
    tool_present(present, "hledger", "FINSAM_REQUIRE_HLEDGER", "apt-get install hledger")
}

fn ledger_present() -> bool {
    let present = Command::new("ledger").arg("--version").output().is_ok_and(|o| o.status.success());
    tool_present(present, "ledger", "FINSAM_REQUIRE_LEDGER", "apt-get install ledger")
}

/// Every account's balance by ledger-cli, reading the journal as strictly as it can: an
/// undeclared account or commodity is an error (`--pedantic`) and any warning fails the test.
fn ledger_balances(journal: &Path) -> BTreeMap<String, Amount> {
    let o = Command::new("ledger")
        .arg("-f")
        .arg(journal)
        .args(["--pedantic", "--strict", "bal", "--flat", "--no-total", "--empty"])
        .args(["-F", "%(account)\t%(quantity(scrub(display_total)))\n"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && stderr.is_empty(), "ledger --pedantic --strict on {}: {stderr}", journal.display());
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let (account, amount) = l.split_once('\t').unwrap_or_else(|| panic!("ledger's line {l:?}"));
            (account.to_string(), Amount::parse(amount).unwrap_or_else(|e| panic!("{l:?}: {e:?}")))
        })
        .filter(|(_, a)| !a.is_zero())
        .collect()
}

/// Every account's balance by hledger.
fn hledger_balances(journal: &Path) -> BTreeMap<String, Amount> {
    let csv = hledger(journal, &["bal", "--flat", "--no-total", "-O", "csv"]);
    csv.lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split("\",\"").map(|c| c.trim_matches('"')).collect();
            (cells[0].to_string(), Amount::parse(cells[1].trim_end_matches(" SEK")).unwrap())
        })
        .filter(|(_, a)| !a.is_zero())
        .collect()
}

/// A store of a generated log: three förbund, 2005 and 2006.
fn generated_store(name: &str) -> (TempDir, std::path::PathBuf) {
    let generated = TempDir::new(name);
    let store = generated.store();
    assert_exit(&finsam(&store, &["init"], ""), 0);
    let g = finsam(&store, &["generate", "--forbund", "3", "--years", "2", "--seed", "11"], "");
    assert_exit(&finsam(&store, &["record", "--as", "gen", "--batch-size", "5000", "-"], &stdout(&g)), 0);
    (generated, store)
}

fn hledger(journal: &Path, args: &[&str]) -> String {
    let o = Command::new("hledger").arg("-f").arg(journal).args(args).output().unwrap();
    assert!(o.status.success(), "hledger {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// hledger's CSV report as (row name, amount) pairs, in order; an empty cell is zero.
fn rows(csv: &str) -> Vec<(String, Amount)> {
    csv.lines()
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l.split("\",\"").map(|c| c.trim_matches('"')).collect();
            let text = cells.get(1).copied().unwrap_or("0").trim_end_matches(" SEK").replace(',', "");
            let amount = if text.is_empty() { Amount::ZERO } else { Amount::parse(&text).unwrap() };
            (cells[0].to_string(), amount)
        })
        .collect()
}

fn finsam_json(store: &Path, args: &[&str]) -> serde_json::Value {
    let o = finsam(store, args, "");
    assert_exit(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn amount(v: &serde_json::Value) -> Amount {
    Amount::parse(v.as_str().unwrap()).unwrap()
}

/// Compares one förbund's year in a journal with finsam's balances; `dates` are hledger's
/// period arguments. Returns the figures compared.
fn compare_year(journal: &Path, store: &Path, f: &str, year: i32, dates: &[&str], what: &str) -> usize {
    let ours =
        finsam_json(store, &["balances", "--forbund", f, "--as-of", &format!("{year}-12-31"), "--format", "json"]);
    let query = format!("^{f}:");
    let mut is_args = vec!["is", "-O", "csv", query.as_str()];
    is_args.extend(dates);
    let is = rows(&hledger(journal, &is_args));
    let totals: Vec<Amount> = is.iter().filter(|(name, _)| name == "total").map(|(_, a)| *a).collect();
    let net = is.iter().find(|(name, _)| name == "Net:").map(|(_, a)| *a).unwrap_or_default();
    let label = format!("{what}: {f} {year}");
    assert_eq!(
        totals,
        vec![amount(&ours["income"]), amount(&ours["costs"])],
        "{label}: hledger is (revenues, expenses)"
    );
    assert_eq!(net, amount(&ours["result"]), "{label}: hledger is net = finsam's result");
    // The balance sheet: every asset and liability account, and net assets = finsam's equity.
    let mut bs_args = vec!["bs", "--flat", "-O", "csv", query.as_str()];
    bs_args.extend(dates.iter().copied().filter(|d| !d.starts_with("-b")));
    let bs = rows(&hledger(journal, &bs_args));
    let theirs: BTreeMap<String, Amount> = bs
        .iter()
        .filter(|(name, a)| name.starts_with(f) && !a.is_zero())
        .map(|(name, a)| (name.trim_start_matches(&format!("{f}:")).to_string(), *a))
        .collect();
    // Assets (class 1) as they stand; liabilities (class 2 but equity, 20xx) shown by hledger as
    // positive amounts owed.
    let ours_accounts: BTreeMap<String, Amount> = ours["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| {
            let number = a["account"].as_str().unwrap();
            let balance = amount(&a["balance"]);
            match number.as_bytes() {
                [b'1', ..] => Some((number.to_string(), balance)),
                [b'2', b'0', ..] => None,
                [b'2', ..] => Some((number.to_string(), -balance)),
                _ => None,
            }
        })
        .filter(|(_, b)| !b.is_zero())
        .collect();
    assert_eq!(theirs, ours_accounts, "{label}: hledger bs's asset and liability accounts");
    let bs_net = bs.iter().find(|(name, _)| name == "Net:").map(|(_, a)| *a).unwrap_or_default();
    assert_eq!(bs_net, amount(&ours["equity"]), "{label}: hledger bs net = finsam's net assets");
    4 + theirs.len()
}

fn check_against_hledger(store: &Path, dir: &TempDir, name: &str, years: std::ops::RangeInclusive<i32>) -> usize {
    let o = finsam(store, &["export", "journal", "--all"], "");
    assert_exit(&o, 0);
    let journal = dir.0.join(format!("{name}.journal"));
    std::fs::write(&journal, stdout(&o)).unwrap();
    hledger(&journal, &["check", "--strict", "ordereddates"]);
    let types = hledger(&journal, &["accounts", "--types"]);
    assert!(types.lines().all(|l| l.contains("; type: ")), "every account has a type:\n{types}");
    let status = finsam_json(store, &["status", "--format", "json"]);
    let mut compared = 0;
    for f in status["forbund"].as_array().unwrap() {
        let f = f["forbund"].as_str().unwrap();
        for year in years.clone() {
            let (b, e) = (format!("-b{year}-01-01"), format!("-e{}-01-01", year + 1));
            compared += compare_year(&journal, store, f, year, &[&b, &e], &format!("{name} (whole journal)"));
            let o = finsam(store, &["export", "journal", "--forbund", f, "--year", &year.to_string()], "");
            assert_exit(&o, 0);
            let one = dir.0.join(format!("{name}-{f}-{year}.journal"));
            std::fs::write(&one, stdout(&o)).unwrap();
            hledger(&one, &["check", "--strict", "ordereddates"]);
            compared += compare_year(&one, store, f, year, &[&e], &format!("{name} (--year {year})"));
        }
    }
    compared
}

#[test]
fn hledger_gives_finsams_income_statement_and_balance_sheet_for_every_year() {
    if !hledger_present() {
        eprintln!(
            "SKIPPED: hledger is not installed (apt-get install hledger); the journal export was not checked by it"
        );
        return;
    }
    let dir = TempDir::new("journal");
    let store = fixture_store(&dir);
    // 4 förbund × 2021–2024, each from the whole journal and from the year's own.
    assert!(check_against_hledger(&store, &dir, "fixtures", 2021..=2024) >= 4 * 4 * 2 * 4);
    let (generated, store) = generated_store("journal-generated");
    assert!(check_against_hledger(&store, &generated, "generated", 2005..=2006) >= 3 * 2 * 2 * 4);
}

#[test]
fn the_journal_is_in_date_order_and_holds_no_closing_voucher() {
    let dir = TempDir::new("journal-order");
    let store = fixture_store(&dir);
    let o = finsam(&store, &["export", "journal", "--all"], "");
    assert_exit(&o, 0);
    let text = stdout(&o);
    let dates: Vec<&str> =
        text.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_digit())).map(|l| &l[..10]).collect();
    assert!(dates.len() > 200);
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "transactions in date order");
    assert!(!text.contains("Årets resultat"), "closing vouchers are left out");
    assert!(
        text.contains("account sf-vastmanland:1930\n    ; type: A, Bank\n"),
        "accounts declared with type and name"
    );
}

/// The journals of a store (the whole, and each förbund's year) read by ledger and by hledger:
/// the number of account balances compared.
fn compare_ledger_with_hledger(store: &Path, dir: &TempDir, name: &str, years: std::ops::RangeInclusive<i32>) -> usize {
    let write = |args: &[&str], file: String| {
        let o = finsam(store, args, "");
        assert_exit(&o, 0);
        let path = dir.0.join(file);
        std::fs::write(&path, stdout(&o)).unwrap();
        path
    };
    let mut journals = vec![write(&["export", "journal", "--all"], format!("{name}-ledger.journal"))];
    let status = finsam_json(store, &["status", "--format", "json"]);
    for f in status["forbund"].as_array().unwrap() {
        let f = f["forbund"].as_str().unwrap();
        for year in years.clone() {
            let args = ["export", "journal", "--forbund", f, "--year", &year.to_string()];
            journals.push(write(&args, format!("{name}-ledger-{f}-{year}.journal")));
        }
    }
    let mut compared = 0;
    for j in &journals {
        let (theirs, hledgers) = (ledger_balances(j), hledger_balances(j));
        assert_eq!(theirs, hledgers, "{}: ledger's balances against hledger's", j.display());
        compared += theirs.len();
    }
    compared
}

#[test]
fn ledger_reads_the_journal_pedantically_and_gives_hledgers_balances() {
    if !ledger_present() || !hledger_present() {
        eprintln!("SKIPPED: ledger or hledger is not installed (apt-get install ledger hledger); the journal was not read by ledger");
        return;
    }
    let dir = TempDir::new("journal-ledger");
    let store = fixture_store(&dir);
    let n = compare_ledger_with_hledger(&store, &dir, "fixtures", 2021..=2024);
    assert!(n >= 80, "{n} balances compared");
    let (generated, store) = generated_store("journal-ledger-generated");
    let n = compare_ledger_with_hledger(&store, &generated, "generated", 2005..=2006);
    assert!(n >= 40, "{n} balances compared");
}

/// bean-check, from `FINSAM_BEAN_CHECK` or the PATH; the Python beside it has Beancount's loader.
fn bean_check() -> Option<(String, String)> {
    let program = std::env::var("FINSAM_BEAN_CHECK").unwrap_or_else(|_| "bean-check".into());
    let present = Command::new(&program).arg("--version").output().is_ok_and(|o| o.status.success());
    if !tool_present(present, &program, "FINSAM_REQUIRE_BEANCOUNT", "pip install beancount") {
        return None;
    }
    let python = Path::new(&program).parent().map(|d| d.join("python3")).filter(|p| p.exists());
    Some((program.clone(), python.map_or_else(|| "python3".into(), |p| p.display().to_string())))
}

/// Exports the store's books as Beancount (the whole, and each förbund's year), checks each
/// with bean-check and compares what Beancount's loader reads with finsam's balances: each
/// year's income and costs and every asset and liability account at the year's end. Returns
/// the figures compared.
fn compare_beancount(
    store: &Path,
    dir: &TempDir,
    name: &str,
    years: std::ops::RangeInclusive<i32>,
    (check, python): &(String, String),
) -> usize {
    let write = |args: &[&str], file: String| {
        let o = finsam(store, args, "");
        assert_exit(&o, 0);
        let path = dir.0.join(file);
        std::fs::write(&path, stdout(&o)).unwrap();
        let o = Command::new(check).arg(&path).output().unwrap();
        let said = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && said.trim().is_empty(), "bean-check {}: {said}", path.display());
        let o = Command::new(python).arg(root().join("tests/beancount_figures.py")).arg(&path).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let whole = write(&["export", "beancount", "--all"], format!("{name}.beancount"));
    let status = finsam_json(store, &["status", "--format", "json"]);
    let mut compared = 0;
    for f in status["forbund"].as_array().unwrap() {
        let f = f["forbund"].as_str().unwrap();
        for year in years.clone() {
            let args = ["export", "beancount", "--forbund", f, "--year", &year.to_string()];
            let one = write(&args, format!("{name}-{f}-{year}.beancount"));
            let ours = finsam_json(
                store,
                &["balances", "--forbund", f, "--as-of", &format!("{year}-12-31"), "--format", "json"],
            );
            let accounts: BTreeMap<String, String> = ours["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| matches!(a["account"].as_str().unwrap().as_bytes(), [b'1', ..] | [b'2', b'1'..=b'9', ..]))
                .filter(|a| !amount(&a["balance"]).is_zero())
                .map(|a| (a["account"].as_str().unwrap().to_string(), amount(&a["balance"]).canonical()))
                .collect();
            for (theirs, what) in [(&whole, "the whole file"), (&one, "the year's file")] {
                let label = format!("{name} {f} {year} ({what})");
                let Some(fig) = theirs.get(f).and_then(|y| y.get(year.to_string())) else {
                    // No transaction of the förbund up to that year: finsam has none either.
                    assert!(accounts.is_empty() && amount(&ours["income"]).is_zero(), "{label}: {ours}");
                    continue;
                };
                let kr = |v: &serde_json::Value| Amount::parse(v.as_str().unwrap()).unwrap();
                assert_eq!(kr(&fig["income"]), amount(&ours["income"]), "{label}: income");
                assert_eq!(kr(&fig["costs"]), amount(&ours["costs"]), "{label}: costs");
                let theirs_accounts: BTreeMap<String, String> =
                    fig["accounts"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), kr(v).canonical())).collect();
                assert_eq!(theirs_accounts, accounts, "{label}: asset and liability accounts");
                compared += 2 + accounts.len();
            }
        }
    }
    compared
}

#[test]
fn bean_check_accepts_the_beancount_export_and_beancount_reads_finsams_figures() {
    let Some(tools) = bean_check() else {
        return;
    };
    let dir = TempDir::new("beancount");
    let store = fixture_store(&dir);
    let n = compare_beancount(&store, &dir, "fixtures", 2021..=2024, &tools);
    assert!(n >= 60, "{n} figures compared");
    let (generated, store) = generated_store("beancount-generated");
    let n = compare_beancount(&store, &generated, "generated", 2005..=2006, &tools);
    assert!(n >= 30, "{n} figures compared");
}
