//! The ledger rules: what the log already says decides whether the next event may be recorded.
//!
//! `Ledger::check` holds every business rule and changes nothing; `Ledger::apply` is a plain
//! fold with no rules. `Ledger::record` is both, in that order. The state is small (ids, line
//! ids, grants, closed years; one short entry per seq) and serialisable, so the store can keep
//! a checkpoint of it and replay only the log's tail.

use crate::event::{BudgetStatus, Category, Event, EventKind, MemberKind, Nature, Slug};
use crate::money::Amount;
use crate::rejection::{Rejection, Rule};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Bumped whenever the shape or the meaning of the ledger state changes, so that a checkpoint
/// written by another version is rebuilt from the log instead of trusted.
pub const LEDGER_STATE_VERSION: u32 = 5;

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
    /// The events a correction may not reverse (no money or budget effect), by type.
    uncorrectable: BySeq<String>,
    /// Grants and changes of grants, so that a correction can take them back.
    grants: BySeq<(Slug, i32, Amount)>,
    /// Equity transfers: seq -> the förbund the equity came from.
    transfers: BySeq<Slug>,
    /// What each invoice event did to what is owed, so that a correction can take it back:
    /// seq -> (the invoice whose outstanding amount it changed, by how much).
    #[serde(default)]
    invoice_effects: BySeq<(Slug, Amount)>,
    /// What each contribution event did to what a member owes for a year: seq -> (member, year,
    /// change of what was decided, change of what was settled).
    #[serde(default)]
    contribution_effects: BySeq<(Slug, i32, Amount, Amount)>,
    /// Takeovers of a merging förbund's books: seq -> the förbund taken over.
    #[serde(default)]
    takeovers: BySeq<Slug>,
}

/// What events of one kind did, by seq, for a correction to take back. The events come in the
/// log's order, so this is a list sorted by seq (a map filled in order is half empty: its nodes
/// split in the middle), read by binary search. Stored as the map it replaces, `{"seq": …}`.
#[derive(Clone, Debug, PartialEq)]
struct BySeq<V>(Vec<(u64, V)>);

impl<V> Default for BySeq<V> {
    fn default() -> BySeq<V> {
        BySeq(Vec::new())
    }
}

impl<V> BySeq<V> {
    fn insert(&mut self, seq: u64, value: V) {
        match self.0.last() {
            Some((last, _)) if *last >= seq => match self.0.binary_search_by_key(&seq, |(s, _)| *s) {
                Ok(at) => self.0[at].1 = value,
                Err(at) => self.0.insert(at, (seq, value)),
            },
            _ => self.0.push((seq, value)),
        }
    }

    fn get(&self, seq: &u64) -> Option<&V> {
        self.0.binary_search_by_key(seq, |(s, _)| *s).ok().map(|at| &self.0[at].1)
    }

    fn iter(&self) -> impl Iterator<Item = (&u64, &V)> {
        self.0.iter().map(|(seq, value)| (seq, value))
    }
}

impl<V: Serialize> Serialize for BySeq<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for BySeq<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<BySeq<V>, D::Error> {
        Ok(BySeq(BTreeMap::<u64, V>::deserialize(deserializer)?.into_iter().collect()))
    }
}

/// A member's decided contribution for a year, and how much of it payments have settled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owed {
    pub decided: Amount,
    pub settled: Amount,
}

impl Owed {
    /// What a payment of `amount` settles: at most what is still owed.
    pub fn settles(&self, amount: Amount) -> Amount {
        let outstanding = self.decided - self.settled;
        if outstanding.is_positive() {
            amount.min(outstanding)
        } else {
            Amount::ZERO
        }
    }
}

/// A supplier's invoice as the rules need it: what is still owed, and how many live payments
/// and credit notes settle it (an invoice with any cannot be corrected).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct InvoiceState {
    seq: u64,
    date: NaiveDate,
    /// What the invoice charged, less its credit notes.
    #[serde(default)]
    invoiced: Amount,
    /// What is still owed; below zero when credit notes took off more than was left to pay
    /// (the supplier owes it back).
    outstanding: Amount,
    settled_by: u32,
    credit_note: bool,
    corrected: bool,
}

impl InvoiceState {
    /// An invoice still owed (or, after a credit note larger than what was left, owed back).
    fn is_open(&self) -> bool {
        !self.credit_note && !self.corrected && !self.outstanding.is_zero()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ForbundState {
    name: String,
    registered: NaiveDate,
    /// Every member the förbund has had, with its kind.
    members: BTreeMap<Slug, MemberKind>,
    /// The members in force from each date on (the registration's first), in order of record.
    #[serde(default)]
    in_force: Vec<(NaiveDate, BTreeSet<Slug>)>,
    /// The earliest date of an event in the books besides the registration.
    #[serde(default)]
    earliest: Option<NaiveDate>,
    insatser: BTreeMap<Slug, Category>,
    /// Per year: every budget recorded, in order. The one in force is the latest adopted one not
    /// withdrawn by a correction, else the latest such outlook.
    budgets: BTreeMap<i32, Vec<(u64, BudgetLines)>>,
    granted: BTreeMap<Slug, BTreeMap<i32, Amount>>,
    opening_recorded: bool,
    /// The förbund whose merger into this one has been decided.
    merging_in: BTreeSet<Slug>,
    dissolved: Option<NaiveDate>,
    closed_through: Option<i32>,
    event_years: BTreeSet<i32>,
    /// Supplier invoices and credit notes, by their id.
    #[serde(default)]
    invoices: BTreeMap<Slug, InvoiceState>,
    /// Contributions decided per member and year, and what payments settled.
    #[serde(default)]
    owed: BTreeMap<Slug, BTreeMap<i32, Owed>>,
    /// The day each merger into this förbund takes effect, by the merging förbund.
    #[serde(default)]
    merger_effective: BTreeMap<Slug, NaiveDate>,
    /// When this förbund's books were taken over: by whom, at which seq, on which day.
    #[serde(default)]
    taken_over: Option<(Slug, u64, NaiveDate)>,
    /// The years whose annual report the board has adopted, and those a revisor has reported on.
    #[serde(default)]
    adopted: BTreeSet<i32>,
    #[serde(default)]
    audited: BTreeSet<i32>,
}

impl ForbundState {
    /// The members in force on a day: those of the latest change taking effect by then (the
    /// latest recorded among changes of the same day).
    fn members_at(&self, day: NaiveDate) -> Option<&BTreeSet<Slug>> {
        let mut best: Option<&(NaiveDate, BTreeSet<Slug>)> = None;
        for entry in self.in_force.iter().filter(|(from, _)| *from <= day) {
            if best.is_none_or(|b| entry.0 >= b.0) {
                best = Some(entry);
            }
        }
        best.or(self.in_force.first()).map(|(_, m)| m)
    }

    /// The budget in force for a year: the latest adopted one not withdrawn by a correction,
    /// else the latest such outlook.
    fn budget_in_force(&self, year: i32, corrected: &BTreeMap<u64, u64>) -> Option<&BudgetLines> {
        let list = self.budgets.get(&year)?;
        let live = || list.iter().rev().filter(|(seq, _)| !corrected.contains_key(seq)).map(|(_, l)| l);
        live().find(|l| l.status == BudgetStatus::Adopted).or_else(|| live().next())
    }

    /// Whether the budget in force of an earlier year has a cost line with this id (the line a
    /// cost booked before its year's budget will most likely have again).
    fn earlier_cost_line(&self, year: i32, line: &Slug, corrected: &BTreeMap<u64, u64>) -> bool {
        self.budgets
            .range(..year)
            .rev()
            .any(|(y, _)| self.budget_in_force(*y, corrected).is_some_and(|b| b.costs.contains_key(line)))
    }
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
    let mut text = ids.iter().take(KNOWN_LISTED_MAX).map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    if ids.len() > KNOWN_LISTED_MAX {
        text.push_str(&format!(" and {} more", ids.len() - KNOWN_LISTED_MAX));
    }
    format!("known: {text}")
}

fn quoted(s: &Slug) -> String {
    format!("\"{s}\"")
}

/// The year a closing step of the path after a year's end concerns: its close, its report's
/// text and adoption, its audit and the discharge. A dissolved or taken-over förbund's last
/// years still take them.
fn path_year(kind: &EventKind) -> Option<i32> {
    match kind {
        EventKind::YearClosed { year, .. }
        | EventKind::ReportTextRecorded { year, .. }
        | EventKind::AnnualReportAdopted { year, .. }
        | EventKind::AuditReportRecorded { year, .. }
        | EventKind::DischargeDecided { year, .. } => Some(*year),
        _ => None,
    }
}

/// Adds event `seq` of `forbund` to runs as `Ledger::runs` keeps them: a new run when the
/// förbund is not the last run's.
pub fn extend_runs(runs: &mut Vec<(u64, Slug)>, seq: u64, forbund: &Slug) {
    if runs.last().is_none_or(|(_, last)| last != forbund) {
        runs.push((seq, forbund.clone()));
    }
}

/// The seqs up to `head` in the books of the förbund `wanted` picks, from runs as
/// `Ledger::runs` keeps them: inclusive ranges in seq order (adjacent runs joined).
pub fn run_ranges(runs: &[(u64, Slug)], head: u64, wanted: impl Fn(&Slug) -> bool) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for (i, (start, f)) in runs.iter().enumerate() {
        if !wanted(f) || *start > head {
            continue;
        }
        let end = runs.get(i + 1).map_or(head, |(next, _)| (next - 1).min(head));
        match ranges.last_mut() {
            Some(last) if last.1 + 1 == *start => last.1 = end,
            _ => ranges.push((*start, end)),
        }
    }
    ranges
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

    /// Which förbund's books each seq is in, as runs: `(first seq of the run, förbund)`, in
    /// seq order; a run lasts until the next one starts (the last one, until the head).
    pub fn runs(&self) -> &[(u64, Slug)] {
        &self.runs
    }

    /// Leaves out the events before `seq`: they are in the books of förbund this ledger does
    /// not hold. A ledger of some förbund's books (see the store's `Store::open_for`) applies
    /// their events with this before each run of them, then takes the whole log's runs and
    /// head (`of_whole_log`).
    pub fn skip_to(&mut self, seq: u64) {
        assert!(seq > self.head, "a ledger only skips ahead");
        self.head = seq - 1;
    }

    /// A ledger of some förbund's books takes the whole log's runs (whose books each seq is
    /// in) and head: it then checks an event of those förbund — one that names no other, and
    /// refers to no event of another — exactly as the ledger of the whole log does.
    pub fn of_whole_log(&mut self, runs: Vec<(u64, Slug)>, head: u64) {
        assert!(head >= self.head, "the whole log's head is at or after the last event applied");
        assert!(runs.last().is_none_or(|(start, _)| *start <= head), "the runs end at the head");
        self.runs = runs;
        self.head = head;
    }

    pub fn is_registered(&self, forbund: &Slug) -> bool {
        self.forbund.contains_key(forbund)
    }

    /// The seq of the correction that corrects `seq`, if any.
    pub fn corrected_by(&self, seq: u64) -> Option<u64> {
        self.corrected.get(&seq).copied()
    }

    /// The förbund whose books an event's vouchers touch, given what is recorded: its own; the
    /// other side of an equity transfer or a takeover; the förbund a merger decision names; the
    /// förbund a dissolution merges into; and for a correction, every förbund whose books the
    /// corrected event touched (a reversed transfer is booked in both books). Whoever records
    /// an event must be allowed to record in every one of them.
    pub fn touched(&self, event: &Event) -> BTreeSet<Slug> {
        let mut list: BTreeSet<Slug> = event.forbund_named().into_iter().cloned().collect();
        if let EventKind::EventCorrected { corrects, .. } = &event.kind {
            list.extend(self.forbund_of(*corrects).cloned());
            list.extend(self.transfers.get(corrects).cloned());
            list.extend(self.takeovers.get(corrects).cloned());
        }
        list
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
                    format!("no förbund with this id is registered ({})", known(self.forbund.keys())),
                ))
            }
            (_, Some(state)) => state,
        };
        // A dissolved förbund's last year may still be closed (its annual report is still due,
        // adopted by whoever holds that duty); nothing else enters its books.
        let closes_its_last_year =
            path_year(&event.kind).is_some_and(|year| state.dissolved.is_some_and(|d| year <= d.year()));
        if let Some(dissolved) = state.dissolved.filter(|_| !closes_its_last_year) {
            return Err(Rejection::new(
                Rule::ForbundDissolved,
                "forbund",
                quoted(f),
                format!("this förbund was dissolved on {dissolved}; its books take no new events"),
            ));
        }
        // Taken over, a förbund's books are final: only its last years' close and its
        // dissolution may follow.
        let still_allowed = match &event.kind {
            kind if path_year(kind).is_some() => {
                state.taken_over.as_ref().is_some_and(|(_, _, d)| path_year(kind).is_some_and(|y| y <= d.year()))
            }
            EventKind::ForbundDissolved { .. } => true,
            _ => false,
        };
        if let Some((by, seq, day)) = state.taken_over.as_ref().filter(|_| !still_allowed) {
            return Err(Rejection::new(
                Rule::ForbundTakenOver,
                "forbund",
                quoted(f),
                format!("the books of {f} were taken over by {by} on {day} (event {seq}); record this in {by}'s books (only the close of {f}'s last year and its dissolution still belong here)"),
            ));
        }
        if event.date < state.registered {
            return Err(Rejection::new(
                Rule::EventBeforeRegistration,
                "date",
                format!("\"{}\"", event.date),
                format!("this förbund's books start on {} (its registration)", state.registered),
            ));
        }
        if let Some(closed) = state.closed_through {
            if event.date.year() <= closed {
                return Err(Rejection::new(
                    Rule::YearClosed,
                    "date",
                    format!("\"{}\"", event.date),
                    format!(
                        "the year {} is closed for {f} (closed through {closed}) and locked: a late invoice or cost belongs in the open year, dated there (or in the accrual booked before the close); to take back an event of the closed year, record an EventCorrected dated in an open year",
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
                    format!("{f} has no insats with this id ({})", known(state.insatser.keys())),
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
                    format!("no förbund with this id is registered ({})", known(self.forbund.keys())),
                ))
            }
        };
        let budget = |year: i32, field: &str| -> Result<&BudgetLines, Rejection> {
            state.budget_in_force(year, &self.corrected).ok_or_else(|| {
                Rejection::new(
                    Rule::BudgetMissing,
                    field,
                    year.to_string(),
                    format!("{f} has no budget for {year}: record its BudgetAdopted first"),
                )
            })
        };
        // A member of the förbund on the event's day (one who has left may still pay what it
        // owes for a year it was a member).
        let member_known_as = |member: &Slug, field: &str| -> Result<(), Rejection> {
            let in_force = state.members_at(event.date).is_none_or(|m| m.contains(member));
            let owes = || state.owed.get(member).is_some_and(|years| years.values().any(|o| o.decided > o.settled));
            if state.members.contains_key(member) && (in_force || owes()) {
                return Ok(());
            }
            let now = state.members_at(event.date).map(|m| known(m.iter())).unwrap_or_default();
            let why = if state.members.contains_key(member) {
                format!("{member} is not a member of {f} on {} (members then: {now})", event.date)
            } else {
                format!("{f} has no member with this id ({now})")
            };
            Err(Rejection::new(Rule::MemberUnknown, field, quoted(member), why))
        };
        let member_known = |member: &Slug| member_known_as(member, "member");
        let income_line_known = |year: i32, line: &Slug| -> Result<(), Rejection> {
            let lines = budget(year, "year")?;
            if lines.income.contains(line) {
                return Ok(());
            }
            Err(Rejection::new(
                Rule::BudgetLineUnknown,
                "line",
                quoted(line),
                format!("the {year} budget of {f} has no income line with this id ({})", known(lines.income.iter())),
            ))
        };
        // The budget line and the insats a cost is charged to.
        let cost_target = |year: i32,
                           line: &Option<Slug>,
                           insats: &Option<Slug>,
                           nature: Option<Nature>|
         -> Result<(), Rejection> {
            if let Some(insats) = insats {
                insats_known(insats, "insats")?;
            }
            if let Some(line) = line {
                // Life goes on in January: before the year's budget is adopted, a cost is booked
                // on the line id it will have, outside the budget until a budget adopts the line
                // (a warning says so) — when its account is known: by its insats, by the line
                // in an earlier year's budget, or by its nature.
                if state.budget_in_force(year, &self.corrected).is_none() {
                    let own_account = nature.is_some_and(Nature::has_own_account);
                    if insats.is_some() || own_account || state.earlier_cost_line(year, line, &self.corrected) {
                        return Ok(());
                    }
                }
                let lines = budget(year, "year").map_err(|r| Rejection {
                    field: "line".into(),
                    value: quoted(line),
                    message: format!(
                        "{f} has no budget for {year} yet, and no earlier budget of {f} has a cost line {line}: name its insats (`insats`) or its nature (`nature`: personal, kopta_tjanster or ovrigt), and the cost is booked on the line outside the budget until a budget adopts it; or record the BudgetAdopted first"
                    ),
                    ..r
                })?;
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
            Ok(())
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
            InsatsCreated { insats, continues, end, .. } => {
                if state.insatser.contains_key(insats) {
                    return Err(Rejection::new(
                        Rule::InsatsAlreadyExists,
                        "insats",
                        quoted(insats),
                        format!("{f} has an insats with this id already; each insats is created once"),
                    ));
                }
                if let Some(c) = continues {
                    forbund_known(&c.forbund, "continues.forbund")?;
                    if &c.forbund == f {
                        return Err(Rejection::new(
                            Rule::MergerNamesItself,
                            "continues.forbund",
                            quoted(&c.forbund),
                            "an insats continues an insats of another förbund",
                        ));
                    }
                    if !self.forbund[&c.forbund].insatser.contains_key(&c.insats) {
                        return Err(Rejection::new(
                            Rule::InsatsUnknown,
                            "continues.insats",
                            quoted(&c.insats),
                            format!(
                                "{} has no insats with this id ({})",
                                c.forbund,
                                known(self.forbund[&c.forbund].insatser.keys())
                            ),
                        ));
                    }
                }
                if let Some(end) = end {
                    if *end < event.date {
                        return Err(Rejection::new(
                            Rule::DateInvalid,
                            "end",
                            format!("\"{end}\""),
                            format!("an insats cannot end before it is created ({})", event.date),
                        ));
                    }
                }
            }
            BudgetAdopted { costs, transfers, .. } => {
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
            FundingChanged { insats, year, delta, .. } => {
                insats_known(insats, "insats")?;
                let granted = state.granted.get(insats).and_then(|y| y.get(year)).copied().unwrap_or_default();
                if (granted + *delta).is_negative() {
                    return Err(Rejection::new(
                        Rule::GrantWouldBecomeNegative,
                        "delta",
                        format!("\"{delta}\""),
                        format!(
                            "{insats} has {} granted for {year}; a change may not take it below zero",
                            granted.human()
                        ),
                    ));
                }
            }
            ContributionReceived { member, payer, year, amount, .. } => {
                member_known(member)?;
                if *year != event.date.year() {
                    let owed = state.owed.get(member).and_then(|y| y.get(year)).cloned().unwrap_or_default();
                    if owed.settles(*amount) < *amount {
                        return Err(Rejection::new(
                            Rule::YearMustMatchDate,
                            "year",
                            year.to_string(),
                            format!(
                                "a contribution for {year} paid on {} settles what was decided for {member} for {year}, and {} is owed: record it for {} (income of that year), or decide the {year} contribution (ContributionDecided) first",
                                event.date,
                                (owed.decided - owed.settled).max(Amount::ZERO).human(),
                                event.date.year()
                            ),
                        ));
                    }
                }
                if let Some(payer) = payer {
                    member_known_as(payer, "payer")?;
                }
            }
            ContributionDecided { member, .. } => member_known(member)?,
            OtherIncomeRecorded { year, line, .. } => income_line_known(*year, line)?,
            ForecastRecorded { year, line, .. } => {
                let lines = budget(*year, "year")?;
                if !lines.costs.contains_key(line) {
                    return Err(Rejection::new(
                        Rule::BudgetLineUnknown,
                        "line",
                        quoted(line),
                        format!(
                            "the {year} budget of {f} has no cost line with this id ({}); a forecast is of a cost line",
                            known(lines.costs.keys())
                        ),
                    ));
                }
            }
            CostRecorded { year, line, insats, nature, .. } => cost_target(*year, line, insats, *nature)?,
            // Staff are paid in January before the year's budget, like any personnel cost.
            PayrollRecorded { year, line, insats, .. } => cost_target(*year, line, insats, Some(Nature::Personnel))?,
            PayrollLiabilitiesPaid { .. } | ReportTextRecorded { .. } => {}
            UnderlagAttached { of, .. } => {
                for (i, seq) in of.iter().enumerate() {
                    if self.forbund_of(*seq) != Some(f) {
                        return Err(Rejection::new(
                            Rule::ValueNotAllowed,
                            format!("of[{i}]"),
                            seq.to_string(),
                            match self.forbund_of(*seq) {
                                None => format!("no event {seq} in the log (its head is {}): underlag is attached to events already recorded", self.head),
                                Some(other) => format!("event {seq} is in the books of {other}, not of {f}: underlag is attached to the förbund's own events"),
                            },
                        ));
                    }
                }
            }
            AnnualReportAdopted { known_at, .. } => {
                if *known_at > self.head {
                    return Err(Rejection::new(
                        Rule::ValueNotAllowed,
                        "known_at",
                        known_at.to_string(),
                        format!(
                            "the report is adopted as the log stood at an event already recorded: the log's head is {}",
                            self.head
                        ),
                    ));
                }
            }
            AuditReportRecorded { year, .. } => {
                if !state.adopted.contains(year) {
                    return Err(Rejection::new(
                        Rule::ReportNotAdopted,
                        "year",
                        year.to_string(),
                        format!("{f}'s board has not adopted its annual report for {year}: the revisorer report on an adopted report (record AnnualReportAdopted first)"),
                    ));
                }
            }
            DischargeDecided { year, member, .. } => {
                if !state.members.contains_key(member) {
                    return Err(Rejection::new(
                        Rule::MemberUnknown,
                        "member",
                        quoted(member),
                        format!("{f} has no member with this id ({})", known(state.members.keys())),
                    ));
                }
                if !state.audited.contains(year) {
                    return Err(Rejection::new(
                        Rule::AuditReportMissing,
                        "year",
                        year.to_string(),
                        format!("no revisionsberättelse for {f}'s {year} is recorded: a member decides on ansvarsfrihet on the revisorer's report (record AuditReportRecorded first)"),
                    ));
                }
            }
            InvoiceReceived { year, invoice, line, insats, amount, credits, nature, .. } => {
                if state.invoices.contains_key(invoice) {
                    return Err(Rejection::new(
                        Rule::InvoiceDuplicate,
                        "invoice",
                        quoted(invoice),
                        format!("{f} has an invoice with this id already; an invoice (or credit note) is recorded once, and a payment is an InvoicePaid"),
                    ));
                }
                cost_target(*year, line, insats, *nature)?;
                if let Some(original) = credits {
                    let known_invoice = state.invoices.get(original).filter(|i| !i.corrected && !i.credit_note);
                    let Some(credited) = known_invoice else {
                        return Err(Rejection::new(
                            Rule::InvoiceUnknown,
                            "credits",
                            quoted(original),
                            format!("{f} has no invoice with this id to credit ({})", known(state.invoices.keys())),
                        ));
                    };
                    if event.date < credited.date {
                        return Err(Rejection::new(
                            Rule::DateInvalid,
                            "date",
                            format!("\"{}\"", event.date),
                            format!(
                                "invoice {original} is dated {}; a credit note of it cannot be dated earlier",
                                credited.date
                            ),
                        ));
                    }
                    if (credited.invoiced + *amount).is_negative() {
                        return Err(Rejection::new(
                            Rule::CreditNoteExceedsInvoice,
                            "amount",
                            format!("\"{amount}\""),
                            format!(
                                "invoice {original} charged {} (less its credit notes); a credit note takes off at most that",
                                credited.invoiced.human()
                            ),
                        ));
                    }
                }
            }
            AccrualRecorded { year, kind, line, insats, member, .. } => {
                if kind.is_cost() {
                    cost_target(*year, line, insats, None)?;
                } else if let Some(member) = member {
                    member_known(member)?;
                } else if let Some(line) = line {
                    income_line_known(*year, line)?;
                }
            }
            InvoicePaid { invoice, amount, .. } => {
                let payable = state.invoices.get(invoice).filter(|i| !i.corrected && !i.credit_note);
                let Some(owed) = payable else {
                    return Err(Rejection::new(
                        Rule::InvoiceUnknown,
                        "invoice",
                        quoted(invoice),
                        format!("{f} has no invoice with this id to pay ({})", known(state.invoices.keys())),
                    ));
                };
                if event.date < owed.date {
                    return Err(Rejection::new(
                        Rule::DateInvalid,
                        "date",
                        format!("\"{}\"", event.date),
                        format!("invoice {invoice} is dated {}; it cannot be paid before it arrived", owed.date),
                    ));
                }
                if amount.is_negative() && *amount < owed.outstanding.min(Amount::ZERO) {
                    return Err(Rejection::new(
                        Rule::InvoiceOverpaid,
                        "amount",
                        format!("\"{amount}\""),
                        format!(
                            "the supplier owes {} back on invoice {invoice}; a refund (a negative payment) brings back at most that",
                            (-owed.outstanding).max(Amount::ZERO).human()
                        ),
                    ));
                }
                if *amount > owed.outstanding {
                    return Err(Rejection::new(
                        Rule::InvoiceOverpaid,
                        "amount",
                        format!("\"{amount}\""),
                        format!(
                            "invoice {invoice} has {} outstanding; a payment settles at most that",
                            owed.outstanding.human()
                        ),
                    ));
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
            EquityTransferred { from, .. } | BalancesTakenOver { from, .. } => {
                forbund_known(from, "from")?;
                let takeover = matches!(event.kind, BalancesTakenOver { .. });
                // A dissolved förbund's bank can pay nothing out; its books can still be taken over.
                if let Some(day) = self.forbund[from].dissolved.filter(|_| !takeover) {
                    return Err(Rejection::new(
                        Rule::TransferFromDissolvedForbund,
                        "from",
                        quoted(from),
                        format!("this förbund was dissolved on {day}; record the transfer before the dissolution"),
                    ));
                }
                self.check_not_settled(from, takeover)?;
                if !state.merging_in.contains(from) {
                    return Err(Rejection::new(
                        Rule::TransferWithoutMerger,
                        "from",
                        quoted(from),
                        format!("equity and books move into {f} only from a förbund whose merger into it is decided: record the MergerDecided first"),
                    ));
                }
                if takeover {
                    self.check_takeover(state, event, from)?;
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
            MembersChanged { effective, members, .. } => {
                if *effective < state.registered {
                    return Err(Rejection::new(
                        Rule::DateInvalid,
                        "effective",
                        format!("\"{effective}\""),
                        format!(
                            "{f}'s books begin on {}; a change of members takes effect no earlier",
                            state.registered
                        ),
                    ));
                }
                for (i, m) in members.iter().enumerate() {
                    if let Some(kind) = state.members.get(&m.id).filter(|k| **k != m.kind) {
                        return Err(Rejection::new(
                            Rule::MemberKindChanged,
                            format!("members[{i}].kind"),
                            format!("\"{}\"", m.kind.as_str()),
                            format!("{} is a member of kind {} in {f}; a member keeps its kind (a new party is a new member)", m.id, kind.as_str()),
                        ));
                    }
                }
            }
            InsatsChanged { insats, effective, .. } => {
                insats_known(insats, "insats")?;
                if *effective < state.registered {
                    return Err(Rejection::new(
                        Rule::DateInvalid,
                        "effective",
                        format!("\"{effective}\""),
                        format!("{f}'s books begin on {}; a change takes effect no earlier", state.registered),
                    ));
                }
            }
            RegistrationCorrected { registered: Some(day), .. } => {
                if let Some(earliest) = state.earliest.filter(|e| e < day) {
                    return Err(Rejection::new(
                        Rule::EventBeforeRegistration,
                        "registered",
                        format!("\"{day}\""),
                        format!("{f}'s books hold events from {earliest}; they cannot begin later than that"),
                    ));
                }
            }
            RegistrationCorrected { .. } => {}
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
                    None => state.event_years.iter().next().copied().unwrap_or(year).min(state.registered.year()),
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
                if let Some(from) = self.takeovers.get(&seq) {
                    return Err(Rejection::new(
                        Rule::CorrectionNotAllowed,
                        "corrects",
                        seq.to_string(),
                        format!("event {seq} took over the books of {from}, which are final since: a takeover is not reversed; correct the events it moved in {f}'s books instead"),
                    ));
                }
                if let Some(kind) = self.uncorrectable.get(&seq) {
                    return Err(Rejection::new(
                        Rule::CorrectionNotAllowed,
                        "corrects",
                        seq.to_string(),
                        format!(
                            "event {seq} is of type {kind}: it moves no money and sets no budget, so there is nothing to reverse; record the decision that changes it instead"
                        ),
                    ));
                }
                if let Some(from) = self.transfers.get(&seq) {
                    if let Some(day) = self.forbund.get(from).and_then(|s| s.dissolved) {
                        return Err(Rejection::new(
                            Rule::TransferFromDissolvedForbund,
                            "corrects",
                            seq.to_string(),
                            format!("event {seq} moved equity from {from}, which was dissolved on {day}: its books cannot take the money back"),
                        ));
                    }
                }
                if let Some((member, year, decided, _)) = self.contribution_effects.get(&seq) {
                    let owed = state.owed.get(member).and_then(|y| y.get(year)).cloned().unwrap_or_default();
                    if decided.is_positive() && owed.settled > owed.decided - *decided {
                        return Err(Rejection::new(
                            Rule::ContributionHasPayments,
                            "corrects",
                            seq.to_string(),
                            format!(
                                "event {seq} decided {member}'s contribution for {year}, of which payments have settled {}: correct those payments first",
                                owed.settled.human()
                            ),
                        ));
                    }
                }
                if let Some((invoice, _)) = self.invoice_effects.get(&seq) {
                    let settled = state.invoices.get(invoice).filter(|i| i.seq == seq && i.settled_by > 0);
                    if let Some(i) = settled {
                        return Err(Rejection::new(
                            Rule::InvoiceHasPayments,
                            "corrects",
                            seq.to_string(),
                            format!(
                                "event {seq} is invoice {invoice}, settled by {} payment(s) or credit note(s): correct those first",
                                i.settled_by
                            ),
                        ));
                    }
                }
                if let Some((insats, year, amount)) = self.grants.get(&seq) {
                    let granted = state.granted.get(insats).and_then(|y| y.get(year)).copied().unwrap_or_default();
                    if (granted - *amount).is_negative() {
                        return Err(Rejection::new(
                            Rule::GrantWouldBecomeNegative,
                            "corrects",
                            seq.to_string(),
                            format!("reversing event {seq} would take the grant to {insats} for {year} below zero ({} granted now)", granted.human()),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// A förbund's books are taken over once, and then take no transfer typed by hand; a
    /// takeover does not follow such transfers (v1, which may be several) either.
    fn check_not_settled(&self, from: &Slug, takeover: bool) -> Result<(), Rejection> {
        if let Some((by, seq, _)) = &self.forbund[from].taken_over {
            return Err(Rejection::new(
                Rule::TakeoverTwice,
                "from",
                quoted(from),
                format!("the books of {from} were taken over by {by} already (event {seq}); they are zero since"),
            ));
        }
        if let Some((seq, _)) = self.transfers.iter().find(|(_, f)| *f == from).filter(|_| takeover) {
            return Err(Rejection::new(
                Rule::TakeoverTwice,
                "from",
                quoted(from),
                format!("equity of {from} was transferred already (EquityTransferred, event {seq}); a förbund's books are handed over once, by a BalancesTakenOver or (v1) by EquityTransferred"),
            ));
        }
        Ok(())
    }

    /// A takeover happens on the day its merger takes effect, and the invoices still open in
    /// the old books keep their ids in the new ones.
    fn check_takeover(&self, state: &ForbundState, event: &Event, from: &Slug) -> Result<(), Rejection> {
        let f = &event.forbund;
        let effective = state.merger_effective[from];
        if event.date != effective {
            return Err(Rejection::new(
                Rule::TakeoverDate,
                "date",
                format!("\"{}\"", event.date),
                format!("the merger of {from} into {f} takes effect on {effective}: the books are taken over on that day (record the event dated {effective})"),
            ));
        }
        let old = &self.forbund[from];
        for (id, _) in old.invoices.iter().filter(|(_, i)| i.is_open()) {
            if state.invoices.contains_key(id) {
                return Err(Rejection::new(
                    Rule::InvoiceDuplicate,
                    "from",
                    quoted(from),
                    format!("{from}'s open invoice {id} would be taken over, but {f} has an invoice with this id already; pay or credit it in {from}'s books before the takeover"),
                ));
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
        extend_runs(&mut self.runs, seq, f);
        if matches!(event.kind, EventCorrected { .. }) {
            self.corrections.insert(seq);
        }
        if let ForbundRegistered { name, members, .. } = &event.kind {
            let state = ForbundState {
                name: name.clone(),
                registered: event.date,
                members: members.iter().map(|m| (m.id.clone(), m.kind)).collect(),
                in_force: vec![(event.date, members.iter().map(|m| m.id.clone()).collect())],
                earliest: None,
                insatser: BTreeMap::new(),
                budgets: BTreeMap::new(),
                granted: BTreeMap::new(),
                opening_recorded: false,
                merging_in: BTreeSet::new(),
                dissolved: None,
                closed_through: None,
                event_years: BTreeSet::new(),
                invoices: BTreeMap::new(),
                owed: BTreeMap::new(),
                merger_effective: BTreeMap::new(),
                taken_over: None,
                adopted: BTreeSet::new(),
                audited: BTreeSet::new(),
            };
            let previous = self.forbund.insert(f.clone(), state);
            assert!(previous.is_none(), "apply: {f} registered twice");
        }
        let state = self.forbund.get_mut(f).expect("apply: event for an unregistered förbund");
        state.event_years.insert(event.date.year());
        if !matches!(event.kind, ForbundRegistered { .. } | RegistrationCorrected { .. }) {
            state.earliest = Some(state.earliest.map_or(event.date, |d| d.min(event.date)));
        }
        match &event.kind {
            ForbundRegistered { .. } => {}
            OpeningBalanceRecorded { .. } => state.opening_recorded = true,
            InsatsCreated { insats, category, .. } => {
                state.insatser.insert(insats.clone(), *category);
            }
            BudgetAdopted { year, status, income, costs, .. } => {
                let lines = BudgetLines {
                    status: *status,
                    income: income.iter().map(|l| l.id.clone()).collect(),
                    costs: costs.iter().map(|l| (l.id.clone(), l.insats.clone())).collect(),
                };
                state.budgets.entry(*year).or_default().push((seq, lines));
            }
            FundingGranted { insats, year, amount, .. } => {
                *state.granted.entry(insats.clone()).or_default().entry(*year).or_default() += *amount;
                self.grants.insert(seq, (insats.clone(), *year, *amount));
            }
            FundingChanged { insats, year, delta, .. } => {
                *state.granted.entry(insats.clone()).or_default().entry(*year).or_default() += *delta;
                self.grants.insert(seq, (insats.clone(), *year, *delta));
            }
            MergerDecided { merging, effective, .. } => {
                state.merging_in.extend(merging.iter().cloned());
                state.merger_effective.extend(merging.iter().map(|m| (m.clone(), *effective)));
            }
            ForbundDissolved { .. } => state.dissolved = Some(event.date),
            YearClosed { year, .. } => state.closed_through = Some(*year),
            MembersChanged { effective, members, .. } => {
                state.members.extend(members.iter().map(|m| (m.id.clone(), m.kind)));
                state.in_force.push((*effective, members.iter().map(|m| m.id.clone()).collect()));
            }
            InsatsChanged { insats, category: Some(category), .. } => {
                state.insatser.insert(insats.clone(), *category);
            }
            InsatsChanged { .. } => {}
            RegistrationCorrected { name, registered, .. } => {
                if let Some(name) = name {
                    state.name = name.clone();
                }
                if let Some(day) = registered {
                    state.registered = *day;
                }
            }
            EventCorrected { corrects, .. } => {
                let previous = self.corrected.insert(*corrects, seq);
                assert!(previous.is_none(), "apply: event {corrects} corrected twice");
                if let Some((insats, year, amount)) = self.grants.get(corrects) {
                    *state.granted.entry(insats.clone()).or_default().entry(*year).or_default() -= *amount;
                }
                if let Some((member, year, decided, settled)) = self.contribution_effects.get(corrects) {
                    let owed = state.owed.entry(member.clone()).or_default().entry(*year).or_default();
                    owed.decided -= *decided;
                    owed.settled -= *settled;
                }
                if let Some((invoice, effect)) = self.invoice_effects.get(corrects) {
                    let credit_note = state.invoices.values().any(|i| i.seq == *corrects && i.credit_note);
                    let owed = state.invoices.get_mut(invoice).expect("apply: an invoice effect names a known invoice");
                    owed.outstanding -= *effect;
                    if credit_note {
                        owed.invoiced -= *effect;
                    }
                    if owed.seq != *corrects {
                        owed.settled_by -= 1; // a payment or a credit note taken back
                    }
                    for i in state.invoices.values_mut().filter(|i| i.seq == *corrects) {
                        i.corrected = true;
                    }
                }
            }
            EquityTransferred { from, .. } => {
                self.transfers.insert(seq, from.clone());
            }
            BalancesTakenOver { from, .. } => {
                // What is still owed either way moves with the books: the open invoices (paid
                // from here on by the new förbund) and the members' outstanding contributions.
                let old = &self.forbund[from];
                let invoices: Vec<(Slug, InvoiceState)> =
                    old.invoices.iter().filter(|(_, i)| i.is_open()).map(|(id, i)| (id.clone(), i.clone())).collect();
                let owed = old.owed.clone();
                let state = self.forbund.get_mut(f).expect("apply: the new förbund is registered");
                state.invoices.extend(invoices);
                for (member, years) in owed {
                    for (year, o) in years {
                        let into = state.owed.entry(member.clone()).or_default().entry(year).or_default();
                        into.decided += o.decided;
                        into.settled += o.settled;
                    }
                }
                self.forbund.get_mut(from).expect("apply: check found the old förbund").taken_over =
                    Some((f.clone(), seq, event.date));
                self.takeovers.insert(seq, from.clone());
            }
            OtherIncomeRecorded { .. }
            | CostRecorded { .. }
            | AccrualRecorded { .. }
            | ForecastRecorded { .. }
            | PayrollRecorded { .. }
            | PayrollLiabilitiesPaid { .. }
            | ReportTextRecorded { .. }
            | UnderlagAttached { .. }
            | DischargeDecided { .. } => {}
            AnnualReportAdopted { year, .. } => {
                state.adopted.insert(*year);
            }
            AuditReportRecorded { year, .. } => {
                state.audited.insert(*year);
            }
            ContributionDecided { member, year, amount, .. } => {
                state.owed.entry(member.clone()).or_default().entry(*year).or_default().decided += *amount;
                self.contribution_effects.insert(seq, (member.clone(), *year, *amount, Amount::ZERO));
            }
            ContributionReceived { member, year, amount, .. } => {
                let owed = state.owed.entry(member.clone()).or_default().entry(*year).or_default();
                let settles = owed.settles(*amount);
                owed.settled += settles;
                self.contribution_effects.insert(seq, (member.clone(), *year, Amount::ZERO, settles));
            }
            InvoiceReceived { invoice, amount, credits, .. } => {
                let own = InvoiceState {
                    seq,
                    date: event.date,
                    invoiced: if credits.is_some() { Amount::ZERO } else { *amount },
                    outstanding: if credits.is_some() { Amount::ZERO } else { *amount },
                    settled_by: 0,
                    credit_note: credits.is_some(),
                    corrected: false,
                };
                state.invoices.insert(invoice.clone(), own);
                let owed = credits.as_ref().unwrap_or(invoice);
                if credits.is_some() {
                    let credited = state.invoices.get_mut(owed).expect("apply: check found the credited invoice");
                    credited.outstanding += *amount;
                    credited.invoiced += *amount;
                    credited.settled_by += 1;
                }
                self.invoice_effects.insert(seq, (owed.clone(), *amount));
            }
            InvoicePaid { invoice, amount, .. } => {
                let owed = state.invoices.get_mut(invoice).expect("apply: check found the invoice");
                owed.outstanding -= *amount;
                owed.settled_by += 1;
                self.invoice_effects.insert(seq, (invoice.clone(), -*amount));
            }
        }
        if matches!(
            event.kind,
            ForbundRegistered { .. }
                | InsatsCreated { .. }
                | MergerDecided { .. }
                | ForbundDissolved { .. }
                | YearClosed { .. }
                | MembersChanged { .. }
                | InsatsChanged { .. }
                | RegistrationCorrected { .. }
                | ReportTextRecorded { .. }
                | AnnualReportAdopted { .. }
                | AuditReportRecorded { .. }
                | DischargeDecided { .. }
                | UnderlagAttached { .. }
        ) {
            self.uncorrectable.insert(seq, event.type_name().to_string());
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

    /// A förbund's supplier invoices still open, with what is outstanding (negative: a credit
    /// note took off more than was left, and the supplier owes it back), by invoice id.
    pub fn open_invoices(&self, forbund: &Slug) -> Vec<(&Slug, Amount)> {
        self.forbund
            .get(forbund)
            .map(|s| s.invoices.iter().filter(|(_, i)| i.is_open()).map(|(id, i)| (id, i.outstanding)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod by_seq_tests {
    use super::*;

    /// Read as the map it replaces: the same answers, the same stored JSON, in any order of insertion.
    #[test]
    fn a_list_by_seq_answers_and_is_stored_as_the_map_it_replaces() {
        let inserts = [(3, "c"), (7, "g"), (12, "l"), (5, "e"), (7, "G"), (1, "a"), (20, "t")];
        let (mut list, mut map) = (BySeq::default(), BTreeMap::new());
        for (seq, value) in inserts {
            list.insert(seq, value.to_string());
            map.insert(seq, value.to_string());
        }
        for seq in 0..25 {
            assert_eq!(list.get(&seq), map.get(&seq), "seq {seq}");
        }
        let stored = serde_json::to_string(&list).unwrap();
        assert_eq!(stored, serde_json::to_string(&map).unwrap());
        assert_eq!(stored, r#"{"1":"a","3":"c","5":"e","7":"G","12":"l","20":"t"}"#);
        assert_eq!(serde_json::from_str::<BySeq<String>>(&stored).unwrap(), list);
    }
}

#[cfg(test)]
mod tests {
    //! Given these events, when this one is recorded, then it is accepted or refused by a rule.
    use super::*;
    use crate::rejection::Rule;
    use serde_json::{json, Value};

    fn event(v: Value) -> Event {
        Event::from_json(&v).unwrap_or_else(|r| panic!("test event is well-formed: {r}"))
    }

    fn given(events: &[Value]) -> Ledger {
        let mut ledger = Ledger::new();
        for (i, v) in events.iter().enumerate() {
            ledger.record(&event(v.clone())).unwrap_or_else(|r| panic!("given event {} is accepted: {r}", i + 1));
        }
        ledger
    }

    #[track_caller]
    fn refused(ledger: &Ledger, when: Value, rule: Rule) {
        let r = ledger.check(&event(when)).expect_err("must be refused");
        assert_eq!(r.rule, rule, "{r}");
    }

    #[track_caller]
    fn accepted(ledger: &mut Ledger, when: Value) -> u64 {
        ledger.record(&event(when)).unwrap_or_else(|r| panic!("must be accepted: {r}"))
    }

    fn decision() -> Value {
        json!({"body": "styrelsen", "date": "2024-02-01", "paragraph": "§ 3"})
    }

    fn registered(id: &str) -> Value {
        json!({"type": "ForbundRegistered", "forbund": id, "date": "2023-11-16", "name": format!("SF {id}"),
            "members": [
                {"id": "fk", "name": "Försäkringskassan", "kind": "staten", "share": "0.25"},
                {"id": "af", "name": "Arbetsförmedlingen", "kind": "staten", "share": "0.25"},
                {"id": "region", "name": "Region Västmanland", "kind": "region", "share": "0.25"},
                {"id": "sala", "name": "Sala kommun", "kind": "kommun", "share": "0.25"}]})
    }

    fn insats(forbund: &str, id: &str) -> Value {
        json!({"type": "InsatsCreated", "forbund": forbund, "date": "2024-01-10", "insats": id, "name": "Samordningsteam",
            "category": "individ", "decision": decision()})
    }

    fn budget(forbund: &str, year: i32) -> Value {
        json!({"type": "BudgetAdopted", "forbund": forbund, "date": "2024-01-10", "year": year, "decision": decision(),
            "income": [{"id": "bidrag", "name": "Medlemsbidrag", "amount": "1000000"}],
            "costs": [{"id": "team", "name": "Samordningsteam", "category": "individ", "insats": "team", "amount": "800000"},
                      {"id": "kansli", "name": "Kansli", "category": "admin", "amount": "200000"}]})
    }

    fn cost(forbund: &str, line: &str, date: &str) -> Value {
        json!({"type": "CostRecorded", "forbund": forbund, "date": date, "year": date[..4].parse::<i32>().unwrap(),
            "line": line, "amount": "100", "reference": "F1", "text": "faktura"})
    }

    fn year_closed(forbund: &str, year: i32, date: &str) -> Value {
        json!({"type": "YearClosed", "forbund": forbund, "date": date, "year": year, "decision": decision()})
    }

    #[test]
    fn a_forbund_is_registered_once() {
        let ledger = given(&[registered("sf-a")]);
        refused(&ledger, registered("sf-a"), Rule::ForbundAlreadyRegistered);
    }

    #[test]
    fn events_need_a_registered_forbund() {
        let ledger = given(&[registered("sf-a")]);
        refused(&ledger, insats("sf-b", "team"), Rule::ForbundUnknown);
    }

    #[test]
    fn events_before_the_books_begin_are_refused() {
        let ledger = given(&[registered("sf-a")]);
        refused(&ledger, cost("sf-a", "team", "2023-01-05"), Rule::EventBeforeRegistration);
    }

    #[test]
    fn contributions_come_from_members() {
        let mut ledger = given(&[registered("sf-a")]);
        let c = |m: &str| {
            json!({"type": "ContributionReceived", "forbund": "sf-a", "date": "2024-01-31",
            "member": m, "year": 2024, "amount": "250000", "reference": "Q1"})
        };
        refused(&ledger, c("uppsala"), Rule::MemberUnknown);
        accepted(&mut ledger, c("sala"));
    }

    #[test]
    fn an_insats_is_created_once_and_must_exist_to_be_granted() {
        let mut ledger = given(&[registered("sf-a")]);
        let grant = json!({"type": "FundingGranted", "forbund": "sf-a", "date": "2024-01-15", "insats": "team",
            "year": 2024, "amount": "800000", "decision": decision()});
        refused(&ledger, grant.clone(), Rule::InsatsUnknown);
        accepted(&mut ledger, insats("sf-a", "team"));
        refused(&ledger, insats("sf-a", "team"), Rule::InsatsAlreadyExists);
        accepted(&mut ledger, grant);
    }

    #[test]
    fn a_grant_may_not_be_changed_below_zero() {
        let mut ledger = given(&[registered("sf-a"), insats("sf-a", "team")]);
        accepted(
            &mut ledger,
            json!({"type": "FundingGranted", "forbund": "sf-a", "date": "2024-01-15", "insats": "team",
            "year": 2024, "amount": "1000", "decision": decision()}),
        );
        let change = |delta: &str| {
            json!({"type": "FundingChanged", "forbund": "sf-a", "date": "2024-06-01", "insats": "team",
            "year": 2024, "delta": delta, "reason": "omprioritering", "decision": decision()})
        };
        refused(&ledger, change("-1000.01"), Rule::GrantWouldBecomeNegative);
        accepted(&mut ledger, change("-1000"));
    }

    #[test]
    fn costs_are_charged_to_lines_of_the_years_budget() {
        let mut ledger = given(&[registered("sf-a"), insats("sf-a", "team")]);
        refused(&ledger, cost("sf-a", "team", "2024-03-31"), Rule::BudgetMissing);
        accepted(&mut ledger, budget("sf-a", 2024));
        refused(&ledger, cost("sf-a", "styrelse", "2024-03-31"), Rule::BudgetLineUnknown);
        accepted(&mut ledger, cost("sf-a", "team", "2024-03-31"));
        let mut wrong_insats = cost("sf-a", "kansli", "2024-03-31");
        wrong_insats["insats"] = json!("team");
        accepted(&mut ledger, wrong_insats);
        accepted(&mut ledger, insats("sf-a", "other"));
        let mut disagreeing = cost("sf-a", "team", "2024-03-31");
        disagreeing["insats"] = json!("other");
        refused(&ledger, disagreeing, Rule::LineAndInsatsDisagree);
    }

    #[test]
    fn a_closed_year_is_locked_and_years_close_in_order() {
        let mut ledger = given(&[
            registered("sf-a"),
            insats("sf-a", "team"),
            budget("sf-a", 2024),
            cost("sf-a", "team", "2024-03-31"),
        ]);
        refused(&ledger, year_closed("sf-a", 2024, "2025-02-10"), Rule::YearClosedOutOfOrder);
        refused(&ledger, year_closed("sf-a", 2023, "2023-12-31"), Rule::YearNotOver);
        accepted(&mut ledger, year_closed("sf-a", 2023, "2024-02-10"));
        refused(&ledger, year_closed("sf-a", 2023, "2024-02-11"), Rule::YearAlreadyClosed);
        accepted(&mut ledger, year_closed("sf-a", 2024, "2025-02-10"));
        let r = ledger.check(&event(cost("sf-a", "team", "2024-12-31"))).unwrap_err();
        assert_eq!(r.rule, Rule::YearClosed);
        assert!(r.message.contains("EventCorrected"), "the message says how to correct: {r}");
    }

    #[test]
    fn equity_moves_only_along_a_decided_merger_and_before_dissolution() {
        let mut ledger = given(&[registered("sf-new"), registered("sf-old")]);
        let transfer = json!({"type": "EquityTransferred", "forbund": "sf-new", "date": "2024-01-01", "from": "sf-old",
            "amount": "396000", "reference": "bokslut 2023"});
        refused(&ledger, transfer.clone(), Rule::TransferWithoutMerger);
        let merger = |merging: Value| {
            json!({"type": "MergerDecided", "forbund": "sf-new", "date": "2023-11-16", "merging": merging,
            "effective": "2024-01-01", "estimated_transfers": [], "decision": decision()})
        };
        refused(&ledger, merger(json!(["sf-new"])), Rule::MergerNamesItself);
        refused(&ledger, merger(json!(["sf-gone"])), Rule::ForbundUnknown);
        accepted(&mut ledger, merger(json!(["sf-old"])));
        accepted(&mut ledger, transfer.clone());
        accepted(
            &mut ledger,
            json!({"type": "ForbundDissolved", "forbund": "sf-old", "date": "2024-01-01",
            "merged_into": "sf-new", "decision": decision()}),
        );
        refused(&ledger, transfer, Rule::TransferFromDissolvedForbund);
        refused(&ledger, insats("sf-old", "team"), Rule::ForbundDissolved);
    }

    /// What an event touches is what its vouchers touch: a transfer both förbund's books, and
    /// so does its correction, though it is recorded in the receiving förbund alone.
    #[test]
    fn an_event_touches_the_books_its_vouchers_are_booked_in() {
        let mut ledger = given(&[registered("sf-new"), registered("sf-old"), registered("sf-other")]);
        let slugs = |list: &[&str]| list.iter().map(|s| Slug::parse(s).unwrap()).collect::<BTreeSet<_>>();
        let merger = json!({"type": "MergerDecided", "forbund": "sf-new", "date": "2023-11-16", "merging": ["sf-old"],
            "effective": "2024-01-01", "estimated_transfers": [], "decision": decision()});
        assert_eq!(ledger.touched(&event(merger.clone())), slugs(&["sf-new", "sf-old"]));
        accepted(&mut ledger, merger);
        let transfer = json!({"type": "EquityTransferred", "forbund": "sf-new", "date": "2024-01-01", "from": "sf-old",
            "amount": "396000", "reference": "bokslut 2023"});
        assert_eq!(ledger.touched(&event(transfer.clone())), slugs(&["sf-new", "sf-old"]));
        let seq = accepted(&mut ledger, transfer);
        let correction = json!({"type": "EventCorrected", "forbund": "sf-new", "date": "2024-02-01",
            "corrects": seq, "reason": "fel belopp"});
        assert_eq!(ledger.touched(&event(correction)), slugs(&["sf-new", "sf-old"]));
        // A correction naming another förbund's event touches that förbund (and is refused by
        // the rules besides); one naming no event touches only its own.
        let other = json!({"type": "EventCorrected", "forbund": "sf-other", "date": "2024-02-01",
            "corrects": seq, "reason": "fel"});
        assert_eq!(ledger.touched(&event(other)), slugs(&["sf-new", "sf-old", "sf-other"]));
        let unknown = json!({"type": "EventCorrected", "forbund": "sf-other", "date": "2024-02-01",
            "corrects": 999, "reason": "fel"});
        assert_eq!(ledger.touched(&event(unknown)), slugs(&["sf-other"]));
        let takeover = json!({"type": "BalancesTakenOver", "forbund": "sf-new", "date": "2024-01-01", "from": "sf-old",
            "reference": "bokslut"});
        assert_eq!(ledger.touched(&event(takeover)), slugs(&["sf-new", "sf-old"]));
        let contribution = json!({"type": "ContributionReceived", "forbund": "sf-other", "date": "2024-01-31",
            "member": "sala", "year": 2024, "amount": "250000", "reference": "Q1"});
        assert_eq!(ledger.touched(&event(contribution)), slugs(&["sf-other"]));
    }

    #[test]
    fn corrections_correct_an_original_of_the_same_books_once() {
        let contribution = json!({"type": "ContributionReceived", "forbund": "sf-a", "date": "2024-01-31",
            "member": "sala", "year": 2024, "amount": "250000", "reference": "Q1"});
        let mut ledger = given(&[registered("sf-a"), registered("sf-b"), insats("sf-a", "team"), contribution]);
        let correction = |forbund: &str, seq: u64| {
            json!({"type": "EventCorrected", "forbund": forbund, "date": "2024-02-01",
            "corrects": seq, "reason": "fel belopp"})
        };
        refused(&ledger, correction("sf-a", 9), Rule::CorrectionOfUnknownSeq);
        refused(&ledger, correction("sf-b", 4), Rule::CorrectionOfOtherForbund);
        refused(&ledger, correction("sf-a", 3), Rule::CorrectionNotAllowed);
        refused(&ledger, correction("sf-a", 1), Rule::CorrectionNotAllowed);
        let c = accepted(&mut ledger, correction("sf-a", 4));
        assert_eq!(ledger.corrected_by(4), Some(c));
        refused(&ledger, correction("sf-a", 4), Rule::EventAlreadyCorrected);
        refused(&ledger, correction("sf-a", c), Rule::CorrectionOfCorrection);
    }

    #[test]
    fn a_corrected_grant_and_budget_stop_counting() {
        let grant = json!({"type": "FundingGranted", "forbund": "sf-a", "date": "2024-01-15", "insats": "team",
            "year": 2024, "amount": "1000", "decision": decision()});
        let mut ledger = given(&[registered("sf-a"), insats("sf-a", "team"), grant, budget("sf-a", 2024)]);
        let correction = |seq: u64| {
            json!({"type": "EventCorrected", "forbund": "sf-a", "date": "2024-02-01",
            "corrects": seq, "reason": "fel", "decision": decision()})
        };
        let change = |delta: &str| {
            json!({"type": "FundingChanged", "forbund": "sf-a", "date": "2024-06-01", "insats": "team",
            "year": 2024, "delta": delta, "reason": "minskning", "decision": decision()})
        };
        accepted(&mut ledger, change("-600"));
        refused(&ledger, correction(3), Rule::GrantWouldBecomeNegative);
        accepted(&mut ledger, change("600"));
        accepted(&mut ledger, correction(3));
        refused(&ledger, change("-0.01"), Rule::GrantWouldBecomeNegative);
        accepted(&mut ledger, correction(4));
        refused(&ledger, cost("sf-a", "team", "2024-03-31"), Rule::BudgetMissing);
    }

    #[test]
    fn an_insats_continues_an_existing_insats_of_another_forbund_and_ends_after_it_starts() {
        let mut ledger = given(&[registered("sf-new"), registered("sf-old"), insats("sf-old", "team")]);
        let carried = |forbund: &str, old_insats: &str| {
            let mut v = insats("sf-new", "team");
            v["continues"] = json!({"forbund": forbund, "insats": old_insats});
            v
        };
        refused(&ledger, carried("sf-old", "other"), Rule::InsatsUnknown);
        refused(&ledger, carried("sf-gone", "team"), Rule::ForbundUnknown);
        refused(&ledger, carried("sf-new", "team"), Rule::MergerNamesItself);
        let mut ends_early = insats("sf-new", "x");
        ends_early["end"] = json!("2024-01-09");
        refused(&ledger, ends_early, Rule::DateInvalid);
        accepted(&mut ledger, carried("sf-old", "team"));
    }

    #[test]
    fn the_forbund_of_every_seq_is_known() {
        let ledger = given(&[
            registered("sf-a"),
            registered("sf-b"),
            insats("sf-a", "x"),
            insats("sf-a", "y"),
            insats("sf-b", "z"),
        ]);
        let owners: Vec<&str> = (1..=5).map(|s| ledger.forbund_of(s).unwrap().as_str()).collect();
        assert_eq!(owners, ["sf-a", "sf-b", "sf-a", "sf-a", "sf-b"]);
        assert_eq!(ledger.forbund_of(0), None);
        assert_eq!(ledger.forbund_of(6), None);
    }
}
