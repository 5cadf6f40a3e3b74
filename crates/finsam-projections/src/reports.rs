//! The reports: pure functions of the projection, a chart, a förbund and the two time axes.

use crate::chart::{Chart, Role, Side};
use crate::projection::{BudgetRecord, Projection, Voucher, VoucherKind};
use crate::totals::{Totals, TotalsView};
use chrono::{Datelike, NaiveDate};
use finsam_domain::{Amount, Category, Event, EventKind, Slug};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// The two time axes of every report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    /// Effective date: entries dated after it are not counted.
    pub as_of: NaiveDate,
    /// Recording position: entries recorded after this seq are not known.
    pub known_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountBalance {
    pub account: String,
    pub name: String,
    pub balance: Amount,
}

/// The trial balance and key figures of one förbund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balances {
    pub forbund: Slug,
    pub name: String,
    pub at: At,
    pub bank: Amount,
    /// Net assets: positive when the förbund has capital, including the year's result so far.
    pub equity: Amount,
    /// The year of `as_of`, up to `as_of`, closing entries excluded.
    pub income: Amount,
    pub costs: Amount,
    pub result: Amount,
    /// Debit positive; every account with an entry, by account number. Sums to zero.
    pub accounts: Vec<AccountBalance>,
    pub vouchers: usize,
}

/// What the balances are made of: every role's sum, the year's income and costs, the vouchers.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    by_role: BTreeMap<Role, Amount>,
    income: Amount,
    costs: Amount,
    vouchers: usize,
}

impl Tally {
    fn add(&mut self, role: Role, amount: Amount, this_year: Amount) {
        *self.by_role.entry(role).or_default() += amount;
        match role.side() {
            Side::Income => self.income -= this_year,
            Side::Cost => self.costs += this_year,
            _ => {}
        }
    }

    /// The tally of a förbund's totals per day, up to `as_of`: the same as that of its vouchers
    /// known at the head (the totals are kept from exactly those vouchers).
    fn of_totals(totals: &Totals, f: &Slug, as_of: NaiveDate) -> Tally {
        let mut tally = Tally::default();
        let Some(days) = totals.get(f) else {
            return tally;
        };
        for (date, day) in days.range(..=as_of) {
            tally.vouchers += day.vouchers as usize;
            let this_year = date.year() == as_of.year();
            for t in &day.roles {
                tally.add(t.role, t.amount, if this_year { t.amount - t.closing } else { Amount::ZERO });
            }
        }
        tally
    }

    fn finish(self, f: &Slug, name: &str, at: At, chart: &Chart) -> Balances {
        let Tally { by_role, income, costs, vouchers } = self;
        let mut by_account: BTreeMap<String, AccountBalance> = BTreeMap::new();
        for (role, amount) in &by_role {
            let account = chart.account(*role);
            by_account
                .entry(account.number.clone())
                .or_insert_with(|| AccountBalance {
                    account: account.number.clone(),
                    name: account.name.clone(),
                    balance: Amount::ZERO,
                })
                .balance += *amount;
        }
        let accounts: Vec<AccountBalance> = by_account.into_values().collect();
        let total: Amount = accounts.iter().map(|a| a.balance).sum();
        assert!(total.is_zero(), "the trial balance of {f} sums to {total}, not zero");
        let role_sum = |pred: &dyn Fn(Role) -> bool| -> Amount {
            by_role.iter().filter(|(r, _)| pred(**r)).map(|(_, a)| *a).sum()
        };
        let bank = role_sum(&|r| r == Role::Bank);
        let equity = -role_sum(&|r| matches!(r.side(), Side::Equity | Side::Income | Side::Cost));
        Balances {
            forbund: f.clone(),
            name: name.to_string(),
            at,
            bank,
            equity,
            income,
            costs,
            result: income - costs,
            accounts,
            vouchers,
        }
    }
}

impl TotalsView {
    /// The balances of a förbund as of a date, as known at the head.
    pub fn balances(&self, f: &Slug, as_of: NaiveDate, chart: &Chart) -> Option<Balances> {
        let info = self.forbund.get(f)?;
        let tally = Tally::of_totals(&self.totals, f, as_of);
        Some(tally.finish(f, &info.name, At { as_of, known_at: self.head }, chart))
    }
}

impl Projection {
    /// The trial balance and key figures. As known at the head, they come from the totals per
    /// day; as known at an earlier seq, from the vouchers recorded up to it.
    pub fn balances(&self, f: &Slug, at: At, chart: &Chart) -> Option<Balances> {
        let info = self.forbund.get(f)?;
        let tally = if at.known_at >= self.head {
            Tally::of_totals(self.totals(), f, at.as_of)
        } else {
            self.tally_of_vouchers(f, at)
        };
        Some(tally.finish(f, info.name_known_at(at.known_at), at, chart))
    }

    /// The balances from the vouchers alone, whatever `known_at` (the totals' twin, for tests).
    pub fn balances_from_vouchers(&self, f: &Slug, at: At, chart: &Chart) -> Option<Balances> {
        let info = self.forbund.get(f)?;
        Some(self.tally_of_vouchers(f, at).finish(f, info.name_known_at(at.known_at), at, chart))
    }

    fn tally_of_vouchers(&self, f: &Slug, at: At) -> Tally {
        let mut tally = Tally::default();
        for v in self.visible_vouchers(f, at.known_at, at.as_of) {
            tally.vouchers += 1;
            let this_year = v.date.year() == at.as_of.year() && v.kind != VoucherKind::Closing;
            for row in &v.rows {
                tally.add(row.role, row.amount, if this_year { row.amount } else { Amount::ZERO });
            }
        }
        tally
    }

    /// The vouchers behind one account's balance, in date order (registration order breaks
    /// ties, as it does on a bank statement), with the running balance.
    pub fn explain(&self, f: &Slug, account: &str, at: At, chart: &Chart) -> Vec<(Voucher, Amount, Amount)> {
        let roles = chart.roles_of(account);
        let mut touching: Vec<Voucher> = self
            .visible_vouchers(f, at.known_at, at.as_of)
            .filter(|v| v.rows.iter().any(|r| roles.contains(&r.role)))
            .collect();
        touching.sort_by_key(|v| v.date); // stable: seq and number order within a day
        let mut running = Amount::ZERO;
        touching
            .into_iter()
            .map(|v| {
                let amount: Amount = v.rows.iter().filter(|r| roles.contains(&r.role)).map(|r| r.amount).sum();
                running += amount;
                (v, amount, running)
            })
            .collect()
    }

    /// The event whose decision authorised a voucher booked from `event` (recorded at the
    /// voucher's seq), when the event carries no decision of its own: for a cost on an insats,
    /// the latest grant to that insats for the cost's year recorded before it and not
    /// corrected; for any other cost, a contribution or other income, the budget in force for
    /// its year when it was recorded; for a payment of an invoice, what authorised the invoice;
    /// for a transfer of equity or a takeover, the merger decided into the receiving förbund. `None` when the event has its own decision or nothing authorised it
    /// (an opening balance).
    pub fn authorised_by(&self, v: &Voucher, event: &Event) -> Option<u64> {
        use EventKind::*;
        if event.kind.decision().is_some() {
            return None;
        }
        let f = &event.forbund;
        match &event.kind {
            CostRecorded { year, .. } | InvoiceReceived { year, .. } => {
                self.cost_authority(f, *year, v.rows.iter().find_map(|r| r.insats.as_ref()), v.seq)
            }
            // A payment of an invoice: what authorised the invoice (in the books it arrived in,
            // which for an invoice taken over in a merger are the old förbund's).
            InvoicePaid { invoice, .. } => {
                let arrived = self.invoice(f, invoice)?;
                let original = self.vouchers_of(arrived.seq).into_iter().next()?;
                let insats = original.rows.iter().find_map(|r| r.insats.clone());
                self.cost_authority(&original.forbund, arrived.year, insats.as_ref(), arrived.seq)
            }
            ContributionReceived { year, .. } | OtherIncomeRecorded { year, .. } | AccrualRecorded { year, .. } => {
                self.budget_in_force(f, *year, v.seq, NaiveDate::MAX).map(|b| b.seq)
            }
            EquityTransferred { from, .. } | BalancesTakenOver { from, .. } => self
                .mergers
                .iter()
                .filter(|m| &m.forbund == f && m.merging.contains(from) && m.seq < v.seq)
                .map(|m| m.seq)
                .max(),
            _ => None,
        }
    }

    /// What authorised a cost of förbund `f` for `year` recorded at `seq`: the latest grant to
    /// its insats for the year recorded before it and not corrected then, else the budget in
    /// force for the year.
    fn cost_authority(&self, f: &Slug, year: i32, insats: Option<&Slug>, seq: u64) -> Option<u64> {
        let grant = insats.and_then(|i| {
            self.grants_of(f, i, year)
                .filter(|g| {
                    g.seq < seq && g.amount.is_positive() && self.corrected.get(&g.seq).is_none_or(|(by, _)| *by >= seq)
                })
                .map(|g| g.seq)
                .max()
        });
        grant.or_else(|| self.budget_in_force(f, year, seq, NaiveDate::MAX).map(|b| b.seq))
    }
}

/// One cost line of the budget position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinePosition {
    pub id: Slug,
    pub name: String,
    pub category: Category,
    pub insats: Option<Slug>,
    pub budget: Amount,
    pub granted: Amount,
    pub spent: Amount,
}

impl LinePosition {
    pub fn remaining(&self) -> Amount {
        self.budget - self.spent
    }

    /// Whether grants are decided against this line: a line that names an insats, or any line
    /// for insatser (individ, struktur — "Ofördelade utvecklingsmedel" are granted later). An
    /// admin line without an insats (styrelse, kansli) is spent without a grant.
    pub fn takes_grants(&self) -> bool {
        self.insats.is_some() || self.category != Category::Admin
    }

    /// The budget not yet granted, for a line that takes grants; `None` for one that does not.
    pub fn uncommitted(&self) -> Option<Amount> {
        self.takes_grants().then(|| self.budget - self.granted)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryPosition {
    pub category: Category,
    pub budget: Amount,
    pub granted: Amount,
    pub spent: Amount,
}

/// The sum of the lines' `uncommitted`, over the lines that take grants; `None` when none does.
pub fn uncommitted_of<'a>(lines: impl IntoIterator<Item = &'a LinePosition>) -> Option<Amount> {
    lines.into_iter().filter_map(LinePosition::uncommitted).reduce(|a, b| a + b)
}

/// A printed share, as a fraction rounded to 4 decimals (0.1358 = 13.58 %).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shares {
    pub admin_of_costs: Option<Decimal>,
    pub individ_of_direct: Option<Decimal>,
    pub struktur_of_direct: Option<Decimal>,
}

/// Where a year's budget stands: per line budget, granted, spent; totals; income; result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetPosition {
    /// The flerårsplan: this year's budget and the two years after it as planned (the budget or
    /// the plan's outlook in force for each, as known), the years that have one.
    pub plan: Vec<PlanYear>,
    pub forbund: Slug,
    pub year: i32,
    pub at: At,
    pub budget_seq: u64,
    pub status: finsam_domain::event::BudgetStatus,
    pub decision: finsam_domain::Decision,
    pub lines: Vec<LinePosition>,
    /// Costs recorded in the year on no line of the budget (by insats only, on an insats no
    /// line names).
    pub unbudgeted_spent: Amount,
    pub by_category: Vec<CategoryPosition>,
    pub costs_total: Amount,
    pub income_budget: Amount,
    pub income_received: Amount,
    /// Budgeted income − budgeted costs.
    pub result: Amount,
    pub opening_equity: Amount,
    /// Where the opening equity comes from: "stated" (printed in the plan) or "booked".
    pub opening_equity_source: &'static str,
    pub transfers_in: Amount,
    /// opening equity + result + transfers in.
    pub closing_equity: Amount,
    pub shares: Shares,
}

/// One year of a flerårsplan: its budget or the plan's outlook for it, summed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanYear {
    pub year: i32,
    pub status: finsam_domain::event::BudgetStatus,
    pub seq: u64,
    pub date: chrono::NaiveDate,
    pub income: Amount,
    /// The costs per category, every category in order.
    pub by_category: Vec<(Category, Amount)>,
    pub costs: Amount,
}

impl PlanYear {
    pub fn result(&self) -> Amount {
        self.income - self.costs
    }
}

pub(crate) fn share(part: Amount, whole: Amount) -> Option<Decimal> {
    if whole.is_zero() {
        None
    } else {
        Some((part.decimal() / whole.decimal()).round_dp(4))
    }
}

impl Projection {
    /// The vouchers behind a budget line's utfall (`BudgetPosition`'s `spent`): the year's
    /// vouchers with cost rows on the line, in date order, with the line's amount in each and the
    /// running sum, which ends at the line's utfall. `None` when the year has no budget in force
    /// or the budget no such line.
    pub fn line_vouchers(&self, f: &Slug, year: i32, line: &Slug, at: At) -> Option<Vec<(Voucher, Amount, Amount)>> {
        let position = self.budget_position(f, year, at)?;
        let index = position.lines.iter().position(|l| &l.id == line)?;
        let mut touching: Vec<(Voucher, Amount)> = self
            .visible_vouchers_of_year(f, at.known_at, at.as_of, year)
            .filter(|v| v.kind != VoucherKind::Closing)
            .filter_map(|v| {
                let on_line = |r: &&crate::projection::Row| {
                    r.role.side() == Side::Cost && line_of(r, &position.lines) == Some(index)
                };
                let amount: Amount = v.rows.iter().filter(on_line).map(|r| r.amount).sum();
                v.rows.iter().any(|r| on_line(&r)).then_some((v, amount))
            })
            .collect();
        touching.sort_by_key(|(v, _)| v.date); // stable: seq and number order within a day
        let mut running = Amount::ZERO;
        let entries: Vec<(Voucher, Amount, Amount)> = touching
            .into_iter()
            .map(|(v, amount)| {
                running += amount;
                (v, amount, running)
            })
            .collect();
        assert_eq!(running, position.lines[index].spent, "the vouchers of {line} sum to its utfall");
        Some(entries)
    }

    pub fn budget_position(&self, f: &Slug, year: i32, at: At) -> Option<BudgetPosition> {
        self.budget_position_given(f, year, at, None)
    }

    /// `budget_position` with what the caller has read already for every year (`Given`): a run
    /// over many years then reads the history once, not once a year.
    pub fn budget_position_given(
        &self,
        f: &Slug,
        year: i32,
        at: At,
        given: Option<Given<'_>>,
    ) -> Option<BudgetPosition> {
        let budget: &BudgetRecord = self.budget_in_force(f, year, at.known_at, at.as_of)?;
        let grants_of = |insats: &Slug| -> Amount {
            self.grants_of(f, insats, year)
                .filter(|g| g.seq <= at.known_at && g.date <= at.as_of)
                .map(|g| g.amount)
                .sum()
        };
        let mut lines: Vec<LinePosition> = budget
            .costs
            .iter()
            .map(|l| LinePosition {
                id: l.id.clone(),
                name: l.name.clone(),
                category: l.category,
                insats: l.insats.clone(),
                budget: l.amount,
                granted: Amount::ZERO,
                spent: Amount::ZERO,
            })
            .collect();
        // A grant belongs to the first line that names its insats.
        let mut granted_seen: Vec<&Slug> = Vec::new();
        for line in lines.iter_mut() {
            if let Some(insats) = &line.insats {
                if !granted_seen.contains(&insats) {
                    line.granted = grants_of(insats);
                    granted_seen.push(insats);
                }
            }
        }
        let mut unbudgeted_spent = Amount::ZERO;
        let mut income_received = Amount::ZERO;
        let mut add = |v: &Voucher| {
            if v.kind == VoucherKind::Closing {
                return;
            }
            for row in &v.rows {
                match row.role.side() {
                    Side::Cost => match line_of(row, &lines) {
                        Some(i) => lines[i].spent += row.amount,
                        None => unbudgeted_spent += row.amount,
                    },
                    Side::Income => income_received -= row.amount,
                    _ => {}
                }
            }
        };
        match &given {
            Some(g) => g.vouchers.iter().filter(|v| v.date.year() == year && v.date <= at.as_of).for_each(&mut add),
            None => self.visible_vouchers_of_year(f, at.known_at, at.as_of, year).for_each(|v| add(&v)),
        }
        let by_category: Vec<CategoryPosition> = Category::ALL
            .iter()
            .map(|c| {
                let of = |pick: fn(&LinePosition) -> Amount| lines.iter().filter(|l| l.category == *c).map(pick).sum();
                CategoryPosition {
                    category: *c,
                    budget: of(|l| l.budget),
                    granted: of(|l| l.granted),
                    spent: of(|l| l.spent),
                }
            })
            .collect();
        let costs_total: Amount = lines.iter().map(|l| l.budget).sum();
        let income_budget: Amount = budget.income.iter().map(|l| l.amount).sum();
        let transfers_in: Amount = budget.transfers.iter().map(|t| t.amount).sum();
        let (opening_equity, opening_equity_source) = match budget.stated.as_ref().and_then(|s| s.opening_equity) {
            Some(stated) => (stated, "stated"),
            None => (given.map_or_else(|| self.opening_equity_booked(f, year, at), |g| g.opening), "booked"),
        };
        let result = income_budget - costs_total;
        let category = |c: Category| by_category.iter().find(|p| p.category == c).map_or(Amount::ZERO, |p| p.budget);
        let direct = category(Category::Individ) + category(Category::Struktur);
        let plan = (year..=year + 2)
            .filter_map(|y| self.budget_in_force(f, y, at.known_at, at.as_of))
            .map(|b| PlanYear {
                year: b.year,
                status: b.status,
                seq: b.seq,
                date: b.date,
                income: b.income.iter().map(|l| l.amount).sum(),
                by_category: Category::ALL
                    .iter()
                    .map(|c| (*c, b.costs.iter().filter(|l| l.category == *c).map(|l| l.amount).sum()))
                    .collect(),
                costs: b.costs.iter().map(|l| l.amount).sum(),
            })
            .collect();
        Some(BudgetPosition {
            plan,
            forbund: f.clone(),
            year,
            at,
            budget_seq: budget.seq,
            status: budget.status,
            decision: budget.decision.clone(),
            lines,
            unbudgeted_spent,
            costs_total,
            income_budget,
            income_received,
            result,
            opening_equity,
            opening_equity_source,
            transfers_in,
            closing_equity: opening_equity + result + transfers_in,
            shares: Shares {
                admin_of_costs: share(category(Category::Admin), costs_total),
                individ_of_direct: share(category(Category::Individ), direct),
                struktur_of_direct: share(category(Category::Struktur), direct),
            },
            by_category,
        })
    }

    /// Equity booked before the year began, plus opening balances dated within the year (books
    /// that begin mid-life open with them). Transfers in are left out: the budget counts them.
    fn opening_equity_booked(&self, f: &Slug, year: i32, at: At) -> Amount {
        let start = NaiveDate::from_ymd_opt(year, 1, 1).expect("a valid year");
        let mut equity = Amount::ZERO;
        for v in self.visible_vouchers(f, at.known_at, NaiveDate::from_ymd_opt(year, 12, 31).expect("valid")) {
            let opening = v.is_opening();
            if v.date < start || (opening && v.year == year) {
                equity -= v
                    .rows
                    .iter()
                    .filter(|r| matches!(r.role.side(), Side::Equity | Side::Income | Side::Cost))
                    .map(|r| r.amount)
                    .sum();
            }
        }
        equity
    }
}

/// The booked opening equity of every year of a förbund (`OpeningsByYear::of`).
pub struct OpeningsByYear {
    of_year: BTreeMap<i32, Amount>,
    openings: BTreeMap<i32, Amount>,
}

impl OpeningsByYear {
    /// `opening_equity_booked` for every year at once, in one pass over a förbund's vouchers as
    /// known at a seq, every date (`visible_vouchers(f, known_at, NaiveDate::MAX)`, or what a
    /// caller has decoded of them already): a year's figure is what the vouchers of the years
    /// before it add, plus the opening balances of its own year. (The years between those with
    /// vouchers have their figure from `at_year`.)
    pub fn of<V: std::borrow::Borrow<Voucher>>(vouchers: impl IntoIterator<Item = V>) -> OpeningsByYear {
        let mut of_year: BTreeMap<i32, Amount> = BTreeMap::new();
        let mut openings: BTreeMap<i32, Amount> = BTreeMap::new();
        for v in vouchers {
            let v = v.borrow();
            let equity: Amount = -v
                .rows
                .iter()
                .filter(|r| matches!(r.role.side(), Side::Equity | Side::Income | Side::Cost))
                .map(|r| r.amount)
                .sum::<Amount>();
            *of_year.entry(v.year).or_default() += equity;
            if v.is_opening() {
                *openings.entry(v.year).or_default() += equity;
            }
        }
        OpeningsByYear { of_year, openings }
    }

    /// The equity booked before `year` began plus the opening balances dated within it.
    pub fn at_year(&self, year: i32) -> Amount {
        let before: Amount = self.of_year.range(..year).map(|(_, a)| *a).sum();
        before + self.openings.get(&year).copied().unwrap_or_default()
    }
}

/// The budget line a cost row counts on: its own line, else the line that names its insats.
fn line_of(row: &crate::projection::Row, lines: &[LinePosition]) -> Option<usize> {
    let by_line = row.line.as_ref().and_then(|id| lines.iter().position(|l| &l.id == id));
    by_line.or_else(|| row.insats.as_ref().and_then(|i| lines.iter().position(|l| l.insats.as_ref() == Some(i))))
}

/// What a caller of `budget_position_given` has read already: the förbund's booked opening
/// equity of the year (`OpeningsByYear::at_year`) and its vouchers as known at the position's
/// `known_at`, of every date, in booking order.
#[derive(Clone, Copy)]
pub struct Given<'v> {
    pub opening: Amount,
    pub vouchers: &'v [Voucher],
}
