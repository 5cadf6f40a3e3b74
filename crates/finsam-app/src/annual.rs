//! `finsam report annual`: the statements of a förbund's annual report, rendered for people
//! (a table in Swedish), for programs (JSON, CSV with stable keys). The figures come from
//! `Projection::annual` (pure); this module only lays them out, for the CLI and the service.

use crate::annual_parts::NoteKind;
use crate::pages::{self, money_cell, MONTHS};
use crate::reports::{self, Books};
use crate::table::{Align, Table};
use crate::{charts, Format};
use finsam_domain::Amount;
use finsam_projections::annual::{Annual, CapitalKind, CeilingRule, Comparison, Figure, Operations, Statements};
use finsam_projections::chart::Chart;
use maud::{html, Markup};
use serde_json::{json, Value};
use std::path::Path;

/// How a line of a statement is printed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Heading,
    Item,
    /// An item a person sees only in a year where it is not zero (programs always get it).
    Rare,
    Sum,
}

/// One line of a statement: a stable key for programs, the Swedish label for people.
struct Line {
    key: &'static str,
    label: &'static str,
    kind: Kind,
    figure: Option<fn(&Statements) -> &Figure>,
}

const fn heading(key: &'static str, label: &'static str) -> Line {
    Line { key, label, kind: Kind::Heading, figure: None }
}

const fn item(key: &'static str, label: &'static str, figure: fn(&Statements) -> &Figure) -> Line {
    Line { key, label, kind: Kind::Item, figure: Some(figure) }
}

const fn rare(key: &'static str, label: &'static str, figure: fn(&Statements) -> &Figure) -> Line {
    Line { key, label, kind: Kind::Rare, figure: Some(figure) }
}

/// Whether a person sees the line: a rare one only when one of the columns has it.
fn shown(l: &Line, a: &Annual) -> bool {
    match (l.kind, l.figure) {
        (Kind::Rare, Some(get)) => {
            !get(&a.current).amount.is_zero() || a.previous.as_ref().is_some_and(|(_, p)| !get(p).amount.is_zero())
        }
        _ => true,
    }
}

const fn sum(key: &'static str, label: &'static str, figure: fn(&Statements) -> &Figure) -> Line {
    Line { key, label, kind: Kind::Sum, figure: Some(figure) }
}

/// The statements, in the order an LKBR annual report prints them.
const STATEMENTS: &[(&str, &str, &[Line])] = &[
    (
        "resultatrakning",
        "Resultaträkning",
        &[
            heading("intakter", "Verksamhetens intäkter"),
            item("medlemsbidrag_staten", "Medlemsbidrag från staten", |s| &s.result.income.staten),
            item("medlemsbidrag_region", "Medlemsbidrag från regionen", |s| &s.result.income.region),
            item("medlemsbidrag_kommuner", "Medlemsbidrag från kommunerna", |s| &s.result.income.kommuner),
            item("ovriga_intakter", "Övriga intäkter", |s| &s.result.income.other),
            sum("summa_intakter", "Summa verksamhetens intäkter", |s| &s.result.income.total),
            heading("kostnader", "Verksamhetens kostnader"),
            item("personalkostnader", "Personalkostnader", |s| &s.result.costs.personnel),
            item("kopta_tjanster", "Köpta tjänster", |s| &s.result.costs.purchased),
            item("lamnade_bidrag", "Lämnade bidrag till insatser", |s| &s.result.costs.grants),
            item("ovriga_kostnader", "Övriga kostnader", |s| &s.result.costs.other),
            sum("summa_kostnader", "Summa verksamhetens kostnader", |s| &s.result.costs.total),
            sum("verksamhetens_resultat", "Verksamhetens resultat", |s| &s.result.operating),
            item("finansiella_intakter", "Finansiella intäkter", |s| &s.result.financial_income),
            item("finansiella_kostnader", "Finansiella kostnader", |s| &s.result.financial_costs),
            sum("finansiella_poster", "Summa finansiella poster", |s| &s.result.financial),
            sum("arets_resultat", "Årets resultat", |s| &s.result.result),
        ],
    ),
    (
        "balansrakning",
        "Balansräkning",
        &[
            heading("tillgangar", "Tillgångar"),
            item("fordringar", "Kortfristiga fordringar", |s| &s.balance.receivables),
            item("forutbetalda_kostnader", "Förutbetalda kostnader och upplupna intäkter", |s| {
                &s.balance.accrued_assets
            }),
            item("kassa_och_bank", "Kassa och bank", |s| &s.balance.bank),
            sum("summa_tillgangar", "Summa tillgångar", |s| &s.balance.assets),
            heading("eget_kapital_och_skulder", "Eget kapital och skulder"),
            item("ingaende_eget_kapital", "Eget kapital vid årets början", |s| &s.balance.equity.opening),
            rare("bokforingen_borjade", "Ingående eget kapital när bokföringen började under året", |s| {
                &s.balance.equity.opened
            }),
            item("mottaget_eget_kapital", "Eget kapital mottaget vid sammanläggning", |s| &s.balance.equity.received),
            item("ovriga_forandringar", "Eget kapital överlämnat vid sammanläggning", |s| &s.balance.equity.other),
            item("arets_resultat", "Årets resultat", |s| &s.balance.equity.result),
            sum("eget_kapital", "Summa eget kapital", |s| &s.balance.equity.closing),
            item("kortfristiga_skulder", "Kortfristiga skulder", |s| &s.balance.payables),
            item("upplupna_kostnader", "Upplupna kostnader och förutbetalda intäkter", |s| {
                &s.balance.accrued_liabilities
            }),
            rare(
                "personalskulder",
                "Skulder avseende personal (källskatt, arbetsgivaravgifter, pension, semesterlöneskuld)",
                |s| &s.balance.payroll_liabilities,
            ),
            sum("summa_skulder", "Summa skulder", |s| &s.balance.liabilities),
            sum("summa_eget_kapital_och_skulder", "Summa eget kapital och skulder", |s| {
                &s.balance.equity_and_liabilities
            }),
        ],
    ),
    (
        "kassaflodesanalys",
        "Kassaflödesanalys",
        &[
            heading("den_lopande_verksamheten", "Den löpande verksamheten"),
            item("arets_resultat", "Årets resultat", |s| &s.cash_flow.result),
            item("forandring_fordringar", "Minskning (+) / ökning (−) av fordringar", |s| {
                &s.cash_flow.change_receivables
            }),
            item("forandring_skulder", "Ökning (+) / minskning (−) av kortfristiga skulder", |s| {
                &s.cash_flow.change_liabilities
            }),
            rare("overtagna_intakter_och_kostnader", "Intäkter och kostnader övertagna vid sammanläggning", |s| {
                &s.cash_flow.taken_over_result
            }),
            sum("kassaflode_verksamheten", "Kassaflöde från den löpande verksamheten", |s| &s.cash_flow.operating),
            heading("finansieringsverksamheten", "Finansieringsverksamheten"),
            item(
                "likvida_medel_vid_sammanlaggning",
                "Likvida medel mottagna (+) / överlämnade (−) vid sammanläggning",
                |s| &s.cash_flow.merger_cash,
            ),
            rare(
                "likvida_medel_nar_bokforingen_borjade",
                "Likvida medel när bokföringen började under året",
                |s| &s.cash_flow.opened_cash,
            ),
            sum("kassaflode_finansiering", "Kassaflöde från finansieringsverksamheten", |s| &s.cash_flow.financing),
            sum("arets_kassaflode", "Årets kassaflöde", |s| &s.cash_flow.change),
            item("likvida_medel_vid_arets_borjan", "Likvida medel vid årets början", |s| &s.cash_flow.bank_opening),
            sum("likvida_medel_vid_arets_slut", "Likvida medel vid årets slut", |s| &s.cash_flow.bank_closing),
        ],
    ),
];

/// `finsam report annual`: the annual report's statements of a förbund's year.
pub fn annual_out(
    store: &Path,
    books: Books<'_>,
    forbund: &str,
    year: i32,
    known_at: Option<reports::KnownAt>,
    ceiling: &Ceiling,
    format: Format,
) -> Result<String, crate::output::Failure> {
    reports::check_year(year)?;
    let axes = reports::Axes { as_of: chrono::NaiveDate::from_ymd_opt(year, 12, 31), known_at };
    let (f, at) = reports::forbund_at(store, books, forbund, &axes)?;
    let chart = reports::chart_for(store, &f)?;
    let rule = ceiling_rule(store, &f, ceiling)?;
    let annual = books.projection.annual(&f, year, at.known_at, &rule).expect("checked that the förbund exists");
    let head = reports::head_at(store, books, at.known_at)?;
    Ok(render(&annual, &chart, &head, format))
}

/// Which ceiling on equity the annual report measures against.
#[derive(Clone, Debug, Default)]
pub struct Ceiling {
    /// One share for every size (`--equity-ceiling`).
    pub flat: Option<rust_decimal::Decimal>,
    /// A rule file (`--equity-ceiling-rule`); else the förbund's own in the store
    /// (`ceilings/<forbund>.json`), else the built-in one.
    pub rule_file: Option<std::path::PathBuf>,
}

/// One share for every size, given when the report is run (`--equity-ceiling`).
pub fn flat_ceiling(share: rust_decimal::Decimal) -> CeilingRule {
    CeilingRule::flat(share, format!("angivet vid körningen (--equity-ceiling): {}", reports::pct(Some(share))))
}

/// The ceiling rule for a förbund, as asked.
pub fn ceiling_rule(
    store: &Path,
    f: &finsam_domain::Slug,
    asked: &Ceiling,
) -> Result<CeilingRule, crate::output::Failure> {
    use crate::output::Failure;
    if let Some(share) = asked.flat {
        return Ok(flat_ceiling(share));
    }
    match finsam_store::files::ceiling_rule_text(store, f.as_str(), asked.rule_file.as_deref()) {
        Ok(None) => Ok(CeilingRule::default_rule()),
        Ok(Some((path, text))) => {
            CeilingRule::parse(&text).map_err(|e| Failure::usage(format!("the ceiling rule {}: {e}", path.display())))
        }
        Err(e) => Err(Failure::usage(format!("the ceiling rule: {e}"))),
    }
}

fn comparison_label(c: &Comparison, a: &Annual) -> String {
    match c {
        Comparison::Own => "föregående år".into(),
        Comparison::Predecessors(list) => format!(
            "föregående år: de sammanlagda förbundens siffror tillsammans ({})",
            list.iter().map(|s| name_of(a, s)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The name a person reads for an id of the report (a förbund, an insats).
fn name_of(a: &Annual, id: &finsam_domain::Slug) -> String {
    a.names.get(id).cloned().unwrap_or_else(|| id.to_string())
}

fn operations_json(o: &Operations) -> Value {
    let shares = |s: &finsam_projections::reports::Shares| {
        json!({
            "administration_av_kostnader": reports::share_json(s.admin_of_costs),
            "individ_av_direkta": reports::share_json(s.individ_of_direct),
            "struktur_av_direkta": reports::share_json(s.struktur_of_direct),
        })
    };
    json!({
        "budget_seq": o.budget_seq,
        "budget_status": o.budget_status.as_str(),
        "per_rad": o.lines.iter().map(|l| json!({
            "line": l.id.as_str(), "name": l.name, "category": l.category.as_str(),
            "insats": l.insats.as_ref().map(|i| i.as_str()),
            "budget": l.budget.canonical(), "utfall": l.spent.canonical(), "avvikelse": (l.budget - l.spent).canonical(),
        })).collect::<Vec<_>>(),
        "per_kategori": o.by_category.iter().map(|c| json!({
            "category": c.category.as_str(),
            "budget": c.budget.canonical(), "utfall": c.spent.canonical(), "avvikelse": (c.budget - c.spent).canonical(),
        })).collect::<Vec<_>>(),
        "ej_budgeterat": o.unbudgeted.canonical(),
        "summa": {"budget": o.budget_total.canonical(), "utfall": o.utfall_total.canonical(),
            "avvikelse": (o.budget_total - o.utfall_total).canonical()},
        "andelar": {"budget": shares(&o.shares_budget), "utfall": shares(&o.shares_utfall)},
    })
}

/// What came or left through equity, both columns, for programs.
fn capital_json(a: &Annual) -> Vec<Value> {
    let columns = std::iter::once(&a.current).chain(a.previous.as_ref().map(|(_, p)| p));
    columns
        .flat_map(|s| {
            s.capital.iter().map(move |c| {
                let kind = match c.kind {
                    CapitalKind::BooksOpened => "books_opened",
                    CapitalKind::Received => "received",
                    CapitalKind::HandedOver => "handed_over",
                };
                json!({
                    "year": s.year, "forbund": c.forbund.as_str(), "name": c.name, "date": c.date.to_string(),
                    "kind": kind, "voucher": c.voucher, "text": c.text, "cash": c.cash.canonical(),
                    "other": c.other.canonical(), "equity": c.equity.canonical(),
                })
            })
        })
        .collect()
}

/// The note on personnel, row by row: (account, its name, amount), costs and then what is owed
/// at the year's end; empty when the year has neither.
type PersonnelRows = (Vec<(String, String, Amount)>, Vec<(String, String, Amount)>);

fn personnel_rows(a: &Annual, chart: &Chart) -> PersonnelRows {
    let rows = |list: &[(finsam_projections::chart::Role, Amount)]| {
        crate::annual_parts::per_account(chart, list.iter().copied())
    };
    (rows(&a.current.personnel.costs), rows(&a.current.personnel.owed))
}

const PERSONNEL_COSTS: &str = "Personalkostnader";
const PERSONNEL_OWED: &str = "Skulder avseende personal vid årets slut";

fn personnel_table(a: &Annual, chart: &Chart, title: &str) -> String {
    let (costs, owed) = personnel_rows(a, chart);
    if costs.is_empty() && owed.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{title} {} (kr)\n", a.current.year);
    for (title, rows) in [(PERSONNEL_COSTS, &costs), (PERSONNEL_OWED, &owed)] {
        if rows.is_empty() {
            continue;
        }
        let mut t = Table::new(&[("konto", Align::Left), (title, Align::Left), ("belopp", Align::Right)]);
        t.name_sheet(title);
        for (number, name, amount) in rows {
            t.row(vec![number.clone(), name.clone(), amount.human_number()]);
        }
        t.rule();
        let total: Amount = rows.iter().map(|(_, _, a)| *a).sum();
        t.row(vec![String::new(), "Summa".into(), total.human_number()]);
        out.push_str(&t.render());
    }
    out
}

fn personnel_html(a: &Annual, chart: &Chart, title: &str) -> Markup {
    let (costs, owed) = personnel_rows(a, chart);
    html! {
        @if !costs.is_empty() || !owed.is_empty() {
            h3 { (title) }
            @for (title, rows) in [(PERSONNEL_COSTS, &costs), (PERSONNEL_OWED, &owed)] {
                @if !rows.is_empty() {
                    table {
                        caption { (title) " " (a.current.year) " (kr)" }
                        thead { tr { th { "konto" } th { "" } th.n { "belopp" } } }
                        tbody {
                            @for (number, name, amount) in rows {
                                tr { td { (number) } td { (name) } (money_cell(*amount)) }
                            }
                            tr.sum { td {} td { "Summa" } (money_cell(rows.iter().map(|(_, _, a)| *a).sum())) }
                        }
                    }
                }
            }
        }
    }
}

fn notes_json(a: &Annual, chart: &Chart) -> Value {
    let c = &a.equity_ceiling;
    let (costs, owed) = personnel_rows(a, chart);
    let rows = |list: &[(String, String, Amount)]| {
        list.iter()
            .map(|(number, name, amount)| json!({"account": number, "name": name, "amount": amount.canonical()}))
            .collect::<Vec<_>>()
    };
    let accounts = |kind: NoteKind| rows(&crate::annual_parts::by_account(a, chart, kind));
    json!({
        "numbers": crate::annual_parts::notes(a).iter().map(|(n, k)| json!({"number": n, "key": k.key(), "title": k.title()})).collect::<Vec<_>>(),
        "fordringar": accounts(NoteKind::Receivables),
        "kortfristiga_skulder": accounts(NoteKind::Liabilities),
        "eget_kapital": crate::annual_parts::equity_rows(a).iter().map(|(label, now, before)| json!({
            "label": label, "amount": now.canonical(), "previous": before.map(Amount::canonical),
        })).collect::<Vec<_>>(),
        "personal": {"costs": rows(&costs), "owed": rows(&owed)},
        "medlemsbidrag": a.members.iter().map(|m| json!({
            "member": m.member.as_str(), "name": m.name, "kind": m.kind.as_str(),
            "share": format!("{:.4}", m.share), "amount": m.amount.canonical(),
            "actual_share": reports::share_json(m.actual_share),
        })).collect::<Vec<_>>(),
        "kapitalrorelser": capital_json(a),
        "ansvarsforbindelser": crate::annual_parts::contingent(a),
        "periodiseringar": a.accruals.iter().map(|e| json!({
            "date": e.date.to_string(), "voucher": e.voucher, "seq": e.seq, "text": e.text,
            "forutbetalda_kostnader_upplupna_intakter": e.asset.canonical(),
            "upplupna_kostnader_forutbetalda_intakter": e.liability.canonical(),
        })).collect::<Vec<_>>(),
        "eget_kapital_mot_taket": {
            "ceiling": format!("{:.4}", c.ceiling), "source": c.source, "contributions": c.contributions.canonical(),
            "limit": c.limit.canonical(), "equity": c.equity.canonical(), "within": c.within,
        },
    })
}

fn figure_json(f: &Figure, chart: &Chart) -> Value {
    json!({"amount": f.amount.canonical(), "accounts": f.accounts(chart)})
}

pub fn render(a: &Annual, chart: &Chart, head: &finsam_store::Head, format: Format) -> String {
    let previous = a.previous.as_ref().map(|(_, s)| s);
    let head_seq = head.seq;
    match format {
        Format::Html => html_page(a, chart, head).into_string(),
        Format::Json => {
            let mut statements = serde_json::Map::new();
            let notes = crate::annual_parts::notes(a);
            for (key, _, lines) in STATEMENTS {
                let rows: Vec<Value> = lines
                    .iter()
                    .filter_map(|l| l.figure.map(|get| (l, get)))
                    .map(|(l, get)| {
                        json!({
                            "key": l.key,
                            "label": l.label,
                            "sum": l.kind == Kind::Sum,
                            "note": crate::annual_parts::note_number(&notes, key, l.key),
                            "current": figure_json(get(&a.current), chart),
                            "previous": previous.map(|p| figure_json(get(p), chart)),
                        })
                    })
                    .collect();
                statements.insert(key.to_string(), Value::Array(rows));
            }
            let body = json!({
                "forbund": a.forbund.as_str(),
                "name": a.name,
                "org_nr": a.org_nr,
                "year": a.current.year,
                "known_at": a.known_at,
                "head": head_seq,
                "vouchers": a.current.vouchers,
                "figures_sha256": a.figures_sha256(),
                "previous": a.previous.as_ref().map(|(c, s)| json!({
                    "year": s.year,
                    "kind": match c { Comparison::Own => "own", Comparison::Predecessors(_) => "predecessors" },
                    "forbund": match c { Comparison::Own => vec![a.forbund.to_string()], Comparison::Predecessors(l) => l.iter().map(|s| s.to_string()).collect() },
                })),
                "statements": statements,
                "driftredovisning": a.operations.as_ref().map(operations_json),
                "noter": notes_json(a, chart),
            });
            let mut body = body;
            if let (Value::Object(into), Value::Object(more)) =
                (&mut body, crate::annual_parts::json(a, &crate::annual_parts::parts(a, chart)))
            {
                into.extend(more);
            }
            format!("{}\n", serde_json::to_string_pretty(&body).expect("serialises"))
        }
        Format::Csv => {
            let mut out = reports::csv_line(
                &["statement", "key", "label", "year", "amount", "previous_year", "previous_amount", "accounts"]
                    .map(String::from),
            );
            for (statement, _, lines) in STATEMENTS {
                for l in lines.iter() {
                    let Some(get) = l.figure else { continue };
                    let now = get(&a.current);
                    out.push_str(&reports::csv_line(&[
                        statement.to_string(),
                        l.key.to_string(),
                        l.label.to_string(),
                        a.current.year.to_string(),
                        now.amount.canonical(),
                        previous.map_or(String::new(), |p| p.year.to_string()),
                        previous.map_or(String::new(), |p| get(p).amount.canonical()),
                        now.accounts(chart).join(" "),
                    ]));
                }
            }
            out
        }
        Format::Table => {
            let org = a.org_nr.as_deref().map_or(String::new(), |o| format!(", org.nr {o}"));
            let mut out = format!(
                "Årsredovisning {} för {}{org}\nRäkenskapsåret {} – {}, ur händelseloggen t.o.m. händelse nr {} (av {head_seq})\n",
                a.current.year, a.name, a.current.from, a.current.to, a.known_at
            );
            if let Some((c, _)) = &a.previous {
                out.push_str(&format!("Jämförelsekolumnen: {}\n", comparison_label(c, a)));
            }
            let prev_year = previous.map_or("–".to_string(), |p| p.year.to_string());
            let parts = crate::annual_parts::parts(a, chart);
            out.push_str(&crate::annual_parts::text(a, &parts));
            for (_, title, lines) in STATEMENTS {
                out.push_str(&format!("\n{title} (kr)\n"));
                let now_year = a.current.year.to_string();
                let mut t = Table::new(&[("", Align::Left), (&now_year, Align::Right), (&prev_year, Align::Right)]);
                t.name_sheet(title);
                for l in lines.iter().filter(|l| shown(l, a)) {
                    match (l.kind, l.figure) {
                        (Kind::Heading, _) | (_, None) => {
                            t.row(vec![l.label.to_string(), String::new(), String::new()]);
                        }
                        (kind, Some(get)) => {
                            let label = if kind == Kind::Sum { l.label.to_string() } else { format!("  {}", l.label) };
                            let money = |s: &Statements| get(s).amount.human_number();
                            t.row(vec![label, money(&a.current), previous.map_or("–".into(), money)]);
                        }
                    }
                }
                out.push_str(&t.render());
            }
            out.push_str(&operations_table(a));
            out.push_str(&notes_table(a, chart));
            out.push_str(&crate::annual_parts::path_text(&parts));
            out
        }
    }
}

fn operations_table(a: &Annual) -> String {
    let Some(o) = &a.operations else {
        return format!("\nDriftredovisning\nIngen budget antagen för {}.\n", a.current.year);
    };
    let mut out = format!(
        "\nDriftredovisning {} (kr; mot {})\n",
        a.current.year,
        reports::measured_against(o.budget_status, o.budget_seq, "vid årets slut")
    );
    let mut t = Table::new(&[
        ("", Align::Left),
        (reports::budget_column(o.budget_status), Align::Right),
        ("utfall", Align::Right),
        ("avvikelse", Align::Right),
    ]);
    t.name_sheet("Driftredovisning");
    let row = |label: String, budget: Amount, utfall: Amount| {
        vec![label, budget.human_number(), utfall.human_number(), (budget - utfall).human_number()]
    };
    for c in &o.by_category {
        let lines: Vec<_> = o.lines.iter().filter(|l| l.category == c.category).collect();
        if lines.is_empty() {
            continue;
        }
        t.row(row(reports::category_title(c.category).to_string(), c.budget, c.spent));
        for l in lines {
            let insats = l.insats.as_ref().map_or(String::new(), |i| format!(" ({i})"));
            t.row(row(format!("  {}{insats}", l.name), l.budget, l.spent));
        }
    }
    if !o.unbudgeted.is_zero() {
        t.row(row("Kostnader utanför budgeten".into(), Amount::ZERO, o.unbudgeted));
    }
    t.rule();
    t.row(row("Summa kostnader".into(), o.budget_total, o.utfall_total));
    out.push_str(&t.render());
    let (b, u) = (&o.shares_budget, &o.shares_utfall);
    out.push_str(&format!(
        "Andelar (budget / utfall): administration av kostnaderna {} / {}; individinriktade av de direkta {} / {}; strukturinriktade av de direkta {} / {}\n",
        reports::pct(b.admin_of_costs), reports::pct(u.admin_of_costs),
        reports::pct(b.individ_of_direct), reports::pct(u.individ_of_direct),
        reports::pct(b.struktur_of_direct), reports::pct(u.struktur_of_direct),
    ));
    out
}

/// What came or left through equity in a column's year, one sentence each: books opened during
/// the year, equity and balances received at a merger or handed over.
fn capital_sentences(s: &Statements) -> Vec<String> {
    s.capital
        .iter()
        .map(|c| {
            let what = match c.kind {
                CapitalKind::BooksOpened => format!("{}s bokföring började med en ingående balans", c.name),
                CapitalKind::Received | CapitalKind::HandedOver => format!("{}: {}", c.name, c.text),
            };
            format!(
                "{} ({}, {}): likvida medel {} kr, övriga tillgångar och skulder {} kr, eget kapital {} kr",
                what,
                c.date,
                c.voucher,
                c.cash.human_number(),
                c.other.human_number(),
                c.equity.human_number()
            )
        })
        .collect()
}

/// Equity against the ceiling, in words; without contributions in the year there is nothing to
/// measure against.
fn ceiling_verdict(within: Option<bool>) -> &'static str {
    match within {
        Some(true) => "inom taket",
        Some(false) => "över taket",
        None => "ingen bedömning, inga medlemsbidrag under året att mäta taket mot",
    }
}

/// The columns with what came or left through equity: (heading, sentences).
fn capital_notes(a: &Annual) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let current = capital_sentences(&a.current);
    if !current.is_empty() {
        out.push((a.current.year.to_string(), current));
    }
    if let Some((_, p)) = &a.previous {
        let previous = capital_sentences(p);
        if !previous.is_empty() {
            out.push((format!("{} (jämförelsekolumnen)", p.year), previous));
        }
    }
    out
}

const CAPITAL_NOTE: &str = "Eget kapital och likvida medel som kom eller gick utanför den löpande verksamheten";

fn notes_table(a: &Annual, chart: &Chart) -> String {
    let mut out = String::new();
    for (n, kind) in crate::annual_parts::notes(a) {
        let title = format!("Not {n}: {}", kind.title());
        out.push_str(&note_text(a, chart, kind, &title));
    }
    out
}

/// One numbered note as text.
fn note_text(a: &Annual, chart: &Chart, kind: NoteKind, title: &str) -> String {
    let year = a.current.year.to_string();
    let previous_year = a.previous.as_ref().map_or("–".to_string(), |(_, p)| p.year.to_string());
    match kind {
        NoteKind::Members => {
            let mut out = format!("\n{title} {year} (kr)\n");
            let mut t = Table::new(&[
                ("medlem", Align::Left),
                ("andel enligt beslut", Align::Right),
                ("bidrag", Align::Right),
                ("andel av bidragen", Align::Right),
            ]);
            t.name_sheet(title);
            for m in &a.members {
                t.row(vec![
                    m.name.clone(),
                    reports::pct(Some(m.share)),
                    m.amount.human_number(),
                    reports::pct(m.actual_share),
                ]);
            }
            out.push_str(&t.render());
            out
        }
        NoteKind::Personnel => personnel_table(a, chart, title),
        NoteKind::Equity => {
            let mut out = format!("\n{title} (kr)\n");
            let mut t = Table::new(&[("", Align::Left), (&year, Align::Right), (&previous_year, Align::Right)]);
            t.name_sheet(title);
            for (label, now, before) in crate::annual_parts::equity_rows(a) {
                t.row(vec![label.to_string(), now.human_number(), before.map_or("–".into(), |b| b.human_number())]);
            }
            out.push_str(&t.render());
            let capital = capital_notes(a);
            if !capital.is_empty() {
                out.push_str(&format!("{CAPITAL_NOTE}:\n"));
                for (year, sentences) in capital {
                    for sentence in sentences {
                        out.push_str(&format!("{year}: {sentence}.\n"));
                    }
                }
            }
            out
        }
        NoteKind::Receivables | NoteKind::Liabilities => {
            let rows = crate::annual_parts::by_account(a, chart, kind);
            let mut out = format!("\n{title} vid årets slut (kr)\n");
            if rows.is_empty() {
                out.push_str("Inga vid årets slut.\n");
                return out;
            }
            let mut t = Table::new(&[("konto", Align::Left), ("", Align::Left), ("belopp", Align::Right)]);
            t.name_sheet(title);
            for (number, name, amount) in &rows {
                t.row(vec![number.clone(), name.clone(), amount.human_number()]);
            }
            t.rule();
            let total: Amount = rows.iter().map(|(.., x)| *x).sum();
            t.row(vec![String::new(), "Summa".into(), total.human_number()]);
            out.push_str(&t.render());
            out
        }
        NoteKind::Accruals => accruals_table(a, title),
        NoteKind::Contingent => {
            let mut out = format!("\n{title}\n");
            for p in crate::annual_parts::contingent(a) {
                out.push_str(&format!("{p}\n"));
            }
            out
        }
        NoteKind::Ceiling => {
            let c = &a.equity_ceiling;
            format!(
                "\n{title}\nEget kapital vid årets slut {} kr; taket {} av årets medlemsbidrag ({} kr) är {} kr: {}.\nTaket enligt: {}.\n",
                c.equity.human_number(),
                reports::pct(Some(c.ceiling)),
                c.contributions.human_number(),
                c.limit.human_number(),
                ceiling_verdict(c.within),
                c.source
            )
        }
    }
}

fn statement_table(statement: &str, title: &str, lines: &[Line], a: &Annual) -> Markup {
    let previous = a.previous.as_ref().map(|(_, s)| s);
    let notes = crate::annual_parts::notes(a);
    html! {
        table {
            caption { (title) " (kr)" }
            thead { tr { th { "" } th.n { "not" } th.n { (a.current.year) } th.n { (previous.map_or("–".to_string(), |p| p.year.to_string())) } } }
            tbody {
                @for l in lines.iter().filter(|l| shown(l, a)) {
                    @match (l.kind, l.figure) {
                        (Kind::Heading, _) | (_, None) => { tr.head { td colspan="4" { (l.label) } } }
                        (kind, Some(get)) => {
                            tr class=(if kind == Kind::Sum { "sum" } else { "item" }) {
                                td { (l.label) }
                                td.n { (crate::annual_parts::note_number(&notes, statement, l.key).map_or(String::new(), |n| n.to_string())) }
                                (money_cell(get(&a.current).amount))
                                @match previous { Some(p) => (money_cell(get(p).amount)), None => td.n { "–" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn html_page(a: &Annual, chart: &Chart, head: &finsam_store::Head) -> Markup {
    let year = a.current.year;
    let org = a.org_nr.clone().unwrap_or_else(|| "–".into());
    let footer = pages::footer_text(&a.name, a.org_nr.as_deref(), &format!("årsredovisning {year}"), head);
    let months = MONTHS;
    let bank_points: Vec<(String, Amount)> =
        a.months.iter().map(|m| (months[m.month as usize - 1].to_string(), m.bank)).collect();
    let body = html! {
                header {
                    h1 { "Årsredovisning " (year) }
                    p.meta { (a.name) ", org.nr " (org) ". Räkenskapsåret " (a.current.from) " – " (a.current.to) "." }
                    @if let Some((c, _)) = &a.previous {
                        p.note { "Jämförelsekolumnen visar " (comparison_label(c, a)) "." }
                    }
                    p.note { "Alla belopp i kronor, ur händelseloggen med de händelser som registrerats t.o.m. nr " (a.known_at)
                        ". Varje belopp kan spåras till de verifikationer och beslut det bygger på." }
                }
                @let parts = crate::annual_parts::parts(a, chart);
                (crate::annual_parts::before_statements_html(a, &parts))
                @for (key, title, lines) in STATEMENTS {
                    section { h2 { (title) } (statement_table(key, title, lines, a)) }
                }
                section {
                    h2 { "Driftredovisning" }
                    @match &a.operations {
                        None => p { "Ingen budget antagen för " (year) "." }
                        Some(o) => (operations_html(a, o, year))
                    }
                    @if a.operations.is_some() {
                        @let budget_month: Vec<(String, Amount, Amount)> = a.months.iter()
                            .map(|m| (months[m.month as usize - 1].to_string(), m.budget, m.costs)).collect();
                        (pages::by_month("per-manad", &format!("Kostnader per månad mot budgeten {year}"), "kostnader", &budget_month))
                    }
                    div.chart-and-table {
                        figure {
                            figcaption { "Kassa och bank vid varje månads slut " (year) }
                            (charts::line("bank", &format!("Kassa och bank vid varje månads slut {year}"), &bank_points))
                        }
                        table {
                            caption { "Kassa och bank per månad (kr)" }
                            thead { tr { th { "månad" } th.n { "saldo" } th.n { "kostnader" } } }
                            tbody { @for m in &a.months { tr { td { (months[m.month as usize - 1]) } (money_cell(m.bank)) (money_cell(m.costs)) } } }
                        }
                    }
                }
                section {
                    h2 { "Noter" }
                    @for (n, kind) in crate::annual_parts::notes(a) {
                        @let title = format!("Not {n}. {}", kind.title());
                        (note_html(a, chart, kind, &title))
                    }
                }
                (crate::annual_parts::after_notes_html(&parts))
    };
    pages::document(&format!("Årsredovisning {year} – {}", a.name), &footer, body)
}

/// One numbered note as a page shows it.
fn note_html(a: &Annual, chart: &Chart, kind: NoteKind, title: &str) -> Markup {
    let year = a.current.year;
    let previous_year = a.previous.as_ref().map_or("–".to_string(), |(_, p)| p.year.to_string());
    match kind {
        NoteKind::Members => members_html(a, title),
        NoteKind::Personnel => personnel_html(a, chart, title),
        NoteKind::Equity => {
            let capital = capital_notes(a);
            html! {
                h3 id="not-eget-kapital" { (title) }
                table {
                    caption { "Eget kapital (kr)" }
                    thead { tr { th { "" } th.n { (year) } th.n { (previous_year) } } }
                    tbody {
                        @for (label, now, before) in crate::annual_parts::equity_rows(a) {
                            tr { td { (label) } (money_cell(now)) @match before { Some(b) => (money_cell(b)), None => td.n { "–" } } }
                        }
                    }
                }
                @if !capital.is_empty() {
                    p { (CAPITAL_NOTE) ":" }
                    ul {
                        @for (year, sentences) in &capital {
                            @for sentence in sentences { li { (year) ": " (sentence) "." } }
                        }
                    }
                }
            }
        }
        NoteKind::Receivables | NoteKind::Liabilities => {
            let rows = crate::annual_parts::by_account(a, chart, kind);
            let total: Amount = rows.iter().map(|(.., x)| *x).sum();
            html! {
                h3 { (title) }
                @if rows.is_empty() {
                    p { "Inga vid årets slut." }
                } @else {
                    table {
                        caption { (kind.title()) " vid årets slut (kr)" }
                        thead { tr { th { "konto" } th { "" } th.n { "belopp" } } }
                        tbody {
                            @for (number, name, amount) in &rows { tr { td { (number) } td { (name) } (money_cell(*amount)) } }
                            tr.sum { td {} td { "Summa" } (money_cell(total)) }
                        }
                    }
                }
            }
        }
        NoteKind::Accruals => html! {
            h3 { (title) }
            @if a.accruals.is_empty() {
                p { "Inga periodiseringar under året." }
            } @else {
                table {
                    caption { "Periodiseringar " (year) " (kr)" }
                    thead { tr { th { "datum" } th { "verifikation" } th { "text" } th.n { "förutbetalda kostnader och upplupna intäkter" } th.n { "upplupna kostnader och förutbetalda intäkter" } } }
                    tbody {
                        @for e in &a.accruals {
                            tr { td { (e.date) } td { (e.voucher) } td { (e.text) } (money_cell(e.asset)) (money_cell(e.liability)) }
                        }
                        tr.sum { td colspan="3" { "Vid årets slut" } (money_cell(a.current.balance.accrued_assets.amount)) (money_cell(a.current.balance.accrued_liabilities.amount)) }
                    }
                }
            }
        },
        NoteKind::Contingent => html! {
            h3 { (title) }
            (crate::annual_parts::paragraphs_html(&crate::annual_parts::contingent(a)))
        },
        NoteKind::Ceiling => {
            let c = &a.equity_ceiling;
            html! {
                h3 { (title) }
                p { "Eget kapital vid årets slut " (c.equity.human_number()) " kr. Taket, "
                    (reports::pct(Some(c.ceiling))) " av årets medlemsbidrag (" (c.contributions.human_number()) " kr), är "
                    (c.limit.human_number()) " kr: " strong { (ceiling_verdict(c.within)) } "." }
                p.note { "Taket enligt: " (c.source) "." }
            }
        }
    }
}

fn operations_html(a: &Annual, o: &Operations, year: i32) -> Markup {
    let by_category: Vec<(String, Amount, Amount)> = o
        .by_category
        .iter()
        .filter(|c| !c.budget.is_zero() || !c.spent.is_zero())
        .map(|c| (reports::category_title(c.category).to_string(), c.budget, c.spent))
        .collect();
    let by_line: Vec<(String, Amount, Amount)> = o.lines.iter().map(|l| (l.name.clone(), l.budget, l.spent)).collect();
    html! {
        p.note { "Årets kostnader mot " (reports::measured_against(o.budget_status, o.budget_seq, "vid årets slut")) "." }
        div.chart-and-table {
            figure {
                figcaption { "Budget och utfall per kategori " (year) }
                (charts::paired_bars("per-kategori", &format!("Budget och utfall per kategori {year}"), ("budget", "utfall"), &by_category))
            }
            table {
                caption { "Per kategori (kr)" }
                thead { tr { th { "kategori" } th.n { "budget" } th.n { "utfall" } th.n { "avvikelse" } } }
                tbody {
                    @for (name, b, u) in &by_category { tr { td { (name) } (money_cell(*b)) (money_cell(*u)) (money_cell(*b - *u)) } }
                    tr.sum { td { "Summa" } (money_cell(o.budget_total)) (money_cell(o.utfall_total)) (money_cell(o.budget_total - o.utfall_total)) }
                }
            }
        }
        figure {
            figcaption { "Budget och utfall per rad och insats " (year) }
            (charts::paired_bars("per-rad", &format!("Budget och utfall per rad och insats {year}"), ("budget", "utfall"), &by_line))
        }
        table {
            caption { "Per rad och insats (kr)" }
            thead { tr { th { "rad" } th { "insats" } th.n { "budget" } th.n { "utfall" } th.n { "avvikelse" } } }
            tbody {
                @for l in &o.lines {
                    tr { td { (l.name) } td { (l.insats.as_ref().map_or("–".to_string(), |i| name_of(a, i))) } (money_cell(l.budget)) (money_cell(l.spent)) (money_cell(l.budget - l.spent)) }
                }
                @if !o.unbudgeted.is_zero() {
                    tr { td { "Kostnader utanför budgeten" } td { "–" } (money_cell(Amount::ZERO)) (money_cell(o.unbudgeted)) (money_cell(-o.unbudgeted)) }
                }
            }
        }
        table {
            caption { "Andelar" }
            thead { tr { th { "" } th.n { "budget" } th.n { "utfall" } } }
            tbody {
                tr { td { "Administration av kostnaderna" } td.n { (reports::pct(o.shares_budget.admin_of_costs)) } td.n { (reports::pct(o.shares_utfall.admin_of_costs)) } }
                tr { td { "Individinriktade av de direkta kostnaderna" } td.n { (reports::pct(o.shares_budget.individ_of_direct)) } td.n { (reports::pct(o.shares_utfall.individ_of_direct)) } }
                tr { td { "Strukturinriktade av de direkta kostnaderna" } td.n { (reports::pct(o.shares_budget.struktur_of_direct)) } td.n { (reports::pct(o.shares_utfall.struktur_of_direct)) } }
            }
        }
    }
}

fn members_html(a: &Annual, title: &str) -> Markup {
    let total: Amount = a.members.iter().map(|m| m.amount).sum();
    let rows: Vec<(String, Amount, Amount)> =
        a.members.iter().map(|m| (m.name.clone(), m.by_share, m.amount)).collect();
    html! {
        h3 { (title) }
        div.chart-and-table {
            figure {
                figcaption { "Medlemsbidrag enligt andel och bokfört " (a.current.year) }
                (charts::paired_bars("medlemmar", &format!("Medlemsbidrag enligt andel och bokfört {}", a.current.year), ("enligt andel", "bokfört"), &rows))
            }
            table {
                caption { "Medlemsbidrag " (a.current.year) " (kr)" }
                thead { tr { th { "medlem" } th.n { "andel" } th.n { "enligt andel" } th.n { "bokfört" } } }
                tbody {
                    @for (m, (_, by_share, _)) in a.members.iter().zip(&rows) {
                        tr { td { (m.name) } td.n { (reports::pct(Some(m.share))) } (money_cell(*by_share)) (money_cell(m.amount)) }
                    }
                    tr.sum { td { "Summa" } td.n { "" } td.n { "" } (money_cell(total)) }
                }
            }
        }
    }
}

/// `finsam report members`: each member's and each payer's contributions for a year.
pub fn members_out(
    store: &Path,
    books: Books<'_>,
    forbund: &str,
    year: i32,
    axes: &reports::Axes,
    format: Format,
) -> Result<String, crate::output::Failure> {
    reports::check_year(year)?;
    let axes =
        reports::Axes { as_of: axes.as_of.or(chrono::NaiveDate::from_ymd_opt(year, 12, 31)), known_at: axes.known_at };
    let (f, at) = reports::forbund_at(store, books, forbund, &axes)?;
    let c = books.projection.contributions_of(&f, year, at).expect("checked that the förbund exists");
    let info = &books.projection.forbund[&f];
    let head = reports::head_at(store, books, at.known_at)?;
    Ok(render_members(&c, (info.name_known_at(at.known_at), info.org_nr.as_deref()), &head, books.head, format))
}

/// `who`: the förbund's name and org nr; `head`: the log's head the statement was made at;
/// `latest`: the log's head now.
pub fn render_members(
    c: &finsam_projections::members::Contributions,
    who: (&str, Option<&str>),
    head: &finsam_store::Head,
    latest: u64,
    format: Format,
) -> String {
    let name = who.0;
    let total =
        |pick: fn(&finsam_projections::members::MemberRow) -> Amount| c.members.iter().map(pick).sum::<Amount>();
    // Nothing is owed in a year nothing was decided: no total of what is left either.
    let outstanding_total = c
        .members
        .iter()
        .any(|m| m.decided_any)
        .then(|| c.members.iter().filter_map(|m| m.outstanding()).sum::<Amount>());
    let name_of = |id: &finsam_domain::Slug| -> String {
        c.members.iter().find(|m| &m.member == id).map_or_else(|| id.to_string(), |m| m.name.clone())
    };
    let money = |a: Option<Amount>| a.map_or("–".to_string(), |a| a.human_number());
    match format {
        Format::Json => {
            let body = json!({
                "forbund": c.forbund.as_str(), "year": c.year, "as_of": c.at.as_of.to_string(), "known_at": c.at.known_at,
                "members": c.members.iter().map(|m| json!({
                    "member": m.member.as_str(), "name": m.name, "kind": m.kind.as_str(),
                    "share": format!("{:.4}", m.share), "decided": m.decided.canonical(), "paid": m.paid.canonical(),
                    "outstanding": m.outstanding().map(Amount::canonical), "paid_by": m.paid_by.as_ref().map(|p| p.as_str()),
                    "not_yet_due": m.not_yet_due.canonical(), "overdue": m.overdue().map(Amount::canonical),
                    "runs": m.runs.iter().map(|(i, n, a)| json!({"insats": i.as_str(), "name": n, "charged": a.canonical()})).collect::<Vec<_>>(),
                    "received": m.received().canonical(), "net": m.net().canonical(),
                    "seqs": m.seqs,
                })).collect::<Vec<_>>(),
                "payers": c.payers.iter().map(|p| json!({
                    "payer": p.payer.as_str(), "members": p.members.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                    "owed": p.owed.canonical(), "paid": p.paid.canonical(), "outstanding": (p.owed - p.paid).canonical(),
                })).collect::<Vec<_>>(),
                "totals": {"decided": total(|m| m.decided).canonical(), "paid": total(|m| m.paid).canonical(),
                    "outstanding": outstanding_total.map(Amount::canonical),
                    "not_yet_due": total(|m| m.not_yet_due).canonical(),
                    "overdue": outstanding_total.map(|_| c.members.iter().filter_map(|m| m.overdue()).sum::<Amount>().canonical()),
                    "received": total(|m| m.received()).canonical(), "net": total(|m| m.net()).canonical()},
            });
            format!("{}\n", serde_json::to_string_pretty(&body).expect("serialises"))
        }
        Format::Csv => {
            let mut out = reports::csv_line(
                &[
                    "member",
                    "name",
                    "kind",
                    "share",
                    "decided",
                    "paid",
                    "outstanding",
                    "paid_by",
                    "received",
                    "net",
                    "not_yet_due",
                    "overdue",
                ]
                .map(String::from),
            );
            for m in &c.members {
                out.push_str(&reports::csv_line(&[
                    m.member.to_string(),
                    m.name.clone(),
                    m.kind.as_str().to_string(),
                    format!("{:.4}", m.share),
                    m.decided.canonical(),
                    m.paid.canonical(),
                    m.outstanding().map_or(String::new(), Amount::canonical),
                    m.paid_by.as_ref().map_or(String::new(), |p| p.to_string()),
                    m.received().canonical(),
                    m.net().canonical(),
                    m.not_yet_due.canonical(),
                    m.overdue().map_or(String::new(), Amount::canonical),
                ]));
            }
            out
        }
        Format::Html => pages::members_page(c, name, who.1, head).into_string(),
        Format::Table => {
            let mut out = format!(
                "Medlemsbidrag {} för {name} ({})\n{}\n\n",
                c.year,
                c.forbund,
                reports::axes_line(c.at, latest)
            );
            let mut t = Table::new(&[
                ("medlem", Align::Left),
                ("andel", Align::Right),
                ("beslutat", Align::Right),
                ("betalt", Align::Right),
                ("kvar att betala", Align::Right),
                ("betalt av", Align::Left),
            ]);
            t.name_sheet("Medlemmarnas bidrag");
            for m in &c.members {
                t.row(vec![
                    m.name.clone(),
                    reports::pct(Some(m.share)),
                    m.decided.human_number(),
                    m.paid.human_number(),
                    money(m.outstanding()),
                    m.paid_by.as_ref().map_or(String::new(), name_of),
                ]);
            }
            t.rule();
            t.row(vec![
                "Summa".into(),
                String::new(),
                total(|m| m.decided).human_number(),
                total(|m| m.paid).human_number(),
                money(outstanding_total),
                String::new(),
            ]);
            out.push_str(&t.render());
            out.push_str(&due_table(c));
            out.push_str(&netting_table(c));
            if !c.payers.is_empty() {
                out.push_str("\nPer betalare\n");
                let mut t = Table::new(&[
                    ("betalare", Align::Left),
                    ("för", Align::Left),
                    ("beslutat", Align::Right),
                    ("betalt", Align::Right),
                    ("kvar att betala", Align::Right),
                ]);
                t.name_sheet("Per betalare");
                for p in &c.payers {
                    let list: Vec<String> = p.members.iter().map(name_of).collect();
                    t.row(vec![
                        name_of(&p.payer),
                        list.join(", "),
                        p.owed.human_number(),
                        p.paid.human_number(),
                        (p.owed - p.paid).human_number(),
                    ]);
                }
                out.push_str(&t.render());
            } else {
                out.push_str(&format!("\nInga bidrag beslutade för {} (bara betalningar bokförda).\n", c.year));
            }
            out
        }
    }
}

/// Inside the year, by the invoicing plans: of what is left to pay, what has fallen due and is
/// unpaid, and what is not yet due. Nothing at the year's end, when everything has fallen due.
fn due_table(c: &finsam_projections::members::Contributions) -> String {
    if !c.inside_year() {
        return String::new();
    }
    let mut out = format!("\nFörfallet och ej förfallet per {} (enligt faktureringsplanerna)\n", c.at.as_of);
    let mut t =
        Table::new(&[("medlem", Align::Left), ("förfallet, obetalt", Align::Right), ("ej förfallet", Align::Right)]);
    t.name_sheet("Förfallet och ej förfallet");
    let money = |a: Option<Amount>| a.map_or("–".to_string(), |a| a.human_number());
    for m in &c.members {
        t.row(vec![m.name.clone(), money(m.overdue()), m.not_yet_due.human_number()]);
    }
    t.rule();
    let overdue: Amount = c.members.iter().filter_map(|m| m.overdue()).sum();
    let later: Amount = c.members.iter().map(|m| m.not_yet_due).sum();
    t.row(vec!["Summa".into(), overdue.human_number(), later.human_number()]);
    out.push_str(&t.render());
    out
}

/// Each member's netting: what it paid in, what the förbund paid for the insatser it runs
/// (which it needs for its own year-end), and the difference.
fn netting_table(c: &finsam_projections::members::Contributions) -> String {
    let mut out = String::from("\nNetto per medlem: inbetalt och kostnader för insatser som medlemmen driver\n");
    let mut t = Table::new(&[
        ("medlem", Align::Left),
        ("betalt", Align::Right),
        ("insatser medlemmen driver", Align::Left),
        ("förbundets kostnader för dem", Align::Right),
        ("netto", Align::Right),
    ]);
    t.name_sheet("Netto per medlem");
    for m in &c.members {
        let runs: Vec<&str> = m.runs.iter().map(|(_, n, _)| n.as_str()).collect();
        t.row(vec![
            m.name.clone(),
            m.paid.human_number(),
            if runs.is_empty() { "–".into() } else { runs.join(", ") },
            m.received().human_number(),
            m.net().human_number(),
        ]);
    }
    out.push_str(&t.render());
    out.push_str("(netto: betalt − förbundets kostnader för insatser medlemmen driver; insatsens ägare enligt beslutet om insatsen)\n");
    out
}

/// What `finsam report period` is asked for.
pub struct PeriodAsked {
    pub year: i32,
    /// The last month counted: (year, month).
    pub through: (i32, u32),
    pub known_at: Option<reports::KnownAt>,
    pub profile: finsam_projections::period::Profile,
}

/// The report a period is asked for, in Swedish ("the follow-up": "uppföljning").
fn swedish_what(what: &str) -> &str {
    match what {
        "the follow-up" => "uppföljning",
        "the delårsrapport" => "delårsrapport",
        other => other,
    }
}

/// `finsam report period`: the board's follow-up of a year through a month.
impl PeriodAsked {
    /// The year and the month asked for, checked: the month is one of the year's.
    pub fn checked(&self, what: &str) -> Result<(i32, (i32, u32)), crate::output::Failure> {
        let year = reports::check_year(self.year)?;
        if self.through.0 != year {
            let (y, m) = self.through;
            return Err(crate::output::Failure::usage(crate::output::say(
                format!("--through {y}-{m:02}: {year}s {} går till och med en månad {year}", swedish_what(what)),
                format!("--through {y}-{m:02}: {what} of {year} runs through a month of {year}"),
            )));
        }
        Ok((year, self.through))
    }
}

pub fn period_out(
    store: &Path,
    books: Books<'_>,
    forbund: &str,
    asked: &PeriodAsked,
    format: Format,
) -> Result<String, crate::output::Failure> {
    use crate::output::Failure;
    let ((year, through), known_at, profile) = (asked.checked("the follow-up")?, asked.known_at, &asked.profile);
    let axes = reports::Axes { as_of: None, known_at };
    let (f, at) = reports::forbund_at(store, books, forbund, &axes)?;
    if profile.weights()[..through.1 as usize].iter().all(|w| w.is_zero()) {
        let m = through.1;
        return Err(Failure::usage(crate::output::say(
            format!("--profile ger {year}-01 till och med {year}-{m:02} ingen vikt: budgeten hittills blir noll, och uppföljningen mäter mot ingenting"),
            format!("--profile gives {year}-01 through {year}-{m:02} no weight: the budget to date would be zero, and the follow-up would measure against nothing"),
        )));
    }
    let Some(p) = books.projection.period(&f, year, through.1, at.known_at, profile) else {
        return Err(Failure {
            code: 2,
            message: crate::output::say(
                format!("{f} har ingen budget för {year} i kraft i slutet av {year}-{:02}", through.1),
                format!("{f} has no budget for {year} in force at the end of {year}-{:02}", through.1),
            ),
        });
    };
    let info = &books.projection.forbund[&f];
    let head = reports::head_at(store, books, at.known_at)?;
    let at_month_end = finsam_projections::reports::At { as_of: p.through, known_at: at.known_at };
    let contributions = books.projection.periodised_contributions(&f, at_month_end);
    let who = (info.name_known_at(at.known_at), info.org_nr.as_deref());
    Ok(render_period(&p, &contributions, who, &head, books.head, format))
}

/// The period's contributions in words: decided for the year, earned through the month, the
/// rest not yet earned.
pub fn contributions_sentence(c: &finsam_projections::members::Periodised) -> String {
    format!(
        "Medlemsbidrag: beslutade för {} {} kr; intjänade t.o.m. {} ({}/12) {} kr; ej intjänade (förutbetalda intäkter) {} kr.",
        c.year,
        c.decided.human_number(),
        pages::MONTH_NAMES[(c.months.max(1) - 1) as usize],
        c.months,
        c.earned.human_number(),
        c.unearned.human_number()
    )
}

/// The forecast's methods for a program: kind, mark and the Swedish description.
fn forecast_methods_json() -> Value {
    use finsam_projections::period::ForecastKind;
    let kinds = ForecastKind::MARKED.iter().chain([&ForecastKind::Budget]);
    json!(kinds.map(|k| json!({"kind": k.as_str(), "mark": k.mark(), "text": k.swedish()})).collect::<Vec<_>>())
}

/// The rows of income, result and equity in the follow-up: (label, figures).
pub fn bottom_lines(
    p: &finsam_projections::period::Period,
) -> [(&'static str, &finsam_projections::period::FollowUp); 3] {
    [("Intäkter", &p.income), ("Resultat", &p.result), ("Eget kapital vid årets slut", &p.equity)]
}

fn follow_json(x: &finsam_projections::period::FollowUp) -> Value {
    json!({
        "budget_year": x.budget_year.canonical(), "budget_to_date": x.budget_to_date.canonical(),
        "utfall_to_date": x.utfall_to_date.canonical(), "deviation": x.deviation().canonical(),
        "forecast": x.forecast.canonical(), "forecast_kind": x.forecast_kind.as_str(),
    })
}

/// `who`: the förbund's name and org nr; `head`: the log's head the follow-up was made at;
/// `latest`: the log's head now.
pub fn render_period(
    p: &finsam_projections::period::Period,
    contributions: &finsam_projections::members::Periodised,
    who: (&str, Option<&str>),
    head: &finsam_store::Head,
    latest: u64,
    format: Format,
) -> String {
    let name = who.0;
    match format {
        Format::Json => {
            let body = json!({
                "forbund": p.forbund.as_str(), "year": p.year, "through": p.through.to_string(), "months": p.months,
                "known_at": p.at.known_at, "budget_seq": p.budget_seq, "budget_status": p.budget_status.as_str(),
                "profile": p.profile.weights().iter().map(|w| w.normalize().to_string()).collect::<Vec<_>>(),
                "lines": p.lines.iter().map(|l| {
                    let mut v = follow_json(&l.figures);
                    v["line"] = json!(l.id.as_str());
                    v["name"] = json!(l.name);
                    v["category"] = json!(l.category.as_str());
                    v["insats"] = json!(l.insats.as_ref().map(|i| i.as_str()));
                    v["forecast_recorded"] = json!(l.recorded.as_ref().map(|r| json!({"seq": r.seq, "date": r.date.to_string(), "text": r.text})));
                    v
                }).collect::<Vec<_>>(),
                "by_category": p.by_category.iter().map(|(c, x)| {
                    let mut v = follow_json(x);
                    v["category"] = json!(c.as_str());
                    v
                }).collect::<Vec<_>>(),
                "unbudgeted": follow_json(&p.unbudgeted),
                "total": follow_json(&p.total),
                "income": follow_json(&p.income),
                "result": follow_json(&p.result),
                "equity_before": p.equity_before.canonical(),
                "equity": follow_json(&p.equity),
                "forecast_methods": forecast_methods_json(),
                "per_month": p.per_month.iter().map(|m| json!({"month": m.month, "budget": m.budget.canonical(), "utfall": m.utfall.canonical()})).collect::<Vec<_>>(),
                "contributions": {"months": contributions.months, "decided": contributions.decided.canonical(),
                    "earned": contributions.earned.canonical(), "unearned": contributions.unearned.canonical()},
            });
            format!("{}\n", serde_json::to_string_pretty(&body).expect("serialises"))
        }
        Format::Csv => {
            let mut out = reports::csv_line(
                &[
                    "line",
                    "name",
                    "category",
                    "insats",
                    "budget_year",
                    "budget_to_date",
                    "utfall_to_date",
                    "deviation",
                    "forecast",
                    "forecast_kind",
                    "forecast_seq",
                ]
                .map(String::from),
            );
            for l in &p.lines {
                let x = &l.figures;
                out.push_str(&reports::csv_line(&[
                    l.id.to_string(),
                    l.name.clone(),
                    l.category.as_str().to_string(),
                    l.insats.as_ref().map_or(String::new(), |i| i.to_string()),
                    x.budget_year.canonical(),
                    x.budget_to_date.canonical(),
                    x.utfall_to_date.canonical(),
                    x.deviation().canonical(),
                    x.forecast.canonical(),
                    x.forecast_kind.as_str().to_string(),
                    l.recorded.as_ref().map_or(String::new(), |r| r.seq.to_string()),
                ]));
            }
            out
        }
        Format::Html => {
            let sentence =
                if contributions.decided.is_zero() { String::new() } else { contributions_sentence(contributions) };
            pages::period_page(p, &sentence, name, who.1, head).into_string()
        }
        Format::Table => {
            let spread = if p.profile.is_even() {
                String::from("jämnt över årets tolv månader")
            } else {
                let weights: Vec<String> =
                    p.profile.weights().iter().map(|w| w.normalize().to_string().replace('.', ",")).collect();
                format!("efter profilen {} (jan–dec)", weights.join(" : "))
            };
            let mut out = format!(
                "Ekonomisk uppföljning {} för {name} ({}), januari–{} ({} av 12 månader)\nMot {}, fördelad {spread}; känt vid händelse nr {} av {latest}\n\n",
                p.year, p.forbund, pages::MONTH_NAMES[p.months as usize - 1], p.months,
                reports::measured_against(p.budget_status, p.budget_seq, &format!("den {}", p.through)), p.at.known_at
            );
            let mut t = Table::new(&[
                ("", Align::Left),
                ("budget helår", Align::Right),
                ("budget hittills", Align::Right),
                ("utfall hittills", Align::Right),
                ("avvikelse", Align::Right),
                ("prognos helår*", Align::Right),
            ]);
            t.name_sheet("Uppföljning");
            let row = |label: String, x: &finsam_projections::period::FollowUp| {
                let mark = format!("{:>2}", x.forecast_kind.mark());
                vec![
                    label,
                    x.budget_year.human_number(),
                    x.budget_to_date.human_number(),
                    x.utfall_to_date.human_number(),
                    x.deviation().human_number(),
                    format!("{}{mark}", x.forecast.human_number()),
                ]
            };
            for (c, x) in &p.by_category {
                let lines: Vec<_> = p.lines.iter().filter(|l| l.category == *c).collect();
                if lines.is_empty() {
                    continue;
                }
                t.row(row(reports::category_title(*c).to_string(), x));
                for l in lines {
                    t.row(row(format!("  {}", l.name), &l.figures));
                }
            }
            if !p.unbudgeted.utfall_to_date.is_zero() {
                t.row(row("Kostnader utanför budgeten".into(), &p.unbudgeted));
            }
            t.rule();
            t.row(row("Summa kostnader".into(), &p.total));
            t.rule();
            for (label, x) in bottom_lines(p) {
                let mut r = row(label.to_string(), x);
                r[4] = x.surplus().human_number();
                t.row(r);
            }
            out.push_str(&t.render());
            out.push_str(&format!(
                "Avvikelse: för kostnaderna budget − utfall, för intäkter, resultat och eget kapital utfall − budget (positivt är bättre än budget). Eget kapital vid årets början {} kr.\n* {}\n",
                p.equity_before.human_number(),
                pages::forecast_legend()
            ));
            let recorded: Vec<_> = p.lines.iter().filter_map(|l| l.recorded.as_ref().map(|r| (l, r))).collect();
            if !recorded.is_empty() {
                out.push_str("\nRegistrerade prognoser\n");
                let mut t = Table::new(&[
                    ("rad", Align::Left),
                    ("prognos helår", Align::Right),
                    ("datum", Align::Left),
                    ("seq", Align::Right),
                    ("motivering", Align::Left),
                ]);
                t.name_sheet("Registrerade prognoser");
                for (l, r) in recorded {
                    t.row(vec![
                        l.name.clone(),
                        l.figures.forecast.human_number(),
                        r.date.to_string(),
                        r.seq.to_string(),
                        r.text.clone(),
                    ]);
                }
                out.push_str(&t.render());
            }
            out.push_str("\nPer månad\n");
            let mut m = Table::new(&[("månad", Align::Left), ("budget", Align::Right), ("utfall", Align::Right)]);
            m.name_sheet("Per månad");
            for x in &p.per_month {
                m.row(vec![MONTHS[x.month as usize - 1].to_string(), x.budget.human_number(), x.utfall.human_number()]);
            }
            out.push_str(&m.render());
            if !contributions.decided.is_zero() {
                out.push_str(&format!("\n{}\n", contributions_sentence(contributions)));
            }
            out
        }
    }
}

/// The note on accruals: the year's entries on the accrual accounts, and where they stand.
fn accruals_table(a: &Annual, title: &str) -> String {
    let mut out = format!("\n{title} {} (kr)\n", a.current.year);
    if a.accruals.is_empty() {
        out.push_str("Inga periodiseringar under året.\n");
        return out;
    }
    let mut t = Table::new(&[
        ("datum", Align::Left),
        ("verifikation", Align::Left),
        ("text", Align::Left),
        ("förutbet. kostn./uppl. intäkter", Align::Right),
        ("uppl. kostn./förutbet. intäkter", Align::Right),
    ]);
    t.name_sheet("Periodiseringar");
    for e in &a.accruals {
        t.row(vec![
            e.date.to_string(),
            e.voucher.clone(),
            e.text.clone(),
            e.asset.human_number(),
            e.liability.human_number(),
        ]);
    }
    t.rule();
    t.row(vec![
        "Vid årets slut".into(),
        String::new(),
        String::new(),
        a.current.balance.accrued_assets.amount.human_number(),
        a.current.balance.accrued_liabilities.amount.human_number(),
    ]);
    out.push_str(&t.render());
    out
}
