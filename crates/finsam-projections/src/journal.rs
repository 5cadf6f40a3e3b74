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

/// One transaction to write: its sort key (date, förbund, seq, number) and its text.
struct Entry {
    key: (NaiveDate, Slug, u64, u32),
    text: String,
}

fn entry(
    date: NaiveDate,
    f: &Slug,
    code: &str,
    text: &str,
    comment: &str,
    postings: &BTreeMap<String, Amount>,
) -> String {
    let mut out = format!("{date} * ({f} {code}) {}\n    ; {comment}\n", clean(text));
    for (account, amount) in postings.iter().filter(|(_, a)| !a.is_zero()) {
        let _ = writeln!(out, "    {f}:{account}  {:.2} SEK", amount.decimal());
    }
    out.push('\n');
    out
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
        let comment = format!("seq {} recorded {} by {}", v.seq, v.recorded_at, clean(&v.recorded_by));
        entries.push(Entry {
            key: (v.date, v.forbund.clone(), v.seq, v.number),
            text: entry(v.date, &v.forbund, &v.label(), &v.text, &comment, &by_account),
        });
    }
    if let Some(start) = start {
        for (f, postings) in &opening {
            if postings.values().all(|a| a.is_zero()) {
                continue;
            }
            let comment = "the balances of every earlier voucher (an unclosed result carried into equity)";
            entries.push(Entry {
                key: (start, f.clone(), 0, 0),
                text: entry(start, f, "IB", "Ingående balans", comment, postings),
            });
        }
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
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
    for e in entries {
        out.push_str(&e.text);
    }
    out
}
