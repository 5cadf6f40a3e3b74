//! Integration tests: the real `finsam` binary against temporary stores.

mod log;
mod reports;
mod schemas;
mod support;
