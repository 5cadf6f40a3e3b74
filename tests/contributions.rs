//! Contributions decided and paid (contract v2): what a member owes for a year is a receivable
//! from the decision until payments settle it, and who pays need not be the member.

use crate::support::*;
use finsam_domain::Amount;

fn kr(s: &str) -> Amount {
    Amount::parse(s).unwrap()
}

const DECIDED: &str = r#"{"type":"ContributionDecided","forbund":"sf-vastmanland","date":"2024-01-15","member":"sala","year":2024,"amount":"100000","reference":"Medelstilldelning 2024","decision":{"body":"förbundsmedlemmarna","date":"2023-11-16"}}"#;

fn paid(amount: &str, date: &str) -> String {
    format!(
        r#"{{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"{date}","member":"sala","year":2024,"amount":"{amount}","reference":"Inbetalning {date}"}}"#
    )
}

/// The fixtures' store with Sala's contribution for 2024 decided (`DECIDED`).
fn decided(name: &str) -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new(name);
    let store = store_with(&dir, &fixtures_through("30").iter().map(String::as_str).collect::<Vec<_>>());
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], DECIDED), 0);
    (dir, store)
}

#[test]
fn a_decided_contribution_is_owed_until_paid_and_what_is_paid_beyond_it_is_income() {
    let (dir, store) = decided("contributions");
    let record = |text: &str| finsam(&store, &["record", "--as", "kansli", "-"], text);
    let january = account_balances(&store, "sf-vastmanland", "2024-01-31");
    assert_eq!(
        (january["1510"], january["3530"]),
        (kr("100000"), kr("-100000")),
        "income when decided, owed until paid"
    );
    assert_exit(&record(&paid("60000", "2024-03-31")), 0);
    let march = account_balances(&store, "sf-vastmanland", "2024-03-31");
    assert_eq!((march["1510"], march["1930"], march["3530"]), (kr("40000"), kr("60000"), kr("-100000")));
    assert_exit(&record(&paid("50000", "2024-06-30")), 0);
    let june = account_balances(&store, "sf-vastmanland", "2024-06-30");
    assert!(june["1510"].is_zero(), "settled: {june:?}");
    assert_eq!(june["3530"], kr("-110000"), "the 10 000 paid beyond the decision is income when paid");
    // The decision cannot be taken back while payments settle it: those first.
    let log = log_json(&store);
    let seq_of = |n: usize| log[log.len() - n]["seq"].as_u64().unwrap();
    let (decision, first, second) = (seq_of(3), seq_of(2), seq_of(1));
    let correct = |seq: u64| {
        format!(
            r#"{{"type":"EventCorrected","forbund":"sf-vastmanland","date":"2024-07-01","corrects":{seq},"reason":"fel belopp"}}"#
        )
    };
    let o = record(&correct(decision));
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("[rule contribution_has_payments]"), "{}", stderr(&o));
    assert_exit(&record(&[correct(second), correct(first), correct(decision)].join("\n")), 0);
    let after = account_balances(&store, "sf-vastmanland", "2024-12-31");
    assert!(
        after.get("1510").is_none_or(|a| a.is_zero()) && after.get("3530").is_none_or(|a| a.is_zero()),
        "{after:?}"
    );
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
    bundle_checks_out(&store, "sf-vastmanland", 2024, &dir.0.join("bundle"));
}

/// A corrected payment no longer settles the decision: what it settled is owed again, so the
/// payment that replaces it settles that, and none of it is income.
#[test]
fn a_corrected_payment_leaves_the_decision_owed_again() {
    let (_dir, store) = decided("contributions-corrected-payment");
    let record = |text: &str| finsam(&store, &["record", "--as", "kansli", "-"], text);
    assert_exit(&record(&paid("60000", "2024-03-31")), 0);
    let log = log_json(&store);
    let payment = log[log.len() - 1]["seq"].as_u64().unwrap();
    let correction = format!(
        r#"{{"type":"EventCorrected","forbund":"sf-vastmanland","date":"2024-04-02","corrects":{payment},"reason":"fel inbetalare"}}"#
    );
    assert_exit(&record(&correction), 0);
    // Whole books (the checkpoint) and one förbund's books (read apart) alike.
    assert_exit(&finsam(&store, &["reindex"], ""), 0);
    assert_exit(&record(&paid("100000", "2024-04-30")), 0);
    let april = account_balances(&store, "sf-vastmanland", "2024-04-30");
    assert!(april["1510"].is_zero(), "the whole decision settled: {april:?}");
    assert_eq!(april["3530"], kr("-100000"), "nothing paid beyond the decision: {april:?}");
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
}

#[test]
fn forsakringskassan_can_pay_for_arbetsformedlingen() {
    let dir = TempDir::new("payer");
    let store = store_with(&dir, &fixtures_through("30").iter().map(String::as_str).collect::<Vec<_>>());
    let for_af = r#"{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-01-31","member":"arbetsformedlingen","payer":"forsakringskassan","year":2024,"amount":"1189875","reference":"Statens andel Q1, AF:s del"}"#;
    let o = finsam(&store, &["record", "--as", "kansli", "-"], for_af);
    assert_exit(&o, 0);
    let trail = stdout(&finsam(&store, &["audit", "trail", "--forbund", "sf-vastmanland", "--from", "2024-01-31"], ""));
    assert!(trail.contains("betalt av forsakringskassan"), "{trail}");
    let unknown = for_af.replace("\"payer\":\"forsakringskassan\"", "\"payer\":\"skatteverket\"");
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &unknown);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("field `payer`") && stderr(&o).contains("[rule member_unknown]"), "{}", stderr(&o));
}

/// The invoicing plan (faktureringsplan) of a decided contribution: inside the year the member
/// report tells what has fallen due and is unpaid from what is not yet due; the books do not
/// change with it. The fixtures invoice 2024 quarterly in advance (due 31 January, 30 April,
/// 31 July, 31 October); Kungsör paid its fourth quarter on 20 January 2025.
#[test]
fn the_invoicing_plan_tells_what_is_due_from_what_is_not_yet_due() {
    let dir = TempDir::new("installments");
    let store = fixture_store(&dir);
    // The member report of 2024 as of a day (the year's end without one), in a format.
    let report = |as_of: Option<&str>, format: &str| -> String {
        let mut args = vec!["report", "members", "--forbund", "sf-vastmanland", "--year", "2024", "--format", format];
        if let Some(day) = as_of {
            args.extend(["--as-of", day]);
        }
        let o = finsam(&store, &args, "");
        assert_exit(&o, 0);
        stdout(&o)
    };
    let members = |as_of: &str| -> serde_json::Value { serde_json::from_str(&report(Some(as_of), "json")).unwrap() };
    let totals = |v: &serde_json::Value| (v["totals"]["overdue"].clone(), v["totals"]["not_yet_due"].clone());
    // 31 August: three quarters due and paid, the fourth (4 759 500) not yet due.
    assert_eq!(totals(&members("2024-08-31")), (serde_json::json!("0"), serde_json::json!("4759500")));
    // 15 November: everything due; Kungsör's fourth quarter is overdue.
    let november = members("2024-11-15");
    assert_eq!(totals(&november), (serde_json::json!("37124.10"), serde_json::json!("0")));
    let kungsor = november["members"].as_array().unwrap().iter().find(|m| m["member"] == "kungsor").unwrap();
    assert_eq!(kungsor["overdue"], "37124.10");
    let text = report(Some("2024-08-31"), "table");
    assert!(text.contains("Förfallet och ej förfallet per 2024-08-31"), "{text}");
    let year_end = report(None, "table");
    assert!(!year_end.contains("Förfallet och ej förfallet"), "at the year's end everything has fallen due");
    let html = report(Some("2024-08-31"), "html");
    assert!(html.contains("förfallet, obetalt"), "the page shows it too");

    // A plan that does not add up, or falls due before the decision, is refused; nothing is written.
    let before = log_bytes(&store);
    let plan = |parts: &str| {
        DECIDED
            .replace("\"decision\"", &format!("\"installments\":[{parts}],\"decision\""))
            .replace("2024-01-15", "2025-01-15")
            .replace("2024", "2025")
    };
    let o = finsam(
        &store,
        &["record", "--as", "kansli", "-"],
        &plan(r#"{"due":"2025-03-31","amount":"60000"},{"due":"2025-09-30","amount":"30000"}"#),
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("installments_must_sum_to_amount"), "{}", stderr(&o));
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &plan(r#"{"due":"2025-01-01","amount":"100000"}"#));
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("installments[0].due") && stderr(&o).contains("date_invalid"), "{}", stderr(&o));
    assert_eq!(log_bytes(&store), before);
    let o = finsam(
        &store,
        &["record", "--as", "kansli", "-"],
        &plan(r#"{"due":"2025-03-31","amount":"50000"},{"due":"2025-09-30","amount":"50000"}"#),
    );
    assert_exit(&o, 0);
}
