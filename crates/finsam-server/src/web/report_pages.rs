//! The reports inside the app: the annual report, the follow-up, the members, the
//! reconciliation, the downloads and the verification.

use super::*;

#[derive(Deserialize, Default)]
pub(crate) struct PeriodQuery {
    #[serde(default)]
    pub(crate) till: Option<String>,
    #[serde(default)]
    pub(crate) kant: Option<String>,
}

/// A page made by `pages` (the annual report, the follow-up, the member statement), in the
/// app's frame: its body without its own shell.
pub(crate) fn inner(document: &str) -> &str {
    let start = document.find("<main>").map_or(0, |i| i + "<main>".len());
    let end = document.rfind("</main>").unwrap_or(document.len());
    &document[start..end]
}

pub(crate) async fn annual_page(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Reports { v, f, path, q, axes }: Reports,
) -> Response {
    let known_at = axes.known_at;
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let page =
            finsam_app::annual::annual_out(store, books, &forbund, year, known_at, &Default::default(), Format::Html)?;
        Ok((page, forbund_name(books, &forbund)?))
    })
    .await;
    report_in_frame(
        &v,
        &f,
        found,
        "Årsredovisning",
        &format!("Årsredovisning {year}"),
        html! {
            (year_links(&v, &f, "arsredovisning", year))
            p.note { "Vill du skriva ut? " a href={"/f/" (f) "/arsredovisning/" (year) "/utskrift"} { "Öppna utskriftsversionen" } " och skriv ut som PDF (A4)." }
            form.timebar method="get" action=(path) {
                label { "Känt vid (händelse nr eller tidpunkt)" input type="text" name="kant" value=(q.known_at().unwrap_or("")) placeholder="senaste"; }
                button.secondary type="submit" { "Visa" }
            }
        },
    )
}

pub(crate) async fn annual_print(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Reads { v, f, .. }: Reads,
) -> Response {
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        finsam_app::annual::annual_out(store, books, &forbund, year, None, &Default::default(), Format::Html)
    })
    .await;
    match found {
        Ok(page) => {
            let mut r = html_response(StatusCode::OK, PreEscaped(page), Some(&v.user), Some(&f));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            r
        }
        Err(a) => failure_page(&v, a),
    }
}

pub(crate) fn report_in_frame(
    v: &Visitor,
    f: &str,
    found: Result<(String, String), crate::Answer>,
    current: &str,
    title: &str,
    before: Markup,
) -> Response {
    match found {
        Ok((page, name)) => {
            let body = html! { (before) (PreEscaped(inner(&page))) };
            html_response(StatusCode::OK, layout(v, Some((f, &name)), current, title, body), Some(&v.user), Some(f))
        }
        Err(a) => failure_page(v, a),
    }
}

/// The month a follow-up or a delårsrapport runs through: `?till=ÅÅÅÅ-MM` in the year, else
/// this month in this year and December in another; and the known-at axis. A page explaining
/// what is wrong when either cannot be read.
fn month_asked(
    v: &Visitor,
    year: i32,
    q: &PeriodQuery,
) -> Result<(u32, Option<finsam_app::reports::KnownAt>), Box<Response>> {
    let today = chrono::Utc::now().date_naive();
    let default_month = if today.year() == year { today.month() } else { 12 };
    let month = match q.till.as_deref().filter(|t| !t.is_empty()) {
        None => default_month,
        Some(t) => match t.split_once('-').and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?))) {
            Some((y, m)) if y == year && (1..=12).contains(&m) => m,
            _ => {
                return Err(Box::new(problem_page(
                    Some(v),
                    StatusCode::BAD_REQUEST,
                    "Månaden kan inte läsas",
                    &format!("Ange en månad i {year} som ÅÅÅÅ-MM, t.ex. {year}-08."),
                )))
            }
        },
    };
    match (TimeQuery { per: None, kant: q.kant.clone() }).axes() {
        Ok(a) => Ok((month, a.known_at)),
        Err(e) => Err(Box::new(problem_page(Some(v), StatusCode::BAD_REQUEST, "Tidsaxlarna kan inte läsas", &e))),
    }
}

/// The month selector and the known-at field above a follow-up or a delårsrapport, with a link
/// to the other for the same month.
fn month_bar(path: &str, year: i32, month: u32, kant: Option<&str>, other: (&str, String)) -> Markup {
    let selected = format!("{year}-{month:02}");
    html! {
        form.timebar method="get" action=(path) {
            label { "Till och med månad"
                select name="till" {
                    @for m in 1..=12u32 {
                        @let value = format!("{year}-{m:02}");
                        option value=(value) selected[value == selected] { (pages::MONTH_NAMES[m as usize - 1]) " " (year) }
                    }
                }
            }
            label { "Känt vid (händelse nr eller tidpunkt)" input type="text" name="kant" value=(kant.unwrap_or("")) placeholder="senaste"; }
            button.secondary type="submit" { "Visa" }
            a href=(other.1) { (other.0) }
        }
    }
}

/// A report of a year through a month, in the app's frame: the follow-up or the delårsrapport.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MonthReport {
    FollowUp,
    Interim,
}

impl MonthReport {
    fn page(self) -> &'static str {
        match self {
            MonthReport::FollowUp => "uppfoljning",
            MonthReport::Interim => "delarsrapport",
        }
    }
}

async fn month_report(
    s: Shared_,
    year: i32,
    q: PeriodQuery,
    Reads { v, f, path }: Reads,
    report: MonthReport,
) -> Response {
    let (month, known_at) = match month_asked(&v, year, &q) {
        Ok(asked) => asked,
        Err(page) => return *page,
    };
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let asked = finsam_app::annual::PeriodAsked {
            year,
            through: (year, month),
            known_at,
            profile: finsam_projections::period::Profile::even(),
        };
        let page = match report {
            MonthReport::FollowUp => finsam_app::annual::period_out(store, books, &forbund, &asked, Format::Html)?,
            MonthReport::Interim => finsam_app::interim::interim_out(store, books, &forbund, &asked, Format::Html)?,
        };
        Ok((page, forbund_name(books, &forbund)?))
    })
    .await;
    let (title, other) = match report {
        MonthReport::FollowUp => {
            (format!("Ekonomisk uppföljning {year}"), ("Delårsrapport för samma månad", MonthReport::Interim))
        }
        MonthReport::Interim => {
            (format!("Delårsrapport {year}"), ("Uppföljning för samma månad", MonthReport::FollowUp))
        }
    };
    let other = (other.0, format!("/f/{f}/{}/{year}?till={year}-{month:02}", other.1.page()));
    let bar =
        html! { (year_links(&v, &f, report.page(), year)) (month_bar(&path, year, month, q.kant.as_deref(), other)) };
    report_in_frame(&v, &f, found, "Uppföljning", &title, bar)
}

/// The board's follow-up of a year through a month, as a page (`finsam report period`).
pub(crate) async fn period_page(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Query(q): Query<PeriodQuery>,
    reads: Reads,
) -> Response {
    month_report(s, year, q, reads, MonthReport::FollowUp).await
}

/// The delårsrapport of a year through a month, as a page (`finsam report interim`).
pub(crate) async fn interim_page(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Query(q): Query<PeriodQuery>,
    reads: Reads,
) -> Response {
    month_report(s, year, q, reads, MonthReport::Interim).await
}

pub(crate) async fn members_page(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Reports { v, f, path, q, axes }: Reports,
) -> Response {
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let page = finsam_app::annual::members_out(store, books, &forbund, year, &axes, Format::Html)?;
        Ok((page, forbund_name(books, &forbund)?))
    })
    .await;
    let bar = html! { (year_links(&v, &f, "medlemsbidrag", year)) (time_bar(&path, &q)) };
    report_in_frame(&v, &f, found, "Medlemsbidrag", &format!("Medlemsbidrag {year}"), bar)
}

impl From<&finsam_projections::reconcile::Finding> for Finding {
    fn from(x: &finsam_projections::reconcile::Finding) -> Finding {
        let human = |x: Option<finsam_projections::reconcile::Figure>| x.map_or(String::new(), |x| x.human());
        Finding {
            forbund: x.forbund.to_string(),
            subject: x.subject.clone(),
            stated: human(x.stated),
            computed: human(x.computed),
            difference: human(x.difference),
            error: x.severity.as_str() == "error",
            explanation: x.explanation.clone(),
            events: x.events.clone(),
            check: finsam_projections::reconcile::check_label(x.check).to_string(),
        }
    }
}

/// A reconciliation finding as the pages show it (figures in Swedish form).
pub(crate) struct Finding {
    pub(crate) forbund: String,
    pub(crate) subject: String,
    pub(crate) stated: String,
    pub(crate) computed: String,
    pub(crate) difference: String,
    pub(crate) error: bool,
    pub(crate) explanation: String,
    pub(crate) events: Vec<u64>,
    /// The check that found it, in words.
    pub(crate) check: String,
}

pub(crate) async fn reconciliation(State(s): State<Shared_>, Reports { v, f, path, q, axes }: Reports) -> Response {
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let slug = reports::parse_forbund(&forbund)?;
        reports::check_forbund(books, &slug)?;
        // The merger into this förbund, if there is one; else the store's checks, of which the
        // page shows only what concerns this förbund (the reader may read no other's books).
        let merger = books.projection.mergers.iter().any(|m| m.forbund == slug).then_some(forbund.as_str());
        let only = merger.is_none().then_some(&slug);
        let (result, merger, at) = reports::reconciliation(store, books, merger, only, &axes, Default::default())?;
        let table =
            reports::render_reconciliation(&result, books.projection, merger.as_ref(), at, books.head, Format::Table);
        // Each finding of its own with the findings it causes (reports::by_cause, as the table).
        let findings: Vec<(Finding, Vec<Finding>)> = reports::by_cause(&result.findings.iter().collect::<Vec<_>>())
            .into_iter()
            .map(|(x, caused)| (Finding::from(x), caused.into_iter().map(Finding::from).collect()))
            .collect();
        let names = super::event_view::Names::of(books, &slug);
        Ok((table, result.ok(), books.projection.forbund[&slug].name.clone(), findings, names))
    })
    .await;
    let (table, ok, name, findings, names) = match found {
        Ok(x) => x,
        Err(a) => return failure_page(&v, a),
    };
    // One mistake often shows in several places (a payment registered twice throws every
    // member's share off): a cause comes first, in a group of its own with its consequences
    // under it; the other findings are grouped by förbund and by the check that found them,
    // errors first.
    let mut groups: Vec<((String, String), Vec<&Finding>)> = Vec::new();
    for (x, caused) in findings.iter().filter(|(_, caused)| !caused.is_empty()) {
        let list = std::iter::once(x).chain(caused).collect();
        groups.push(((x.forbund.clone(), format!("orsak: {}", names.in_words(&x.subject))), list));
    }
    let causes = groups.len();
    for (x, _) in findings.iter().filter(|(_, caused)| caused.is_empty()) {
        let key = (x.forbund.clone(), x.check.clone());
        match groups[causes..].iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(x),
            None => groups.push((key, vec![x])),
        }
    }
    groups[causes..].sort_by_key(|(_, list)| !list.iter().any(|x| x.error));
    let consequences: usize = findings.iter().map(|(_, caused)| caused.len()).sum();
    let all = findings.len() + consequences;
    let errors = findings.iter().flat_map(|(x, caused)| std::iter::once(x).chain(caused)).filter(|x| x.error).count();
    let body = html! {
        h1 { "Avstämning" }
        (time_bar(&path, &q))
        p class=(if ok { "notice" } else { "warning" }) {
            @if ok { "Avstämningen går ihop." }
            @else { "Avstämningen har anmärkningar: " (errors) " fel och " (all - errors) " varningar, i " (groups.len()) " grupper nedan." }
            @if consequences > 0 {
                " " (consequences) " av dem är följder av en orsak som står först i sin grupp; de försvinner när orsaken rättas."
            }
        }
        @for (g, ((forbund, check), list)) in groups.iter().enumerate() {
            section.findings {
                h2 { (names.forbund.get(forbund).unwrap_or(forbund)) ": " (check) }
                div.scroll role="region" tabindex="0" aria-label={ "Anmärkningar, " (check) } {
                    table {
                        thead { tr { th scope="col" { "" } th scope="col" { "vad" } th.n scope="col" { "angivet" } th.n scope="col" { "beräknat" } th.n scope="col" { "skillnad" } th scope="col" { "förklaring" } th scope="col" { "händelser" } } }
                        tbody {
                            @for (i, x) in list.iter().enumerate() {
                                tr class=(if x.error { "problem" } else { "warning" }) {
                                    td {
                                        strong { (if x.error { "Fel" } else { "Varning" }) }
                                        @if g < causes && i > 0 { br; "följd av orsaken" }
                                        @else if g < causes { br; "orsak" }
                                    }
                                    th scope="row" { (names.in_words(&x.subject)) }
                                    td.n { (x.stated) }
                                    td.n { (x.computed) }
                                    td.n { (x.difference) }
                                    td { (names.in_words(&x.explanation)) }
                                    td { @for seq in &x.events {
                                        @if x.forbund == f { a href={"/f/" (f) "/handelse/" (seq)} { (seq) } " " } @else { (seq) " " }
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Hela avstämningen" }
        pre tabindex="0" role="region" aria-label="Hela avstämningen som text" { (table) }
    };
    html_response(
        StatusCode::OK,
        layout(&v, Some((&f, &name)), "Avstämning", "Avstämning", body),
        Some(&v.user),
        Some(&f),
    )
}

pub(crate) async fn downloads(State(s): State<Shared_>, Reads { v, f, .. }: Reads) -> Response {
    let snapshot = s.snapshot();
    let Some(info) = Slug::parse(&f).ok().and_then(|slug| snapshot.projection.forbund.get(&slug)) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", &format!("Förbundet {f} finns inte."));
    };
    let name = info.name.clone();
    // The years with a budget, whose budget workbook there is to download.
    let budgeted: std::collections::BTreeSet<i32> =
        snapshot.projection.budgets.iter().filter(|b| b.forbund.as_str() == f).map(|b| b.year).collect();
    // The years with books (as the menu offers them), latest first; a förbund without any yet
    // has its registration's year to download.
    let mut years: Vec<i32> = v.years.clone();
    if years.is_empty() {
        years.push(info.registered.year());
    }
    years.sort_unstable_by(|a, b| b.cmp(a));
    years.dedup();
    let api = format!("/api/v1/forbund/{f}");
    let exports = v.user.role != Role::Read;
    let body = html! {
        h1 { "Ladda ner" }
        @if !exports {
            p { "Din roll (läsare) får se rapporterna men inte ladda ner bokföringen." }
        } @else {
            table {
                caption { "Per räkenskapsår" }
                thead { tr { th { "år" } th { "revisorns paket" } th { "SIE 4" } th { "huvudbok (ledger)" } th { "Beancount (Fava)" } th { "kalkylark (xlsx)" } } }
                tbody {
                    @for y in &years {
                        tr {
                            td { (y) }
                            td { a href={(api) "/bundle/" (y)} download { "revisorns paket " (y) " (zip)" } }
                            td { a href={(api) "/export/sie/" (y)} download { (f) "-" (y) ".se" } }
                            td { a href={(api) "/export/journal?year=" (y)} download { (f) "-" (y) ".journal" } }
                            td { a href={(api) "/export/beancount?year=" (y)} download { (f) "-" (y) ".beancount" } }
                            td { a href={"/f/" (f) "/ladda-ner/" (y) "/arsredovisning.xlsx"} download { "årsredovisning " (y) }
                                @if budgeted.contains(y) { " · " a href={"/f/" (f) "/ladda-ner/" (y) "/budget.xlsx"} download { "budget " (y) } } }
                        }
                    }
                }
            }
        }
        p { "För kalkylprogram: " a href={"/f/" (f) "/ladda-ner/saldon.xlsx"} download { "saldon per konto (xlsx)" } ", "
            a href={"/f/" (f) "/ladda-ner/saldon.csv"} download { "saldon per konto (CSV)" }
            " — semikolon mellan fälten och decimalkomma, så att svenska Excel och LibreOffice öppnar filen i kolumner." }
        section {
            h2 { "Vad filerna är till för" }
            dl.event {
                dt { "Revisorns paket" } dd { "Allt en revisor behöver för att granska året utan finsam: loggen, rapporterna, konteringsreglerna och ett kontrollprogram i Python som räknar om varje belopp ur loggen och visar att inget har ändrats. Läs LÄSMIG.txt i paketet." }
                dt { "SIE 4" } dd { "Årets bokföring i standardformatet som svenska ekonomiprogram läser (Visma, Fortnox med flera): ingående balanser, verifikationer och utgående saldon." }
                dt { "Huvudbok (ledger)" } dd { "Samma verifikationer som textfil för programmen ledger och hledger, för den som vill räkna själv." }
                dt { "Beancount (Fava)" } dd { "Samma verifikationer för Beancount, som många kassörer läser i Fava: öppna filen med fava och se resultat- och balansräkningen i webbläsaren." }
                dt { "Kalkylark (xlsx)" } dd { "Årsredovisningen, budgeten och saldona för Excel eller LibreOffice: en flik per tabell (resultaträkning, balansräkning, noter …), beloppen som tal som går att summera." }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout(&v, Some((&f, &name)), "Ladda ner", "Ladda ner", body),
        Some(&v.user),
        Some(&f),
    )
}

pub(crate) async fn balances_csv(State(s): State<Shared_>, Reports { v, f, axes, .. }: Reports) -> Response {
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let (slug, at) = reports::forbund_at(store, books, &forbund, &axes)?;
        let chart = reports::chart_for(store, &slug)?;
        let b = books.projection.balances(&slug, at, &chart).expect("checked that the förbund exists");
        Ok((reports::balances_swedish_csv(&b), at.as_of))
    })
    .await;
    match found {
        Ok((csv, day)) => {
            let mut r = html_response(StatusCode::OK, PreEscaped(csv), Some(&v.user), Some(&f));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"saldon-{f}-{day}.csv\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, value);
            }
            r
        }
        Err(a) => failure_page(&v, a),
    }
}

/// A report as a workbook to download (`finsam_app::xlsx`), named `file`.
async fn workbook_download(
    s: Shared_,
    v: Visitor,
    f: String,
    file: String,
    make: impl FnOnce(&std::path::Path, finsam_app::reports::Books<'_>) -> Result<Vec<u8>, finsam_app::output::Failure>
        + Send
        + 'static,
) -> Response {
    match on_books(s, make).await {
        Ok(bytes) => {
            let mut r = (StatusCode::OK, bytes).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
                h.insert(header::CONTENT_DISPOSITION, value);
            }
            r.extensions_mut().insert(AccessNote {
                user: Some(v.user.name.clone()),
                forbund: Some(f),
                seqs: Vec::new(),
            });
            r
        }
        Err(a) => failure_page(&v, a),
    }
}

/// The balances (Saldon, Nyckeltal) as a workbook, at the page's axes.
pub(crate) async fn balances_xlsx(State(s): State<Shared_>, Reports { v, f, axes, .. }: Reports) -> Response {
    let (forbund, day) = (f.clone(), axes.as_of.map_or_else(|| "idag".to_string(), |d| d.to_string()));
    let file = format!("saldon-{f}-{day}.xlsx");
    workbook_download(s, v, f, file, move |store, books| {
        finsam_app::xlsx::of_report(|format| reports::balances_out(store, books, &forbund, &axes, format))
    })
    .await
}

/// A year's annual report (the statements, the driftredovisning, the notes) as a workbook.
pub(crate) async fn annual_xlsx(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Reports { v, f, axes, .. }: Reports,
) -> Response {
    let forbund = f.clone();
    let file = format!("arsredovisning-{f}-{year}.xlsx");
    workbook_download(s, v, f, file, move |store, books| {
        finsam_app::xlsx::of_report(|format| {
            finsam_app::annual::annual_out(store, books, &forbund, year, axes.known_at, &Default::default(), format)
        })
    })
    .await
}

/// A year's budget position as a workbook.
pub(crate) async fn budget_xlsx(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Reports { v, f, axes, .. }: Reports,
) -> Response {
    let forbund = f.clone();
    let file = format!("budget-{f}-{year}.xlsx");
    workbook_download(s, v, f, file, move |store, books| {
        let axes = Axes { as_of: axes.as_of.or(NaiveDate::from_ymd_opt(year, 12, 31)), known_at: axes.known_at };
        finsam_app::xlsx::of_report(|format| reports::budget_out(store, books, &forbund, year, &axes, format))
    })
    .await
}

#[derive(Deserialize, Default)]
pub(crate) struct VerifyQuery {
    #[serde(default)]
    pub(crate) kor: Option<String>,
    /// A head noted at an earlier review (SEQ:HASH), to check that nothing before it changed.
    #[serde(default)]
    pub(crate) huvud: Option<String>,
}

pub(crate) async fn verify_page(
    State(s): State<Shared_>,
    headers: HeaderMap,
    Query(q): Query<VerifyQuery>,
) -> Response {
    let v = match signed_in(&s, &headers, "/verifiera") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if !matches!(v.user.role, Role::Admin | Role::Revisor) {
        return problem_page(
            Some(&v),
            StatusCode::FORBIDDEN,
            "Ingen behörighet",
            "Verifieringen av hela loggen är för revisorer och administratörer.",
        );
    }
    let earlier = q.huvud.as_deref().map(str::trim).filter(|h| !h.is_empty());
    let digest = match earlier.map(finsam_store::verify::Digest::parse) {
        Some(Err(_)) => {
            return problem_page(
                Some(&v),
                StatusCode::BAD_REQUEST,
                "Huvudet kan inte läsas",
                "Ett huvud skrivs NR:HASH, som sidan visade vid förra granskningen: händelsens nummer, ett kolon och 64 tecken 0–9 och a–f.",
            )
        }
        Some(Ok(d)) => Some(d),
        None => None,
    };
    let result = if q.kor.is_some() {
        let dir = s.dir.clone();
        let digests: Vec<_> = digest.iter().cloned().collect();
        let task = tokio::task::spawn_blocking(move || {
            (finsam_store::verify(&dir, &digests), finsam_store::access::verify_access(&dir))
        });
        task.await.ok()
    } else {
        None
    };
    let body = html! {
        h1 { "Verifiera loggen" }
        p { "Verifieringen läser hela händelseloggen från början, räknar om varje rads hash i kedjan och kontrollerar att "
            "varje händelse följer reglerna, och läser åtkomstloggen på samma sätt. Loggens huvud kan jämföras med ett tidigare." }
        form.timebar method="get" action="/verifiera" {
            input type="hidden" name="kor" value="1";
            label { "Huvud från en tidigare granskning (frivilligt)"
                input type="text" name="huvud" value=(earlier.unwrap_or("")) placeholder="322:7b5e…" size="40"; }
            button.primary type="submit" { "Verifiera nu" }
        }
        @if let Some((events, access)) = &result {
            @match (events, access) {
                (Ok(r), Ok(a)) => {
                    @let ok = r.ok() && a.problem.is_none();
                    p class=(if ok { "notice" } else { "problem" }) #verifiering {
                        @if ok { "Loggen är hel: " (r.events) " händelser, kedjan obruten." } @else { "Loggen har fel: se nedan." }
                    }
                    @if let Some(h) = &r.head {
                        h2 { "Sammanfattning (digest)" }
                        p { "Loggens huvud: " code #digest { (h.seq) ":" (h.hash) } ". Spara det: klistra in det här vid nästa granskning, så visar sidan att inget före det har ändrats." }
                    }
                    @if let Some(d) = &digest {
                        @let changed = r.problems.iter().any(|(at, what)| *at == d.seq && what.starts_with("digest"));
                        p class=(if changed { "problem" } else { "notice" }) #jamforelse {
                            @if changed { "Huvudet från förra granskningen, händelse " (d.seq) ", stämmer inte: loggen har ändrats eller kortats före det." }
                            @else { "Huvudet från förra granskningen, händelse " (d.seq) ", finns kvar oförändrat: inget före det har ändrats." }
                        }
                    }
                    ul { @for (at, what) in &r.problems { li.error { "Vid händelse " (at) ": " (what) } } }
                    p { "Åtkomstloggen: " (a.lines) " rader" @if let Some(pr) = &a.problem { ", fel: " (pr) } "." }
                }
                (Err(e), _) | (_, Err(e)) => p.problem { "Verifieringen kunde inte köras: " (e.to_string()) },
            }
        }
    };
    html_response(StatusCode::OK, layout(&v, None, "", "Verifiera loggen", body), Some(&v.user), None)
}
