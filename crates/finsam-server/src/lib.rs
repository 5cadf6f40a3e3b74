//! `finsam serve`: the store as a multi-user HTTP service (tokio + axum).
//!
//! The server holds the store open for writing (its lock, its projection in memory). Writes go
//! through one writer task, in order; reports are computed and rendered by the same functions as
//! the CLI's (`reports::*_out`), from the books in memory, so the CLI and the API give the same
//! JSON. Every request is authenticated by a bearer token (`finsam user add`), checked against
//! the user's role and förbund, and written to the hash-chained access log.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use finsam_app::reports::{self, Axes, Books, KnownAt};
use finsam_app::Format;
use finsam_domain::input::{parse_batch, INPUT_BYTES_MAX};
use finsam_domain::{Event, EventKind};
use finsam_store::access::{Access, AccessLog, Role, User, Users};
use finsam_store::{FileLog, Snapshot, Store, StoreError};
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

mod api;
mod layers;
mod metrics;
mod openapi;
mod refusals;
mod writer;

/// The OpenAPI document of the API `serve` serves (JSON, pretty, with a final newline).
pub fn openapi_document() -> &'static str {
    openapi::document()
}

mod web;

use api::*;
use layers::*;
use metrics::*;
use writer::*;

/// Refused credentials (bad tokens, failed sign-ins) per client address: after
/// `THROTTLE_FAILURES` within `THROTTLE_WINDOW`, that address's credentials are not looked at
/// until the window is over (429 with Retry-After).
#[derive(Default)]
struct Throttle {
    failures: Mutex<std::collections::HashMap<std::net::IpAddr, (Instant, u32)>>,
}

const THROTTLE_FAILURES: u32 = 20;
const THROTTLE_WINDOW: Duration = Duration::from_secs(60);

impl Throttle {
    /// How long the address must still wait, if it is blocked.
    fn blocked(&self, ip: std::net::IpAddr) -> Option<Duration> {
        let failures = self.failures.lock().expect("the throttle's lock is never poisoned");
        let (since, count) = failures.get(&ip)?;
        let left = THROTTLE_WINDOW.checked_sub(since.elapsed())?;
        (*count >= THROTTLE_FAILURES).then_some(left)
    }

    fn failed(&self, ip: std::net::IpAddr) {
        let mut failures = self.failures.lock().expect("the throttle's lock is never poisoned");
        if failures.len() > 100_000 {
            failures.retain(|_, (since, _)| since.elapsed() < THROTTLE_WINDOW);
        }
        let entry = failures.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= THROTTLE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

/// What every handler shares.
pub struct Shared {
    dir: PathBuf,
    /// The store, open for writing: the writer thread holds it while it checks and writes a
    /// group; nothing else does until the server stops.
    store: Mutex<Store<FileLog>>,
    /// What readers see: the head and the projection as of the last group made durable. A
    /// reader takes the `Arc` (the lock is held for no longer than that) and never waits for a
    /// write or an fdatasync.
    snapshot: RwLock<Arc<Snapshot>>,
    /// Set when an fdatasync failed: nothing more is acknowledged; the store must be reopened.
    failed: Mutex<Option<String>>,
    /// Set when the background scrub found the log damaged: the store records nothing more
    /// (what was acknowledged before stays acknowledged); reads go on.
    damaged: Mutex<Option<String>>,
    users: RwLock<Users>,
    access: Mutex<AccessLog>,
    /// The access log's writer thread: a request's line is written (with the lines of the
    /// requests that finished with it, in one write) before its answer goes out.
    access_lines: std::sync::mpsc::Sender<(Access, tokio::sync::oneshot::Sender<()>)>,
    metrics: Metrics,
    /// The head after every batch recorded, for the subscribers. Sending never waits: a
    /// subscriber that falls behind misses heads and is disconnected (it resumes from the log).
    heads: tokio::sync::broadcast::Sender<u64>,
    /// The writer's queue: every write goes through it, in order.
    writes: tokio::sync::mpsc::Sender<WriteJob>,
    /// The web app's signed-in users, by session id.
    sessions: Mutex<web::Sessions>,
    throttle: Throttle,
    /// The users and sessions every instance shares, when the log is in PostgreSQL
    /// (`serve --database`); `None` for a store in a folder.
    directory: Option<finsam_store::pg::Directory>,
    /// On a database: when this instance last saw the database's head and held everything
    /// before it (a look that found nothing newer, or a write that took in what was), as
    /// milliseconds since `started`. Reads are proven current as of then.
    confirmed_ms: std::sync::atomic::AtomicU64,
    started: Instant,
}

impl Shared {
    /// This instance holds everything the database had committed until now.
    pub(crate) fn confirm_current(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.confirmed_ms.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// On a database whose head this instance has not seen for longer than `CURRENT_WITHIN`:
    /// for how long, in whole seconds. Its reads cannot be proven current then (another
    /// instance may have committed what this one has not taken in), so they say so.
    pub(crate) fn unconfirmed_for(&self) -> Option<u64> {
        self.directory.as_ref()?;
        let now = self.started.elapsed().as_millis() as u64;
        let since = now.saturating_sub(self.confirmed_ms.load(std::sync::atomic::Ordering::Relaxed));
        (since > CURRENT_WITHIN.as_millis() as u64).then_some(since / 1000)
    }

    /// The books as of the last durable group.
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().expect("the snapshot's lock is never poisoned").clone()
    }
}

/// An answer with its status, and what the access log records of it.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
    /// Headers of its own: a download's file name (`Content-Disposition`), the next page
    /// (`Link`).
    headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>,
    user: Option<Box<str>>,
    forbund: Option<Box<str>>,
    seqs: Box<[u64]>,
}

impl Answer {
    fn json(status: StatusCode, body: String) -> Answer {
        Answer {
            status,
            body: body.into_bytes(),
            content_type: "application/json",
            headers: Vec::new(),
            user: None,
            forbund: None,
            seqs: Box::new([]),
        }
    }

    /// A download: its file name for the browser to save it under (`Content-Disposition`).
    fn download(mut self, name: &str) -> Answer {
        let safe: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
            self.headers.push((axum::http::header::CONTENT_DISPOSITION, v));
        }
        self
    }

    /// A refusal as RFC 9457 `application/problem+json`: `type`, `title` (the status's reason),
    /// `status` and `detail`, and — for the clients written before — `error`, the same text as
    /// `detail`.
    fn error(status: StatusCode, message: impl Into<String>) -> Answer {
        Answer::problem(status, message, None)
    }

    /// An RFC 9457 problem; `problems`, every refused line of a batch.
    fn problem(status: StatusCode, message: impl Into<String>, problems: Option<Vec<openapi::RefusedLine>>) -> Answer {
        let message = message.into();
        let body = openapi::Error {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: message.clone(),
            error: message,
            problems,
        };
        Answer {
            content_type: "application/problem+json",
            ..Answer::json(status, format!("{}\n", serde_json::to_string(&body).expect("a problem serialises")))
        }
    }

    fn unauthorized() -> Answer {
        Answer::error(
            StatusCode::UNAUTHORIZED,
            "a valid token is needed: `Authorization: Bearer TOKEN` (finsam user add prints one)",
        )
    }
}

/// What a route needs of the user.
enum Need<'a> {
    /// Read the books of one förbund: any role that covers it.
    Read(&'a str),
    /// Export the books of one förbund (SIE, journal, the bundle): any role that covers it but
    /// read-only.
    Export(&'a str),
    /// Record events of these förbund: admin, or kansli of every one of them.
    Write(Vec<String>),
    /// Store-wide reading (the whole log, verification, every förbund): admin or revisor.
    Audit,
}

impl Shared {
    /// Users added or revoked (`finsam user`) while the server runs count from their next request.
    fn refresh_users(&self) {
        if self.users.read().expect("the users' lock is never poisoned").changed(&self.dir) {
            match Users::load(&self.dir) {
                Ok(fresh) => *self.users.write().expect("the users' lock is never poisoned") = fresh,
                Err(e) => tracing::error!("users.jsonl could not be read again: {e}"),
            }
        }
    }

    /// Keeps an underlag's bytes in this instance's folder and, on a database, there too, so
    /// that every instance serves it.
    pub(crate) fn keep_underlag(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let sha = finsam_store::underlag::put(&self.dir, bytes)?;
        if let Some(directory) = &self.directory {
            directory.put_underlag(&sha, bytes)?;
        }
        Ok(sha)
    }

    /// The user of the request's bearer token, if it is valid.
    fn bearer_user(&self, headers: &HeaderMap) -> Option<User> {
        self.authenticate(bearer_token(headers)?)
    }

    /// The user whose token this is, if it is valid. On a database, a token this instance's
    /// copy of the users does not know is looked up there first: a user added on any instance
    /// (or with `finsam --database … user add`) counts from their first request.
    pub(crate) fn authenticate(&self, token: &str) -> Option<User> {
        self.refresh_users();
        let known = self.users.read().expect("the users' lock is never poisoned").authenticate(token).cloned();
        if known.is_some() {
            return known;
        }
        let directory = self.directory.as_ref()?;
        match tokio::task::block_in_place(|| directory.mirror_users(&self.dir)) {
            // Whether this look or the mirror's, which it waited for, brought the copy up to
            // date: the copy is read again either way.
            Ok(_) => {
                self.refresh_users();
                self.users.read().expect("the users' lock is never poisoned").authenticate(token).cloned()
            }
            Err(e) => {
                tracing::warn!("the users could not be read from the database: {e}");
                None
            }
        }
    }

    /// The user of the request — the one the gate already authenticated by its bearer token
    /// (`known`), else its bearer token's, else, for reading and downloads (never for a write),
    /// the web app's session cookie's — and whether the user may do what is needed: 401 without
    /// a valid token (never from the query string), 403 when the role may not.
    fn authorize(&self, known: Option<&User>, headers: &HeaderMap, need: Need<'_>) -> Result<User, Answer> {
        let user = match (known, bearer_token(headers)) {
            (Some(u), _) => Some(u.clone()),
            (None, Some(_)) => self.bearer_user(headers),
            (None, None) if matches!(need, Need::Write(_)) => None,
            (None, None) => web::session_user(self, headers),
        };
        let Some(user) = user else {
            self.metrics.refused_auth.inc();
            return Err(Answer::unauthorized());
        };
        let allowed = match &need {
            Need::Read(f) => user.covers(f),
            Need::Export(f) => user.covers(f) && user.role != Role::Read,
            Need::Write(list) => user.may_record_all(list),
            Need::Audit => matches!(user.role, Role::Admin | Role::Revisor),
        };
        if !allowed {
            self.metrics.refused_auth.inc();
            let what = match &need {
                Need::Read(f) => format!("read the books of {f}"),
                Need::Export(f) if user.covers(f) => "export the books".to_string(),
                Need::Export(f) => format!("export the books of {f}"),
                Need::Write(list) => format!("record events of {}", list.join(", ")),
                Need::Audit => "read the whole store (admin or revisor)".to_string(),
            };
            let mut a =
                Answer::error(StatusCode::FORBIDDEN, format!("{} ({}) may not {what}", user.name, user.role.as_str()));
            a.user = Some(user.name.as_str().into());
            a.forbund = match need {
                Need::Read(f) | Need::Export(f) => Some(f.into()),
                Need::Write(list) => Some(list.join(",").into()),
                Need::Audit => None,
            };
            return Err(a);
        }
        Ok(user)
    }
}

/// A report's failure as an HTTP answer: an unknown förbund or year is 404, anything else the
/// caller asked wrongly 400.
fn failed(f: finsam_app::output::Failure) -> Answer {
    let status = if f.message.starts_with("no förbund") || f.message.contains(" has no budget for ") {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::BAD_REQUEST
    };
    Answer::error(status, f.message)
}

type Shared_ = Arc<Shared>;

/// A handler's answer: `Err` for one that stops early (refused, or asked wrongly).
type Reply = Result<Answer, Answer>;

/// Sent to the subscribers instead of a head when the server stops.
const STOPPING: u64 = u64::MAX;

/// The förbund of a route: its path's `{id}`, decoded (empty where the route has none).
pub(crate) async fn path_forbund<S: Send + Sync>(parts: &mut axum::http::request::Parts, s: &S) -> String {
    match axum::extract::RawPathParams::from_request_parts(parts, s).await {
        Ok(params) => params.iter().find(|(k, _)| *k == "id").map(|(_, v)| v.to_string()).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The bearer token of a request (`Authorization: Bearer TOKEN`; never the query string).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The user the gate authenticated by the request's bearer token.
#[derive(Clone)]
struct Authenticated(User);

fn known(parts: &axum::http::request::Parts) -> Option<&User> {
    parts.extensions.get::<Authenticated>().map(|a| &a.0)
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.body).into_response();
        r.headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static(self.content_type));
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"finsam\""),
            );
        }
        for (k, v) in self.headers {
            r.headers_mut().insert(k, v);
        }
        // What the access log needs travels with the response to the middleware.
        r.extensions_mut().insert(AccessNote {
            user: self.user.map(String::from),
            forbund: self.forbund.map(String::from),
            seqs: self.seqs.into_vec(),
        });
        r
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/schemas/{name}", get(schema))
        .route("/api/v1/events", post(events))
        .route("/api/v1/log", get(log))
        .route("/api/v1/forbund/{id}/balances", get(balances))
        .route("/api/v1/forbund/{id}/budget/{year}", get(budget))
        .route("/api/v1/forbund/{id}/audit/trail", get(trail))
        .route("/api/v1/forbund/{id}/audit/explain", get(explain))
        .route("/api/v1/forbund/{id}/export/sie/{year}", get(export_sie))
        .route("/api/v1/forbund/{id}/export/journal", get(export_journal))
        .route("/api/v1/forbund/{id}/export/beancount", get(export_beancount))
        .route("/api/v1/forbund/{id}/bundle/{year}", get(bundle))
        .route("/api/v1/audit/digest", get(digest))
        .route("/api/v1/reconcile", get(reconcile))
        .route("/api/v1/audit/verify", get(verify))
        .route("/api/v1/subscribe", get(subscribe))
        .merge(web::routes())
        .layer(DefaultBodyLimit::max(INPUT_BYTES_MAX))
        .layer(axum::middleware::from_fn(json_refusals))
        .layer(axum::middleware::from_fn(timeout))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), gate))
        .layer(axum::middleware::from_fn(etags))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), access_log))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), unconfirmed))
        .layer(axum::middleware::from_fn(request_id))
        .with_state(shared)
}

/// How long a client has to send a request's headers — on a new connection, and between the
/// requests of one kept alive — before the connection is closed (`FINSAM_HEADER_TIMEOUT`,
/// seconds; default 10).
fn header_timeout() -> Duration {
    let seconds = std::env::var("FINSAM_HEADER_TIMEOUT").ok().and_then(|v| v.parse::<f64>().ok()).filter(|s| *s > 0.0);
    Duration::from_secs_f64(seconds.unwrap_or(10.0))
}

/// How many connections are open at most: a connection over the cap is closed at once, so that
/// the server keeps file descriptors for its store and for the clients it serves. The soft limit
/// on open files is raised to the hard one first.
fn connections_max() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write the struct passed, nothing else.
    let files = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            1024
        } else {
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit.rlim_cur = limit.rlim_max;
                }
            }
            limit.rlim_cur
        }
    };
    (files.saturating_sub(256) as usize).clamp(64, 16_384)
}

/// The most one connection buffers in hyper (and so the longest request head it takes).
const CONNECTION_BUFFER_BYTES: usize = 64 << 10;

/// Accepts connections and serves each with hyper's HTTP/1 (a header-read timeout, under a cap
/// on open connections), each request knowing its peer's address; on `stop`, stops accepting
/// and waits (at most 30 s) for the requests under way.
async fn connections(
    listener: tokio::net::TcpListener,
    app: Router,
    open: Gauge,
    stop: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(connections_max()));
    let timeout = header_timeout();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken: wait
                    // a moment rather than spin.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = tower::ServiceExt::map_request(app.clone(), move |mut r: Request<hyper::body::Incoming>| {
            r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            r
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(timeout)
            // What one connection buffers (its request's head, an answer not yet taken by a
            // slow reader): 64 KiB, not hyper's 400 KiB.
            .max_buf_size(CONNECTION_BUFFER_BYTES)
            .serve_connection(
                TokioIo::new(refusals::ProblemBodies::new(stream)),
                hyper_util::service::TowerToHyperService::new(service),
            );
        let connection = graceful.watch(connection);
        let open = open.clone();
        open.inc();
        tokio::spawn(async move {
            let _ = connection.await;
            open.dec();
            drop(permit);
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("requests still under way after 30 s are cut off");
        }
    }
}

/// What the service says of itself goes to standard error, at the level `FINSAM_LOG` names
/// (error, warn, info — the default — debug: every request with its id, status and time).
fn init_logging() {
    let level = match std::env::var("FINSAM_LOG").unwrap_or_default().to_ascii_lowercase().as_str() {
        "error" => tracing::Level::ERROR,
        "warn" => tracing::Level::WARN,
        "debug" => tracing::Level::DEBUG,
        "trace" => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

/// How the service looks after its store while it runs.
#[derive(Clone, Copy, Debug)]
pub struct Upkeep {
    /// The background scrub walks the log's whole chain once at start and then this often.
    pub scrub_every: Duration,
    /// The derived state is saved this often when events were recorded since the last save
    /// (and always at a clean stop), so that the next start, or a command after a crash,
    /// replays only what came after it.
    pub save_every: Duration,
}

impl Default for Upkeep {
    fn default() -> Upkeep {
        Upkeep { scrub_every: Duration::from_secs(3600), save_every: Duration::from_secs(300) }
    }
}

/// Walks the log's hash chain up to what the writer has written, at start and then every
/// `every`. If the chain is broken, or ends anywhere but where the writer wrote, the store
/// records nothing more and `/healthz` says why; reads go on.
fn scrubber(shared: Arc<Shared>, every: Duration) {
    loop {
        let point = shared.store.lock().expect("the store's lock is never poisoned").scrub_point();
        let started = Instant::now();
        match finsam_store::scrub(&shared.dir, &point) {
            Ok(()) => {
                shared.metrics.scrub_passes.inc();
                shared.metrics.scrubbed_head.set(i64::try_from(point.head.seq).unwrap_or(i64::MAX));
                tracing::info!(
                    "scrub: the log's chain is intact up to seq {} ({} bytes in {:.2} s)",
                    point.head.seq,
                    point.log_len,
                    started.elapsed().as_secs_f64()
                );
            }
            Err(e) => {
                let reason = format!(
                    "the background scrub found the log damaged: {e}; nothing more is recorded (run `finsam audit verify`)"
                );
                tracing::error!("{reason}");
                *shared.damaged.lock().expect("the lock is never poisoned") = Some(reason.clone());
                shared.store.lock().expect("the store's lock is never poisoned").refuse_writes(reason);
                return;
            }
        }
        std::thread::sleep(every);
    }
}

/// Saves the derived state every `every` when events were recorded since the last save. The
/// writer waits meanwhile (the save reads the books it changes).
fn saver(shared: Arc<Shared>, every: Duration) {
    loop {
        std::thread::sleep(every);
        let mut store = shared.store.lock().expect("the store's lock is never poisoned");
        let started = Instant::now();
        match store.save_checkpoint() {
            Ok(true) => shared.metrics.checkpoint_save.observe(started.elapsed()),
            Ok(false) => {}
            Err(e) => tracing::warn!("{e}"),
        }
    }
}

/// An instance on a database looks at it at least every `writer::FOLLOW_EVERY`; a read is
/// proven current if the last look that succeeded is at most this old.
const CURRENT_WITHIN: Duration = Duration::from_secs(3);

/// How often an instance on a database copies its new access log lines there.
const ACCESS_EVERY: Duration = Duration::from_secs(1);

/// Copies this instance's access log into the database (`finsam_access`, under the instance's
/// name), about every second: the same lines, so the chain checks the same there. Starts where
/// the database's copy ends, after checking that its last line is the folder's line at that
/// seq; lines that could not be written are written at the next try, in order.
fn access_copier(shared: Shared_, instance: String) {
    let Some(directory) = shared.directory.as_ref() else { return };
    'start: loop {
        let (mut copied, mut tail) = match access_tail(directory, &shared.dir, &instance) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("the access log of instance {instance} cannot be copied to the database: {e}");
                std::thread::sleep(ACCESS_EVERY * 5);
                continue 'start;
            }
        };
        let mut pending: Vec<String> = Vec::new();
        loop {
            std::thread::sleep(ACCESS_EVERY);
            match tail.take() {
                Ok(lines) => pending.extend(lines),
                Err(e) => {
                    tracing::warn!("the access log of instance {instance} cannot be read: {e}");
                    continue 'start;
                }
            }
            if pending.is_empty() {
                continue;
            }
            match directory.add_access_lines(&instance, copied + 1, &pending) {
                Ok(()) => {
                    copied += pending.len() as u64;
                    shared.metrics.access_copied.inc_by(pending.len() as u64);
                    pending.clear();
                }
                Err(e) => {
                    tracing::warn!("the access log of instance {instance} could not be copied to the database: {e}");
                    // Look again at what the database holds (the commit may have landed).
                    continue 'start;
                }
            }
        }
    }
}

/// How many lines of this instance's access log the database holds, and the folder's log from
/// the line after them (the database's last line checked against the folder's at that seq).
fn access_tail(
    directory: &finsam_store::pg::Directory,
    dir: &std::path::Path,
    instance: &str,
) -> Result<(u64, finsam_store::access::AccessTail), StoreError> {
    let (seq, last) = directory.access_head(instance)?;
    Ok((seq, finsam_store::access::AccessTail::after(dir, seq, last.as_deref())?))
}

/// How often an instance on a database brings its copy of the users up to the database's.
const USERS_EVERY: Duration = Duration::from_millis(500);

/// Keeps `users.jsonl` in an instance's folder a copy of the database's users, and its
/// underlag a copy of the database's (within `USERS_EVERY`): a user added or
/// revoked with `finsam --database … user` counts on every instance at once on the database's
/// notification, and within `USERS_EVERY` in any case.
fn users_mirror(shared: Shared_, heard: std::sync::mpsc::Receiver<()>) {
    let Some(directory) = shared.directory.as_ref() else { return };
    let mut underlag_seen = 0;
    // Said once when the database goes away, and once when it is back (not every half second).
    let mut away = false;
    loop {
        let users = directory.mirror_users(&shared.dir);
        if let Ok(true) = users {
            shared.refresh_users();
        }
        // The underlag kept through other instances, fetched into this one's folder.
        let underlag = users.and_then(|_| directory.mirror_underlag(&shared.dir, &mut underlag_seen));
        match underlag {
            Err(e) if !away => {
                tracing::warn!("the users and underlag cannot be brought up to the database's: {e}");
                away = true;
            }
            Ok(_) if away => {
                tracing::info!("the users and underlag are brought up to the database's again");
                away = false;
            }
            _ => {}
        }
        // At once on a notification (a grant or a revocation), else after USERS_EVERY.
        match heard.recv_timeout(USERS_EVERY) {
            Ok(()) => while heard.try_recv().is_ok() {},
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(USERS_EVERY),
        }
    }
}

/// Opens the store for writing and serves it until a stop signal; then saves the derived
/// state and makes the access log durable.
pub async fn serve(
    dir: PathBuf,
    listen: String,
    upkeep: Upkeep,
    database: Option<String>,
) -> Result<(), finsam_app::output::Failure> {
    use finsam_app::output::Failure;
    init_logging();
    let (store, report, directory) = match database {
        // The database's client runs a runtime of its own: opened on a thread of its own.
        Some(url) => {
            let folder = dir.clone();
            std::thread::spawn(move || -> Result<_, StoreError> {
                let (store, report) = Store::open_mirrored(&folder, &url)?;
                let directory = finsam_store::pg::Directory::open(&url)?;
                directory.mirror_users(&folder)?;
                Ok((store, report, Some(directory)))
            })
            .join()
            .map_err(|_| Failure { code: 1, message: "opening the database failed".into() })??
        }
        None => {
            let (store, report) = Store::open(&dir)?;
            (store, report, None)
        }
    };
    finsam_app::output::report_open(&report);
    let users = Users::load(&dir)?;
    if users.iter().next().is_none() {
        match &directory {
            Some(d) => {
                tracing::warn!("no users yet; add one with `finsam --database {} user add NAME --role admin`", d.name())
            }
            None => tracing::warn!(
                "no users yet; add one with `finsam --store {} user add NAME --role admin`",
                dir.display()
            ),
        }
    }
    let sessions = match &directory {
        Some(d) => tokio::task::block_in_place(|| web::Sessions::load_shared(d))?,
        None => web::Sessions::load(&dir)?,
    };
    let access = AccessLog::open(&dir)?;
    let (writes, queue) = tokio::sync::mpsc::channel(4096);
    // On a database: the listener's wake-up hints for the writer.
    let (nudge, nudged) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (access_lines, to_write) = std::sync::mpsc::channel();
    let file = store.log_sync_handle()?;
    let shared = Arc::new(Shared {
        dir: dir.clone(),
        snapshot: RwLock::new(Arc::new(Snapshot::of(&store))),
        store: Mutex::new(store),
        failed: Mutex::new(None),
        damaged: Mutex::new(None),
        users: RwLock::new(users),
        access: Mutex::new(access),
        access_lines,
        metrics: Metrics::new(),
        heads: tokio::sync::broadcast::channel(1024).0,
        writes,
        sessions: Mutex::new(sessions),
        throttle: Throttle::default(),
        directory,
        confirmed_ms: std::sync::atomic::AtomicU64::new(0),
        started: Instant::now(),
    });
    // Opening took in everything the database had.
    shared.confirm_current();
    // At most two groups wait for the syncer: then the writer waits, and requests gather into
    // bigger groups.
    let (written, durable) = std::sync::mpsc::sync_channel(2);
    let w = shared.clone();
    start_thread("finsam-writer", "the writer", move || writer(w, queue, nudged, written))?;
    let d = shared.clone();
    start_thread("finsam-syncer", "the syncer", move || syncer(d, file, durable))?;
    let a = shared.clone();
    start_thread("finsam-access", "the access log's writer", move || access_writer(a, to_write))?;
    let c = shared.clone();
    start_thread("finsam-scrub", "the scrub", move || scrubber(c, upkeep.scrub_every))?;
    let c = shared.clone();
    start_thread("finsam-saver", "the saver", move || saver(c, upkeep.save_every))?;
    // On a database: the listener's hint that a user was added or revoked.
    let (users_changed, users_heard) = std::sync::mpsc::channel::<()>();
    if let Some(url) = shared.store.lock().expect("the store's lock is never poisoned").upstream_url() {
        let c = shared.clone();
        start_thread("finsam-listen", "the listener", move || {
            finsam_store::pg::listen(&url, &mut |channel| {
                c.metrics.notifications.inc();
                if channel == finsam_store::pg::USERS_CHANNEL {
                    let _ = users_changed.send(());
                } else {
                    let _ = nudge.send(());
                }
            })
        })?;
    }
    let instance = shared.directory.is_some().then(|| finsam_store::access::instance_name(&dir)).transpose()?;
    if let Some(instance) = instance.clone() {
        tracing::info!("this instance is {instance}; its access log is copied to the database under that name");
        let c = shared.clone();
        start_thread("finsam-access-copy", "the access log's copier", move || access_copier(c, instance))?;
        let c = shared.clone();
        start_thread("finsam-users", "the users' copy", move || users_mirror(c, users_heard))?;
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener.local_addr().map_err(|e| Failure::usage(e.to_string()))?;
    match shared.store.lock().expect("the store's lock is never poisoned").upstream() {
        Some(database) => {
            println!(
                "finsam serve: listening on http://{addr} (log in {database}, this instance's copy in {})",
                dir.display()
            )
        }
        None => println!("finsam serve: listening on http://{addr} (store {})", dir.display()),
    }
    // The access log is made durable every second, and at the end.
    let syncer = shared.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = syncer.access.lock().expect("the access log's lock is never poisoned").sync();
        }
    });
    let stopping = shared.clone();
    connections(listener, router(shared.clone()), shared.metrics.connections.clone(), async move {
        stop_signal().await;
        // Subscriptions end (their clients resume elsewhere or later); requests under way
        // are answered.
        let _ = stopping.heads.send(STOPPING);
    })
    .await;
    let mut store = shared.store.lock().expect("the store's lock is never poisoned");
    finsam_app::output::save_derived(&mut store);
    let _ = shared.access.lock().expect("the access log's lock is never poisoned").sync();
    if let (Some(directory), Some(instance)) = (&shared.directory, &instance) {
        // What the copier has not copied yet (at most a second's lines).
        let rest = tokio::task::block_in_place(|| {
            let (seq, mut tail) = access_tail(directory, &dir, instance)?;
            directory.add_access_lines(instance, seq + 1, &tail.take()?)
        });
        if let Err(e) = rest {
            tracing::warn!(
                "the access log's last lines are not in the database yet (they are copied at the next start): {e}"
            );
        }
    }
    tracing::info!("stopped; every acknowledged batch is on disk");
    Ok(())
}

/// Starts a thread of the service (`what`, for the message if it cannot be started).
fn start_thread(
    name: &str,
    what: &str,
    run: impl FnOnce() + Send + 'static,
) -> Result<(), finsam_app::output::Failure> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .map(|_| ())
        .map_err(|e| finsam_app::output::Failure { code: 1, message: format!("cannot start {what}: {e}") })
}

/// Resolves when the process is asked to stop.
pub async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (term, hup) = (signal(SignalKind::terminate()), signal(SignalKind::hangup()));
    let (Ok(mut term), Ok(mut hup)) = (term, hup) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}
