//! Supplier invoices (contract v2): a cost when the invoice arrives, a payable until it is
//! paid, partial payments, credit notes, corrections in the right order — and every figure the
//! same in finsam, in the Python verifier of the bundle, in SIE and in the journal.

use crate::support::*;
use finsam_domain::Amount;
use std::collections::BTreeMap;
use std::path::Path;

fn kr(s: &str) -> Amount {
    Amount::parse(s).unwrap()
}

/// The 2024 store of Samordningsförbundet Västmanland (fixtures through the plan), and one batch.
fn record(store: &Path, lines: &[&str]) -> std::process::Output {
    finsam(store, &["record", "--as", "kansli", "-"], &lines.join("\n"))
}

fn accounts(store: &Path, as_of: &str) -> BTreeMap<String, Amount> {
    account_balances(store, "sf-vastmanland", as_of)
}

const INVOICE: &str = r#"{"type":"InvoiceReceived","forbund":"sf-vastmanland","date":"2024-05-10","year":2024,"invoice":"f-100","supplier":"Konsult AB","line":"styrelse","amount":"100000","due":"2024-06-09","reference":"F-100","text":"arvoden maj"}"#;
const PART: &str = r#"{"type":"InvoicePaid","forbund":"sf-vastmanland","date":"2024-06-01","invoice":"f-100","amount":"40000","reference":"bank 2024-06-01"}"#;
const CREDIT: &str = r#"{"type":"InvoiceReceived","forbund":"sf-vastmanland","date":"2024-06-05","year":2024,"invoice":"k-7","supplier":"Konsult AB","amount":"-10000","credits":"f-100","reference":"K-7","text":"för mycket fakturerat"}"#;
const REST: &str = r#"{"type":"InvoicePaid","forbund":"sf-vastmanland","date":"2024-06-20","invoice":"f-100","amount":"50000","reference":"bank 2024-06-20"}"#;

#[test]
fn an_invoice_is_a_cost_when_it_arrives_and_a_payable_until_it_is_paid() {
    let dir = TempDir::new("invoices");
    let store = store_with(&dir, &fixtures_through("30").iter().map(String::as_str).collect::<Vec<_>>());
    let bank = |as_of: &str| accounts(&store, as_of).get("1930").copied().unwrap_or_default();
    let bank_before = bank("2024-12-31");
    assert_exit(&record(&store, &[INVOICE]), 0);
    // May: the cost is booked (5010, the nature of the board's line: fees) and owed (2440); no
    // money moved.
    let may = accounts(&store, "2024-05-31");
    assert_eq!(may["2440"], kr("-100000"), "{may:?}");
    assert_eq!(may["5010"], kr("100000"));
    assert_eq!(bank("2024-12-31"), bank_before);
    // A partial payment, a credit note, the rest: nothing is owed and the bank paid 90 000.
    assert_exit(&record(&store, &[PART]), 0);
    assert_eq!(accounts(&store, "2024-06-02")["2440"], kr("-60000"));
    assert_exit(&record(&store, &[CREDIT]), 0);
    assert_eq!(accounts(&store, "2024-06-06")["2440"], kr("-50000"));
    // What is left cannot be overpaid.
    let over = record(
        &store,
        &[
            r#"{"type":"InvoicePaid","forbund":"sf-vastmanland","date":"2024-06-20","invoice":"f-100","amount":"50000.01","reference":"x"}"#,
        ],
    );
    assert_exit(&over, 2);
    assert!(
        stderr(&over).contains("[rule invoice_overpaid]") && stderr(&over).contains("50 000,00 kr outstanding"),
        "{}",
        stderr(&over)
    );
    assert_exit(&record(&store, &[REST]), 0);
    let year_end = accounts(&store, "2024-12-31");
    assert!(year_end.get("2440").is_none_or(|a| a.is_zero()), "{year_end:?}");
    assert_eq!(bank("2024-12-31"), bank_before - kr("90000"));
    // The budget counts the cost net of the credit note on its line.
    let o = finsam(
        &store,
        &["budget", "--forbund", "sf-vastmanland", "--year", "2024", "--as-of", "2024-12-31", "--format", "json"],
        "",
    );
    let b: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let styrelse = b["lines"].as_array().unwrap().iter().find(|l| l["id"] == "styrelse").unwrap();
    assert_eq!(kr(styrelse["spent"].as_str().unwrap()), kr("90000"));
    // The trail and explain name them in Swedish; the payable's explanation runs in date order.
    let explain = stdout(&finsam(
        &store,
        &["audit", "explain", "--forbund", "sf-vastmanland", "--account", "2440", "--as-of", "2024-12-31"],
        "",
    ));
    for want in ["Leverantörsfaktura", "Faktura betald", "Kreditnota Konsult AB k-7 på faktura f-100", "saldo 0,00 kr"]
    {
        assert!(explain.contains(want), "{want}:\n{explain}");
    }
    let verify = finsam(&store, &["audit", "verify"], "");
    assert_exit(&verify, 0);
}

#[test]
fn an_invoice_is_corrected_only_after_its_payments_and_credit_notes() {
    let dir = TempDir::new("invoice-corrections");
    let store = store_with(&dir, &fixtures_through("30").iter().map(String::as_str).collect::<Vec<_>>());
    assert_exit(&record(&store, &[INVOICE, PART, CREDIT]), 0);
    let head = log_json(&store).len() as u64;
    let (invoice, part, credit) = (head - 2, head - 1, head);
    let correct = |seq: u64, date: &str| {
        format!(
            r#"{{"type":"EventCorrected","forbund":"sf-vastmanland","date":"{date}","corrects":{seq},"reason":"fel"}}"#
        )
    };
    let refused = record(&store, &[&correct(invoice, "2024-07-01")]);
    assert_exit(&refused, 2);
    assert!(stderr(&refused).contains("[rule invoice_has_payments]"), "{}", stderr(&refused));
    assert_exit(&record(&store, &[&correct(part, "2024-07-01")]), 0);
    assert_eq!(accounts(&store, "2024-07-01")["2440"], kr("-90000"), "the payment taken back: owed again");
    assert_exit(&record(&store, &[&correct(credit, "2024-07-02")]), 0);
    assert_exit(&record(&store, &[&correct(invoice, "2024-07-03")]), 0);
    let after = accounts(&store, "2024-12-31");
    assert!(after.get("2440").is_none_or(|a| a.is_zero()), "{after:?}");
    // Nothing is left to pay.
    let pay = record(
        &store,
        &[
            r#"{"type":"InvoicePaid","forbund":"sf-vastmanland","date":"2024-08-01","invoice":"f-100","amount":"1","reference":"x"}"#,
        ],
    );
    assert_exit(&pay, 2);
    assert!(stderr(&pay).contains("[rule invoice_unknown]"), "{}", stderr(&pay));
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
}

#[test]
fn invoices_reach_the_bundle_sie_and_the_journal_alike() {
    let dir = TempDir::new("invoice-exports");
    let mut batches: Vec<String> = fixture_files().iter().map(|n| fixture(n)).collect();
    batches.push([INVOICE, PART, CREDIT].join("\n"));
    let store = store_with(&dir, &batches.iter().map(String::as_str).collect::<Vec<_>>());
    // The Python verifier recomputes the figures with its own posting rules.
    let out = dir.0.join("bundle");
    bundle_checks_out(&store, "sf-vastmanland", 2024, &out);
    let balances = std::fs::read_to_string(out.join("reports/saldon-2024-12-31.json")).unwrap();
    assert!(balances.contains("\"account\": \"2440\""), "the payable is in the bundle's balances");
    // SIE declares 2440 as a liability (S) and its #UB is the payable: this one's 50 000 and
    // what the fixtures owe at the year's end.
    let payable = account_balances(&store, "sf-vastmanland", "2024-12-31")["2440"];
    assert!(payable < kr("-50000"), "{payable}");
    let se = dir.0.join("v.se");
    assert_exit(
        &finsam(&store, &["export", "sie", "--forbund", "sf-vastmanland", "--year", "2024", se.to_str().unwrap()], ""),
        0,
    );
    let text: String = std::fs::read(&se).unwrap().iter().map(|b| *b as char).collect();
    assert!(text.contains("#KTYP 2440 S"), "{text}");
    assert!(text.contains(&format!("#UB 0 2440 {:.2}", payable.decimal())), "{text}");
}

#[test]
fn a_cost_books_on_the_account_of_its_nature_when_it_has_one() {
    let dir = TempDir::new("nature");
    let store = store_with(&dir, &fixtures_through("30").iter().map(String::as_str).collect::<Vec<_>>());
    // The förbund's own staff on the line "Processtöd … (egen personal)", said on the event; a
    // purchased service on an invoice; grants given (and v1 costs) stay on the category's account.
    let staff = r#"{"type":"CostRecorded","forbund":"sf-vastmanland","date":"2024-01-25","year":2024,"insats":"processtod-samverkansinsatser","amount":"100000","reference":"Lön januari","text":"Processtöd, egen personal","nature":"personal"}"#;
    let service = r#"{"type":"InvoiceReceived","forbund":"sf-vastmanland","date":"2024-02-10","year":2024,"invoice":"f-200","supplier":"Utvärdering AB","line":"utvarderingsinsatser","amount":"30000","reference":"F-200","text":"utvärdering","nature":"kopta_tjanster"}"#;
    let grant = r#"{"type":"CostRecorded","forbund":"sf-vastmanland","date":"2024-03-31","year":2024,"line":"samordningsteam-sala","amount":"425000","reference":"F-sala","text":"Samordningsteam Sala Q1"}"#;
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &[staff, service, grant].join("\n"));
    assert_exit(&o, 0);
    let a = accounts(&store, "2024-03-31");
    assert_eq!((a["5010"], a["6550"], a["4510"]), (kr("100000"), kr("30000"), kr("425000")), "{a:?}");
    // The budget position still counts them on their lines and insatser.
    let o = finsam(
        &store,
        &["budget", "--forbund", "sf-vastmanland", "--year", "2024", "--as-of", "2024-12-31", "--format", "json"],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let spent = |id: &str| v["lines"].as_array().unwrap().iter().find(|l| l["id"] == id).unwrap()["spent"].clone();
    assert_eq!((spent("utvarderingsinsatser"), spent("samordningsteam-sala")), ("30000".into(), "425000".into()));
    bundle_checks_out(&store, "sf-vastmanland", 2024, &dir.0.join("bundle"));
}

#[test]
fn a_credit_note_after_full_payment_is_owed_back_until_the_supplier_refunds_it() {
    let dir = TempDir::new("refund");
    let store = store_with(&dir, &fixtures_through("30").iter().map(String::as_str).collect::<Vec<_>>());
    let paid = r#"{"type":"InvoicePaid","forbund":"sf-vastmanland","date":"2024-06-01","invoice":"f-100","amount":"100000","reference":"bank 2024-06-01"}"#;
    assert_exit(&record(&store, &[INVOICE, paid]), 0);
    let bank_paid = accounts(&store, "2024-06-02")["1930"];
    // Credited 10 000 after it was paid in full: the supplier owes it back (2440 on the debit side).
    assert_exit(&record(&store, &[CREDIT]), 0);
    let june = accounts(&store, "2024-06-06");
    assert_eq!(june["2440"], kr("10000"), "{june:?}");
    // A credit note takes off no more than the invoice charged, less its credit notes.
    let too_much = r#"{"type":"InvoiceReceived","forbund":"sf-vastmanland","date":"2024-06-07","year":2024,"invoice":"k-8","supplier":"Konsult AB","amount":"-90000.01","credits":"f-100","reference":"K-8","text":"x"}"#;
    let o = record(&store, &[too_much]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("[rule credit_note_exceeds_invoice]") && stderr(&o).contains("90 000,00 kr"),
        "{}",
        stderr(&o)
    );
    // The refund is a negative payment, at most what is owed back.
    let refund = |amount: &str| {
        format!(
            r#"{{"type":"InvoicePaid","forbund":"sf-vastmanland","date":"2024-06-20","invoice":"f-100","amount":"{amount}","reference":"återbetalning"}}"#
        )
    };
    let o = record(&store, &[&refund("-10000.01")]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("[rule invoice_overpaid]") && stderr(&o).contains("owes 10 000,00 kr back"),
        "{}",
        stderr(&o)
    );
    assert_exit(&record(&store, &[&refund("-10000")]), 0);
    let after = accounts(&store, "2024-06-30");
    assert!(after.get("2440").is_none_or(|a| a.is_zero()), "{after:?}");
    assert_eq!(after["1930"] - bank_paid, kr("10000"), "the refund came into the bank");
    let voucher =
        stdout(&finsam(&store, &["audit", "trail", "--forbund", "sf-vastmanland", "--from", "2024-06-20"], ""));
    assert!(voucher.contains("f-100"), "{voucher}");
    bundle_checks_out(&store, "sf-vastmanland", 2024, &dir.0.join("bundle"));
}
