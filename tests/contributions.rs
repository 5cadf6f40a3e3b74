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

#[test]
fn a_decided_contribution_is_owed_until_paid_and_what_is_paid_beyond_it_is_income() {
    let dir = TempDir::new("contributions");
    let store = store_with(&dir, &fixtures_through("30").iter().map(String::as_str).collect::<Vec<_>>());
    let record = |text: &str| finsam(&store, &["record", "--as", "kansli", "-"], text);
    assert_exit(&record(DECIDED), 0);
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
