//! Projections: pure folds over recorded events. No I/O, no clock: the same events give the
//! same answer, byte for byte.

pub mod advice;
pub mod annual;
pub mod book;
pub mod chart;
pub mod interim;
pub mod journal;
pub mod members;
pub mod period;
pub mod projection;
pub mod reconcile;
pub mod reports;
pub mod summary;
pub mod totals;

pub use chart::{Chart, Role};
pub use projection::{Projection, Recorded, Voucher};
pub use reports::{At, Balances, BudgetPosition};
pub use summary::summary;

#[cfg(test)]
mod property;
#[cfg(test)]
mod reconcile_tests;
#[cfg(test)]
mod tests;
