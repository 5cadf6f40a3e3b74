//! The report commands: balances, budget position, audit trail, audit explain.
//! Every report takes both time axes: `--as-of DATE` (effective date, default today) and
//! `--known-at SEQ` (replay the log only up to that seq, default the head).

use crate::answers;
use crate::output::{emit, say, Failure};
use crate::table::{Align, Table};
use crate::Format;
use chrono::NaiveDate;
use finsam_domain::{Amount, Category, Event, EventKind, Slug};
use finsam_projections::chart::Chart;
use finsam_projections::members::Periodised;
use finsam_projections::projection::Voucher;
use finsam_projections::reports::{uncommitted_of, At, Balances, BudgetPosition};
use finsam_projections::totals::TotalsView;
use finsam_projections::{summary, Projection};
use finsam_store::{open_view, Envelope, View};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Axes {
    pub as_of: Option<NaiveDate>,
    pub known_at: Option<KnownAt>,
}

/// `--known-at`: a seq, or a moment (what had been recorded by then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownAt {
    Seq(u64),
    /// The last seq recorded at or before this instant (UTC).
    Time(chrono::DateTime<chrono::Utc>),
}

impl KnownAt {
    /// A seq (`150`), a recording time (`2024-06-12T18:00:00Z`, any RFC 3339 offset) or a date
    /// (`2024-06-12`: everything recorded by the end of that day, UTC).
    pub fn parse(text: &str) -> Result<KnownAt, String> {
        if let Ok(seq) = text.parse::<u64>() {
            return Ok(KnownAt::Seq(seq));
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
            return Ok(KnownAt::Time(t.with_timezone(&chrono::Utc)));
        }
        if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            if text.len() == 10 {
                let end = d.and_hms_nano_opt(23, 59, 59, 999_999_999).expect("a valid time");
                return Ok(KnownAt::Time(end.and_utc()));
            }
        }
        Err(format!("{text:?} is neither a seq (150), a recording time (2024-06-12T18:00:00Z) nor a date (2024-06-12)"))
    }
}

pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

pub fn parse_forbund(text: &str) -> Result<Slug, Failure> {
    Slug::parse(text).map_err(|rule| Failure::usage(format!("--forbund {text:?}: {rule}")))
}

/// The books a report reads: the projection as known at the log's head. The CLI opens them
/// from the store for one report; `finsam serve` holds them in memory. Every report is computed
/// and rendered from them by the same functions, so the two give the same answer.
#[derive(Clone, Copy)]
pub struct Books<'a> {
    pub head: u64,
    /// The hash of the head's line (for a report that names the log it came from).
    pub head_hash: &'a str,
    pub projection: &'a Projection,
    /// When the books are one förbund's read apart (`finsam_store::open_books_of`): every
    /// envelope of those books up to the head, in seq order. A report takes the events it
    /// shows from here instead of reading the log. `None` for the whole view.
    pub envelopes: Option<&'a [finsam_store::Envelope]>,
    /// Whose books each seq up to the head is in (`Ledger::runs`), when the books know it: a
    /// report that lists one förbund's events reads just those lines.
    pub runs: Option<&'a [(u64, Slug)]>,
}

impl<'a> From<&'a View> for Books<'a> {
    fn from(view: &'a View) -> Books<'a> {
        Books {
            head: view.head.seq,
            head_hash: &view.head.hash,
            projection: &view.projection,
            envelopes: None,
            runs: Some(view.ledger.runs()),
        }
    }
}

impl<'a> From<&'a finsam_store::BooksOf> for Books<'a> {
    fn from(b: &'a finsam_store::BooksOf) -> Books<'a> {
        let envelopes = (!b.whole).then_some(b.envelopes.as_slice());
        Books { head: b.head.seq, head_hash: &b.head.hash, projection: &b.projection, envelopes, runs: None }
    }
}

/// The books a report of one förbund reads: that förbund's own (and those linked to it), or,
/// for an id that is not a förbund's, the whole view (whose refusal lists the known ones).
fn books_of(store: &Path, forbund: &str) -> Result<finsam_store::BooksOf, Failure> {
    books_of_share(store, forbund, finsam_store::PARTIAL_SHARE_MAX)
}

/// The largest part of the log's events a report that shows the events behind its figures
/// (`audit explain`, `audit trail`) reads apart: it reads most of that förbund's lines anyway,
/// so reading them all and keeping them costs less than the checkpoint and then the lines.
const EVENTS_SHARE_MAX: f64 = 0.5;

/// `books_of`, with the books apart when they hold at most `share` of the log's events.
fn books_of_share(store: &Path, forbund: &str, share: f64) -> Result<finsam_store::BooksOf, Failure> {
    let books = match finsam_domain::Slug::parse(forbund) {
        Ok(f) => finsam_store::open_books_of_share(store, &f, share)?,
        Err(_) => finsam_store::BooksOf::whole(store)?,
    };
    Ok(books)
}

impl<'a> From<&'a finsam_store::Snapshot> for Books<'a> {
    fn from(s: &'a finsam_store::Snapshot) -> Books<'a> {
        Books {
            head: s.head.seq,
            head_hash: &s.head.hash,
            projection: &s.projection,
            envelopes: None,
            runs: Some(&s.runs),
        }
    }
}

pub fn check_forbund(books: Books<'_>, f: &Slug) -> Result<(), Failure> {
    check_registered(&books.projection.forbund, f)
}

fn check_registered<V>(registered: &BTreeMap<Slug, V>, f: &Slug) -> Result<(), Failure> {
    if registered.contains_key(f) {
        return Ok(());
    }
    let known: Vec<&str> = registered.keys().map(Slug::as_str).collect();
    Err(Failure::usage(say(
        format!(
            "inget förbund {f} är registrerat i det här lagret (kända: {})",
            if known.is_empty() { "inga".to_string() } else { known.join(", ") }
        ),
        format!(
            "no förbund {f} is registered in this store (known: {})",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        ),
    )))
}

/// The last seq of the log's first `head` recorded at or before `t` (0 when none was): the
/// prefix recorded by then, stopping at the first envelope recorded later.
fn seq_recorded_by(store: &Path, head: u64, t: chrono::DateTime<chrono::Utc>) -> Result<u64, Failure> {
    let mut last = 0;
    let mut done = false;
    finsam_store::read_log(store, 1, head, &mut |e| {
        let at = chrono::DateTime::parse_from_rfc3339(&e.recorded_at).map(|d| d.with_timezone(&chrono::Utc));
        if !done && at.is_ok_and(|at| at <= t) {
            last = e.seq;
        } else {
            done = true;
        }
        Ok(())
    })?;
    Ok(last)
}

/// The log's head as it was at `seq` (its seq and hash), for a report's footer: the books'
/// own head, or read from the log for an earlier seq.
pub fn head_at(store: &Path, books: Books<'_>, seq: u64) -> Result<finsam_store::Head, Failure> {
    if seq >= books.head {
        return Ok(finsam_store::Head { seq: books.head, hash: books.head_hash.to_string() });
    }
    let mut head = finsam_store::Head::genesis();
    if seq > 0 {
        finsam_store::read_events(store, &[seq], &mut |e| {
            head = finsam_store::Head { seq: e.seq, hash: e.hash };
            Ok(())
        })?;
    }
    Ok(head)
}

fn known_seq(store: &Path, head: u64, known_at: Option<KnownAt>) -> Result<Option<u64>, Failure> {
    match known_at {
        None => Ok(None),
        Some(KnownAt::Seq(seq)) => Ok(Some(seq)),
        Some(KnownAt::Time(t)) => seq_recorded_by(store, head, t).map(Some),
    }
}

/// A year a report is asked for: one the books can hold (`YEAR_MIN`..=`YEAR_MAX`), checked
/// before anything is computed, for every way in (the CLI, the API, the pages).
pub fn check_year(year: i32) -> Result<i32, Failure> {
    use finsam_domain::event::{YEAR_MAX, YEAR_MIN};
    if (YEAR_MIN..=YEAR_MAX).contains(&year) {
        return Ok(year);
    }
    Err(Failure::usage(say(
        format!("året {year} ligger utanför de år böckerna kan rymma ({YEAR_MIN}–{YEAR_MAX})"),
        format!("the year {year} is outside the years the books can hold ({YEAR_MIN}–{YEAR_MAX})"),
    )))
}

/// A date a report is asked for (`--as-of`): within a century of the years the books can hold,
/// so that whatever is computed from it (the year's first day, the month's last) exists.
pub fn check_as_of(date: NaiveDate) -> Result<NaiveDate, Failure> {
    use finsam_domain::event::{YEAR_MAX, YEAR_MIN};
    if (YEAR_MIN - 100..=YEAR_MAX + 100).contains(&chrono::Datelike::year(&date)) {
        return Ok(date);
    }
    let (first, last) = (YEAR_MIN - 100, YEAR_MAX + 100);
    Err(Failure::usage(say(
        format!("--as-of {date}: en rapports datum ligger mellan {first}-01-01 och {last}-12-31"),
        format!("--as-of {date}: a report's date lies between {first}-01-01 and {last}-12-31"),
    )))
}

fn resolve(store: &Path, books: Books<'_>, axes: &Axes) -> Result<At, Failure> {
    if let Some(d) = axes.as_of {
        check_as_of(d)?;
    }
    let known_at = known_seq(store, books.head, axes.known_at)?.unwrap_or(books.head);
    if known_at > books.head {
        let head = books.head;
        return Err(Failure::usage(say(
            format!("--known-at {known_at}: loggens huvud är händelse {head}; en rapport kan se bakåt, inte framåt"),
            format!("--known-at {known_at}: the log's head is {head}; a report can look back, not ahead"),
        )));
    }
    Ok(At { as_of: axes.as_of.unwrap_or_else(today), known_at })
}

/// The common start of a report on one förbund: its id parsed and checked, the axes resolved.
pub fn forbund_at(store: &Path, books: Books<'_>, forbund: &str, axes: &Axes) -> Result<(Slug, At), Failure> {
    let f = parse_forbund(forbund)?;
    check_forbund(books, &f)?;
    Ok((f, resolve(store, books, axes)?))
}

/// The chart a förbund's reports use by default (the store's own, else the built-in one).
pub fn chart_for(store: &Path, f: &Slug) -> Result<Chart, Failure> {
    load_chart(store, f, None)
}

/// The chart for a förbund: `--chart FILE`, else `STORE/charts/<forbund>.json`, else the
/// built-in Kommun-Bas-style chart.
fn load_chart(store: &Path, f: &Slug, explicit: Option<&PathBuf>) -> Result<Chart, Failure> {
    match finsam_store::files::chart_text(store, f.as_str(), explicit.map(PathBuf::as_path)) {
        Ok(None) => Ok(Chart::default_chart()),
        Ok(Some((path, text))) => {
            Chart::parse(&text).map_err(|e| Failure::usage(format!("the chart {}: {e}", path.display())))
        }
        Err(e) => Err(Failure::usage(format!("the chart: {e}"))),
    }
}

/// A cell as a spreadsheet may safely open it: a text that a spreadsheet would run as a
/// formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`;
/// a number (an amount such as `-1500.00`) is left as it is.
fn csv_cell(s: &str) -> std::borrow::Cow<'_, str> {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let number = s.parse::<rust_decimal::Decimal>().is_ok();
    if risky && !number {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// One CSV record, written by the `csv` crate (which quotes a comma, a quote, CR or LF).
pub fn csv_line(fields: &[String]) -> String {
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    out.write_record(fields.iter().map(|f| csv_cell(f).into_owned())).expect("writing to memory cannot fail");
    String::from_utf8(out.into_inner().expect("writing to memory cannot fail")).expect("UTF-8 in, UTF-8 out")
}

/// A CSV file for people, as Swedish spreadsheet programs open it: UTF-8 with a byte-order
/// mark, semicolons between the fields, amounts with a decimal comma and no thousands separator
/// (so that they are numbers), Swedish headers. Programs keep the API's CSV.
pub fn swedish_csv(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::from("\u{feff}".as_bytes()));
    out.write_record(headers).expect("writing to memory cannot fail");
    for row in rows {
        // A number with a decimal comma is a number (a negative one too), not a formula.
        let number = |f: &str| f.replace(',', ".").parse::<rust_decimal::Decimal>().is_ok();
        out.write_record(row.iter().map(|f| if number(f) { f.clone() } else { csv_cell(f).into_owned() }))
            .expect("writing to memory cannot fail");
    }
    String::from_utf8(out.into_inner().expect("writing to memory cannot fail")).expect("UTF-8 in, UTF-8 out")
}

/// An amount as a Swedish spreadsheet reads a number: `-1234,50`.
pub fn spreadsheet_amount(a: Amount) -> String {
    format!("{:.2}", a.decimal()).replace('.', ",")
}

/// The balances per account and the key figures as a Swedish CSV file for people.
pub fn balances_swedish_csv(b: &Balances) -> String {
    let mut rows: Vec<Vec<String>> =
        b.accounts.iter().map(|a| vec![a.account.clone(), a.name.clone(), spreadsheet_amount(a.balance)]).collect();
    for (label, amount) in [
        ("Kassa och bank", b.bank),
        ("Eget kapital", b.equity),
        ("Intäkter", b.income),
        ("Kostnader", b.costs),
        ("Resultat", b.result),
    ] {
        rows.push(vec![String::new(), label.to_string(), spreadsheet_amount(amount)]);
    }
    swedish_csv(&["konto", "namn", &format!("saldo {} (kr)", b.at.as_of)], &rows)
}

/// The two time axes of a report, as its heading states them: "per 2024-12-31, känt vid händelse nr 293
/// (loggens huvud)".
pub fn axes_line(at: At, head: u64) -> String {
    let known = if at.known_at == head {
        format!("känt vid händelse nr {} (loggens huvud)", at.known_at)
    } else {
        format!("känt vid händelse nr {} av {head}", at.known_at)
    };
    format!("per {}, {known}", at.as_of)
}

// --- balances --------------------------------------------------------------------------------

/// Which förbund a report covers: one, or every registered one.
pub enum Scope {
    One(String),
    All,
}

/// The balances. As known at the head, they are read from the totals beside the checkpoint
/// when those stand at the log's head (no replay, no checkpoint to load); otherwise from the
/// whole view.
pub fn balances(
    store: &Path,
    scope: Scope,
    axes: Axes,
    chart: Option<&PathBuf>,
    format: Format,
) -> Result<(), Failure> {
    let wanted = match &scope {
        Scope::One(forbund) => Some(parse_forbund(forbund)?),
        Scope::All => None,
    };
    let as_of = axes.as_of.unwrap_or_else(today);
    let fast = finsam_store::open_totals(store, wanted.as_ref())?
        .filter(|(head, _)| axes.known_at.is_none_or(|k| k == KnownAt::Seq(head.seq)));
    // From the totals beside the checkpoint when they stand at the head, else from the books:
    // one förbund's own, or the whole view for all.
    enum Source {
        Totals(TotalsView),
        View(Box<finsam_store::BooksOf>, At),
    }
    let from_view = || -> Result<(u64, Source), Failure> {
        let view = match &wanted {
            Some(f) => books_of(store, f.as_str())?,
            None => finsam_store::BooksOf::whole(store)?,
        };
        let at = resolve(store, (&view).into(), &axes)?;
        Ok((view.head.seq, Source::View(Box::new(view), at)))
    };
    let collect = |source: &Source| -> Result<Vec<(Balances, Chart, Option<Periodised>)>, Failure> {
        let registered = match source {
            Source::Totals(t) => &t.forbund,
            Source::View(v, _) => &v.projection.forbund,
        };
        let list = match &wanted {
            Some(f) => {
                check_registered(registered, f)?;
                vec![f.clone()]
            }
            None => registered.keys().cloned().collect(),
        };
        let mut all = Vec::new();
        for f in list {
            let chart = load_chart(store, &f, chart)?;
            let (b, periodised) = match source {
                Source::Totals(t) => (t.balances(&f, as_of, &chart), None),
                Source::View(v, at) => {
                    (v.projection.balances(&f, *at, &chart), Some(v.projection.periodised_contributions(&f, *at)))
                }
            };
            all.push((b.expect("checked that the förbund exists"), chart, periodised));
        }
        Ok(all)
    };
    let (mut head, mut source) = match fast {
        Some((head, totals)) => (head.seq, Source::Totals(totals)),
        None => from_view()?,
    };
    let mut all = collect(&source)?;
    // Inside a year with income booked, the year's contributions are periodised by month, which
    // needs the decisions: the whole view, not the totals alone.
    let year_end = (chrono::Datelike::month(&as_of), chrono::Datelike::day(&as_of)) == (12, 31);
    if !year_end && matches!(source, Source::Totals(_)) && all.iter().any(|(b, ..)| !b.income.is_zero()) {
        (head, source) = from_view()?;
        all = collect(&source)?;
    }
    let out = match (scope, format) {
        (Scope::One(_), _) => render_balances(&all[0].0, &all[0].1, head, all[0].2.as_ref(), format),
        (Scope::All, Format::Json) => {
            let list: Vec<Value> = all.iter().map(|(b, chart, p)| balances_json_with(b, chart, p.as_ref())).collect();
            format!("{}\n", serde_json::to_string_pretty(&list).expect("serialises"))
        }
        (Scope::All, Format::Csv) => {
            let mut out = csv_line(&["forbund".into(), "row".into(), "account".into(), "name".into(), "amount".into()]);
            for (b, chart, p) in &all {
                for line in render_balances(b, chart, head, p.as_ref(), Format::Csv).lines().skip(1) {
                    out.push_str(&format!("{},{line}\n", b.forbund));
                }
            }
            out
        }
        (Scope::All, Format::Table | Format::Html) => all
            .iter()
            .map(|(b, chart, p)| render_balances(b, chart, head, p.as_ref(), Format::Table))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    emit(&out);
    Ok(())
}

/// One förbund's balances from the books (not the totals' fast path), rendered.
pub fn balances_out(
    store: &Path,
    books: Books<'_>,
    forbund: &str,
    axes: &Axes,
    format: Format,
) -> Result<String, Failure> {
    let (f, at) = forbund_at(store, books, forbund, axes)?;
    let chart = load_chart(store, &f, None)?;
    let b = books.projection.balances(&f, at, &chart).expect("checked that the förbund exists");
    let periodised = books.projection.periodised_contributions(&f, at);
    Ok(render_balances(&b, &chart, books.head, Some(&periodised), format))
}

/// The periodisation a period's figures show: only inside a year, and only when something
/// decided for it is not yet earned.
fn period_part(p: Option<&Periodised>) -> Option<&Periodised> {
    p.filter(|p| !p.unearned.is_zero())
}

pub fn balances_json(b: &Balances, chart: &Chart) -> Value {
    balances_json_with(b, chart, None)
}

fn balances_json_with(b: &Balances, chart: &Chart, periodised: Option<&Periodised>) -> Value {
    let answer = crate::answers::Balances {
        forbund: b.forbund.to_string(),
        name: b.name.clone(),
        as_of: b.at.as_of.to_string(),
        known_at: b.at.known_at,
        chart: chart.id.to_string(),
        bank: b.bank.canonical(),
        equity: b.equity.canonical(),
        income: b.income.canonical(),
        costs: b.costs.canonical(),
        result: b.result.canonical(),
        vouchers: b.vouchers,
        accounts: b
            .accounts
            .iter()
            .map(|a| crate::answers::AccountBalance {
                account: a.account.to_string(),
                name: a.name.to_string(),
                balance: a.balance.canonical(),
            })
            .collect(),
        periodised: period_part(periodised).map(|p| crate::answers::PeriodisedContributions {
            year: p.year,
            months: p.months,
            decided: p.decided.canonical(),
            earned: p.earned.canonical(),
            unearned: p.unearned.canonical(),
            income: (b.income - p.unearned).canonical(),
            result: (b.result - p.unearned).canonical(),
        }),
    };
    serde_json::to_value(answer).expect("an answer serialises")
}

pub fn render_balances(
    b: &Balances,
    chart: &Chart,
    head: u64,
    periodised: Option<&Periodised>,
    format: Format,
) -> String {
    let periodised = period_part(periodised);
    match format {
        Format::Json => {
            format!(
                "{}\n",
                serde_json::to_string_pretty(&balances_json_with(b, chart, periodised)).expect("serialises")
            )
        }
        Format::Csv => {
            let mut out = csv_line(&["row".into(), "account".into(), "name".into(), "amount".into()]);
            for a in &b.accounts {
                out.push_str(&csv_line(&["account".into(), a.account.clone(), a.name.clone(), a.balance.canonical()]));
            }
            for (key, amount) in
                [("bank", b.bank), ("equity", b.equity), ("income", b.income), ("costs", b.costs), ("result", b.result)]
            {
                out.push_str(&csv_line(&["key".into(), String::new(), key.into(), amount.canonical()]));
            }
            if let Some(p) = periodised {
                for (key, amount) in [
                    ("periodised_decided", p.decided),
                    ("periodised_earned", p.earned),
                    ("periodised_unearned", p.unearned),
                    ("periodised_income", b.income - p.unearned),
                    ("periodised_result", b.result - p.unearned),
                ] {
                    out.push_str(&csv_line(&["key".into(), String::new(), key.into(), amount.canonical()]));
                }
            }
            out
        }
        Format::Table | Format::Html => {
            let year = chrono::Datelike::year(&b.at.as_of);
            let mut out = format!(
                "Saldobalans för {} ({})\n{}; kontoplan {}; {} verifikationer\n\n",
                b.name,
                b.forbund,
                axes_line(b.at, head),
                chart.id,
                b.vouchers
            );
            let mut t = Table::new(&[("konto", Align::Left), ("namn", Align::Left), ("saldo (debet +)", Align::Right)]);
            t.name_sheet("Saldon");
            for a in &b.accounts {
                t.row(vec![a.account.clone(), a.name.clone(), a.balance.human()]);
            }
            t.rule();
            t.row(vec!["summa".into(), String::new(), b.accounts.iter().map(|a| a.balance).sum::<Amount>().human()]);
            out.push_str(&t.render());
            let mut k = Table::new(&[("nyckeltal", Align::Left), ("belopp", Align::Right)]);
            k.name_sheet("Nyckeltal");
            k.row(vec!["bank".into(), b.bank.human()]);
            k.row(vec!["eget kapital (med årets resultat hittills)".into(), b.equity.human()]);
            k.row(vec![format!("intäkter {year}"), b.income.human()]);
            k.row(vec![format!("kostnader {year}"), b.costs.human()]);
            k.row(vec![format!("årets resultat {year}"), b.result.human()]);
            out.push('\n');
            out.push_str(&k.render());
            if let Some(p) = periodised {
                out.push_str(&format!(
                    "\nPeriodisering per {} ({} av 12 månader): årets medlemsbidrag räknas som intäkt månad för månad\n",
                    b.at.as_of, p.months
                ));
                let mut t = Table::new(&[("", Align::Left), ("belopp", Align::Right)]);
                t.name_sheet("Periodisering");
                t.row(vec![format!("medlemsbidrag beslutade för {year}"), p.decided.human()]);
                t.row(vec![format!("intjänade t.o.m. {} ({}/12)", b.at.as_of, p.months), p.earned.human()]);
                t.row(vec!["ej intjänade (förutbetalda intäkter)".into(), p.unearned.human()]);
                t.row(vec![format!("intäkter {year}, periodiserade"), (b.income - p.unearned).human()]);
                t.row(vec![format!("årets resultat {year}, periodiserat"), (b.result - p.unearned).human()]);
                out.push_str(&t.render());
                out.push_str("(Saldobalansen ovan är den bokförda; periodiseringen är ingen verifikation. Helårets siffror ändras inte.)\n");
            }
            out
        }
    }
}

// --- budget ------------------------------------------------------------------------------------

pub fn budget(store: &Path, forbund: &str, year: i32, axes: Axes, format: Format) -> Result<(), Failure> {
    let books = books_of(store, forbund)?;
    emit(&budget_out(store, (&books).into(), forbund, year, &axes, format)?);
    Ok(())
}

/// The budget position of a förbund's year, rendered.
pub fn budget_out(
    store: &Path,
    books: Books<'_>,
    forbund: &str,
    year: i32,
    axes: &Axes,
    format: Format,
) -> Result<String, Failure> {
    check_year(year)?;
    let (f, at) = forbund_at(store, books, forbund, axes)?;
    let Some(p) = books.projection.budget_position(&f, year, at) else {
        let years: Vec<String> = books
            .projection
            .budgets
            .iter()
            .filter(|b| b.forbund == f)
            .map(|b| b.year.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return Err(Failure {
            code: 2,
            message: say(
                format!(
                    "{f} har ingen budget för {year} {} (budgetar finns för: {})",
                    axes_line(at, books.head),
                    if years.is_empty() { "inga år".into() } else { years.join(", ") }
                ),
                format!(
                    "{f} has no budget for {year} {} (budgets recorded for: {})",
                    axes_line(at, books.head),
                    if years.is_empty() { "none".into() } else { years.join(", ") }
                ),
            ),
        });
    };
    Ok(render_budget(&p, books.head, format))
}

/// A share as a percentage with a decimal comma: "13,58 %".
pub fn pct(share: Option<rust_decimal::Decimal>) -> String {
    share.map_or("–".into(), |s| format!("{:.2} %", s * rust_decimal::Decimal::from(100)).replace('.', ","))
}

/// A share as programs read it: a fraction with four decimals.
pub fn share_text(share: Option<rust_decimal::Decimal>) -> Option<String> {
    share.map(|s| format!("{s:.4}"))
}

pub fn share_json(share: Option<rust_decimal::Decimal>) -> Value {
    share_text(share).map_or(Value::Null, Value::String)
}

/// A budget position as programs read it.
pub fn budget_answer(p: &BudgetPosition) -> answers::BudgetPosition {
    let lines = p
        .lines
        .iter()
        .map(|l| answers::BudgetLinePosition {
            id: l.id.to_string(),
            name: l.name.clone(),
            category: l.category.as_str().into(),
            insats: l.insats.as_ref().map(Slug::to_string),
            figures: answers::BudgetFigures {
                budget: l.budget.canonical(),
                granted: l.granted.canonical(),
                spent: l.spent.canonical(),
                remaining: l.remaining().canonical(),
                uncommitted: l.uncommitted().map(Amount::canonical),
            },
        })
        .collect();
    let category = |category: Category| {
        let c = p.by_category.iter().find(|c| c.category == category).expect("every category has its position");
        answers::BudgetFigures {
            budget: c.budget.canonical(),
            granted: c.granted.canonical(),
            spent: c.spent.canonical(),
            remaining: (c.budget - c.spent).canonical(),
            uncommitted: uncommitted_of(p.lines.iter().filter(|l| l.category == c.category)).map(Amount::canonical),
        }
    };
    let granted: Amount = p.lines.iter().map(|l| l.granted).sum();
    let spent: Amount = p.lines.iter().map(|l| l.spent).sum();
    answers::BudgetPosition {
        forbund: p.forbund.to_string(),
        year: p.year,
        as_of: p.at.as_of.to_string(),
        known_at: p.at.known_at,
        budget_seq: p.budget_seq,
        status: p.status.as_str().into(),
        decision: answers::MinutedDecision::from(&p.decision),
        lines,
        costs: answers::BudgetCosts {
            total: p.costs_total.canonical(),
            granted: granted.canonical(),
            spent: spent.canonical(),
            unbudgeted_spent: p.unbudgeted_spent.canonical(),
            by_category: answers::ByCategory {
                admin: category(Category::Admin),
                individ: category(Category::Individ),
                struktur: category(Category::Struktur),
            },
        },
        income: answers::BudgetIncome { total: p.income_budget.canonical(), received: p.income_received.canonical() },
        result: p.result.canonical(),
        opening_equity: answers::OpeningEquity {
            amount: p.opening_equity.canonical(),
            source: p.opening_equity_source.into(),
        },
        transfers_in: p.transfers_in.canonical(),
        closing_equity: p.closing_equity.canonical(),
        shares: answers::BudgetShares {
            admin_of_costs: share_text(p.shares.admin_of_costs),
            individ_of_direct: share_text(p.shares.individ_of_direct),
            struktur_of_direct: share_text(p.shares.struktur_of_direct),
        },
        plan: p
            .plan
            .iter()
            .map(|y| {
                let c = |category: Category| {
                    y.by_category.iter().find(|(c, _)| *c == category).map_or(Amount::ZERO, |(_, a)| *a).canonical()
                };
                answers::PlanYear {
                    year: y.year,
                    status: y.status.as_str().into(),
                    seq: y.seq,
                    date: y.date.to_string(),
                    income: y.income.canonical(),
                    admin: c(Category::Admin),
                    individ: c(Category::Individ),
                    struktur: c(Category::Struktur),
                    costs: y.costs.canonical(),
                    result: y.result().canonical(),
                }
            })
            .collect(),
    }
}

/// The flerårsplan beside a budget, as a table for people: a column per year (budget or plan),
/// rows income, costs per category, result.
pub fn plan_table(p: &BudgetPosition) -> String {
    let mut out = String::from("\nFlerårsplan (kr)\n");
    let heads: Vec<String> = p
        .plan
        .iter()
        .map(|y| match y.status {
            finsam_domain::event::BudgetStatus::Adopted => format!("budget {}", y.year),
            finsam_domain::event::BudgetStatus::Outlook => format!("plan {}", y.year),
        })
        .collect();
    let mut columns: Vec<(&str, Align)> = vec![("", Align::Left)];
    columns.extend(heads.iter().map(|h| (h.as_str(), Align::Right)));
    let mut t = Table::new(&columns);
    t.name_sheet("Flerårsplan");
    let row = |label: &str, pick: &dyn Fn(&finsam_projections::reports::PlanYear) -> Amount| -> Vec<String> {
        std::iter::once(label.to_string()).chain(p.plan.iter().map(|y| pick(y).human_number())).collect()
    };
    t.row(row("Intäkter", &|y| y.income));
    for c in Category::ALL.iter().copied() {
        t.row(row(category_title(c), &|y| {
            y.by_category.iter().find(|(x, _)| *x == c).map_or(Amount::ZERO, |(_, a)| *a)
        }));
    }
    t.row(row("Summa kostnader", &|y| y.costs));
    t.rule();
    t.row(row("Resultat", &|y| y.result()));
    out.push_str(&t.render());
    let later: Vec<i32> = (p.year + 1..=p.year + 2).filter(|y| !p.plan.iter().any(|x| x.year == *y)).collect();
    if !later.is_empty() {
        let years: Vec<String> = later.iter().map(i32::to_string).collect();
        out.push_str(&format!("Ingen plan registrerad för {}.\n", years.join(" och ")));
    }
    out
}

/// What a driftredovisning or a follow-up measures the utfall against, in words: the budget in
/// force `when`, or — in a year no budget was adopted for — the plan's outlook for it, which is
/// never called the budget.
pub fn measured_against(status: finsam_domain::event::BudgetStatus, seq: u64, when: &str) -> String {
    match status {
        finsam_domain::event::BudgetStatus::Adopted => {
            format!("budgeten i kraft {when} (beslutet är händelse nr {seq})")
        }
        finsam_domain::event::BudgetStatus::Outlook => {
            format!("planens prognos för året (händelse nr {seq}), ingen antagen budget")
        }
    }
}

/// The column of the figures measured against: "budget", or "prognos" for a plan's outlook.
pub fn budget_column(status: finsam_domain::event::BudgetStatus) -> &'static str {
    match status {
        finsam_domain::event::BudgetStatus::Adopted => "budget",
        finsam_domain::event::BudgetStatus::Outlook => "prognos",
    }
}

pub fn category_title(c: Category) -> &'static str {
    match c {
        Category::Admin => "Administration",
        Category::Individ => "Individinriktade insatser",
        Category::Struktur => "Metodutveckling och strukturpåverkande insatser",
    }
}

pub fn render_budget(p: &BudgetPosition, head: u64, format: Format) -> String {
    match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&budget_answer(p)).expect("serialises")),
        Format::Csv => {
            let mut out = csv_line(
                &["line", "name", "category", "insats", "budget", "granted", "spent", "remaining", "uncommitted"]
                    .map(String::from),
            );
            for l in &p.lines {
                out.push_str(&csv_line(&[
                    l.id.to_string(),
                    l.name.clone(),
                    l.category.as_str().into(),
                    l.insats.as_ref().map_or(String::new(), |i| i.to_string()),
                    l.budget.canonical(),
                    l.granted.canonical(),
                    l.spent.canonical(),
                    l.remaining().canonical(),
                    l.uncommitted().map_or(String::new(), Amount::canonical),
                ]));
            }
            out
        }
        Format::Table | Format::Html => {
            let status = match p.status {
                finsam_domain::event::BudgetStatus::Adopted => "antagen",
                finsam_domain::event::BudgetStatus::Outlook => "prognos",
            };
            let mut out = format!(
                "Budgetläge {} för {} ({status} av {}, händelse nr {})\n{}\n\n",
                p.year,
                p.forbund,
                p.decision,
                p.budget_seq,
                axes_line(p.at, head)
            );
            let mut t = Table::new(&[
                ("rad", Align::Left),
                ("budget", Align::Right),
                ("beviljat", Align::Right),
                ("förbrukat", Align::Right),
                ("kvar", Align::Right),
                ("ej beviljat", Align::Right),
            ]);
            t.name_sheet("Budgetrader");
            let money = |a: Amount| a.human_number();
            // A line without an insats takes no grants: nothing to commit, shown as –.
            let maybe = |a: Option<Amount>| a.map_or("–".to_string(), Amount::human_number);
            for c in &p.by_category {
                let lines: Vec<_> = p.lines.iter().filter(|l| l.category == c.category).collect();
                if lines.is_empty() {
                    continue;
                }
                t.row(vec![
                    format!("{}:", category_title(c.category)),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
                for l in &lines {
                    t.row(vec![
                        format!("  {}", l.name),
                        money(l.budget),
                        money(l.granted),
                        money(l.spent),
                        money(l.remaining()),
                        maybe(l.uncommitted()),
                    ]);
                }
                t.row(vec![
                    format!("  Summa {}", category_title(c.category).to_lowercase()),
                    money(c.budget),
                    money(c.granted),
                    money(c.spent),
                    money(c.budget - c.spent),
                    maybe(uncommitted_of(lines.iter().copied())),
                ]);
            }
            t.rule();
            let granted: Amount = p.lines.iter().map(|l| l.granted).sum();
            let spent: Amount = p.lines.iter().map(|l| l.spent).sum();
            t.row(vec![
                "Summa kostnader".into(),
                money(p.costs_total),
                money(granted),
                money(spent),
                money(p.costs_total - spent),
                maybe(uncommitted_of(&p.lines)),
            ]);
            out.push_str(&t.render());
            if !p.unbudgeted_spent.is_zero() {
                out.push_str(&format!("Kostnader på ingen rad i budgeten: {}\n", p.unbudgeted_spent.human()));
            }
            out.push_str("(ej beviljat: budget som styrelsen ännu inte beviljat; – på administrationsrader, som inte tar beslut om beviljande)\n");
            let mut k = Table::new(&[("", Align::Left), ("budget", Align::Right), ("utfall", Align::Right)]);
            k.name_sheet("Budget och utfall");
            k.row(vec!["Intäkter".into(), p.income_budget.human(), p.income_received.human()]);
            k.row(vec!["Resultat (intäkter − kostnader)".into(), p.result.human(), String::new()]);
            k.row(vec![
                format!(
                    "Ingående eget kapital ({})",
                    if p.opening_equity_source == "stated" { "enligt planen" } else { "bokfört" }
                ),
                p.opening_equity.human(),
                String::new(),
            ]);
            k.row(vec!["Överfört eget kapital (planerat)".into(), p.transfers_in.human(), String::new()]);
            k.row(vec!["Utgående eget kapital".into(), p.closing_equity.human(), String::new()]);
            out.push('\n');
            out.push_str(&k.render());
            out.push_str(&format!(
                "\nAndelar: administration {} av kostnaderna; individinriktade {} och strukturinriktade {} av de direkta kostnaderna\n",
                pct(p.shares.admin_of_costs),
                pct(p.shares.individ_of_direct),
                pct(p.shares.struktur_of_direct)
            ));
            out.push_str(&plan_table(p));
            out
        }
    }
}

// --- audit trail -------------------------------------------------------------------------------

pub struct TrailFilter {
    pub forbund: Option<String>,
    pub insats: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// Does the event concern the insats (directly, or through a budget line that names it)?
fn mentions_insats(p: &Projection, event: &Event, insats: &Slug) -> bool {
    use EventKind::*;
    match &event.kind {
        InsatsCreated { insats: i, .. } | FundingGranted { insats: i, .. } | FundingChanged { insats: i, .. } => {
            i == insats
        }
        CostRecorded { insats: i, line, year, .. } | InvoiceReceived { insats: i, line, year, .. } => {
            i.as_ref() == Some(insats)
                || line.as_ref().is_some_and(|l| {
                    p.budgets.iter().any(|b| {
                        b.forbund == event.forbund
                            && b.year == *year
                            && b.costs.iter().any(|c| &c.id == l && c.insats.as_ref() == Some(insats))
                    })
                })
        }
        BudgetAdopted { costs, .. } => costs.iter().any(|c| c.insats.as_ref() == Some(insats)),
        _ => false,
    }
}

pub fn trail(store: &Path, filter: TrailFilter, format: Format) -> Result<(), Failure> {
    let books = match filter.forbund.as_deref() {
        Some(f) => books_of_share(store, f, EVENTS_SHARE_MAX)?,
        None => finsam_store::BooksOf::whole(store)?,
    };
    let rows = trail_rows(store, (&books).into(), filter)?;
    emit(&render_trail(&rows, format));
    Ok(())
}

/// The audit trail's rows, one per event that passes the filter, in registration order.
pub fn trail_rows(store: &Path, books: Books<'_>, filter: TrailFilter) -> Result<Vec<Value>, Failure> {
    let forbund = filter.forbund.as_deref().map(parse_forbund).transpose()?;
    if let Some(f) = &forbund {
        check_forbund(books, f)?;
    }
    let insats = filter
        .insats
        .as_deref()
        .map(|i| Slug::parse(i).map_err(|r| Failure::usage(format!("--insats {i:?}: {r}"))))
        .transpose()?;
    let p = books.projection;
    let mut rows: Vec<Value> = Vec::new();
    let mut take = |e: &Envelope| {
        let ev = &e.event;
        let in_books = |f: &Slug| {
            &ev.forbund == f
                || matches!(&ev.kind, EventKind::EquityTransferred { from, .. } | EventKind::BalancesTakenOver { from, .. } if from == f)
        };
        let keep = forbund.as_ref().is_none_or(in_books)
            && insats.as_ref().is_none_or(|i| mentions_insats(p, ev, i))
            && filter.from.is_none_or(|d| ev.date >= d)
            && filter.to.is_none_or(|d| ev.date <= d);
        if keep {
            rows.push(trail_row(p, e));
        }
    };
    // One förbund's books read apart hold every event of that förbund and of those linked to
    // it (a transfer from it is in the books of the förbund it went to, which is linked).
    // Books that know their runs read that förbund's lines and its transfers to others.
    match (books.envelopes, books.runs, &forbund) {
        (Some(read), _, Some(_)) => read.iter().for_each(take),
        (None, Some(runs), Some(f)) => {
            let mut ranges: Vec<(u64, u64)> = finsam_domain::ledger::run_ranges(runs, books.head, |x| x == f);
            ranges.extend(p.transfers.iter().filter(|t| &t.from == f && t.seq <= books.head).map(|t| (t.seq, t.seq)));
            ranges.sort_unstable();
            ranges.dedup();
            finsam_store::read_ranges(store, &ranges, &mut |e: Envelope| {
                take(&e);
                Ok(())
            })?;
        }
        _ => {
            finsam_store::read_log(store, 1, books.head, &mut |e: Envelope| {
                take(&e);
                Ok(())
            })?;
        }
    }
    Ok(rows)
}

fn trail_row(p: &Projection, e: &Envelope) -> Value {
    use crate::answers::{MinutedDecision, TrailRow, VoucherRef};
    let row = TrailRow {
        seq: e.seq,
        recorded_at: e.recorded_at.clone(),
        recorded_by: e.recorded_by.clone(),
        date: e.event.date.to_string(),
        forbund: e.event.forbund.to_string(),
        kind: e.event.type_name().to_string(),
        decision: e.event.kind.decision().map(MinutedDecision::from),
        summary: summary(&e.event),
        vouchers: p
            .vouchers_of(e.seq)
            .iter()
            .map(|v| VoucherRef { forbund: v.forbund.to_string(), voucher: v.label() })
            .collect(),
        corrected_by: p.corrected.get(&e.seq).map(|(seq, _)| *seq),
        corrects: match e.event.kind {
            EventKind::EventCorrected { corrects, .. } => Some(corrects),
            _ => None,
        },
        hash: e.hash.clone(),
    };
    serde_json::to_value(row).expect("an answer serialises")
}

/// The decision of a row of the event list (`answers::MinutedDecision::text`; empty for none).
fn decision_text(v: &Value) -> String {
    <answers::MinutedDecision as serde::Deserialize>::deserialize(v).map_or(String::new(), |d| d.text())
}

fn vouchers_text(v: &Value, own: &str) -> String {
    v.as_array()
        .map(|list| {
            list.iter()
                .map(|x| {
                    let label = x["voucher"].as_str().unwrap_or("");
                    if x["forbund"] == own {
                        label.to_string()
                    } else {
                        format!("{} {label}", x["forbund"].as_str().unwrap_or(""))
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

pub fn render_trail(rows: &[Value], format: Format) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let note = |r: &Value| {
        let mut n = Vec::new();
        if let Some(c) = r["corrects"].as_u64() {
            n.push(format!("rättar seq {c}"));
        }
        if let Some(c) = r["corrected_by"].as_u64() {
            n.push(format!("rättad av seq {c}"));
        }
        n.join("; ")
    };
    match format {
        Format::Json => {
            format!("{}\n", serde_json::to_string_pretty(&Value::Array(rows.to_vec())).expect("serialises"))
        }
        Format::Csv => {
            let mut out = csv_line(
                &[
                    "seq",
                    "recorded_at",
                    "recorded_by",
                    "date",
                    "forbund",
                    "type",
                    "decision",
                    "summary",
                    "vouchers",
                    "corrects",
                    "corrected_by",
                    "hash",
                ]
                .map(String::from),
            );
            for r in rows {
                out.push_str(&csv_line(&[
                    r["seq"].to_string(),
                    s(&r["recorded_at"]),
                    s(&r["recorded_by"]),
                    s(&r["date"]),
                    s(&r["forbund"]),
                    s(&r["type"]),
                    decision_text(&r["decision"]),
                    s(&r["summary"]),
                    vouchers_text(&r["vouchers"], r["forbund"].as_str().unwrap_or("")),
                    r["corrects"].as_u64().map_or(String::new(), |c| c.to_string()),
                    r["corrected_by"].as_u64().map_or(String::new(), |c| c.to_string()),
                    s(&r["hash"]),
                ]));
            }
            out
        }
        Format::Table | Format::Html => {
            let mut t = Table::new(&[
                ("seq", Align::Right),
                ("registrerad (UTC) av", Align::Left),
                ("datum", Align::Left),
                ("förbund", Align::Left),
                ("händelse", Align::Left),
                ("beslut", Align::Left),
                ("sammanfattning", Align::Left),
                ("verifikation", Align::Left),
                ("anmärkning", Align::Left),
                ("hash", Align::Left),
            ]);
            t.name_sheet("Händelser");
            for r in rows {
                t.row(vec![
                    r["seq"].to_string(),
                    format!("{} {}", s(&r["recorded_at"]).chars().take(19).collect::<String>(), s(&r["recorded_by"])),
                    s(&r["date"]),
                    s(&r["forbund"]),
                    summary::type_label(r["type"].as_str().unwrap_or("")).to_string(),
                    decision_text(&r["decision"]),
                    s(&r["summary"]),
                    vouchers_text(&r["vouchers"], r["forbund"].as_str().unwrap_or("")),
                    note(r),
                    s(&r["hash"]).chars().take(12).collect(),
                ]);
            }
            format!("{}{} händelser\n", t.render(), rows.len())
        }
    }
}

// --- audit explain -----------------------------------------------------------------------------

/// The events behind some vouchers, and the decision that authorised each: its event's own,
/// else that of the grant, budget or merger the projection names (`authorised_by`).
struct Authority<'a> {
    events: BTreeMap<u64, std::borrow::Cow<'a, Event>>,
    by: BTreeMap<u64, u64>,
}

impl<'a> Authority<'a> {
    /// The events behind these vouchers and those that authorised them: taken from the
    /// envelopes read with the books when they are there, read from the log otherwise.
    fn read(store: &Path, books: Books<'a>, vouchers: &[&Voucher], known_at: u64) -> Result<Authority<'a>, Failure> {
        let mut events: BTreeMap<u64, std::borrow::Cow<'a, Event>> = BTreeMap::new();
        let fetch = |events: &mut BTreeMap<u64, std::borrow::Cow<'a, Event>>,
                     seqs: &mut dyn Iterator<Item = u64>|
         -> Result<(), Failure> {
            let (mut missing, read) = (Vec::new(), books.envelopes.unwrap_or_default());
            for seq in seqs {
                match read.binary_search_by_key(&seq, |e| e.seq) {
                    Ok(i) => {
                        events.insert(seq, std::borrow::Cow::Borrowed(&read[i].event));
                    }
                    Err(_) => missing.push(seq),
                }
            }
            finsam_store::read_events(store, &missing, &mut |e| {
                events.insert(e.seq, std::borrow::Cow::Owned(e.event));
                Ok(())
            })?;
            Ok(())
        };
        let own: std::collections::BTreeSet<u64> = vouchers.iter().map(|v| v.seq).filter(|s| *s <= known_at).collect();
        fetch(&mut events, &mut own.into_iter())?;
        let by: BTreeMap<u64, u64> = vouchers
            .iter()
            .filter_map(|v| books.projection.authorised_by(v, &events[&v.seq]).map(|a| (v.seq, a)))
            .collect();
        let wanted: std::collections::BTreeSet<u64> =
            by.values().copied().filter(|s| !events.contains_key(s)).collect();
        fetch(&mut events, &mut wanted.into_iter())?;
        Ok(Authority { events, by })
    }

    /// A voucher as the reports show it: label, date, event, decision and what authorised it.
    fn trace(&self, v: &Voucher) -> answers::VoucherTrace {
        let event = &self.events[&v.seq];
        let via = self.by.get(&v.seq).map(|seq| (*seq, &self.events[seq]));
        let decision = event.kind.decision().or_else(|| via.and_then(|(_, e)| e.kind.decision()));
        answers::VoucherTrace {
            voucher: v.label(),
            date: v.date.to_string(),
            seq: v.seq,
            kind: event.type_name().into(),
            decision: decision.map(answers::MinutedDecision::from),
            authorised_by: via.map(|(seq, e)| answers::AuthorisedBy { seq, kind: e.type_name().into() }),
            text: v.text.clone(),
            recorded_at: v.recorded_at.clone(),
            recorded_by: v.recorded_by.clone(),
        }
    }

    fn json(&self, v: &Voucher) -> Value {
        serde_json::to_value(self.trace(v)).expect("a trace serialises")
    }
}

pub fn explain(
    store: &Path,
    forbund: &str,
    account: &str,
    axes: Axes,
    chart: Option<&PathBuf>,
    format: Format,
) -> Result<(), Failure> {
    let books = books_of_share(store, forbund, EVENTS_SHARE_MAX)?;
    emit(&explain_out(store, (&books).into(), forbund, account, &axes, chart, format)?);
    Ok(())
}

/// The vouchers behind an account's balance, with the amount on the account and the running
/// balance, as of the axes.
pub struct Explained {
    pub forbund: Slug,
    pub at: At,
    /// The account's name in the förbund's chart.
    pub name: String,
    pub entries: Vec<(Voucher, Amount, Amount)>,
}

/// The vouchers behind an account's balance (an account of the förbund's chart, else refused).
pub fn explain_entries(
    store: &Path,
    books: Books<'_>,
    forbund: &str,
    account: &str,
    axes: &Axes,
    chart: Option<&PathBuf>,
) -> Result<Explained, Failure> {
    let (f, at) = forbund_at(store, books, forbund, axes)?;
    let chart = load_chart(store, &f, chart)?;
    let roles = chart.roles_of(account);
    if roles.is_empty() {
        let id = &chart.id;
        return Err(Failure::usage(say(
            format!("konto {account} finns inte i kontoplanen {id} (dess konton visas av `finsam balances`)"),
            format!("account {account} is not in the chart {id} (its accounts are listed by `finsam balances`)"),
        )));
    }
    let name = chart.account(roles[0]).name.clone();
    let entries = books.projection.explain(&f, account, at, &chart);
    Ok(Explained { forbund: f, at, name, entries })
}

/// The rows behind an account's balance, rendered.
pub fn explain_out(
    store: &Path,
    books: Books<'_>,
    forbund: &str,
    account: &str,
    axes: &Axes,
    chart: Option<&PathBuf>,
    format: Format,
) -> Result<String, Failure> {
    let Explained { forbund: f, at, name, entries } = explain_entries(store, books, forbund, account, axes, chart)?;
    let vouchers: Vec<&Voucher> = entries.iter().map(|(v, _, _)| v).collect();
    let authority = Authority::read(store, books, &vouchers, at.known_at)?;
    let balance = entries.last().map_or(Amount::ZERO, |(_, _, b)| *b);
    let answer = answers::Explanation {
        forbund: f.to_string(),
        account: account.to_string(),
        name: name.to_string(),
        as_of: at.as_of.to_string(),
        known_at: at.known_at,
        balance: balance.canonical(),
        entries: entries
            .iter()
            .map(|(v, amount, running)| answers::ExplainEntry {
                voucher: authority.trace(v),
                amount: amount.canonical(),
                balance: running.canonical(),
            })
            .collect(),
    };
    Ok(match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&answer).expect("serialises")),
        Format::Csv => {
            let mut out = csv_line(
                &["voucher", "date", "seq", "type", "decision", "text", "amount", "balance"].map(String::from),
            );
            for e in &answer.entries {
                let v = &e.voucher;
                out.push_str(&csv_line(&[
                    v.voucher.clone(),
                    v.date.clone(),
                    v.seq.to_string(),
                    v.kind.clone(),
                    v.authority_text(),
                    v.text.clone(),
                    e.amount.clone(),
                    e.balance.clone(),
                ]));
            }
            out
        }
        Format::Table | Format::Html => {
            let mut t = Table::new(&[
                ("verifikation", Align::Left),
                ("datum", Align::Left),
                ("seq", Align::Right),
                ("händelse", Align::Left),
                ("beslut", Align::Left),
                ("text", Align::Left),
                ("belopp", Align::Right),
                ("saldo", Align::Right),
            ]);
            t.name_sheet("Verifikationer");
            for (e, (_, amount, running)) in answer.entries.iter().zip(&entries) {
                let v = &e.voucher;
                t.row(vec![
                    v.voucher.clone(),
                    v.date.clone(),
                    v.seq.to_string(),
                    summary::type_label(&v.kind).into(),
                    v.authority_text(),
                    v.text.clone(),
                    amount.human_number(),
                    running.human_number(),
                ]);
            }
            format!(
                "Konto {account} {name} i {f}, {}\n\n{}saldo {}\n",
                axes_line(at, books.head),
                t.render(),
                balance.human()
            )
        }
    })
}

// --- reconcile -----------------------------------------------------------------------------------

pub fn reconcile(
    store: &Path,
    merger: Option<&str>,
    axes: Axes,
    rules: finsam_projections::reconcile::Rules,
    format: Format,
) -> Result<bool, Failure> {
    let view = open_view(store)?;
    let (out, ok) = reconcile_out(store, (&view).into(), merger, &axes, rules, format)?;
    emit(&out);
    Ok(ok)
}

/// The reconciliation, rendered, and whether it holds (no error found).
pub fn reconcile_out(
    store: &Path,
    books: Books<'_>,
    merger: Option<&str>,
    axes: &Axes,
    rules: finsam_projections::reconcile::Rules,
    format: Format,
) -> Result<(String, bool), Failure> {
    let (result, merger, at) = reconciliation(store, books, merger, None, axes, rules)?;
    Ok((render_reconciliation(&result, books.projection, merger.as_ref(), at, books.head, format), result.ok()))
}

/// The reconciliation run (of one merger, or of the whole store; `only` what concerns one
/// förbund), with the merger and the axes it ran at.
pub fn reconciliation(
    store: &Path,
    books: Books<'_>,
    merger: Option<&str>,
    only: Option<&Slug>,
    axes: &Axes,
    rules: finsam_projections::reconcile::Rules,
) -> Result<(finsam_projections::reconcile::Reconciliation, Option<Slug>, At), Failure> {
    use finsam_projections::reconcile::{reconcile as run, Options};
    let merger = merger.map(parse_forbund).transpose()?;
    if let Some(f) = &merger {
        check_forbund(books, f)?;
    }
    let at = resolve(store, books, axes)?;
    let events = events_to_reconcile(store, books.projection, at)?;
    let options = Options { merger: merger.clone(), forbund: only.cloned(), at, rules };
    let result = run(books.projection, &events, options).map_err(|e| Failure::usage(e.0))?;
    Ok((result, merger, at))
}

/// The events a reconciliation needs from the log (`reconcile::needs_events`): usually none, so
/// that a run reads the projection alone; else those of the förbund named, up to `at.known_at`.
pub fn events_to_reconcile(store: &Path, p: &Projection, at: At) -> Result<Vec<(u64, Event)>, Failure> {
    let needed = finsam_projections::reconcile::needs_events(p, at);
    let mut events = Vec::new();
    if !needed.is_empty() {
        finsam_store::read_log(store, 1, at.known_at, &mut |e| {
            if needed.contains(&e.event.forbund) {
                events.push((e.seq, e.event));
            }
            Ok(())
        })?;
    }
    Ok(events)
}

/// A reconciliation run as programs read it.
pub fn reconciliation_answer(
    r: &finsam_projections::reconcile::Reconciliation,
    merger: Option<&Slug>,
    at: At,
) -> answers::Reconciliation {
    let text = |f: Option<finsam_projections::reconcile::Figure>| f.map(|f| f.text());
    let opt = |a: Option<Amount>| a.map(Amount::canonical);
    answers::Reconciliation {
        ok: r.ok(),
        merger: merger.map(Slug::to_string),
        as_of: at.as_of.to_string(),
        known_at: at.known_at,
        forbund: r.scope.iter().map(Slug::to_string).collect(),
        mergers: r
            .mergers
            .iter()
            .map(|m| answers::MergerTable {
                into: m.into.to_string(),
                effective: m.effective.to_string(),
                seq: m.seq,
                rows: m
                    .rows
                    .iter()
                    .map(|x| answers::MergerRow {
                        from: x.from.to_string(),
                        estimate: opt(x.estimate),
                        forecast: opt(x.forecast),
                        booked: opt(x.booked),
                        transferred: x.transferred.canonical(),
                        arrived: x.arrived.canonical(),
                        transferred_minus_estimate: opt(x.estimate.map(|e| x.transferred - e)),
                        transferred_minus_booked: opt(x.booked.map(|b| x.transferred - b)),
                        arrived_minus_transferred: (x.arrived - x.transferred).canonical(),
                    })
                    .collect(),
            })
            .collect(),
        payers: r
            .payers
            .iter()
            .map(|x| answers::PayerRow {
                forbund: x.forbund.to_string(),
                year: x.year,
                payer: x.payer.to_string(),
                members: x.members.iter().map(Slug::to_string).collect(),
                owed: x.owed.canonical(),
                paid: x.paid.canonical(),
                paid_minus_owed: (x.paid - x.owed).canonical(),
            })
            .collect(),
        findings: r
            .findings
            .iter()
            .map(|f| answers::Finding {
                check: f.check.into(),
                forbund: f.forbund.to_string(),
                subject: f.subject.clone(),
                stated: text(f.stated),
                computed: text(f.computed),
                difference: text(f.difference),
                severity: f.severity.as_str().into(),
                events: f.events.clone(),
                explanation: f.explanation.clone(),
                caused_by: f.caused_by.clone(),
            })
            .collect(),
    }
}

/// A merger's table: per old förbund the plan's estimate, its own forecast, its booked equity
/// the day before, what it transferred and what arrived, with the differences — every row,
/// those that agree too.
fn merger_table_text(m: &finsam_projections::reconcile::MergerTable, p: &Projection) -> String {
    let day_before = m.effective.pred_opt().expect("a date after the first");
    let mut t = Table::new(&[
        ("från", Align::Left),
        ("beräknat", Align::Right),
        ("egen prognos", Align::Right),
        ("bokfört eget kapital", Align::Right),
        ("överfört", Align::Right),
        ("mottaget", Align::Right),
        ("överfört − beräknat", Align::Right),
        ("överfört − bokfört", Align::Right),
        ("mottaget − överfört", Align::Right),
    ]);
    t.name_sheet("Sammanläggning");
    let show = |a: Option<Amount>| a.map_or("–".to_string(), Amount::human_number);
    for x in &m.rows {
        let name = p.forbund.get(&x.from).map_or(x.from.to_string(), |i| i.name.clone());
        t.row(vec![
            name,
            show(x.estimate),
            show(x.forecast),
            show(x.booked),
            x.transferred.human_number(),
            x.arrived.human_number(),
            show(x.estimate.map(|e| x.transferred - e)),
            show(x.booked.map(|b| x.transferred - b)),
            (x.arrived - x.transferred).human_number(),
        ]);
    }
    format!(
        "\nSammanläggningen till {} från {} (händelse nr {}): bokfört eget kapital per {day_before}, egen prognos för {}\n{}",
        m.into,
        m.effective,
        m.seq,
        chrono::Datelike::year(&m.effective) - 1,
        t.render()
    )
}

/// What each payer owed and paid, year by year (only years with contributions decided).
fn payers_text<'a>(rows: impl Iterator<Item = &'a finsam_projections::reconcile::PayerRow>, p: &Projection) -> String {
    let mut t = Table::new(&[
        ("år", Align::Left),
        ("betalare", Align::Left),
        ("betalar för", Align::Left),
        ("beslutat", Align::Right),
        ("betalt", Align::Right),
        ("betalt − beslutat", Align::Right),
    ]);
    t.name_sheet("Betalare");
    let mut any = false;
    for x in rows {
        any = true;
        let name = |id: &Slug| {
            p.forbund
                .get(&x.forbund)
                .and_then(|i| i.members.iter().find(|m| &m.0 == id))
                .map_or(id.to_string(), |m| m.1.clone())
        };
        let members = x.members.iter().map(name).collect::<Vec<_>>().join(", ");
        t.row(vec![
            x.year.to_string(),
            name(&x.payer),
            members,
            x.owed.human_number(),
            x.paid.human_number(),
            (x.paid - x.owed).human_number(),
        ]);
    }
    if any {
        let table: String = t.render().lines().map(|l| format!("  {l}\n")).collect();
        format!("  beslutade medlemsbidrag och vem som betalat dem:\n{table}")
    } else {
        String::new()
    }
}

pub fn render_reconciliation(
    r: &finsam_projections::reconcile::Reconciliation,
    p: &Projection,
    merger: Option<&Slug>,
    at: At,
    head: u64,
    format: Format,
) -> String {
    use finsam_projections::reconcile::{check_label, Finding, Severity, CHECKS};
    match format {
        Format::Json => {
            format!("{}\n", serde_json::to_string_pretty(&reconciliation_answer(r, merger, at)).expect("serialises"))
        }
        Format::Csv => {
            let mut out = csv_line(
                &[
                    "check",
                    "forbund",
                    "subject",
                    "stated",
                    "computed",
                    "difference",
                    "severity",
                    "events",
                    "explanation",
                    "caused_by",
                ]
                .map(String::from),
            );
            for f in &r.findings {
                out.push_str(&csv_line(&[
                    f.check.into(),
                    f.forbund.to_string(),
                    f.subject.clone(),
                    f.stated.map_or(String::new(), |x| x.text()),
                    f.computed.map_or(String::new(), |x| x.text()),
                    f.difference.map_or(String::new(), |x| x.text()),
                    f.severity.as_str().into(),
                    f.events.iter().map(u64::to_string).collect::<Vec<_>>().join(" "),
                    f.explanation.clone(),
                    f.caused_by.clone().unwrap_or_default(),
                ]));
            }
            out
        }
        Format::Table | Format::Html => {
            let title = match merger {
                Some(f) => format!("Avstämning av sammanläggningen till {f}"),
                None => "Avstämning av alla förbund och sammanläggningar i loggen".to_string(),
            };
            let checks: Vec<&str> = CHECKS.iter().map(|c| check_label(c)).collect();
            let mut out = format!("{title}, {}\nkontroller: {}\n", axes_line(at, head), checks.join(", "));
            // The findings the text lists per förbund, one row each, as a workbook's first sheet
            // (built only when a workbook is being made).
            if crate::table::collecting() {
                findings_sheet(r);
            }
            for m in &r.mergers {
                out.push_str(&merger_table_text(m, p));
            }
            for f in &r.scope {
                let name = p.forbund.get(f).map_or("", |i| i.name.as_str());
                let findings: Vec<_> = r.findings.iter().filter(|x| &x.forbund == f).collect();
                out.push_str(&format!("\n{f} — {name}\n"));
                if findings.is_empty() {
                    out.push_str("  inga avvikelser\n");
                }
                // A cause first, its consequences indented under it; then the findings of their own.
                let line = |x: &Finding, indent: &str| {
                    let severity = match x.severity {
                        Severity::Error => "FEL    ",
                        Severity::Warning => "varning",
                    };
                    let difference = x.difference.map_or(String::new(), |d| format!(" (skillnad {})", d.human()));
                    let seqs = x.events.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
                    let events = if x.events.len() == 1 { "händelse" } else { "händelserna" };
                    format!(
                        "  {indent}{severity} {:<25} {}: {}{difference} [{events} {seqs}]\n",
                        check_label(x.check),
                        x.subject,
                        x.explanation
                    )
                };
                for (cause, consequences) in by_cause(&findings) {
                    out.push_str(&line(cause, ""));
                    if !consequences.is_empty() {
                        out.push_str(&format!(
                            "    följder av detta ({}), borta när det är rättat:\n",
                            consequences.len()
                        ));
                    }
                    for x in consequences {
                        out.push_str(&line(x, "  "));
                    }
                }
                out.push_str(&payers_text(r.payers.iter().filter(|x| &x.forbund == f), p));
            }
            let errors = r.findings.iter().filter(|x| x.severity == Severity::Error).count();
            let warnings = r.findings.len() - errors;
            out.push_str(&format!(
                "\n{errors} fel, {warnings} varningar: {}\n",
                if errors == 0 { "avstämningen håller" } else { "avstämningen håller inte" }
            ));
            out
        }
    }
}

/// The findings of a run as one table, a row each, given to the workbook being made.
fn findings_sheet(r: &finsam_projections::reconcile::Reconciliation) {
    use finsam_projections::reconcile::{check_label, Severity};
    let mut sheet = Table::new(&[
        ("förbund", Align::Left),
        ("kontroll", Align::Left),
        ("allvar", Align::Left),
        ("gäller", Align::Left),
        ("angivet", Align::Right),
        ("beräknat", Align::Right),
        ("skillnad", Align::Right),
        ("händelser", Align::Left),
        ("förklaring", Align::Left),
        ("följd av", Align::Left),
    ]);
    sheet.name_sheet("Avvikelser");
    for x in &r.findings {
        let figure = |f: Option<finsam_projections::reconcile::Figure>| f.map_or(String::new(), |f| f.human_number());
        sheet.row(vec![
            x.forbund.to_string(),
            check_label(x.check).to_string(),
            if x.severity == Severity::Error { "fel" } else { "varning" }.to_string(),
            x.subject.clone(),
            figure(x.stated),
            figure(x.computed),
            figure(x.difference),
            x.events.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            x.explanation.clone(),
            x.caused_by.clone().unwrap_or_default(),
        ]);
    }
    crate::table::sheet(&sheet);
}

/// The findings by cause: each finding of its own with the findings it causes (a payment
/// registered twice, and every share it throws off), in the run's order.
pub fn by_cause<'f>(
    findings: &[&'f finsam_projections::reconcile::Finding],
) -> Vec<(&'f finsam_projections::reconcile::Finding, Vec<&'f finsam_projections::reconcile::Finding>)> {
    let causes = |x: &finsam_projections::reconcile::Finding| {
        findings.iter().any(|c| c.caused_by.is_none() && Some(&c.subject) == x.caused_by.as_ref())
    };
    let mut out: Vec<(&finsam_projections::reconcile::Finding, Vec<&finsam_projections::reconcile::Finding>)> =
        Vec::new();
    for x in findings.iter().filter(|x| x.caused_by.is_none() || !causes(x)) {
        out.push((x, Vec::new()));
    }
    for x in findings.iter().filter(|x| x.caused_by.is_some() && causes(x)) {
        if let Some((_, list)) = out.iter_mut().find(|(c, _)| Some(&c.subject) == x.caused_by.as_ref()) {
            list.push(x);
        }
    }
    out
}

// --- one voucher ----------------------------------------------------------------------------

fn bad_voucher(text: &str) -> Failure {
    Failure::usage(say(
        format!("verifikation {text:?}: skriv året och numret, t.ex. \"2024 A 5\""),
        format!("voucher {text:?}: write the year and the number, e.g. \"2024 A 5\""),
    ))
}

/// "2024 A 5", "2024-A-5" or "2024:5" as (year, number).
fn parse_voucher(text: &str) -> Result<(i32, u32), Failure> {
    let parts: Vec<&str> = text.split([' ', '-', ':']).filter(|p| !p.is_empty() && *p != "A").collect();
    match parts.as_slice() {
        [year, number] => match (year.parse(), number.parse()) {
            (Ok(y), Ok(n)) => Ok((y, n)),
            _ => Err(bad_voucher(text)),
        },
        _ => Err(bad_voucher(text)),
    }
}

pub fn voucher(
    store: &Path,
    forbund: &str,
    label: &str,
    chart: Option<&PathBuf>,
    format: Format,
) -> Result<(), Failure> {
    let (year, number) = parse_voucher(label)?;
    let f = parse_forbund(forbund)?;
    let view = open_view(store)?;
    check_forbund((&view).into(), &f)?;
    let chart = load_chart(store, &f, chart)?;
    let p = &view.projection;
    let v = p.voucher_book().of_forbund(&f, view.head.seq).find(|v| v.year == year && v.number == number).ok_or_else(
        || {
            Failure::usage(say(
                format!("{f} har ingen verifikation {year} A {number} (dess verifikationer visas av `finsam audit explain`)"),
                format!("{f} has no voucher {year} A {number} (its vouchers are listed by `finsam audit explain`)"),
            ))
        },
    )?;
    let authority = Authority::read(store, (&view).into(), &[&v], view.head.seq)?;
    let mut envelope = None;
    finsam_store::read_events(store, &[v.seq], &mut |e| {
        envelope = Some(e);
        Ok(())
    })?;
    let e = envelope.expect("the voucher's event is in the log");
    let mut out = authority.json(&v);
    out["forbund"] = f.as_str().into();
    out["hash"] = e.hash.clone().into();
    out["summary"] = summary(&e.event).into();
    out["corrects"] = match v.kind {
        finsam_projections::projection::VoucherKind::Correction { of } => of.into(),
        _ => Value::Null,
    };
    out["corrected_by"] = p.corrected.get(&v.seq).map(|(seq, _)| *seq).into();
    // The files attached as underlag to the voucher's event.
    out["underlag"] = p
        .underlag
        .iter()
        .filter(|u| u.forbund == f && u.of.contains(&v.seq) && u.seq <= view.head.seq)
        .map(|u| {
            json!({"name": u.file.name, "media_type": u.file.media_type.as_str(), "size": u.file.size,
                "sha256": u.file.sha256, "attached_in": u.seq})
        })
        .collect();
    out["rows"] = v
        .rows
        .iter()
        .map(|r| {
            let a = chart.account(r.role);
            json!({"account": a.number, "name": a.name, "amount": r.amount.canonical(),
                "insats": r.insats.as_ref().map(Slug::as_str), "line": r.line.as_ref().map(Slug::as_str),
                "member": r.member.as_ref().map(Slug::as_str)})
        })
        .collect();
    match format {
        Format::Json | Format::Csv => emit(&format!("{}\n", serde_json::to_string_pretty(&out).expect("serialises"))),
        Format::Table | Format::Html => {
            let name = &p.forbund[&f].name;
            let mut t = Table::new(&[
                ("konto", Align::Left),
                ("namn", Align::Left),
                ("debet", Align::Right),
                ("kredit", Align::Right),
                ("insats", Align::Left),
                ("budgetrad", Align::Left),
                ("medlem", Align::Left),
            ]);
            t.name_sheet("Verifikation");
            let (mut debit, mut credit) = (Amount::ZERO, Amount::ZERO);
            for r in &v.rows {
                let a = chart.account(r.role);
                let (d, c) = if r.amount.is_negative() { (Amount::ZERO, -r.amount) } else { (r.amount, Amount::ZERO) };
                debit += d;
                credit += c;
                let show = |x: Amount| if x.is_zero() { String::new() } else { x.human_number() };
                let slug = |s: &Option<Slug>| s.as_ref().map_or(String::new(), Slug::to_string);
                t.row(vec![
                    a.number.clone(),
                    a.name.clone(),
                    show(d),
                    show(c),
                    slug(&r.insats),
                    slug(&r.line),
                    slug(&r.member),
                ]);
            }
            t.rule();
            t.row(vec![
                "summa".into(),
                String::new(),
                debit.human_number(),
                credit.human_number(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            let mut head = format!("Verifikation {} i {name} ({f})\n\n", v.label());
            head.push_str(&format!("datum        {}\ntext         {}\n", v.date, v.text));
            head.push_str(&format!(
                "händelse     seq {} {}: {}\nregistrerad  {} UTC av {}\nhash         {}\n",
                v.seq,
                summary::type_label(out["type"].as_str().unwrap_or("")),
                out["summary"].as_str().unwrap_or(""),
                v.recorded_at.chars().take(19).collect::<String>().replace('T', " "),
                v.recorded_by,
                e.hash
            ));
            let decision = authority.trace(&v).authority_text();
            head.push_str(&format!("beslut       {}\n", if decision.is_empty() { "–".to_string() } else { decision }));
            if let Some(of) = out["corrects"].as_u64() {
                head.push_str(&format!("rättar       seq {of}\n"));
            }
            if let Some(by) = out["corrected_by"].as_u64() {
                head.push_str(&format!("rättad av    seq {by}\n"));
            }
            let files = out["underlag"].as_array().cloned().unwrap_or_default();
            if files.is_empty() {
                head.push_str("underlag     –\n");
            }
            for (i, u) in files.iter().enumerate() {
                head.push_str(&format!(
                    "{}{} ({} byte, SHA-256 {}, bifogat i händelse {})\n",
                    if i == 0 { "underlag     " } else { "             " },
                    u["name"].as_str().unwrap_or(""),
                    u["size"],
                    u["sha256"].as_str().unwrap_or(""),
                    u["attached_in"]
                ));
            }
            emit(&format!("{head}\n{}", t.render()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use finsam_domain::Event;
    use finsam_store::Store;

    /// A store of these events, its derived state saved.
    fn store_of(name: &str, events: &[Event]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("finsam-books-of-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        finsam_store::init(&dir).unwrap();
        let (mut store, _) = Store::open(&dir).unwrap();
        for chunk in events.chunks(1000) {
            let batch: Vec<(usize, Event)> = chunk.iter().cloned().enumerate().map(|(i, e)| (i + 1, e)).collect();
            store.record(&batch, "test", None).unwrap();
        }
        assert!(store.save_checkpoint().unwrap());
        dir
    }

    /// Every budget (each year, each format), the explanation of the bank and of the equity,
    /// the balances inside a year and at its end, and the audit trail (whole, and of one
    /// year), as the books of one förbund give them and as the whole view does.
    fn reports(dir: &Path, books: Books<'_>, f: &Slug, years: &[i32]) -> Vec<String> {
        let axes = Axes { as_of: NaiveDate::from_ymd_opt(2030, 12, 31), known_at: None };
        let mut out = Vec::new();
        for year in years {
            for format in [Format::Table, Format::Json] {
                out.push(budget_out(dir, books, f.as_str(), *year, &axes, format).unwrap_or_else(|e| e.message));
            }
        }
        for account in ["1930", "2081"] {
            out.push(
                explain_out(dir, books, f.as_str(), account, &axes, None, Format::Json).unwrap_or_else(|e| e.message),
            );
        }
        for as_of in [NaiveDate::from_ymd_opt(2024, 6, 30), axes.as_of] {
            let axes = Axes { as_of, known_at: None };
            out.push(balances_out(dir, books, f.as_str(), &axes, Format::Json).unwrap_or_else(|e| e.message));
        }
        let year = years.first().map(|y| (NaiveDate::from_ymd_opt(*y, 1, 1), NaiveDate::from_ymd_opt(*y, 12, 31)));
        for (from, to) in [(None, None), year.unwrap_or_default()] {
            let filter = TrailFilter { forbund: Some(f.to_string()), insats: None, from, to };
            let rows = trail_rows(dir, books, filter).unwrap();
            assert!(from.is_some() || !rows.is_empty(), "{f} has events");
            out.push(render_trail(&rows, Format::Json));
        }
        out
    }

    #[test]
    fn a_report_of_one_forbund_reads_its_own_books_and_shows_what_the_whole_view_shows() {
        let mut generated = Vec::new();
        finsam_generate::generate(&finsam_generate::Params { forbund: 5, years: 4, seed: 3 }, &mut |e| {
            generated.push(e.clone())
        });
        // Random books of three förbund with mergers, transfers, takeovers and corrections of
        // anything: the links between förbund.
        let random = finsam_generate::random_history(11, 600);
        for (name, events) in [("generated", generated), ("random", random)] {
            let dir = store_of(name, &events);
            let whole = finsam_store::open_view(&dir).unwrap();
            let mut apart = 0;
            for f in whole.projection.forbund.keys() {
                let books = finsam_store::open_books_of_share(&dir, f, 1.0).unwrap();
                assert!(!books.whole, "{name}: {f}'s books are read without the whole view");
                assert_eq!(books.head, whole.head);
                apart += usize::from(books.projection.forbund.len() < whole.projection.forbund.len());
                let years: std::collections::BTreeSet<i32> = whole.projection.budgets.iter().map(|b| b.year).collect();
                let years: Vec<i32> = years.into_iter().collect();
                let from_whole = reports(&dir, (&whole).into(), f, &years);
                assert_eq!(reports(&dir, (&books).into(), f, &years), from_whole, "{name}: {f}");
                // The whole view without its runs reads the whole log for the trail.
                let without_runs = Books { runs: None, ..(&whole).into() };
                assert_eq!(reports(&dir, without_runs, f, &years), from_whole, "{name}: {f}, the whole log");
            }
            if name == "generated" {
                assert!(apart > 0, "some förbund's books were read without the others'");
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
