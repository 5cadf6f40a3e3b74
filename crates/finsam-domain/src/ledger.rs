//! The ledger rules: what the log already says decides whether the next event may be recorded.
//!
//! `Ledger::check` holds every business rule and changes nothing; `Ledger::apply` is a plain
//! fold with no rules. `Ledger::record` is both, in that order. The state is small (ids, line
//! ids, grants, closed years; one short entry per seq) and serialisable, so the store can keep
//! a checkpoint of it and replay only the log's tail.

use crate::event::{BudgetStatus, Category, Event, EventKind, Slug};
use crate::money::Amount;
use crate::rejection::{Rejection, Rule};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Bumped whenever the shape or the meaning of the ledger state changes, so that a checkpoint
/// written by another version is rebuilt from the log instead of trusted.
pub const LEDGER_STATE_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    forbund: BTreeMap<Slug, ForbundState>,
    /// The seq of the last event applied.
    head: u64,
    /// Which förbund each seq belongs to, run-length encoded: `(first seq of the run, förbund)`.
    /// Events come in runs per förbund, so this stays small even for millions of events.
    runs: Vec<(u64, Slug)>,
    /// The seqs that are corrections.
    corrections: BTreeSet<u64>,
    /// Corrected seq -> the seq of its correction.
    corrected: BTreeMap<u64, u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ForbundState {
    name: String,
    registered: NaiveDate,
    members: BTreeSet<Slug>,
    insatser: BTreeMap<Slug, Category>,
    /// Per year: the line ids of the budget in force (the latest adopted, else the latest outlook).
    budgets: BTreeMap<i32, BudgetLines>,
    granted: BTreeMap<Slug, BTreeMap<i32, Amount>>,
    opening_recorded: bool,
    /// The förbund whose merger into this one has been decided.
    merging_in: BTreeSet<Slug>,
    dissolved: Option<NaiveDate>,
    closed_through: Option<i32>,
    event_years: BTreeSet<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct BudgetLines {
    status: BudgetStatus,
    income: BTreeSet<Slug>,
    costs: BTreeMap<Slug, Option<Slug>>,
}

/// How many known ids a "not found" message lists before it stops.
const KNOWN_LISTED_MAX: usize = 12;

fn known<'a>(ids: impl Iterator<Item = &'a Slug>) -> String {
    let ids: Vec<&Slug> = ids.collect();
    if ids.is_empty() {
        return "none is recorded yet".to_string();
    }
    let mut text = ids
        .iter()
        .take(KNOWN_LISTED_MAX)
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > KNOWN_LISTED_MAX {
        text.push_str(&format!(" and {} more", ids.len() - KNOWN_LISTED_MAX));
    }
    format!("known: {text}")
}

fn quoted(s: &Slug) -> String {
    format!("\"{s}\"")
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// The seq of the last event applied (0 for an empty log).
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The förbund whose books hold event `seq`.
    pub fn forbund_of(&self, seq: u64) -> Option<&Slug> {
        if seq == 0 || seq > self.head {
            return None;
        }
        let run = self.runs.partition_point(|(start, _)| *start <= seq);
        Some(&self.runs[run - 1].1)
    }

    pub fn is_registered(&self, forbund: &Slug) -> bool {
        self.forbund.contains_key(forbund)
    }

    /// The seq of the correction that corrects `seq`, if any.
    pub fn corrected_by(&self, seq: u64) -> Option<u64> {
        self.corrected.get(&seq).copied()
    }

    /// Checks and applies: the event becomes `head() + 1`.
    pub fn record(&mut self, event: &Event) -> Result<u64, Rejection> {
        self.check(event)?;
        Ok(self.apply(event))
    }

    /// Every rule an event must pass, given what is already recorded. Changes nothing.
    pub fn check(&self, event: &Event) -> Result<(), Rejection> {
        let f = &event.forbund;
        let state = match (&event.kind, self.forbund.get(f)) {
            (EventKind::ForbundRegistered { .. }, Some(_)) => {
                return Err(Rejection::new(
                    Rule::ForbundAlreadyRegistered,
                    "forbund",
                    quoted(f),
                    "this förbund is registered already; each förbund is registered once",
                ))
            }
            (EventKind::ForbundRegistered { .. }, None) => return Ok(()),
            (_, None) => {
                return Err(Rejection::new(
                    Rule::ForbundUnknown,
                    "forbund",
                    quoted(f),
                    format!(
                        "no förbund with this id is registered ({})",
                        known(self.forbund.keys())
                    ),
                ))
            }
            (_, Some(state)) => state,
        };
        if let Some(dissolved) = state.dissolved {
            return Err(Rejection::new(
                Rule::ForbundDissolved,
                "forbund",
                quoted(f),
                format!("this förbund was dissolved on {dissolved}; its books take no new events"),
            ));
        }
        if event.date < state.registered {
            return Err(Rejection::new(
                Rule::EventBeforeRegistration,
                "date",
                format!("\"{}\"", event.date),
                format!(
                    "this förbund's books start on {} (its registration)",
                    state.registered
                ),
            ));
        }
        if let Some(closed) = state.closed_through {
            if event.date.year() <= closed {
                return Err(Rejection::new(
                    Rule::YearClosed,
                    "date",
                    format!("\"{}\"", event.date),
                    format!(
                        "the year {} is closed for {f} (closed through {closed}); a closed year is locked: record an EventCorrected dated in an open year instead",
                        event.date.year()
                    ),
                ));
            }
        }
        self.check_kind(state, event)
    }

    fn check_kind(&self, state: &ForbundState, event: &Event) -> Result<(), Rejection> {
        use EventKind::*;
        let f = &event.forbund;
        let insats_known = |insats: &Slug, field: &str| -> Result<(), Rejection> {
            if state.insatser.contains_key(insats) {
                Ok(())
            } else {
                Err(Rejection::new(
                    Rule::InsatsUnknown,
                    field,
                    quoted(insats),
                    format!(
                        "{f} has no insats with this id ({})",
                        known(state.insatser.keys())
                    ),
                ))
            }
        };
        let forbund_known = |other: &Slug, field: &str| -> Result<(), Rejection> {
            if self.forbund.contains_key(other) {
                Ok(())
            } else {
                Err(Rejection::new(
                    Rule::ForbundUnknown,
                    field,
                    quoted(other),
                    format!(
                        "no förbund with this id is registered ({})",
                        known(self.forbund.keys())
                    ),
                ))
            }
        };
        let budget = |year: i32, field: &str| -> Result<&BudgetLines, Rejection> {
            state.budgets.get(&year).ok_or_else(|| {
                Rejection::new(
                    Rule::BudgetMissing,
                    field,
                    year.to_string(),
                    format!("{f} has no budget for {year}: record its BudgetAdopted first"),
                )
            })
        };
        match &event.kind {
            ForbundRegistered { .. } => unreachable!("handled in check"),
            OpeningBalanceRecorded { .. } => {
                if state.opening_recorded {
                    return Err(Rejection::new(
                        Rule::OpeningBalanceAlreadyRecorded,
                        "type",
                        "\"OpeningBalanceRecorded\"",
                        format!("{f} has an opening balance already; books open once"),
                    ));
                }
            }
            InsatsCreated { insats, .. } => {
                if state.insatser.contains_key(insats) {
                    return Err(Rejection::new(
                        Rule::InsatsAlreadyExists,
                        "insats",
                        quoted(insats),
                        format!(
                            "{f} has an insats with this id already; each insats is created once"
                        ),
                    ));
                }
            }
            BudgetAdopted {
                costs, transfers, ..
            } => {
                for (i, line) in costs.iter().enumerate() {
                    if let Some(insats) = &line.insats {
                        insats_known(insats, &format!("costs[{i}].insats"))?;
                    }
                }
                for (i, t) in transfers.iter().enumerate() {
                    forbund_known(&t.from, &format!("transfers[{i}].from"))?;
                }
            }
            FundingGranted { insats, .. } => insats_known(insats, "insats")?,
            FundingChanged {
                insats,
                year,
                delta,
                ..
            } => {
                insats_known(insats, "insats")?;
                let granted = state
                    .granted
                    .get(insats)
                    .and_then(|y| y.get(year))
                    .copied()
                    .unwrap_or_default();
                if (granted + *delta).is_negative() {
                    return Err(Rejection::new(
                        Rule::GrantWouldBecomeNegative,
                        "delta",
                        format!("\"{delta}\""),
                        format!("{insats} has {} granted for {year}; a change may not take it below zero", granted.human()),
                    ));
                }
            }
            ContributionReceived { member, .. } => {
                if !state.members.contains(member) {
                    return Err(Rejection::new(
                        Rule::MemberUnknown,
                        "member",
                        quoted(member),
                        format!(
                            "{f} has no member with this id ({})",
                            known(state.members.iter())
                        ),
                    ));
                }
            }
            OtherIncomeRecorded { year, line, .. } => {
                let lines = budget(*year, "year")?;
                if !lines.income.contains(line) {
                    return Err(Rejection::new(
                        Rule::BudgetLineUnknown,
                        "line",
                        quoted(line),
                        format!(
                            "the {year} budget of {f} has no income line with this id ({})",
                            known(lines.income.iter())
                        ),
                    ));
                }
            }
            CostRecorded {
                year, line, insats, ..
            } => {
                if let Some(insats) = insats {
                    insats_known(insats, "insats")?;
                }
                if let Some(line) = line {
                    let lines = budget(*year, "year")?;
                    let Some(line_insats) = lines.costs.get(line) else {
                        return Err(Rejection::new(
                            Rule::BudgetLineUnknown,
                            "line",
                            quoted(line),
                            format!(
                                "the {year} budget of {f} has no cost line with this id ({})",
                                known(lines.costs.keys())
                            ),
                        ));
                    };
                    if let (Some(given), Some(of_line)) = (insats, line_insats) {
                        if given != of_line {
                            return Err(Rejection::new(
                                Rule::LineAndInsatsDisagree,
                                "insats",
                                quoted(given),
                                format!("budget line {line} belongs to insats {of_line}"),
                            ));
                        }
                    }
                }
            }
            MergerDecided { merging, .. } => {
                for (i, other) in merging.iter().enumerate() {
                    let field = format!("merging[{i}]");
                    if other == f {
                        return Err(Rejection::new(
                            Rule::MergerNamesItself,
                            field,
                            quoted(other),
                            "a merger is recorded on the new förbund's books and names the other förbund that merge into it",
                        ));
                    }
                    forbund_known(other, &field)?;
                    if let Some(day) = self.forbund[other].dissolved {
                        return Err(Rejection::new(
                            Rule::ForbundDissolved,
                            field,
                            quoted(other),
                            format!("this förbund was dissolved on {day}"),
                        ));
                    }
                }
            }
            EquityTransferred { from, .. } => {
                forbund_known(from, "from")?;
                if !state.merging_in.contains(from) {
                    return Err(Rejection::new(
                        Rule::TransferWithoutMerger,
                        "from",
                        quoted(from),
                        format!("equity moves into {f} only from a förbund whose merger into it is decided: record the MergerDecided first"),
                    ));
                }
                if let Some(day) = self.forbund[from].dissolved {
                    return Err(Rejection::new(
                        Rule::TransferFromDissolvedForbund,
                        "from",
                        quoted(from),
                        format!("this förbund was dissolved on {day}; record the transfer before the dissolution"),
                    ));
                }
            }
            ForbundDissolved { merged_into, .. } => {
                if let Some(into) = merged_into {
                    if into == f {
                        return Err(Rejection::new(
                            Rule::MergerNamesItself,
                            "merged_into",
                            quoted(into),
                            "a förbund cannot merge into itself",
                        ));
                    }
                    forbund_known(into, "merged_into")?;
                }
            }
            YearClosed { year, .. } => {
                let year = *year;
                if state.closed_through.is_some_and(|c| year <= c) {
                    return Err(Rejection::new(
                        Rule::YearAlreadyClosed,
                        "year",
                        year.to_string(),
                        format!("{f} has closed {year} already"),
                    ));
                }
                let first_open = match state.closed_through {
                    Some(c) => c + 1,
                    None => state
                        .event_years
                        .iter()
                        .next()
                        .copied()
                        .unwrap_or(year)
                        .min(state.registered.year()),
                };
                if year != first_open {
                    return Err(Rejection::new(
                        Rule::YearClosedOutOfOrder,
                        "year",
                        year.to_string(),
                        format!("years close in order: close {first_open} for {f} first"),
                    ));
                }
                if event.date.year() <= year {
                    return Err(Rejection::new(
                        Rule::YearNotOver,
                        "date",
                        format!("\"{}\"", event.date),
                        format!("{year} can be closed only by an event dated after it ends"),
                    ));
                }
            }
            EventCorrected { corrects, .. } => {
                let seq = *corrects;
                let Some(owner) = self.forbund_of(seq) else {
                    return Err(Rejection::new(
                        Rule::CorrectionOfUnknownSeq,
                        "corrects",
                        seq.to_string(),
                        format!("the log has no event {seq} (its head is {})", self.head()),
                    ));
                };
                if self.corrections.contains(&seq) {
                    return Err(Rejection::new(
                        Rule::CorrectionOfCorrection,
                        "corrects",
                        seq.to_string(),
                        format!("event {seq} is itself a correction; correct the original event instead"),
                    ));
                }
                if owner != f {
                    return Err(Rejection::new(
                        Rule::CorrectionOfOtherForbund,
                        "corrects",
                        seq.to_string(),
                        format!("event {seq} belongs to the books of {owner}, not {f}"),
                    ));
                }
                if let Some(by) = self.corrected.get(&seq) {
                    return Err(Rejection::new(
                        Rule::EventAlreadyCorrected,
                        "corrects",
                        seq.to_string(),
                        format!("event {seq} was corrected already by event {by}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Applies an event that passed `check`. Returns its seq.
    pub fn apply(&mut self, event: &Event) -> u64 {
        use EventKind::*;
        let seq = self.head() + 1;
        let f = &event.forbund;
        self.head = seq;
        if self.runs.last().is_none_or(|(_, last)| last != f) {
            self.runs.push((seq, f.clone()));
        }
        if matches!(event.kind, EventCorrected { .. }) {
            self.corrections.insert(seq);
        }
        if let ForbundRegistered { name, members, .. } = &event.kind {
            let state = ForbundState {
                name: name.clone(),
                registered: event.date,
                members: members.iter().map(|m| m.id.clone()).collect(),
                insatser: BTreeMap::new(),
                budgets: BTreeMap::new(),
                granted: BTreeMap::new(),
                opening_recorded: false,
                merging_in: BTreeSet::new(),
                dissolved: None,
                closed_through: None,
                event_years: BTreeSet::new(),
            };
            let previous = self.forbund.insert(f.clone(), state);
            assert!(previous.is_none(), "apply: {f} registered twice");
        }
        let state = self
            .forbund
            .get_mut(f)
            .expect("apply: event for an unregistered förbund");
        state.event_years.insert(event.date.year());
        match &event.kind {
            ForbundRegistered { .. } => {}
            OpeningBalanceRecorded { .. } => state.opening_recorded = true,
            InsatsCreated {
                insats, category, ..
            } => {
                state.insatser.insert(insats.clone(), *category);
            }
            BudgetAdopted {
                year,
                status,
                income,
                costs,
                ..
            } => {
                let replaces = match state.budgets.get(year) {
                    None => true,
                    Some(existing) => {
                        *status == BudgetStatus::Adopted || existing.status == BudgetStatus::Outlook
                    }
                };
                if replaces {
                    state.budgets.insert(
                        *year,
                        BudgetLines {
                            status: *status,
                            income: income.iter().map(|l| l.id.clone()).collect(),
                            costs: costs
                                .iter()
                                .map(|l| (l.id.clone(), l.insats.clone()))
                                .collect(),
                        },
                    );
                }
            }
            FundingGranted {
                insats,
                year,
                amount,
                ..
            } => {
                *state
                    .granted
                    .entry(insats.clone())
                    .or_default()
                    .entry(*year)
                    .or_default() += *amount;
            }
            FundingChanged {
                insats,
                year,
                delta,
                ..
            } => {
                *state
                    .granted
                    .entry(insats.clone())
                    .or_default()
                    .entry(*year)
                    .or_default() += *delta;
            }
            MergerDecided { merging, .. } => state.merging_in.extend(merging.iter().cloned()),
            ForbundDissolved { .. } => state.dissolved = Some(event.date),
            YearClosed { year, .. } => state.closed_through = Some(*year),
            EventCorrected { corrects, .. } => {
                let previous = self.corrected.insert(*corrects, seq);
                assert!(
                    previous.is_none(),
                    "apply: event {corrects} corrected twice"
                );
            }
            ContributionReceived { .. }
            | OtherIncomeRecorded { .. }
            | CostRecorded { .. }
            | EquityTransferred { .. } => {}
        }
        seq
    }

    /// The registered förbund, by id.
    pub fn forbund_ids(&self) -> impl Iterator<Item = &Slug> {
        self.forbund.keys()
    }

    /// The name a förbund was registered with.
    pub fn forbund_name(&self, forbund: &Slug) -> Option<&str> {
        self.forbund.get(forbund).map(|s| s.name.as_str())
    }
}
