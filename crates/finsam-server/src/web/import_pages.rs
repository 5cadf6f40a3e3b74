//! Bank files in the web app: the kansli uploads one, sees each payment with what it was
//! matched to and why, assigns the payments that wait (to a member's contribution or a
//! supplier invoice) or leaves them, and records — all in one batch, the file kept as underlag.
//! The queue lists the bank files kept for the förbund and how many of their payments wait.

use super::*;
use axum::extract::Multipart;
use finsam_app::import::{Assignment, BankImport};
use finsam_import::matching::Outcome;

/// A text with its amounts kept whole: the space between digit groups made non-breaking.
fn whole_amounts(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, c) in chars.iter().enumerate() {
        let between_digits =
            *c == ' ' && i > 0 && chars[i - 1].is_ascii_digit() && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        out.push(if between_digits { '\u{a0}' } else { *c });
    }
    out
}

/// The import of a kept bank file against the books as they stand now.
fn propose(s: &Shared, f: &Slug, sha: &str, name: &str) -> Result<(BankImport, Vec<u8>), finsam_app::output::Failure> {
    let bytes = finsam_store::underlag::read(&s.dir, sha)?;
    // Read before the lock: only the matching needs the books the writer keeps.
    let parsed = finsam_app::import::read_bank(name, &bytes)?;
    let store = s.store.lock().expect("the store's lock is never poisoned");
    let proposal = finsam_app::import::propose_bank_file(&store, f, name, sha, parsed)?;
    Ok((proposal, bytes))
}

/// The bank files kept as underlag of a förbund's events: (name, sha256), newest first.
fn bank_files(s: &Shared, f: &Slug) -> Vec<(String, String)> {
    let snapshot = s.snapshot();
    let mut seen = std::collections::BTreeSet::new();
    let mut files: Vec<(String, String)> = snapshot
        .projection
        .underlag
        .iter()
        .rev()
        .filter(|u| &u.forbund == f)
        .filter(|u| matches!(u.file.media_type.as_str(), "application/xml" | "text/plain"))
        .filter(|u| seen.insert(u.file.sha256.clone()))
        .map(|u| (u.file.name.clone(), u.file.sha256.clone()))
        .collect();
    files.truncate(50);
    files
}

#[derive(Deserialize, Default)]
pub(crate) struct ReviewQuery {
    #[serde(default)]
    namn: Option<String>,
    #[serde(default)]
    bokfort: Option<usize>,
}

/// GET /f/{id}/importera: the upload form and the queue.
pub(crate) async fn import_page(State(s): State<Shared_>, Records { v, f }: Records) -> Response {
    let Ok(slug) = Slug::parse(&f) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", "Förbundet finns inte.");
    };
    let shared = s.clone();
    let slug2 = slug.clone();
    let queue = tokio::task::spawn_blocking(move || {
        bank_files(&shared, &slug2)
            .into_iter()
            .map(|(name, sha)| {
                let waiting = propose(&shared, &slug2, &sha, &name).map(|(p, _)| p.waiting()).ok();
                (name, sha, waiting)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let name = s.snapshot().projection.forbund.get(&slug).map(|i| i.name.clone()).unwrap_or_default();
    let body = html! {
        h1 { "Importera bankfil" }
        p { "Ett kontoutdrag (camt.053), en avisering (camt.054) eller Bankgirots inbetalningsfil (BgMax). "
            "Varje betalning matchas mot det som är obetalt — en medlems beslutade bidrag, en leverantörsfaktura — och du ser varför innan något bokförs. "
            "Det som inte passar väntar på dig; samma fil två gånger bokför inget nytt." }
        form.event method="post" action={"/f/" (f) "/importera"} enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(v.csrf);
            div.field {
                label for="bankfil" { "Bankfil (högst 50 MB)" }
                input #bankfil type="file" name="fil" accept=".xml,.txt,.dat,text/xml,application/xml,text/plain" required;
            }
            button.primary type="submit" { "Granska" }
        }
        h2 { "Kön: bankfiler med betalningar som väntar" }
        @if queue.is_empty() { p { "Inga bankfiler är importerade ännu." } }
        @else {
            table #ko {
                thead { tr { th scope="col" { "fil" } th.n scope="col" { "väntar" } } }
                tbody {
                    @for (file, sha, waiting) in &queue {
                        tr {
                            td { a href={"/f/" (f) "/importera/" (sha) "?namn=" (encode(file))} { (file) } }
                            td.n { @match waiting { Some(n) => (n), None => "–" } }
                        }
                    }
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout(&v, Some((&f, &name)), "Importera", "Importera bankfil", body),
        Some(&v.user),
        Some(&f),
    )
}

/// POST /f/{id}/importera: the file kept (by its SHA-256) and read; on to its review.
pub(crate) async fn import_upload(
    State(s): State<Shared_>,
    Records { v, f }: Records,
    mut form: Multipart,
) -> Response {
    let refused =
        |text: &str| problem_page(Some(&v), StatusCode::UNPROCESSABLE_ENTITY, "Filen kan inte importeras", text);
    let (mut csrf, mut file) = (None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                let file_name = field.file_name().map(str::to_string);
                let Ok(bytes) = field.bytes().await else { return refused("Filen kom inte fram hel (högst 50 MB).") };
                match name.as_str() {
                    "csrf" => csrf = Some(String::from_utf8_lossy(&bytes).to_string()),
                    "fil" => file = Some((file_name.unwrap_or_else(|| "bankfil".into()), bytes.to_vec())),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return refused("Filen kom inte fram hel (högst 50 MB)."),
        }
    }
    if !csrf.is_some_and(|c| same_secret(&c, &v.csrf)) {
        return csrf_refused(Some(&v.user));
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else { return refused("Välj en bankfil.") };
    // Read before it is kept: a file that is not a bank file is refused whole and not kept.
    let keeper = s.clone();
    let name2 = name.clone();
    let read = tokio::task::spawn_blocking(move || -> Result<String, finsam_app::output::Failure> {
        finsam_app::import::read_bank(&name2, &bytes)?;
        Ok(keeper.keep_underlag(&bytes)?)
    })
    .await;
    match read {
        Ok(Ok(sha)) => see_other(&format!("/f/{f}/importera/{sha}?namn={}", encode(&name))),
        Ok(Err(failure)) => refused(&failure.message),
        Err(_) => refused("Filen kunde inte läsas."),
    }
}

/// GET /f/{id}/importera/{sha}: each payment, its match and reason; the waiting ones with a
/// choice; the button that records.
pub(crate) async fn import_review(
    State(s): State<Shared_>,
    UrlPath((_, sha)): UrlPath<(String, String)>,
    Query(q): Query<ReviewQuery>,
    Records { v, f }: Records,
) -> Response {
    let Ok(slug) = Slug::parse(&f) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", "Förbundet finns inte.");
    };
    let name = q.namn.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "bankfil".into());
    let shared = s.clone();
    let (slug2, sha2, name2) = (slug.clone(), sha.clone(), name.clone());
    let found = tokio::task::spawn_blocking(move || {
        let (proposal, _) = propose(&shared, &slug2, &sha2, &name2)?;
        // The invoices still open, for a payment the kansli assigns to one.
        let store = shared.store.lock().expect("the store's lock is never poisoned");
        let invoices: Vec<(String, String)> = store
            .ledger()
            .open_invoices(&slug2)
            .into_iter()
            .map(|(id, out)| {
                let supplier = store.projection().invoice(&slug2, id).map(|i| i.supplier.clone()).unwrap_or_default();
                (id.to_string(), format!("faktura {id} från {supplier}, {} kvar", out.human()))
            })
            .collect();
        Ok::<_, finsam_app::output::Failure>((proposal, invoices))
    })
    .await;
    let (proposal, invoices) = match found {
        Ok(Ok(x)) => x,
        Ok(Err(failure)) => {
            return problem_page(Some(&v), StatusCode::NOT_FOUND, "Filen kan inte granskas", &failure.message)
        }
        Err(_) => {
            return problem_page(
                Some(&v),
                StatusCode::INTERNAL_SERVER_ERROR,
                "Filen kan inte granskas",
                "Ett fel uppstod.",
            )
        }
    };
    let snapshot = s.snapshot();
    let p = &snapshot.projection;
    let forbund_name = p.forbund.get(&slug).map(|i| i.name.clone()).unwrap_or_default();
    let members: Vec<(String, String)> = p
        .forbund
        .get(&slug)
        .map(|i| i.members.iter().map(|(id, n, ..)| (id.to_string(), n.clone())).collect())
        .unwrap_or_default();
    let names = super::event_view::Names::of(reports::Books::from(&*snapshot), &slug);
    let proposed = proposal.items.iter().filter(|i| matches!(i.outcome, Outcome::Proposed { .. })).count();
    let body = html! {
        h1 { "Granska bankfil" }
        p.meta { (proposal.file) " (" (proposal.format) ", SHA-256 " code { (&proposal.hash[..16]) "…" } ")" }
        @if let Some(n) = q.bokfort { p.notice role="status" #bokfort { (n) " händelser bokförda." } }
        @for b in &proposal.balances {
            p #saldo { "Kontot " (b.account) " den " span.date { (b.date) } ": banken " span.amount { (b.bank.human()) } ", bokföringen med förslagen " span.amount { (b.books.human()) }
                @if b.difference().is_zero() { " — samma." } @else { strong { " — skillnad " span.amount { (b.difference().human()) } "." } } }
        }
        form method="post" action={"/f/" (f) "/importera/" (sha)} {
            input type="hidden" name="csrf" value=(v.csrf);
            input type="hidden" name="namn" value=(name);
            div.scroll role="region" tabindex="0" aria-label="Bankfilens betalningar" {
                table #betalningar {
                    thead { tr { th scope="col" { "plats" } th scope="col" { "datum" } th.n scope="col" { "belopp" } th scope="col" { "motpart" } th scope="col" { "förslag" } th scope="col" { "skäl" } } }
                    tbody {
                        @for (n, item) in proposal.items.iter().enumerate() {
                            tr {
                                td { (item.entry.place) }
                                td { span.date { (item.entry.date) } }
                                (money_cell(item.entry.amount))
                                td { (item.entry.counterparty.clone().unwrap_or_default()) }
                                @match &item.outcome {
                                    Outcome::Proposed { events, reason } => {
                                        td { @for e in events { div { (whole_amounts(&names.in_words(&finsam_projections::summary::summary(e)))) } } }
                                        td { (whole_amounts(&names.in_words(reason))) }
                                    }
                                    Outcome::AlreadyRecorded { seq } => {
                                        td { "redan bokförd i " a href={"/f/" (f) "/handelse/" (seq)} { "händelse " (seq) } }
                                        td {}
                                    }
                                    Outcome::Unmatched { reason } => {
                                        td {
                                            label for={"tilldela-" (n)} { "Väntar. Tilldela:" }
                                            select #{"tilldela-" (n)} name={"tilldela:" (item.key)} {
                                                option value="" selected { "lämna i kön" }
                                                @if item.entry.amount.is_positive() {
                                                    @for (id, member) in &members { option value={"medlem:" (id)} { "medlemsbidrag från " (member) } }
                                                }
                                                @for (id, what) in &invoices { option value={"faktura:" (id)} { (what) } }
                                            }
                                        }
                                        td { (whole_amounts(&names.in_words(reason))) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p { (proposed) " betalningar matchade, " (proposal.waiting()) " väntar. Det som bokförs kontrolleras med samma regler som allt annat; bankfilen sparas som underlag." }
            button.primary type="submit" { "Bokför" }
        }
        p { a href={"/f/" (f) "/importera"} { "Tillbaka till kön" } }
    };
    html_response(
        StatusCode::OK,
        layout(&v, Some((&f, &forbund_name)), "Importera", "Granska bankfil", body),
        Some(&v.user),
        Some(&f),
    )
}

/// POST /f/{id}/importera/{sha}: what matched and what the kansli assigned, recorded as one
/// batch with the file as underlag.
pub(crate) async fn import_record(
    State(s): State<Shared_>,
    UrlPath((_, sha)): UrlPath<(String, String)>,
    Records { v, f }: Records,
    Form(values): Form<Vec<(String, String)>>,
) -> Response {
    let field = |k: &str| values.iter().find(|(n, _)| n == k).map(|(_, x)| x.clone());
    if !field("csrf").is_some_and(|c| same_secret(&c, &v.csrf)) {
        return csrf_refused(Some(&v.user));
    }
    let Ok(slug) = Slug::parse(&f) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", "Förbundet finns inte.");
    };
    let name = field("namn").filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "bankfil".into());
    let mut assigned = std::collections::BTreeMap::new();
    for (k, x) in &values {
        if let (Some(key), false) = (k.strip_prefix("tilldela:"), x.is_empty()) {
            match Assignment::parse(x) {
                Some(a) => assigned.insert(key.to_string(), a),
                None => {
                    return problem_page(
                        Some(&v),
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Inget bokfördes",
                        &format!("{x:?} är inget val."),
                    )
                }
            };
        }
    }
    let shared = s.clone();
    let (slug2, sha2, name2) = (slug.clone(), sha.clone(), name.clone());
    let built = tokio::task::spawn_blocking(move || -> Result<Vec<(usize, Event)>, finsam_app::output::Failure> {
        let (proposal, bytes) = propose(&shared, &slug2, &sha2, &name2)?;
        let head = shared.store.lock().expect("the store's lock is never poisoned").head().seq;
        proposal.batch_with(&assigned, &bytes, head + 1)
    })
    .await;
    let batch = match built {
        Ok(Ok(b)) => b,
        Ok(Err(failure)) => {
            return problem_page(Some(&v), StatusCode::UNPROCESSABLE_ENTITY, "Inget bokfördes", &failure.message)
        }
        Err(_) => {
            return problem_page(Some(&v), StatusCode::INTERNAL_SERVER_ERROR, "Inget bokfördes", "Ett fel uppstod.")
        }
    };
    let back = format!("/f/{f}/importera/{sha}?namn={}", encode(&name));
    if batch.is_empty() {
        return see_other(&format!("{back}&bokfort=0"));
    }
    let count = batch.len() - 1;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = WriteJob {
        batch,
        actor: v.user.name.clone(),
        user: v.user.clone(),
        expect_head: None,
        expect_versions: Vec::new(),
        route: "/f/{id}/importera/{sha}",
        check_only: false,
        reply,
    };
    if s.writes.send(job).await.is_err() {
        return problem_page(
            Some(&v),
            StatusCode::SERVICE_UNAVAILABLE,
            "Servern stängs",
            "Inget bokfördes. Försök igen om en stund.",
        );
    }
    match answer.await {
        Ok((Ok(_), _, _)) => see_other(&format!("{back}&bokfort={count}")),
        Ok((Err(StoreError::Rejected(r)), _, _)) => {
            problem_page(Some(&v), StatusCode::UNPROCESSABLE_ENTITY, "Inget bokfördes", &r.to_string())
        }
        Ok((Err(e), _, _)) => store_failure_page(&v, e),
        Err(_) => problem_page(Some(&v), StatusCode::SERVICE_UNAVAILABLE, "Servern stängs", "Inget bokfördes."),
    }
}
