//! `finsam report annual`: the statements of a förbund's annual report, rendered for people
//! (a table in Swedish), for programs (JSON, CSV with stable keys). The figures come from
//! `Projection::annual` (pure); this module only lays them out, for the CLI and the service.

use crate::reports::{self, Books};
use crate::table::{Align, Table};
use crate::Format;
use finsam_domain::Amount;
use finsam_projections::annual::{Annual, Comparison, Figure, Operations, Statements};
use finsam_projections::chart::Chart;
use serde_json::{json, Value};
use std::path::Path;

/// How a line of a statement is printed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Heading,
    Item,
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
            item("finansiella_poster", "Finansiella poster", |s| &s.result.financial),
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
            item("mottaget_eget_kapital", "Eget kapital mottaget vid sammanläggning", |s| &s.balance.equity.received),
            item("ovriga_forandringar", "Övriga förändringar av eget kapital", |s| &s.balance.equity.other),
            item("arets_resultat", "Årets resultat", |s| &s.balance.equity.result),
            sum("eget_kapital", "Summa eget kapital", |s| &s.balance.equity.closing),
            item("kortfristiga_skulder", "Kortfristiga skulder", |s| &s.balance.payables),
            item("upplupna_kostnader", "Upplupna kostnader och förutbetalda intäkter", |s| {
                &s.balance.accrued_liabilities
            }),
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
            sum("kassaflode_verksamheten", "Kassaflöde från den löpande verksamheten", |s| &s.cash_flow.operating),
            heading("finansieringsverksamheten", "Finansieringsverksamheten"),
            item("mottaget_eget_kapital", "Eget kapital mottaget och överfört", |s| &s.cash_flow.received),
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
    ceiling: rust_decimal::Decimal,
    format: Format,
) -> Result<String, crate::output::Failure> {
    let axes = reports::Axes { as_of: chrono::NaiveDate::from_ymd_opt(year, 12, 31), known_at };
    let (f, at) = reports::forbund_at(store, books, forbund, &axes)?;
    let chart = reports::chart_for(store, &f)?;
    let annual = books.projection.annual(&f, year, at.known_at, ceiling).expect("checked that the förbund exists");
    Ok(render(&annual, &chart, books.head, format))
}

fn comparison_label(c: &Comparison) -> String {
    match c {
        Comparison::Own => "föregående år".into(),
        Comparison::Predecessors(list) => format!(
            "föregående år: de sammanlagda förbundens ({}) siffror tillsammans",
            list.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
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

fn notes_json(a: &Annual) -> Value {
    let c = &a.equity_ceiling;
    json!({
        "medlemsbidrag": a.members.iter().map(|m| json!({
            "member": m.member.as_str(), "name": m.name, "kind": m.kind.as_str(),
            "share": format!("{:.4}", m.share), "amount": m.amount.canonical(),
            "actual_share": reports::share_json(m.actual_share),
        })).collect::<Vec<_>>(),
        "eget_kapital_mot_taket": {
            "ceiling": format!("{:.4}", c.ceiling), "contributions": c.contributions.canonical(),
            "limit": c.limit.canonical(), "equity": c.equity.canonical(), "within": c.within,
        },
    })
}

fn figure_json(f: &Figure, chart: &Chart) -> Value {
    json!({"amount": f.amount.canonical(), "accounts": f.accounts(chart)})
}

pub fn render(a: &Annual, chart: &Chart, head: u64, format: Format) -> String {
    let previous = a.previous.as_ref().map(|(_, s)| s);
    match format {
        Format::Json => {
            let mut statements = serde_json::Map::new();
            for (key, _, lines) in STATEMENTS {
                let rows: Vec<Value> = lines
                    .iter()
                    .filter_map(|l| l.figure.map(|get| (l, get)))
                    .map(|(l, get)| {
                        json!({
                            "key": l.key,
                            "label": l.label,
                            "sum": l.kind == Kind::Sum,
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
                "head": head,
                "vouchers": a.current.vouchers,
                "previous": a.previous.as_ref().map(|(c, s)| json!({
                    "year": s.year,
                    "kind": match c { Comparison::Own => "own", Comparison::Predecessors(_) => "predecessors" },
                    "forbund": match c { Comparison::Own => vec![a.forbund.to_string()], Comparison::Predecessors(l) => l.iter().map(|s| s.to_string()).collect() },
                })),
                "statements": statements,
                "driftredovisning": a.operations.as_ref().map(operations_json),
                "noter": notes_json(a),
            });
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
                "Årsredovisning {} för {}{org}\nRäkenskapsåret {} – {}, känt vid seq {} av {head}\n",
                a.current.year, a.name, a.current.from, a.current.to, a.known_at
            );
            if let Some((c, _)) = &a.previous {
                out.push_str(&format!("Jämförelsekolumnen: {}\n", comparison_label(c)));
            }
            let prev_year = previous.map_or("–".to_string(), |p| p.year.to_string());
            for (_, title, lines) in STATEMENTS {
                out.push_str(&format!("\n{title} (kr)\n"));
                let now_year = a.current.year.to_string();
                let mut t = Table::new(&[("", Align::Left), (&now_year, Align::Right), (&prev_year, Align::Right)]);
                for l in *lines {
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
            out.push_str(&notes_table(a));
            out
        }
    }
}

fn operations_table(a: &Annual) -> String {
    let Some(o) = &a.operations else {
        return format!("\nDriftredovisning\nIngen budget antagen för {}.\n", a.current.year);
    };
    let mut out =
        format!("\nDriftredovisning {} (kr; budgeten i kraft vid årets slut, seq {})\n", a.current.year, o.budget_seq);
    let mut t = Table::new(&[
        ("", Align::Left),
        ("budget", Align::Right),
        ("utfall", Align::Right),
        ("avvikelse", Align::Right),
    ]);
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

fn notes_table(a: &Annual) -> String {
    let mut out = format!("\nNot: Medlemsbidrag {} per medlem (kr)\n", a.current.year);
    let mut t = Table::new(&[
        ("medlem", Align::Left),
        ("andel enligt beslut", Align::Right),
        ("bidrag", Align::Right),
        ("andel av bidragen", Align::Right),
    ]);
    for m in &a.members {
        t.row(vec![m.name.clone(), reports::pct(Some(m.share)), m.amount.human_number(), reports::pct(m.actual_share)]);
    }
    out.push_str(&t.render());
    let c = &a.equity_ceiling;
    out.push_str(&format!(
        "\nNot: Eget kapital mot taket\nEget kapital vid årets slut {} kr; taket {} av årets medlemsbidrag ({} kr) är {} kr: {}.\n",
        c.equity.human_number(),
        reports::pct(Some(c.ceiling)),
        c.contributions.human_number(),
        c.limit.human_number(),
        if c.within { "inom taket" } else { "över taket" }
    ));
    out
}
