//! The reports through the `finsam` command: snapshots of the fixtures' reports, the two time
//! axes, determinism, and refusals.

use crate::support::*;
use finsam_domain::Amount;
use std::path::Path;

fn run_ok(store: &Path, args: &[&str]) -> String {
    let o = finsam(store, args, "");
    assert_exit(&o, 0);
    stdout(&o)
}

/// Replaces what differs from run to run (recording times, hashes, UUIDs, temp paths).
fn normalize(text: &str, store: &Path) -> String {
    let text = text.replace(&store.display().to_string(), "<store>");
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let is_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        // A 64-hex hash.
        if i + 64 <= bytes.len()
            && bytes[i..i + 64].iter().all(|b| is_hex(*b))
            && (i + 64 == bytes.len() || !is_hex(bytes[i + 64]))
        {
            out.push_str("<hash>");
            i += 64;
            continue;
        }
        // A recording time: YYYY-MM-DDTHH:MM:SS, with .ffffffZ or not.
        if i + 19 <= bytes.len()
            && bytes[i + 10] == b'T'
            && bytes[i + 13] == b':'
            && bytes[i + 16] == b':'
            && bytes[i + 4] == b'-'
        {
            let mut end = i + 19;
            if end + 8 <= bytes.len() && bytes[end] == b'.' && bytes[end + 7] == b'Z' {
                end += 8;
            }
            out.push_str("<recorded_at>");
            i = end;
            continue;
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    // Characters outside ASCII were pushed byte by byte above; rebuild them.
    String::from_utf8(out.chars().map(|c| c as u32 as u8).collect()).expect("still UTF-8")
}

/// Compares with `tests/snapshots/NAME`. `FINSAM_UPDATE_SNAPSHOTS=1` writes the file instead;
/// review the diff before committing it.
#[track_caller]
fn snapshot(name: &str, actual: &str) {
    let path = root().join("tests/snapshots").join(name);
    if std::env::var_os("FINSAM_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("no snapshot {}: run with FINSAM_UPDATE_SNAPSHOTS=1 and review it", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "snapshot {name} differs from line {}:\n--- expected\n{}\n--- actual\n{}\n(run with FINSAM_UPDATE_SNAPSHOTS=1 to accept, after review)",
            first + 1,
            expected.lines().skip(first).take(5).collect::<Vec<_>>().join("\n"),
            actual.lines().skip(first).take(5).collect::<Vec<_>>().join("\n")
        );
    }
}

#[test]
fn the_reports_of_the_fixtures_match_their_snapshots() {
    let dir = TempDir::new("snapshots");
    let store = fixture_store(&dir);
    let year_end = ["--as-of", "2024-12-31"];
    for format in ["table", "json", "csv"] {
        let ext = if format == "table" { "txt" } else { format };
        let b =
            run_ok(&store, &[&["balances", "--forbund", "sf-vastmanland", "--format", format][..], &year_end].concat());
        snapshot(&format!("balances-sf-vastmanland-2024-12-31.{ext}"), &b);
        let p = run_ok(
            &store,
            &[&["budget", "--forbund", "sf-vastmanland", "--year", "2024", "--format", format][..], &year_end].concat(),
        );
        snapshot(&format!("budget-sf-vastmanland-2024.{ext}"), &p);
    }
    let p = run_ok(&store, &["budget", "--forbund", "sf-norra-vastmanland", "--year", "2023", "--as-of", "2023-12-31"]);
    snapshot("budget-sf-norra-vastmanland-2023.txt", &p);
    let p = run_ok(&store, &["budget", "--forbund", "sf-vasteras", "--year", "2021", "--as-of", "2021-12-31"]);
    snapshot("budget-sf-vasteras-2021.txt", &p);
    let e = run_ok(
        &store,
        &["audit", "explain", "--forbund", "sf-vastmanland", "--account", "4510", "--as-of", "2024-06-30"],
    );
    snapshot("explain-sf-vastmanland-4510-2024-06-30.txt", &normalize(&e, &store));
    let t = run_ok(
        &store,
        &["audit", "trail", "--forbund", "sf-vastmanland", "--insats", "samordningsteam-sala", "--format", "json"],
    );
    snapshot("trail-sf-vastmanland-samordningsteam-sala.json", &normalize(&t, &store));
}

#[test]
fn the_2024_budget_reproduces_the_plans_figures() {
    let dir = TempDir::new("plan-figures");
    let store = fixture_store(&dir);
    let out = run_ok(
        &store,
        &["budget", "--forbund", "sf-vastmanland", "--year", "2024", "--as-of", "2024-12-31", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["costs"]["total"], "20983000");
    assert_eq!(v["costs"]["by_category"]["admin"]["budget"], "2850000");
    assert_eq!(v["costs"]["by_category"]["individ"]["budget"], "13925000");
    assert_eq!(v["costs"]["by_category"]["struktur"]["budget"], "4208000");
    assert_eq!(v["income"]["total"], "19038000");
    assert_eq!(v["result"], "-1945000");
    assert_eq!(v["transfers_in"], "3863000");
    assert_eq!(v["closing_equity"], "1918000");
    assert_eq!(v["shares"]["admin_of_costs"], "0.1358");
    assert_eq!(v["shares"]["individ_of_direct"], "0.7679");
    assert_eq!(v["shares"]["struktur_of_direct"], "0.2321");
    for key in ["forbund", "year", "lines", "costs", "income", "result", "transfers_in", "closing_equity", "shares"] {
        assert!(v.get(key).is_some(), "budget JSON has `{key}`");
    }
    let b = run_ok(&store, &["balances", "--forbund", "sf-vastmanland", "--as-of", "2024-12-31", "--format", "json"]);
    let b: serde_json::Value = serde_json::from_str(&b).unwrap();
    for key in ["forbund", "as_of", "known_at", "bank", "equity", "income", "costs", "result", "accounts"] {
        assert!(b.get(key).is_some(), "balances JSON has `{key}`");
    }
    assert_eq!(b["income"], "19038000", "the example contributions add up to the budgeted contributions");
}

fn bank(store: &Path, as_of: &str, known_at: Option<&str>) -> String {
    let mut args = vec!["balances", "--forbund", "sf-vastmanland", "--as-of", as_of, "--format", "json"];
    if let Some(k) = known_at {
        args.extend(["--known-at", k]);
    }
    let v: serde_json::Value = serde_json::from_str(&run_ok(store, &args)).unwrap();
    v["bank"].as_str().unwrap().to_string()
}

#[test]
fn as_of_looks_at_effective_dates_and_known_at_at_what_was_recorded() {
    let dir = TempDir::new("two-axes");
    let store = fixture_store(&dir);
    let head = log_json(&store).len().to_string();
    let before = bank(&store, "2024-03-31", None);
    // An invoice dated in March is recorded now, late.
    let late = r#"{"type":"CostRecorded","forbund":"sf-vastmanland","date":"2024-03-15","year":2024,"line":"styrelse","amount":"12000","reference":"Faktura 2024-0315","text":"Sent inkommen faktura"}"#;
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], late), 0);
    let after = bank(&store, "2024-03-31", None);
    let diff = finsam_domain::Amount::parse(&before).unwrap() - finsam_domain::Amount::parse(&after).unwrap();
    assert_eq!(diff.canonical(), "12000", "as of March, the late invoice counts now");
    assert_eq!(
        bank(&store, "2024-03-31", Some(&head)),
        before,
        "as known before it was recorded, March looked as it did then"
    );
    assert_eq!(
        bank(&store, "2024-03-14", None),
        bank(&store, "2024-03-14", Some(&head)),
        "before its date, it changes nothing"
    );
}

#[test]
fn the_same_log_gives_byte_identical_reports_by_every_path() {
    let dir = TempDir::new("deterministic");
    let store = fixture_store(&dir);
    let args = ["balances", "--forbund", "sf-vastmanland", "--as-of", "2024-09-30", "--format", "json"];
    let budget = ["budget", "--forbund", "sf-vastmanland", "--year", "2024", "--as-of", "2024-09-30"];
    let first = (run_ok(&store, &args), run_ok(&store, &budget));
    assert_eq!((run_ok(&store, &args), run_ok(&store, &budget)), first, "twice from the checkpoint");
    assert_exit(&finsam(&store, &["reindex"], ""), 0);
    assert_eq!((run_ok(&store, &args), run_ok(&store, &budget)), first, "after a reindex");
    std::fs::remove_dir_all(store.join("derived")).unwrap();
    assert_eq!((run_ok(&store, &args), run_ok(&store, &budget)), first, "after losing the derived state");
    // With a writer holding the store, a report replays the log without the derived state.
    let mut writer = crate::support::in_english(&mut std::process::Command::new(FINSAM))
        .arg("--store")
        .arg(&store)
        .args(["record", "--as", "holder", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = writer.id().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(store.join("LOCK")).unwrap_or_default().contains(&pid) {
        assert!(std::time::Instant::now() < deadline, "the writer never took the lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!((run_ok(&store, &args), run_ok(&store, &budget)), first, "while a writer holds the store");
    drop(writer.stdin.take());
    let _ = writer.wait();
}

#[test]
fn explain_adds_up_to_the_balance() {
    let dir = TempDir::new("explain");
    let store = fixture_store(&dir);
    let e = run_ok(
        &store,
        &[
            "audit",
            "explain",
            "--forbund",
            "sf-vastmanland",
            "--account",
            "1930",
            "--as-of",
            "2024-12-31",
            "--format",
            "json",
        ],
    );
    let e: serde_json::Value = serde_json::from_str(&e).unwrap();
    assert_eq!(e["balance"].as_str().unwrap(), bank(&store, "2024-12-31", None));
    let entries = e["entries"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        3 + 1 + 51 + 66,
        "in 2024 the bank moves with the three takeovers, Norra Västmanland's invoice paid in January, every contribution paid (13 members × 4, but Kungsör's last, paid in 2025) and every cost paid (16 lines × 4, the administration's split in two, but the invoice paid in 2025)"
    );
    assert!(entries.iter().all(|r| r["voucher"].as_str().unwrap().starts_with("2024 A ")));
}

#[test]
fn the_trail_lists_every_event_with_its_decision_and_voucher() {
    let dir = TempDir::new("trail");
    let store = fixture_store(&dir);
    let t = run_ok(&store, &["audit", "trail", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&t).unwrap();
    assert_eq!(rows.len(), log_json(&store).len(), "one row per event");
    let seqs: Vec<u64> = rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=rows.len() as u64).collect::<Vec<_>>(), "in registration order, without gaps");
    let budget = rows.iter().find(|r| r["type"] == "BudgetAdopted" && r["forbund"] == "sf-vastmanland").unwrap();
    assert_eq!(budget["decision"]["body"], "interimsstyrelsen");
    assert_eq!(budget["decision"]["date"], "2023-11-16");
    // Västmanland's 2024 series: the three takeovers (A 1–3), the invoice taken over and paid
    // (A 4), the 13 contributions decided (A 5–17), the 51 paid in 2024 (A 18–68), then costs.
    let cost = rows.iter().find(|r| r["type"] == "CostRecorded" && r["forbund"] == "sf-vastmanland").unwrap();
    assert_eq!(cost["vouchers"][0]["voucher"], "2024 A 69");
    let transfer = rows.iter().find(|r| r["type"] == "BalancesTakenOver").unwrap();
    let in_both = vouchers_text_of(transfer);
    assert_eq!(in_both, ["sf-vasteras 2024 A 1", "sf-vastmanland 2024 A 1"], "a takeover is a voucher in both books");
    let dated = run_ok(&store, &["audit", "trail", "--from", "2024-04-01", "--to", "2024-04-30", "--format", "json"]);
    let dated: Vec<serde_json::Value> = serde_json::from_str(&dated).unwrap();
    assert_eq!(dated.len(), 14, "the 13 contributions of 30 April, and the invoice of March paid that day");
    let csv = run_ok(&store, &["audit", "trail", "--forbund", "sf-vasteras", "--format", "csv"]);
    let in_vasteras = log_json(&store)
        .iter()
        .filter(|e| e["event"]["forbund"] == "sf-vasteras" || e["event"]["from"] == "sf-vasteras")
        .count();
    assert_eq!(
        csv.lines().count(),
        1 + in_vasteras,
        "a header and every event of Västerås' books, the transfer out included"
    );
}

fn vouchers_text_of(row: &serde_json::Value) -> Vec<String> {
    row["vouchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| format!("{} {}", v["forbund"].as_str().unwrap(), v["voucher"].as_str().unwrap()))
        .collect()
}

#[test]
fn reports_refuse_what_they_cannot_answer() {
    let dir = TempDir::new("refusals");
    let store = fixture_store(&dir);
    let o = finsam(&store, &["balances", "--forbund", "sf-uppsala"], "");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("no förbund sf-uppsala") && stderr(&o).contains("sf-vastmanland"), "{}", stderr(&o));
    let o = finsam(&store, &["balances", "--forbund", "sf-vastmanland", "--known-at", "100000"], "");
    assert_exit(&o, 2);
    let head = log_json(&store).len();
    assert!(stderr(&o).contains(&format!("head is {head}")), "{}", stderr(&o));
    let o = finsam(&store, &["budget", "--forbund", "sf-vastmanland", "--year", "2019"], "");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("no budget for 2019") && stderr(&o).contains("2024"), "{}", stderr(&o));
    let o = finsam(&store, &["balances", "--forbund", "sf-vastmanland", "--as-of", "2024-02-30"], "");
    assert_exit(&o, 2);
    let o = finsam(&store, &["log", "--format", "csv"], "");
    assert_exit(&o, 2);
    let o = finsam(&store, &["audit", "explain", "--forbund", "sf-vastmanland", "--account", "9999"], "");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("not in the chart"), "{}", stderr(&o));
}

#[test]
fn a_replaced_chart_renumbers_the_accounts_and_changes_no_figure() {
    let dir = TempDir::new("chart");
    let store = fixture_store(&dir);
    let chart = fixture("chart-kommunbas.json").replace("\"1930\"", "\"1920\"");
    let file = dir.0.join("chart.json");
    std::fs::write(&file, chart).unwrap();
    let args = ["balances", "--forbund", "sf-vastmanland", "--as-of", "2024-12-31", "--format", "json"];
    let default: serde_json::Value = serde_json::from_str(&run_ok(&store, &args)).unwrap();
    let replaced: serde_json::Value =
        serde_json::from_str(&run_ok(&store, &[&args[..], &["--chart", file.to_str().unwrap()]].concat())).unwrap();
    let numbers: Vec<&str> =
        replaced["accounts"].as_array().unwrap().iter().map(|a| a["account"].as_str().unwrap()).collect();
    assert!(numbers.contains(&"1920") && !numbers.contains(&"1930"), "{numbers:?}");
    assert_eq!(replaced["bank"], default["bank"]);
    // The same file as the store's own chart for this förbund.
    std::fs::create_dir_all(store.join("charts")).unwrap();
    std::fs::copy(&file, store.join("charts/sf-vastmanland.json")).unwrap();
    let local: serde_json::Value = serde_json::from_str(&run_ok(&store, &args)).unwrap();
    assert_eq!(local, replaced);
}

#[test]
fn the_balances_read_from_the_totals_are_those_of_the_vouchers() {
    let dir = TempDir::new("totals-path");
    let store = fixture_store(&dir);
    let totals = store.join("derived").join("totals.json");
    assert!(totals.exists(), "recording leaves the totals beside the checkpoint");
    let dates = ["2021-06-30", "2022-12-31", "2023-12-31", "2024-03-31", "2024-12-31"];
    let read = |store: &Path| -> Vec<String> {
        let mut out = Vec::new();
        for date in dates {
            for format in ["json", "csv", "table"] {
                out.push(run_ok(store, &["balances", "--all", "--as-of", date, "--format", format]));
            }
            out.push(run_ok(store, &["balances", "--forbund", "sf-vastmanland", "--as-of", date]));
        }
        out
    };
    let from_totals = read(&store);
    // Without the totals file the same reports come from the whole view (the vouchers).
    std::fs::remove_file(&totals).unwrap();
    let from_vouchers = read(&store);
    assert_eq!(from_totals, from_vouchers);
    // --all lists every förbund, each as --forbund reports it.
    let all: serde_json::Value = serde_json::from_str(&from_totals[0]).unwrap();
    let all = all.as_array().unwrap();
    assert!(all.len() >= 4, "the fixtures register the merger's four förbund: {all:?}");
    for b in all {
        let f = b["forbund"].as_str().unwrap();
        let one = run_ok(&store, &["balances", "--forbund", f, "--as-of", dates[0], "--format", "json"]);
        assert_eq!(&serde_json::from_str::<serde_json::Value>(&one).unwrap(), b);
    }
}

#[test]
fn totals_that_no_longer_stand_at_the_head_are_not_used() {
    let dir = TempDir::new("totals-stale");
    let store = fixture_store(&dir);
    let before = run_ok(&store, &["balances", "--forbund", "sf-vastmanland", "--format", "json"]);
    let saved = std::fs::read(store.join("derived").join("totals.json")).unwrap();
    // A new contribution, recorded; then the old totals put back, as if the writer had died
    // before writing the new ones.
    let o = finsam(&store, &["record", "--as", "test", "-"], &contribution("forsakringskassan", "1000", None));
    assert_exit(&o, 0);
    std::fs::write(store.join("derived").join("totals.json"), saved).unwrap();
    let after = run_ok(&store, &["balances", "--forbund", "sf-vastmanland", "--format", "json"]);
    assert_ne!(before, after, "the report sees the new contribution, not the stale totals");
    let bank =
        |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap()["bank"].as_str().unwrap().to_string();
    let (b0, b1): (rust_decimal::Decimal, rust_decimal::Decimal) =
        (bank(&before).parse().unwrap(), bank(&after).parse().unwrap());
    assert_eq!(b1 - b0, rust_decimal::Decimal::from(1000));
}

#[test]
fn explain_runs_in_date_order_and_every_row_shows_the_decision_behind_it() {
    let dir = TempDir::new("explain-order");
    let store = fixture_store(&dir);
    let args = ["audit", "explain", "--forbund", "sf-vastmanland", "--account", "1930", "--as-of", "2024-12-31"];
    let v: serde_json::Value =
        serde_json::from_str(&run_ok(&store, &[&args[..], &["--format", "json"]].concat())).unwrap();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 121);
    // A bank statement's order: by date, registration order within a day; the running balance
    // follows it, and ends at the account's balance.
    let key = |e: &serde_json::Value| (e["date"].as_str().unwrap().to_string(), e["seq"].as_u64().unwrap());
    assert!(entries.windows(2).all(|w| key(&w[0]) <= key(&w[1])), "date order");
    let mut running = Amount::ZERO;
    for e in entries {
        running += Amount::parse(e["amount"].as_str().unwrap()).unwrap();
        assert_eq!(Amount::parse(e["balance"].as_str().unwrap()).unwrap(), running, "{e}");
    }
    assert_eq!(v["balance"], "2357029.90");
    // Every row has its decision: the transfers the merger's, the contributions the budget's,
    // the costs of an insats its grant's.
    for e in entries {
        assert!(e["decision"].is_object(), "a row without a decision: {e}");
    }
    let via = |ty: &str| {
        entries.iter().filter(|e| e["type"] == ty).map(|e| e["authorised_by"]["type"].clone()).collect::<Vec<_>>()
    };
    assert!(via("BalancesTakenOver").iter().all(|t| t == "MergerDecided"));
    assert!(via("ContributionReceived").iter().all(|t| t == "BudgetAdopted"));
    let costs = via("CostRecorded");
    assert!(costs.iter().any(|t| t == "FundingGranted") && costs.iter().any(|t| t == "BudgetAdopted"), "{costs:?}");
}

#[test]
fn one_voucher_is_shown_whole_with_its_event_and_decision() {
    let dir = TempDir::new("voucher");
    let store = fixture_store(&dir);
    let o = finsam(&store, &["audit", "voucher", "--forbund", "sf-vastmanland", "2024 A 1", "--format", "json"], "");
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((v["voucher"].as_str(), v["type"].as_str()), (Some("2024 A 1"), Some("BalancesTakenOver")));
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "both sides");
    let sum: Amount = rows.iter().map(|r| Amount::parse(r["amount"].as_str().unwrap()).unwrap()).sum();
    assert!(sum.is_zero());
    assert_eq!(v["decision"]["body"], "interimsstyrelsen");
    assert_eq!(v["authorised_by"]["type"], "MergerDecided");
    assert_eq!(v["hash"].as_str().unwrap().len(), 64);
    let table = finsam(&store, &["audit", "voucher", "--forbund", "sf-vastmanland", "2024-A-1"], "");
    assert_exit(&table, 0);
    let text = stdout(&table);
    for want in ["Verifikation 2024 A 1", "debet", "kredit", "beslut       interimsstyrelsen 2023-11-16", "summa"] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    let missing = finsam(&store, &["audit", "voucher", "--forbund", "sf-vastmanland", "2024 A 9999"], "");
    assert_exit(&missing, 2);
    assert!(stderr(&missing).contains("no voucher 2024 A 9999"));
}

#[test]
fn known_at_takes_a_recording_time_as_well_as_a_seq() {
    let dir = TempDir::new("known-at-time");
    let store = store_with(&dir, &fixtures_through("30").iter().map(String::as_str).collect::<Vec<_>>());
    let log = log_json(&store);
    let (head, recorded) = (log.len() as u64, log.last().unwrap()["recorded_at"].as_str().unwrap().to_string());
    assert_exit(&finsam(&store, &["record", "--as", "test", "-"], &contribution("fagersta", "1000", None)), 0);
    let balances = |known_at: &str| {
        let o = finsam(
            &store,
            &[
                "balances",
                "--forbund",
                "sf-vastmanland",
                "--as-of",
                "2024-12-31",
                "--known-at",
                known_at,
                "--format",
                "json",
            ],
            "",
        );
        assert_exit(&o, 0);
        serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap()
    };
    // The time of the last envelope of the fixtures: as known at its seq, without the new one.
    let by_time = balances(&recorded);
    assert_eq!(by_time["known_at"], head);
    assert_eq!(by_time, balances(&head.to_string()));
    assert_ne!(by_time["bank"], balances(&(head + 1).to_string())["bank"]);
    // A date means the end of that day; a day before anything was recorded means seq 0.
    assert_eq!(balances("2000-01-01")["known_at"], 0);
    assert_eq!(balances("2999-12-31")["known_at"], head + 1);
    let bad = finsam(&store, &["balances", "--forbund", "sf-vastmanland", "--known-at", "yesterday"], "");
    assert_exit(&bad, 2);
    assert!(stderr(&bad).contains("neither a seq"));
}

#[test]
fn uncommitted_is_shown_only_where_grants_apply_and_a_missing_budget_year_is_bad_usage() {
    let dir = TempDir::new("uncommitted");
    let store = fixture_store(&dir);
    let o = finsam(
        &store,
        &["budget", "--forbund", "sf-vastmanland", "--year", "2024", "--as-of", "2024-12-31", "--format", "json"],
        "",
    );
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for line in v["lines"].as_array().unwrap() {
        // Admin lines fund no insats and take no grants: spent 2 236 081 of 2 244 000 is not
        // "2 244 000 uncommitted". Lines for insatser do, even before one is named.
        let takes = line["insats"].is_string() || line["category"] != "admin";
        assert_eq!(line["uncommitted"].is_null(), !takes, "{line}");
    }
    assert!(v["costs"]["by_category"]["admin"]["uncommitted"].is_null());
    assert_eq!(v["costs"]["by_category"]["struktur"]["uncommitted"], "500000");
    let table = stdout(&finsam(
        &store,
        &["budget", "--forbund", "sf-vastmanland", "--year", "2024", "--as-of", "2024-12-31"],
        "",
    ));
    let styrelse = table.lines().find(|l| l.trim_start().starts_with("Styrelse")).unwrap();
    assert!(styrelse.trim_end().ends_with('–'), "{styrelse}");
    let missing = finsam(&store, &["budget", "--forbund", "sf-vastmanland", "--year", "2030"], "");
    assert_exit(&missing, 2);
    assert!(stderr(&missing).contains("no budget for 2030"), "{}", stderr(&missing));
}

#[test]
fn the_demo_keeps_its_store_on_purpose_and_leaves_no_stale_lock() {
    let dir = TempDir::new("demo-lock");
    let store = dir.0.join("demo-store");
    let o = finsam(&store, &["demo"], "");
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("Lagret sparas så att du kan utforska det"), "{}", stdout(&o));
    let lock = std::fs::read_to_string(store.join("LOCK")).unwrap_or_default();
    assert!(lock.is_empty(), "a LOCK left behind names no process: {lock:?}");
}

#[test]
fn every_report_table_is_in_swedish_with_swedish_numbers() {
    let dir = TempDir::new("swedish");
    let store = fixture_store(&dir);
    let f = ["--forbund", "sf-vastmanland"];
    let tables: Vec<(&str, Vec<&str>)> = vec![
        ("balances", [&["balances"][..], &f, &["--as-of", "2024-12-31"]].concat()),
        ("budget", [&["budget"][..], &f, &["--year", "2024", "--as-of", "2024-12-31"]].concat()),
        ("explain", [&["audit", "explain"][..], &f, &["--account", "1930", "--as-of", "2024-12-31"]].concat()),
        ("trail", [&["audit", "trail"][..], &f].concat()),
        ("voucher", [&["audit", "voucher"][..], &f, &["2024 A 1"]].concat()),
        ("reconcile", vec!["reconcile", "--merger", "sf-vastmanland", "--as-of", "2024-12-31"]),
        ("log", vec!["log"]),
        ("status", vec!["status"]),
    ];
    let english = [
        "as of",
        "known at",
        "balance",
        "granted",
        "spent",
        "remaining",
        "uncommitted",
        "voucher(s)",
        "decision",
        "summary",
        "error(s)",
        "warning(s)",
        "no findings",
        "Shares",
        "key figure",
        "recorded",
        "estimate",
        "transferred",
        "contribution",
        "cost ",
        "head ",
    ];
    for (name, args) in tables {
        let o = finsam(&store, &args, "");
        let out = stdout(&o);
        assert!(!out.is_empty(), "{name}: {}", stderr(&o));
        for word in english {
            assert!(!out.contains(word), "{name} shows the English {word:?}:\n{out}");
        }
        // Amounts with a decimal comma; no figure with a decimal point ("13.58").
        let point = regex_like_decimal_point(&out);
        assert!(point.is_none(), "{name} prints a decimal point: {point:?}");
    }
}

/// The first "digit . digit digit" in a text outside a date or a time, if any.
fn regex_like_decimal_point(text: &str) -> Option<String> {
    let b = text.as_bytes();
    (1..b.len().saturating_sub(2)).find_map(|i| {
        let number =
            b[i] == b'.' && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit() && b[i + 2].is_ascii_digit();
        number.then(|| String::from_utf8_lossy(&b[i.saturating_sub(8)..(i + 6).min(b.len())]).into_owned())
    })
}

#[test]
fn closing_2024_moves_the_result_and_the_equity_received_into_equity() {
    let dir = TempDir::new("close-2024");
    let store = fixture_store(&dir);
    let close = |year: i32| {
        format!(
            r#"{{"type":"YearClosed","forbund":"sf-vastmanland","date":"2025-03-01","year":{year},"decision":{{"body":"styrelsen","date":"2025-03-01"}}}}"#
        )
    };
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &[close(2023), close(2024)].join("\n")), 0);
    let accounts = account_balances(&store, "sf-vastmanland", "2024-12-31");
    // Before: 2015 kept −3 863 000 for ever and 2010 showed a debit of 1 638 899 (the loss).
    assert!(accounts.get("2015").is_none_or(|a| a.is_zero()), "{accounts:?}");
    assert_eq!(accounts["2010"], Amount::parse("-2224101").unwrap(), "equity = received 3 863 000 + result −1 638 899");
    // The balance sheet balances: assets less liabilities (all of class 1 and 2 but equity) is
    // the equity.
    let net_assets: Amount = accounts
        .iter()
        .filter(|(n, _)| n.starts_with('1') || (n.starts_with('2') && !n.starts_with("20")))
        .map(|(_, a)| *a)
        .sum();
    assert_eq!(net_assets, Amount::parse("2224101").unwrap(), "{accounts:?}");
    bundle_checks_out(&store, "sf-vastmanland", 2024, &dir.0.join("bundle"));
}

#[test]
fn a_cost_in_january_before_the_budget_is_adopted_is_booked_outside_the_budget() {
    let dir = TempDir::new("january");
    let store = fixture_store(&dir);
    // No 2025 budget yet. A cost on a line and its insats is booked; so is one on a line alone
    // that last year's budget had (its account known from there), with a warning.
    let both = r#"{"type":"CostRecorded","forbund":"sf-vastmanland","date":"2025-01-20","year":2025,"line":"samordningsteam-sala","insats":"samordningsteam-sala","amount":"100000","reference":"F-2025-1","text":"januari"}"#;
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], both), 0);
    let balances = account_balances(&store, "sf-vastmanland", "2025-01-31");
    assert_eq!(balances["4510"], Amount::parse("13867835").unwrap(), "individ: 13 767 835 of 2024 + 100 000");
    let alone = both.replace(",\"insats\":\"samordningsteam-sala\"", "").replace("F-2025-1", "F-2025-2");
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &alone);
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("[warning cost_outside_budget]"), "{}", stderr(&o));
    let balances = account_balances(&store, "sf-vastmanland", "2025-01-31");
    assert_eq!(balances["4510"], Amount::parse("13967835").unwrap(), "on the individ account, as the line was");
    // Once the budget is adopted, the cost counts on its line.
    let budget = r#"{"type":"BudgetAdopted","forbund":"sf-vastmanland","date":"2025-02-15","year":2025,"decision":{"body":"styrelsen","date":"2025-02-15"},"income":[{"id":"bidrag","name":"Medlemsbidrag","amount":"19000000"}],"costs":[{"id":"samordningsteam-sala","name":"Samordningsteam Sala","category":"individ","insats":"samordningsteam-sala","amount":"1700000"}]}"#;
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], budget), 0);
    let o = finsam(
        &store,
        &["budget", "--forbund", "sf-vastmanland", "--year", "2025", "--as-of", "2025-12-31", "--format", "json"],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["lines"][0]["spent"], "200000", "{v}");
}

/// A workbook finsam wrote to standard output, read by an independent reader (calamine).
fn workbook(store: &Path, args: &[&str]) -> calamine::Xlsx<std::io::Cursor<Vec<u8>>> {
    let mut all = args.to_vec();
    all.extend(["--format", "xlsx"]);
    let o = finsam(store, &all, "");
    assert!(o.status.code().is_some_and(|c| c <= 1), "{args:?}: {}", stderr(&o));
    calamine::open_workbook_from_rs(std::io::Cursor::new(o.stdout.clone())).expect("an xlsx workbook")
}

/// A sheet's rows: the first cell's text, and the numbers of the row.
fn sheet_rows(book: &mut calamine::Xlsx<std::io::Cursor<Vec<u8>>>, name: &str) -> Vec<(String, Vec<f64>)> {
    use calamine::{Data, Reader};
    let range = book.worksheet_range(name).unwrap_or_else(|e| panic!("sheet {name}: {e}"));
    range
        .rows()
        .skip(1)
        .map(|row| {
            let label = match &row[0] {
                Data::String(s) => s.trim().to_string(),
                Data::Float(f) => f.to_string(),
                other => other.to_string(),
            };
            let numbers =
                row.iter().skip(1).filter_map(|c| if let Data::Float(f) = c { Some(*f) } else { None }).collect();
            (label, numbers)
        })
        .collect()
}

fn krona(text: &str) -> f64 {
    text.parse::<f64>().unwrap()
}

#[test]
fn every_report_is_a_workbook_with_its_tables_as_sheets_and_its_figures_as_numbers() {
    use calamine::Reader;
    let dir = TempDir::new("reports-xlsx");
    let store = fixture_store(&dir);
    // The annual report: one sheet per statement, each figure the number the JSON states.
    let mut book = workbook(&store, &["report", "annual", "--forbund", "sf-vastmanland", "--year", "2024"]);
    let names = book.sheet_names();
    for wanted in ["Resultaträkning", "Balansräkning", "Kassaflödesanalys", "Driftredovisning"] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
    }
    let o =
        finsam(&store, &["report", "annual", "--forbund", "sf-vastmanland", "--year", "2024", "--format", "json"], "");
    let annual: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let mut compared = 0;
    for (key, sheet) in [("resultatrakning", "Resultaträkning"), ("balansrakning", "Balansräkning")] {
        let rows = sheet_rows(&mut book, sheet);
        for line in annual["statements"][key].as_array().unwrap() {
            let Some(amount) = line["current"]["amount"].as_str() else { continue };
            let label = line["label"].as_str().unwrap();
            // A line without a figure this year or the last is left out of the text, and so of the sheet.
            let Some(row) = rows.iter().find(|(l, _)| l == label) else {
                let previous = line["previous"]["amount"].as_str().map_or(0.0, krona);
                assert!(krona(amount) == 0.0 && previous == 0.0, "{sheet}: a row {label:?}");
                continue;
            };
            assert_eq!(row.1.first().copied(), Some(krona(amount)), "{sheet}: {label}");
            compared += 1;
        }
    }
    assert!(compared >= 20, "{compared} figures of the statements compared");
    // The balances: every account's balance a number.
    let mut book = workbook(&store, &["balances", "--forbund", "sf-vastmanland", "--as-of", "2024-12-31"]);
    let o =
        finsam(&store, &["balances", "--forbund", "sf-vastmanland", "--as-of", "2024-12-31", "--format", "json"], "");
    let balances: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = sheet_rows(&mut book, "Saldon");
    for a in balances["accounts"].as_array().unwrap() {
        let account = a["account"].as_str().unwrap();
        let row = rows.iter().find(|(l, _)| l == account).unwrap_or_else(|| panic!("account {account}"));
        assert_eq!(row.1, vec![krona(a["balance"].as_str().unwrap())], "{account}");
    }
    let key = sheet_rows(&mut book, "Nyckeltal");
    assert!(key.iter().any(|(l, n)| l == "bank" && n == &vec![krona(balances["bank"].as_str().unwrap())]), "{key:?}");
    // The reconciliation: a row per finding, even when it finds errors (exit 1).
    let mut book = workbook(&store, &["reconcile"]);
    let o = finsam(&store, &["reconcile", "--format", "json"], "");
    let findings =
        serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap()["findings"].as_array().unwrap().len();
    assert!(findings > 0);
    assert_eq!(sheet_rows(&mut book, "Avvikelser").len(), findings);
    // Each report's workbook opens; a command that is no report is refused.
    for args in [
        &["budget", "--forbund", "sf-vastmanland", "--year", "2024"][..],
        &["report", "period", "--forbund", "sf-vastmanland", "--year", "2024", "--through", "2024-06"],
        &["report", "interim", "--forbund", "sf-vastmanland", "--year", "2024", "--through", "2024-06"],
        &["report", "members", "--forbund", "sf-vastmanland", "--year", "2024"],
        &["audit", "trail", "--forbund", "sf-vastmanland"],
        &["audit", "explain", "--forbund", "sf-vastmanland", "--account", "1930"],
    ] {
        let book = workbook(&store, args);
        assert!(!book.sheet_names().is_empty(), "{args:?}");
    }
    let o = finsam(&store, &["log", "--format", "xlsx"], "");
    assert_exit(&o, 2);
    assert!(o.stdout.is_empty());
}
