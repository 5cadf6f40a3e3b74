//! `finsam report interim`: the delårsrapport (RKR R17) — the period's result and balance sheet
//! with the year's contributions periodised by month, the same months of the year before, and
//! the forecast for the whole year; as text, JSON and a page.

use crate::output::Failure;
use crate::pages::{self, money_cell};
use crate::reports::{self, Books};
use crate::table::{Align, Table};
use crate::Format;
use finsam_domain::Amount;
use finsam_projections::annual::Statements;
use finsam_projections::interim::Interim;
use maud::html;
use serde_json::json;
use std::path::Path;

/// One row of the interim statements: key, label, the period, the same period the year before.
type Row = (&'static str, &'static str, Amount, Option<Amount>);

fn rows(i: &Interim) -> (Vec<Row>, Vec<Row>) {
    let s = &i.period;
    let p = i.previous.as_ref();
    let income = |s: &Statements| s.result.income.total.amount;
    let costs = |s: &Statements| s.result.costs.total.amount;
    let financial = |s: &Statements| s.result.financial.amount;
    let unearned = i.contributions.unearned;
    let result_statement = vec![
        ("intakter_bokforda", "Verksamhetens intäkter, bokförda", income(s), p.map(income)),
        ("ej_intjanade_medlemsbidrag", "Avgår: medlemsbidrag som ännu inte är intjänade", -unearned, None),
        ("intakter", "Periodens intäkter", income(s) - unearned, p.map(income)),
        ("kostnader", "Verksamhetens kostnader", costs(s), p.map(costs)),
        ("finansiella_poster", "Finansiella poster", financial(s), p.map(financial)),
        ("periodens_resultat", "Periodens resultat", i.result, p.map(|p| p.result.result.amount)),
    ];
    let b = &s.balance;
    let balance = vec![
        ("tillgangar", "Summa tillgångar", b.assets.amount, None),
        ("eget_kapital", "Eget kapital", b.equity.closing.amount - unearned, None),
        ("forutbetalda_intakter", "Förutbetalda intäkter (medlemsbidrag ej intjänade)", unearned, None),
        ("ovriga_skulder", "Övriga skulder", b.liabilities.amount, None),
        ("summa_eget_kapital_och_skulder", "Summa eget kapital och skulder", b.equity_and_liabilities.amount, None),
    ];
    (result_statement, balance)
}

fn forecast_rows(i: &Interim) -> Vec<(&'static str, &'static str, Amount)> {
    let Some(f) = &i.forecast else { return Vec::new() };
    vec![
        ("intakter", "Intäkter", f.income),
        ("kostnader", "Kostnader", -f.costs),
        ("resultat", "Årets resultat", f.result),
        ("budgeterat_resultat", "Budgeterat resultat", f.budget_result),
        ("eget_kapital", "Eget kapital vid årets slut", f.equity),
    ]
}

/// The delårsrapport's short förvaltningsberättelse, generated from the books: the period's
/// result against the budget's, what came at a merger in the period, the forecast for the year.
fn story(i: &Interim) -> Vec<String> {
    let mut out = Vec::new();
    let booked = i.period.result.result.amount;
    let mut first = format!(
        "Periodens resultat är {} kr med årets medlemsbidrag fördelade per månad (bokfört {} kr)",
        i.result.human_number(),
        booked.human_number()
    );
    if let Some(f) = &i.forecast {
        first.push_str(&format!(", mot {} kr enligt budgeten för perioden", f.budget_result_to_date.human_number()));
    }
    if let Some(p) = &i.previous {
        first.push_str(&format!("; samma period {} {} kr", i.year - 1, p.result.result.amount.human_number()));
    }
    out.push(format!("{first}."));
    for c in i.period.capital.iter().filter(|c| c.kind == finsam_projections::annual::CapitalKind::Received) {
        out.push(format!(
            "{}: {} ({}), eget kapital {} kr, varav likvida medel {} kr.",
            c.date,
            c.text,
            c.voucher,
            c.equity.human_number(),
            c.cash.human_number()
        ));
    }
    match &i.forecast {
        Some(f) if i.months < 12 => out.push(format!(
            "Helårsprognosen: intäkter {} kr, kostnader {} kr och resultat {} kr mot budgeterat {} kr; eget kapital vid årets slut {} kr.",
            f.income.human_number(),
            f.costs.human_number(),
            f.result.human_number(),
            f.budget_result.human_number(),
            f.equity.human_number()
        )),
        Some(_) => {}
        None => out.push(format!("Ingen budget för {} är i kraft: ingen helårsprognos.", i.year)),
    }
    out
}

fn method(i: &Interim) -> String {
    match &i.forecast {
        None => "Ingen budget i kraft: ingen helårsprognos.".into(),
        Some(_) if i.months == 12 => "Året är slut: prognosen är utfallet.".into(),
        Some(f) => {
            let methods: Vec<&str> = f.methods.iter().map(|k| k.swedish()).collect();
            format!("Prognosen per budgetrad och för intäkterna efter: {}.", methods.join("; "))
        }
    }
}

pub fn render(i: &Interim, head: &finsam_store::Head, format: Format) -> String {
    let (rr, br) = rows(i);
    let month = pages::MONTH_NAMES[(i.months - 1) as usize];
    let previous_year = (i.year - 1).to_string();
    match format {
        Format::Csv => {
            let mut out = reports::csv_line(&["statement", "key", "label", "amount", "previous"].map(String::from));
            for (statement, list) in [("resultatrakning", &rr), ("balansrakning", &br)] {
                for (key, label, now, was) in list.iter() {
                    out.push_str(&reports::csv_line(&[
                        statement.to_string(),
                        key.to_string(),
                        label.to_string(),
                        now.canonical(),
                        was.map_or(String::new(), Amount::canonical),
                    ]));
                }
            }
            for (key, label, amount) in forecast_rows(i) {
                out.push_str(&reports::csv_line(&[
                    "helarsprognos".into(),
                    key.into(),
                    label.into(),
                    amount.canonical(),
                    String::new(),
                ]));
            }
            out
        }
        Format::Json => {
            let row = |r: &Row| json!({"key": r.0, "label": r.1, "amount": r.2.canonical(), "previous": r.3.map(Amount::canonical)});
            let body = json!({
                "forbund": i.forbund.as_str(), "name": i.name, "year": i.year, "through": i.through.to_string(),
                "months": i.months, "known_at": i.known_at, "head": head.seq,
                "resultatrakning": rr.iter().map(row).collect::<Vec<_>>(),
                "balansrakning": br.iter().map(row).collect::<Vec<_>>(),
                "medlemsbidrag": {"decided": i.contributions.decided.canonical(), "earned": i.contributions.earned.canonical(),
                    "unearned": i.contributions.unearned.canonical()},
                "forvaltningsberattelse": {
                    "generated": story(i),
                    "text": i.text.as_ref().map(|t| json!({"paragraphs": t.paragraphs, "seq": t.seq, "date": t.date.to_string()})),
                },
                "helarsprognos": forecast_rows(i).iter().map(|(k, l, a)| json!({"key": k, "label": l, "amount": a.canonical()})).collect::<Vec<_>>(),
                "prognosmetod": method(i),
            });
            format!("{}\n", serde_json::to_string_pretty(&body).expect("serialises"))
        }
        Format::Table => {
            let mut out = format!(
                "Delårsrapport {} för {}\n1 januari – {} {month} {} ({} månader)\n",
                i.year,
                i.name,
                chrono::Datelike::day(&i.through),
                i.year,
                i.months
            );
            out.push_str("\nFörvaltningsberättelse för perioden\n");
            for sentence in story(i) {
                out.push_str(&format!("  – {sentence}\n"));
            }
            for p in i.text.iter().flat_map(|t| &t.paragraphs) {
                out.push_str(&format!("  {p}\n"));
            }
            let this = format!("t.o.m. {month} {}", i.year);
            let before = format!("samma period {previous_year}");
            for (title, list) in [("Resultaträkning för perioden", &rr), ("Balansräkning vid periodens slut", &br)] {
                out.push_str(&format!("\n{title} (kr)\n"));
                let mut t = Table::new(&[("", Align::Left), (&this, Align::Right), (&before, Align::Right)]);
                t.name_sheet(title);
                for (_, label, now, was) in list.iter() {
                    t.row(vec![label.to_string(), now.human_number(), was.map_or("–".into(), |w| w.human_number())]);
                }
                out.push_str(&t.render());
            }
            out.push_str(&format!("\nHelårsprognos {} (kr)\n", i.year));
            let mut t = Table::new(&[("", Align::Left), ("prognos", Align::Right)]);
            t.name_sheet("Helårsprognos");
            for (_, label, amount) in forecast_rows(i) {
                t.row(vec![label.to_string(), amount.human_number()]);
            }
            out.push_str(&t.render());
            out.push_str(&format!("{}\n", method(i)));
            out
        }
        Format::Html => {
            let footer = pages::footer_text(&i.name, None, &format!("delårsrapport {} t.o.m. {month}", i.year), head);
            let body = html! {
                header {
                    h1 { "Delårsrapport " (i.year) }
                    p.meta { (i.name) ". 1 januari – " (chrono::Datelike::day(&i.through)) " " (month) " " (i.year) " (" (i.months) " månader)." }
                    p.note { "Årets medlemsbidrag är fördelade per månad: det som ännu inte är intjänat redovisas som förutbetalda intäkter." }
                }
                section #forvaltningsberattelse {
                    h2 { "Förvaltningsberättelse för perioden" }
                    ul { @for sentence in story(i) { li { (sentence) } } }
                    @if let Some(t) = &i.text { (crate::annual_parts::paragraphs_html(&t.paragraphs)) }
                }
                @for (title, list) in [("Resultaträkning för perioden", &rr), ("Balansräkning vid periodens slut", &br)] {
                    section {
                        h2 { (title) }
                        table {
                            caption { (title) " (kr)" }
                            thead { tr { th { "" } th.n { "t.o.m. " (month) " " (i.year) } th.n { "samma period " (previous_year) } } }
                            tbody {
                                @for (_, label, now, was) in list.iter() {
                                    tr { td { (label) } (money_cell(*now)) @match was { Some(w) => (money_cell(*w)), None => td.n { "–" } } }
                                }
                            }
                        }
                    }
                }
                section {
                    h2 { "Helårsprognos" }
                    table {
                        caption { "Helårsprognos " (i.year) " (kr)" }
                        tbody { @for (_, label, amount) in forecast_rows(i) { tr { td { (label) } (money_cell(amount)) } } }
                    }
                    p.note { (method(i)) }
                }
            };
            pages::document(&format!("Delårsrapport {} – {}", i.year, i.name), &footer, body).into_string()
        }
    }
}

/// `finsam report interim`: the förbund's delårsrapport of `year` through month `through`.
pub fn interim_out(
    store: &Path,
    books: Books<'_>,
    forbund: &str,
    asked: &crate::annual::PeriodAsked,
    format: Format,
) -> Result<String, Failure> {
    let ((year, through), known_at, profile) = (asked.checked("the delårsrapport")?, asked.known_at, &asked.profile);
    let axes = reports::Axes { as_of: None, known_at };
    let (f, at) = reports::forbund_at(store, books, forbund, &axes)?;
    let Some(i) = books.projection.interim(&f, year, through.1, at.known_at, profile) else {
        return Err(Failure::usage(format!("no förbund {f}")));
    };
    let head = reports::head_at(store, books, at.known_at)?;
    Ok(render(&i, &head, format))
}
