//! `finsam report annual`: the statements of an annual report from the fixtures' books, each
//! figure checked against another report of the same books.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn annual(store: &std::path::Path, f: &str, year: &str) -> Value {
    let o = finsam(store, &["--format", "json", "report", "annual", "--forbund", f, "--year", year], "");
    assert_exit(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap()
}

/// Every figure of a statement by its key: (current, previous).
fn figures(report: &Value, statement: &str) -> BTreeMap<String, (f64, Option<f64>)> {
    let amount = |v: &Value| v["amount"].as_str().map(|a| a.parse::<f64>().unwrap());
    report["statements"][statement]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["key"].as_str().unwrap().to_string(), (amount(&l["current"]).unwrap(), amount(&l["previous"]))))
        .collect()
}

fn cents(x: f64) -> i64 {
    (x * 100.0).round() as i64
}

/// An opening balance dated 1 January is the year's opening, not a movement of it; books that
/// begin during the year say so; what a merger brought is cash and balances apart from the
/// year's operations (the statements a revisor signs, issue 27 points 1 and 2).
#[test]
fn an_opening_balance_opens_the_year_and_a_merger_brings_cash_not_operations() {
    let dir = TempDir::new("annual-opening");
    let store = fixture_store(&dir);
    let kr = |m: &BTreeMap<String, (f64, Option<f64>)>, k: &str| cents(m.get(k).unwrap_or_else(|| panic!("{k}")).0);
    let was = |m: &BTreeMap<String, (f64, Option<f64>)>, k: &str| cents(m[k].1.unwrap());
    // Västerås 2021: the books open on 1 January with 8 241 000.
    let r = annual(&store, "sf-vasteras", "2021");
    let (br, kf) = (figures(&r, "balansrakning"), figures(&r, "kassaflodesanalys"));
    assert_eq!(kr(&br, "ingaende_eget_kapital"), cents(8_241_000.0));
    assert_eq!(kr(&br, "bokforingen_borjade"), 0);
    assert_eq!(kr(&br, "ovriga_forandringar"), 0);
    assert_eq!(kr(&kf, "likvida_medel_vid_arets_borjan"), cents(8_241_000.0));
    assert_eq!(kr(&kf, "arets_kassaflode"), cents(-5_196_000.0));
    assert_eq!(kr(&kf, "kassaflode_finansiering"), 0);
    // Norra Västmanland 2023 the same: opening 1 066 000, årets kassaflöde −640 000.
    let r = annual(&store, "sf-norra-vastmanland", "2023");
    let (br, kf) = (figures(&r, "balansrakning"), figures(&r, "kassaflodesanalys"));
    assert_eq!(kr(&br, "ingaende_eget_kapital"), cents(1_066_000.0));
    assert_eq!(kr(&kf, "arets_kassaflode"), cents(-640_000.0));
    // The merger year: the takeover brought 3 893 000 in cash and a 30 000 payable (paid on
    // 12 January, so an outflow of the year's operations); equity received 3 863 000.
    let r = annual(&store, "sf-vastmanland", "2024");
    let (br, kf) = (figures(&r, "balansrakning"), figures(&r, "kassaflodesanalys"));
    assert_eq!(kr(&kf, "kassaflode_verksamheten"), cents(-1_535_970.10));
    assert_eq!(kr(&kf, "likvida_medel_vid_sammanlaggning"), cents(3_893_000.0));
    assert_eq!(kr(&kf, "kassaflode_finansiering"), cents(3_893_000.0));
    assert_eq!(kr(&br, "mottaget_eget_kapital"), cents(3_863_000.0));
    // Its comparison column (the predecessors' 2023): 807 000 + 1 066 000 at the start, and
    // Västra Mälardalen's books, which began on 2023-11-16, as the one inflow of financing.
    assert_eq!(was(&br, "ingaende_eget_kapital"), cents(1_873_000.0));
    assert_eq!(was(&br, "bokforingen_borjade"), cents(650_000.0));
    assert_eq!(was(&kf, "likvida_medel_nar_bokforingen_borjade"), cents(650_000.0));
    assert_eq!(was(&kf, "likvida_medel_vid_arets_slut"), cents(3_893_000.0));
    let moved = r["noter"]["kapitalrorelser"].as_array().unwrap();
    let opened: Vec<&Value> = moved.iter().filter(|m| m["kind"] == "books_opened").collect();
    assert_eq!(opened.len(), 1, "{moved:?}");
    assert_eq!(
        (opened[0]["forbund"].as_str(), opened[0]["date"].as_str()),
        (Some("sf-vastra-malardalen"), Some("2023-11-16"))
    );
    let received: Vec<&Value> = moved.iter().filter(|m| m["kind"] == "received").collect();
    let sum = |k: &str| received.iter().map(|m| cents(m[k].as_str().unwrap().parse().unwrap())).sum::<i64>();
    assert_eq!((sum("cash"), sum("other"), sum("equity")), (cents(3_893_000.0), cents(-30_000.0), cents(3_863_000.0)));
    // The page a revisor reads says what came over, and hides the rare line where it is zero.
    let text = stdout(&finsam(&store, &["report", "annual", "--forbund", "sf-vastmanland", "--year", "2024"], ""));
    assert!(
        text.contains("Not 3: Eget kapital (kr)")
            && text.contains("Eget kapital och likvida medel som kom eller gick utanför den löpande verksamheten:"),
        "{text}"
    );
    assert!(
        text.contains("Samordningsförbundet Västra Mälardalens bokföring började med en ingående balans (2023-11-16"),
        "{text}"
    );
    let text = stdout(&finsam(&store, &["report", "annual", "--forbund", "sf-vasteras", "--year", "2021"], ""));
    assert!(!text.contains("när bokföringen började"), "{text}");
}

#[test]
fn the_annual_statements_of_the_merger_year_agree_with_the_books_and_with_the_predecessors() {
    let dir = TempDir::new("annual");
    let store = fixture_store(&dir);
    let r = annual(&store, "sf-vastmanland", "2024");
    let rr = figures(&r, "resultatrakning");
    let br = figures(&r, "balansrakning");
    let kf = figures(&r, "kassaflodesanalys");
    let now = |m: &BTreeMap<String, (f64, Option<f64>)>, k: &str| cents(m[k].0);
    // The balance sheet balances; the result is the change in equity less what was received;
    // the cash flow ends at the bank.
    assert_eq!(now(&br, "summa_tillgangar"), now(&br, "summa_eget_kapital_och_skulder"));
    assert_eq!(
        now(&rr, "arets_resultat"),
        now(&br, "eget_kapital")
            - now(&br, "ingaende_eget_kapital")
            - now(&br, "bokforingen_borjade")
            - now(&br, "mottaget_eget_kapital")
            - now(&br, "ovriga_forandringar")
    );
    assert_eq!(now(&kf, "likvida_medel_vid_arets_slut"), now(&br, "kassa_och_bank"));
    // The same books as the trial balance at 31 December: bank, equity, result.
    let o =
        finsam(&store, &["--format", "json", "balances", "--forbund", "sf-vastmanland", "--as-of", "2024-12-31"], "");
    let b: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let num = |v: &Value| cents(v.as_str().unwrap().parse::<f64>().unwrap());
    assert_eq!(now(&br, "kassa_och_bank"), num(&b["bank"]));
    assert_eq!(now(&br, "eget_kapital"), num(&b["equity"]));
    assert_eq!(now(&rr, "arets_resultat"), num(&b["result"]));
    // The equity received is what the three förbund transferred: the reconciliation's figure.
    assert_eq!(now(&br, "mottaget_eget_kapital"), cents(3_863_000.0));
    // Every figure names the accounts it sums; a figure with an amount has at least one.
    for statement in ["resultatrakning", "balansrakning", "kassaflodesanalys"] {
        for l in r["statements"][statement].as_array().unwrap() {
            let accounts = l["current"]["accounts"].as_array().unwrap();
            let zero = l["current"]["amount"].as_str().unwrap().parse::<f64>().unwrap() == 0.0;
            assert!(zero || !accounts.is_empty(), "{statement} {}: {l}", l["key"]);
        }
    }
    // The driftredovisning's utfall is the resultaträkning's costs; its budget the budget
    // report's; the plan prints administration as 13,58 % of the costs.
    let d = &r["driftredovisning"];
    let money = |v: &Value| cents(v.as_str().unwrap().parse::<f64>().unwrap());
    assert_eq!(money(&d["summa"]["utfall"]), -now(&rr, "summa_kostnader"));
    let o = finsam(
        &store,
        &["--format", "json", "budget", "--forbund", "sf-vastmanland", "--year", "2024", "--as-of", "2024-12-31"],
        "",
    );
    let budget: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(money(&d["summa"]["budget"]), money(&budget["costs"]["total"]));
    assert_eq!(money(&d["summa"]["utfall"]), money(&budget["costs"]["spent"]));
    assert_eq!(d["andelar"]["budget"]["administration_av_kostnader"], "0.1358");
    // The note on the members' contributions adds up to the contributions in the statement.
    let members: i64 = r["noter"]["medlemsbidrag"].as_array().unwrap().iter().map(|m| money(&m["amount"])).sum();
    assert_eq!(
        members,
        now(&rr, "medlemsbidrag_staten") + now(&rr, "medlemsbidrag_region") + now(&rr, "medlemsbidrag_kommuner")
    );
    assert_eq!(r["noter"]["eget_kapital_mot_taket"]["within"], true);
    // The note on accruals lists the year's entries; the books began this year, so they add up
    // to the balance sheet's accrued liabilities (the board's December fees, paid in January).
    let accruals = r["noter"]["periodiseringar"].as_array().unwrap();
    assert!(!accruals.is_empty());
    let liabilities: i64 = accruals.iter().map(|e| money(&e["upplupna_kostnader_forutbetalda_intakter"])).sum();
    assert_eq!(liabilities, now(&br, "upplupna_kostnader"));
    // The comparison column of the first year after the merger: the three predecessors' 2023,
    // added together — each of which is that förbund's own annual report for 2023.
    assert_eq!(r["previous"]["kind"], "predecessors");
    let olds: Vec<String> =
        r["previous"]["forbund"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(olds.len(), 3, "{}", r["previous"]);
    for (statement, lines) in [("resultatrakning", &rr), ("balansrakning", &br)] {
        let mut sum: BTreeMap<String, i64> = BTreeMap::new();
        for old in &olds {
            for (key, (amount, _)) in figures(&annual(&store, old, "2023"), statement) {
                *sum.entry(key).or_default() += cents(amount);
            }
        }
        for (key, (_, previous)) in lines {
            assert_eq!(Some(sum[key]), previous.map(cents), "{statement} {key}: the predecessors' 2023 added up");
        }
    }
    // A förbund's second year compares with its own first.
    let next = annual(&store, "sf-vastmanland", "2025");
    assert_eq!(next["previous"]["kind"], "own");
    let br25 = figures(&next, "balansrakning");
    assert_eq!(br25["ingaende_eget_kapital"].0, br["eget_kapital"].0, "2025 opens with 2024's closing equity");
}

#[test]
fn the_annual_report_reads_as_a_swedish_annual_report_and_refuses_what_it_cannot_know() {
    let dir = TempDir::new("annual-table");
    let store = fixture_store(&dir);
    let o = finsam(&store, &["report", "annual", "--forbund", "sf-vastmanland", "--year", "2024"], "");
    assert_exit(&o, 0);
    let text = stdout(&o);
    for heading in ["Resultaträkning", "Balansräkning", "Kassaflödesanalys", "Årets resultat", "Kassa och bank"] {
        assert!(text.contains(heading), "{heading} in:\n{text}");
    }
    assert!(text.contains("-1 638 899,00"), "Swedish number formatting:\n{text}");
    assert!(text.contains("de sammanlagda förbundens"), "the comparison column is labelled:\n{text}");
    let csv =
        finsam(&store, &["--format", "csv", "report", "annual", "--forbund", "sf-vastmanland", "--year", "2024"], "");
    assert_exit(&csv, 0);
    assert!(stdout(&csv).starts_with("statement,key,label,year,amount,previous_year,previous_amount,accounts\n"));
    // The same log gives the same bytes.
    assert_eq!(
        stdout(&o),
        stdout(&finsam(&store, &["report", "annual", "--forbund", "sf-vastmanland", "--year", "2024"], ""))
    );
    let unknown = finsam(&store, &["report", "annual", "--forbund", "sf-nowhere", "--year", "2024"], "");
    assert_exit(&unknown, 2);
}

#[test]
fn the_annual_report_as_html_is_one_self_contained_page_that_names_its_log() {
    let dir = TempDir::new("annual-html");
    let store = fixture_store(&dir);
    let page = html_page(&store, &["report", "annual", "--forbund", "sf-vastmanland", "--year", "2024"], 4);
    for heading in ["Resultaträkning", "Balansräkning", "Kassaflödesanalys", "Driftredovisning", "Noter"] {
        assert!(page.contains(&format!("<h2>{heading}</h2>")), "{heading}");
    }
    assert!(page.contains("-1 638 899,00") && page.contains("13,58 %"), "Swedish number formatting");
    // Other commands do not take html.
    assert_exit(&finsam(&store, &["--format", "html", "balances", "--forbund", "sf-vastmanland"], ""), 2);
}

/// A report as a page (`--format html`): the same bytes each time, self-contained, at least
/// `charts` charts each with its title, and a footer that names the log's head, finsam's version
/// and the A4 print style. Returns the page.
fn html_page(store: &std::path::Path, report: &[&str], charts: usize) -> String {
    let mut args = vec!["--format", "html"];
    args.extend_from_slice(report);
    let o = finsam(store, &args, "");
    assert_exit(&o, 0);
    let page = stdout(&o);
    assert_eq!(page, stdout(&finsam(store, &args, "")), "the same log gives the same page, byte for byte");
    assert!(page.starts_with("<!DOCTYPE html><html lang=\"sv\">"), "{}", &page[..80]);
    // Self-contained: no script, no stylesheet or font or image from elsewhere; the only URL
    // is SVG's namespace.
    for forbidden in ["<script", "<link", "@import", "url(", "<img"] {
        assert!(!page.contains(forbidden), "{forbidden} in the page");
    }
    let urls: Vec<&str> = page.match_indices("http").map(|(i, _)| &page[i..(i + 30).min(page.len())]).collect();
    assert!(urls.iter().all(|u| u.starts_with("http://www.w3.org/2000/svg")), "{urls:?}");
    // Every chart has a title and a table with its numbers beside it.
    let found = page.matches("<svg class=\"chart\"").count();
    assert!(found >= charts, "{found} charts in {report:?}");
    assert_eq!(page.matches("<figcaption>").count(), found);
    assert_eq!(page.matches("<title id=").count(), found);
    // The footer names the förbund, the org nr, the log's head and finsam's version.
    let head = log_json(store).last().unwrap().clone();
    let footer = format!("loggens huvud {}:{}", head["seq"], head["hash"].as_str().unwrap());
    assert!(page.contains(&footer), "{footer}");
    assert!(page.contains(&format!("finsam {}", env!("CARGO_PKG_VERSION"))));
    assert!(page.contains("@page { size: A4"), "a print stylesheet for A4");
    page
}

#[test]
fn the_follow_up_and_the_member_statement_are_pages_too() {
    let dir = TempDir::new("period-html");
    let store = fixture_store(&dir);
    let report = ["report", "period", "--forbund", "sf-vastmanland", "--year", "2024", "--through", "2024-08"];
    let page = html_page(&store, &report, 2);
    for heading in ["Per kategori", "Per rad och insats", "Per månad"] {
        assert!(page.contains(&format!("<h2>{heading}</h2>")), "{heading}");
    }
    assert!(page.contains("januari–augusti 2024"), "the period is named in Swedish");
    // The figures of the page are the JSON's, in Swedish form.
    let json = period_json(&store, "2024-08", &[]);
    for key in ["budget_year", "budget_to_date", "utfall_to_date", "forecast"] {
        let canonical = json["total"][key].as_str().unwrap();
        let (kr, ore) = canonical.split_once('.').unwrap_or((canonical, "00"));
        let grouped: Vec<String> =
            kr.as_bytes().rchunks(3).rev().map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
        let swedish = format!("{},{ore:0<2}", grouped.join(" "));
        assert!(page.contains(&swedish), "{key}: {swedish} on the page");
    }
    let page = html_page(&store, &["report", "members", "--forbund", "sf-vastmanland", "--year", "2024"], 1);
    assert!(page.contains("<h2>Per medlem</h2>") && page.contains("<h2>Per betalare</h2>"));
    assert!(page.contains("37 124,10"), "Kungsör's outstanding contribution");
}

/// Whether a program runs; when `require` names a variable that is set (as CI sets it), a
/// missing program fails the test instead of skipping it.
fn tool(program: &str, version: &str, require: &str) -> bool {
    let present = std::process::Command::new(program).arg(version).output().is_ok_and(|o| o.status.success());
    tool_present(present, program, require, "apt-get install chromium poppler-utils")
}

/// The PDF is the browser's print of the page: Debian's Chromium prints it headless, poppler
/// reads it back. Every page carries the footer (förbund, year, the log's head, finsam's
/// version, the page number), and the statements begin on pages of their own.
#[test]
fn the_annual_report_prints_to_a4_pages_that_each_say_which_log_they_came_from() {
    if !tool("chromium", "--version", "FINSAM_REQUIRE_CHROMIUM") || !tool("pdftotext", "-v", "FINSAM_REQUIRE_CHROMIUM")
    {
        return;
    }
    let dir = TempDir::new("annual-pdf");
    let store = fixture_store(&dir);
    let o =
        finsam(&store, &["--format", "html", "report", "annual", "--forbund", "sf-vastmanland", "--year", "2024"], "");
    assert_exit(&o, 0);
    let page = dir.0.join("arsredovisning.html");
    std::fs::write(&page, stdout(&o)).unwrap();
    let pdf = dir.0.join("arsredovisning.pdf");
    let out = std::process::Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", dir.0.join("profile").display()))
        .arg("--no-pdf-header-footer")
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(pdf.is_file(), "chromium printed no PDF: {}", String::from_utf8_lossy(&out.stderr));
    let text = |first: usize| -> String {
        let o = std::process::Command::new("pdftotext")
            .args(["-f", &first.to_string(), "-l", &first.to_string(), "-layout"])
            .arg(&pdf)
            .arg("-")
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let info = std::process::Command::new("pdfinfo").arg(&pdf).output().unwrap();
    let pages: usize = String::from_utf8_lossy(&info.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:").map(|n| n.trim().parse().unwrap()))
        .expect("pdfinfo tells the pages");
    assert!(pages >= 5, "{pages} pages");
    let head = log_json(&store).last().unwrap()["seq"].as_u64().unwrap();
    let mut starts = Vec::new();
    for n in 1..=pages {
        let t = text(n);
        assert!(t.contains(&format!("sida {n} av {pages}")), "page {n} is numbered:\n{t}");
        assert!(t.contains(&format!("loggens huvud {head}:")), "page {n} names the log's head:\n{t}");
        assert!(t.contains("Samordningsförbundet Västmanland"), "page {n} names the förbund");
        for heading in ["Resultaträkning", "Balansräkning", "Kassaflödesanalys", "Driftredovisning", "Noter"] {
            if t.lines().any(|l| l.trim() == heading) {
                starts.push((heading, n));
            }
        }
    }
    // Each statement begins a page of its own, in order.
    let order: Vec<&str> = starts.iter().map(|(h, _)| *h).collect();
    assert_eq!(
        order,
        ["Resultaträkning", "Balansräkning", "Kassaflödesanalys", "Driftredovisning", "Noter"],
        "{starts:?}"
    );
    let numbers: Vec<usize> = starts.iter().map(|(_, n)| *n).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    assert!(text(1).contains("-1 638 899,00"), "the printed result");
}

#[test]
fn the_member_statement_shows_what_each_member_and_payer_owes_and_agrees_with_the_reconciliation() {
    let dir = TempDir::new("members");
    let store = fixture_store(&dir);
    let o =
        finsam(&store, &["--format", "json", "report", "members", "--forbund", "sf-vastmanland", "--year", "2024"], "");
    assert_exit(&o, 0);
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let money = |v: &Value| cents(v.as_str().unwrap().parse::<f64>().unwrap());
    let members = r["members"].as_array().unwrap();
    assert_eq!(members.len(), 13, "the thirteen members of 2024");
    for m in members {
        assert_eq!(money(&m["outstanding"]), money(&m["decided"]) - money(&m["paid"]), "{m}");
    }
    // The payers are the reconciliation's payer table for 2024, row by row.
    let o =
        finsam(&store, &["--format", "json", "reconcile", "--merger", "sf-vastmanland", "--as-of", "2024-12-31"], "");
    let rec: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let theirs: Vec<(String, i64, i64)> = rec["payers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["forbund"] == "sf-vastmanland" && p["year"] == 2024)
        .map(|p| (p["payer"].as_str().unwrap().to_string(), money(&p["owed"]), money(&p["paid"])))
        .collect();
    let ours: Vec<(String, i64, i64)> = r["payers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["payer"].as_str().unwrap().to_string(), money(&p["owed"]), money(&p["paid"])))
        .collect();
    assert!(!ours.is_empty());
    assert_eq!(ours, theirs);
    // What was paid is what the annual report's note says was contributed... for members paying
    // in the year; and the totals add up.
    let paid: i64 = members.iter().map(|m| money(&m["paid"])).sum();
    assert_eq!(paid, money(&r["totals"]["paid"]));
    let table = finsam(&store, &["report", "members", "--forbund", "sf-vastmanland", "--year", "2024"], "");
    assert_exit(&table, 0);
    assert!(
        stdout(&table).contains("kvar att betala") && stdout(&table).contains("Per betalare"),
        "{}",
        stdout(&table)
    );
}

/// Samordningsförbundet Västmanland's follow-up of 2024 through a month, as JSON.
fn period_json(store: &std::path::Path, through: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "--format",
        "json",
        "report",
        "period",
        "--forbund",
        "sf-vastmanland",
        "--year",
        "2024",
        "--through",
        through,
    ];
    args.extend_from_slice(extra);
    let o = finsam(store, &args, "");
    assert_exit(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn the_boards_follow_up_runs_through_a_month_and_through_december_is_the_driftredovisning() {
    let dir = TempDir::new("period");
    let store = fixture_store(&dir);
    let period = |through: &str| period_json(&store, through, &[]);
    let money = |v: &Value| cents(v.as_str().unwrap().parse::<f64>().unwrap());
    // A delårsrapport at 30 June: half the year's budget, the months adding up to the totals.
    let june = period("2024-06");
    assert_eq!(june["through"], "2024-06-30");
    let total = &june["total"];
    let lines = june["lines"].as_array().unwrap();
    let sum = |key: &str| lines.iter().map(|l| money(&l[key])).sum::<i64>();
    assert_eq!(sum("budget_to_date"), money(&total["budget_to_date"]));
    assert_eq!(sum("utfall_to_date") + money(&june["unbudgeted"]["utfall_to_date"]), money(&total["utfall_to_date"]));
    let months = june["per_month"].as_array().unwrap();
    assert_eq!(months.len(), 6);
    assert_eq!(months.iter().map(|m| money(&m["budget"])).sum::<i64>(), money(&total["budget_to_date"]));
    assert_eq!(months.iter().map(|m| money(&m["utfall"])).sum::<i64>(), money(&total["utfall_to_date"]));
    assert!((money(&total["budget_to_date"]) - money(&total["budget_year"]) / 2).abs() <= lines.len() as i64);
    // The forecast comes from what is committed, and says so: on the insatser lines what the
    // board granted, on the rest the budget — not the utfall so far, which arrives quarterly
    // in arrears. 20 983 000 for 2024 from January on, against an utfall of 20 676 899.
    for l in lines {
        let kind = l["forecast_kind"].as_str().unwrap();
        match l["category"].as_str().unwrap() {
            "admin" => assert_eq!(kind, "budget", "{l}"),
            _ if l["line"] == "utvarderingsinsatser" || l["line"] == "ofordelade-utvecklingsmedel" => {
                assert_eq!(kind, "budget", "{l}")
            }
            _ => assert_eq!(kind, "granted", "{l}"),
        }
        if kind == "budget" {
            assert_eq!(l["forecast"], l["budget_year"], "{l}");
        }
    }
    assert_eq!(total["forecast_kind"], "mixed");
    assert_eq!(money(&total["forecast"]), cents(20_983_000.0));
    assert_eq!(money(&period("2024-01")["total"]["forecast"]), cents(20_983_000.0));
    // Below the costs: income from the decided contributions, result and equity.
    assert_eq!(june["income"]["forecast_kind"], "decided");
    assert_eq!(money(&june["income"]["forecast"]), cents(19_038_000.0));
    assert_eq!(money(&june["income"]["utfall_to_date"]), cents(9_519_000.0), "half the year's contributions earned");
    assert_eq!(money(&june["result"]["forecast"]), cents(-1_945_000.0));
    assert_eq!(money(&june["equity_before"]), cents(3_863_000.0));
    assert_eq!(money(&june["equity"]["forecast"]), cents(1_918_000.0));
    // Through December: the annual report's driftredovisning, and the forecast is the utfall.
    let december = period("2024-12");
    assert_eq!(december["total"]["forecast"], december["total"]["utfall_to_date"]);
    assert_eq!(december["total"]["forecast_kind"], "outcome");
    assert_eq!(money(&december["result"]["forecast"]), cents(-1_638_899.0));
    assert_eq!(money(&december["equity"]["forecast"]), cents(2_224_101.0));
    let o =
        finsam(&store, &["--format", "json", "report", "annual", "--forbund", "sf-vastmanland", "--year", "2024"], "");
    let annual: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let d = &annual["driftredovisning"]["summa"];
    assert_eq!(money(&december["total"]["budget_to_date"]), money(&d["budget"]));
    assert_eq!(money(&december["total"]["utfall_to_date"]), money(&d["utfall"]));
    // The table labels the forecast; a month outside the year, or not a month, is refused.
    let table = finsam(
        &store,
        &["report", "period", "--forbund", "sf-vastmanland", "--year", "2024", "--through", "2024-08"],
        "",
    );
    let table = stdout(&table);
    assert!(table.contains("b = beviljade medel för året"), "{table}");
    assert!(table.contains("20 983 000,00 d") && table.contains("19 038 000,00 m"), "{table}");
    for bad in ["2023-08", "2024-13", "2024-8", "augusti"] {
        let o = finsam(
            &store,
            &["report", "period", "--forbund", "sf-vastmanland", "--year", "2024", "--through", bad],
            "",
        );
        assert_exit(&o, 2);
    }
}

#[test]
fn the_kanslis_forecast_replaces_the_budgets_of_its_line_and_a_profile_spreads_the_budget() {
    let dir = TempDir::new("forecast");
    let store = fixture_store(&dir);
    let period = |through: &str, extra: &[&str]| period_json(&store, through, extra);
    let money = |v: &Value| cents(v.as_str().unwrap().parse::<f64>().unwrap());
    let line = |p: &Value, id: &str| p["lines"].as_array().unwrap().iter().find(|l| l["line"] == id).unwrap().clone();
    let before = period("2024-08", &[]);
    let styrelse = line(&before, "styrelse");
    assert_eq!(styrelse["forecast_kind"], "budget");
    // The kansli forecasts the board's line in September; the August follow-up does not see it
    // (it is dated after the month's end), the September one does — and only for that line.
    let forecast = r#"{"type":"ForecastRecorded","forbund":"sf-vastmanland","date":"2024-09-15","year":2024,"line":"styrelse","amount":"612 345,67","text":"Arvoden och resor enligt beslut, två extra möten"}"#;
    let o = finsam(&store, &["record", "--as", "kansli", "-"], forecast);
    assert_exit(&o, 2); // an amount is written the canonical way in the log's JSON
    let forecast = forecast.replace("612 345,67", "612345.67");
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &forecast), 0);
    let seq = log_json(&store).len() as u64;
    assert_eq!(line(&period("2024-08", &[]), "styrelse"), styrelse);
    let september = period("2024-09", &[]);
    let s = line(&september, "styrelse");
    assert_eq!(s["forecast_kind"], "recorded");
    assert_eq!(money(&s["forecast"]), cents(612_345.67));
    assert_eq!(s["forecast_recorded"]["seq"], seq);
    assert_eq!(s["forecast_recorded"]["date"], "2024-09-15");
    let others = september["lines"].as_array().unwrap().iter().filter(|l| l["line"] != "styrelse");
    assert!(others.clone().count() > 5);
    assert!(others.into_iter().all(|l| l["forecast_kind"] != "recorded"));
    let admin = september["by_category"].as_array().unwrap().iter().find(|c| c["category"] == "admin").unwrap();
    assert_eq!(admin["forecast_kind"], "mixed");
    assert_eq!(september["total"]["forecast_kind"], "mixed");
    let lines = september["lines"].as_array().unwrap();
    assert_eq!(
        lines.iter().map(|l| money(&l["forecast"])).sum::<i64>() + money(&september["unbudgeted"]["forecast"]),
        money(&september["total"]["forecast"])
    );
    // The table marks it and lists it with its reasoning; CSV carries its seq.
    let table = stdout(&finsam(
        &store,
        &["report", "period", "--forbund", "sf-vastmanland", "--year", "2024", "--through", "2024-09"],
        "",
    ));
    assert!(table.contains("612 345,67 r"), "{table}");
    assert!(table.contains("Registrerade prognoser") && table.contains("två extra möten"), "{table}");
    let csv = stdout(&finsam(
        &store,
        &[
            "--format",
            "csv",
            "report",
            "period",
            "--forbund",
            "sf-vastmanland",
            "--year",
            "2024",
            "--through",
            "2024-09",
        ],
        "",
    ));
    assert!(csv.lines().any(|l| l.starts_with("styrelse,") && l.ends_with(&format!(",recorded,{seq}"))), "{csv}");
    // Corrected, the forecast is gone from the follow-up again.
    let correction = format!(
        r#"{{"type":"EventCorrected","forbund":"sf-vastmanland","date":"2024-09-20","corrects":{seq},"reason":"fel rad"}}"#
    );
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &correction), 0);
    assert_eq!(line(&period("2024-09", &[]), "styrelse")["forecast_kind"], "budget");
    assert_eq!(line(&period("2024-09", &["--known-at", &seq.to_string()]), "styrelse")["forecast_kind"], "recorded");
    // A profile with a quiet July: the budget to date through June is the profile's share of
    // the year, and the months follow the weights.
    let profile = "9,9,9,9,9,9,2,5,9,9,9,12";
    let even = period("2024-07", &[]);
    let shaped = period("2024-07", &["--profile", profile]);
    assert_eq!(shaped["profile"][6], "2");
    let year = money(&shaped["total"]["budget_year"]);
    let to_date = money(&shaped["total"]["budget_to_date"]);
    assert!((to_date - year * 56 / 100).abs() <= lines.len() as i64, "{to_date} of {year}");
    let months = shaped["per_month"].as_array().unwrap();
    assert_eq!(months.iter().map(|m| money(&m["budget"])).sum::<i64>(), to_date);
    assert!(money(&months[6]["budget"]) * 4 < money(&months[5]["budget"]), "July carries 2 of 9");
    assert_ne!(even["total"]["budget_to_date"], shaped["total"]["budget_to_date"]);
    // A line forecast by the budget adds the budget of the months left by the same weights.
    for l in shaped["lines"].as_array().unwrap().iter().filter(|l| l["forecast_kind"] == "budget") {
        let (year, to_date, utfall) =
            (money(&l["budget_year"]), money(&l["budget_to_date"]), money(&l["utfall_to_date"]));
        assert_eq!(money(&l["forecast"]), year.max(utfall + year - to_date), "{l}");
    }
    // A profile that is not twelve weights, or gives the months so far nothing, is refused.
    for bad in ["1,2,3", "1,1,1,1,1,1,1,1,1,1,1,-1", "0,0,0,0,0,0,0,0,0,0,0,0", "a,1,1,1,1,1,1,1,1,1,1,1"] {
        let o = finsam(
            &store,
            &[
                "report",
                "period",
                "--forbund",
                "sf-vastmanland",
                "--year",
                "2024",
                "--through",
                "2024-07",
                "--profile",
                bad,
            ],
            "",
        );
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("--profile"), "{}", stderr(&o));
    }
    let o = finsam(
        &store,
        &[
            "report",
            "period",
            "--forbund",
            "sf-vastmanland",
            "--year",
            "2024",
            "--through",
            "2024-02",
            "--profile",
            "0,0,1,1,1,1,1,1,1,1,1,1",
        ],
        "",
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("no weight"), "{}", stderr(&o));
}

/// A plan's outlook for a later year is never called the budget: the driftredovisning and the
/// follow-up say which they measure against (issue 27, point 9).
#[test]
fn an_outlook_is_never_called_the_budget() {
    let dir = TempDir::new("annual-outlook");
    let store = fixture_store(&dir);
    // Västerås 2023 has no adopted budget: the 2020 plan's outlook for 2023 stands in.
    let r = annual(&store, "sf-vasteras", "2023");
    let d = &r["driftredovisning"];
    assert_eq!(d["budget_status"], "outlook", "{d}");
    let seq = d["budget_seq"].as_u64().unwrap();
    let text = stdout(&finsam(&store, &["report", "annual", "--forbund", "sf-vasteras", "--year", "2023"], ""));
    assert!(
        text.contains(&format!("mot planens prognos för året (händelse nr {seq}), ingen antagen budget")),
        "{text}"
    );
    assert!(!text.contains("budgeten i kraft"), "{text}");
    let period = stdout(&finsam(
        &store,
        &["report", "period", "--forbund", "sf-vasteras", "--year", "2023", "--through", "2023-06"],
        "",
    ));
    assert!(period.contains("Mot planens prognos för året"), "{period}");
    // An adopted budget is called so.
    let r = annual(&store, "sf-vastmanland", "2024");
    assert_eq!(r["driftredovisning"]["budget_status"], "adopted");
    let text = stdout(&finsam(&store, &["report", "annual", "--forbund", "sf-vastmanland", "--year", "2024"], ""));
    assert!(text.contains("mot budgeten i kraft vid årets slut (beslutet är händelse nr "), "{text}");
}

/// The member statement: a year with nothing decided shows what was paid, not a negative debt;
/// payers by name; each member's netting — what it paid in against what the förbund paid for
/// the insatser it runs (issue 27, point 8).
#[test]
fn the_member_statement_shows_no_debt_without_a_decision_and_each_members_netting() {
    let dir = TempDir::new("annual-members");
    let store = fixture_store(&dir);
    let json = |f: &str, year: &str| -> Value {
        let o = finsam(&store, &["--format", "json", "report", "members", "--forbund", f, "--year", year], "");
        assert_exit(&o, 0);
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    // Norra Västmanland 2023: paid, nothing decided, nothing owed.
    let r = json("sf-norra-vastmanland", "2023");
    for m in r["members"].as_array().unwrap() {
        assert_eq!(m["outstanding"], Value::Null, "{m}");
        assert_eq!(m["decided"], "0", "{m}");
    }
    assert_eq!(r["totals"]["outstanding"], Value::Null);
    assert_eq!(r["totals"]["paid"], "7030000");
    let text =
        stdout(&finsam(&store, &["report", "members", "--forbund", "sf-norra-vastmanland", "--year", "2023"], ""));
    assert!(!text.contains("-1 757 500"), "{text}");
    // Västmanland 2024: Sala pays 390 279 and the förbund paid 1 668 324 for Samordningsteam Sala.
    let r = json("sf-vastmanland", "2024");
    let sala = r["members"].as_array().unwrap().iter().find(|m| m["member"] == "sala").unwrap();
    assert_eq!(sala["paid"], "390279");
    assert_eq!(sala["received"], "1668324");
    assert_eq!(sala["net"], "-1278045");
    assert_eq!(sala["runs"][0]["insats"], "samordningsteam-sala");
    assert_eq!(sala["outstanding"], "0");
    let kungsor = r["members"].as_array().unwrap().iter().find(|m| m["member"] == "kungsor").unwrap();
    assert_eq!(kungsor["outstanding"], "37124.10", "paid on 2025-01-20, after the year's end");
    // People read names: the payer table says Försäkringskassan pays for Arbetsförmedlingen.
    let text = stdout(&finsam(&store, &["report", "members", "--forbund", "sf-vastmanland", "--year", "2024"], ""));
    assert!(text.contains("Försäkringskassan        Arbetsförmedlingen, Försäkringskassan"), "{text}");
    let sala_row = text.lines().find(|l| l.starts_with("Sala kommun ") && l.contains("Samordningsteam Sala")).unwrap();
    assert!(sala_row.contains("1 668 324,00") && sala_row.trim_end().ends_with("-1 278 045,00"), "{sala_row}");
}

/// Costs by nature beside their category: lämnade bidrag are grants to insatser only, and
/// administration is never a nature (issue 27, point 3).
#[test]
fn costs_stand_by_their_nature_and_administration_is_never_lamnade_bidrag() {
    let dir = TempDir::new("annual-nature");
    let store = fixture_store(&dir);
    let r = annual(&store, "sf-vastmanland", "2024");
    let rr = figures(&r, "resultatrakning");
    let (now, was) = (|k: &str| cents(rr[k].0), |k: &str| cents(rr[k].1.unwrap()));
    // The 2023 column (the predecessors): 14 345 000 of grants and 2 761 000 of administration,
    // by nature.
    assert_eq!(was("lamnade_bidrag"), cents(-14_345_000.0));
    assert_eq!(was("personalkostnader"), cents(-924_700.0));
    assert_eq!(was("kopta_tjanster"), cents(-1_659_300.0));
    assert_eq!(was("ovriga_kostnader"), cents(-177_000.0));
    assert_eq!(
        was("personalkostnader") + was("kopta_tjanster") + was("ovriga_kostnader"),
        cents(-2_761_000.0),
        "the administration of 2023, all of it by nature"
    );
    // 2024: the evaluator's and the course centre's invoices are purchases.
    assert_eq!(now("kopta_tjanster"), cents(-194_553.0));
    // No statement line of lämnade bidrag sums an administration account.
    let grants =
        r["statements"]["resultatrakning"].as_array().unwrap().iter().find(|l| l["key"] == "lamnade_bidrag").unwrap();
    let accounts: Vec<&str> =
        grants["current"]["accounts"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(!accounts.contains(&"6990"), "{accounts:?}");
    // Västerås' förbundssamordnartjänst, bought from Servicepartner, is köpta tjänster (6550).
    let o = finsam(
        &store,
        &[
            "--format",
            "json",
            "audit",
            "explain",
            "--forbund",
            "sf-vasteras",
            "--account",
            "6550",
            "--as-of",
            "2021-12-31",
        ],
        "",
    );
    assert_exit(&o, 0);
    let e: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        e["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["text"].as_str().unwrap_or("").starts_with("Förbundssamordnartjänst")),
        "{e}"
    );
}

/// Finansiella poster: interest received (other income of nature `finansiell`) and bank charges
/// (a cost of nature `finansiell`) stand below the operations' result, on accounts of class 8
/// (issue 27, point 5).
#[test]
fn interest_and_bank_charges_are_finansiella_poster() {
    let dir = TempDir::new("annual-financial");
    let store = fixture_store(&dir);
    let before = annual(&store, "sf-vastmanland", "2024");
    let batch = [
        r#"{"type":"OtherIncomeRecorded","forbund":"sf-vastmanland","date":"2024-12-31","year":2024,"line":"medelstilldelning","amount":"1234.56","reference":"Ränta på bankkontot 2024","nature":"finansiell"}"#,
        r#"{"type":"CostRecorded","forbund":"sf-vastmanland","date":"2024-12-31","year":2024,"line":"gemensam-administration","amount":"99","reference":"Bankavgift","text":"Bankavgifter 2024","nature":"finansiell"}"#,
    ]
    .join("\n");
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &batch), 0);
    let r = annual(&store, "sf-vastmanland", "2024");
    let (rr, was) = (figures(&r, "resultatrakning"), figures(&before, "resultatrakning"));
    let now = |k: &str| cents(rr[k].0);
    assert_eq!(now("finansiella_intakter"), cents(1_234.56));
    assert_eq!(now("finansiella_kostnader"), cents(-99.0));
    assert_eq!(now("finansiella_poster"), cents(1_135.56));
    // The operations are as before; the result moves by the financial items alone.
    assert_eq!(now("verksamhetens_resultat"), cents(was["verksamhetens_resultat"].0));
    assert_eq!(now("arets_resultat"), now("verksamhetens_resultat") + now("finansiella_poster"));
    let accounts = |key: &str| {
        let line = r["statements"]["resultatrakning"].as_array().unwrap().iter().find(|l| l["key"] == key).unwrap();
        line["current"]["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(accounts("finansiella_intakter"), ["8310"]);
    assert_eq!(accounts("finansiella_kostnader"), ["8490"]);
    // The revisor's bundle recomputes them with Python alone.
    bundle_checks_out(&store, "sf-vastmanland", 2024, &dir.0.join("bundle"));
}

/// The ceiling on equity is data: a schedule by the förbund's size with its source — the
/// built-in rule (the step the Västerås plan states), the förbund's own in the store, or a file
/// given (issue 27, point 12).
#[test]
fn the_equity_ceiling_is_a_schedule_with_its_source() {
    let dir = TempDir::new("annual-ceiling");
    let store = fixture_store(&dir);
    let note = |r: &Value| r["noter"]["eget_kapital_mot_taket"].clone();
    // The built-in rule: 20 %, and where it comes from.
    let r = annual(&store, "sf-vastmanland", "2024");
    assert_eq!(note(&r)["ceiling"], "0.2000");
    assert!(note(&r)["source"].as_str().unwrap().contains("2 662 tkr"), "{}", note(&r));
    // A sliding scale: 19 038 000 kr of contributions falls in the second step, 15 %.
    let scale = r#"{"source": "En skala för prov", "steps": [{"up_to": "10000000", "share": "0.2"}, {"up_to": "20000000", "share": "0.15"}, {"up_to": null, "share": "0.1"}]}"#;
    let file = dir.0.join("scale.json");
    std::fs::write(&file, scale).unwrap();
    let o = finsam(
        &store,
        &[
            "--format",
            "json",
            "report",
            "annual",
            "--forbund",
            "sf-vastmanland",
            "--year",
            "2024",
            "--equity-ceiling-rule",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert_exit(&o, 0);
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(note(&r)["ceiling"], "0.1500");
    assert_eq!(note(&r)["limit"], "2855700");
    assert_eq!(note(&r)["source"], "En skala för prov");
    // The förbund's own rule, kept in the store, is used without asking.
    std::fs::create_dir_all(store.join("ceilings")).unwrap();
    std::fs::write(
        store.join("ceilings/sf-vastmanland.json"),
        scale.replace("En skala för prov", "Förbundets egen regel"),
    )
    .unwrap();
    let text = stdout(&finsam(&store, &["report", "annual", "--forbund", "sf-vastmanland", "--year", "2024"], ""));
    assert!(
        text.contains("taket 15,00 % av årets medlemsbidrag") && text.contains("Taket enligt: Förbundets egen regel."),
        "{text}"
    );
    // A schedule that leaves a size without a share is refused, naming why.
    std::fs::write(&file, r#"{"source": "x", "steps": [{"up_to": "10000000", "share": "0.2"}]}"#).unwrap();
    let o = finsam(
        &store,
        &[
            "report",
            "annual",
            "--forbund",
            "sf-vastmanland",
            "--year",
            "2024",
            "--equity-ceiling-rule",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("the last step is open"), "{}", stderr(&o));
}

/// Inside a year the balances periodise the year's decided contributions by month and show the
/// rest as not yet earned; the booked trial balance and the year's figures do not change
/// (issue 27, point 6).
#[test]
fn balances_inside_a_year_periodise_the_contributions_by_month() {
    let dir = TempDir::new("annual-periodised");
    let store = fixture_store(&dir);
    let balances = |as_of: &str| -> Value {
        let o = finsam(&store, &["--format", "json", "balances", "--forbund", "sf-vastmanland", "--as-of", as_of], "");
        assert_exit(&o, 0);
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    let b = balances("2024-08-31");
    // As booked: the whole year's contributions are income from their decision on 2 January.
    assert_eq!((b["income"].as_str(), b["result"].as_str()), (Some("19038000"), Some("8546500")));
    let p = &b["periodised"];
    assert_eq!(p["months"], 8);
    assert_eq!(p["decided"], "19038000");
    assert_eq!(p["earned"], "12692000");
    assert_eq!(p["unearned"], "6346000");
    assert_eq!(p["income"], "12692000");
    assert_eq!(p["result"], "2200500");
    // A date inside a month counts the months before it.
    assert_eq!(balances("2024-08-15")["periodised"]["months"], 7);
    // At the year's end everything is earned: nothing to periodise, the annual figures as before.
    let end = balances("2024-12-31");
    assert_eq!(end["periodised"], Value::Null);
    assert_eq!(end["income"], "19038000");
    // The table a person reads says so.
    let text = stdout(&finsam(&store, &["balances", "--forbund", "sf-vastmanland", "--as-of", "2024-08-31"], ""));
    assert!(text.contains("ej intjänade (förutbetalda intäkter)   6 346 000,00 kr"), "{text}");
}

/// The board's follow-up through a month shows the year's contributions periodised the same way
/// (issue 27, point 6).
#[test]
fn the_follow_up_periodises_the_contributions_through_its_month() {
    let dir = TempDir::new("annual-period-contributions");
    let store = fixture_store(&dir);
    let period = |through: &str, format: &str| {
        let args = [
            "--format",
            format,
            "report",
            "period",
            "--forbund",
            "sf-vastmanland",
            "--year",
            "2024",
            "--through",
            through,
        ];
        let o = finsam(&store, &args, "");
        assert_exit(&o, 0);
        stdout(&o)
    };
    let v: Value = serde_json::from_str(&period("2024-08", "json")).unwrap();
    let c = &v["contributions"];
    assert_eq!(
        (c["months"].as_u64(), c["earned"].as_str(), c["unearned"].as_str()),
        (Some(8), Some("12692000"), Some("6346000"))
    );
    let text = period("2024-08", "table");
    assert!(
        text.contains(
            "intjänade t.o.m. augusti (8/12) 12 692 000,00 kr; ej intjänade (förutbetalda intäkter) 6 346 000,00 kr"
        ),
        "{text}"
    );
    // Through December everything is earned.
    let v: Value = serde_json::from_str(&period("2024-12", "json")).unwrap();
    assert_eq!(v["contributions"]["unearned"], "0");
}

/// The flerårsplan beside a budget: Västerås' plan for 2021 prints 2022 and 2023 too; each year
/// is the budget or outlook in force for it, the same figures its own budget position shows.
#[test]
fn the_budget_shows_the_plans_later_years_beside_it() {
    let dir = TempDir::new("plan");
    let store = fixture_store(&dir);
    let budget = |year: &str| -> Value {
        let o = finsam(&store, &["--format", "json", "budget", "--forbund", "sf-vasteras", "--year", year], "");
        assert_exit(&o, 0);
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    let money = |v: &Value| cents(v.as_str().unwrap().parse::<f64>().unwrap());
    let b2021 = budget("2021");
    let plan = b2021["plan"].as_array().unwrap();
    let years: Vec<(i64, &str)> =
        plan.iter().map(|y| (y["year"].as_i64().unwrap(), y["status"].as_str().unwrap())).collect();
    assert_eq!(years, [(2021, "adopted"), (2022, "outlook"), (2023, "outlook")]);
    for y in plan {
        assert_eq!(money(&y["costs"]), money(&y["admin"]) + money(&y["individ"]) + money(&y["struktur"]), "{y}");
        assert_eq!(money(&y["result"]), money(&y["income"]) - money(&y["costs"]), "{y}");
        let own = budget(&y["year"].to_string());
        assert_eq!(money(&y["costs"]), money(&own["costs"]["total"]), "{y}");
        assert_eq!(money(&y["result"]), money(&own["result"]), "{y}");
        assert_eq!(y["seq"], own["budget_seq"], "{y}");
    }
    assert_eq!(money(&plan[0]["result"]), cents(-5_196_000.0));
    // For people: a column per year, the plan's years named as plans; a year without one said.
    let text = stdout(&finsam(&store, &["budget", "--forbund", "sf-vasteras", "--year", "2021"], ""));
    assert!(text.contains("Flerårsplan (kr)") && text.contains("budget 2021") && text.contains("plan 2023"), "{text}");
    let text = stdout(&finsam(&store, &["budget", "--forbund", "sf-vastmanland", "--year", "2024"], ""));
    assert!(text.contains("Ingen plan registrerad för 2025 och 2026."), "{text}");
}
