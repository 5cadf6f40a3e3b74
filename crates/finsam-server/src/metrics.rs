//! What `/metrics` shows.

use crate::*;

/// What `/metrics` shows, in the Prometheus text format.
pub(crate) struct Metrics {
    pub(crate) registry: prometheus_client::registry::Registry,
    pub(crate) events_appended: Counter,
    pub(crate) batches: Counter,
    pub(crate) groups: Counter,
    pub(crate) refused_auth: Counter,
    /// Checking and writing a group (the writer).
    pub(crate) write: Seconds,
    /// Making the groups written durable (the syncer): one fdatasync.
    pub(crate) fdatasync: Seconds,
    /// Every request, by method, route and status class, from its first byte to its answer.
    pub(crate) requests: Family<RouteLabels, Histogram>,
    pub(crate) subscribers: Gauge,
    /// Connections open now.
    pub(crate) connections: Gauge,
    /// The log's head as readers see it (set when the metrics are read).
    pub(crate) head: Gauge,
    /// The process: CPU seconds (user and system) and peak resident memory, from getrusage,
    /// set when the metrics are read.
    pub(crate) cpu_seconds: prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>,
    pub(crate) max_resident_bytes: Gauge,
    /// Passes of the background scrub that found the chain intact, and the seq the last one
    /// reached.
    pub(crate) scrub_passes: Counter,
    pub(crate) scrubbed_head: Gauge,
    /// Saving the derived state while serving (the checkpoint, its vouchers, the totals).
    pub(crate) checkpoint_save: Seconds,
    /// On a database: notifications heard that another instance committed, and the events
    /// taken in from other instances while idle.
    pub(crate) notifications: Counter,
    pub(crate) events_taken_in: Counter,
    /// On a database: access log lines copied there.
    pub(crate) access_copied: Counter,
}

pub(crate) type Counter = prometheus_client::metrics::counter::Counter;
pub(crate) type Gauge = prometheus_client::metrics::gauge::Gauge;
pub(crate) type Histogram = prometheus_client::metrics::histogram::Histogram;
pub(crate) type Family<L, M> = prometheus_client::metrics::family::Family<L, M, fn() -> M>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub(crate) struct BuildLabels {
    pub(crate) version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) method: String,
    pub(crate) route: String,
    pub(crate) status: String,
}

/// A latency histogram in seconds: 50 µs to about 13 s.
#[derive(Clone)]
pub(crate) struct Seconds(pub(crate) Histogram);

impl Seconds {
    pub(crate) fn observe(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }
}

pub(crate) fn latency() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.00005, 2.0, 19))
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
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
        registry.register(
            "finsam_group_commits",
            "Groups made durable, each with one fdatasync (or, on a database, one commit)",
            groups.clone(),
        );
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
        let scrub_passes = Counter::default();
        registry.register(
            "finsam_scrub_passes",
            "Passes of the background scrub that found the log's chain intact",
            scrub_passes.clone(),
        );
        let scrubbed_head = Gauge::default();
        registry.register("finsam_scrubbed_head", "The seq the last intact scrub reached", scrubbed_head.clone());
        let checkpoint_save = Seconds(latency());
        registry.register(
            "finsam_checkpoint_save_seconds",
            "Saving the derived state while serving (the writer waits meanwhile)",
            checkpoint_save.0.clone(),
        );
        let notifications = Counter::default();
        registry.register(
            "finsam_database_notifications",
            "Notifications heard that another instance committed (a service on a database)",
            notifications.clone(),
        );
        let events_taken_in = Counter::default();
        registry.register(
            "finsam_events_taken_in",
            "Events other instances recorded, taken into this one's books (a service on a database)",
            events_taken_in.clone(),
        );
        let access_copied = Counter::default();
        registry.register(
            "finsam_access_lines_copied",
            "Lines of this instance's access log copied to the database (a service on a database)",
            access_copied.clone(),
        );
        Metrics {
            access_copied,
            notifications,
            events_taken_in,
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
            scrub_passes,
            scrubbed_head,
            checkpoint_save,
        }
    }
}
