//! Random valid histories, drawn freely and filtered through the ledger.

use crate::Rng;
use chrono::{Datelike, Duration, NaiveDate};
use finsam_domain::{Event, Ledger};
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
const MEMBERS: [&str; 5] = ["fk", "af", "region", "sala", "koping"];

fn decision() -> Value {
    json!({"body": "styrelsen", "date": "2023-06-01"})
}

/// Draws one candidate event; many are refused by the ledger, which is the point: what is
/// kept is a valid history of a realistic mix.
fn candidate(rng: &mut Rng, day: NaiveDate, seq_so_far: u64) -> Value {
    let f = *rng.pick(&FORBUND);
    let date = day.to_string();
    let year = day.year();
    match rng.below(25) {
        0 => json!({"type": "ForbundRegistered", "forbund": f, "date": "2023-06-01", "name": format!("SF {f}"),
            "members": [{"id": "fk", "name": "FK", "kind": "staten", "share": "0.25"},
                        {"id": "af", "name": "AF", "kind": "staten", "share": "0.25"},
                        {"id": "region", "name": "Region", "kind": "region", "share": "0.25"},
                        {"id": "sala", "name": "Sala", "kind": "kommun", "share": "0.25"}]}),
        1 => {
            // Books that open on 1 January (the year's opening) as often as books that open
            // during it (an inflow of the year).
            let date = if rng.below(2) == 0 { format!("{year}-01-01") } else { date };
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
                      {"id": "kansli", "name": "Kansli", "category": "admin", "nature": "personal", "amount": rng.amount()},
                      {"id": "utveckling", "name": "Utveckling", "category": "struktur", "amount": rng.amount()}]}),
        4 => {
            json!({"type": "FundingGranted", "forbund": f, "date": date, "insats": rng.pick(&INSATSER), "year": year, "amount": rng.amount(), "decision": decision()})
        }
        5..=7 => {
            // Now and then a payment of what was decided for last year.
            let year = if rng.below(4) == 0 { year - 1 } else { year };
            json!({"type": "ContributionReceived", "forbund": f, "date": date, "member": rng.pick(&MEMBERS), "year": year, "amount": rng.amount(), "reference": "bidrag"})
        }
        8 => {
            // Interest on the bank balance (a finansiell post) now and then, else other income
            // (chosen by the history's length, so that the draws that follow stay the same).
            if seq_so_far.is_multiple_of(3) {
                json!({"type": "OtherIncomeRecorded", "forbund": f, "date": date, "year": year, "line": "ovrigt", "amount": rng.amount(), "reference": "ränta", "nature": "finansiell"})
            } else {
                json!({"type": "OtherIncomeRecorded", "forbund": f, "date": date, "year": year, "line": "ovrigt", "amount": rng.amount(), "reference": "konsult"})
            }
        }
        9 | 10 => {
            let line = *rng.pick(&["team", "kansli", "utveckling"]);
            let amount = rng.amount();
            // Now and then the month's payroll of the line's staff instead (chosen by the
            // history's length, so that the draws that follow stay the same).
            if seq_so_far % 6 == 5 {
                payroll(f, day, line, &amount)
            } else {
                json!({"type": "CostRecorded", "forbund": f, "date": date, "year": year, "line": line, "amount": amount, "reference": "F", "text": "faktura"})
            }
        }
        11 => {
            json!({"type": "CostRecorded", "forbund": f, "date": date, "year": year, "insats": rng.pick(&INSATSER), "amount": rng.amount(), "reference": "F", "text": "per insats",
                "nature": rng.pick(&["kopta_tjanster", "lamnade_bidrag", "ovrigt", "finansiell"])})
        }
        12 => {
            let other = *rng.pick(&FORBUND);
            // Effective on the first of next month: a takeover in that month is dated then.
            let next_month = (day.with_day(1).expect("valid") + Duration::days(32)).with_day(1).expect("valid");
            json!({"type": "MergerDecided", "forbund": f, "date": date, "merging": [other], "effective": next_month.to_string(),
                "estimated_transfers": [{"from": other, "amount": rng.amount()}], "decision": decision()})
        }
        13 | 24 => match rng.below(3) {
            0 => {
                json!({"type": "EquityTransferred", "forbund": f, "date": date, "from": rng.pick(&FORBUND), "amount": rng.amount(), "reference": "överföring"})
            }
            _ => {
                json!({"type": "BalancesTakenOver", "forbund": f, "date": day.with_day(1).expect("valid").to_string(), "from": rng.pick(&FORBUND), "reference": "bokslut"})
            }
        },
        14 => match rng.below(3) {
            0 => {
                json!({"type": "YearClosed", "forbund": f, "date": date, "year": year - 1 - rng.below(2) as i32, "decision": decision()})
            }
            1 => {
                json!({"type": "ForbundDissolved", "forbund": f, "date": date, "merged_into": rng.pick(&FORBUND), "decision": decision()})
            }
            _ => {
                json!({"type": "FundingChanged", "forbund": f, "date": date, "insats": rng.pick(&INSATSER), "year": year, "delta": format!("{}{}", if rng.below(2) == 0 { "-" } else { "" }, rng.amount()), "reason": "ändring", "decision": decision()})
            }
        },
        16 => {
            let line = *rng.pick(&["team", "kansli", "utveckling"]);
            json!({"type": "InvoiceReceived", "forbund": f, "date": date, "year": year, "invoice": format!("inv-{}", rng.below(12)),
                "supplier": "Leverantör AB", "line": line, "amount": rng.amount(), "reference": "F", "text": "faktura"})
        }
        17 => {
            // Now and then a refund from the supplier (after a credit note on a paid invoice);
            // now and then (by the history's length) the payroll's taxes and pension paid.
            let invoice = format!("inv-{}", rng.below(12));
            let sign = if rng.below(5) == 0 { "-" } else { "" };
            let amount = rng.amount();
            if seq_so_far % 5 == 4 {
                let kr = kronor(&amount);
                json!({"type": "PayrollLiabilitiesPaid", "forbund": f, "date": date, "tax_withheld": amount,
                    "employer_contributions": (kr / 2).to_string(), "pension": (kr / 20).to_string(), "reference": "skattekonto"})
            } else {
                json!({"type": "InvoicePaid", "forbund": f, "date": date, "invoice": invoice,
                    "amount": format!("{sign}{amount}"), "reference": "betalning"})
            }
        }
        18 => {
            json!({"type": "InvoiceReceived", "forbund": f, "date": date, "year": year, "invoice": format!("kr-{}", rng.below(12)),
                "supplier": "Leverantör AB", "credits": format!("inv-{}", rng.below(12)), "amount": format!("-{}", rng.amount()),
                "reference": "K", "text": "kreditnota"})
        }
        19 => {
            let kind = *rng.pick(&["upplupen_kostnad", "forutbetald_kostnad", "upplupen_intakt", "forutbetald_intakt"]);
            let mut v = json!({"type": "AccrualRecorded", "forbund": f, "date": format!("{year}-12-31"), "year": year, "kind": kind,
                "amount": rng.amount(), "reference": "P", "text": "periodisering"});
            if kind.ends_with("kostnad") {
                v["line"] = json!(*rng.pick(&["team", "kansli", "utveckling"]));
            } else {
                v["member"] = json!(*rng.pick(&MEMBERS));
            }
            v
        }
        20 => {
            json!({"type": "ContributionDecided", "forbund": f, "date": date, "member": rng.pick(&MEMBERS), "year": year,
                "amount": rng.amount(), "reference": "medelstilldelning", "decision": decision()})
        }
        21 => {
            // Sala's share split with Köping, or Köping's taken back by Sala.
            let (sala, koping) = *rng.pick(&[("0.15", Some("0.10")), ("0.25", None)]);
            let mut members = vec![
                json!({"id": "fk", "name": "FK", "kind": "staten", "share": "0.25"}),
                json!({"id": "af", "name": "AF", "kind": "staten", "share": "0.25"}),
                json!({"id": "region", "name": "Region", "kind": "region", "share": "0.25"}),
                json!({"id": "sala", "name": "Sala", "kind": "kommun", "share": sala}),
            ];
            if let Some(share) = koping {
                members.push(json!({"id": "koping", "name": "Köping", "kind": "kommun", "share": share}));
            }
            json!({"type": "MembersChanged", "forbund": f, "date": date, "effective": (day + Duration::days(rng.below(60) as i64)).to_string(),
                "members": members, "decision": decision()})
        }
        22 => {
            let category = *rng.pick(&["individ", "struktur", "admin"]);
            json!({"type": "InsatsChanged", "forbund": f, "date": date, "insats": rng.pick(&INSATSER),
                "effective": (day + Duration::days(rng.below(60) as i64)).to_string(), "category": category, "name": format!("{category}-insats"),
                "decision": decision()})
        }
        23 => match rng.below(2) {
            0 => {
                json!({"type": "RegistrationCorrected", "forbund": f, "date": date, "name": format!("Samordningsförbundet {f}"),
                "reason": "stavfel", "decision": decision()})
            }
            _ => json!({"type": "ForecastRecorded", "forbund": f, "date": date, "year": year,
                "line": rng.pick(&["team", "kansli", "utveckling"]), "amount": rng.amount(), "text": "prognos"}),
        },
        _ => {
            json!({"type": "EventCorrected", "forbund": f, "date": date, "corrects": 1 + rng.below(seq_so_far.max(1)), "reason": "rättelse"})
        }
    }
}

/// The whole kronor of a drawn amount.
fn kronor(amount: &str) -> u64 {
    amount.split('.').next().and_then(|kr| kr.parse().ok()).expect("a drawn amount")
}

/// A month's payroll summary on a line: `amount` in gross salaries, the tax withheld, the
/// employer's contributions, the pension and its särskild löneskatt in round kronor from it;
/// in December also the change in semesterlöneskuld (up or down) with the contributions on it.
fn payroll(f: &str, day: NaiveDate, line: &str, amount: &str) -> Value {
    let kr = kronor(amount);
    let pension = kr * 45 / 1000;
    let mut v = json!({"type": "PayrollRecorded", "forbund": f, "date": day.to_string(), "year": day.year(), "month": day.month(),
        "line": line, "staff": 1 + kr % 4, "salaries": amount, "tax_withheld": (kr * 30 / 100).to_string(),
        "employer_contributions": (kr * 3142 / 10000).to_string(), "pension": pension.to_string(),
        "special_payroll_tax": (pension * 2426 / 10000).to_string(), "reference": "lönelista", "text": "månadslön"});
    if day.month() == 12 && kr >= 100 {
        let sign = if kr.is_multiple_of(2) { "" } else { "-" };
        v["vacation_pay_change"] = json!(format!("{sign}{}", kr / 10));
        v["vacation_pay_contributions"] = json!(format!("{sign}{}", kr * 3142 / 100000));
    }
    v
}

/// A random valid history of about `len` events over three förbund — every event type, corrections
/// of anything, outlooks, costs by line and by insats — for property tests here and in the
/// integration tests. Candidates are drawn freely and filtered through the ledger, so the
/// history is one the store would accept; the same seed gives the same history.
/// A valid history of about `len` events, with dates moving forward through 2023–2026.
pub fn random_history(seed: u64, len: usize) -> Vec<Event> {
    random_history_of(seed, len, |_| true)
}

/// A random valid history of the event types `keep` allows (corrections always allowed).
pub fn random_history_of(seed: u64, len: usize, keep: impl Fn(&str) -> bool) -> Vec<Event> {
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
        let kept = matches!(event.kind, finsam_domain::EventKind::EventCorrected { .. }) || keep(event.type_name());
        if kept && ledger.record(&event).is_ok() {
            events.push(event);
        }
    }
    events
}
