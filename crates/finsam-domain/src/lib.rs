//! finsam's domain: the event contract v1, money, dates, and the ledger rules that decide
//! whether an event may be recorded. Pure: no I/O, no clock, no randomness.

pub mod event;
pub mod input;
pub mod json;
pub mod ledger;
pub mod money;
pub mod rejection;
pub mod text;

pub use event::{Category, Decision, Event, EventKind, MemberKind, Slug};
pub use ledger::{Ledger, Owed};
pub use money::{Amount, Share};
pub use rejection::{Rejection, Rule};
