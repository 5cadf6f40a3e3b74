//! The web app's pages as a Swedish reader meets them: every event of the fixtures on its own
//! page, in Swedish, without the log's raw JSON (which stays behind "Visa som JSON").

use crate::path::visible_text;
use crate::security::Browser;
use crate::serve::{token, Server};
use crate::support::*;

/// What the log's JSON, or a developer, would leave on a page.
const RAW: [&str; 14] = [
    "{\"",
    "[{",
    "\":",
    "adopted",
    "outlook",
    "true",
    "false",
    "null",
    "kopta_tjanster",
    "lamnade_bidrag",
    "auktoriserad_revisor",
    "(seq)",
    "upplupen_kostnad",
    "forvantad_utveckling",
];

#[test]
fn every_event_of_the_fixtures_reads_in_swedish_without_raw_json() {
    let dir = TempDir::new("pages-events");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &admin);
    let mut types = std::collections::BTreeSet::new();
    for record in log_json(&store) {
        let seq = record["seq"].as_u64().unwrap();
        let forbund = record["event"]["forbund"].as_str().unwrap();
        let r = web.get(&format!("/f/{forbund}/handelse/{seq}"));
        assert_eq!(r.status, 200, "event {seq}: {}", r.body);
        // The canonical JSON is there for a revisor, folded away; the rest is for people.
        assert!(r.body.contains("Visa som JSON"), "event {seq}");
        let start = r.body.find("<details class=\"json\">").expect("the JSON behind a link");
        let end = start + r.body[start..].find("</details>").unwrap();
        let shown = visible_text(&format!("{}{}", &r.body[..start], &r.body[end..]));
        for raw in RAW {
            assert!(!shown.contains(raw), "event {seq} ({}) shows {raw:?}: {shown}", record["event"]["type"]);
        }
        // Shares as percentages with a decimal comma, never a fraction with a point.
        let fraction = shown.as_bytes().windows(3).any(|w| w[0] == b'0' && w[1] == b'.' && w[2].is_ascii_digit());
        assert!(!fraction, "event {seq} shows a fraction: {shown}");
        types.insert(record["event"]["type"].as_str().unwrap().to_string());
    }
    assert!(types.len() >= 15, "every kind of event of the fixtures: {types:?}");
}

/// The downloads a person saves: the balances as a CSV file Swedish Excel opens in columns, the
/// exports with their file names; a "känt vid" beyond the log said in Swedish.
#[test]
fn downloads_have_their_names_and_the_peoples_csv_is_swedish() {
    let dir = TempDir::new("pages-downloads");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &admin);
    let r = web.get("/f/sf-vastmanland/ladda-ner/saldon.csv?per=2024-12-31");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"saldon-sf-vastmanland-2024-12-31.csv\""));
    assert!(r.body.starts_with('\u{feff}'), "a byte-order mark, so that Excel reads UTF-8");
    let lines: Vec<&str> = r.body.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], "konto;namn;saldo 2024-12-31 (kr)");
    let bank = lines.iter().find(|l| l.starts_with("1930;")).expect("the bank account");
    assert!(bank.ends_with(";2357029,90"), "a number with a decimal comma: {bank}");
    assert!(lines.iter().all(|l| l.split(';').count() == 3), "three columns on every line: {lines:?}");
    assert!(lines.contains(&";Resultat;-1638899,00"), "a negative number stays a number: {lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("2440;") && l.ends_with(";-119553,00")), "{lines:?}");
    for (path, name) in [
        ("/api/v1/forbund/sf-vastmanland/export/sie/2024", ".se\""),
        ("/api/v1/forbund/sf-vastmanland/bundle/2024", ".zip\""),
        ("/api/v1/forbund/sf-vastmanland/export/journal?year=2024", ".journal\""),
    ] {
        let r = web.get(path);
        assert_eq!(r.status, 200, "{path}");
        let disposition = r.header("content-disposition").unwrap_or_default().to_string();
        assert!(
            disposition.starts_with("attachment; filename=\"") && disposition.ends_with(name),
            "{path}: {disposition}"
        );
    }
    // Workbooks of the balances, the annual report and the budget, linked from the downloads page.
    for (path, name) in [
        ("/f/sf-vastmanland/ladda-ner/saldon.xlsx?per=2024-12-31", "saldon-sf-vastmanland-2024-12-31.xlsx"),
        ("/f/sf-vastmanland/ladda-ner/2024/arsredovisning.xlsx", "arsredovisning-sf-vastmanland-2024.xlsx"),
        ("/f/sf-vastmanland/ladda-ner/2024/budget.xlsx", "budget-sf-vastmanland-2024.xlsx"),
    ] {
        let r = web.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-disposition"), Some(format!("attachment; filename=\"{name}\"").as_str()));
        assert!(r.header("content-type").is_some_and(|t| t.contains("spreadsheetml")), "{path}");
        assert!(r.body.starts_with("PK"), "{path}: an xlsx file is a zip");
    }
    let downloads = web.get("/f/sf-vastmanland/ladda-ner");
    for link in ["/ladda-ner/saldon.xlsx", "/ladda-ner/2024/arsredovisning.xlsx", "/ladda-ner/2024/budget.xlsx"] {
        assert!(downloads.body.contains(link), "the downloads page links {link}");
    }
    assert!(!downloads.body.contains("/ladda-ner/2025/budget.xlsx"), "no budget workbook for a year without a budget");
    // Another förbund's kansli gets no workbook of these books.
    let other = token(&store, "vera", "kansli", &["sf-vasteras"]);
    let theirs = Browser::sign_in(&server.addr, &other);
    let r = theirs.get("/f/sf-vastmanland/ladda-ner/2024/arsredovisning.xlsx");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!r.body.starts_with("PK"));
    // The start page's time bar shows the date it opened on.
    let start = web.get("/f/sf-vastmanland");
    assert!(start.body.contains(r#"name="per" value="2024-12-31""#), "the date field says 2024-12-31");
    // The downloads page offers the years with books, not every year up to today's.
    let page = web.get("/f/sf-vastmanland/ladda-ner");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("sf-vastmanland-2024.se"), "{}", page.body);
    assert!(!page.body.contains("sf-vastmanland-2026.se"), "no empty year to download");
    let r = web.get("/f/sf-vastmanland?kant=99999");
    assert_eq!(r.status, 400);
    let text = visible_text(&r.body);
    assert!(text.contains("Känt vid händelse nr 99999: loggen har"), "{text}");
    for english in ["head", "known-at", "the log"] {
        assert!(!text.contains(english), "{english}: {text}");
    }
}

/// A correction opens on the corrected event: what it is, and the day and year it will be
/// booked in — the event's own, while that year is open.
#[test]
fn a_correction_defaults_to_the_corrected_events_date_and_says_where_it_lands() {
    let dir = TempDir::new("pages-correction");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &admin);
    let log = log_json(&store);
    let payment = log
        .iter()
        .find(|r| r["event"]["type"] == "ContributionReceived" && r["event"]["forbund"] == "sf-vastmanland")
        .expect("a 2024 payment");
    let (seq, date) = (payment["seq"].as_u64().unwrap(), payment["event"]["date"].as_str().unwrap());
    assert!(date.starts_with("2024-"));
    let r = web.get(&format!("/f/sf-vastmanland/registrera/rattelse?seq={seq}"));
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&format!("name=\"date\" value=\"{date}\"")), "the event's own date");
    let text = visible_text(&r.body);
    assert!(text.contains(&format!("Du rättar  händelse {seq}")), "{text}");
    assert!(text.contains("Inbetalt medlemsbidrag") || text.contains("Medlemsbidrag"), "{text}");
    assert!(text.contains("bokförs 2024"), "{text}");
}

/// Words a Swedish reader of the pages should never meet: the CLI's, the log's, English.
const DEVELOPER_WORDS: [&str; 14] = [
    "seq",
    "known-at",
    "known_at",
    "the log",
    "head is",
    "JSON-form",
    "finsam audit",
    "finsam report",
    "EXAMPLE DATA",
    "ASSUMED",
    "adopted",
    "outlook",
    "forbund event",
    "no such",
];

/// Every page of the menu, for a kansli and a revisor, on the year the app opens on: in Swedish,
/// without the developer's words.
#[test]
fn the_menus_pages_speak_swedish_to_a_kansli_and_a_revisor() {
    let dir = TempDir::new("pages-words");
    let store = fixture_store(&dir);
    let kansli = token(&store, "kansli", "kansli", &["sf-vastmanland"]);
    let revisor = token(&store, "revisor", "revisor", &["sf-vastmanland"]);
    let server = Server::start(&store);
    for (who, role) in [(&kansli, "kansli"), (&revisor, "revisor")] {
        let web = Browser::sign_in(&server.addr, who);
        // The first page opens on the latest year with books, not today's empty one.
        let first = visible_text(&web.get("/f/sf-vastmanland").body);
        assert!(first.contains("Per 2024-12-31") && first.contains("Budget och utfall 2024"), "{role}: {first}");
        for page in [
            "/f/sf-vastmanland",
            "/f/sf-vastmanland/handelser",
            "/f/sf-vastmanland/uppfoljning/2024?till=2024-08",
            "/f/sf-vastmanland/delarsrapport/2024?till=2024-08",
            "/f/sf-vastmanland/arsredovisning/2024",
            "/f/sf-vastmanland/medlemsbidrag/2024",
            "/f/sf-vastmanland/avstamning",
            "/f/sf-vastmanland/ladda-ner",
            "/verifiera",
        ] {
            let r = web.get(page);
            // (Verifying the chain is the revisor's.)
            assert_eq!(r.status, if page == "/verifiera" && role == "kansli" { 403 } else { 200 }, "{page}");
            let text = visible_text(&r.body);
            for word in DEVELOPER_WORDS {
                let found = text.match_indices(word).find(|(i, _)| {
                    // A word, not a part of one ("seq" in "sequence" is not the point).
                    let before = text[..*i].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
                    let after = text[i + word.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric());
                    before && after
                });
                assert!(found.is_none(), "{page} says {word:?}: …{}…", &text[found.unwrap().0.saturating_sub(80)..]);
            }
        }
    }
}

/// The Verifiera page takes the head noted at an earlier review and says whether everything
/// before it is unchanged.
#[test]
fn the_verify_page_compares_with_an_earlier_head() {
    let dir = TempDir::new("pages-verify");
    let store = fixture_store(&dir);
    let revisor = token(&store, "revisor", "revisor", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &revisor);
    let log = log_json(&store);
    let earlier = &log[199];
    let (seq, hash) = (earlier["seq"].as_u64().unwrap(), earlier["hash"].as_str().unwrap());
    let text = visible_text(&web.get(&format!("/verifiera?kor=1&huvud={seq}%3A{hash}")).body);
    assert!(text.contains(&format!("händelse {seq}, finns kvar oförändrat")), "{text}");
    let forged: String = hash.chars().rev().collect();
    let text = visible_text(&web.get(&format!("/verifiera?kor=1&huvud={seq}%3A{forged}")).body);
    assert!(text.contains(&format!("händelse {seq}, stämmer inte")), "{text}");
    let r = web.get("/verifiera?kor=1&huvud=inte-ett-huvud");
    assert_eq!(r.status, 400);
    assert!(visible_text(&r.body).contains("NR:HASH"));
}

/// "Känt vid" a day before anything was recorded shows nothing — and says why.
#[test]
fn known_at_before_the_first_recording_says_so() {
    let dir = TempDir::new("pages-known-at");
    let store = fixture_store(&dir);
    let admin = token(&store, "admin", "admin", &[]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &admin);
    let text = visible_text(&web.get("/f/sf-vastmanland?per=2024-12-31&kant=2020-01-01").body);
    assert!(text.contains("känt vid händelse 0") && text.contains("ingen händelse registrerad ännu"), "{text}");
}

/// A kansli of one förbund sees nothing of another förbund's event through the correction form.
#[test]
fn the_correction_form_describes_no_other_forbunds_event() {
    let dir = TempDir::new("pages-correction-other");
    let store = fixture_store(&dir);
    let kansli = token(&store, "kansli", "kansli", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &kansli);
    let log = log_json(&store);
    let other =
        log.iter().find(|r| r["event"]["forbund"] == "sf-vasteras" && r["event"]["type"] == "CostRecorded").unwrap();
    let seq = other["seq"].as_u64().unwrap();
    let r = web.get(&format!("/f/sf-vastmanland/registrera/rattelse?seq={seq}"));
    assert_eq!(r.status, 200);
    let text = visible_text(&r.body);
    assert!(!text.contains("Du rättar"), "{text}");
}

/// The reconciliation page puts a cause first: a payment registered twice, in a group of its
/// own, with the shares it throws off under it; and says how many go when it is corrected.
#[test]
fn the_reconciliation_page_shows_a_duplicate_payment_as_the_cause_and_the_shares_under_it() {
    let dir = TempDir::new("pages-cause");
    let store = fixture_store(&dir);
    let twice = r#"{"type": "ContributionReceived", "forbund": "sf-vastmanland", "date": "2024-01-31", "member": "kungsor", "year": 2024, "amount": "37124.10", "reference": "Medlemsbidrag 2024 Q1 kungsor"}"#;
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], twice), 0);
    let revisor = token(&store, "revisor", "revisor", &["sf-vastmanland"]);
    let server = Server::start(&store);
    let web = Browser::sign_in(&server.addr, &revisor);
    let r = web.get("/f/sf-vastmanland/avstamning?per=2025-01-31");
    assert_eq!(r.status, 200);
    // (Amounts in running text are held together by no-break spaces.)
    let text = visible_text(&r.body).replace('\u{a0}', " ");
    let cause = text.find("orsak: 2024: 2 × 37 124,10 kr från Kungsörs kommun den 2024-01-31").expect(&text);
    let next_group = text[cause..].find("Samordningsförbundet Västmanland: ").map_or(text.len(), |i| cause + i);
    let group = &text[cause..next_group];
    assert_eq!(
        group.matches("följd av orsaken").count(),
        14,
        "the 13 shares and the paid-beyond-decided warning: {group}"
    );
    assert!(
        group.contains("bidrag från Sala kommun") && group.contains("bidrag från kommunerna tillsammans"),
        "{group}"
    );
    assert!(text.contains("14 av dem är följder av en orsak som står först i sin grupp"), "{text}");
    assert!(
        text.find("orsak: ").unwrap() < text.find("budgetens aritmetik").unwrap_or(usize::MAX),
        "the cause comes first"
    );
}
