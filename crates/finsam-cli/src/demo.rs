//! `finsam demo`: the fixtures recorded into a fresh store, and the main reports.

use chrono::NaiveDate;
use finsam_app::output::{emit, report_open, Failure};
use finsam_app::table::{Align, Table};
use finsam_app::{reports, Format};
use finsam_domain::Slug;
use finsam_projections::reconcile::{reconcile, Options};
use finsam_projections::{At, Chart};
use finsam_store::Store;
use serde_json::json;
use std::path::PathBuf;

/// The fixtures, in recording order, compiled into the binary so the demo runs anywhere.
pub const FIXTURES: &[(&str, &str)] = &[
    ("fixtures/00-forbund.jsonl", include_str!("../../../fixtures/00-forbund.jsonl")),
    ("fixtures/10-vasteras-2021.jsonl", include_str!("../../../fixtures/10-vasteras-2021.jsonl")),
    ("fixtures/15-vastra-malardalen.jsonl", include_str!("../../../fixtures/15-vastra-malardalen.jsonl")),
    ("fixtures/20-norra-vastmanland-2023.jsonl", include_str!("../../../fixtures/20-norra-vastmanland-2023.jsonl")),
    ("fixtures/30-vastmanland-2024.jsonl", include_str!("../../../fixtures/30-vastmanland-2024.jsonl")),
    ("fixtures/35-merger-example.jsonl", include_str!("../../../fixtures/35-merger-example.jsonl")),
    ("fixtures/40-vastmanland-2024-example.jsonl", include_str!("../../../fixtures/40-vastmanland-2024-example.jsonl")),
    (
        "fixtures/50-vastmanland-2024-arsredovisning.jsonl",
        include_str!("../../../fixtures/50-vastmanland-2024-arsredovisning.jsonl"),
    ),
];

const DEMO_ACTOR: &str = "finsam-demo";

fn fresh_dir(explicit: Option<PathBuf>) -> Result<PathBuf, Failure> {
    let explicit = explicit.or_else(|| std::env::var_os("FINSAM_STORE").filter(|v| !v.is_empty()).map(PathBuf::from));
    match explicit {
        Some(dir) => Ok(dir),
        None => {
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            Ok(std::env::temp_dir().join(format!("finsam-demo-{}-{nanos}", std::process::id())))
        }
    }
}

pub fn run(store: Option<PathBuf>, format: Format) -> Result<(), Failure> {
    let dir = fresh_dir(store)?;
    finsam_store::init(&dir).map_err(|e| match e {
        finsam_store::StoreError::AlreadyAStore { dir } => Failure::usage(format!(
            "the demo records into a fresh store, but {} holds one already; pass --store with a new directory",
            dir.display()
        )),
        other => other.into(),
    })?;
    let (mut store, report) = Store::open(&dir)?;
    report_open(&report);
    let mut recorded = Vec::new();
    for (name, text) in FIXTURES {
        let outcome = finsam_app::record::record_bytes(&mut store, text.as_bytes(), DEMO_ACTOR, None)
            .map_err(|f| Failure { code: f.code, message: format!("{name}: {}", f.message) })?;
        let first = outcome.first().map_or(0, |r| r.seq);
        let last = outcome.last().map_or(0, |r| r.seq);
        recorded.push((name, outcome.len(), first, last));
    }
    store.save_checkpoint()?;
    let forbund = Slug::parse("sf-vastmanland").expect("a valid id");
    let head = store.head().clone();
    let at = At { as_of: NaiveDate::from_ymd_opt(2024, 12, 31).expect("valid"), known_at: head.seq };
    let chart = Chart::default_chart();
    let projection = store.projection();
    let position =
        projection.budget_position(&forbund, 2024, at).expect("the fixtures hold the 2024 budget of sf-vastmanland");
    let balances = projection.balances(&forbund, at, &chart).expect("the fixtures register sf-vastmanland");
    let mut events = Vec::new();
    store.read(1, head.seq, &mut |e| {
        events.push((e.seq, e.event));
        Ok(())
    })?;
    let options = Options { merger: Some(forbund.clone()), forbund: None, at, rules: Default::default() };
    let reconciliation =
        reconcile(projection, &events, options).expect("the fixtures decide the merger into sf-vastmanland");
    // The annual report 2024 of the new förbund, as a page to open, print or archive.
    let annual = projection
        .annual(&forbund, 2024, head.seq, &finsam_projections::annual::CeilingRule::default_rule())
        .expect("the fixtures register sf-vastmanland");
    let page = finsam_app::annual::render(&annual, &chart, &head, Format::Html);
    let annual_path = dir.join("arsredovisning-sf-vastmanland-2024.html");
    finsam_store::files::write_new(&annual_path, page.as_bytes())?;
    // Two users for the web app: the förbund's kansli (records) and a revisor (reads, traces,
    // verifies).
    use finsam_store::access::{grant, Role};
    let kansli = grant(&dir, "demo", "kansli", Role::Kansli, &["sf-vastmanland".to_string()])?;
    let revisor = grant(&dir, "demo", "revisor", Role::Revisor, &["sf-vastmanland".to_string()])?;
    match format {
        Format::Table | Format::Csv | Format::Html => {
            let mut out =
                format!("finsam demo: exempeldata (fixtures) registrerade i ett nytt lager i {}\n\n", dir.display());
            let mut t = Table::new(&[("fil", Align::Left), ("händelser", Align::Right), ("seq", Align::Left)]);
            for (name, n, first, last) in &recorded {
                t.row(vec![name.to_string(), n.to_string(), format!("{first}–{last}")]);
            }
            out.push_str(&t.render());
            out.push_str(&format!("loggens huvud {head}\n\n"));
            out.push_str(&reports::render_budget(&position, head.seq, Format::Table));
            out.push('\n');
            out.push_str(&reports::render_balances(&balances, &chart, head.seq, None, Format::Table));
            out.push('\n');
            out.push_str(&reports::render_reconciliation(
                &reconciliation,
                projection,
                Some(&forbund),
                at,
                head.seq,
                Format::Table,
            ));
            out.push_str("(Felen ovan är de räknefel som källdokumenten själva innehåller: se fixtures/README.md.)\n");
            let d = dir.display();
            let p = program();
            out.push_str(&format!(
                "\nLagret sparas så att du kan utforska det (ta bort det med `rm -r {d}` när du är klar):\n  {p} --store {d} log\n  {p} --store {d} budget --forbund sf-vastmanland --year 2024 --as-of 2024-06-30\n  {p} --store {d} audit trail --forbund sf-vastmanland --insats samordningsteam-sala\n  {p} --store {d} audit explain --forbund sf-vastmanland --account 1930 --as-of 2024-12-31\n  {p} --store {d} reconcile --merger sf-vastmanland --format json\n  {p} --store {d} report annual --forbund sf-vastmanland --year 2024\n"
            ));
            out.push_str(&format!(
                "\nÅrsredovisningen 2024 för Samordningsförbundet Västmanland (resultaträkning, balansräkning,\nkassaflödesanalys, driftredovisning, noter, diagram) finns i\n  {}\nÖppna den i en webbläsare; skriv ut den som PDF (A4) därifrån.\n",
                annual_path.display()
            ));
            out.push_str(&format!(
                "\nWebbappen: starta servern och öppna http://127.0.0.1:8080 i en webbläsare:\n  {p} --store {d} serve --listen 127.0.0.1:8080\nLogga in med koden för\n  kansliet (registrerar):               {kansli}\n  revisorn (läser, spårar, verifierar): {revisor}\n"
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
                "budget": reports::budget_answer(&position),
                "balances": reports::balances_json(&balances, &chart),
                "reconciliation": reports::reconciliation_answer(&reconciliation, Some(&forbund), at),
                "annual_report": annual_path.display().to_string(),
                "web": {"serve": format!("{} --store {} serve --listen 127.0.0.1:8080", program(), dir.display()),
                    "url": "http://127.0.0.1:8080", "tokens": {"kansli": kansli, "revisor": revisor}},
            });
            emit(&format!("{}\n", serde_json::to_string_pretty(&value).expect("serialises")));
        }
    }
    Ok(())
}

/// The program as it was started, so that the commands the demo prints run as printed: `finsam`
/// when it is on the PATH, `target/release/finsam` after `cargo run --release` (from the same
/// directory), quoted if it holds a space.
fn program() -> String {
    let p = std::env::args().next().unwrap_or_else(|| "finsam".into());
    if p.contains(' ') {
        format!("'{p}'")
    } else {
        p
    }
}
