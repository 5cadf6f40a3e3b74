//! The board's follow-up: the utfall of a year through a month against the budget to date (the
//! year's budget spread over the months evenly, or by a profile), per line, per category and per
//! month, with a full-year forecast that says how it was made: the kansli's own
//! (`ForecastRecorded`) where it recorded one for the line; else what is committed — the
//! funding granted to the line's insatser, the payroll's run rate — or the budget for the rest
//! of the year; through December the utfall itself. Beside the costs: income, result and equity
//! the same way.

use crate::chart::Side;
use crate::projection::{Projection, VoucherKind};
use crate::reports::At;
use chrono::{Datelike, NaiveDate};
use finsam_domain::{Amount, Category, Slug};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Where a forecast comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForecastKind {
    /// The kansli's forecast of the line, recorded by a `ForecastRecorded`.
    Recorded,
    /// What the board granted the line's insatser for the year (or the utfall so far, if more).
    Granted,
    /// The utfall so far and the line's latest monthly payroll for each month left, when that
    /// is more than the budget would give.
    Payroll,
    /// The year's budget, or the utfall so far and the budget of the months left if that is
    /// more (a line ahead of its budget stays ahead).
    Budget,
    /// Income: the members' contributions decided for the year and other income so far, with
    /// the budget's contributions not yet decided.
    Decided,
    /// Through December: the year's utfall.
    Outcome,
    /// A sum of lines forecast in different ways.
    Mixed,
}

impl ForecastKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForecastKind::Recorded => "recorded",
            ForecastKind::Granted => "granted",
            ForecastKind::Payroll => "payroll",
            ForecastKind::Budget => "budget",
            ForecastKind::Decided => "decided",
            ForecastKind::Outcome => "outcome",
            ForecastKind::Mixed => "mixed",
        }
    }

    /// The method in Swedish, for the reader of the follow-up.
    pub fn swedish(self) -> &'static str {
        match self {
            ForecastKind::Recorded => "kansliets registrerade prognos",
            ForecastKind::Granted => "beviljade medel för året (utfallet om det redan är högre)",
            ForecastKind::Payroll => "utfallet hittills och senaste månadens lönekostnad för varje återstående månad",
            ForecastKind::Budget => {
                "budgeten för helåret (utfallet hittills och återstående månaders budget om det är högre)"
            }
            ForecastKind::Decided => {
                "beslutade medlemsbidrag och övriga intäkter hittills, med budgetens bidrag som ännu inte beslutats"
            }
            ForecastKind::Outcome => "årets utfall (året är slut)",
            ForecastKind::Mixed => "summan av rader med olika metoder",
        }
    }

    /// The one-letter mark beside a forecast in tables ("" for the budget, the common case).
    pub fn mark(self) -> &'static str {
        match self {
            ForecastKind::Recorded => "r",
            ForecastKind::Granted => "b",
            ForecastKind::Payroll => "l",
            ForecastKind::Budget => "",
            ForecastKind::Decided => "m",
            ForecastKind::Outcome => "u",
            ForecastKind::Mixed => "d",
        }
    }

    /// Every kind with a mark, in the order a legend lists them.
    pub const MARKED: [ForecastKind; 6] = [
        ForecastKind::Recorded,
        ForecastKind::Granted,
        ForecastKind::Payroll,
        ForecastKind::Decided,
        ForecastKind::Outcome,
        ForecastKind::Mixed,
    ];

    fn and(self, other: ForecastKind) -> ForecastKind {
        if self == other {
            self
        } else {
            ForecastKind::Mixed
        }
    }
}

/// How the year's budget is spread over its months: twelve weights, not negative, not all zero.
/// A month's budget is the year's × its weight / the sum of the weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile([Decimal; 12]);

impl Profile {
    /// Every month the same.
    pub fn even() -> Profile {
        Profile([Decimal::ONE; 12])
    }

    pub fn is_even(&self) -> bool {
        self.0.iter().all(|w| *w == self.0[0])
    }

    pub fn weights(&self) -> &[Decimal; 12] {
        &self.0
    }

    /// Twelve weights separated by commas, e.g. `8,8,9,9,9,9,3,8,9,9,9,10` (a decimal with a
    /// point: `8.5`). The message names what is wrong.
    pub fn parse(text: &str) -> Result<Profile, String> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if parts.len() != 12 {
            return Err(format!(
                "a profile is twelve weights, one per month from January, separated by commas (e.g. 8,8,9,9,9,9,3,8,9,9,9,10); this has {}",
                parts.len()
            ));
        }
        let mut weights = [Decimal::ZERO; 12];
        for (i, part) in parts.iter().enumerate() {
            let w: Decimal = part.parse().map_err(|_| {
                format!("the weight of month {} is \"{part}\": a number (a decimal with a point) is needed", i + 1)
            })?;
            if w.is_sign_negative() && !w.is_zero() {
                return Err(format!("the weight of month {} is {part}: a weight may not be negative", i + 1));
            }
            weights[i] = w;
        }
        if weights.iter().all(|w| w.is_zero()) {
            return Err("every weight of the profile is zero: at least one month must carry the budget".into());
        }
        Ok(Profile(weights))
    }

    /// The weights of January through `months`, and of the whole year.
    fn share(&self, months: u32) -> (Decimal, Decimal) {
        (self.0[..months as usize].iter().sum(), self.0.iter().sum())
    }
}

/// A forecast the kansli recorded for a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedForecast {
    pub seq: u64,
    pub date: NaiveDate,
    pub text: String,
    pub amount: Amount,
}

/// One line (or category, or the total) of the follow-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowUp {
    pub budget_year: Amount,
    pub budget_to_date: Amount,
    pub utfall_to_date: Amount,
    pub forecast: Amount,
    pub forecast_kind: ForecastKind,
}

impl FollowUp {
    /// Budget to date less utfall to date: positive when under budget.
    pub fn deviation(&self) -> Amount {
        self.budget_to_date - self.utfall_to_date
    }

    /// Utfall to date less budget to date: positive when income, result or equity is ahead of
    /// the budget.
    pub fn surplus(&self) -> Amount {
        self.utfall_to_date - self.budget_to_date
    }

    /// The figures added up; the forecast's kind is the parts' if they agree, else mixed (an
    /// empty sum is an extrapolation of nothing).
    fn sum<'x>(parts: impl IntoIterator<Item = &'x FollowUp>) -> FollowUp {
        let mut sum: Option<FollowUp> = None;
        for x in parts {
            match &mut sum {
                None => sum = Some(x.clone()),
                Some(s) => {
                    s.budget_year += x.budget_year;
                    s.budget_to_date += x.budget_to_date;
                    s.utfall_to_date += x.utfall_to_date;
                    s.forecast += x.forecast;
                    s.forecast_kind = s.forecast_kind.and(x.forecast_kind);
                }
            }
        }
        sum.unwrap_or(FollowUp {
            budget_year: Amount::ZERO,
            budget_to_date: Amount::ZERO,
            utfall_to_date: Amount::ZERO,
            forecast: Amount::ZERO,
            forecast_kind: ForecastKind::Budget,
        })
    }

    /// Income less costs, figure by figure (the kind: the parts' if they agree).
    fn less(&self, costs: &FollowUp) -> FollowUp {
        FollowUp {
            budget_year: self.budget_year - costs.budget_year,
            budget_to_date: self.budget_to_date - costs.budget_to_date,
            utfall_to_date: self.utfall_to_date - costs.utfall_to_date,
            forecast: self.forecast - costs.forecast,
            forecast_kind: self.forecast_kind.and(costs.forecast_kind),
        }
    }

    /// Every figure moved by `amount` (equity: what the year started with, plus the result).
    fn plus(&self, amount: Amount) -> FollowUp {
        FollowUp {
            budget_year: self.budget_year + amount,
            budget_to_date: self.budget_to_date + amount,
            utfall_to_date: self.utfall_to_date + amount,
            forecast: self.forecast + amount,
            forecast_kind: self.forecast_kind,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodLine {
    pub id: Slug,
    pub name: String,
    pub category: Category,
    pub insats: Option<Slug>,
    pub figures: FollowUp,
    /// The forecast behind `figures.forecast`, when the kansli recorded one.
    pub recorded: Option<RecordedForecast>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodMonth {
    pub month: u32,
    /// What the month adds to the budget to date (by the profile; öre rounding makes the
    /// months add up to the budget to date).
    pub budget: Amount,
    pub utfall: Amount,
}

/// The follow-up of a year through a month.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub forbund: Slug,
    pub year: i32,
    /// The last day counted: the end of the month `months`.
    pub through: NaiveDate,
    pub months: u32,
    pub at: At,
    pub budget_seq: u64,
    /// An adopted budget, or only a plan's outlook for the year.
    pub budget_status: finsam_domain::event::BudgetStatus,
    pub profile: Profile,
    pub lines: Vec<PeriodLine>,
    pub by_category: Vec<(Category, FollowUp)>,
    /// Costs on no line of the budget.
    pub unbudgeted: FollowUp,
    /// The costs: the lines and the unbudgeted costs.
    pub total: FollowUp,
    /// Income: the budget's, booked through the month with the contributions periodised (what
    /// is not yet earned left out), and forecast (decided contributions, other income so far).
    pub income: FollowUp,
    /// Income less costs.
    pub result: FollowUp,
    /// Equity at the year's start, with what came at a merger or when the books began by the
    /// month's end.
    pub equity_before: Amount,
    /// Equity: `equity_before` plus the result.
    pub equity: FollowUp,
    pub per_month: Vec<PeriodMonth>,
}

/// `amount` × `part` / `whole`, to the öre.
pub(crate) fn prorate(amount: Amount, part: u32, whole: u32) -> Amount {
    scale(amount, Decimal::from(part), Decimal::from(whole))
}

/// `amount` × `part` / `whole` (`whole` > 0), to the öre.
fn scale(amount: Amount, part: Decimal, whole: Decimal) -> Amount {
    Amount::from_decimal((amount.decimal() * part / whole).round_dp(2))
}

impl Projection {
    /// The follow-up of `year` through the month `months` (1–12), as known at `known_at`, the
    /// budget spread by `profile`: `None` for an unknown förbund, a month out of range, a year
    /// without a budget, or a profile that gives the months so far no weight.
    pub fn period(&self, f: &Slug, year: i32, months: u32, known_at: u64, profile: &Profile) -> Option<Period> {
        if !(1..=12).contains(&months) {
            return None;
        }
        let (so_far, whole) = profile.share(months);
        if so_far.is_zero() {
            return None;
        }
        let through = month_end(year, months)?;
        let at = At { as_of: through, known_at };
        let position = self.budget_position(f, year, at)?;
        let done = months == 12;
        let from = NaiveDate::from_ymd_opt(year, 1, 1)?;
        let mut by_month = [Amount::ZERO; 12];
        for v in
            self.visible_vouchers(f, known_at, through).filter(|v| v.date >= from && v.kind != VoucherKind::Closing)
        {
            for row in v.rows.iter().filter(|r| r.role.side() == Side::Cost) {
                by_month[v.date.month0() as usize] += row.amount;
            }
        }
        let left = Decimal::from(12 - months);
        let follow = |budget: Amount, utfall: Amount| {
            let to_date = scale(budget, so_far, whole);
            let (forecast, kind) = if done {
                (utfall, ForecastKind::Outcome)
            } else {
                (budget.max(utfall + budget - to_date), ForecastKind::Budget)
            };
            FollowUp {
                budget_year: budget,
                budget_to_date: to_date,
                utfall_to_date: utfall,
                forecast,
                forecast_kind: kind,
            }
        };
        let forecasts = self.forecasts_at(f, year, at);
        let payroll = self.payroll_run_rates(f, year, at);
        let lines: Vec<PeriodLine> = position
            .lines
            .iter()
            .map(|l| {
                let mut figures = follow(l.budget, l.spent);
                let recorded = forecasts.get(&l.id).map(|r| RecordedForecast {
                    seq: r.seq,
                    date: r.date,
                    text: r.text.clone(),
                    amount: r.amount,
                });
                if !done {
                    let run_rate = payroll.get(&l.id).copied();
                    if let Some(r) = &recorded {
                        (figures.forecast, figures.forecast_kind) = (r.amount, ForecastKind::Recorded);
                    } else if l.takes_grants() && l.granted.is_positive() {
                        (figures.forecast, figures.forecast_kind) = (l.granted.max(l.spent), ForecastKind::Granted);
                    } else if let Some(rate) = run_rate {
                        let by_rate = l.spent + Amount::from_decimal(rate.decimal() * left);
                        if by_rate > figures.forecast {
                            (figures.forecast, figures.forecast_kind) = (by_rate, ForecastKind::Payroll);
                        }
                    }
                }
                PeriodLine {
                    id: l.id.clone(),
                    name: l.name.clone(),
                    category: l.category,
                    insats: l.insats.clone(),
                    figures,
                    recorded,
                }
            })
            .collect();
        let by_category: Vec<(Category, FollowUp)> = Category::ALL
            .iter()
            .map(|c| (*c, FollowUp::sum(lines.iter().filter(|l| l.category == *c).map(|l| &l.figures))))
            .collect();
        let unbudgeted = follow(Amount::ZERO, position.unbudgeted_spent);
        let total = FollowUp::sum(by_category.iter().map(|(_, c)| c).chain([&unbudgeted]));
        // Month by month: the budget spread by the profile — each month what the lines' budgets
        // to date grow by, so that the months add up to the budget to date, öre for öre — and
        // the costs by the month they are dated.
        let to_date = |m: u32| -> Amount {
            let (part, _) = profile.share(m);
            lines.iter().map(|l| scale(l.figures.budget_year, part, whole)).sum()
        };
        let per_month: Vec<PeriodMonth> = (1..=months)
            .map(|month| PeriodMonth {
                month,
                budget: to_date(month) - to_date(month - 1),
                utfall: by_month[month as usize - 1],
            })
            .collect();
        let budget_months: Amount = per_month.iter().map(|m| m.budget).sum();
        assert_eq!(budget_months, total.budget_to_date, "the months of {f} {year} add up to the budget to date");
        let utfall_months: Amount = per_month.iter().map(|m| m.utfall).sum();
        assert_eq!(
            utfall_months, total.utfall_to_date,
            "the months of {f} {year} through {through} add up to the utfall"
        );
        // Income through the month with the contributions periodised; the forecast from what the
        // members have been decided to pay, and what else came in so far.
        let s = self.statements_of_period(f, year, from, through, known_at);
        let contributions = self.periodised_contributions(f, at);
        let booked = s.result.income.total.amount + s.result.financial_income.amount;
        let mut income = follow(position.income_budget, booked - contributions.unearned);
        if !done && !contributions.decided.is_zero() {
            let undecided = (position.income_budget - contributions.decided).max(Amount::ZERO);
            (income.forecast, income.forecast_kind) = (booked + undecided, ForecastKind::Decided);
        } else if !done {
            let other = booked - contributions.decided;
            income.forecast = position.income_budget + other;
        }
        let result = income.less(&total);
        let e = &s.balance.equity;
        let equity_before = e.opening.amount + e.opened.amount + e.received.amount + e.other.amount;
        let equity = result.plus(equity_before);
        Some(Period {
            forbund: f.clone(),
            year,
            through,
            months,
            at,
            budget_seq: position.budget_seq,
            budget_status: position.status,
            profile: profile.clone(),
            lines,
            by_category,
            unbudgeted,
            total,
            income,
            result,
            equity_before,
            equity,
            per_month,
        })
    }
}

impl Projection {
    /// The latest forecast of each cost line of `f`'s `year` at `at`: recorded by then (seq)
    /// and dated by then, and not corrected by then.
    fn forecasts_at(&self, f: &Slug, year: i32, at: At) -> BTreeMap<Slug, &crate::projection::ForecastRecord> {
        let mut latest = BTreeMap::new();
        for r in self.forecasts.iter().take_while(|r| r.seq <= at.known_at) {
            if &r.forbund != f || r.year != year || r.date > at.as_of {
                continue;
            }
            let corrected = self.corrected.get(&r.seq).is_some_and(|(by, day)| *by <= at.known_at && *day <= at.as_of);
            if corrected {
                continue;
            }
            // By date, then by seq: a forecast dated later replaces one dated earlier.
            let later = |e: &&crate::projection::ForecastRecord| (r.date, r.seq) > (e.date, e.seq);
            if latest.get(&r.line).is_none_or(later) {
                latest.insert(r.line.clone(), r);
            }
        }
        latest
    }
}

impl Projection {
    /// The payroll's run rate per budget line of `f`'s `year` at `at`: the costs of the latest
    /// month with a payroll summary recorded and dated by then, and not corrected by then (a
    /// line paid twice in a month adds up).
    pub fn payroll_run_rates(&self, f: &Slug, year: i32, at: At) -> BTreeMap<Slug, Amount> {
        let mut latest: BTreeMap<Slug, (u32, Amount)> = BTreeMap::new();
        for r in self.payrolls_at(f, year, at) {
            let Some(line) = &r.line else { continue };
            let entry = latest.entry(line.clone()).or_insert((r.month, Amount::ZERO));
            if r.month > entry.0 {
                *entry = (r.month, Amount::ZERO);
            }
            if r.month == entry.0 {
                entry.1 += r.costs;
            }
        }
        latest.into_iter().map(|(line, (_, amount))| (line, amount)).collect()
    }

    /// The payroll summaries of `f`'s `year` recorded and dated by `at`, not corrected by then.
    pub fn payrolls_at<'a>(
        &'a self,
        f: &'a Slug,
        year: i32,
        at: At,
    ) -> impl Iterator<Item = &'a crate::projection::PayrollRecord> + 'a {
        self.payrolls.iter().take_while(move |r| r.seq <= at.known_at).filter(move |r| {
            &r.forbund == f
                && r.year == year
                && r.date <= at.as_of
                && !self.corrected.get(&r.seq).is_some_and(|(by, day)| *by <= at.known_at && *day <= at.as_of)
        })
    }
}

/// The last day of a month of a year (`None` outside 1–12 or the calendar).
pub fn month_end(year: i32, month: u32) -> Option<NaiveDate> {
    match month {
        12 => NaiveDate::from_ymd_opt(year, 12, 31),
        m => NaiveDate::from_ymd_opt(year, m + 1, 1)?.pred_opt(),
    }
}
