//! A deterministic generator of valid event logs of a realistic shape, for benchmarks and
//! tests at national scale: per förbund its registration and opening balance, insatser, a
//! yearly budget of 10–20 lines with grants, monthly contributions from every member, weekly
//! costs per insats, an occasional correction, year-end closes, and now and then a merger.
//! The same parameters always give the same events. Every event is checked by the ledger as
//! it is generated: a refusal is a bug in the generator and stops it.

use chrono::{Datelike, Duration, NaiveDate};
use finsam_domain::{Event, Ledger};
use serde_json::{json, Value};

pub mod bank;
mod random;
pub use random::{random_history, random_history_of};

/// SplitMix64: small, fast, seedable, and the same on every machine. Shared by the generator
/// and by the tests that draw random histories, kills and mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in 0..n (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

pub struct Params {
    pub forbund: u32,
    pub years: u32,
    pub seed: u64,
}

/// The first year of generated books.
pub const FIRST_YEAR: i32 = 2005;

struct Forbund {
    id: String,
    members: Vec<(String, u32)>, // (id, share in ten-thousandths)
    insatser: Vec<String>,
    /// Öre, to keep the generator's arithmetic exact.
    equity_ore: i64,
    dissolved: bool,
    merging_into: Option<usize>,
}

fn kr(ore: i64) -> String {
    if ore % 100 == 0 {
        (ore / 100).to_string()
    } else {
        format!("{}.{:02}", ore / 100, (ore % 100).abs())
    }
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

fn decision(date: NaiveDate) -> Value {
    json!({"body": "styrelsen", "date": date.to_string()})
}

/// Generates the events, calling `emit` for each one in recording order.
pub fn generate(params: &Params, emit: &mut dyn FnMut(&Event)) {
    let mut rng = Rng::new(params.seed ^ 0x5EED_F1A5);
    let mut ledger = Ledger::new();
    let mut record = |v: Value, emit: &mut dyn FnMut(&Event)| -> u64 {
        let event = Event::from_json(&v).unwrap_or_else(|r| panic!("generator: malformed event: {r}\n{v}"));
        let seq = ledger.record(&event).unwrap_or_else(|r| panic!("generator: the ledger refuses: {r}\n{v}"));
        emit(&event);
        seq
    };
    let start = day(FIRST_YEAR, 1, 1);
    let mut all: Vec<Forbund> = Vec::new();
    for i in 0..params.forbund {
        let kommuner = [1u32, 2, 4, 5][rng.below(4) as usize];
        let mut members = vec![
            ("forsakringskassan".to_string(), 2500),
            ("arbetsformedlingen".to_string(), 2500),
            ("region".to_string(), 2500),
        ];
        for k in 0..kommuner {
            members.push((format!("kommun-{}", k + 1), 2500 / kommuner));
        }
        let id = format!("sf-gen-{:03}", i + 1);
        let member_json: Vec<Value> = members
            .iter()
            .enumerate()
            .map(|(n, (m, share))| {
                let kind = match n {
                    0 | 1 => "staten",
                    2 => "region",
                    _ => "kommun",
                };
                json!({"id": m, "name": m, "kind": kind, "share": format!("0.{share:04}")})
            })
            .collect();
        record(
            json!({"type": "ForbundRegistered", "forbund": id, "date": start.to_string(), "name": format!("Samordningsförbundet Gen {}", i + 1), "members": member_json}),
            emit,
        );
        let equity = (1_000_000 + rng.below(4_000_000) as i64) * 100;
        record(
            json!({"type": "OpeningBalanceRecorded", "forbund": id, "date": start.to_string(), "equity": kr(equity), "bank": kr(equity)}),
            emit,
        );
        let n_insatser = 7 + rng.below(6) as usize;
        let mut insatser = Vec::new();
        for k in 0..n_insatser {
            let insats = format!("insats-{}", k + 1);
            let category = if k % 3 == 2 { "struktur" } else { "individ" };
            record(
                json!({"type": "InsatsCreated", "forbund": id, "date": start.to_string(), "insats": insats, "name": format!("Insats {}", k + 1), "category": category, "decision": decision(start)}),
                emit,
            );
            insatser.push(insats);
        }
        all.push(Forbund { id, members, insatser, equity_ore: equity, dissolved: false, merging_into: None });
    }
    // Every 25th förbund (from the 10th) merges into its neighbour after a few years.
    let merge_year = FIRST_YEAR + (params.years as i32 / 2).max(1);
    for i in (9..all.len()).step_by(25) {
        if i + 1 < all.len() {
            all[i].merging_into = Some(i + 1);
        }
    }
    for y in FIRST_YEAR..FIRST_YEAR + params.years as i32 {
        for f in 0..all.len() {
            if all[f].dissolved {
                continue;
            }
            let id = all[f].id.clone();
            if y > FIRST_YEAR {
                let close = day(y, 2, 15);
                record(
                    json!({"type": "YearClosed", "forbund": id, "date": close.to_string(), "year": y - 1, "decision": decision(close)}),
                    emit,
                );
            }
            if let Some(into) = all[f].merging_into {
                if y == merge_year + 1 {
                    // The merger took effect on 1 January: equity moves, the old förbund dissolves.
                    let into_id = all[into].id.clone();
                    let amount = all[f].equity_ore;
                    if amount > 0 {
                        record(
                            json!({"type": "EquityTransferred", "forbund": into_id, "date": day(y, 1, 1).to_string(), "from": id, "amount": kr(amount), "reference": format!("Bokslut {} {id}", y - 1)}),
                            emit,
                        );
                        all[into].equity_ore += amount;
                    }
                    for insats in all[f].insatser.clone() {
                        let new = format!("{insats}-fran-{}", &id[7..]);
                        record(
                            json!({"type": "InsatsCreated", "forbund": into_id, "date": day(y, 1, 2).to_string(), "insats": new, "name": format!("{insats} (från {id})"), "category": "individ", "continues": {"forbund": id, "insats": insats}, "decision": decision(day(y, 1, 2))}),
                            emit,
                        );
                        all[into].insatser.push(new);
                    }
                    record(
                        json!({"type": "ForbundDissolved", "forbund": id, "date": day(y, 3, 1).to_string(), "merged_into": into_id, "decision": decision(day(y, 3, 1))}),
                        emit,
                    );
                    all[f].dissolved = true;
                    continue;
                }
            }
            let fb = &all[f];
            let contributions_ore: i64 = (8_000_000 + rng.below(12_000_000) as i64) * 100;
            let mut lines: Vec<Value> = Vec::new();
            let mut line_ids: Vec<(String, Option<String>, i64)> = Vec::new();
            let mut costs_total = 0i64;
            let mut by_category = std::collections::BTreeMap::<&str, i64>::new();
            for (n, insats) in fb.insatser.iter().enumerate() {
                let amount = contributions_ore / (fb.insatser.len() as i64 + 3) / 100 * 100;
                let category = if n % 3 == 2 { "struktur" } else { "individ" };
                lines.push(
                    json!({"id": insats, "name": insats, "category": category, "insats": insats, "amount": kr(amount)}),
                );
                line_ids.push((insats.clone(), Some(insats.clone()), amount));
                costs_total += amount;
                *by_category.entry(category).or_default() += amount;
            }
            let extra = 10 + rng.below(11) as usize; // 10–20 lines in all
            for n in lines.len()..extra.max(lines.len() + 2) {
                let amount = (20_000 + rng.below(200_000) as i64) * 100;
                let category = if n % 2 == 0 { "admin" } else { "struktur" };
                let lid = format!("rad-{}", n + 1);
                lines.push(json!({"id": lid, "name": lid, "category": category, "amount": kr(amount)}));
                line_ids.push((lid, None, amount));
                costs_total += amount;
                *by_category.entry(category).or_default() += amount;
            }
            let by_category = |c: &str| by_category.get(c).copied().unwrap_or_default();
            let stated = json!({"costs_total": kr(costs_total), "income_total": kr(contributions_ore), "result": kr(contributions_ore - costs_total),
                "by_category": {"admin": kr(by_category("admin")), "individ": kr(by_category("individ")), "struktur": kr(by_category("struktur"))}});
            let bdate = day(y, 1, 3);
            record(
                json!({"type": "BudgetAdopted", "forbund": id, "date": bdate.to_string(), "year": y, "decision": decision(bdate),
                "income": [{"id": "medlemsbidrag", "name": "Medlemsbidrag", "amount": kr(contributions_ore)}], "costs": lines, "stated": stated}),
                emit,
            );
            for (_, insats, amount) in &line_ids {
                if let Some(insats) = insats {
                    record(
                        json!({"type": "FundingGranted", "forbund": id, "date": day(y, 1, 10).to_string(), "insats": insats, "year": y, "amount": kr(*amount), "decision": decision(day(y, 1, 10))}),
                        emit,
                    );
                }
            }
            // Monthly contributions from every member.
            let members = all[f].members.clone();
            for (m, share) in &members {
                let yearly = contributions_ore * *share as i64 / 10_000;
                let monthly = yearly / 12;
                for month in 1..=12u32 {
                    let amount = if month == 12 { yearly - 11 * monthly } else { monthly };
                    record(
                        json!({"type": "ContributionReceived", "forbund": id, "date": day(y, month, 25).to_string(), "member": m, "year": y, "amount": kr(amount), "reference": format!("Bidrag {y}-{month:02} {m}")}),
                        emit,
                    );
                }
                all[f].equity_ore += yearly;
            }
            // Weekly costs per insats, a little under budget; the other lines quarterly.
            let mut spent = 0i64;
            let mut last_cost = (0u64, 0i64);
            for (lid, insats, amount) in &line_ids {
                match insats {
                    Some(_) => {
                        let weekly = amount * 95 / 100 / 52;
                        for week in 0..52i64 {
                            let date = day(y, 1, 4) + Duration::days(week * 7);
                            if date.year() != y {
                                break;
                            }
                            let a = weekly - rng.below(100) as i64 * 100;
                            let seq = record(
                                json!({"type": "CostRecorded", "forbund": id, "date": date.to_string(), "year": y, "line": lid, "amount": kr(a), "reference": format!("F{y}-{week:02}-{lid}"), "text": format!("Vecka {} {lid}", week + 1)}),
                                emit,
                            );
                            spent += a;
                            last_cost = (seq, a);
                        }
                    }
                    None => {
                        let quarterly = amount * 90 / 100 / 4;
                        for q in 0..4u32 {
                            record(
                                json!({"type": "CostRecorded", "forbund": id, "date": day(y, 3 * q + 3, 20).to_string(), "year": y, "line": lid, "amount": kr(quarterly), "reference": format!("F{y}-Q{}-{lid}", q + 1), "text": format!("Kvartal {} {lid}", q + 1)}),
                                emit,
                            );
                            spent += quarterly;
                        }
                    }
                }
            }
            // Every other year a correction: the last weekly invoice turns out to be someone else's.
            if rng.below(2) == 0 && last_cost.0 > 0 {
                record(
                    json!({"type": "EventCorrected", "forbund": id, "date": day(y, 12, 30).to_string(), "corrects": last_cost.0,
                    "reason": "Fakturan gällde en annan verksamhet", "decision": decision(day(y, 12, 30))}),
                    emit,
                );
                spent -= last_cost.1;
            }
            all[f].equity_ore -= spent;
            if all[f].merging_into.is_some() && y == merge_year {
                let into = all[f].merging_into.expect("set");
                let into_id = all[into].id.clone();
                let estimate = all[f].equity_ore;
                let md = day(y, 6, 1);
                record(
                    json!({"type": "MergerDecided", "forbund": into_id, "date": md.to_string(), "merging": [id], "effective": day(y + 1, 1, 1).to_string(),
                    "estimated_transfers": [{"from": id, "amount": kr(estimate.max(0))}], "decision": decision(md)}),
                    emit,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_parameters_give_the_same_valid_log() {
        let params = Params { forbund: 12, years: 3, seed: 7 };
        let mut a = Vec::new();
        generate(&params, &mut |e| a.push(serde_json::to_string(&e.to_json()).unwrap()));
        let mut b = Vec::new();
        generate(&params, &mut |e| b.push(serde_json::to_string(&e.to_json()).unwrap()));
        assert_eq!(a, b);
        // 12 förbund × 3 years: registrations, budgets, grants, contributions, weekly costs …
        assert!(a.len() > 12 * 3 * 400, "{} events", a.len());
        for kind in [
            "BudgetAdopted",
            "ContributionReceived",
            "CostRecorded",
            "EventCorrected",
            "YearClosed",
            "MergerDecided",
            "EquityTransferred",
            "ForbundDissolved",
        ] {
            assert!(a.iter().any(|l| l.contains(&format!("\"type\":\"{kind}\""))), "the log has a {kind}");
        }
        let mut c = Vec::new();
        generate(&Params { seed: 8, ..params }, &mut |e| c.push(serde_json::to_string(&e.to_json()).unwrap()));
        assert_ne!(a, c, "another seed, another log");
        // "Valid" as a store would see it: each line read back from its text and recorded by a
        // fresh ledger, in order, with no refusal.
        for log in [&a, &c] {
            let mut ledger = Ledger::new();
            for (i, line) in log.iter().enumerate() {
                let value: Value = serde_json::from_str(line).unwrap();
                let event = Event::from_json(&value).unwrap_or_else(|r| panic!("line {}: {r}", i + 1));
                if let Err(r) = ledger.record(&event) {
                    panic!("line {} is refused by a fresh ledger: {r}\n{line}", i + 1);
                }
            }
            assert_eq!(ledger.head(), log.len() as u64);
        }
    }
}
