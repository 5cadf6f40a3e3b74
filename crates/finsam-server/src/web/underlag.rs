//! Underlag in the web app: a document (PDF, PNG, JPEG) attached to an event from its page, and
//! every attached file downloaded again — by whoever may read the förbund's books, and only
//! as underlag of that förbund's events.

use super::*;
use axum::extract::Multipart;

/// The underlag of one event: (name, size, media type, sha256, the seq of the attaching event).
pub(crate) type UnderlagOf = Vec<(String, u64, String, String, u64)>;

/// The files attached to event `seq` of förbund `f` (and, on an `UnderlagAttached` event's own
/// page, its file).
pub(crate) fn underlag_of(p: &finsam_projections::projection::Projection, f: &Slug, seq: u64) -> UnderlagOf {
    p.underlag
        .iter()
        .filter(|u| &u.forbund == f && (u.of.contains(&seq) || u.seq == seq))
        .map(|u| {
            (u.file.name.clone(), u.file.size, u.file.media_type.as_str().to_string(), u.file.sha256.clone(), u.seq)
        })
        .collect()
}

/// The event page's section: the files, and (for a kansli) the form that attaches one.
pub(crate) fn underlag_section(v: &Visitor, f: &str, seq: u64, files: &UnderlagOf, may_attach: bool) -> Markup {
    html! {
        section #underlag {
            h2 { "Underlag" }
            @if files.is_empty() { p { "Inget underlag är bifogat." } }
            @else {
                ul {
                    @for (name, size, media, sha, by) in files {
                        li {
                            a href={"/f/" (f) "/underlag/" (sha)} download=(name) { (name) }
                            " (" (media_words(media)) ", " (size_words(*size)) "; bifogat i "
                            a href={"/f/" (f) "/handelse/" (by)} { "händelse " (by) } ", SHA-256 " code { (&sha[..16]) "…" } ")"
                        }
                    }
                }
            }
            @if may_attach {
                form.event method="post" action={"/f/" (f) "/underlag"} enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="seq" value=(seq);
                    div.field {
                        label for="fil" { "Bifoga underlag (PDF, PNG eller JPEG, högst 20 MB)" }
                        input #fil type="file" name="fil" accept=".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg" required;
                    }
                    button.primary type="submit" { "Bifoga" }
                }
            }
        }
    }
}

fn media_words(media: &str) -> &'static str {
    match media {
        "application/pdf" => "PDF",
        "image/png" => "PNG-bild",
        "image/jpeg" => "JPEG-bild",
        "application/xml" => "bankfil, XML",
        "text/plain" => "textfil",
        "text/csv" => "CSV-fil",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "kalkylark, xlsx",
        "application/vnd.oasis.opendocument.spreadsheet" => "kalkylark, ods",
        _ => "fil",
    }
}

fn size_words(size: u64) -> String {
    if size < 1024 {
        format!("{size}\u{a0}byte")
    } else if size < 1024 * 1024 {
        format!("{}\u{a0}kB", size.div_ceil(1024))
    } else {
        format!("{},{}\u{a0}MB", size / (1024 * 1024), (size % (1024 * 1024)) * 10 / (1024 * 1024))
    }
}

/// GET /f/{id}/underlag/{sha256}: the file, as it was attached.
pub(crate) async fn underlag_download(
    State(s): State<Shared_>,
    UrlPath((_, sha)): UrlPath<(String, String)>,
    Reads { v, f, .. }: Reads,
) -> Response {
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let slug = reports::parse_forbund(&forbund)?;
        reports::check_forbund(books, &slug)?;
        let record = books
            .projection
            .underlag
            .iter()
            .find(|u| u.forbund == slug && u.file.sha256 == sha && u.seq <= books.head)
            .ok_or_else(|| finsam_app::output::Failure {
                code: 2,
                message: format!(
                    "inget underlag med SHA-256 {sha} hör till {}s bokföring",
                    books.projection.forbund[&slug].name
                ),
            })?;
        let bytes = finsam_store::underlag::read(store, &sha)?;
        Ok((bytes, record.file.name.clone(), record.file.media_type.as_str().to_string()))
    })
    .await;
    match found {
        Ok((bytes, name, media)) => {
            let mut r = (StatusCode::OK, bytes).into_response();
            if let Ok(value) = HeaderValue::from_str(&media) {
                r.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            let ascii: String =
                name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect();
            let encoded: String = name
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            if let Ok(value) =
                HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
            {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, value);
            }
            r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            r
        }
        Err(a) => failure_page(&v, a),
    }
}

/// POST /f/{id}/underlag: a document attached to an event of the förbund's books.
pub(crate) async fn underlag_upload(
    State(s): State<Shared_>,
    Records { v, f }: Records,
    mut form: Multipart,
) -> Response {
    let refused = |text: &str| problem_page(Some(&v), StatusCode::UNPROCESSABLE_ENTITY, "Inget bifogades", text);
    let (mut csrf, mut seq, mut file) = (None, None, None);
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                let file_name = field.file_name().map(str::to_string);
                let Ok(bytes) = field.bytes().await else {
                    return refused("Filen kom inte fram hel (högst 20 MB). Försök igen.");
                };
                match name.as_str() {
                    "csrf" => csrf = Some(String::from_utf8_lossy(&bytes).to_string()),
                    "seq" => seq = String::from_utf8_lossy(&bytes).trim().parse::<u64>().ok(),
                    "fil" => file = Some((file_name.unwrap_or_else(|| "underlag".into()), bytes.to_vec())),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return refused("Filen kom inte fram hel (högst 20 MB). Försök igen."),
        }
    }
    if !csrf.is_some_and(|c| same_secret(&c, &v.csrf)) {
        return csrf_refused(Some(&v.user));
    }
    let Some(seq) = seq else { return refused("Vilken händelse underlaget hör till saknas.") };
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return refused("Välj en fil att bifoga.");
    };
    let Some(media) = finsam_app::import::document_type(&bytes) else {
        return refused(&format!("{name} är varken en PDF, en PNG- eller en JPEG-bild; underlag är en sådan fil."));
    };
    let Ok(slug) = Slug::parse(&f) else { return refused("Förbundet finns inte.") };
    let event = finsam_app::import::underlag_event(&slug, vec![seq], &name, media, &bytes, None, None);
    // Who may, and whether the event is the förbund's: checked before the bytes are kept.
    match through_writer(&s, event.clone(), &v, "/f/{id}/underlag", true).await {
        Ok((Ok(_), _, _)) => {}
        Ok((Err(StoreError::Rejected(r)), _, _)) => return refused(&r.message),
        Ok((Err(e), _, _)) => return store_failure_page(&v, e),
        Err(r) => return r,
    }
    let keeper = s.clone();
    let kept = tokio::task::spawn_blocking(move || keeper.keep_underlag(&bytes)).await;
    if !matches!(kept, Ok(Ok(_))) {
        return problem_page(
            Some(&v),
            StatusCode::SERVICE_UNAVAILABLE,
            "Inget bifogades",
            "Filen kunde inte sparas. Försök igen.",
        );
    }
    match through_writer(&s, event, &v, "/f/{id}/underlag", false).await {
        Ok((outcome, _, _)) => match outcome {
            Ok(_) => see_other(&format!("/f/{f}/handelse/{seq}?bifogat=1#underlag")),
            Err(StoreError::Rejected(r)) => refused(&r.message),
            Err(e) => store_failure_page(&v, e),
        },
        Err(r) => r,
    }
}
