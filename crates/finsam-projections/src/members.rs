//! The members' contributions of a year, member by member and payer by payer: what was decided
//! (and so invoiced: a decision is the förbund's claim on the member), what was paid, what is
//! outstanding. The reconciliation's payer table and `finsam report members` both read it.

use crate::projection::Projection;
use crate::reports::At;
use chrono::NaiveDate;
use finsam_domain::{Amount, MemberKind, Slug};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// One member's contributions for a year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub member: Slug,
    pub name: String,
    pub kind: MemberKind,
    /// Its share as last decided (zero for one no longer a member at the year's end).
    pub share: Decimal,
    pub decided: Amount,
    /// Of `decided`, what falls due after the report's date by the invoicing plans (zero at
    /// the year's end, and for decisions without a plan, due on their date).
    pub not_yet_due: Amount,
    pub paid: Amount,
    /// Who paid for it last, when not the member itself (Försäkringskassan pays for
    /// Arbetsförmedlingen).
    pub paid_by: Option<Slug>,
    /// Whether any contribution was decided for it for the year (without one, nothing is owed
    /// and a payment is not a negative debt).
    pub decided_any: bool,
    /// The insatser it runs (the decision names it their owner), with what the förbund's books
    /// charged to each in the year: what the förbund paid it back for its work.
    pub runs: Vec<(Slug, String, Amount)>,
    /// The seqs of its decisions and payments.
    pub seqs: Vec<u64>,
}

impl MemberRow {
    fn new(member: &Slug, name: &str, kind: MemberKind, share: Decimal) -> MemberRow {
        MemberRow {
            member: member.clone(),
            name: name.to_string(),
            kind,
            share,
            decided: Amount::ZERO,
            not_yet_due: Amount::ZERO,
            paid: Amount::ZERO,
            paid_by: None,
            decided_any: false,
            runs: Vec::new(),
            seqs: Vec::new(),
        }
    }

    /// Decided less paid: what the member still owes (negative: paid more than decided);
    /// `None` in a year nothing was decided for it (then nothing is owed).
    pub fn outstanding(&self) -> Option<Amount> {
        self.decided_any.then(|| self.decided - self.paid)
    }

    /// What has fallen due by the report's date and is not paid (never negative); `None` in a
    /// year nothing was decided for it.
    pub fn overdue(&self) -> Option<Amount> {
        self.decided_any.then(|| (self.decided - self.not_yet_due - self.paid).max(Amount::ZERO))
    }

    /// What the förbund paid for the insatser the member runs.
    pub fn received(&self) -> Amount {
        self.runs.iter().map(|(.., a)| *a).sum()
    }

    /// Its netting for the year: what it paid in less what it got back for the insatser it runs
    /// (positive: it paid in more).
    pub fn net(&self) -> Amount {
        self.paid - self.received()
    }
}

/// One payer's contributions for a year: the members it pays for (itself, or — as
/// Försäkringskassan does for Arbetsförmedlingen — others), what was decided for them, and
/// what it paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerRow {
    pub forbund: Slug,
    pub year: i32,
    pub payer: Slug,
    pub members: Vec<Slug>,
    pub owed: Amount,
    pub paid: Amount,
}

/// A förbund's contributions for a year, as of a day, as known at a seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contributions {
    pub forbund: Slug,
    pub year: i32,
    pub at: At,
    pub members: Vec<MemberRow>,
    pub payers: Vec<PayerRow>,
}

impl Contributions {
    /// Whether what is due stands apart from what is left to pay: a date inside the year with
    /// something decided (at the year's end everything has fallen due).
    pub fn inside_year(&self) -> bool {
        NaiveDate::from_ymd_opt(self.year, 12, 31).is_some_and(|end| self.at.as_of < end)
            && self.members.iter().any(|m| m.decided_any)
    }
}

impl Projection {
    /// The years for which a förbund's contributions were decided (as of `at`).
    pub fn contribution_years(&self, f: &Slug, at: At) -> Vec<i32> {
        self.contribution_years_recorded(f)
            .filter(|year| {
                self.contributions_for(f, *year).any(|c| c.paid_by.is_none() && self.live(c.seq, c.date, at))
            })
            .collect()
    }

    /// Whether a record counts as of `at`: recorded by then, dated by then, and not corrected
    /// by then.
    fn live(&self, seq: u64, date: NaiveDate, at: At) -> bool {
        seq <= at.known_at
            && date <= at.as_of
            && self.corrected.get(&seq).is_none_or(|(by, day)| *by > at.known_at || *day > at.as_of)
    }

    /// Member by member and payer by payer: the contributions of `year`. The members are those
    /// in force at the year's end (or at `as_of`, if earlier), then any other with a decision
    /// or a payment for the year. `None` for an unknown förbund.
    pub fn contributions_of(&self, f: &Slug, year: i32, at: At) -> Option<Contributions> {
        let info = self.forbund.get(f)?;
        let mut rows: BTreeMap<Slug, MemberRow> = BTreeMap::new();
        let mut order: Vec<Slug> = Vec::new();
        let year_end = NaiveDate::from_ymd_opt(year, 12, 31)?;
        for (id, name, kind, share) in info.members_at(year_end.min(at.as_of), at.known_at) {
            order.push(id.clone());
            rows.insert(id.clone(), MemberRow::new(id, name, *kind, share.decimal()));
        }
        let mut paid_by: BTreeMap<Slug, Amount> = BTreeMap::new();
        let mut decided_years = false;
        for c in self.contributions_for(f, year).filter(|c| self.live(c.seq, c.date, at)) {
            let row = rows.entry(c.member.clone()).or_insert_with(|| {
                order.push(c.member.clone());
                let known = info.members.iter().find(|m| m.0 == c.member);
                let name = known.map_or(c.member.as_str(), |m| m.1.as_str());
                MemberRow::new(&c.member, name, known.map_or(MemberKind::Kommun, |m| m.2), Decimal::ZERO)
            });
            row.seqs.push(c.seq);
            match &c.paid_by {
                None => {
                    row.decided += c.amount;
                    row.not_yet_due += c.due_after(at.as_of);
                    row.decided_any = true;
                    decided_years = true;
                }
                Some(payer) => {
                    row.paid += c.amount;
                    row.paid_by = (payer != &c.member).then(|| payer.clone());
                    *paid_by.entry(payer.clone()).or_default() += c.amount;
                }
            }
        }
        // What the förbund's books charged in the year to each insats a member runs.
        let year_start = NaiveDate::from_ymd_opt(year, 1, 1)?;
        let mut charged: BTreeMap<Slug, Amount> = BTreeMap::new();
        for v in self.visible_vouchers_between(f, at.known_at, year_start, year_end.min(at.as_of)) {
            if v.kind == crate::projection::VoucherKind::Closing {
                continue;
            }
            for r in v.rows.iter().filter(|r| r.role.side() == crate::chart::Side::Cost) {
                if let Some(i) = &r.insats {
                    *charged.entry(i.clone()).or_default() += r.amount;
                }
            }
        }
        for i in self.insatser.iter().filter(|i| &i.forbund == f && i.seq <= at.known_at) {
            let Some(owner) = &i.owner else { continue };
            let amount = charged.get(&i.insats).copied().unwrap_or_default();
            let active = i.date <= year_end && i.end.is_none_or(|e| e >= year_start);
            if let (Some(row), true) = (rows.values_mut().find(|m| &m.name == owner), active || !amount.is_zero()) {
                row.runs.push((i.insats.clone(), i.name.clone(), amount));
            }
        }
        let members: Vec<MemberRow> = order.iter().filter_map(|id| rows.remove(id)).collect();
        let mut payers = Vec::new();
        if decided_years {
            let mut by_payer: BTreeMap<Slug, (Vec<Slug>, Amount)> = BTreeMap::new();
            for m in members.iter().filter(|m| !m.seqs.is_empty()) {
                let entry = by_payer.entry(m.paid_by.clone().unwrap_or_else(|| m.member.clone())).or_default();
                entry.0.push(m.member.clone());
                entry.1 += m.decided;
            }
            for payer in paid_by.keys() {
                by_payer.entry(payer.clone()).or_default();
            }
            for (payer, (mut list, owed)) in by_payer {
                list.sort();
                let paid = paid_by.get(&payer).copied().unwrap_or_default();
                payers.push(PayerRow { forbund: f.clone(), year, payer, members: list, owed, paid });
            }
        }
        Some(Contributions { forbund: f.clone(), year, at, members, payers })
    }
}

/// A period's view of the year's contributions (a delårsrapport's): what was decided for the
/// year — booked as income when decided — earned month by month, and the rest not yet earned
/// (förutbetalda intäkter). At the year's end all of it is earned: the annual figures do not
/// change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Periodised {
    pub year: i32,
    /// Whole months through the date (a date inside a month counts the months before it).
    pub months: u32,
    /// Decided for the year and booked in it, as of the date.
    pub decided: Amount,
    /// decided × months / 12, to the öre.
    pub earned: Amount,
    pub unearned: Amount,
}

impl Projection {
    /// The year's decided contributions of a förbund, periodised by month through `at.as_of`.
    pub fn periodised_contributions(&self, f: &Slug, at: At) -> Periodised {
        use chrono::Datelike;
        let year = at.as_of.year();
        let month_end = at.as_of.succ_opt().is_none_or(|next| next.month() != at.as_of.month());
        let months = if month_end { at.as_of.month() } else { at.as_of.month() - 1 };
        let decided: Amount = self
            .contributions_for(f, year)
            .filter(|c| c.paid_by.is_none() && c.date.year() == year)
            .filter(|c| self.live(c.seq, c.date, at))
            .map(|c| c.amount)
            .sum();
        let earned = crate::period::prorate(decided, months, 12);
        Periodised { year, months, decided, earned, unearned: decided - earned }
    }
}

/// One part of a member's decided contribution still to be paid: what a bank payment may settle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInstallment {
    pub member: Slug,
    /// When it falls due (the decision's date, for a decision without an invoicing plan).
    pub due: NaiveDate,
    /// What is left of it: its amount less what payments for the year have covered, the
    /// earliest parts first.
    pub amount: Amount,
}

impl Projection {
    /// The parts of each member's contributions for `year` still unpaid as known at
    /// `at.known_at`, member by member in due order: the year's payments (whoever paid them)
    /// settle the earliest parts first. Decisions and payments dated after `at.as_of` do not
    /// count.
    pub fn open_installments(&self, f: &Slug, year: i32, at: At) -> Vec<OpenInstallment> {
        let mut parts: BTreeMap<Slug, Vec<(NaiveDate, Amount)>> = BTreeMap::new();
        let mut paid: BTreeMap<Slug, Amount> = BTreeMap::new();
        for c in self.contributions_for(f, year).filter(|c| self.live(c.seq, c.date, at)) {
            match &c.paid_by {
                None if c.installments.is_empty() => {
                    parts.entry(c.member.clone()).or_default().push((c.date, c.amount))
                }
                None => {
                    parts.entry(c.member.clone()).or_default().extend(c.installments.iter().map(|i| (i.due, i.amount)))
                }
                Some(_) => *paid.entry(c.member.clone()).or_default() += c.amount,
            }
        }
        let mut open = Vec::new();
        for (member, mut list) in parts {
            list.sort();
            let mut covered = paid.get(&member).copied().unwrap_or_default();
            for (due, amount) in list {
                let settled = covered.min(amount).max(Amount::ZERO);
                covered -= settled;
                if settled < amount {
                    open.push(OpenInstallment { member: member.clone(), due, amount: amount - settled });
                }
            }
        }
        open
    }
}
