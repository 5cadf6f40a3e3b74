//! The books for other programs: the journal for ledger-cli and hledger, the same in Beancount,
//! SIE 4.

use crate::output::Failure;
use crate::reports;

/// The plain-text journal's two dialects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// ledger-cli and hledger
    Ledger,
    /// Beancount (and Fava)
    Beancount,
}

/// The journal of one förbund or all, for a year or all years, in a dialect.
pub fn journal_out(
    store: &std::path::Path,
    books: reports::Books<'_>,
    forbund: Option<&str>,
    year: Option<i32>,
    dialect: Dialect,
) -> Result<String, Failure> {
    if let Some(y) = year {
        reports::check_year(y)?;
    }
    let mut list = Vec::new();
    if let Some(f) = forbund {
        let f = reports::parse_forbund(f)?;
        reports::check_forbund(books, &f)?;
        list.push(f);
    }
    let mut charts = std::collections::BTreeMap::new();
    for f in books.projection.forbund.keys() {
        charts.insert(f.clone(), reports::chart_for(store, f)?);
    }
    let default = finsam_projections::Chart::default_chart();
    let write = match dialect {
        Dialect::Ledger => finsam_projections::journal::journal,
        Dialect::Beancount => finsam_projections::journal::beancount,
    };
    Ok(write(books.projection, &charts, &default, &list, year))
}

/// A förbund's year as an SIE 4 file (4E, or 4I for a transfer of vouchers), its bytes.
pub fn sie_out(
    store: &std::path::Path,
    books: reports::Books<'_>,
    forbund: &str,
    year: i32,
    e4: bool,
) -> Result<Vec<u8>, Failure> {
    reports::check_year(year)?;
    let f = reports::parse_forbund(forbund)?;
    reports::check_forbund(books, &f)?;
    let mut generated = None;
    finsam_store::read_events(store, &[books.head], &mut |e| {
        generated = chrono::NaiveDate::parse_from_str(&e.recorded_at[..10], "%Y-%m-%d").ok();
        Ok(())
    })?;
    let chart = reports::chart_for(store, &f)?;
    let export = finsam_sie::Export {
        projection: books.projection,
        chart: &chart,
        forbund: &f,
        year,
        kind: if e4 { finsam_sie::SieType::E4 } else { finsam_sie::SieType::I4 },
        generated: generated.unwrap_or_else(|| chrono::NaiveDate::from_ymd_opt(year, 12, 31).expect("valid")),
        program_version: env!("CARGO_PKG_VERSION"),
    };
    export.render().map_err(Failure::usage)
}
