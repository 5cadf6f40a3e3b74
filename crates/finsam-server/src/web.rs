//! The web app: pages in Swedish for the kansli, the revisorer and the board, served by
//! `finsam serve` beside the API.
//!
//! Every page is rendered on the server from the same reports the CLI and the API compute
//! (`reports::*_out`, `Projection::*`), with maud; charts are the annual report's inline SVG.
//! No JavaScript is needed: every page and form works with links and plain form posts. Users
//! sign in with their token (from `finsam user add`), which is exchanged for a session cookie
//! (HttpOnly, SameSite=Strict; Secure behind TLS); every form carries the session's CSRF token.
//! A form is checked by the ledger's own rules through the writer (nothing written), shown
//! back for confirmation with its warnings, and only then recorded — with an idempotency key
//! made when the form was drawn, so a second press records nothing twice.

use super::{on_books, AccessNote, Shared, Shared_, WriteJob};
use axum::extract::{DefaultBodyLimit, Form, FromRequestParts, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{Datelike, NaiveDate};
use finsam_app::pages::{self, money_cell};
use finsam_app::reports::{self, Axes, KnownAt};
use finsam_app::Format;
use finsam_domain::{Amount, Event, Slug};
use finsam_store::access::{random_hex, same_secret, session_key, Role, StoredSession, User};
use finsam_store::StoreError;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const COOKIE: &str = "finsam_session";
/// The cookie that carries the sign-in form's own CSRF token (there is no session yet).
const LOGIN_COOKIE: &str = "finsam_login";
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// The signed-in users, by the SHA-256 of their session id; kept in the store too
/// (`sessions.jsonl`), so that a restart of the service signs nobody out.
#[derive(Default)]
pub struct Sessions {
    map: HashMap<String, StoredSession>,
    /// The sign-in forms drawn and not yet posted: their CSRF token and when. A post takes its
    /// token away, right code or wrong, so one form serves one try.
    forms: HashMap<String, Instant>,
}

/// How long a sign-in form may wait to be posted.
const SIGN_IN_FORM_LIFETIME: Duration = Duration::from_secs(3600);

/// How many sign-in forms may wait at once (the oldest gives way).
const SIGN_IN_FORMS_MAX: usize = 10_000;

impl Sessions {
    /// Remembers a sign-in form drawn.
    fn form_drawn(&mut self, token: &str) {
        self.forms.retain(|_, at| at.elapsed() < SIGN_IN_FORM_LIFETIME);
        if self.forms.len() >= SIGN_IN_FORMS_MAX {
            if let Some(oldest) = self.forms.iter().min_by_key(|(_, at)| **at).map(|(k, _)| k.clone()) {
                self.forms.remove(&oldest);
            }
        }
        self.forms.insert(token.to_string(), Instant::now());
    }

    /// Takes a posted sign-in form's token away: whether it was drawn here, and not too long ago.
    fn form_posted(&mut self, token: &str) -> bool {
        self.forms.remove(token).is_some_and(|at| at.elapsed() < SIGN_IN_FORM_LIFETIME)
    }
}

impl Sessions {
    /// The sessions still open, from the store.
    pub fn load(dir: &std::path::Path) -> Result<Sessions, finsam_store::StoreError> {
        let open = finsam_store::access::sessions_open(dir, now_unix(), SESSION_LIFETIME.as_secs())?;
        Ok(Sessions { map: open.into_iter().map(|s| (s.id_sha256.clone(), s)).collect(), forms: HashMap::new() })
    }
}

/// Seconds since 1970 (a session's age survives a restart, so no `Instant`).
fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether a session is still within its lifetime.
fn fresh(x: &StoredSession) -> bool {
    now_unix().saturating_sub(x.started) < SESSION_LIFETIME.as_secs()
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A page instead of the one asked for: the sign-in page, or a refusal.
type Refusal = Box<Response>;

/// A voucher's label and its rows: account number, account name, amount (debit positive).
type VoucherRows = (String, Vec<(String, String, Amount)>);

/// The signed-in user of a request and the session's CSRF token; `None` when not signed in,
/// the session is over, or the user has been revoked since.
fn session(s: &Shared, headers: &HeaderMap) -> Option<(User, String)> {
    let key = session_key(cookie(headers, COOKIE)?);
    s.refresh_users();
    let users = s.users.read().expect("the users' lock is never poisoned");
    let mut sessions = s.sessions.lock().expect("the sessions' lock is never poisoned");
    let found = sessions.map.get(&key).filter(|x| fresh(x)).and_then(|x| {
        let user = users.get(&x.user).filter(|u| u.grant_id() == x.grant)?;
        Some((user.clone(), x.csrf.clone()))
    });
    if found.is_none() {
        sessions.map.remove(&key);
    }
    found
}

/// Marks the answer to a sign-in with a code that is not valid (counted against the address).
#[derive(Clone, Copy)]
pub struct SignInRefused;

/// The way to the sign-in page for a form posted without a valid session (nothing of it read),
/// back to the page the form came from.
pub fn sign_in_again(path: &str) -> Response {
    see_other(&format!("/logga-in?tillbaka={}", encode(path)))
}

/// The user of the session cookie, for the API's downloads and reads (see `authorize`).
pub fn session_user(s: &Shared, headers: &HeaderMap) -> Option<User> {
    session(s, headers).map(|(u, _)| u)
}

/// Who is looking at a page.
struct Visitor {
    user: User,
    csrf: String,
}

impl Visitor {
    fn may_record(&self, f: &str) -> bool {
        self.user.may_record(f)
    }

    fn role_sv(&self) -> &'static str {
        match self.user.role {
            Role::Admin => "administratör",
            Role::Kansli => "kansli",
            Role::Revisor => "revisor",
            Role::Read => "läsare",
        }
    }
}

/// An HTML answer, noted in the access log with its user and förbund.
fn html_response(status: StatusCode, page: Markup, user: Option<&User>, forbund: Option<&str>) -> Response {
    let mut r = (status, page.into_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.extensions_mut().insert(AccessNote {
        user: user.map(|u| u.name.clone()),
        forbund: forbund.map(String::from),
        seqs: Vec::new(),
    });
    r
}

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The cookie's attributes: never readable by scripts, never sent from another site; Secure
/// when a TLS proxy in front says the request came over https.
fn cookie_attributes(headers: &HeaderMap) -> &'static str {
    let tls = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
    if tls {
        "; Path=/; HttpOnly; SameSite=Strict; Secure"
    } else {
        "; Path=/; HttpOnly; SameSite=Strict"
    }
}

const WEB_CSS: &str = "
body { max-width: 72rem; }
nav.top { display: flex; flex-wrap: wrap; gap: 0.2rem 1rem; align-items: center; border-bottom: 2px solid #1f4e79; padding: 0.4rem 0; margin-bottom: 1rem; }
nav.top .brand { font-weight: bold; color: #1f4e79; text-decoration: none; margin-right: 0.5rem; }
nav.top a { color: #1f4e79; } nav.top a[aria-current] { font-weight: bold; text-decoration: none; }
nav.top .who { margin-left: auto; color: #444; font-size: 0.9rem; }
nav.top form { display: inline; } button.link { background: none; border: none; color: #1f4e79; text-decoration: underline; cursor: pointer; font: inherit; padding: 0; }
a { color: #1f4e79; } a:focus, button:focus, input:focus, select:focus, textarea:focus { outline: 3px solid #f0a500; outline-offset: 1px; }
form.timebar { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: end; background: #eef3f8; padding: 0.5rem 0.8rem; border-radius: 4px; margin-bottom: 1rem; }
form.timebar label { display: flex; flex-direction: column; font-size: 0.85rem; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr)); gap: 0.8rem; margin: 1rem 0; }
.figure { border: 1px solid #c8d6e5; border-radius: 4px; padding: 0.6rem 0.8rem; } .figure .label { color: #444; font-size: 0.9rem; } .figure .value { font-size: 1.3rem; font-weight: bold; font-variant-numeric: tabular-nums; }
form.event { max-width: 40rem; } form.event.wide { max-width: none; } table.budget td { padding: 0.1rem 0.2rem; } table.budget input, table.budget select { width: 100%; } form.event .field { margin: 0.8rem 0; } form.event label { display: block; font-weight: bold; }
form.event input, form.event select, form.event textarea { font: inherit; padding: 0.3rem; border: 1px solid #777; border-radius: 3px; width: 100%; box-sizing: border-box; }
form.event input[type=checkbox] { width: auto; } .help { color: #444; font-size: 0.85rem; }
.error { color: #a30000; font-weight: bold; } .field.invalid input, .field.invalid select, .field.invalid textarea { border: 2px solid #a30000; }
.warning { background: #fff4d6; border-left: 4px solid #c98a00; padding: 0.4rem 0.7rem; margin: 0.5rem 0; }
.notice { background: #e6f4ea; border-left: 4px solid #2e7d32; padding: 0.5rem 0.8rem; margin: 0.5rem 0 1rem; }
.problem { background: #fde8e8; border-left: 4px solid #a30000; padding: 0.5rem 0.8rem; margin: 0.5rem 0 1rem; }
button.primary { background: #1f4e79; color: #fff; border: none; padding: 0.5rem 1.2rem; border-radius: 3px; font: inherit; cursor: pointer; }
button.secondary { background: #fff; color: #1f4e79; border: 1px solid #1f4e79; padding: 0.5rem 1.2rem; border-radius: 3px; font: inherit; cursor: pointer; }
pre { overflow-x: auto; } dl.event { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; } dl.event dt { font-weight: bold; }
";

/// What a report page's time bar shows: as of a date, as known at a seq or a time. Both are in
/// the page's URL, so a link says exactly what was seen.
#[derive(Deserialize, Default, Clone)]
struct TimeQuery {
    #[serde(default)]
    per: Option<String>,
    #[serde(default)]
    kant: Option<String>,
}

impl TimeQuery {
    fn as_of(&self) -> Option<&str> {
        self.per.as_deref().filter(|t| !t.is_empty())
    }

    fn known_at(&self) -> Option<&str> {
        self.kant.as_deref().filter(|t| !t.is_empty())
    }

    /// The axes of the reports, or the Swedish reason they cannot be read.
    fn axes(&self) -> Result<Axes, String> {
        let as_of = self
            .as_of()
            .map(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| format!("Datumet {t:?} skrivs ÅÅÅÅ-MM-DD.")))
            .transpose()?;
        let known_at = self
            .known_at()
            .map(|t| {
                KnownAt::parse(t).map_err(|_| {
                    format!("\"Känt vid\" {t:?} är ett händelsenummer (seq) eller en tidpunkt (ÅÅÅÅ-MM-DD eller ÅÅÅÅ-MM-DDTHH:MM:SSZ).")
                })
            })
            .transpose()?;
        Ok(Axes { as_of, known_at })
    }

    /// The query string that keeps these axes on a link (empty when none is set).
    fn query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = self.as_of() {
            parts.push(format!("per={}", encode(d)));
        }
        if let Some(k) = self.known_at() {
            parts.push(format!("kant={}", encode(k)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

/// Percent-encodes a query value.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn time_bar(path: &str, q: &TimeQuery) -> Markup {
    html! {
        form.timebar method="get" action=(path) aria-label="Tidsaxlar" {
            label { "Per datum" input type="date" name="per" value=(q.as_of().unwrap_or("")); }
            label { "Känt vid (seq eller tidpunkt)" input type="text" name="kant" inputmode="numeric" value=(q.known_at().unwrap_or("")) placeholder="senaste"; }
            button.secondary type="submit" { "Visa" }
            @if q.as_of().is_some() || q.known_at().is_some() {
                a href=(path) { "Visa senaste" }
            }
        }
    }
}

/// The frame of every page: the navigation (what the user's role may see), the user, sign-out.
fn layout(v: &Visitor, forbund: Option<(&str, &str)>, current: &str, title: &str, body: Markup) -> Markup {
    let links: Vec<(&str, String)> = match forbund {
        Some((id, _)) => {
            let year = chrono::Utc::now().date_naive().year();
            let mut l = vec![
                ("Översikt", format!("/f/{id}")),
                ("Händelser", format!("/f/{id}/handelser")),
                ("Uppföljning", format!("/f/{id}/uppfoljning/{year}")),
                ("Årsredovisning", format!("/f/{id}/arsredovisning/{}", year - 1)),
                ("Medlemsbidrag", format!("/f/{id}/medlemsbidrag/{year}")),
                ("Avstämning", format!("/f/{id}/avstamning")),
                ("Ladda ner", format!("/f/{id}/ladda-ner")),
            ];
            if v.may_record(id) {
                l.push(("Registrera", format!("/f/{id}/registrera")));
            }
            l
        }
        None => vec![("Förbund", "/".to_string())],
    };
    let body = html! {
        nav.top aria-label="Huvudmeny" {
            a.brand href="/" { "finsam" }
            @if let Some((_, name)) = forbund { strong { (name) } }
            @for (label, href) in &links {
                @if *label == current { a href=(href) aria-current="page" { (label) } } @else { a href=(href) { (label) } }
            }
            @if matches!(v.user.role, Role::Admin | Role::Revisor) { a href="/verifiera" { "Verifiera" } }
            span.who {
                (v.user.name) " (" (v.role_sv()) ") "
                form method="post" action="/logga-ut" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    button.link type="submit" { "Logga ut" }
                }
            }
        }
        main { (body) }
    };
    page_shell(title, body)
}

fn page_shell(title: &str, body: Markup) -> Markup {
    pages::shell(&format!("{title} – finsam"), WEB_CSS, body)
}

/// A page that says what went wrong, in Swedish, with the status it deserves.
fn problem_page(v: Option<&Visitor>, status: StatusCode, heading: &str, text: &str) -> Response {
    let body = html! { h1 { (heading) } p.problem { (text) } p { a href="/" { "Till startsidan" } } };
    let page = match v {
        Some(v) => layout(v, None, "", heading, body),
        None => page_shell(heading, body),
    };
    html_response(status, page, v.map(|v| &v.user), None)
}

/// The visitor, or the way to the sign-in page (back to this page afterwards).
fn signed_in(s: &Shared, headers: &HeaderMap, path: &str) -> Result<Visitor, Refusal> {
    match session(s, headers) {
        Some((user, csrf)) => Ok(Visitor { user, csrf }),
        None => Err(Box::new(sign_in_again(path))),
    }
}

/// The visitor, if the user may read the förbund's books.
fn reader(s: &Shared, headers: &HeaderMap, path: &str, f: &str) -> Result<Visitor, Refusal> {
    let v = signed_in(s, headers, path)?;
    if !v.user.covers(f) {
        return Err(Box::new(problem_page(
            Some(&v),
            StatusCode::FORBIDDEN,
            "Ingen behörighet",
            &format!("Din roll ({}) omfattar inte förbundet {f}.", v.role_sv()),
        )));
    }
    Ok(v)
}

/// The visitor, if the user may read the förbund's books, and the axes the time bar asks for
/// (a malformed one is a page saying why). `path` without its query; the sign-in page returns to
/// it with the query.
fn report_reader(
    s: &Shared,
    headers: &HeaderMap,
    path: &str,
    f: &str,
    q: &TimeQuery,
) -> Result<(Visitor, Axes), Refusal> {
    let v = reader(s, headers, &format!("{path}{}", q.query()), f)?;
    match q.axes() {
        Ok(axes) => Ok((v, axes)),
        Err(e) => Err(Box::new(problem_page(Some(&v), StatusCode::BAD_REQUEST, "Tidsaxlarna kan inte läsas", &e))),
    }
}

/// A report's failure as a page: unknown förbund or year → 404; anything else asked wrongly → 400.
fn failure_page(v: &Visitor, a: super::Answer) -> Response {
    let detail = serde_json::from_slice::<Value>(&a.body)
        .ok()
        .and_then(|j| j["error"].as_str().map(String::from))
        .unwrap_or_default();
    let heading = if a.status == StatusCode::NOT_FOUND { "Finns inte" } else { "Sidan kunde inte visas" };
    problem_page(Some(v), a.status, heading, &format!("Underlaget saknas eller frågan kan inte besvaras ({detail})."))
}

// --- who is asking, taken from the request before a handler runs --------------------------------

/// A signed-in reader of a förbund's books (its page's path and the förbund); else the sign-in
/// page or a refusal.
struct Reads {
    v: Visitor,
    f: String,
    path: String,
}

impl FromRequestParts<Shared_> for Reads {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, s: &Shared_) -> Result<Self, Response> {
        let (f, path) = (super::path_forbund(parts, s).await, parts.uri.path().to_string());
        let v = reader(s, &parts.headers, &path, &f).map_err(|r| *r)?;
        Ok(Reads { v, f, path })
    }
}

/// A reader of a report page: as `Reads`, with the time bar's query and the axes it asks for (a
/// malformed one is a page saying why).
struct Reports {
    v: Visitor,
    f: String,
    path: String,
    q: TimeQuery,
    axes: Axes,
}

impl FromRequestParts<Shared_> for Reports {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, s: &Shared_) -> Result<Self, Response> {
        let (f, path) = (super::path_forbund(parts, s).await, parts.uri.path().to_string());
        let Query(q) = Query::<TimeQuery>::from_request_parts(parts, s).await.map_err(IntoResponse::into_response)?;
        let (v, axes) = report_reader(s, &parts.headers, &path, &f, &q).map_err(|r| *r)?;
        Ok(Reports { v, f, path, q, axes })
    }
}

/// A user who may record in the förbund of the page (admin, or its kansli).
struct Records {
    v: Visitor,
    f: String,
}

impl FromRequestParts<Shared_> for Records {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, s: &Shared_) -> Result<Self, Response> {
        let (f, path) = (super::path_forbund(parts, s).await, parts.uri.path().to_string());
        let v = recorder(s, &parts.headers, &f, &path).map_err(|r| *r)?;
        Ok(Records { v, f })
    }
}

// --- signing in and out -------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct Back {
    #[serde(default)]
    tillbaka: Option<String>,
    #[serde(default)]
    fel: Option<String>,
}

/// Only a path of this site is a place to go back to.
fn back_path(p: Option<&str>) -> &str {
    p.filter(|p| is_local_path(p)).unwrap_or("/")
}

/// A path on this site: it starts with one `/` followed by something a browser cannot take
/// for another host. Browsers read `\` as `/` and drop tabs and newlines, so `/\evil`,
/// `/\t/evil` and `//evil` all lead elsewhere; any backslash, control character or space is
/// refused, and so is a second `/` at the start.
fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p[1..].starts_with('/')
        && !p.bytes().any(|b| b == b'\\' || b.is_ascii_control() || b == b' ')
        && p.len() <= 2048
}

async fn login_form(State(s): State<Shared_>, headers: HeaderMap, Query(q): Query<Back>) -> Response {
    let token = random_hex();
    s.sessions.lock().expect("the sessions' lock is never poisoned").form_drawn(&token);
    let body = html! {
        main {
            h1 { "Logga in i finsam" }
            p { "Logga in med den kod (token) du har fått av förbundets administratör. Koden skrivs ut av "
                code { "finsam user add" } "." }
            @if q.fel.is_some() { p.problem role="alert" { "Koden gäller inte. Kontrollera att den är rätt inklistrad, eller be administratören om en ny." } }
            form.event method="post" action="/logga-in" {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="tillbaka" value=(back_path(q.tillbaka.as_deref()));
                div.field {
                    label for="token" { "Kod (token)" }
                    input #token type="password" name="token" autocomplete="current-password" required;
                }
                button.primary type="submit" { "Logga in" }
            }
        }
    };
    let mut r = html_response(StatusCode::OK, page_shell("Logga in", body), None, None);
    if let Ok(v) = HeaderValue::from_str(&format!("{LOGIN_COOKIE}={token}{}", cookie_attributes(&headers))) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    csrf: String,
    #[serde(default)]
    tillbaka: Option<String>,
}

async fn login(State(s): State<Shared_>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let drawn = s.sessions.lock().expect("the sessions' lock is never poisoned").form_posted(&form.csrf);
    if !drawn || !cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same_secret(c, &form.csrf)) {
        return csrf_refused(None);
    }
    s.refresh_users();
    let user = s.users.read().expect("the users' lock is never poisoned").authenticate(form.token.trim()).cloned();
    let Some(user) = user else {
        s.metrics.refused_auth.inc();
        let mut r = see_other(&format!("/logga-in?fel=1&tillbaka={}", encode(back_path(form.tillbaka.as_deref()))));
        // The form's CSRF pair served its one try (taken away above): the browser drops it too.
        if let Ok(v) = HeaderValue::from_str(&format!("{LOGIN_COOKIE}=; Max-Age=0{}", cookie_attributes(&headers))) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        r.extensions_mut().insert(AccessNote { user: None, forbund: None, seqs: Vec::new() });
        r.extensions_mut().insert(SignInRefused);
        return r;
    };
    let id = random_hex();
    let kept = StoredSession {
        id_sha256: session_key(&id),
        user: user.name.clone(),
        grant: user.grant_id().to_string(),
        csrf: random_hex(),
        started: now_unix(),
    };
    // Kept durably before the cookie is given out: a restart does not sign this user out.
    if let Err(e) = finsam_store::access::session_begun(&s.dir, &kept) {
        return problem_page(
            None,
            StatusCode::SERVICE_UNAVAILABLE,
            "Inloggningen kunde inte sparas",
            &format!("Försök igen om en stund. ({e})"),
        );
    }
    {
        let mut sessions = s.sessions.lock().expect("the sessions' lock is never poisoned");
        sessions.map.retain(|_, x| fresh(x));
        sessions.map.insert(kept.id_sha256.clone(), kept);
    }
    let mut r = see_other(back_path(form.tillbaka.as_deref()));
    if let Ok(v) = HeaderValue::from_str(&format!("{COOKIE}={id}{}", cookie_attributes(&headers))) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{LOGIN_COOKIE}=; Max-Age=0{}", cookie_attributes(&headers))) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r.extensions_mut().insert(AccessNote { user: Some(user.name), forbund: None, seqs: Vec::new() });
    r
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(s): State<Shared_>, headers: HeaderMap, Form(form): Form<CsrfOnly>) -> Response {
    let Some((user, csrf)) = session(&s, &headers) else {
        return see_other("/logga-in");
    };
    if !same_secret(&csrf, &form.csrf) {
        return csrf_refused(Some(&user));
    }
    if let Some(id) = cookie(&headers, COOKIE) {
        let key = session_key(id);
        s.sessions.lock().expect("the sessions' lock is never poisoned").map.remove(&key);
        if let Err(e) = finsam_store::access::session_ended(&s.dir, &key) {
            tracing::warn!("a sign-out could not be kept ({e}); the session ends with its lifetime");
        }
    }
    let mut r = see_other("/logga-in");
    if let Ok(v) = HeaderValue::from_str(&format!("{COOKIE}=; Max-Age=0{}", cookie_attributes(&headers))) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r.extensions_mut().insert(AccessNote { user: Some(user.name), forbund: None, seqs: Vec::new() });
    r
}

fn csrf_refused(user: Option<&User>) -> Response {
    let body = html! {
        h1 { "Formuläret kunde inte tas emot" }
        p.problem { "Formuläret saknar en giltig säkerhetskod (CSRF). Inget har registrerats. Ladda om sidan och försök igen." }
        p { a href="/" { "Till startsidan" } }
    };
    html_response(StatusCode::FORBIDDEN, page_shell("Formuläret kunde inte tas emot", body), user, None)
}

// --- the förbund list and the start page --------------------------------------------------------

async fn index(State(s): State<Shared_>, headers: HeaderMap) -> Response {
    let v = match signed_in(&s, &headers, "/") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let snapshot = s.snapshot();
    let list: Vec<(String, String)> = snapshot
        .projection
        .forbund
        .iter()
        .filter(|(id, info)| v.user.covers(id.as_str()) && info.dissolved.is_none())
        .map(|(id, info)| (id.to_string(), info.name.clone()))
        .collect();
    if list.len() == 1 {
        return see_other(&format!("/f/{}", list[0].0));
    }
    let body = html! {
        h1 { "Förbund" }
        @if list.is_empty() { p { "Din roll omfattar inget förbund som är i drift." } }
        ul { @for (id, name) in &list { li { a href={"/f/" (id)} { (name) } } } }
    };
    html_response(StatusCode::OK, layout(&v, None, "Förbund", "Förbund", body), Some(&v.user), None)
}

/// What the start page shows.
struct Overview {
    name: String,
    at: finsam_projections::reports::At,
    balances: finsam_projections::reports::Balances,
    bank_account: String,
    budget: Option<finsam_projections::reports::BudgetPosition>,
    months: Vec<(String, Amount)>,
    findings: Vec<Finding>,
}

async fn start(State(s): State<Shared_>, Reports { v, f, path, q, axes }: Reports) -> Response {
    let forbund = f.clone();
    let overview = on_books(s.clone(), move |store, books| {
        let (slug, at) = reports::forbund_at(store, books, &forbund, &axes)?;
        let chart = reports::chart_for(store, &slug)?;
        let p = books.projection;
        let balances = p.balances(&slug, at, &chart).expect("checked that the förbund exists");
        let year = at.as_of.year();
        let months = (1..=at.as_of.month())
            .filter_map(|m| {
                let end = if m == 12 {
                    NaiveDate::from_ymd_opt(year, 12, 31)?
                } else {
                    NaiveDate::from_ymd_opt(year, m + 1, 1)?.pred_opt()?
                };
                let day = end.min(at.as_of);
                let b =
                    p.balances(&slug, finsam_projections::reports::At { as_of: day, known_at: at.known_at }, &chart)?;
                Some((pages::MONTHS[m as usize - 1].to_string(), b.bank))
            })
            .collect();
        let (result, ..) = reports::reconciliation(store, books, None, &axes, rust_decimal::Decimal::new(2, 1))?;
        let findings = result.findings.iter().filter(|x| x.forbund == slug).map(Finding::from).collect();
        Ok(Overview {
            name: p.forbund[&slug].name_known_at(at.known_at).to_string(),
            at,
            bank_account: chart.account(finsam_projections::chart::Role::Bank).number.clone(),
            budget: p.budget_position(&slug, year, at),
            balances,
            months,
            findings,
        })
    })
    .await;
    let o = match overview {
        Ok(o) => o,
        Err(a) => return failure_page(&v, a),
    };
    let keep = q.query();
    let b = &o.balances;
    let year = o.at.as_of.year();
    let figure = |id: &str, label: &str, value: Amount, href: String| {
        html! { div.figure { div.label { (label) } div.value { a #(id) href=(href) { (value.human()) } } } }
    };
    let body = html! {
        h1 { (o.name) }
        p.meta { "Per " (o.at.as_of) ", känt vid händelse " (o.at.known_at) "." }
        (time_bar(&path, &q))
        section aria-labelledby="nyckeltal" {
            h2 #nyckeltal { "Nyckeltal" }
            div.figures {
                (figure("nyckeltal-bank", "Kassa och bank", b.bank, format!("/f/{f}/konto/{}{keep}", o.bank_account)))
                (figure("nyckeltal-eget-kapital", "Eget kapital", b.equity, format!("/f/{f}/arsredovisning/{year}")))
                (figure("nyckeltal-intakter", &format!("Intäkter {year}"), b.income, format!("/f/{f}/handelser?fran={year}-01-01")))
                (figure("nyckeltal-kostnader", &format!("Kostnader {year}"), b.costs, format!("/f/{f}/uppfoljning/{year}")))
                (figure("nyckeltal-resultat", &format!("Resultat {year}"), b.result, format!("/f/{f}/arsredovisning/{year}")))
            }
        }
        @match &o.budget {
            None => section { h2 { "Budget " (year) } p { "Ingen budget i kraft för " (year) "." } },
            Some(bp) => (budget_section(&f, bp, &keep)),
        }
        section {
            h2 { "Kassa och bank " (year) }
            figure {
                figcaption { "Kassa och bank vid varje månads slut " (year) }
                (finsam_app::charts::line("bank", &format!("Kassa och bank vid varje månads slut {year}"), &o.months))
            }
            table {
                caption { "Kassa och bank per månad (kr)" }
                thead { tr { th { "månad" } th.n { "saldo" } } }
                tbody { @for (m, a) in &o.months { tr { td { (m) } (money_cell(*a)) } } }
            }
        }
        section {
            h2 { "Varningar och avstämning" }
            @if o.findings.is_empty() {
                p { "Inga anmärkningar för förbundet." }
            } @else {
                ul {
                    @for x in &o.findings {
                        li class=(if x.error { "problem" } else { "warning" }) {
                            strong { (x.subject) } ": " (x.explanation)
                            @for seq in &x.events {
                                " " a href={"/f/" (f) "/handelse/" (seq)} { "händelse " (seq) }
                            }
                        }
                    }
                }
            }
            p { a href={"/f/" (f) "/avstamning"} { "Hela avstämningen" } }
        }
        section {
            h2 { "Konton" }
            table {
                caption { "Saldon per konto (debet positivt, kr)" }
                thead { tr { th { "konto" } th { "namn" } th.n { "saldo" } } }
                tbody {
                    @for a in &b.accounts {
                        tr { td { (a.account) } td { (a.name) }
                            td.n { a href={"/f/" (f) "/konto/" (a.account) (keep)} { (a.balance.human_number()) } } }
                    }
                }
            }
        }
    };
    let page = layout(&v, Some((&f, &o.name)), "Översikt", &o.name, body);
    html_response(StatusCode::OK, page, Some(&v.user), Some(&f))
}

fn budget_section(f: &str, bp: &finsam_projections::reports::BudgetPosition, keep: &str) -> Markup {
    let bars: Vec<(String, Amount, Amount)> = bp
        .by_category
        .iter()
        .filter(|c| !c.budget.is_zero() || !c.spent.is_zero())
        .map(|c| (reports::category_title(c.category).to_string(), c.budget, c.spent))
        .collect();
    let by_line: Vec<(String, Amount, Amount)> = bp.lines.iter().map(|l| (l.name.clone(), l.budget, l.spent)).collect();
    let year = bp.year;
    let budget_total: Amount = bp.lines.iter().map(|l| l.budget).sum();
    let utfall_total: Amount = bp.lines.iter().map(|l| l.spent).sum::<Amount>() + bp.unbudgeted_spent;
    html! {
        section {
            h2 { "Budget och utfall " (year) }
            p.note { "Budgeten i kraft: " a href={"/f/" (f) "/handelse/" (bp.budget_seq)} { "beslutet (händelse " (bp.budget_seq) ")" } ". Klicka på ett utfall för att se verifikationerna bakom det." }
            figure {
                figcaption { "Budget och utfall per kategori " (year) }
                (finsam_app::charts::paired_bars("start-kategori", &format!("Budget och utfall per kategori {year}"), ("budget", "utfall"), &bars))
            }
            table {
                caption { "Per kategori (kr)" }
                thead { tr { th { "kategori" } th.n { "budget" } th.n { "utfall" } th.n { "kvar" } } }
                tbody {
                    @for (name, budget, spent) in &bars { tr { td { (name) } (money_cell(*budget)) (money_cell(*spent)) (money_cell(*budget - *spent)) } }
                    @if !bp.unbudgeted_spent.is_zero() { tr { td { "Utanför budgeten" } (money_cell(Amount::ZERO)) (money_cell(bp.unbudgeted_spent)) (money_cell(-bp.unbudgeted_spent)) } }
                    tr.sum { td { "Summa" } (money_cell(budget_total)) td.n #utfall-summa { (utfall_total.human_number()) } (money_cell(budget_total - utfall_total)) }
                }
            }
            figure {
                figcaption { "Budget och utfall per budgetrad och insats " (year) }
                (finsam_app::charts::paired_bars("start-rad", &format!("Budget och utfall per budgetrad och insats {year}"), ("budget", "utfall"), &by_line))
            }
            table {
                caption { "Per budgetrad och insats (kr)" }
                thead { tr { th { "rad" } th.n { "budget" } th.n { "beviljat" } th.n { "utfall" } th.n { "kvar" } } }
                tbody {
                    @for l in &bp.lines {
                        tr {
                            td { (l.name) }
                            (money_cell(l.budget))
                            (money_cell(l.granted))
                            td.n { a id={"utfall-" (l.id)} href={"/f/" (f) "/rad/" (year) "/" (l.id) (keep)} { (l.spent.human_number()) } }
                            (money_cell(l.remaining()))
                        }
                    }
                }
            }
        }
    }
}

// --- the vouchers behind a figure ---------------------------------------------------------------

/// A table of vouchers with the amount and the running balance, each leading to its event.
fn voucher_table(f: &str, caption: &str, rows: &[(finsam_projections::projection::Voucher, Amount, Amount)]) -> Markup {
    use finsam_projections::projection::VoucherKind;
    html! {
        table {
            caption { (caption) }
            thead { tr { th { "datum" } th { "verifikation" } th { "slag" } th { "text" } th.n { "belopp" } th.n { "saldo" } } }
            tbody {
                @for (voucher, amount, running) in rows {
                    tr {
                        td { (voucher.date) }
                        td { a href={"/f/" (f) "/handelse/" (voucher.seq)} { (voucher.label()) } }
                        td { @match voucher.kind {
                            VoucherKind::Event => "händelse",
                            VoucherKind::Correction { of } => { "rättelse av " (of) },
                            VoucherKind::Closing => "bokslut",
                        } }
                        td { (voucher.text) }
                        (money_cell(*amount))
                        (money_cell(*running))
                    }
                }
            }
        }
    }
}

/// Reports and the förbund's name (as known at the head) from the same books.
fn forbund_name(books: reports::Books<'_>, f: &str) -> Result<String, finsam_app::output::Failure> {
    Ok(books.projection.forbund[&reports::parse_forbund(f)?].name.clone())
}

async fn account(
    State(s): State<Shared_>,
    UrlPath((_, number)): UrlPath<(String, String)>,
    Reports { v, f, path, q, axes }: Reports,
) -> Response {
    let (forbund, acct) = (f.clone(), number.clone());
    let found = on_books(s.clone(), move |store, books| {
        let explained = reports::explain_entries(store, books, &forbund, &acct, &axes, None)?;
        Ok((explained, forbund_name(books, &forbund)?))
    })
    .await;
    let (x, name) = match found {
        Ok(x) => x,
        Err(a) => return failure_page(&v, a),
    };
    let balance = x.entries.last().map_or(Amount::ZERO, |e| e.2);
    let title = format!("Konto {number} {}", x.name);
    let body = html! {
        h1 { (title) }
        p.meta { "Per " (x.at.as_of) ", känt vid händelse " (x.at.known_at) ". Saldo " strong #saldo { (balance.human()) } "." }
        (time_bar(&path, &q))
        p.note { "Verifikationerna bakom saldot i datumordning, med löpande saldo. Klicka på en verifikation för händelsen och beslutet bakom den." }
        (voucher_table(&f, &format!("Verifikationer på konto {number} (kr)"), &x.entries))
    };
    html_response(StatusCode::OK, layout(&v, Some((&f, &name)), "", &title, body), Some(&v.user), Some(&f))
}

async fn budget_line(
    State(s): State<Shared_>,
    UrlPath((_, year, line)): UrlPath<(String, i32, String)>,
    Reports { v, f, path, q, axes }: Reports,
) -> Response {
    let (forbund, line_id) = (f.clone(), line.clone());
    let found = on_books(s.clone(), move |store, books| {
        let axes = Axes { as_of: axes.as_of.or(NaiveDate::from_ymd_opt(year, 12, 31)), known_at: axes.known_at };
        let (slug, at) = reports::forbund_at(store, books, &forbund, &axes)?;
        let id = Slug::parse(&line_id).map_err(|r| finsam_app::output::Failure::usage(r.to_string()))?;
        let p = books.projection;
        let Some(entries) = p.line_vouchers(&slug, year, &id, at) else {
            return Err(finsam_app::output::Failure {
                code: 2,
                message: format!("{slug} has no budget for {year} with a line {id}"),
            });
        };
        let position = p.budget_position(&slug, year, at).expect("line_vouchers found the budget");
        let l = position.lines.iter().find(|l| l.id == id).expect("line_vouchers found the line").clone();
        Ok((p.forbund[&slug].name.clone(), l, entries, at))
    })
    .await;
    let (name, l, rows, at) = match found {
        Ok(x) => x,
        Err(a) => return failure_page(&v, a),
    };
    let title = format!("{} {year}", l.name);
    let body = html! {
        h1 { (title) }
        p.meta { "Budget " (l.budget.human()) ", beviljat " (l.granted.human()) ", utfall " strong #utfall { (l.spent.human()) }
            " per " (at.as_of) ", känt vid händelse " (at.known_at) "." }
        (time_bar(&path, &q))
        p.note { "Verifikationerna bakom radens utfall. Klicka på en verifikation för händelsen och beslutet bakom den." }
        (voucher_table(&f, &format!("Kostnader på {} {year} (kr)", l.name), &rows))
    };
    html_response(StatusCode::OK, layout(&v, Some((&f, &name)), "", &title, body), Some(&v.user), Some(&f))
}

// --- one event: what it says, its vouchers, the decision behind it, its correction -------------

/// Swedish names of the contract's fields, for the event page.
fn field_label(key: &str) -> &str {
    match key {
        "amount" => "Belopp",
        "date" => "Datum",
        "year" => "År",
        "member" => "Medlem",
        "payer" => "Betalare",
        "line" => "Budgetrad",
        "insats" => "Insats",
        "reference" => "Referens",
        "text" => "Text",
        "reason" => "Skäl",
        "corrects" => "Rättar händelse",
        "invoice" => "Faktura",
        "supplier" => "Leverantör",
        "due" => "Förfallodag",
        "nature" => "Art",
        "kind" => "Slag",
        "name" => "Namn",
        "category" => "Kategori",
        "note" => "Anteckning",
        "from" => "Från förbund",
        "delta" => "Ändring",
        "credits" => "Krediterar faktura",
        "effective" => "Gäller från",
        "idempotency_key" => "Nyckel mot dubbelregistrering",
        other => other,
    }
}

#[derive(Deserialize, Default)]
struct EventQuery {
    #[serde(default)]
    registrerad: Option<String>,
}

async fn event_page(
    State(s): State<Shared_>,
    UrlPath((_, seq)): UrlPath<(String, u64)>,
    Query(q): Query<EventQuery>,
    Reads { v, f, .. }: Reads,
) -> Response {
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let slug = reports::parse_forbund(&forbund)?;
        reports::check_forbund(books, &slug)?;
        if seq == 0 || seq > books.head {
            return Err(finsam_app::output::Failure {
                code: 2, message: format!("no förbund event {seq} in the log")
            });
        }
        let mut found = None;
        finsam_store::read_events(store, &[seq], &mut |e| {
            found = Some(e);
            Ok(())
        })?;
        let e = found
            .ok_or_else(|| finsam_app::output::Failure { code: 2, message: format!("no förbund event {seq}") })?;
        let p = books.projection;
        let chart = reports::chart_for(store, &slug)?;
        let vouchers = p.vouchers_of(seq);
        let authority = vouchers.first().and_then(|vo| p.authorised_by(vo, &e.event));
        let rows: Vec<VoucherRows> = vouchers
            .iter()
            .map(|vo| {
                let rows = vo
                    .rows
                    .iter()
                    .map(|r| {
                        let a = chart.account(r.role);
                        (a.number.clone(), a.name.clone(), r.amount)
                    })
                    .collect();
                (format!("{} ({}, {})", vo.label(), vo.date, vo.forbund), rows)
            })
            .collect();
        let touches = e.event.forbund == slug || e.event.forbund_named().contains(&&slug);
        if !touches {
            return Err(finsam_app::output::Failure {
                code: 2,
                message: format!("no förbund event {seq} in {slug}'s books"),
            });
        }
        Ok((p.forbund[&slug].name.clone(), e, rows, authority, p.corrected.get(&seq).map(|(c, _)| *c)))
    })
    .await;
    let (name, e, vouchers, authority, corrected_by) = match found {
        Ok(x) => x,
        Err(a) => return failure_page(&v, a),
    };
    let value = e.event.to_json();
    let type_name = e.event.type_name();
    let title = format!("{} – händelse {seq}", finsam_projections::summary::type_label(type_name));
    let decision = e.event.kind.decision();
    let corrects = match e.event.kind {
        finsam_domain::EventKind::EventCorrected { corrects, .. } => Some(corrects),
        _ => None,
    };
    let body = html! {
        @if q.registrerad.is_some() {
            p.notice role="status" #registrerad { "Registrerat som händelse " strong { (seq) }
                @if let Some((label, _)) = vouchers.first() { ", verifikation " strong { (label) } } "." }
        }
        h1 { (title) }
        p.meta { (finsam_projections::summary::summary(&e.event)) }
        dl.event {
            dt { "Händelse (seq)" } dd { (seq) }
            dt { "Sort" } dd { (finsam_projections::summary::type_label(type_name)) " (" code { (type_name) } ")" }
            dt { "Registrerad" } dd { (e.recorded_at) " av " (e.recorded_by) }
            @if let Value::Object(fields) = &value {
                @for (k, x) in fields {
                    @if !matches!(k.as_str(), "type" | "forbund" | "decision") {
                        dt { (field_label(k)) }
                        dd { @match x {
                            Value::String(t) if k == "amount" || k == "delta" => (Amount::parse(t).map(|a| a.human()).unwrap_or_else(|_| t.clone())),
                            Value::String(t) => (t),
                            other => (other.to_string()),
                        } }
                    }
                }
            }
            dt { "Kedjans hash" } dd { code { (e.hash) } }
        }
        section {
            h2 { "Beslut" }
            @match (decision, authority) {
                (Some(d), _) => p #beslut { "Beslutat av " strong { (d.body) } " den " (d.date)
                    @if let Some(par) = &d.paragraph { ", " (par) } "." },
                (None, Some(by)) => p #beslut-via { "Händelsen har inget eget beslut; den stöds av "
                    a #beslutet href={"/f/" (f) "/handelse/" (by)} { "beslutet i händelse " (by) } "." },
                (None, None) => p { "Ingen beslutsuppgift hör till händelsen." },
            }
        }
        @if let Some(c) = corrected_by {
            p.warning { "Händelsen är rättad av " a href={"/f/" (f) "/handelse/" (c)} { "händelse " (c) } "." }
        }
        @if let Some(c) = corrects {
            p.note { "Rättar " a href={"/f/" (f) "/handelse/" (c)} { "händelse " (c) } "." }
        }
        section {
            h2 { "Verifikationer" }
            @if vouchers.is_empty() { p { "Händelsen bokför inget (inga pengar rör sig)." } }
            @for (label, rows) in &vouchers {
                table {
                    caption { (label) }
                    thead { tr { th { "konto" } th { "namn" } th.n { "debet" } th.n { "kredit" } } }
                    tbody {
                        @for (number, account_name, amount) in rows {
                            tr { td { a href={"/f/" (f) "/konto/" (number)} { (number) } } td { (account_name) }
                                @if amount.is_negative() { td.n { "" } (money_cell(-*amount)) } @else { (money_cell(*amount)) td.n { "" } } }
                        }
                    }
                }
            }
        }
        @if v.may_record(&f) && corrected_by.is_none() && corrects.is_none() {
            p { a href={"/f/" (f) "/registrera/rattelse?seq=" (seq)} { "Rätta händelsen" } }
        }
    };
    html_response(StatusCode::OK, layout(&v, Some((&f, &name)), "", &title, body), Some(&v.user), Some(&f))
}

// --- the trail ----------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct TrailQuery {
    #[serde(default)]
    fran: Option<String>,
    #[serde(default)]
    till: Option<String>,
    #[serde(default)]
    insats: Option<String>,
    #[serde(default)]
    sort: Option<String>,
}

async fn trail(State(s): State<Shared_>, Query(q): Query<TrailQuery>, Reads { v, f, path }: Reads) -> Response {
    let date =
        |t: &Option<String>| t.as_deref().filter(|t| !t.is_empty()).map(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d"));
    let (from, to) = match (date(&q.fran).transpose(), date(&q.till).transpose()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return problem_page(
                Some(&v),
                StatusCode::BAD_REQUEST,
                "Datumen kan inte läsas",
                "Skriv datum som ÅÅÅÅ-MM-DD.",
            )
        }
    };
    let filter =
        reports::TrailFilter { forbund: Some(f.clone()), insats: q.insats.clone().filter(|i| !i.is_empty()), from, to };
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let rows = reports::trail_rows(store, books, filter)?;
        let name = forbund_name(books, &forbund)?;
        let insatser: Vec<(String, String)> = books
            .projection
            .insatser
            .iter()
            .filter(|i| i.forbund.as_str() == forbund)
            .map(|i| (i.insats.to_string(), i.name.clone()))
            .collect();
        Ok((rows, name, insatser))
    })
    .await;
    let (rows, name, insatser) = match found {
        Ok(x) => x,
        Err(a) => return failure_page(&v, a),
    };
    let kind = q.sort.clone().filter(|k| !k.is_empty());
    let types: std::collections::BTreeSet<String> =
        rows.iter().filter_map(|r| r["type"].as_str().map(String::from)).collect();
    let shown: Vec<&Value> = rows.iter().filter(|r| kind.as_ref().is_none_or(|k| r["type"] == k.as_str())).collect();
    let body = html! {
        h1 { "Händelser" }
        form.timebar method="get" action=(path) aria-label="Filter" {
            label { "Från" input type="date" name="fran" value=(q.fran.as_deref().unwrap_or("")); }
            label { "Till" input type="date" name="till" value=(q.till.as_deref().unwrap_or("")); }
            label { "Sort"
                select name="sort" {
                    option value="" { "alla" }
                    @for t in &types { option value=(t) selected[kind.as_deref() == Some(t.as_str())] { (finsam_projections::summary::type_label(t)) } }
                }
            }
            label { "Insats"
                select name="insats" {
                    option value="" { "alla" }
                    @for (id, n) in &insatser { option value=(id) selected[q.insats.as_deref() == Some(id.as_str())] { (n) } }
                }
            }
            button.secondary type="submit" { "Filtrera" }
        }
        p.meta { (shown.len()) " händelser." }
        table {
            caption { "Händelser i registreringsordning" }
            thead { tr { th.n { "seq" } th { "datum" } th { "sort" } th { "vad" } th { "beslut" } th { "registrerad av" } } }
            tbody {
                @for r in &shown {
                    tr {
                        td.n { a href={"/f/" (f) "/handelse/" (r["seq"])} { (r["seq"]) } }
                        td { (r["date"].as_str().unwrap_or("")) }
                        td { (finsam_projections::summary::type_label(r["type"].as_str().unwrap_or(""))) }
                        td { (r["summary"].as_str().unwrap_or(""))
                            @if let Some(c) = r["corrected_by"].as_u64() { " " span.error { "(rättad av " (c) ")" } } }
                        td { @if let Some(d) = r["decision"].as_object() { (d["body"].as_str().unwrap_or("")) " " (d["date"].as_str().unwrap_or("")) } }
                        td { (r["recorded_by"].as_str().unwrap_or("")) }
                    }
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout(&v, Some((&f, &name)), "Händelser", "Händelser", body),
        Some(&v.user),
        Some(&f),
    )
}

// --- the reports of the annual-report issue, inside the app -------------------------------------

#[derive(Deserialize, Default)]
struct PeriodQuery {
    #[serde(default)]
    till: Option<String>,
    #[serde(default)]
    kant: Option<String>,
}

/// A page made by `pages` (the annual report, the follow-up, the member statement), in the
/// app's frame: its body without its own shell.
fn inner(document: &str) -> &str {
    let start = document.find("<body>").map_or(0, |i| i + "<body>".len());
    let end = document.rfind("</body>").unwrap_or(document.len());
    &document[start..end]
}

async fn annual_page(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Reports { v, f, path, q, axes }: Reports,
) -> Response {
    let known_at = axes.known_at;
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let page = finsam_app::annual::annual_out(
            store,
            books,
            &forbund,
            year,
            known_at,
            rust_decimal::Decimal::new(2, 1),
            Format::Html,
        )?;
        Ok((page, forbund_name(books, &forbund)?))
    })
    .await;
    report_in_frame(
        &v,
        &f,
        found,
        "Årsredovisning",
        &format!("Årsredovisning {year}"),
        html! {
            p.note { "Vill du skriva ut? " a href={"/f/" (f) "/arsredovisning/" (year) "/utskrift"} { "Öppna utskriftsversionen" } " och skriv ut som PDF (A4)." }
            form.timebar method="get" action=(path) {
                label { "Känt vid (seq eller tidpunkt)" input type="text" name="kant" value=(q.known_at().unwrap_or("")) placeholder="senaste"; }
                button.secondary type="submit" { "Visa" }
            }
        },
    )
}

async fn annual_print(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Reads { v, f, .. }: Reads,
) -> Response {
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        finsam_app::annual::annual_out(
            store,
            books,
            &forbund,
            year,
            None,
            rust_decimal::Decimal::new(2, 1),
            Format::Html,
        )
    })
    .await;
    match found {
        Ok(page) => {
            let mut r = html_response(StatusCode::OK, PreEscaped(page), Some(&v.user), Some(&f));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            r
        }
        Err(a) => failure_page(&v, a),
    }
}

fn report_in_frame(
    v: &Visitor,
    f: &str,
    found: Result<(String, String), super::Answer>,
    current: &str,
    title: &str,
    before: Markup,
) -> Response {
    match found {
        Ok((page, name)) => {
            let body = html! { (before) (PreEscaped(inner(&page))) };
            html_response(StatusCode::OK, layout(v, Some((f, &name)), current, title, body), Some(&v.user), Some(f))
        }
        Err(a) => failure_page(v, a),
    }
}

async fn period_page(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Query(q): Query<PeriodQuery>,
    Reads { v, f, path }: Reads,
) -> Response {
    let today = chrono::Utc::now().date_naive();
    let default_month = if today.year() == year { today.month() } else { 12 };
    let month = match q.till.as_deref().filter(|t| !t.is_empty()) {
        None => default_month,
        Some(t) => match t.split_once('-').and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?))) {
            Some((y, m)) if y == year && (1..=12).contains(&m) => m,
            _ => {
                return problem_page(
                    Some(&v),
                    StatusCode::BAD_REQUEST,
                    "Månaden kan inte läsas",
                    &format!("Ange en månad i {year} som ÅÅÅÅ-MM, t.ex. {year}-08."),
                )
            }
        },
    };
    let known_at = match (TimeQuery { per: None, kant: q.kant.clone() }).axes() {
        Ok(a) => a.known_at,
        Err(e) => return problem_page(Some(&v), StatusCode::BAD_REQUEST, "Tidsaxlarna kan inte läsas", &e),
    };
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let asked = finsam_app::annual::PeriodAsked {
            year,
            through: (year, month),
            known_at,
            profile: finsam_projections::period::Profile::even(),
        };
        let page = finsam_app::annual::period_out(store, books, &forbund, &asked, Format::Html)?;
        Ok((page, forbund_name(books, &forbund)?))
    })
    .await;
    let selected = format!("{year}-{month:02}");
    report_in_frame(
        &v,
        &f,
        found,
        "Uppföljning",
        &format!("Ekonomisk uppföljning {year}"),
        html! {
            form.timebar method="get" action=(path) {
                label { "Till och med månad"
                    select name="till" {
                        @for m in 1..=12u32 {
                            @let value = format!("{year}-{m:02}");
                            option value=(value) selected[value == selected] { (pages::MONTH_NAMES[m as usize - 1]) " " (year) }
                        }
                    }
                }
                label { "Känt vid (seq eller tidpunkt)" input type="text" name="kant" value=(q.kant.as_deref().unwrap_or("")) placeholder="senaste"; }
                button.secondary type="submit" { "Visa" }
            }
        },
    )
}

async fn members_page(
    State(s): State<Shared_>,
    UrlPath((_, year)): UrlPath<(String, i32)>,
    Reports { v, f, path, q, axes }: Reports,
) -> Response {
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let page = finsam_app::annual::members_out(store, books, &forbund, year, &axes, Format::Html)?;
        Ok((page, forbund_name(books, &forbund)?))
    })
    .await;
    report_in_frame(&v, &f, found, "Medlemsbidrag", &format!("Medlemsbidrag {year}"), time_bar(&path, &q))
}

impl From<&finsam_projections::reconcile::Finding> for Finding {
    fn from(x: &finsam_projections::reconcile::Finding) -> Finding {
        let human = |x: Option<finsam_projections::reconcile::Figure>| x.map_or(String::new(), |x| x.human());
        Finding {
            forbund: x.forbund.to_string(),
            subject: x.subject.clone(),
            stated: human(x.stated),
            computed: human(x.computed),
            difference: human(x.difference),
            error: x.severity.as_str() == "error",
            explanation: x.explanation.clone(),
            events: x.events.clone(),
        }
    }
}

/// A reconciliation finding as the pages show it (figures in Swedish form).
struct Finding {
    forbund: String,
    subject: String,
    stated: String,
    computed: String,
    difference: String,
    error: bool,
    explanation: String,
    events: Vec<u64>,
}

async fn reconciliation(State(s): State<Shared_>, Reports { v, f, path, q, axes }: Reports) -> Response {
    let forbund = f.clone();
    let found = on_books(s.clone(), move |store, books| {
        let slug = reports::parse_forbund(&forbund)?;
        reports::check_forbund(books, &slug)?;
        // The merger into this förbund, if there is one; else the store's checks, of which the
        // page shows only what concerns this förbund (the reader may read no other's books).
        let merger = books.projection.mergers.iter().any(|m| m.forbund == slug).then_some(forbund.as_str());
        let ceiling = rust_decimal::Decimal::new(2, 1);
        let (result, merger, at) = reports::reconciliation(store, books, merger, &axes, ceiling)?;
        let result = if merger.is_some() { result } else { result.restricted_to(&slug) };
        let table =
            reports::render_reconciliation(&result, books.projection, merger.as_ref(), at, books.head, Format::Table);
        let findings: Vec<Finding> = result.findings.iter().map(Finding::from).collect();
        Ok((table, result.ok(), books.projection.forbund[&slug].name.clone(), findings))
    })
    .await;
    let (table, ok, name, findings) = match found {
        Ok(x) => x,
        Err(a) => return failure_page(&v, a),
    };
    let body = html! {
        h1 { "Avstämning" }
        (time_bar(&path, &q))
        p class=(if ok { "notice" } else { "warning" }) { @if ok { "Avstämningen går ihop." } @else { "Avstämningen har anmärkningar; se nedan." } }
        @if !findings.is_empty() {
            table {
                caption { "Anmärkningar" }
                thead { tr { th { "förbund" } th { "vad" } th.n { "angivet" } th.n { "beräknat" } th.n { "skillnad" } th { "förklaring" } th { "händelser" } } }
                tbody {
                    @for x in &findings {
                        tr class=(if x.error { "problem" } else { "warning" }) {
                            td { (x.forbund) }
                            td { (x.subject) }
                            td.n { (x.stated) }
                            td.n { (x.computed) }
                            td.n { (x.difference) }
                            td { (x.explanation) }
                            td { @for seq in &x.events {
                                @if x.forbund == f { a href={"/f/" (f) "/handelse/" (seq)} { (seq) } " " } @else { (seq) " " }
                            } }
                        }
                    }
                }
            }
        }
        h2 { "Hela avstämningen" }
        pre { (table) }
    };
    html_response(
        StatusCode::OK,
        layout(&v, Some((&f, &name)), "Avstämning", "Avstämning", body),
        Some(&v.user),
        Some(&f),
    )
}

async fn downloads(State(s): State<Shared_>, Reads { v, f, .. }: Reads) -> Response {
    let snapshot = s.snapshot();
    let Some(info) = Slug::parse(&f).ok().and_then(|slug| snapshot.projection.forbund.get(&slug)) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", &format!("Förbundet {f} finns inte."));
    };
    let name = info.name.clone();
    let this_year = chrono::Utc::now().date_naive().year();
    let years: Vec<i32> = (info.registered.year()..=this_year).rev().collect();
    let api = format!("/api/v1/forbund/{f}");
    let exports = v.user.role != Role::Read;
    let body = html! {
        h1 { "Ladda ner" }
        @if !exports {
            p { "Din roll (läsare) får se rapporterna men inte ladda ner bokföringen." }
        } @else {
            table {
                caption { "Per räkenskapsår" }
                thead { tr { th { "år" } th { "revisorns paket" } th { "SIE 4" } th { "huvudbok (ledger)" } } }
                tbody {
                    @for y in &years {
                        tr {
                            td { (y) }
                            td { a href={(api) "/bundle/" (y)} download { "paket-" (y) ".zip" } }
                            td { a href={(api) "/export/sie/" (y)} download { "sie-" (y) ".se" } }
                            td { a href={(api) "/export/journal?year=" (y)} download { "journal-" (y) ".ledger" } }
                        }
                    }
                }
            }
        }
        p { "Som CSV: " a href={"/f/" (f) "/ladda-ner/saldon.csv"} download { "saldon per konto" } "." }
    };
    html_response(
        StatusCode::OK,
        layout(&v, Some((&f, &name)), "Ladda ner", "Ladda ner", body),
        Some(&v.user),
        Some(&f),
    )
}

async fn balances_csv(State(s): State<Shared_>, Reports { v, f, axes, .. }: Reports) -> Response {
    let forbund = f.clone();
    match on_books(s.clone(), move |store, books| reports::balances_out(store, books, &forbund, &axes, Format::Csv))
        .await
    {
        Ok(csv) => {
            let mut r = html_response(StatusCode::OK, PreEscaped(csv), Some(&v.user), Some(&f));
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"saldon-{f}.csv\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, value);
            }
            r
        }
        Err(a) => failure_page(&v, a),
    }
}

#[derive(Deserialize, Default)]
struct VerifyQuery {
    #[serde(default)]
    kor: Option<String>,
}

async fn verify_page(State(s): State<Shared_>, headers: HeaderMap, Query(q): Query<VerifyQuery>) -> Response {
    let v = match signed_in(&s, &headers, "/verifiera") {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if !matches!(v.user.role, Role::Admin | Role::Revisor) {
        return problem_page(
            Some(&v),
            StatusCode::FORBIDDEN,
            "Ingen behörighet",
            "Verifieringen av hela loggen är för revisorer och administratörer.",
        );
    }
    let result = if q.kor.is_some() {
        let dir = s.dir.clone();
        let task = tokio::task::spawn_blocking(move || {
            (finsam_store::verify(&dir, &[]), finsam_store::access::verify_access(&dir))
        });
        task.await.ok()
    } else {
        None
    };
    let body = html! {
        h1 { "Verifiera loggen" }
        p { "Verifieringen läser hela händelseloggen från början, räknar om varje rads hash i kedjan och kontrollerar att "
            "varje händelse följer reglerna, och läser åtkomstloggen på samma sätt. Loggens huvud kan jämföras med ett tidigare." }
        form method="get" action="/verifiera" { input type="hidden" name="kor" value="1"; button.primary type="submit" { "Verifiera nu" } }
        @if let Some((events, access)) = &result {
            @match (events, access) {
                (Ok(r), Ok(a)) => {
                    @let ok = r.ok() && a.problem.is_none();
                    p class=(if ok { "notice" } else { "problem" }) #verifiering {
                        @if ok { "Loggen är hel: " (r.events) " händelser, kedjan obruten." } @else { "Loggen har fel: se nedan." }
                    }
                    @if let Some(h) = &r.head {
                        h2 { "Sammanfattning (digest)" }
                        p { "Loggens huvud: " code #digest { (h.seq) ":" (h.hash) } ". Samma huvud som vid förra granskningen betyder att inget före det har ändrats." }
                    }
                    ul { @for (at, what) in &r.problems { li.error { "Vid " (at) ": " (what) } } }
                    p { "Åtkomstloggen: " (a.lines) " rader" @if let Some(pr) = &a.problem { ", fel: " (pr) } "." }
                }
                (Err(e), _) | (_, Err(e)) => p.problem { "Verifieringen kunde inte köras: " (e.to_string()) },
            }
        }
    };
    html_response(StatusCode::OK, layout(&v, None, "", "Verifiera loggen", body), Some(&v.user), None)
}

// --- the forms ----------------------------------------------------------------------------------

/// What a form's field asks for, and how the answer becomes the event's JSON.
#[derive(Clone, Copy)]
enum Input {
    Date,
    Year,
    /// Kronor, typed the Swedish way.
    Amount,
    Member,
    CostLine,
    IncomeLine,
    Insats,
    OpenInvoice,
    Text,
    LongText,
    Choice(&'static [(&'static str, &'static str)]),
    Seq,
    /// Another förbund of the store.
    OtherForbund,
}

struct Field {
    /// The event's field, `decision.body` for a nested one.
    name: &'static str,
    label: &'static str,
    input: Input,
    required: bool,
    help: &'static str,
}

const fn field(name: &'static str, label: &'static str, input: Input, required: bool, help: &'static str) -> Field {
    Field { name, label, input, required, help }
}

const NATURES: &[(&str, &str)] = &[
    ("", "som budgetradens"),
    ("personal", "personal (förbundets egen)"),
    ("kopta_tjanster", "köpta tjänster"),
    ("lamnade_bidrag", "lämnade bidrag till insatser"),
    ("ovrigt", "övriga kostnader"),
];

const CATEGORIES: &[(&str, &str)] =
    &[("individ", "individinriktad"), ("struktur", "strukturinriktad (metodutveckling)"), ("admin", "administration")];

const ACCRUALS: &[(&str, &str)] = &[
    ("upplupen_kostnad", "upplupen kostnad (årets kostnad, faktureras senare)"),
    ("forutbetald_kostnad", "förutbetald kostnad (betald i år, hör till nästa år)"),
    ("upplupen_intakt", "upplupen intäkt (årets intäkt, betalas senare)"),
    ("forutbetald_intakt", "förutbetald intäkt (betald i år, hör till nästa år)"),
];

const DATE: Field = field("date", "Datum", Input::Date, true, "Dagen händelsen gäller (t.ex. betalningsdagen).");
const BANK_REFERENCE: Field = field("reference", "Referens", Input::Text, true, "T.ex. bankens verifikation.");
const AMOUNT: Field = field("amount", "Belopp (kr)", Input::Amount, true, "Skriv som på svenska, t.ex. 1 500,50.");
const YEAR: Field = field("year", "År", Input::Year, true, "Räkenskapsåret det gäller.");
const DECISION: [Field; 3] = [
    field("decision.body", "Beslutande organ", Input::Text, true, "T.ex. styrelsen."),
    field("decision.date", "Beslutsdatum", Input::Date, true, ""),
    field("decision.paragraph", "Paragraf", Input::Text, false, "T.ex. § 12."),
];

struct FormSpec {
    slug: &'static str,
    event: &'static str,
    title: &'static str,
    intro: &'static str,
    fields: &'static [&'static [Field]],
}

const FORMS: &[FormSpec] = &[
    FormSpec {
        slug: "medlemsbidrag",
        event: "ContributionReceived",
        title: "Inbetalt medlemsbidrag",
        intro: "Ett medlemsbidrag som kommit in på banken.",
        fields: &[&[
            DATE,
            field("member", "Medlem", Input::Member, true, ""),
            YEAR,
            AMOUNT,
            field("reference", "Referens", Input::Text, true, "T.ex. bankens verifikation eller fakturanummer."),
            field(
                "payer",
                "Betalare, om inte medlemmen själv",
                Input::Member,
                false,
                "Försäkringskassan betalar statens del.",
            ),
        ]],
    },
    FormSpec {
        slug: "bidragsbeslut",
        event: "ContributionDecided",
        title: "Beslutat medlemsbidrag",
        intro: "En medlems bidrag för ett år, som beslutat: en fordran tills det betalas.",
        fields: &[
            &[
                DATE,
                field("member", "Medlem", Input::Member, true, ""),
                YEAR,
                AMOUNT,
                field("reference", "Referens", Input::Text, true, "T.ex. fakturanummer."),
            ],
            &DECISION,
        ],
    },
    FormSpec {
        slug: "kostnad",
        event: "CostRecorded",
        title: "Kostnad",
        intro: "En kostnad som betalats direkt (utan leverantörsfaktura).",
        fields: &[&[
            DATE,
            YEAR,
            field("line", "Budgetrad", Input::CostLine, false, "Raden i årets budget; ange rad, insats eller båda."),
            field("insats", "Insats", Input::Insats, false, ""),
            AMOUNT,
            field("reference", "Referens", Input::Text, true, "T.ex. verifikationsnummer."),
            field("text", "Vad kostnaden avser", Input::Text, true, ""),
            field("nature", "Art", Input::Choice(NATURES), false, ""),
        ]],
    },
    FormSpec {
        slug: "faktura",
        event: "InvoiceReceived",
        title: "Leverantörsfaktura",
        intro: "En faktura från en leverantör: kostnad när den kommer, skuld tills den betalas.",
        fields: &[&[
            DATE,
            YEAR,
            field(
                "invoice",
                "Fakturans id",
                Input::Text,
                true,
                "Små bokstäver, siffror och bindestreck, t.ex. f-2024-117.",
            ),
            field("supplier", "Leverantör", Input::Text, true, ""),
            field("line", "Budgetrad", Input::CostLine, false, "Ange rad, insats eller båda."),
            field("insats", "Insats", Input::Insats, false, ""),
            AMOUNT,
            field("due", "Förfallodag", Input::Date, false, ""),
            field("reference", "Referens", Input::Text, true, "T.ex. leverantörens fakturanummer."),
            field("text", "Vad fakturan avser", Input::Text, true, ""),
            field("nature", "Art", Input::Choice(NATURES), false, ""),
        ]],
    },
    FormSpec {
        slug: "betalning",
        event: "InvoicePaid",
        title: "Betalning av faktura",
        intro: "En betalning, hel eller del, av en leverantörsfaktura.",
        fields: &[&[DATE, field("invoice", "Faktura", Input::OpenInvoice, true, ""), AMOUNT, BANK_REFERENCE]],
    },
    FormSpec {
        slug: "medel",
        event: "FundingGranted",
        title: "Beslut om medel (medelstilldelning)",
        intro: "Styrelsens beslut att bevilja en insats medel för ett år.",
        fields: &[
            &[
                DATE,
                field("insats", "Insats", Input::Insats, true, ""),
                YEAR,
                field("amount", "Belopp (kr)", Input::Amount, true, "Skriv som på svenska, t.ex. 1 500 000."),
            ],
            &DECISION,
        ],
    },
    FormSpec {
        slug: "insats",
        event: "InsatsCreated",
        title: "Ny insats",
        intro: "En insats som styrelsen beslutat att inrätta.",
        fields: &[
            &[
                DATE,
                field(
                    "insats",
                    "Insatsens id",
                    Input::Text,
                    true,
                    "Små bokstäver, siffror och bindestreck, t.ex. samordningsteam-sala.",
                ),
                field("name", "Namn", Input::Text, true, ""),
                field("category", "Kategori", Input::Choice(CATEGORIES), true, ""),
            ],
            &DECISION,
        ],
    },
    FormSpec {
        slug: "periodisering",
        event: "AccrualRecorded",
        title: "Periodisering vid årets slut",
        intro: "Bokförs den 31 december och vänds den 1 januari.",
        fields: &[&[
            DATE,
            YEAR,
            field("kind", "Slag", Input::Choice(ACCRUALS), true, ""),
            field("line", "Budgetrad", Input::CostLine, false, "För en kostnad: raden och/eller insatsen."),
            field("insats", "Insats", Input::Insats, false, ""),
            field("member", "Medlem", Input::Member, false, "För en intäkt: medlemmen, eller intäktsraden."),
            AMOUNT,
            field("reference", "Referens", Input::Text, true, ""),
            field("text", "Text", Input::Text, true, ""),
        ]],
    },
    FormSpec {
        slug: "prognos",
        event: "ForecastRecorded",
        title: "Helårsprognos för en budgetrad",
        intro: "Kansliets bedömning av vad raden landar på för helåret; visas i uppföljningen.",
        fields: &[&[
            DATE,
            YEAR,
            field("line", "Budgetrad", Input::CostLine, true, ""),
            field("amount", "Prognos helår (kr)", Input::Amount, true, "Skriv som på svenska, t.ex. 640 000."),
            field("text", "Motivering", Input::LongText, true, "Som styrelsen ska läsa den."),
        ]],
    },
    FormSpec {
        slug: "ovrig-intakt",
        event: "OtherIncomeRecorded",
        title: "Övrig intäkt",
        intro: "En intäkt på en intäktsrad i årets budget (inte medlemsbidrag).",
        fields: &[&[
            DATE,
            YEAR,
            field("line", "Intäktsrad", Input::IncomeLine, true, ""),
            AMOUNT,
            field("reference", "Referens", Input::Text, true, ""),
        ]],
    },
    FormSpec {
        slug: "sammanlaggning",
        event: "MergerDecided",
        title: "Beslut om sammanläggning",
        intro: "Förbund som går upp i detta förbund, från ett datum, med planens beräknade överföringar.",
        fields: &[
            &[
                DATE,
                field(
                    "effective",
                    "Gäller från",
                    Input::Date,
                    true,
                    "Dagen sammanläggningen träder i kraft, t.ex. 2024-01-01.",
                ),
                field("merging[0]", "Förbund som går upp", Input::OtherForbund, true, ""),
                field("estimate[0]", "Beräknad överföring (kr)", Input::Amount, false, "Som planen anger."),
                field("merging[1]", "Förbund som går upp", Input::OtherForbund, false, ""),
                field("estimate[1]", "Beräknad överföring (kr)", Input::Amount, false, ""),
                field("merging[2]", "Förbund som går upp", Input::OtherForbund, false, ""),
                field("estimate[2]", "Beräknad överföring (kr)", Input::Amount, false, ""),
            ],
            &DECISION,
        ],
    },
    FormSpec {
        slug: "overforing",
        event: "EquityTransferred",
        title: "Överfört eget kapital",
        intro: "Pengar som ett förbund som gått upp i detta har fört över.",
        fields: &[&[DATE, field("from", "Från förbund", Input::OtherForbund, true, ""), AMOUNT, BANK_REFERENCE]],
    },
    FormSpec {
        slug: "overtagande",
        event: "BalancesTakenOver",
        title: "Övertagna tillgångar och skulder",
        intro: "Dagen sammanläggningen träder i kraft: det gamla förbundets alla saldon flyttas hit, konto för konto.",
        fields: &[&[
            DATE,
            field("from", "Från förbund", Input::OtherForbund, true, ""),
            field("reference", "Referens", Input::Text, true, "T.ex. det gamla förbundets bokslut."),
        ]],
    },
    FormSpec {
        slug: "rattelse",
        event: "EventCorrected",
        title: "Rättelse",
        intro: "Tar tillbaka en händelse: dess verifikationer vänds med dagens datum. Händelsen finns kvar i loggen.",
        fields: &[&[
            DATE,
            field(
                "corrects",
                "Händelse som rättas (seq)",
                Input::Seq,
                true,
                "Välj händelsen i listan Händelser och klicka Rätta.",
            ),
            field("reason", "Skäl", Input::LongText, true, ""),
        ]],
    },
    FormSpec {
        slug: "bokslut",
        event: "YearClosed",
        title: "Bokslut: stäng ett år",
        intro: "Årets resultat förs till eget kapital och året låses.",
        fields: &[&[DATE, YEAR], &DECISION],
    },
];

fn form_spec(slug: &str) -> Option<&'static FormSpec> {
    FORMS.iter().find(|x| x.slug == slug)
}

/// What the form's lists offer: the förbund's members, budget lines, insatser, open invoices.
struct Choices {
    name: String,
    members: Vec<(String, String)>,
    cost_lines: Vec<(String, String)>,
    income_lines: Vec<(String, String)>,
    insatser: Vec<(String, String)>,
    invoices: Vec<(String, String)>,
    others: Vec<(String, String)>,
}

/// What a form offers to choose from. The other förbund (of a merger, a transfer, a takeover)
/// are those the user may also record in: an event that touches another förbund's books is
/// refused unless the user may record there too.
fn choices(books: reports::Books<'_>, f: &Slug, user: &User) -> Choices {
    let p = books.projection;
    let info = &p.forbund[f];
    let today = chrono::Utc::now().date_naive();
    let members = info.members_at(today, books.head).iter().map(|(id, n, ..)| (id.to_string(), n.clone())).collect();
    let mut cost_lines: BTreeMap<String, String> = BTreeMap::new();
    let mut income_lines: BTreeMap<String, String> = BTreeMap::new();
    for b in p.budgets.iter().filter(|b| &b.forbund == f && b.year >= today.year() - 1 && b.corrected.is_none()) {
        for l in &b.costs {
            cost_lines.insert(l.id.to_string(), format!("{} ({})", l.name, b.year));
        }
        for l in &b.income {
            income_lines.insert(l.id.to_string(), format!("{} ({})", l.name, b.year));
        }
    }
    let insatser = p
        .insatser
        .iter()
        .filter(|i| &i.forbund == f && i.end.is_none_or(|e| e >= today))
        .map(|i| (i.insats.to_string(), i.name.clone()))
        .collect();
    let invoices = p
        .invoices
        .iter()
        .filter(|i| &i.forbund == f && i.credits.is_none() && !p.corrected.contains_key(&i.seq))
        .map(|i| (i.invoice.to_string(), format!("{} – {} {}", i.invoice, i.supplier, i.amount.human())))
        .collect();
    let others = p
        .forbund
        .iter()
        .filter(|(id, _)| *id != f && user.may_record(id.as_str()))
        .map(|(id, i)| (id.to_string(), i.name.clone()))
        .collect();
    Choices {
        others,
        name: info.name.clone(),
        members,
        cost_lines: cost_lines.into_iter().collect(),
        income_lines: income_lines.into_iter().collect(),
        insatser,
        invoices,
    }
}

/// An amount typed the Swedish way — `1 500,50`, `1500`, `-200,5` — as the contract's canonical
/// text (`1500.50`), or what is wrong with it, in Swedish.
pub fn swedish_amount(text: &str) -> Result<String, &'static str> {
    let t: String = text.trim().chars().filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}')).collect();
    let t = t.strip_suffix("kr").unwrap_or(&t).trim_end();
    let (negative, digits) = match t.strip_prefix('-').or_else(|| t.strip_prefix('−')) {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    if digits.is_empty() {
        return Err("Skriv ett belopp, t.ex. 1 500,50.");
    }
    if digits.contains('.') {
        return Err("Skriv beloppet med decimalkomma och mellanslag mellan tusentalen, t.ex. 1 500,50 (inte punkt).");
    }
    let (kronor, ore) = digits.split_once(',').unwrap_or((digits, ""));
    if kronor.is_empty() || !kronor.bytes().all(|b| b.is_ascii_digit()) || !ore.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Beloppet får bara innehålla siffror, mellanslag och ett decimalkomma, t.ex. 1 500,50.");
    }
    if ore.len() > 2 || digits.ends_with(',') {
        return Err("Högst två decimaler (ören), t.ex. 1 500,50.");
    }
    let canonical = if ore.is_empty() { kronor.to_string() } else { format!("{kronor}.{ore}") };
    let sign = if negative { "-" } else { "" };
    Ok(format!("{sign}{canonical}"))
}

/// A form as submitted: its values by field name.
type Values = HashMap<String, String>;

/// Problems per field (the empty name for the form as a whole).
type Problems = BTreeMap<String, String>;

/// The event a form's values describe, or the problems to show next to their fields.
fn event_of(spec: &FormSpec, f: &str, values: &Values) -> Result<(Event, Value), Problems> {
    let mut problems = Problems::new();
    let mut object = Map::new();
    object.insert("type".into(), json!(spec.event));
    object.insert("forbund".into(), json!(f));
    if let Some(key) = values.get("idempotency_key").filter(|k| !k.is_empty()) {
        object.insert("idempotency_key".into(), json!(key));
    }
    for field in spec.fields.iter().flat_map(|g| g.iter()) {
        let raw = values.get(field.name).map(|v| v.trim()).unwrap_or("");
        if raw.is_empty() {
            if field.required {
                problems.insert(field.name.into(), "Uppgiften saknas och måste fyllas i.".into());
            }
            continue;
        }
        let value = match field.input {
            Input::Amount => match swedish_amount(raw) {
                Ok(a) => json!(a),
                Err(e) => {
                    problems.insert(field.name.into(), e.into());
                    continue;
                }
            },
            Input::Year => match raw.parse::<i32>() {
                Ok(y) => json!(y),
                Err(_) => {
                    problems.insert(field.name.into(), "Skriv året med fyra siffror, t.ex. 2024.".into());
                    continue;
                }
            },
            Input::Seq => match raw.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => {
                    problems.insert(field.name.into(), "Ange händelsens nummer (seq), t.ex. 128.".into());
                    continue;
                }
            },
            Input::Date => {
                if NaiveDate::parse_from_str(raw, "%Y-%m-%d").is_err() {
                    problems.insert(field.name.into(), "Skriv datumet som ÅÅÅÅ-MM-DD, t.ex. 2024-05-31.".into());
                    continue;
                }
                json!(raw)
            }
            _ => json!(raw),
        };
        // A merger's rows: the förbund merging in (`merging[i]`) and the plan's estimate of what
        // each brings (`estimate[i]`).
        if let Some(i) = field.name.strip_prefix("estimate[").and_then(|r| r.strip_suffix(']')) {
            let from = values.get(&format!("merging[{i}]")).map(|v| v.trim()).unwrap_or("");
            let list = object.entry("estimated_transfers").or_insert_with(|| json!([]));
            list.as_array_mut().expect("a list").push(json!({"from": from, "amount": value}));
            continue;
        }
        if field.name.starts_with("merging[") {
            object.entry("merging").or_insert_with(|| json!([])).as_array_mut().expect("a list").push(value);
            continue;
        }
        match field.name.split_once('.') {
            Some((outer, inner)) => {
                let nested = object.entry(outer.to_string()).or_insert_with(|| json!({}));
                nested[inner] = value;
            }
            None => {
                object.insert(field.name.into(), value);
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if spec.event == "MergerDecided" {
        object.entry("estimated_transfers").or_insert_with(|| json!([]));
    }
    let value = Value::Object(object);
    Event::from_json(&value).map(|e| (e, value)).map_err(|r| rejection_problems(spec, &r))
}

/// A rejection by the contract or the ledger, as a problem next to its field, in Swedish.
fn rejection_problems(spec: &FormSpec, r: &finsam_domain::Rejection) -> Problems {
    let known = spec.fields.iter().flat_map(|g| g.iter()).any(|x| x.name == r.field);
    let key = if known { r.field.clone() } else { String::new() };
    let mut problems = Problems::new();
    problems.insert(key, r.rule.swedish().to_string());
    problems
}

#[derive(Deserialize, Default)]
struct FormQuery {
    #[serde(default)]
    seq: Option<String>,
}

async fn forms_index(State(s): State<Shared_>, Records { v, f }: Records) -> Response {
    let name = s
        .snapshot()
        .projection
        .forbund
        .get(&Slug::parse(&f).unwrap_or_else(|_| Slug::parse("x").expect("a slug")))
        .map(|i| i.name.clone())
        .unwrap_or_default();
    let body = html! {
        h1 { "Registrera" }
        p { "Välj vad du vill registrera. Varje uppgift kontrolleras med samma regler som i kommandoraden och API:t, och du får se den innan den registreras." }
        ul {
            li { a href={"/f/" (f) "/registrera/budget"} { "Budget" } " – en antagen budget (eller plan), raderna i en tabell eller inklistrade från ett kalkylblad." }
            @for x in FORMS { li { a href={"/f/" (f) "/registrera/" (x.slug)} { (x.title) } " – " (x.intro) } }
        }
        p.note { "Ett förbund registreras, och dess ingående balans och medlemmar ändras, med " code { "finsam record" } " eller API:t (administratören)." }
    };
    html_response(
        StatusCode::OK,
        layout(&v, Some((&f, &name)), "Registrera", "Registrera", body),
        Some(&v.user),
        Some(&f),
    )
}

/// The visitor, if the user may record events of the förbund (admin, or its kansli).
fn recorder(s: &Shared, headers: &HeaderMap, f: &str, path: &str) -> Result<Visitor, Refusal> {
    let v = signed_in(s, headers, path)?;
    if !v.may_record(f) {
        return Err(Box::new(problem_page(
            Some(&v),
            StatusCode::FORBIDDEN,
            "Ingen behörighet",
            &format!("Din roll ({}) får inte registrera i förbundet {f}. Registrering görs av kansliet.", v.role_sv()),
        )));
    }
    Ok(v)
}

async fn form_get(
    State(s): State<Shared_>,
    UrlPath((_, slug)): UrlPath<(String, String)>,
    Records { v, f }: Records,
    Query(q): Query<FormQuery>,
) -> Response {
    let Some(spec) = form_spec(&slug) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", "Det finns inget sådant formulär.");
    };
    let Some(c) = form_choices(&s, &f, &v.user) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", &format!("Förbundet {f} finns inte."));
    };
    let today = chrono::Utc::now().date_naive();
    let mut values = Values::new();
    values.insert("date".into(), today.to_string());
    values.insert("year".into(), today.year().to_string());
    if let Some(seq) = q.seq {
        values.insert("corrects".into(), seq);
    }
    values.insert("idempotency_key".into(), format!("webb-{}", uuid::Uuid::new_v4().simple()));
    let page = form_page(&v, &f, spec, &c, &values, &Problems::new());
    html_response(StatusCode::OK, page, Some(&v.user), Some(&f))
}

fn form_choices(s: &Shared, f: &str, user: &User) -> Option<Choices> {
    let snapshot = s.snapshot();
    let slug = Slug::parse(f).ok()?;
    snapshot.projection.forbund.get(&slug)?;
    Some(choices(reports::Books::from(&*snapshot), &slug, user))
}

fn form_page(v: &Visitor, f: &str, spec: &FormSpec, c: &Choices, values: &Values, problems: &Problems) -> Markup {
    let value = |name: &str| values.get(name).map(String::as_str).unwrap_or("");
    let body = html! {
        h1 { (spec.title) }
        p { (spec.intro) }
        @if !problems.is_empty() {
            div.problem role="alert" #fel {
                "Inget har registrerats. Rätta det som är markerat"
                @if let Some(general) = problems.get("") { ": " (general) } @else { "." }
            }
        }
        form.event method="post" action={"/f/" (f) "/registrera/" (spec.slug)} novalidate {
            input type="hidden" name="csrf" value=(v.csrf);
            input type="hidden" name="idempotency_key" value=(value("idempotency_key"));
            @for group in spec.fields {
                @for x in group.iter() {
                    @let id = x.name.replace('.', "-");
                    @let problem = problems.get(x.name);
                    div class=(if problem.is_some() { "field invalid" } else { "field" }) {
                        label for=(id) { (x.label) @if !x.required { " (frivilligt)" } }
                        @let described = format!("{id}-hjalp fel-{id}");
                        (input_control(x, &id, value(x.name), c, &described))
                        @if !x.help.is_empty() { div.help id={(id) "-hjalp"} { (x.help) } }
                        @if let Some(p) = problem { div.error id={"fel-" (id)} role="alert" { (p) } }
                    }
                }
            }
            input type="hidden" name="steg" value="granska";
            button.primary type="submit" { "Granska" }
        }
    };
    layout(v, Some((f, &c.name)), "Registrera", spec.title, body)
}

fn input_control(x: &Field, id: &str, value: &str, c: &Choices, described: &str) -> Markup {
    let select = |options: &[(String, String)], blank: &str| {
        html! {
            select id=(id) name=(x.name) aria-describedby=(described) required[x.required] {
                option value="" { (blank) }
                @for (v, label) in options { option value=(v) selected[v == value] { (label) } }
            }
        }
    };
    match x.input {
        Input::Date => {
            html! { input type="date" id=(id) name=(x.name) value=(value) aria-describedby=(described) required[x.required]; }
        }
        Input::Year => {
            html! { input type="number" id=(id) name=(x.name) value=(value) min="2000" max="2100" aria-describedby=(described) required[x.required]; }
        }
        Input::Amount => {
            html! { input type="text" id=(id) name=(x.name) value=(value) inputmode="decimal" autocomplete="off" aria-describedby=(described) required[x.required]; }
        }
        Input::Seq => {
            html! { input type="text" id=(id) name=(x.name) value=(value) inputmode="numeric" aria-describedby=(described) required[x.required]; }
        }
        Input::Text => {
            html! { input type="text" id=(id) name=(x.name) value=(value) aria-describedby=(described) required[x.required]; }
        }
        Input::LongText => {
            html! { textarea id=(id) name=(x.name) rows="3" aria-describedby=(described) required[x.required] { (value) } }
        }
        Input::Member => select(&c.members, "– välj medlem –"),
        Input::CostLine => select(&c.cost_lines, "– välj budgetrad –"),
        Input::IncomeLine => select(&c.income_lines, "– välj intäktsrad –"),
        Input::Insats => select(&c.insatser, "– välj insats –"),
        Input::OpenInvoice => select(&c.invoices, "– välj faktura –"),
        Input::OtherForbund => select(&c.others, "– välj förbund –"),
        Input::Choice(options) => {
            let options: Vec<(String, String)> = options.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
            html! {
                select id=(id) name=(x.name) aria-describedby=(described) {
                    @for (v, label) in &options { option value=(v) selected[v == value] { (label) } }
                }
            }
        }
    }
}

/// Checks (`check_only`) or records a form's event through the server's writer, as the
/// signed-in user; a page saying nothing was recorded when the server is stopping.
async fn through_writer(
    s: &Shared_,
    event: Event,
    v: &Visitor,
    route: &'static str,
    check_only: bool,
) -> Result<super::Outcome, Response> {
    let stopping = || {
        problem_page(
            Some(v),
            StatusCode::SERVICE_UNAVAILABLE,
            "Servern stängs",
            "Inget registrerades. Försök igen om en stund.",
        )
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = WriteJob {
        batch: vec![(1, event)],
        actor: v.user.name.clone(),
        user: v.user.clone(),
        expect_head: None,
        expect_versions: Vec::new(),
        route,
        check_only,
        reply,
    };
    s.writes.send(job).await.map_err(|_| stopping())?;
    answer.await.map_err(|_| stopping())
}

async fn form_post(
    State(s): State<Shared_>,
    UrlPath((_, slug)): UrlPath<(String, String)>,
    Records { v, f }: Records,
    Form(values): Form<Values>,
) -> Response {
    if !values.get("csrf").is_some_and(|c| same_secret(c, &v.csrf)) {
        return csrf_refused(Some(&v.user));
    }
    let Some(spec) = form_spec(&slug) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", "Det finns inget sådant formulär.");
    };
    let Some(c) = form_choices(&s, &f, &v.user) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", &format!("Förbundet {f} finns inte."));
    };
    let again = |problems: &Problems| {
        html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            form_page(&v, &f, spec, &c, &values, problems),
            Some(&v.user),
            Some(&f),
        )
    };
    let step = values.get("steg").map(String::as_str).unwrap_or("granska");
    if step == "andra" {
        return html_response(
            StatusCode::OK,
            form_page(&v, &f, spec, &c, &values, &Problems::new()),
            Some(&v.user),
            Some(&f),
        );
    }
    let (event, json) = match event_of(spec, &f, &values) {
        Ok(x) => x,
        Err(problems) => return again(&problems),
    };
    let confirmed = step == "registrera";
    let acknowledged = values.contains_key("sett_varningar");
    // First the check (nothing written); then, confirmed, the recording.
    let (checked, warnings, _) = match through_writer(&s, event.clone(), &v, "/f/{id}/registrera/{form}", true).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match checked {
        Err(StoreError::Rejected(r)) => return again(&rejection_problems(spec, &r)),
        Err(e) => return store_failure_page(&v, e),
        Ok(_) => {}
    }
    if !confirmed || (!warnings.is_empty() && !acknowledged) {
        let page = confirm_page(&v, &f, spec, &c, &values, &event, &json, &warnings, confirmed);
        return html_response(StatusCode::OK, page, Some(&v.user), Some(&f));
    }
    let (outcome, _, _) = match through_writer(&s, event, &v, "/f/{id}/registrera/{form}", false).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    recorded_answer(&v, &f, outcome, |r| again(&rejection_problems(spec, r)))
}

#[allow(clippy::too_many_arguments)]
fn confirm_page(
    v: &Visitor,
    f: &str,
    spec: &FormSpec,
    c: &Choices,
    values: &Values,
    event: &Event,
    json: &Value,
    warnings: &[(usize, finsam_projections::advice::Warning)],
    asked_before: bool,
) -> Markup {
    let shown = |x: &Field| -> String {
        let raw = values.get(x.name).map(String::as_str).unwrap_or("").trim().to_string();
        let pick = |list: &[(String, String)]| list.iter().find(|(id, _)| *id == raw).map(|(_, n)| n.clone());
        match x.input {
            Input::Amount => {
                swedish_amount(&raw).ok().and_then(|a| Amount::parse(&a).ok()).map_or(raw.clone(), |a| a.human())
            }
            Input::Member => pick(&c.members).unwrap_or(raw),
            Input::CostLine => pick(&c.cost_lines).unwrap_or(raw),
            Input::IncomeLine => pick(&c.income_lines).unwrap_or(raw),
            Input::Insats => pick(&c.insatser).unwrap_or(raw),
            Input::OpenInvoice => pick(&c.invoices).unwrap_or(raw),
            Input::OtherForbund => pick(&c.others).unwrap_or(raw),
            Input::Choice(options) => {
                options.iter().find(|(id, _)| *id == raw).map_or(raw.clone(), |(_, l)| l.to_string())
            }
            _ => raw,
        }
    };
    let body = html! {
        h1 { "Granska: " (spec.title) }
        p { "Kontrollera uppgifterna. Inget är registrerat ännu." }
        p.meta #sammanfattning { (finsam_projections::summary::summary(event)) }
        dl.event #granskning {
            @for group in spec.fields { @for x in group.iter() {
                @let text = shown(x);
                @if !text.is_empty() { dt { (x.label) } dd id={"granska-" (x.name.replace('.', "-"))} { (text) } }
            } }
        }
        details { summary { "Händelsen som den skrivs i loggen" } pre { (serde_json::to_string_pretty(json).expect("serialises")) } }
        form.event method="post" action={"/f/" (f) "/registrera/" (spec.slug)} {
            input type="hidden" name="csrf" value=(v.csrf);
            @for (k, val) in values {
                @if !matches!(k.as_str(), "csrf" | "steg" | "sett_varningar") { input type="hidden" name=(k) value=(val); }
            }
            @if !warnings.is_empty() {
                h2 { "Varningar" }
                @for (_, w) in warnings { p.warning role="alert" { (w.swedish) } }
                @if asked_before { p.error role="alert" { "Bekräfta att du har sett varningarna innan du registrerar." } }
                div.field {
                    label { input type="checkbox" name="sett_varningar" value="1" required; " Jag har sett varningarna och vill registrera ändå." }
                }
            }
            button.primary type="submit" name="steg" value="registrera" { "Registrera" }
            " "
            button.secondary type="submit" name="steg" value="andra" formnovalidate { "Ändra" }
        }
    };
    layout(v, Some((f, &c.name)), "Registrera", &format!("Granska: {}", spec.title), body)
}

// --- the budget: lines in a table, or pasted from a spreadsheet -------------------------------

/// The columns of a budget's cost lines and income lines, in the form and in pasted rows.
const COST_COLUMNS: [&str; 6] = ["id", "name", "category", "insats", "nature", "amount"];
const INCOME_COLUMNS: [&str; 3] = ["id", "name", "amount"];

/// Empty rows the budget form offers beyond those filled in.
const SPARE_ROWS: usize = 6;

#[derive(Deserialize, Default)]
struct BudgetQuery {
    #[serde(default)]
    ar: Option<i32>,
}

/// The form's values of a budget: the one in force for `year`, if any, to start from.
fn budget_values(books: reports::Books<'_>, f: &Slug, year: i32) -> Values {
    let today = chrono::Utc::now().date_naive();
    let mut values = Values::new();
    values.insert("date".into(), today.to_string());
    values.insert("year".into(), year.to_string());
    values.insert("status".into(), "adopted".into());
    values.insert("idempotency_key".into(), format!("webb-{}", uuid::Uuid::new_v4().simple()));
    let at = finsam_projections::reports::At { as_of: NaiveDate::MAX, known_at: books.head };
    if let Some(p) = books.projection.budget_position(f, year, at) {
        let record =
            books.projection.budgets.iter().find(|b| b.seq == p.budget_seq).expect("the budget in force is recorded");
        for (i, l) in record.costs.iter().enumerate() {
            values.insert(format!("costs[{i}].id"), l.id.to_string());
            values.insert(format!("costs[{i}].name"), l.name.clone());
            values.insert(format!("costs[{i}].category"), l.category.as_str().to_string());
            values.insert(format!("costs[{i}].insats"), l.insats.as_ref().map_or(String::new(), |x| x.to_string()));
            values.insert(format!("costs[{i}].nature"), l.nature.map_or(String::new(), |n| n.as_str().to_string()));
            values.insert(format!("costs[{i}].amount"), l.amount.human_number());
        }
        for (i, l) in record.income.iter().enumerate() {
            values.insert(format!("income[{i}].id"), l.id.to_string());
            values.insert(format!("income[{i}].name"), l.name.clone());
            values.insert(format!("income[{i}].amount"), l.amount.human_number());
        }
    }
    values
}

/// How many rows of `list` the values hold (the highest index with a value, plus one).
fn rows_in(values: &Values, list: &str) -> usize {
    values
        .keys()
        .filter_map(|k| k.strip_prefix(list)?.strip_prefix('[')?.split_once(']')?.0.parse::<usize>().ok())
        .map(|i| i + 1)
        .max()
        .unwrap_or(0)
}

fn row_is_empty(values: &Values, list: &str, i: usize, columns: &[&str]) -> bool {
    columns.iter().all(|c| values.get(&format!("{list}[{i}].{c}")).is_none_or(|v| v.trim().is_empty()))
}

/// Rows pasted from a spreadsheet (tab-separated, as a spreadsheet copies them; a heading row
/// is recognised and skipped) taken into the table's rows after those filled in; the paste box
/// is emptied. Returns a problem when a row has the wrong number of columns.
fn take_pasted(values: &mut Values, list: &str, columns: &[&str], paste: &str) -> Option<String> {
    let text = values.remove(paste).unwrap_or_default();
    let mut next = (0..rows_in(values, list)).filter(|i| !row_is_empty(values, list, *i, columns)).count();
    // Compact the filled rows first, so pasted ones follow them.
    let filled: Vec<Vec<String>> = (0..rows_in(values, list))
        .filter(|i| !row_is_empty(values, list, *i, columns))
        .map(|i| columns.iter().map(|c| values.get(&format!("{list}[{i}].{c}")).cloned().unwrap_or_default()).collect())
        .collect();
    values.retain(|k, _| !k.starts_with(&format!("{list}[")));
    for (i, row) in filled.iter().enumerate() {
        for (c, v) in columns.iter().zip(row) {
            values.insert(format!("{list}[{i}].{c}"), v.clone());
        }
    }
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split('\t').map(str::trim).collect();
        if n == 0 && cells.first().is_some_and(|c| c.eq_ignore_ascii_case("id")) {
            continue;
        }
        if cells.len() != columns.len() {
            return Some(format!(
                "Inklistrad rad {} har {} kolumner; det ska vara {} ({}), åtskilda med tabb som när man kopierar från ett kalkylblad.",
                n + 1,
                cells.len(),
                columns.len(),
                columns.iter().map(|c| column_label(c)).collect::<Vec<_>>().join(", ")
            ));
        }
        for (c, v) in columns.iter().zip(cells) {
            values.insert(format!("{list}[{next}].{c}"), v.to_string());
        }
        next += 1;
    }
    None
}

fn column_label(c: &str) -> &'static str {
    match c {
        "id" => "id",
        "name" => "namn",
        "category" => "kategori",
        "insats" => "insats",
        "nature" => "art",
        "amount" => "belopp",
        "from" => "från förbund",
        _ => "",
    }
}

/// The budget the form's values describe, or the problems to show next to their cells.
fn budget_event(f: &str, values: &Values) -> Result<(Event, Value), Problems> {
    let mut problems = Problems::new();
    let mut get = |name: &str, required: bool| -> Option<String> {
        let v = values.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if v.is_none() && required {
            problems.insert(name.to_string(), "Uppgiften saknas och måste fyllas i.".into());
        }
        v
    };
    let date = get("date", true);
    let year = get("year", true);
    let status = get("status", true);
    let body = get("decision.body", true);
    let decision_date = get("decision.date", true);
    let paragraph = get("decision.paragraph", false);
    let lines = |list: &str, columns: &[&str], problems: &mut Problems| -> Vec<Value> {
        let mut out = Vec::new();
        for i in (0..rows_in(values, list)).filter(|i| !row_is_empty(values, list, *i, columns)) {
            let mut row = Map::new();
            for c in columns {
                let name = format!("{list}[{i}].{c}");
                let v = values.get(&name).map(|v| v.trim()).unwrap_or("");
                if v.is_empty() {
                    if matches!(*c, "id" | "name" | "category" | "amount") {
                        problems.insert(name, "Uppgiften saknas och måste fyllas i.".into());
                    }
                    continue;
                }
                if *c == "amount" {
                    match swedish_amount(v) {
                        Ok(a) => row.insert("amount".into(), json!(a)),
                        Err(e) => {
                            problems.insert(name, e.into());
                            continue;
                        }
                    };
                } else {
                    row.insert(c.to_string(), json!(v));
                }
            }
            out.push(Value::Object(row));
        }
        out
    };
    let costs = lines("costs", &COST_COLUMNS, &mut problems);
    let income = lines("income", &INCOME_COLUMNS, &mut problems);
    let year: Option<i32> = match year.map(|y| y.parse()) {
        Some(Ok(y)) => Some(y),
        Some(Err(_)) => {
            problems.insert("year".into(), "Skriv året med fyra siffror, t.ex. 2025.".into());
            None
        }
        None => None,
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut decision = json!({"body": body, "date": decision_date});
    if let Some(p) = paragraph {
        decision["paragraph"] = json!(p);
    }
    let mut value = json!({"type": "BudgetAdopted", "forbund": f, "date": date, "year": year, "status": status,
        "decision": decision, "income": income, "costs": costs});
    if let Some(key) = values.get("idempotency_key").filter(|k| !k.is_empty()) {
        value["idempotency_key"] = json!(key);
    }
    Event::from_json(&value).map(|e| (e, value)).map_err(|r| {
        let mut p = Problems::new();
        let known = values.contains_key(&r.field);
        p.insert(if known { r.field.clone() } else { String::new() }, r.rule.swedish().to_string());
        p
    })
}

fn budget_form(
    v: &Visitor,
    f: &str,
    c: &Choices,
    values: &Values,
    problems: &Problems,
    confirm: Option<Markup>,
) -> Markup {
    let value = |name: &str| values.get(name).cloned().unwrap_or_default();
    let cell = |name: String, kind: &str| -> Markup {
        let problem = problems.get(&name);
        let current = value(&name);
        html! {
            td class=(if problem.is_some() { "field invalid" } else { "field" }) {
                @match kind {
                    "category" => select name=(name) aria-label="kategori" {
                        option value="" { "–" }
                        @for (id, label) in CATEGORIES { option value=(id) selected[current == *id] { (label) } }
                    },
                    "nature" => select name=(name) aria-label="art" {
                        @for (id, label) in NATURES { option value=(id) selected[current == *id] { (label) } }
                    },
                    "insats" => select name=(name) aria-label="insats" {
                        option value="" { "–" }
                        @for (id, label) in &c.insatser { option value=(id) selected[current == *id] { (label) } }
                    },
                    "amount" => input type="text" name=(name) value=(current) inputmode="decimal" aria-label="belopp" size="12";,
                    other => input type="text" name=(name) value=(current) aria-label=(column_label(other));,
                }
                @if let Some(p) = problem { div.error role="alert" { (p) } }
            }
        }
    };
    let cost_rows = rows_in(values, "costs") + SPARE_ROWS;
    let income_rows = rows_in(values, "income") + 2;
    let single = |name: &str, label: &str, control: Markup| {
        let problem = problems.get(name);
        html! {
            div class=(if problem.is_some() { "field invalid" } else { "field" }) {
                label for=(name.replace('.', "-")) { (label) }
                (control)
                @if let Some(p) = problem { div.error id={"fel-" (name.replace('.', "-"))} role="alert" { (p) } }
            }
        }
    };
    let body = html! {
        h1 { "Budget" }
        p { "En budget som styrelsen antagit (eller en plan för ett senare år). Raderna skrivs i tabellen eller klistras in från ett kalkylblad. "
            "Finns redan en budget för året står dess rader här att ändra: den nya ersätter den." }
        @if let Some(general) = problems.get("") { div.problem role="alert" #fel { "Inget har registrerats: " (general) } }
        @else if !problems.is_empty() { div.problem role="alert" #fel { "Inget har registrerats. Rätta det som är markerat." } }
        @if let Some(c) = confirm { (c) }
        form.event.wide method="post" action={"/f/" (f) "/registrera/budget"} novalidate {
            input type="hidden" name="csrf" value=(v.csrf);
            input type="hidden" name="idempotency_key" value=(value("idempotency_key"));
            (single("date", "Datum", html! { input #date type="date" name="date" value=(value("date")); }))
            (single("year", "Budgetår", html! { input #year type="number" name="year" value=(value("year")) min="2000" max="2100"; }))
            (single("status", "Slag", html! { select #status name="status" {
                option value="adopted" selected[value("status") == "adopted"] { "antagen budget" }
                option value="outlook" selected[value("status") == "outlook"] { "plan för ett senare år" }
            } }))
            (single("decision.body", "Beslutande organ", html! { input #decision-body type="text" name="decision.body" value=(value("decision.body")); }))
            (single("decision.date", "Beslutsdatum", html! { input #decision-date type="date" name="decision.date" value=(value("decision.date")); }))
            (single("decision.paragraph", "Paragraf (frivilligt)", html! { input #decision-paragraph type="text" name="decision.paragraph" value=(value("decision.paragraph")); }))
            h2 { "Kostnadsrader" }
            table.budget {
                caption { "Kostnader (kr)" }
                thead { tr { th { "id" } th { "namn" } th { "kategori" } th { "insats" } th { "art" } th { "belopp" } } }
                tbody {
                    @for i in 0..cost_rows {
                        tr { @for col in COST_COLUMNS { (cell(format!("costs[{i}].{col}"), col)) } }
                    }
                }
            }
            div.field {
                label for="klistra-kostnader" { "Klistra in kostnadsrader från ett kalkylblad (frivilligt)" }
                textarea #klistra-kostnader name="klistra_kostnader" rows="4" aria-describedby="klistra-kostnader-hjalp" {}
                div.help #klistra-kostnader-hjalp { "Kolumner: id, namn, kategori (individ, struktur, admin), insats (id eller tomt), art (tomt, personal, kopta_tjanster, lamnade_bidrag, ovrigt), belopp. "
                    "Raderna läggs till i tabellen när du granskar." }
            }
            h2 { "Intäktsrader" }
            table.budget {
                caption { "Intäkter (kr)" }
                thead { tr { th { "id" } th { "namn" } th { "belopp" } } }
                tbody {
                    @for i in 0..income_rows {
                        tr { @for col in INCOME_COLUMNS { (cell(format!("income[{i}].{col}"), col)) } }
                    }
                }
            }
            div.field {
                label for="klistra-intakter" { "Klistra in intäktsrader (frivilligt)" }
                textarea #klistra-intakter name="klistra_intakter" rows="2" {}
                div.help { "Kolumner: id, namn, belopp." }
            }
            input type="hidden" name="steg" value="granska";
            button.primary type="submit" { "Granska" }
        }
    };
    layout(v, Some((f, &c.name)), "Registrera", "Budget", body)
}

async fn budget_get(State(s): State<Shared_>, Records { v, f }: Records, Query(q): Query<BudgetQuery>) -> Response {
    let Some(c) = form_choices(&s, &f, &v.user) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", &format!("Förbundet {f} finns inte."));
    };
    let snapshot = s.snapshot();
    let slug = Slug::parse(&f).expect("form_choices found the förbund");
    let year = q.ar.unwrap_or_else(|| chrono::Utc::now().date_naive().year());
    let values = budget_values(reports::Books::from(&*snapshot), &slug, year);
    html_response(StatusCode::OK, budget_form(&v, &f, &c, &values, &Problems::new(), None), Some(&v.user), Some(&f))
}

async fn budget_post(State(s): State<Shared_>, Records { v, f }: Records, Form(mut values): Form<Values>) -> Response {
    if !values.get("csrf").is_some_and(|c| same_secret(c, &v.csrf)) {
        return csrf_refused(Some(&v.user));
    }
    let Some(c) = form_choices(&s, &f, &v.user) else {
        return problem_page(Some(&v), StatusCode::NOT_FOUND, "Finns inte", &format!("Förbundet {f} finns inte."));
    };
    let mut problems = Problems::new();
    for (list, columns, paste) in
        [("costs", &COST_COLUMNS[..], "klistra_kostnader"), ("income", &INCOME_COLUMNS[..], "klistra_intakter")]
    {
        if let Some(p) = take_pasted(&mut values, list, columns, paste) {
            problems.insert(String::new(), p);
        }
    }
    let again = |problems: &Problems, values: &Values| {
        html_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            budget_form(&v, &f, &c, values, problems, None),
            Some(&v.user),
            Some(&f),
        )
    };
    if !problems.is_empty() {
        return again(&problems, &values);
    }
    let step = values.get("steg").cloned().unwrap_or_default();
    let (event, _) = match budget_event(&f, &values) {
        Ok(x) => x,
        Err(problems) => return again(&problems, &values),
    };
    let (checked, warnings, _) = match through_writer(&s, event.clone(), &v, "/f/{id}/registrera/budget", true).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match checked {
        Err(StoreError::Rejected(r)) => {
            let mut p = Problems::new();
            p.insert(
                if values.contains_key(&r.field) { r.field.clone() } else { String::new() },
                r.rule.swedish().to_string(),
            );
            return again(&p, &values);
        }
        Err(e) => return store_failure_page(&v, e),
        Ok(_) => {}
    }
    let acknowledged = values.contains_key("sett_varningar");
    if step != "registrera" || (!warnings.is_empty() && !acknowledged) {
        let finsam_domain::EventKind::BudgetAdopted { costs, income, .. } = &event.kind else {
            unreachable!("budget_event makes a BudgetAdopted")
        };
        let cost_total: Amount = costs.iter().map(|l| l.amount).sum();
        let income_total: Amount = income.iter().map(|l| l.amount).sum();
        let confirm = html! {
            section.notice #granskning {
                h2 { "Granska" }
                p #sammanfattning { (finsam_projections::summary::summary(&event)) }
                p { (costs.len()) " kostnadsrader, summa " strong #summa-kostnader { (cost_total.human()) } "; "
                    (income.len()) " intäktsrader, summa " strong #summa-intakter { (income_total.human()) } "; resultat "
                    strong { ((income_total - cost_total).human()) } "." }
                @for (_, w) in &warnings { p.warning role="alert" { (w.swedish) } }
                p { "Stämmer det? Registrera nedan, eller ändra i tabellen och granska igen." }
                form method="post" action={"/f/" (f) "/registrera/budget"} {
                    input type="hidden" name="csrf" value=(v.csrf);
                    @for (k, val) in &values {
                        @if !matches!(k.as_str(), "csrf" | "steg" | "sett_varningar") { input type="hidden" name=(k) value=(val); }
                    }
                    @if !warnings.is_empty() {
                        label { input type="checkbox" name="sett_varningar" value="1" required; " Jag har sett varningarna och vill registrera ändå." }
                    }
                    button.primary type="submit" name="steg" value="registrera" { "Registrera budgeten" }
                }
            }
        };
        return html_response(
            StatusCode::OK,
            budget_form(&v, &f, &c, &values, &Problems::new(), Some(confirm)),
            Some(&v.user),
            Some(&f),
        );
    }
    let (outcome, _, _) = match through_writer(&s, event, &v, "/f/{id}/registrera/budget", false).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    recorded_answer(&v, &f, outcome, |r| {
        let mut p = Problems::new();
        p.insert(String::new(), r.rule.swedish().to_string());
        again(&p, &values)
    })
}

/// After recording: to the new event's page (a reload there records nothing again).
fn recorded_answer(
    v: &Visitor,
    f: &str,
    outcome: Result<Vec<finsam_store::Recorded>, StoreError>,
    refused: impl FnOnce(&finsam_domain::Rejection) -> Response,
) -> Response {
    match outcome {
        Ok(recorded) => {
            let seq = recorded.first().map_or(0, |r| r.seq);
            let mut r = see_other(&format!("/f/{f}/handelse/{seq}?registrerad=1"));
            r.extensions_mut().insert(AccessNote {
                user: Some(v.user.name.clone()),
                forbund: Some(f.to_string()),
                seqs: recorded.iter().filter(|r| !r.duplicate).map(|r| r.seq).collect(),
            });
            r
        }
        Err(StoreError::Rejected(r)) => refused(&r),
        Err(e) => store_failure_page(v, e),
    }
}

/// Why the writer recorded nothing, as a page: a förbund the user may not record in is 403 (the
/// event touches another förbund's books); anything else is the server's trouble (503).
fn store_failure_page(v: &Visitor, e: StoreError) -> Response {
    match e {
        StoreError::Forbidden { forbund, .. } => problem_page(
            Some(v),
            StatusCode::FORBIDDEN,
            "Ingen behörighet",
            &format!(
                "Inget registrerades: händelsen rör förbundet {forbund}s bokföring, och din roll ({}) får inte registrera där.",
                v.role_sv()
            ),
        ),
        e => problem_page(Some(v), StatusCode::SERVICE_UNAVAILABLE, "Inget registrerades", &e.to_string()),
    }
}

/// An address that is no page (or no API route): a page in Swedish for a person, JSON for a
/// program under /api.
async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return super::Answer::error(StatusCode::NOT_FOUND, "not found").into_response();
    }
    let body = html! {
        main { h1 { "Sidan finns inte" } p.problem { "Det finns ingen sida på den adressen." } p { a href="/" { "Till startsidan" } } }
    };
    html_response(StatusCode::NOT_FOUND, page_shell("Sidan finns inte", body), None, None)
}

pub fn routes() -> Router<Shared_> {
    Router::new()
        .fallback(not_found)
        .route("/", get(index))
        .route("/logga-in", get(login_form).post(login).layer(DefaultBodyLimit::max(super::SIGN_IN_BYTES_MAX)))
        .route("/logga-ut", axum::routing::post(logout))
        .route("/verifiera", get(verify_page))
        .route("/f/{id}", get(start))
        .route("/f/{id}/konto/{account}", get(account))
        .route("/f/{id}/rad/{year}/{line}", get(budget_line))
        .route("/f/{id}/handelse/{seq}", get(event_page))
        .route("/f/{id}/handelser", get(trail))
        .route("/f/{id}/arsredovisning/{year}", get(annual_page))
        .route("/f/{id}/arsredovisning/{year}/utskrift", get(annual_print))
        .route("/f/{id}/uppfoljning/{year}", get(period_page))
        .route("/f/{id}/medlemsbidrag/{year}", get(members_page))
        .route("/f/{id}/avstamning", get(reconciliation))
        .route("/f/{id}/ladda-ner", get(downloads))
        .route("/f/{id}/ladda-ner/saldon.csv", get(balances_csv))
        .route("/f/{id}/registrera", get(forms_index))
        .route("/f/{id}/registrera/budget", get(budget_get).post(budget_post))
        .route("/f/{id}/registrera/{form}", get(form_get).post(form_post))
}

#[cfg(test)]
mod tests {
    use super::{budget_event, event_of, form_spec, swedish_amount, take_pasted, Values, COST_COLUMNS};

    fn values(pairs: &[(&str, &str)]) -> Values {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_merger_form_names_the_forbund_and_the_plans_estimates() {
        let spec = form_spec("sammanlaggning").unwrap();
        let v = values(&[
            ("date", "2023-11-16"),
            ("effective", "2024-01-01"),
            ("merging[0]", "sf-vasteras"),
            ("estimate[0]", "2 817 000"),
            ("merging[1]", "sf-norra-vastmanland"),
            ("estimate[1]", ""),
            ("decision.body", "interimsstyrelsen"),
            ("decision.date", "2023-11-16"),
        ]);
        let (_, json) = event_of(spec, "sf-vastmanland", &v).unwrap();
        assert_eq!(json["merging"], serde_json::json!(["sf-vasteras", "sf-norra-vastmanland"]));
        assert_eq!(json["estimated_transfers"], serde_json::json!([{"from": "sf-vasteras", "amount": "2817000"}]));
        // Without a förbund merging in, the field says so.
        let mut v = v;
        v.remove("merging[0]");
        let problems = event_of(spec, "sf-vastmanland", &v).unwrap_err();
        assert!(problems.contains_key("merging[0]"), "{problems:?}");
    }

    #[test]
    fn a_budget_pasted_from_a_spreadsheet_joins_the_rows_typed_in_the_table() {
        let mut v = values(&[
            ("date", "2026-11-20"),
            ("year", "2027"),
            ("status", "adopted"),
            ("decision.body", "styrelsen"),
            ("decision.date", "2026-11-20"),
            ("costs[0].id", "styrelse"),
            ("costs[0].name", "Styrelse"),
            ("costs[0].category", "admin"),
            ("costs[0].amount", "600 000"),
            ("costs[1].id", ""),
            ("klistra", "id\tnamn\tkategori\tinsats\tart\tbelopp\nkansli\tKansli\tadmin\t\t\t2 300 000,50\n"),
            ("income[0].id", "bidrag"),
            ("income[0].name", "Medelstilldelning"),
            ("income[0].amount", "2 900 000,50"),
        ]);
        assert_eq!(take_pasted(&mut v, "costs", &COST_COLUMNS, "klistra"), None);
        let (_, json) = budget_event("sf-vastmanland", &v).unwrap();
        assert_eq!(json["costs"][0]["amount"], "600000");
        assert_eq!(json["costs"][1]["id"], "kansli");
        assert_eq!(json["costs"][1]["amount"], "2300000.50");
        assert_eq!(json["costs"].as_array().unwrap().len(), 2);
        // A row with a column missing is refused, naming the row and the columns.
        let mut bad = v.clone();
        bad.insert("klistra".into(), "x\tX\tadmin\t100".into());
        let problem = take_pasted(&mut bad, "costs", &COST_COLUMNS, "klistra").unwrap();
        assert!(problem.contains("rad 1 har 4 kolumner"), "{problem}");
        // A cell that is wrong is named by its row and column.
        v.insert("costs[1].amount".into(), "2.300.000".into());
        let problems = budget_event("sf-vastmanland", &v).unwrap_err();
        assert!(problems.contains_key("costs[1].amount"), "{problems:?}");
    }

    #[test]
    fn amounts_are_typed_the_swedish_way() {
        assert_eq!(swedish_amount("1 500,50"), Ok("1500.50".into()));
        assert_eq!(swedish_amount("1\u{a0}500,5"), Ok("1500.5".into()));
        assert_eq!(swedish_amount("1500"), Ok("1500".into()));
        assert_eq!(swedish_amount(" 2 000 000 kr"), Ok("2000000".into()));
        assert_eq!(swedish_amount("−200,00"), Ok("-200.00".into()));
        for bad in ["", "1.500,50", "1500.50", "12a", "1,505", "1,", ",50", "ett tusen"] {
            assert!(swedish_amount(bad).is_err(), "{bad:?} is refused");
        }
    }
}
