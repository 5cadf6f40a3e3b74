//! The answers programs read, as types: what `--format json` prints and the API answers is one
//! of these, serialised, and the OpenAPI document's schema of it is derived from the same type
//! (utoipa), so the two cannot drift apart.

use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The log's head: the seq of its last event and that line's hash.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Head {
    pub seq: u64,
    /// SHA-256, 64 hex digits (of 64 zeros before the first event).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
}

impl From<&finsam_store::Head> for Head {
    fn from(h: &finsam_store::Head) -> Head {
        Head { seq: h.seq, hash: h.hash.clone() }
    }
}

/// One line of a batch recorded.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RecordedLine {
    pub line: usize,
    pub seq: u64,
    /// True when the line repeated an event already recorded (the same idempotency key and
    /// content): nothing new was written, and `seq` is the original's.
    pub duplicate: bool,
}

/// A likely mistake in a batch recorded anyway.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WarningLine {
    pub line: usize,
    pub rule: String,
    pub field: String,
    pub message: String,
}

/// What `finsam record --format json` prints and `POST /api/v1/events` answers.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Recorded {
    pub recorded: Vec<RecordedLine>,
    pub warnings: Vec<WarningLine>,
    pub head: Head,
    /// Per förbund recorded in, its new version (the seq of its last event): what `If-Match`
    /// may expect next.
    pub versions: BTreeMap<String, u64>,
}

/// An account's balance (debit positive).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AccountBalance {
    pub account: String,
    pub name: String,
    /// Kronor as a decimal string.
    pub balance: String,
}

/// A förbund's trial balance and key figures (`finsam balances`, `GET …/balances`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Balances {
    pub forbund: String,
    pub name: String,
    /// The effective date (YYYY-MM-DD).
    pub as_of: String,
    /// The last seq the books were replayed to.
    pub known_at: u64,
    /// The chart of accounts' id.
    pub chart: String,
    /// Kronor as decimal strings: the bank, net assets, and the year's income, costs and result.
    pub bank: String,
    pub equity: String,
    pub income: String,
    pub costs: String,
    pub result: String,
    pub vouchers: usize,
    pub accounts: Vec<AccountBalance>,
    /// Inside a year: the year's decided contributions periodised by month (what a
    /// delårsrapport shows); null at the year's end or when none were decided.
    pub periodised: Option<PeriodisedContributions>,
}

/// The year's decided contributions periodised by month through the date: earned, and not yet
/// earned (förutbetalda intäkter); income and result of the period with it. The trial balance
/// itself stays as booked.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PeriodisedContributions {
    pub year: i32,
    pub months: u32,
    #[schema(schema_with = amount)]
    pub decided: String,
    #[schema(schema_with = amount)]
    pub earned: String,
    #[schema(schema_with = amount)]
    pub unearned: String,
    /// The year's income with the contributions periodised.
    #[schema(schema_with = amount)]
    pub income: String,
    /// The year's result with the contributions periodised.
    #[schema(schema_with = amount)]
    pub result: String,
}

/// A board decision as minuted.
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct MinutedDecision {
    pub body: String,
    /// YYYY-MM-DD.
    pub date: String,
    pub paragraph: Option<String>,
}

impl MinutedDecision {
    /// As the tables show it: "interimsstyrelsen 2023-11-16 § 5".
    pub fn text(&self) -> String {
        match &self.paragraph {
            Some(p) => format!("{} {} {p}", self.body, self.date),
            None => format!("{} {}", self.body, self.date),
        }
    }
}

impl From<&finsam_domain::Decision> for MinutedDecision {
    fn from(d: &finsam_domain::Decision) -> MinutedDecision {
        MinutedDecision { body: d.body.clone(), date: d.date.to_string(), paragraph: d.paragraph.clone() }
    }
}

/// A voucher an event booked: in which förbund's books, and its label (`2024 A 5`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VoucherRef {
    pub forbund: String,
    pub voucher: String,
}

/// One event of the audit trail (`finsam audit trail`, `GET …/audit/trail`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrailRow {
    pub seq: u64,
    /// When it was recorded (UTC, RFC 3339).
    pub recorded_at: String,
    pub recorded_by: String,
    /// Its effective date (YYYY-MM-DD).
    pub date: String,
    pub forbund: String,
    /// The event's type, as in the contract (`ContributionReceived`).
    #[serde(rename = "type")]
    pub kind: String,
    pub decision: Option<MinutedDecision>,
    /// One line in Swedish.
    pub summary: String,
    pub vouchers: Vec<VoucherRef>,
    pub corrected_by: Option<u64>,
    pub corrects: Option<u64>,
    pub hash: String,
}

/// The event contract's `Amount` (kronor as a decimal string, `common.schema.json`), referred to
/// from a field of an answer: `#[schema(schema_with = amount)]`.
pub fn amount() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::Ref::from_schema_name("Amount").into()
}

/// An `Amount`, or null where there is none.
pub fn amount_or_null() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let one_of = utoipa::openapi::schema::OneOfBuilder::new()
        .item(amount())
        .item(utoipa::openapi::schema::Object::with_type(utoipa::openapi::schema::Type::Null))
        .build();
    utoipa::openapi::schema::Schema::OneOf(one_of).into()
}

/// A budget line's or a category's figures: its budget, what the board granted on it, what was
/// spent.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BudgetFigures {
    #[schema(schema_with = amount)]
    pub budget: String,
    #[schema(schema_with = amount)]
    pub granted: String,
    #[schema(schema_with = amount)]
    pub spent: String,
    /// budget − spent.
    #[schema(schema_with = amount)]
    pub remaining: String,
    /// budget − granted, where the money is granted to insatser (null elsewhere).
    #[schema(schema_with = amount_or_null)]
    pub uncommitted: Option<String>,
}

/// A budget line's position.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BudgetLinePosition {
    pub id: String,
    pub name: String,
    /// `individ`, `struktur` or `admin`.
    pub category: String,
    pub insats: Option<String>,
    #[serde(flatten)]
    pub figures: BudgetFigures,
}

/// The three categories of a Finsam budget.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ByCategory {
    pub admin: BudgetFigures,
    pub individ: BudgetFigures,
    pub struktur: BudgetFigures,
}

/// The cost side of a budget position.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BudgetCosts {
    #[schema(schema_with = amount)]
    pub total: String,
    #[schema(schema_with = amount)]
    pub granted: String,
    #[schema(schema_with = amount)]
    pub spent: String,
    /// Costs of the year on no line of the budget.
    #[schema(schema_with = amount)]
    pub unbudgeted_spent: String,
    pub by_category: ByCategory,
}

/// The income side of a budget position.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BudgetIncome {
    #[schema(schema_with = amount)]
    pub total: String,
    #[schema(schema_with = amount)]
    pub received: String,
}

/// The equity the year opens with, and where the figure comes from.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OpeningEquity {
    #[schema(schema_with = amount)]
    pub amount: String,
    /// `stated` (printed in the plan) or `booked`.
    pub source: String,
}

/// Shares of the budget, as fractions with four decimals (null when the whole is zero).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BudgetShares {
    pub admin_of_costs: Option<String>,
    pub individ_of_direct: Option<String>,
    pub struktur_of_direct: Option<String>,
}

/// A year's budget position (`finsam budget`, `GET …/budget/{year}`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BudgetPosition {
    pub forbund: String,
    pub year: i32,
    /// YYYY-MM-DD.
    pub as_of: String,
    pub known_at: u64,
    /// The seq of the budget in force (or of the plan's outlook, when `status` is `outlook`).
    pub budget_seq: u64,
    /// `adopted`, or `outlook`: a plan's forecast for a later year, not an adopted budget.
    pub status: String,
    pub decision: MinutedDecision,
    pub lines: Vec<BudgetLinePosition>,
    pub costs: BudgetCosts,
    pub income: BudgetIncome,
    /// Budgeted income − budgeted costs.
    #[schema(schema_with = amount)]
    pub result: String,
    pub opening_equity: OpeningEquity,
    #[schema(schema_with = amount)]
    pub transfers_in: String,
    /// Opening equity + result + transfers in.
    #[schema(schema_with = amount)]
    pub closing_equity: String,
    pub shares: BudgetShares,
    /// The flerårsplan: this year and the two after it, each as the budget or plan's outlook in
    /// force for it (the years that have one).
    pub plan: Vec<PlanYear>,
}

/// One year of the flerårsplan beside a budget.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PlanYear {
    pub year: i32,
    /// `adopted` or `outlook`.
    pub status: String,
    /// The seq of the budget or outlook, and its date.
    pub seq: u64,
    pub date: String,
    #[schema(schema_with = amount)]
    pub income: String,
    #[schema(schema_with = amount)]
    pub admin: String,
    #[schema(schema_with = amount)]
    pub individ: String,
    #[schema(schema_with = amount)]
    pub struktur: String,
    #[schema(schema_with = amount)]
    pub costs: String,
    /// Income − costs.
    #[schema(schema_with = amount)]
    pub result: String,
}

/// The event that authorised a voucher whose own event names no decision (a payment by its
/// grant).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuthorisedBy {
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A voucher as the reports show it: label, date, event, the decision behind it and what
/// authorised it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VoucherTrace {
    /// `2024 A 5`.
    pub voucher: String,
    /// YYYY-MM-DD.
    pub date: String,
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub decision: Option<MinutedDecision>,
    pub authorised_by: Option<AuthorisedBy>,
    pub text: String,
    /// UTC, RFC 3339.
    pub recorded_at: String,
    pub recorded_by: String,
}

impl VoucherTrace {
    /// The decision behind the voucher, and through which event when not its own:
    /// "interimsstyrelsen 2023-11-16 (via Beviljad finansiering seq 37)"; empty for none.
    pub fn authority_text(&self) -> String {
        let mut text = self.decision.as_ref().map_or(String::new(), MinutedDecision::text);
        if let Some(via) = &self.authorised_by {
            text.push_str(&format!(" (via {} seq {})", finsam_projections::summary::type_label(&via.kind), via.seq));
        }
        text
    }
}

/// One voucher behind an account's balance, with its amount on the account and the running
/// balance after it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ExplainEntry {
    #[serde(flatten)]
    pub voucher: VoucherTrace,
    #[schema(schema_with = amount)]
    pub amount: String,
    #[schema(schema_with = amount)]
    pub balance: String,
}

/// The vouchers behind an account's balance (`finsam audit explain`, `GET …/audit/explain`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Explanation {
    pub forbund: String,
    pub account: String,
    pub name: String,
    /// YYYY-MM-DD.
    pub as_of: String,
    pub known_at: u64,
    #[schema(schema_with = amount)]
    pub balance: String,
    pub entries: Vec<ExplainEntry>,
}

/// A reconciliation finding: what was stated, what the books compute, and the events behind it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Finding {
    pub check: String,
    pub forbund: String,
    pub subject: String,
    /// Decimal strings (kronor, or a fraction for shares).
    pub stated: Option<String>,
    pub computed: Option<String>,
    /// stated − computed.
    pub difference: Option<String>,
    /// `error` or `warning`.
    #[schema(pattern = "^(error|warning)$")]
    pub severity: String,
    pub events: Vec<u64>,
    pub explanation: String,
    /// The subject of the finding that causes this one (e.g. a payment registered twice);
    /// null for a finding of its own.
    pub caused_by: Option<String>,
}

/// An old förbund in a merger: what the plans said and what the books show.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MergerRow {
    pub from: String,
    /// The merger decision's estimate of the transfer.
    #[schema(schema_with = amount_or_null)]
    pub estimate: Option<String>,
    /// The old förbund's own latest forecast of its closing equity the year before.
    #[schema(schema_with = amount_or_null)]
    pub forecast: Option<String>,
    /// Its booked equity the day before the merger took effect.
    #[schema(schema_with = amount_or_null)]
    pub booked: Option<String>,
    #[schema(schema_with = amount)]
    pub transferred: String,
    #[schema(schema_with = amount)]
    pub arrived: String,
    #[schema(schema_with = amount_or_null)]
    pub transferred_minus_estimate: Option<String>,
    #[schema(schema_with = amount_or_null)]
    pub transferred_minus_booked: Option<String>,
    #[schema(schema_with = amount)]
    pub arrived_minus_transferred: String,
}

/// A merger, old förbund by old förbund.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MergerTable {
    pub into: String,
    /// YYYY-MM-DD.
    pub effective: String,
    pub seq: u64,
    pub rows: Vec<MergerRow>,
}

/// What one payer owed and paid a förbund in a year.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PayerRow {
    pub forbund: String,
    pub year: i32,
    pub payer: String,
    pub members: Vec<String>,
    #[schema(schema_with = amount)]
    pub owed: String,
    #[schema(schema_with = amount)]
    pub paid: String,
    #[schema(schema_with = amount)]
    pub paid_minus_owed: String,
}

/// The merger reconciliation run (`finsam reconcile`, `GET /api/v1/reconcile`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Reconciliation {
    /// No finding of severity `error`.
    pub ok: bool,
    pub merger: Option<String>,
    /// YYYY-MM-DD.
    pub as_of: String,
    pub known_at: u64,
    /// The förbund the run looked at.
    pub forbund: Vec<String>,
    pub mergers: Vec<MergerTable>,
    pub payers: Vec<PayerRow>,
    pub findings: Vec<Finding>,
}
