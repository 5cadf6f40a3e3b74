//! Projections: pure folds over recorded events. No I/O, no clock: the same events give the
//! same answer, byte for byte.

pub mod budget;
pub mod summary;

pub use budget::{BudgetView, CategoryTotal};
pub use summary::summary;
