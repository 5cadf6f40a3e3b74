//! The event contract (v1, and the types v2 adds): the typed events and their JSON codec.
//!
//! Decoding is hand-written over `serde_json::Value` so that every refusal names the field, the
//! value and the rule (serde's derive stops at the first error with a message meant for
//! programmers). Encoding writes the canonical form that the log stores: fields in contract
//! order, amounts as canonical decimal strings.

use crate::json::{Json, Members};
use crate::money::{Amount, Share};
use crate::rejection::{Rejection, Rule};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::check_org_nr;

/// Effective dates and budget years must lie in this range (Finsam started in 2004).
pub const YEAR_MIN: i32 = 2000;
pub const YEAR_MAX: i32 = 2099;
pub const NAME_CHARS_MAX: usize = 200;
pub const TEXT_CHARS_MAX: usize = 1000;
pub const SLUG_CHARS_MAX: usize = 64;
pub const KEY_CHARS_MAX: usize = 128;
pub const LINES_PER_BUDGET_MAX: usize = 500;
pub const MEMBERS_MAX: usize = 100;
/// A section of the report's text: at most this many paragraphs of at most this many characters.
pub const REPORT_PARAGRAPHS_MAX: usize = 50;
pub const REPORT_PARAGRAPH_CHARS_MAX: usize = 4000;
/// Underlag is attached to at most this many events at once.
pub const UNDERLAG_OF_MAX: usize = 1000;

/// An identifier such as a förbund id (`sf-vastmanland`), a member id, an insats or a budget
/// line: lower-case ASCII letters and digits in words joined by single hyphens.
///
/// Shared text: a history names the same few ids a million times, so each thread keeps one
/// copy of each id it has read (`interned`) and a slug is a counted reference to it. Cloning
/// one allocates nothing, and the books hold a pointer per id instead of a string.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slug(std::sync::Arc<str>);

/// How many ids a thread keeps shared; past it (ids typed wrongly, refused, and never seen
/// again, in a long-running service) a slug has its own copy.
const INTERNED_MAX: usize = 1 << 16;

thread_local! {
    static INTERNED: std::cell::RefCell<std::collections::HashSet<std::sync::Arc<str>>> =
        std::cell::RefCell::new(std::collections::HashSet::new());
}

/// The thread's shared copy of `text`.
fn interned(text: &str) -> std::sync::Arc<str> {
    INTERNED.with(|ids| {
        let mut ids = ids.borrow_mut();
        if let Some(id) = ids.get(text) {
            return id.clone();
        }
        let id: std::sync::Arc<str> = std::sync::Arc::from(text);
        if ids.len() < INTERNED_MAX {
            ids.insert(id.clone());
        }
        id
    })
}

impl Serialize for Slug {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// As the derived state holds it (sealed, written by finsam); events are read through
/// `Slug::parse`.
impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Slug, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Slug;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Slug, E> {
                Ok(Slug(interned(text)))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

impl Slug {
    pub fn parse(text: &str) -> Result<Slug, &'static str> {
        let ok = !text.is_empty()
            && text.len() <= SLUG_CHARS_MAX
            && text
                .split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        if ok {
            Ok(Slug(interned(text)))
        } else {
            Err("an id is lower-case letters a-z and digits in words joined by single hyphens, at most 64 characters, e.g. \"sf-vastmanland\"")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A board decision as minuted: the body, the meeting date and the paragraph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub body: String,
    pub date: NaiveDate,
    /// The paragraph in the minutes ("§ 5"); optional because several source documents do not
    /// print it.
    pub paragraph: Option<String>,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.body, self.date)?;
        if let Some(p) = &self.paragraph {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $text),+ } }
            pub fn parse(text: &str) -> Option<$name> { match text { $($text => Some($name::$variant),)+ _ => None } }
            pub fn allowed() -> String { [$($text),+].map(|t| format!("\"{t}\"")).join(", ") }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

string_enum!(
    /// The three kinds of member that finance a förbund (Finsam §5: 50 / 25 / 25).
    MemberKind { Staten => "staten", Region => "region", Kommun => "kommun" }
);
string_enum!(
    /// The categories every budget reports separately.
    Category { Admin => "admin", Individ => "individ", Struktur => "struktur" }
);
string_enum!(
    /// What an attached file is: a document (PDF), a picture of one (PNG, JPEG), or a file an
    /// import read (a bank file in XML or text, a spreadsheet, a SIE file).
    MediaType {
        Pdf => "application/pdf",
        Png => "image/png",
        Jpeg => "image/jpeg",
        Xml => "application/xml",
        Text => "text/plain",
        Csv => "text/csv",
        Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Ods => "application/vnd.oasis.opendocument.spreadsheet"
    }
);
string_enum!(
    /// An adopted budget, or a plan's outlook (forecast) for a later year.
    BudgetStatus { Adopted => "adopted", Outlook => "outlook" }
);
string_enum!(
    /// What a cost is (kostnadsslag, v2), apart from what it is for (its category): the
    /// förbund's own staff, purchased services, grants given to insatser run by the members,
    /// other costs, or a financial cost (interest paid, bank charges: a finansiell post).
    Nature {
        Personnel => "personal",
        Purchased => "kopta_tjanster",
        Grants => "lamnade_bidrag",
        Other => "ovrigt",
        Financial => "finansiell"
    }
);
string_enum!(
    /// An item of a month's payroll summary (lönesammandrag, v2), as its JSON key: gross
    /// salaries, fees to elected members (arvoden), the tax withheld from them (källskatt), the
    /// employer's contributions (arbetsgivaravgifter), the pension's individuell del and its
    /// särskild löneskatt, and at the year end the change in semesterlöneskuld with the
    /// contributions on it.
    PayItem {
        Salaries => "salaries",
        Fees => "fees",
        TaxWithheld => "tax_withheld",
        EmployerContributions => "employer_contributions",
        Pension => "pension",
        SpecialPayrollTax => "special_payroll_tax",
        VacationPayChange => "vacation_pay_change",
        VacationPayContributions => "vacation_pay_contributions"
    }
);
impl PayItem {
    /// The items a payroll liability payment settles (to Skatteverket or the pension
    /// administrator).
    pub const PAYABLE: &'static [PayItem] =
        &[PayItem::TaxWithheld, PayItem::EmployerContributions, PayItem::Pension, PayItem::SpecialPayrollTax];

    /// Whether the item may be negative: the change in semesterlöneskuld (and the contributions
    /// on it) goes down when staff take out more vacation than they earn.
    pub fn may_be_negative(self) -> bool {
        matches!(self, PayItem::VacationPayChange | PayItem::VacationPayContributions)
    }

    /// The item in Swedish, as a payroll summary names it.
    pub fn swedish(self) -> &'static str {
        match self {
            PayItem::Salaries => "bruttolöner",
            PayItem::Fees => "arvoden",
            PayItem::TaxWithheld => "avdragen källskatt",
            PayItem::EmployerContributions => "arbetsgivaravgifter",
            PayItem::Pension => "pension, individuell del",
            PayItem::SpecialPayrollTax => "särskild löneskatt",
            PayItem::VacationPayChange => "förändring av semesterlöneskuld",
            PayItem::VacationPayContributions => "sociala avgifter på semesterlöneskuld",
        }
    }
}

impl Nature {
    /// Whether costs of this nature post to an account of their own (grants given post to
    /// their category's).
    pub fn has_own_account(self) -> bool {
        !matches!(self, Nature::Grants)
    }
}

string_enum!(
    /// What other income is: income of the operations (the default), or financial income
    /// (interest received on the bank balance: a finansiell post).
    IncomeNature {
        Operating => "verksamhet",
        Financial => "finansiell"
    }
);
string_enum!(
    /// A year-end accrual (periodisering, v2): booked on 31 December, reversed on 1 January.
    AccrualKind {
        AccruedCost => "upplupen_kostnad",
        PrepaidCost => "forutbetald_kostnad",
        AccruedIncome => "upplupen_intakt",
        PrepaidIncome => "forutbetald_intakt"
    }
);

impl AccrualKind {
    /// The kind in Swedish, as a reader writes it.
    pub fn swedish(self) -> &'static str {
        match self {
            AccrualKind::AccruedCost => "upplupen kostnad",
            AccrualKind::PrepaidCost => "förutbetald kostnad",
            AccrualKind::AccruedIncome => "upplupen intäkt",
            AccrualKind::PrepaidIncome => "förutbetald intäkt",
        }
    }

    /// A cost accrual moves a cost between years; the others move income.
    pub fn is_cost(self) -> bool {
        matches!(self, AccrualKind::AccruedCost | AccrualKind::PrepaidCost)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: Slug,
    pub name: String,
    pub kind: MemberKind,
    pub share: Share,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomeLine {
    pub id: Slug,
    pub name: String,
    pub amount: Amount,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostLine {
    pub id: Slug,
    pub name: String,
    pub category: Category,
    pub insats: Option<Slug>,
    /// The subtotal heading the source document prints the line under, when that is not one
    /// of the three categories (e.g. Västerås' "Styrelsen").
    pub group: Option<String>,
    pub amount: Amount,
    pub note: Option<String>,
    /// What the line's costs are (v2); without it, grants given (v1's books).
    #[serde(default)]
    pub nature: Option<Nature>,
}

/// Equity that a plan expects to receive from another förbund (a merger).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLine {
    pub from: Slug,
    pub name: String,
    pub amount: Amount,
}

/// The totals exactly as printed in the adopted document, errors included. The reconciliation
/// compares them with the sums of the lines.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stated {
    pub costs_total: Option<Amount>,
    pub income_total: Option<Amount>,
    pub result: Option<Amount>,
    pub opening_equity: Option<Amount>,
    pub closing_equity: Option<Amount>,
    /// "Medel till förfogande": opening equity + income + transfers.
    pub available: Option<Amount>,
    /// "Summa direkta insatskostnader": individ + struktur.
    pub direct_total: Option<Amount>,
    pub transfers_total: Option<Amount>,
    pub by_category: Vec<(Category, Amount)>,
    pub by_group: Vec<(String, Amount)>,
    /// Printed shares, e.g. `admin_of_costs` = 0.14.
    pub shares: Vec<(StatedShare, Share)>,
}

string_enum!(
    /// The shares the plans print.
    StatedShare {
        AdminOfCosts => "admin_of_costs",
        DirectOfCosts => "direct_of_costs",
        IndividOfDirect => "individ_of_direct",
        StrukturOfDirect => "struktur_of_direct",
    }
);

/// An insats of a named förbund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsatsRef {
    pub forbund: Slug,
    pub insats: Slug,
}

string_enum!(
    /// A section of the annual report's förvaltningsberättelse that the kansli writes (v2); also
    /// the note on ansvarsförbindelser, and the delårsrapport's short förvaltningsberättelse.
    ReportSection {
        YearInBrief => "aret_i_korthet",
        Significant => "vasentliga_handelser",
        AfterYearEnd => "efter_arets_slut",
        Insatser => "insatser",
        Staff => "personal",
        Outlook => "forvantad_utveckling",
        Hushallning => "god_ekonomisk_hushallning",
        Contingent => "ansvarsforbindelser",
        Interim => "delarsrapport"
    }
);
impl ReportSection {
    /// The section's heading in the report.
    pub fn heading(self) -> &'static str {
        match self {
            ReportSection::YearInBrief => "Året i korthet",
            ReportSection::Significant => "Händelser av väsentlig betydelse",
            ReportSection::AfterYearEnd => "Händelser efter räkenskapsårets slut",
            ReportSection::Insatser => "Resultat per insats och kategori",
            ReportSection::Staff => "Personal",
            ReportSection::Outlook => "Förväntad utveckling",
            ReportSection::Hushallning => "God ekonomisk hushållning och balanskrav",
            ReportSection::Contingent => "Ansvarsförbindelser",
            ReportSection::Interim => "Förvaltningsberättelse för perioden",
        }
    }
}
string_enum!(
    /// The revisorer's verdict on ansvarsfrihet for the board (v2).
    AuditVerdict { Endorses => "tillstyrker", Opposes => "avstyrker" }
);
string_enum!(
    /// Who an auditor of a förbund is (v2): the authorised auditor the state appoints, or a lay
    /// auditor appointed by the region or the kommuner.
    AuditorRole { Authorised => "auktoriserad_revisor", Lay => "lekmannarevisor" }
);

/// One invoice of a member's contribution (v2): what falls due on a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installment {
    pub due: NaiveDate,
    pub amount: Amount,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstimatedTransfer {
    pub from: Slug,
    pub amount: Amount,
}

/// What happened, per type; the fields common to all events live in [`Event`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    ForbundRegistered {
        name: String,
        org_nr: Option<String>,
        members: Vec<Member>,
    },
    OpeningBalanceRecorded {
        equity: Amount,
        bank: Amount,
    },
    InsatsCreated {
        insats: Slug,
        name: String,
        category: Category,
        owner: Option<String>,
        /// The insats of another förbund that this one carries on (after a merger).
        continues: Option<InsatsRef>,
        /// The last day the insats runs, when decided.
        end: Option<NaiveDate>,
        decision: Decision,
    },
    BudgetAdopted {
        year: i32,
        decision: Decision,
        status: BudgetStatus,
        income: Vec<IncomeLine>,
        costs: Vec<CostLine>,
        transfers: Vec<TransferLine>,
        stated: Option<Box<Stated>>,
    },
    FundingGranted {
        insats: Slug,
        year: i32,
        amount: Amount,
        decision: Decision,
    },
    FundingChanged {
        insats: Slug,
        year: i32,
        delta: Amount,
        reason: String,
        decision: Decision,
    },
    ContributionReceived {
        member: Slug,
        year: i32,
        amount: Amount,
        reference: String,
        /// Who paid, when not the member itself (v2): Försäkringskassan pays the state's whole
        /// share, Arbetsförmedlingen's part included.
        payer: Option<Slug>,
    },
    /// A member's contribution for a year as decided (v2): owed until paid.
    ContributionDecided {
        member: Slug,
        year: i32,
        amount: Amount,
        reference: String,
        decision: Decision,
        /// The invoicing plan (faktureringsplan): when each part falls due, in date order,
        /// summing to `amount`. Empty: the whole amount is due on the decision's date.
        installments: Vec<Installment>,
    },
    OtherIncomeRecorded {
        year: i32,
        line: Slug,
        amount: Amount,
        reference: String,
        /// `finansiell`: interest and other financial income (v2; absent: the operations').
        nature: Option<IncomeNature>,
    },
    CostRecorded {
        year: i32,
        line: Option<Slug>,
        insats: Option<Slug>,
        amount: Amount,
        reference: String,
        text: String,
        /// What the cost is (v2), when not its budget line's.
        nature: Option<Nature>,
    },
    /// A supplier's invoice (v2): the cost when it arises, owed until paid. A credit note is an
    /// invoice with a negative amount that `credits` an earlier one.
    InvoiceReceived {
        year: i32,
        invoice: Slug,
        supplier: String,
        line: Option<Slug>,
        insats: Option<Slug>,
        amount: Amount,
        credits: Option<Slug>,
        due: Option<NaiveDate>,
        reference: String,
        text: String,
        /// What the cost is (v2), when not its budget line's.
        nature: Option<Nature>,
    },
    /// A year-end accrual (v2): a cost or income of `year` that is invoiced or paid in another
    /// year, booked on 31 December and reversed on 1 January of the next year.
    AccrualRecorded {
        year: i32,
        kind: AccrualKind,
        line: Option<Slug>,
        insats: Option<Slug>,
        member: Option<Slug>,
        amount: Amount,
        reference: String,
        text: String,
    },
    /// A month's payroll summary (v2, lönesammandrag): what the förbund's own staff earned and
    /// what it owes for them, one event per month and cost line, never per person. Net pay
    /// (salaries and fees less the tax withheld) leaves the bank on the day; the tax withheld,
    /// the employer's contributions, the pension and its särskild löneskatt are owed until paid
    /// (`PayrollLiabilitiesPaid`); the change in semesterlöneskuld is owed from the year end.
    PayrollRecorded {
        year: i32,
        month: u32,
        line: Option<Slug>,
        insats: Option<Slug>,
        /// How many people the summary pays (for the förvaltningsberättelse's staff figure).
        staff: Option<u32>,
        /// The items present, in `PayItem::ALL` order.
        items: Vec<(PayItem, Amount)>,
        reference: String,
        text: String,
    },
    /// Payroll liabilities paid (v2): to Skatteverket (the tax withheld, the employer's
    /// contributions, the särskild löneskatt) or to the pension administrator.
    PayrollLiabilitiesPaid {
        /// The items paid (of `PayItem::PAYABLE`), in `PayItem::ALL` order.
        items: Vec<(PayItem, Amount)>,
        reference: String,
    },
    /// The kansli's forecast of what a cost line of the year's budget will come to for the whole
    /// year (v2). No money moves: the board's follow-up shows it as the line's helårsprognos from
    /// its date on, until a later forecast of the line replaces it.
    ForecastRecorded {
        year: i32,
        line: Slug,
        amount: Amount,
        text: String,
    },
    /// A payment, in whole or in part, of a supplier's invoice (v2).
    InvoicePaid {
        invoice: Slug,
        amount: Amount,
        reference: String,
    },
    MergerDecided {
        merging: Vec<Slug>,
        effective: NaiveDate,
        estimated_transfers: Vec<EstimatedTransfer>,
        decision: Decision,
    },
    EquityTransferred {
        from: Slug,
        amount: Amount,
        reference: String,
    },
    /// The new förbund takes over a merging förbund's books (v2), on the day the merger takes
    /// effect: every asset and liability, account by account, and the equity they leave. The
    /// amounts are what the old books say; the old books are zero afterwards (once its last
    /// year is closed).
    BalancesTakenOver {
        from: Slug,
        reference: String,
    },
    ForbundDissolved {
        merged_into: Option<Slug>,
        decision: Decision,
    },
    YearClosed {
        year: i32,
        decision: Decision,
    },
    /// The kansli's own text for a section of a year's förvaltningsberättelse (v2): paragraphs
    /// (a paragraph starting "- " is a list item), versioned: the latest known is used.
    ReportTextRecorded {
        year: i32,
        section: ReportSection,
        paragraphs: Vec<String>,
        decision: Option<Decision>,
    },
    /// The board adopts a year's annual report (v2), bound to the log as it stood: the report as
    /// known at `known_at`, whose figures hash to `figures_sha256` (the report's own
    /// `figures_sha256`). A later correction that changes a figure shows as a difference.
    AnnualReportAdopted {
        year: i32,
        known_at: u64,
        figures_sha256: String,
        decision: Decision,
    },
    /// A revisor's revisionsberättelse for a year (v2): who, in which role, tillstyrker or
    /// avstyrker ansvarsfrihet, with remarks. Dated the day it is signed.
    AuditReportRecorded {
        year: i32,
        auditor: String,
        role: AuditorRole,
        appointed_by: Option<String>,
        verdict: AuditVerdict,
        remarks: Option<String>,
    },
    /// A member's decision on ansvarsfrihet for the board for a year (v2).
    DischargeDecided {
        year: i32,
        member: Slug,
        granted: bool,
        decision: Decision,
    },
    /// The members in force from a date (v2), by the members' decision: who joins, who leaves,
    /// whose share changes. The whole list, its shares as Finsam §5 requires.
    MembersChanged {
        effective: NaiveDate,
        members: Vec<Member>,
        decision: Decision,
    },
    /// An insats renamed, moved to another category, or ended, from a date (v2).
    InsatsChanged {
        insats: Slug,
        effective: NaiveDate,
        name: Option<String>,
        category: Option<Category>,
        end: Option<NaiveDate>,
        decision: Decision,
    },
    /// A mistake in the registration corrected (v2): the name, the org nr, or the day the books
    /// begin.
    RegistrationCorrected {
        name: Option<String>,
        org_nr: Option<String>,
        registered: Option<NaiveDate>,
        reason: String,
        decision: Decision,
    },
    EventCorrected {
        corrects: u64,
        reason: String,
        decision: Option<Decision>,
    },
    /// Underlag (v2): a file — the invoice, the minutes, the bank file an import read — attached
    /// to events of the förbund's books already recorded, by its SHA-256. The chain covers the
    /// hash; the store keeps the bytes. Attachments are never changed: another file is another
    /// attachment.
    UnderlagAttached {
        /// The seqs of the events it is underlag for, ascending.
        of: Vec<u64>,
        file: Attachment,
    },
}

/// A file attached as underlag: its name as uploaded, what it is, its size and SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub media_type: MediaType,
    pub size: u64,
    /// 64 lower-case hex digits.
    pub sha256: String,
}

/// The largest file attached as underlag: 20 MiB (a scanned invoice, a year's bank file).
pub const ATTACHMENT_BYTES_MAX: u64 = 20 << 20;

impl EventKind {
    pub const TYPES: &'static [&'static str] = &[
        "ForbundRegistered",
        "OpeningBalanceRecorded",
        "InsatsCreated",
        "BudgetAdopted",
        "FundingGranted",
        "FundingChanged",
        "ContributionReceived",
        "ContributionDecided",
        "OtherIncomeRecorded",
        "CostRecorded",
        "InvoiceReceived",
        "InvoicePaid",
        "AccrualRecorded",
        "ForecastRecorded",
        "PayrollRecorded",
        "PayrollLiabilitiesPaid",
        "MergerDecided",
        "EquityTransferred",
        "BalancesTakenOver",
        "ForbundDissolved",
        "YearClosed",
        "MembersChanged",
        "InsatsChanged",
        "RegistrationCorrected",
        "ReportTextRecorded",
        "AnnualReportAdopted",
        "AuditReportRecorded",
        "DischargeDecided",
        "EventCorrected",
        "UnderlagAttached",
    ];

    /// The types of contract v1 (the rest came with v2).
    pub const V1_TYPES: &'static [&'static str] = &[
        "ForbundRegistered",
        "OpeningBalanceRecorded",
        "InsatsCreated",
        "BudgetAdopted",
        "FundingGranted",
        "FundingChanged",
        "ContributionReceived",
        "OtherIncomeRecorded",
        "CostRecorded",
        "MergerDecided",
        "EquityTransferred",
        "ForbundDissolved",
        "YearClosed",
        "EventCorrected",
    ];

    pub fn type_name(&self) -> &'static str {
        use EventKind::*;
        match self {
            ForbundRegistered { .. } => "ForbundRegistered",
            OpeningBalanceRecorded { .. } => "OpeningBalanceRecorded",
            InsatsCreated { .. } => "InsatsCreated",
            BudgetAdopted { .. } => "BudgetAdopted",
            FundingGranted { .. } => "FundingGranted",
            FundingChanged { .. } => "FundingChanged",
            ContributionReceived { .. } => "ContributionReceived",
            ContributionDecided { .. } => "ContributionDecided",
            OtherIncomeRecorded { .. } => "OtherIncomeRecorded",
            CostRecorded { .. } => "CostRecorded",
            InvoiceReceived { .. } => "InvoiceReceived",
            InvoicePaid { .. } => "InvoicePaid",
            AccrualRecorded { .. } => "AccrualRecorded",
            ForecastRecorded { .. } => "ForecastRecorded",
            PayrollRecorded { .. } => "PayrollRecorded",
            PayrollLiabilitiesPaid { .. } => "PayrollLiabilitiesPaid",
            MergerDecided { .. } => "MergerDecided",
            EquityTransferred { .. } => "EquityTransferred",
            BalancesTakenOver { .. } => "BalancesTakenOver",
            ForbundDissolved { .. } => "ForbundDissolved",
            YearClosed { .. } => "YearClosed",
            ReportTextRecorded { .. } => "ReportTextRecorded",
            AnnualReportAdopted { .. } => "AnnualReportAdopted",
            AuditReportRecorded { .. } => "AuditReportRecorded",
            DischargeDecided { .. } => "DischargeDecided",
            MembersChanged { .. } => "MembersChanged",
            InsatsChanged { .. } => "InsatsChanged",
            RegistrationCorrected { .. } => "RegistrationCorrected",
            EventCorrected { .. } => "EventCorrected",
            UnderlagAttached { .. } => "UnderlagAttached",
        }
    }

    pub fn decision(&self) -> Option<&Decision> {
        use EventKind::*;
        match self {
            InsatsCreated { decision, .. }
            | BudgetAdopted { decision, .. }
            | FundingGranted { decision, .. }
            | FundingChanged { decision, .. }
            | MergerDecided { decision, .. }
            | ContributionDecided { decision, .. }
            | ForbundDissolved { decision, .. }
            | MembersChanged { decision, .. }
            | InsatsChanged { decision, .. }
            | RegistrationCorrected { decision, .. }
            | YearClosed { decision, .. }
            | AnnualReportAdopted { decision, .. }
            | DischargeDecided { decision, .. } => Some(decision),
            ReportTextRecorded { decision, .. } => decision.as_ref(),
            EventCorrected { decision, .. } => decision.as_ref(),
            _ => None,
        }
    }
}

/// One event as the contract defines it: the common fields and the typed rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub forbund: Slug,
    pub date: NaiveDate,
    pub idempotency_key: Option<String>,
    /// Free text about where the event comes from (e.g. which document and table).
    pub note: Option<String>,
    pub kind: EventKind,
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    /// The förbund the event names: its own, and the other side of a transfer or a takeover, the
    /// förbund a merger decision names, the förbund a dissolution merges into. (What a correction
    /// touches besides needs the log: `Ledger::touched`.)
    pub fn forbund_named(&self) -> Vec<&Slug> {
        let mut list = vec![&self.forbund];
        match &self.kind {
            EventKind::EquityTransferred { from, .. } | EventKind::BalancesTakenOver { from, .. } => list.push(from),
            EventKind::MergerDecided { merging, .. } => list.extend(merging),
            EventKind::ForbundDissolved { merged_into: Some(into), .. } => list.push(into),
            _ => {}
        }
        list
    }
}
