//! The books of one förbund and year as SIE 4E (everything) or 4I (the vouchers).

use crate::format::{item, render, Field, Item, Record, Ver};
use chrono::{Datelike, NaiveDate};
use finsam_domain::{Amount, Slug};
use finsam_projections::chart::{Chart, Role, Side};
use finsam_projections::projection::VoucherKind;
use finsam_projections::{At, Projection};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SieType {
    /// `.se`: accounts, objects, balances, results, budgets and vouchers.
    E4,
    /// `.si`: the vouchers only, for import into the main books.
    I4,
}

pub struct Export<'a> {
    pub projection: &'a Projection,
    pub chart: &'a Chart,
    pub forbund: &'a Slug,
    pub year: i32,
    pub kind: SieType,
    /// `#GEN`: finsam uses the recording date of the log's head, so that the same log always
    /// gives the same file.
    pub generated: NaiveDate,
    pub program_version: &'a str,
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

fn amount(a: Amount) -> String {
    format!("{:.2}", a.decimal())
}

fn ktyp(role: Role) -> &'static str {
    match role.side() {
        Side::Asset => "T",
        Side::Liability | Side::Equity => "S",
        Side::Cost => "K",
        Side::Income => "I",
    }
}

fn objects(insats: Option<&Slug>) -> Field {
    Field::Objects(insats.map(|i| vec![("6".to_string(), i.to_string())]).unwrap_or_default())
}

impl Export<'_> {
    pub fn render(&self) -> Result<Vec<u8>, String> {
        let p = self.projection;
        let f = self.forbund;
        let info = p.forbund.get(f).ok_or(format!("no förbund {f} is registered"))?;
        let (y, start, end) = (
            self.year,
            NaiveDate::from_ymd_opt(self.year, 1, 1).ok_or("a valid year")?,
            NaiveDate::from_ymd_opt(self.year, 12, 31).ok_or("a valid year")?,
        );
        let prev_start = NaiveDate::from_ymd_opt(y - 1, 1, 1).ok_or("a valid year")?;
        let prev_end = NaiveDate::from_ymd_opt(y - 1, 12, 31).ok_or("a valid year")?;
        let head = p.head;
        let mut items: Vec<Item> = vec![
            Item::Record(Record::new("#PROGRAM", vec![item("finsam"), item(self.program_version)])),
            Item::Record(Record::new("#FORMAT", vec![item("PC8")])),
            Item::Record(Record::new("#GEN", vec![item(ymd(self.generated))])),
            Item::Record(Record::new("#SIETYP", vec![item("4")])),
        ];
        if let Some(org) = &info.org_nr {
            items.push(Item::Record(Record::new("#ORGNR", vec![item(org.clone())])));
        }
        items.push(Item::Record(Record::new("#FNAMN", vec![item(info.name.clone())])));
        items.push(Item::Record(Record::new("#RAR", vec![item("0"), item(ymd(start)), item(ymd(end))])));
        let vouchers: Vec<_> = p.visible_vouchers(f, head, NaiveDate::MAX).filter(|v| v.year == y).collect();
        if self.kind == SieType::E4 {
            items.push(Item::Record(Record::new("#RAR", vec![item("-1"), item(ymd(prev_start)), item(ymd(prev_end))])));
            items.push(Item::Record(Record::new("#KPTYP", vec![item(self.chart.id.clone())])));
            // Every account the books of these two years use, and every budget line's.
            let mut roles: BTreeSet<Role> =
                p.visible_vouchers(f, u64::MAX, end).flat_map(|v| v.rows.into_iter().map(|r| r.role)).collect();
            let budget = p.budget_in_force(f, y, head, end);
            if let Some(b) = budget {
                roles.extend(b.costs.iter().map(|l| Role::Cost(l.category)));
            }
            let mut accounts: BTreeMap<String, (String, Role)> = BTreeMap::new();
            for role in &roles {
                let a = self.chart.account(*role);
                accounts.entry(a.number.clone()).or_insert((a.name.clone(), *role));
            }
            for (number, (name, _)) in &accounts {
                items.push(Item::Record(Record::new("#KONTO", vec![item(number.clone()), item(name.clone())])));
            }
            for (number, (_, role)) in &accounts {
                items.push(Item::Record(Record::new("#KTYP", vec![item(number.clone()), item(ktyp(*role))])));
            }
            items.push(Item::Record(Record::new("#DIM", vec![item("6"), item("Projekt")])));
            for i in p.insatser.iter().filter(|i| &i.forbund == f && i.seq <= head) {
                items.push(Item::Record(Record::new(
                    "#OBJEKT",
                    vec![item("6"), item(i.insats.to_string()), item(i.name.clone())],
                )));
            }
            // Opening and closing balances of the balance accounts, this year (0) and last (-1).
            let balance_at = |day: NaiveDate| -> BTreeMap<String, Amount> {
                let at = At { as_of: day, known_at: head };
                p.balances(f, at, self.chart)
                    .map(|b| b.accounts.into_iter().map(|a| (a.account, a.balance)).collect())
                    .unwrap_or_default()
            };
            let before_prev = balance_at(prev_start.pred_opt().ok_or("a valid date")?);
            let at_prev_end = balance_at(prev_end);
            let at_end = balance_at(end);
            let balance_accounts: Vec<&String> =
                accounts.iter().filter(|(_, (_, r))| !r.is_result()).map(|(n, _)| n).collect();
            for (label, year_no, map) in [
                ("#IB", "0", &at_prev_end),
                ("#UB", "0", &at_end),
                ("#IB", "-1", &before_prev),
                ("#UB", "-1", &at_prev_end),
            ] {
                for number in &balance_accounts {
                    let a = map.get(*number).copied().unwrap_or_default();
                    items.push(Item::Record(Record::new(
                        label,
                        vec![item(year_no), item((*number).clone()), item(amount(a))],
                    )));
                }
            }
            // The year's result per result account, before any closing entry.
            for (year_no, year) in [("0", y), ("-1", y - 1)] {
                let mut res: BTreeMap<String, Amount> = BTreeMap::new();
                for v in p
                    .visible_vouchers(f, head, NaiveDate::MAX)
                    .filter(|v| v.year == year && v.kind != VoucherKind::Closing)
                {
                    for r in v.rows.iter().filter(|r| r.role.is_result()) {
                        *res.entry(self.chart.account(r.role).number.clone()).or_default() += r.amount;
                    }
                }
                for (number, a) in res {
                    items.push(Item::Record(Record::new("#RES", vec![item(year_no), item(number), item(amount(a))])));
                }
            }
            // The budget per cost line, spread over the twelve months (December takes the öre).
            if let Some(b) = budget {
                for line in &b.costs {
                    let account = self.chart.account(Role::Cost(line.category)).number.clone();
                    let cents = (line.amount.decimal() * rust_decimal::Decimal::from(100)).trunc();
                    let month_cents = (cents / rust_decimal::Decimal::from(12)).floor();
                    for month in 1..=12u32 {
                        let c = if month == 12 {
                            cents - month_cents * rust_decimal::Decimal::from(11)
                        } else {
                            month_cents
                        };
                        let a = Amount::from_decimal(c / rust_decimal::Decimal::from(100));
                        if a.is_zero() {
                            continue;
                        }
                        items.push(Item::Record(Record::new(
                            "#PBUDGET",
                            vec![
                                item("0"),
                                item(format!("{y}{month:02}")),
                                item(account.clone()),
                                objects(line.insats.as_ref()),
                                item(amount(a)),
                            ],
                        )));
                    }
                }
            }
        }
        for v in &vouchers {
            let regdate =
                NaiveDate::parse_from_str(v.recorded_at.get(..10).unwrap_or(""), "%Y-%m-%d").unwrap_or(v.date);
            let head = Record::new(
                "#VER",
                vec![
                    item("A"),
                    item(v.number.to_string()),
                    item(ymd(v.date)),
                    item(v.text.clone()),
                    item(ymd(regdate)),
                    item(v.recorded_by.clone()),
                ],
            );
            let trans = v
                .rows
                .iter()
                .map(|r| {
                    Record::new(
                        "#TRANS",
                        vec![
                            item(self.chart.account(r.role).number.clone()),
                            objects(r.insats.as_ref()),
                            item(amount(r.amount)),
                        ],
                    )
                })
                .collect();
            items.push(Item::Ver(Ver { head, trans }));
        }
        let _ = start.year();
        Ok(render(&items))
    }
}
