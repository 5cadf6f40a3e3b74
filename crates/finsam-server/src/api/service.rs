//! The service itself: health, metrics, the OpenAPI document and the event schemas.

use crate::*;

/// The OpenAPI document of this API, generated (see `openapi`).
#[utoipa::path(
    get, path = "/api/v1/openapi.json", operation_id = "getOpenApi", tag = "service", security(()),
    summary = "This document",
    responses((status = 200, description = "the OpenAPI document", body = Object))
)]
pub(crate) async fn openapi() -> Answer {
    Answer::json(StatusCode::OK, openapi::document().to_string())
}
/// The event schemas the OpenAPI document refers to (`schemas/event.schema.json` and the files
/// it refers to), as kept in `events/`.
#[utoipa::path(
    get, path = "/api/v1/schemas/{name}", operation_id = "getEventSchema", tag = "service", security(()),
    summary = "The event schemas (JSON Schema) the batch of POST /api/v1/events follows: event.schema.json and the files it refers to",
    params(("name" = String, Path, description = "e.g. event.schema.json", example = "event.schema.json", pattern = r"^[A-Za-z]+\.schema\.json$")),
    responses(
        (status = 200, description = "the schema", body = Object, content_type = "application/schema+json"),
        (status = 400, response = openapi::BadRequest),
        (status = 404, response = openapi::NotFound),
    )
)]
pub(crate) async fn schema(UrlPath(name): UrlPath<String>) -> Answer {
    let found = finsam_app::audit::BUNDLED
        .iter()
        .find(|(path, _)| path.strip_prefix("events/") == Some(name.as_str()) && name.ends_with(".schema.json"));
    match found {
        Some((_, text)) => {
            Answer { content_type: "application/schema+json", ..Answer::json(StatusCode::OK, text.to_string()) }
        }
        None => {
            Answer::error(StatusCode::NOT_FOUND, format!("no schema {name:?}; the events' schema is event.schema.json"))
        }
    }
}

#[utoipa::path(
    get, path = "/healthz", operation_id = "getHealth", tag = "service", security(()),
    summary = "Whether the server is up, and the log's head",
    responses(
        (status = 200, description = "up", body = openapi::Health),
        (status = 503, description = "up, but recording nothing more (a failed fdatasync, or the background scrub found the log damaged); reads go on", body = openapi::Health),
    )
)]
pub(crate) async fn healthz(State(s): State<Shared_>) -> Answer {
    let head = s.snapshot().head.seq;
    let problem = s.failed.lock().expect("the lock is never poisoned").clone();
    let problem = problem.or_else(|| s.damaged.lock().expect("the lock is never poisoned").clone());
    let status = if problem.is_some() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let body = openapi::Health { ok: problem.is_none(), head, problem };
    Answer::json(status, format!("{}\n", serde_json::to_string(&body).expect("an answer serialises")))
}

#[utoipa::path(
    get, path = "/metrics", operation_id = "getMetrics", tag = "service", security(()),
    summary = "Counters, gauges and latency histograms (group writes, fdatasync, every route) in the OpenMetrics text format, which Prometheus reads",
    responses((status = 200, description = "metrics", body = String, content_type = "application/openmetrics-text"))
)]
pub(crate) async fn metrics(State(s): State<Shared_>) -> Answer {
    s.metrics.head.set(i64::try_from(s.snapshot().head.seq).unwrap_or(i64::MAX));
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given and nothing else.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0 {
        // SAFETY: filled by the successful call above.
        let usage = unsafe { usage.assume_init() };
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        s.metrics.cpu_seconds.set(seconds(usage.ru_utime) + seconds(usage.ru_stime));
        s.metrics.max_resident_bytes.set(usage.ru_maxrss * 1024);
    }
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &s.metrics.registry).is_err() {
        return Answer::error(StatusCode::INTERNAL_SERVER_ERROR, "the metrics could not be written");
    }
    Answer {
        content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ..Answer::json(StatusCode::OK, body)
    }
}
