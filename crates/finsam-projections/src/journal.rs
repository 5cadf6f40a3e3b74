//! The books as a plain-text double-entry journal that ledger-cli and hledger read, so that
//! those tools can check finsam's figures independently.

use crate::chart::Chart;
use crate::projection::Projection;
use finsam_domain::Slug;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One transaction per voucher, in registration order: the date, the voucher as code, the
/// text, the seq as a comment, and one posting per account (`förbund:account`, in SEK).
/// `forbund` empty means every förbund; `year` limits to one year's vouchers.
pub fn journal(
    p: &Projection,
    charts: &BTreeMap<Slug, Chart>,
    default: &Chart,
    forbund: &[Slug],
    year: Option<i32>,
) -> String {
    let mut out =
        String::from("; finsam journal: one transaction per voucher; accounts are förbund:account; amounts in SEK\n\n");
    for v in p.vouchers() {
        if (!forbund.is_empty() && !forbund.contains(&v.forbund)) || year.is_some_and(|y| v.year != y) {
            continue;
        }
        v.assert_balanced();
        let chart = charts.get(&v.forbund).unwrap_or(default);
        let clean = |t: &str| -> String {
            t.chars().map(|c| if c == ';' || finsam_domain::text::is_forbidden(c) { ' ' } else { c }).collect()
        };
        let text = clean(&v.text);
        let _ = writeln!(out, "{} * ({} {}) {text}", v.date, v.forbund, v.label());
        let _ = writeln!(out, "    ; seq {} recorded {} by {}", v.seq, v.recorded_at, clean(&v.recorded_by));
        // One posting per account: rows of the same account are summed.
        let mut by_account: BTreeMap<&str, finsam_domain::Amount> = BTreeMap::new();
        for r in &v.rows {
            *by_account.entry(chart.account(r.role).number.as_str()).or_default() += r.amount;
        }
        for (account, amount) in by_account {
            let _ = writeln!(out, "    {}:{account}  {:.2} SEK", v.forbund, amount.decimal());
        }
        out.push('\n');
    }
    out
}
