//! The books as a plain-text double-entry journal that ledger-cli and hledger read, so that
//! those tools can check finsam's figures independently.

use crate::chart::{Chart, Role, Side};
use crate::projection::{Projection, VoucherKind};
use chrono::NaiveDate;
use finsam_domain::{Amount, Slug};
use std::collections::BTreeMap;
use std::fmt::Write;

/// hledger's account type of a role's side.
fn account_type(side: Side) -> &'static str {
    match side {
        Side::Asset => "A",
        Side::Liability => "L",
        Side::Equity => "E",
        Side::Income => "R",
        Side::Cost => "X",
    }
}

fn clean(t: &str) -> String {
    t.chars().map(|c| if c == ';' || finsam_domain::text::is_forbidden(c) { ' ' } else { c }).collect()
}

/// One transaction to write, in either dialect.
struct Entry {
    /// Its sort key: date, förbund, seq, voucher number.
    key: (NaiveDate, Slug, u64, u32),
    /// The voucher's label ("2024 A 12"), or "IB" for a year's opening transaction.
    code: String,
    text: String,
    /// Where it comes from: the seq, when and by whom it was recorded (none for "IB").
    source: Option<(u64, String, String)>,
    /// Per account number, debit positive.
    postings: BTreeMap<String, Amount>,
}

/// What a journal holds in either dialect: every account used (per förbund and number, its name
/// and side) and the transactions in date order.
struct Collected {
    declared: BTreeMap<(Slug, String), (String, Side)>,
    entries: Vec<Entry>,
}

/// The transactions of the books (see `journal`): one per voucher, closing vouchers left out;
/// with `year`, that year's vouchers and one opening transaction per förbund dated 1 January.
fn collect(
    p: &Projection,
    charts: &BTreeMap<Slug, Chart>,
    default: &Chart,
    forbund: &[Slug],
    year: Option<i32>,
) -> Collected {
    let wanted = |f: &Slug| forbund.is_empty() || forbund.contains(f);
    let start = year.and_then(|y| NaiveDate::from_ymd_opt(y, 1, 1));
    let mut entries: Vec<Entry> = Vec::new();
    let mut declared: BTreeMap<(Slug, String), (String, Side)> = BTreeMap::new();
    let mut opening: BTreeMap<Slug, BTreeMap<String, Amount>> = BTreeMap::new();
    for v in p.vouchers() {
        if !wanted(&v.forbund) {
            continue;
        }
        v.assert_balanced();
        let chart = charts.get(&v.forbund).unwrap_or(default);
        let mut by_account: BTreeMap<String, Amount> = BTreeMap::new();
        for r in &v.rows {
            let a = chart.account(r.role);
            declared.insert((v.forbund.clone(), a.number.clone()), (a.name.clone(), r.role.side()));
            *by_account.entry(a.number.clone()).or_default() += r.amount;
        }
        if start.is_some_and(|s| v.date < s) {
            let equity = chart.account(Role::Equity);
            let into = opening.entry(v.forbund.clone()).or_default();
            for r in &v.rows {
                let a = if r.role.is_result() { equity } else { chart.account(r.role) };
                *into.entry(a.number.clone()).or_default() += r.amount;
            }
            declared.insert((v.forbund.clone(), equity.number.clone()), (equity.name.clone(), Side::Equity));
            continue;
        }
        if v.kind == VoucherKind::Closing || year.is_some_and(|y| v.year != y) {
            continue;
        }
        entries.push(Entry {
            key: (v.date, v.forbund.clone(), v.seq, v.number),
            code: v.label(),
            text: v.text.clone(),
            source: Some((v.seq, v.recorded_at.clone(), v.recorded_by.clone())),
            postings: by_account,
        });
    }
    if let Some(start) = start {
        for (f, postings) in opening {
            if postings.values().all(|a| a.is_zero()) {
                continue;
            }
            entries.push(Entry {
                key: (start, f, 0, 0),
                code: "IB".into(),
                text: "Ingående balans".into(),
                source: None,
                postings,
            });
        }
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    Collected { declared, entries }
}

/// One transaction per voucher, in date order (then förbund, seq and voucher number): the
/// date, the voucher as code, the text, the seq as a comment, and one posting per account
/// (`förbund:account`, in SEK). Every account is declared with its name and type (asset,
/// liability, equity, revenue, expense), and the commodity SEK, so that `hledger check
/// --strict`, `hledger bs`, `hledger is` and `ledger --pedantic` work.
///
/// Closing vouchers (a year's result moved to equity) are left out: hledger and ledger compute
/// the result themselves, and with them an income statement of a closed year would net to
/// zero. With `year`, the journal holds that year's vouchers and, dated 1 January, one opening
/// transaction per förbund with the balances of every earlier voucher — a result not closed
/// carried into equity, as in SIE's `#IB`. `forbund` empty means every förbund.
pub fn journal(
    p: &Projection,
    charts: &BTreeMap<Slug, Chart>,
    default: &Chart,
    forbund: &[Slug],
    year: Option<i32>,
) -> String {
    let Collected { declared, entries } = collect(p, charts, default, forbund, year);
    let mut out = String::from(
        "; finsam journal: one transaction per voucher, in date order; accounts are förbund:account;\n\
         ; amounts in SEK. Closing vouchers are left out: hledger computes each year's result.\n\n\
         commodity SEK\n    format 1000.00 SEK\n\n",
    );
    // Each account on its own line with its type on an indented comment line: ledger
    // (`--pedantic`) reads the directive's name alone, hledger the `type:` tag of its comment.
    for ((f, number), (name, side)) in &declared {
        let _ = writeln!(out, "account {f}:{number}\n    ; type: {}, {}", account_type(*side), clean(name));
    }
    out.push('\n');
    for e in &entries {
        let (date, f) = (e.key.0, &e.key.1);
        let comment = match &e.source {
            Some((seq, at, by)) => format!("seq {seq} recorded {at} by {}", clean(by)),
            None => "the balances of every earlier voucher (an unclosed result carried into equity)".into(),
        };
        let _ = write!(out, "{date} * ({f} {}) {}\n    ; {comment}\n", e.code, clean(&e.text));
        for (account, amount) in e.postings.iter().filter(|(_, a)| !a.is_zero()) {
            let _ = writeln!(out, "    {f}:{account}  {:.2} SEK", amount.decimal());
        }
        out.push('\n');
    }
    out
}

/// Beancount's root account of a side.
fn beancount_root(side: Side) -> &'static str {
    match side {
        Side::Asset => "Assets",
        Side::Liability => "Liabilities",
        Side::Equity => "Equity",
        Side::Income => "Income",
        Side::Cost => "Expenses",
    }
}

/// A Beancount account name: the side's root, the förbund with a capital first letter (each
/// name component must begin with one), the account number: `Assets:Sf-vastmanland:1930`.
pub fn beancount_account(f: &Slug, number: &str, side: Side) -> String {
    let mut chars = f.as_str().chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase()).into_iter();
    format!("{}:{}:{number}", beancount_root(side), first.chain(chars).collect::<String>())
}

/// A Beancount string: quotes and backslashes escaped, control characters as spaces.
fn beancount_string(t: &str) -> String {
    let mut out = String::from("\"");
    for c in t.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if finsam_domain::text::is_forbidden(c) || c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The same books as `journal`, in Beancount's syntax (what Fava shows): `option`s naming
/// SEK, every account opened on the first date of the file with its name as metadata, and one
/// transaction per voucher with the voucher, the seq and who recorded it as metadata.
/// Beancount's account names begin with their type (`Assets`, `Liabilities`, `Equity`,
/// `Income`, `Expenses`), so an account is `Assets:Sf-vastmanland:1930`. Closing vouchers are
/// left out as in `journal`.
pub fn beancount(
    p: &Projection,
    charts: &BTreeMap<Slug, Chart>,
    default: &Chart,
    forbund: &[Slug],
    year: Option<i32>,
) -> String {
    let Collected { declared, entries } = collect(p, charts, default, forbund, year);
    let mut out = String::from(
        "; finsam: the books in Beancount, one transaction per voucher, in date order; accounts are\n\
         ; Type:Förbund:account; amounts in SEK. Closing vouchers are left out: Beancount computes\n\
         ; each year's result.\n\n\
         option \"title\" \"finsam\"\n\
         option \"operating_currency\" \"SEK\"\n\n",
    );
    let side_of: BTreeMap<(&Slug, &str), Side> =
        declared.iter().map(|((f, n), (_, side))| ((f, n.as_str()), *side)).collect();
    if let Some(first) = entries.first().map(|e| e.key.0) {
        for ((f, number), (name, side)) in &declared {
            let _ = writeln!(
                out,
                "{first} open {} SEK\n  name: {}",
                beancount_account(f, number, *side),
                beancount_string(name)
            );
        }
        out.push('\n');
    }
    for e in entries.iter().filter(|e| e.postings.values().any(|a| !a.is_zero())) {
        let (date, f) = (e.key.0, &e.key.1);
        let _ = writeln!(out, "{date} * {}", beancount_string(&e.text));
        let _ = writeln!(out, "  forbund: {}\n  voucher: {}", beancount_string(f.as_str()), beancount_string(&e.code));
        if let Some((seq, at, by)) = &e.source {
            let _ = writeln!(out, "  seq: \"{seq}\"\n  recorded: {}", beancount_string(&format!("{at} by {by}")));
        }
        for (account, amount) in e.postings.iter().filter(|(_, a)| !a.is_zero()) {
            let side = side_of[&(f, account.as_str())];
            let _ = writeln!(out, "  {}  {:.2} SEK", beancount_account(f, account, side), amount.decimal());
        }
        out.push('\n');
    }
    out
}
