//! `finsam demo`: the fixtures recorded into a fresh store, and the main reports.

use crate::output::{emit, report_open, Failure};
use crate::table::{Align, Table};
use crate::Format;
use finsam_domain::{Amount, Category, Event, Slug};
use finsam_projections::BudgetView;
use finsam_store::Store;
use serde_json::json;
use std::path::PathBuf;

/// The fixtures, in recording order, compiled into the binary so the demo runs anywhere.
pub const FIXTURES: &[(&str, &str)] = &[
    (
        "fixtures/00-forbund.jsonl",
        include_str!("../../../fixtures/00-forbund.jsonl"),
    ),
    (
        "fixtures/10-vasteras-2021.jsonl",
        include_str!("../../../fixtures/10-vasteras-2021.jsonl"),
    ),
    (
        "fixtures/20-norra-vastmanland-2023.jsonl",
        include_str!("../../../fixtures/20-norra-vastmanland-2023.jsonl"),
    ),
    (
        "fixtures/30-vastmanland-2024.jsonl",
        include_str!("../../../fixtures/30-vastmanland-2024.jsonl"),
    ),
    (
        "fixtures/40-vastmanland-2024-example.jsonl",
        include_str!("../../../fixtures/40-vastmanland-2024-example.jsonl"),
    ),
];

const DEMO_ACTOR: &str = "finsam-demo";

fn fresh_dir(explicit: Option<PathBuf>) -> Result<PathBuf, Failure> {
    let explicit = explicit.or_else(|| {
        std::env::var_os("FINSAM_STORE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    match explicit {
        Some(dir) => {
            if dir.join(finsam_store::store::LOG_FILE).exists() {
                return Err(Failure::usage(format!(
                    "the demo records into a fresh store, but {} holds one already; pass --store with a new directory",
                    dir.display()
                )));
            }
            Ok(dir)
        }
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            Ok(std::env::temp_dir().join(format!("finsam-demo-{}-{nanos}", std::process::id())))
        }
    }
}

pub fn run(store: Option<PathBuf>, format: Format) -> Result<(), Failure> {
    let dir = fresh_dir(store)?;
    finsam_store::init(&dir)?;
    let (mut store, report) = Store::open(&dir)?;
    report_open(&report);
    let mut recorded = Vec::new();
    for (name, text) in FIXTURES {
        let outcome =
            crate::record_bytes(&mut store, text.as_bytes(), DEMO_ACTOR, None).map_err(|f| {
                Failure {
                    code: f.code,
                    message: format!("{name}: {}", f.message),
                }
            })?;
        let first = outcome.first().map_or(0, |r| r.seq);
        let last = outcome.last().map_or(0, |r| r.seq);
        recorded.push((name, outcome.len(), first, last));
    }
    let mut events: Vec<(u64, Event)> = Vec::new();
    store.read(1, u64::MAX, &mut |e| {
        events.push((e.seq, e.event));
        Ok(())
    })?;
    let forbund = Slug::parse("sf-vastmanland").expect("a valid id");
    let budget = BudgetView::in_force(events.iter().map(|(s, e)| (*s, e)), &forbund, 2024)
        .expect("the fixtures hold the 2024 budget of sf-vastmanland");
    let head = store.head().clone();
    match format {
        Format::Table => {
            let mut out = format!(
                "finsam demo: recorded the fixtures into a fresh store at {}\n\n",
                dir.display()
            );
            let mut t = Table::new(&[
                ("fixture", Align::Left),
                ("events", Align::Right),
                ("seqs", Align::Left),
            ]);
            for (name, n, first, last) in &recorded {
                t.row(vec![
                    name.to_string(),
                    n.to_string(),
                    format!("{first}–{last}"),
                ]);
            }
            out.push_str(&t.render());
            out.push_str(&format!("head {head}\n\n"));
            out.push_str(&budget_table(&budget));
            out.push_str(&format!(
                "\nExplore the store:\n  finsam --store {} log\n  finsam --store {} log --from {} --format json\n",
                dir.display(),
                dir.display(),
                budget.seq
            ));
            emit(&out);
        }
        Format::Json => {
            let files: Vec<_> = recorded
                .iter()
                .map(|(name, n, first, last)| json!({"file": name, "events": n, "first_seq": first, "last_seq": last}))
                .collect();
            let value = json!({
                "store": dir.display().to_string(),
                "recorded": files,
                "head": {"seq": head.seq, "hash": head.hash},
                "budget": budget_json(&budget),
            });
            emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&value).expect("serialises")
            ));
        }
    }
    Ok(())
}

fn category_title(c: Category) -> &'static str {
    match c {
        Category::Admin => "Administration",
        Category::Individ => "Individinriktade insatser",
        Category::Struktur => "Metodutveckling och strukturpåverkande insatser",
    }
}

/// The budget in force as the plan prints it: cost lines by category with subtotals, then
/// income, result, transfers and the closing equity they lead to.
pub fn budget_table(b: &BudgetView) -> String {
    let mut out = format!(
        "Budget {} for {} ({} {}, seq {})\n",
        b.year,
        b.forbund,
        b.status.as_str(),
        b.decision,
        b.seq
    );
    let mut t = Table::new(&[
        ("line", Align::Left),
        ("insats", Align::Left),
        ("amount", Align::Right),
    ]);
    for c in Category::ALL {
        let lines: Vec<_> = b.costs.iter().filter(|l| l.category == *c).collect();
        if lines.is_empty() {
            continue;
        }
        t.row(vec![
            format!("{}:", category_title(*c)),
            String::new(),
            String::new(),
        ]);
        for l in &lines {
            t.row(vec![
                format!("  {}", l.name),
                l.insats.as_ref().map_or(String::new(), |i| i.to_string()),
                l.amount.human(),
            ]);
        }
        let sum: Amount = lines.iter().map(|l| l.amount).sum();
        t.row(vec![
            format!("  Summa {}", c.as_str()),
            String::new(),
            sum.human(),
        ]);
    }
    t.rule();
    t.row(vec![
        "Summa kostnader".into(),
        String::new(),
        b.costs_total().human(),
    ]);
    for l in &b.income {
        t.row(vec![l.name.clone(), String::new(), l.amount.human()]);
    }
    t.row(vec![
        "Resultat (intäkter − kostnader)".into(),
        String::new(),
        b.result().human(),
    ]);
    for l in &b.transfers {
        t.row(vec![l.name.clone(), String::new(), l.amount.human()]);
    }
    let opening = b
        .stated
        .as_ref()
        .and_then(|s| s.opening_equity)
        .unwrap_or_default();
    if !opening.is_zero() {
        t.row(vec![
            "Ingående eget kapital (as stated)".into(),
            String::new(),
            opening.human(),
        ]);
    }
    t.rule();
    t.row(vec![
        "Utgående eget kapital".into(),
        String::new(),
        (opening + b.result() + b.transfers_total()).human(),
    ]);
    out.push_str(&t.render());
    out
}

pub fn budget_json(b: &BudgetView) -> serde_json::Value {
    let lines: Vec<_> = b
        .costs
        .iter()
        .map(|l| json!({"id": l.id.as_str(), "name": l.name, "category": l.category.as_str(), "insats": l.insats.as_ref().map(|i| i.as_str()), "amount": l.amount.canonical()}))
        .collect();
    let by_category: serde_json::Map<String, serde_json::Value> = b
        .by_category()
        .iter()
        .map(|c| (c.category.as_str().to_string(), json!(c.amount.canonical())))
        .collect();
    let opening = b
        .stated
        .as_ref()
        .and_then(|s| s.opening_equity)
        .unwrap_or_default();
    json!({
        "forbund": b.forbund.as_str(),
        "year": b.year,
        "seq": b.seq,
        "lines": lines,
        "costs": {"total": b.costs_total().canonical(), "by_category": by_category},
        "income": {"total": b.income_total().canonical()},
        "result": b.result().canonical(),
        "transfers_in": b.transfers_total().canonical(),
        "closing_equity": (opening + b.result() + b.transfers_total()).canonical(),
    })
}
