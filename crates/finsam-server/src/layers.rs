//! The layers every request passes: request ids, the gate before a body is read, timeouts,
//! the access log, problem bodies for the router's refusals, ETags, security headers.

use crate::*;

#[derive(Clone)]
pub(crate) struct AccessNote {
    pub(crate) user: Option<String>,
    pub(crate) forbund: Option<String>,
    pub(crate) seqs: Vec<u64>,
}

/// Writes every request to the access log: who, the route (its pattern, not the raw path),
/// the förbund, the status, the seqs written.
pub(crate) async fn access_log(State(s): State<Shared_>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method: Method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "(no route)".to_string(), |m| m.as_str().to_string());
    let response = next.run(request).await;
    let note = response.extensions().get::<AccessNote>().cloned();
    let (user, forbund, seqs) = note.map_or((None, None, Vec::new()), |n| (n.user, n.forbund, n.seqs));
    let labels = RouteLabels {
        method: method.to_string(),
        route: route.clone(),
        status: response.status().as_str().to_string(),
    };
    s.metrics.requests.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    let entry = Access { user, method: method.to_string(), route, forbund, status: response.status().as_u16(), seqs };
    let (written, done) = tokio::sync::oneshot::channel();
    if s.access_lines.send((entry, written)).is_err() || done.await.is_err() {
        tracing::error!("the access log's writer stopped");
    }
    response
}

/// The access log's writer (a thread of its own): writes the lines waiting, one write for all,
/// then lets their answers go.
pub(crate) fn access_writer(
    shared: Shared_,
    lines: std::sync::mpsc::Receiver<(Access, tokio::sync::oneshot::Sender<()>)>,
) {
    while let Ok(first) = lines.recv() {
        let mut waiting = vec![first];
        while let Ok(more) = lines.try_recv() {
            waiting.push(more);
        }
        let (entries, answers): (Vec<Access>, Vec<_>) = waiting.into_iter().unzip();
        let written = shared.access.lock().expect("the access log's lock is never poisoned").append_all(&entries);
        if let Err(e) = written {
            tracing::error!("the access log could not be written: {e}");
        }
        for a in answers {
            let _ = a.send(());
        }
    }
}

/// How long a request may take, body included, before it is answered 408 (subscriptions
/// excepted): `FINSAM_REQUEST_TIMEOUT` seconds, default 30. A client that trickles its body in
/// holds nothing but its own connection, and not for longer than this.
pub(crate) fn request_timeout() -> Duration {
    let seconds = std::env::var("FINSAM_REQUEST_TIMEOUT").ok().and_then(|v| v.parse::<f64>().ok()).filter(|s| *s > 0.0);
    Duration::from_secs_f64(seconds.unwrap_or(30.0))
}

/// Answers the router's and the extractors' own refusals (a path or a query that does not
/// parse, a missing route, a wrong method) as every other refusal: `{"error": …}` in JSON.
pub(crate) async fn json_refusals(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|v| v.to_str().is_ok_and(|t| t.starts_with("text/plain")));
    if !(response.status().is_client_error() || response.status().is_server_error()) || !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = match String::from_utf8_lossy(&text).trim() {
        "" => parts.status.canonical_reason().unwrap_or("refused").to_lowercase(),
        t => t.to_string(),
    };
    let mut answer = Answer::error(parts.status, message).into_response();
    answer.extensions_mut().extend(parts.extensions);
    answer
}

pub(crate) async fn timeout(request: Request, next: Next) -> Response {
    if request.uri().path() == "/api/v1/subscribe" {
        return next.run(request).await;
    }
    match tokio::time::timeout(request_timeout(), next.run(request)).await {
        Ok(response) => response,
        Err(_) => Answer::error(StatusCode::REQUEST_TIMEOUT, "the request took too long (its body came too slowly)")
            .into_response(),
    }
}

/// The largest body the sign-in form may have (a token and two short fields).
pub(crate) const SIGN_IN_BYTES_MAX: usize = 16 << 10;

/// Before anything of a body is read: a declared length over the limit is refused at once
/// (413), and a body is taken only from someone known — a valid bearer token for the API, a
/// session for the web app's forms (the sign-in form alone is open, with a small limit).
/// Nobody unknown can make the server buffer anything.
pub(crate) async fn gate(State(s): State<Shared_>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let sign_in = request.uri().path() == "/logga-in" && request.method() == Method::POST;
    let credentials = sign_in || request.headers().contains_key(axum::http::header::AUTHORIZATION);
    if let (true, Some(ip)) = (credentials, peer) {
        if let Some(wait) = s.throttle.blocked(ip) {
            let mut r = Answer::error(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many refused tokens or sign-ins from {ip}: try again in {} s", wait.as_secs() + 1),
            )
            .into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&(wait.as_secs() + 1).to_string()) {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            return r;
        }
    }
    let mut request = request;
    if request.uri().path().starts_with("/api/") {
        if let Some(user) = s.bearer_user(request.headers()) {
            request.extensions_mut().insert(Authenticated(user));
        }
    }
    let r = admit(&s, request, next, sign_in).await;
    if let (true, Some(ip)) = (credentials, peer) {
        if r.status() == StatusCode::UNAUTHORIZED || r.extensions().get::<web::SignInRefused>().is_some() {
            s.throttle.failed(ip);
        }
    }
    r
}

/// The body rules of `gate`.
pub(crate) async fn admit(s: &Shared, request: Request, next: Next, sign_in: bool) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let path = request.uri().path();
    let limit = if sign_in { SIGN_IN_BYTES_MAX } else { INPUT_BYTES_MAX };
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let mut r = Answer::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is {} bytes; at most {limit} are taken: split the batch", declared.unwrap_or_default()),
        )
        .into_response();
        r.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        return r;
    }
    if sign_in {
        return next.run(request).await;
    }
    let known = if path.starts_with("/api/") {
        request.extensions().get::<Authenticated>().is_some()
    } else {
        web::session_user(s, request.headers()).is_some()
    };
    if known {
        return next.run(request).await;
    }
    // Refused without reading the body: the connection is closed after the answer.
    let mut r = if path.starts_with("/api/") {
        s.metrics.refused_auth.inc();
        Answer::unauthorized().into_response()
    } else {
        web::sign_in_again(path)
    };
    r.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    r
}

/// `ETag` on every whole JSON or download answer of the API (the SHA-256 of its body, so the same
/// answer always has the same tag), and `304 Not Modified` when the request's `If-None-Match`
/// names it: an answer pinned by `known_at` (and `as_of`) never changes, so a client that has it
/// need never fetch it again. The streamed log and the live feed have none.
pub(crate) async fn etags(request: Request, next: Next) -> Response {
    use axum::http::{header, HeaderValue};
    let path = request.uri().path();
    let tagged = request.method() == Method::GET
        && path.starts_with("/api/v1/")
        && !matches!(path, "/api/v1/log" | "/api/v1/subscribe");
    let asked = request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string);
    let response = next.run(request).await;
    if !tagged || response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "the answer could not be read").into_response();
    };
    let digest = sha2::Sha256::digest(&bytes);
    // Weak: the same content under another coding (gzip) is the same answer.
    let tag = format!("W/\"{}\"", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>());
    if let Ok(v) = HeaderValue::from_str(&tag) {
        parts.headers.insert(header::ETAG, v);
    }
    let weak = |t: &str| t.trim_start_matches("W/").to_string();
    let matches = asked.is_some_and(|a| a.split(',').map(str::trim).any(|t| weak(t) == weak(&tag) || t == "*"));
    if matches {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.remove(header::CONTENT_DISPOSITION);
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// On a database that this instance has not reached for a while: every answer says that its
/// books could not be proven current, and to which event they run (`Finsam-Unconfirmed:
/// head=H; seconds=N`). Reads go on; what another instance committed meanwhile may be missing.
pub(crate) async fn unconfirmed(State(s): State<Shared_>, request: Request, next: Next) -> Response {
    let mut r = next.run(request).await;
    if let Some(seconds) = s.unconfirmed_for() {
        let head = s.snapshot().head.seq;
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("head={head}; seconds={seconds}")) {
            r.headers_mut().insert("finsam-unconfirmed", v);
        }
    }
    r
}

/// What every answer carries: never framed by another site, no scripts or styles from
/// elsewhere, nothing kept in a cache (the pages and downloads hold money and names).
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    use axum::http::{header, HeaderValue};
    let mut r = next.run(request).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// A new request id: 16 hex digits, a counter under a random start (one per process), so ids
/// do not repeat and cost no system call.
pub(crate) fn next_request_id() -> String {
    static NEXT: OnceLock<std::sync::atomic::AtomicU64> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let start = u64::from_str_radix(&finsam_store::access::random_hex()[..16], 16).unwrap_or_default();
        std::sync::atomic::AtomicU64::new(start)
    });
    format!("{:016x}", next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Each request gets an id — the client's `X-Request-Id` if it is a short plain token, else a
/// new one — answered in `X-Request-Id` and carried by the request's span, so that what the
/// service logs of a request can be found by it.
pub(crate) async fn request_id(request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string);
    let id = given.unwrap_or_else(next_request_id);
    // At debug: at the default level (info) a span per request would cost every request an
    // allocation and a formatting of its fields for nothing logged.
    let span = tracing::debug_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    let started = Instant::now();
    let mut response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "answered")
    });
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
