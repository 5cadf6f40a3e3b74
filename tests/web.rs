//! The web app in a real browser: Debian's Chromium, headless, driven through ChromeDriver
//! (WebDriver) against `finsam serve` on the loopback. A kansli signs in, records a member's
//! contribution typed the Swedish way — first wrongly, and sees why next to the field — and the
//! start page's bank figure moves by exactly that amount; a revisor follows a budget line's
//! utfall to the decision behind a cost in clicks, and never sees a form. Without the browser
//! the same server refuses a form posted without its CSRF token and records a double submit
//! once. Screenshots of the main pages go to target/screenshots/ (not in git), to look at.

use crate::serve::{token, Server};
use crate::support::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Whether ChromeDriver and Chromium run; in CI, or with FINSAM_REQUIRE_CHROMIUM set, a missing
/// one fails the test instead of skipping it.
fn browser_present() -> bool {
    let runs = |p: &str| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success());
    let present = runs("chromedriver") && runs("chromium");
    tool_present(
        present,
        "chromedriver and chromium",
        "FINSAM_REQUIRE_CHROMIUM",
        "apt-get install chromium chromium-driver",
    )
}

/// ChromeDriver on a free port of the loopback, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Dropped (and so stopped) whether it comes up or not.
        let driver = Driver { child, port };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return driver;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("chromedriver did not listen on port {port}");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new headless Chromium session, with a profile of its own.
async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1600", format!("--user-data-dir={}", profile.display())],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

fn screenshots() -> PathBuf {
    let dir = root().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await.unwrap().text().await.unwrap()
}

/// The amounts and dates of the page that the browser broke across lines: every figure cell,
/// amount, date and time whose text takes more than one line box.
async fn wrapped(c: &Client) -> Vec<String> {
    let script = "return Array.from(document.querySelectorAll('td.n, .amount, .date, td.date, time, .figure .value'))\
        .filter(e => { const r = document.createRange(); r.selectNodeContents(e); \
            const tops = new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top))); return tops.size > 1; })\
        .map(e => e.textContent.trim());";
    let found = c.execute(script, vec![]).await.unwrap();
    found.as_array().unwrap().iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
}

/// axe-core (npm), which checks a page against WCAG 2.1 A and AA: its script, installed by
/// `.ci/run` under `target/axe` (or where `FINSAM_AXE` points).
fn axe_source() -> Option<String> {
    let path = std::env::var_os("FINSAM_AXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/axe/node_modules/axe-core/axe.min.js"));
    let present =
        tool_present(path.is_file(), "axe-core", "FINSAM_REQUIRE_AXE", "npm install --prefix target/axe axe-core@4");
    present.then(|| std::fs::read_to_string(&path).unwrap())
}

/// The WCAG 2.1 A and AA violations axe-core finds on the page: "rule: element, …".
async fn axe(c: &Client, source: &str) -> Vec<String> {
    c.execute(source, vec![]).await.unwrap();
    let script = "const done = arguments[arguments.length - 1];\
        axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] })\
          .then(r => done(r.violations.map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))\
          .catch(e => done(['axe failed: ' + e]));";
    let found = c.execute_async(script, vec![]).await.unwrap();
    found.as_array().unwrap().iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
}

/// A Swedish amount as shown ("2 274 601,00 kr") in öre.
fn ore(text: &str) -> i64 {
    let digits: String = text.chars().filter(|c| c.is_ascii_digit() || *c == '-' || *c == '−').collect();
    let negative = digits.starts_with('-') || digits.starts_with('−');
    let n: i64 = digits.trim_start_matches(['-', '−']).parse().unwrap_or_else(|_| panic!("an amount: {text:?}"));
    assert!(text.contains(','), "two decimals: {text:?}");
    if negative {
        -n
    } else {
        n
    }
}

async fn sign_in(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/logga-in")).await.unwrap();
    c.find(Locator::Css("#token")).await.unwrap().send_keys(token).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("nav.top")).await.unwrap();
}

/// One raw HTTP request with a cookie and a form body: the status and the Location header.
fn post_form(addr: &str, path: &str, cookie: &str, body: &str) -> (u16, String) {
    request(addr, "POST", path, cookie, body)
}

fn request(addr: &str, method: &str, path: &str, cookie: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).unwrap();
    let answer = String::from_utf8_lossy(&bytes);
    let status = answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let location = answer
        .lines()
        .find_map(|l| l.strip_prefix("location: ").or_else(|| l.strip_prefix("Location: ")))
        .unwrap_or("")
        .trim()
        .to_string();
    (status, location)
}

#[test]
fn a_kansli_records_in_swedish_and_a_revisor_traces_a_figure_to_its_decision_in_a_real_browser() {
    if !browser_present() {
        return;
    }
    // Every page the walk looks at is checked against WCAG 2.1 AA as well.
    let axe_script = axe_source();
    let dir = TempDir::new("web");
    let store = fixture_store(&dir);
    let kansli = token(&store, "kansli", "kansli", &["sf-vastmanland"]);
    let revisor = token(&store, "revisor", "revisor", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let base = format!("http://{}", server.addr);
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        // --- the kansli --------------------------------------------------------------------
        let c = browser(&driver, &dir.0.join("profile-kansli")).await;
        // Not signed in: every page leads to the sign-in page.
        c.goto(&format!("{base}/f/sf-vastmanland")).await.unwrap();
        assert!(c.current_url().await.unwrap().path().starts_with("/logga-in"));
        screenshot(&c, "01-logga-in").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 01-logga-in");
        }
        sign_in(&c, &base, &kansli).await;
        // One förbund: straight to its start page.
        assert_eq!(c.current_url().await.unwrap().path(), "/f/sf-vastmanland");
        // It opens on the latest year with books (2024), not on today's empty year, and the
        // menu's reports go to that year.
        let main = text_of(&c, "main").await;
        assert!(main.contains("Per 2024-12-31") && main.contains("Budget och utfall 2024"), "{main}");
        assert!(!main.contains("Ingen budget i kraft"), "{main}");
        for (link, href) in [
            ("Årsredovisning", "/f/sf-vastmanland/arsredovisning/2024"),
            ("Uppföljning", "/f/sf-vastmanland/uppfoljning/2024"),
            ("Medlemsbidrag", "/f/sf-vastmanland/medlemsbidrag/2024"),
        ] {
            let a = c.find(Locator::LinkText(link)).await.unwrap();
            assert_eq!(a.attr("href").await.unwrap().as_deref(), Some(href), "{link}");
        }
        screenshot(&c, "02-oversikt-kansli").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 02-oversikt-kansli");
        }
        // Today's bank, before the kansli records a payment of today.
        let today = chrono::Utc::now().date_naive();
        c.goto(&format!("{base}/f/sf-vastmanland?per={today}")).await.unwrap();
        let bank_before = ore(&text_of(&c, "#nyckeltal-bank").await);
        // A contribution, the amount written with a point: refused next to the field, nothing recorded.
        let head_before = log_json(&store).len();
        c.find(Locator::LinkText("Registrera")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::LinkText("Inbetalt medlemsbidrag")).await.unwrap().click().await.unwrap();
        let form = c.wait().for_element(Locator::Css("form.event")).await.unwrap();
        form.find(Locator::Css("#member")).await.unwrap().select_by_value("sala").await.unwrap();
        form.find(Locator::Css("#amount")).await.unwrap().send_keys("1.500,50").await.unwrap();
        form.find(Locator::Css("#reference")).await.unwrap().send_keys("Bankgiro 2026-12").await.unwrap();
        c.find(Locator::Css("button.primary")).await.unwrap().click().await.unwrap();
        let error = text_of(&c, "#fel-amount").await;
        assert!(error.contains("decimalkomma"), "the error is next to the amount: {error}");
        screenshot(&c, "03-formular-fel").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 03-formular-fel");
        }
        assert_eq!(log_json(&store).len(), head_before, "nothing recorded while a problem remains");
        // Written the Swedish way: shown back for confirmation, canonically, then recorded.
        let amount = c.find(Locator::Css("#amount")).await.unwrap();
        amount.clear().await.unwrap();
        amount.send_keys("1 500,50").await.unwrap();
        c.find(Locator::Css("button.primary")).await.unwrap().click().await.unwrap();
        assert_eq!(text_of(&c, "#granska-amount").await, "1 500,50 kr");
        assert!(text_of(&c, "#granskning").await.contains("Sala kommun"), "the member by name");
        screenshot(&c, "04-granska").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 04-granska");
        }
        assert_eq!(log_json(&store).len(), head_before, "nothing recorded before the confirmation");
        if let Ok(seen) = c.find(Locator::Css("input[name=sett_varningar]")).await {
            seen.click().await.unwrap();
        }
        c.find(Locator::Css("button[value=registrera]")).await.unwrap().click().await.unwrap();
        let notice = text_of(&c, "#registrerad").await;
        let log = log_json(&store);
        assert_eq!(log.len(), head_before + 1, "one event recorded");
        let recorded = log.last().unwrap();
        assert_eq!(recorded["event"]["amount"], "1500.50");
        assert_eq!(recorded["event"]["member"], "sala");
        assert_eq!(recorded["recorded_by"], "kansli");
        let seq = recorded["seq"].as_u64().unwrap();
        assert!(notice.contains(&seq.to_string()) && notice.contains("verifikation"), "{notice}");
        screenshot(&c, "05-registrerad").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 05-registrerad");
        }
        // The start page's figure moved by exactly that amount: with a payment this year, the
        // menu's overview opens on today.
        c.find(Locator::LinkText("Översikt")).await.unwrap().click().await.unwrap();
        assert!(text_of(&c, "main").await.contains(&format!("Per {today}")));
        let bank_after = ore(&text_of(&c, "#nyckeltal-bank").await);
        assert_eq!(bank_after - bank_before, 150_050, "the bank moved by 1 500,50 kr");
        // Pressing twice, or a browser retrying, records once: the same form again, with the
        // same idempotency key, leads to the same event.
        let cookie = c.get_named_cookie("finsam_session").await.unwrap();
        let session = format!("finsam_session={}", cookie.value());
        c.goto(&format!("{base}/f/sf-vastmanland/registrera/medlemsbidrag")).await.unwrap();
        let csrf = c.find(Locator::Css("input[name=csrf]")).await.unwrap().attr("value").await.unwrap().unwrap();
        let key = c.find(Locator::Css("input[name=idempotency_key]")).await.unwrap().attr("value").await.unwrap().unwrap();
        let today = chrono::Utc::now().date_naive();
        let body = format!(
            "csrf={csrf}&idempotency_key={key}&date={today}&member=sala&year={}&amount=200&reference=Bankgiro+2&steg=registrera&sett_varningar=1",
            chrono::Datelike::year(&today)
        );
        let path = "/f/sf-vastmanland/registrera/medlemsbidrag";
        let first = post_form(&server.addr, path, &session, &body);
        let second = post_form(&server.addr, path, &session, &body);
        assert_eq!(first.0, 303, "{first:?}");
        assert_eq!(first, second, "the second press leads to the same event");
        assert_eq!(log_json(&store).len(), head_before + 2, "recorded once");
        // A form posted without its CSRF token is refused, and nothing is written.
        let forged = body.replace(&format!("csrf={csrf}&"), "");
        assert_eq!(post_form(&server.addr, path, &session, &forged).0, 403);
        let other_key = forged.replace(&key, "webb-another-key");
        assert_eq!(post_form(&server.addr, path, &session, &other_key).0, 403);
        assert_eq!(log_json(&store).len(), head_before + 2, "nothing written by a forged form");
        c.goto(&format!("{base}/f/sf-vastmanland")).await.unwrap();
        // A budget for 2027 pasted from a spreadsheet (tab-separated rows, a heading first):
        // taken into the table, a wrong amount shown next to its cell, then recorded.
        c.goto(&format!("{base}/f/sf-vastmanland/registrera/budget?ar=2027")).await.unwrap();
        let rows = "id\tnamn\tkategori\tinsats\tart\tbelopp\nstyrelse\tStyrelse\tadmin\t\tpersonal\t610 000\nkansli\tKansli\tAdministration\t\tköpta tjänster\t2 300 000\nteam-sala\tSamordningsteam Sala\tindivid\tsamordningsteam-sala\t\t1 750 000,505";
        c.execute(
            "document.querySelector('#klistra-kostnader').value = arguments[0]; document.querySelector('#klistra-intakter').value = arguments[1];",
            vec![serde_json::json!(rows), serde_json::json!("bidrag\tMedelstilldelning 2027\t4 660 000")],
        )
        .await
        .unwrap();
        c.execute("document.querySelector('#decision-body').value = 'styrelsen'; document.querySelector('#decision-date').value = '2026-11-20';", vec![]).await.unwrap();
        c.find(Locator::Css("form.event.wide button.primary")).await.unwrap().click().await.unwrap();
        // The form page already has empty rows: wait for what only the answer has (the refused
        // cell), so that the cell found next is the answer's, not the page being left.
        c.wait().for_element(Locator::Css("td.invalid .error")).await.unwrap();
        let cell = c.wait().for_element(Locator::Css("input[name='costs[2].amount']")).await.unwrap();
        assert_eq!(cell.attr("value").await.unwrap().as_deref(), Some("1 750 000,505"), "the pasted row is in the table");
        assert!(text_of(&c, "td.invalid .error").await.contains("två decimaler"), "the wrong amount's reason is next to it");
        // Tied to its cell for a screen reader, and linked from the summary of problems.
        assert_eq!(cell.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
        assert_eq!(cell.attr("aria-describedby").await.unwrap().as_deref(), Some("fel-cell-costs-2-amount"));
        let link = c.find(Locator::Css("#fel a")).await.unwrap();
        assert_eq!(link.attr("href").await.unwrap().as_deref(), Some("#cell-costs-2-amount"));
        assert!(link.text().await.unwrap().contains("kostnadsrad 3, belopp"));
        // The labels a Swedish user pastes are read, not dropped.
        let category = c.find(Locator::Css("select[name='costs[1].category']")).await.unwrap();
        assert_eq!(category.prop("value").await.unwrap().as_deref(), Some("admin"));
        screenshot(&c, "05b-budget-fel").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 05b-budget-fel");
        }
        cell.clear().await.unwrap();
        cell.send_keys("1 750 000").await.unwrap();
        c.find(Locator::Css("form.event.wide button.primary")).await.unwrap().click().await.unwrap();
        assert_eq!(text_of(&c, "#summa-kostnader").await, "4 660 000,00 kr");
        assert_eq!(text_of(&c, "#summa-intakter").await, "4 660 000,00 kr");
        screenshot(&c, "05c-budget-granska").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 05c-budget-granska");
        }
        let before = log_json(&store).len();
        c.find(Locator::Css("#granskning button.primary")).await.unwrap().click().await.unwrap();
        text_of(&c, "#registrerad").await;
        let log = log_json(&store);
        assert_eq!(log.len(), before + 1);
        let budget = &log.last().unwrap()["event"];
        assert_eq!(budget["type"], "BudgetAdopted");
        assert_eq!(budget["year"], 2027);
        assert_eq!(budget["costs"].as_array().unwrap().len(), 3);
        assert_eq!(budget["costs"][2]["insats"], "samordningsteam-sala");
        assert_eq!(budget["costs"][0]["nature"], "personal");
        assert_eq!((budget["costs"][1]["category"].as_str(), budget["costs"][1]["nature"].as_str()), (Some("admin"), Some("kopta_tjanster")));
        c.close().await.unwrap();

        // --- the revisor ------------------------------------------------------------------
        let c = browser(&driver, &dir.0.join("profile-revisor")).await;
        sign_in(&c, &base, &revisor).await;
        // No form anywhere: no Registrera in the menu, and the form's address is refused.
        assert!(c.find_all(Locator::LinkText("Registrera")).await.unwrap().is_empty());
        c.goto(&format!("{base}/f/sf-vastmanland/registrera/medlemsbidrag")).await.unwrap();
        assert!(text_of(&c, "main").await.contains("Ingen behörighet"));
        assert!(c.find_all(Locator::Css("form.event")).await.unwrap().is_empty());
        screenshot(&c, "06-revisor-ingen-behorighet").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 06-revisor-ingen-behorighet");
        }
        // The year 2024 as of its end, by the time bar: the URL says what is seen.
        c.goto(&format!("{base}/f/sf-vastmanland")).await.unwrap();
        // (The date picker's value set as the picker sets it: typing into it depends on the locale.)
        c.execute("document.querySelector('input[name=per]').value = '2024-12-31'", vec![]).await.unwrap();
        c.find(Locator::Css("form.timebar button")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("#utfall-samordningsteam-sala")).await.unwrap();
        let url = c.current_url().await.unwrap();
        assert_eq!(url.query_pairs().find(|(k, _)| k == "per").map(|(_, v)| v.to_string()), Some("2024-12-31".into()), "{url}");
        screenshot(&c, "07-oversikt-2024").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 07-oversikt-2024");
        }
        assert_eq!(wrapped(&c).await, Vec::<String>::new(), "no amount or date broken across lines at 1280 px (07-oversikt-2024)");
        // The budget's utfall is the year's costs (the demo year has no cost outside the budget).
        let costs = ore(&text_of(&c, "#nyckeltal-kostnader").await);
        assert_eq!(ore(&text_of(&c, "#utfall-summa").await), costs);
        assert_eq!(costs, 2_067_689_900, "the 2024 costs of the annual report");
        // A budget line's utfall → the vouchers behind it → a cost → the grant decision behind it.
        let utfall = text_of(&c, "#utfall-samordningsteam-sala").await;
        c.find(Locator::Css("#utfall-samordningsteam-sala")).await.unwrap().click().await.unwrap();
        assert_eq!(text_of(&c, "#utfall").await, format!("{utfall} kr"), "the line's page sums to the figure clicked");
        screenshot(&c, "08-budgetrad").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 08-budgetrad");
        }
        c.find(Locator::Css("table tbody tr td a")).await.unwrap().click().await.unwrap();
        let via = text_of(&c, "#beslut-via").await;
        assert!(via.contains("beslutet i händelse"), "{via}");
        screenshot(&c, "09-kostnad").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 09-kostnad");
        }
        c.find(Locator::Css("#beslutet")).await.unwrap().click().await.unwrap();
        let decision = text_of(&c, "#beslut").await;
        assert!(decision.starts_with("Beslutat av ") && decision.contains("2023"), "{decision}");
        assert!(text_of(&c, "h1").await.contains("Medel beviljade"), "the decision is a grant");
        screenshot(&c, "10-beslut").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 10-beslut");
        }
        // The annual report and the follow-up, in the app.
        c.goto(&format!("{base}/f/sf-vastmanland/arsredovisning/2024")).await.unwrap();
        assert!(text_of(&c, "main").await.contains("Resultaträkning"));
        // Every year with books is a link away (2023 is the old förbund's, not this one's).
        let years = text_of(&c, "nav.years").await;
        assert!(years.starts_with("År: 2024"), "{years}");
        screenshot(&c, "11-arsredovisning").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 11-arsredovisning");
        }
        assert_eq!(wrapped(&c).await, Vec::<String>::new(), "no amount or date broken across lines at 1280 px (11-arsredovisning)");
        c.goto(&format!("{base}/f/sf-vastmanland/uppfoljning/2024?till=2024-08")).await.unwrap();
        let main = text_of(&c, "main").await;
        assert!(main.contains("januari–augusti 2024") && main.contains("Eget kapital vid årets slut"), "{main}");
        screenshot(&c, "12-uppfoljning").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 12-uppfoljning");
        }
        assert_eq!(wrapped(&c).await, Vec::<String>::new(), "no amount or date broken across lines at 1280 px (12-uppfoljning)");
        // From the follow-up to the delårsrapport of the same month.
        c.find(Locator::LinkText("Delårsrapport för samma månad")).await.unwrap().click().await.unwrap();
        let main = text_of(&c, "main").await;
        assert!(main.contains("Förvaltningsberättelse för perioden") && main.contains("Helårsprognos"), "{main}");
        assert!(main.contains("1 januari – 31 augusti 2024"), "{main}");
        screenshot(&c, "12b-delarsrapport").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 12b-delarsrapport");
        }
        assert_eq!(wrapped(&c).await, Vec::<String>::new(), "no amount or date broken across lines at 1280 px (12b-delarsrapport)");
        // The budget's and the merger's event pages: tables in Swedish, the page no wider than
        // the window, the JSON folded away.
        for (seq, name) in [(34, "15-handelse-budget"), (21, "16-handelse-sammanlaggning")] {
            c.goto(&format!("{base}/f/sf-vastmanland/handelse/{seq}")).await.unwrap();
            let main = text_of(&c, "main").await;
            assert!(!main.contains("{\"") && main.contains("Visa som JSON"), "{main}");
            let overflow = c.execute("return document.documentElement.scrollWidth - window.innerWidth;", vec![]).await.unwrap();
            assert!(overflow.as_i64().unwrap() <= 0, "event {seq} is wider than the window by {overflow}");
            assert_eq!(wrapped(&c).await, Vec::<String>::new(), "event {seq}");
            screenshot(&c, name).await;
        }
        c.goto(&format!("{base}/verifiera?kor=1")).await.unwrap();
        assert!(text_of(&c, "#verifiering").await.starts_with("Loggen är hel"));
        screenshot(&c, "13-verifiera").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 13-verifiera");
        }
        // The downloads are the API's, reached with the session; the API's writes never are.
        let cookie = c.get_named_cookie("finsam_session").await.unwrap();
        let session = format!("finsam_session={}", cookie.value());
        let sie = request(&server.addr, "GET", "/api/v1/forbund/sf-vastmanland/export/sie/2024", &session, "");
        assert_eq!(sie.0, 200);
        let event = contribution("sala", "1", None);
        assert_eq!(request(&server.addr, "POST", "/api/v1/events", &session, &event).0, 401);
        // An address that is no page gets a page saying so; one under /api gets JSON.
        c.goto(&format!("{base}/f/sf-vastmanland/ingen-sadan-sida")).await.unwrap();
        assert!(text_of(&c, "h1").await.contains("Sidan finns inte"));
        let api = request(&server.addr, "GET", "/api/v1/ingen-sadan", &session, "");
        assert_eq!(api.0, 404);
        // The reconciliation page lists its findings, each with its events.
        c.goto(&format!("{base}/f/sf-vastmanland/avstamning?per=2024-12-31")).await.unwrap();
        assert!(text_of(&c, "main").await.contains("Hela avstämningen"));
        screenshot(&c, "14-avstamning").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 14-avstamning");
        }
        assert_eq!(wrapped(&c).await, Vec::<String>::new(), "no amount or date broken across lines at 1280 px (14-avstamning)");
        // The downloads page says what each file is for.
        c.goto(&format!("{base}/f/sf-vastmanland/ladda-ner")).await.unwrap();
        assert!(text_of(&c, "main").await.contains("Vad filerna är till för"));
        screenshot(&c, "18-ladda-ner").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 18-ladda-ner");
        }
        // Signed out, the session is gone.
        c.goto(&format!("{base}/f/sf-vastmanland")).await.unwrap();
        c.find(Locator::Css("nav.top button.link")).await.unwrap().click().await.unwrap();
        c.wait().for_element(Locator::Css("#token")).await.unwrap();
        let after = request(&server.addr, "GET", "/f/sf-vastmanland", &session, "");
        assert_eq!(after.0, 303, "the old session leads to the sign-in page");
        assert!(after.1.starts_with("/logga-in"), "{after:?}");
        c.close().await.unwrap();
    });
}

/// A GET with a cookie: the status, the headers (lower-case) and the body's bytes.
fn download(addr: &str, path: &str, cookie: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n").unwrap();
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).unwrap();
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block") + 4;
    let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head, bytes[end..].to_vec())
}

#[test]
fn a_kansli_attaches_a_pdf_to_an_invoice_and_downloads_it_again_in_a_real_browser() {
    if !browser_present() {
        return;
    }
    let axe_script = axe_source();
    let dir = TempDir::new("web-underlag");
    let store = fixture_store(&dir);
    let kansli = token(&store, "kansli", "kansli", &["sf-vastmanland"]);
    let invoice = log_json(&store)
        .iter()
        .find(|e| e["event"]["type"] == "InvoiceReceived" && e["event"]["forbund"] == "sf-vastmanland")
        .map(|e| e["seq"].as_u64().unwrap())
        .unwrap();
    let pdf = b"%PDF-1.4\n% Faktura 2024-Q1 fr\xc3\xa5n Kursg\xc3\xa5rden\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec();
    let file = dir.0.join("faktura-kursgården.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let sha = hex(&<sha2::Sha256 as sha2::Digest>::digest(&pdf));
    let server = Server::start(&store);
    let base = format!("http://{}", server.addr);
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let c = browser(&driver, &dir.0.join("profile")).await;
        sign_in(&c, &base, &kansli).await;
        c.goto(&format!("{base}/f/sf-vastmanland/handelse/{invoice}")).await.unwrap();
        assert!(text_of(&c, "#underlag").await.contains("Inget underlag är bifogat"));
        // A file that is not a document is refused, and nothing is recorded.
        let head = log_json(&store).len();
        let text_file = dir.0.join("anteckning.txt");
        std::fs::write(&text_file, "inte en pdf").unwrap();
        c.find(Locator::Css("#fil")).await.unwrap().send_keys(text_file.to_str().unwrap()).await.unwrap();
        c.find(Locator::Css("#underlag button[type=submit]")).await.unwrap().click().await.unwrap();
        // Wait for what only the answer has, so that the text read is the answer's, not the
        // page being left.
        let refusal = c.wait().for_element(Locator::XPath("//h1[text()='Inget bifogades']")).await.unwrap();
        assert!(refusal.text().await.is_ok());
        assert!(text_of(&c, "main").await.contains("varken en PDF"));
        assert_eq!(log_json(&store).len(), head);
        // The PDF: attached, shown on the invoice's page, named in the chain.
        c.goto(&format!("{base}/f/sf-vastmanland/handelse/{invoice}")).await.unwrap();
        c.find(Locator::Css("#fil")).await.unwrap().send_keys(file.to_str().unwrap()).await.unwrap();
        c.find(Locator::Css("#underlag button[type=submit]")).await.unwrap().click().await.unwrap();
        assert_eq!(text_of(&c, "#bifogat").await, "Underlaget är bifogat.");
        let section = text_of(&c, "#underlag").await;
        assert!(section.contains("faktura-kursgården.pdf") && section.contains("PDF"), "{section}");
        let last = log_json(&store).pop().unwrap();
        assert_eq!(last["event"]["type"], "UnderlagAttached");
        assert_eq!(last["event"]["of"], serde_json::json!([invoice]));
        assert_eq!(last["event"]["file"]["sha256"], sha.as_str());
        assert_eq!(last["recorded_by"], "kansli");
        screenshot(&c, "20-underlag").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 20-underlag");
        }
        // Downloaded again through the link: the same bytes.
        let link = c.find(Locator::Css("#underlag li a[download]")).await.unwrap();
        let href = link.attr("href").await.unwrap().unwrap();
        assert_eq!(href, format!("/f/sf-vastmanland/underlag/{sha}"));
        // With the browser's session (the page's own policy lets no script fetch).
        let cookies = c.get_all_cookies().await.unwrap();
        let cookie: Vec<String> = cookies.iter().map(|k| format!("{}={}", k.name(), k.value())).collect();
        let (status, headers, bytes) = download(&server.addr.to_string(), &href, &cookie.join("; "));
        assert_eq!(status, 200);
        assert!(headers.contains("content-type: application/pdf"), "{headers}");
        assert!(headers.contains("filename*=utf-8''faktura-kursg%c3%a5rden.pdf"), "{headers}");
        assert_eq!(bytes, pdf, "the file downloads as it was attached");
        // The attaching event's own page reads in Swedish and links the invoice.
        let seq = last["seq"].as_u64().unwrap();
        c.goto(&format!("{base}/f/sf-vastmanland/handelse/{seq}")).await.unwrap();
        let fields = text_of(&c, "dl.event").await;
        assert!(
            fields.contains("Underlag till")
                && fields.contains(&format!("händelse {invoice}"))
                && fields.contains("PDF"),
            "{fields}"
        );
        assert!(!fields.contains("application/pdf") && !fields.contains("media_type"), "{fields}");
        c.close().await.unwrap();
    });
}

#[test]
fn a_kansli_imports_a_bank_file_assigns_the_payment_that_waits_and_records_in_a_real_browser() {
    if !browser_present() {
        return;
    }
    let axe_script = axe_source();
    let dir = TempDir::new("web-import");
    let (texts, received) = crate::import::fixtures_without_received();
    let store = store_with(&dir, &texts.iter().map(String::as_str).collect::<Vec<_>>());
    let kansli = token(&store, "kansli", "kansli", &["sf-vastmanland"]);
    // The first quarter's payments, and one from someone who is no member: Kungsör's second
    // quarter, paid through its kommunalförbund.
    let mut pay: Vec<finsam_generate::bank::Payment> = crate::import::payments(&received)
        .into_iter()
        .filter(|p| p.date == chrono::NaiveDate::from_ymd_opt(2024, 1, 31).unwrap())
        .collect();
    let matched = pay.len();
    pay.push(finsam_generate::bank::Payment {
        date: chrono::NaiveDate::from_ymd_opt(2024, 4, 30).unwrap(),
        ore: 3_712_410,
        id: "999000111".into(),
        counterparty: "Västra Mälardalens kommunalförbund".into(),
        ocr: None,
        text: Some("Medlemsbidrag Q2".into()),
    });
    let camt = finsam_generate::bank::camt053("02", crate::import::ACCOUNT, "WEB-1", 0, &pay);
    let file = dir.0.join("kontoutdrag-2024-q1.xml");
    std::fs::write(&file, camt).unwrap();
    let server = Server::start(&store);
    let base = format!("http://{}", server.addr);
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let c = browser(&driver, &dir.0.join("profile")).await;
        sign_in(&c, &base, &kansli).await;
        c.find(Locator::LinkText("Importera")).await.unwrap().click().await.unwrap();
        assert!(text_of(&c, "main").await.contains("Inga bankfiler är importerade ännu"));
        let head = log_json(&store).len();
        c.find(Locator::Css("#bankfil")).await.unwrap().send_keys(file.to_str().unwrap()).await.unwrap();
        c.find(Locator::Css("main button[type=submit]")).await.unwrap().click().await.unwrap();
        // The review: every payment with its match and reason; the one that fits nothing waits.
        let table = text_of(&c, "#betalningar").await;
        assert!(table.contains("Försäkringskassan") && table.contains("nästa delbetalning"), "{table}");
        assert!(table.contains("ingen av förbundets medlemmar"), "{table}");
        assert_eq!(log_json(&store).len(), head, "nothing recorded before the kansli confirms");
        screenshot(&c, "21-granska-bankfil").await;
        if let Some(source) = &axe_script {
            assert_eq!(axe(&c, source).await, Vec::<String>::new(), "WCAG 2.1 AA on 21-granska-bankfil");
        }
        let choice = c.find(Locator::Css("#betalningar select")).await.unwrap();
        choice.select_by_value("medlem:kungsor").await.unwrap();
        c.find(Locator::Css("form button.primary")).await.unwrap().click().await.unwrap();
        let notice = text_of(&c, "#bokfort").await;
        // Försäkringskassan's transfer pays two members: one event more than payments, plus the
        // assigned one.
        assert_eq!(notice, format!("{} händelser bokförda.", matched + 1 + 1), "{notice}");
        let log = log_json(&store);
        let last = log.last().unwrap();
        assert_eq!(last["event"]["type"], "UnderlagAttached");
        assert_eq!(last["event"]["file"]["name"], "kontoutdrag-2024-q1.xml");
        let assigned = &log[log.len() - 2]["event"];
        assert_eq!(assigned["type"], "ContributionReceived");
        assert_eq!((assigned["member"].as_str(), assigned["amount"].as_str()), (Some("kungsor"), Some("37124.10")));
        assert_eq!(assigned["idempotency_key"], format!("bank:{}:999000111", crate::import::ACCOUNT));
        // Everything is now recorded: nothing waits, and the queue says so.
        let table = text_of(&c, "#betalningar").await;
        assert!(!table.contains("Väntar"), "{table}");
        c.find(Locator::LinkText("Tillbaka till kön")).await.unwrap().click().await.unwrap();
        let queue = text_of(&c, "#ko").await;
        assert!(queue.contains("kontoutdrag-2024-q1.xml") && queue.trim_end().ends_with('0'), "{queue}");
        c.close().await.unwrap();
    });
}

/// What keeps a page from reflowing at the window's width: the page's overflow in pixels, the
/// elements that reach past the window's right edge outside a scrolling container, and the
/// tables wider than their place that do not scroll in a labelled, focusable region (WCAG 2.1
/// 1.4.10 Reflow; a region the keyboard can reach, 2.1.1).
async fn reflow_problems(c: &Client) -> Vec<String> {
    let script = "const w = window.innerWidth; const out = [];\
        const over = document.documentElement.scrollWidth - w; if (over > 0) { let widest = null; for (const e of document.querySelectorAll('body *')) { const r = e.getBoundingClientRect(); if (!widest || r.right > widest[1]) widest = [e, r.right]; }          out.push('the page is ' + over + ' px wider than the window' + (widest ? ' (its rightmost element: ' + widest[0].tagName.toLowerCase() + '.' + widest[0].className + ' at ' + Math.round(widest[1]) + ' px, in ' + widest[0].parentElement.tagName.toLowerCase() + '.' + widest[0].parentElement.className + ')' : '')); }\
        const scrolls = e => { for (let p = e.parentElement; p; p = p.parentElement) { const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return p; } return null; };\
        const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : '');\
        for (const e of document.body.querySelectorAll('*')) { const r = e.getBoundingClientRect(); if (r.width > 0 && r.right > w + 1 && !scrolls(e)) out.push(name(e) + ' reaches ' + Math.round(r.right) + ' px: ' + (e.textContent || '').trim().slice(0, 40)); }\
        for (const t of document.querySelectorAll('table')) { const box = scrolls(t) || (getComputedStyle(t).overflowX === 'auto' ? t : null); if (!box || box.scrollWidth <= box.clientWidth) continue;\
          if (!(box.getAttribute('role') === 'region' && box.getAttribute('aria-label') && box.getAttribute('tabindex') === '0')) out.push('a table that scrolls in ' + name(box) + ' without role=region, aria-label and tabindex=0: ' + (t.textContent || '').trim().slice(0, 40)); }\
        return out.slice(0, 12);";
    let found = c.execute(script, vec![]).await.unwrap();
    found.as_array().unwrap().iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect()
}

/// At 320 CSS pixels (a phone, or a page zoomed to 400 %), every page reflows: nothing wider
/// than the window but what scrolls in a labelled region (WCAG 2.1 1.4.10). The pages are the
/// kansli's walk: the start page, the trail and its filter, an event page of every type the
/// fixtures hold, the forms (the budget's wide one too), every report, the reconciliation, the
/// downloads, the verification and the import page; and the sign-in page before it.
#[test]
fn every_page_reflows_at_320_px_with_its_wide_tables_scrolling_in_a_labelled_region() {
    if !browser_present() {
        return;
    }
    let dir = TempDir::new("web-320");
    let store = fixture_store(&dir);
    let kansli = token(&store, "kansli", "kansli", &["sf-vastmanland"]);
    let revisor = token(&store, "revisor", "revisor", &["sf-vastmanland"]);
    // An event page of every type the fixtures hold for Samordningsförbundet Västmanland.
    let mut seen = std::collections::BTreeSet::new();
    let events: Vec<(String, u64)> = log_json(&store)
        .iter()
        .filter(|e| {
            e["event"]["forbund"] == "sf-vastmanland" && seen.insert(e["event"]["type"].as_str().unwrap().to_string())
        })
        .map(|e| (e["event"]["type"].as_str().unwrap().to_string(), e["seq"].as_u64().unwrap()))
        .collect();
    assert!(events.len() >= 15, "the fixtures hold many types: {events:?}");
    let server = Server::start(&store);
    let base = format!("http://{}", server.addr);
    let driver = Driver::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let c = browser(&driver, &dir.0.join("profile")).await;
        c.set_window_size(320, 900).await.unwrap();
        let width = c.execute("return window.innerWidth;", vec![]).await.unwrap();
        assert!(width.as_i64().unwrap() <= 320, "the window is 320 px wide, not {width}");
        let mut problems: Vec<String> = Vec::new();
        c.goto(&format!("{base}/logga-in")).await.unwrap();
        text_of(&c, "h1").await;
        problems.extend(reflow_problems(&c).await.into_iter().map(|p| format!("/logga-in: {p}")));
        sign_in(&c, &base, &kansli).await;
        let f = "/f/sf-vastmanland";
        let mut pages: Vec<String> = [
            "?per=2024-12-31",
            "/handelser",
            "/handelser?fran=2024-01-01&till=2024-12-31",
            "/registrera",
            "/registrera/medlemsbidrag",
            "/registrera/budget",
            "/arsredovisning/2024",
            "/uppfoljning/2024?till=2024-08",
            "/delarsrapport/2024?till=2024-08",
            "/medlemsbidrag/2024",
            "/avstamning?per=2024-12-31",
            "/ladda-ner",
            "/importera",
            "/konto/1930?per=2024-12-31",
        ]
        .iter()
        .map(|p| format!("{f}{p}"))
        .collect();
        pages.extend(events.iter().map(|(_, seq)| format!("{f}/handelse/{seq}")));
        for page in &pages {
            c.goto(&format!("{base}{page}")).await.unwrap();
            let main = text_of(&c, "main").await;
            // What a person sees of an event is its Swedish view; the JSON stays folded away.
            if page.contains("/handelse/") {
                assert!(!main.contains("{\"") && main.contains("Visa som JSON"), "{page}: {main}");
            }
            problems.extend(reflow_problems(&c).await.into_iter().map(|p| format!("{page}: {p}")));
        }
        for (page, name) in [("?per=2024-12-31", "31-oversikt-320px"), ("/handelse/34", "30-handelse-budget-320px")] {
            c.goto(&format!("{base}{f}{page}")).await.unwrap();
            text_of(&c, "main").await;
            screenshot(&c, name).await;
        }
        // And each type's page as a desktop shows it, to look at (target/screenshots/40-…).
        c.set_window_size(1280, 1600).await.unwrap();
        for (kind, seq) in &events {
            c.goto(&format!("{base}{f}/handelse/{seq}")).await.unwrap();
            text_of(&c, "main").await;
            screenshot(&c, &format!("40-handelse-{kind}")).await;
        }
        c.close().await.unwrap();
        // The revisor's own page: the verification of the whole log.
        let c = browser(&driver, &dir.0.join("profile-revisor")).await;
        c.set_window_size(320, 900).await.unwrap();
        sign_in(&c, &base, &revisor).await;
        c.goto(&format!("{base}/verifiera?kor=1")).await.unwrap();
        assert!(text_of(&c, "#verifiering").await.starts_with("Loggen är hel"));
        problems.extend(reflow_problems(&c).await.into_iter().map(|p| format!("/verifiera?kor=1: {p}")));
        screenshot(&c, "32-verifiera-320px").await;
        c.close().await.unwrap();
        assert_eq!(problems, Vec::<String>::new(), "every page reflows at 320 px ({} pages)", pages.len() + 2);
    });
}
