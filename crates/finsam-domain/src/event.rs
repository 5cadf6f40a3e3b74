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

/// Effective dates and budget years must lie in this range (Finsam started in 2004).
pub const YEAR_MIN: i32 = 2000;
pub const YEAR_MAX: i32 = 2099;
pub const NAME_CHARS_MAX: usize = 200;
pub const TEXT_CHARS_MAX: usize = 1000;
pub const SLUG_CHARS_MAX: usize = 64;
pub const KEY_CHARS_MAX: usize = 128;
pub const LINES_PER_BUDGET_MAX: usize = 500;
pub const MEMBERS_MAX: usize = 100;

/// An identifier such as a förbund id (`sf-vastmanland`), a member id, an insats or a budget
/// line: lower-case ASCII letters and digits in words joined by single hyphens.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn parse(text: &str) -> Result<Slug, &'static str> {
        let ok = !text.is_empty()
            && text.len() <= SLUG_CHARS_MAX
            && text
                .split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        if ok {
            Ok(Slug(text.to_string()))
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
}

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
        "EventCorrected",
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
            MembersChanged { .. } => "MembersChanged",
            InsatsChanged { .. } => "InsatsChanged",
            RegistrationCorrected { .. } => "RegistrationCorrected",
            EventCorrected { .. } => "EventCorrected",
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
            | YearClosed { decision, .. } => Some(decision),
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

// ---------------------------------------------------------------------------------------------
// Decoding

fn json_text(value: &Json<'_>) -> String {
    value.text()
}

fn json_kind(value: &Json<'_>) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(n) if n.is_f64() => "a JSON float",
        Json::Number(_) => "a JSON number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Reads one JSON object field by field, remembering which fields were read, so that
/// `finish` can refuse the first field the contract does not know.
struct Obj<'a> {
    map: &'a Members<'a>,
    path: String,
    seen: Vec<&'static str>,
}

impl<'a> Obj<'a> {
    fn new(value: &'a Json<'a>, path: &str) -> Result<Obj<'a>, Rejection> {
        match value {
            Json::Object(map) => Ok(Obj { map, path: path.to_string(), seen: Vec::new() }),
            other => Err(Rejection::new(
                Rule::NotAnObject,
                path,
                json_text(other),
                format!("expected a JSON object, found {}", json_kind(other)),
            )),
        }
    }

    fn field(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn opt(&mut self, name: &'static str) -> Option<&'a Json<'a>> {
        self.seen.push(name);
        match self.map.get(name) {
            None | Some(Json::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn req(&mut self, name: &'static str) -> Result<&'a Json<'a>, Rejection> {
        self.opt(name).ok_or_else(|| {
            Rejection::new(Rule::MissingField, self.field(name), "", "this field is required for this event type")
        })
    }

    fn wrong_type(&self, name: &str, value: &Json<'_>, expected: &str) -> Rejection {
        Rejection::new(
            Rule::WrongJsonType,
            self.field(name),
            json_text(value),
            format!("expected {expected}, found {}", json_kind(value)),
        )
    }

    fn str_of(&self, name: &str, value: &'a Json<'a>) -> Result<&'a str, Rejection> {
        value.as_str().ok_or_else(|| self.wrong_type(name, value, "a string"))
    }

    fn text_of(&self, name: &str, value: &'a Json<'a>, max: usize) -> Result<String, Rejection> {
        let text = self.str_of(name, value)?;
        if text.trim().is_empty() {
            return Err(Rejection::new(
                Rule::TextEmpty,
                self.field(name),
                json_text(value),
                "this text may not be empty",
            ));
        }
        if text.chars().count() > max {
            return Err(Rejection::new(
                Rule::TextTooLong,
                self.field(name),
                json_text(value),
                format!("this text is at most {max} characters"),
            ));
        }
        Ok(text.to_string())
    }

    fn text(&mut self, name: &'static str, max: usize) -> Result<String, Rejection> {
        let v = self.req(name)?;
        self.text_of(name, v, max)
    }

    fn opt_text(&mut self, name: &'static str, max: usize) -> Result<Option<String>, Rejection> {
        self.opt(name).map(|v| self.text_of(name, v, max)).transpose()
    }

    fn slug_of(&self, name: &str, value: &Json<'_>) -> Result<Slug, Rejection> {
        let text = self.str_of(name, value)?;
        Slug::parse(text).map_err(|rule| Rejection::new(Rule::SlugMalformed, self.field(name), json_text(value), rule))
    }

    fn slug(&mut self, name: &'static str) -> Result<Slug, Rejection> {
        let v = self.req(name)?;
        self.slug_of(name, v)
    }

    fn opt_slug(&mut self, name: &'static str) -> Result<Option<Slug>, Rejection> {
        self.opt(name).map(|v| self.slug_of(name, v)).transpose()
    }

    fn amount_of(&self, name: &str, value: &Json<'_>) -> Result<Amount, Rejection> {
        match value {
            Json::String(text) => Amount::parse(text)
                .map_err(|e| Rejection::new(Rule::AmountMalformed, self.field(name), json_text(value), e.0)),
            Json::Number(_) => Err(Rejection::new(
                Rule::AmountMalformed,
                self.field(name),
                json_text(value),
                format!(
                    "amounts are decimal strings in kronor with at most 2 decimals, e.g. \"1500.50\"; {} is refused because a JSON number can lose öre",
                    json_kind(value)
                ),
            )),
            other => Err(self.wrong_type(name, other, "a decimal string such as \"1500.50\"")),
        }
    }

    fn amount(&mut self, name: &'static str) -> Result<Amount, Rejection> {
        let v = self.req(name)?;
        self.amount_of(name, v)
    }

    fn opt_amount(&mut self, name: &'static str) -> Result<Option<Amount>, Rejection> {
        self.opt(name).map(|v| self.amount_of(name, v)).transpose()
    }

    fn share_of(&self, name: &str, value: &Json<'_>) -> Result<Share, Rejection> {
        match value {
            Json::String(text) => Share::parse(text)
                .map_err(|e| Rejection::new(Rule::ShareMalformed, self.field(name), json_text(value), e.0)),
            other => Err(Rejection::new(
                Rule::ShareMalformed,
                self.field(name),
                json_text(other),
                format!("a share is a decimal string such as \"0.25\", found {}", json_kind(other)),
            )),
        }
    }

    fn date_of(&self, name: &str, value: &Json<'_>) -> Result<NaiveDate, Rejection> {
        let text = self.str_of(name, value)?;
        let well_formed = text.len() == 10
            && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
        let date = if well_formed {
            let n = |range: std::ops::Range<usize>| text[range].parse::<u32>().ok();
            match (n(0..4), n(5..7), n(8..10)) {
                (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(y as i32, m, d),
                _ => None,
            }
        } else {
            None
        };
        let Some(date) = date else {
            return Err(Rejection::new(
                Rule::DateInvalid,
                self.field(name),
                json_text(value),
                "a date is a real calendar date written YYYY-MM-DD",
            ));
        };
        if !(YEAR_MIN..=YEAR_MAX).contains(&date.year()) {
            return Err(Rejection::new(
                Rule::DateOutOfRange,
                self.field(name),
                json_text(value),
                format!("dates lie between {YEAR_MIN}-01-01 and {YEAR_MAX}-12-31"),
            ));
        }
        Ok(date)
    }

    fn date(&mut self, name: &'static str) -> Result<NaiveDate, Rejection> {
        let v = self.req(name)?;
        self.date_of(name, v)
    }

    fn year(&mut self, name: &'static str) -> Result<i32, Rejection> {
        let v = self.req(name)?;
        let year = v
            .as_i64()
            .filter(|_| !v.is_f64())
            .ok_or_else(|| self.wrong_type(name, v, "a JSON integer year such as 2024"))?;
        if !(i64::from(YEAR_MIN)..=i64::from(YEAR_MAX)).contains(&year) {
            return Err(Rejection::new(
                Rule::YearOutOfRange,
                self.field(name),
                json_text(v),
                format!("a year lies between {YEAR_MIN} and {YEAR_MAX}"),
            ));
        }
        Ok(year as i32)
    }

    fn seq(&mut self, name: &'static str) -> Result<u64, Rejection> {
        let v = self.req(name)?;
        v.as_u64().filter(|n| *n >= 1).ok_or_else(|| self.wrong_type(name, v, "a JSON integer seq of 1 or more"))
    }

    /// The payroll items of `allowed` given, each not negative unless it may be, at least one
    /// not zero.
    fn pay_items(&mut self, allowed: &[PayItem]) -> Result<Vec<(PayItem, Amount)>, Rejection> {
        let mut items = Vec::new();
        for item in PayItem::ALL.iter().copied().filter(|i| allowed.contains(i)) {
            if let Some(amount) = self.opt_amount(item.as_str())? {
                if !item.may_be_negative() {
                    self.not_negative(item.as_str(), amount)?;
                }
                items.push((item, amount));
            }
        }
        if items.iter().all(|(_, a)| a.is_zero()) {
            // An item that belongs to the other payroll event says more than "nothing to pay".
            if let Some(other) =
                PayItem::ALL.iter().find(|i| !allowed.contains(i) && self.map.get(i.as_str()).is_some())
            {
                let names = allowed.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", ");
                return Err(Rejection::new(
                    Rule::UnknownField,
                    self.field(other.as_str()),
                    "",
                    format!("this field is not part of the contract here; the items paid are {names}"),
                ));
            }
            let names = allowed.iter().map(|i| format!("`{}`", i.as_str())).collect::<Vec<_>>().join(", ");
            return Err(Rejection::new(
                Rule::AmountMustNotBeZero,
                allowed[0].as_str(),
                items.first().map(|(_, a)| format!("\"{a}\"")).unwrap_or_default(),
                format!("a payroll event moves money: at least one of {names} is not zero"),
            ));
        }
        Ok(items)
    }

    /// The optional `nature` of a cost (v2).
    fn opt_nature(&mut self) -> Result<Option<Nature>, Rejection> {
        match self.opt("nature") {
            None => Ok(None),
            Some(v) => self.enum_of("nature", v, Nature::parse, Nature::allowed()).map(Some),
        }
    }

    fn enum_of<T>(
        &self,
        name: &str,
        value: &Json<'_>,
        parse: fn(&str) -> Option<T>,
        allowed: String,
    ) -> Result<T, Rejection> {
        let text = self.str_of(name, value)?;
        parse(text).ok_or_else(|| {
            Rejection::new(
                Rule::ValueNotAllowed,
                self.field(name),
                json_text(value),
                format!("allowed values are {allowed}"),
            )
        })
    }

    fn array(&mut self, name: &'static str) -> Result<&'a [Json<'a>], Rejection> {
        let v = self.req(name)?;
        v.as_array().ok_or_else(|| self.wrong_type(name, v, "an array"))
    }

    fn opt_array(&mut self, name: &'static str) -> Result<Option<&'a [Json<'a>]>, Rejection> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v.as_array().map(Some).ok_or_else(|| self.wrong_type(name, v, "an array")),
        }
    }

    fn item_path(&self, name: &str, index: usize) -> String {
        format!("{}[{index}]", self.field(name))
    }

    fn decision(&mut self) -> Result<Decision, Rejection> {
        let v = self.req("decision")?;
        decode_decision(v, &self.field("decision"))
    }

    fn opt_decision(&mut self) -> Result<Option<Decision>, Rejection> {
        let path = self.field("decision");
        self.opt("decision").map(|v| decode_decision(v, &path)).transpose()
    }

    fn positive(&self, name: &str, amount: Amount) -> Result<(), Rejection> {
        if amount.is_positive() {
            Ok(())
        } else {
            Err(Rejection::new(
                Rule::AmountMustBePositive,
                self.field(name),
                format!("\"{amount}\""),
                "this amount must be greater than zero",
            ))
        }
    }

    fn not_negative(&self, name: &str, amount: Amount) -> Result<(), Rejection> {
        if amount.is_negative() {
            Err(Rejection::new(
                Rule::AmountMustNotBeNegative,
                self.field(name),
                format!("\"{amount}\""),
                "this amount may not be negative",
            ))
        } else {
            Ok(())
        }
    }

    /// Refuses the first field (in input order) that was not read.
    fn finish(self) -> Result<(), Rejection> {
        match self.map.iter().find(|(k, _)| !self.seen.iter().any(|s| s == k)) {
            None => Ok(()),
            Some((key, value)) => {
                let mut known: Vec<&str> = self.seen.clone();
                known.sort_unstable();
                known.dedup();
                Err(Rejection::new(
                    Rule::UnknownField,
                    self.field(key),
                    json_text(value),
                    format!("this field is not part of the contract here; known fields are {}", known.join(", ")),
                ))
            }
        }
    }
}

fn decode_decision(value: &Json<'_>, path: &str) -> Result<Decision, Rejection> {
    let mut o = Obj::new(value, path)?;
    let decision = Decision {
        body: o.text("body", NAME_CHARS_MAX)?,
        date: o.date("date")?,
        paragraph: o.opt_text("paragraph", NAME_CHARS_MAX)?,
    };
    o.finish()?;
    Ok(decision)
}

/// Checks the shape of an org nr (NNNNNN-NNNN) and its Luhn check digit.
pub fn check_org_nr(text: &str) -> Result<(), Rule> {
    let bytes = text.as_bytes();
    let shaped =
        bytes.len() == 11 && bytes[6] == b'-' && bytes.iter().enumerate().all(|(i, b)| i == 6 || b.is_ascii_digit());
    if !shaped {
        return Err(Rule::OrgNrMalformed);
    }
    let digits: Vec<u32> = bytes.iter().filter(|b| b.is_ascii_digit()).map(|b| u32::from(b - b'0')).collect();
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    if sum.is_multiple_of(10) {
        Ok(())
    } else {
        Err(Rule::OrgNrFailsLuhn)
    }
}

impl Event {
    /// Decodes one JSON value into an event, checking everything that can be checked without
    /// knowing the ledger: shapes, types, formats, ranges and arithmetic inside the event.
    pub fn from_json(value: &Value) -> Result<Event, Rejection> {
        Event::from_tree(&Json::of(value))
    }

    /// `from_json` over a borrowed JSON tree (the log's reader parses its lines into one).
    pub fn from_tree(value: &Json<'_>) -> Result<Event, Rejection> {
        let mut o = Obj::new(value, "")?;
        let type_value = o.req("type")?;
        let type_name = o.str_of("type", type_value)?;
        let forbund = o.slug("forbund")?;
        let date = o.date("date")?;
        let idempotency_key = match o.opt("idempotency_key") {
            None => None,
            Some(v) => {
                let key = o.str_of("idempotency_key", v)?;
                let ok = !key.is_empty() && key.len() <= KEY_CHARS_MAX && key.bytes().all(|b| b.is_ascii_graphic());
                if !ok {
                    return Err(Rejection::new(
                        Rule::ValueNotAllowed,
                        "idempotency_key",
                        json_text(v),
                        format!("an idempotency key is 1 to {KEY_CHARS_MAX} printable ASCII characters without spaces"),
                    ));
                }
                Some(key.to_string())
            }
        };
        let note = o.opt_text("note", TEXT_CHARS_MAX)?;
        let kind = decode_kind(type_name, type_value, &mut o, date)?;
        o.finish()?;
        Ok(Event { forbund, date, idempotency_key, note, kind })
    }

    /// Decodes one line of JSON text.
    pub fn from_json_text(text: &str) -> Result<Event, Rejection> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Rejection::new(Rule::NotJson, "", "", format!("not valid JSON: {e}")))?;
        Event::from_json(&value)
    }
}

fn decode_kind(
    type_name: &str,
    type_value: &Json<'_>,
    o: &mut Obj<'_>,
    date: NaiveDate,
) -> Result<EventKind, Rejection> {
    use EventKind::*;
    let kind = match type_name {
        "ForbundRegistered" => {
            let name = o.text("name", NAME_CHARS_MAX)?;
            let org_nr = decode_org_nr(o)?;
            let members = decode_members(o)?;
            ForbundRegistered { name, org_nr, members }
        }
        "MembersChanged" => {
            MembersChanged { effective: o.date("effective")?, members: decode_members(o)?, decision: o.decision()? }
        }
        "InsatsChanged" => {
            let insats = o.slug("insats")?;
            let effective = o.date("effective")?;
            let name = o.opt_text("name", NAME_CHARS_MAX)?;
            let category = o
                .opt("category")
                .map(|v| o.enum_of("category", v, Category::parse, Category::allowed()))
                .transpose()?;
            let end = o.opt("end").map(|v| o.date_of("end", v)).transpose()?;
            if name.is_none() && category.is_none() && end.is_none() {
                return Err(Rejection::new(
                    Rule::NothingChanged,
                    "name",
                    "",
                    "an InsatsChanged says what changes: a new `name`, `category` or `end`",
                ));
            }
            if end.is_some_and(|e| e < effective) {
                return Err(Rejection::new(
                    Rule::DateInvalid,
                    "end",
                    format!("\"{}\"", end.unwrap_or(effective)),
                    format!("an insats cannot end before the change that ends it takes effect ({effective})"),
                ));
            }
            InsatsChanged { insats, effective, name, category, end, decision: o.decision()? }
        }
        "RegistrationCorrected" => {
            let name = o.opt_text("name", NAME_CHARS_MAX)?;
            let org_nr = decode_org_nr(o)?;
            let registered = o.opt("registered").map(|v| o.date_of("registered", v)).transpose()?;
            if name.is_none() && org_nr.is_none() && registered.is_none() {
                return Err(Rejection::new(
                    Rule::NothingChanged,
                    "name",
                    "",
                    "a RegistrationCorrected says what is corrected: the `name`, the `org_nr` or the day the books begin (`registered`)",
                ));
            }
            RegistrationCorrected {
                name,
                org_nr,
                registered,
                reason: o.text("reason", TEXT_CHARS_MAX)?,
                decision: o.decision()?,
            }
        }
        "OpeningBalanceRecorded" => {
            let equity = o.amount("equity")?;
            let bank = o.amount("bank")?;
            o.not_negative("bank", bank)?;
            OpeningBalanceRecorded { equity, bank }
        }
        "InsatsCreated" => InsatsCreated {
            insats: o.slug("insats")?,
            name: o.text("name", NAME_CHARS_MAX)?,
            category: {
                let v = o.req("category")?;
                o.enum_of("category", v, Category::parse, Category::allowed())?
            },
            owner: o.opt_text("owner", NAME_CHARS_MAX)?,
            continues: match o.opt("continues") {
                None => None,
                Some(v) => {
                    let mut c = Obj::new(v, "continues")?;
                    let r = InsatsRef { forbund: c.slug("forbund")?, insats: c.slug("insats")? };
                    c.finish()?;
                    Some(r)
                }
            },
            end: o.opt("end").map(|v| o.date_of("end", v)).transpose()?,
            decision: o.decision()?,
        },
        "BudgetAdopted" => decode_budget(o)?,
        "FundingGranted" => {
            let insats = o.slug("insats")?;
            let year = o.year("year")?;
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            FundingGranted { insats, year, amount, decision: o.decision()? }
        }
        "FundingChanged" => {
            let insats = o.slug("insats")?;
            let year = o.year("year")?;
            let delta = o.amount("delta")?;
            if delta.is_zero() {
                return Err(Rejection::new(
                    Rule::AmountMustNotBeZero,
                    "delta",
                    "\"0\"",
                    "a change of zero changes nothing",
                ));
            }
            FundingChanged { insats, year, delta, reason: o.text("reason", TEXT_CHARS_MAX)?, decision: o.decision()? }
        }
        "ContributionReceived" | "ContributionDecided" => {
            // A contribution paid, or (v2) decided: the member, the year of its date, an amount.
            let member = o.slug("member")?;
            let year = o.year("year")?;
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            // A payment in January of what was decided for last year (v2) settles a receivable;
            // the ledger checks that something is owed for that year.
            let pays_earlier_year = type_name == "ContributionReceived" && year < date.year();
            if !pays_earlier_year {
                check_year_matches_date(year, date)?;
            }
            let reference = o.text("reference", NAME_CHARS_MAX)?;
            if type_name == "ContributionDecided" {
                let decision = o.decision()?;
                let mut installments: Vec<Installment> = Vec::new();
                for (i, item) in o.opt_array("installments")?.unwrap_or_default().iter().enumerate() {
                    let path = o.item_path("installments", i);
                    let mut p = Obj::new(item, &path)?;
                    let due = p.date("due")?;
                    let part = p.amount("amount")?;
                    p.positive("amount", part)?;
                    p.finish()?;
                    let after = installments.last().map_or(date, |l| l.due);
                    if due < after {
                        return Err(Rejection::new(
                            Rule::DateInvalid,
                            format!("{path}.due"),
                            format!("\"{due}\""),
                            format!("the invoicing plan's parts fall due in date order, none before the decision is dated ({date}) or before the part before it ({after})"),
                        ));
                    }
                    installments.push(Installment { due, amount: part });
                }
                let planned: Amount = installments.iter().map(|i| i.amount).sum();
                if !installments.is_empty() && planned != amount {
                    return Err(Rejection::new(
                        Rule::InstallmentsMustSumToAmount,
                        "installments",
                        format!("\"{planned}\""),
                        format!(
                            "the invoicing plan's parts sum to {}, the contribution is {}: they must be equal",
                            planned.human(),
                            amount.human()
                        ),
                    ));
                }
                ContributionDecided { member, year, amount, reference, decision, installments }
            } else {
                ContributionReceived { member, year, amount, reference, payer: o.opt_slug("payer")? }
            }
        }
        "OtherIncomeRecorded" => {
            let year = o.year("year")?;
            let line = o.slug("line")?;
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            check_year_matches_date(year, date)?;
            let reference = o.text("reference", NAME_CHARS_MAX)?;
            let nature = match o.opt("nature") {
                None => None,
                Some(v) => Some(o.enum_of("nature", v, IncomeNature::parse, IncomeNature::allowed())?),
            };
            OtherIncomeRecorded { year, line, amount, reference, nature }
        }
        "CostRecorded" => {
            let year = o.year("year")?;
            let line = o.opt_slug("line")?;
            let insats = o.opt_slug("insats")?;
            if line.is_none() && insats.is_none() {
                return Err(Rejection::new(
                    Rule::CostNeedsLineOrInsats,
                    "line",
                    "",
                    "a cost names the budget line it is charged to (`line`), the insats (`insats`), or both",
                ));
            }
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            check_year_matches_date(year, date)?;
            CostRecorded {
                year,
                line,
                insats,
                amount,
                reference: o.text("reference", NAME_CHARS_MAX)?,
                text: o.text("text", TEXT_CHARS_MAX)?,
                nature: o.opt_nature()?,
            }
        }
        "InvoiceReceived" => {
            let year = o.year("year")?;
            let invoice = o.slug("invoice")?;
            let supplier = o.text("supplier", NAME_CHARS_MAX)?;
            let line = o.opt_slug("line")?;
            let insats = o.opt_slug("insats")?;
            let credits = o.opt_slug("credits")?;
            let amount = o.amount("amount")?;
            let shown = format!("\"{amount}\"");
            match &credits {
                None => {
                    if line.is_none() && insats.is_none() {
                        return Err(Rejection::new(
                            Rule::CostNeedsLineOrInsats,
                            "line",
                            "",
                            "an invoice names the budget line it is charged to (`line`), the insats (`insats`), or both",
                        ));
                    }
                    o.positive("amount", amount)?;
                }
                Some(_) if !amount.is_negative() => {
                    return Err(Rejection::new(
                        Rule::CreditNoteSign,
                        "amount",
                        shown,
                        "a credit note (an invoice with `credits`) has a negative amount: what it takes off the invoice it credits",
                    ))
                }
                Some(_) => {}
            }
            let due = o.opt("due").map(|v| o.date_of("due", v)).transpose()?;
            if let Some(due) = due {
                if due < date {
                    return Err(Rejection::new(
                        Rule::DateInvalid,
                        "due",
                        format!("\"{due}\""),
                        format!("an invoice cannot fall due before it is dated ({date})"),
                    ));
                }
            }
            check_year_matches_date(year, date)?;
            InvoiceReceived {
                year,
                invoice,
                supplier,
                line,
                insats,
                amount,
                credits,
                due,
                reference: o.text("reference", NAME_CHARS_MAX)?,
                text: o.text("text", TEXT_CHARS_MAX)?,
                nature: o.opt_nature()?,
            }
        }
        "ForecastRecorded" => {
            let year = o.year("year")?;
            let line = o.slug("line")?;
            let amount = o.amount("amount")?;
            o.not_negative("amount", amount)?;
            check_year_matches_date(year, date)?;
            ForecastRecorded { year, line, amount, text: o.text("text", TEXT_CHARS_MAX)? }
        }
        "AccrualRecorded" => {
            let year = o.year("year")?;
            let kind = {
                let v = o.req("kind")?;
                o.enum_of("kind", v, AccrualKind::parse, AccrualKind::allowed())?
            };
            let line = o.opt_slug("line")?;
            let insats = o.opt_slug("insats")?;
            let member = o.opt_slug("member")?;
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            let year_end = NaiveDate::from_ymd_opt(year, 12, 31).expect("a year in range has a 31 December");
            if date != year_end {
                return Err(Rejection::new(
                    Rule::DateInvalid,
                    "date",
                    format!("\"{date}\""),
                    format!("an accrual of {year} is booked on {year_end} (and reversed on 1 January {})", year + 1),
                ));
            }
            if kind.is_cost() && (member.is_some() || (line.is_none() && insats.is_none())) {
                return Err(Rejection::new(
                    Rule::CostNeedsLineOrInsats,
                    if member.is_some() { "member" } else { "line" },
                    "",
                    "a cost accrual names the budget line (`line`) and/or the insats (`insats`) the cost belongs to, not a member",
                ));
            }
            if !kind.is_cost() && (insats.is_some() || line.is_some() == member.is_some()) {
                return Err(Rejection::new(
                    Rule::AccrualNeedsIncomeLineOrMember,
                    if insats.is_some() { "insats" } else { "line" },
                    "",
                    "an income accrual names either the income line of the budget (`line`) or the member whose contribution it is (`member`)",
                ));
            }
            AccrualRecorded {
                year,
                kind,
                line,
                insats,
                member,
                amount,
                reference: o.text("reference", NAME_CHARS_MAX)?,
                text: o.text("text", TEXT_CHARS_MAX)?,
            }
        }
        "PayrollRecorded" => {
            let year = o.year("year")?;
            let month = {
                let v = o.req("month")?;
                let m = v
                    .as_u64()
                    .filter(|_| !v.is_f64())
                    .ok_or_else(|| o.wrong_type("month", v, "a JSON integer month"))?;
                if !(1..=12).contains(&m) {
                    return Err(Rejection::new(
                        Rule::ValueNotAllowed,
                        "month",
                        m.to_string(),
                        "the month the payroll is for, 1 (January) to 12 (December)",
                    ));
                }
                m as u32
            };
            let line = o.opt_slug("line")?;
            let insats = o.opt_slug("insats")?;
            if line.is_none() && insats.is_none() {
                return Err(Rejection::new(
                    Rule::CostNeedsLineOrInsats,
                    "line",
                    "",
                    "a payroll summary names the budget line its staff are paid from (`line`), the insats (`insats`), or both",
                ));
            }
            let staff = match o.opt("staff") {
                None => None,
                Some(v) => Some(
                    v.as_u64()
                        .filter(|n| !v.is_f64() && *n <= 10_000)
                        .ok_or_else(|| o.wrong_type("staff", v, "a JSON integer number of people (0–10000)"))?
                        as u32,
                ),
            };
            let items = o.pay_items(PayItem::ALL)?;
            let earned = |item: PayItem| items.iter().filter(|(i, _)| *i == item).map(|(_, a)| *a).sum::<Amount>();
            let (pay, tax) = (earned(PayItem::Salaries) + earned(PayItem::Fees), earned(PayItem::TaxWithheld));
            if tax > pay {
                return Err(Rejection::new(
                    Rule::PayrollTaxExceedsPay,
                    "tax_withheld",
                    format!("\"{tax}\""),
                    format!("the tax withheld is taken from the pay: at most salaries + fees ({})", pay.human()),
                ));
            }
            check_year_matches_date(year, date)?;
            PayrollRecorded {
                year,
                month,
                line,
                insats,
                staff,
                items,
                reference: o.text("reference", NAME_CHARS_MAX)?,
                text: o.text("text", TEXT_CHARS_MAX)?,
            }
        }
        "PayrollLiabilitiesPaid" => {
            let items = o.pay_items(PayItem::PAYABLE)?;
            PayrollLiabilitiesPaid { items, reference: o.text("reference", NAME_CHARS_MAX)? }
        }
        "InvoicePaid" => {
            let invoice = o.slug("invoice")?;
            let amount = o.amount("amount")?;
            // Negative: a refund from the supplier, after a credit note larger than what was left.
            if amount.is_zero() {
                return Err(Rejection::new(
                    Rule::AmountMustNotBeZero,
                    o.field("amount"),
                    format!("\"{amount}\""),
                    "a payment moves money: greater than zero, or below zero for a refund from the supplier",
                ));
            }
            InvoicePaid { invoice, amount, reference: o.text("reference", NAME_CHARS_MAX)? }
        }
        "MergerDecided" => {
            let items = o.array("merging")?;
            let mut merging: Vec<Slug> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let slug = o.slug_of(&format!("merging[{i}]"), item)?;
                if merging.contains(&slug) {
                    return Err(Rejection::new(
                        Rule::MergerListsForbundTwice,
                        format!("merging[{i}]"),
                        json_text(item),
                        "each merging förbund is listed once",
                    ));
                }
                merging.push(slug);
            }
            if merging.is_empty() {
                return Err(Rejection::new(Rule::MissingField, "merging", "[]", "a merger names at least one förbund"));
            }
            let effective = o.date("effective")?;
            let mut estimated_transfers = Vec::new();
            for (i, item) in o.array("estimated_transfers")?.iter().enumerate() {
                let path = o.item_path("estimated_transfers", i);
                let mut t = Obj::new(item, &path)?;
                let from = t.slug("from")?;
                let amount = t.amount("amount")?;
                t.finish()?;
                if !merging.contains(&from) {
                    return Err(Rejection::new(
                        Rule::EstimateNotForMergingForbund,
                        format!("{path}.from"),
                        format!("\"{from}\""),
                        "an estimated transfer comes from one of the merging förbund",
                    ));
                }
                estimated_transfers.push(EstimatedTransfer { from, amount });
            }
            MergerDecided { merging, effective, estimated_transfers, decision: o.decision()? }
        }
        "EquityTransferred" => {
            let from = o.slug("from")?;
            let amount = o.amount("amount")?;
            o.positive("amount", amount)?;
            EquityTransferred { from, amount, reference: o.text("reference", NAME_CHARS_MAX)? }
        }
        "BalancesTakenOver" => {
            BalancesTakenOver { from: o.slug("from")?, reference: o.text("reference", NAME_CHARS_MAX)? }
        }
        "ForbundDissolved" => ForbundDissolved { merged_into: o.opt_slug("merged_into")?, decision: o.decision()? },
        "YearClosed" => YearClosed { year: o.year("year")?, decision: o.decision()? },
        "EventCorrected" => EventCorrected {
            corrects: o.seq("corrects")?,
            reason: o.text("reason", TEXT_CHARS_MAX)?,
            decision: o.opt_decision()?,
        },
        _ => {
            return Err(Rejection::new(
                Rule::UnknownEventType,
                "type",
                json_text(type_value),
                format!("known types are {}", EventKind::TYPES.join(", ")),
            ))
        }
    };
    Ok(kind)
}

/// An optional org nr, written NNNNNN-NNNN and passing the Luhn check.
fn decode_org_nr(o: &mut Obj<'_>) -> Result<Option<String>, Rejection> {
    Ok(match o.opt("org_nr") {
        None => None,
        Some(v) => {
            let text = o.str_of("org_nr", v)?;
            check_org_nr(text).map_err(|rule| {
                let message = if rule == Rule::OrgNrMalformed {
                    "an org nr is written NNNNNN-NNNN"
                } else {
                    "this org nr fails the Luhn check: one digit is wrong"
                };
                Rejection::new(rule, "org_nr", json_text(v), message)
            })?;
            Some(text.to_string())
        }
    })
}

/// The members of a registration or a change of members: ids once, shares per Finsam §5.
fn decode_members(o: &mut Obj<'_>) -> Result<Vec<Member>, Rejection> {
    let items = o.array("members")?;
    if items.is_empty() || items.len() > MEMBERS_MAX {
        return Err(Rejection::new(
            Rule::MemberKindMissing,
            "members",
            json_text(&Json::Array(items.to_vec())),
            format!("a förbund has between 1 and {MEMBERS_MAX} members"),
        ));
    }
    let mut members: Vec<Member> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = o.item_path("members", i);
        let mut m = Obj::new(item, &path)?;
        let member = Member {
            id: m.slug("id")?,
            name: m.text("name", NAME_CHARS_MAX)?,
            kind: {
                let v = m.req("kind")?;
                m.enum_of("kind", v, MemberKind::parse, MemberKind::allowed())?
            },
            share: {
                let v = m.req("share")?;
                m.share_of("share", v)?
            },
        };
        m.finish()?;
        if members.iter().any(|x| x.id == member.id) {
            return Err(Rejection::new(
                Rule::MemberDuplicate,
                format!("{path}.id"),
                format!("\"{}\"", member.id),
                "each member id appears once",
            ));
        }
        members.push(member);
    }
    check_member_shares(&members)?;
    Ok(members)
}

fn check_year_matches_date(year: i32, date: NaiveDate) -> Result<(), Rejection> {
    if year == date.year() {
        Ok(())
    } else {
        Err(Rejection::new(
            Rule::YearMustMatchDate,
            "year",
            year.to_string(),
            format!("a money event is booked in the year it concerns: `year` must equal the year of `date` ({date})"),
        ))
    }
}

/// Finsam §5: the shares add up to 1, and to 0.50 / 0.25 / 0.25 by kind.
fn check_member_shares(members: &[Member]) -> Result<(), Rejection> {
    use rust_decimal::Decimal;
    let total: Decimal = members.iter().map(|m| m.share.decimal()).sum();
    if total != Decimal::ONE {
        return Err(Rejection::new(
            Rule::SharesMustSumToOne,
            "members[].share",
            format!("\"{}\"", total.normalize()),
            "the members' shares must add up to exactly 1",
        ));
    }
    for (kind, expected) in [
        (MemberKind::Staten, Decimal::new(50, 2)),
        (MemberKind::Region, Decimal::new(25, 2)),
        (MemberKind::Kommun, Decimal::new(25, 2)),
    ] {
        let sum: Decimal = members.iter().filter(|m| m.kind == kind).map(|m| m.share.decimal()).sum();
        if !members.iter().any(|m| m.kind == kind) {
            return Err(Rejection::new(
                Rule::MemberKindMissing,
                "members",
                "",
                format!("a förbund has at least one member of kind \"{kind}\" (Finsam §5)"),
            ));
        }
        if sum != expected {
            return Err(Rejection::new(
                Rule::SharesByKind,
                format!("members[kind={kind}].share"),
                format!("\"{}\"", sum.normalize()),
                format!(
                    "by Finsam §5 the {kind} members together pay {}; shares are staten 0.50, region 0.25, kommuner 0.25",
                    expected.normalize()
                ),
            ));
        }
    }
    Ok(())
}

fn decode_budget(o: &mut Obj<'_>) -> Result<EventKind, Rejection> {
    let year = o.year("year")?;
    let decision = o.decision()?;
    let status = match o.opt("status") {
        None => BudgetStatus::Adopted,
        Some(v) => o.enum_of("status", v, BudgetStatus::parse, BudgetStatus::allowed())?,
    };
    let mut ids: Vec<Slug> = Vec::new();
    let mut unique = |id: &Slug, path: String| -> Result<(), Rejection> {
        if ids.contains(id) {
            return Err(Rejection::new(
                Rule::BudgetLineDuplicate,
                path,
                format!("\"{id}\""),
                "each line id appears once in a budget (income and costs together)",
            ));
        }
        ids.push(id.clone());
        Ok(())
    };
    let mut income = Vec::new();
    let income_items = o.array("income")?;
    let cost_items = o.array("costs")?;
    if income_items.len() + cost_items.len() > LINES_PER_BUDGET_MAX {
        return Err(Rejection::new(
            Rule::BatchTooLarge,
            "costs",
            "",
            format!("a budget has at most {LINES_PER_BUDGET_MAX} lines"),
        ));
    }
    for (i, item) in income_items.iter().enumerate() {
        let path = o.item_path("income", i);
        let mut l = Obj::new(item, &path)?;
        let line = IncomeLine { id: l.slug("id")?, name: l.text("name", NAME_CHARS_MAX)?, amount: l.amount("amount")? };
        l.not_negative("amount", line.amount)?;
        l.finish()?;
        unique(&line.id, format!("{path}.id"))?;
        income.push(line);
    }
    let mut costs = Vec::new();
    for (i, item) in cost_items.iter().enumerate() {
        let path = o.item_path("costs", i);
        let mut l = Obj::new(item, &path)?;
        let line = CostLine {
            id: l.slug("id")?,
            name: l.text("name", NAME_CHARS_MAX)?,
            category: {
                let v = l.req("category")?;
                l.enum_of("category", v, Category::parse, Category::allowed())?
            },
            insats: l.opt_slug("insats")?,
            group: l.opt_text("group", NAME_CHARS_MAX)?,
            amount: l.amount("amount")?,
            note: l.opt_text("note", TEXT_CHARS_MAX)?,
            nature: l.opt_nature()?,
        };
        l.not_negative("amount", line.amount)?;
        l.finish()?;
        unique(&line.id, format!("{path}.id"))?;
        costs.push(line);
    }
    let mut transfers = Vec::new();
    for (i, item) in o.opt_array("transfers")?.into_iter().flatten().enumerate() {
        let path = o.item_path("transfers", i);
        let mut l = Obj::new(item, &path)?;
        let line =
            TransferLine { from: l.slug("from")?, name: l.text("name", NAME_CHARS_MAX)?, amount: l.amount("amount")? };
        l.not_negative("amount", line.amount)?;
        l.finish()?;
        transfers.push(line);
    }
    let stated = match o.opt("stated") {
        None => None,
        Some(v) => Some(Box::new(decode_stated(v, &o.field("stated"))?)),
    };
    Ok(EventKind::BudgetAdopted { year, decision, status, income, costs, transfers, stated })
}

fn decode_stated(value: &Json<'_>, path: &str) -> Result<Stated, Rejection> {
    let mut s = Obj::new(value, path)?;
    let mut stated = Stated {
        costs_total: s.opt_amount("costs_total")?,
        income_total: s.opt_amount("income_total")?,
        result: s.opt_amount("result")?,
        opening_equity: s.opt_amount("opening_equity")?,
        closing_equity: s.opt_amount("closing_equity")?,
        available: s.opt_amount("available")?,
        direct_total: s.opt_amount("direct_total")?,
        transfers_total: s.opt_amount("transfers_total")?,
        ..Stated::default()
    };
    if let Some(v) = s.opt("by_category") {
        let mut c = Obj::new(v, &s.field("by_category"))?;
        for category in Category::ALL {
            if let Some(amount) = c.opt(category.as_str()).map(|v| c.amount_of(category.as_str(), v)).transpose()? {
                stated.by_category.push((*category, amount));
            }
        }
        c.finish()?;
    }
    if let Some(v) = s.opt("by_group") {
        let map = v.as_object().ok_or_else(|| s.wrong_type("by_group", v, "an object of group name to amount"))?;
        let g = Obj { map, path: s.field("by_group"), seen: Vec::new() };
        for (name, v) in map.iter() {
            if stated.by_group.iter().any(|(seen, _)| seen == name) {
                // JSON input keeps the last of repeated members before this reads it; a log
                // line read as a tree keeps both, and finsam never writes such a line.
                return Err(Rejection::new(
                    Rule::ValueNotAllowed,
                    g.field(name),
                    json_text(v),
                    "each group appears once in `by_group`",
                ));
            }
            stated.by_group.push((name.to_string(), g.amount_of(name, v)?));
        }
    }
    if let Some(v) = s.opt("shares") {
        let mut c = Obj::new(v, &s.field("shares"))?;
        for which in StatedShare::ALL {
            if let Some(share) = c.opt(which.as_str()).map(|v| c.share_of(which.as_str(), v)).transpose()? {
                stated.shares.push((*which, share));
            }
        }
        c.finish()?;
    }
    s.finish()?;
    Ok(stated)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Writes the members of one JSON object as finsam's canonical JSON: compact, in the order they
/// are written, strings escaped as `serde_json` escapes them.
struct Out<'a> {
    buf: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Out<'a> {
    fn object(buf: &'a mut Vec<u8>, members: impl FnOnce(&mut Out<'_>)) {
        buf.push(b'{');
        members(&mut Out { buf, first: true });
        buf.push(b'}');
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        string(self.buf, key);
        self.buf.push(b':');
    }

    fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        string(self.buf, value);
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    fn date(&mut self, key: &str, date: NaiveDate) {
        self.key(key);
        // A date between YEAR_MIN and YEAR_MAX prints as YYYY-MM-DD: nothing to escape.
        use std::io::Write;
        let _ = write!(self.buf, "\"{date}\"");
    }

    fn opt_date(&mut self, key: &str, date: Option<NaiveDate>) {
        if let Some(d) = date {
            self.date(key, d);
        }
    }

    fn int(&mut self, key: &str, value: impl fmt::Display) {
        self.key(key);
        use std::io::Write;
        let _ = write!(self.buf, "{value}");
    }

    fn amount(&mut self, key: &str, amount: Amount) {
        self.str(key, &amount.canonical());
    }

    fn slug(&mut self, key: &str, slug: &Slug) {
        self.str(key, &slug.0);
    }

    fn opt_slug(&mut self, key: &str, slug: Option<&Slug>) {
        if let Some(s) = slug {
            self.slug(key, s);
        }
    }

    fn object_in(&mut self, key: &str, members: impl FnOnce(&mut Out<'_>)) {
        self.key(key);
        Out::object(self.buf, members);
    }

    /// An array of objects, one per item.
    fn objects<T>(&mut self, key: &str, items: &[T], members: impl Fn(&mut Out<'_>, &T)) {
        self.key(key);
        self.buf.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            Out::object(self.buf, |o| members(o, item));
        }
        self.buf.push(b']');
    }

    fn decision(&mut self, d: &Decision) {
        self.object_in("decision", |o| {
            o.str("body", &d.body);
            o.date("date", d.date);
            o.opt_str("paragraph", d.paragraph.as_deref());
        });
    }

    fn members(&mut self, members: &[Member]) {
        self.objects("members", members, |o, x| {
            o.slug("id", &x.id);
            o.str("name", &x.name);
            o.str("kind", x.kind.as_str());
            o.str("share", &x.share.canonical());
        });
    }
}

/// A JSON string, escaped by `serde_json`.
fn string(buf: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *buf, text).expect("writing to memory cannot fail");
}

impl Event {
    /// The canonical JSON the log stores: contract field order, canonical amounts, compact.
    /// The one encoder of an event: `to_json` reads these bytes back.
    pub fn write_canonical(&self, buf: &mut Vec<u8>) {
        Out::object(buf, |o| self.members(o));
    }

    /// `write_canonical` as a string.
    pub fn canonical(&self) -> String {
        let mut buf = Vec::with_capacity(512);
        self.write_canonical(&mut buf);
        String::from_utf8(buf).expect("JSON text written from strings is UTF-8")
    }

    /// The canonical JSON as a value (members in the canonical order).
    pub fn to_json(&self) -> Value {
        serde_json::from_str(&self.canonical()).expect("finsam's own JSON reads back")
    }

    fn members(&self, m: &mut Out<'_>) {
        use EventKind::*;
        m.str("type", self.type_name());
        m.slug("forbund", &self.forbund);
        m.date("date", self.date);
        match &self.kind {
            ForbundRegistered { name, org_nr, members } => {
                m.str("name", name);
                m.opt_str("org_nr", org_nr.as_deref());
                m.members(members);
            }
            MembersChanged { effective, members, decision } => {
                m.date("effective", *effective);
                m.members(members);
                m.decision(decision);
            }
            InsatsChanged { insats, effective, name, category, end, decision } => {
                m.slug("insats", insats);
                m.date("effective", *effective);
                m.opt_str("name", name.as_deref());
                m.opt_str("category", category.map(|c| c.as_str()));
                m.opt_date("end", *end);
                m.decision(decision);
            }
            RegistrationCorrected { name, org_nr, registered, reason, decision } => {
                m.opt_str("name", name.as_deref());
                m.opt_str("org_nr", org_nr.as_deref());
                m.opt_date("registered", *registered);
                m.str("reason", reason);
                m.decision(decision);
            }
            OpeningBalanceRecorded { equity, bank } => {
                m.amount("equity", *equity);
                m.amount("bank", *bank);
            }
            InsatsCreated { insats, name, category, owner, continues, end, decision } => {
                m.slug("insats", insats);
                m.str("name", name);
                m.str("category", category.as_str());
                m.opt_str("owner", owner.as_deref());
                if let Some(c) = continues {
                    m.object_in("continues", |o| {
                        o.slug("forbund", &c.forbund);
                        o.slug("insats", &c.insats);
                    });
                }
                m.opt_date("end", *end);
                m.decision(decision);
            }
            BudgetAdopted { year, decision, status, income, costs, transfers, stated } => {
                m.int("year", year);
                m.str("status", status.as_str());
                m.decision(decision);
                m.objects("income", income, |o, l| {
                    o.slug("id", &l.id);
                    o.str("name", &l.name);
                    o.amount("amount", l.amount);
                });
                m.objects("costs", costs, |o, l| {
                    o.slug("id", &l.id);
                    o.str("name", &l.name);
                    o.str("category", l.category.as_str());
                    o.opt_slug("insats", l.insats.as_ref());
                    o.opt_str("group", l.group.as_deref());
                    o.amount("amount", l.amount);
                    o.opt_str("note", l.note.as_deref());
                    o.opt_str("nature", l.nature.map(|n| n.as_str()));
                });
                if !transfers.is_empty() {
                    m.objects("transfers", transfers, |o, t| {
                        o.slug("from", &t.from);
                        o.str("name", &t.name);
                        o.amount("amount", t.amount);
                    });
                }
                if let Some(s) = stated {
                    m.object_in("stated", |o| stated_members(o, s));
                }
            }
            FundingGranted { insats, year, amount, decision } => {
                m.slug("insats", insats);
                m.int("year", year);
                m.amount("amount", *amount);
                m.decision(decision);
            }
            FundingChanged { insats, year, delta, reason, decision } => {
                m.slug("insats", insats);
                m.int("year", year);
                m.amount("delta", *delta);
                m.str("reason", reason);
                m.decision(decision);
            }
            ContributionReceived { member, year, amount, reference, payer } => {
                m.slug("member", member);
                m.int("year", year);
                m.amount("amount", *amount);
                m.str("reference", reference);
                m.opt_slug("payer", payer.as_ref());
            }
            ContributionDecided { member, year, amount, reference, decision, installments } => {
                m.slug("member", member);
                m.int("year", year);
                m.amount("amount", *amount);
                m.str("reference", reference);
                m.decision(decision);
                if !installments.is_empty() {
                    m.objects("installments", installments, |o, i| {
                        o.date("due", i.due);
                        o.amount("amount", i.amount);
                    });
                }
            }
            OtherIncomeRecorded { year, line, amount, reference, nature } => {
                m.int("year", year);
                m.slug("line", line);
                m.amount("amount", *amount);
                m.str("reference", reference);
                m.opt_str("nature", nature.map(|n| n.as_str()));
            }
            ForecastRecorded { year, line, amount, text } => {
                m.int("year", year);
                m.slug("line", line);
                m.amount("amount", *amount);
                m.str("text", text);
            }
            CostRecorded { year, line, insats, amount, reference, text, nature } => {
                m.int("year", year);
                m.opt_slug("line", line.as_ref());
                m.opt_slug("insats", insats.as_ref());
                m.amount("amount", *amount);
                m.str("reference", reference);
                m.str("text", text);
                m.opt_str("nature", nature.map(|n| n.as_str()));
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
                m.int("year", year);
                m.slug("invoice", invoice);
                m.str("supplier", supplier);
                m.opt_slug("line", line.as_ref());
                m.opt_slug("insats", insats.as_ref());
                m.amount("amount", *amount);
                m.opt_slug("credits", credits.as_ref());
                m.opt_date("due", *due);
                m.str("reference", reference);
                m.str("text", text);
                m.opt_str("nature", nature.map(|n| n.as_str()));
            }
            AccrualRecorded { year, kind, line, insats, member, amount, reference, text } => {
                m.int("year", year);
                m.str("kind", kind.as_str());
                m.opt_slug("line", line.as_ref());
                m.opt_slug("insats", insats.as_ref());
                m.opt_slug("member", member.as_ref());
                m.amount("amount", *amount);
                m.str("reference", reference);
                m.str("text", text);
            }
            PayrollRecorded { year, month, line, insats, staff, items, reference, text } => {
                m.int("year", year);
                m.int("month", month);
                m.opt_slug("line", line.as_ref());
                m.opt_slug("insats", insats.as_ref());
                if let Some(n) = staff {
                    m.int("staff", n);
                }
                for (item, amount) in items {
                    m.amount(item.as_str(), *amount);
                }
                m.str("reference", reference);
                m.str("text", text);
            }
            PayrollLiabilitiesPaid { items, reference } => {
                for (item, amount) in items {
                    m.amount(item.as_str(), *amount);
                }
                m.str("reference", reference);
            }
            InvoicePaid { invoice, amount, reference } => {
                m.slug("invoice", invoice);
                m.amount("amount", *amount);
                m.str("reference", reference);
            }
            MergerDecided { merging, effective, estimated_transfers, decision } => {
                m.key("merging");
                m.buf.push(b'[');
                for (i, s) in merging.iter().enumerate() {
                    if i > 0 {
                        m.buf.push(b',');
                    }
                    string(m.buf, &s.0);
                }
                m.buf.push(b']');
                m.date("effective", *effective);
                m.objects("estimated_transfers", estimated_transfers, |o, t| {
                    o.slug("from", &t.from);
                    o.amount("amount", t.amount);
                });
                m.decision(decision);
            }
            EquityTransferred { from, amount, reference } => {
                m.slug("from", from);
                m.amount("amount", *amount);
                m.str("reference", reference);
            }
            BalancesTakenOver { from, reference } => {
                m.slug("from", from);
                m.str("reference", reference);
            }
            ForbundDissolved { merged_into, decision } => {
                m.opt_slug("merged_into", merged_into.as_ref());
                m.decision(decision);
            }
            YearClosed { year, decision } => {
                m.int("year", year);
                m.decision(decision);
            }
            EventCorrected { corrects, reason, decision } => {
                m.int("corrects", corrects);
                m.str("reason", reason);
                if let Some(d) = decision {
                    m.decision(d);
                }
            }
        }
        m.opt_str("idempotency_key", self.idempotency_key.as_deref());
        m.opt_str("note", self.note.as_deref());
    }
}

fn stated_members(m: &mut Out<'_>, s: &Stated) {
    for (key, value) in [
        ("costs_total", s.costs_total),
        ("income_total", s.income_total),
        ("result", s.result),
        ("opening_equity", s.opening_equity),
        ("closing_equity", s.closing_equity),
        ("available", s.available),
        ("direct_total", s.direct_total),
        ("transfers_total", s.transfers_total),
    ] {
        if let Some(v) = value {
            m.amount(key, v);
        }
    }
    if !s.by_category.is_empty() {
        m.object_in("by_category", |c| {
            for (category, amount) in &s.by_category {
                c.amount(category.as_str(), *amount);
            }
        });
    }
    if !s.by_group.is_empty() {
        m.object_in("by_group", |c| {
            for (group, amount) in &s.by_group {
                c.amount(group, *amount);
            }
        });
    }
    if !s.shares.is_empty() {
        m.object_in("shares", |c| {
            for (which, share) in &s.shares {
                c.str(which.as_str(), &share.canonical());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reject(value: Value) -> Rejection {
        Event::from_json(&value).expect_err("must be rejected")
    }

    #[test]
    fn the_org_nr_of_samordningsforbundet_vastmanland_passes_luhn() {
        assert_eq!(check_org_nr("222000-1974"), Ok(()));
        assert_eq!(check_org_nr("222000-1975"), Err(Rule::OrgNrFailsLuhn));
        assert_eq!(check_org_nr("2220001974"), Err(Rule::OrgNrMalformed));
    }

    #[test]
    fn a_float_amount_is_refused_with_the_field_and_the_rule() {
        let r = reject(json!({"type": "ContributionReceived", "forbund": "sf-x", "date": "2024-01-15",
            "member": "fk", "year": 2024, "amount": 1500.5, "reference": "r"}));
        assert_eq!(r.rule, Rule::AmountMalformed);
        assert_eq!(r.field, "amount");
        assert_eq!(r.value, "1500.5");
    }

    #[test]
    fn an_impossible_date_is_refused() {
        let r = reject(json!({"type": "YearClosed", "forbund": "sf-x", "date": "2023-02-30", "year": 2022,
            "decision": {"body": "styrelsen", "date": "2023-02-01"}}));
        assert_eq!((r.rule, r.field.as_str()), (Rule::DateInvalid, "date"));
    }

    #[test]
    fn an_unknown_field_is_named() {
        let r = reject(json!({"type": "EquityTransferred", "forbund": "sf-x", "date": "2024-01-01",
            "from": "sf-y", "amount": "10", "reference": "r", "amuont": "5"}));
        assert_eq!((r.rule, r.field.as_str()), (Rule::UnknownField, "amuont"));
    }

    #[test]
    fn shares_must_follow_finsam_paragraph_5() {
        let r = reject(json!({"type": "ForbundRegistered", "forbund": "sf-x", "date": "2024-01-01", "name": "X",
            "members": [
                {"id": "fk", "name": "FK", "kind": "staten", "share": "0.5"},
                {"id": "region", "name": "R", "kind": "region", "share": "0.3"},
                {"id": "k", "name": "K", "kind": "kommun", "share": "0.2"}]}));
        assert_eq!(r.rule, Rule::SharesByKind);
    }

    #[test]
    fn a_decoded_event_encodes_to_the_same_canonical_json() {
        let input = json!({"type": "BudgetAdopted", "forbund": "sf-x", "date": "2023-11-16", "year": 2024,
            "status": "adopted", "decision": {"body": "interimsstyrelsen", "date": "2023-11-16", "paragraph": "§ 5"},
            "income": [{"id": "bidrag", "name": "Medelstilldelning", "amount": "19038000"}],
            "costs": [{"id": "styrelse", "name": "Styrelse", "category": "admin", "amount": "606000.50"}],
            "stated": {"costs_total": "606000.50", "by_category": {"admin": "606000.50"}, "shares": {"admin_of_costs": "1"}}});
        let event = Event::from_json(&input).unwrap();
        assert_eq!(event.to_json(), input);
        assert_eq!(Event::from_json(&event.to_json()).unwrap(), event);
    }
}
