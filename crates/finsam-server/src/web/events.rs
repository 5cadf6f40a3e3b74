//! One event (what it says, its vouchers, the decision behind it, its correction) and the trail.

use super::*;

/// Swedish names of the contract's fields, for the event page.
#[derive(Deserialize, Default)]
pub(crate) struct EventQuery {
    #[serde(default)]
    pub(crate) registrerad: Option<String>,
    #[serde(default)]
    pub(crate) bifogat: Option<String>,
}

pub(crate) async fn event_page(
    State(s): State<Shared_>,
    UrlPath((_, seq)): UrlPath<(String, u64)>,
    Query(q): Query<EventQuery>,
    Reads { v, f, .. }: Reads,
) -> Response {
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let slug = reports::parse_forbund(&forbund)?;
        reports::check_forbund(books, &slug)?;
        if seq == 0 || seq > books.head {
            return Err(finsam_app::output::Failure {
                code: 2,
                message: format!("händelse nr {seq} finns inte i loggen (den har {} händelser)", books.head),
            });
        }
        let mut found = None;
        finsam_store::read_events(store, &[seq], &mut |e| {
            found = Some(e);
            Ok(())
        })?;
        let e = found.ok_or_else(|| finsam_app::output::Failure {
            code: 2,
            message: format!("händelse nr {seq} finns inte i loggen"),
        })?;
        let p = books.projection;
        let chart = reports::chart_for(store, &slug)?;
        let vouchers = p.vouchers_of(seq);
        let authority = vouchers.first().and_then(|vo| p.authorised_by(vo, &e.event));
        let rows: Vec<VoucherRows> = vouchers
            .iter()
            .map(|vo| {
                let rows = vo
                    .rows
                    .iter()
                    .map(|r| {
                        let a = chart.account(r.role);
                        (a.number.clone(), a.name.clone(), r.amount)
                    })
                    .collect();
                (format!("{} ({}, {})", vo.label(), vo.date, vo.forbund), rows)
            })
            .collect();
        let touches = e.event.forbund == slug || e.event.forbund_named().contains(&&slug);
        if !touches {
            return Err(finsam_app::output::Failure {
                code: 2,
                message: format!("händelse nr {seq} rör inte {}s bokföring", books.projection.forbund[&slug].name),
            });
        }
        let names = super::event_view::Names::of(books, &slug);
        let files = super::underlag::underlag_of(p, &slug, seq);
        let own = e.event.forbund == slug;
        Ok((
            p.forbund[&slug].name.clone(),
            e,
            rows,
            authority,
            p.corrected.get(&seq).map(|(c, _)| *c),
            names,
            files,
            own,
        ))
    })
    .await;
    let (name, e, vouchers, authority, corrected_by, names, files, own) = match found {
        Ok(x) => x,
        Err(a) => return failure_page(&v, a),
    };
    let value = e.event.to_json();
    let type_name = e.event.type_name();
    let title = format!("{} – händelse {seq}", finsam_projections::summary::type_label(type_name));
    let decision = e.event.kind.decision();
    let corrects = match e.event.kind {
        finsam_domain::EventKind::EventCorrected { corrects, .. } => Some(corrects),
        _ => None,
    };
    let body = html! {
        @if q.bifogat.is_some() {
            p.notice role="status" #bifogat { "Underlaget är bifogat." }
        }
        @if q.registrerad.is_some() {
            p.notice role="status" #registrerad { "Registrerat som händelse " strong { (seq) }
                @if let Some((label, _)) = vouchers.first() { ", verifikation " strong { (label) } } "." }
        }
        h1 { (title) }
        p.meta { (names.in_words(&finsam_projections::summary::summary(&e.event))) }
        dl.event {
            dt { "Händelse" } dd { "nr " (seq) " i loggen" }
            dt { "Sort" } dd { (finsam_projections::summary::type_label(type_name)) " (" code { (type_name) } ")" }
            dt { "Registrerad" } dd { time datetime=(e.recorded_at) { (pages::local_time(&e.recorded_at)) } " svensk tid, av " (e.recorded_by) }
            (super::event_view::fields_html(&value, &names, &f))
            dt { "Kedjans hash" } dd { code { (e.hash) } }
        }
        details.json {
            summary { "Visa som JSON" }
            p.note { "Händelsen som den står i loggen (den kanoniska raden som kedjans hash räknas på)." }
            pre tabindex="0" role="region" aria-label="Händelsen som JSON" { (serde_json::to_string_pretty(&value).expect("serialises")) }
        }
        section {
            h2 { "Beslut" }
            @match (decision, authority) {
                (Some(d), _) => p #beslut { "Beslutat av " strong { (d.body) } " den " (d.date)
                    @if let Some(par) = &d.paragraph { ", " (par) } "." },
                (None, Some(by)) => p #beslut-via { "Händelsen har inget eget beslut; den stöds av "
                    a #beslutet href={"/f/" (f) "/handelse/" (by)} { "beslutet i händelse " (by) } "." },
                (None, None) => p { "Ingen beslutsuppgift hör till händelsen." },
            }
        }
        @if let Some(c) = corrected_by {
            p.warning { "Händelsen är rättad av " a href={"/f/" (f) "/handelse/" (c)} { "händelse " (c) } "." }
        }
        @if let Some(c) = corrects {
            p.note { "Rättar " a href={"/f/" (f) "/handelse/" (c)} { "händelse " (c) } "." }
        }
        section {
            h2 { "Verifikationer" }
            @if vouchers.is_empty() { p { "Händelsen bokför inget (inga pengar rör sig)." } }
            @for (label, rows) in &vouchers {
                table {
                    caption { (label) }
                    thead { tr { th { "konto" } th { "namn" } th.n { "debet" } th.n { "kredit" } } }
                    tbody {
                        @for (number, account_name, amount) in rows {
                            tr { td { a href={"/f/" (f) "/konto/" (number)} { (number) } } td { (account_name) }
                                @if amount.is_negative() { td.n { "" } (money_cell(-*amount)) } @else { (money_cell(*amount)) td.n { "" } } }
                        }
                    }
                }
            }
        }
        (underlag_section(&v, &f, seq, &files, own && v.may_record(&f) && type_name != "UnderlagAttached"))
        @if v.may_record(&f) && corrected_by.is_none() && corrects.is_none() {
            p { a href={"/f/" (f) "/registrera/rattelse?seq=" (seq)} { "Rätta händelsen" } }
        }
    };
    html_response(StatusCode::OK, layout(&v, Some((&f, &name)), "", &title, body), Some(&v.user), Some(&f))
}

#[derive(Deserialize, Default)]
pub(crate) struct TrailQuery {
    #[serde(default)]
    pub(crate) fran: Option<String>,
    #[serde(default)]
    pub(crate) till: Option<String>,
    #[serde(default)]
    pub(crate) insats: Option<String>,
    #[serde(default)]
    pub(crate) sort: Option<String>,
}

pub(crate) async fn trail(
    State(s): State<Shared_>,
    Query(q): Query<TrailQuery>,
    Reads { v, f, path }: Reads,
) -> Response {
    let date =
        |t: &Option<String>| t.as_deref().filter(|t| !t.is_empty()).map(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d"));
    let (from, to) = match (date(&q.fran).transpose(), date(&q.till).transpose()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return problem_page(
                Some(&v),
                StatusCode::BAD_REQUEST,
                "Datumen kan inte läsas",
                "Skriv datum som ÅÅÅÅ-MM-DD.",
            )
        }
    };
    let filter =
        reports::TrailFilter { forbund: Some(f.clone()), insats: q.insats.clone().filter(|i| !i.is_empty()), from, to };
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let rows = reports::trail_rows(store, books, filter)?;
        let name = forbund_name(books, &forbund)?;
        let insatser: Vec<(String, String)> = books
            .projection
            .insatser
            .iter()
            .filter(|i| i.forbund.as_str() == forbund)
            .map(|i| (i.insats.to_string(), i.name.clone()))
            .collect();
        let names = super::event_view::Names::of(books, &reports::parse_forbund(&forbund)?);
        Ok((rows, name, insatser, names))
    })
    .await;
    let (rows, name, insatser, names) = match found {
        Ok(x) => x,
        Err(a) => return failure_page(&v, a),
    };
    let kind = q.sort.clone().filter(|k| !k.is_empty());
    let types: std::collections::BTreeSet<String> =
        rows.iter().filter_map(|r| r["type"].as_str().map(String::from)).collect();
    let shown: Vec<&Value> = rows.iter().filter(|r| kind.as_ref().is_none_or(|k| r["type"] == k.as_str())).collect();
    let body = html! {
        h1 { "Händelser" }
        form.timebar method="get" action=(path) aria-label="Filter" {
            label { "Från" input type="date" name="fran" value=(q.fran.as_deref().unwrap_or("")); }
            label { "Till" input type="date" name="till" value=(q.till.as_deref().unwrap_or("")); }
            label { "Sort"
                select name="sort" {
                    option value="" { "alla" }
                    @for t in &types { option value=(t) selected[kind.as_deref() == Some(t.as_str())] { (finsam_projections::summary::type_label(t)) } }
                }
            }
            label { "Insats"
                select name="insats" {
                    option value="" { "alla" }
                    @for (id, n) in &insatser { option value=(id) selected[q.insats.as_deref() == Some(id.as_str())] { (n) } }
                }
            }
            button.secondary type="submit" { "Filtrera" }
        }
        p.meta { (shown.len()) " händelser." }
        table {
            caption { "Händelser i registreringsordning" }
            thead { tr { th.n { "nr" } th.date { "datum" } th { "sort" } th { "vad" } th { "beslut" } th { "registrerad av" } } }
            tbody {
                @for r in &shown {
                    tr {
                        td.n { a href={"/f/" (f) "/handelse/" (r["seq"])} { (r["seq"]) } }
                        td.date { (r["date"].as_str().unwrap_or("")) }
                        td { (finsam_projections::summary::type_label(r["type"].as_str().unwrap_or(""))) }
                        td { (names.in_words(r["summary"].as_str().unwrap_or("")))
                            @if let Some(c) = r["corrected_by"].as_u64() { " " span.error { "(rättad av " (c) ")" } } }
                        td { @if let Some(d) = r["decision"].as_object() { (d["body"].as_str().unwrap_or("")) " " span.date { (d["date"].as_str().unwrap_or("")) } } }
                        td { (r["recorded_by"].as_str().unwrap_or("")) }
                    }
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout(&v, Some((&f, &name)), "Händelser", "Händelser", body),
        Some(&v.user),
        Some(&f),
    )
}
