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
