//! The pages people read and print: one self-contained HTML document per report (inline CSS and
//! SVG charts, nothing fetched), in Swedish. The annual report, the board's follow-up and the
//! member statement share the shell, the style and the printed footer here; the figures come
//! from the projections, computed once.

use crate::charts;
use crate::reports;
use finsam_domain::Amount;
use finsam_projections::members::Contributions;
use finsam_projections::period::{ForecastKind, Period};
use maud::{html, Markup};

/// The months as the pages and tables name them.
pub const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"];

pub const MONTH_NAMES: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

/// A recording time (RFC 3339, UTC, as the log keeps it) as a Swedish reader reads it: local
/// time in Sweden to the minute, "2026-12-06 18:48". Programs keep UTC; text that is not a time
/// is shown as it is.
pub fn local_time(utc: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(utc) {
        Ok(t) => t.with_timezone(&chrono_tz::Europe::Stockholm).format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => utc.to_string(),
    }
}

pub const CSS: &str = "
body { font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; color: #1a1a1a; max-width: 60rem; margin: 2rem auto; padding: 0 1rem 4rem; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { font-size: 1.25rem; border-bottom: 2px solid #1f4e79; padding-bottom: 0.2rem; margin-top: 2rem; }
.meta { color: #444; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; font-size: 0.92rem; }
th, td { padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; } th { border-bottom: 1px solid #777; }
td.n, th.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.sum td { font-weight: bold; border-top: 1px solid #999; } tr.head td { font-weight: bold; padding-top: 0.6rem; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.2rem; }
figure { margin: 1rem 0; } figcaption { font-weight: bold; margin-bottom: 0.3rem; }
svg.chart { max-width: 100%; height: auto; font-size: 11px; }
svg .a { fill: #9dc3e6; } svg .b { fill: #1f4e79; } svg .v { fill: #333; font-size: 10px; }
svg .line { fill: none; stroke: #1f4e79; stroke-width: 2; } svg .axis { stroke: #999; }
.chart-and-table { display: block; } .chart-and-table figure { max-width: 42rem; }
.note { color: #444; font-size: 0.9rem; }
tr.late td { color: #8a1c1c; }
.signatures { display: grid; grid-template-columns: 1fr 1fr; gap: 2.5rem 3rem; margin-top: 2rem; }
.signature .line { border-bottom: 1px solid #333; height: 2.5rem; } .signature p { margin: 0.2rem 0 0; }
footer { margin-top: 3rem; font-size: 0.8rem; color: #555; border-top: 1px solid #ccc; padding-top: 0.3rem; }
@media print {
  @page { size: A4; margin: 16mm 14mm 20mm 14mm; }
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  section { break-before: page; } section:first-of-type { break-before: auto; }
  table, figure { break-inside: avoid; }
  footer { display: none; }
}
";

/// The footer of every printed page (the page's own footer is for the screen): which förbund,
/// which year, which log, which finsam; and the page number.
pub fn print_footer(text: &str) -> String {
    // A CSS string inside <style>: quotes and backslashes escaped, and '<' too, so that no
    // name can close the style element.
    let quoted: String = text
        .chars()
        .map(|c| match c {
            '"' | '\\' => format!("\\{c}"),
            '<' => "\\3C ".to_string(),
            c if c.is_control() => " ".to_string(),
            c => c.to_string(),
        })
        .collect();
    // Two lines: who, what and which page; then which log and which finsam.
    let (first, second) = quoted.split_once(" · loggens huvud ").unwrap_or((quoted.as_str(), ""));
    format!(
        "@media print {{ @page {{ @bottom-left {{ content: \"{first} · sida \" counter(page) \" av \" counter(pages) \"\\A loggens huvud {second}\"; white-space: pre; font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; font-size: 7pt; color: #555; width: 100%; }} }} }}"
    )
}

pub fn money_cell(a: Amount) -> Markup {
    html! { td.n { (a.human_number()) } }
}

/// What the footer of every printed page says: which förbund, which report, which log (its head
/// as `SEQ:HASH`), which finsam.
pub fn footer_text(name: &str, org_nr: Option<&str>, what: &str, head: &finsam_store::Head) -> String {
    format!(
        "{name} · org.nr {} · {what} · loggens huvud {}:{} · finsam {}",
        org_nr.unwrap_or("–"),
        head.seq,
        head.hash,
        env!("CARGO_PKG_VERSION")
    )
}

/// One self-contained page: the shell, the style (screen and A4 print), the body and the footer.
pub fn document(title: &str, footer: &str, body: Markup) -> Markup {
    shell(title, &print_footer(footer), html! { main { (body) } footer { (footer) } })
}

/// A page in Swedish with the reports' style and `style` after it (inline: nothing fetched).
pub fn shell(title: &str, style: &str, body: Markup) -> Markup {
    html! {
        (maud::DOCTYPE)
        html lang="sv" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (maud::PreEscaped(CSS)) (maud::PreEscaped(style)) }
            }
            body { (body) }
        }
    }
}

/// The budget against an outcome month by month: the bars, and a table of the same numbers with
/// the running totals. `rows`: (month, budget, outcome).
pub fn by_month(id: &str, title: &str, outcome: &str, rows: &[(String, Amount, Amount)]) -> Markup {
    html! {
        div.chart-and-table {
            figure {
                figcaption { (title) }
                (charts::paired_bars(id, title, ("budget", outcome), rows))
            }
            table {
                caption { (title) " (kr)" }
                thead { tr { th { "månad" } th.n { "budget" } th.n { (outcome) } th.n { "budget hittills" } th.n { (outcome) " hittills" } } }
                tbody {
                    @for (i, (label, b, u)) in rows.iter().enumerate() {
                        @let b_sum: Amount = rows[..=i].iter().map(|x| x.1).sum();
                        @let u_sum: Amount = rows[..=i].iter().map(|x| x.2).sum();
                        tr { td { (label) } (money_cell(*b)) (money_cell(*u)) (money_cell(b_sum)) (money_cell(u_sum)) }
                    }
                }
            }
        }
    }
}

/// A forecast with its kind marked by a letter (see `ForecastKind::mark`), the method in its
/// title.
fn forecast_cell(x: &finsam_projections::period::FollowUp) -> Markup {
    let mark = x.forecast_kind.mark();
    html! { td.n title=(x.forecast_kind.swedish()) { (x.forecast.human_number()) @if !mark.is_empty() { " " (mark) } } }
}

/// The legend of the forecast's marks, in a sentence.
pub fn forecast_legend() -> String {
    let marks: Vec<String> = ForecastKind::MARKED.iter().map(|k| format!("{} = {}", k.mark(), k.swedish())).collect();
    format!("Prognos helår: {}; utan bokstav: {}.", marks.join(", "), ForecastKind::Budget.swedish())
}

/// The board's follow-up as a page.
pub fn period_page(
    p: &Period,
    contributions: &str,
    name: &str,
    org_nr: Option<&str>,
    head: &finsam_store::Head,
) -> Markup {
    let month = MONTH_NAMES[p.months as usize - 1];
    let what = format!("ekonomisk uppföljning {} januari–{month}", p.year);
    let footer = footer_text(name, org_nr, &what, head);
    let by_category: Vec<_> = p
        .by_category
        .iter()
        .filter(|(_, x)| !x.budget_year.is_zero() || !x.utfall_to_date.is_zero())
        .map(|(c, x)| (reports::category_title(*c).to_string(), x))
        .collect();
    let bars: Vec<(String, Amount, Amount)> =
        by_category.iter().map(|(c, x)| (c.clone(), x.budget_to_date, x.utfall_to_date)).collect();
    let months: Vec<(String, Amount, Amount)> =
        p.per_month.iter().map(|m| (MONTHS[m.month as usize - 1].to_string(), m.budget, m.utfall)).collect();
    let spread = if p.profile.is_even() {
        "jämnt över årets tolv månader".to_string()
    } else {
        let weights: Vec<String> =
            p.profile.weights().iter().map(|w| w.normalize().to_string().replace('.', ",")).collect();
        format!("efter profilen {} (januari–december)", weights.join(" : "))
    };
    let recorded: Vec<_> = p.lines.iter().filter_map(|l| l.recorded.as_ref().map(|r| (l, r))).collect();
    let row = |label: Markup, x: &finsam_projections::period::FollowUp, class: &str| {
        html! {
            tr class=(class) {
                (label)
                (money_cell(x.budget_year)) (money_cell(x.budget_to_date)) (money_cell(x.utfall_to_date))
                (money_cell(x.deviation())) (forecast_cell(x))
            }
        }
    };
    let figures_head = html! {
        th.n { "budget helår" } th.n { "budget hittills" } th.n { "utfall hittills" } th.n { "avvikelse" } th.n { "prognos helår" }
    };
    let body = html! {
        header {
            h1 { "Ekonomisk uppföljning " (p.year) }
            p.meta { (name) ", januari–" (month) " " (p.year) " (" (p.months) " av 12 månader, till och med " (p.through) ")." }
            p.note { "Utfallet hittills mot " (reports::measured_against(p.budget_status, p.budget_seq, &format!("den {}", p.through))) ", fördelad "
                (spread) ". Ur händelseloggen till och med händelse nr " (p.at.known_at) ". Alla belopp i kronor; avvikelse = budget hittills − utfall hittills." }
            @if !contributions.is_empty() { p.note { (contributions) } }
        }
        section {
            h2 { "Per kategori" }
            div.chart-and-table {
                figure {
                    figcaption { "Budget och utfall hittills per kategori" }
                    (charts::paired_bars("uppfoljning-kategori", "Budget och utfall hittills per kategori", ("budget hittills", "utfall hittills"), &bars))
                }
                table {
                    caption { "Per kategori (kr)" }
                    thead { tr { th { "kategori" } (figures_head) } }
                    tbody {
                        @for (c, x) in &by_category { (row(html! { td { (c) } }, x, "item")) }
                        @if !p.unbudgeted.utfall_to_date.is_zero() { (row(html! { td { "Kostnader utanför budgeten" } }, &p.unbudgeted, "item")) }
                        (row(html! { td { "Summa kostnader" } }, &p.total, "sum"))
                    }
                }
            }
            p.note { (forecast_legend()) }
        }
        section {
            h2 { "Intäkter, resultat och eget kapital" }
            table {
                caption { "Intäkter, resultat och eget kapital (kr)" }
                thead { tr { th { "" } (figures_head) } }
                tbody {
                    @for (label, x) in crate::annual::bottom_lines(p) {
                        tr.item {
                            td { (label) }
                            (money_cell(x.budget_year)) (money_cell(x.budget_to_date)) (money_cell(x.utfall_to_date))
                            (money_cell(x.surplus())) (forecast_cell(x))
                        }
                    }
                }
            }
            p.note { "Här är avvikelse = utfall hittills − budget hittills: positivt är bättre än budget. Intäkterna hittills med årets medlemsbidrag fördelade per månad. Eget kapital vid årets början "
                (p.equity_before.human_number()) " kr." }
        }
        section {
            h2 { "Per rad och insats" }
            table {
                caption { "Per budgetrad (kr)" }
                thead { tr { th { "rad" } (figures_head) } }
                tbody {
                    @for l in &p.lines {
                        (row(html! { td { (l.name) } }, &l.figures, "item"))
                    }
                    @if !p.unbudgeted.utfall_to_date.is_zero() { (row(html! { td { "Kostnader utanför budgeten" } }, &p.unbudgeted, "item")) }
                    (row(html! { td { "Summa kostnader" } }, &p.total, "sum"))
                }
            }
            @if !recorded.is_empty() {
                table {
                    caption { "Registrerade prognoser" }
                    thead { tr { th { "rad" } th.n { "prognos helår" } th { "datum" } th.n { "seq" } th { "motivering" } } }
                    tbody {
                        @for (l, r) in &recorded {
                            tr { td { (l.name) } (money_cell(l.figures.forecast)) td { (r.date) } td.n { (r.seq) } td { (r.text) } }
                        }
                    }
                }
            }
        }
        section {
            h2 { "Per månad" }
            (by_month("uppfoljning-manad", &format!("Budget och utfall per månad {}", p.year), "utfall", &months))
        }
    };
    document(&format!("Ekonomisk uppföljning {} januari–{month} – {name}", p.year), &footer, body)
}

/// The member statement as a page.
pub fn members_page(c: &Contributions, name: &str, org_nr: Option<&str>, head: &finsam_store::Head) -> Markup {
    let footer = footer_text(name, org_nr, &format!("medlemsbidrag {}", c.year), head);
    let bars: Vec<(String, Amount, Amount)> = c.members.iter().map(|m| (m.name.clone(), m.decided, m.paid)).collect();
    let total =
        |pick: fn(&finsam_projections::members::MemberRow) -> Amount| c.members.iter().map(pick).sum::<Amount>();
    // People read the members' names; the ids stay in JSON and CSV.
    let name_of = |id: &finsam_domain::Slug| -> String {
        c.members.iter().find(|m| &m.member == id).map_or_else(|| id.to_string(), |m| m.name.clone())
    };
    let body = html! {
        header {
            h1 { "Medlemsbidrag " (c.year) }
            p.meta { (name) ", per " (c.at.as_of) "." }
            p.note { "Beslutat är förbundets fordran på medlemmen för året (det som faktureras), betalt det som kommit in, "
                "kvar att betala skillnaden. Ur händelseloggen till och med händelse nr " (c.at.known_at) ". Alla belopp i kronor." }
        }
        section {
            h2 { "Per medlem" }
            div.chart-and-table {
                figure {
                    figcaption { "Beslutat och betalt per medlem " (c.year) }
                    (charts::paired_bars("medlemsbidrag", &format!("Beslutat och betalt per medlem {}", c.year), ("beslutat", "betalt"), &bars))
                }
                table {
                    caption { "Medlemsbidrag " (c.year) " (kr)" }
                    thead { tr { th { "medlem" } th.n { "andel" } th.n { "beslutat" } th.n { "betalt" } th.n { "kvar att betala" } th { "betalt av" } } }
                    tbody {
                        @for m in &c.members {
                            tr { td { (m.name) } td.n { (reports::pct(Some(m.share))) } (money_cell(m.decided)) (money_cell(m.paid))
                                @match m.outstanding() { Some(a) => (money_cell(a)), None => td.n { "–" } }
                                td { (m.paid_by.as_ref().map_or(String::new(), name_of)) } }
                        }
                        tr.sum { td { "Summa" } td.n { "" } (money_cell(total(|m| m.decided))) (money_cell(total(|m| m.paid)))
                            @match c.members.iter().any(|m| m.decided_any).then(|| c.members.iter().filter_map(|m| m.outstanding()).sum::<Amount>()) {
                                Some(a) => (money_cell(a)), None => td.n { "–" }
                            }
                            td { "" } }
                    }
                }
            }
        }
        @if c.inside_year() {
            section {
                h2 { "Förfallet och ej förfallet" }
                table {
                    caption { "Enligt faktureringsplanerna, per " (c.at.as_of) " (kr)" }
                    thead { tr { th { "medlem" } th.n { "förfallet, obetalt" } th.n { "ej förfallet" } } }
                    tbody {
                        @for m in &c.members {
                            tr { td { (m.name) }
                                @match m.overdue() { Some(a) => (money_cell(a)), None => td.n { "–" } }
                                (money_cell(m.not_yet_due)) }
                        }
                        tr.sum { td { "Summa" } (money_cell(c.members.iter().filter_map(|m| m.overdue()).sum()))
                            (money_cell(total(|m| m.not_yet_due))) }
                    }
                }
            }
        }
        section {
            h2 { "Netto per medlem" }
            table {
                caption { "Inbetalt och förbundets kostnader för insatser som medlemmen driver " (c.year) " (kr)" }
                thead { tr { th { "medlem" } th.n { "betalt" } th { "insatser medlemmen driver" } th.n { "förbundets kostnader för dem" } th.n { "netto" } } }
                tbody {
                    @for m in &c.members {
                        tr { td { (m.name) } (money_cell(m.paid))
                            td { @if m.runs.is_empty() { "–" } @else { (m.runs.iter().map(|(_, n, _)| n.as_str()).collect::<Vec<_>>().join(", ")) } }
                            (money_cell(m.received())) (money_cell(m.net())) }
                    }
                }
            }
            p.note { "Netto = betalt − förbundets kostnader för de insatser medlemmen driver (insatsens ägare enligt beslutet om insatsen)." }
        }
        @if !c.payers.is_empty() {
            section {
                h2 { "Per betalare" }
                table {
                    caption { "Per betalare (kr)" }
                    thead { tr { th { "betalare" } th { "för" } th.n { "beslutat" } th.n { "betalt" } th.n { "kvar att betala" } } }
                    tbody {
                        @for p in &c.payers {
                            tr { td { (name_of(&p.payer)) } td { (p.members.iter().map(name_of).collect::<Vec<_>>().join(", ")) }
                                (money_cell(p.owed)) (money_cell(p.paid)) (money_cell(p.owed - p.paid)) }
                        }
                    }
                }
            }
        }
    };
    document(&format!("Medlemsbidrag {} – {name}", c.year), &footer, body)
}
