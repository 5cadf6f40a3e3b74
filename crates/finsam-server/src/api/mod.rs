//! The JSON API under `/api/v1`, by resource: the log (record, read, follow), a förbund's
//! books, the audit, the exports, and the service itself. Here: what its handlers share — the
//! extractors for the user, the förbund and the time axes, and running a report on the books.

pub(crate) mod audit;
pub(crate) mod books;
pub(crate) mod exports;
pub(crate) mod records;
pub(crate) mod service;

pub(crate) use audit::*;
pub(crate) use books::*;
pub(crate) use exports::*;
pub(crate) use records::*;
pub(crate) use service::*;

/// The förbund a route is about (`{id}`), for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct ForbundPath {
    /// the förbund's id, e.g. sf-vastmanland
    #[param(example = "sf-vastmanland", pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    id: String,
}

/// The förbund and the financial year a route is about (`{id}`, `{year}`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct ForbundYearPath {
    /// the förbund's id, e.g. sf-vastmanland
    #[param(example = "sf-vastmanland", pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$")]
    id: String,
    /// the financial year
    #[param(example = 2024, minimum = 2000, maximum = 2099)]
    year: i32,
}

use crate::*;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AxesQuery {
    /// count what is dated on or before this day (default today)
    #[param(format = Date)]
    pub(crate) as_of: Option<String>,
    /// replay the log only up to this seq, recording time (RFC 3339) or date
    pub(crate) known_at: Option<String>,
}

/// An optional date parameter (YYYY-MM-DD); a malformed one is 400, naming the parameter.
pub(crate) fn date_param(name: &str, text: &Option<String>) -> Result<Option<chrono::NaiveDate>, Answer> {
    text.as_ref()
        .map(|t| {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map_err(|_| Answer::error(StatusCode::BAD_REQUEST, format!("{name} {t:?} is not a date (YYYY-MM-DD)")))
        })
        .transpose()
}

impl AxesQuery {
    fn axes(&self) -> Result<Axes, Answer> {
        let as_of = date_param("as_of", &self.as_of)?;
        let known_at = match &self.known_at {
            None => None,
            Some(text) => Some(
                KnownAt::parse(text).map_err(|e| Answer::error(StatusCode::BAD_REQUEST, format!("known_at: {e}")))?,
            ),
        };
        Ok(Axes { as_of, known_at })
    }
}

/// Runs `work` on the books of the last durable group (a blocking task: reports may read the
/// log); a failure is answered as `failed` says.
pub(crate) async fn on_books<T: Send + 'static>(
    shared: Shared_,
    work: impl FnOnce(&std::path::Path, Books<'_>) -> Result<T, finsam_app::output::Failure> + Send + 'static,
) -> Result<T, Answer> {
    let task = tokio::task::spawn_blocking(move || {
        let snapshot = shared.snapshot();
        work(&shared.dir, Books::from(&*snapshot))
    });
    match task.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(f)) => Err(failed(f)),
        Err(_) => Err(Answer::error(StatusCode::INTERNAL_SERVER_ERROR, "the request failed")),
    }
}

/// A report as JSON, rendered on the books in memory.
pub(crate) async fn report(
    shared: Shared_,
    render: impl FnOnce(&std::path::Path, Books<'_>) -> Result<String, finsam_app::output::Failure> + Send + 'static,
) -> Answer {
    on_books(shared, render).await.map_or_else(|refused| refused, |body| Answer::json(StatusCode::OK, body))
}

pub(crate) fn finish(mut a: Answer, user: &User, forbund: Option<&str>) -> Reply {
    a.user.get_or_insert_with(|| user.name.as_str().into());
    a.forbund = forbund.map(Into::into);
    Ok(a)
}

/// The user of a request that reads one förbund's books (any role that covers it).
pub(crate) struct Reader {
    pub(crate) user: User,
    pub(crate) f: String,
}

impl FromRequestParts<Shared_> for Reader {
    type Rejection = Answer;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, s: &Shared_) -> Result<Self, Answer> {
        let f = path_forbund(parts, s).await;
        Ok(Reader { user: s.authorize(known(parts), &parts.headers, Need::Read(&f))?, f })
    }
}

/// The user of a request that exports one förbund's books (any role that covers it but `read`).
pub(crate) struct Exporter {
    pub(crate) user: User,
    pub(crate) f: String,
}

impl FromRequestParts<Shared_> for Exporter {
    type Rejection = Answer;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, s: &Shared_) -> Result<Self, Answer> {
        let f = path_forbund(parts, s).await;
        Ok(Exporter { user: s.authorize(known(parts), &parts.headers, Need::Export(&f))?, f })
    }
}

/// The user of a request about the whole store (admin or revisor).
pub(crate) struct Auditor(pub(crate) User);

impl FromRequestParts<Shared_> for Auditor {
    type Rejection = Answer;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, s: &Shared_) -> Result<Self, Answer> {
        Ok(Auditor(s.authorize(known(parts), &parts.headers, Need::Audit)?))
    }
}

/// The two time axes of a report (`as_of`, `known_at`); a malformed one is 400.
pub(crate) struct TimeAxes(pub(crate) Axes);

impl<S: Send + Sync> FromRequestParts<S> for TimeAxes {
    type Rejection = Answer;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, s: &S) -> Result<Self, Answer> {
        let Query(q) = Query::<AxesQuery>::from_request_parts(parts, s)
            .await
            .map_err(|e| Answer::error(StatusCode::BAD_REQUEST, e.body_text()))?;
        Ok(TimeAxes(q.axes()?))
    }
}

/// The most a page of the log or the trail holds (`limit`).
pub(crate) const PAGE_MAX: u64 = 100_000;

/// A page's `limit`: 1 to `PAGE_MAX`; a bad one is 400.
pub(crate) fn page_limit(limit: Option<u64>) -> Result<Option<u64>, Answer> {
    match limit {
        Some(n) if n == 0 || n > PAGE_MAX => {
            Err(Answer::error(StatusCode::BAD_REQUEST, format!("limit {n}: a page holds 1 to {PAGE_MAX}")))
        }
        other => Ok(other),
    }
}

/// `Link: <…>; rel="next"` for the page after this one.
pub(crate) fn link_next(next: &str) -> (axum::http::HeaderName, axum::http::HeaderValue) {
    let value = axum::http::HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static(""));
    (axum::http::header::LINK, value)
}
