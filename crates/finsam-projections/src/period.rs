//! The board's follow-up: the utfall of a year through a month against the budget to date (the
//! year's budget spread evenly over the months), per line, per category and per month, with a
//! full-year forecast. Until the kansli can record its own forecast, the forecast is the utfall
//! to date extrapolated to twelve months — and says so.

use crate::chart::Side;
use crate::projection::{Projection, VoucherKind};
use crate::reports::At;
use chrono::{Datelike, NaiveDate};
use finsam_domain::{Amount, Category, Slug};
use rust_decimal::Decimal;

/// Where a forecast comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForecastKind {
    /// The utfall to date × 12 / the months gone.
    Extrapolated,
}

impl ForecastKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForecastKind::Extrapolated => "extrapolated",
        }
    }
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

    fn add(&mut self, other: &FollowUp) {
        self.budget_year += other.budget_year;
        self.budget_to_date += other.budget_to_date;
        self.utfall_to_date += other.utfall_to_date;
        self.forecast += other.forecast;
    }

    fn zero() -> FollowUp {
        FollowUp {
            budget_year: Amount::ZERO,
            budget_to_date: Amount::ZERO,
            utfall_to_date: Amount::ZERO,
            forecast: Amount::ZERO,
            forecast_kind: ForecastKind::Extrapolated,
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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodMonth {
    pub month: u32,
    /// The year's budget / 12 (the last month takes what rounding leaves).
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
    pub lines: Vec<PeriodLine>,
    pub by_category: Vec<(Category, FollowUp)>,
    /// Costs on no line of the budget.
    pub unbudgeted: FollowUp,
    pub total: FollowUp,
    pub per_month: Vec<PeriodMonth>,
}

/// `amount` × `part` / `whole`, to the öre.
pub(crate) fn prorate(amount: Amount, part: u32, whole: u32) -> Amount {
    Amount::from_decimal((amount.decimal() * Decimal::from(part) / Decimal::from(whole)).round_dp(2))
}

impl Projection {
    /// The follow-up of `year` through the month `months` (1–12), as known at `known_at`:
    /// `None` for an unknown förbund, a month out of range, or a year without a budget.
    pub fn period(&self, f: &Slug, year: i32, months: u32, known_at: u64) -> Option<Period> {
        if !(1..=12).contains(&months) {
            return None;
        }
        let through = match months {
            12 => NaiveDate::from_ymd_opt(year, 12, 31)?,
            m => NaiveDate::from_ymd_opt(year, m + 1, 1)?.pred_opt()?,
        };
        let at = At { as_of: through, known_at };
        let position = self.budget_position(f, year, at)?;
        let follow = |budget: Amount, utfall: Amount| FollowUp {
            budget_year: budget,
            budget_to_date: prorate(budget, months, 12),
            utfall_to_date: utfall,
            forecast: prorate(utfall, 12, months),
            forecast_kind: ForecastKind::Extrapolated,
        };
        let lines: Vec<PeriodLine> = position
            .lines
            .iter()
            .map(|l| PeriodLine {
                id: l.id.clone(),
                name: l.name.clone(),
                category: l.category,
                insats: l.insats.clone(),
                figures: follow(l.budget, l.spent),
            })
            .collect();
        let by_category: Vec<(Category, FollowUp)> = Category::ALL
            .iter()
            .map(|c| {
                let mut sum = FollowUp::zero();
                for l in lines.iter().filter(|l| l.category == *c) {
                    sum.add(&l.figures);
                }
                (*c, sum)
            })
            .collect();
        let unbudgeted = follow(Amount::ZERO, position.unbudgeted_spent);
        let mut total = FollowUp::zero();
        for (_, c) in &by_category {
            total.add(c);
        }
        total.add(&unbudgeted);
        // Month by month: the budget spread evenly — each month what the lines' budgets to date
        // grow by, so that the months add up to the budget to date, öre for öre — and the
        // costs by the month they are dated.
        let to_date = |m: u32| -> Amount { lines.iter().map(|l| prorate(l.figures.budget_year, m, 12)).sum() };
        let mut per_month: Vec<PeriodMonth> = (1..=months)
            .map(|month| PeriodMonth { month, budget: to_date(month) - to_date(month - 1), utfall: Amount::ZERO })
            .collect();
        let budget_months: Amount = per_month.iter().map(|m| m.budget).sum();
        assert_eq!(budget_months, total.budget_to_date, "the months of {f} {year} add up to the budget to date");
        let from = NaiveDate::from_ymd_opt(year, 1, 1)?;
        for v in
            self.visible_vouchers(f, known_at, through).filter(|v| v.date >= from && v.kind != VoucherKind::Closing)
        {
            for row in v.rows.iter().filter(|r| r.role.side() == Side::Cost) {
                per_month[v.date.month0() as usize].utfall += row.amount;
            }
        }
        let by_month: Amount = per_month.iter().map(|m| m.utfall).sum();
        assert_eq!(by_month, total.utfall_to_date, "the months of {f} {year} through {through} add up to the utfall");
        Some(Period {
            forbund: f.clone(),
            year,
            through,
            months,
            at,
            budget_seq: position.budget_seq,
            lines,
            by_category,
            unbudgeted,
            total,
            per_month,
        })
    }
}
