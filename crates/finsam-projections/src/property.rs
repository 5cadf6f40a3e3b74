//! Property tests over random valid histories: every voucher balances, every trial balance
//! sums to zero, a full replay equals checkpoint + tail at every split point, and the bank
//! balance equals a naive recomputation from the events (a reference model in the spirit of
//! TigerBeetle's auditor). Histories are drawn from a seeded generator and filtered through the
//! ledger, so every history is one the store would accept. `FINSAM_PROPERTY_CASES` sets the
//! number of cases (default 60).

use crate::chart::Chart;
use crate::projection::{Projection, Recorded};
use crate::reports::At;
use chrono::{Datelike, Duration, NaiveDate};
use finsam_domain::{Amount, Event, EventKind, Ledger, Slug};
use finsam_generate::Rng;
use serde_json::{json, Value};

/// Picks from a list, and draws amounts, with the shared generator.
trait Draw {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T;
    fn amount(&mut self) -> String;
}

impl Draw for Rng {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn amount(&mut self) -> String {
        let kr = 1 + self.below(500_000);
        match self.below(3) {
            0 => kr.to_string(),
            _ => format!("{kr}.{:02}", self.below(100)),
        }
    }
}

const FORBUND: [&str; 3] = ["sf-a", "sf-b", "sf-c"];
const INSATSER: [&str; 3] = ["team", "utbildning", "kartlaggning"];
const MEMBERS: [&str; 4] = ["fk", "af", "region", "sala"];

fn decision() -> Value {
    json!({"body": "styrelsen", "date": "2023-06-01"})
}

/// Draws one candidate event; many are refused by the ledger, which is the point: what is
/// kept is a valid history of a realistic mix.
fn candidate(rng: &mut Rng, day: NaiveDate, seq_so_far: u64) -> Value {
    let f = *rng.pick(&FORBUND);
    let date = day.to_string();
    let year = day.year();
    match rng.below(16) {
        0 => json!({"type": "ForbundRegistered", "forbund": f, "date": "2023-06-01", "name": format!("SF {f}"),
            "members": [{"id": "fk", "name": "FK", "kind": "staten", "share": "0.25"},
                        {"id": "af", "name": "AF", "kind": "staten", "share": "0.25"},
                        {"id": "region", "name": "Region", "kind": "region", "share": "0.25"},
                        {"id": "sala", "name": "Sala", "kind": "kommun", "share": "0.25"}]}),
        1 => {
            json!({"type": "OpeningBalanceRecorded", "forbund": f, "date": date, "equity": rng.amount(), "bank": rng.amount()})
        }
        2 => {
            let i = *rng.pick(&INSATSER);
            let category = if i == "team" { "individ" } else { "struktur" };
            json!({"type": "InsatsCreated", "forbund": f, "date": date, "insats": i, "name": i, "category": category, "decision": decision()})
        }
        3 => json!({"type": "BudgetAdopted", "forbund": f, "date": date, "year": year, "decision": decision(),
            "income": [{"id": "bidrag", "name": "Bidrag", "amount": rng.amount()}, {"id": "ovrigt", "name": "Övrigt", "amount": rng.amount()}],
            "costs": [{"id": "team", "name": "Team", "category": "individ", "insats": "team", "amount": rng.amount()},
                      {"id": "kansli", "name": "Kansli", "category": "admin", "amount": rng.amount()},
                      {"id": "utveckling", "name": "Utveckling", "category": "struktur", "amount": rng.amount()}]}),
        4 => {
            json!({"type": "FundingGranted", "forbund": f, "date": date, "insats": rng.pick(&INSATSER), "year": year, "amount": rng.amount(), "decision": decision()})
        }
        5..=7 => {
            json!({"type": "ContributionReceived", "forbund": f, "date": date, "member": rng.pick(&MEMBERS), "year": year, "amount": rng.amount(), "reference": "bidrag"})
        }
        8 => {
            json!({"type": "OtherIncomeRecorded", "forbund": f, "date": date, "year": year, "line": "ovrigt", "amount": rng.amount(), "reference": "konsult"})
        }
        9 | 10 => {
            let line = *rng.pick(&["team", "kansli", "utveckling"]);
            json!({"type": "CostRecorded", "forbund": f, "date": date, "year": year, "line": line, "amount": rng.amount(), "reference": "F", "text": "faktura"})
        }
        11 => {
            json!({"type": "CostRecorded", "forbund": f, "date": date, "year": year, "insats": rng.pick(&INSATSER), "amount": rng.amount(), "reference": "F", "text": "per insats"})
        }
        12 => {
            let other = *rng.pick(&FORBUND);
            json!({"type": "MergerDecided", "forbund": f, "date": date, "merging": [other], "effective": date,
                "estimated_transfers": [{"from": other, "amount": rng.amount()}], "decision": decision()})
        }
        13 => {
            json!({"type": "EquityTransferred", "forbund": f, "date": date, "from": rng.pick(&FORBUND), "amount": rng.amount(), "reference": "överföring"})
        }
        14 => match rng.below(3) {
            0 => {
                json!({"type": "YearClosed", "forbund": f, "date": date, "year": year - 1 - rng.below(2) as i32, "decision": decision()})
            }
            1 => {
                json!({"type": "ForbundDissolved", "forbund": f, "date": date, "merged_into": rng.pick(&FORBUND), "decision": decision()})
            }
            _ => {
                json!({"type": "FundingChanged", "forbund": f, "date": date, "insats": rng.pick(&INSATSER), "year": year, "delta": format!("-{}", rng.amount()), "reason": "minskning", "decision": decision()})
            }
        },
        _ => {
            json!({"type": "EventCorrected", "forbund": f, "date": date, "corrects": 1 + rng.below(seq_so_far.max(1)), "reason": "rättelse"})
        }
    }
}

/// A valid history of about `len` events, with dates moving forward through 2023–2026.
pub(crate) fn history(seed: u64, len: usize) -> Vec<Event> {
    let mut rng = Rng::new(seed);
    let mut ledger = Ledger::new();
    let mut events = Vec::new();
    let mut day = NaiveDate::from_ymd_opt(2023, 6, 1).expect("valid");
    let mut tries = 0;
    while events.len() < len && tries < len * 60 {
        tries += 1;
        if rng.below(4) == 0 && day.year() < 2026 {
            day += Duration::days(rng.below(40) as i64);
        }
        let v = candidate(&mut rng, day, ledger.head());
        let Ok(event) = Event::from_json(&v) else { continue };
        if ledger.record(&event).is_ok() {
            events.push(event);
        }
    }
    events
}

fn project(events: &[Event]) -> Projection {
    let mut p = Projection::new();
    for (i, e) in events.iter().enumerate() {
        p.apply(Recorded { seq: i as u64 + 1, recorded_at: "t", recorded_by: "prop", event: e });
    }
    p
}

/// The reference model: the bank balance recomputed naively from the events.
fn naive_bank(events: &[Event], f: &Slug, at: At) -> Amount {
    let effect = |seq: u64| -> Amount {
        let e = &events[seq as usize - 1];
        use EventKind::*;
        match &e.kind {
            OpeningBalanceRecorded { bank, .. } if &e.forbund == f => *bank,
            ContributionReceived { amount, .. } | OtherIncomeRecorded { amount, .. } if &e.forbund == f => *amount,
            CostRecorded { amount, .. } if &e.forbund == f => -*amount,
            EquityTransferred { amount, .. } if &e.forbund == f => *amount,
            EquityTransferred { from, amount, .. } if from == f => -*amount,
            _ => Amount::ZERO,
        }
    };
    let mut bank = Amount::ZERO;
    for (i, e) in events.iter().enumerate().take(at.known_at as usize) {
        if e.date > at.as_of {
            continue;
        }
        bank += match &e.kind {
            EventKind::EventCorrected { corrects, .. } => -effect(*corrects),
            _ => effect(i as u64 + 1),
        };
    }
    bank
}

fn cases() -> u64 {
    std::env::var("FINSAM_PROPERTY_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(60)
}

#[test]
fn random_histories_keep_the_laws_of_the_books() {
    let chart = Chart::default_chart();
    let mut events_total = 0;
    let mut kinds: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut vouchers_total = 0;
    for seed in 0..cases() {
        let events = history(seed, 80);
        events_total += events.len();
        for e in &events {
            *kinds.entry(e.type_name()).or_default() += 1;
        }
        let full = project(&events);
        vouchers_total += full.vouchers().len();
        for v in full.vouchers() {
            let sum: Amount = v.rows.iter().map(|r| r.amount).sum();
            assert!(sum.is_zero(), "seed {seed}: voucher {} of {} does not balance", v.label(), v.forbund);
        }
        // Gapless series per förbund and year.
        let mut series: std::collections::BTreeMap<(Slug, i32), Vec<u32>> = Default::default();
        for v in full.vouchers() {
            series.entry((v.forbund.clone(), v.year)).or_default().push(v.number);
        }
        for ((f, y), numbers) in series {
            assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>(), "seed {seed}: series {f} {y}");
        }
        let days = ["2023-12-31", "2024-06-30", "2025-01-01", "2026-12-31"];
        for f in full.forbund.keys() {
            for known_at in [events.len() as u64 / 3, events.len() as u64 / 2, events.len() as u64] {
                for day in days {
                    let at = At { as_of: NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(), known_at };
                    let b = full.balances(f, at, &chart).unwrap();
                    let sum: Amount = b.accounts.iter().map(|a| a.balance).sum();
                    assert!(sum.is_zero(), "seed {seed}: trial balance of {f} sums to {sum}");
                    assert_eq!(b.bank, naive_bank(&events, f, at), "seed {seed}: bank of {f} at {at:?}");
                }
            }
        }
        // The totals per day give what the vouchers give, on every day a voucher is dated and
        // the days around it, and so does the stored totals view read back.
        let stored = crate::totals::TotalsView {
            head: full.head,
            forbund: full.forbund.clone(),
            totals: serde_json::from_slice(&serde_json::to_vec(full.totals()).unwrap()).unwrap(),
        };
        let mut voucher_days: std::collections::BTreeSet<NaiveDate> = full.vouchers().map(|v| v.date).collect();
        voucher_days.extend(days.iter().map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()));
        for f in full.forbund.keys() {
            for day in &voucher_days {
                for as_of in [day.pred_opt().unwrap(), *day] {
                    let at = At { as_of, known_at: events.len() as u64 };
                    let by_vouchers = full.balances_from_vouchers(f, at, &chart);
                    assert_eq!(full.balances(f, at, &chart), by_vouchers, "seed {seed}: totals of {f} at {as_of}");
                    assert_eq!(stored.balances(f, as_of, &chart), by_vouchers, "seed {seed}: stored totals of {f}");
                }
            }
        }
        // Money is conserved: transfers move it between förbund, so all the banks together hold
        // what the events brought in and paid out, förbund by förbund, with no transfer counted.
        let last_day = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let everything = At { as_of: last_day, known_at: events.len() as u64 };
        let total_bank: Amount = full.forbund.keys().map(|f| full.balances(f, everything, &chart).unwrap().bank).sum();
        let naive_total: Amount = full.forbund.keys().map(|f| naive_bank(&events, f, everything)).sum();
        assert_eq!(total_bank, naive_total, "seed {seed}: money is conserved");
        let received: Amount = full
            .vouchers()
            .flat_map(|v| v.rows)
            .filter(|r| r.role == crate::chart::Role::EquityReceived)
            .map(|r| -r.amount)
            .sum();
        let transferred: Amount =
            full.transfers.iter().filter(|t| !full.corrected.contains_key(&t.seq)).map(|t| t.amount).sum();
        assert_eq!(received, transferred, "seed {seed}: equity received equals equity transferred");
        // What the books said at seq k is what a log that ended at k says, and the same log
        // gives the same reports twice.
        for k in [events.len() / 4, events.len() / 2, 3 * events.len() / 4] {
            let ended_there = project(&events[..k]);
            for f in ended_there.forbund.keys() {
                for day in days {
                    let at = At { as_of: NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(), known_at: k as u64 };
                    assert_eq!(
                        full.balances(f, at, &chart),
                        ended_there.balances(f, at, &chart),
                        "seed {seed}: known at {k}"
                    );
                    for year in 2023..=2026 {
                        assert_eq!(
                            full.budget_position(f, year, at),
                            ended_there.budget_position(f, year, at),
                            "seed {seed}: known at {k}"
                        );
                    }
                }
            }
        }
        let again = project(&events);
        assert_eq!(
            format!("{:?}", again.balances(&Slug::parse("sf-a").unwrap(), everything, &chart)),
            format!("{:?}", full.balances(&Slug::parse("sf-a").unwrap(), everything, &chart))
        );
        // Checkpoint + tail equals a full replay, for every split point.
        let mut prefix = Projection::new();
        for split in 0..=events.len() {
            if split > 0 {
                let e = &events[split - 1];
                prefix.apply(Recorded { seq: split as u64, recorded_at: "t", recorded_by: "prop", event: e });
            }
            let checkpoint = serde_json::to_vec(&prefix).unwrap();
            let resumed: Projection = serde_json::from_slice(&checkpoint).unwrap();
            let mut resumed = resumed.with_book(prefix.voucher_book().clone());
            for (i, e) in events.iter().enumerate().skip(split) {
                resumed.apply(Recorded { seq: i as u64 + 1, recorded_at: "t", recorded_by: "prop", event: e });
            }
            assert!(resumed == full, "seed {seed}: checkpoint at {split} + tail differs from the full replay");
        }
    }
    for kind in [
        "MergerDecided",
        "EquityTransferred",
        "ForbundDissolved",
        "YearClosed",
        "EventCorrected",
        "FundingChanged",
        "CostRecorded",
    ] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "the histories hold a {kind}: {kinds:?}");
    }
    assert!(events_total > cases() as usize * 40, "the generator yields substantial histories ({events_total} events)");
    assert!(vouchers_total > events_total / 4, "the histories move money ({vouchers_total} vouchers)");
}
