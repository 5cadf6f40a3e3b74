//! The delårsrapport (RKR R17): the statements from 1 January through a month's end with the
//! year's contributions periodised, the same months of the year before, and a forecast for
//! the whole year — income, costs, result and equity.

use crate::annual::Statements;
use crate::members::Periodised;
use crate::period::{month_end, Profile};
use crate::projection::Projection;
use crate::reports::At;
use chrono::NaiveDate;
use finsam_domain::{Amount, Slug};

/// The forecast for the whole year: the budget's income, the follow-up's cost forecast (the
/// kansli's recorded forecasts first, else the utfall extrapolated by the profile, line by line)
/// and the result and equity they give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YearForecast {
    pub income: Amount,
    pub costs: Amount,
    pub result: Amount,
    pub budget_result: Amount,
    /// Equity at the year's start (with what came at a merger or when the books began).
    pub equity_before: Amount,
    pub equity: Amount,
    /// How many of the budget's cost lines carry a recorded forecast.
    pub recorded_lines: usize,
    pub lines: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interim {
    pub forbund: Slug,
    pub name: String,
    pub year: i32,
    pub months: u32,
    pub through: NaiveDate,
    pub known_at: u64,
    pub period: Statements,
    /// The same months of the year before (the förbund's own books), when it had any.
    pub previous: Option<Statements>,
    pub contributions: Periodised,
    /// The period's result with the contributions periodised: the booked result less what is
    /// not yet earned.
    pub result: Amount,
    pub forecast: Option<YearForecast>,
}

impl Projection {
    /// The delårsrapport of `year` through the end of month `months` (1–12). `None` for an
    /// unknown förbund.
    pub fn interim(&self, f: &Slug, year: i32, months: u32, known_at: u64, profile: &Profile) -> Option<Interim> {
        let info = self.forbund.get(f)?;
        let from = NaiveDate::from_ymd_opt(year, 1, 1)?;
        let through = month_end(year, months)?;
        let period = self.statements_of_period(f, year, from, through, known_at);
        let previous = {
            let (pf, pt) = (NaiveDate::from_ymd_opt(year - 1, 1, 1)?, month_end(year - 1, months)?);
            let s = self.statements_of_period(f, year - 1, pf, pt, known_at);
            (s.vouchers > 0).then_some(s)
        };
        let contributions = self.periodised_contributions(f, At { as_of: through, known_at });
        let result = period.result.result.amount - contributions.unearned;
        let forecast = self.period(f, year, months, known_at, profile).and_then(|p| {
            let budget = self.budget_in_force(f, year, known_at, through)?;
            let income: Amount = budget.income.iter().map(|l| l.amount).sum();
            let budget_costs: Amount = budget.costs.iter().map(|l| l.amount).sum();
            // Through December the year is over: the forecast is what happened.
            let (income, costs) = if months == 12 {
                let r = &period.result;
                (r.income.total.amount + r.financial_income.amount, p.total.utfall_to_date)
            } else {
                (income, p.total.forecast)
            };
            let e = &period.balance.equity;
            let equity_before = e.opening.amount + e.opened.amount + e.received.amount + e.other.amount;
            Some(YearForecast {
                income,
                costs,
                result: income - costs,
                budget_result: income - budget_costs,
                equity_before,
                equity: equity_before + income - costs,
                recorded_lines: p.lines.iter().filter(|l| l.recorded.is_some()).count(),
                lines: p.lines.len(),
            })
        });
        Some(Interim {
            forbund: f.clone(),
            name: info.name_known_at(known_at).to_string(),
            year,
            months,
            through,
            known_at,
            period,
            previous,
            contributions,
            result,
            forecast,
        })
    }
}
