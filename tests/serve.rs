//! `finsam serve`: the store as a service. Every route with every role, the same JSON as the
//! CLI, recorded_by the authenticated user, the access log a verifiable chain, a clean stop.

use crate::support::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running server on a free port of the loopback.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
}

impl Server {
    pub(crate) fn start(store: &Path) -> Server {
        Server::start_with(store, &[])
    }

    pub(crate) fn start_with(store: &Path, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(FINSAM);
        if !env.iter().any(|(k, _)| *k == "FINSAM_DATABASE") {
            if let Some(url) = crate::support::database_for(store) {
                command.env("FINSAM_DATABASE", url);
            }
        }
        let mut child = crate::support::in_english(&mut command)
            .envs(env.iter().copied())
            .arg("--store")
            .arg(store)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("FINSAM_STORE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("finsam serve runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("the server says where it listens: {line:?}"))
            .to_string();
        Server { child, addr }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One HTTP/1.1 request; the status and the body (as text).
    pub(crate) fn call(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        let (status, bytes) = self.call_bytes(method, path, token, body);
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// One HTTP/1.1 request; the status and the body's bytes.
    fn call_bytes(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        s.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("headers end");
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let status: u16 = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("a status line");
        let rest = &raw[end + 4..];
        let body = if head.contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_vec() };
        (status, body)
    }

    /// SIGTERM, as a service manager stops it; the exit status.
    pub(crate) fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(at) = rest.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&rest[..at]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        let after = &rest[at + 2..];
        out.extend_from_slice(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}

pub(crate) fn token(store: &Path, name: &str, role: &str, forbund: &[&str]) -> String {
    let mut args = vec!["--format", "json", "user", "add", name, "--role", role, "--by", "test"];
    for f in forbund {
        args.extend(["--forbund", f]);
    }
    let o = finsam(store, &args, "");
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["token"].as_str().unwrap().to_string()
}

fn contribution_line(n: usize) -> String {
    format!(
        r#"{{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-12-20","member":"sala","year":2024,"amount":"1","reference":"serve {n}","idempotency_key":"serve-{n}"}}"#
    )
}

#[test]
fn every_route_answers_every_role_as_its_rights_say_and_every_request_is_in_the_access_log() {
    let dir = TempDir::new("serve-matrix");
    let store = fixture_store(&dir);
    let users = [
        ("admin", token(&store, "admin", "admin", &[])),
        ("kansli", token(&store, "anna", "kansli", &["sf-vastmanland"])),
        ("kansli-other", token(&store, "olle", "kansli", &["sf-vasteras"])),
        ("revisor", token(&store, "rut", "revisor", &["sf-vastmanland"])),
        ("read", token(&store, "styrelsen", "read", &["sf-vastmanland"])),
    ];
    let server = Server::start(&store);
    let f = "/api/v1/forbund/sf-vastmanland";
    let routes: Vec<(&str, String)> = vec![
        ("GET", "/healthz".into()),
        ("GET", format!("{f}/balances?as_of=2024-12-31")),
        ("GET", format!("{f}/budget/2024?as_of=2024-12-31")),
        ("GET", format!("{f}/audit/trail?from=2024-12-01")),
        ("GET", "/api/v1/reconcile?merger=sf-vastmanland&as_of=2024-12-31".into()),
        ("GET", "/api/v1/reconcile?as_of=2024-12-31".into()),
        ("GET", "/api/v1/log?from=1&to=3".into()),
        ("GET", "/api/v1/audit/verify".into()),
        ("POST", "/api/v1/events".into()),
        ("GET", format!("{f}/audit/explain?account=1930&as_of=2024-12-31")),
        ("GET", format!("{f}/export/sie/2024")),
        ("GET", format!("{f}/export/journal?year=2024")),
        ("GET", format!("{f}/export/beancount?year=2024")),
        ("GET", "/api/v1/audit/digest".into()),
        ("GET", format!("{f}/bundle/2024")),
    ];
    // Expected status per route, for: none, a bad token, admin, kansli, kansli of another
    // förbund, revisor, read-only.
    let expected: [[u16; 7]; 15] = [
        [200, 200, 200, 200, 200, 200, 200],
        [401, 401, 200, 200, 403, 200, 200],
        [401, 401, 200, 200, 403, 200, 200],
        [401, 401, 200, 200, 403, 200, 200],
        [401, 401, 200, 200, 403, 200, 200],
        [401, 401, 200, 403, 403, 200, 403],
        [401, 401, 200, 403, 403, 200, 403],
        [401, 401, 200, 403, 403, 200, 403],
        [401, 401, 201, 201, 403, 403, 403],
        [401, 401, 200, 200, 403, 200, 200],
        [401, 401, 200, 200, 403, 200, 403],
        [401, 401, 200, 200, 403, 200, 403],
        [401, 401, 200, 200, 403, 200, 403],
        [401, 401, 200, 403, 403, 200, 403],
        [401, 401, 200, 200, 403, 200, 403],
    ];
    let mut who: Vec<(&str, Option<String>)> = vec![("none", None), ("bad", Some("fs_not-a-token".into()))];
    who.extend(users.iter().map(|(n, t)| (*n, Some(t.clone()))));
    let mut calls = 0;
    for (r, (method, path)) in routes.iter().enumerate() {
        for (u, (name, tok)) in who.iter().enumerate() {
            calls += 1;
            let body = if *method == "POST" { contribution_line(calls) } else { String::new() };
            let (status, text) = server.call(method, path, tok.as_deref(), &body);
            assert_eq!(status, expected[r][u], "{method} {path} as {name}: {text}");
            if status >= 400 {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: {text}"));
                assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{path} as {name}: {text}");
            }
        }
    }
    // A token in the query string is not a token.
    let (status, _) = server.call("GET", &format!("{f}/balances?access_token={}", users[1].1), None, "");
    assert_eq!(status, 401);
    calls += 1;
    // Ids that are not slugs, and paths that climb, never reach a report.
    for path in
        ["/api/v1/forbund/..%2F..%2Fetc/balances", "/api/v1/forbund/SF%20X/balances", "/api/v1/forbund/sf-x/budget/abc"]
    {
        let (status, _) = server.call("GET", path, Some(&users[0].1), "");
        assert!((400..500).contains(&status), "{path}: {status}");
        calls += 1;
    }
    // Every request is in the access log, which verifies.
    let (status, v) = server.call("GET", "/api/v1/audit/verify", Some(&users[0].1), "");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let access = std::fs::read_to_string(store.join("access.jsonl")).unwrap();
    // A line per request, and before each batch's events were written, a line naming who
    // records which seqs (202); each is followed by its request's own line (201, the same seqs).
    let lines: Vec<serde_json::Value> = access.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let intents: Vec<&serde_json::Value> = lines.iter().filter(|l| l["status"] == 202).collect();
    assert_eq!(v["access_log"]["lines"], calls + intents.len(), "{v}");
    assert!(!intents.is_empty());
    for i in intents {
        let answered = lines.iter().find(|l| l["status"] == 201 && l["seqs"] == i["seqs"]);
        assert!(answered.is_some_and(|a| a["seq"].as_u64() > i["seq"].as_u64() && a["user"] == i["user"]), "{i}");
    }
    let refused = access.lines().filter(|l| l.contains("\"status\":403") && l.contains("\"user\":\"olle\"")).count();
    let olles = expected.iter().filter(|statuses| statuses[4] == 403).count();
    assert!(olles >= 13, "the kansli of another förbund is refused nearly everywhere");
    assert_eq!(refused, olles, "olle's refusals are logged with his name");
    assert!(access
        .lines()
        .any(|l| l.contains("\"user\":\"anna\"") && l.contains("\"status\":201") && l.contains("\"seqs\":[")));
    assert!(server.stop().success(), "a clean stop");
}

#[test]
fn the_api_gives_the_cli_json_and_records_as_the_authenticated_user() {
    let dir = TempDir::new("serve-same");
    let store = fixture_store(&dir);
    let anna = token(&store, "anna", "kansli", &["sf-vastmanland"]);
    let server = Server::start(&store);
    // Recorded by anna, whatever the request says; a refused batch names line, field and rule.
    let (status, body) = server.call("POST", "/api/v1/events", Some(&anna), &contribution_line(1));
    assert_eq!(status, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let seq = v["recorded"][0]["seq"].as_u64().unwrap();
    let bad = r#"[{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-12-20","member":"nobody","year":2024,"amount":"1","reference":"x"}]"#;
    let (status, body) = server.call("POST", "/api/v1/events", Some(&anna), bad);
    assert_eq!(status, 422, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["problems"][0]["line"].as_u64(), v["problems"][0]["rule"].as_str()),
        (Some(1), Some("member_unknown"))
    );
    let (status, _) = server.call("POST", "/api/v1/events?expect_head=3", Some(&anna), &contribution_line(2));
    assert_eq!(status, 409);
    let log = log_json(&store);
    assert_eq!(log[seq as usize - 1]["recorded_by"], "anna");
    // Every report: the API's body is the CLI's output, byte for byte.
    let f = "sf-vastmanland";
    let pairs: Vec<(String, Vec<&str>)> = vec![
        (
            format!("/api/v1/forbund/{f}/balances?as_of=2024-12-31"),
            vec!["balances", "--forbund", f, "--as-of", "2024-12-31"],
        ),
        (
            format!("/api/v1/forbund/{f}/balances?as_of=2024-06-30&known_at=200"),
            vec!["balances", "--forbund", f, "--as-of", "2024-06-30", "--known-at", "200"],
        ),
        (
            format!("/api/v1/forbund/{f}/budget/2024?as_of=2024-12-31"),
            vec!["budget", "--forbund", f, "--year", "2024", "--as-of", "2024-12-31"],
        ),
        (
            format!("/api/v1/forbund/{f}/audit/trail?from=2024-03-01&to=2024-03-31"),
            vec!["audit", "trail", "--forbund", f, "--from", "2024-03-01", "--to", "2024-03-31"],
        ),
        // With the contribution recorded above (the service's books took it in while serving).
        (
            format!("/api/v1/forbund/{f}/audit/trail?from=2024-12-01"),
            vec!["audit", "trail", "--forbund", f, "--from", "2024-12-01"],
        ),
        (
            format!("/api/v1/reconcile?merger={f}&as_of=2024-12-31"),
            vec!["reconcile", "--merger", f, "--as-of", "2024-12-31"],
        ),
    ];
    for (path, args) in pairs {
        let (status, body) = server.call("GET", &path, Some(&anna), "");
        assert_eq!(status, 200, "{path}: {body}");
        let cli = finsam(&store, &[&["--format", "json"], &args[..]].concat(), "");
        assert_eq!(body, stdout(&cli), "{path} and `finsam {}`", args.join(" "));
    }
    let (status, body) = server.call(
        "GET",
        &format!("/api/v1/forbund/{f}/audit/explain?account=1930&as_of=2024-12-31"),
        Some(&anna),
        "",
    );
    assert_eq!(status, 200);
    let cli = finsam(
        &store,
        &["--format", "json", "audit", "explain", "--forbund", f, "--account", "1930", "--as-of", "2024-12-31"],
        "",
    );
    assert_eq!(body, stdout(&cli), "explain");
    let (status, body) = server.call("GET", &format!("/api/v1/forbund/{f}/export/journal"), Some(&anna), "");
    assert_eq!(status, 200);
    assert_eq!(body, stdout(&finsam(&store, &["export", "journal", "--forbund", f], "")), "journal");
    let (status, sie) = server.call_bytes("GET", &format!("/api/v1/forbund/{f}/export/sie/2024"), Some(&anna), "");
    assert_eq!(status, 200);
    let file = dir.0.join("v.se");
    assert_exit(&finsam(&store, &["export", "sie", "--forbund", f, "--year", "2024", file.to_str().unwrap()], ""), 0);
    assert_eq!(sie, std::fs::read(&file).unwrap(), "SIE, byte for byte");
    // The bundle: the zip holds the files `finsam audit bundle` writes, byte for byte, in a
    // folder named after the förbund, the year and the head; asked twice, the same zip.
    let path = format!("/api/v1/forbund/{f}/bundle/2024");
    let (status, zipped) = server.call_bytes("GET", &path, Some(&anna), "");
    assert_eq!(status, 200);
    assert_eq!(server.call_bytes("GET", &path, Some(&anna), "").1, zipped, "the same log gives the same zip");
    let folder = dir.0.join("bundle");
    assert_exit(
        &finsam(&store, &["audit", "bundle", "--forbund", f, "--year", "2024", folder.to_str().unwrap()], ""),
        0,
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zipped)).expect("a zip file");
    let head = log_json(&store).len();
    let top = format!("finsam-{f}-2024-{head}/");
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().expect("a UTF-8 name").to_string();
        let inside = name.strip_prefix(&top).unwrap_or_else(|| panic!("{name} is under {top}"));
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, std::fs::read(folder.join(inside)).unwrap(), "{inside} as the CLI writes it");
        names.push(inside.to_string());
    }
    let mut on_disk = Vec::new();
    let mut stack = vec![folder.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                on_disk.push(p.strip_prefix(&folder).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    on_disk.sort();
    assert_eq!(names, on_disk, "the same files");
    let (status, _) = server.call("GET", "/api/v1/audit/digest", Some(&anna), "");
    assert_eq!(status, 403, "the digest is the revisor's");
    // An unknown förbund or year is 404, a malformed date 400.
    assert_eq!(server.call("GET", &format!("/api/v1/forbund/{f}/budget/2031"), Some(&anna), "").0, 404);
    assert_eq!(server.call("GET", &format!("/api/v1/forbund/{f}/balances?as_of=2024-02-30"), Some(&anna), "").0, 400);
    assert!(server.stop().success());
    // After the stop the store opens, and the event recorded through the API is in it once.
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
    assert_eq!(log_json(&store).iter().filter(|e| e["recorded_by"] == "anna").count(), 1);
}

/// Reads Server-Sent Events from a raw connection until `count` ids have come.
fn read_events(s: &mut BufReader<TcpStream>, count: usize) -> Vec<(u64, serde_json::Value)> {
    let mut out = Vec::new();
    let mut id = None;
    let mut line = String::new();
    while out.len() < count {
        line.clear();
        assert!(s.read_line(&mut line).unwrap() > 0, "the stream ended early");
        let l = line.trim_end();
        // Chunk sizes of the transfer encoding are lines of hex digits: skip them.
        if let Some(v) = l.strip_prefix("id:") {
            id = Some(v.trim().parse::<u64>().unwrap());
        } else if let Some(data) = l.strip_prefix("data:") {
            out.push((id.take().expect("an id before the data"), serde_json::from_str(data.trim()).unwrap()));
        }
    }
    out
}

pub(crate) fn open_subscription(
    server: &Server,
    token: &str,
    query: &str,
    last_id: Option<u64>,
) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(&server.addr).unwrap();
    let resume = last_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
    let request = format!(
        "GET /api/v1/subscribe{query} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{resume}Accept: text/event-stream\r\n\r\n"
    );
    s.write_all(request.as_bytes()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.contains(" 200 "), "{status}");
    r
}

#[test]
fn a_subscriber_catches_up_then_follows_live_and_resumes_without_gap_or_duplicate() {
    let dir = TempDir::new("serve-subscribe");
    let store = fixture_store(&dir);
    let head = log_json(&store).len() as u64;
    let rut = token(&store, "rut", "revisor", &["sf-vastmanland"]);
    let anna = token(&store, "anna", "kansli", &["sf-vastmanland"]);
    let server = Server::start(&store);
    // From the last three recorded events on, then live.
    let mut sub = open_subscription(&server, &rut, &format!("?from={}", head - 2), None);
    let caught_up = read_events(&mut sub, 3);
    assert_eq!(caught_up.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![head - 2, head - 1, head]);
    assert_eq!(caught_up[2].1["seq"], head);
    for n in 1..=2 {
        assert_eq!(server.call("POST", "/api/v1/events", Some(&anna), &contribution_line(n)).0, 201);
    }
    let live = read_events(&mut sub, 2);
    assert_eq!(live.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![head + 1, head + 2]);
    assert_eq!(live[1].1["recorded_by"], "anna");
    drop(sub);
    // Disconnected after head + 1; one more is recorded meanwhile; resuming gives head + 2 and
    // head + 3, nothing twice and nothing missing.
    assert_eq!(server.call("POST", "/api/v1/events", Some(&anna), &contribution_line(3)).0, 201);
    let mut again = open_subscription(&server, &rut, "", Some(head + 1));
    let resumed = read_events(&mut again, 2);
    assert_eq!(resumed.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![head + 2, head + 3]);
    // The metrics count what happened: three events, each made durable by an fdatasync, three
    // answered POSTs, and the subscription still open.
    let (status, metrics) = server.call("GET", "/metrics", None, "");
    assert_eq!(status, 200);
    let value = |name: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(name) && !l.starts_with('#'));
        let line = line.unwrap_or_else(|| panic!("{name} in the metrics:\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("finsam_events_appended_total "), 3.0);
    assert_eq!(value("finsam_batches_total "), 3.0);
    let syncs = value("finsam_fdatasync_seconds_count ");
    if on_database() {
        // The database's commit makes a group durable; the folder's copy is not synced.
        let groups = value("finsam_group_commits_total ");
        assert!(
            (1.0..=3.0).contains(&groups) && syncs == 0.0,
            "one commit per group, 1 to 3 groups: {groups}, {syncs}"
        );
    } else {
        assert!((1.0..=3.0).contains(&syncs), "one fdatasync per group, 1 to 3 groups: {syncs}");
        assert_eq!(value("finsam_group_commits_total "), syncs);
    }
    assert_eq!(value("finsam_request_seconds_count{method=\"POST\",route=\"/api/v1/events\",status=\"201\"} "), 3.0);
    assert!(value("finsam_subscribers ") >= 1.0, "the open subscription counts");
    assert!(value("finsam_connections ") >= 2.0, "the subscriptions' connections and this one");
    assert_eq!(value("finsam_log_head ") as u64, head + 3, "the head readers see");
    assert_eq!(value(&format!("finsam_build_info{{version=\"{}\"}} ", env!("CARGO_PKG_VERSION"))), 1.0);
    assert!(value("process_cpu_seconds ") > 0.0);
    assert!(value("process_max_resident_memory_bytes ") > 1_000_000.0);
    assert!(value("process_start_time_seconds ") > 1.7e9);
    // A subscription does not keep the server from stopping.
    assert!(server.stop().success());
}

/// One request, or `None` when the connection failed or broke (the server was killed).
pub(crate) fn try_call(addr: &str, body: &str, token: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).ok()?;
    let request = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    String::from_utf8_lossy(&raw).split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn killed_under_load_the_server_loses_nothing_acknowledged_and_retries_never_duplicate() {
    let dir = TempDir::new("serve-kill");
    let store = fixture_store(&dir);
    let anna = token(&store, "anna", "kansli", &["sf-vastmanland"]);
    let rounds = std::env::var("FINSAM_KILL_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5u64);
    let mut acknowledged: std::collections::BTreeSet<String> = Default::default();
    let mut unanswered: Vec<String> = Vec::new();
    for round in 0..rounds {
        let server = Server::start(&store);
        // Retries first: every request left unanswered by the last kill, with its own key.
        for key in std::mem::take(&mut unanswered) {
            let n: usize = key.trim_start_matches("serve-").parse().unwrap();
            assert_eq!(try_call(&server.addr, &contribution_line(n), &anna), Some(201), "a retry of {key}");
            acknowledged.insert(key);
        }
        // Eight clients record as fast as they are answered; the server is killed at a moment
        // that differs from round to round.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients: Vec<_> = (0..8)
            .map(|c| {
                let (addr, token, stop) = (server.addr.clone(), anna.clone(), stop.clone());
                std::thread::spawn(move || {
                    let (mut ok, mut lost) = (Vec::new(), Vec::new());
                    let mut i = 0;
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        i += 1;
                        let n = 1_000_000 * (round as usize + 1) + 1000 * c + i;
                        match try_call(&addr, &contribution_line(n), &token) {
                            Some(201) => ok.push(format!("serve-{n}")),
                            Some(status) => panic!("status {status} for serve-{n}"),
                            None => {
                                lost.push(format!("serve-{n}"));
                                break;
                            }
                        }
                    }
                    (ok, lost)
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(150 + 97 * round % 400));
        let mut server = server;
        server.child.kill().unwrap(); // SIGKILL: no chance to save anything
        server.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for c in clients {
            let (ok, lost) = c.join().unwrap();
            acknowledged.extend(ok);
            unanswered.extend(lost);
        }
    }
    // Every acknowledged event is in the log exactly once; the chain and the access log verify.
    let server = Server::start(&store);
    for key in std::mem::take(&mut unanswered) {
        let n: usize = key.trim_start_matches("serve-").parse().unwrap();
        assert_eq!(try_call(&server.addr, &contribution_line(n), &anna), Some(201));
        acknowledged.insert(key);
    }
    assert!(server.stop().success());
    let keys: Vec<String> =
        log_json(&store).iter().filter_map(|e| e["event"]["idempotency_key"].as_str().map(str::to_string)).collect();
    let in_log: std::collections::BTreeSet<&String> = keys.iter().filter(|k| k.starts_with("serve-")).collect();
    assert_eq!(in_log.len(), keys.iter().filter(|k| k.starts_with("serve-")).count(), "no key twice");
    for key in &acknowledged {
        assert!(in_log.contains(key), "acknowledged {key} is in the log");
    }
    assert!(acknowledged.len() as u64 > rounds * 8, "the clients recorded under load ({})", acknowledged.len());
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
    if let Some(url) = instance_database(&store) {
        // On a database the record is the database's: the folder is its copy, byte for byte.
        assert_eq!(finsam_store::copy::database_log_bytes(&url).unwrap(), log_bytes(&store));
    }
    let report = finsam_store::access::verify_access(&store).unwrap();
    assert_eq!(report.problem, None);
    // Every event the service recorded — acknowledged or cut off by a kill — has a line in the
    // access log naming who recorded it: that line is written before the event is.
    let access = std::fs::read_to_string(store.join("access.jsonl")).unwrap();
    let logged: std::collections::BTreeSet<u64> = access
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["user"] == "anna")
        .flat_map(|l| l["seqs"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect::<Vec<_>>())
        .collect();
    for e in log_json(&store).iter().filter(|e| e["recorded_by"] == "anna") {
        let seq = e["seq"].as_u64().unwrap();
        assert!(logged.contains(&seq), "event {seq}, recorded by anna, has its line in the access log");
    }
}

#[test]
fn the_openapi_document_names_exactly_the_routes_the_server_serves() {
    let dir = TempDir::new("serve-openapi");
    let store = fixture_store(&dir);
    let server = Server::start(&store);
    let (status, body) = server.call("GET", "/api/v1/openapi.json", None, "");
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    // The repository's copy is what is served (regenerate it with `finsam serve --openapi`).
    let copy = std::fs::read_to_string(root().join("events/openapi.json")).unwrap();
    assert!(
        copy == body,
        "events/openapi.json is stale: cargo run --bin finsam -- serve --openapi > events/openapi.json"
    );
    let outside: Vec<&str> = body
        .split("\"$ref\": \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|r| !r.starts_with('#'))
        .collect();
    assert!(outside.is_empty(), "no reference leads outside the document: {outside:?}");
    let documented: std::collections::BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let source = std::fs::read_to_string(root().join("crates/finsam-server/src/lib.rs")).unwrap();
    let served: std::collections::BTreeSet<String> = source
        .lines()
        .filter_map(|l| l.trim().strip_prefix(".route(\""))
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(documented, served);
    // Every documented route answers (with a token where one is needed) — none is a 404 of the router.
    let admin = token(&store, "admin", "admin", &[]);
    for path in &documented {
        let concrete =
            path.replace("{id}", "sf-vastmanland").replace("{year}", "2024").replace("{name}", "event.schema.json");
        let query = if concrete.ends_with("explain") { "?account=1930" } else { "" };
        if concrete.ends_with("/events") || concrete.ends_with("/subscribe") {
            continue;
        }
        let (status, body) = server.call("GET", &format!("{concrete}{query}"), Some(&admin), "");
        assert_eq!(status, 200, "{path}: {body}");
    }
}

#[test]
fn a_user_added_or_revoked_while_the_server_runs_counts_from_the_next_request() {
    let dir = TempDir::new("serve-users");
    let store = fixture_store(&dir);
    let server = Server::start(&store);
    let path = "/api/v1/forbund/sf-vastmanland/balances";
    let anna = token(&store, "anna", "kansli", &["sf-vastmanland"]);
    assert_eq!(server.call("GET", path, Some(&anna), "").0, 200);
    assert_exit(&finsam(&store, &["user", "revoke", "anna", "--by", "test"], ""), 0);
    if on_database() {
        // On a database the revocation reaches each instance on the database's notification
        // (its copy of the users is brought up to date at once): within milliseconds, not at
        // the very next request.
        let started = std::time::Instant::now();
        while server.call("GET", path, Some(&anna), "").0 != 401 {
            assert!(started.elapsed() < std::time::Duration::from_secs(2), "the revocation counts within 2 s");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        eprintln!("the revocation counted after {:?}", started.elapsed());
    }
    assert_eq!(server.call("GET", path, Some(&anna), "").0, 401);
    let users = std::fs::read_to_string(store.join("users.jsonl")).unwrap();
    assert!(users.contains("\"action\":\"revoke\"") && users.contains("\"by\":\"test\"") && !users.contains(&anna));
}

#[test]
fn slow_clients_idle_connections_and_huge_bodies_never_block_the_others() {
    let dir = TempDir::new("serve-hostile");
    let store = fixture_store(&dir);
    let anna = token(&store, "anna", "kansli", &["sf-vastmanland"]);
    let server = Server::start_with(&store, &[("FINSAM_REQUEST_TIMEOUT", "1")]);
    // A thousand connections that say nothing.
    let idle: Vec<TcpStream> = (0..1000).filter_map(|_| TcpStream::connect(&server.addr).ok()).collect();
    assert!(idle.len() >= 900, "{} idle connections", idle.len());
    // A body that trickles in: a tenth of it, then nothing.
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {anna}\r\nContent-Length: 1000\r\n\r\n{{\"type\""
    );
    slow.write_all(head.as_bytes()).unwrap();
    // Meanwhile everyone else is answered.
    let started = std::time::Instant::now();
    let (status, _) = server.call("GET", "/api/v1/forbund/sf-vastmanland/balances", Some(&anna), "");
    assert_eq!(status, 200);
    assert_eq!(server.call("POST", "/api/v1/events", Some(&anna), &contribution_line(1)).0, 201);
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "not held up by the slow client");
    // The slow one is answered 408 once its time is up, and nothing of it is recorded.
    slow.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // A body declared over the limit (64 MiB) is refused with 413 at once — before a byte of it
    // is sent — and nothing is recorded.
    let head_before = log_json(&store).len();
    let mut huge = TcpStream::connect(&server.addr).unwrap();
    huge.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {anna}\r\nContent-Length: {}\r\n\r\n",
        65 << 20
    );
    huge.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = huge.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(log_json(&store).len(), head_before);
    drop(idle);
    assert!(server.stop().success());
}

/// A client generated by `openapi-python-client` (PyPI) from the served document has every
/// operation, and records an event and reads it back with it: the document is whole and says
/// what the answers are. Skipped when the generator is not installed, unless CI or
/// `FINSAM_REQUIRE_OPENAPI_CLIENT` is set (`.ci/run` installs it beside schemathesis);
/// `FINSAM_OPENAPI_PYTHON_CLIENT` names the program, and the client runs with the Python beside it.
#[test]
fn a_generated_python_client_records_an_event_and_reads_it_back() {
    let program = std::env::var("FINSAM_OPENAPI_PYTHON_CLIENT").unwrap_or_else(|_| "openapi-python-client".into());
    let present = Command::new(&program).arg("--version").output().is_ok_and(|o| o.status.success());
    if !tool_present(present, &program, "FINSAM_REQUIRE_OPENAPI_CLIENT", "pip install openapi-python-client") {
        return;
    }
    let python = Path::new(&program).parent().map(|d| d.join("python3")).filter(|p| p.exists());
    let python = python.map_or_else(|| "python3".into(), |p| p.display().to_string());
    let dir = TempDir::new("serve-client");
    let store = fixture_store(&dir);
    let kansli = token(&store, "anna", "kansli", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let (status, body) = server.call("GET", "/api/v1/openapi.json", None, "");
    assert_eq!(status, 200);
    std::fs::write(dir.0.join("openapi.json"), &body).unwrap();
    let out = Command::new(&program)
        .args(["generate", "--meta", "none", "--output-path"])
        .arg(dir.0.join("client"))
        .arg("--path")
        .arg(dir.0.join("openapi.json"))
        .output()
        .expect("openapi-python-client runs");
    let log = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    // Every operation of the document is a module of the client.
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    for ops in doc["paths"].as_object().unwrap().values() {
        for op in ops.as_object().unwrap().values() {
            let id = op["operationId"].as_str().unwrap();
            let snake: String = id
                .chars()
                .flat_map(|c| if c.is_ascii_uppercase() { vec!['_', c.to_ascii_lowercase()] } else { vec![c] })
                .collect();
            let tag = op["tags"][0].as_str().unwrap();
            let module = dir.0.join("client/api").join(tag).join(format!("{snake}.py"));
            assert!(module.exists(), "the client has {id} ({}):\n{log}", module.display());
        }
    }
    assert!(!log.contains("will not be generated"), "{log}");
    let run = Command::new(&python)
        .arg(root().join("tests/openapi_client.py"))
        .arg(&dir.0)
        .arg(format!("http://{}", server.addr))
        .arg(&kansli)
        .output()
        .expect("python runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(seen["record_status"], 201, "{seen}");
    assert_eq!(seen["trail_type"], "ContributionReceived", "{seen}");
    assert_eq!(seen["recorded_by"], "anna", "{seen}");
    assert!(seen["trail_summary"].as_str().unwrap().contains("123,45 kr"), "{seen}");
    assert_eq!(seen["head"], seen["seq"], "{seen}");
    let (_, balances) =
        server.call("GET", "/api/v1/forbund/sf-vastmanland/balances?as_of=2024-12-31", Some(&kansli), "");
    let v: serde_json::Value = serde_json::from_str(&balances).unwrap();
    assert_eq!(seen["bank"], v["bank"], "the client reads the same bank balance as the API gives");
    let (_, budget) =
        server.call("GET", "/api/v1/forbund/sf-vastmanland/budget/2024?as_of=2024-12-31", Some(&kansli), "");
    let b: serde_json::Value = serde_json::from_str(&budget).unwrap();
    assert_eq!(seen["budget_result"], b["result"], "{seen}");
    assert_eq!(seen["budget_admin_spent"], b["costs"]["by_category"]["admin"]["spent"], "{seen}");
    let (_, reconciled) =
        server.call("GET", "/api/v1/reconcile?merger=sf-vastmanland&as_of=2024-12-31", Some(&kansli), "");
    let r: serde_json::Value = serde_json::from_str(&reconciled).unwrap();
    let rows: Vec<&serde_json::Value> =
        r["mergers"][0]["rows"].as_array().unwrap().iter().map(|x| &x["from"]).collect();
    assert_eq!(rows.len(), 3, "{reconciled}");
    assert_eq!(seen["reconcile_rows"].as_array().unwrap().iter().collect::<Vec<_>>(), rows, "{seen}");
}

/// Schemathesis (from PyPI) generates requests from the OpenAPI document — valid ones and
/// broken ones, for every route — and checks each answer: never a server error, only the
/// documented statuses and content types, bodies as documented. A short run here (30 s, a fixed
/// seed; `FINSAM_FUZZ_SECONDS` and `FINSAM_FUZZ_SEED` for a long one by hand). Skipped when
/// schemathesis is not installed, unless `FINSAM_REQUIRE_SCHEMATHESIS` is set, as CI sets it
/// (`.ci/run` installs it); `FINSAM_SCHEMATHESIS` names the program.
#[test]
fn the_api_answers_whatever_schemathesis_generates_from_its_openapi_document() {
    let program = std::env::var("FINSAM_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let present = Command::new(&program).arg("--version").output().is_ok_and(|o| o.status.success());
    if !tool_present(present, &program, "FINSAM_REQUIRE_SCHEMATHESIS", "pip install schemathesis") {
        return;
    }
    let dir = TempDir::new("serve-fuzz");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let seconds = std::env::var("FINSAM_FUZZ_SECONDS").unwrap_or_else(|_| "30".into());
    let seed = std::env::var("FINSAM_FUZZ_SEED").unwrap_or_else(|_| "1".into());
    let base = format!("http://{}", server.addr);
    let out = Command::new(&program)
        .args(["run", &format!("{base}/api/v1/openapi.json"), "--url", &base])
        .args(["-H", &format!("Authorization: Bearer {admin}")])
        .args(["--max-time", &seconds, "--seed", &seed, "--workers", "1", "--no-color"])
        .args(["-c", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(&dir.0)
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found problems:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("generated"), "a run that generated test cases:\n{report}");
    // Still serving, and what it wrote verifies.
    assert_eq!(server.call("GET", "/healthz", None, "").0, 200);
    let (status, v) = server.call("GET", "/api/v1/audit/verify", Some(&admin), "");
    assert_eq!(status, 200);
    assert!(v.contains("\"ok\":true"), "{v}");
    assert!(server.stop().success());
}

/// While `finsam serve` holds the store, a `finsam record` is refused with the way to record
/// through the server instead; nothing is written.
#[test]
fn a_writer_refused_by_a_running_server_is_told_to_record_through_it() {
    let dir = TempDir::new("serve-holds");
    let store = fixture_store(&dir);
    let before = log_json(&store).len();
    let server = Server::start(&store);
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &contribution("sala", "1", None));
    assert_exit(&o, 2);
    let said = stderr(&o);
    if on_database() {
        // The folder is an instance's copy of a database's log: refused whether it runs or not.
        assert!(
            said.contains("is an instance's copy of the log in postgresql://")
                && said.contains("finsam serve --database"),
            "{said}"
        );
    } else {
        assert!(said.contains("held by a running `finsam serve`") && said.contains("POST /api/v1/events"), "{said}");
    }
    drop(server);
    assert_eq!(log_json(&store).len(), before, "nothing written");
}

/// Polls `path` until `done` holds for its answer (the scrub runs on its own thread); panics
/// after a minute with the last answer.
fn wait_for(server: &Server, path: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let mut last = (0, String::new());
    for _ in 0..600 {
        last = server.call("GET", path, None, "");
        if done(last.0, &last.1) {
            return last;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{path} never answered as awaited; last: {last:?}");
}

/// A writer opens on its sealed checkpoint without re-hashing the log; the service's background
/// scrub walks the whole chain at start and on a schedule. On an intact log it counts a pass; on
/// a log changed in the middle (under the checkpoint, where opening does not look) it stops every
/// write with the line it found, while reads go on.
#[test]
fn the_background_scrub_finds_damage_under_the_checkpoint_and_stops_writes_not_reads() {
    let dir = TempDir::new("serve-scrub");
    let store = fixture_store(&dir);
    let anna = token(&store, "anna", "kansli", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let (_, metrics) = wait_for(&server, "/metrics", |_, m| m.contains("finsam_scrub_passes_total 1"));
    let head = log_json(&store).len();
    assert!(metrics.contains(&format!("finsam_scrubbed_head {head}")), "{metrics}");
    let (status, body) = server.call("POST", "/api/v1/events", Some(&anna), &contribution_line(1));
    assert_eq!(status, 201, "{body}");
    assert_eq!(server.stop().code(), Some(0));

    // One letter changed in a cost of sf-vasteras (2021), in the middle of the log and on no
    // page the kansli of sf-vastmanland opens; the checkpoint saved at the stop stands over it.
    let path = store.join("log.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines
        .iter()
        .position(|l| l.contains(r#""type":"CostRecorded","forbund":"sf-vasteras""#))
        .expect("the fixtures record costs of sf-vasteras");
    let line = format!("line {}", n + 1);
    let event = lines[n].find("\"event\"").unwrap();
    let at = event + lines[n][event..].find('a').unwrap();
    lines[n].replace_range(at..at + 1, "b");
    let tampered = lines.join("\n") + "\n";
    std::fs::write(&path, &tampered).unwrap();

    let server = Server::start(&store);
    let (_, health) = wait_for(&server, "/healthz", |status, _| status == 503);
    assert!(health.contains("the background scrub found the log damaged"), "{health}");
    assert!(health.contains(&line) && health.contains("hash mismatch"), "{health}");
    let (status, body) = server.call("POST", "/api/v1/events", Some(&anna), &contribution_line(2));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(&line), "the refusal says why: {body}");
    let (status, body) =
        server.call("GET", "/api/v1/forbund/sf-vastmanland/balances?as_of=2024-12-31", Some(&anna), "");
    assert_eq!(status, 200, "reads go on: {body}");
    // Through the web app's form: the kansli is told in Swedish, and nothing is written. (The
    // start page runs the reconciliation, which reads the whole log and so refuses to show
    // anything on a damaged one: the kansli goes straight to the form.)
    let form_path = "/f/sf-vastmanland/registrera/medlemsbidrag";
    let web = crate::security::Browser::sign_in_at(&server.addr, &anna, form_path);
    let form = web.get(form_path);
    let key = crate::security::hidden(&form.body, "idempotency_key");
    let fields = format!("idempotency_key={key}&date=2024-12-20&member=sala&year=2024&amount=200&reference=Bankgiro+3");
    let page = web.record(form_path, &fields);
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.contains("Tjänsten tar inte emot fler registreringar"), "{}", page.body);
    assert!(page.body.contains(&line), "the cause, for whoever runs the service: {}", page.body);
    drop(server);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), tampered, "nothing was written after the damage was found");
}
