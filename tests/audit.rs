//! Tamper evidence: both verifiers (finsam's and the Python one that ships with every bundle)
//! on the same logs, good and tampered, with the same verdict; digests; corrections and closed
//! years; the revisor's bundle.

use crate::support::*;
use finsam_store::envelope::sha256_hex;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python_verify(log: &Path, digest: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("events/verify_chain.py")).arg(log);
    if let Some(d) = digest {
        cmd.args(["--digest", d]);
    }
    let o = cmd.output().expect("python3 runs (the independent verifier needs only its standard library)");
    assert!(matches!(o.status.code(), Some(0) | Some(1)), "verify_chain.py: {}", String::from_utf8_lossy(&o.stderr));
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned())
}

/// finsam's verdict: ok, and the first bad seq.
fn finsam_verify(store: &Path, digest: Option<&str>) -> (bool, Option<u64>, serde_json::Value) {
    let mut args = vec!["audit", "verify", "--format", "json"];
    if let Some(d) = digest {
        args.extend(["--digest", d]);
    }
    let o = finsam(store, &args, "");
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|_| panic!("verify prints JSON: {}", stderr(&o)));
    let ok = v["ok"].as_bool().unwrap();
    assert_exit(&o, if ok { 0 } else { 1 });
    (ok, v["first_bad_seq"].as_u64(), v)
}

/// A store directory holding only the given log text (no derived state, as a copy would be).
fn store_of(dir: &TempDir, name: &str, log: &str) -> PathBuf {
    let store = dir.0.join(name);
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(store.join("log.jsonl"), log).unwrap();
    store
}

/// Re-seals a line after its content changed: a new own hash, and `prev` as its link.
fn reseal(line: &str, prev: Option<&str>) -> String {
    let cut = line.rfind(",\"hash\":\"").unwrap();
    let mut body = line[..cut].to_string();
    if let Some(prev) = prev {
        let at = body.rfind(",\"prev_hash\":\"").unwrap();
        body.truncate(at);
        body.push_str(&format!(",\"prev_hash\":\"{prev}\""));
    }
    body.push('}');
    let hash = sha256_hex(body.as_bytes());
    body.pop();
    format!("{body},\"hash\":\"{hash}\"}}")
}

fn hash_of(line: &str) -> String {
    line[line.len() - 66..line.len() - 2].to_string()
}

fn change_amount(line: &str) -> String {
    let at = line.find("\"amount\":\"").expect("a line with an amount") + 10;
    let mut bytes = line.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'9' { b'8' } else { bytes[at] + 1 };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn every_tampering_is_detected_by_both_verifiers_alike() {
    let dir = TempDir::new("tamper");
    let store = fixture_store(&dir);
    let good = String::from_utf8(log_bytes(&store)).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    let n = lines.len();
    let digest = format!("{n}:{}", hash_of(lines[n - 1]));
    // A line with an amount and a date, well inside the log.
    let k = lines.iter().position(|l| l.contains("\"type\":\"CostRecorded\"")).unwrap() + 40;
    let join = |ls: Vec<String>| ls.join("\n") + "\n";
    let owned = || lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();

    let mut cases: Vec<(&str, String, u64, bool)> = Vec::new(); // (what, log, first bad seq, needs the digest)
    let mut t = owned();
    t[k] = change_amount(&t[k]);
    cases.push(("change one amount", join(t), k as u64 + 1, false));
    let mut t = owned();
    let at = t[k].find("\"date\":\"20").unwrap() + 12;
    let mut b = t[k].clone().into_bytes();
    b[at] = if b[at] == b'1' { b'2' } else { b'1' };
    t[k] = String::from_utf8(b).unwrap();
    cases.push(("change one digit of a date", join(t), k as u64 + 1, false));
    // Changed and resealed alone: its own hash is right, the next line's link is not.
    let mut t = owned();
    t[k] = reseal(&change_amount(&t[k]), None);
    cases.push(("change one line and reseal only it", join(t), k as u64 + 2, false));
    let mut t = owned();
    t.remove(k);
    cases.push(("delete a line", join(t), k as u64 + 1, false));
    let mut t = owned();
    t.swap(k, k + 1);
    cases.push(("swap two lines", join(t), k as u64 + 1, false));
    let mut t = owned();
    t.insert(k, t[k].clone());
    cases.push(("duplicate a line", join(t), k as u64 + 2, false));
    let mut t = owned();
    // (the last line that moves money, forged and appended: the log's last events are the path
    // after 2024's end, which carry no amount)
    let last_with_amount = lines.iter().rev().find(|l| l.contains("\"amount\":\"")).expect("a line with an amount");
    t.push(reseal(&change_amount(last_with_amount), None));
    cases.push(("append a forged line with a recomputed hash", join(t), n as u64 + 1, false));
    let mut t = owned();
    t[k] = change_amount(&t[k]);
    for i in k..n {
        let prev = hash_of(&t[i - 1]);
        t[i] = reseal(&t[i], Some(&prev));
    }
    cases.push(("rewrite the whole chain from one changed amount", join(t), n as u64, true));
    let t = owned()[..n - 10].to_vec();
    cases.push(("cut the last ten lines", join(t.iter().map(|s| s.to_string()).collect()), n as u64, true));

    let sound = store_of(&dir, "sound", &good);
    assert!(finsam_verify(&sound, Some(&digest)).0, "the untouched log verifies");
    assert!(python_verify(&sound.join("log.jsonl"), Some(&digest)).0);

    for (i, (what, log, first_bad, needs_digest)) in cases.into_iter().enumerate() {
        let s = store_of(&dir, &format!("case-{i}"), &log);
        let (ok, bad_seq, v) = finsam_verify(&s, Some(&digest));
        let (py_ok, py_out) = python_verify(&s.join("log.jsonl"), Some(&digest));
        assert!(!ok, "{what}: finsam detects it");
        assert!(!py_ok, "{what}: verify_chain.py detects it:\n{py_out}");
        assert_eq!(bad_seq, Some(first_bad), "{what}: the first bad seq: {v}");
        if needs_digest {
            // Without the digest both verifiers accept it: a consistent rewrite is only caught
            // by a digest recorded before it.
            assert_eq!(
                finsam_verify(&s, None).0,
                python_verify(&s.join("log.jsonl"), None).0,
                "{what}: same verdict without digest"
            );
            assert!(finsam_verify(&s, None).0, "{what}: the chain itself is consistent");
        }
    }
}

#[test]
fn a_digest_is_the_head_in_one_line() {
    let dir = TempDir::new("digest");
    let store = fixture_store(&dir);
    let o = finsam(&store, &["audit", "digest"], "");
    assert_exit(&o, 0);
    let text = String::from_utf8(log_bytes(&store)).unwrap();
    let last = text.lines().last().unwrap();
    assert_eq!(stdout(&o), format!("{}:{}\n", text.lines().count(), hash_of(last)));
    let o = finsam(&store, &["audit", "verify", "--digest", "12:nothex"], "");
    assert_exit(&o, 2);
}

#[test]
fn verify_notices_a_log_that_lost_its_tail_behind_the_derived_states_back() {
    let dir = TempDir::new("lost-tail");
    let store = fixture_store(&dir);
    let (ok, _, v) = finsam_verify(&store, None);
    assert!(ok, "{v}");
    assert_eq!(v["derived_state_checked"], true);
    let text = String::from_utf8(log_bytes(&store)).unwrap();
    let kept: String = text.lines().take(100).map(|l| format!("{l}\n")).collect();
    std::fs::write(store.join("log.jsonl"), kept).unwrap();
    let (ok, bad, v) = finsam_verify(&store, None);
    assert!(!ok);
    assert_eq!(bad, v["head"]["seq"].as_u64(), "{v}");
    assert_eq!(v["problems"].as_array().unwrap().len(), 1, "{v}");
    assert!(v["problems"][0]["problem"].as_str().unwrap().contains("the log lost events after that"), "{v}");
}

#[test]
fn a_correction_reverses_its_original_which_stays_in_the_trail_with_pointers_both_ways() {
    let dir = TempDir::new("correction");
    let store = fixture_store(&dir);
    let head = log_json(&store).len() as u64;
    let bank = |store: &Path| -> String {
        let o = finsam(
            store,
            &["balances", "--forbund", "sf-vastmanland", "--as-of", "2025-08-31", "--format", "json"],
            "",
        );
        assert_exit(&o, 0);
        serde_json::from_str::<serde_json::Value>(&stdout(&o)).unwrap()["bank"].as_str().unwrap().to_string()
    };
    let before = bank(&store);
    let cost = r#"{"type":"CostRecorded","forbund":"sf-vastmanland","date":"2025-07-10","year":2025,"insats":"samordningsteam-sala","amount":"12500","reference":"F 2025-17","text":"Felbokförd faktura"}"#;
    // 2025 has no budget yet, so the cost names only its insats.
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], cost), 0);
    let correction = format!(
        r#"{{"type":"EventCorrected","forbund":"sf-vastmanland","date":"2025-08-01","corrects":{},"reason":"Fakturan gällde ett annat förbund","decision":{{"body":"förbundschefen","date":"2025-08-01","paragraph":"delegationsbeslut 3"}}}}"#,
        head + 1
    );
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &correction), 0);
    assert_eq!(bank(&store), before, "the correction took the money back");
    let t = finsam(
        &store,
        &["audit", "trail", "--forbund", "sf-vastmanland", "--from", "2025-07-01", "--format", "json"],
        "",
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&t)).unwrap();
    assert_eq!(rows.len(), 2, "the original stays in the trail, next to its correction");
    assert_eq!(rows[0]["corrected_by"], head + 2);
    assert_eq!(rows[1]["corrects"], head + 1);
    assert_eq!(rows[1]["decision"]["body"], "förbundschefen");
    assert!(rows[1]["vouchers"][0]["voucher"].as_str().unwrap().starts_with("2025 A "));
    // A correction of a correction, of a missing seq, or of another förbund's event is refused.
    let other = fixture("00-forbund.jsonl")
        .lines()
        .last()
        .unwrap()
        .replace("sf-vastmanland", "sf-uppsala")
        .replace("222000-1974", "222000-2006");
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &other), 0);
    for (corrects, forbund, rule) in [
        (head + 2, "sf-vastmanland", "correction_of_correction"),
        (head + 99, "sf-vastmanland", "correction_of_unknown_seq"),
        (head + 1, "sf-uppsala", "correction_of_other_forbund"),
    ] {
        let bad = format!(
            r#"{{"type":"EventCorrected","forbund":"{forbund}","date":"2025-03-02","corrects":{corrects},"reason":"x"}}"#
        );
        let o = finsam(&store, &["record", "--as", "kansli", "-"], &bad);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains(rule), "{rule}: {}", stderr(&o));
    }
}

#[test]
fn a_closed_year_refuses_new_events_and_says_how_to_correct() {
    let dir = TempDir::new("closed-year");
    let store = fixture_store(&dir);
    let close = |year: i32, date: &str| {
        format!(
            r#"{{"type":"YearClosed","forbund":"sf-vastmanland","date":"{date}","year":{year},"decision":{{"body":"styrelsen","date":"{date}","paragraph":"§ 12"}}}}"#
        )
    };
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &close(2024, "2025-02-20"));
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("close 2023 for sf-vastmanland first"), "{}", stderr(&o));
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &close(2023, "2025-02-20")), 0);
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &close(2024, "2025-02-20")), 0);
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &close(2024, "2025-02-21"));
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("year_already_closed"), "{}", stderr(&o));
    let late = r#"{"type":"CostRecorded","forbund":"sf-vastmanland","date":"2024-12-30","year":2024,"line":"styrelse","amount":"100","reference":"F","text":"sen"}"#;
    let o = finsam(&store, &["record", "--as", "kansli", "-"], late);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("2024 is closed") && err.contains("EventCorrected dated in an open year"), "{err}");
    // The closing voucher moved 2024's result to equity.
    let o =
        finsam(&store, &["balances", "--forbund", "sf-vastmanland", "--as-of", "2025-03-01", "--format", "json"], "");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["income"], "0");
    assert!(v["accounts"].as_array().unwrap().iter().all(|a| !a["account"]
        .as_str()
        .unwrap()
        .starts_with(['3', '4', '6'])
        || a["balance"] == "0"));
}

#[test]
fn the_revisors_bundle_checks_out_elsewhere_with_nothing_but_python() {
    let dir = TempDir::new("bundle");
    let store = fixture_store(&dir);
    let out = dir.0.join("bundle");
    let o = finsam(
        &store,
        &["audit", "bundle", "--forbund", "sf-vastmanland", "--year", "2024", out.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 0);
    // Unpack it somewhere else, as a revisor would.
    let elsewhere = TempDir::new("bundle-elsewhere");
    copy_tree(&out, &elsewhere.0);
    for file in [
        "log.jsonl",
        "DIGEST",
        "MANIFEST",
        "LASMIG.txt",
        "events/verify_chain.py",
        "events/event.schema.json",
        "reports/saldon-2024-12-31.json",
        "reports/saldon-2024-12-31.txt",
        "reports/budgetlage-2024.json",
        "reports/budgetlage-2024.txt",
        "reports/handelser-2024.json",
        "reports/handelser-2024.txt",
        "reports/avstamning-2024.json",
        "reports/avstamning-2024.txt",
    ] {
        assert!(elsewhere.0.join(file).is_file(), "the bundle holds {file}");
    }
    let digest = std::fs::read_to_string(elsewhere.0.join("DIGEST")).unwrap().trim().to_string();
    let run = |args: &[&str]| Command::new("python3").args(args).current_dir(&elsewhere.0).output().unwrap();
    let m = run(&["events/verify_chain.py", "--manifest", "MANIFEST"]);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stdout));
    let c = run(&["events/verify_chain.py", "log.jsonl", "--digest", &digest]);
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stdout));
    let guide = std::fs::read_to_string(elsewhere.0.join("LASMIG.txt")).unwrap();
    assert!(guide.contains("python3 events/verify_chain.py --manifest MANIFEST") && guide.contains(&digest), "{guide}");
    // A changed report, or an extra file, fails the manifest.
    std::fs::write(elsewhere.0.join("reports/saldon-2024-12-31.txt"), "ändrad").unwrap();
    assert!(!run(&["events/verify_chain.py", "--manifest", "MANIFEST"]).status.success());
    // A bundle is written only to a new or empty folder.
    let o = finsam(
        &store,
        &["audit", "bundle", "--forbund", "sf-vastmanland", "--year", "2024", out.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 2);
}

#[test]
fn a_dissolved_forbund_can_still_close_its_last_year_and_nothing_else() {
    let dir = TempDir::new("dissolved-close");
    let store = fixture_store(&dir);
    // Västerås was dissolved on 2024-02-29 after transferring its equity; its 2024 is still open.
    let close = |year: i32, date: &str| {
        format!(
            r#"{{"type":"YearClosed","forbund":"sf-vasteras","date":"{date}","year":{year},"decision":{{"body":"styrelsen för Samordningsförbundet Västmanland","date":"{date}"}}}}"#
        )
    };
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &close(2024, "2025-03-15")), 0);
    let later = finsam(&store, &["record", "--as", "kansli", "-"], &close(2025, "2026-03-15"));
    assert_exit(&later, 2);
    assert!(stderr(&later).contains("[rule forbund_dissolved]"), "{}", stderr(&later));
    // Its books stay at zero, and a late cost for the closed year is told where it belongs.
    let accounts = account_balances(&store, "sf-vasteras", "2025-12-31");
    assert!(accounts.values().all(|a| a.is_zero()), "{accounts:?}");
    let late = r#"{"type":"CostRecorded","forbund":"sf-vastmanland","date":"2023-12-20","year":2023,"insats":"samordningsteam-sala","amount":"100","reference":"F","text":"sen faktura"}"#;
    let close_2023 = r#"{"type":"YearClosed","forbund":"sf-vastmanland","date":"2024-03-01","year":2023,"decision":{"body":"styrelsen","date":"2024-03-01"}}"#;
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], close_2023), 0);
    let o = finsam(&store, &["record", "--as", "kansli", "-"], late);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("a late invoice or cost belongs in the open year"), "{}", stderr(&o));
}
