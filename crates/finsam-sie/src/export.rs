//! The books of one förbund and year as SIE 4E (everything) or 4I (the vouchers).

use crate::format::{item, render, Field, Item, Record, Ver};
use chrono::NaiveDate;
use finsam_domain::event::{BudgetStatus, IncomeLine};
use finsam_domain::{Amount, Slug};
use finsam_projections::chart::{Chart, Role, Side};
use finsam_projections::projection::{BudgetRecord, Row, Voucher, VoucherKind};
use finsam_projections::Projection;
use rust_decimal::Decimal;
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

/// The SIE dimension of the members a contribution comes from (20 and up are free to use).
const MEMBER_DIMENSION: &str = "20";

/// A row's objects (dimension, object): its insats as a project (dimension 6), its member.
fn object_list(row: &Row) -> Vec<(String, String)> {
    let mut list = Vec::new();
    if let Some(i) = &row.insats {
        list.push(("6".to_string(), i.to_string()));
    }
    if let Some(m) = &row.member {
        list.push((MEMBER_DIMENSION.to_string(), m.to_string()));
    }
    list
}

fn objects(row: &Row) -> Field {
    Field::Objects(object_list(row))
}

/// `#PSALDO` of a year's vouchers: per month, the change on each account (`{}`) and on each of
/// its objects, debit positive; months without a change are left out, as SIE allows. With the
/// opening balance in `#IB`, `#IB` + Σ`#PSALDO {}` = `#UB` per balance account and
/// Σ`#PSALDO {}` = `#RES` per result account.
fn psaldo(year_no: &str, figures: &YearFigures, chart: &Chart) -> Vec<Item> {
    // (period, account, objects: none for the account as a whole, else one) -> change
    type Key = (String, String, Vec<(String, String)>);
    let mut by: BTreeMap<Key, Amount> = BTreeMap::new();
    for v in &figures.vouchers {
        let period = v.date.format("%Y%m").to_string();
        for r in &v.rows {
            let account = chart.account(r.role).number.clone();
            *by.entry((period.clone(), account.clone(), Vec::new())).or_default() += r.amount;
            for object in object_list(r) {
                *by.entry((period.clone(), account.clone(), vec![object])).or_default() += r.amount;
            }
        }
    }
    by.into_iter()
        .filter(|(_, a)| !a.is_zero())
        .map(|((period, account, objects), a)| {
            Item::Record(Record::new(
                "#PSALDO",
                vec![item(year_no), item(period), item(account), Field::Objects(objects), item(amount(a))],
            ))
        })
        .collect()
}

/// One year's figures as SIE states them: the opening balance (`#IB`) of every balance account,
/// the year's vouchers (`#VER`), and from them the closing balances (`#UB`) and the results
/// (`#RES`). The year's vouchers are those dated in it, except the opening balance (which is in
/// `#IB`) and the closing voucher (the result stays on the result accounts, as `#RES` shows it;
/// the next year's `#IB` carries it in equity). So for every year: Σ`#IB` = 0,
/// `#IB` + Σ`#TRANS` = `#UB` per balance account, Σ`#TRANS` = `#RES` per result account, and
/// Σ`#UB` + Σ`#RES` = 0.
struct YearFigures {
    ib: BTreeMap<String, Amount>,
    ub: BTreeMap<String, Amount>,
    res: BTreeMap<String, Amount>,
    vouchers: Vec<Voucher>,
}

impl Export<'_> {
    fn year_figures(&self, year: i32) -> Result<YearFigures, String> {
        let start = NaiveDate::from_ymd_opt(year, 1, 1).ok_or("a valid year")?;
        let equity = self.chart.account(Role::Equity).number.clone();
        let mut ib: BTreeMap<String, Amount> = BTreeMap::new();
        let mut vouchers = Vec::new();
        for v in self.projection.visible_vouchers(self.forbund, self.projection.head, NaiveDate::MAX) {
            if v.date < start || (v.year == year && v.is_opening()) {
                for r in &v.rows {
                    // A result not closed into equity is carried there all the same.
                    let account = if r.role.is_result() { &equity } else { &self.chart.account(r.role).number };
                    *ib.entry(account.clone()).or_default() += r.amount;
                }
            } else if v.year == year && v.kind != VoucherKind::Closing {
                vouchers.push(v);
            }
        }
        let (mut ub, mut res) = (ib.clone(), BTreeMap::new());
        for v in &vouchers {
            for r in &v.rows {
                let into = if r.role.is_result() { &mut res } else { &mut ub };
                *into.entry(self.chart.account(r.role).number.clone()).or_default() += r.amount;
            }
        }
        Ok(YearFigures { ib, ub, res, vouchers })
    }

    /// The budget as `#PBUDGET` rows: each line spread over the twelve months (December takes the
    /// öre), costs on their category's account with the insats as object, income on the members'
    /// contribution accounts by their shares (or on other income, see `income_accounts`), credit
    /// negative. One row per month, account and object, and one per month and account with `{}`.
    fn pbudget(&self, b: &BudgetRecord) -> Vec<Item> {
        let y = self.year;
        let mut parts: Vec<(String, Option<&Slug>, Amount)> = Vec::new();
        for line in &b.costs {
            parts.push((
                self.chart.account(Role::Cost(line.category)).number.clone(),
                line.insats.as_ref(),
                line.amount,
            ));
        }
        for line in &b.income {
            for (role, amount) in self.income_accounts(line) {
                parts.push((self.chart.account(role).number.clone(), None, -amount));
            }
        }
        let mut rows: BTreeMap<(u32, String, Option<&Slug>), Amount> = BTreeMap::new();
        for (account, insats, amount) in parts {
            let ore = amount.decimal() * Decimal::from(100);
            let month_ore = (ore / Decimal::from(12)).trunc();
            for month in 1..=12u32 {
                let share = if month == 12 { ore - month_ore * Decimal::from(11) } else { month_ore };
                let a = Amount::from_decimal(share / Decimal::from(100));
                *rows.entry((month, account.clone(), None)).or_default() += a;
                if insats.is_some() {
                    *rows.entry((month, account.clone(), insats)).or_default() += a;
                }
            }
        }
        rows.into_iter()
            .filter(|(_, a)| !a.is_zero())
            .map(|((month, account, insats), a)| {
                let objects = insats.map(|i| vec![("6".to_string(), i.to_string())]).unwrap_or_default();
                Item::Record(Record::new(
                    "#PBUDGET",
                    vec![
                        item("0"),
                        item(format!("{y}{month:02}")),
                        item(account),
                        Field::Objects(objects),
                        item(amount(a)),
                    ],
                ))
            })
            .collect()
    }

    /// Where a budgeted income line goes. A line on which other income was booked, or whose name
    /// begins with "Övrig", is other income; any other income line is the members'
    /// contributions, split by the shares of the members' kinds (staten, region, kommun; the
    /// last kind takes the öre).
    fn income_accounts(&self, line: &IncomeLine) -> Vec<(Role, Amount)> {
        let p = self.projection;
        let other = p.is_other_income_line(self.forbund, line);
        let members = p.forbund.get(self.forbund).map(|i| i.members.as_slice()).unwrap_or_default();
        if other || members.is_empty() {
            return vec![(Role::OtherIncome, line.amount)];
        }
        let mut by_kind: BTreeMap<Role, Decimal> = BTreeMap::new();
        for (_, _, kind, share) in members {
            *by_kind.entry(Role::Contribution(*kind)).or_default() += share.decimal();
        }
        let whole: Decimal = by_kind.values().sum();
        let mut out = Vec::new();
        let mut left = line.amount;
        let last = by_kind.len() - 1;
        for (i, (role, share)) in by_kind.into_iter().enumerate() {
            let a = if i == last {
                left
            } else {
                Amount::from_decimal((line.amount.decimal() * share / whole).round_dp(2))
            };
            left -= a;
            out.push((role, a));
        }
        out
    }

    /// `#DIM` for the projects (6, SIE's own) and the members (20), and an `#OBJEKT` for every
    /// insats and member of the förbund and for any other object the years' vouchers use (the
    /// insats of a förbund merged into this one, in the vouchers that took its books over), so
    /// that a reader finds every object of a `#TRANS` or `#PSALDO` declared.
    fn dimensions_and_objects(&self, years: &[&YearFigures]) -> Vec<Item> {
        let (p, f, head) = (self.projection, self.forbund, self.projection.head);
        let end = NaiveDate::from_ymd_opt(self.year, 12, 31).unwrap_or(NaiveDate::MAX);
        // The förbund's insatser (in the order created), its members, then any other object.
        let mut objects: Vec<((String, String), String)> = Vec::new();
        for i in p.insatser.iter().filter(|i| &i.forbund == f && i.seq <= head) {
            objects.push((("6".into(), i.insats.to_string()), i.name_at(end, head).to_string()));
        }
        if let Some(info) = p.forbund.get(f) {
            for (id, name, ..) in &info.members {
                objects.push(((MEMBER_DIMENSION.into(), id.to_string()), name.clone()));
            }
        }
        let mut declared: BTreeSet<(String, String)> = objects.iter().map(|(o, _)| o.clone()).collect();
        for r in years.iter().flat_map(|y| &y.vouchers).flat_map(|v| &v.rows) {
            for object in object_list(r) {
                if declared.insert(object.clone()) {
                    let insats = p.insatser.iter().find(|i| object.0 == "6" && i.insats.as_str() == object.1);
                    let name = insats.map_or_else(|| object.1.clone(), |i| i.name_at(end, head).to_string());
                    objects.push((object, name));
                }
            }
        }
        let mut items = vec![
            Item::Record(Record::new("#DIM", vec![item("6"), item("Projekt")])),
            Item::Record(Record::new("#DIM", vec![item(MEMBER_DIMENSION), item("Medlem")])),
        ];
        for ((dim, id), name) in objects {
            items.push(Item::Record(Record::new("#OBJEKT", vec![item(dim), item(id), item(name)])));
        }
        items
    }

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
        let this = self.year_figures(y)?;
        if self.kind == SieType::E4 {
            let last = self.year_figures(y - 1)?;
            items.push(Item::Record(Record::new("#RAR", vec![item("-1"), item(ymd(prev_start)), item(ymd(prev_end))])));
            // No #KPTYP: the specification allows only the BAS charts, and finsam's chart is its own.
            // Every account the books of these two years use, and every budget line's.
            let mut roles: BTreeSet<Role> =
                p.visible_vouchers(f, u64::MAX, end).flat_map(|v| v.rows.into_iter().map(|r| r.role)).collect();
            let budget = p.budget_in_force(f, y, head, end).filter(|b| b.status == BudgetStatus::Adopted);
            if let Some(b) = budget {
                roles.extend(b.costs.iter().map(|l| Role::Cost(l.category)));
                roles.extend(b.income.iter().flat_map(|l| self.income_accounts(l)).map(|(role, _)| role));
            }
            if !roles.is_empty() {
                roles.insert(Role::Equity);
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
            items.extend(self.dimensions_and_objects(&[&this, &last]));
            let balance_accounts: Vec<&String> =
                accounts.iter().filter(|(_, (_, r))| !r.is_result()).map(|(n, _)| n).collect();
            for (label, year_no, map) in
                [("#IB", "0", &this.ib), ("#UB", "0", &this.ub), ("#IB", "-1", &last.ib), ("#UB", "-1", &last.ub)]
            {
                for number in &balance_accounts {
                    let a = map.get(*number).copied().unwrap_or_default();
                    items.push(Item::Record(Record::new(
                        label,
                        vec![item(year_no), item((*number).clone()), item(amount(a))],
                    )));
                }
            }
            for (year_no, figures) in [("0", &this), ("-1", &last)] {
                for (number, a) in &figures.res {
                    items.push(Item::Record(Record::new(
                        "#RES",
                        vec![item(year_no), item(number.clone()), item(amount(*a))],
                    )));
                }
            }
            for (year_no, figures) in [("0", &this), ("-1", &last)] {
                items.extend(psaldo(year_no, figures, self.chart));
            }
            if let Some(b) = budget {
                items.extend(self.pbudget(b));
            }
        } else {
            // A 4I file may leave its accounts and objects undeclared, but SIE recommends
            // declaring what the vouchers use, so that the importing books need not have them.
            let mut accounts: BTreeMap<String, String> = BTreeMap::new();
            for r in this.vouchers.iter().flat_map(|v| &v.rows) {
                let a = self.chart.account(r.role);
                accounts.entry(a.number.clone()).or_insert(a.name.clone());
            }
            for (number, name) in accounts {
                items.push(Item::Record(Record::new("#KONTO", vec![item(number), item(name)])));
            }
            items.extend(self.dimensions_and_objects(&[&this]));
        }
        for v in &this.vouchers {
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
                        vec![item(self.chart.account(r.role).number.clone()), objects(r), item(amount(r.amount))],
                    )
                })
                .collect();
            items.push(Item::Ver(Ver { head, trans }));
        }
        Ok(render(&items))
    }
}
