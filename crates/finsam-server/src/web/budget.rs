//! The budget form: lines in a table, or pasted from a spreadsheet.

use super::*;
use finsam_import::cells;

/// The columns of a budget's cost lines and income lines, in the form and in pasted rows.
pub(crate) const COST_COLUMNS: [&str; 6] = ["id", "name", "category", "insats", "nature", "amount"];
pub(crate) const INCOME_COLUMNS: [&str; 3] = ["id", "name", "amount"];

/// Empty rows the budget form offers beyond those filled in.
pub(crate) const SPARE_ROWS: usize = 6;

#[derive(Deserialize, Default)]
pub(crate) struct BudgetQuery {
    #[serde(default)]
    pub(crate) ar: Option<i32>,
}

/// The form's values of a budget: the one in force for `year`, if any, to start from.
pub(crate) fn budget_values(books: reports::Books<'_>, f: &Slug, year: i32) -> Values {
    let today = chrono::Utc::now().date_naive();
    let mut values = Values::new();
    values.insert("date".into(), today.to_string());
    values.insert("year".into(), year.to_string());
    values.insert("status".into(), "adopted".into());
    values.insert("idempotency_key".into(), format!("webb-{}", uuid::Uuid::new_v4().simple()));
    let at = finsam_projections::reports::At { as_of: NaiveDate::MAX, known_at: books.head };
    if let Some(p) = books.projection.budget_position(f, year, at) {
        let record =
            books.projection.budgets.iter().find(|b| b.seq == p.budget_seq).expect("the budget in force is recorded");
        for (i, l) in record.costs.iter().enumerate() {
            values.insert(format!("costs[{i}].id"), l.id.to_string());
            values.insert(format!("costs[{i}].name"), l.name.clone());
            values.insert(format!("costs[{i}].category"), l.category.as_str().to_string());
            values.insert(format!("costs[{i}].insats"), l.insats.as_ref().map_or(String::new(), |x| x.to_string()));
            values.insert(format!("costs[{i}].nature"), l.nature.map_or(String::new(), |n| n.as_str().to_string()));
            values.insert(format!("costs[{i}].amount"), l.amount.human_number());
        }
        for (i, l) in record.income.iter().enumerate() {
            values.insert(format!("income[{i}].id"), l.id.to_string());
            values.insert(format!("income[{i}].name"), l.name.clone());
            values.insert(format!("income[{i}].amount"), l.amount.human_number());
        }
    }
    values
}

/// How many rows of `list` the values hold (the highest index with a value, plus one).
pub(crate) fn rows_in(values: &Values, list: &str) -> usize {
    values
        .keys()
        .filter_map(|k| k.strip_prefix(list)?.strip_prefix('[')?.split_once(']')?.0.parse::<usize>().ok())
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
}

pub(crate) fn row_is_empty(values: &Values, list: &str, i: usize, columns: &[&str]) -> bool {
    columns.iter().all(|c| values.get(&format!("{list}[{i}].{c}")).is_none_or(|v| v.trim().is_empty()))
}

/// Rows pasted from a spreadsheet (tab-separated, as a spreadsheet copies them; a heading row
/// is recognised and skipped) taken into the table's rows after those filled in; the paste box
/// is emptied. A category or nature written in words ("Administration", "köpta tjänster") is
/// read as the contract's id; a cell that cannot be read keeps its text and is marked with the
/// reason. Returns the problems by field (the empty name for the paste as a whole: a row with
/// the wrong number of columns).
pub(crate) fn take_pasted(values: &mut Values, list: &str, columns: &[&str], paste: &str) -> Problems {
    let mut problems = Problems::new();
    let text = values.remove(paste).unwrap_or_default();
    let mut next = (0..rows_in(values, list)).filter(|i| !row_is_empty(values, list, *i, columns)).count();
    // Compact the filled rows first, so pasted ones follow them.
    let filled: Vec<Vec<String>> = (0..rows_in(values, list))
        .filter(|i| !row_is_empty(values, list, *i, columns))
        .map(|i| columns.iter().map(|c| values.get(&format!("{list}[{i}].{c}")).cloned().unwrap_or_default()).collect())
        .collect();
    values.retain(|k, _| !k.starts_with(&format!("{list}[")));
    for (i, row) in filled.iter().enumerate() {
        for (c, v) in columns.iter().zip(row) {
            values.insert(format!("{list}[{i}].{c}"), v.clone());
        }
    }
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split('\t').map(str::trim).collect();
        if n == 0 && cells.first().is_some_and(|c| c.eq_ignore_ascii_case("id")) {
            continue;
        }
        if cells.len() != columns.len() {
            problems.insert(String::new(), format!(
                "Inklistrad rad {} har {} kolumner; det ska vara {} ({}), åtskilda med tabb som när man kopierar från ett kalkylblad.",
                n + 1,
                cells.len(),
                columns.len(),
                columns.iter().map(|c| column_label(c)).collect::<Vec<_>>().join(", ")
            ));
            return problems;
        }
        for (c, v) in columns.iter().zip(cells) {
            let name = format!("{list}[{next}].{c}");
            let read = match *c {
                "category" if !v.is_empty() => cells::category(v).map(|x| x.as_str().to_string()),
                "nature" => cells::nature(v).map(|x| x.map_or(String::new(), |n| n.as_str().to_string())),
                _ => Ok(v.to_string()),
            };
            match read {
                Ok(id) => values.insert(name, id),
                Err(why) => {
                    problems.insert(name.clone(), format!("Inklistrad rad {}: {why}.", n + 1));
                    values.insert(name, v.to_string())
                }
            };
        }
        next += 1;
    }
    problems
}

/// The id of a table cell's control: "costs[2].amount" → "cell-costs-2-amount".
fn cell_id(name: &str) -> String {
    format!("cell-{}", name.replace(['[', '.'], "-").replace(']', ""))
}

/// A field in words, for the summary of problems: "kostnadsrad 3, belopp".
fn field_words(name: &str) -> String {
    match name.split_once('[').and_then(|(list, rest)| Some((list, rest.split_once("].")?))) {
        Some((list, (i, column))) => {
            let row = i.parse::<usize>().map_or(i.to_string(), |n| (n + 1).to_string());
            let what = if list == "costs" { "kostnadsrad" } else { "intäktsrad" };
            format!("{what} {row}, {}", column_label(column))
        }
        None => match name {
            "date" => "datum".into(),
            "year" => "budgetår".into(),
            "status" => "slag".into(),
            "decision.body" => "beslutande organ".into(),
            "decision.date" => "beslutsdatum".into(),
            other => other.into(),
        },
    }
}

pub(crate) fn column_label(c: &str) -> &'static str {
    match c {
        "id" => "id",
        "name" => "namn",
        "category" => "kategori",
        "insats" => "insats",
        "nature" => "art",
        "amount" => "belopp",
        "from" => "från förbund",
        _ => "",
    }
}

/// The budget the form's values describe, or the problems to show next to their cells.
pub(crate) fn budget_event(f: &str, values: &Values) -> Result<(Event, Value), Problems> {
    let mut problems = Problems::new();
    let mut get = |name: &str, required: bool| -> Option<String> {
        let v = values.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if v.is_none() && required {
            problems.insert(name.to_string(), "Uppgiften saknas och måste fyllas i.".into());
        }
        v
    };
    let date = get("date", true);
    let year = get("year", true);
    let status = get("status", true);
    let body = get("decision.body", true);
    let decision_date = get("decision.date", true);
    let paragraph = get("decision.paragraph", false);
    let lines = |list: &str, columns: &[&str], problems: &mut Problems| -> Vec<Value> {
        let mut out = Vec::new();
        for i in (0..rows_in(values, list)).filter(|i| !row_is_empty(values, list, *i, columns)) {
            let mut row = Map::new();
            for c in columns {
                let name = format!("{list}[{i}].{c}");
                let v = values.get(&name).map(|v| v.trim()).unwrap_or("");
                if v.is_empty() {
                    if matches!(*c, "id" | "name" | "category" | "amount") {
                        problems.insert(name, "Uppgiften saknas och måste fyllas i.".into());
                    }
                    continue;
                }
                if *c == "category" || *c == "nature" {
                    let read = if *c == "category" {
                        cells::category(v).map(|x| x.as_str().to_string())
                    } else {
                        cells::nature(v).map(|x| x.map_or(String::new(), |n| n.as_str().to_string()))
                    };
                    match read {
                        Ok(id) if id.is_empty() => {}
                        Ok(id) => {
                            row.insert(c.to_string(), json!(id));
                        }
                        Err(why) => {
                            problems.insert(name, format!("{why}."));
                        }
                    }
                    continue;
                }
                if *c == "amount" {
                    match swedish_amount(v) {
                        Ok(a) => row.insert("amount".into(), json!(a)),
                        Err(e) => {
                            problems.insert(name, e.into());
                            continue;
                        }
                    };
                } else {
                    row.insert(c.to_string(), json!(v));
                }
            }
            out.push(Value::Object(row));
        }
        out
    };
    let costs = lines("costs", &COST_COLUMNS, &mut problems);
    let income = lines("income", &INCOME_COLUMNS, &mut problems);
    let year: Option<i32> = match year.map(|y| y.parse()) {
        Some(Ok(y)) => Some(y),
        Some(Err(_)) => {
            problems.insert("year".into(), "Skriv året med fyra siffror, t.ex. 2025.".into());
            None
        }
        None => None,
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut decision = json!({"body": body, "date": decision_date});
    if let Some(p) = paragraph {
        decision["paragraph"] = json!(p);
    }
    let mut value = json!({"type": "BudgetAdopted", "forbund": f, "date": date, "year": year, "status": status,
        "decision": decision, "income": income, "costs": costs});
    if let Some(key) = values.get("idempotency_key").filter(|k| !k.is_empty()) {
        value["idempotency_key"] = json!(key);
    }
    Event::from_json(&value).map(|e| (e, value)).map_err(|r| {
        let mut p = Problems::new();
        let known = values.contains_key(&r.field);
        p.insert(if known { r.field.clone() } else { String::new() }, r.rule.swedish().to_string());
        p
    })
}

pub(crate) fn budget_form(
    v: &Visitor,
    f: &str,
    c: &Choices,
    values: &Values,
    problems: &Problems,
    confirm: Option<Markup>,
) -> Markup {
    let value = |name: &str| values.get(name).cloned().unwrap_or_default();
    let cell = |name: String, kind: &str| -> Markup {
        let problem = problems.get(&name);
        let current = value(&name);
        // Each cell has an id of its own, so that the summary of problems links to it and its
        // error is tied to it.
        let id = cell_id(&name);
        let error_id = format!("fel-{id}");
        let invalid = problem.is_some().then_some("true");
        let described = problem.is_some().then_some(error_id.as_str());
        html! {
            td class=(if problem.is_some() { "field invalid" } else { "field" }) {
                @match kind {
                    "category" => select id=(id) name=(name) aria-label="kategori" aria-invalid=[invalid] aria-describedby=[described] {
                        option value="" { "–" }
                        @for (id, label) in CATEGORIES { option value=(id) selected[current == *id] { (label) } }
                        // A value that is none of the choices is shown as it was written, never as "–".
                        @if !current.is_empty() && !CATEGORIES.iter().any(|(id, _)| *id == current) { option value=(current) selected { (current) } }
                    },
                    "nature" => select id=(id) name=(name) aria-label="art" aria-invalid=[invalid] aria-describedby=[described] {
                        @for (id, label) in NATURES { option value=(id) selected[current == *id] { (label) } }
                        @if !current.is_empty() && !NATURES.iter().any(|(id, _)| *id == current) { option value=(current) selected { (current) } }
                    },
                    "insats" => select id=(id) name=(name) aria-label="insats" aria-invalid=[invalid] aria-describedby=[described] {
                        option value="" { "–" }
                        @for (id, label) in &c.insatser { option value=(id) selected[current == *id] { (label) } }
                    },
                    "amount" => input id=(id) type="text" name=(name) value=(current) inputmode="decimal" aria-label="belopp" size="12" aria-invalid=[invalid] aria-describedby=[described];,
                    other => input id=(id) type="text" name=(name) value=(current) aria-label=(column_label(other)) aria-invalid=[invalid] aria-describedby=[described];,
                }
                @if let Some(p) = problem { div.error id=(error_id) role="alert" { (p) } }
            }
        }
    };
    let cost_rows = rows_in(values, "costs") + SPARE_ROWS;
    let income_rows = rows_in(values, "income") + 2;
    let single = |name: &str, label: &str, control: Markup| {
        let problem = problems.get(name);
        html! {
            div class=(if problem.is_some() { "field invalid" } else { "field" }) {
                label for=(name.replace('.', "-")) { (label) }
                (control)
                @if let Some(p) = problem { div.error id={"fel-" (name.replace('.', "-"))} role="alert" { (p) } }
            }
        }
    };
    let body = html! {
        h1 { "Budget" }
        p { "En budget som styrelsen antagit (eller en plan för ett senare år). Raderna skrivs i tabellen eller klistras in från ett kalkylblad. "
            "Finns redan en budget för året står dess rader här att ändra: den nya ersätter den." }
        @if let Some(general) = problems.get("") { div.problem role="alert" #fel { "Inget har registrerats: " (general) } }
        @else if !problems.is_empty() {
            div.problem role="alert" #fel {
                "Inget har registrerats. Rätta det som är markerat:"
                ul { @for (field, p) in problems.iter() {
                    li { a href={"#" (if field.contains('[') { cell_id(field) } else { field.replace('.', "-") })} { (field_words(field)) } ": " (p) }
                } }
            }
        }
        @if let Some(c) = confirm { (c) }
        form.event.wide method="post" action={"/f/" (f) "/registrera/budget"} novalidate {
            input type="hidden" name="csrf" value=(v.csrf);
            input type="hidden" name="idempotency_key" value=(value("idempotency_key"));
            (single("date", "Datum", html! { input #date type="date" name="date" value=(value("date")); }))
            (single("year", "Budgetår", html! { input #year type="number" name="year" value=(value("year")) min="2000" max="2100"; }))
            (single("status", "Slag", html! { select #status name="status" {
                option value="adopted" selected[value("status") == "adopted"] { "antagen budget" }
                option value="outlook" selected[value("status") == "outlook"] { "plan för ett senare år" }
            } }))
            (single("decision.body", "Beslutande organ", html! { input #decision-body type="text" name="decision.body" value=(value("decision.body")); }))
            (single("decision.date", "Beslutsdatum", html! { input #decision-date type="date" name="decision.date" value=(value("decision.date")); }))
            (single("decision.paragraph", "Paragraf (frivilligt)", html! { input #decision-paragraph type="text" name="decision.paragraph" value=(value("decision.paragraph")); }))
            h2 { "Kostnadsrader" }
            table.budget {
                caption { "Kostnader (kr)" }
                thead { tr { th { "id" } th { "namn" } th { "kategori" } th { "insats" } th { "art" } th { "belopp" } } }
                tbody {
                    @for i in 0..cost_rows {
                        tr { @for col in COST_COLUMNS { (cell(format!("costs[{i}].{col}"), col)) } }
                    }
                }
            }
            div.field {
                label for="klistra-kostnader" { "Klistra in kostnadsrader från ett kalkylblad (frivilligt)" }
                textarea #klistra-kostnader name="klistra_kostnader" rows="4" aria-describedby="klistra-kostnader-hjalp" {}
                div.help #klistra-kostnader-hjalp { "Kolumner: id, namn, kategori (Individinriktade insatser, Strukturinriktade insatser eller Administration), insats (id eller tomt), art (tomt, personal, köpta tjänster, lämnade bidrag eller övrigt), belopp (1 750 000 eller 1 750 000,50). "
                    "Raderna läggs till i tabellen när du granskar." }
            }
            h2 { "Intäktsrader" }
            table.budget {
                caption { "Intäkter (kr)" }
                thead { tr { th { "id" } th { "namn" } th { "belopp" } } }
                tbody {
                    @for i in 0..income_rows {
                        tr { @for col in INCOME_COLUMNS { (cell(format!("income[{i}].{col}"), col)) } }
                    }
                }
            }
            div.field {
                label for="klistra-intakter" { "Klistra in intäktsrader (frivilligt)" }
                textarea #klistra-intakter name="klistra_intakter" rows="2" {}
                div.help { "Kolumner: id, namn, belopp." }
            }
            input type="hidden" name="steg" value="granska";
            button.primary type="submit" { "Granska" }
        }
    };
    layout(v, Some((f, &c.name)), "Registrera", "Budget", body)
}

pub(crate) async fn budget_get(
    State(s): State<Shared_>,
    Records { v, f }: Records,
    Query(q): Query<BudgetQuery>,
) -> Response {
    let Some(c) = form_choices(&s, &f, &v.user) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", &format!("Förbundet {f} finns inte."));
    };
    let snapshot = s.snapshot();
    let slug = Slug::parse(&f).expect("form_choices found the förbund");
    let year = q.ar.unwrap_or_else(|| chrono::Utc::now().date_naive().year());
    let values = budget_values(reports::Books::from(&*snapshot), &slug, year);
    html_response(StatusCode::OK, budget_form(&v, &f, &c, &values, &Problems::new(), None), Some(&v.user), Some(&f))
}

pub(crate) async fn budget_post(
    State(s): State<Shared_>,
    Records { v, f }: Records,
    Form(mut values): Form<Values>,
) -> Response {
    if !values.get("csrf").is_some_and(|c| same_secret(c, &v.csrf)) {
        return csrf_refused(Some(&v.user));
    }
    let Some(c) = form_choices(&s, &f, &v.user) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", &format!("Förbundet {f} finns inte."));
    };
    let mut problems = Problems::new();
    for (list, columns, paste) in
        [("costs", &COST_COLUMNS[..], "klistra_kostnader"), ("income", &INCOME_COLUMNS[..], "klistra_intakter")]
    {
        problems.extend(take_pasted(&mut values, list, columns, paste));
    }
    let again = |problems: &Problems, values: &Values| {
        html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            budget_form(&v, &f, &c, values, problems, None),
            Some(&v.user),
            Some(&f),
        )
    };
    if !problems.is_empty() {
        return again(&problems, &values);
    }
    let step = values.get("steg").cloned().unwrap_or_default();
    let (event, _) = match budget_event(&f, &values) {
        Ok(x) => x,
        Err(problems) => return again(&problems, &values),
    };
    let (checked, warnings, _) = match through_writer(&s, event.clone(), &v, "/f/{id}/registrera/budget", true).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match checked {
        Err(StoreError::Rejected(r)) => {
            let mut p = Problems::new();
            p.insert(
                if values.contains_key(&r.field) { r.field.clone() } else { String::new() },
                r.rule.swedish().to_string(),
            );
            return again(&p, &values);
        }
        Err(e) => return store_failure_page(&v, e),
        Ok(_) => {}
    }
    let acknowledged = values.contains_key("sett_varningar");
    if step != "registrera" || (!warnings.is_empty() && !acknowledged) {
        let finsam_domain::EventKind::BudgetAdopted { costs, income, .. } = &event.kind else {
            unreachable!("budget_event makes a BudgetAdopted")
        };
        let cost_total: Amount = costs.iter().map(|l| l.amount).sum();
        let income_total: Amount = income.iter().map(|l| l.amount).sum();
        let confirm = html! {
            section.notice #granskning {
                h2 { "Granska" }
                p #sammanfattning { (finsam_projections::summary::summary(&event)) }
                p { (costs.len()) (if costs.len() == 1 { " kostnadsrad" } else { " kostnadsrader" }) ", summa " strong #summa-kostnader { (cost_total.human()) } "; "
                    (income.len()) (if income.len() == 1 { " intäktsrad" } else { " intäktsrader" }) ", summa " strong #summa-intakter { (income_total.human()) } "; resultat "
                    strong { ((income_total - cost_total).human()) } "." }
                @for (_, w) in &warnings { p.warning role="alert" { (w.swedish) } }
                p { "Stämmer det? Registrera nedan, eller ändra i tabellen och granska igen." }
                form method="post" action={"/f/" (f) "/registrera/budget"} {
                    input type="hidden" name="csrf" value=(v.csrf);
                    @for (k, val) in &values {
                        @if !matches!(k.as_str(), "csrf" | "steg" | "sett_varningar") { input type="hidden" name=(k) value=(val); }
                    }
                    @if !warnings.is_empty() {
                        label { input type="checkbox" name="sett_varningar" value="1" required; " Jag har sett varningarna och vill registrera ändå." }
                    }
                    button.primary type="submit" name="steg" value="registrera" { "Registrera budgeten" }
                }
            }
        };
        return html_response(
            StatusCode::OK,
            budget_form(&v, &f, &c, &values, &Problems::new(), Some(confirm)),
            Some(&v.user),
            Some(&f),
        );
    }
    let (outcome, _, _) = match through_writer(&s, event, &v, "/f/{id}/registrera/budget", false).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    recorded_answer(&v, &f, outcome, |r| {
        let mut p = Problems::new();
        p.insert(String::new(), r.rule.swedish().to_string());
        again(&p, &values)
    })
}
