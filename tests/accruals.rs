//! Year-end accruals (contract v2): booked on 31 December, reversed on 1 January, so a cost of
//! the year that is invoiced later, or income received ahead, lands in the right year.

use crate::support::*;
use finsam_domain::Amount;
use std::path::Path;

fn kr(s: &str) -> Amount {
    Amount::parse(s).unwrap()
}

fn key_figures(store: &Path, as_of: &str) -> serde_json::Value {
    let o = finsam(store, &["balances", "--forbund", "sf-vastmanland", "--as-of", as_of, "--format", "json"], "");
    assert_exit(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn figure(v: &serde_json::Value, key: &str) -> Amount {
    kr(v[key].as_str().unwrap())
}

const ACCRUED_COST: &str = r#"{"type":"AccrualRecorded","forbund":"sf-vastmanland","date":"2024-12-31","year":2024,"kind":"upplupen_kostnad","line":"gemensam-administration","amount":"20000","reference":"P-2024-1","text":"revision 2024, faktureras 2025"}"#;
const ACCRUED_INCOME: &str = r#"{"type":"AccrualRecorded","forbund":"sf-vastmanland","date":"2024-12-31","year":2024,"kind":"upplupen_intakt","member":"sala","amount":"5000","reference":"P-2024-2","text":"bidrag 2024 som betalas 2025"}"#;

#[test]
fn an_accrual_moves_cost_and_income_into_its_year_and_is_reversed_on_1_january() {
    let dir = TempDir::new("accruals");
    let store = fixture_store(&dir);
    let before = key_figures(&store, "2024-12-31");
    let accounts_before = account_balances(&store, "sf-vastmanland", "2024-12-31");
    let jan_before = key_figures(&store, "2025-01-01");
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &[ACCRUED_COST, ACCRUED_INCOME].join("\n")), 0);
    let after = key_figures(&store, "2024-12-31");
    // 2024 carries the cost invoiced later and the contribution paid later.
    assert_eq!(figure(&after, "costs") - figure(&before, "costs"), kr("20000"));
    assert_eq!(figure(&after, "income") - figure(&before, "income"), kr("5000"));
    assert_eq!(figure(&after, "bank"), figure(&before, "bank"), "no money moved");
    let accounts = account_balances(&store, "sf-vastmanland", "2024-12-31");
    let change = |account: &str| accounts[account] - accounts_before.get(account).copied().unwrap_or_default();
    assert_eq!((change("2990"), change("1790")), (kr("-20000"), kr("5000")));
    // On 1 January both are reversed: the balance sheet holds nothing of them, and 2025's
    // income statement starts with the opposite, waiting for the invoice and the payment.
    let january = account_balances(&store, "sf-vastmanland", "2025-01-01");
    assert!(january.get("2990").is_none_or(|a| a.is_zero()) && january.get("1790").is_none_or(|a| a.is_zero()));
    let jan = key_figures(&store, "2025-01-01");
    assert_eq!(
        (figure(&jan, "costs") - figure(&jan_before, "costs"), figure(&jan, "income") - figure(&jan_before, "income")),
        (kr("-20000"), kr("-5000"))
    );
    // The trail shows both vouchers of each accrual; the Python verifier and SIE agree.
    let voucher = stdout(&finsam(&store, &["audit", "voucher", "--forbund", "sf-vastmanland", "2025 A 1"], ""));
    assert!(voucher.contains("Återföring av periodisering 2024, upplupen kostnad"), "{voucher}");
    let out = dir.0.join("bundle");
    bundle_checks_out(&store, "sf-vastmanland", 2024, &out);
    for year in ["2024", "2025"] {
        let se = dir.0.join(format!("{year}.se"));
        assert_exit(
            &finsam(
                &store,
                &["export", "sie", "--forbund", "sf-vastmanland", "--year", year, se.to_str().unwrap()],
                "",
            ),
            0,
        );
        let o = std::process::Command::new("python3")
            .arg(root().join("tests/sie_identities.py"))
            .arg(&se)
            .output()
            .unwrap();
        assert!(o.status.success(), "{year}: {}", String::from_utf8_lossy(&o.stdout));
    }
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
}
