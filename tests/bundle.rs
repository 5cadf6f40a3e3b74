//! A bundle proves its own figures: `verify_chain.py --manifest` recomputes the balances, the
//! budget position and the trail from the bundled log with `events/books.py` — a second
//! implementation of the posting rules — and compares them with the reports. Run on the fixtures
//! and on random histories, this is also the test that Rust and Python post alike to the öre.

use crate::support::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The verifier's verdict on a bundle folder: (exit code, stdout).
fn check_bundle(bundle: &Path) -> (i32, String) {
    let o = Command::new("python3")
        .args(["events/verify_chain.py", "--manifest", "MANIFEST"])
        .current_dir(bundle)
        .output()
        .expect("python3 runs (the verifier needs only its standard library)");
    assert!(o.stderr.is_empty(), "verify_chain.py wrote to stderr: {}", String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
}

/// How many figures the verifier compared, from its last line ("OK files=33 figures=1601 …").
fn figures_compared(out: &str) -> usize {
    let last = out.lines().last().unwrap_or_default();
    let n = last.split_whitespace().find_map(|w| w.strip_prefix("figures=")).expect("the verdict counts figures");
    n.parse().unwrap()
}

fn bundle(store: &Path, forbund: &str, year: i32, out: &Path) {
    let o = finsam(
        store,
        &["audit", "bundle", "--forbund", forbund, "--year", &year.to_string(), out.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 0);
}

/// Writes MANIFEST again for the files as they are now: what a forger with the bundle in hand does.
fn rebuild_manifest(bundle: &Path) {
    let mut files = Vec::new();
    list_files(bundle, &mut files);
    let mut lines: Vec<String> = files
        .iter()
        .map(|f| (f.strip_prefix(bundle).unwrap().to_string_lossy().replace('\\', "/"), f))
        .filter(|(rel, _)| rel != "MANIFEST")
        .map(|(rel, f)| format!("{}  {rel}\n", hex(&Sha256::digest(std::fs::read(f).unwrap()))))
        .collect();
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    std::fs::write(bundle.join("MANIFEST"), lines.concat()).unwrap();
}

#[test]
fn every_bundle_of_the_fixtures_proves_its_figures_with_python_alone() {
    let dir = TempDir::new("bundle-figures");
    let store = fixture_store(&dir);
    let mut bundles = 0;
    for forbund in ["sf-vasteras", "sf-vastra-malardalen", "sf-norra-vastmanland", "sf-vastmanland"] {
        for year in 2021..=2024 {
            let out = dir.0.join(format!("{forbund}-{year}"));
            bundle(&store, forbund, year, &out);
            let (code, said) = check_bundle(&out);
            assert_eq!(code, 0, "{forbund} {year}:\n{said}");
            assert!(said.contains("OK files="), "{said}");
            assert!(figures_compared(&said) > 0, "{forbund} {year}: no figure compared\n{said}");
            // Checking leaves nothing behind (no __pycache__): a second check says the same.
            assert_eq!(check_bundle(&out), (code, said), "{forbund} {year}: a second check differs");
            bundles += 1;
        }
    }
    assert_eq!(bundles, 16);
}

#[test]
fn random_histories_give_the_same_figures_in_rust_and_in_python() {
    let cases: u64 = std::env::var("FINSAM_PROPERTY_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let mut compared = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..cases {
        let events = finsam_generate::random_history(1000 + seed, 110);
        let input: String = events.iter().map(|e| format!("{}\n", e.to_json())).collect();
        let dir = TempDir::new("bundle-random");
        let store = store_with(&dir, &[&input]);
        let registered: std::collections::BTreeSet<String> =
            events.iter().filter(|e| e.type_name() == "ForbundRegistered").map(|e| e.forbund.to_string()).collect();
        kinds.extend(events.iter().map(|e| e.type_name()));
        for f in &registered {
            for year in 2023..=2026 {
                let out = dir.0.join(format!("{f}-{year}"));
                bundle(&store, f, year, &out);
                let (code, said) = check_bundle(&out);
                assert_eq!(code, 0, "seed {seed}, {f} {year}: Rust and Python differ\n{said}");
                compared += figures_compared(&said);
            }
        }
    }
    assert!(compared > 1000 * cases as usize / 12, "only {compared} figures compared");
    for kind in [
        "CostRecorded",
        "EventCorrected",
        "YearClosed",
        "EquityTransferred",
        "FundingChanged",
        "OtherIncomeRecorded",
        "InvoicePaid",
        "AccrualRecorded",
        "BalancesTakenOver",
        "MembersChanged",
        "InsatsChanged",
        "ForecastRecorded",
    ] {
        assert!(kinds.contains(kind), "the random histories hold no {kind}: {kinds:?}");
    }
}

/// A bundle of Samordningsförbundet Västmanland 2024, copied to a fresh folder for each forgery.
struct Forgery {
    _dir: TempDir,
    original: PathBuf,
}

impl Forgery {
    fn new() -> Forgery {
        let dir = TempDir::new("bundle-forgery");
        let store = fixture_store(&dir);
        let original = dir.0.join("original");
        bundle(&store, "sf-vastmanland", 2024, &original);
        Forgery { _dir: dir, original }
    }

    /// Applies `change` to the file `path` of a copy, rebuilds its MANIFEST, and returns the verdict.
    fn try_it(&self, name: &str, path: &str, change: impl Fn(String) -> String) -> (i32, String) {
        let copy = self.original.with_file_name(name);
        copy_tree(&self.original, &copy);
        let file = copy.join(path);
        let before = std::fs::read_to_string(&file).unwrap();
        let after = change(before.clone());
        assert_ne!(before, after, "{name}: the forgery changes {path}");
        std::fs::write(&file, after).unwrap();
        rebuild_manifest(&copy);
        check_bundle(&copy)
    }
}

/// A forgery: its name, the file it changes, how, and the message that must name it.
type Case = (&'static str, &'static str, Box<dyn Fn(String) -> String>, &'static str);

#[test]
fn a_report_changed_with_its_manifest_rebuilt_is_bad_and_the_figure_is_named() {
    let f = Forgery::new();
    let (code, said) = check_bundle(&f.original);
    assert_eq!(code, 0, "{said}");
    let cases: Vec<Case> = vec![
        (
            "bank-in-json",
            "reports/saldon-2024-12-31.json",
            Box::new(|t| t.replacen("\"balance\": \"2357029.90\"", "\"balance\": \"2357039.90\"", 1)),
            "reports/saldon-2024-12-31.json: the balance of account 1930 is 2 357 039,90 kr in the report, the log gives 2 357 029,90 kr",
        ),
        (
            "result-in-json",
            "reports/saldon-2024-12-31.json",
            Box::new(|t| t.replace("\"result\": \"-1638899\"", "\"result\": \"-1538899\"")),
            "reports/saldon-2024-12-31.json: result is -1 538 899,00 kr in the report, the log gives -1 638 899,00 kr",
        ),
        (
            "account-dropped",
            "reports/saldon-2024-12-31.txt",
            Box::new(|t| t.lines().filter(|l| !l.starts_with("4520")).map(|l| format!("{l}\n")).collect()),
            "reports/saldon-2024-12-31.txt: account 4520 is missing",
        ),
        (
            "bank-in-text",
            "reports/saldon-2024-12-31.txt",
            Box::new(|t| t.replacen("2 357 029,90 kr", "2 357 039,90 kr", 1)),
            "reports/saldon-2024-12-31.txt: the balance of account 1930 is 2 357 039,90 kr in the report, the log gives 2 357 029,90 kr",
        ),
        (
            "granted-in-json",
            "reports/budgetlage-2024.json",
            Box::new(|t| t.replacen("\"granted\": \"6200000\"", "\"granted\": \"6300000\"", 1)),
            "reports/budgetlage-2024.json: line samordningsteam-vasteras: granted is 6 300 000,00 kr in the report, the log gives 6 200 000,00 kr",
        ),
        (
            "spent-in-text",
            "reports/budgetlage-2024.txt",
            Box::new(|t| t.replacen("1 668 324,00", "1 568 324,00", 1)),
            "reports/budgetlage-2024.txt: line 'Samordningsteam Sala': spent is 1 568 324,00 kr in the report, the log gives 1 668 324,00 kr",
        ),
        (
            "event-hidden-in-trail",
            "reports/handelser-2024.txt",
            // The first takeover's row (whatever its seq) taken out of the trail.
            Box::new(|t| {
                let mut hidden = false;
                t.lines()
                    .filter(|l| {
                        let hide = !hidden && l.contains("Tillgångar och skulder övertagna");
                        hidden |= hide;
                        !hide
                    })
                    .map(|l| format!("{l}\n"))
                    .collect()
            }),
            "reports/handelser-2024.txt: the events listed (seqs)",
        ),
        (
            "decision-changed-in-trail",
            "reports/handelser-2024.json",
            Box::new(|t| t.replacen("\"body\": \"interimsstyrelsen\"", "\"body\": \"styrelsen\"", 1)),
            "reports/handelser-2024.json: seq 35: decision",
        ),
        (
            "equity-received-in-annual-json",
            "reports/arsredovisning-2024.json",
            Box::new(|t| t.replacen("\"amount\": \"3863000\"", "\"amount\": \"3963000\"", 1)),
            "reports/arsredovisning-2024.json: balansrakning mottaget_eget_kapital is 3 963 000,00 kr in the report, the log gives 3 863 000,00 kr",
        ),
        (
            "result-in-annual-text",
            "reports/arsredovisning-2024.txt",
            Box::new(|t| t.replacen("-1 638 899,00", "-1 538 899,00", 1)),
            "reports/arsredovisning-2024.txt: Året i korthet: Årets resultat is -1 538 899,00 kr in the report, the log gives -1 638 899,00 kr",
        ),
        (
            "chart-renumbered",
            "chart.json",
            Box::new(|t| t.replace("\"account\": \"1930\"", "\"account\": \"1931\"")),
            "reports/saldon-2024-12-31.json: the balance of account 1931",
        ),
    ];
    for (name, path, change, named) in cases {
        let (code, said) = f.try_it(name, path, change);
        assert_eq!(code, 1, "{name}: a forged figure passed:\n{said}");
        assert!(said.contains(&format!("BAD {named}")), "{name}: the message names the figure ({named}):\n{said}");
        assert!(said.lines().last().unwrap().starts_with("BAD files="), "{name}: {said}");
    }
}

#[test]
fn a_report_removed_with_its_manifest_rebuilt_is_bad() {
    let f = Forgery::new();
    let copy = f.original.with_file_name("removed");
    copy_tree(&f.original, &copy);
    std::fs::remove_file(copy.join("reports/budgetlage-2024.json")).unwrap();
    std::fs::remove_file(copy.join("reports/budgetlage-2024.txt")).unwrap();
    rebuild_manifest(&copy);
    let (code, said) = check_bundle(&copy);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("BAD reports/budgetlage-2024.json is missing"), "{said}");
}
