//! Given these events, when they are projected, then these vouchers, balances and positions.

use crate::chart::{Chart, Role};
use crate::projection::{Projection, Recorded, VoucherKind};
use crate::reports::At;
use chrono::NaiveDate;
use finsam_domain::{Amount, Event, Ledger, Slug};
use serde_json::{json, Value};

pub(crate) fn decision() -> Value {
    json!({"body": "styrelsen", "date": "2023-11-16", "paragraph": "§ 4"})
}

pub(crate) fn registered(id: &str) -> Value {
    json!({"type": "ForbundRegistered", "forbund": id, "date": "2023-11-16", "name": format!("SF {id}"),
        "members": [
            {"id": "fk", "name": "Försäkringskassan", "kind": "staten", "share": "0.25"},
            {"id": "af", "name": "Arbetsförmedlingen", "kind": "staten", "share": "0.25"},
            {"id": "region", "name": "Region Västmanland", "kind": "region", "share": "0.25"},
            {"id": "sala", "name": "Sala kommun", "kind": "kommun", "share": "0.25"}]})
}

fn budget_2024(f: &str) -> Value {
    json!({"type": "BudgetAdopted", "forbund": f, "date": "2023-11-16", "year": 2024, "decision": decision(),
        "income": [{"id": "bidrag", "name": "Medlemsbidrag", "amount": "1000000"}, {"id": "ovrigt", "name": "Övrigt", "amount": "10000"}],
        "costs": [{"id": "team", "name": "Samordningsteam", "category": "individ", "insats": "team", "amount": "700000"},
                  {"id": "utbildning", "name": "Utbildning", "category": "struktur", "amount": "100000"},
                  {"id": "kansli", "name": "Kansli", "category": "admin", "amount": "200000"}]})
}

fn insats(f: &str, id: &str) -> Value {
    json!({"type": "InsatsCreated", "forbund": f, "date": "2023-11-16", "insats": id, "name": "Samordningsteam",
        "category": "individ", "decision": decision()})
}

fn contribution(f: &str, member: &str, date: &str, amount: &str) -> Value {
    json!({"type": "ContributionReceived", "forbund": f, "date": date, "member": member, "year": 2024, "amount": amount, "reference": "bidrag"})
}

fn cost(f: &str, line: &str, date: &str, amount: &str) -> Value {
    json!({"type": "CostRecorded", "forbund": f, "date": date, "year": 2024, "line": line, "amount": amount, "reference": "F", "text": "faktura"})
}

/// Records the events through the ledger (so they are valid) and projects them.
pub(crate) fn project(events: &[Value]) -> Projection {
    let mut ledger = Ledger::new();
    let mut p = Projection::new();
    for (i, v) in events.iter().enumerate() {
        let e = Event::from_json(v).unwrap_or_else(|r| panic!("event {} is well-formed: {r}", i + 1));
        let seq = ledger.record(&e).unwrap_or_else(|r| panic!("event {} is accepted: {r}", i + 1));
        p.apply(Recorded { seq, recorded_at: "2024-01-01T00:00:00.000000Z", recorded_by: "test", event: &e });
    }
    p
}

fn slug(s: &str) -> Slug {
    Slug::parse(s).unwrap()
}

fn kr(text: &str) -> Amount {
    Amount::parse(text).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn at_end_of_2024(p: &Projection) -> At {
    At { as_of: date("2024-12-31"), known_at: p.head }
}

fn role_sum(p: &Projection, f: &str, role: Role) -> Amount {
    p.vouchers()
        .filter(|v| v.forbund.as_str() == f)
        .flat_map(|v| v.rows)
        .filter(|r| r.role == role)
        .map(|r| r.amount)
        .sum()
}

#[test]
fn a_contribution_debits_the_bank_and_credits_the_members_kind() {
    let p = project(&[registered("sf-a"), contribution("sf-a", "fk", "2024-01-31", "250000")]);
    assert_eq!(p.vouchers().len(), 1);
    let v = &p.vouchers().next().unwrap();
    assert_eq!((v.year, v.number, v.date, v.seq), (2024, 1, date("2024-01-31"), 2));
    assert_eq!(role_sum(&p, "sf-a", Role::Bank), kr("250000"));
    assert_eq!(role_sum(&p, "sf-a", Role::Contribution(finsam_domain::MemberKind::Staten)), kr("-250000"));
    assert_eq!(v.rows[1].member.as_ref().map(Slug::as_str), Some("fk"));
}

#[test]
fn a_cost_debits_its_category_with_the_insats_as_object() {
    let p = project(&[
        registered("sf-a"),
        insats("sf-a", "team"),
        budget_2024("sf-a"),
        cost("sf-a", "team", "2024-03-31", "175000"),
        cost("sf-a", "kansli", "2024-03-31", "50000.50"),
    ]);
    let team = &p.vouchers().next().unwrap();
    assert_eq!(team.rows[0].role, Role::Cost(finsam_domain::Category::Individ));
    assert_eq!(team.rows[0].insats.as_ref().map(Slug::as_str), Some("team"));
    assert_eq!(p.vouchers().nth(1).unwrap().rows[0].role, Role::Cost(finsam_domain::Category::Admin));
    assert_eq!(role_sum(&p, "sf-a", Role::Bank), kr("-225000.50"));
    assert_eq!(p.vouchers().map(|v| v.number).collect::<Vec<_>>(), vec![1, 2], "a gapless series per förbund and year");
}

#[test]
fn other_income_is_booked_on_its_line() {
    let p = project(&[
        registered("sf-a"),
        insats("sf-a", "team"),
        budget_2024("sf-a"),
        json!({"type": "OtherIncomeRecorded", "forbund": "sf-a", "date": "2024-05-02", "year": 2024, "line": "ovrigt", "amount": "10000", "reference": "konsult"}),
    ]);
    assert_eq!(role_sum(&p, "sf-a", Role::OtherIncome), kr("-10000"));
    assert_eq!(role_sum(&p, "sf-a", Role::Bank), kr("10000"));
}

#[test]
fn an_opening_balance_puts_any_difference_on_a_balancing_account() {
    let p = project(&[
        registered("sf-a"),
        json!({"type": "OpeningBalanceRecorded", "forbund": "sf-a", "date": "2024-01-01", "equity": "1000000", "bank": "900000"}),
    ]);
    assert_eq!(role_sum(&p, "sf-a", Role::Equity), kr("-1000000"));
    assert_eq!(role_sum(&p, "sf-a", Role::OpeningDifferenceAsset), kr("100000"));
    let b = p.balances(&slug("sf-a"), at_end_of_2024(&p), &Chart::default_chart()).unwrap();
    assert_eq!((b.bank, b.equity), (kr("900000"), kr("1000000")));
}

#[test]
fn an_equity_transfer_is_a_voucher_in_both_books() {
    let merger = json!({"type": "MergerDecided", "forbund": "sf-new", "date": "2023-11-16", "merging": ["sf-old"],
        "effective": "2024-01-01", "estimated_transfers": [{"from": "sf-old", "amount": "396000"}], "decision": decision()});
    let p = project(&[
        registered("sf-new"),
        registered("sf-old"),
        json!({"type": "OpeningBalanceRecorded", "forbund": "sf-old", "date": "2023-12-31", "equity": "396000", "bank": "396000"}),
        merger,
        json!({"type": "EquityTransferred", "forbund": "sf-new", "date": "2024-01-01", "from": "sf-old", "amount": "396000", "reference": "bokslut 2023"}),
    ]);
    let transfer: Vec<_> = p.vouchers_of(5).iter().map(|v| (v.forbund.to_string(), v.year, v.number)).collect();
    assert_eq!(transfer, vec![("sf-old".to_string(), 2024, 1), ("sf-new".to_string(), 2024, 1)]);
    let chart = Chart::default_chart();
    let old = p.balances(&slug("sf-old"), at_end_of_2024(&p), &chart).unwrap();
    assert!(
        old.accounts.iter().all(|a| a.balance.is_zero()),
        "every account of the old förbund is zero: {:?}",
        old.accounts
    );
    let new = p.balances(&slug("sf-new"), at_end_of_2024(&p), &chart).unwrap();
    assert_eq!((new.bank, new.equity), (kr("396000"), kr("396000")));
}

/// An old förbund with money in the bank, an unpaid supplier invoice, a member's contribution
/// still owed and a December cost accrued, merging into a new one on 1 January 2024.
fn merger_with_debts() -> Vec<Value> {
    let merger = json!({"type": "MergerDecided", "forbund": "sf-new", "date": "2023-11-16", "merging": ["sf-old"],
        "effective": "2024-01-01", "estimated_transfers": [{"from": "sf-old", "amount": "300000"}], "decision": decision()});
    let mut budget_2023 = budget_2024("sf-old");
    budget_2023["year"] = json!(2023);
    vec![
        registered("sf-new"),
        registered("sf-old"),
        json!({"type": "OpeningBalanceRecorded", "forbund": "sf-old", "date": "2023-11-16", "equity": "400000", "bank": "400000"}),
        insats("sf-old", "team"),
        budget_2023,
        json!({"type": "InvoiceReceived", "forbund": "sf-old", "date": "2023-12-05", "year": 2023, "invoice": "f-1",
            "supplier": "Konsult AB", "line": "utbildning", "amount": "60000", "due": "2024-01-04", "reference": "F-1", "text": "utbildningsdag"}),
        json!({"type": "ContributionDecided", "forbund": "sf-old", "date": "2023-11-20", "member": "sala", "year": 2023,
            "amount": "20000", "reference": "beslut", "decision": decision()}),
        json!({"type": "AccrualRecorded", "forbund": "sf-old", "date": "2023-12-31", "year": 2023, "kind": "upplupen_kostnad",
            "line": "kansli", "amount": "15000", "reference": "P-1", "text": "arvoden december"}),
        merger,
        json!({"type": "BalancesTakenOver", "forbund": "sf-new", "date": "2024-01-01", "from": "sf-old", "reference": "bokslut 2023"}),
    ]
}

#[test]
fn a_takeover_hands_every_balance_to_the_new_forbund_and_leaves_the_old_books_at_zero() {
    let mut events = merger_with_debts();
    events.extend([
        json!({"type": "YearClosed", "forbund": "sf-old", "date": "2024-02-15", "year": 2023, "decision": decision()}),
        json!({"type": "InvoicePaid", "forbund": "sf-new", "date": "2024-01-04", "invoice": "f-1", "amount": "60000", "reference": "bank"}),
        json!({"type": "ContributionReceived", "forbund": "sf-new", "date": "2024-01-20", "member": "sala", "year": 2023, "amount": "20000", "reference": "bidrag 2023"}),
    ]);
    let p = project(&events);
    let chart = Chart::default_chart();
    let balance = |b: &crate::reports::Balances, role: Role| -> Amount {
        let number = &chart.account(role).number;
        b.accounts.iter().filter(|a| &a.account == number).map(|a| a.balance).sum()
    };
    // The old books at 31 December 2023: bank 400 000, owed 20 000 by Sala, 60 000 to Konsult AB,
    // 15 000 accrued; equity 400 000 + 20 000 − 60 000 − 15 000 = 345 000.
    let old = p.balances(&slug("sf-old"), At { as_of: date("2023-12-31"), known_at: p.head }, &chart).unwrap();
    assert_eq!(old.equity, kr("345000"));
    assert_eq!(
        [Role::Bank, Role::Receivable, Role::Payable, Role::AccruedLiability].map(|r| balance(&old, r)),
        [kr("400000"), kr("20000"), kr("-60000"), kr("-15000")]
    );
    // The takeover is one voucher in each book, dated the day the merger takes effect.
    let takeover: Vec<_> = p.vouchers_of(10).iter().map(|v| (v.forbund.to_string(), v.date)).collect();
    assert_eq!(takeover, vec![("sf-old".into(), date("2024-01-01")), ("sf-new".into(), date("2024-01-01"))]);
    // Afterwards every account of the old förbund is zero, its last year closed.
    let old = p.balances(&slug("sf-old"), At { as_of: date("2024-12-31"), known_at: p.head }, &chart).unwrap();
    let left: Vec<_> = old.accounts.iter().filter(|a| !a.balance.is_zero()).collect();
    assert!(left.is_empty(), "the old books are zero: {left:?}");
    // The new förbund received the equity the old books say (not a typed figure), paid the
    // invoice, was paid the contribution, and the accrual's reversal is its January cost.
    let new = p.balances(&slug("sf-new"), At { as_of: date("2024-01-31"), known_at: p.head }, &chart).unwrap();
    assert_eq!(balance(&new, Role::EquityReceived), kr("-345000"));
    assert_eq!(
        [Role::Bank, Role::Receivable, Role::Payable, Role::AccruedLiability].map(|r| balance(&new, r)),
        [kr("360000"), Amount::ZERO, Amount::ZERO, Amount::ZERO]
    );
    assert_eq!((new.costs, new.income), (kr("-15000"), Amount::ZERO));
    assert_eq!(p.transfers.last().map(|t| t.amount), Some(kr("345000")));
    // The sum of every balance across the two förbund is what it was before the takeover (the
    // accrual's reversal on 1 January included: 345 000 + 15 000).
    let before = project(&merger_with_debts()[..9]);
    let sum = |p: &Projection| -> Amount {
        ["sf-old", "sf-new"]
            .iter()
            .flat_map(|f| p.vouchers().filter(move |v| v.forbund.as_str() == *f))
            .flat_map(|v| v.rows)
            .filter(|r| matches!(r.role.side(), crate::chart::Side::Asset | crate::chart::Side::Liability))
            .map(|r| r.amount)
            .sum()
    };
    assert_eq!(sum(&before), kr("360000"));
    assert_eq!(sum(&project(&merger_with_debts())), kr("360000"));
}

#[test]
fn after_a_takeover_the_old_books_take_nothing_but_their_close() {
    let mut ledger = Ledger::new();
    for v in merger_with_debts() {
        ledger.record(&Event::from_json(&v).unwrap()).unwrap();
    }
    let refused = |v: Value| ledger.check(&Event::from_json(&v).unwrap()).unwrap_err();
    let mut late = cost("sf-old", "team", "2023-12-30", "100");
    late["year"] = json!(2023);
    let late = refused(late);
    assert_eq!(late.rule.code(), "forbund_taken_over");
    assert!(late.message.contains("record this in sf-new's books"), "{}", late.message);
    let again = refused(
        json!({"type": "BalancesTakenOver", "forbund": "sf-new", "date": "2024-01-01", "from": "sf-old", "reference": "igen"}),
    );
    assert_eq!(again.rule.code(), "takeover_twice");
    let by_hand = refused(
        json!({"type": "EquityTransferred", "forbund": "sf-new", "date": "2024-01-01", "from": "sf-old", "amount": "1", "reference": "x"}),
    );
    assert_eq!(by_hand.rule.code(), "takeover_twice");
    let undo = refused(
        json!({"type": "EventCorrected", "forbund": "sf-new", "date": "2024-03-01", "corrects": 10, "reason": "x"}),
    );
    assert_eq!(undo.rule.code(), "correction_not_allowed");
    let close =
        json!({"type": "YearClosed", "forbund": "sf-old", "date": "2024-02-15", "year": 2023, "decision": decision()});
    assert!(ledger.check(&Event::from_json(&close).unwrap()).is_ok());
    // A takeover is dated the day the merger takes effect.
    let mut ledger = Ledger::new();
    for v in &merger_with_debts()[..9] {
        ledger.record(&Event::from_json(v).unwrap()).unwrap();
    }
    let early = json!({"type": "BalancesTakenOver", "forbund": "sf-new", "date": "2023-12-31", "from": "sf-old", "reference": "x"});
    let r = ledger.check(&Event::from_json(&early).unwrap()).unwrap_err();
    assert_eq!((r.rule.code(), r.field.as_str()), ("takeover_date", "date"));
}

fn members_from(effective: &str, members: Value) -> Value {
    json!({"type": "MembersChanged", "forbund": "sf-a", "date": "2024-05-20", "effective": effective,
        "members": members, "decision": {"body": "förbundsmedlemmarna", "date": "2024-05-20"}})
}

#[test]
fn a_member_joins_and_another_leaves_and_reports_use_the_members_in_force() {
    // Köping joins on 1 July 2024 (Sala's share split with it); Sala leaves on 1 January 2025.
    let joins = members_from(
        "2024-07-01",
        json!([{"id": "fk", "name": "Försäkringskassan", "kind": "staten", "share": "0.25"},
               {"id": "af", "name": "Arbetsförmedlingen", "kind": "staten", "share": "0.25"},
               {"id": "region", "name": "Region Västmanland", "kind": "region", "share": "0.25"},
               {"id": "sala", "name": "Sala kommun", "kind": "kommun", "share": "0.15"},
               {"id": "koping", "name": "Köpings kommun", "kind": "kommun", "share": "0.10"}]),
    );
    let mut leaves = members_from(
        "2025-01-01",
        json!([{"id": "fk", "name": "Försäkringskassan", "kind": "staten", "share": "0.25"},
               {"id": "af", "name": "Arbetsförmedlingen", "kind": "staten", "share": "0.25"},
               {"id": "region", "name": "Region Västmanland", "kind": "region", "share": "0.25"},
               {"id": "koping", "name": "Köpings kommun", "kind": "kommun", "share": "0.25"}]),
    );
    leaves["date"] = json!("2024-11-20");
    let events = vec![registered("sf-a"), insats("sf-a", "team"), budget_2024("sf-a"), joins, leaves];
    let mut ledger = Ledger::new();
    for v in &events {
        ledger.record(&Event::from_json(v).unwrap()).unwrap();
    }
    let check = |v: Value| ledger.check(&Event::from_json(&v).unwrap());
    // Köping pays nothing before it is a member, and Sala nothing for a year after it left …
    let early = check(contribution("sf-a", "koping", "2024-06-30", "1000")).unwrap_err();
    assert_eq!((early.rule.code(), early.field.as_str()), ("member_unknown", "member"));
    assert!(early.message.contains("not a member of sf-a on 2024-06-30"), "{}", early.message);
    assert!(check(contribution("sf-a", "koping", "2024-07-31", "1000")).is_ok());
    let mut late = contribution("sf-a", "sala", "2025-02-01", "1000");
    late["year"] = json!(2025);
    assert_eq!(check(late).unwrap_err().rule.code(), "member_unknown");
    // … and a member keeps its kind.
    let mut kind = members_from(
        "2025-06-01",
        json!([
        {"id": "fk", "name": "FK", "kind": "staten", "share": "0.25"},
        {"id": "af", "name": "AF", "kind": "staten", "share": "0.25"},
        {"id": "koping", "name": "Köping", "kind": "region", "share": "0.25"},
        {"id": "sala", "name": "Sala", "kind": "kommun", "share": "0.25"}]),
    );
    kind["date"] = json!("2024-12-01");
    let r = check(kind).unwrap_err();
    assert_eq!((r.rule.code(), r.field.as_str()), ("member_kind_changed", "members[2].kind"));
    // The projection: the members in force on a day, as known at a seq.
    let p = project(&events);
    let info = &p.forbund[&slug("sf-a")];
    let ids = |day: &str, known_at: u64| -> Vec<String> {
        info.members_at(date(day), known_at).iter().map(|m| format!("{} {}", m.0, m.3.canonical())).collect()
    };
    assert_eq!(ids("2024-06-30", p.head), ["fk 0.25", "af 0.25", "region 0.25", "sala 0.25"]);
    assert_eq!(ids("2024-07-01", p.head), ["fk 0.25", "af 0.25", "region 0.25", "sala 0.15", "koping 0.1"]);
    assert_eq!(ids("2025-01-01", p.head), ["fk 0.25", "af 0.25", "region 0.25", "koping 0.25"]);
    assert_eq!(
        ids("2025-01-01", 4),
        ["fk 0.25", "af 0.25", "region 0.25", "sala 0.15", "koping 0.1"],
        "as known before Sala left"
    );
    assert_eq!(info.members.len(), 5, "every member the förbund has had");
}

#[test]
fn an_insats_changes_category_from_a_date_and_its_costs_follow() {
    let change = json!({"type": "InsatsChanged", "forbund": "sf-a", "date": "2024-06-15", "insats": "team",
        "effective": "2024-07-01", "name": "Samordningsteam Sala–Heby", "category": "struktur", "decision": decision()});
    let by_insats = |day: &str| {
        json!({"type": "CostRecorded", "forbund": "sf-a", "date": day, "year": 2024, "insats": "team",
            "amount": "1000", "reference": "F", "text": "utan budgetrad"})
    };
    let p = project(&[
        registered("sf-a"),
        insats("sf-a", "team"),
        change,
        by_insats("2024-06-30"),
        by_insats("2024-07-01"),
    ]);
    assert_eq!(role_sum(&p, "sf-a", Role::Cost(finsam_domain::Category::Individ)), kr("1000"));
    assert_eq!(role_sum(&p, "sf-a", Role::Cost(finsam_domain::Category::Struktur)), kr("1000"));
    let team = p.insats(&slug("sf-a"), &slug("team")).unwrap();
    assert_eq!(team.name_at(date("2024-06-30"), p.head), "Samordningsteam");
    assert_eq!(team.name_at(date("2024-07-01"), p.head), "Samordningsteam Sala–Heby");
    assert_eq!(team.name_at(date("2024-07-01"), 2), "Samordningsteam", "as known before the change");
}

#[test]
fn a_registration_is_corrected_and_the_books_may_begin_earlier_but_not_after_their_first_event() {
    let correct = |registered: &str| {
        json!({"type": "RegistrationCorrected", "forbund": "sf-a", "date": "2024-02-01", "registered": registered,
            "name": "Samordningsförbundet A", "reason": "fel datum vid registreringen", "decision": decision()})
    };
    let mut ledger = Ledger::new();
    let events = [registered("sf-a"), insats("sf-a", "team")];
    for v in &events {
        ledger.record(&Event::from_json(v).unwrap()).unwrap();
    }
    let late = ledger.check(&Event::from_json(&correct("2023-12-01")).unwrap()).unwrap_err();
    assert_eq!((late.rule.code(), late.field.as_str()), ("event_before_registration", "registered"));
    ledger.record(&Event::from_json(&correct("2023-01-01")).unwrap()).unwrap();
    let opening =
        json!({"type": "OpeningBalanceRecorded", "forbund": "sf-a", "date": "2023-01-01", "equity": "5", "bank": "5"});
    assert!(ledger.check(&Event::from_json(&opening).unwrap()).is_ok(), "the books now begin on 1 January 2023");
    let p = project(&[registered("sf-a"), insats("sf-a", "team"), correct("2023-01-01")]);
    let info = &p.forbund[&slug("sf-a")];
    assert_eq!((info.name.as_str(), info.registered), ("Samordningsförbundet A", date("2023-01-01")));
}

#[test]
fn closing_a_year_moves_its_result_to_equity() {
    let p = project(&[
        registered("sf-a"),
        insats("sf-a", "team"),
        budget_2024("sf-a"),
        contribution("sf-a", "sala", "2024-02-01", "1000"),
        cost("sf-a", "team", "2024-03-31", "400"),
        json!({"type": "YearClosed", "forbund": "sf-a", "date": "2025-02-15", "year": 2023, "decision": decision()}),
        json!({"type": "YearClosed", "forbund": "sf-a", "date": "2025-02-15", "year": 2024, "decision": decision()}),
    ]);
    let closing = p.vouchers().last().unwrap();
    assert_eq!(closing.kind, VoucherKind::Closing);
    assert_eq!((closing.date, closing.number), (date("2024-12-31"), 3));
    assert_eq!(role_sum(&p, "sf-a", Role::Equity), kr("-600"), "the year's profit of 600 is now equity");
    let chart = Chart::default_chart();
    let b = p.balances(&slug("sf-a"), At { as_of: date("2025-06-30"), known_at: p.head }, &chart).unwrap();
    assert_eq!((b.equity, b.income, b.costs), (kr("600"), Amount::ZERO, Amount::ZERO));
    let result_accounts: Amount =
        b.accounts.iter().filter(|a| a.account.starts_with(['3', '4', '5', '6'])).map(|a| a.balance).sum();
    assert!(result_accounts.is_zero());
}

#[test]
fn a_correction_reverses_the_voucher_and_the_grant_as_of_its_date() {
    let p = project(&[
        registered("sf-a"),
        insats("sf-a", "team"),
        budget_2024("sf-a"),
        json!({"type": "FundingGranted", "forbund": "sf-a", "date": "2024-01-10", "insats": "team", "year": 2024, "amount": "700000", "decision": decision()}),
        cost("sf-a", "team", "2024-03-31", "1000"),
        json!({"type": "EventCorrected", "forbund": "sf-a", "date": "2024-04-15", "corrects": 5, "reason": "fel belopp"}),
        json!({"type": "EventCorrected", "forbund": "sf-a", "date": "2024-04-20", "corrects": 4, "reason": "beslutet upphävt", "decision": decision()}),
    ]);
    let reversal = &p.vouchers().nth(1).unwrap();
    assert_eq!(reversal.kind, VoucherKind::Correction { of: 5 });
    assert_eq!(reversal.rows[0].amount, kr("-1000"));
    assert!(reversal.text.contains("2024 A 1"), "{}", reversal.text);
    assert_eq!(p.corrected.get(&5).map(|c| c.0), Some(6));
    let f = slug("sf-a");
    let before = p.budget_position(&f, 2024, At { as_of: date("2024-04-01"), known_at: p.head }).unwrap();
    assert_eq!((before.lines[0].spent, before.lines[0].granted), (kr("1000"), kr("700000")));
    let after = p.budget_position(&f, 2024, at_end_of_2024(&p)).unwrap();
    assert_eq!((after.lines[0].spent, after.lines[0].granted), (Amount::ZERO, Amount::ZERO));
}

#[test]
fn the_budget_position_counts_grants_spending_and_income_per_line() {
    let mut budget = budget_2024("sf-a");
    budget["transfers"] = json!([{"from": "sf-old", "name": "Överfört", "amount": "50000"}]);
    let p = project(&[
        registered("sf-a"),
        registered("sf-old"),
        insats("sf-a", "team"),
        budget,
        json!({"type": "FundingGranted", "forbund": "sf-a", "date": "2024-01-10", "insats": "team", "year": 2024, "amount": "650000", "decision": decision()}),
        json!({"type": "FundingChanged", "forbund": "sf-a", "date": "2024-06-10", "insats": "team", "year": 2024, "delta": "50000", "reason": "utökning", "decision": decision()}),
        cost("sf-a", "team", "2024-03-31", "175000"),
        json!({"type": "CostRecorded", "forbund": "sf-a", "date": "2024-06-30", "year": 2024, "insats": "team", "amount": "175000", "reference": "F", "text": "by insats only"}),
        contribution("sf-a", "fk", "2024-01-31", "250000"),
    ]);
    let pos = p.budget_position(&slug("sf-a"), 2024, at_end_of_2024(&p)).unwrap();
    let team = &pos.lines[0];
    assert_eq!((team.budget, team.granted, team.spent), (kr("700000"), kr("700000"), kr("350000")));
    assert_eq!((team.remaining(), team.uncommitted()), (kr("350000"), Some(Amount::ZERO)));
    assert_eq!((pos.costs_total, pos.income_budget, pos.income_received), (kr("1000000"), kr("1010000"), kr("250000")));
    assert_eq!((pos.result, pos.transfers_in, pos.closing_equity), (kr("10000"), kr("50000"), kr("60000")));
    assert_eq!(pos.shares.admin_of_costs, Some(rust_decimal::Decimal::new(2000, 4)));
    assert_eq!(pos.shares.individ_of_direct, Some(rust_decimal::Decimal::new(8750, 4)));
    let mid_year = p.budget_position(&slug("sf-a"), 2024, At { as_of: date("2024-05-01"), known_at: p.head }).unwrap();
    assert_eq!((mid_year.lines[0].granted, mid_year.lines[0].spent), (kr("650000"), kr("175000")));
}

#[test]
fn as_of_and_known_at_are_different_questions() {
    // A cost dated in March is recorded late, after a contribution dated in May.
    let p = project(&[
        registered("sf-a"),
        insats("sf-a", "team"),
        budget_2024("sf-a"),
        contribution("sf-a", "fk", "2024-05-31", "1000"),
        cost("sf-a", "team", "2024-03-31", "300"),
    ]);
    let chart = Chart::default_chart();
    let f = slug("sf-a");
    let bank = |as_of: &str, known_at: u64| p.balances(&f, At { as_of: date(as_of), known_at }, &chart).unwrap().bank;
    assert_eq!(bank("2024-04-30", 5), kr("-300"), "as of April, with everything known: the March cost only");
    assert_eq!(bank("2024-04-30", 4), Amount::ZERO, "as known before the late cost was recorded: nothing yet in April");
    assert_eq!(bank("2024-06-30", 4), kr("1000"), "what the books said at seq 4 about June");
    assert_eq!(bank("2024-06-30", 5), kr("700"));
}

#[test]
fn the_budget_in_force_is_the_latest_adopted_one() {
    let mut revised = budget_2024("sf-a");
    revised["date"] = json!("2024-06-01");
    revised["costs"][0]["amount"] = json!("800000");
    let mut outlook = budget_2024("sf-a");
    outlook["status"] = json!("outlook");
    let p = project(&[registered("sf-a"), insats("sf-a", "team"), budget_2024("sf-a"), revised, outlook]);
    let f = slug("sf-a");
    let team =
        |as_of: &str| p.budget_position(&f, 2024, At { as_of: date(as_of), known_at: p.head }).unwrap().lines[0].budget;
    assert_eq!(team("2024-05-31"), kr("700000"));
    assert_eq!(
        team("2024-06-01"),
        kr("800000"),
        "the revision is in force from its date; a later outlook does not replace it"
    );
    assert!(p.budget_position(&f, 2024, At { as_of: date("2023-11-15"), known_at: p.head }).is_none());
}

/// An instance's advisor keeps what it learnt from group to group. When another instance's
/// events are taken in, the cache follows them: it then warns exactly as a fresh advisor on the
/// books with those events does (and a cache that did not follow them would not).
#[test]
fn an_advice_cache_that_follows_events_recorded_elsewhere_warns_as_a_fresh_advisor() {
    use crate::advice::Advisor;
    let f = "sf-a";
    let event = |v: &Value| Event::from_json(v).unwrap();
    let base = vec![registered(f), insats(f, "team"), budget_2024(f)];
    let own = cost(f, "kansli", "2024-03-01", "150000");
    let elsewhere = [cost(f, "kansli", "2024-03-02", "40000"), contribution(f, "sala", "2024-03-02", "200000")];
    let next = [cost(f, "kansli", "2024-03-03", "20000"), contribution(f, "sala", "2024-03-03", "60000")];

    // This instance advises and records its own cost.
    let before = project(&base);
    let mut advisor = Advisor::new(&before, &[]);
    advisor.advise(&event(&own));
    let cache = advisor.into_cache();

    // The other instance's events are taken in.
    let mut all = base.clone();
    all.push(own.clone());
    all.extend(elsewhere.iter().cloned());
    let after = project(&all);
    let recent: Vec<Event> = all[base.len()..].iter().map(event).collect();
    let warnings = |mut a: Advisor<'_>| -> Vec<(String, String)> {
        next.iter().flat_map(|e| a.advise(&event(e))).map(|w| (w.rule.to_string(), w.message)).collect()
    };
    let fresh = warnings(Advisor::new(&after, &recent));
    let followed = {
        let mut a = Advisor::new(&before, &[]);
        a.advise(&event(&own));
        let cache = a.into_cache().follow(&after, elsewhere.iter().map(event).collect::<Vec<_>>().iter());
        warnings(Advisor::resume(&after, cache.expect("costs and contributions are followed exactly")))
    };
    let rules: Vec<&str> = fresh.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(rules, ["line_over_budget", "contribution_over_share"], "{fresh:?}");
    assert!(fresh[0].1.contains("210 000"), "150 000 here, 40 000 elsewhere, 20 000 now: {fresh:?}");
    assert_eq!(followed, fresh);
    let unfollowed = warnings(Advisor::resume(&after, cache));
    assert_ne!(unfollowed, fresh, "a cache that did not follow misses the other instance's events");
    // A budget adopted elsewhere is not followed exactly: the cache is dropped.
    let mut a = Advisor::new(&before, &[]);
    a.advise(&event(&own));
    assert!(a.into_cache().follow(&after, [event(&budget_2024(f))].iter()).is_none());
}
