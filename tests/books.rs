//! The fixtures' books on an accrual basis (contract v2): Samordningsförbundet Västmanland's 2024
//! balance sheet with what members owe, what is owed to suppliers, accrued costs and its own
//! staff; and the merger as a takeover of the old förbund's books, a payable included.

use crate::support::*;
use finsam_domain::Amount;
use std::collections::BTreeMap;
use std::path::Path;

fn kr(s: &str) -> Amount {
    Amount::parse(s).unwrap()
}

fn key_figures(store: &Path, forbund: &str, as_of: &str) -> serde_json::Value {
    let o = finsam(store, &["balances", "--forbund", forbund, "--as-of", as_of, "--format", "json"], "");
    assert_exit(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn figure(v: &serde_json::Value, key: &str) -> Amount {
    kr(v[key].as_str().unwrap())
}

/// Assets less liabilities: every account of class 1, and of class 2 but equity (20xx).
fn net_assets(accounts: &BTreeMap<String, Amount>) -> Amount {
    accounts
        .iter()
        .filter(|(n, _)| n.starts_with('1') || (n.starts_with('2') && !n.starts_with("20")))
        .map(|(_, a)| *a)
        .sum()
}

#[test]
fn vastmanlands_2024_balance_sheet_holds_receivables_payables_accruals_and_staff_and_balances() {
    let dir = TempDir::new("books-2024");
    let store = fixture_store(&dir);
    let f = "sf-vastmanland";
    let a = account_balances(&store, f, "2024-12-31");
    // Kungsör's fourth quarter, paid in January 2025; the course invoice of December, paid a
    // month later; the board's December fees, accrued; the kansli and the plan's own staff.
    assert_eq!(a["1510"], kr("37124.10"), "{a:?}");
    assert_eq!(a["2440"], kr("-119553"), "{a:?}");
    assert_eq!(a["2990"], kr("-50500"), "{a:?}");
    assert!(a["5010"] > kr("3000000"), "{a:?}");
    // equity = opening equity + equity received in the merger + the year's result, and it is
    // what the assets are worth less the liabilities.
    let end = key_figures(&store, f, "2024-12-31");
    let opening = figure(&key_figures(&store, f, "2023-12-31"), "equity");
    let received = -a["2015"];
    assert_eq!(received, kr("3863000"));
    assert_eq!(figure(&end, "equity"), opening + received + figure(&end, "result"));
    assert_eq!(figure(&end, "equity"), kr("2224101"));
    assert_eq!(net_assets(&a), figure(&end, "equity"));
    // The bank is not the equity any more: it holds what is owed and lacks what is still due.
    assert_eq!(figure(&end, "bank"), figure(&end, "equity") - a["1510"] - a["2440"] - a["2990"]);
    // In January 2025 the late contribution and the course invoice are paid, the accrual reversed.
    let jan = account_balances(&store, f, "2025-01-31");
    for account in ["1510", "2440", "2990"] {
        assert!(jan.get(account).is_none_or(|b| b.is_zero()), "{account}: {jan:?}");
    }
}

#[test]
fn the_merger_hands_norra_vastmanlands_unpaid_invoice_to_the_new_forbund_and_leaves_its_books_at_zero() {
    let dir = TempDir::new("books-takeover");
    let store = fixture_store(&dir);
    let old = "sf-norra-vastmanland";
    // Norra Västmanland's closing balance sheet: 426 000 in the bank, 30 000 owed for its
    // evaluation; equity 396 000, the merger plan's estimate.
    let closing = account_balances(&store, old, "2023-12-31");
    assert_eq!((closing["1930"], closing["2440"]), (kr("426000"), kr("-30000")));
    assert_eq!(net_assets(&closing), kr("396000"));
    // From the day the merger takes effect every account of the old books is zero.
    let after = account_balances(&store, old, "2024-01-01");
    assert!(after.values().all(|b| b.is_zero()), "{after:?}");
    // The new förbund owes the invoice from that day, and paid it on 12 January.
    let jan1 = account_balances(&store, "sf-vastmanland", "2024-01-01");
    assert_eq!(jan1["2440"], kr("-30000"), "{jan1:?}");
    assert_eq!(net_assets(&jan1), kr("3863000"), "the three förbund's equity, taken over");
    let jan12 = account_balances(&store, "sf-vastmanland", "2024-01-12");
    assert!(jan12["2440"].is_zero(), "{jan12:?}");
    // The voucher of the takeover in the old books names what moved, account by account.
    let v = finsam(&store, &["audit", "voucher", "--forbund", old, "2024 A 1", "--format", "json"], "");
    assert_exit(&v, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&v)).unwrap();
    assert_eq!(v["type"], "BalancesTakenOver");
    let rows: BTreeMap<String, Amount> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["account"].as_str().unwrap().to_string(), kr(r["amount"].as_str().unwrap())))
        .collect();
    assert_eq!(rows["1930"], kr("-426000"));
    assert_eq!(rows["2440"], kr("30000"));
    // The reconciliation's merger table: what arrived is what the old books held.
    let o = finsam(&store, &["reconcile", "--merger", "sf-vastmanland", "--format", "json"], "");
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let row = r["mergers"][0]["rows"].as_array().unwrap().iter().find(|row| row["from"] == old).unwrap().clone();
    assert_eq!((row["booked"].as_str(), row["arrived"].as_str()), (Some("396000"), Some("396000")));
}
