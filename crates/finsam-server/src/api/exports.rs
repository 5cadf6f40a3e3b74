//! Exports of a förbund's books: SIE 4, the journal, the revisor's bundle.

use crate::*;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SieQuery {
    /// `e` (4E, with vouchers; the default) or `i` (4I, balances per object)
    #[param(pattern = "^[ei]$")]
    pub(crate) kind: Option<String>,
}

/// A förbund's year as SIE 4 (`kind=e`, the default, or `i`): for revisorer and the kansli.
#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/export/sie/{year}", operation_id = "exportSie", tag = "exports",
    summary = "The year as SIE 4 (not for the read-only role)",
    params(ForbundYearPath, SieQuery),
    responses(
        (status = 200, description = "the SIE file (PC8 / CP437; Content-Disposition names it)", body = Vec<u8>, content_type = "application/octet-stream"),
        openapi::ReportRefusals,
    )
)]
pub(crate) async fn export_sie(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Exporter { user, f }: Exporter,
    Query(q): Query<SieQuery>,
) -> Reply {
    let e4 = match q.kind.as_deref() {
        None | Some("e") => true,
        Some("i") => false,
        Some(other) => {
            return finish(Answer::error(StatusCode::BAD_REQUEST, format!("kind {other:?}: e or i")), &user, Some(&f))
        }
    };
    let id = f.clone();
    let bytes = on_books(s, move |dir, books| finsam_app::exports::sie_out(dir, books, &id, year, e4)).await;
    let name = format!("{f}-{year}.{}", if e4 { "se" } else { "si" });
    let a = bytes.map_or_else(
        |refused| refused,
        |body| {
            Answer { body, content_type: "application/octet-stream", ..Answer::json(StatusCode::OK, String::new()) }
                .download(&name)
        },
    );
    finish(a, &user, Some(&f))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JournalQuery {
    /// only this financial year (default: every year)
    #[param(minimum = 2000, maximum = 2099)]
    pub(crate) year: Option<i32>,
}

/// A förbund's books as a ledger-cli/hledger journal.
#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/export/journal", operation_id = "exportJournal", tag = "exports",
    summary = "The books as a ledger-cli/hledger journal (not for the read-only role)",
    params(ForbundPath, JournalQuery),
    responses(
        (status = 200, description = "the journal (Content-Disposition names it)", body = String, content_type = "text/plain"),
        openapi::ReportRefusals,
    )
)]
pub(crate) async fn export_journal(
    State(s): State<Shared_>,
    exporter: Exporter,
    Query(q): Query<JournalQuery>,
) -> Reply {
    journal_download(s, exporter, q, finsam_app::exports::Dialect::Ledger, "journal").await
}

/// A förbund's books as a Beancount file (for bean-check and Fava).
#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/export/beancount", operation_id = "exportBeancount", tag = "exports",
    summary = "The books as a Beancount file for bean-check and Fava, the journal's transactions with accounts named Type:Förbund:account (not for the read-only role)",
    params(ForbundPath, JournalQuery),
    responses(
        (status = 200, description = "the Beancount file (Content-Disposition names it)", body = String, content_type = "text/plain"),
        openapi::ReportRefusals,
    )
)]
pub(crate) async fn export_beancount(
    State(s): State<Shared_>,
    exporter: Exporter,
    Query(q): Query<JournalQuery>,
) -> Reply {
    journal_download(s, exporter, q, finsam_app::exports::Dialect::Beancount, "beancount").await
}

/// The journal in a dialect, as a download named F.EXT or F-YEAR.EXT.
async fn journal_download(
    s: Shared_,
    Exporter { user, f }: Exporter,
    q: JournalQuery,
    dialect: finsam_app::exports::Dialect,
    extension: &str,
) -> Reply {
    let id = f.clone();
    let year = q.year;
    let a = report(s, move |dir, books| finsam_app::exports::journal_out(dir, books, Some(&id), year, dialect)).await;
    let a = match a.status {
        StatusCode::OK => {
            let name = year.map_or_else(|| format!("{f}.{extension}"), |y| format!("{f}-{y}.{extension}"));
            Answer { content_type: "text/plain; charset=utf-8", ..a }.download(&name)
        }
        _ => a,
    };
    finish(a, &user, Some(&f))
}

/// A förbund's revisor's bundle for a year, as one zip file: the same files as `finsam audit
/// bundle` writes (the log, the reports, the verifier, DIGEST, MANIFEST).
#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/bundle/{year}", operation_id = "getBundle", tag = "exports",
    summary = "The revisor's bundle for a year as one zip file: the log, the year's reports, the independent verifier, DIGEST and MANIFEST; the same files as `finsam audit bundle` (not for the read-only role)",
    params(ForbundYearPath),
    responses(
        (status = 200, description = "the bundle (a zip file; Content-Disposition names it)", body = Vec<u8>, content_type = "application/zip"),
        openapi::ReportRefusals,
    )
)]
pub(crate) async fn bundle(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Exporter { user, f }: Exporter,
) -> Reply {
    let id = f.clone();
    let zipped = on_books(s, move |dir, books| finsam_app::audit::bundle_zip(dir, books, &id, year)).await;
    let a = zipped.map_or_else(
        |refused| refused,
        |(body, name)| {
            Answer { body, content_type: "application/zip", ..Answer::json(StatusCode::OK, String::new()) }
                .download(&format!("{name}.zip"))
        },
    );
    finish(a, &user, Some(&f))
}
