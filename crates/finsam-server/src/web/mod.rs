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

mod books;
mod budget;
mod event_view;
mod events;
mod forms;
mod import_pages;
mod report_pages;
mod sign_in;
mod underlag;

use super::{on_books, AccessNote, Shared, Shared_, WriteJob};
use axum::extract::{DefaultBodyLimit, Form, FromRequestParts, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use books::*;
use budget::*;
use chrono::{Datelike, NaiveDate};
use events::*;
use finsam_app::pages::{self, money_cell};
use finsam_app::reports::{self, Axes, KnownAt};
use finsam_app::Format;
use finsam_domain::{Amount, Event, Slug};
use finsam_store::access::{random_hex, same_secret, session_key, Role, StoredSession, User};
use finsam_store::StoreError;
use forms::*;
use import_pages::*;
use maud::{html, Markup, PreEscaped};
use report_pages::*;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sign_in::*;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use underlag::*;

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
    /// On a database: when each session was last looked up there.
    checked: HashMap<String, Instant>,
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
    /// The sessions still open, from the database every instance shares.
    pub fn load_shared(directory: &finsam_store::pg::Directory) -> Result<Sessions, finsam_store::StoreError> {
        let open = directory.sessions_open(now_unix(), SESSION_LIFETIME.as_secs())?;
        Ok(Sessions { map: open.into_iter().map(|s| (s.id_sha256.clone(), s)).collect(), ..Sessions::default() })
    }

    /// The sessions still open, from the store.
    pub fn load(dir: &std::path::Path) -> Result<Sessions, finsam_store::StoreError> {
        let open = finsam_store::access::sessions_open(dir, now_unix(), SESSION_LIFETIME.as_secs())?;
        Ok(Sessions { map: open.into_iter().map(|s| (s.id_sha256.clone(), s)).collect(), ..Sessions::default() })
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
    if let Some(directory) = &s.directory {
        shared_session(s, directory, &key);
    }
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

/// How long an instance on a database trusts what it knows of a session before it asks the
/// database again (a sign-out on another instance counts within this).
const SESSION_RECHECK: Duration = Duration::from_secs(5);

/// A session as the database every instance shares has it: one begun on another instance is
/// taken in, one ended there is dropped here.
fn shared_session(s: &Shared, directory: &finsam_store::pg::Directory, key: &str) {
    {
        let sessions = s.sessions.lock().expect("the sessions' lock is never poisoned");
        if sessions.checked.get(key).is_some_and(|at| at.elapsed() < SESSION_RECHECK) {
            return;
        }
    }
    let found = tokio::task::block_in_place(|| directory.session(key));
    let mut sessions = s.sessions.lock().expect("the sessions' lock is never poisoned");
    match found {
        Ok(Some(kept)) => {
            sessions.map.insert(key.to_string(), kept);
        }
        Ok(None) => {
            sessions.map.remove(key);
        }
        // The database cannot be asked: what this instance knows stands until the next
        // recheck (not asked again at every request, each of which would wait for it).
        Err(e) => tracing::warn!("a session could not be looked up: {e}"),
    }
    if sessions.checked.len() > 100_000 {
        sessions.checked.retain(|_, at| at.elapsed() < SESSION_RECHECK);
    }
    sessions.checked.insert(key.to_string(), Instant::now());
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
    /// The year the menu's reports open on: the time bar's, else the förbund's latest year with
    /// books (`Projection::book_years`); this year on pages of no förbund.
    year: i32,
    /// The förbund's years with books, for the report pages' year links.
    years: Vec<i32>,
    /// The time bar's "känt vid", kept across the menu.
    kant: Option<String>,
    /// On a database this instance has not reached for a while: for how many seconds, and the
    /// event its books run to (see `Shared::unconfirmed_for`).
    unconfirmed: Option<(u64, u64)>,
}

impl Visitor {
    /// The visitor on the pages of förbund `f`: the menu's year and the years with books, from
    /// the books as they stand; the time bar's date, if one is asked, picks the year.
    fn on_forbund(mut self, s: &Shared, f: &str, q: Option<&TimeQuery>) -> Visitor {
        let Ok(slug) = Slug::parse(f) else { return self };
        let today = chrono::Utc::now().date_naive();
        let (years, open) = s.snapshot().projection.book_years(&slug, today);
        let asked = q.and_then(|q| q.as_of()).and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
        self.year = asked.map_or(open, |d| d.year());
        self.years = years;
        self.kant = q.and_then(|q| q.known_at()).map(String::from);
        self
    }

    /// The query that keeps "känt vid" on the menu's links (empty when none is asked).
    fn keep_kant(&self) -> String {
        self.kant.as_ref().map_or(String::new(), |k| format!("?kant={}", encode(k)))
    }

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
body { max-width: 72rem; } main { overflow-wrap: break-word; } h1 { hyphens: auto; }
nav.top { display: flex; flex-wrap: wrap; gap: 0.2rem 1rem; align-items: center; border-bottom: 2px solid #1f4e79; padding: 0.4rem 0; margin-bottom: 1rem; }
nav.top .brand { font-weight: bold; color: #1f4e79; text-decoration: none; margin-right: 0.5rem; }
nav.top a { color: #1f4e79; } nav.top a[aria-current] { font-weight: bold; text-decoration: none; }
nav.top .who { margin-left: auto; color: #444; font-size: 0.9rem; }
nav.top form { display: inline; } button.link { background: none; border: none; color: #1f4e79; text-decoration: underline; cursor: pointer; font: inherit; padding: 0; }
a { color: #1f4e79; } a:focus, button:focus, input:focus, select:focus, textarea:focus, [tabindex]:focus, summary:focus { outline: 3px solid #1a1a1a; outline-offset: 2px; box-shadow: 0 0 0 5px #ffd54f; }
form.timebar { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: end; background: #eef3f8; padding: 0.5rem 0.8rem; border-radius: 4px; margin-bottom: 1rem; }
form.timebar label { display: flex; flex-direction: column; font-size: 0.85rem; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr)); gap: 0.8rem; margin: 1rem 0; }
.figure { border: 1px solid #c8d6e5; border-radius: 4px; padding: 0.6rem 0.8rem; } .figure .label { color: #444; font-size: 0.9rem; } .figure .value { font-size: 1.3rem; font-weight: bold; font-variant-numeric: tabular-nums; white-space: nowrap; }
form.event { max-width: 40rem; } form.event.wide { max-width: none; } table.budget td { padding: 0.1rem 0.2rem; } table.budget input, table.budget select { width: 100%; } form.event .field { margin: 0.8rem 0; } form.event label { display: block; font-weight: bold; }
form.event input, form.event select, form.event textarea { font: inherit; padding: 0.3rem; border: 1px solid #777; border-radius: 3px; width: 100%; box-sizing: border-box; }
form.event input[type=checkbox] { width: auto; } .help { color: #444; font-size: 0.85rem; }
.error { color: #a30000; font-weight: bold; } .field.invalid input, .field.invalid select, .field.invalid textarea { border: 2px solid #a30000; }
.warning { background: #fff4d6; border-left: 4px solid #c98a00; padding: 0.4rem 0.7rem; margin: 0.5rem 0; }
.notice { background: #e6f4ea; border-left: 4px solid #2e7d32; padding: 0.5rem 0.8rem; margin: 0.5rem 0 1rem; }
.notice.unconfirmed { background: #fff4e5; border-left-color: #b26a00; }
.problem { background: #fde8e8; border-left: 4px solid #a30000; padding: 0.5rem 0.8rem; margin: 0.5rem 0 1rem; }
button.primary { background: #1f4e79; color: #fff; border: none; padding: 0.5rem 1.2rem; border-radius: 3px; font: inherit; cursor: pointer; }
button.secondary { background: #fff; color: #1f4e79; border: 1px solid #1f4e79; padding: 0.5rem 1.2rem; border-radius: 3px; font: inherit; cursor: pointer; }
.amount, .date { white-space: nowrap; } td.date, th.date { white-space: nowrap; } time { white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; } dl.nested { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 0.8rem; margin: 0; }
dl.nested dt { font-weight: normal; color: #444; } dl.event dd, dl.nested dd { min-width: 0; margin: 0; } dl.event .wide { grid-column: 1 / -1; } dl.event dt.wide { margin-top: 0.6rem; } dd code { overflow-wrap: anywhere; } details.json { margin: 1rem 0; } nav.years { margin: 0 0 0.8rem; }
tbody th { font-weight: normal; border-bottom: none; text-align: left; }
pre { overflow-x: auto; } dl.event { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; } dl.event dt { font-weight: bold; }
@media (max-width: 40rem) {
  dl.event, dl.nested { grid-template-columns: minmax(0, 1fr); } dl.event dd, dl.nested dd { overflow-wrap: anywhere; } .signatures { grid-template-columns: minmax(0, 1fr); }
  nav.top .who { margin-left: 0; } form.timebar { flex-direction: column; align-items: stretch; } form.timebar label { min-width: 0; } form.timebar input, form.timebar select { width: 100%; min-width: 0; max-width: 100%; box-sizing: border-box; }
  .figures { grid-template-columns: 1fr; } pre { white-space: pre-wrap; overflow-wrap: anywhere; } code { overflow-wrap: anywhere; }
}
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
                    format!("\"Känt vid\" {t:?} är ett händelsenummer eller en tidpunkt (ÅÅÅÅ-MM-DD eller ÅÅÅÅ-MM-DDTHH:MM:SSZ).")
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
    time_bar_at(path, q, None)
}

/// The time bar with the date the page shows filled in (a page that opened on the latest
/// year's end says so in the field, not only in the text).
fn time_bar_at(path: &str, q: &TimeQuery, shown: Option<NaiveDate>) -> Markup {
    let per = q.as_of().map(str::to_string).or_else(|| shown.map(|d| d.to_string())).unwrap_or_default();
    html! {
        form.timebar method="get" action=(path) aria-label="Tidsaxlar" {
            label { "Per datum" input type="date" name="per" value=(per); }
            label { "Känt vid (händelse nr eller tidpunkt)" input type="text" name="kant" inputmode="numeric" value=(q.known_at().unwrap_or("")) placeholder="senaste"; }
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
            let (year, kant) = (v.year, v.keep_kant());
            let overview = match (&v.kant, year < chrono::Utc::now().date_naive().year()) {
                (Some(k), true) => format!("/f/{id}?per={year}-12-31&kant={}", encode(k)),
                (Some(_), false) => format!("/f/{id}{kant}"),
                (None, true) => format!("/f/{id}?per={year}-12-31"),
                (None, false) => format!("/f/{id}"),
            };
            let mut l = vec![
                ("Översikt", overview),
                ("Händelser", format!("/f/{id}/handelser")),
                ("Uppföljning", format!("/f/{id}/uppfoljning/{year}{kant}")),
                ("Årsredovisning", format!("/f/{id}/arsredovisning/{year}{kant}")),
                ("Medlemsbidrag", format!("/f/{id}/medlemsbidrag/{year}{kant}")),
                ("Avstämning", format!("/f/{id}/avstamning")),
                ("Ladda ner", format!("/f/{id}/ladda-ner")),
            ];
            if v.may_record(id) {
                l.push(("Registrera", format!("/f/{id}/registrera")));
                l.push(("Importera", format!("/f/{id}/importera")));
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
        @if let Some((seconds, head)) = v.unconfirmed {
            p.notice.unconfirmed role="status" {
                "Databasen har inte kunnat nås på " (seconds) " sekunder. Sidan visar böckerna till och med händelse "
                (head) "; det som registrerats på annat håll sedan dess kan saknas. Inget kan registreras förrän databasen nås igen."
            }
        }
        main { (body) }
    };
    page_shell(title, body)
}

/// Links to the same report for each year the förbund has books in (this one marked).
fn year_links(v: &Visitor, f: &str, page: &str, year: i32) -> Markup {
    html! {
        @if v.years.len() > 1 || !v.years.contains(&year) {
            nav.years aria-label="År" {
                "År: "
                @for y in &v.years {
                    @if *y == year { strong aria-current="page" { (y) } } @else { a href={"/f/" (f) "/" (page) "/" (y) (v.keep_kant())} { (y) } }
                    " "
                }
            }
        }
    }
}

fn page_shell(title: &str, body: Markup) -> Markup {
    let body = maud::PreEscaped(tables_in_regions(&body.into_string()));
    pages::shell(&format!("{title} – finsam"), WEB_CSS, body)
}

/// Puts every table of a page that is not in one already into a region that scrolls
/// sideways, named by the table's caption and reachable by the keyboard: on a narrow screen
/// (320 px, or a page zoomed to 400 %) a wide table scrolls in its place instead of widening
/// the page (WCAG 2.1 1.4.10 Reflow, 2.1.1 Keyboard). The pages' markup is maud's, so its tags
/// are well formed and a table's caption, if it has one, is its first child.
fn tables_in_regions(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 1024);
    let mut rest = html;
    while let Some(at) = rest.find("<table") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        // The table's end, counting tables inside it.
        let mut depth = 0usize;
        let mut end = from.len();
        let mut i = 0;
        while i < from.len() {
            if from[i..].starts_with("<table") {
                depth += 1;
                i += 6;
            } else if from[i..].starts_with("</table>") {
                depth -= 1;
                i += 8;
                if depth == 0 {
                    end = i;
                    break;
                }
            } else {
                i += from[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
        let table = &from[..end];
        let last_tag = out.rfind('<').map(|t| &out[t..]).unwrap_or_default();
        let in_region = last_tag.starts_with("<div") && last_tag.contains("role=\"region\"");
        if in_region {
            out.push_str(table);
        } else {
            let caption = table
                .split_once("<caption>")
                .filter(|(head, _)| !head.contains("<tr"))
                .and_then(|(_, c)| c.split_once("</caption>"))
                .map(|(c, _)| text_of_html(c))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "Tabell".to_string());
            out.push_str(&format!("<div class=\"scroll\" role=\"region\" tabindex=\"0\" aria-label=\"{caption}\">"));
            out.push_str(table);
            out.push_str("</div>");
        }
        rest = &from[end..];
    }
    out.push_str(rest);
    out
}

/// The text of a piece of maud's HTML, tags dropped (entities kept as they are: the text goes
/// back into an attribute of the same page).
fn text_of_html(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A page that says what went wrong, in Swedish, with the status it deserves.
fn problem_page(v: Option<&Visitor>, status: StatusCode, heading: &str, text: &str) -> Response {
    problem_page_with_detail(v, status, heading, text, "")
}

/// `problem_page` with a technical detail (the program's own words, for whoever runs the
/// service) folded away under the Swedish text, as a report's failure shows it.
fn problem_page_with_detail(
    v: Option<&Visitor>,
    status: StatusCode,
    heading: &str,
    text: &str,
    detail: &str,
) -> Response {
    let body = html! {
        h1 { (heading) }
        p.problem { (text) }
        (technical_detail(detail))
        p { a href="/" { "Till startsidan" } }
    };
    let page = match v {
        Some(v) => layout(v, None, "", heading, body),
        None => page_shell(heading, body),
    };
    html_response(status, page, v.map(|v| &v.user), None)
}

/// The visitor, or the way to the sign-in page (back to this page afterwards).
fn signed_in(s: &Shared, headers: &HeaderMap, path: &str) -> Result<Visitor, Refusal> {
    match session(s, headers) {
        Some((user, csrf)) => {
            let unconfirmed = s.unconfirmed_for().map(|seconds| (seconds, s.snapshot().head.seq));
            let year = chrono::Utc::now().date_naive().year();
            Ok(Visitor { user, csrf, year, years: Vec::new(), kant: None, unconfirmed })
        }
        None => Err(Box::new(sign_in_again(path))),
    }
}

/// The visitor, if the user may read the förbund's books.
fn reader(s: &Shared, headers: &HeaderMap, path: &str, f: &str) -> Result<Visitor, Refusal> {
    reader_at(s, headers, path, f, None)
}

/// As `reader`, the menu's year taken from the time bar's date when one is asked.
fn reader_at(s: &Shared, headers: &HeaderMap, path: &str, f: &str, q: Option<&TimeQuery>) -> Result<Visitor, Refusal> {
    let v = signed_in(s, headers, path)?.on_forbund(s, f, q);
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
    let v = reader_at(s, headers, &format!("{path}{}", q.query()), f, Some(q))?;
    match q.axes() {
        Ok(Axes { known_at: Some(KnownAt::Seq(n)), .. }) if n > s.snapshot().head.seq => {
            let head = s.snapshot().head.seq;
            Err(Box::new(problem_page(
                Some(&v),
                StatusCode::BAD_REQUEST,
                "Händelsen finns inte än",
                &format!("Känt vid händelse nr {n}: loggen har {head} händelser. Ange ett nummer till och med {head}, eller lämna fältet tomt för det senaste."),
            )))
        }
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
    // The application layer's messages are the CLI's, in English for now: a Swedish sentence
    // first, the detail behind it for whoever reports the problem.
    let body = html! {
        h1 { (heading) }
        p.problem { "Underlaget saknas eller frågan kan inte besvaras för förbundet, året eller tidpunkten på sidan." }
        (technical_detail(&detail))
        p { a href="/" { "Till startsidan" } }
    };
    html_response(a.status, layout(v, None, "", heading, body), Some(&v.user), None)
}

/// The program's own words behind a problem, folded away ("Teknisk uppgift"); nothing if none.
fn technical_detail(detail: &str) -> Markup {
    html! { @if !detail.is_empty() { details { summary { "Teknisk uppgift" } p { code { (detail) } } } } }
}

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
        StoreError::Poisoned { reason } => problem_page_with_detail(
            Some(v),
            StatusCode::SERVICE_UNAVAILABLE,
            "Inget registrerades",
            "Tjänsten tar inte emot fler registreringar förrän den startas om. Allt som redan registrerats finns kvar och går att läsa. Be den som sköter tjänsten att läsa den tekniska uppgiften nedan.",
            &reason,
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
        .route("/f/{id}/underlag/{sha}", get(underlag_download))
        .route(
            "/f/{id}/importera",
            get(import_page)
                .post(import_upload)
                .layer(DefaultBodyLimit::max(finsam_import::MAX_FILE_BYTES + 64 * 1024)),
        )
        .route("/f/{id}/importera/{sha}", get(import_review).post(import_record))
        .route(
            "/f/{id}/underlag",
            axum::routing::post(underlag_upload)
                .layer(DefaultBodyLimit::max(finsam_domain::event::ATTACHMENT_BYTES_MAX as usize + 64 * 1024)),
        )
        .route("/f/{id}/handelser", get(trail))
        .route("/f/{id}/arsredovisning/{year}", get(annual_page))
        .route("/f/{id}/arsredovisning/{year}/utskrift", get(annual_print))
        .route("/f/{id}/uppfoljning/{year}", get(period_page))
        .route("/f/{id}/delarsrapport/{year}", get(interim_page))
        .route("/f/{id}/medlemsbidrag/{year}", get(members_page))
        .route("/f/{id}/avstamning", get(reconciliation))
        .route("/f/{id}/ladda-ner", get(downloads))
        .route("/f/{id}/ladda-ner/saldon.csv", get(balances_csv))
        .route("/f/{id}/ladda-ner/saldon.xlsx", get(balances_xlsx))
        .route("/f/{id}/ladda-ner/{year}/arsredovisning.xlsx", get(annual_xlsx))
        .route("/f/{id}/ladda-ner/{year}/budget.xlsx", get(budget_xlsx))
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
        assert!(take_pasted(&mut v, "costs", &COST_COLUMNS, "klistra").is_empty());
        let (_, json) = budget_event("sf-vastmanland", &v).unwrap();
        assert_eq!(json["costs"][0]["amount"], "600000");
        assert_eq!(json["costs"][1]["id"], "kansli");
        assert_eq!(json["costs"][1]["amount"], "2300000.50");
        assert_eq!(json["costs"].as_array().unwrap().len(), 2);
        // A row with a column missing is refused, naming the row and the columns.
        let mut bad = v.clone();
        bad.insert("klistra".into(), "x\tX\tadmin\t100".into());
        let problems = take_pasted(&mut bad, "costs", &COST_COLUMNS, "klistra");
        assert!(problems[""].contains("rad 1 har 4 kolumner"), "{problems:?}");
        // A cell that is wrong is named by its row and column.
        v.insert("costs[1].amount".into(), "2.300.000".into());
        let problems = budget_event("sf-vastmanland", &v).unwrap_err();
        assert!(problems.contains_key("costs[1].amount"), "{problems:?}");
    }

    #[test]
    fn a_pasted_budget_keeps_the_labels_a_swedish_user_writes_and_marks_every_cell_it_cannot_read() {
        let mut v = values(&[
            ("date", "2026-11-20"),
            ("year", "2027"),
            ("status", "adopted"),
            ("decision.body", "styrelsen"),
            ("decision.date", "2026-11-20"),
            (
                "klistra",
                "kansli\tKansli\tAdministration\t\tköpta tjänster\t1 750 000\nteam\tTeam\tIndividinriktade insatser\t\t\t1 750 000,50\n",
            ),
        ]);
        assert!(take_pasted(&mut v, "costs", &COST_COLUMNS, "klistra").is_empty());
        let (_, json) = budget_event("sf-vastmanland", &v).unwrap();
        assert_eq!(json["costs"][0]["category"], "admin");
        assert_eq!(json["costs"][0]["nature"], "kopta_tjanster");
        assert_eq!(json["costs"][0]["amount"], "1750000");
        assert_eq!(json["costs"][1]["category"], "individ");
        assert_eq!(json["costs"][1]["amount"], "1750000.50");
        // What cannot be read is marked cell by cell with the reason, and kept as written.
        let mut bad = values(&[("klistra", "x\tX\tÖvrigt\t\tresor\t1.750.000\n")]);
        let problems = take_pasted(&mut bad, "costs", &COST_COLUMNS, "klistra");
        assert!(problems["costs[0].category"].contains("ingen kategori"), "{problems:?}");
        assert!(problems["costs[0].nature"].contains("ingen kostnadsart"), "{problems:?}");
        assert_eq!(bad["costs[0].category"], "Övrigt");
        let problems = budget_event("sf-vastmanland", &bad).unwrap_err();
        for cell in ["costs[0].category", "costs[0].nature", "costs[0].amount"] {
            assert!(problems.contains_key(cell), "{cell}: {problems:?}");
        }
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

#[cfg(test)]
mod region_tests {
    use super::tables_in_regions;

    #[test]
    fn every_table_scrolls_in_a_region_named_by_its_caption() {
        let page = "<main><table><caption>Per kategori <small>(kr)</small></caption><tr><td>1</td></tr></table>\
            <p>text</p><div class=\"scroll\" role=\"region\" tabindex=\"0\" aria-label=\"Redan\"><table><tr><td>2</td></tr></table></div>\
            <table><tr><td><table><caption>inre</caption></table></td></tr></table></main>";
        assert_eq!(
            tables_in_regions(page),
            "<main><div class=\"scroll\" role=\"region\" tabindex=\"0\" aria-label=\"Per kategori (kr)\"><table><caption>Per kategori <small>(kr)</small></caption><tr><td>1</td></tr></table></div>\
            <p>text</p><div class=\"scroll\" role=\"region\" tabindex=\"0\" aria-label=\"Redan\"><table><tr><td>2</td></tr></table></div>\
            <div class=\"scroll\" role=\"region\" tabindex=\"0\" aria-label=\"Tabell\"><table><tr><td><table><caption>inre</caption></table></td></tr></table></div></main>"
        );
        assert_eq!(tables_in_regions("<p>ingen tabell</p>"), "<p>ingen tabell</p>");
    }
}
