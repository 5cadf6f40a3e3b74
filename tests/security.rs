//! The service's holes, each closed and held closed (issue 26): a kansli of one förbund cannot
//! move another förbund's money through any way in — the API or the web app's forms — and the
//! log stays as it was; what a person of one förbund reads is that förbund's; sessions end with
//! their grant; idempotency keys are per förbund; nothing sends the browser to another site;
//! nobody unknown makes the server buffer a body; extreme years and seqs are refused, not
//! panicked on; a retry never changes a warning. No browser is needed: raw HTTP on the loopback.

use crate::serve::{dechunk, token, Server};
use crate::support::*;
use finsam_store::envelope::sha256_hex;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

/// An answer: status, headers (names in lower case), body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// One HTTP/1.1 request with the headers given; the connection closed after it.
pub(crate) fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("the headers end");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_vec() };
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

fn api(addr: &str, method: &str, path: &str, token: &str, body: &str) -> Reply {
    http(addr, method, path, &[("Authorization", &format!("Bearer {token}"))], body)
}

/// The value of a cookie set by an answer.
fn set_cookie(r: &Reply, name: &str) -> Option<String> {
    r.headers_named("set-cookie")
        .into_iter()
        .filter_map(|c| c.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A hidden input's value on a page.
pub(crate) fn hidden(page: &str, name: &str) -> String {
    let at = page.find(&format!("name=\"{name}\"")).unwrap_or_else(|| panic!("the page has an input {name}"));
    let tag_start = page[..at].rfind('<').unwrap();
    let tag = &page[tag_start..at + page[at..].find('>').unwrap()];
    let value = tag.split("value=\"").nth(1).unwrap();
    value[..value.find('"').unwrap()].to_string()
}

/// A person signed in to the web app: the session cookie and the session's CSRF token.
pub(crate) struct Browser {
    pub(crate) addr: String,
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

impl Browser {
    pub(crate) fn sign_in(addr: &str, token: &str) -> Browser {
        Browser::sign_in_at(addr, token, "/")
    }

    /// Signed in, with the session's CSRF token read from `page` (the start page, which
    /// redirects to the förbund's own when there is one).
    pub(crate) fn sign_in_at(addr: &str, token: &str, page: &str) -> Browser {
        let form = http(addr, "GET", "/logga-in", &[], "");
        let login = set_cookie(&form, "finsam_login").expect("the sign-in form sets its CSRF cookie");
        let body = format!("token={token}&csrf={}&tillbaka=%2F", hidden(&form.body, "csrf"));
        let r = http(
            addr,
            "POST",
            "/logga-in",
            &[("Cookie", &format!("finsam_login={login}")), ("Content-Type", "application/x-www-form-urlencoded")],
            &body,
        );
        assert_eq!(r.status, 303, "signed in: {}", r.body);
        let session = set_cookie(&r, "finsam_session").expect("a session cookie");
        let cookie = format!("finsam_session={session}");
        let mut start = http(addr, "GET", page, &[("Cookie", &cookie)], "");
        if start.status == 303 {
            // One förbund: its start page.
            let to = start.header("location").unwrap().to_string();
            start = http(addr, "GET", &to, &[("Cookie", &cookie)], "");
        }
        assert_eq!(start.status, 200, "{}", start.body);
        let csrf = hidden(&start.body, "csrf");
        Browser { addr: addr.to_string(), cookie, csrf }
    }

    /// The same signed-in person at another address (another instance of the service).
    pub(crate) fn at(&self, addr: &str) -> Browser {
        Browser { addr: addr.to_string(), cookie: self.cookie.clone(), csrf: self.csrf.clone() }
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        http(&self.addr, "GET", path, &[("Cookie", &self.cookie)], "")
    }

    /// Posts a form with the session's CSRF token, confirmed (`steg=registrera`, warnings seen).
    pub(crate) fn record(&self, path: &str, fields: &str) -> Reply {
        let body = format!("csrf={}&{fields}&steg=registrera&sett_varningar=1", self.csrf);
        self.post(path, &body)
    }

    fn post(&self, path: &str, body: &str) -> Reply {
        http(
            &self.addr,
            "POST",
            path,
            &[("Cookie", &self.cookie), ("Content-Type", "application/x-www-form-urlencoded")],
            body,
        )
    }
}

/// The fixtures through the merger decision (sf-vastmanland formed from three förbund, none yet
/// dissolved), and an equity transfer from sf-vasteras recorded by an admin: its seq.
fn merger_store(dir: &TempDir) -> (PathBuf, u64) {
    let batches = fixtures_through("30-vastmanland-2024");
    let refs: Vec<&str> = batches.iter().map(String::as_str).collect();
    let store = store_with(dir, &refs);
    let transfer = r#"{"type":"EquityTransferred","forbund":"sf-vastmanland","date":"2024-01-01","from":"sf-vasteras","amount":"400000","reference":"Delbetalning eget kapital"}"#;
    let o = finsam(&store, &["record", "--as", "admin:eva", "-"], transfer);
    assert_exit(&o, 0);
    let seq = log_json(&store).len() as u64;
    (store, seq)
}

const TRANSFER_FROM_VASTERAS: &str = r#"{"type":"EquityTransferred","forbund":"sf-vastmanland","date":"2024-01-02","from":"sf-vasteras","amount":"1000","reference":"X"}"#;

/// Every way in × every event that touches another förbund's books: refused (403) for a kansli
/// of one förbund, with the log unchanged; the same events pass the authorisation for a user
/// who may record in both.
#[test]
fn a_kansli_of_one_forbund_moves_no_other_forbunds_money_through_any_way_in() {
    let dir = TempDir::new("security-cross");
    let (store, transfer_seq) = merger_store(&dir);
    let kansli = token(&store, "kansli-vm", "kansli", &["sf-vastmanland"]);
    let both = token(&store, "kansli-both", "kansli", &["sf-vastmanland", "sf-vasteras"]);
    let server = Server::start(&store);
    let before = log_bytes(&store);

    // The API: a batch mixing the two förbund, a transfer and a takeover from the other, a
    // merger naming it, a correction of the transfer it took part in.
    let correction = format!(
        r#"{{"type":"EventCorrected","forbund":"sf-vastmanland","date":"2024-02-01","corrects":{transfer_seq},"reason":"fel"}}"#
    );
    let attempts = [
        format!("{}\n{}", contribution_line("sf-vastmanland"), contribution_line("sf-vasteras")),
        TRANSFER_FROM_VASTERAS.to_string(),
        r#"{"type":"BalancesTakenOver","forbund":"sf-vastmanland","date":"2024-01-01","from":"sf-vasteras","reference":"Bokslut"}"#.to_string(),
        r#"{"type":"MergerDecided","forbund":"sf-vastmanland","date":"2023-12-01","merging":["sf-vasteras"],"effective":"2024-02-01","estimated_transfers":[],"decision":{"body":"styrelsen","date":"2023-12-01"}}"#.to_string(),
        correction.clone(),
    ];
    for body in &attempts {
        let r = api(&server.addr, "POST", "/api/v1/events", &kansli, body);
        assert_eq!(r.status, 403, "refused through the API: {body}\n{}", r.body);
        assert!(r.body.contains("sf-vasteras"), "the refusal names the förbund: {}", r.body);
    }
    assert_eq!(log_bytes(&store), before, "nothing was written through the API");

    // The forms, both steps (the check and the confirmed recording).
    let web = Browser::sign_in(&server.addr, &kansli);
    let forms = [
        ("/f/sf-vastmanland/registrera/overforing", "date=2024-01-02&from=sf-vasteras&amount=1000&reference=X".to_string()),
        ("/f/sf-vastmanland/registrera/overtagande", "date=2024-01-01&from=sf-vasteras&reference=Bokslut".to_string()),
        (
            "/f/sf-vastmanland/registrera/sammanlaggning",
            "date=2023-12-01&effective=2024-02-01&merging%5B0%5D=sf-vasteras&decision.body=styrelsen&decision.date=2023-12-01"
                .to_string(),
        ),
        ("/f/sf-vastmanland/registrera/rattelse", format!("date=2024-02-01&corrects={transfer_seq}&reason=fel")),
    ];
    for (path, fields) in &forms {
        for step in ["granska", "registrera"] {
            let body = format!("csrf={}&{fields}&steg={step}&sett_varningar=1", web.csrf);
            let r = web.post(path, &body);
            assert_eq!(r.status, 403, "refused through the form {path} ({step}): {}", r.body);
            assert!(r.body.contains("Ingen behörighet"), "a page that says why: {}", r.body);
        }
    }
    assert_eq!(log_bytes(&store), before, "nothing was written through the forms");
    // The forms offer no förbund the user may not record in.
    let page = web.get("/f/sf-vastmanland/registrera/overforing");
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("value=\"sf-vasteras\""), "the transfer form lists only förbund the kansli covers");

    // A user who may record in both förbund passes the authorisation (the rules decide).
    let r = api(&server.addr, "POST", "/api/v1/events", &both, TRANSFER_FROM_VASTERAS);
    assert_eq!(r.status, 201, "{}", r.body);
    let r = api(&server.addr, "POST", "/api/v1/events", &both, &correction);
    assert_eq!(r.status, 201, "{}", r.body);
    let web_both = Browser::sign_in(&server.addr, &both);
    let page = web_both.get("/f/sf-vastmanland/registrera/overforing");
    assert!(page.body.contains("value=\"sf-vasteras\""), "offered to a kansli of both");
    let r = web_both.record(
        "/f/sf-vastmanland/registrera/overforing",
        "date=2024-01-03&from=sf-vasteras&amount=5&reference=Y&idempotency_key=web-both-1",
    );
    assert_eq!(r.status, 303, "recorded through the form: {}", r.body);
    drop(server);
    let o = finsam(&store, &["audit", "verify"], "");
    assert_exit(&o, 0);
}

fn contribution_line(forbund: &str) -> String {
    let member = if forbund == "sf-vasteras" { "vasteras-stad" } else { "sala" };
    format!(
        r#"{{"type":"ContributionReceived","forbund":"{forbund}","date":"2024-01-31","member":"{member}","year":2024,"amount":"1","reference":"R"}}"#
    )
}

/// A form without its CSRF token is refused and writes nothing; the same form pressed twice
/// records once (its idempotency key was made when the form was drawn).
#[test]
fn forms_need_their_csrf_token_and_a_double_submit_records_once() {
    let dir = TempDir::new("security-csrf");
    let store = fixture_store(&dir);
    let kansli = token(&store, "kansli-vm", "kansli", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &kansli);
    let form = web.get("/f/sf-vastmanland/registrera/medlemsbidrag");
    let key = hidden(&form.body, "idempotency_key");
    let fields = format!("idempotency_key={key}&date=2024-12-20&member=sala&year=2024&amount=200&reference=Bankgiro+2");
    let before = log_bytes(&store);
    let forged =
        web.post("/f/sf-vastmanland/registrera/medlemsbidrag", &format!("{fields}&steg=registrera&sett_varningar=1"));
    assert_eq!(forged.status, 403, "{}", forged.body);
    let wrong = web.post(
        "/f/sf-vastmanland/registrera/medlemsbidrag",
        &format!("csrf={}x&{fields}&steg=registrera&sett_varningar=1", web.csrf),
    );
    assert_eq!(wrong.status, 403);
    assert_eq!(log_bytes(&store), before, "nothing written without the CSRF token");
    let first = web.record("/f/sf-vastmanland/registrera/medlemsbidrag", &fields);
    let second = web.record("/f/sf-vastmanland/registrera/medlemsbidrag", &fields);
    assert_eq!((first.status, second.status), (303, 303));
    assert_eq!(first.header("location"), second.header("location"), "both lead to the same event");
    assert_eq!(log_json(&store).len(), log_json_len(&before) + 1, "recorded once");
}

fn log_json_len(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count()
}

/// A reader of one förbund sees that förbund's reconciliation, never the store's.
#[test]
fn the_reconciliation_page_shows_only_the_readers_forbund() {
    let dir = TempDir::new("security-reconcile");
    let store = fixture_store(&dir);
    // A payer short in sf-norra-vastmanland's books: a finding of that förbund alone.
    let reader = token(&store, "styrelse-vasteras", "read", &["sf-vasteras"]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &reader);
    let page = web.get("/f/sf-vasteras/avstamning");
    assert_eq!(page.status, 200, "{}", page.body);
    for other in ["sf-vastmanland", "sf-norra-vastmanland", "sf-vastra-malardalen"] {
        assert!(!page.body.contains(other), "the page shows nothing of {other}");
    }
    let api_answer = api(&server.addr, "GET", "/api/v1/reconcile", &reader, "");
    assert_eq!(api_answer.status, 403, "the whole store's run is for admins and revisorer");
    // The merger's own förbund still sees its merger.
    let reader_vm = token(&store, "styrelse-vm", "read", &["sf-vastmanland"]);
    let page = Browser::sign_in(&server.addr, &reader_vm).get("/f/sf-vastmanland/avstamning");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("sf-vasteras") || page.body.contains("Västerås"), "the merger's table");
}

/// On a database, a grant or revocation reaches the instance on the database's notification,
/// within milliseconds rather than at the very next request (on a folder it is the next
/// request, and this waits for nothing): waits, at most 2 s, until `path` answers `status`.
fn arrived(web: &Browser, path: &str, status: u16) {
    if !on_database() {
        return;
    }
    let started = std::time::Instant::now();
    while web.get(path).status != status {
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "the change reaches the instance within 2 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A session belongs to the grant it was made under: a rotated token or a revocation ends it,
/// and access given again does not revive it.
#[test]
fn sessions_end_with_their_grant() {
    let dir = TempDir::new("security-sessions");
    let store = fixture_store(&dir);
    let first = token(&store, "anna", "read", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &first);
    assert_eq!(web.get("/f/sf-vastmanland").status, 200);
    // Rotated: the old session is over.
    let second = token(&store, "anna", "kansli", &["sf-vastmanland"]);
    arrived(&web, "/f/sf-vastmanland", 303);
    let r = web.get("/f/sf-vastmanland");
    assert_eq!(r.status, 303, "signed out by the rotation");
    assert!(r.header("location").unwrap_or("").starts_with("/logga-in"));
    // Revoked and granted again: a session made before either stays over.
    let web = Browser::sign_in(&server.addr, &second);
    assert_eq!(web.get("/f/sf-vastmanland").status, 200);
    assert_exit(&finsam(&store, &["user", "revoke", "anna", "--by", "test"], ""), 0);
    arrived(&web, "/f/sf-vastmanland", 303);
    assert_eq!(web.get("/f/sf-vastmanland").status, 303, "revoked");
    let _third = token(&store, "anna", "admin", &[]);
    assert_eq!(web.get("/f/sf-vastmanland").status, 303, "not revived by a new grant");
    assert_eq!(web.get("/api/v1/forbund/sf-vastmanland/balances").status, 401, "nor for the API's reads");
}

/// Sessions are kept in the store: a restart of the service signs nobody out, and a session
/// signed out stays out after it.
#[test]
fn a_restart_signs_nobody_out_and_a_sign_out_lasts() {
    let dir = TempDir::new("security-restart");
    let store = fixture_store(&dir);
    let reader = token(&store, "anna", "read", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let stays = Browser::sign_in(&server.addr, &reader);
    let leaves = Browser::sign_in(&server.addr, &reader);
    let out = leaves.post("/logga-ut", &format!("csrf={}", leaves.csrf));
    assert_eq!(out.status, 303);
    drop(server);
    let server = Server::start(&store);
    let stays = Browser { addr: server.addr.clone(), ..stays };
    let leaves = Browser { addr: server.addr.clone(), ..leaves };
    assert_eq!(stays.get("/f/sf-vastmanland").status, 200, "still signed in after the restart");
    let r = stays.get("/f/sf-vastmanland/registrera/kostnad");
    assert_eq!(r.status, 403, "with the same rights (a reader records nothing)");
    assert_eq!(leaves.get("/f/sf-vastmanland").status, 303, "signed out stays out");
    // The cookie's value is not in the store (or, on a database, in its sessions): only its hash.
    let kept = match instance_database(&store) {
        Some(url) => postgres::Client::connect(&url, postgres::NoTls)
            .unwrap()
            .query("SELECT id_sha256 || ' ' || line FROM finsam_sessions", &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n"),
        None => std::fs::read_to_string(store.join("sessions.jsonl")).unwrap(),
    };
    let cookie_value = stays.cookie.trim_start_matches("finsam_session=");
    assert!(!kept.contains(cookie_value));
    assert!(kept.contains(&sha256_hex(cookie_value.as_bytes())));
}

/// Idempotency keys are per förbund: a key taken in one förbund's books neither blocks nor
/// reveals another's event.
#[test]
fn idempotency_keys_are_kept_per_forbund() {
    let dir = TempDir::new("security-keys");
    let (store, _) = merger_store(&dir);
    let alfa = token(&store, "kansli-vm", "kansli", &["sf-vastmanland"]);
    let beta = token(&store, "kansli-vasteras", "kansli", &["sf-vasteras"]);
    let server = Server::start(&store);
    let keyed = |forbund: &str, amount: &str| {
        let member = if forbund == "sf-vasteras" { "vasteras-stad" } else { "sala" };
        let year = if forbund == "sf-vasteras" { 2023 } else { 2024 };
        format!(
            r#"{{"type":"ContributionReceived","forbund":"{forbund}","date":"{year}-06-30","member":"{member}","year":{year},"amount":"{amount}","reference":"R","idempotency_key":"bidrag-juni"}}"#
        )
    };
    // sf-vastmanland takes the key first.
    let r = api(&server.addr, "POST", "/api/v1/events", &alfa, &keyed("sf-vastmanland", "10"));
    assert_eq!(r.status, 201, "{}", r.body);
    let alfa_seq = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["recorded"][0]["seq"].as_u64().unwrap();
    // sf-vasteras' own event with the same key is recorded, as a new event, not as a duplicate.
    let r = api(&server.addr, "POST", "/api/v1/events", &beta, &keyed("sf-vasteras", "20"));
    assert_eq!(r.status, 201, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["recorded"][0]["duplicate"], false, "{}", r.body);
    assert_ne!(v["recorded"][0]["seq"].as_u64(), Some(alfa_seq));
    // Its retry is a duplicate of its own event; a changed one is refused without naming
    // another förbund's seq.
    let r = api(&server.addr, "POST", "/api/v1/events", &beta, &keyed("sf-vasteras", "20"));
    assert_eq!(r.status, 201);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["recorded"][0]["duplicate"], true);
    let r = api(&server.addr, "POST", "/api/v1/events", &beta, &keyed("sf-vasteras", "21"));
    assert_eq!(r.status, 422);
    assert!(!r.body.contains(&format!("event {alfa_seq} ")), "nothing of sf-vastmanland's event: {}", r.body);
    assert!(r.body.contains("sf-vasteras"), "{}", r.body);
}

/// The sign-in form's CSRF pair serves one try: after a wrong code, the same pair is refused
/// (403) even with the right code; the form drawn again works.
#[test]
fn a_sign_in_form_serves_one_try() {
    let dir = TempDir::new("security-one-try");
    let store = fixture_store(&dir);
    let reader = token(&store, "anna", "read", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let form = http(&server.addr, "GET", "/logga-in", &[], "");
    let login = set_cookie(&form, "finsam_login").unwrap();
    let csrf = hidden(&form.body, "csrf");
    let post = |code: &str| {
        http(
            &server.addr,
            "POST",
            "/logga-in",
            &[("Cookie", &format!("finsam_login={login}")), ("Content-Type", "application/x-www-form-urlencoded")],
            &format!("token={code}&csrf={csrf}&tillbaka=%2F"),
        )
    };
    let wrong = post("fs_wrong");
    assert_eq!(wrong.status, 303);
    assert!(wrong.header("location").unwrap().contains("fel=1"));
    assert_eq!(set_cookie(&wrong, "finsam_login").as_deref(), Some(""), "the pair is withdrawn");
    // A client that keeps the old cookie anyway: the server no longer takes the pair.
    assert_eq!(post(&reader).status, 403, "the same pair does not serve a second try");
    Browser::sign_in(&server.addr, &reader);
}

/// After sign-in the browser goes back only to a path of this site.
#[test]
fn sign_in_goes_back_only_to_this_site() {
    let dir = TempDir::new("security-redirect");
    let store = fixture_store(&dir);
    let reader = token(&store, "anna", "read", &["sf-vastmanland"]);
    let server = Server::start(&store);
    for (asked, expected) in [
        ("%2F%5Cevil.example%2F", "/"),
        ("%2F%5C%09%2Fevil.example", "/"),
        ("%2F%09%2Fevil.example", "/"),
        ("%2F%2Fevil.example", "/"),
        ("https%3A%2F%2Fevil.example", "/"),
        ("%2F%5C%5Cevil.example", "/"),
        ("%2Ff%2Fsf-vastmanland%2Fhandelser", "/f/sf-vastmanland/handelser"),
    ] {
        let form = http(&server.addr, "GET", &format!("/logga-in?tillbaka={asked}"), &[], "");
        let login = set_cookie(&form, "finsam_login").unwrap();
        let back = hidden(&form.body, "tillbaka");
        assert!(back.starts_with('/') && !back.contains('\\'), "the form carries a local path: {back:?}");
        let body = format!("token={reader}&csrf={}&tillbaka={asked}", hidden(&form.body, "csrf"));
        let r = http(
            &server.addr,
            "POST",
            "/logga-in",
            &[("Cookie", &format!("finsam_login={login}")), ("Content-Type", "application/x-www-form-urlencoded")],
            &body,
        );
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some(expected), "tillbaka={asked}");
    }
}

/// Nobody unknown makes the server read a body: an oversize Content-Length is refused at once,
/// and a body without a valid token or session is refused before it is read (the client has
/// sent only its headers when the answer comes).
#[test]
fn bodies_are_taken_only_from_someone_known_and_never_over_the_limit() {
    let dir = TempDir::new("security-bodies");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let headers_only = |extra: &str, length: u64, path: &str| {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/x-ndjson\r\nContent-Length: {length}\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        // Only the headers are sent; the answer must come without the body.
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        parse(&raw)
    };
    let r = headers_only("", 60 << 20, "/api/v1/events");
    assert_eq!(r.status, 401, "anonymous: refused before the body");
    assert!(r.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")));
    let r = headers_only("Authorization: Bearer fs_wrong\r\n", 1000, "/api/v1/events");
    assert_eq!(r.status, 401, "a wrong token: refused before the body");
    let r = headers_only(&format!("Authorization: Bearer {admin}\r\n"), 1 << 40, "/api/v1/events");
    assert_eq!(r.status, 413, "declared over the limit: refused at once, even for an admin");
    let r = headers_only("", 60 << 20, "/f/sf-vastmanland/registrera/kostnad");
    assert_eq!(r.status, 303, "a form without a session goes to the sign-in page, its body unread");
    let r = headers_only("", 1 << 20, "/logga-in");
    assert_eq!(r.status, 413, "the sign-in form is small");
}

/// Years and seqs at the edges are refused with a reason, never a panic; the server lives on.
#[test]
fn extreme_years_and_seqs_are_refused_not_panicked_on() {
    let dir = TempDir::new("security-years");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &admin);
    for year in ["2147483647", "-262144", "-2147483648", "1999", "2100"] {
        for page in ["arsredovisning", "uppfoljning", "delarsrapport", "medlemsbidrag"] {
            let r = web.get(&format!("/f/sf-vastmanland/{page}/{year}"));
            assert!(r.status == 400 || r.status == 404, "{page}/{year}: {} {}", r.status, r.body);
        }
        for path in ["budget", "export/sie", "bundle"] {
            let r = api(&server.addr, "GET", &format!("/api/v1/forbund/sf-vastmanland/{path}/{year}"), &admin, "");
            assert!(r.status == 400 || r.status == 404, "{path}/{year}: {} {}", r.status, r.body);
        }
    }
    let r = api(&server.addr, "GET", "/api/v1/forbund/sf-vastmanland/balances?as_of=-262143-01-01", &admin, "");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(http(&server.addr, "GET", "/healthz", &[], "").status, 200, "the server lives on");
    for args in [
        vec!["report", "annual", "--forbund", "sf-vastmanland", "--year", "2147483647"],
        vec!["report", "members", "--forbund", "sf-vastmanland", "--year", "-262144"],
        vec!["budget", "--forbund", "sf-vastmanland", "--year", "99999"],
    ] {
        let o = finsam(&store, &args, "");
        assert_exit(&o, 2);
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}

/// `Last-Event-ID` at the largest seq resumes after it — nothing — instead of wrapping round to
/// the whole log.
#[test]
fn a_subscription_resumed_at_the_last_seq_sends_nothing_again() {
    let dir = TempDir::new("security-sse");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let request = format!(
        "GET /api/v1/subscribe HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nLast-Event-ID: 18446744073709551615\r\n\r\n"
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(!text.contains("\nid:"), "no event sent again: {text}");
}

/// A retry with the same idempotency key records nothing and warns as the first did, and the
/// events after it are warned against what the log holds.
#[test]
fn a_retry_changes_no_warning() {
    let dir = TempDir::new("security-warnings");
    let store = fixture_store(&dir);
    let kansli = token(&store, "kansli-vm", "kansli", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let cost = r#"{"type":"CostRecorded","forbund":"sf-vastmanland","date":"2024-12-30","year":2024,"line":"samordningsteam-sala","amount":"1000000","reference":"Retry","text":"Retry","idempotency_key":"retry-1"}"#;
    let warning = |r: &Reply| {
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        v["warnings"].as_array().unwrap().iter().map(|w| w["message"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let first = api(&server.addr, "POST", "/api/v1/events", &kansli, cost);
    assert_eq!(first.status, 201, "{}", first.body);
    let warned = warning(&first);
    assert!(!warned.is_empty(), "the first is over budget: {}", first.body);
    for _ in 0..2 {
        let again = api(&server.addr, "POST", "/api/v1/events", &kansli, cost);
        assert_eq!(again.status, 201);
        assert!(warning(&again).is_empty(), "a retry records nothing and warns of nothing: {}", again.body);
    }
    // The next cost is warned against the log: one million over, plus its own.
    let next = cost.replace("retry-1", "retry-2").replace("1000000", "1");
    let r = api(&server.addr, "POST", "/api/v1/events", &kansli, &next);
    let after = warning(&r);
    let over = |texts: &[String]| texts.iter().find(|t| t.contains("over its budget")).cloned().unwrap_or_default();
    let first_over = over(&warned);
    let next_over = over(&after);
    assert!(!next_over.is_empty(), "{}", r.body);
    assert_ne!(first_over, next_over);
    // The CLI: a retried line is not warned about again either. (On a database the CLI
    // records nothing in an instance's folder: only the service writes there.)
    drop(server);
    if !on_database() {
        let o = finsam(&store, &["record", "--as", "kansli", "-"], cost);
        assert_exit(&o, 0);
        assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    }
}

/// Every answer says: no framing, no foreign scripts, nothing cached.
#[test]
fn every_answer_forbids_framing_and_caching() {
    let dir = TempDir::new("security-headers");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &admin);
    let answers = [
        web.get("/f/sf-vastmanland/registrera/kostnad"),
        web.get("/f/sf-vastmanland/ladda-ner/saldon.csv"),
        api(&server.addr, "GET", "/api/v1/forbund/sf-vastmanland/balances", &admin, ""),
        http(&server.addr, "GET", "/logga-in", &[], ""),
    ];
    for r in &answers {
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert!(r.header("content-security-policy").is_some_and(|c| c.contains("frame-ancestors 'none'")));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    // Every answer has a request id: the client's own when it gives a plain one, else a new one.
    let ids: Vec<String> = answers.iter().map(|r| r.header("x-request-id").expect("an id").to_string()).collect();
    assert!(ids.iter().all(|id| id.len() == 16), "{ids:?}");
    assert_eq!(ids.iter().collect::<std::collections::BTreeSet<_>>().len(), ids.len(), "each its own");
    let given = http(&server.addr, "GET", "/healthz", &[("X-Request-Id", "kansli-42")], "");
    assert_eq!(given.header("x-request-id"), Some("kansli-42"));
    let odd = http(&server.addr, "GET", "/healthz", &[("X-Request-Id", "a b<c>")], "");
    assert_ne!(odd.header("x-request-id"), Some("a b<c>"));
    // Downloads say what to save them as.
    for (path, name) in [
        ("/api/v1/forbund/sf-vastmanland/export/sie/2024", "sf-vastmanland-2024.se"),
        ("/api/v1/forbund/sf-vastmanland/export/sie/2024?kind=i", "sf-vastmanland-2024.si"),
        ("/api/v1/forbund/sf-vastmanland/export/journal?year=2024", "sf-vastmanland-2024.journal"),
        ("/api/v1/forbund/sf-vastmanland/export/journal", "sf-vastmanland.journal"),
        ("/api/v1/forbund/sf-vastmanland/export/beancount?year=2024", "sf-vastmanland-2024.beancount"),
    ] {
        let r = api(&server.addr, "GET", path, &admin, "");
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-disposition"), Some(format!("attachment; filename=\"{name}\"").as_str()));
    }
}

/// A client that never finishes its headers is disconnected; the server answers others meanwhile.
#[test]
fn a_connection_that_never_finishes_its_headers_is_closed() {
    let dir = TempDir::new("security-slowloris");
    let store = fixture_store(&dir);
    let server = Server::start_with(&store, &[("FINSAM_HEADER_TIMEOUT", "1")]);
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s
        })
        .collect();
    assert_eq!(http(&server.addr, "GET", "/healthz", &[], "").status, 200, "answered while they wait");
    for s in &mut slow {
        let mut buf = Vec::new();
        // Closed by the server (an error or the end), well before the read timeout.
        let started = std::time::Instant::now();
        let _ = s.read_to_end(&mut buf);
        assert!(started.elapsed() < Duration::from_secs(9), "closed after the header timeout");
    }
}

/// Bad tokens are limited per address: after many, even a good one waits (429, Retry-After).
#[test]
fn bad_tokens_are_rate_limited() {
    let dir = TempDir::new("security-throttle");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let mut statuses = Vec::new();
    for i in 0..25 {
        statuses.push(api(&server.addr, "GET", "/api/v1/audit/digest", &format!("fs_guess{i}"), "").status);
    }
    assert!(statuses[..20].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    let r = api(&server.addr, "GET", "/api/v1/audit/digest", &admin, "");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    // Without credentials nothing is counted or limited: the health check answers.
    assert_eq!(http(&server.addr, "GET", "/healthz", &[], "").status, 200);
}

/// Optimistic concurrency per förbund: `If-Match: "F:SEQ"` refuses a batch (412, nothing
/// written) once another batch has recorded in F's books, while a write to another förbund's
/// books moves nothing for it — unlike `expect_head`, which any write anywhere moves.
#[test]
fn if_match_expects_a_forbunds_version_not_the_whole_stores() {
    let dir = TempDir::new("security-if-match");
    let (store, _) = merger_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let versions = |r: &Reply| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["versions"].clone();
    let post = |body: &str, if_match: Option<&str>| {
        let mut headers = vec![("Authorization".to_string(), format!("Bearer {admin}"))];
        if let Some(m) = if_match {
            headers.push(("If-Match".to_string(), m.to_string()));
        }
        let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        http(&server.addr, "POST", "/api/v1/events", &refs, body)
    };
    let vm = |n: u32| contribution_line("sf-vastmanland").replace("\"R\"", &format!("\"R{n}\""));
    let first = post(&vm(1), None);
    assert_eq!(first.status, 201, "{}", first.body);
    let v = versions(&first)["sf-vastmanland"].as_u64().unwrap();
    // Another förbund's write does not move sf-vastmanland's version.
    let other = contribution_line("sf-vasteras").replace("2024", "2023");
    assert_eq!(post(&other, None).status, 201);
    let ok = post(&vm(2), Some(&format!("\"sf-vastmanland:{v}\"")));
    assert_eq!(ok.status, 201, "{}", ok.body);
    let before = log_bytes(&store);
    let stale = post(&vm(3), Some(&format!("\"sf-vastmanland:{v}\"")));
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert!(stale.header("content-type").is_some_and(|c| c.starts_with("application/problem+json")));
    assert_eq!(log_bytes(&store), before, "nothing written");
    let malformed = post(&vm(4), Some("sf-vastmanland"));
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    // expect_head, by contrast, is moved by any write.
    assert_eq!(api(&server.addr, "POST", &format!("/api/v1/events?expect_head={v}"), &admin, &vm(5)).status, 409);
}

/// The log and the trail come in pages, each linking the next (`Link: <…>; rel="next"`), and
/// the pages together are the whole; a client that asks for gzip gets it.
#[test]
fn the_log_and_the_trail_come_in_linked_pages_and_gzipped_when_asked() {
    let dir = TempDir::new("security-pages");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let next_of =
        |r: &Reply| r.header("link").map(|l| l.trim_start_matches('<').split('>').next().unwrap().to_string());
    let whole = api(&server.addr, "GET", "/api/v1/log", &admin, "").body;
    let mut pages = Vec::new();
    let mut next = Some("/api/v1/log?limit=100".to_string());
    while let Some(path) = next {
        let r = api(&server.addr, "GET", &path, &admin, "");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(r.body.lines().count() <= 100);
        next = next_of(&r);
        pages.push(r.body);
    }
    assert!(pages.len() > 2, "{} pages", pages.len());
    assert_eq!(pages.concat(), whole, "the pages together are the log");
    let whole: Vec<serde_json::Value> =
        serde_json::from_str(&api(&server.addr, "GET", "/api/v1/forbund/sf-vastmanland/audit/trail", &admin, "").body)
            .unwrap();
    let mut rows = Vec::new();
    let mut next = Some("/api/v1/forbund/sf-vastmanland/audit/trail?limit=40".to_string());
    while let Some(path) = next {
        let r = api(&server.addr, "GET", &path, &admin, "");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let page: Vec<serde_json::Value> = serde_json::from_str(&r.body).unwrap();
        assert!(page.len() <= 40);
        rows.extend(page);
        next = next_of(&r);
    }
    assert_eq!(rows, whole, "the trail's pages together are the trail");
    for bad in ["/api/v1/log?limit=0", "/api/v1/forbund/sf-vastmanland/audit/trail?limit=100001"] {
        assert_eq!(api(&server.addr, "GET", bad, &admin, "").status, 400, "{bad}");
    }
    // gzip, when asked for: a report, and the log streamed stretch by stretch.
    let gzipped = |path: &str| {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
        );
        s.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        assert!(head.contains("content-encoding: gzip"), "{head}");
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(&raw[end + 4..])
        } else {
            raw[end + 4..].to_vec()
        };
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut text).unwrap();
        text
    };
    let trail = gzipped("/api/v1/forbund/sf-vastmanland/audit/trail");
    assert_eq!(serde_json::from_str::<Vec<serde_json::Value>>(&trail).unwrap(), whole);
    assert_eq!(gzipped("/api/v1/log"), pages.concat(), "the whole log, gzipped as it streams");
}

/// An answer pinned by `known_at` and `as_of` never changes: its ETag stays while the log grows,
/// and `If-None-Match` with it is answered 304 with no body; an answer at the head changes tag.
#[test]
fn answers_pinned_by_known_at_keep_their_etag_and_revalidate_with_304() {
    let dir = TempDir::new("security-etag");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let pinned = "/api/v1/forbund/sf-vastmanland/balances?as_of=2024-12-31&known_at=300";
    let head = "/api/v1/forbund/sf-vastmanland/balances?as_of=2024-12-31";
    let first = api(&server.addr, "GET", pinned, &admin, "");
    let tag = first.header("etag").expect("an ETag").to_string();
    let at_head = api(&server.addr, "GET", head, &admin, "").header("etag").unwrap().to_string();
    let auth = format!("Bearer {admin}");
    let again = http(&server.addr, "GET", pinned, &[("Authorization", &auth), ("If-None-Match", &tag)], "");
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let line = r#"{"type":"ContributionReceived","forbund":"sf-vastmanland","date":"2024-12-20","member":"sala","year":2024,"amount":"5","reference":"ETag"}"#;
    assert_eq!(api(&server.addr, "POST", "/api/v1/events", &admin, line).status, 201);
    let later = api(&server.addr, "GET", pinned, &admin, "");
    assert_eq!(later.header("etag"), Some(tag.as_str()), "the pinned answer is the same");
    assert_eq!(later.body, first.body);
    let moved = http(&server.addr, "GET", head, &[("Authorization", &auth), ("If-None-Match", &at_head)], "");
    assert_eq!(moved.status, 200, "the head's answer changed");
    assert_ne!(moved.header("etag"), Some(at_head.as_str()));
}

/// The server's resident memory, in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kb / 1024
}

/// Clients that ask for the whole log — a subscription from seq 1, `GET /log` — and never read
/// cost the server a stretch each, not the log: it is read and sent 256 envelopes at a time,
/// each stretch when the one before was taken. (Before, each was read into memory whole: 2.4×
/// the log per client.) A loose bound between the two: 24 such clients on a log of 7 MiB add
/// less than the log's size each (measured: about 2 MiB each in a debug build, whatever the
/// log's size; under 1 MiB in release).
#[test]
fn clients_that_never_read_cost_a_stretch_each_not_the_log() {
    let dir = TempDir::new("security-slow-readers");
    let store = dir.store();
    assert_exit(&finsam(&store, &["init"], ""), 0);
    let generated = finsam(&store, &["generate", "--forbund", "13", "--years", "2", "--seed", "3"], "");
    assert_exit(&generated, 0);
    let o = finsam(&store, &["record", "--as", "bulk", "--batch-size", "5000", "-"], &stdout(&generated));
    assert_exit(&o, 0);
    let log_mib = std::fs::metadata(store.join("log.jsonl")).unwrap().len() >> 20;
    assert!(log_mib >= 6, "a log of {log_mib} MiB");
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let before = rss_mib(server.pid());
    let mut held = Vec::new();
    for i in 0..24 {
        let path = if i % 2 == 0 { "/api/v1/subscribe?from=1" } else { "/api/v1/log" };
        let mut s = TcpStream::connect(&server.addr).unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\r\n");
        s.write_all(request.as_bytes()).unwrap();
        held.push(s);
    }
    std::thread::sleep(Duration::from_secs(3));
    let added = rss_mib(server.pid()).saturating_sub(before);
    assert!(added < 24 * log_mib, "24 clients that never read added {added} MiB on a log of {log_mib} MiB");
    // And the server answers others meanwhile.
    assert_eq!(http(&server.addr, "GET", "/healthz", &[], "").status, 200);
    drop(held);
}

/// What hyper refuses before any handler sees it — an address over 64 KiB, header lines over
/// its buffer, bytes that are not HTTP — is a problem (`application/problem+json`) like every
/// other refusal, and the server serves on.
#[test]
fn refusals_of_unreadable_requests_are_problems_too() {
    let dir = TempDir::new("security-unreadable");
    let store = fixture_store(&dir);
    let server = Server::start(&store);
    let raw = |request: &[u8]| {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(request);
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        parse(&answer)
    };
    let long_uri = format!("GET /healthz?{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let huge_header = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(200_000));
    for (request, status) in
        [(long_uri.as_bytes(), 414), (huge_header.as_bytes(), 431), (&b"\x00\x01 not http\r\n\r\n"[..], 400)]
    {
        let r = raw(request);
        assert_eq!(r.status, status, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["status"], status);
        assert!(!v["detail"].as_str().unwrap().is_empty(), "{v}");
        assert_eq!(r.header("content-length"), Some(r.body.len().to_string().as_str()));
    }
    assert_eq!(http(&server.addr, "GET", "/healthz", &[], "").status, 200);
}

/// The payroll forms (a month's lönesammandrag, the taxes and pension paid): a kansli records
/// them for its own förbund, amounts typed the Swedish way, and never in another förbund's books.
#[test]
fn the_payroll_forms_record_in_the_kanslis_own_forbund_only() {
    let dir = TempDir::new("security-payroll");
    let store = fixture_store(&dir);
    let kansli = token(&store, "kansli-vm", "kansli", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &kansli);
    let month = "date=2025-01-24&year=2025&month=1&line=gemensam-administration&staff=3&salaries=145+000&tax_withheld=43+500&employer_contributions=45+559&pension=6+525&special_payroll_tax=1+582%2C97&reference=L%C3%B6nelista+2025-01&text=januari";
    let page = web.get("/f/sf-vastmanland/registrera/lonesammandrag");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Avdragen källskatt"), "{}", page.body);
    let before = log_bytes(&store);
    let wrong = web.record("/f/sf-vastmanland/registrera/lonesammandrag", &month.replace("month=1&", "month=13&"));
    assert_ne!(wrong.status, 303);
    assert!(wrong.body.contains("Skriv ett heltal från 1 till 12"), "{}", wrong.body);
    assert_eq!(log_bytes(&store), before, "nothing written for a month that is not one");
    let r = web.record("/f/sf-vastmanland/registrera/lonesammandrag", month);
    assert_eq!(r.status, 303, "{}", r.body);
    let paid = "date=2025-02-12&tax_withheld=43+500&employer_contributions=45+559&reference=Skattekonto+2025-02";
    let r = web.record("/f/sf-vastmanland/registrera/personalskatter", paid);
    assert_eq!(r.status, 303, "{}", r.body);
    let log = log_json(&store);
    let (payroll, taxes) = (&log[log.len() - 2]["event"], &log[log.len() - 1]["event"]);
    assert_eq!(
        (&payroll["type"], &payroll["month"], &payroll["salaries"], &payroll["special_payroll_tax"]),
        (
            &serde_json::json!("PayrollRecorded"),
            &serde_json::json!(1),
            &serde_json::json!("145000"),
            &serde_json::json!("1582.97")
        )
    );
    assert_eq!(
        (&taxes["type"], &taxes["tax_withheld"]),
        (&serde_json::json!("PayrollLiabilitiesPaid"), &serde_json::json!("43500"))
    );

    // Another förbund's payroll: refused at both steps, nothing written.
    let before = log_bytes(&store);
    for step in ["granska", "registrera"] {
        let body = format!(
            "csrf={}&{}&steg={step}&sett_varningar=1",
            web.csrf,
            month.replace("gemensam-administration", "administration")
        );
        let r = web.post("/f/sf-vasteras/registrera/lonesammandrag", &body);
        assert_eq!(r.status, 403, "{step}: {}", r.body);
    }
    assert_eq!(log_bytes(&store), before);
}

/// The underlag upload, as a way in: a kansli of one förbund attaches nothing to another
/// förbund's events — neither through the other's address nor by naming its event in its own —
/// and nothing is written or kept.
#[test]
fn a_kansli_of_one_forbund_attaches_no_underlag_to_another_forbunds_events() {
    let dir = TempDir::new("security-underlag");
    let (store, transfer_seq) = merger_store(&dir);
    let kansli = token(&store, "kansli-vm", "kansli", &["sf-vastmanland"]);
    let vasteras_event = log_json(&store)
        .iter()
        .find(|e| e["event"]["forbund"] == "sf-vasteras")
        .map(|e| e["seq"].as_u64().unwrap())
        .unwrap();
    let server = Server::start(&store);
    let before = log_bytes(&store);
    let web = Browser::sign_in(&server.addr, &kansli);
    let upload = |path: &str, seq: u64| {
        let boundary = "finsamgrans";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"seq\"\r\n\r\n{seq}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"fil\"; filename=\"kvitto.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4 kvitto\r\n--{boundary}--\r\n",
            web.csrf
        );
        http(
            &server.addr,
            "POST",
            path,
            &[("Cookie", &web.cookie), ("Content-Type", &format!("multipart/form-data; boundary={boundary}"))],
            &body,
        )
    };
    let r = upload("/f/sf-vasteras/underlag", vasteras_event);
    assert_eq!(r.status, 403, "through the other förbund's address: {}", r.body);
    let r = upload("/f/sf-vastmanland/underlag", vasteras_event);
    assert_eq!(r.status, 422, "naming the other förbund's event: {}", r.body);
    assert!(r.body.contains("sf-vasteras"), "{}", r.body);
    assert_eq!(log_bytes(&store), before, "nothing was written");
    assert!(!store.join("underlag").exists(), "nothing was kept");
    // Its own förbund's event: attached.
    let r = upload("/f/sf-vastmanland/underlag", transfer_seq);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(log_json(&store).last().unwrap()["event"]["type"], "UnderlagAttached");
}

/// The bank import, as a way in: a kansli of one förbund neither uploads to nor records from
/// another förbund's import pages, and nothing is written or kept.
#[test]
fn a_kansli_of_one_forbund_imports_nothing_into_another_forbunds_books() {
    let dir = TempDir::new("security-import");
    let (store, _) = merger_store(&dir);
    let kansli = token(&store, "kansli-vm", "kansli", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let before = log_bytes(&store);
    let web = Browser::sign_in(&server.addr, &kansli);
    let camt = finsam_generate::bank::camt053(
        "02",
        crate::import::ACCOUNT,
        "S-1",
        0,
        &[finsam_generate::bank::Payment {
            date: "2024-03-31".parse().unwrap(),
            ore: 100_000,
            id: "X1".into(),
            counterparty: "Västerås stad".into(),
            ocr: None,
            text: None,
        }],
    );
    let boundary = "finsamgrans";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"fil\"; filename=\"k.xml\"\r\nContent-Type: application/xml\r\n\r\n{camt}\r\n--{boundary}--\r\n",
        web.csrf
    );
    let r = http(
        &server.addr,
        "POST",
        "/f/sf-vasteras/importera",
        &[("Cookie", &web.cookie), ("Content-Type", &format!("multipart/form-data; boundary={boundary}"))],
        &body,
    );
    assert_eq!(r.status, 403, "an upload to the other förbund: {}", r.body);
    let sha = hex(&<sha2::Sha256 as sha2::Digest>::digest(camt.as_bytes()));
    let r = web.post(
        &format!("/f/sf-vasteras/importera/{sha}"),
        &format!("csrf={}&namn=k.xml&tilldela%3Abank%3AX=medlem%3Avasteras-stad", web.csrf),
    );
    assert_eq!(r.status, 403, "a recording from the other förbund's review: {}", r.body);
    assert_eq!(web.get(&format!("/f/sf-vasteras/importera/{sha}")).status, 403);
    assert_eq!(log_bytes(&store), before, "nothing was written");
    assert!(!store.join("underlag").exists(), "nothing was kept");
}
