//! The budget in force for a förbund and a year, with its lines and sums per category.

use finsam_domain::event::{BudgetStatus, CostLine, IncomeLine, Stated, TransferLine};
use finsam_domain::{Amount, Category, Decision, Event, EventKind, Slug};

#[derive(Clone, Debug, PartialEq)]
pub struct CategoryTotal {
    pub category: Category,
    pub amount: Amount,
}

/// One adopted (or outlook) budget as recorded, with the sums of its own lines.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetView {
    pub forbund: Slug,
    pub year: i32,
    pub seq: u64,
    pub status: BudgetStatus,
    pub decision: Decision,
    pub income: Vec<IncomeLine>,
    pub costs: Vec<CostLine>,
    pub transfers: Vec<TransferLine>,
    pub stated: Option<Box<Stated>>,
}

impl BudgetView {
    /// The budget in force after the given events: the latest adopted budget for the year,
    /// else the latest outlook. `events` are `(seq, event)` in log order.
    pub fn in_force<'a>(
        events: impl IntoIterator<Item = (u64, &'a Event)>,
        forbund: &Slug,
        year: i32,
    ) -> Option<BudgetView> {
        let mut found: Option<BudgetView> = None;
        for (seq, event) in events {
            if &event.forbund != forbund {
                continue;
            }
            if let EventKind::BudgetAdopted {
                year: y,
                decision,
                status,
                income,
                costs,
                transfers,
                stated,
            } = &event.kind
            {
                let replaces = found.as_ref().is_none_or(|f| {
                    *status == BudgetStatus::Adopted || f.status == BudgetStatus::Outlook
                });
                if *y == year && replaces {
                    found = Some(BudgetView {
                        forbund: forbund.clone(),
                        year,
                        seq,
                        status: *status,
                        decision: decision.clone(),
                        income: income.clone(),
                        costs: costs.clone(),
                        transfers: transfers.clone(),
                        stated: stated.clone(),
                    });
                }
            }
        }
        found
    }

    pub fn costs_total(&self) -> Amount {
        self.costs.iter().map(|l| l.amount).sum()
    }

    pub fn income_total(&self) -> Amount {
        self.income.iter().map(|l| l.amount).sum()
    }

    pub fn transfers_total(&self) -> Amount {
        self.transfers.iter().map(|l| l.amount).sum()
    }

    pub fn by_category(&self) -> Vec<CategoryTotal> {
        Category::ALL
            .iter()
            .map(|c| CategoryTotal {
                category: *c,
                amount: self
                    .costs
                    .iter()
                    .filter(|l| l.category == *c)
                    .map(|l| l.amount)
                    .sum(),
            })
            .collect()
    }

    /// Income minus costs, as the plan computes it.
    pub fn result(&self) -> Amount {
        self.income_total() - self.costs_total()
    }
}
