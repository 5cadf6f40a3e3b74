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
}

/// A board decision as minuted.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MinutedDecision {
    pub body: String,
    /// YYYY-MM-DD.
    pub date: String,
    pub paragraph: Option<String>,
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
