//! The board's follow-up: the utfall of a year through a month against the budget to date (the
//! year's budget spread over the months evenly, or by a profile), per line, per category and per
//! month, with a full-year forecast: the kansli's own (`ForecastRecorded`) where it recorded
//! one for the line, else the utfall to date extrapolated — and each figure says which.

use crate::chart::Side;
use crate::projection::{Projection, VoucherKind};
use crate::reports::At;
use chrono::{Datelike, NaiveDate};
use finsam_domain::{Amount, Category, Slug};
use rust_decimal::Decimal;

/// Where a forecast comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForecastKind {
    /// The utfall to date scaled up to the whole year: × 12 / the months gone, or by the
    /// profile's share of the year to date.
    Extrapolated,
    /// The kansli's forecast of the line, recorded by a `ForecastRecorded`.
    Recorded,
    /// A sum of lines of both kinds.
    Mixed,
}

impl ForecastKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForecastKind::Extrapolated => "extrapolated",
            ForecastKind::Recorded => "recorded",
            ForecastKind::Mixed => "mixed",
        }
    }

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
            forecast_kind: ForecastKind::Extrapolated,
        })
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
    pub total: FollowUp,
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
        let follow = |budget: Amount, utfall: Amount| FollowUp {
            budget_year: budget,
            budget_to_date: scale(budget, so_far, whole),
            utfall_to_date: utfall,
            forecast: scale(utfall, whole, so_far),
            forecast_kind: ForecastKind::Extrapolated,
        };
        let forecasts = self.forecasts_at(f, year, at);
        let lines: Vec<PeriodLine> = position
            .lines
            .iter()
            .map(|l| {
                let mut figures = follow(l.budget, l.spent);
                let recorded = forecasts.get(&l.id).map(|r| {
                    figures.forecast = r.amount;
                    figures.forecast_kind = ForecastKind::Recorded;
                    RecordedForecast { seq: r.seq, date: r.date, text: r.text.clone() }
                });
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
            budget_status: position.status,
            profile: profile.clone(),
            lines,
            by_category,
            unbudgeted,
            total,
            per_month,
        })
    }
}

impl Projection {
    /// The latest forecast of each cost line of `f`'s `year` at `at`: recorded by then (seq)
    /// and dated by then, and not corrected by then.
    fn forecasts_at(
        &self,
        f: &Slug,
        year: i32,
        at: At,
    ) -> std::collections::BTreeMap<Slug, &crate::projection::ForecastRecord> {
        let mut latest = std::collections::BTreeMap::new();
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

/// The last day of a month of a year (`None` outside 1–12 or the calendar).
pub fn month_end(year: i32, month: u32) -> Option<NaiveDate> {
    match month {
        12 => NaiveDate::from_ymd_opt(year, 12, 31),
        m => NaiveDate::from_ymd_opt(year, m + 1, 1)?.pred_opt(),
    }
}
