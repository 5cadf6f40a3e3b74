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

mod openapi;
mod refusals;

/// The OpenAPI document of the API `serve` serves (JSON, pretty, with a final newline).
pub fn openapi_document() -> &'static str {
    openapi::document()
}
mod web;

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
}

impl Shared {
    /// The books as of the last durable group.
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().expect("the snapshot's lock is never poisoned").clone()
    }
}

type Warnings = Vec<(usize, finsam_projections::advice::Warning)>;
type Outcome = (Result<Vec<finsam_store::Recorded>, StoreError>, Warnings, finsam_store::Head);

/// A batch for the writer, and where to send its outcome.
struct WriteJob {
    batch: Vec<(usize, Event)>,
    actor: String,
    /// The user recording: every event is checked, as it is written, against what this user may
    /// record in each förbund the event touches (`User::may_record`, `Ledger::touched`).
    user: User,
    expect_head: Option<u64>,
    /// Per förbund, the version its books must be at (`If-Match`).
    expect_versions: Vec<(String, u64)>,
    /// The route it came through, for its access-log line.
    route: &'static str,
    /// Only check (the ledger's rules and the warnings) and write nothing: the web app's forms
    /// show what would be recorded, with its warnings, before the user confirms.
    check_only: bool,
    reply: tokio::sync::oneshot::Sender<Outcome>,
}

/// A group written but not yet durable, on its way from the writer to the syncer.
struct Written {
    jobs: Vec<WriteJob>,
    outcomes: Vec<(Result<Vec<finsam_store::Recorded>, StoreError>, Warnings)>,
    head: finsam_store::Head,
    envelopes: Vec<finsam_store::Envelope>,
}

/// How many of the events recorded last the writer keeps for the duplicate warning.
const RECENT_EVENTS: usize = 4096;

/// How many batches one group commit takes at most.
const GROUP_MAX: usize = 512;

/// The writer (a thread of its own): takes what is queued (at least one batch, at most
/// `GROUP_MAX`), checks it and writes it as one group — one write — and hands it to the syncer.
/// While the syncer makes one group durable the writer checks and writes the next, so the
/// fdatasync's wait and the checks overlap; requests that arrive meanwhile go into the group
/// after. Nothing is acknowledged here.
fn writer(
    shared: Shared_,
    mut queue: tokio::sync::mpsc::Receiver<WriteJob>,
    syncer: std::sync::mpsc::SyncSender<Written>,
) {
    // The events recorded last, for the duplicate warning: read from the log once, then kept.
    let recent = {
        let store = shared.store.lock().expect("the store's lock is never poisoned");
        finsam_app::record::recent_events(&store).unwrap_or_default()
    };
    let mut recent: std::collections::VecDeque<Event> = recent.into();
    // What the advisor learnt, kept from group to group while it stays right (see AdviceCache).
    let mut cache: Option<finsam_projections::advice::AdviceCache> = None;
    while let Some(first) = queue.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < GROUP_MAX {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // Checks only: answered against the books as they stand, in queue order, nothing written.
        let (checks, writes): (Vec<WriteJob>, Vec<WriteJob>) = jobs.into_iter().partition(|j| j.check_only);
        if !checks.is_empty() {
            let store = shared.store.lock().expect("the store's lock is never poisoned");
            for job in checks {
                let checked = store.check(&job.batch, Some(&job.user));
                let mut advisor =
                    finsam_projections::advice::Advisor::new(store.projection(), recent.make_contiguous());
                let warnings = finsam_app::record::advise_group(&mut advisor, &store, &[job.batch.as_slice()])
                    .pop()
                    .unwrap_or_default();
                let _ = job.reply.send((checked.map(|()| Vec::new()), warnings, store.head().clone()));
            }
        }
        let jobs = writes;
        if jobs.is_empty() {
            continue;
        }
        if let Some(reason) = shared.failed.lock().expect("the lock is never poisoned").clone() {
            for job in jobs {
                let refused = Err(StoreError::Poisoned { reason: reason.clone() });
                let _ = job.reply.send((refused, Vec::new(), shared.snapshot().head.clone()));
            }
            continue;
        }
        let mut store = shared.store.lock().expect("the store's lock is never poisoned");
        let batches: Vec<&[(usize, Event)]> = jobs.iter().map(|j| j.batch.as_slice()).collect();
        let mut advisor = match cache.take() {
            Some(c) => finsam_projections::advice::Advisor::resume(store.projection(), c),
            None => finsam_projections::advice::Advisor::new(store.projection(), recent.make_contiguous()),
        };
        let warnings = finsam_app::record::advise_group(&mut advisor, &store, &batches);
        let learnt = advisor.into_cache();
        let requests: Vec<finsam_store::GroupRequest<'_>> = jobs
            .iter()
            .map(|j| finsam_store::GroupRequest {
                batch: &j.batch,
                actor: &j.actor,
                expect_head: j.expect_head,
                expect_versions: &j.expect_versions,
                user: Some(&j.user),
            })
            .collect();
        let started = Instant::now();
        // Before a byte of the group is written, the access log says who records which seqs
        // (status 202: written, to be made durable): no event is in the log, even after a
        // kill -9, without a line naming who recorded it. The request's own line (its status,
        // 201 once durable) follows when it is answered.
        let (results, envelopes) = store.write_group_with(&requests, |results| {
            let intents: Vec<Access> = jobs.iter().zip(results).filter_map(|(j, r)| intent(j, r)).collect();
            if intents.is_empty() {
                return Ok(());
            }
            let mut access = shared.access.lock().expect("the access log's lock is never poisoned");
            access.append_all(&intents).map(|_| ()).map_err(|e| e.to_string())
        });
        shared.metrics.write.observe(started.elapsed());
        let head = store.head().clone();
        drop(store);
        for (job, result) in jobs.iter().zip(&results) {
            if result.is_ok() {
                recent.extend(job.batch.iter().map(|(_, e)| e.clone()));
            }
        }
        while recent.len() > RECENT_EVENTS {
            recent.pop_front();
        }
        // The cache stays right only if every batch it advised was recorded and it followed
        // every event's effect exactly; and it is renewed before it recognises far more
        // events than the recent ones.
        let exact = results.iter().all(|r| r.is_ok())
            && jobs.iter().all(|j| j.batch.iter().all(|(_, e)| finsam_projections::advice::tracks_exactly(e)));
        cache = (exact && learnt.seen() <= 2 * RECENT_EVENTS).then_some(learnt);
        let outcomes = results.into_iter().zip(warnings).collect();
        if syncer.send(Written { jobs, outcomes, head, envelopes }).is_err() {
            return;
        }
    }
}

/// The access-log line written before a batch's events are: who, through which route, in which
/// förbund's books, the seqs (202: written, to be made durable). None for a batch refused or
/// only repeating events already recorded.
fn intent(job: &WriteJob, outcome: &Result<Vec<finsam_store::Recorded>, StoreError>) -> Option<Access> {
    let seqs: Vec<u64> = outcome.as_ref().ok()?.iter().filter(|r| !r.duplicate).map(|r| r.seq).collect();
    if seqs.is_empty() {
        return None;
    }
    let mut forbund: Vec<&str> = job.batch.iter().map(|(_, e)| e.forbund.as_str()).collect();
    forbund.sort_unstable();
    forbund.dedup();
    Some(Access {
        user: Some(job.actor.clone()),
        method: "POST".into(),
        route: job.route.into(),
        forbund: Some(forbund.join(",")),
        status: 202,
        seqs,
    })
}

/// How many snapshots the syncer keeps besides the one readers see, to bring up to date while
/// readers finish with the older ones. When all are in use it makes one more.
const SNAPSHOTS_SPARE: usize = 3;

/// How long the syncer waits for a reader to let go of a spare snapshot before it makes one.
const SPARE_WAIT: Duration = Duration::from_millis(20);

/// The syncer (a thread of its own): makes the groups the writer wrote durable — every group
/// waiting shares one fdatasync — then shows them to readers (a new snapshot) and answers each
/// batch. If an fdatasync fails, it answers every batch it holds with the failure, and nothing
/// is acknowledged from then on.
fn syncer(shared: Shared_, file: std::fs::File, written: std::sync::mpsc::Receiver<Written>) {
    let mut spares: Vec<Arc<Snapshot>> = Vec::new();
    // The envelopes the oldest spare lacks.
    let mut tail: std::collections::VecDeque<finsam_store::Envelope> = Default::default();
    while let Ok(first) = written.recv() {
        let mut groups = vec![first];
        while let Ok(g) = written.try_recv() {
            groups.push(g);
        }
        let fresh: usize = groups.iter().map(|g| g.envelopes.len()).sum();
        let mut failure = shared.failed.lock().expect("the lock is never poisoned").clone();
        if fresh > 0 && failure.is_none() {
            let started = Instant::now();
            if let Err(e) = file.sync_data() {
                // No retry: the kernel may have dropped the dirty pages (see FileLog::append).
                let reason =
                    format!("fdatasync of the log failed ({e}); nothing more is recorded until the store is reopened");
                tracing::error!("{reason}");
                *shared.failed.lock().expect("the lock is never poisoned") = Some(reason.clone());
                failure = Some(reason);
            }
            shared.metrics.fdatasync.observe(started.elapsed());
            shared.metrics.groups.inc();
        }
        if failure.is_none() && fresh > 0 {
            tail.extend(groups.iter_mut().flat_map(|g| std::mem::take(&mut g.envelopes)));
            // A spare no reader holds any more: readers hold one only while they compute, so
            // one is soon free; only if none is within SPARE_WAIT is a new one made (a copy of
            // the books, which costs as much as the books are big).
            let started = Instant::now();
            let free = loop {
                if let Some(i) = spares.iter_mut().position(|s| Arc::get_mut(s).is_some()) {
                    break Some(spares.swap_remove(i));
                }
                if spares.is_empty() || started.elapsed() > SPARE_WAIT {
                    break None;
                }
                std::thread::sleep(Duration::from_micros(50));
            };
            let mut next = free.unwrap_or_else(|| Arc::new((*shared.snapshot()).clone()));
            Arc::get_mut(&mut next).expect("no reader holds a spare").advance(tail.iter());
            let old = std::mem::replace(&mut *shared.snapshot.write().expect("never poisoned"), next);
            spares.push(old);
            // Keep the newest spares; a reader still holding a dropped one frees it when done.
            spares.sort_by_key(|s| std::cmp::Reverse(s.head.seq));
            spares.truncate(SNAPSHOTS_SPARE);
            let oldest = spares.iter().map(|s| s.head.seq).min().unwrap_or(u64::MAX);
            while tail.front().is_some_and(|e| e.seq <= oldest) {
                tail.pop_front();
            }
        }
        let mut recorded = 0;
        let mut head = 0;
        for g in groups {
            head = g.head.seq;
            for (job, (result, warnings)) in g.jobs.into_iter().zip(g.outcomes) {
                let result = match (&failure, result) {
                    (Some(reason), Ok(_)) => Err(StoreError::Poisoned { reason: reason.clone() }),
                    (_, r) => r,
                };
                if let Ok(list) = &result {
                    recorded += list.iter().filter(|r| !r.duplicate).count() as u64;
                    shared.metrics.batches.inc();
                }
                let _ = job.reply.send((result, warnings, g.head.clone()));
            }
        }
        if recorded > 0 {
            shared.metrics.events_appended.inc_by(recorded);
            let _ = shared.heads.send(head);
        }
    }
}

/// What `/metrics` shows, in the Prometheus text format.
struct Metrics {
    registry: prometheus_client::registry::Registry,
    events_appended: Counter,
    batches: Counter,
    groups: Counter,
    refused_auth: Counter,
    /// Checking and writing a group (the writer).
    write: Seconds,
    /// Making the groups written durable (the syncer): one fdatasync.
    fdatasync: Seconds,
    /// Every request, by method, route and status class, from its first byte to its answer.
    requests: Family<RouteLabels, Histogram>,
    subscribers: Gauge,
    /// Connections open now.
    connections: Gauge,
    /// The log's head as readers see it (set when the metrics are read).
    head: Gauge,
    /// The process: CPU seconds (user and system) and peak resident memory, from getrusage,
    /// set when the metrics are read.
    cpu_seconds: prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>,
    max_resident_bytes: Gauge,
}

type Counter = prometheus_client::metrics::counter::Counter;
type Gauge = prometheus_client::metrics::gauge::Gauge;
type Histogram = prometheus_client::metrics::histogram::Histogram;
type Family<L, M> = prometheus_client::metrics::family::Family<L, M, fn() -> M>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: String,
}

/// A latency histogram in seconds: 50 µs to about 13 s.
#[derive(Clone)]
struct Seconds(Histogram);

impl Seconds {
    fn observe(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }
}

fn latency() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.00005, 2.0, 19))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = prometheus_client::registry::Registry::default();
        let events_appended = Counter::default();
        registry.register(
            "finsam_events_appended",
            "Events recorded (not counting idempotent retries)",
            events_appended.clone(),
        );
        let batches = Counter::default();
        registry.register("finsam_batches", "Batches recorded", batches.clone());
        let groups = Counter::default();
        registry.register("finsam_group_commits", "Groups made durable, each with one fdatasync", groups.clone());
        let refused_auth = Counter::default();
        registry.register("finsam_refused_auth", "Requests answered 401 or 403", refused_auth.clone());
        let write = Seconds(latency());
        registry.register("finsam_group_write_seconds", "Checking and writing one group", write.0.clone());
        let fdatasync = Seconds(latency());
        registry.register("finsam_fdatasync_seconds", "One fdatasync of the log", fdatasync.0.clone());
        let requests: Family<RouteLabels, Histogram> = Family::new_with_constructor(latency);
        registry.register(
            "finsam_request_seconds",
            "Requests by route, from the first byte to the answer",
            requests.clone(),
        );
        let subscribers = Gauge::default();
        registry.register("finsam_subscribers", "Subscriptions open now", subscribers.clone());
        let connections = Gauge::default();
        registry.register("finsam_connections", "Connections open now", connections.clone());
        let head = Gauge::default();
        registry.register("finsam_log_head", "The seq of the log's last durable event", head.clone());
        let build: Family<BuildLabels, Gauge> = Family::new_with_constructor(Gauge::default);
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION").to_string() }).set(1);
        registry.register("finsam_build_info", "The finsam version serving (always 1)", build);
        let cpu_seconds = prometheus_client::metrics::gauge::Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register("process_cpu_seconds", "CPU time used by the process (user and system)", cpu_seconds.clone());
        let max_resident_bytes = Gauge::default();
        registry.register(
            "process_max_resident_memory_bytes",
            "The peak resident memory of the process",
            max_resident_bytes.clone(),
        );
        let start = Gauge::default();
        start.set(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64));
        registry.register("process_start_time_seconds", "When the process started (Unix time)", start);
        Metrics {
            registry,
            events_appended,
            batches,
            groups,
            refused_auth,
            write,
            fdatasync,
            requests,
            subscribers,
            connections,
            head,
            cpu_seconds,
            max_resident_bytes,
        }
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

    /// The user of the request's bearer token, if it is valid.
    fn bearer_user(&self, headers: &HeaderMap) -> Option<User> {
        let token = bearer_token(headers)?;
        self.refresh_users();
        self.users.read().expect("the users' lock is never poisoned").authenticate(token).cloned()
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

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AxesQuery {
    /// count what is dated on or before this day (default today)
    #[param(format = Date)]
    as_of: Option<String>,
    /// replay the log only up to this seq, recording time (RFC 3339) or date
    known_at: Option<String>,
}

/// An optional date parameter (YYYY-MM-DD); a malformed one is 400, naming the parameter.
fn date_param(name: &str, text: &Option<String>) -> Result<Option<chrono::NaiveDate>, Answer> {
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

/// Runs `work` on the books of the last durable group (a blocking task: reports may read the
/// log); a failure is answered as `failed` says.
async fn on_books<T: Send + 'static>(
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
async fn report(
    shared: Shared_,
    render: impl FnOnce(&std::path::Path, Books<'_>) -> Result<String, finsam_app::output::Failure> + Send + 'static,
) -> Answer {
    on_books(shared, render).await.map_or_else(|refused| refused, |body| Answer::json(StatusCode::OK, body))
}

fn finish(mut a: Answer, user: &User, forbund: Option<&str>) -> Reply {
    a.user.get_or_insert_with(|| user.name.as_str().into());
    a.forbund = forbund.map(Into::into);
    Ok(a)
}

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

/// The user of a request that reads one förbund's books (any role that covers it).
struct Reader {
    user: User,
    f: String,
}

impl FromRequestParts<Shared_> for Reader {
    type Rejection = Answer;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, s: &Shared_) -> Result<Self, Answer> {
        let f = path_forbund(parts, s).await;
        Ok(Reader { user: s.authorize(known(parts), &parts.headers, Need::Read(&f))?, f })
    }
}

/// The user of a request that exports one förbund's books (any role that covers it but `read`).
struct Exporter {
    user: User,
    f: String,
}

impl FromRequestParts<Shared_> for Exporter {
    type Rejection = Answer;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, s: &Shared_) -> Result<Self, Answer> {
        let f = path_forbund(parts, s).await;
        Ok(Exporter { user: s.authorize(known(parts), &parts.headers, Need::Export(&f))?, f })
    }
}

/// The user of a request about the whole store (admin or revisor).
struct Auditor(User);

impl FromRequestParts<Shared_> for Auditor {
    type Rejection = Answer;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, s: &Shared_) -> Result<Self, Answer> {
        Ok(Auditor(s.authorize(known(parts), &parts.headers, Need::Audit)?))
    }
}

/// The two time axes of a report (`as_of`, `known_at`); a malformed one is 400.
struct TimeAxes(Axes);

impl<S: Send + Sync> FromRequestParts<S> for TimeAxes {
    type Rejection = Answer;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, s: &S) -> Result<Self, Answer> {
        let Query(q) = Query::<AxesQuery>::from_request_parts(parts, s)
            .await
            .map_err(|e| Answer::error(StatusCode::BAD_REQUEST, e.body_text()))?;
        Ok(TimeAxes(q.axes()?))
    }
}

#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/balances", operation_id = "getBalances", tag = "books",
    summary = "The trial balance and key figures",
    params(("id" = String, Path, description = "the förbund's id, e.g. sf-vastmanland", example = "sf-vastmanland", pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"), AxesQuery),
    responses(
        (status = 200, description = "as `finsam balances --format json`", body = finsam_app::answers::Balances),
        openapi::ReportRefusals,
    )
)]
async fn balances(State(s): State<Shared_>, Reader { user, f }: Reader, TimeAxes(axes): TimeAxes) -> Reply {
    let id = f.clone();
    let a = report(s, move |dir, books| reports::balances_out(dir, books, &id, &axes, Format::Json)).await;
    finish(a, &user, Some(&f))
}

#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/budget/{year}", operation_id = "getBudgetPosition", tag = "books",
    summary = "The budget position of a year",
    params(("id" = String, Path, description = "the förbund's id, e.g. sf-vastmanland", example = "sf-vastmanland", pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"), ("year" = i32, Path, description = "the financial year", example = 2024, minimum = 2000, maximum = 2099), AxesQuery),
    responses(
        (status = 200, description = "as `finsam budget --format json`", body = finsam_app::answers::BudgetPosition),
        openapi::ReportRefusals,
    )
)]
async fn budget(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Reader { user, f }: Reader,
    TimeAxes(axes): TimeAxes,
) -> Reply {
    let id = f.clone();
    let a = report(s, move |dir, books| reports::budget_out(dir, books, &id, year, &axes, Format::Json)).await;
    finish(a, &user, Some(&f))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrailQuery {
    /// only the events of this insats
    insats: Option<String>,
    /// only events dated on or after this day
    #[param(format = Date)]
    from: Option<String>,
    /// only events dated on or before this day
    #[param(format = Date)]
    to: Option<String>,
    /// only rows after this seq (the cursor of a page)
    after: Option<u64>,
    /// at most this many rows; the answer links the next page
    #[param(minimum = 1, maximum = 100000)]
    limit: Option<u64>,
}

/// `GET /api/v1/forbund/{id}/audit/trail`: a row per event; with `limit`, a page of at most N
/// rows after `after` (a seq), and `Link: <…>; rel="next"` while more follow.
#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/audit/trail", operation_id = "getTrail", tag = "audit",
    summary = "The audit trail",
    params(("id" = String, Path, description = "the förbund's id, e.g. sf-vastmanland", example = "sf-vastmanland", pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"), TrailQuery),
    responses(
        (status = 200, description = "as `finsam audit trail --format json`", body = Vec<finsam_app::answers::TrailRow>,
            headers(("Link" = String, description = "the next page, `<…>; rel=\"next\"`, while more follow"))),
        openapi::ReportRefusals,
    )
)]
async fn trail(State(s): State<Shared_>, Reader { user, f }: Reader, Query(q): Query<TrailQuery>) -> Reply {
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

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    /// the account's number in the förbund's chart, e.g. 1930
    #[param(required = true, example = "1930")]
    account: Option<String>,
    /// count what is dated on or before this day (default today)
    #[param(format = Date)]
    as_of: Option<String>,
    /// replay the log only up to this seq, recording time (RFC 3339) or date
    known_at: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/audit/explain", operation_id = "explainAccount", tag = "books",
    summary = "The vouchers behind an account's balance",
    params(("id" = String, Path, description = "the förbund's id, e.g. sf-vastmanland", example = "sf-vastmanland", pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"), ExplainQuery),
    responses(
        (status = 200, description = "as `finsam audit explain --format json`", body = finsam_app::answers::Explanation),
        openapi::ReportRefusals,
    )
)]
async fn explain(State(s): State<Shared_>, Reader { user, f }: Reader, Query(q): Query<ExplainQuery>) -> Reply {
    let axes = (AxesQuery { as_of: q.as_of, known_at: q.known_at }).axes()?;
    let Some(account) = q.account else {
        return finish(Answer::error(StatusCode::BAD_REQUEST, "which account? ?account=1930"), &user, Some(&f));
    };
    let id = f.clone();
    let a =
        report(s, move |dir, books| reports::explain_out(dir, books, &id, &account, &axes, None, Format::Json)).await;
    finish(a, &user, Some(&f))
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SieQuery {
    /// `e` (4E, with vouchers; the default) or `i` (4I, balances per object)
    #[param(pattern = "^[ei]$")]
    kind: Option<String>,
}

/// A förbund's year as SIE 4 (`kind=e`, the default, or `i`): for revisorer and the kansli.
#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/export/sie/{year}", operation_id = "exportSie", tag = "exports",
    summary = "The year as SIE 4 (not for the read-only role)",
    params(("id" = String, Path, description = "the förbund's id, e.g. sf-vastmanland", example = "sf-vastmanland", pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"), ("year" = i32, Path, description = "the financial year", example = 2024, minimum = 2000, maximum = 2099), SieQuery),
    responses(
        (status = 200, description = "the SIE file (PC8 / CP437; Content-Disposition names it)", body = Vec<u8>, content_type = "application/octet-stream"),
        openapi::ReportRefusals,
    )
)]
async fn export_sie(
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
    year: Option<i32>,
}

/// A förbund's books as a ledger-cli/hledger journal.
#[utoipa::path(
    get, path = "/api/v1/forbund/{id}/export/journal", operation_id = "exportJournal", tag = "exports",
    summary = "The books as a ledger-cli/hledger journal (not for the read-only role)",
    params(("id" = String, Path, description = "the förbund's id, e.g. sf-vastmanland", example = "sf-vastmanland", pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"), JournalQuery),
    responses(
        (status = 200, description = "the journal (Content-Disposition names it)", body = String, content_type = "text/plain"),
        openapi::ReportRefusals,
    )
)]
async fn export_journal(
    State(s): State<Shared_>,
    Exporter { user, f }: Exporter,
    Query(q): Query<JournalQuery>,
) -> Reply {
    let id = f.clone();
    let a = report(s, move |dir, books| finsam_app::exports::journal_out(dir, books, Some(&id), q.year)).await;
    let a = match a.status {
        StatusCode::OK => {
            let name = q.year.map_or_else(|| format!("{f}.journal"), |y| format!("{f}-{y}.journal"));
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
    params(("id" = String, Path, description = "the förbund's id, e.g. sf-vastmanland", example = "sf-vastmanland", pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"), ("year" = i32, Path, description = "the financial year", example = 2024, minimum = 2000, maximum = 2099)),
    responses(
        (status = 200, description = "the bundle (a zip file; Content-Disposition names it)", body = Vec<u8>, content_type = "application/zip"),
        openapi::ReportRefusals,
    )
)]
async fn bundle(
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

/// The log's head (seq and hash), to keep outside the store.
#[utoipa::path(
    get, path = "/api/v1/audit/digest", operation_id = "getDigest", tag = "audit",
    summary = "The log's head, to keep outside the store (admin, revisor)",
    responses(
        (status = 200, description = "seq and hash", body = finsam_app::answers::Head),
        openapi::AuditRefusals,
    )
)]
async fn digest(State(s): State<Shared_>, Auditor(user): Auditor) -> Reply {
    let head = finsam_app::answers::Head::from(&s.snapshot().head);
    let a = Answer::json(StatusCode::OK, format!("{}\n", serde_json::to_string(&head).expect("an answer serialises")));
    finish(a, &user, None)
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconcileQuery {
    /// the förbund a merger formed (default: every förbund, admin and revisor only)
    merger: Option<String>,
    /// count what is dated on or before this day (default today)
    #[param(format = Date)]
    as_of: Option<String>,
    /// replay the log only up to this seq, recording time (RFC 3339) or date
    known_at: Option<String>,
    /// the equity ceiling as a share of the year's contributions (default 0.2)
    #[param(example = "0.2")]
    equity_ceiling: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/reconcile", operation_id = "reconcile", tag = "books",
    summary = "The merger reconciliation run (with merger: whoever reads that förbund; without: admin, revisor)",
    params(ReconcileQuery),
    responses(
        (status = 200, description = "as `finsam reconcile --format json`", body = finsam_app::answers::Reconciliation),
        openapi::ReportRefusals,
    )
)]
async fn reconcile(State(s): State<Shared_>, headers: HeaderMap, Query(q): Query<ReconcileQuery>) -> Reply {
    let need = match &q.merger {
        Some(f) => Need::Read(f),
        None => Need::Audit,
    };
    let user = s.authorize(None, &headers, need)?;
    let axes = (AxesQuery { as_of: q.as_of.clone(), known_at: q.known_at.clone() }).axes()?;
    let ceiling = match q.equity_ceiling.as_deref().map(finsam_domain::Share::parse) {
        None => rust_decimal::Decimal::new(2, 1),
        Some(Ok(s)) => s.decimal(),
        Some(Err(e)) => return Err(Answer::error(StatusCode::BAD_REQUEST, format!("equity_ceiling: {}", e.0))),
    };
    let merger = q.merger.clone();
    let a = report(s, move |dir, books| {
        reports::reconcile_out(dir, books, merger.as_deref(), &axes, ceiling, Format::Json).map(|(out, _)| out)
    })
    .await;
    finish(a, &user, q.merger.as_deref())
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// the first seq (default 1)
    #[param(minimum = 1)]
    from: Option<u64>,
    /// the last seq (default the head)
    to: Option<u64>,
    /// at most this many envelopes; the answer links the next page
    #[param(minimum = 1, maximum = 100000)]
    limit: Option<u64>,
}

/// The most a page of the log or the trail holds (`limit`).
const PAGE_MAX: u64 = 100_000;

/// A page's `limit`: 1 to `PAGE_MAX`; a bad one is 400.
fn page_limit(limit: Option<u64>) -> Result<Option<u64>, Answer> {
    match limit {
        Some(n) if n == 0 || n > PAGE_MAX => {
            Err(Answer::error(StatusCode::BAD_REQUEST, format!("limit {n}: a page holds 1 to {PAGE_MAX}")))
        }
        other => Ok(other),
    }
}

/// `Link: <…>; rel="next"` for the page after this one.
fn link_next(next: &str) -> (axum::http::HeaderName, axum::http::HeaderValue) {
    let value = axum::http::HeaderValue::from_str(&format!("<{next}>; rel=\"next\""))
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static(""));
    (axum::http::header::LINK, value)
}

/// How many envelopes a reader of the log (`/api/v1/log`, a subscription's catch-up) holds in
/// memory at once: the log is read and sent in stretches of this many, each read when the
/// client has taken the one before, so a slow reader costs one stretch, not the log.
const LOG_STRETCH: u64 = 256;

/// The log's envelopes `from..=to` (those `keep` lets through), as canonical JSON lines, read a
/// stretch at a time as the receiver takes them.
fn log_lines(
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
async fn log(State(s): State<Shared_>, Auditor(user): Auditor, Query(q): Query<LogQuery>) -> Response {
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

#[utoipa::path(
    get, path = "/api/v1/audit/verify", operation_id = "verify", tag = "audit",
    summary = "Verify the event log's chain and the access log's (admin, revisor)",
    responses(
        (status = 200, description = "the verdict", body = openapi::Verification),
        openapi::AuditRefusals,
    )
)]
async fn verify(State(s): State<Shared_>, Auditor(user): Auditor) -> Reply {
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

/// The versions a batch expects its förbund's books to be at: `If-Match: "F:SEQ", "G:SEQ"` (the
/// seq of the förbund's last event, as the last answer's `versions` says; 0 for books with no
/// event yet). A malformed one is refused, naming it.
fn if_match(headers: &HeaderMap) -> Result<Vec<(String, u64)>, String> {
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
    expect_head: Option<u64>,
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
async fn events(
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

fn problems_answer(status: StatusCode, problems: &[finsam_domain::Rejection]) -> Answer {
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
    from: Option<u64>,
    /// only the events that touch this förbund (default every event, admin and revisor only)
    forbund: Option<String>,
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
async fn subscribe(State(s): State<Shared_>, headers: HeaderMap, Query(q): Query<SubscribeQuery>) -> Response {
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

/// The OpenAPI document of this API: `events/openapi.json` with the event schemas bundled in.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", operation_id = "getOpenApi", tag = "service", security(()),
    summary = "This document",
    responses((status = 200, description = "the OpenAPI document", body = Object))
)]
async fn openapi() -> Answer {
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
async fn schema(UrlPath(name): UrlPath<String>) -> Answer {
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
        (status = 503, description = "up, but acknowledging nothing more (a failed fdatasync)", body = openapi::Health),
    )
)]
async fn healthz(State(s): State<Shared_>) -> Answer {
    let head = s.snapshot().head.seq;
    let problem = s.failed.lock().expect("the lock is never poisoned").clone();
    let status = if problem.is_some() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let body = openapi::Health { ok: problem.is_none(), head, problem };
    Answer::json(status, format!("{}\n", serde_json::to_string(&body).expect("an answer serialises")))
}

#[utoipa::path(
    get, path = "/metrics", operation_id = "getMetrics", tag = "service", security(()),
    summary = "Counters, gauges and latency histograms (group writes, fdatasync, every route) in the OpenMetrics text format, which Prometheus reads",
    responses((status = 200, description = "metrics", body = String, content_type = "application/openmetrics-text"))
)]
async fn metrics(State(s): State<Shared_>) -> Answer {
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

#[derive(Clone)]
struct AccessNote {
    user: Option<String>,
    forbund: Option<String>,
    seqs: Vec<u64>,
}

/// Writes every request to the access log: who, the route (its pattern, not the raw path),
/// the förbund, the status, the seqs written.
async fn access_log(State(s): State<Shared_>, request: Request, next: Next) -> Response {
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
fn access_writer(shared: Shared_, lines: std::sync::mpsc::Receiver<(Access, tokio::sync::oneshot::Sender<()>)>) {
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
fn request_timeout() -> Duration {
    let seconds = std::env::var("FINSAM_REQUEST_TIMEOUT").ok().and_then(|v| v.parse::<f64>().ok()).filter(|s| *s > 0.0);
    Duration::from_secs_f64(seconds.unwrap_or(30.0))
}

/// Answers the router's and the extractors' own refusals (a path or a query that does not
/// parse, a missing route, a wrong method) as every other refusal: `{"error": …}` in JSON.
async fn json_refusals(request: Request, next: Next) -> Response {
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

async fn timeout(request: Request, next: Next) -> Response {
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
const SIGN_IN_BYTES_MAX: usize = 16 << 10;

/// Before anything of a body is read: a declared length over the limit is refused at once
/// (413), and a body is taken only from someone known — a valid bearer token for the API, a
/// session for the web app's forms (the sign-in form alone is open, with a small limit).
/// Nobody unknown can make the server buffer anything.
async fn gate(State(s): State<Shared_>, request: Request, next: Next) -> Response {
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
async fn admit(s: &Shared, request: Request, next: Next, sign_in: bool) -> Response {
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
async fn etags(request: Request, next: Next) -> Response {
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

/// What every answer carries: never framed by another site, no scripts or styles from
/// elsewhere, nothing kept in a cache (the pages and downloads hold money and names).
async fn security_headers(request: Request, next: Next) -> Response {
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

/// A new request id: 16 hex digits, a counter under a random start (one per process), so ids
/// do not repeat and cost no system call.
fn next_request_id() -> String {
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
async fn request_id(request: Request, next: Next) -> Response {
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

/// Opens the store for writing and serves it until a stop signal; then saves the derived
/// state and makes the access log durable.
pub async fn serve(dir: PathBuf, listen: String) -> Result<(), finsam_app::output::Failure> {
    use finsam_app::output::Failure;
    init_logging();
    let (store, report) = Store::open(&dir)?;
    finsam_app::output::report_open(&report);
    let users = Users::load(&dir)?;
    if users.iter().next().is_none() {
        tracing::warn!("no users yet; add one with `finsam --store {} user add NAME --role admin`", dir.display());
    }
    let access = AccessLog::open(&dir)?;
    let (writes, queue) = tokio::sync::mpsc::channel(4096);
    let (access_lines, to_write) = std::sync::mpsc::channel();
    let file = store.log_sync_handle()?;
    let shared = Arc::new(Shared {
        dir: dir.clone(),
        snapshot: RwLock::new(Arc::new(Snapshot::of(&store))),
        store: Mutex::new(store),
        failed: Mutex::new(None),
        users: RwLock::new(users),
        access: Mutex::new(access),
        access_lines,
        metrics: Metrics::new(),
        heads: tokio::sync::broadcast::channel(1024).0,
        writes,
        sessions: Mutex::new(web::Sessions::load(&dir)?),
        throttle: Throttle::default(),
    });
    // At most two groups wait for the syncer: then the writer waits, and requests gather into
    // bigger groups.
    let (written, durable) = std::sync::mpsc::sync_channel(2);
    let w = shared.clone();
    std::thread::Builder::new()
        .name("finsam-writer".into())
        .spawn(move || writer(w, queue, written))
        .map_err(|e| Failure { code: 1, message: format!("cannot start the writer: {e}") })?;
    let d = shared.clone();
    std::thread::Builder::new()
        .name("finsam-syncer".into())
        .spawn(move || syncer(d, file, durable))
        .map_err(|e| Failure { code: 1, message: format!("cannot start the syncer: {e}") })?;
    let a = shared.clone();
    std::thread::Builder::new()
        .name("finsam-access".into())
        .spawn(move || access_writer(a, to_write))
        .map_err(|e| Failure { code: 1, message: format!("cannot start the access log's writer: {e}") })?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener.local_addr().map_err(|e| Failure::usage(e.to_string()))?;
    println!("finsam serve: listening on http://{addr} (store {})", dir.display());
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
    tracing::info!("stopped; every acknowledged batch is on disk");
    Ok(())
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
