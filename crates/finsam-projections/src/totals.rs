//! The books in brief: per förbund and day, the sum of every role's rows and the number of
//! vouchers. Kept beside the vouchers by the projection, and stored on its own, so that the
//! balances as known at the head can be read without loading (or replaying) every voucher.

use crate::chart::Role;
use crate::projection::{ForbundInfo, Voucher, VoucherKind};
use chrono::NaiveDate;
use finsam_domain::{Amount, Slug};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One role's rows on one day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleTotal {
    pub role: Role,
    /// Every row, debit positive.
    pub amount: Amount,
    /// The part of `amount` booked by closing vouchers (which the year's income and costs leave out).
    pub closing: Amount,
}

/// One förbund's vouchers dated on one day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayTotal {
    pub vouchers: u32,
    pub roles: Vec<RoleTotal>,
}

/// Per förbund, per day.
pub type Totals = BTreeMap<Slug, BTreeMap<NaiveDate, DayTotal>>;

/// Adds a voucher to the totals of its förbund and day.
pub fn add(totals: &mut Totals, v: &Voucher) {
    let day = match totals.get_mut(&v.forbund) {
        Some(days) => days.entry(v.date).or_default(),
        None => totals.entry(v.forbund.clone()).or_default().entry(v.date).or_default(),
    };
    add_to_day(day, v.kind == VoucherKind::Closing, v.rows.iter().map(|r| (r.role, r.amount)));
}

/// Adds one voucher's rows (role, amount) to the totals of its day; `closing` when it closes a
/// year.
pub fn add_to_day(day: &mut DayTotal, closing: bool, rows: impl Iterator<Item = (Role, Amount)>) {
    day.vouchers += 1;
    for (role, amount) in rows {
        let at = match day.roles.iter().position(|t| t.role == role) {
            Some(i) => i,
            None => {
                day.roles.push(RoleTotal { role, amount: Amount::ZERO, closing: Amount::ZERO });
                day.roles.len() - 1
            }
        };
        let t = &mut day.roles[at];
        t.amount += amount;
        if closing {
            t.closing += amount;
        }
    }
}

/// What the balances report needs, as of the head: the registered förbund and their totals
/// (the store reads it back from the file it keeps beside the checkpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotalsView {
    pub head: u64,
    pub forbund: BTreeMap<Slug, ForbundInfo>,
    pub totals: Totals,
}
