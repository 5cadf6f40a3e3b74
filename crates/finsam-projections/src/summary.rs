//! One-line, human summaries of events, for the log and the audit trail.

use finsam_domain::{Event, EventKind};

/// A one-line description of what the event records, with its amounts.
pub fn summary(event: &Event) -> String {
    use EventKind::*;
    match &event.kind {
        ForbundRegistered { name, members, .. } => {
            format!("registered {name} ({} members)", members.len())
        }
        OpeningBalanceRecorded { equity, bank } => {
            format!("opening balance: equity {}, bank {}", equity.human(), bank.human())
        }
        InsatsCreated { insats, name, category, .. } => format!("insats {insats} created ({category}): {name}"),
        BudgetAdopted { year, status, income, costs, .. } => {
            let c: finsam_domain::Amount = costs.iter().map(|l| l.amount).sum();
            let i: finsam_domain::Amount = income.iter().map(|l| l.amount).sum();
            let what = match status {
                finsam_domain::event::BudgetStatus::Adopted => "budget",
                finsam_domain::event::BudgetStatus::Outlook => "outlook",
            };
            format!("{what} {year}: {} cost lines {}, income {}", costs.len(), c.human(), i.human())
        }
        FundingGranted { insats, year, amount, .. } => format!("granted {} to {insats} for {year}", amount.human()),
        FundingChanged { insats, year, delta, reason, .. } => {
            format!("grant to {insats} for {year} changed by {}: {reason}", delta.human())
        }
        ContributionReceived { member, year, amount, reference } => {
            format!("contribution {year} from {member}: {} ({reference})", amount.human())
        }
        OtherIncomeRecorded { year, line, amount, reference } => {
            format!("other income {year} on {line}: {} ({reference})", amount.human())
        }
        CostRecorded { year, line, insats, amount, text, .. } => {
            let on = match (line, insats) {
                (Some(l), Some(i)) if l == i => format!("{l}"),
                (Some(l), Some(i)) => format!("{l} (insats {i})"),
                (Some(l), None) => format!("{l}"),
                (None, Some(i)) => format!("insats {i}"),
                (None, None) => String::from("?"),
            };
            format!("cost {year} on {on}: {} — {text}", amount.human())
        }
        MergerDecided { merging, effective, estimated_transfers, .. } => {
            let total: finsam_domain::Amount = estimated_transfers.iter().map(|t| t.amount).sum();
            let names = merging.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            format!("merger of {names} effective {effective}; estimated transfers {}", total.human())
        }
        EquityTransferred { from, amount, .. } => {
            format!("equity {} transferred from {from}", amount.human())
        }
        ForbundDissolved { merged_into, .. } => match merged_into {
            Some(into) => format!("dissolved, merged into {into}"),
            None => "dissolved".to_string(),
        },
        YearClosed { year, .. } => format!("year {year} closed"),
        EventCorrected { corrects, reason, .. } => format!("corrects event {corrects}: {reason}"),
    }
}
