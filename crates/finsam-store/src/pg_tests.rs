//! The log in PostgreSQL, against a throwaway cluster (`pg_cluster`): the same contract as
//! the file and the in-memory twin, one gapless chain whatever number of writers on however
//! many connections, and nothing acknowledged lost or doubled when the database restarts.

use crate::envelope::Envelope;
use crate::log::LogBackend;
use crate::pg::{PgLines, PgLog};
use crate::pg_cluster::{cluster, own_cluster, own_cluster_with_tls};
use crate::store::{Recorded, Store};
use crate::StoreError;
use finsam_domain::input::parse_batch;
use finsam_domain::{Rule, Slug};
use finsam_projections::projection::Recorded as RecordedEvent;
use finsam_projections::{At, Chart, Projection};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex};

/// Every fixture, in recording order.
const FIXTURES: [&str; 8] = [
    include_str!("../../../fixtures/00-forbund.jsonl"),
    include_str!("../../../fixtures/10-vasteras-2021.jsonl"),
    include_str!("../../../fixtures/15-vastra-malardalen.jsonl"),
    include_str!("../../../fixtures/20-norra-vastmanland-2023.jsonl"),
    include_str!("../../../fixtures/30-vastmanland-2024.jsonl"),
    include_str!("../../../fixtures/35-merger-example.jsonl"),
    include_str!("../../../fixtures/40-vastmanland-2024-example.jsonl"),
    include_str!("../../../fixtures/50-vastmanland-2024-arsredovisning.jsonl"),
];

fn contribution(key: &str, amount: &str) -> String {
    format!(
        r#"{{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-03-01","member":"sala","year":2024,"amount":"{amount}","reference":"{key}","idempotency_key":"{key}"}}"#
    )
}

fn record<B: LogBackend>(
    store: &mut Store<B>,
    text: &str,
    expect_head: Option<u64>,
) -> Result<Vec<Recorded>, StoreError> {
    store.record(&parse_batch(text.as_bytes()).expect("the test's input parses"), "test", expect_head)
}

/// The log's lines as the database holds them.
fn lines(url: &str) -> Vec<Envelope> {
    let mut text = String::new();
    PgLines::new(url).unwrap().read_to_string(&mut text).unwrap();
    text.lines().map(|l| Envelope::open(l.as_bytes()).expect("every line opens")).collect()
}

/// The bank balance of Samordningsförbundet Västmanland at the end of 2024, as a projection of
/// these envelopes.
fn bank(envelopes: &[Envelope]) -> String {
    let mut p = Projection::new();
    for e in envelopes {
        p.apply(RecordedEvent {
            seq: e.seq,
            recorded_at: &e.recorded_at,
            recorded_by: &e.recorded_by,
            event: &e.event,
        });
    }
    let at = At { as_of: chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(), known_at: u64::MAX };
    let f = Slug::parse("sf-vastmanland").unwrap();
    p.balances(&f, at, &Chart::default_chart()).expect("registered").bank.canonical()
}

/// What every backend must do alike, run on `store`; returns the events it holds at the end.
fn contract<B: LogBackend>(store: &mut Store<B>) -> Vec<Envelope> {
    for text in FIXTURES {
        record(store, text, None).expect("the fixtures record");
    }
    let head = store.head().seq;
    let first = record(store, &contribution("bank-1", "1500.00"), Some(head)).unwrap();
    assert_eq!(first[0].seq, head + 1);
    assert!(!first[0].duplicate);
    // A retry is answered with the first seq and writes nothing.
    let again = record(store, &contribution("bank-1", "1500.00"), None).unwrap();
    assert_eq!((again[0].seq, again[0].duplicate), (head + 1, true));
    assert_eq!(store.head().seq, head + 1);
    // The same key with other content is refused.
    match record(store, &contribution("bank-1", "1600.00"), None) {
        Err(StoreError::Rejected(r)) => assert_eq!(r.rule, Rule::IdempotencyKeyReused),
        other => panic!("a reused key is refused, not {other:?}"),
    }
    // A stale --expect-head is refused.
    match record(store, &contribution("bank-2", "10.00"), Some(head)) {
        Err(StoreError::HeadMoved { expected, actual }) => assert_eq!((expected, actual), (head, head + 1)),
        other => panic!("a stale expected head is refused, not {other:?}"),
    }
    // A batch with one bad event writes none of it.
    let bad =
        format!("{}\n{}", contribution("bank-3", "20.00"), contribution("bank-4", "5.00").replace("sala", "okand"));
    assert!(matches!(record(store, &bad, None), Err(StoreError::Rejected(_))));
    assert_eq!(store.head().seq, head + 1);
    let mut all = Vec::new();
    store
        .read(1, u64::MAX, &mut |e| {
            all.push(e);
            Ok(())
        })
        .unwrap();
    assert_eq!(all.len() as u64, head + 1, "read gives every event once");
    assert!(all.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
    all
}

#[test]
fn the_database_keeps_the_contract_of_the_file_and_the_twin() {
    let url = cluster().database("contract");
    let (mut db, report) = Store::open_database(&url).unwrap();
    assert_eq!(report.events_replayed, 0);
    let in_db = contract(&mut db);
    let mut twin = Store::in_memory();
    let in_memory = contract(&mut twin);
    let events = |es: &[Envelope]| es.iter().map(|e| (e.seq, e.batch_last, e.event.clone())).collect::<Vec<_>>();
    assert_eq!(events(&in_db), events(&in_memory), "the same events, seqs and batches");
    assert_eq!(bank(&in_db), bank(&in_memory));
    // The table holds exactly the lines the store read back, and reopening replays them.
    assert_eq!(lines(&url), in_db);
    drop(db);
    let (reopened, report) = Store::open_database(&url).unwrap();
    assert_eq!(report.events_replayed, in_db.len() as u64);
    assert_eq!(reopened.head().seq, in_db.len() as u64);
    assert_eq!(reopened.head().hash, in_db.last().unwrap().hash);
}

/// Records `writes` contributions with keys `{who}-{i}`, retrying each until it is
/// acknowledged (reopening the store when a failed commit stopped it); returns key → seq.
fn writer(store: Arc<Mutex<Store<PgLog>>>, url: String, who: String, writes: usize) -> (BTreeMap<String, u64>, usize) {
    let mut acknowledged = BTreeMap::new();
    let mut failures = 0;
    for i in 0..writes {
        let key = format!("{who}-{i}");
        let text = contribution(&key, &format!("{}.{:02}", 1 + i, i % 100));
        loop {
            let answer = {
                let mut s = store.lock().unwrap();
                record(&mut s, &text, None)
            };
            match answer {
                Ok(r) => {
                    acknowledged.insert(key.clone(), r[0].seq);
                    break;
                }
                Err(StoreError::Database { .. }) => failures += 1,
                Err(StoreError::Poisoned { .. }) => {
                    failures += 1;
                    if let Ok((fresh, _)) = Store::open_database(&url) {
                        *store.lock().unwrap() = fresh;
                    }
                }
                Err(e) => panic!("{key}: {e}"),
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    (acknowledged, failures)
}

/// Every acknowledged key is in the log once, at the seq it was acknowledged with; the chain
/// is whole; the keys' table names each key once.
fn check_log(url: &str, acknowledged: &BTreeMap<String, u64>) -> usize {
    let envelopes = lines(url);
    let mut prev = crate::GENESIS_HASH.to_string();
    for (i, e) in envelopes.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "gapless");
        assert_eq!(e.prev_hash, prev, "seq {} links to the line before", e.seq);
        prev = e.hash.clone();
    }
    let mut by_key: HashMap<&str, Vec<u64>> = HashMap::new();
    for e in &envelopes {
        if let Some(k) = e.event.idempotency_key.as_deref() {
            by_key.entry(k).or_default().push(e.seq);
        }
    }
    for (key, seq) in acknowledged {
        assert_eq!(by_key.get(key.as_str()), Some(&vec![*seq]), "{key} is in the log once, at its acknowledged seq");
    }
    assert!(by_key.values().all(|seqs| seqs.len() == 1), "no key twice");
    let mut client = crate::pg::connect(url).unwrap();
    let keys: i64 = client.query_one("SELECT count(*) FROM finsam_keys", &[]).unwrap().get(0);
    assert_eq!(keys as usize, by_key.len());
    let (seq, hash): (i64, String) = {
        let row = client.query_one("SELECT seq, hash FROM finsam_head", &[]).unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((seq as usize, hash), (envelopes.len(), prev), "the head row is the last line");
    envelopes.len()
}

#[test]
fn thirty_two_writers_on_two_connections_make_one_chain_with_every_acknowledged_event_once() {
    let url = cluster().database("two_instances");
    let (mut first, _) = Store::open_database(&url).unwrap();
    record(&mut first, FIXTURES[0], None).unwrap();
    let instances = [Arc::new(Mutex::new(first)), Arc::new(Mutex::new(Store::open_database(&url).unwrap().0))];
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let store = instances[w % 2].clone();
            let url = url.clone();
            std::thread::spawn(move || writer(store, url, format!("w{w}"), 12))
        })
        .collect();
    let mut acknowledged = BTreeMap::new();
    for w in writers {
        let (acks, failures) = w.join().unwrap();
        assert_eq!(failures, 0, "nothing fails while the database runs");
        acknowledged.extend(acks);
    }
    assert_eq!(acknowledged.len(), 32 * 12);
    let events = check_log(&url, &acknowledged);
    // Both instances, once they look, have the whole log in their books.
    for instance in &instances {
        let mut s = instance.lock().unwrap();
        s.follow().unwrap();
        assert_eq!(s.head().seq as usize, events);
    }
    let a = instances[0].lock().unwrap();
    let b = instances[1].lock().unwrap();
    let at = At { as_of: chrono::NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(), known_at: u64::MAX };
    let f = Slug::parse("sf-vastmanland").unwrap();
    let chart = Chart::default_chart();
    assert_eq!(
        a.projection().balances(&f, at, &chart).unwrap().bank,
        b.projection().balances(&f, at, &chart).unwrap().bank
    );
}

#[test]
fn restarts_of_postgresql_under_load_lose_and_double_nothing_acknowledged() {
    let own = own_cluster("restart");
    let url = own.database("restart");
    let (mut first, _) = Store::open_database(&url).unwrap();
    record(&mut first, FIXTURES[0], None).unwrap();
    let instances = [Arc::new(Mutex::new(first)), Arc::new(Mutex::new(Store::open_database(&url).unwrap().0))];
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = instances[w % 2].clone();
            let url = url.clone();
            std::thread::spawn(move || writer(store, url, format!("r{w}"), 40))
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    own.restart(libc::SIGINT);
    std::thread::sleep(std::time::Duration::from_millis(300));
    own.restart(libc::SIGQUIT);
    let mut acknowledged = BTreeMap::new();
    let mut failures = 0;
    for w in writers {
        let (acks, failed) = w.join().unwrap();
        failures += failed;
        acknowledged.extend(acks);
    }
    assert_eq!(acknowledged.len(), 8 * 40, "every write was acknowledged in the end");
    assert!(failures > 0, "the restarts were felt by the writers (else the test tests nothing)");
    check_log(&url, &acknowledged);
    eprintln!("restarts: {} acknowledged, {failures} failed attempts retried", acknowledged.len());
}

#[test]
fn a_database_log_whose_row_was_changed_does_not_open() {
    let url = cluster().database("changed");
    let (mut store, _) = Store::open_database(&url).unwrap();
    record(&mut store, FIXTURES[0], None).unwrap();
    record(&mut store, &contribution("k-1", "123.45"), None).unwrap();
    drop(store);
    let mut client = crate::pg::connect(&url).unwrap();
    let changed = client
        .execute("UPDATE finsam_log SET line = replace(line, '123.45', '923.45') WHERE line LIKE '%k-1%'", &[])
        .unwrap();
    assert_eq!(changed, 1);
    match Store::open_database(&url) {
        Err(StoreError::Damaged { problem, .. }) => assert!(problem.contains("hash"), "{problem}"),
        Err(e) => panic!("a changed row is damage, not {e}"),
        Ok(_) => panic!("a changed row is damage"),
    }
}

/// Whether this connection's session is encrypted, as the server sees it.
fn encrypted(client: &mut postgres::Client) -> bool {
    client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).unwrap().get(0)
}

#[test]
fn over_tls_the_server_is_verified_and_every_connection_is_encrypted() {
    let tls = own_cluster_with_tls("tls");
    let plain = tls.database("tls");
    let verified = format!("{plain}?sslmode=verify-full&sslrootcert={}", tls.ca_file().display());
    // The writer's own connection, the pool's (users) and a reader's (the log's lines), all on
    // the encrypted address.
    let (mut store, _) = Store::open_database(&verified).unwrap();
    for text in &FIXTURES[..5] {
        record(&mut store, text, None).unwrap();
    }
    record(&mut store, &contribution("tls-1", "10.00"), None).unwrap();
    let directory = crate::pg::Directory::open(&verified).unwrap();
    let (token, line) =
        crate::access::grant_line("test", "anna", crate::access::Role::Kansli, &["sf-vastmanland".into()]);
    directory.add_user_line(&line).unwrap();
    assert_eq!(directory.users().unwrap().authenticate(&token).map(|u| u.name.as_str()), Some("anna"));
    assert_eq!(lines(&verified).len() as u64, store.head().seq);
    let mut client = crate::pg::connect(&verified).unwrap();
    assert!(encrypted(&mut client));
    let database = plain.rsplit('/').next().unwrap();
    let (all, plain_ones): (i64, i64) = {
        let row = client
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE NOT s.ssl) FROM pg_stat_activity a \
                 JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1",
                &[&database],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(all >= 3, "the writer's, the pool's and this connection are open: {all}");
    assert_eq!(plain_ones, 0, "no connection of the encrypted address is in the clear");
    // Without sslmode the connection is not encrypted (finsam's default, as on one machine).
    assert!(!encrypted(&mut crate::pg::connect(&plain).unwrap()));
    // Encryption always verifies the server: this CA is not among the system's roots.
    let refused = |url: String| match crate::pg::connect(&url) {
        Err(StoreError::Database { detail, .. }) => detail,
        Err(e) => panic!("{url}: a database error, not {e}"),
        Ok(_) => panic!("{url}: refused"),
    };
    let unverified = refused(format!("{plain}?sslmode=require"));
    assert!(unverified.contains("certificate"), "{unverified}");
    let fallback = refused(format!("{plain}?sslmode=prefer"));
    assert!(fallback.contains("sslmode=prefer is not used by finsam"), "{fallback}");
    let missing = refused(format!("{plain}?sslmode=verify-full&sslrootcert=/nonexistent/ca.crt"));
    assert!(missing.contains("/nonexistent/ca.crt"), "{missing}");
}
