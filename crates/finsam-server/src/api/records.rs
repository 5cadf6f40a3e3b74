//! The event log: record a batch, read the log, follow it (Server-Sent Events).

use crate::*;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// the first seq (default 1)
    #[param(minimum = 1)]
    pub(crate) from: Option<u64>,
    /// the last seq (default the head)
    pub(crate) to: Option<u64>,
    /// at most this many envelopes; the answer links the next page
    #[param(minimum = 1, maximum = 100000)]
    pub(crate) limit: Option<u64>,
}

/// How many envelopes a reader of the log (`/api/v1/log`, a subscription's catch-up) holds in
/// memory at once: the log is read and sent in stretches of this many, each read when the
/// client has taken the one before, so a slow reader costs one stretch, not the log.
pub(crate) const LOG_STRETCH: u64 = 256;

/// The log's envelopes `from..=to` (those `keep` lets through), as canonical JSON lines, read a
/// stretch at a time as the receiver takes them.
pub(crate) fn log_lines(
    dir: PathBuf,
    from: u64,
    to: u64,
    keep: impl Fn(&Event) -> bool + Clone + Send + 'static,
) -> impl futures_util::Stream<Item = Result<Vec<(u64, String)>, String>> {
    let lines = futures_util::stream::unfold(Some(from), move |next| {
        let (dir, keep) = (dir.clone(), keep.clone());
        async move {
            let next = next.filter(|n| *n <= to && *n > 0)?;
            let last = to.min(next.saturating_add(LOG_STRETCH - 1));
            let read = tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                finsam_store::read_events(&dir, &(next..=last).collect::<Vec<_>>(), &mut |e| {
                    if keep(&e.event) {
                        out.push((e.seq, e.to_json().to_string()));
                    }
                    Ok(())
                })
                .map(|_| out)
                .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|_| Err("reading the log failed".to_string()));
            // After a failure, nothing more: the reader gets the error and the end.
            let after = if read.is_ok() { last.checked_add(1) } else { None };
            Some((read, after))
        }
    });
    // A body may be polled again after its end (the gzip encoder does): fused, it stays ended.
    futures_util::StreamExt::fuse(lines)
}

/// `GET /api/v1/log?from=SEQ&to=SEQ`: the envelopes as JSON Lines, streamed from the log.
/// `GET /api/v1/log?from=SEQ&to=SEQ&limit=N`: the envelopes as JSON Lines, streamed from the
/// log; with `limit`, at most N of them, and `Link: <…>; rel="next"` while more follow (the
/// cursor is the next seq).
#[utoipa::path(
    get, path = "/api/v1/log", operation_id = "getLog", tag = "log",
    summary = "The envelopes, as JSON Lines (admin, revisor)",
    params(LogQuery),
    responses(
        (status = 200, description = "the envelopes, one per line", body = String, content_type = "application/x-ndjson",
            headers(("Link" = String, description = "the next page, `<…>; rel=\"next\"`, while more follow"))),
        (status = 400, response = openapi::BadRequest),
        openapi::AuditRefusals,
    )
)]
pub(crate) async fn log(State(s): State<Shared_>, Auditor(user): Auditor, Query(q): Query<LogQuery>) -> Response {
    let limit = match page_limit(q.limit) {
        Ok(l) => l,
        Err(a) => return finish(a, &user, None).into_response(),
    };
    // Up to the last durable group: what is written but not yet durable is not shown.
    let (from, last) = (q.from.unwrap_or(1).max(1), q.to.unwrap_or(u64::MAX).min(s.snapshot().head.seq));
    let to = limit.map_or(last, |n| last.min(from.saturating_add(n - 1)));
    let next = (to < last).then(|| {
        let mut link = format!("/api/v1/log?from={}&limit={}", to + 1, limit.unwrap_or(PAGE_MAX));
        if let Some(t) = q.to {
            link.push_str(&format!("&to={t}"));
        }
        link
    });
    let body = futures_util::StreamExt::map(log_lines(s.dir.clone(), from, to, |_| true), |read| {
        read.map(|lines| {
            let mut text = String::new();
            for (_, line) in lines {
                text.push_str(&line);
                text.push('\n');
            }
            Bytes::from(text)
        })
        .map_err(std::io::Error::other)
    });
    let mut r = Response::new(axum::body::Body::from_stream(body));
    r.headers_mut()
        .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/x-ndjson"));
    if let Some(next) = next {
        let (k, v) = link_next(&next);
        r.headers_mut().insert(k, v);
    }
    r.extensions_mut().insert(AccessNote { user: Some(user.name), forbund: None, seqs: Vec::new() });
    r
}

/// The versions a batch expects its förbund's books to be at: `If-Match: "F:SEQ", "G:SEQ"` (the
/// seq of the förbund's last event, as the last answer's `versions` says; 0 for books with no
/// event yet). A malformed one is refused, naming it.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Vec<(String, u64)>, String> {
    let mut list = Vec::new();
    for value in headers.get_all(axum::http::header::IF_MATCH) {
        let text = value.to_str().map_err(|_| "If-Match is not text".to_string())?;
        for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let bad = || format!("If-Match {tag}: a version is \"FORBUND:SEQ\", e.g. \"sf-vastmanland:317\"");
            let inner = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).ok_or_else(bad)?;
            let (forbund, seq) = inner.rsplit_once(':').ok_or_else(bad)?;
            let seq = seq.parse::<u64>().map_err(|_| bad())?;
            finsam_domain::Slug::parse(forbund).map_err(|_| bad())?;
            list.push((forbund.to_string(), seq));
        }
    }
    Ok(list)
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// refuse (409) unless the log's head is still this seq
    pub(crate) expect_head: Option<u64>,
}

/// `POST /api/v1/events`: a batch (JSON Lines, or a JSON array of events), all or nothing,
/// recorded by the authenticated user.
#[utoipa::path(
    post, path = "/api/v1/events", operation_id = "recordEvents", tag = "log",
    summary = "Record a batch, all or nothing (admin, or kansli of every förbund it touches)",
    params(
        EventsQuery,
        ("If-Match" = Option<String>, Header, description = "optimistic concurrency per förbund: \"FORBUND:SEQ\", comma-separated; refused (412) unless each förbund's books are still at that version (the seq of its last event, as the last answer's `versions` says; 0 before any)"),
    ),
    request_body(description = "the events: JSON Lines, or a JSON array", content(
        (Vec<openapi::EventRef> = "application/json"),
        (String = "application/x-ndjson"),
    )),
    responses(
        (status = 201, description = "recorded: the seqs (as `finsam record --format json`)", body = finsam_app::answers::Recorded),
        (status = 400, response = openapi::BadRequest),
        (status = 401, response = openapi::Unauthorized),
        (status = 403, response = openapi::Forbidden),
        (status = 409, description = "the head moved (expect_head)", body = openapi::Error, content_type = "application/problem+json"),
        (status = 412, description = "a förbund's books moved past the version If-Match expects", body = openapi::Error, content_type = "application/problem+json"),
        (status = 413, description = "over the size limit", body = openapi::Error, content_type = "application/problem+json"),
        (status = 422, description = "refused: every problem with its line, field, value and rule", body = openapi::Error, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn events(
    State(s): State<Shared_>,
    headers: HeaderMap,
    known: Option<axum::Extension<Authenticated>>,
    Query(q): Query<EventsQuery>,
    body: Bytes,
) -> Reply {
    let known = known.as_ref().map(|k| &k.0 .0);
    // A JSON array is taken as the same events, one per line.
    let array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let text: std::borrow::Cow<'_, [u8]> = match array.then(|| serde_json::from_slice::<Value>(&body)) {
        Some(Ok(Value::Array(items))) => items.iter().map(|v| format!("{v}\n")).collect::<String>().into_bytes().into(),
        _ => body.as_ref().into(),
    };
    let batch = match parse_batch(&text) {
        Ok(b) => b,
        Err(problems) => {
            // Who asked is still checked first: an unknown caller learns nothing about the input.
            let user = s.authorize(known, &headers, Need::Write(Vec::new()))?;
            return finish(problems_answer(StatusCode::UNPROCESSABLE_ENTITY, &problems), &user, None);
        }
    };
    let mut forbund: Vec<String> = batch.iter().flat_map(|(_, e)| e.forbund_named()).map(|f| f.to_string()).collect();
    forbund.sort();
    forbund.dedup();
    let registers = batch.iter().any(|(_, e)| matches!(e.kind, EventKind::ForbundRegistered { .. }));
    let user = s.authorize(known, &headers, Need::Write(forbund.clone()))?;
    if registers && user.role != Role::Admin {
        let refused =
            Answer::error(StatusCode::FORBIDDEN, format!("{} may not register a förbund (admin only)", user.name));
        return finish(refused, &user, Some(&forbund.join(",")));
    }
    let expect_versions = match if_match(&headers) {
        Ok(v) => v,
        Err(why) => return finish(Answer::error(StatusCode::BAD_REQUEST, why), &user, Some(&forbund.join(","))),
    };
    let lines: Vec<finsam_domain::Slug> = batch.iter().map(|(_, e)| e.forbund.clone()).collect();
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = WriteJob {
        batch,
        actor: user.name.clone(),
        user: user.clone(),
        expect_head: q.expect_head,
        expect_versions,
        route: "/api/v1/events",
        check_only: false,
        reply,
    };
    if s.writes.send(job).await.is_err() {
        return Err(Answer::error(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping; nothing was recorded"));
    }
    let (outcome, warnings, head) = match answer.await {
        Ok(x) => x,
        Err(_) => {
            return Err(Answer::error(StatusCode::SERVICE_UNAVAILABLE, "the writer stopped; nothing was recorded"))
        }
    };
    let a = match outcome {
        Ok(recorded) => {
            let body = finsam_app::record::record_json(&lines, &recorded, &warnings, &head);
            let mut a = Answer::json(StatusCode::CREATED, body);
            a.seqs = recorded.iter().filter(|r| !r.duplicate).map(|r| r.seq).collect();
            a
        }
        Err(StoreError::Rejected(r)) => problems_answer(StatusCode::UNPROCESSABLE_ENTITY, &[r]),
        Err(e @ StoreError::Forbidden { .. }) => Answer::error(StatusCode::FORBIDDEN, e.to_string()),
        Err(StoreError::HeadMoved { expected, actual }) => Answer::error(
            StatusCode::CONFLICT,
            format!("the log's head is {actual}, not {expected}: read what was recorded since and try again"),
        ),
        Err(StoreError::VersionMoved { forbund, expected, actual }) => Answer::error(
            StatusCode::PRECONDITION_FAILED,
            format!("the books of {forbund} are at version {actual}, not {expected} (If-Match): read what was recorded since and try again"),
        ),
        Err(e) => Answer::error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    finish(a, &user, Some(&forbund.join(",")))
}

pub(crate) fn problems_answer(status: StatusCode, problems: &[finsam_domain::Rejection]) -> Answer {
    let lines = problems
        .iter()
        .map(|r| openapi::RefusedLine {
            line: r.line,
            field: r.field.clone(),
            value: r.value.clone(),
            rule: r.rule.code().to_string(),
            message: r.message.clone(),
        })
        .collect();
    Answer::problem(status, "the batch is refused; nothing was recorded", Some(lines))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscribeQuery {
    /// the first seq to send (default 1)
    #[param(minimum = 1)]
    pub(crate) from: Option<u64>,
    /// only the events that touch this förbund (default every event, admin and revisor only)
    pub(crate) forbund: Option<String>,
}

/// `GET /api/v1/subscribe?from=SEQ[&forbund=F]`: Server-Sent Events, one per envelope (its seq
/// the event id), from SEQ on and then live as batches are recorded. Reconnecting with
/// `Last-Event-ID` resumes after that seq: no gap, no duplicate. A subscriber that falls more
/// than 1 024 batches behind is disconnected; it resumes the same way.
#[utoipa::path(
    get, path = "/api/v1/subscribe", operation_id = "subscribe", tag = "log",
    summary = "Server-Sent Events: every envelope from a seq on, then live; Last-Event-ID resumes",
    params(
        SubscribeQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this seq"),
    ),
    responses(
        (status = 200, description = "the stream", body = openapi::ServerSentEvent, content_type = "text/event-stream"),
        (status = 400, response = openapi::BadRequest),
        openapi::AuditRefusals,
    )
)]
pub(crate) async fn subscribe(
    State(s): State<Shared_>,
    headers: HeaderMap,
    Query(q): Query<SubscribeQuery>,
) -> Response {
    use axum::response::sse::{Event as Sse, KeepAlive};
    let need = match &q.forbund {
        Some(f) => Need::Read(f),
        None => Need::Audit,
    };
    let user = match s.authorize(None, &headers, need) {
        Ok(u) => u,
        Err(a) => return a.into_response(),
    };
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    // After the last seq the log can hold, nothing more is sent (never wrapped round to 1).
    let next = resume.map_or(q.from.unwrap_or(1), |seen| seen.saturating_add(1)).max(1);
    let heads = s.heads.subscribe();
    let head = s.snapshot().head.seq;
    let only = q.forbund.clone();
    // The state of the stream: the next seq to send, the head known, the batch being sent.
    struct Feed {
        shared: Shared_,
        heads: tokio::sync::broadcast::Receiver<u64>,
        next: u64,
        head: u64,
        pending: std::collections::VecDeque<(u64, String)>,
        only: Option<String>,
        _counted: Subscriber,
    }
    /// Counts the open subscriptions: one more while the feed lives.
    struct Subscriber(Gauge);
    impl Drop for Subscriber {
        fn drop(&mut self) {
            self.0.dec();
        }
    }
    s.metrics.subscribers.inc();
    let counted = Subscriber(s.metrics.subscribers.clone());
    let feed = Feed { shared: s.clone(), heads, next, head, pending: Default::default(), only, _counted: counted };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        loop {
            if let Some((seq, data)) = feed.pending.pop_front() {
                let event = Sse::default().id(seq.to_string()).data(data);
                return Some((Ok::<_, std::convert::Infallible>(event), feed));
            }
            if feed.next <= feed.head {
                // One stretch at a time: a subscriber that does not read holds one stretch.
                let (from, to) = (feed.next, feed.head.min(feed.next.saturating_add(LOG_STRETCH - 1)));
                let only = feed.only.clone();
                let keep =
                    move |e: &Event| only.as_ref().is_none_or(|f| e.forbund_named().iter().any(|t| t.as_str() == f));
                let mut lines = std::pin::pin!(log_lines(feed.shared.dir.clone(), from, to, keep));
                match futures_util::StreamExt::next(&mut lines).await {
                    Some(Ok(list)) => {
                        feed.pending.extend(list);
                        feed.next = to.saturating_add(1);
                        continue;
                    }
                    _ => return None,
                }
            }
            match feed.heads.recv().await {
                Ok(STOPPING) => return None,
                Ok(h) => feed.head = feed.head.max(h),
                // Fallen behind, or the server stops: the subscriber resumes with Last-Event-ID.
                Err(_) => return None,
            }
        }
    });
    let mut r = axum::response::sse::Sse::new(stream).keep_alive(KeepAlive::default()).into_response();
    r.extensions_mut().insert(AccessNote { user: Some(user.name), forbund: q.forbund, seqs: Vec::new() });
    r
}
