//! Integration tests: the real `finsam` binary against temporary stores.

mod accruals;
mod annual;
mod audit;
mod books;
mod bundle;
mod canonical;
mod contributions;
mod crash;
mod hostile;
mod import;
mod invoices;
mod journal;
mod log;
mod pages;
mod path;
mod payroll;
mod reconcile;
mod reports;
mod schemas;
mod security;
mod serve;
mod sie;
mod support;
mod trust;
mod warnings;
mod web;
