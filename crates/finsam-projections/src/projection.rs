//! The projection: one pure fold of the recorded events into the books (vouchers), the budget
//! records, the grants and the insatser. Every entry keeps the seq it came from and its
//! effective date, so that every report can be asked "as of a date" (effective time) and "as
//! known at a seq" (recording time) by filtering, without replaying the log again.

use crate::book::Book;
use crate::chart::{Role, Side};
use crate::totals::{self, Totals};
use chrono::{Datelike, NaiveDate};
use finsam_domain::event::{
    BudgetStatus, CostLine, EstimatedTransfer, IncomeLine, InsatsRef, Nature, Stated, TransferLine,
};
use finsam_domain::{Amount, Category, Decision, Event, EventKind, MemberKind, Owed, Share, Slug};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Bumped whenever the projection's shape or meaning changes; a checkpoint of another version
/// is rebuilt from the log.
pub const PROJECTION_VERSION: u32 = 12;

/// The text of an opening balance's voucher (no other voucher has it: the texts of the others
/// all begin with what they are).
pub const OPENING_TEXT: &str = "Ingående balans";

/// One recorded event as the projection needs it.
#[derive(Clone, Copy, Debug)]
pub struct Recorded<'a> {
    pub seq: u64,
    pub recorded_at: &'a str,
    pub recorded_by: &'a str,
    pub event: &'a Event,
}

/// One row of a voucher: a role, a signed amount (debit positive) and the objects it concerns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub role: Role,
    pub amount: Amount,
    pub insats: Option<Slug>,
    pub line: Option<Slug>,
    pub member: Option<Slug>,
}

impl Row {
    fn new(role: Role, amount: Amount) -> Row {
        Row { role, amount, insats: None, line: None, member: None }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoucherKind {
    /// Booked from a money event.
    Event,
    /// Reverses the vouchers of a corrected event.
    Correction { of: u64 },
    /// Moves a closed year's result to equity.
    Closing,
}

/// A verifikation: numbered in a gapless series per förbund and year, balanced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voucher {
    pub forbund: Slug,
    pub year: i32,
    pub number: u32,
    pub date: NaiveDate,
    pub seq: u64,
    pub recorded_at: String,
    pub recorded_by: String,
    pub text: String,
    pub kind: VoucherKind,
    pub rows: Vec<Row>,
}

impl Voucher {
    /// Asserts the one law of double entry: the rows sum to zero.
    pub fn assert_balanced(&self) {
        let sum: Amount = self.rows.iter().map(|r| r.amount).sum();
        assert!(
            sum.is_zero(),
            "voucher {} {} of {} (seq {}) does not balance: rows sum to {sum}",
            self.year,
            self.number,
            self.forbund,
            self.seq
        );
    }

    /// Booked from an `OpeningBalanceRecorded`: the books' opening balance (an `#IB` in SIE).
    pub fn is_opening(&self) -> bool {
        self.kind == VoucherKind::Event && self.text == OPENING_TEXT
    }

    /// The label a revisor reads: "2024 A 12".
    pub fn label(&self) -> String {
        format!("{} A {}", self.year, self.number)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForbundInfo {
    pub name: String,
    pub org_nr: Option<String>,
    pub registered: NaiveDate,
    /// Every member the förbund has had (its name and share as last decided).
    pub members: Vec<(Slug, String, MemberKind, Share)>,
    pub seq: u64,
    /// The dissolution's date and seq.
    pub dissolved: Option<(NaiveDate, u64)>,
    /// The members in force from a date, by the seq that decided it (the registration's first).
    #[serde(default)]
    pub in_force: Vec<MembersInForce>,
    /// The name as registered and as corrected, by seq.
    #[serde(default)]
    pub names: Vec<(u64, String)>,
    /// The latest date of any of its events (corrected or not): a run that looks for events
    /// dated after the förbund's dissolution reads the log only when this is later.
    #[serde(default)]
    pub latest_date: Option<NaiveDate>,
}

/// The members of a förbund from a date on, as decided at a seq.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersInForce {
    pub effective: NaiveDate,
    pub seq: u64,
    pub members: Vec<(Slug, String, MemberKind, Share)>,
}

impl ForbundInfo {
    /// The name as known at `known_at` (a correction of the registration is known from its seq).
    pub fn name_known_at(&self, known_at: u64) -> &str {
        self.names.iter().rev().find(|(seq, _)| *seq <= known_at).map_or(self.name.as_str(), |(_, n)| n)
    }

    /// The members in force on `day`, as known at `known_at`: those of the latest change taking
    /// effect by then (the latest recorded among changes of the same day); before any, the
    /// registration's.
    pub fn members_at(&self, day: NaiveDate, known_at: u64) -> &[(Slug, String, MemberKind, Share)] {
        let known = self.in_force.iter().filter(|m| m.seq <= known_at);
        let mut best: Option<&MembersInForce> = None;
        for m in known.filter(|m| m.effective <= day) {
            if best.is_none_or(|b| (m.effective, m.seq) >= (b.effective, b.seq)) {
                best = Some(m);
            }
        }
        match best.or(self.in_force.first()) {
            Some(m) => &m.members,
            None => &self.members,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetRecord {
    pub seq: u64,
    pub forbund: Slug,
    pub date: NaiveDate,
    pub year: i32,
    pub status: BudgetStatus,
    pub decision: Decision,
    pub income: Vec<IncomeLine>,
    pub costs: Vec<CostLine>,
    pub transfers: Vec<TransferLine>,
    pub stated: Option<Box<Stated>>,
    /// The correction that withdrew this budget: (its seq, its date).
    pub corrected: Option<(u64, NaiveDate)>,
}

/// A grant, a change of a grant, or the reversal of either by a correction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantEntry {
    pub seq: u64,
    pub forbund: Slug,
    pub insats: Slug,
    pub year: i32,
    pub date: NaiveDate,
    pub amount: Amount,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsatsRecord {
    pub seq: u64,
    pub forbund: Slug,
    pub insats: Slug,
    pub name: String,
    pub category: Category,
    pub date: NaiveDate,
    pub continues: Option<InsatsRef>,
    pub end: Option<NaiveDate>,
    /// Who runs it, as the decision names it ("Sala kommun").
    #[serde(default)]
    pub owner: Option<String>,
    /// Renamings, changes of category and ends decided later (v2), in order of record.
    #[serde(default)]
    pub changes: Vec<InsatsChange>,
}

/// A change of an insats from a date, decided at a seq.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsatsChange {
    pub seq: u64,
    pub effective: NaiveDate,
    pub name: Option<String>,
    pub category: Option<Category>,
    pub end: Option<NaiveDate>,
}

impl InsatsRecord {
    /// The changes known at `known_at` that took effect by `day`, in the order they apply.
    fn changes_by(&self, day: NaiveDate, known_at: u64) -> impl Iterator<Item = &InsatsChange> {
        let mut list: Vec<&InsatsChange> =
            self.changes.iter().filter(|c| c.seq <= known_at && c.effective <= day).collect();
        list.sort_by_key(|c| (c.effective, c.seq));
        list.into_iter()
    }

    /// The insats' name on `day`, as known at `known_at`.
    pub fn name_at(&self, day: NaiveDate, known_at: u64) -> &str {
        self.changes_by(day, known_at).filter_map(|c| c.name.as_deref()).last().unwrap_or(&self.name)
    }

    /// The insats' category on `day`, as known at `known_at`.
    pub fn category_at(&self, day: NaiveDate, known_at: u64) -> Category {
        self.changes_by(day, known_at).filter_map(|c| c.category).last().unwrap_or(self.category)
    }

    /// The insats' last day as decided by `known_at` (whenever the decision takes effect).
    pub fn end_known_at(&self, known_at: u64) -> Option<NaiveDate> {
        self.changes_by(NaiveDate::MAX, known_at).filter_map(|c| c.end).last().or(self.end)
    }
}

/// A supplier's invoice or credit note (v2), with what was charged and what remains owed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRecord {
    pub seq: u64,
    pub forbund: Slug,
    pub invoice: Slug,
    pub supplier: String,
    pub date: NaiveDate,
    pub due: Option<NaiveDate>,
    pub year: i32,
    pub line: Option<Slug>,
    pub insats: Option<Slug>,
    pub amount: Amount,
    /// For a credit note: the invoice it credits.
    pub credits: Option<Slug>,
}

/// A member's contribution for a year, decided or paid (v2 decisions, and every payment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContributionRecord {
    pub seq: u64,
    pub forbund: Slug,
    pub member: Slug,
    pub year: i32,
    pub date: NaiveDate,
    pub amount: Amount,
    /// `None` for a decision; for a payment, who paid (the member itself unless said).
    pub paid_by: Option<Slug>,
    /// A decision's invoicing plan (empty: all due on its date).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub installments: Vec<finsam_domain::event::Installment>,
    /// The decision's or the payment's reference (a payment registered twice has the same).
    #[serde(default)]
    pub reference: String,
    /// For a payment, the part of it that settled what was decided for the member and year
    /// when it was booked (the rest is income); zero for a decision. A correction takes it back.
    #[serde(default, skip_serializing_if = "nothing")]
    pub settles: Amount,
}

fn nothing(a: &Amount) -> bool {
    a.is_zero()
}

impl ContributionRecord {
    /// What of a decision falls due after `day`: by its invoicing plan (without one, the whole
    /// amount falls due on the decision's date).
    pub fn due_after(&self, day: NaiveDate) -> Amount {
        if self.installments.is_empty() {
            return if self.date > day { self.amount } else { Amount::ZERO };
        }
        self.installments.iter().filter(|i| i.due > day).map(|i| i.amount).sum()
    }
}

/// A decided merger, on the new förbund's books.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergerRecord {
    pub seq: u64,
    pub forbund: Slug,
    pub date: NaiveDate,
    pub merging: Vec<Slug>,
    pub effective: NaiveDate,
    pub estimates: Vec<EstimatedTransfer>,
}

/// A month's payroll summary (v2): its costs on the line it was booked on, and how many it paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayrollRecord {
    pub seq: u64,
    pub forbund: Slug,
    pub date: NaiveDate,
    pub year: i32,
    pub month: u32,
    /// The budget line the costs were booked on (the line named, or the insats's line).
    pub line: Option<Slug>,
    pub staff: Option<u32>,
    /// The summary's costs: salaries, fees, the contributions and pension on them.
    pub costs: Amount,
}

/// The kansli's forecast of a cost line's utfall for a year (v2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastRecord {
    pub seq: u64,
    pub forbund: Slug,
    pub date: NaiveDate,
    pub year: i32,
    pub line: Slug,
    pub amount: Amount,
    pub text: String,
}

/// The kansli's text for a section of a year's report (v2), in seq order: the latest known
/// counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportTextRecord {
    pub seq: u64,
    pub forbund: Slug,
    pub date: NaiveDate,
    pub year: i32,
    pub section: finsam_domain::event::ReportSection,
    pub paragraphs: Vec<String>,
}

/// A file attached as underlag to events of a förbund's books (v2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnderlagRecord {
    pub seq: u64,
    pub forbund: Slug,
    pub date: NaiveDate,
    pub of: Vec<u64>,
    pub file: finsam_domain::event::Attachment,
}

/// A step of a year's path after its end (v2): the board's adoption of the report, a revisor's
/// revisionsberättelse, a member's decision on ansvarsfrihet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathRecord {
    pub seq: u64,
    pub forbund: Slug,
    pub date: NaiveDate,
    pub year: i32,
    pub step: PathStep,
}

/// An accrual at a year's end (v2), as recorded: its reversal on 1 January is in the vouchers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccrualRecord {
    pub seq: u64,
    pub forbund: Slug,
    pub date: NaiveDate,
    pub year: i32,
    pub kind: finsam_domain::event::AccrualKind,
    pub line: Option<Slug>,
    pub insats: Option<Slug>,
    pub amount: Amount,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PathStep {
    Adopted {
        known_at: u64,
        figures_sha256: String,
        decision: Decision,
    },
    Audited {
        auditor: String,
        role: finsam_domain::event::AuditorRole,
        appointed_by: Option<String>,
        verdict: finsam_domain::event::AuditVerdict,
        remarks: Option<String>,
    },
    Discharge {
        member: Slug,
        granted: bool,
        decision: Decision,
    },
}

/// Equity moved from a merging förbund into the new one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRecord {
    pub seq: u64,
    pub to: Slug,
    pub from: Slug,
    pub date: NaiveDate,
    pub amount: Amount,
}

/// The whole projection. `apply` is the only way it changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Projection {
    pub head: u64,
    pub forbund: BTreeMap<Slug, ForbundInfo>,
    /// The vouchers, in booking order (by seq, then by number), held compactly (see `book`).
    /// Not serialised with the rest: they are most of the projection, and the store keeps
    /// their bytes apart, appended to; `read_vouchers` and `with_vouchers` put them back.
    #[serde(skip)]
    book: Book,
    pub budgets: Vec<BudgetRecord>,
    pub grants: Vec<GrantEntry>,
    pub insatser: Vec<InsatsRecord>,
    pub mergers: Vec<MergerRecord>,
    pub transfers: Vec<TransferRecord>,
    /// Supplier invoices and credit notes (v2), in seq order.
    pub invoices: Vec<InvoiceRecord>,
    /// Contributions decided per förbund, member and year (v2), and what payments settled.
    pub owed: BTreeMap<Slug, BTreeMap<Slug, BTreeMap<i32, Owed>>>,
    /// Every contribution decided or paid, in seq order.
    pub contributions: Vec<ContributionRecord>,
    /// The kansli's forecasts (v2), in seq order.
    pub forecasts: Vec<ForecastRecord>,
    /// The payroll summaries (v2), in seq order.
    pub payrolls: Vec<PayrollRecord>,
    /// The last year each förbund has closed (`YearClosed`): nothing may be dated in it or before.
    pub closed_through: BTreeMap<Slug, i32>,
    /// The report's texts (v2), in seq order.
    pub report_texts: Vec<ReportTextRecord>,
    /// The files attached as underlag (v2), in seq order.
    pub underlag: Vec<UnderlagRecord>,
    /// The steps after each year's end (v2), in seq order.
    pub path: Vec<PathRecord>,
    /// The accruals at the years' ends (v2), in seq order.
    pub accruals: Vec<AccrualRecord>,
    /// The next free voucher number per förbund and year.
    next_number: BTreeMap<Slug, BTreeMap<i32, u32>>,
    /// Corrected seq -> (correction seq, correction date).
    pub corrected: BTreeMap<u64, (u64, NaiveDate)>,
    /// Indexes into `budgets` per förbund and year, in seq order. This and the next three are
    /// derived from the lists above: not stored, rebuilt on loading (see `Stored`, `with_vouchers`).
    #[serde(skip)]
    budget_index: BTreeMap<(Slug, i32), Vec<usize>>,
    /// Indexes into `insatser` per förbund and insats.
    #[serde(skip)]
    insats_index: BTreeMap<(Slug, Slug), usize>,
    /// Indexes into `invoices` per förbund and invoice id.
    #[serde(skip)]
    invoice_index: BTreeMap<(Slug, Slug), usize>,
    /// Indexes into `grants` per förbund, insats and year, in seq order.
    #[serde(skip)]
    grant_index: BTreeMap<(Slug, Slug, i32), Vec<usize>>,
    /// Indexes into `contributions` per förbund and year (the year they are for), in seq order:
    /// a report of one year reads that year's decisions and payments, not every förbund's
    /// history.
    #[serde(skip)]
    contribution_index: BTreeMap<(Slug, i32), Vec<usize>>,
    /// The running sum of the result roles' rows per förbund and year, for the year's close.
    #[serde(skip)]
    year_results: BTreeMap<(Slug, i32), BTreeMap<Role, Amount>>,
    /// The vouchers summed per förbund and day (see `totals`).
    #[serde(skip)]
    totals: Totals,
    /// The income lines other income was booked on, per förbund (derived from the vouchers).
    #[serde(skip)]
    other_income_lines: BTreeSet<(Slug, Slug)>,
}

/// Takes a voucher into what is derived from the vouchers: the year's running result (for its
/// close), the totals per förbund and day, and the income lines other income was booked on.
fn index_voucher(
    year_results: &mut BTreeMap<(Slug, i32), BTreeMap<Role, Amount>>,
    totals: &mut Totals,
    other_income_lines: &mut BTreeSet<(Slug, Slug)>,
    v: &Voucher,
) {
    for line in v.rows.iter().filter(|r| r.role == Role::OtherIncome).filter_map(|r| r.line.as_ref()) {
        other_income_lines.insert((v.forbund.clone(), line.clone()));
    }
    let results = year_results.entry((v.forbund.clone(), v.year)).or_default();
    add_to_results(results, v.rows.iter().map(|r| (r.role, r.amount)));
    totals::add(totals, v);
}

/// The result roles, and the equity received in a merger: a year's close moves both to equity.
fn add_to_results(results: &mut BTreeMap<Role, Amount>, rows: impl Iterator<Item = (Role, Amount)>) {
    for (role, amount) in rows.filter(|(role, _)| role.is_result() || *role == Role::EquityReceived) {
        *results.entry(role).or_default() += amount;
    }
}

/// A checkpoint's vouchers, read (`Projection::read_vouchers`) and waiting to join the rest of
/// the projection (`Projection::with_vouchers`).
pub struct StoredVouchers {
    book: Book,
    brief: BriefIndexes,
}

impl StoredVouchers {
    pub fn len(&self) -> usize {
        self.book.len()
    }

    pub fn is_empty(&self) -> bool {
        self.book.is_empty()
    }
}

/// What `index_voucher` derives, gathered by the book's symbols while a checkpoint's vouchers
/// are read in brief (no string is cloned per voucher), then named.
#[derive(Default)]
struct BriefIndexes {
    year_results: HashMap<(u32, i32), BTreeMap<Role, Amount>>,
    totals: HashMap<u32, BTreeMap<NaiveDate, totals::DayTotal>>,
    other_income_lines: BTreeSet<(u32, u32)>,
}

impl BriefIndexes {
    fn add(&mut self, v: &crate::book::BriefVoucher<'_>) {
        let rows = || v.rows.iter().map(|r| (r.role, r.amount));
        for line in v.rows.iter().filter(|r| r.role == Role::OtherIncome).filter_map(|r| r.line) {
            self.other_income_lines.insert((v.forbund, line));
        }
        add_to_results(self.year_results.entry((v.forbund, v.date.year())).or_default(), rows());
        let day = self.totals.entry(v.forbund).or_default().entry(v.date).or_default();
        totals::add_to_day(day, v.closing, rows());
    }
}

/// What a checkpoint holds of the projection: everything but the lookup indexes, which
/// loading rebuilds.
#[derive(Deserialize)]
struct Stored {
    head: u64,
    forbund: BTreeMap<Slug, ForbundInfo>,
    budgets: Vec<BudgetRecord>,
    grants: Vec<GrantEntry>,
    insatser: Vec<InsatsRecord>,
    mergers: Vec<MergerRecord>,
    transfers: Vec<TransferRecord>,
    #[serde(default)]
    invoices: Vec<InvoiceRecord>,
    #[serde(default)]
    owed: BTreeMap<Slug, BTreeMap<Slug, BTreeMap<i32, Owed>>>,
    #[serde(default)]
    contributions: Vec<ContributionRecord>,
    #[serde(default)]
    forecasts: Vec<ForecastRecord>,
    #[serde(default)]
    payrolls: Vec<PayrollRecord>,
    #[serde(default)]
    closed_through: BTreeMap<Slug, i32>,
    #[serde(default)]
    report_texts: Vec<ReportTextRecord>,
    #[serde(default)]
    underlag: Vec<UnderlagRecord>,
    #[serde(default)]
    path: Vec<PathRecord>,
    #[serde(default)]
    accruals: Vec<AccrualRecord>,
    next_number: BTreeMap<Slug, BTreeMap<i32, u32>>,
    corrected: BTreeMap<u64, (u64, NaiveDate)>,
}

impl From<Stored> for Projection {
    fn from(s: Stored) -> Projection {
        let mut p = Projection {
            head: s.head,
            forbund: s.forbund,
            book: Book::default(),
            budgets: s.budgets,
            grants: s.grants,
            insatser: s.insatser,
            mergers: s.mergers,
            transfers: s.transfers,
            invoices: s.invoices,
            owed: s.owed,
            contributions: s.contributions,
            forecasts: s.forecasts,
            payrolls: s.payrolls,
            closed_through: s.closed_through,
            report_texts: s.report_texts,
            underlag: s.underlag,
            path: s.path,
            accruals: s.accruals,
            next_number: s.next_number,
            corrected: s.corrected,
            budget_index: BTreeMap::new(),
            insats_index: BTreeMap::new(),
            invoice_index: BTreeMap::new(),
            grant_index: BTreeMap::new(),
            contribution_index: BTreeMap::new(),
            year_results: BTreeMap::new(),
            totals: Totals::new(),
            other_income_lines: BTreeSet::new(),
        };
        p.index_lists();
        p
    }
}

impl Projection {
    pub fn new() -> Projection {
        Projection::default()
    }

    /// A checkpoint's vouchers read back from their bytes, each once and in brief, into the
    /// book with its indexes and what is derived from the vouchers (the totals, the year
    /// results). Needs nothing else of the projection, so that a store reads the vouchers while
    /// it reads the rest of the checkpoint.
    pub fn read_vouchers(bytes: Vec<u8>, symbols: crate::book::BookSymbols) -> Result<StoredVouchers, String> {
        let mut brief = BriefIndexes::default();
        let book = Book::from_parts_briefly(bytes, symbols, |v| brief.add(v))?;
        Ok(StoredVouchers { book, brief })
    }

    /// The projection read back from a checkpoint (without its vouchers) joined with its vouchers.
    pub fn with_vouchers(mut self, vouchers: StoredVouchers) -> Projection {
        assert!(
            self.book.is_empty() && self.totals.is_empty() && self.year_results.is_empty(),
            "a projection read from a checkpoint has no vouchers of its own, nor what is derived from them"
        );
        let StoredVouchers { book, brief } = vouchers;
        self.book = book;
        let slug = |id: u32| Slug::parse(self.book.symbol(id)).expect("the book checked its ids");
        for ((f, year), roles) in brief.year_results {
            let results = self.year_results.entry((slug(f), year)).or_default();
            add_to_results(results, roles.into_iter());
        }
        for (f, days) in brief.totals {
            self.totals.entry(slug(f)).or_default().extend(days);
        }
        for (f, line) in brief.other_income_lines {
            self.other_income_lines.insert((slug(f), slug(line)));
        }
        self
    }

    /// The vouchers, compactly held.
    pub fn voucher_book(&self) -> &Book {
        &self.book
    }

    /// Every voucher, in booking order, decoded.
    pub fn vouchers(&self) -> impl DoubleEndedIterator<Item = Voucher> + ExactSizeIterator + '_ {
        self.book.iter()
    }

    /// The vouchers whose rows do not sum to zero as read back (see `Book::unbalanced`).
    pub fn unbalanced_vouchers(&self) -> impl Iterator<Item = Voucher> + '_ {
        self.book.unbalanced()
    }

    /// Builds the lookup indexes of the budgets and insatser (they are not stored in a
    /// checkpoint; those of the vouchers are built by `read_vouchers`).
    fn index_lists(&mut self) {
        for (i, b) in self.budgets.iter().enumerate() {
            self.budget_index.entry((b.forbund.clone(), b.year)).or_default().push(i);
        }
        self.insats_index =
            self.insatser.iter().enumerate().map(|(i, r)| ((r.forbund.clone(), r.insats.clone()), i)).collect();
        self.invoice_index =
            self.invoices.iter().enumerate().map(|(i, r)| ((r.forbund.clone(), r.invoice.clone()), i)).collect();
        for (i, g) in self.grants.iter().enumerate() {
            self.grant_index.entry((g.forbund.clone(), g.insats.clone(), g.year)).or_default().push(i);
        }
        for (i, c) in self.contributions.iter().enumerate() {
            self.contribution_index.entry((c.forbund.clone(), c.year)).or_default().push(i);
        }
    }

    fn push_contribution(&mut self, c: ContributionRecord) {
        self.contribution_index.entry((c.forbund.clone(), c.year)).or_default().push(self.contributions.len());
        self.contributions.push(c);
    }

    /// The decisions and payments of one förbund's contributions for one year, in seq order.
    pub fn contributions_for(&self, f: &Slug, year: i32) -> impl Iterator<Item = &ContributionRecord> + '_ {
        let at = self.contribution_index.get(&(f.clone(), year));
        at.into_iter().flatten().map(|i| &self.contributions[*i])
    }

    /// The years a förbund has contributions for (decided or paid), in order.
    pub fn contribution_years_recorded(&self, f: &Slug) -> impl Iterator<Item = i32> + '_ {
        let f = f.clone();
        self.contribution_index.range((f.clone(), i32::MIN)..=(f, i32::MAX)).map(|((_, year), _)| *year)
    }

    /// The grants (and changes and reversals of grants) of one insats for one year, in seq order.
    pub fn grants_of(&self, f: &Slug, insats: &Slug, year: i32) -> impl Iterator<Item = &GrantEntry> + '_ {
        let at = self.grant_index.get(&(f.clone(), insats.clone(), year));
        at.into_iter().flatten().map(|i| &self.grants[*i])
    }

    fn push_grant(&mut self, g: GrantEntry) {
        self.grant_index.entry((g.forbund.clone(), g.insats.clone(), g.year)).or_default().push(self.grants.len());
        self.grants.push(g);
    }

    /// Folds one event in. The ledger has accepted it: a broken assumption here is a bug.
    /// Leaves out the events before `seq`: they are in the books of förbund this projection
    /// does not show. A projection of some förbund's books (see the store's `open_view_of`)
    /// applies their events with this before each run of them, and before the head; it shows
    /// those förbund exactly as the whole projection does, and nothing else, so it is never
    /// saved.
    pub fn skip_to(&mut self, seq: u64) {
        assert!(seq > self.head, "a projection only skips ahead");
        self.head = seq - 1;
    }

    pub fn apply(&mut self, r: Recorded<'_>) {
        assert_eq!(r.seq, self.head + 1, "the projection applies events in seq order without gaps");
        self.head = r.seq;
        let e = r.event;
        let f = &e.forbund;
        use EventKind::*;
        match &e.kind {
            ForbundRegistered { name, org_nr, members } => {
                let members: Vec<_> = members.iter().map(|m| (m.id.clone(), m.name.clone(), m.kind, m.share)).collect();
                let info = ForbundInfo {
                    name: name.clone(),
                    org_nr: org_nr.clone(),
                    registered: e.date,
                    members: members.clone(),
                    seq: r.seq,
                    dissolved: None,
                    in_force: vec![MembersInForce { effective: e.date, seq: r.seq, members }],
                    names: vec![(r.seq, name.clone())],
                    latest_date: None,
                };
                self.forbund.insert(f.clone(), info);
            }
            MembersChanged { effective, members, .. } => {
                let members: Vec<_> = members.iter().map(|m| (m.id.clone(), m.name.clone(), m.kind, m.share)).collect();
                let info = self.forbund.get_mut(f).expect("registered");
                for m in &members {
                    match info.members.iter_mut().find(|x| x.0 == m.0) {
                        Some(known) => *known = m.clone(),
                        None => info.members.push(m.clone()),
                    }
                }
                info.in_force.push(MembersInForce { effective: *effective, seq: r.seq, members });
            }
            InsatsChanged { insats, effective, name, category, end, .. } => {
                let i = self.insats_index[&(f.clone(), insats.clone())];
                self.insatser[i].changes.push(InsatsChange {
                    seq: r.seq,
                    effective: *effective,
                    name: name.clone(),
                    category: *category,
                    end: *end,
                });
            }
            RegistrationCorrected { name, org_nr, registered, .. } => {
                let info = self.forbund.get_mut(f).expect("registered");
                if let Some(name) = name {
                    info.name = name.clone();
                    info.names.push((r.seq, name.clone()));
                }
                if let Some(org_nr) = org_nr {
                    info.org_nr = Some(org_nr.clone());
                }
                if let Some(day) = registered {
                    info.registered = *day;
                }
            }
            OpeningBalanceRecorded { equity, bank } => {
                let mut rows = vec![Row::new(Role::Bank, *bank), Row::new(Role::Equity, -*equity)];
                let difference = *equity - *bank;
                if difference.is_positive() {
                    rows.push(Row::new(Role::OpeningDifferenceAsset, difference));
                } else if difference.is_negative() {
                    rows.push(Row::new(Role::OpeningDifferenceLiability, difference));
                }
                self.book(r, f, e.date, OPENING_TEXT.into(), VoucherKind::Event, rows);
            }
            InsatsCreated { insats, name, category, continues, end, owner, .. } => {
                self.insats_index.insert((f.clone(), insats.clone()), self.insatser.len());
                self.insatser.push(InsatsRecord {
                    seq: r.seq,
                    forbund: f.clone(),
                    insats: insats.clone(),
                    name: name.clone(),
                    category: *category,
                    date: e.date,
                    continues: continues.clone(),
                    end: *end,
                    owner: owner.clone(),
                    changes: Vec::new(),
                })
            }
            BudgetAdopted { year, decision, status, income, costs, transfers, stated } => {
                self.budget_index.entry((f.clone(), *year)).or_default().push(self.budgets.len());
                self.budgets.push(BudgetRecord {
                    seq: r.seq,
                    forbund: f.clone(),
                    date: e.date,
                    year: *year,
                    status: *status,
                    decision: decision.clone(),
                    income: income.clone(),
                    costs: costs.clone(),
                    transfers: transfers.clone(),
                    stated: stated.clone(),
                    corrected: None,
                })
            }
            FundingGranted { insats, year, amount, .. } => self.grant(r.seq, f, insats, *year, e.date, *amount),
            FundingChanged { insats, year, delta, .. } => self.grant(r.seq, f, insats, *year, e.date, *delta),
            ContributionReceived { member, year, amount, reference, payer } => {
                let info = &self.forbund[f];
                let (_, name, kind, _) =
                    info.members.iter().find(|(id, ..)| id == member).expect("the ledger checked the member");
                let (name, kind) = (name.clone(), *kind);
                let text = match payer.as_ref().filter(|p| *p != member) {
                    None => format!("Medlemsbidrag {name}: {reference}"),
                    Some(p) => format!("Medlemsbidrag {name}, betalt av {p}: {reference}"),
                };
                // A payment first settles what was decided for the member and year; the rest is
                // income as in v1.
                let owed = self.owed_mut(f, member, *year);
                let settles = owed.settles(*amount);
                owed.settled += settles;
                self.push_contribution(ContributionRecord {
                    seq: r.seq,
                    forbund: f.clone(),
                    member: member.clone(),
                    year: *year,
                    date: e.date,
                    amount: *amount,
                    paid_by: Some(payer.clone().unwrap_or_else(|| member.clone())),
                    installments: Vec::new(),
                    reference: reference.clone(),
                    settles,
                });
                let mut rows = vec![Row::new(Role::Bank, *amount)];
                if !settles.is_zero() {
                    let mut settled = Row::new(Role::Receivable, -settles);
                    settled.member = Some(member.clone());
                    rows.push(settled);
                }
                if settles < *amount {
                    let mut income = Row::new(Role::Contribution(kind), settles - *amount);
                    income.member = Some(member.clone());
                    rows.push(income);
                }
                self.book(r, f, e.date, text, VoucherKind::Event, rows);
            }
            ContributionDecided { member, year, amount, reference, installments, .. } => {
                let info = &self.forbund[f];
                let (_, name, kind, _) =
                    info.members.iter().find(|(id, ..)| id == member).expect("the ledger checked the member");
                let text = format!("Medlemsbidrag {year} beslutat, {name}: {reference}");
                let mut owed = Row::new(Role::Receivable, *amount);
                owed.member = Some(member.clone());
                let mut income = Row::new(Role::Contribution(*kind), -*amount);
                income.member = Some(member.clone());
                self.owed_mut(f, member, *year).decided += *amount;
                self.push_contribution(ContributionRecord {
                    seq: r.seq,
                    forbund: f.clone(),
                    member: member.clone(),
                    year: *year,
                    date: e.date,
                    amount: *amount,
                    paid_by: None,
                    installments: installments.clone(),
                    reference: reference.clone(),
                    settles: Amount::ZERO,
                });
                self.book(r, f, e.date, text, VoucherKind::Event, vec![owed, income]);
            }
            ForecastRecorded { year, line, amount, text } => self.forecasts.push(ForecastRecord {
                seq: r.seq,
                forbund: f.clone(),
                date: e.date,
                year: *year,
                line: line.clone(),
                amount: *amount,
                text: text.clone(),
            }),
            OtherIncomeRecorded { line, amount, reference, nature, .. } => {
                let (role, what) = match nature {
                    Some(finsam_domain::event::IncomeNature::Financial) => (Role::FinancialIncome, "Finansiell intäkt"),
                    _ => (Role::OtherIncome, "Övrig intäkt"),
                };
                let mut income = Row::new(role, -*amount);
                income.line = Some(line.clone());
                let text = format!("{what}: {reference}");
                self.book(r, f, e.date, text, VoucherKind::Event, vec![Row::new(Role::Bank, *amount), income]);
            }
            CostRecorded { year, line, insats, amount, reference, text, nature } => {
                let cost = self.cost_row(f, *year, line, insats, *nature, *amount, r.seq, e.date);
                let text = format!("{text} ({reference})");
                self.book(r, f, e.date, text, VoucherKind::Event, vec![cost, Row::new(Role::Bank, -*amount)]);
            }
            InvoiceReceived {
                year,
                invoice,
                supplier,
                line,
                insats,
                amount,
                credits,
                due,
                reference,
                text,
                nature,
            } => {
                // A credit note charges what the invoice it credits was charged to, unless it says.
                let credited = credits.as_ref().and_then(|c| self.invoice(f, c)).cloned();
                let line = line.clone().or_else(|| credited.as_ref().and_then(|i| i.line.clone()));
                let insats = insats.clone().or_else(|| credited.as_ref().and_then(|i| i.insats.clone()));
                let year_of_cost = credited.as_ref().map_or(*year, |i| i.year);
                let cost = self.cost_row(f, year_of_cost, &line, &insats, *nature, *amount, r.seq, e.date);
                let text = match credits {
                    None => format!("Leverantörsfaktura {supplier} {invoice}: {text} ({reference})"),
                    Some(c) => format!("Kreditnota {supplier} {invoice} på faktura {c}: {text} ({reference})"),
                };
                self.invoice_index.insert((f.clone(), invoice.clone()), self.invoices.len());
                self.invoices.push(InvoiceRecord {
                    seq: r.seq,
                    forbund: f.clone(),
                    invoice: invoice.clone(),
                    supplier: supplier.clone(),
                    date: e.date,
                    due: *due,
                    year: year_of_cost,
                    line,
                    insats,
                    amount: *amount,
                    credits: credits.clone(),
                });
                self.book(r, f, e.date, text, VoucherKind::Event, vec![cost, Row::new(Role::Payable, -*amount)]);
            }
            AccrualRecorded { year, kind, line, insats, member, amount, reference, text } => {
                use finsam_domain::event::AccrualKind::*;
                self.accruals.push(AccrualRecord {
                    seq: r.seq,
                    forbund: f.clone(),
                    date: e.date,
                    year: *year,
                    kind: *kind,
                    line: line.clone(),
                    insats: insats.clone(),
                    amount: *amount,
                    text: text.clone(),
                });
                let a = *amount;
                // The row of the cost or income moved between years, with the sign of a
                // cost (debit) or of income (credit) for the year the accrual is booked in.
                let moved = |p: &Projection, sign: Amount| -> Row {
                    if kind.is_cost() {
                        p.cost_row(f, *year, line, insats, None, sign, r.seq, e.date)
                    } else if let Some(m) = member {
                        let info = &p.forbund[f];
                        let (_, _, kind, _) =
                            info.members.iter().find(|(id, ..)| id == m).expect("the ledger checked the member");
                        let mut row = Row::new(Role::Contribution(*kind), sign);
                        row.member = Some(m.clone());
                        row
                    } else {
                        let mut row = Row::new(Role::OtherIncome, sign);
                        row.line = line.clone();
                        row
                    }
                };
                let rows = match kind {
                    AccruedCost => vec![moved(self, a), Row::new(Role::AccruedLiability, -a)],
                    PrepaidCost => vec![Row::new(Role::AccruedAsset, a), moved(self, -a)],
                    AccruedIncome => vec![Row::new(Role::AccruedAsset, a), moved(self, -a)],
                    PrepaidIncome => vec![moved(self, a), Row::new(Role::AccruedLiability, -a)],
                };
                let what = match kind {
                    AccruedCost => "upplupen kostnad",
                    PrepaidCost => "förutbetald kostnad",
                    AccruedIncome => "upplupen intäkt",
                    PrepaidIncome => "förutbetald intäkt",
                };
                let reversal: Vec<Row> = rows.iter().map(|row| Row { amount: -row.amount, ..row.clone() }).collect();
                self.book(
                    r,
                    f,
                    e.date,
                    format!("Periodisering {year}, {what}: {text} ({reference})"),
                    VoucherKind::Event,
                    rows,
                );
                let next = NaiveDate::from_ymd_opt(year + 1, 1, 1).expect("a year in range");
                let back = format!("Återföring av periodisering {year}, {what}: {text} ({reference})");
                self.book(r, f, next, back, VoucherKind::Event, reversal);
            }
            PayrollRecorded { year, month, line, insats, items, reference, text, staff } => {
                // The cost rows carry the line and the insats as a personnel cost on the line
                // would; the net pay leaves the bank, the rest is owed.
                let target =
                    self.cost_row(f, *year, line, insats, Some(Nature::Personnel), Amount::ZERO, r.seq, e.date);
                self.payrolls.push(PayrollRecord {
                    seq: r.seq,
                    forbund: f.clone(),
                    date: e.date,
                    year: *year,
                    month: *month,
                    line: target.line.clone(),
                    staff: *staff,
                    costs: items
                        .iter()
                        .filter(|(i, _)| crate::chart::payroll_roles(*i).0.is_some())
                        .map(|(_, a)| *a)
                        .sum(),
                });
                let mut rows: Vec<Row> = Vec::new();
                let mut add = |role: Role, amount: Amount, on_line: bool| {
                    if let Some(row) = rows.iter_mut().find(|row| row.role == role) {
                        row.amount += amount;
                    } else {
                        let mut row = Row::new(role, amount);
                        if on_line {
                            row.line = target.line.clone();
                            row.insats = target.insats.clone();
                        }
                        rows.push(row);
                    }
                };
                for (item, amount) in items {
                    let (cost, owed) = crate::chart::payroll_roles(*item);
                    match (cost, owed) {
                        (Some(cost), Some(owed)) => {
                            add(cost, *amount, true);
                            add(owed, -*amount, false);
                        }
                        (Some(cost), None) => {
                            add(cost, *amount, true);
                            add(Role::Bank, -*amount, false);
                        }
                        (None, Some(owed)) => {
                            add(owed, -*amount, false);
                            add(Role::Bank, *amount, false);
                        }
                        (None, None) => unreachable!("every payroll item posts somewhere"),
                    }
                }
                rows.retain(|row| !row.amount.is_zero());
                // (Items that cancel out, e.g. contributions on semesterlöneskuld taken back as
                // much as the month's, book nothing.)
                if !rows.is_empty() {
                    let text = format!("Lönesammandrag {year}-{month:02}: {text} ({reference})");
                    self.book(r, f, e.date, text, VoucherKind::Event, rows);
                }
            }
            PayrollLiabilitiesPaid { items, reference } => {
                let mut rows: Vec<Row> = items
                    .iter()
                    .filter(|(_, a)| !a.is_zero())
                    .map(|(item, amount)| {
                        let owed = crate::chart::payroll_roles(*item).1.expect("a payable item is owed");
                        Row::new(owed, *amount)
                    })
                    .collect();
                let total: Amount = items.iter().map(|(_, a)| *a).sum();
                rows.push(Row::new(Role::Bank, -total));
                let what: Vec<&str> =
                    items.iter().filter(|(_, a)| !a.is_zero()).map(|(item, _)| item.swedish()).collect();
                let text = format!("Betalning av {}: {reference}", what.join(", "));
                self.book(r, f, e.date, text, VoucherKind::Event, rows);
            }
            InvoicePaid { invoice, amount, reference } => {
                let supplier = self.invoice(f, invoice).map(|i| i.supplier.clone()).unwrap_or_default();
                let text = if amount.is_negative() {
                    format!("Återbetalning från {supplier} på faktura {invoice}: {reference}")
                } else {
                    format!("Betalning av faktura {invoice} till {supplier}: {reference}")
                };
                let rows = vec![Row::new(Role::Payable, *amount), Row::new(Role::Bank, -*amount)];
                self.book(r, f, e.date, text, VoucherKind::Event, rows);
            }
            MergerDecided { merging, effective, estimated_transfers, .. } => self.mergers.push(MergerRecord {
                seq: r.seq,
                forbund: f.clone(),
                date: e.date,
                merging: merging.clone(),
                effective: *effective,
                estimates: estimated_transfers.clone(),
            }),
            EquityTransferred { from, amount, reference } => {
                self.transfers.push(TransferRecord {
                    seq: r.seq,
                    to: f.clone(),
                    from: from.clone(),
                    date: e.date,
                    amount: *amount,
                });
                let to_name = self.forbund[f].name.clone();
                let from_name = self.forbund[from].name.clone();
                self.book(
                    r,
                    from,
                    e.date,
                    format!("Eget kapital överfört till {to_name}: {reference}"),
                    VoucherKind::Event,
                    vec![Row::new(Role::Equity, *amount), Row::new(Role::Bank, -*amount)],
                );
                self.book(
                    r,
                    f,
                    e.date,
                    format!("Eget kapital överfört från {from_name}: {reference}"),
                    VoucherKind::Event,
                    vec![Row::new(Role::Bank, *amount), Row::new(Role::EquityReceived, -*amount)],
                );
            }
            BalancesTakenOver { from, reference } => self.take_over(r, from, reference),
            ReportTextRecorded { year, section, paragraphs, .. } => self.report_texts.push(ReportTextRecord {
                seq: r.seq,
                forbund: f.clone(),
                date: e.date,
                year: *year,
                section: *section,
                paragraphs: paragraphs.clone(),
            }),
            UnderlagAttached { of, file } => self.underlag.push(UnderlagRecord {
                seq: r.seq,
                forbund: f.clone(),
                date: e.date,
                of: of.clone(),
                file: file.clone(),
            }),
            AnnualReportAdopted { year, known_at, figures_sha256, decision } => {
                let step = PathStep::Adopted {
                    known_at: *known_at,
                    figures_sha256: figures_sha256.clone(),
                    decision: decision.clone(),
                };
                self.path.push(PathRecord { seq: r.seq, forbund: f.clone(), date: e.date, year: *year, step });
            }
            AuditReportRecorded { year, auditor, role, appointed_by, verdict, remarks } => {
                let step = PathStep::Audited {
                    auditor: auditor.clone(),
                    role: *role,
                    appointed_by: appointed_by.clone(),
                    verdict: *verdict,
                    remarks: remarks.clone(),
                };
                self.path.push(PathRecord { seq: r.seq, forbund: f.clone(), date: e.date, year: *year, step });
            }
            DischargeDecided { year, member, granted, decision } => {
                let step =
                    PathStep::Discharge { member: member.clone(), granted: *granted, decision: decision.clone() };
                self.path.push(PathRecord { seq: r.seq, forbund: f.clone(), date: e.date, year: *year, step });
            }
            ForbundDissolved { .. } => {
                self.forbund.get_mut(f).expect("registered").dissolved = Some((e.date, r.seq));
            }
            YearClosed { year, .. } => {
                let through = self.closed_through.entry(f.clone()).or_insert(*year);
                *through = (*through).max(*year);
                let by_role = self.year_results.get(&(f.clone(), *year)).cloned().unwrap_or_default();
                let mut rows: Vec<Row> =
                    by_role.iter().filter(|(_, a)| !a.is_zero()).map(|(role, a)| Row::new(*role, -*a)).collect();
                let to_equity: Amount = by_role.values().copied().sum();
                if !to_equity.is_zero() || !rows.is_empty() {
                    rows.push(Row::new(Role::Equity, to_equity));
                    let date = NaiveDate::from_ymd_opt(*year, 12, 31).expect("a valid year");
                    self.book(
                        r,
                        f,
                        date,
                        format!("Årets resultat {year} (och mottaget eget kapital) till eget kapital"),
                        VoucherKind::Closing,
                        rows,
                    );
                }
            }
            EventCorrected { corrects, reason, .. } => {
                let seq = *corrects;
                self.corrected.insert(seq, (r.seq, e.date));
                let originals: Vec<Voucher> = self.vouchers_of(seq);
                for original in originals {
                    let rows = original.rows.iter().map(|row| Row { amount: -row.amount, ..row.clone() }).collect();
                    let text = format!("Rättelse av {} (händelse nr {seq}): {reason}", original.label());
                    self.book(r, &original.forbund, e.date, text, VoucherKind::Correction { of: seq }, rows);
                }
                let at = self.contributions.partition_point(|c| c.seq < seq);
                if let Some(c) = self.contributions.get(at).filter(|c| c.seq == seq) {
                    let (of, member, year) = (c.forbund.clone(), c.member.clone(), c.year);
                    let (decided, settled) =
                        if c.paid_by.is_none() { (c.amount, Amount::ZERO) } else { (Amount::ZERO, c.settles) };
                    let owed = self.owed_mut(&of, &member, year);
                    owed.decided -= decided;
                    owed.settled -= settled;
                }
                let start = self.grants.partition_point(|g| g.seq < seq);
                let reversals: Vec<GrantEntry> = self.grants[start..]
                    .iter()
                    .take_while(|g| g.seq == seq)
                    .map(|g| GrantEntry { seq: r.seq, date: e.date, amount: -g.amount, ..g.clone() })
                    .collect();
                for g in reversals {
                    self.push_grant(g);
                }
                let start = self.budgets.partition_point(|b| b.seq < seq);
                for b in self.budgets[start..].iter_mut().take_while(|b| b.seq == seq) {
                    b.corrected = Some((r.seq, e.date));
                }
            }
        }
        if let Some(info) = self.forbund.get_mut(f) {
            info.latest_date = info.latest_date.max(Some(e.date));
        }
    }

    /// The cost row of a cost or an invoice: the category of the line in the budget in force for
    /// `year` when it was recorded (at `seq`), else the insats'; the insats the event's, else
    /// the line's.
    /// Its role: the cost's nature (the event's, else its line's) when that is the förbund's own
    /// staff, purchased services or other costs; else (grants given, and v1) the category's.
    #[allow(clippy::too_many_arguments)]
    fn cost_row(
        &self,
        f: &Slug,
        year: i32,
        line: &Option<Slug>,
        insats: &Option<Slug>,
        nature: Option<Nature>,
        amount: Amount,
        seq: u64,
        date: NaiveDate,
    ) -> Row {
        let budget_line = line.as_ref().and_then(|l| {
            self.budget_in_force(f, year, seq, NaiveDate::MAX).and_then(|b| b.costs.iter().find(|c| &c.id == l))
        });
        // Before its year's budget: the line as the latest earlier budget had it, for its
        // account (the cost counts against the line once a budget adopts it).
        let earlier_line = match (budget_line, line) {
            (None, Some(l)) if self.budget_in_force(f, year, seq, NaiveDate::MAX).is_none() => (2000..year)
                .rev()
                .find_map(|y| self.budget_in_force(f, y, seq, NaiveDate::MAX)?.costs.iter().find(|c| &c.id == l)),
            _ => None,
        };
        let category = || match (budget_line.or(earlier_line), insats) {
            (Some(l), _) => l.category,
            (None, Some(i)) => self.insats(f, i).expect("the ledger checked the insats").category_at(date, seq),
            (None, None) => unreachable!("the ledger checked that the cost's account is known"),
        };
        let role = match nature.or_else(|| budget_line.or(earlier_line).and_then(|l| l.nature)) {
            Some(n) if n.has_own_account() => Role::CostOf(n),
            _ => Role::Cost(category()),
        };
        let mut cost = Row::new(role, amount);
        cost.insats = insats.clone().or_else(|| budget_line.and_then(|l| l.insats.clone()));
        cost.line = line.clone();
        cost
    }

    /// The new förbund (the event's) takes over the books of `from` on the event's date: every
    /// asset and liability, role by role, as the old books hold them now, and every income and
    /// cost the old books carry from that day on (the reversals of its year-end accruals); the
    /// old books' equity takes the difference, the new books receive it as equity received.
    /// What is owed moves with the books: open invoices and members' contributions.
    fn take_over(&mut self, r: Recorded<'_>, from: &Slug, reference: &str) {
        let (f, effective) = (&r.event.forbund, r.event.date);
        // Assets and liabilities role by role (from the totals), income and costs from the day
        // on with what they were about (insats, line, member), as the old vouchers had them.
        type Key = (Role, Option<Slug>, Option<Slug>, Option<Slug>);
        let mut moved: BTreeMap<Key, Amount> = BTreeMap::new();
        for total in self.totals.get(from).into_iter().flat_map(|days| days.values()) {
            for t in total.roles.iter().filter(|t| matches!(t.role.side(), Side::Asset | Side::Liability)) {
                *moved.entry((t.role, None, None, None)).or_default() += t.amount;
            }
        }
        let later: Vec<Row> = self
            .book
            .of_forbund(from, u64::MAX)
            .filter(|v| v.date >= effective)
            .flat_map(|v| v.rows)
            .filter(|row| row.role.is_result())
            .collect();
        for row in later {
            *moved.entry((row.role, row.insats, row.line, row.member)).or_default() += row.amount;
        }
        moved.retain(|_, a| !a.is_zero());
        let net: Amount = moved.values().copied().sum();
        self.transfers.push(TransferRecord {
            seq: r.seq,
            to: f.clone(),
            from: from.clone(),
            date: effective,
            amount: net,
        });
        let rows = |negate: bool| -> Vec<Row> {
            moved
                .iter()
                .map(|((role, insats, line, member), a)| Row {
                    role: *role,
                    amount: if negate { -*a } else { *a },
                    insats: insats.clone(),
                    line: line.clone(),
                    member: member.clone(),
                })
                .collect()
        };
        let mut old = rows(true);
        let mut new = rows(false);
        let to_name = self.forbund[f].name.clone();
        let from_name = self.forbund[from].name.clone();
        old.push(Row::new(Role::Equity, net));
        let text = format!("Tillgångar och skulder övertagna av {to_name} vid sammanläggningen: {reference}");
        self.book(r, from, effective, text, VoucherKind::Event, old);
        new.push(Row::new(Role::EquityReceived, -net));
        let text = format!("Tillgångar och skulder övertagna från {from_name} vid sammanläggningen: {reference}");
        self.book(r, f, effective, text, VoucherKind::Event, new);
        let invoices: Vec<InvoiceRecord> = self
            .invoices
            .iter()
            .filter(|i| &i.forbund == from && !self.invoice_index.contains_key(&(f.clone(), i.invoice.clone())))
            .map(|i| InvoiceRecord { forbund: f.clone(), ..i.clone() })
            .collect();
        for i in invoices {
            self.invoice_index.insert((f.clone(), i.invoice.clone()), self.invoices.len());
            self.invoices.push(i);
        }
        let owed = self.owed.get(from).cloned().unwrap_or_default();
        for (member, years) in owed {
            for (year, o) in years {
                let into = self.owed_mut(f, &member, year);
                into.decided += o.decided;
                into.settled += o.settled;
            }
        }
    }

    fn owed_mut(&mut self, f: &Slug, member: &Slug, year: i32) -> &mut Owed {
        self.owed.entry(f.clone()).or_default().entry(member.clone()).or_default().entry(year).or_default()
    }

    /// A supplier's invoice (or credit note) of a förbund, by its id.
    pub fn invoice(&self, f: &Slug, invoice: &Slug) -> Option<&InvoiceRecord> {
        self.invoice_index.get(&(f.clone(), invoice.clone())).map(|i| &self.invoices[*i])
    }

    fn grant(&mut self, seq: u64, f: &Slug, insats: &Slug, year: i32, date: NaiveDate, amount: Amount) {
        self.push_grant(GrantEntry { seq, forbund: f.clone(), insats: insats.clone(), year, date, amount });
    }

    fn book(&mut self, r: Recorded<'_>, f: &Slug, date: NaiveDate, text: String, kind: VoucherKind, rows: Vec<Row>) {
        let year = date.year();
        let next = self.next_number.entry(f.clone()).or_default().entry(year).or_insert(1);
        let voucher = Voucher {
            forbund: f.clone(),
            year,
            number: *next,
            date,
            seq: r.seq,
            recorded_at: r.recorded_at.to_string(),
            recorded_by: r.recorded_by.to_string(),
            text,
            kind,
            rows,
        };
        voucher.assert_balanced();
        *next += 1;
        index_voucher(&mut self.year_results, &mut self.totals, &mut self.other_income_lines, &voucher);
        self.book.push(&voucher);
    }

    /// The vouchers summed per förbund and day.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    pub fn insats(&self, f: &Slug, insats: &Slug) -> Option<&InsatsRecord> {
        self.insats_index.get(&(f.clone(), insats.clone())).map(|i| &self.insatser[*i])
    }

    /// The years a förbund has books in, as a person would pick them: every year with a budget
    /// (or a plan's outlook) or a voucher, up to `today`'s year, in order; and the year to open
    /// on — the latest of the latest year with a budget and the latest year with vouchers after
    /// January (January's vouchers mostly settle the year before: a member's late payment, the
    /// accruals reversed), neither after `today`'s year; else `today`'s year.
    pub fn book_years(&self, f: &Slug, today: NaiveDate) -> (Vec<i32>, i32) {
        let now = today.year();
        let budgeted: BTreeSet<i32> = self
            .budget_index
            .keys()
            .filter(|(g, _)| g == f)
            .map(|(_, y)| *y)
            .filter(|y| self.budget_in_force(f, *y, self.head, NaiveDate::MAX).is_some())
            .collect();
        let days = self.totals.get(f);
        let booked: BTreeSet<i32> = days.map(|d| d.keys().map(|d| d.year()).collect()).unwrap_or_default();
        let active = days.and_then(|d| d.keys().rev().filter(|d| d.year() <= now).find(|d| d.month() > 1));
        let open = [budgeted.range(..=now).next_back().copied(), active.map(|d| d.year())]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(now);
        let mut years: Vec<i32> = budgeted.union(&booked).copied().filter(|y| *y <= now).collect();
        if !years.contains(&open) {
            years.push(open);
            years.sort_unstable();
        }
        (years, open)
    }

    /// The budget in force for a year, as known at `known_at` and as of `as_of`: the latest
    /// adopted budget, else the latest outlook, not withdrawn by a correction.
    pub fn budget_in_force(&self, f: &Slug, year: i32, known_at: u64, as_of: NaiveDate) -> Option<&BudgetRecord> {
        let visible = |b: &&BudgetRecord| {
            &b.forbund == f
                && b.year == year
                && b.seq <= known_at
                && b.date <= as_of
                && !b.corrected.is_some_and(|(seq, date)| seq <= known_at && date <= as_of)
        };
        let indexes = self.budget_index.get(&(f.clone(), year)).map(Vec::as_slice).unwrap_or_default();
        let budgets = || indexes.iter().map(|i| &self.budgets[*i]);
        let latest = |status| budgets().filter(visible).filter(|b| b.status == status).max_by_key(|b| b.seq);
        latest(BudgetStatus::Adopted).or_else(|| latest(BudgetStatus::Outlook))
    }

    /// The vouchers a report may see: recorded at or before `known_at`, dated on or before `as_of`.
    pub fn visible_vouchers<'a>(
        &'a self,
        f: &'a Slug,
        known_at: u64,
        as_of: NaiveDate,
    ) -> impl Iterator<Item = Voucher> + 'a {
        self.visible_vouchers_between(f, known_at, NaiveDate::MIN, as_of)
    }

    /// The visible vouchers dated `from` through `to`: those outside are skipped by their
    /// dates, never decoded (a year's report reads its year's vouchers alone).
    pub fn visible_vouchers_between<'a>(
        &'a self,
        f: &'a Slug,
        known_at: u64,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Iterator<Item = Voucher> + 'a {
        self.book.of_forbund_dated(f, known_at, from..=to).inspect(|v| v.assert_balanced())
    }

    /// The visible vouchers of `year` dated on or before `as_of`.
    pub fn visible_vouchers_of_year<'a>(
        &'a self,
        f: &'a Slug,
        known_at: u64,
        as_of: NaiveDate,
        year: i32,
    ) -> impl Iterator<Item = Voucher> + 'a {
        let (first, last) = crate::projection::year_bounds(year);
        self.visible_vouchers_between(f, known_at, first, last.min(as_of))
    }

    /// Whether a budgeted income line is other income rather than the members' contributions
    /// (v1 budgets do not say): other income was booked on it, or its name begins with "Övrig".
    pub fn is_other_income_line(&self, f: &Slug, line: &IncomeLine) -> bool {
        line.name.to_lowercase().starts_with("övrig") || self.other_income_lines.contains(&(f.clone(), line.id.clone()))
    }

    /// The vouchers booked from the event `seq` (one, two for a transfer, none for a decision).
    pub fn vouchers_of(&self, seq: u64) -> Vec<Voucher> {
        self.book.of_seq(seq)
    }
}

/// The first and the last day of `year`; for a year no date has, an empty range.
pub fn year_bounds(year: i32) -> (NaiveDate, NaiveDate) {
    match (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year, 12, 31)) {
        (Some(first), Some(last)) => (first, last),
        _ => (NaiveDate::MAX, NaiveDate::MIN),
    }
}
