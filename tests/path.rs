//! The årsredovisning a board adopts and its path (issue 28): the förvaltningsberättelse, god
//! ekonomisk hushållning, redovisningsprinciper, the path from adoption through the
//! revisionsberättelse to each member's ansvarsfrihet, and the signatures — as the fixtures
//! record them for Samordningsförbundet Västmanland 2024 — and the adoption bound to the books.

use crate::support::*;
use serde_json::Value;
use std::path::Path;

fn annual(store: &Path, forbund: &str, year: &str, format: &str) -> String {
    let o = finsam(store, &["report", "annual", "--forbund", forbund, "--year", year, "--format", format], "");
    assert_exit(&o, 0);
    stdout(&o)
}

fn adoption_findings(store: &Path) -> Vec<Value> {
    let o = finsam(store, &["reconcile", "--merger", "sf-vastmanland", "--format", "json"], "");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["findings"].as_array().unwrap().iter().filter(|f| f["check"] == "report_adoption").cloned().collect()
}

/// The text a person reads on a page: without the style sheet and the tags.
pub(crate) fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let body = html.split("</style>").last().unwrap_or(html);
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
}

/// Every id of the fixtures: förbund, members, insatser and budget lines.
fn fixture_ids() -> Vec<String> {
    let mut ids = Vec::new();
    for name in fixture_files() {
        for line in fixture(&name).lines().filter(|l| !l.trim().is_empty()) {
            let e: Value = serde_json::from_str(line).unwrap();
            ids.push(e["forbund"].as_str().unwrap().to_string());
            for key in ["insats", "member"] {
                if let Some(id) = e[key].as_str() {
                    ids.push(id.to_string());
                }
            }
            for list in ["members", "costs", "income"] {
                for item in e[list].as_array().into_iter().flatten() {
                    ids.push(item["id"].as_str().unwrap().to_string());
                }
            }
        }
    }
    ids.sort();
    ids.dedup();
    // Ids that are ordinary Swedish words ("sala" is also Sala) are no sign of a developer.
    ids.retain(|id| id.contains('-'));
    ids
}

#[test]
fn the_2024_report_has_its_parts_and_its_path_from_adoption_to_every_members_discharge() {
    let dir = TempDir::new("path");
    let store = fixture_store(&dir);
    let json: Value = serde_json::from_str(&annual(&store, "sf-vastmanland", "2024", "json")).unwrap();
    let brief = json["forvaltningsberattelse"]["aret_i_korthet"].as_array().unwrap();
    let result = brief.iter().find(|r| r["key"] == "arets_resultat").unwrap();
    assert_eq!((result["year"].as_str(), result["budget"].as_str()), (Some("-1638899"), Some("-1945000")));
    assert_eq!(json["forvaltningsberattelse"]["texts"].as_array().unwrap().len(), 3);
    let hushallning = json["god_ekonomisk_hushallning"].as_array().unwrap();
    assert!(
        hushallning[1]
            .as_str()
            .unwrap()
            .contains("planerad användning av eget kapital: 1 945 000,00 kr planerades, 1 638 899,00 kr användes"),
        "{hushallning:?}"
    );
    let path = &json["path"];
    assert_eq!(path["adopted"]["figures_unchanged"], true);
    assert_eq!(path["adopted"]["record"]["figures_sha256"], json["figures_sha256"], "adopted as it stands");
    assert_eq!(path["audits"].as_array().unwrap().len(), 2);
    assert_eq!(path["discharges"].as_array().unwrap().len(), 13, "every member decided");
    assert!(path["pending"].as_array().unwrap().is_empty());
    assert!(adoption_findings(&store).is_empty(), "the adopted report is the books");

    let html = annual(&store, "sf-vastmanland", "2024", "html");
    for part in [
        "Förvaltningsberättelse",
        "Året i korthet",
        "Händelser av väsentlig betydelse",
        "Förväntad utveckling",
        "God ekonomisk hushållning och balanskrav",
        "Redovisningsprinciper",
        "Resultaträkning",
        "Balansräkning",
        "Kassaflödesanalys",
        "Driftredovisning",
        "Noter",
        "Årsredovisningens väg",
        "Kungsörs kommun: beviljad 2025-06-02 (kommunfullmäktige i Kungsör)",
        "Underskrifter",
        "Antagen av styrelsen 2025-03-20 § 12",
    ] {
        assert!(html.contains(part), "the page has {part}");
    }
    let order: Vec<usize> = [
        "Förvaltningsberättelse",
        "Redovisningsprinciper",
        "Resultaträkning",
        "Noter",
        "Årsredovisningens väg",
        "Underskrifter",
    ]
    .iter()
    .map(|h| html.find(&format!(">{h}<")).unwrap_or_else(|| panic!("a heading {h}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in the order LKBR reads: {order:?}");
    let text = annual(&store, "sf-vastmanland", "2024", "table");
    // Generated from the log: what came with the merger, what settled after the year's end,
    // and what comes next.
    let generated = |r: &Value, section: &str| -> Vec<String> {
        let list = r["generated"].as_array().unwrap();
        let found = list.iter().find(|g| g["section"] == section);
        found.map_or(Vec::new(), |g| {
            g["sentences"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect()
        })
    };
    assert_eq!(generated(&json, "vasentliga_handelser").len(), 3, "the three old förbund taken over");
    let after = generated(&json, "efter_arets_slut");
    assert!(
        after.iter().any(|x| x.starts_with("2025-01-20: ") && x.ends_with("37 124,10 kr")),
        "Kungsör's late payment: {after:?}"
    );
    assert_eq!(generated(&json, "forvantad_utveckling"), ["Ingen budget för 2025 är registrerad ännu."]);
    let vasteras: Value = serde_json::from_str(&annual(&store, "sf-vasteras", "2023", "json")).unwrap();
    assert_eq!(
        generated(&vasteras, "forvantad_utveckling"),
        ["Förbundet gick upp i Samordningsförbundet Västmanland den 2024-01-01; verksamheten fortsätter där."]
    );
    let adopted = text.lines().find(|l| l.starts_with("Antagen")).unwrap_or_default();
    assert!(adopted.ends_with(" av styrelsen 2025-03-20 § 12"), "{text}");
}

/// A Swedish reader of the report finds no developer words: no command names, no `seq`, no
/// JSON, no ids where a name exists — for the new förbund's 2024 and each old förbund's last year.
#[test]
fn the_printed_report_speaks_to_a_swedish_reader_not_to_a_developer() {
    let dir = TempDir::new("path-words");
    let store = fixture_store(&dir);
    let ids = fixture_ids();
    assert!(ids.iter().any(|i| i == "samordningsteam-sala") && ids.iter().any(|i| i == "sf-vasteras"));
    for (forbund, year) in [
        ("sf-vastmanland", "2024"),
        ("sf-vasteras", "2023"),
        ("sf-norra-vastmanland", "2023"),
        ("sf-vastra-malardalen", "2023"),
    ] {
        let text = visible_text(&annual(&store, forbund, year, "html"));
        for word in ["finsam audit", "finsam report", "finsam record", "JSON", " seq ", "(seq", "seq)"] {
            assert!(!text.contains(word), "{forbund} {year}: the page says {word:?}");
        }
        for id in &ids {
            assert!(!text.contains(id.as_str()), "{forbund} {year}: the page shows the id {id}");
        }
    }
}

#[test]
fn a_2024_figure_changed_after_the_adoption_shows_on_the_page_and_in_the_reconciliation() {
    let dir = TempDir::new("path-changed");
    let store = fixture_store(&dir);
    let late = r#"{"type":"CostRecorded","forbund":"sf-vastmanland","date":"2024-12-30","year":2024,"line":"gemensam-administration","amount":"12000","reference":"Faktura 2024-9","text":"sen faktura för december","nature":"kopta_tjanster"}"#;
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], late), 0);
    let found = adoption_findings(&store);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["severity"], "warning");
    let why = found[0]["explanation"].as_str().unwrap();
    assert!(why.contains("Årets resultat -1 638 899,00 → -1 650 899,00"), "{why}");
    let json: Value = serde_json::from_str(&annual(&store, "sf-vastmanland", "2024", "json")).unwrap();
    assert_eq!(json["path"]["adopted"]["figures_unchanged"], false);
    let html = annual(&store, "sf-vastmanland", "2024", "html");
    assert!(html.contains("Bokföringen har ändrats sedan beslutet"), "the page says so");

    // The revisor's bundle: the Python verifier recomputes the adopted digest from the log alone
    // and says the books differ from it now.
    let said = bundle_checks_out(&store, "sf-vastmanland", 2024, &dir.0.join("bundle-changed"));
    assert!(said.contains("note: the 2024 report adopted in event 323 differs from the books now"), "{said}");
    // The board adopts the report again, as it now stands: nothing to find.
    let head = log_json(&store).len();
    let digest = json["figures_sha256"].as_str().unwrap();
    let again = format!(
        r#"{{"type":"AnnualReportAdopted","forbund":"sf-vastmanland","date":"2025-09-01","year":2024,"known_at":{head},"figures_sha256":"{digest}","decision":{{"body":"styrelsen","date":"2025-09-01","paragraph":"§ 40"}}}}"#
    );
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &again), 0);
    assert!(adoption_findings(&store).is_empty());
    // An adoption whose digest is no report's as known then is an error.
    let wrong = again.replace(digest, &"0".repeat(64)).replace("§ 40", "§ 41");
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &wrong), 0);
    let found = adoption_findings(&store);
    assert_eq!((found.len(), found[0]["severity"].as_str()), (1, Some("error")), "{found:?}");
    // ... and the verifier finds the adoption that binds to no report.
    let out = dir.0.join("bundle-wrong");
    let o = finsam(
        &store,
        &["audit", "bundle", "--forbund", "sf-vastmanland", "--year", "2024", out.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 0);
    let check = std::process::Command::new("python3")
        .args(["events/verify_chain.py", "--manifest", "MANIFEST"])
        .current_dir(&out)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{said}");
    assert!(said.contains("the adoption of 2024's report binds to 000000000000…"), "{said}");
}

#[test]
fn the_path_is_walked_in_order_and_its_steps_are_refused_out_of_it() {
    let dir = TempDir::new("path-refused");
    let store = fixture_store(&dir);
    let before = log_bytes(&store);
    let refused = |line: &str, rule: &str| {
        let o = finsam(&store, &["record", "--as", "kansli", "-"], line);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains(rule), "{rule}: {}", stderr(&o));
    };
    // The revisorer report on an adopted report; a member decides on their report.
    refused(
        r#"{"type":"AuditReportRecorded","forbund":"sf-vastmanland","date":"2026-04-01","year":2025,"auditor":"Revisor","role":"lekmannarevisor","verdict":"tillstyrker"}"#,
        "report_not_adopted",
    );
    refused(
        r#"{"type":"DischargeDecided","forbund":"sf-vasteras","date":"2024-05-01","year":2023,"member":"vasteras-stad","granted":true,"decision":{"body":"kommunfullmäktige i Västerås","date":"2024-05-01"}}"#,
        "audit_report_missing",
    );
    // Adopted after the year's end, as the log stood at an event already recorded.
    refused(
        r#"{"type":"AnnualReportAdopted","forbund":"sf-vastmanland","date":"2024-12-31","year":2024,"known_at":10,"figures_sha256":"0000000000000000000000000000000000000000000000000000000000000000","decision":{"body":"styrelsen","date":"2024-12-31"}}"#,
        "year_not_over",
    );
    refused(
        r#"{"type":"AnnualReportAdopted","forbund":"sf-vastmanland","date":"2026-03-01","year":2025,"known_at":99999,"figures_sha256":"0000000000000000000000000000000000000000000000000000000000000000","decision":{"body":"styrelsen","date":"2026-03-01"}}"#,
        "value_not_allowed",
    );
    refused(
        r#"{"type":"ReportTextRecorded","forbund":"sf-vastmanland","date":"2025-02-01","year":2024,"section":"personal","paragraphs":["rad ett\nrad två"]}"#,
        "text_control_character",
    );
    refused(
        r#"{"type":"ReportTextRecorded","forbund":"sf-vastmanland","date":"2025-02-01","year":2024,"section":"ekonomi","paragraphs":["text"]}"#,
        "value_not_allowed",
    );
    assert_eq!(log_bytes(&store), before, "nothing written");
    // The kansli's text is escaped on the page, and the latest version is the one shown.
    let text = |words: &str| {
        format!(
            r#"{{"type":"ReportTextRecorded","forbund":"sf-vastmanland","date":"2025-02-21","year":2024,"section":"personal","paragraphs":["{words}"]}}"#
        )
    };
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &text("Tre anställda <b>kansli</b>")), 0);
    assert_exit(
        &finsam(
            &store,
            &["record", "--as", "kansli", "-"],
            &text("Tre anställda: förbundschef och två utvecklingsledare."),
        ),
        0,
    );
    let html = annual(&store, "sf-vastmanland", "2024", "html");
    assert!(html.contains("Tre anställda: förbundschef och två utvecklingsledare."));
    assert!(!html.contains("<b>kansli</b>") && !html.contains("&lt;b&gt;kansli"), "only the latest version");
    let earlier = log_json(&store).len() - 1;
    let o = finsam(
        &store,
        &[
            "report",
            "annual",
            "--forbund",
            "sf-vastmanland",
            "--year",
            "2024",
            "--format",
            "html",
            "--known-at",
            &earlier.to_string(),
        ],
        "",
    );
    assert!(stdout(&o).contains("Tre anställda &lt;b&gt;kansli&lt;/b&gt;"), "as known then, escaped");
}

/// The notes are numbered in print order, each statement row that has one refers to it, and
/// each note's rows sum to the statement's figure it explains.
#[test]
fn the_notes_are_numbered_referred_to_and_sum_to_their_statement_rows() {
    let dir = TempDir::new("path-notes");
    let store = fixture_store(&dir);
    for (forbund, year) in [("sf-vastmanland", "2024"), ("sf-vasteras", "2023"), ("sf-norra-vastmanland", "2023")] {
        let r: Value = serde_json::from_str(&annual(&store, forbund, year, "json")).unwrap();
        let notes = &r["noter"];
        let numbers: Vec<(u64, String)> = notes["numbers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["number"].as_u64().unwrap(), n["key"].as_str().unwrap().to_string()))
            .collect();
        assert!(numbers.iter().enumerate().all(|(i, (n, _))| *n == i as u64 + 1), "{numbers:?}");
        let number_of = |key: &str| numbers.iter().find(|(_, k)| k == key).map(|(n, _)| *n);
        let row = |statement: &str, key: &str| -> Value {
            r["statements"][statement].as_array().unwrap().iter().find(|l| l["key"] == key).unwrap().clone()
        };
        let amount = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
        let sum = |list: &Value| -> f64 { list.as_array().unwrap().iter().map(|x| amount(&x["amount"])).sum() };
        for (statement, key, note) in [
            ("resultatrakning", "medlemsbidrag_staten", "medlemsbidrag"),
            ("balansrakning", "fordringar", "fordringar"),
            ("balansrakning", "kortfristiga_skulder", "kortfristiga_skulder"),
            ("balansrakning", "eget_kapital", "eget_kapital"),
            ("balansrakning", "upplupna_kostnader", "periodiseringar"),
        ] {
            assert_eq!(
                row(statement, key)["note"].as_u64(),
                number_of(note),
                "{forbund} {year}: {key} refers to its note"
            );
        }
        let close = |a: f64, b: f64| (a - b).abs() < 0.005;
        assert!(close(sum(&notes["fordringar"]), amount(&row("balansrakning", "fordringar")["current"]["amount"])));
        assert!(close(
            sum(&notes["kortfristiga_skulder"]),
            amount(&row("balansrakning", "kortfristiga_skulder")["current"]["amount"])
        ));
        let equity = notes["eget_kapital"].as_array().unwrap();
        let closing = equity.last().unwrap();
        assert!(close(amount(&closing["amount"]), amount(&row("balansrakning", "eget_kapital")["current"]["amount"])));
        let movements: f64 = equity[..equity.len() - 1].iter().map(|x| amount(&x["amount"])).sum();
        assert!(close(movements, amount(&closing["amount"])), "{forbund} {year}: the equity note adds up");
        let members: f64 = notes["medlemsbidrag"].as_array().unwrap().iter().map(|m| amount(&m["amount"])).sum();
        let booked: f64 = ["medlemsbidrag_staten", "medlemsbidrag_region", "medlemsbidrag_kommuner"]
            .iter()
            .map(|k| amount(&row("resultatrakning", k)["current"]["amount"]))
            .sum();
        assert!(close(members, booked), "{forbund} {year}: the members' note sums to the contributions");
    }
    let html = annual(&store, "sf-vastmanland", "2024", "html");
    assert!(
        html.contains("Not 1. Medlemsbidrag per medlem") && html.contains("Not 3. Eget kapital"),
        "numbered on the page"
    );
}

/// The delårsrapport: through August 2024 two thirds of the year's contributions are earned,
/// the rest is a liability; through December it is the annual report's result.
#[test]
fn the_interim_report_periodises_the_contributions_and_forecasts_the_year() {
    let dir = TempDir::new("interim");
    let store = fixture_store(&dir);
    let interim = |through: &str, format: &str| -> String {
        let args = [
            "report",
            "interim",
            "--forbund",
            "sf-vastmanland",
            "--year",
            "2024",
            "--through",
            through,
            "--format",
            format,
        ];
        let o = finsam(&store, &args, "");
        assert_exit(&o, 0);
        stdout(&o)
    };
    let august: Value = serde_json::from_str(&interim("2024-08", "json")).unwrap();
    let row = |v: &Value, statement: &str, key: &str| -> String {
        let found = v[statement].as_array().unwrap().iter().find(|r| r["key"] == key).cloned();
        found.unwrap_or_else(|| panic!("{statement} {key}"))["amount"].as_str().unwrap().to_string()
    };
    assert_eq!(row(&august, "resultatrakning", "ej_intjanade_medlemsbidrag"), "-6346000");
    assert_eq!(row(&august, "resultatrakning", "intakter"), "12692000");
    assert_eq!(row(&august, "resultatrakning", "periodens_resultat"), "2200500");
    assert_eq!(row(&august, "balansrakning", "forutbetalda_intakter"), "6346000");
    let december: Value = serde_json::from_str(&interim("2024-12", "json")).unwrap();
    assert_eq!(row(&december, "resultatrakning", "periodens_resultat"), "-1638899");
    assert_eq!(row(&december, "helarsprognos", "resultat"), "-1638899", "through December the forecast is the utfall");
    let text = interim("2024-08", "table");
    assert!(text.contains("1 januari – 31 augusti 2024 (8 månader)") && text.contains("Helårsprognos 2024"), "{text}");
    let csv = interim("2024-08", "csv");
    assert!(csv.starts_with("statement,key,label,amount,previous\n"), "{csv}");
    let o = finsam(
        &store,
        &["report", "interim", "--forbund", "sf-vastmanland", "--year", "2024", "--through", "2023-08"],
        "",
    );
    assert_exit(&o, 2);
}
