//! The application layer of finsam: one layer between the pure domain and projections below
//! and the front ends above (the `finsam` command, the HTTP server). It opens stores, runs each
//! command and report, and renders what a person or a program reads — tables, JSON, CSV, HTML
//! pages — the same for every front end, so the CLI's `--format json` and the API's answer are
//! the same bytes. It knows no clap, axum or tokio.

pub mod annual;
pub mod annual_parts;
pub mod answers;
pub mod audit;
pub mod backup;
pub mod charts;
pub mod exports;
pub mod import;
pub mod interim;
pub mod output;
pub mod pages;
pub mod record;
pub mod reports;
pub mod table;
pub mod xlsx;

pub use output::Failure;

/// How a result is written: tables for people; JSON and CSV for programs; HTML pages for the
/// reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
    Html,
}
