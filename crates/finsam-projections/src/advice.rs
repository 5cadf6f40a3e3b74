//! Warnings for likely mistakes: what an event would do that a kansli member probably did not
//! mean — a line spent beyond its budget, an insats beyond its grant, a grant beyond its line,
//! a contribution beyond the member's share, an event that looks like one recorded just before.
//! Warnings are advice, not facts: they are never stored, and `record --strict` turns them into
//! refusals. The reconciliation shows the same situations for what is already recorded.

use crate::chart::Role;
use crate::projection::{Projection, VoucherKind};
use chrono::NaiveDate;
use finsam_domain::event::{BudgetStatus, CostLine, IncomeLine};
use finsam_domain::{Amount, Event, EventKind, Slug};
use std::collections::{BTreeMap, BTreeSet};

/// One warning: a stable rule name, the field it concerns, and what it means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub rule: &'static str,
    pub field: &'static str,
    pub message: String,
    /// The same in Swedish, for the web app's users.
    pub swedish: String,
}

/// The running figures of one förbund and year that the warnings compare against.
#[derive(Default)]
struct Figures {
    spent_by_line: BTreeMap<Slug, Amount>,
    spent_by_insats: BTreeMap<Slug, Amount>,
    granted: BTreeMap<Slug, Amount>,
    received: BTreeMap<Slug, Amount>,
}

/// Advises on the events of a batch, one after the other, as if each earlier one were recorded.
pub struct Advisor<'a> {
    p: &'a Projection,
    figures: BTreeMap<(Slug, i32), Figures>,
    /// What identifies an event as a likely duplicate, for the recent events and the batch's.
    seen: BTreeSet<String>,
    /// Budgets adopted earlier in the batch: they are in force for what follows them.
    batch_budgets: BTreeMap<(Slug, i32), BatchBudget>,
}

/// A budget adopted in the batch: its status, cost lines and income lines.
type BatchBudget = (BudgetStatus, Vec<CostLine>, Vec<IncomeLine>);

/// A budget as the warnings need it: its status and its lines.
type Lines<'b> = (BudgetStatus, &'b [CostLine], &'b [IncomeLine]);

/// What makes two events the same for a person typing them: type, förbund, date, amount and
/// reference (or, for a grant, its insats and year). `None` for events that carry no amount.
fn likeness(e: &Event) -> Option<String> {
    use EventKind::*;
    let what = match &e.kind {
        ContributionReceived { member, amount, reference, .. } => format!("{member}|{amount}|{reference}"),
        OtherIncomeRecorded { line, amount, reference, .. } => format!("{line}|{amount}|{reference}"),
        CostRecorded { amount, reference, .. } => format!("{amount}|{reference}"),
        InvoicePaid { invoice, amount, reference } => format!("{invoice}|{amount}|{reference}"),
        FundingGranted { insats, year, amount, .. } => format!("{insats}|{year}|{amount}"),
        FundingChanged { insats, year, delta, .. } => format!("{insats}|{year}|{delta}"),
        EquityTransferred { from, amount, reference } => format!("{from}|{amount}|{reference}"),
        BalancesTakenOver { from, reference } => format!("{from}|{reference}"),
        _ => return None,
    };
    Some(format!("{}|{}|{}|{what}", e.type_name(), e.forbund, e.date))
}

/// What an advisor learnt, kept between batches by a long-running writer (`finsam serve`):
/// the figures it computed from the vouchers and what identifies the recent events. Valid as
/// long as every event recorded since went through the advisor and each one's effect on the
/// figures is tracked exactly (`tracks_exactly`), and no batch it advised was refused.
pub struct AdviceCache {
    figures: BTreeMap<(Slug, i32), Figures>,
    seen: BTreeSet<String>,
}

impl AdviceCache {
    /// How many events the cache recognises as recent.
    pub fn seen(&self) -> usize {
        self.seen.len()
    }

    /// Follows events recorded without the advisor (another instance's), which the projection
    /// `p` already holds: each one's effect on the figures the cache has computed, and its
    /// likeness among the recent events. Figures the cache has not computed yet are left to be
    /// computed from `p`, which counts them. `None` when an event's effect is not tracked
    /// exactly: the cache is dropped then, and the next advisor starts afresh.
    pub fn follow<'e>(self, p: &Projection, events: impl IntoIterator<Item = &'e Event>) -> Option<AdviceCache> {
        let mut advisor = Advisor::resume(p, self);
        for event in events {
            if !tracks_exactly(event) {
                return None;
            }
            use EventKind::*;
            let year = match &event.kind {
                ContributionReceived { year, .. }
                | CostRecorded { year, .. }
                | InvoiceReceived { year, .. }
                | FundingGranted { year, .. }
                | FundingChanged { year, .. } => Some(*year),
                _ => None,
            };
            match year {
                Some(year) if advisor.figures.contains_key(&(event.forbund.clone(), year)) => {
                    advisor.advise(event);
                }
                _ => {
                    if event.idempotency_key.is_none() {
                        advisor.seen.extend(likeness(event));
                    }
                }
            }
        }
        Some(advisor.into_cache())
    }
}

/// Whether the advisor follows the event's effect on its figures exactly, so that a cache
/// stays right after it is recorded (other events — corrections, accruals, credit notes,
/// decisions — are left to a fresh computation from the vouchers).
pub fn tracks_exactly(e: &Event) -> bool {
    use EventKind::*;
    matches!(
        &e.kind,
        ContributionReceived { .. }
            | CostRecorded { .. }
            | InvoiceReceived { credits: None, .. }
            | InvoicePaid { .. }
            | FundingGranted { .. }
            | FundingChanged { .. }
            | OtherIncomeRecorded { .. }
            | ForecastRecorded { .. }
    )
}

impl<'a> Advisor<'a> {
    /// `recent`: the last events of the log, to recognise one recorded again.
    pub fn new(p: &'a Projection, recent: &[Event]) -> Advisor<'a> {
        Advisor {
            p,
            figures: BTreeMap::new(),
            seen: recent.iter().filter_map(likeness).collect(),
            batch_budgets: BTreeMap::new(),
        }
    }

    /// An advisor that goes on from what an earlier one learnt (see `AdviceCache`).
    pub fn resume(p: &'a Projection, cache: AdviceCache) -> Advisor<'a> {
        Advisor { p, figures: cache.figures, seen: cache.seen, batch_budgets: BTreeMap::new() }
    }

    /// What this advisor learnt, for the next one.
    pub fn into_cache(self) -> AdviceCache {
        AdviceCache { figures: self.figures, seen: self.seen }
    }

    /// The budget in force for a year: one adopted earlier in the batch, else the recorded one.
    fn budget(&self, f: &Slug, year: i32) -> Option<Lines<'_>> {
        if let Some((status, costs, income)) = self.batch_budgets.get(&(f.clone(), year)) {
            return Some((*status, costs.as_slice(), income.as_slice()));
        }
        let p = self.p;
        p.budget_in_force(f, year, p.head, NaiveDate::MAX).map(|b| (b.status, b.costs.as_slice(), b.income.as_slice()))
    }

    /// The figures of a förbund and year as recorded, computed once per batch.
    fn figures(&mut self, f: &Slug, year: i32) -> &mut Figures {
        let p = self.p;
        self.figures.entry((f.clone(), year)).or_insert_with(|| {
            let mut fig = Figures::default();
            for v in p.voucher_book().of_forbund(f, p.head).filter(|v| v.year == year && v.kind != VoucherKind::Closing)
            {
                for r in v.rows.iter().filter(|r| r.role.side() == crate::chart::Side::Cost) {
                    if let Some(l) = &r.line {
                        *fig.spent_by_line.entry(l.clone()).or_default() += r.amount;
                    }
                    if let Some(i) = &r.insats {
                        *fig.spent_by_insats.entry(i.clone()).or_default() += r.amount;
                    }
                }
                for r in v.rows.iter().filter(|r| matches!(r.role, Role::Contribution(_))) {
                    if let Some(m) = &r.member {
                        *fig.received.entry(m.clone()).or_default() -= r.amount;
                    }
                }
            }
            for g in p.grants.iter().filter(|g| &g.forbund == f && g.year == year) {
                *fig.granted.entry(g.insats.clone()).or_default() += g.amount;
            }
            fig
        })
    }

    /// The warnings for `event`, then its effect on the running figures.
    pub fn advise(&mut self, event: &Event) -> Vec<Warning> {
        use EventKind::*;
        let mut out = Vec::new();
        if event.idempotency_key.is_none() {
            if let Some(key) = likeness(event) {
                if !self.seen.insert(key) {
                    out.push(Warning {
                        rule: "possible_duplicate",
                        field: "type",
                        message: format!(
                            "an identical {} ({}, {}) was recorded recently; if this is the same one, leave it out, and give such events an idempotency_key so that a repeat is recognised",
                            event.type_name(),
                            event.forbund,
                            event.date
                        ),
                        swedish: format!(
                            "En likadan händelse ({}, {}, {}) registrerades nyss. Är det samma, registrera den inte igen.",
                            crate::summary::type_label(event.type_name()).to_lowercase(),
                            event.forbund,
                            event.date
                        ),
                    });
                }
            }
        }
        let f = &event.forbund;
        let p = self.p;
        match &event.kind {
            BudgetAdopted { year, status, costs, income, .. } => {
                let replaces = *status == BudgetStatus::Adopted
                    || self.budget(f, *year).is_none_or(|(s, ..)| s == BudgetStatus::Outlook);
                if replaces {
                    self.batch_budgets.insert((f.clone(), *year), (*status, costs.clone(), income.clone()));
                }
            }
            CostRecorded { year, line, insats, amount, .. } => self.cost(f, *year, line, insats, *amount, &mut out),
            InvoiceReceived { year, line, insats, amount, credits: None, .. } => {
                self.cost(f, *year, line, insats, *amount, &mut out)
            }
            FundingGranted { insats, year, amount, .. } | FundingChanged { insats, year, delta: amount, .. } => {
                // Against the lines of the budget in force that fund the insats, when it has one.
                let budget: Option<Amount> = self.budget(f, *year).and_then(|(_, costs, _)| {
                    let lines: Vec<&CostLine> = costs.iter().filter(|l| l.insats.as_ref() == Some(insats)).collect();
                    (!lines.is_empty()).then(|| lines.iter().map(|l| l.amount).sum())
                });
                let fig = self.figures(f, *year);
                let granted = fig.granted.entry(insats.clone()).or_default();
                *granted += *amount;
                if let Some(budget) = budget.filter(|b| amount.is_positive() && *granted > *b) {
                    out.push(Warning {
                        rule: "grant_over_budget",
                        field: "amount",
                        message: format!(
                            "{insats} would have {} granted for {year}, over its budget of {} by {}",
                            granted.human(),
                            budget.human(),
                            (*granted - budget).human()
                        ),
                        swedish: format!(
                            "Insatsen {insats} skulle få {} beviljat för {year}, {} över sin budget på {}.",
                            granted.human(),
                            (*granted - budget).human(),
                            budget.human()
                        ),
                    });
                }
            }
            ContributionReceived { member, year, amount, .. } => {
                // Against the member's share of the contributions of the adopted budget.
                let owed =
                    self.budget(f, *year).filter(|(s, ..)| *s == BudgetStatus::Adopted).and_then(|(_, _, income)| {
                        let contributions: Amount =
                            income.iter().filter(|l| !p.is_other_income_line(f, l)).map(|l| l.amount).sum();
                        let members = p.forbund.get(f)?.members_at(event.date, p.head);
                        let share = members.iter().find(|(id, ..)| id == member)?.3;
                        Some(Amount::from_decimal((contributions.decimal() * share.decimal()).round_dp(2)))
                    });
                let fig = self.figures(f, *year);
                let received = fig.received.entry(member.clone()).or_default();
                *received += *amount;
                if let Some(owed) = owed.filter(|o| *received > *o) {
                    out.push(Warning {
                        rule: "contribution_over_share",
                        field: "amount",
                        message: format!(
                            "{member} would have paid {} for {year}, more than its share of the budgeted contributions, {}",
                            received.human(),
                            owed.human()
                        ),
                        swedish: format!(
                            "{member} skulle ha betalat {} för {year}, mer än sin andel av de budgeterade medlemsbidragen, {}.",
                            received.human(),
                            owed.human()
                        ),
                    });
                }
            }
            _ => {}
        }
        out
    }

    fn cost(
        &mut self,
        f: &Slug,
        year: i32,
        line: &Option<Slug>,
        insats: &Option<Slug>,
        amount: Amount,
        out: &mut Vec<Warning>,
    ) {
        if let (Some(l), None) = (line, self.budget(f, year)) {
            out.push(Warning {
                rule: "cost_outside_budget",
                field: "line",
                message: format!(
                    "{f} has no budget for {year} yet: the cost is booked on line {l} outside the budget, and counts against the line once a budget adopts it"
                ),
                swedish: format!(
                    "Det finns ingen budget för {year} ännu: kostnaden bokförs på raden {l} utanför budgeten och räknas mot raden när en budget antar den."
                ),
            });
        }
        let budget_line = line
            .as_ref()
            .and_then(|l| self.budget(f, year).and_then(|(_, costs, _)| costs.iter().find(|c| &c.id == l)).cloned());
        let insats = insats.clone().or_else(|| budget_line.as_ref().and_then(|l| l.insats.clone()));
        let fig = self.figures(f, year);
        if let (Some(l), Some(bl)) = (line, budget_line.as_ref()) {
            let spent = fig.spent_by_line.entry(l.clone()).or_default();
            *spent += amount;
            if *spent > bl.amount {
                out.push(Warning {
                    rule: "line_over_budget",
                    field: "amount",
                    message: format!(
                        "line {l} would have {} spent in {year}, over its budget of {} by {}",
                        spent.human(),
                        bl.amount.human(),
                        (*spent - bl.amount).human()
                    ),
                    swedish: format!(
                        "Budgetraden {} skulle ha {} i utfall {year}, {} över sin budget på {}.",
                        bl.name,
                        spent.human(),
                        (*spent - bl.amount).human(),
                        bl.amount.human()
                    ),
                });
            }
        }
        if let Some(i) = insats {
            let granted = fig.granted.get(&i).copied().unwrap_or_default();
            let spent = fig.spent_by_insats.entry(i.clone()).or_default();
            *spent += amount;
            if *spent > granted {
                out.push(Warning {
                    rule: "insats_over_grant",
                    field: "amount",
                    message: format!(
                        "insats {i} would have {} spent in {year}, over the {} granted to it by {}",
                        spent.human(),
                        granted.human(),
                        (*spent - granted).human()
                    ),
                    swedish: format!(
                        "Insatsen {i} skulle ha {} i utfall {year}, {} mer än de {} som beviljats den.",
                        spent.human(),
                        (*spent - granted).human(),
                        granted.human()
                    ),
                });
            }
        }
    }
}
