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

/// The forecast for the whole year: the follow-up's (`Projection::period`) income, costs,
/// result and equity, and the methods its lines were forecast by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YearForecast {
    pub income: Amount,
    pub costs: Amount,
    pub result: Amount,
    pub budget_result: Amount,
    /// The budget's result through the period's months (spread as the follow-up spreads it).
    pub budget_result_to_date: Amount,
    /// Equity at the year's start (with what came at a merger or when the books began).
    pub equity_before: Amount,
    pub equity: Amount,
    /// The methods the forecast's lines were made by (income's last), each once.
    pub methods: Vec<crate::period::ForecastKind>,
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
    /// The kansli's text for the delårsrapport's förvaltningsberättelse (the latest known of
    /// section `delarsrapport` for the year), if recorded.
    pub text: Option<crate::projection::ReportTextRecord>,
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
        let forecast = self.period(f, year, months, known_at, profile).map(|p| YearForecast {
            income: p.income.forecast,
            costs: p.total.forecast,
            result: p.result.forecast,
            budget_result: p.result.budget_year,
            budget_result_to_date: p.result.budget_to_date,
            equity_before: p.equity_before,
            equity: p.equity.forecast,
            methods: p
                .lines
                .iter()
                .map(|l| l.figures.forecast_kind)
                .chain([p.unbudgeted.forecast_kind, p.income.forecast_kind])
                .fold(Vec::new(), |mut kinds, k| {
                    if !kinds.contains(&k) {
                        kinds.push(k);
                    }
                    kinds
                }),
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
            text: self
                .latest_report_texts(f, year, known_at)
                .into_iter()
                .find(|t| t.section == finsam_domain::event::ReportSection::Interim),
        })
    }
}
