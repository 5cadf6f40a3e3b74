//! A store in PostgreSQL (a throwaway cluster, `finsam_store::pg_cluster`): `finsam store copy`
//! both ways keeps the log's bytes, each side verifies, and the bundle from either is the same;
//! a changed row fails `audit verify --database`; copies that would overwrite are refused.

use crate::support::*;
use finsam_store::pg_cluster::cluster;
use std::path::Path;

fn copy(from: &str, to: &str) -> std::process::Output {
    // --store is not read by `store copy`; a folder that does not exist shows it.
    finsam(Path::new("/nonexistent-store"), &["store", "copy", from, to], "")
}

fn verify_database(url: &str) -> std::process::Output {
    finsam(Path::new("/nonexistent-store"), &["--database", url, "audit", "verify"], "")
}

/// Every file below `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut paths = Vec::new();
    list_files(dir, &mut paths);
    let mut out: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|p| (p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn a_store_copied_to_a_database_and_back_keeps_its_bytes_its_verification_and_its_bundle() {
    let dir = TempDir::new("database-copy");
    let store = fixture_store(&dir);
    let pdf = dir.0.join("protokoll.pdf");
    std::fs::write(&pdf, b"%PDF-1.4\n% minutes for the copy test\n%%EOF\n").unwrap();
    let last =
        log_json(&store).iter().rev().find(|e| e["event"]["forbund"] == "sf-vastmanland").unwrap()["seq"].to_string();
    let args = ["attach", "--forbund", "sf-vastmanland", "--to", &last, "--as", "anna", pdf.to_str().unwrap()];
    assert_exit(&finsam(&store, &args, ""), 0);
    let url = cluster().database("cli_copy");
    let anna = crate::serve::token(&store, "anna", "kansli", &["sf-vastmanland"]);

    let o = copy(store.to_str().unwrap(), &url);
    assert_exit(&o, 0);
    let events = log_json(&store).len();
    assert!(stdout(&o).contains(&format!("copied {events} events")), "{}", stdout(&o));
    assert!(stdout(&o).contains(", 1 underlag and 1 user line(s)"), "{}", stdout(&o));
    // Her token works on the service on the database.
    let server = instance(&dir.0.join("instance"), &url);
    assert_eq!(server.call("GET", "/api/v1/forbund/sf-vastmanland/balances", Some(&anna), "").0, 200);
    drop(server);
    assert_eq!(
        finsam_store::copy::database_log_bytes(&url).unwrap(),
        log_bytes(&store),
        "the table holds the log's bytes"
    );
    let o = verify_database(&url);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains(&format!("{events} event(s)")), "{}", stdout(&o));

    let back = dir.0.join("back");
    let o = copy(&url, back.to_str().unwrap());
    assert_exit(&o, 0);
    assert_eq!(log_bytes(&back), log_bytes(&store), "the log's bytes are the same on both sides");
    assert_exit(&finsam(&back, &["audit", "verify"], ""), 0);
    let digest = |s: &Path| stdout(&finsam(s, &["audit", "digest"], ""));
    assert_eq!(digest(&back), digest(&store));
    // The underlag and the users came along, byte for byte.
    assert_eq!(files(&back.join("underlag")), files(&store.join("underlag")));
    assert_eq!(std::fs::read(back.join("users.jsonl")).unwrap(), std::fs::read(store.join("users.jsonl")).unwrap());
    // The bundle a revisor gets is the same from either.
    let bundle = |s: &Path, out: &str| {
        let out = dir.0.join(out);
        let o =
            finsam(s, &["audit", "bundle", "--forbund", "sf-vastmanland", "--year", "2024", out.to_str().unwrap()], "");
        assert_exit(&o, 0);
        files(&out)
    };
    let (a, b) = (bundle(&store, "bundle-a"), bundle(&back, "bundle-b"));
    assert!(a.len() > 5, "the bundle holds its files");
    assert_eq!(a, b);

    // Nothing is copied over a database that holds a log, or into a folder that holds files.
    let o = copy(store.to_str().unwrap(), &url);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("holds a log already"), "{}", stderr(&o));
    let o = copy(&url, back.to_str().unwrap());
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
    let o = copy(store.to_str().unwrap(), back.to_str().unwrap());
    assert_exit(&o, 2);
}

#[test]
fn a_changed_row_in_the_database_fails_verification_and_is_never_copied() {
    let dir = TempDir::new("database-changed");
    let store = store_with(&dir, &[&fixture("00-forbund.jsonl"), &contribution("sala", "4711.00", Some("k-1"))]);
    let url = cluster().database("cli_changed");
    assert_exit(&copy(store.to_str().unwrap(), &url), 0);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let changed = client
        .execute("UPDATE finsam_log SET line = replace(line, '4711.00', '4712.00') WHERE line LIKE '%k-1%'", &[])
        .unwrap();
    assert_eq!(changed, 1);
    let seq = log_json(&store).len();
    let o = verify_database(&url);
    assert_exit(&o, 1);
    assert!(stdout(&o).contains(&format!("first bad seq {seq}")), "{}", stdout(&o));
    let o = copy(&url, dir.0.join("copy").to_str().unwrap());
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("does not verify"), "{}", stderr(&o));
    assert!(!dir.0.join("copy").exists(), "nothing was written");
}

#[test]
fn the_database_option_names_what_it_is_for() {
    let o = finsam(Path::new("/nonexistent-store"), &["--database", "/var/lib/finsam", "audit", "verify"], "");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("postgresql://USER@HOST:PORT/DATABASE"), "{}", stderr(&o));
    let o =
        finsam(Path::new("/nonexistent-store"), &["--database", "postgresql://x@localhost/y", "balances", "--all"], "");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("finsam store copy"), "{}", stderr(&o));
    // An address that would fall back to plain text silently is refused as bad usage, in the
    // user's language, before any connection is tried.
    let prefer = "postgresql://x@127.0.0.1:1/y?sslmode=prefer";
    let o = finsam_with(Path::new("/nonexistent-store"), &["--database", prefer, "audit", "verify"], "", swedish);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("adressen kan inte läsas: sslmode=prefer används inte av finsam"), "{}", stderr(&o));
    // A server that is not there is named with the reason.
    let o =
        finsam(Path::new("/nonexistent-store"), &["--database", "postgresql://x@127.0.0.1:1/y", "audit", "verify"], "");
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("cannot connect: error connecting to server: Connection refused"), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// `finsam serve --database`: several instances on one database.

use crate::security::Browser;
use crate::serve::{open_subscription, try_call, Server};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A user of the database's service; their token.
fn db_user(url: &str, name: &str, role: &str, forbund: &[&str]) -> String {
    let mut args = vec!["--database", url, "--format", "json", "user", "add", name, "--role", role, "--by", "test"];
    for f in forbund {
        args.extend(["--forbund", f]);
    }
    let o = finsam(Path::new("/nonexistent-store"), &args, "");
    assert_exit(&o, 0);
    serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap()["token"].as_str().unwrap().to_string()
}

/// An instance of the service on the database, with a folder of its own.
fn instance(folder: &Path, url: &str) -> Server {
    Server::start_with(folder, &[("FINSAM_DATABASE", url)])
}

fn keyed(key: &str) -> String {
    format!(
        r#"{{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-06-01","member":"sala","year":2024,"amount":"10.00","reference":"{key}","idempotency_key":"{key}"}}"#
    )
}

/// Sends the event with `key` to the instances in turn, from `first`, until one acknowledges
/// it (201); returns the attempts that failed (no answer, or 503 while the database was away).
fn until_acknowledged(addrs: &[String], first: usize, key: &str, token: &str) -> (u64, u64) {
    let (mut lost, mut unavailable) = (0, 0);
    for attempt in 0.. {
        let addr = &addrs[(first + attempt) % addrs.len()];
        match try_call(addr, &keyed(key), token) {
            Some(201) => return (lost, unavailable),
            Some(503) => unavailable += 1,
            None => lost += 1,
            Some(other) => panic!("{key}: answered {other}"),
        }
        assert!(attempt < 2_000, "{key} was never acknowledged");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    unreachable!()
}

/// Clients writing keyed events (`{prefix}-{client}-{n}`) to the instances in turn, each until
/// acknowledged, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<std::thread::JoinHandle<(Vec<String>, u64, u64)>>,
}

impl Load {
    fn start(servers: &[&Server], token: &str, clients: usize, prefix: &str) -> Load {
        let addrs: Arc<Vec<String>> = Arc::new(servers.iter().map(|s| s.addr.clone()).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|c| {
                let (addrs, token, stop, prefix) = (addrs.clone(), token.to_string(), stop.clone(), prefix.to_string());
                std::thread::spawn(move || {
                    let (mut keys, mut lost, mut unavailable) = (Vec::new(), 0, 0);
                    for i in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let key = format!("{prefix}-{c}-{i}");
                        let (no_answer, busy) = until_acknowledged(&addrs, c + i, &key, &token);
                        (lost, unavailable) = (lost + no_answer, unavailable + busy);
                        keys.push(key);
                    }
                    (keys, lost, unavailable)
                })
            })
            .collect();
        Load { stop, clients }
    }

    /// Stops the clients: every key acknowledged, the attempts unanswered and those answered 503.
    fn stop(self) -> (BTreeSet<String>, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let (mut keys, mut lost, mut unavailable) = (BTreeSet::new(), 0, 0);
        for c in self.clients {
            let (k, l, u) = c.join().unwrap();
            keys.extend(k);
            (lost, unavailable) = (lost + l, unavailable + u);
        }
        (keys, lost, unavailable)
    }
}

/// The database's log: one gapless chain, each acknowledged key in it once, no key twice.
/// Returns its bytes.
fn check_database(url: &str, acknowledged: &BTreeSet<String>) -> Vec<u8> {
    let bytes = finsam_store::copy::database_log_bytes(url).unwrap();
    let mut prev = finsam_store::GENESIS_HASH.to_string();
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    for (i, line) in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        let e = finsam_store::Envelope::open(line).expect("every line opens");
        assert_eq!(e.seq, i as u64 + 1, "gapless");
        assert_eq!(e.prev_hash, prev, "seq {} links to the line before", e.seq);
        prev = e.hash.clone();
        if let Some(k) = e.event.idempotency_key {
            *keys.entry(k).or_default() += 1;
        }
    }
    for key in acknowledged {
        assert_eq!(keys.get(key), Some(&1), "{key} is in the log once");
    }
    assert!(keys.values().all(|n| *n == 1), "no key twice");
    let o = finsam(Path::new("/nonexistent-store"), &["--database", url, "audit", "verify"], "");
    assert_exit(&o, 0);
    bytes
}

/// The ids of the first `count` events a subscription hears, or as many as it heard within
/// `within` (its keep-alives and read timeouts give the deadline its turn).
fn ids_within(
    sub: &mut std::io::BufReader<std::net::TcpStream>,
    count: usize,
    within: std::time::Duration,
) -> Vec<u64> {
    use std::io::BufRead;
    let deadline = std::time::Instant::now() + within;
    sub.get_ref().set_read_timeout(Some(std::time::Duration::from_millis(500))).unwrap();
    let mut ids = Vec::new();
    let mut line = String::new();
    while ids.len() < count && std::time::Instant::now() < deadline {
        line.clear();
        match sub.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => ids.extend(line.trim_end().strip_prefix("id:").and_then(|v| v.trim().parse::<u64>().ok())),
            Err(_) => {}
        }
    }
    ids
}

/// Waits until the database holds this instance's access log as its folder does, line for
/// line (the copier writes about every second); returns the instance's name and its lines.
fn access_in_database(url: &str, folder: &Path) -> (String, usize) {
    let instance =
        std::fs::read_to_string(folder.join("instance")).expect("the instance named itself").trim().to_string();
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let (mut rows, mut lines) = (Vec::new(), Vec::new());
    for _ in 0..150 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        rows = client
            .query("SELECT line FROM finsam_access WHERE instance = $1 ORDER BY seq", &[&instance])
            .unwrap()
            .into_iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        let file = std::fs::read_to_string(folder.join("access.jsonl")).unwrap();
        lines = file.lines().map(str::to_string).collect();
        if !rows.is_empty() && rows == lines {
            return (instance, rows.len());
        }
    }
    panic!("the database holds {} access line(s) of {instance} and its folder {}", rows.len(), lines.len());
}

/// A value of the instance's metrics (0 when it has none).
fn metric(server: &Server, name: &str) -> u64 {
    let (_, metrics) = server.call("GET", "/metrics", None, "");
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

/// Waits until the instance's readers see `head` (its metrics' `finsam_log_head`).
fn wait_for_head(server: &Server, head: u64) {
    for _ in 0..200 {
        if metric(server, "finsam_log_head") >= head {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{} never saw head {head}", server.addr);
}

#[test]
fn two_instances_on_one_database_make_one_chain_and_share_users_sessions_and_subscribers() {
    let dir = TempDir::new("database-two");
    let url = cluster().database("serve_two");
    let root = db_user(&url, "root", "admin", &[]);
    let anna = db_user(&url, "anna", "kansli", &["sf-vastmanland"]);
    let (a_dir, b_dir) = (dir.0.join("a"), dir.0.join("b"));
    let (a, b) = (instance(&a_dir, &url), instance(&b_dir, &url));
    assert_eq!(a.call("POST", "/api/v1/events", Some(&root), &fixture("00-forbund.jsonl")).0, 201);
    let mut subs = [open_subscription(&a, &root, "?from=1", None), open_subscription(&b, &root, "?from=1", None)];
    // 32 clients, half starting on each instance, each writing 8 events with keys.
    let addrs = Arc::new([a.addr.clone(), b.addr.clone()]);
    let clients: Vec<_> = (0..32)
        .map(|c| {
            let (addrs, anna) = (addrs.clone(), anna.clone());
            std::thread::spawn(move || {
                (0..8)
                    .map(|i| {
                        let key = format!("two-{c}-{i}");
                        let failed = until_acknowledged(&addrs[..], c + i, &key, &anna);
                        assert_eq!(failed, (0, 0), "nothing fails while both instances and the database run");
                        key
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let acknowledged: BTreeSet<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert_eq!(acknowledged.len(), 32 * 8);
    let bytes = check_database(&url, &acknowledged);
    let head = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    // Every subscriber, on either instance, hears of every event once, in order, within 30 s.
    for sub in subs.iter_mut() {
        let ids = ids_within(sub, head as usize, std::time::Duration::from_secs(30));
        assert_eq!(ids, (1..=head).collect::<Vec<_>>());
    }
    // Each instance's folder holds the database's log, byte for byte, and the same books.
    for (server, folder) in [(&a, &a_dir), (&b, &b_dir)] {
        wait_for_head(server, head);
        assert_eq!(log_bytes(folder), bytes);
    }
    let balances = "/api/v1/forbund/sf-vastmanland/balances?as_of=2024-12-31";
    assert_eq!(a.call("GET", balances, Some(&anna), "").1, b.call("GET", balances, Some(&anna), "").1);
    // Each heard the database's notifications (LISTEN finsam_log), the hint to look at once.
    for server in [&a, &b] {
        assert!(metric(server, "finsam_database_notifications_total") > 0, "{} heard no notification", server.addr);
    }
    // A kansli of one förbund records nothing in another's books, on either instance.
    let other = keyed("other-forbund").replace("sf-vastmanland", "sf-vasteras");
    for server in [&a, &b] {
        assert_eq!(server.call("POST", "/api/v1/events", Some(&anna), &other).0, 403);
    }
    // A sign-in on one instance is valid on the other.
    let browser = Browser::sign_in(&a.addr, &anna);
    let page = browser.at(&b.addr).get("/f/sf-vastmanland");
    assert_eq!(page.status, 200, "{}", page.body);
    // A user added while both run can use both.
    let late = db_user(&url, "sen", "read", &["sf-vastmanland"]);
    for server in [&a, &b] {
        let ok = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            server.call("GET", balances, Some(&late), "").0 == 200
        });
        assert!(ok, "{} knows the new user", server.addr);
    }
    // Each instance's access log reaches the database under its own name, the same lines, and
    // `audit verify` checks each chain there; a changed row is found.
    let (a_name, a_lines) = access_in_database(&url, &a_dir);
    let (b_name, b_lines) = access_in_database(&url, &b_dir);
    assert_ne!(a_name, b_name);
    assert!(a_lines > 50 && b_lines > 50, "{a_lines} and {b_lines} requests logged");
    let o = finsam(Path::new("/nonexistent-store"), &["--database", &url, "--format", "json", "audit", "verify"], "");
    assert_exit(&o, 0);
    let verdict: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let logs = verdict["access_logs"].as_array().unwrap();
    let names: BTreeSet<&str> = logs.iter().map(|l| l["instance"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from([a_name.as_str(), b_name.as_str()]));
    assert!(logs.iter().all(|l| l["problem"].is_null() && l["lines"].as_u64().unwrap() > 50), "{logs:?}");
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let changed = client
        .execute(
            "UPDATE finsam_access SET line = replace(line, '\"status\":201', '\"status\":200') \
             WHERE instance = $1 AND seq = (SELECT min(seq) FROM finsam_access WHERE instance = $1 AND line LIKE '%\"status\":201%')",
            &[&a_name],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let o = verify_database(&url);
    assert_exit(&o, 1);
    assert!(
        stdout(&o).contains(&format!("access log of instance {a_name}: PROBLEM, line"))
            && stdout(&o).contains("the line was changed")
            && stdout(&o).contains(&format!("access log of instance {b_name}: {b_lines}")),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_kill_of_an_instance_under_load_loses_and_doubles_nothing_acknowledged() {
    let dir = TempDir::new("database-kill");
    let url = cluster().database("serve_kill");
    let root = db_user(&url, "root", "admin", &[]);
    let anna = db_user(&url, "anna", "kansli", &["sf-vastmanland"]);
    let (a_dir, b_dir) = (dir.0.join("a"), dir.0.join("b"));
    let a = instance(&a_dir, &url);
    let b = instance(&b_dir, &url);
    assert_eq!(b.call("POST", "/api/v1/events", Some(&root), &fixture("00-forbund.jsonl")).0, 201);
    let load = Load::start(&[&a, &b], &anna, 16, "kill");
    std::thread::sleep(std::time::Duration::from_millis(700));
    drop(a); // SIGKILL
    std::thread::sleep(std::time::Duration::from_millis(700));
    let (acknowledged, lost, _) = load.stop();
    let bytes = check_database(&url, &acknowledged);
    assert!(lost > 0, "the kill was felt (requests to the killed instance went unanswered)");
    eprintln!("kill -9: {} acknowledged, {lost} requests unanswered and retried", acknowledged.len());
    // Its folder is a copy of the database's log: nothing is recorded there alone.
    let o = finsam(&a_dir, &["record", "--as", "kansli", "-"], &keyed("only-here"));
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("is an instance's copy of the log in postgresql://"), "{}", stderr(&o));
    // The killed instance comes back, takes in what it missed, and holds the same log.
    let a = instance(&a_dir, &url);
    let head = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    wait_for_head(&a, head);
    assert_eq!(log_bytes(&a_dir), bytes);
    assert_eq!(a.call("POST", "/api/v1/events", Some(&anna), &keyed("after-the-kill")).0, 201);
    // Its access log in the database goes on where it stopped, the same chain as its folder's.
    access_in_database(&url, &a_dir);
}

#[test]
fn restarts_of_postgresql_under_the_service_lose_nothing_and_writes_meanwhile_are_503() {
    let own = finsam_store::pg_cluster::own_cluster("serve-restart");
    let dir = TempDir::new("database-restart");
    let url = own.database("serve_restart");
    let root = db_user(&url, "root", "admin", &[]);
    let anna = db_user(&url, "anna", "kansli", &["sf-vastmanland"]);
    let (a_dir, b_dir) = (dir.0.join("a"), dir.0.join("b"));
    let (a, b) = (instance(&a_dir, &url), instance(&b_dir, &url));
    assert_eq!(a.call("POST", "/api/v1/events", Some(&root), &fixture("00-forbund.jsonl")).0, 201);
    let web = Browser::sign_in(&a.addr, &anna);
    let load = Load::start(&[&a, &b], &anna, 8, "restart");
    std::thread::sleep(std::time::Duration::from_millis(500));
    // A fast shutdown, down for five seconds: writes are answered 503, reads go on.
    let own = Arc::new(own);
    let restarting = {
        let own = own.clone();
        std::thread::spawn(move || own.restart_after(libc::SIGINT, std::time::Duration::from_secs(5)))
    };
    std::thread::sleep(std::time::Duration::from_millis(800));
    let balances = "/api/v1/forbund/sf-vastmanland/balances?as_of=2024-12-31";
    let bearer = format!("Bearer {anna}");
    let read =
        |server: &Server| crate::security::http(&server.addr, "GET", balances, &[("Authorization", &bearer)], "");
    for server in [&a, &b] {
        let (status, body) = server.call("POST", "/api/v1/events", Some(&anna), &keyed("while-away"));
        assert_eq!(status, 503, "{body}");
        assert_eq!(read(server).status, 200, "reads go on");
    }
    // After more than three seconds without the database, reads can no longer be proven
    // current: each answer says so, with the event its books run to, and so does every page.
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    for server in [&a, &b] {
        let r = read(server);
        assert_eq!(r.status, 200, "reads go on");
        let said =
            r.header("finsam-unconfirmed").unwrap_or_else(|| panic!("{} says its books are unconfirmed", server.addr));
        assert!(said.starts_with("head=") && said.contains("; seconds="), "{said}");
    }
    let page = web.get("/f/sf-vastmanland");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Databasen har inte kunnat nås på"), "{}", page.body);
    restarting.join().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    // An immediate shutdown (a crash, as far as PostgreSQL is concerned), back at once.
    own.restart(libc::SIGQUIT);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (acknowledged, _, unavailable) = load.stop();
    assert!(unavailable > 0, "the writers met the outage");
    // Both instances recover by themselves, and their reads are proven current again.
    for (n, server) in [&a, &b].into_iter().enumerate() {
        assert_eq!(server.call("POST", "/api/v1/events", Some(&anna), &keyed(&format!("after-{n}"))).0, 201);
        assert_eq!(read(server).header("finsam-unconfirmed"), None);
    }
    assert!(!web.get("/f/sf-vastmanland").body.contains("Databasen har inte kunnat nås"));
    let mut all = acknowledged.clone();
    all.extend(["after-0".to_string(), "after-1".to_string()]);
    let bytes = check_database(&url, &all);
    let head = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    for (server, folder) in [(&a, &a_dir), (&b, &b_dir)] {
        wait_for_head(server, head);
        assert_eq!(log_bytes(folder), bytes);
    }
    // The access logs reach the database in the end, whole, in spite of the outage.
    for folder in [&a_dir, &b_dir] {
        access_in_database(&url, folder);
    }
    eprintln!("restarts: {} acknowledged, {unavailable} writes answered 503 and retried", acknowledged.len());
}

#[test]
fn an_underlag_kept_through_one_instance_is_served_by_the_other_and_kept_in_the_database() {
    let dir = TempDir::new("database-underlag");
    let url = cluster().database("serve_underlag");
    let root = db_user(&url, "root", "admin", &[]);
    let anna = db_user(&url, "anna", "kansli", &["sf-vastmanland"]);
    let (a_dir, b_dir) = (dir.0.join("a"), dir.0.join("b"));
    let (a, b) = (instance(&a_dir, &url), instance(&b_dir, &url));
    assert_eq!(a.call("POST", "/api/v1/events", Some(&root), &fixture("00-forbund.jsonl")).0, 201);
    assert_eq!(a.call("POST", "/api/v1/events", Some(&anna), &keyed("kvitto-1")).0, 201);
    let seq = log_json(&a_dir).len();
    // The kansli attaches a receipt to the contribution through instance A's web app.
    let web = Browser::sign_in(&a.addr, &anna);
    let pdf = "%PDF-1.4 kvitto från Sala kommun";
    let boundary = "finsamgrans";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"seq\"\r\n\r\n{seq}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"fil\"; filename=\"kvitto.pdf\"\r\nContent-Type: application/pdf\r\n\r\n{pdf}\r\n--{boundary}--\r\n",
        web.csrf
    );
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let r = crate::security::http(
        &a.addr,
        "POST",
        "/f/sf-vastmanland/underlag",
        &[("Cookie", &web.cookie), ("Content-Type", &content_type)],
        &body,
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let sha = finsam_store::underlag::sha256(pdf.as_bytes());
    // The database keeps the bytes; instance B fetches them and serves them.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let kept: Vec<u8> =
        client.query_one("SELECT bytes FROM finsam_underlag WHERE sha256 = $1", &[&sha]).unwrap().get(0);
    assert_eq!(kept, pdf.as_bytes());
    let on_b = web.at(&b.addr);
    let path = format!("/f/sf-vastmanland/underlag/{sha}");
    let mut served = on_b.get(&path);
    for _ in 0..60 {
        if served.status == 200 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        served = on_b.get(&path);
    }
    assert_eq!(served.status, 200, "{}", served.body);
    assert_eq!(served.body, pdf);
    assert_eq!(std::fs::read(b_dir.join("underlag").join(&sha)).unwrap(), pdf.as_bytes());
    // A copy of the database into a folder carries it too, and that folder verifies.
    let copied = dir.0.join("copied");
    assert_exit(&copy(&url, copied.to_str().unwrap()), 0);
    assert_eq!(std::fs::read(copied.join("underlag").join(&sha)).unwrap(), pdf.as_bytes());
    assert_exit(&finsam(&copied, &["audit", "verify"], ""), 0);
}

/// The warnings of one instance count what the others recorded: its advisor's cache follows
/// the events it takes in (neither missing them nor counting them twice).
#[test]
fn an_instance_warns_against_what_the_other_instances_recorded() {
    let dir = TempDir::new("database-warnings");
    let url = cluster().database("serve_warnings");
    let root = db_user(&url, "root", "admin", &[]);
    let (a_dir, b_dir) = (dir.0.join("a"), dir.0.join("b"));
    let (a, b) = (instance(&a_dir, &url), instance(&b_dir, &url));
    let setup = [
        r#"{"type":"ForbundRegistered","forbund":"sf-test","date":"2023-11-16","name":"SF Test","members":[{"id":"fk","name":"Försäkringskassan","kind":"staten","share":"0.25"},{"id":"af","name":"Arbetsförmedlingen","kind":"staten","share":"0.25"},{"id":"region","name":"Region Västmanland","kind":"region","share":"0.25"},{"id":"sala","name":"Sala kommun","kind":"kommun","share":"0.25"}]}"#,
        r#"{"type":"BudgetAdopted","forbund":"sf-test","date":"2023-11-16","year":2024,"decision":{"body":"styrelsen","date":"2023-11-16","paragraph":"§ 4"},"income":[{"id":"bidrag","name":"Medlemsbidrag","amount":"200000"}],"costs":[{"id":"kansli","name":"Kansli","category":"admin","amount":"200000"}]}"#,
    ]
    .join("\n");
    assert_eq!(a.call("POST", "/api/v1/events", Some(&root), &setup).0, 201);
    let cost = |server: &Server, key: &str, amount: &str| -> Vec<String> {
        let event = format!(
            r#"{{"type":"CostRecorded","forbund":"sf-test","date":"2024-03-01","year":2024,"line":"kansli","amount":"{amount}","reference":"{key}","text":"Faktura","idempotency_key":"{key}"}}"#
        );
        let (status, body) = server.call("POST", "/api/v1/events", Some(&root), &event);
        assert_eq!(status, 201, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["warnings"].as_array().unwrap().iter().map(|w| w["rule"].as_str().unwrap().to_string()).collect()
    };
    let head = |n: u64| log_json(&a_dir).len() as u64 + n;
    wait_for_head(&b, head(0));
    assert!(cost(&b, "b-1", "100000").is_empty(), "B: 100 000 of 200 000");
    assert!(cost(&a, "a-1", "60000").is_empty(), "A: 160 000 of 200 000");
    wait_for_head(&b, head(0));
    // B has taken in A's cost: 190 000 is within the budget (counting A's twice would not be),
    assert!(cost(&b, "b-2", "30000").is_empty(), "B: 190 000 of 200 000");
    // and 210 000 is over it (missing A's would not be).
    assert_eq!(cost(&b, "b-3", "20000"), ["line_over_budget"], "B: 210 000 of 200 000");
    assert_eq!(cost(&a, "a-2", "1"), ["line_over_budget"], "A too: 210 000,01");
}

/// An instance whose write found the database away, and which then writes nothing more, still
/// takes in what another instance commits once the database is back (a writer that could not
/// connect to lock the head must not stay locked: it would never look again, and would call its
/// stale books current).
#[test]
fn an_idle_instance_follows_the_others_after_an_outage_refused_its_write() {
    let own = finsam_store::pg_cluster::own_cluster("idle-follow");
    let dir = TempDir::new("database-idle-follow");
    let url = own.database("idle_follow");
    let root = db_user(&url, "root", "admin", &[]);
    let anna = db_user(&url, "anna", "kansli", &["sf-vastmanland"]);
    let (a_dir, b_dir) = (dir.0.join("a"), dir.0.join("b"));
    let (a, b) = (instance(&a_dir, &url), instance(&b_dir, &url));
    assert_eq!(a.call("POST", "/api/v1/events", Some(&root), &fixture("00-forbund.jsonl")).0, 201);
    let own = Arc::new(own);
    let restarting = {
        let own = own.clone();
        std::thread::spawn(move || own.restart_after(libc::SIGINT, std::time::Duration::from_secs(3)))
    };
    std::thread::sleep(std::time::Duration::from_millis(800));
    let (status, body) = a.call("POST", "/api/v1/events", Some(&anna), &keyed("while-away"));
    assert_eq!(status, 503, "{body}");
    restarting.join().unwrap();
    // B records (retried while it finds its way back to the database); A writes nothing.
    let recorded = (0..50).any(|_| {
        let ok = b.call("POST", "/api/v1/events", Some(&anna), &keyed("from-b")).0 == 201;
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        ok
    });
    assert!(recorded, "B records once the database is back");
    let head = log_bytes(&b_dir).iter().filter(|c| **c == b'\n').count() as u64;
    wait_for_head(&b, head);
    wait_for_head(&a, head);
    assert_eq!(log_bytes(&a_dir), log_bytes(&b_dir));
}
