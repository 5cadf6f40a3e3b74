//! For revisorer: the audit trail, the chain verified, the head to keep.

use crate::*;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrailQuery {
    /// only the events of this insats
    pub(crate) insats: Option<String>,
    /// only events dated on or after this day
    #[param(format = Date)]
    pub(crate) from: Option<String>,
    /// only events dated on or before this day
    #[param(format = Date)]
    pub(crate) to: Option<String>,
    /// only rows after this seq (the cursor of a page)
    pub(crate) after: Option<u64>,
    /// at most this many rows; the answer links the next page
    #[param(minimum = 1, maximum = 100000)]
    pub(crate) limit: Option<u64>,
}

/// `GET /api/v1/forbund/{id}/audit/trail`: a row per event; with `limit`, a page of at most N
/// rows after `after` (a seq), and `Link: <…>; rel="next"` while more follow.
#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/audit/trail", operation_id = "getTrail", tag = "audit",
    summary = "The audit trail",
    params(ForbundPath, TrailQuery),
    responses(
        (status = 200, description = "as `finsam audit trail --format json`", body = Vec<finsam_app::answers::TrailRow>,
            headers(("Link" = String, description = "the next page, `<…>; rel=\"next\"`, while more follow"))),
        openapi::ReportRefusals,
    )
)]
pub(crate) async fn trail(State(s): State<Shared_>, Reader { user, f }: Reader, Query(q): Query<TrailQuery>) -> Reply {
    let (from, to) = (date_param("from", &q.from)?, date_param("to", &q.to)?);
    let limit = page_limit(q.limit)?;
    let filter = reports::TrailFilter { forbund: Some(f.clone()), insats: q.insats.clone(), from, to };
    let after = q.after.unwrap_or(0);
    let paged = on_books(s, move |dir, books| {
        let rows = reports::trail_rows(dir, books, filter)?;
        let seq = |r: &Value| r["seq"].as_u64().unwrap_or(0);
        let mut rows: Vec<Value> = rows.into_iter().filter(|r| seq(r) > after).collect();
        let more = limit.is_some_and(|n| rows.len() as u64 > n);
        if let Some(n) = limit {
            rows.truncate(n as usize);
        }
        let last = rows.last().map(seq);
        Ok((reports::render_trail(&rows, Format::Json), more.then_some(last).flatten()))
    })
    .await;
    let (body, next_after) = match paged {
        Ok(x) => x,
        Err(a) => return finish(a, &user, Some(&f)),
    };
    let mut a = Answer::json(StatusCode::OK, body);
    if let (Some(after), Some(n)) = (next_after, limit) {
        let mut link = format!("/api/v1/forbund/{f}/audit/trail?after={after}&limit={n}");
        for (k, v) in [("insats", &q.insats), ("from", &q.from), ("to", &q.to)] {
            if let Some(v) = v {
                link.push_str(&format!("&{k}={}", web::encode(v)));
            }
        }
        a.headers.push(link_next(&link));
    }
    finish(a, &user, Some(&f))
}

/// The log's head (seq and hash), to keep outside the store.
#[utoipa::path(
    get, path = "/api/v1/audit/digest", operation_id = "getDigest", tag = "audit",
    summary = "The log's head, to keep outside the store (admin, revisor)",
    responses(
        (status = 200, description = "seq and hash", body = finsam_app::answers::Head),
        openapi::AuditRefusals,
    )
)]
pub(crate) async fn digest(State(s): State<Shared_>, Auditor(user): Auditor) -> Reply {
    let head = finsam_app::answers::Head::from(&s.snapshot().head);
    let a = Answer::json(StatusCode::OK, format!("{}\n", serde_json::to_string(&head).expect("an answer serialises")));
    finish(a, &user, None)
}

#[utoipa::path(
    get, path = "/api/v1/audit/verify", operation_id = "verify", tag = "audit",
    summary = "Verify the event log's chain and the access log's (admin, revisor)",
    responses(
        (status = 200, description = "the verdict", body = openapi::Verification),
        openapi::AuditRefusals,
    )
)]
pub(crate) async fn verify(State(s): State<Shared_>, Auditor(user): Auditor) -> Reply {
    let dir = s.dir.clone();
    let task = tokio::task::spawn_blocking(move || {
        let events = finsam_store::verify(&dir, &[]);
        let access = finsam_store::access::verify_access(&dir);
        (events, access)
    });
    let a = match task.await {
        Ok((Ok(r), Ok(access))) => {
            let head = r.head.clone().unwrap_or_else(finsam_store::Head::genesis);
            let body = openapi::Verification {
                ok: r.ok() && access.problem.is_none(),
                events: r.events,
                head: (&head).into(),
                problems: r
                    .problems
                    .iter()
                    .map(|(at, what)| openapi::Problem { at: *at, problem: what.clone() })
                    .collect(),
                access_log: openapi::AccessLogCheck { lines: access.lines, head: access.head, problem: access.problem },
            };
            Answer::json(StatusCode::OK, format!("{}\n", serde_json::to_string(&body).expect("an answer serialises")))
        }
        Ok((Err(e), _)) | Ok((_, Err(e))) => Answer::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(_) => Answer::error(StatusCode::INTERNAL_SERVER_ERROR, "verification failed"),
    };
    finish(a, &user, None)
}
