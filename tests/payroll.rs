//! Payroll (contract v2): the kansli's staff paid by a monthly payroll summary, not per person —
//! net pay from the bank, the tax withheld and the employer's contributions owed to Skatteverket
//! until paid, the pension's individuell del and its särskild löneskatt owed to the year's end,
//! and the change in semesterlöneskuld booked at the year end.

use crate::support::*;
use finsam_domain::Amount;
use serde_json::{json, Value};
use std::path::Path;

fn kr(s: &str) -> Amount {
    Amount::parse(s).unwrap()
}

/// The kansli of Samordningsförbundet Västmanland (seed 002: a förbundschef and two
/// utvecklingsledare), one month: 145 000 kr in salaries, 30 % withheld, arbetsgivaravgifter
/// 31.42 %, pension 4.5 % with särskild löneskatt 24.26 % on it.
fn month(m: u32) -> Value {
    json!({"type": "PayrollRecorded", "forbund": "sf-vastmanland", "date": format!("2025-{m:02}-25"), "year": 2025,
        "month": m, "line": "gemensam-administration", "staff": 3, "salaries": "145000", "tax_withheld": "43500",
        "employer_contributions": "45559", "pension": "6525", "special_payroll_tax": "1582.97",
        "reference": format!("Lönelista 2025-{m:02}"), "text": "förbundschef och två utvecklingsledare"})
}

/// Last month's tax withheld and contributions, paid to Skatteverket on the 12th.
fn taxes_paid(m: u32) -> Value {
    json!({"type": "PayrollLiabilitiesPaid", "forbund": "sf-vastmanland", "date": format!("2025-{m:02}-12"),
        "tax_withheld": "43500", "employer_contributions": "45559", "reference": format!("Skattekonto 2025-{m:02}")})
}

/// At the year end: semesterlöneskuld up by 38 000 kr, with the contributions on it.
const YEAR_END: &str = r#"{"type":"PayrollRecorded","forbund":"sf-vastmanland","date":"2025-12-31","year":2025,"month":12,"line":"gemensam-administration","vacation_pay_change":"38000","vacation_pay_contributions":"11939.60","reference":"Semesterlöneskuld 2025-12-31","text":"sparade semesterdagar vid årets slut"}"#;

fn lines(values: &[Value]) -> String {
    values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
}

fn annual(store: &Path, year: &str) -> Value {
    let o = finsam(store, &["report", "annual", "--forbund", "sf-vastmanland", "--year", year, "--format", "json"], "");
    assert_exit(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn row(report: &Value, statement: &str, key: &str) -> Amount {
    let rows = report["statements"][statement].as_array().unwrap();
    let r = rows.iter().find(|r| r["key"] == key).unwrap_or_else(|| panic!("{statement} has no row {key}"));
    kr(r["current"]["amount"].as_str().unwrap())
}

#[test]
fn a_year_of_payroll_leaves_the_taxes_pension_and_vacation_pay_owed_at_the_year_end() {
    let dir = TempDir::new("payroll");
    let store = fixture_store(&dir);
    let before = annual(&store, "2025");
    let accounts_before = account_balances(&store, "sf-vastmanland", "2025-12-31");
    let mut events: Vec<Value> = Vec::new();
    for m in 1..=12 {
        if m > 1 {
            events.push(taxes_paid(m));
        }
        events.push(month(m));
    }
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &lines(&events)), 0);
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], YEAR_END), 0);

    // The balance sheet at 2025-12-31 holds what payroll leaves owed, account by account.
    let accounts = account_balances(&store, "sf-vastmanland", "2025-12-31");
    let change = |account: &str| accounts[account] - accounts_before.get(account).copied().unwrap_or_default();
    assert_eq!(change("2710"), kr("-43500"), "December's källskatt, paid in January");
    assert_eq!(change("2940"), kr("-57498.60"), "December's arbetsgivaravgifter and those on semesterlöneskuld");
    assert_eq!(change("2950"), kr("-78300"), "the year's pension, individuell del");
    assert_eq!(change("2951"), kr("-18995.64"), "särskild löneskatt on it");
    assert_eq!(change("2920"), kr("-38000"), "semesterlöneskuld");
    assert_eq!(change("5110"), kr("1740000"));
    assert_eq!(change("5410"), kr("558647.60"));
    assert_eq!(change("5290"), kr("38000"));
    // Net pay (12 × 101 500) and eleven months of taxes (11 × 89 059) left the bank.
    assert_eq!(change("1930"), kr("-2197649"));

    // The annual report: personalkostnader by kind, the liabilities on their own line, the cash
    // flow's change in liabilities — and every tie-out holds (the report checks itself).
    let after = annual(&store, "2025");
    let delta = |statement: &str, key: &str| row(&after, statement, key) - row(&before, statement, key);
    assert_eq!(delta("resultatrakning", "personalkostnader"), kr("-2433943.24"));
    assert_eq!(delta("balansrakning", "personalskulder"), kr("236294.24"));
    assert_eq!(delta("kassaflodesanalys", "forandring_skulder"), kr("236294.24"));
    assert_eq!(delta("kassaflodesanalys", "arets_kassaflode"), kr("-2197649"));
    let note = &after["noter"]["personal"];
    let accounts_in = |list: &Value| -> Vec<String> {
        list.as_array().unwrap().iter().map(|r| r["account"].as_str().unwrap().to_string()).collect()
    };
    // (2025's only other personnel cost, the board's December fees, is a cost of 2024: accrued
    // and reversed, it comes to nothing on 5010.)
    assert_eq!(accounts_in(&note["costs"]), ["5110", "5290", "5410", "5510", "5520"], "{note}");
    assert_eq!(accounts_in(&note["owed"]), ["2710", "2920", "2940", "2950", "2951"], "{note}");
    let text = stdout(&finsam(&store, &["report", "annual", "--forbund", "sf-vastmanland", "--year", "2025"], ""));
    assert!(text.contains("Skulder avseende personal vid årets slut"), "{text}");
    assert!(text.contains("Semesterlöneskuld") && text.contains("38 000,00"), "{text}");
    // The förvaltningsberättelse counts the staff from the summaries (the year end's has none).
    assert!(
        text.contains("Förbundet betalade lön till i genomsnitt 3 personer per månad under 12 månader med lönesammandrag, som mest 3"),
        "{text}"
    );

    // The trail reads as a payroll summary; the verifier, SIE and the chain agree.
    let voucher = |n: usize| {
        let label = format!("2025 A {n}");
        stdout(&finsam(&store, &["audit", "voucher", "--forbund", "sf-vastmanland", &label], ""))
    };
    let january = (1..10).map(voucher).find(|v| v.contains("Lönesammandrag 2025-01")).expect("January's payroll");
    for account in ["5110", "5410", "5510", "5520", "2710", "2940", "2950", "2951", "1930"] {
        assert!(january.contains(account), "{account}: {january}");
    }
    bundle_checks_out(&store, "sf-vastmanland", 2025, &dir.0.join("bundle"));
    let se = dir.0.join("2025.se");
    let args = ["export", "sie", "--forbund", "sf-vastmanland", "--year", "2025", se.to_str().unwrap()];
    assert_exit(&finsam(&store, &args, ""), 0);
    let o =
        std::process::Command::new("python3").arg(root().join("tests/sie_identities.py")).arg(&se).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
}

#[test]
fn payroll_counts_against_its_budget_line() {
    let dir = TempDir::new("payroll-budget");
    let store = fixture_store(&dir);
    let spent = |store: &Path| -> Amount {
        let o = finsam(store, &["budget", "--forbund", "sf-vastmanland", "--year", "2024", "--format", "json"], "");
        assert_exit(&o, 0);
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
        let line = v["lines"].as_array().unwrap().iter().find(|l| l["id"] == "processtod-samverkansinsatser").cloned();
        kr(line.expect("the line is in the budget")["spent"].as_str().unwrap())
    };
    let before = spent(&store);
    let payroll = r#"{"type":"PayrollRecorded","forbund":"sf-vastmanland","date":"2024-11-25","year":2024,"month":11,"line":"processtod-samverkansinsatser","salaries":"10000","tax_withheld":"3000","employer_contributions":"3142","reference":"Lönelista 2024-11","text":"processtöd, extra timmar"}"#;
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], payroll), 0);
    assert_eq!(spent(&store) - before, kr("13142"), "salaries and contributions are spent on the line");
}

/// Half a year of payroll on the administration line: the follow-up forecasts the line by the
/// payroll's run rate (the latest month's costs for each month left), since that is more than
/// its budget would give, and says so.
#[test]
fn the_follow_up_forecasts_a_line_with_payroll_by_its_run_rate() {
    let dir = TempDir::new("payroll-forecast");
    let store = fixture_store(&dir);
    let summary = |m: u32| {
        json!({"type": "PayrollRecorded", "forbund": "sf-vastmanland", "date": format!("2024-{m:02}-25"), "year": 2024,
            "month": m, "line": "gemensam-administration", "staff": 4, "salaries": "200000", "tax_withheld": "60000",
            "employer_contributions": "62840", "reference": format!("Lönelista 2024-{m:02}"), "text": "kansliet"})
    };
    let events: Vec<Value> = (1..=6).map(summary).collect();
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &lines(&events)), 0);
    let o = finsam(
        &store,
        &[
            "--format",
            "json",
            "report",
            "period",
            "--forbund",
            "sf-vastmanland",
            "--year",
            "2024",
            "--through",
            "2024-06",
        ],
        "",
    );
    assert_exit(&o, 0);
    let p: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let line = p["lines"].as_array().unwrap().iter().find(|l| l["line"] == "gemensam-administration").unwrap();
    // Utfall 1 122 000 (invoices) + 6 × 262 840; six months left at 262 840.
    assert_eq!(kr(line["utfall_to_date"].as_str().unwrap()), kr("2699040"), "{line}");
    assert_eq!(line["forecast_kind"], "payroll", "{line}");
    assert_eq!(kr(line["forecast"].as_str().unwrap()), kr("4276080"), "{line}");
    // The board's line has no payroll: the budget.
    let styrelse = p["lines"].as_array().unwrap().iter().find(|l| l["line"] == "styrelse").unwrap();
    assert_eq!(styrelse["forecast_kind"], "budget");
}

#[test]
fn a_payroll_summary_that_cannot_be_is_refused_with_its_field_and_rule() {
    let dir = TempDir::new("payroll-refused");
    let store = fixture_store(&dir);
    let head = log_bytes(&store);
    let cases = [
        (json!({"tax_withheld": "200000"}), "tax_withheld", "payroll_tax_exceeds_pay"),
        (json!({"month": 13}), "month", "value_not_allowed"),
        (json!({"salaries": "-5"}), "salaries", "amount_must_not_be_negative"),
        (json!({"line": null}), "line", "cost_needs_line_or_insats"),
        (json!({"year": 2024}), "year", "year_must_match_date"),
    ];
    for (change, field, rule) in cases {
        let mut event = month(3);
        for (k, v) in change.as_object().unwrap() {
            event[k] = v.clone();
        }
        let o = finsam(&store, &["record", "--as", "kansli", "-"], &event.to_string());
        assert_exit(&o, 2);
        let message = stderr(&o);
        assert!(message.contains(&format!("field `{field}`")) && message.contains(rule), "{field}: {message}");
    }
    let nothing = r#"{"type":"PayrollLiabilitiesPaid","forbund":"sf-vastmanland","date":"2025-02-12","tax_withheld":"0","reference":"tom"}"#;
    let o = finsam(&store, &["record", "--as", "kansli", "-"], nothing);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("amount_must_not_be_zero"), "{}", stderr(&o));
    let salaries = r#"{"type":"PayrollLiabilitiesPaid","forbund":"sf-vastmanland","date":"2025-02-12","salaries":"100","reference":"fel"}"#;
    let o = finsam(&store, &["record", "--as", "kansli", "-"], salaries);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("unknown_field"), "{}", stderr(&o));
    assert_eq!(log_bytes(&store), head, "nothing was written");
}

#[test]
fn taxes_paid_twice_are_a_finding_of_the_reconciliation() {
    let dir = TempDir::new("payroll-overpaid");
    let store = fixture_store(&dir);
    let findings = |store: &Path| -> Vec<Value> {
        let o = finsam(
            store,
            &["reconcile", "--merger", "sf-vastmanland", "--as-of", "2025-12-31", "--format", "json"],
            "",
        );
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["findings"].as_array().unwrap().iter().filter(|f| f["check"] == "payroll_overpaid").cloned().collect()
    };
    let once = lines(&[month(1), taxes_paid(2)]);
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &once), 0);
    assert!(findings(&store).is_empty(), "January's taxes paid once: nothing to find");
    let twice = taxes_paid(2).to_string().replace("Skattekonto 2025-02", "Skattekonto 2025-02 igen");
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &twice), 0);
    let found = findings(&store);
    assert_eq!(found.len(), 2, "källskatt and arbetsgivaravgifter, each in debit: {found:?}");
    assert_eq!(found[0]["severity"], "warning");
    assert!(found.iter().any(|f| f["subject"].as_str().unwrap().contains("2710")), "{found:?}");
    assert!(found.iter().any(|f| f["computed"] == "-43500"), "the liability, credit-positive, below zero: {found:?}");
}
