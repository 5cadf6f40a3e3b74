//! The parts of the årsredovisning around the statements (LKBR ch. 11–12, RKR R15): the
//! förvaltningsberättelse (the year in brief, generated, and the kansli's own text per
//! section), god ekonomisk hushållning och balanskrav, the redovisningsprinciper generated from
//! what the books hold, and the path after the year's end (adopted, audited, discharged) with
//! the board's signatures. Computed once into plain data; rendered as a page, as text and as
//! JSON from the same data.

use crate::pages::money_cell;
use crate::table::{Align, Table};
use finsam_domain::event::{AuditVerdict, AuditorRole, ReportSection};
use finsam_domain::Amount;
use finsam_projections::annual::{Annual, CapitalKind};
use finsam_projections::chart::Chart;
use finsam_projections::projection::{PathRecord, PathStep};
use maud::{html, Markup};
use serde_json::{json, Value};

/// One row of "Året i korthet": the year, its budget (when there is one) and the year before.
pub struct BriefRow {
    pub key: &'static str,
    pub label: &'static str,
    pub year: Amount,
    pub budget: Option<Amount>,
    pub previous: Option<Amount>,
}

/// A step of the path: what it is, where it stands, and whether it came (or is) late.
pub struct PathLine {
    pub step: &'static str,
    pub text: String,
    pub late: bool,
}

pub struct Parts {
    pub brief: Vec<BriefRow>,
    /// Generated sentences per section of the förvaltningsberättelse (before the kansli's text).
    pub generated: Vec<(ReportSection, Vec<String>)>,
    pub hushallning: Vec<String>,
    pub principles: Vec<String>,
    pub path: Vec<PathLine>,
    /// The adoption's date and decision, for the signatures.
    pub signed: Option<String>,
}

/// Splits a text's paragraphs into runs: plain paragraphs, and lists (paragraphs starting "- ").
fn blocks(paragraphs: &[String]) -> Vec<(bool, Vec<&str>)> {
    let mut out: Vec<(bool, Vec<&str>)> = Vec::new();
    for p in paragraphs {
        let (item, text) = match p.strip_prefix("- ") {
            Some(rest) => (true, rest),
            None => (false, p.as_str()),
        };
        match out.last_mut() {
            Some((true, items)) if item => items.push(text),
            _ => out.push((item, vec![text])),
        }
    }
    out
}

pub fn parts(a: &Annual, chart: &Chart) -> Parts {
    let s = &a.current;
    let previous = a.previous.as_ref().map(|(_, p)| p);
    let income =
        |x: &finsam_projections::annual::Statements| x.result.income.total.amount + x.result.financial_income.amount;
    let costs =
        |x: &finsam_projections::annual::Statements| x.result.costs.total.amount + x.result.financial_costs.amount;
    let o = a.operations.as_ref();
    let brief = vec![
        BriefRow {
            key: "intakter",
            label: "Intäkter",
            year: income(s),
            budget: o.map(|o| o.budget_result + o.budget_total),
            previous: previous.map(income),
        },
        BriefRow {
            key: "kostnader",
            label: "Kostnader",
            year: costs(s),
            budget: o.map(|o| -o.budget_total),
            previous: previous.map(costs),
        },
        BriefRow {
            key: "arets_resultat",
            label: "Årets resultat",
            year: s.result.result.amount,
            budget: o.map(|o| o.budget_result),
            previous: previous.map(|p| p.result.result.amount),
        },
        BriefRow {
            key: "eget_kapital",
            label: "Eget kapital vid årets slut",
            year: s.balance.equity.closing.amount,
            budget: None,
            previous: previous.map(|p| p.balance.equity.closing.amount),
        },
    ];

    let result = s.result.result.amount;
    let mut hushallning = Vec::new();
    match o {
        Some(o) => {
            let what = if o.budget_status == finsam_domain::event::BudgetStatus::Outlook {
                "planens utblick för året (ingen antagen budget)"
            } else {
                "budgeten"
            };
            hushallning.push(format!(
                "Årets resultat är {} kr mot {} kr enligt {what}, en avvikelse på {} kr.",
                result.human_number(),
                o.budget_result.human_number(),
                (result - o.budget_result).human_number()
            ));
            if o.budget_result.is_negative() {
                hushallning.push(format!(
                    "Underskottet i {what} är en planerad användning av eget kapital: {} kr planerades, {} kr användes.",
                    (-o.budget_result).human_number(),
                    (-result).max(Amount::ZERO).human_number()
                ));
            }
        }
        None => hushallning.push(format!(
            "Ingen budget antogs för {}: årets resultat, {} kr, kan inte ställas mot en budget.",
            s.year,
            result.human_number()
        )),
    }
    let c = &a.equity_ceiling;
    hushallning.push(match c.within {
        Some(within) => format!(
            "Eget kapital vid årets slut är {} kr; taket, {} av årets medlemsbidrag ({} kr), är {} kr: {}.",
            c.equity.human_number(),
            crate::reports::pct(Some(c.ceiling)),
            c.contributions.human_number(),
            c.limit.human_number(),
            if within {
                "inom taket"
            } else {
                "över taket, vilket kan begränsa statens medelstilldelning kommande år"
            }
        ),
        None => format!(
            "Eget kapital vid årets slut är {} kr; inga medlemsbidrag under året att mäta taket mot.",
            c.equity.human_number()
        ),
    });

    let mut principles = vec![
        "Årsredovisningen är upprättad enligt lagen (2018:597) om kommunal bokföring och redovisning i de delar som gäller för samordningsförbund.".to_string(),
        "Bokföringen sker enligt bokföringsmässiga grunder: intäkter och kostnader redovisas det år de hör till.".to_string(),
        "Medlemsbidragen redovisas som intäkt när bidraget för året är beslutat, och som fordran på medlemmen till dess det är betalt.".to_string(),
        "Leverantörsfakturor redovisas som kostnad när de kommer in och som leverantörsskuld till dess de är betalda.".to_string(),
        "Kostnader och intäkter som hör till året men faktureras eller betalas ett annat år periodiseras vid årets slut och återförs den 1 januari året därpå.".to_string(),
        "En ingående balans den 1 januari är årets ingående eget kapital, inte en förändring under året; bokföring som börjar under året redovisas på en egen rad.".to_string(),
        "Kostnaderna redovisas efter slag (personal, köpta tjänster, lämnade bidrag till insatser, övriga kostnader) och, i driftredovisningen, efter ändamål (individinriktade och strukturinriktade insatser, administration).".to_string(),
    ];
    let payroll = s.personnel.costs.iter().any(|(r, _)| matches!(r, finsam_projections::chart::Role::Payroll(_)));
    if payroll {
        principles.push("Löner redovisas månadsvis enligt lönesammandraget; källskatt, arbetsgivaravgifter, pension och särskild löneskatt redovisas som skuld till dess de är betalda, och semesterlöneskulden vid årets slut.".to_string());
    }
    if s.capital.iter().any(|c| c.kind == CapitalKind::Received) {
        principles.push("Vid sammanläggningen tog förbundet över de tidigare förbundens tillgångar och skulder till bokfört värde; det eget kapital de lämnade redovisas som eget kapital mottaget vid sammanläggning.".to_string());
    }
    principles.push(format!("Bokföringens konton: {}.", chart.name));

    let p = &a.path;
    let mut path = vec![PathLine {
        step: "Upprättad",
        text: format!("ur bokföringen med de händelser som registrerats t.o.m. nr {}", a.known_at),
        late: false,
    }];
    match &p.adopted {
        Some((r, same)) => {
            let PathStep::Adopted { decision, .. } = &r.step else { unreachable!("an adoption") };
            let mut text = format!("av {} {}", decision.body, decision.date);
            if let Some(par) = &decision.paragraph {
                text.push_str(&format!(" {par}"));
            }
            if r.date > p.adopt_by {
                text.push_str(&format!(" (efter {}, tre månader efter årets slut)", p.adopt_by));
            }
            if !same {
                text.push_str(
                    ". Bokföringen har ändrats sedan beslutet: siffrorna skiljer sig från den antagna årsredovisningen",
                );
            }
            path.push(PathLine { step: "Antagen", text, late: r.date > p.adopt_by || !same });
        }
        None => {
            path.push(PathLine { step: "Antagen", text: format!("inte ännu (senast {})", p.adopt_by), late: false })
        }
    }
    if p.audits.is_empty() {
        path.push(PathLine { step: "Reviderad", text: "ingen revisionsberättelse ännu".into(), late: false });
    }
    for r in &p.audits {
        let PathStep::Audited { auditor, role, appointed_by, verdict, remarks } = &r.step else {
            unreachable!("an audit")
        };
        let role = match role {
            AuditorRole::Authorised => "auktoriserad revisor",
            AuditorRole::Lay => "lekmannarevisor",
        };
        let by = appointed_by.as_ref().map_or(String::new(), |b| format!(", utsedd av {b}"));
        let verdict = match verdict {
            AuditVerdict::Endorses => "tillstyrker ansvarsfrihet",
            AuditVerdict::Opposes => "avstyrker ansvarsfrihet",
        };
        let remarks = remarks.as_ref().map_or(String::new(), |m| format!(". Anmärkning: {m}"));
        path.push(PathLine {
            step: "Reviderad",
            text: format!("{} {auditor} ({role}{by}): {verdict}{remarks}", r.date),
            late: false,
        });
    }
    for (name, r) in &p.discharges {
        let PathStep::Discharge { granted, decision, .. } = &r.step else { unreachable!("a discharge") };
        let what = if *granted { "beviljad" } else { "inte beviljad" };
        let late = r.date > p.discharge_by;
        let after = if late { format!(", efter {}", p.discharge_by) } else { String::new() };
        path.push(PathLine {
            step: "Ansvarsfrihet",
            text: format!("{name}: {what} {} ({}{after})", r.date, decision.body),
            late: late || !granted,
        });
    }
    for name in &p.pending {
        path.push(PathLine {
            step: "Ansvarsfrihet",
            text: format!("{name}: inget beslut ännu (senast {})", p.discharge_by),
            late: false,
        });
    }
    let signed = p.adopted.as_ref().map(|(r, _)| {
        let PathStep::Adopted { decision, .. } = &r.step else { unreachable!("an adoption") };
        let par = decision.paragraph.as_ref().map_or(String::new(), |p| format!(" {p}"));
        format!("Antagen av {} {}{par}", decision.body, decision.date)
    });
    let mut generated = Vec::new();
    let merger: Vec<String> = s
        .capital
        .iter()
        .filter(|c| c.kind == CapitalKind::Received)
        .map(|c| {
            format!(
                "{}: {} ({}): eget kapital {} kr, varav likvida medel {} kr",
                c.date,
                c.text,
                c.voucher,
                c.equity.human_number(),
                c.cash.human_number()
            )
        })
        .collect();
    if !merger.is_empty() {
        generated.push((ReportSection::Significant, merger));
    }
    let after: Vec<String> = a
        .after_year_end
        .iter()
        .map(|(date, voucher, text, bank)| format!("{date}: {text} ({voucher}), {} kr", bank.human_number()))
        .collect();
    if !after.is_empty() {
        generated.push((ReportSection::AfterYearEnd, after));
    }
    if let Some(o) = o {
        let mut insatser: Vec<String> = o
            .by_category
            .iter()
            .filter(|c| !c.budget.is_zero() || !c.spent.is_zero())
            .map(|c| {
                let share = (!c.budget.is_zero()).then(|| c.spent.decimal() / c.budget.decimal());
                format!(
                    "{}: utfall {} kr mot budget {} kr ({} av budgeten), {} kr {}",
                    crate::reports::category_title(c.category),
                    c.spent.human_number(),
                    c.budget.human_number(),
                    crate::reports::pct(share),
                    Amount::from_decimal((c.budget - c.spent).decimal().abs()).human_number(),
                    if c.spent > c.budget { "över budget" } else { "under budget" }
                )
            })
            .collect();
        if let Some(l) =
            o.lines.iter().max_by_key(|l| ((l.budget - l.spent).decimal().abs(), std::cmp::Reverse(l.id.clone())))
        {
            if l.budget != l.spent {
                insatser.push(format!(
                    "Störst avvikelse: {}, utfall {} kr mot budget {} kr",
                    l.name,
                    l.spent.human_number(),
                    l.budget.human_number()
                ));
            }
        }
        if !o.unbudgeted.is_zero() {
            insatser.push(format!("Kostnader utanför budgetens rader: {} kr", o.unbudgeted.human_number()));
        }
        if !insatser.is_empty() {
            generated.push((ReportSection::Insatser, insatser));
        }
    }
    let personnel: Amount = s.personnel.costs.iter().map(|(_, a)| *a).sum();
    match &a.staff {
        Some(staff) => {
            let mut list = Vec::new();
            if staff.months > 0 {
                list.push(format!(
                    "Förbundet betalade lön till i genomsnitt {} personer per månad under {} månader med lönesammandrag, som mest {}",
                    staff.average.to_string().replace('.', ","),
                    staff.months,
                    staff.most
                ));
            }
            list.push(format!(
                "Löner, arvoden och avgifter enligt lönesammandragen: {} kr; personalkostnader i resultaträkningen: {} kr",
                staff.costs.human_number(),
                personnel.human_number()
            ));
            generated.push((ReportSection::Staff, list));
        }
        None if !personnel.is_zero() => generated.push((
            ReportSection::Staff,
            vec![format!(
                "Personalkostnader {} kr; inga lönesammandrag är registrerade för året, så antalet anställda framgår inte av bokföringen",
                personnel.human_number()
            )],
        )),
        None => {}
    }
    generated.push((
        ReportSection::Outlook,
        vec![match (&a.merged_into, a.next_budget) {
            (Some((into, day)), _) => format!("Förbundet gick upp i {into} den {day}; verksamheten fortsätter där."),
            (None, Some((date, adopted, income, costs))) => format!(
                "{} för {} ({date}): intäkter {} kr, kostnader {} kr, resultat {} kr.",
                if adopted { "Budgeten" } else { "Planens utblick" },
                s.year + 1,
                income.human_number(),
                costs.human_number(),
                (income - costs).human_number()
            ),
            (None, None) => format!("Ingen budget för {} är registrerad ännu.", s.year + 1),
        }],
    ));
    Parts { brief, generated, hushallning, principles, path, signed }
}

/// The generated sentences of a section, if any.
fn generated_of(parts: &Parts, section: ReportSection) -> Option<&[String]> {
    parts.generated.iter().find(|(s, _)| *s == section).map(|(_, list)| list.as_slice())
}

/// The note on ansvarsförbindelser: the kansli's text for it, or a sentence saying none was
/// entered.
pub fn contingent(a: &Annual) -> Vec<String> {
    match text_of(a, ReportSection::Contingent) {
        Some(text) => text.to_vec(),
        None => vec![format!("Inga ansvarsförbindelser har angetts för {}.", a.current.year)],
    }
}

/// The kansli's text of a section, if recorded.
fn text_of(a: &Annual, section: ReportSection) -> Option<&[String]> {
    a.texts.iter().find(|t| t.section == section).map(|t| t.paragraphs.as_slice())
}

/// The sections of the förvaltningsberättelse that come after the year in brief.
const SECTIONS: [ReportSection; 5] = [
    ReportSection::Significant,
    ReportSection::AfterYearEnd,
    ReportSection::Insatser,
    ReportSection::Staff,
    ReportSection::Outlook,
];

pub fn paragraphs_html(paragraphs: &[String]) -> Markup {
    html! {
        @for (list, items) in blocks(paragraphs) {
            @if list { ul { @for i in items { li { (i) } } } } @else { @for p in items { p { (p) } } }
        }
    }
}

pub fn before_statements_html(a: &Annual, parts: &Parts) -> Markup {
    let previous_year = a.previous.as_ref().map(|(_, p)| p.year.to_string()).unwrap_or_else(|| "–".into());
    let cell = |x: Option<Amount>| html! { @match x { Some(v) => (money_cell(v)), None => td.n { "–" } } };
    html! {
        section #forvaltningsberattelse {
            h2 { "Förvaltningsberättelse" }
            h3 { "Året i korthet" }
            table {
                caption { "Året i korthet " (a.current.year) " (kr)" }
                thead { tr { th { "" } th.n { (a.current.year) } th.n { "budget" } th.n { (previous_year) } } }
                tbody {
                    @for r in &parts.brief {
                        tr { td { (r.label) } (money_cell(r.year)) (cell(r.budget)) (cell(r.previous)) }
                    }
                }
            }
            @if let Some(text) = text_of(a, ReportSection::YearInBrief) { (paragraphs_html(text)) }
            @for section in SECTIONS {
                @let text = text_of(a, section);
                @let generated = generated_of(parts, section);
                @if text.is_some() || generated.is_some() {
                    h3 { (section.heading()) }
                    @if let Some(list) = generated { ul { @for g in list { li { (g) } } } }
                    @if let Some(text) = text { (paragraphs_html(text)) }
                }
            }
            h3 { (ReportSection::Hushallning.heading()) }
            @for sentence in &parts.hushallning { p { (sentence) } }
            @if let Some(text) = text_of(a, ReportSection::Hushallning) { (paragraphs_html(text)) }
        }
        section #redovisningsprinciper {
            h2 { "Redovisningsprinciper" }
            ul { @for p in &parts.principles { li { (p) } } }
        }
    }
}

pub fn after_notes_html(parts: &Parts) -> Markup {
    html! {
        section #vag {
            h2 { "Årsredovisningens väg" }
            table {
                caption { "Från bokslut till ansvarsfrihet" }
                thead { tr { th { "steg" } th { "" } } }
                tbody {
                    @for l in &parts.path {
                        tr class=[l.late.then_some("late")] { td { (l.step) } td { (l.text) @if l.late { " " strong { "(avvikelse)" } } } }
                    }
                }
            }
        }
        section #underskrifter {
            h2 { "Underskrifter" }
            p { (parts.signed.clone().unwrap_or_else(|| "Ort och datum: ____________________".into())) }
            div.signatures {
                @for _ in 0..6 { div.signature { div.line {} p.note { "Namnteckning och namnförtydligande" } } }
            }
        }
    }
}

pub fn text(a: &Annual, parts: &Parts) -> String {
    let indent = |text: &str| format!("  {text}\n");
    let mut out = String::from("\nFörvaltningsberättelse\n\nÅret i korthet (kr)\n");
    let previous_year = a.previous.as_ref().map(|(_, p)| p.year.to_string()).unwrap_or_else(|| "–".into());
    let this_year = a.current.year.to_string();
    let mut t = Table::new(&[
        ("", Align::Left),
        (&this_year, Align::Right),
        ("budget", Align::Right),
        (&previous_year, Align::Right),
    ]);
    t.name_sheet("Året i korthet");
    let money = |x: Option<Amount>| x.map_or("–".to_string(), |v| v.human_number());
    for r in &parts.brief {
        t.row(vec![r.label.to_string(), r.year.human_number(), money(r.budget), money(r.previous)]);
    }
    out.push_str(&t.render());
    let paragraphs = |out: &mut String, text: &[String]| {
        for (list, items) in blocks(text) {
            for i in items {
                out.push_str(&indent(&if list { format!("– {i}") } else { i.to_string() }));
            }
        }
    };
    if let Some(text) = text_of(a, ReportSection::YearInBrief) {
        paragraphs(&mut out, text);
    }
    for section in SECTIONS {
        let (text, generated) = (text_of(a, section), generated_of(parts, section));
        if text.is_none() && generated.is_none() {
            continue;
        }
        out.push_str(&format!("\n{}\n", section.heading()));
        for g in generated.unwrap_or_default() {
            out.push_str(&indent(&format!("– {g}")));
        }
        if let Some(text) = text {
            paragraphs(&mut out, text);
        }
    }
    out.push_str(&format!("\n{}\n", ReportSection::Hushallning.heading()));
    for s in &parts.hushallning {
        out.push_str(&indent(s));
    }
    if let Some(text) = text_of(a, ReportSection::Hushallning) {
        paragraphs(&mut out, text);
    }
    out.push_str("\nRedovisningsprinciper\n");
    for p in &parts.principles {
        out.push_str(&indent(&format!("– {p}")));
    }
    out
}

pub fn path_text(parts: &Parts) -> String {
    let mut out = String::from("\nÅrsredovisningens väg\n");
    let mut t = Table::new(&[("steg", Align::Left), ("", Align::Left)]);
    t.name_sheet("Årsredovisningens väg");
    for l in &parts.path {
        let late = if l.late { " (avvikelse)" } else { "" };
        t.row(vec![l.step.to_string(), format!("{}{late}", l.text)]);
    }
    out.push_str(&t.render());
    out
}

pub fn json(a: &Annual, parts: &Parts) -> Value {
    json!({
        "forvaltningsberattelse": {
            "aret_i_korthet": parts.brief.iter().map(|r| json!({
                "key": r.key, "label": r.label, "year": r.year.canonical(),
                "budget": r.budget.map(Amount::canonical), "previous": r.previous.map(Amount::canonical),
            })).collect::<Vec<_>>(),
            "resultat_per_kategori": a.operations.iter().flat_map(|o| o.by_category.iter()).filter(|c| !c.budget.is_zero() || !c.spent.is_zero()).map(|c| json!({
                "category": c.category.as_str(), "budget": c.budget.canonical(), "utfall": c.spent.canonical(),
            })).collect::<Vec<_>>(),
            "texts": a.texts.iter().map(|t| json!({
                "section": t.section.as_str(), "heading": t.section.heading(), "paragraphs": t.paragraphs,
                "seq": t.seq, "date": t.date.to_string(),
            })).collect::<Vec<_>>(),
        },
        "generated": parts.generated.iter().map(|(section, list)| json!({"section": section.as_str(), "sentences": list})).collect::<Vec<_>>(),
        "god_ekonomisk_hushallning": parts.hushallning,
        "redovisningsprinciper": parts.principles,
        "vag": parts.path.iter().map(|l| json!({"step": l.step, "text": l.text, "late": l.late})).collect::<Vec<_>>(),
        "path": path_json(&a.path),
    })
}

fn path_json(p: &finsam_projections::annual::AnnualPath) -> Value {
    let record = |r: &PathRecord| -> Value {
        match &r.step {
            PathStep::Adopted { known_at, figures_sha256, decision } => json!({
                "seq": r.seq, "date": r.date.to_string(), "known_at": known_at, "figures_sha256": figures_sha256,
                "decision": {"body": decision.body, "date": decision.date.to_string(), "paragraph": decision.paragraph},
            }),
            PathStep::Audited { auditor, role, appointed_by, verdict, remarks } => json!({
                "seq": r.seq, "date": r.date.to_string(), "auditor": auditor, "role": role.as_str(),
                "appointed_by": appointed_by, "verdict": verdict.as_str(), "remarks": remarks,
            }),
            PathStep::Discharge { member, granted, decision } => json!({
                "seq": r.seq, "date": r.date.to_string(), "member": member.as_str(), "granted": granted,
                "decision": {"body": decision.body, "date": decision.date.to_string(), "paragraph": decision.paragraph},
            }),
        }
    };
    json!({
        "adopted": p.adopted.as_ref().map(|(r, same)| json!({"record": record(r), "figures_unchanged": same})),
        "adopt_by": p.adopt_by.to_string(),
        "audits": p.audits.iter().map(record).collect::<Vec<_>>(),
        "discharges": p.discharges.iter().map(|(_, r)| record(r)).collect::<Vec<_>>(),
        "pending": p.pending,
        "discharge_by": p.discharge_by.to_string(),
    })
}

/// The notes of the report, numbered in the order they are printed and referred to from the
/// statements' rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    Members,
    Personnel,
    Equity,
    Receivables,
    Liabilities,
    Accruals,
    Contingent,
    Ceiling,
}

impl NoteKind {
    pub fn key(self) -> &'static str {
        match self {
            NoteKind::Members => "medlemsbidrag",
            NoteKind::Personnel => "personal",
            NoteKind::Equity => "eget_kapital",
            NoteKind::Receivables => "fordringar",
            NoteKind::Liabilities => "kortfristiga_skulder",
            NoteKind::Accruals => "periodiseringar",
            NoteKind::Contingent => "ansvarsforbindelser",
            NoteKind::Ceiling => "eget_kapital_mot_taket",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            NoteKind::Members => "Medlemsbidrag per medlem",
            NoteKind::Personnel => "Personal",
            NoteKind::Equity => "Eget kapital",
            NoteKind::Receivables => "Kortfristiga fordringar",
            NoteKind::Liabilities => "Kortfristiga skulder",
            NoteKind::Accruals => "Periodiseringar",
            NoteKind::Contingent => "Ansvarsförbindelser",
            NoteKind::Ceiling => "Eget kapital mot taket",
        }
    }
}

/// The notes this report has, numbered from 1: personnel only in a year with personnel costs or
/// payroll liabilities.
pub fn notes(a: &Annual) -> Vec<(usize, NoteKind)> {
    let personnel = !a.current.personnel.costs.is_empty() || !a.current.personnel.owed.is_empty();
    [
        Some(NoteKind::Members),
        personnel.then_some(NoteKind::Personnel),
        Some(NoteKind::Equity),
        Some(NoteKind::Receivables),
        Some(NoteKind::Liabilities),
        Some(NoteKind::Accruals),
        Some(NoteKind::Contingent),
        Some(NoteKind::Ceiling),
    ]
    .into_iter()
    .flatten()
    .enumerate()
    .map(|(i, k)| (i + 1, k))
    .collect()
}

/// The note a statement's row refers to.
pub fn note_of_row(statement: &str, key: &str) -> Option<NoteKind> {
    match (statement, key) {
        ("resultatrakning", "medlemsbidrag_staten" | "medlemsbidrag_region" | "medlemsbidrag_kommuner") => {
            Some(NoteKind::Members)
        }
        ("resultatrakning", "personalkostnader") | ("balansrakning", "personalskulder") => Some(NoteKind::Personnel),
        (
            "balansrakning",
            "ingaende_eget_kapital"
            | "bokforingen_borjade"
            | "mottaget_eget_kapital"
            | "ovriga_forandringar"
            | "arets_resultat"
            | "eget_kapital",
        ) => Some(NoteKind::Equity),
        ("balansrakning", "fordringar") => Some(NoteKind::Receivables),
        ("balansrakning", "kortfristiga_skulder") => Some(NoteKind::Liabilities),
        ("balansrakning", "forutbetalda_kostnader" | "upplupna_kostnader") => Some(NoteKind::Accruals),
        _ => None,
    }
}

/// The number of the note a statement's row refers to, in this report.
pub fn note_number(notes: &[(usize, NoteKind)], statement: &str, key: &str) -> Option<usize> {
    let kind = note_of_row(statement, key)?;
    notes.iter().find(|(_, k)| *k == kind).map(|(n, _)| *n)
}

/// The receivables or the short-term liabilities at the year's end, account by account:
/// (account, name, amount).
pub fn by_account(a: &Annual, chart: &Chart, kind: NoteKind) -> Vec<(String, String, Amount)> {
    use finsam_projections::chart::Role;
    let wanted = |r: Role| match kind {
        NoteKind::Receivables => matches!(r, Role::Receivable | Role::OpeningDifferenceAsset),
        NoteKind::Liabilities => matches!(r, Role::Payable | Role::OpeningDifferenceLiability),
        _ => false,
    };
    per_account(chart, a.current.closing_by_role.iter().copied().filter(|(r, _)| wanted(*r)))
}

/// Amounts by role as rows by account — (account, name, amount), in account order — adding
/// up the roles that share an account.
pub fn per_account(
    chart: &Chart,
    list: impl Iterator<Item = (finsam_projections::chart::Role, Amount)>,
) -> Vec<(String, String, Amount)> {
    let mut rows: Vec<(String, String, Amount)> = Vec::new();
    for (role, amount) in list {
        let account = chart.account(role);
        match rows.iter_mut().find(|(n, ..)| *n == account.number) {
            Some(row) => row.2 += amount,
            None => rows.push((account.number.clone(), account.name.clone(), amount)),
        }
    }
    rows.sort_by(|x, y| x.0.cmp(&y.0));
    rows
}

/// The equity note's rows: (label, this year, the year before).
pub fn equity_rows(a: &Annual) -> Vec<(&'static str, Amount, Option<Amount>)> {
    let previous = a.previous.as_ref().map(|(_, p)| &p.balance.equity);
    let e = &a.current.balance.equity;
    let mut rows = vec![("Eget kapital vid årets början", e.opening.amount, previous.map(|p| p.opening.amount))];
    if !e.opened.amount.is_zero() || previous.is_some_and(|p| !p.opened.amount.is_zero()) {
        rows.push((
            "Ingående eget kapital när bokföringen började",
            e.opened.amount,
            previous.map(|p| p.opened.amount),
        ));
    }
    rows.push(("Mottaget vid sammanläggning", e.received.amount, previous.map(|p| p.received.amount)));
    rows.push(("Överlämnat vid sammanläggning", e.other.amount, previous.map(|p| p.other.amount)));
    rows.push(("Årets resultat", e.result.amount, previous.map(|p| p.result.amount)));
    rows.push(("Eget kapital vid årets slut", e.closing.amount, previous.map(|p| p.closing.amount)));
    rows
}
