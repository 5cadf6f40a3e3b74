//! Signing in with a token and out again: the sign-in form (its own CSRF pair, one try), the
//! session cookie, the way back to the page asked for (only a path of this site).

use super::*;

#[derive(Deserialize, Default)]
pub(crate) struct Back {
    #[serde(default)]
    pub(crate) tillbaka: Option<String>,
    #[serde(default)]
    pub(crate) fel: Option<String>,
}

/// Only a path of this site is a place to go back to.
pub(crate) fn back_path(p: Option<&str>) -> &str {
    p.filter(|p| is_local_path(p)).unwrap_or("/")
}

/// A path on this site: it starts with one `/` followed by something a browser cannot take
/// for another host. Browsers read `\` as `/` and drop tabs and newlines, so `/\evil`,
/// `/\t/evil` and `//evil` all lead elsewhere; any backslash, control character or space is
/// refused, and so is a second `/` at the start.
pub(crate) fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p[1..].starts_with('/')
        && !p.bytes().any(|b| b == b'\\' || b.is_ascii_control() || b == b' ')
        && p.len() <= 2048
}

pub(crate) async fn login_form(State(s): State<Shared_>, headers: HeaderMap, Query(q): Query<Back>) -> Response {
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
pub(crate) struct LoginForm {
    pub(crate) token: String,
    pub(crate) csrf: String,
    #[serde(default)]
    pub(crate) tillbaka: Option<String>,
}

pub(crate) async fn login(State(s): State<Shared_>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let drawn = s.sessions.lock().expect("the sessions' lock is never poisoned").form_posted(&form.csrf);
    if !drawn || !cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same_secret(c, &form.csrf)) {
        return csrf_refused(None);
    }
    let user = s.authenticate(form.token.trim());
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
    let begun = match &s.directory {
        Some(directory) => tokio::task::block_in_place(|| directory.session_begun(&kept)),
        None => finsam_store::access::session_begun(&s.dir, &kept),
    };
    if let Err(e) = begun {
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
pub(crate) struct CsrfOnly {
    #[serde(default)]
    pub(crate) csrf: String,
}

pub(crate) async fn logout(State(s): State<Shared_>, headers: HeaderMap, Form(form): Form<CsrfOnly>) -> Response {
    let Some((user, csrf)) = session(&s, &headers) else {
        return see_other("/logga-in");
    };
    if !same_secret(&csrf, &form.csrf) {
        return csrf_refused(Some(&user));
    }
    if let Some(id) = cookie(&headers, COOKIE) {
        let key = session_key(id);
        s.sessions.lock().expect("the sessions' lock is never poisoned").map.remove(&key);
        let ended = match &s.directory {
            Some(directory) => tokio::task::block_in_place(|| directory.session_ended(&key)),
            None => finsam_store::access::session_ended(&s.dir, &key),
        };
        if let Err(e) = ended {
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

pub(crate) fn csrf_refused(user: Option<&User>) -> Response {
    let body = html! {
        h1 { "Formuläret kunde inte tas emot" }
        p.problem { "Formuläret saknar en giltig säkerhetskod (CSRF). Inget har registrerats. Ladda om sidan och försök igen." }
        p { a href="/" { "Till startsidan" } }
    };
    html_response(StatusCode::FORBIDDEN, page_shell("Formuläret kunde inte tas emot", body), user, None)
}
