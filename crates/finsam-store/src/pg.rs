//! The log in PostgreSQL: the same canonical lines as `log.jsonl`, one row per line, the same
//! hash chain, for a service whose IT department runs the database.
//!
//! Order is commit order. An append takes the one row of `finsam_head` `FOR UPDATE`, reads
//! whatever other writers committed since this writer last looked (and hands it to the store,
//! which checks and applies it), checks and seals its own batch on top, inserts its lines,
//! moves the head and commits — all in one transaction that holds the row lock to its commit.
//! So seqs are gapless and every batch links to the one committed before it, and a reader that
//! sees seq N+1 sees seq N: N+1's transaction could not begin its insert before N's committed.
//! The idempotency keys are unique in the database too (`finsam_keys`), whichever instance
//! recorded them. A commit that cannot be confirmed (the connection dropped) is never
//! acknowledged: the store learns on its next look whether it landed.

use crate::envelope::{Envelope, Head};
use crate::error::StoreError;
use crate::log::{LogBackend, SealedBatch};
use postgres::Client;
use std::cell::RefCell;
use std::io::Read;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The schema, version by version: each applied once, in order, and recorded in
/// `finsam_schema`.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "the log, its head, the idempotency keys and the underlag", include_str!("../migrations/0001_log.sql")),
    (2, "the service's users and the web app's sessions", include_str!("../migrations/0002_access.sql")),
    (3, "a notification on the channel finsam_log at every commit", include_str!("../migrations/0003_notify.sql")),
    (4, "each service instance's access log", include_str!("../migrations/0004_access_log.sql")),
    (
        5,
        "a notification on the channel finsam_users at every grant or revocation",
        include_str!("../migrations/0005_notify_users.sql"),
    ),
    (6, "the underlag in the order they were kept", include_str!("../migrations/0006_underlag_order.sql")),
];

/// The channel every commit that moves the head notifies (migration 3).
pub const CHANNEL: &str = "finsam_log";

/// The channel every grant or revocation of a user notifies (migration 5).
pub const USERS_CHANNEL: &str = "finsam_users";

/// Listens on `CHANNEL` and `USERS_CHANNEL` for as long as the process runs and calls `heard`
/// with the channel at each notification (another instance committed; a user was added or
/// revoked), on a connection of its own that is made again whenever it drops. A hint only:
/// whoever hears it looks at the tables themselves.
pub fn listen(url: &str, heard: &mut dyn FnMut(&str)) -> ! {
    loop {
        match connect(url).and_then(|mut client| {
            client
                .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {USERS_CHANNEL}"))
                .map_err(|e| failed(&label(url), "cannot listen", e))?;
            Ok(client)
        }) {
            Ok(mut client) => loop {
                let next = {
                    let mut notifications = client.notifications();
                    let mut wait = notifications.timeout_iter(std::time::Duration::from_secs(5));
                    postgres::fallible_iterator::FallibleIterator::next(&mut wait)
                };
                match next {
                    Ok(Some(n)) => heard(n.channel()),
                    Ok(None) if !client.is_closed() => {}
                    _ => break,
                }
            },
            Err(_) => std::thread::sleep(std::time::Duration::from_secs(1)),
        }
    }
}

/// The advisory lock that keeps two instances from migrating at once ("finsam" in ASCII).
const MIGRATION_LOCK: i64 = 0x6669_6e73_616d;

/// Rows read at a time.
const PAGE_ROWS: i64 = 5_000;

/// Whether a `--store`/`--database` value names a database rather than a folder.
pub fn is_database(text: &str) -> bool {
    text.starts_with("postgresql://") || text.starts_with("postgres://")
}

/// The address without its password, for messages and logs.
pub fn label(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => format!("{}@{host}", user.split(':').next().unwrap_or_default()),
        None => authority.to_string(),
    };
    let path = path.split('?').next().unwrap_or_default();
    format!("{scheme}://{authority}/{path}")
}

pub(crate) fn failed(database: &str, action: &'static str, e: impl Detail) -> StoreError {
    StoreError::Database { database: database.to_string(), action, detail: e.detail() }
}

/// What a failure says: for the database's own errors, the server's message under the client's
/// ("db error: ERROR: relation … does not exist"), which is the part that says what to fix.
pub(crate) trait Detail {
    fn detail(self) -> String;
}

impl Detail for postgres::Error {
    fn detail(self) -> String {
        with_causes(&self)
    }
}

impl Detail for r2d2::Error {
    fn detail(self) -> String {
        self.to_string()
    }
}

impl Detail for String {
    fn detail(self) -> String {
        self
    }
}

impl Detail for &str {
    fn detail(self) -> String {
        self.to_string()
    }
}

/// How finsam reaches a database: the address parsed, with its rule for TLS.
///
/// Without `sslmode` (or with `sslmode=disable`) the connection is not encrypted, as on a
/// database on the same machine or a private network. With `sslmode=require`, `verify-ca` or
/// `verify-full` it is encrypted with rustls, and the server's certificate is always verified
/// (libpq's `verify-full`: its chain and its name): against the file `sslrootcert=FILE` names,
/// else against the system's roots. `prefer` and `allow`, which fall back silently, are refused.
struct Target {
    config: postgres::Config,
    tls: MakeRustlsConnect,
}

fn target(url: &str) -> Result<Target, StoreError> {
    let name = label(url);
    let bad =
        |detail: String| StoreError::Database { database: name.clone(), action: "cannot read the address", detail };
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => mode = Some(value.to_string()),
            Some(("sslrootcert", value)) => root = Some(value.to_string()),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    let mut config: postgres::Config = rest.parse().map_err(|e: postgres::Error| bad(e.to_string()))?;
    let encrypted = match (mode.as_deref(), &root) {
        (None, None) | (Some("disable"), None) => false,
        (None, Some(_)) | (Some("require" | "verify-ca" | "verify-full"), _) => true,
        (Some("disable"), Some(_)) => {
            return Err(bad("sslrootcert is given but sslmode=disable: say sslmode=verify-full to use it".into()))
        }
        (Some(other), _) => {
            return Err(bad(format!(
                "sslmode={other} is not used by finsam: a connection is either encrypted with the \
                 server's certificate verified (sslmode=require, verify-ca or verify-full) or not \
                 (sslmode=disable)"
            )))
        }
    };
    let mut options = config.get_options().map(str::to_string).unwrap_or_default();
    if !options.is_empty() {
        options.push(' ');
    }
    options.push_str("-c synchronous_commit=on");
    config.options(&options);
    if config.get_application_name().is_none() {
        config.application_name("finsam");
    }
    let mut roots = rustls::RootCertStore::empty();
    if encrypted {
        config.ssl_mode(postgres::config::SslMode::Require);
        match &root {
            Some(file) => {
                use rustls::pki_types::{pem::PemObject, CertificateDer};
                let certs = CertificateDer::pem_file_iter(file)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| bad(format!("sslrootcert {file}: {e}")))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(bad(format!("sslrootcert {file} holds no certificate")));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(bad("the system has no root certificates to verify the server's with: \
                         name the server's CA with sslrootcert=FILE"
                        .into()));
                }
            }
        }
    } else {
        config.ssl_mode(postgres::config::SslMode::Disable);
    }
    // ring rather than aws-lc-rs (rustls's default): no large C build. rustls deprecates ring's
    // provider for its lack of post-quantum key exchange, not for any weakness today.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Target { config, tls: MakeRustlsConnect::new(tls) })
}

/// A connection of its own (the writer's, which holds the head's row lock through a
/// transaction; the listener's; a copy's or a whole read's), with every commit durable
/// (`synchronous_commit = on`, whatever the server's default): a batch is acknowledged only
/// once its commit is on the database's disk. Shorter uses take one from the `pool`.
pub fn connect(url: &str) -> Result<Client, StoreError> {
    let target = target(url)?;
    target.config.connect(target.tls).map_err(|e| failed(&label(url), "cannot connect", e))
}

/// An error's text with the errors under it ("error performing TLS handshake: invalid peer
/// certificate: UnknownIssuer"), as the top one alone rarely says what to fix.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// A pool of connections for short uses (users, sessions, underlag, the access log's copy).
type Pool = r2d2::Pool<r2d2_postgres::PostgresConnectionManager<MakeRustlsConnect>>;

/// Connections a pool keeps at most.
const POOL_SIZE: u32 = 8;

/// A pool for this address, connecting when first asked. A connection that broke (the
/// database restarted) is dropped by the pool and a new one made.
fn pool(url: &str) -> Result<Pool, StoreError> {
    let target = target(url)?;
    Ok(r2d2::Pool::builder()
        .max_size(POOL_SIZE)
        .min_idle(Some(0))
        .connection_timeout(std::time::Duration::from_secs(5))
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .build_unchecked(r2d2_postgres::PostgresConnectionManager::new(target.config, target.tls)))
}

/// Brings the database's schema up to this finsam's, under an advisory lock (two instances
/// starting together migrate once). Returns the versions applied now.
pub fn migrate(client: &mut Client, name: &str) -> Result<Vec<i32>, StoreError> {
    let fail = |what: &'static str, e: postgres::Error| failed(name, what, e);
    let mut tx = client.transaction().map_err(|e| fail("cannot begin the migration", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| fail("cannot lock the schema", e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS finsam_schema (
            version integer PRIMARY KEY,
            name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .map_err(|e| fail("cannot create finsam_schema", e))?;
    let done: Option<i32> = tx
        .query_one("SELECT max(version) FROM finsam_schema", &[])
        .map_err(|e| fail("cannot read finsam_schema", e))?
        .get(0);
    let done = done.unwrap_or(0);
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if done > latest {
        return Err(failed(
            name,
            "its schema is newer than this finsam knows: run a newer finsam",
            format!("version {done}, this finsam knows up to {latest}"),
        ));
    }
    let mut applied = Vec::new();
    for (version, what, sql) in MIGRATIONS.iter().filter(|m| m.0 > done) {
        tx.batch_execute(sql).map_err(|e| fail("cannot apply a migration", e))?;
        tx.execute("INSERT INTO finsam_schema (version, name) VALUES ($1, $2)", &[version, what])
            .map_err(|e| fail("cannot record a migration", e))?;
        applied.push(*version);
    }
    tx.commit().map_err(|e| fail("cannot commit the migration", e))?;
    Ok(applied)
}

/// The log in a PostgreSQL database (see the module's documentation).
pub struct PgLog {
    url: String,
    name: String,
    /// A `RefCell` because `holds_underlag` asks the database from `&self`; the store is used
    /// by one thread at a time.
    client: RefCell<Client>,
    /// The last seq this writer has taken into its books, and its hash.
    head: Head,
    /// An append's transaction is open: the head's row is locked.
    locked: bool,
}

impl PgLog {
    /// Connects, brings the schema up to date and starts before the first line: the store reads
    /// the log (`PgLines`) and takes its head from the last complete batch.
    pub fn open(url: &str) -> Result<PgLog, StoreError> {
        let name = label(url);
        let mut client = connect(url)?;
        migrate(&mut client, &name)?;
        Ok(PgLog { url: url.to_string(), name, client: RefCell::new(client), head: Head::genesis(), locked: false })
    }

    /// The database's address without its password.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// After the store has read the log up to `head`.
    pub(crate) fn set_head(&mut self, head: Head) {
        self.head = head;
    }

    /// The head the database has committed (not necessarily read by this writer yet).
    pub fn committed_head(&self) -> Result<Head, StoreError> {
        let row = self
            .client()?
            .query_one("SELECT seq, hash FROM finsam_head", &[])
            .map_err(|e| failed(&self.name, "cannot read the head", e))?;
        Ok(Head { seq: row.get::<_, i64>(0) as u64, hash: row.get(1) })
    }

    /// The hash of the line with this seq, if the log has it.
    pub fn hash_at(&self, seq: u64) -> Result<Option<String>, StoreError> {
        let row = self
            .client()?
            .query_opt("SELECT hash FROM finsam_log WHERE seq = $1", &[&(seq as i64)])
            .map_err(|e| failed(&self.name, "cannot read the log", e))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The connection, made again if the last one dropped: a database that went away and came
    /// back is used again without a restart.
    fn client(&self) -> Result<std::cell::RefMut<'_, Client>, StoreError> {
        let mut client = self.client.borrow_mut();
        if client.is_closed() {
            *client = connect(&self.url)?;
        }
        Ok(client)
    }

    fn rollback(&mut self) {
        if std::mem::take(&mut self.locked) {
            if let Ok(mut c) = self.client() {
                let _ = c.batch_execute("ROLLBACK");
            }
        }
    }

    /// Hands every line after this writer's head to `each`, checked: its own hash, its seq
    /// after the head and its link to the head's hash. Stops at the end of the table.
    fn newer_rows(&mut self, each: &mut dyn FnMut(Envelope, &str)) -> Result<(), StoreError> {
        loop {
            let rows = self
                .client()?
                .query(
                    "SELECT seq, line FROM finsam_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&(self.head.seq as i64), &PAGE_ROWS],
                )
                .map_err(|e| failed(&self.name, "cannot read the log", e))?;
            let n = rows.len();
            for row in rows {
                let seq = row.get::<_, i64>(0) as u64;
                let line: &str = row.get(1);
                let damaged = |problem: String| StoreError::Damaged {
                    path: self.name.clone().into(),
                    line: seq,
                    offset: 0,
                    problem,
                };
                let envelope = Envelope::open(line.as_bytes()).map_err(|p| damaged(p.0))?;
                if envelope.seq != seq || seq != self.head.seq + 1 {
                    return Err(damaged(format!("seq {} follows seq {} (seqs run without gaps)", seq, self.head.seq)));
                }
                if envelope.prev_hash != self.head.hash {
                    return Err(damaged(format!(
                        "prev_hash {} is not the hash of seq {} ({})",
                        envelope.prev_hash, self.head.seq, self.head.hash
                    )));
                }
                self.head = Head { seq, hash: envelope.hash.clone() };
                each(envelope, line);
            }
            if (n as i64) < PAGE_ROWS {
                return Ok(());
            }
        }
    }
}

impl PgLog {
    /// What other writers committed since this one's head, handed to `each` with its line;
    /// with `lock`, in a transaction that holds the head's row until `append` or `unlock_head`.
    pub(crate) fn take_newer(&mut self, lock: bool, each: &mut dyn FnMut(Envelope, &str)) -> Result<(), StoreError> {
        if !lock {
            if self.locked {
                return Ok(());
            }
            return self.newer_rows(each);
        }
        self.rollback();
        // One round trip: the transaction begins and the head's row is locked. Any failure,
        // even to connect, unlocks again: a writer left locked would not look for what other
        // instances commit (`newer` waits for its append) and would seem current.
        self.locked = true;
        let committed = self
            .client()
            .and_then(|mut client| {
                client
                    .simple_query("BEGIN; SELECT seq, hash FROM finsam_head FOR UPDATE")
                    .map_err(|e| failed(&self.name, "cannot lock the head", e))
            })
            .and_then(|messages| {
                let row = messages.iter().find_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(row) => Some(row),
                    _ => None,
                });
                let seq = row.and_then(|r| r.get(0)?.parse::<u64>().ok());
                let hash = row.and_then(|r| r.get(1));
                match (seq, hash) {
                    (Some(seq), Some(hash)) => Ok(Head { seq, hash: hash.to_string() }),
                    _ => Err(failed(&self.name, "cannot lock the head", "finsam_head has no row")),
                }
            });
        let committed = match committed {
            Ok(head) => head,
            Err(e) => {
                self.rollback();
                return Err(e);
            }
        };
        // Nothing was committed since this writer's head: no need to look.
        if committed == self.head {
            return Ok(());
        }
        if let Err(e) = self.newer_rows(each) {
            self.rollback();
            return Err(e);
        }
        if committed != self.head {
            self.rollback();
            return Err(StoreError::Damaged {
                path: self.name.clone().into(),
                line: committed.seq,
                offset: 0,
                problem: format!("the head row says {committed} but the log's rows end at {}", self.head),
            });
        }
        Ok(())
    }

    /// Lets other writers go on (nothing is appended).
    pub(crate) fn unlock_head(&mut self) {
        self.rollback();
    }

    fn append_batch(&mut self, expected_seq: u64, batch: &SealedBatch) -> Result<(), StoreError> {
        if !self.locked {
            // Not locked by the store first: lock now, and refuse if anything came in between.
            let before = self.head.clone();
            let mut moved = false;
            self.take_newer(true, &mut |_, _| moved = true)?;
            if moved {
                self.rollback();
                return Err(StoreError::HeadMoved { expected: expected_seq, actual: self.head.seq.max(before.seq) });
            }
        }
        if self.head.seq != expected_seq {
            self.rollback();
            return Err(StoreError::HeadMoved { expected: expected_seq, actual: self.head.seq });
        }
        let mut seqs = Vec::with_capacity(batch.envelopes.len());
        let mut hashes = Vec::with_capacity(batch.envelopes.len());
        let mut forbund = Vec::with_capacity(batch.envelopes.len());
        let (mut key_forbund, mut keys, mut key_seqs) = (Vec::new(), Vec::new(), Vec::new());
        for e in &batch.envelopes {
            seqs.push(e.seq as i64);
            hashes.push(e.hash.as_str());
            forbund.push(e.event.forbund.as_str());
            if let Some(key) = e.event.idempotency_key.as_deref() {
                key_forbund.push(e.event.forbund.as_str());
                keys.push(key);
                key_seqs.push(e.seq as i64);
            }
        }
        let lines: Vec<&str> = batch.text.split_terminator('\n').collect();
        assert_eq!(lines.len(), seqs.len(), "a sealed batch has one line per envelope");
        let name = self.name.clone();
        // One statement, one round trip: the lines, their keys and the head (the keys' foreign
        // key is checked at the statement's end, when the lines are in).
        let written = self
            .client()
            .and_then(|mut client| {
                client
                    .execute(
                        "WITH lines AS (
                            INSERT INTO finsam_log (seq, line, hash, forbund)
                            SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[])
                         ), keys AS (
                            INSERT INTO finsam_keys (forbund, key, seq)
                            SELECT * FROM UNNEST($5::text[], $6::text[], $7::bigint[])
                         )
                         UPDATE finsam_head SET seq = $8, hash = $9",
                        &[
                            &seqs,
                            &lines,
                            &hashes,
                            &forbund,
                            &key_forbund,
                            &keys,
                            &key_seqs,
                            &(batch.head.seq as i64),
                            &batch.head.hash,
                        ],
                    )
                    .map_err(|e| failed(&name, "cannot write the batch", e))
            })
            .map(|_| ());
        if let Err(e) = written {
            self.rollback();
            return Err(e);
        }
        self.locked = false;
        let committed = self.client()?.batch_execute("COMMIT");
        if let Err(e) = committed {
            // Perhaps committed, perhaps not: never acknowledged. The next look at the table
            // (`newer`) finds out, and a retry with the same idempotency key is answered with
            // the first seq if it did land.
            return Err(failed(
                &self.name,
                "the commit could not be confirmed, so nothing is acknowledged (retry with the same idempotency key)",
                e,
            ));
        }
        self.head = batch.head.clone();
        Ok(())
    }
}

impl LogBackend for PgLog {
    fn head(&self) -> &Head {
        &self.head
    }

    fn lock_for_append(&mut self, newer: &mut dyn FnMut(Envelope, u64)) -> Result<(), StoreError> {
        self.take_newer(true, &mut |e, line| newer(e, line.len() as u64 + 1))
    }

    fn unlock(&mut self) {
        self.rollback();
    }

    fn newer(&mut self, each: &mut dyn FnMut(Envelope, u64)) -> Result<(), StoreError> {
        self.take_newer(false, &mut |e, line| each(e, line.len() as u64 + 1))
    }

    fn append(&mut self, expected_seq: u64, batch: &SealedBatch) -> Result<(), StoreError> {
        self.append_batch(expected_seq, batch)
    }

    fn holds_underlag(&self, sha256: &str, size: u64) -> bool {
        let Ok(mut client) = self.client() else {
            return false;
        };
        client
            .query_opt("SELECT 1 FROM finsam_underlag WHERE sha256 = $1 AND size = $2", &[&sha256, &(size as i64)])
            .is_ok_and(|row| row.is_some())
    }

    fn read(
        &self,
        from: u64,
        to: u64,
        each: &mut dyn FnMut(Envelope) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut next = from.max(1);
        let to = to.min(self.head.seq);
        while next <= to {
            let rows = self
                .client()?
                .query(
                    "SELECT line FROM finsam_log WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                    &[&(next as i64), &(to as i64), &PAGE_ROWS],
                )
                .map_err(|e| failed(&self.name, "cannot read the log", e))?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let line: &str = row.get(0);
                let envelope = Envelope::open(line.as_bytes()).map_err(|p| StoreError::Damaged {
                    path: self.name.clone().into(),
                    line: next,
                    offset: 0,
                    problem: p.0,
                })?;
                next = envelope.seq + 1;
                each(envelope)?;
            }
        }
        Ok(())
    }
}

/// The log's lines, read from the database as `log.jsonl` holds them (each with its
/// newline), a page at a time: for opening the store, `audit verify` and `store copy`.
pub struct PgLines {
    client: Client,
    name: String,
    after: u64,
    buf: Vec<u8>,
    at: usize,
    done: bool,
    last: i64,
}

impl PgLines {
    pub fn new(url: &str) -> Result<PgLines, StoreError> {
        Ok(PgLines {
            client: connect(url)?,
            name: label(url),
            after: 0,
            buf: Vec::new(),
            at: 0,
            done: false,
            last: i64::MAX,
        })
    }

    /// Only the lines up to `seq` (a head read before: what others append meanwhile is left).
    pub fn up_to(self, seq: u64) -> PgLines {
        PgLines { last: seq as i64, ..self }
    }

    fn fill(&mut self) -> Result<(), StoreError> {
        let rows = self
            .client
            .query(
                "SELECT seq, line FROM finsam_log WHERE seq > $1 AND seq <= $3 ORDER BY seq LIMIT $2",
                &[&(self.after as i64), &PAGE_ROWS, &self.last],
            )
            .map_err(|e| failed(&self.name, "cannot read the log", e))?;
        self.done = (rows.len() as i64) < PAGE_ROWS;
        self.buf.clear();
        self.at = 0;
        for row in rows {
            self.after = row.get::<_, i64>(0) as u64;
            self.buf.extend_from_slice(row.get::<_, &str>(1).as_bytes());
            self.buf.push(b'\n');
        }
        Ok(())
    }
}

impl Read for PgLines {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            self.fill().map_err(std::io::Error::other)?;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Every underlag the database keeps, by SHA-256.
pub fn underlag(client: &mut Client, name: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let rows = client
        .query("SELECT sha256, bytes FROM finsam_underlag ORDER BY sha256", &[])
        .map_err(|e| failed(name, "cannot read the underlag", e))?;
    Ok(rows.into_iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// The service's users and the web app's sessions in the database, shared by every instance
/// (`finsam_users`, `finsam_sessions`). Each instance keeps `users.jsonl` as a copy it brings up
/// to date (`mirror_users`), so a token works the same on each.
pub struct Directory {
    url: String,
    name: String,
    pool: Pool,
}

impl Directory {
    pub fn open(url: &str) -> Result<Directory, StoreError> {
        let name = label(url);
        migrate(&mut connect(url)?, &name)?;
        Ok(Directory { url: url.to_string(), name, pool: pool(url)? })
    }

    /// For reading only: the schema is left as it is (a revisor's `audit verify`).
    pub fn reading(url: &str) -> Result<Directory, StoreError> {
        Ok(Directory { url: url.to_string(), name: label(url), pool: pool(url)? })
    }

    /// The database's address without its password.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn with<T>(
        &self,
        action: &'static str,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut client = self.pool.get().map_err(|e| {
            // The pool says only that it timed out; a connection of its own says why.
            match connect(&self.url) {
                Err(direct) => direct,
                Ok(_) => failed(&self.name, "cannot connect", e),
            }
        })?;
        f(&mut client).map_err(|e| failed(&self.name, action, e))
    }

    /// Records a line of `users.jsonl` (a grant or a revocation).
    pub fn add_user_line(&self, line: &str) -> Result<(), StoreError> {
        self.with("cannot record the user", |c| c.execute("INSERT INTO finsam_users (line) VALUES ($1)", &[&line]))?;
        Ok(())
    }

    /// The users' lines after the first `n`, in order.
    pub fn user_lines_after(&self, n: usize) -> Result<Vec<String>, StoreError> {
        self.with("cannot read the users", |c| {
            let rows = c.query("SELECT line FROM finsam_users ORDER BY seq OFFSET $1", &[&(n as i64)])?;
            Ok(rows.into_iter().map(|r| r.get(0)).collect())
        })
    }

    /// The users the database grants access.
    pub fn users(&self) -> Result<crate::access::Users, StoreError> {
        let lines = self.user_lines_after(0)?;
        crate::access::Users::from_lines(std::path::Path::new(&self.name), lines.into_iter().map(Ok))
    }

    /// Brings the copy `dir/users.jsonl` up to the database's users; true when it changed.
    pub fn mirror_users(&self, dir: &std::path::Path) -> Result<bool, StoreError> {
        crate::access::mirror_users(dir, |n| self.user_lines_after(n))
    }

    pub fn session_begun(&self, s: &crate::access::StoredSession) -> Result<(), StoreError> {
        let line = crate::access::begin_line(s);
        self.with("cannot keep the session", |c| {
            c.execute(
                "INSERT INTO finsam_sessions (id_sha256, line, started) VALUES ($1, $2, $3)",
                &[&s.id_sha256, &line, &(s.started as i64)],
            )
        })?;
        Ok(())
    }

    pub fn session_ended(&self, id_sha256: &str) -> Result<(), StoreError> {
        self.with("cannot end the session", |c| {
            c.execute("UPDATE finsam_sessions SET ended = true WHERE id_sha256 = $1", &[&id_sha256])
        })?;
        Ok(())
    }

    /// The sessions not ended that began less than `lifetime` seconds before `now`; older ones
    /// are deleted.
    pub fn sessions_open(&self, now: u64, lifetime: u64) -> Result<Vec<crate::access::StoredSession>, StoreError> {
        let since = now.saturating_sub(lifetime) as i64;
        let lines: Vec<String> = self.with("cannot read the sessions", |c| {
            c.execute("DELETE FROM finsam_sessions WHERE ended OR started <= $1", &[&since])?;
            let rows = c.query("SELECT line FROM finsam_sessions WHERE started <= $1", &[&(now as i64)])?;
            Ok(rows.into_iter().map(|r| r.get(0)).collect())
        })?;
        lines.iter().map(|l| self.session_of(l)).collect()
    }

    /// A session begun (on any instance) and not ended, by the SHA-256 of its id.
    pub fn session(&self, id_sha256: &str) -> Result<Option<crate::access::StoredSession>, StoreError> {
        let line: Option<String> = self.with("cannot read the sessions", |c| {
            let row =
                c.query_opt("SELECT line FROM finsam_sessions WHERE id_sha256 = $1 AND NOT ended", &[&id_sha256])?;
            Ok(row.map(|r| r.get(0)))
        })?;
        line.map(|l| self.session_of(&l)).transpose()
    }

    /// Keeps an underlag's bytes in the database (once: a file kept already is left as it is),
    /// for every instance to serve.
    pub fn put_underlag(&self, sha256: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.with("cannot keep the underlag", |c| {
            c.execute(
                "INSERT INTO finsam_underlag (sha256, size, bytes) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
                &[&sha256, &(bytes.len() as i64), &bytes],
            )
        })?;
        Ok(())
    }

    /// Brings the underlag of the folder `dir` up to the database's: each one kept after
    /// `cursor` (the order they were kept in) that the folder lacks is fetched, checked against
    /// its hash and kept there. Returns how many were fetched; `cursor` moves past what was seen.
    pub fn mirror_underlag(&self, dir: &std::path::Path, cursor: &mut i64) -> Result<usize, StoreError> {
        let seen: Vec<(i64, String)> = self.with("cannot read the underlag", |c| {
            let rows =
                c.query("SELECT seq, sha256 FROM finsam_underlag WHERE seq > $1 ORDER BY seq LIMIT 1000", &[&*cursor])?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
        let mut fetched = 0;
        for (seq, sha) in seen {
            if !crate::underlag::kept(dir, &sha) {
                let bytes: Vec<u8> = self.with("cannot read the underlag", |c| {
                    Ok(c.query_one("SELECT bytes FROM finsam_underlag WHERE sha256 = $1", &[&sha])?.get(0))
                })?;
                if crate::underlag::sha256(&bytes) != sha {
                    return Err(failed(
                        &self.name,
                        "an underlag does not match its hash",
                        format!("{sha} (seq {seq})"),
                    ));
                }
                crate::underlag::put(dir, &bytes)?;
                fetched += 1;
            }
            *cursor = seq;
        }
        Ok(fetched)
    }

    /// How many lines of this instance's access log the database holds, and the last.
    pub fn access_head(&self, instance: &str) -> Result<(u64, Option<String>), StoreError> {
        self.with("cannot read the access log", |c| {
            let row = c.query_opt(
                "SELECT seq, line FROM finsam_access WHERE instance = $1 ORDER BY seq DESC LIMIT 1",
                &[&instance],
            )?;
            Ok(row.map_or((0, None), |r| (r.get::<_, i64>(0) as u64, Some(r.get(1)))))
        })
    }

    /// Adds lines of this instance's access log, the first with seq `first`, in one statement.
    /// A seq the database holds already is refused (two folders claiming one instance).
    pub fn add_access_lines(&self, instance: &str, first: u64, lines: &[String]) -> Result<(), StoreError> {
        let seqs: Vec<i64> = (0..lines.len() as i64).map(|i| first as i64 + i).collect();
        self.with("cannot write the access log", |c| {
            c.execute(
                "INSERT INTO finsam_access (instance, seq, line) SELECT $1, * FROM unnest($2::bigint[], $3::text[])",
                &[&instance, &seqs, &lines],
            )
        })?;
        Ok(())
    }

    /// Every instance's access log in the database, checked line by line as a file's is.
    pub fn verify_access(&self) -> Result<Vec<(String, crate::access::AccessReport)>, StoreError> {
        let instances: Vec<String> = self.with("cannot read the access log", |c| {
            // A database from before migration 4 has none.
            if c.query_one("SELECT to_regclass('finsam_access') IS NULL", &[])?.get(0) {
                return Ok(Vec::new());
            }
            let rows = c.query("SELECT DISTINCT instance FROM finsam_access ORDER BY instance", &[])?;
            Ok(rows.into_iter().map(|r| r.get(0)).collect())
        })?;
        let mut reports = Vec::new();
        for instance in instances {
            // Read a page at a time as the check goes (an access log may be long).
            let (mut after, mut page, mut failure) = (0i64, std::collections::VecDeque::new(), None);
            let mut done = false;
            let lines = std::iter::from_fn(|| {
                if page.is_empty() && !done {
                    match self.with("cannot read the access log", |c| {
                        c.query(
                            "SELECT seq, line FROM finsam_access WHERE instance = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                            &[&instance, &after, &PAGE_ROWS],
                        )
                    }) {
                        Ok(rows) => {
                            done = (rows.len() as i64) < PAGE_ROWS;
                            for r in rows {
                                after = r.get(0);
                                page.push_back(r.get::<_, String>(1));
                            }
                        }
                        Err(e) => failure = Some(e),
                    }
                }
                page.pop_front().map(Ok)
            });
            let report = crate::access::verify_access_lines(lines);
            if let Some(e) = failure {
                return Err(e);
            }
            reports.push((instance, report));
        }
        Ok(reports)
    }

    fn session_of(&self, line: &str) -> Result<crate::access::StoredSession, StoreError> {
        serde_json::from_str(line)
            .map_err(|e| e.to_string())
            .and_then(|v| crate::access::session_of(&v))
            .map_err(|e| failed(&self.name, "a session's line cannot be read", e))
    }
}

#[cfg(test)]
mod migration_tests {
    /// Every file in `migrations/` is applied, in the order of its number, and nothing else.
    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        files.sort();
        assert!(!files.is_empty());
        for (i, file) in files.iter().enumerate() {
            let (version, _, text) = super::MIGRATIONS.get(i).unwrap_or_else(|| panic!("{file} is not in MIGRATIONS"));
            assert_eq!(*version as usize, i + 1, "versions run 1, 2, 3 …");
            assert!(file.starts_with(&format!("{:04}_", i + 1)), "{file} is migration {}", i + 1);
            assert_eq!(*text, std::fs::read_to_string(dir.join(file)).unwrap(), "{file}");
        }
        assert_eq!(files.len(), super::MIGRATIONS.len(), "no migration without its file");
    }
}
