//! The event log through the `finsam` command: recording, reading, atomicity, idempotency,
//! optimistic concurrency, one writer at a time, recovery from a torn tail, refusal of damage.

use crate::support::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn registrations() -> String {
    fixture("00-forbund.jsonl")
}

#[test]
fn recorded_events_come_back_from_the_log_exactly_as_given() {
    let dir = TempDir::new("round-trip");
    // The documents' fixtures: the registrations, the old förbund's plans and the 2024 plan.
    let texts = fixtures_through("30");
    let store = store_with(&dir, &texts.iter().map(String::as_str).collect::<Vec<_>>());
    let given: Vec<serde_json::Value> =
        texts.concat().lines().map(|l| serde_json::from_str(l).expect("fixture lines are JSON")).collect();
    let log = log_json(&store);
    assert_eq!(log.len(), given.len());
    for (i, (envelope, event)) in log.iter().zip(&given).enumerate() {
        assert_eq!(envelope["seq"], (i + 1) as u64);
        assert_eq!(&envelope["event"], event, "seq {} holds the event as given", i + 1);
        assert_eq!(envelope["recorded_by"], "test");
    }
    // One batch per file: the first ends at seq 4, the last at the last seq.
    assert_eq!(log[0]["batch_last"], 4);
    assert_eq!(log[log.len() - 1]["batch_last"], log.len() as u64);
}

#[test]
fn record_prints_the_assigned_seqs() {
    let dir = TempDir::new("seqs");
    let store = store_with(&dir, &[&registrations()]);
    let batch = [contribution("sala", "1000", None), contribution("fagersta", "2000.50", None)].join("\n");
    let o = finsam(&store, &["record", "--as", "kansli", "--format", "json", "-"], &batch);
    assert_exit(&o, 0);
    let out: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(out["recorded"][0]["seq"], 5);
    assert_eq!(out["recorded"][1]["seq"], 6);
    assert_eq!(out["head"]["seq"], 6);
}

#[test]
fn one_bad_event_in_a_batch_of_100_writes_nothing() {
    let dir = TempDir::new("atomic");
    let store = store_with(&dir, &[&registrations()]);
    let before = log_bytes(&store);
    let mut lines: Vec<String> = (0..100).map(|i| contribution("sala", &format!("{}", 1000 + i), None)).collect();
    // Line 57 names a member Samordningsförbundet Västmanland does not have.
    lines[56] = contribution("uppsala", "1000", None);
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &lines.join("\n"));
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("line 57"), "names the line: {err}");
    assert!(err.contains("field `member`"), "names the field: {err}");
    assert!(err.contains("\"uppsala\""), "names the value: {err}");
    assert!(err.contains("member_unknown"), "names the rule: {err}");
    assert!(err.contains("nothing written"), "{err}");
    assert_eq!(log_bytes(&store), before, "the log is byte-for-byte unchanged");
}

#[test]
fn a_malformed_line_is_refused_with_line_field_value_and_rule() {
    let dir = TempDir::new("malformed");
    let store = store_with(&dir, &[&registrations()]);
    let before = log_bytes(&store);
    let batch = format!("{}\n{}\n", contribution("sala", "1000", None), contribution("sala", "12.345", None));
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &batch);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("line 2, field `amount`, value \"12.345\""), "{err}");
    assert!(err.contains("amount_malformed"), "{err}");
    assert_eq!(log_bytes(&store), before);
}

/// No locale at all (a bare cron job, a container): finsam's own language, Swedish.
fn no_locale(command: &mut Command) -> &mut Command {
    command.env_remove("LANG").env_remove("LC_ALL").env_remove("LC_MESSAGES")
}

#[test]
fn every_problem_of_a_line_is_told_in_swedish_and_in_english_with_lang_en() {
    let dir = TempDir::new("every-problem");
    let store = store_with(&dir, &[&registrations()]);
    let before = log_bytes(&store);
    // One line, two mistakes: a date that is no date and an amount with a decimal comma.
    let line =
        contribution("sala", "1000", None).replace("2024-02-15", "2024-02-30").replace("\"1000\"", "\"1 000,50\"");
    for locale in [swedish as fn(&mut Command) -> &mut Command, no_locale] {
        let o = finsam_with(&store, &["record", "--as", "kansli", "-"], &line, locale);
        assert_exit(&o, 2);
        let err = stderr(&o);
        assert!(err.starts_with("finsam: avvisat, inget har skrivits (2 fel):"), "{err}");
        assert!(
            err.contains("rad 1, fält `date`, värde \"2024-02-30\": Ett datum skrivs ÅÅÅÅ-MM-DD och ska finnas i almanackan. [regel date_invalid]"),
            "{err}"
        );
        assert!(err.contains("rad 1, fält `amount`, värde \"1 000,50\": Beloppet kan inte läsas"), "{err}");
        assert!(!err.contains("line 1") && !err.contains("nothing written"), "no English: {err}");
    }
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &line);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("rejected, nothing written (2 problem(s)):"), "{err}");
    assert!(err.contains("line 1, field `date`, value \"2024-02-30\""), "{err}");
    assert!(err.contains("line 1, field `amount`, value \"1 000,50\""), "{err}");
    assert_eq!(log_bytes(&store), before, "nothing written");
}

#[test]
fn the_cli_speaks_swedish_to_a_swedish_user() {
    let dir = TempDir::new("svenska");
    let store = store_with(&dir, &[&registrations()]);
    let misspelt = contribution("sala", "1000", None).replace("ContributionReceived", "ContributionRecieved");
    let o = finsam_with(&store, &["record", "--as", "kansli", "-"], &misspelt, swedish);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("Okänd sorts händelse. Menade du ContributionReceived? [regel unknown_event_type]"),
        "{}",
        stderr(&o)
    );
    let o = finsam_with(&store, &["record", "-"], &contribution("sala", "1000", None), swedish);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("vem registrerar? ange --as NAMN"), "{}", stderr(&o));
    let o = finsam_with(&dir.0.join("finns-inte"), &["log"], "", swedish);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("är inget finsam-lager (ingen log.jsonl): skapa ett med `finsam --store"),
        "{}",
        stderr(&o)
    );
    let o = finsam_with(&store, &["record", "--as", "kansli", "-"], &contribution("sala", "1000", None), swedish);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("loggens huvud 5"), "{}", stdout(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

#[test]
fn long_work_shows_its_progress_on_a_terminal_and_never_in_a_pipe() {
    let dir = TempDir::new("progress");
    let store = fixture_store(&dir);
    // `script` (util-linux) runs the command on a terminal, as a person at a terminal has it.
    let present = Command::new("script").arg("--version").output().is_ok_and(|o| o.status.success());
    if tool_present(present, "script", "FINSAM_REQUIRE_SCRIPT", "apt-get install bsdutils") {
        let command = format!("FINSAM_PROGRESS=always LANG=sv_SE.UTF-8 {FINSAM} --store '{}' reindex", store.display());
        let o = Command::new("script").args(["-qec", &command, "/dev/null"]).output().unwrap();
        assert!(o.status.success(), "{o:?}");
        let seen = String::from_utf8_lossy(&o.stdout);
        assert!(seen.contains("Bygger om från loggen"), "the bar names the work: {seen}");
        assert!(seen.contains("100 %"), "and reaches its end: {seen}");
        assert!(seen.contains("byggde om det härledda tillståndet"), "{seen}");
    }
    // Piped (as in a script or CI), even when asked for: not a byte of it.
    let mut command = Command::new(FINSAM);
    let o = swedish(&mut command)
        .env("FINSAM_PROGRESS", "always")
        .arg("--store")
        .arg(&store)
        .arg("reindex")
        .output()
        .unwrap();
    assert_exit(&o, 0);
    assert_eq!(stderr(&o), "", "nothing on standard error");
    assert!(stdout(&o).starts_with("byggde om det härledda tillståndet"), "{}", stdout(&o));
}

#[test]
fn a_retry_with_the_same_idempotency_key_and_content_is_a_no_op() {
    let dir = TempDir::new("idempotent");
    let store = store_with(&dir, &[&registrations()]);
    let event = contribution("sala", "97632.75", Some("sala-2024-q1"));
    let first = finsam(&store, &["record", "--as", "kansli", "--format", "json", "-"], &event);
    assert_exit(&first, 0);
    let first: serde_json::Value = serde_json::from_str(&stdout(&first)).unwrap();
    assert_eq!(first["recorded"][0]["seq"], 5);
    let after_first = log_bytes(&store);

    let retry = finsam(&store, &["record", "--as", "kansli", "--format", "json", "-"], &event);
    assert_exit(&retry, 0);
    let retry: serde_json::Value = serde_json::from_str(&stdout(&retry)).unwrap();
    assert_eq!(retry["recorded"][0]["seq"], 5, "reports the original seq");
    assert_eq!(retry["recorded"][0]["duplicate"], true);
    assert_eq!(retry["head"]["seq"], 5);
    assert_eq!(log_bytes(&store), after_first, "a retry writes nothing");

    let changed = contribution("sala", "97632.76", Some("sala-2024-q1"));
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &changed);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("idempotency_key_reused"), "{}", stderr(&o));
    assert!(stderr(&o).contains("event 5"), "{}", stderr(&o));
    assert_eq!(log_bytes(&store), after_first);
}

#[test]
fn expect_head_refuses_a_batch_when_the_log_has_moved_on() {
    let dir = TempDir::new("expect-head");
    let store = store_with(&dir, &[&registrations()]);
    let before = log_bytes(&store);
    let o = finsam(&store, &["record", "--as", "kansli", "--expect-head", "3", "-"], &contribution("sala", "10", None));
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("head is 4"), "{}", stderr(&o));
    assert!(stderr(&o).contains("head_moved"), "{}", stderr(&o));
    assert_eq!(log_bytes(&store), before);
    let o = finsam(&store, &["record", "--as", "kansli", "--expect-head", "4", "-"], &contribution("sala", "10", None));
    assert_exit(&o, 0);
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_store() {
    let dir = TempDir::new("two-writers");
    let store = store_with(&dir, &[&registrations()]);
    // Writer A takes the lock, then waits for its input on standard input.
    let mut a = crate::support::in_english(&mut Command::new(FINSAM))
        .arg("--store")
        .arg(&store)
        .args(["record", "--as", "writer-a", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("writer A starts");
    let lock = store.join("LOCK");
    let pid = a.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&lock).unwrap_or_default().contains(&pid) {
        assert!(Instant::now() < deadline, "writer A never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = finsam(&store, &["record", "--as", "writer-b", "-"], &contribution("sala", "1", None));
    assert_exit(&b, 2);
    assert!(stderr(&b).contains("in use by another writer"), "{}", stderr(&b));
    assert!(stderr(&b).contains(&pid), "names the holder: {}", stderr(&b));

    a.stdin.take().unwrap().write_all(contribution("sala", "2", None).as_bytes()).unwrap();
    let a = a.wait_with_output().unwrap();
    assert_exit(&a, 0);
    let log = log_json(&store);
    assert_eq!(log.len(), 5);
    assert_eq!(log[4]["recorded_by"], "writer-a");
}

#[test]
fn a_torn_last_line_is_ignored_by_readers_and_cut_by_the_next_writer() {
    let dir = TempDir::new("torn-line");
    let store = store_with(&dir, &[&registrations()]);
    let good = log_bytes(&store);
    // Half of a line, as a crash in the middle of a write leaves it.
    let torn = &good[..good.len() / 3];
    let torn_tail = &torn[torn.iter().rposition(|b| *b == b'\n').unwrap() + 1..];
    let mut damaged = good.clone();
    damaged.extend_from_slice(torn_tail);
    std::fs::write(store.join("log.jsonl"), &damaged).unwrap();

    assert_eq!(log_json(&store).len(), 4, "a reader sees the acknowledged events only");
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &contribution("sala", "5", None));
    assert_exit(&o, 0);
    assert!(stderr(&o).contains(&format!("cut {} byte(s)", torn_tail.len())), "{}", stderr(&o));
    let after = log_bytes(&store);
    assert!(after.starts_with(&good), "the acknowledged prefix is untouched");
    let log = log_json(&store);
    assert_eq!(log.len(), 5);
    assert_eq!(log[4]["prev_hash"], log[3]["hash"], "the new event chains onto the last acknowledged one");
}

#[test]
fn an_unfinished_batch_is_cut_whole_even_when_its_lines_are_complete() {
    // Two stores with the same first batch; in one, a three-event batch follows.
    let dir = TempDir::new("torn-batch");
    let full = store_with(&dir, &[&registrations()]);
    let before = log_bytes(&full);
    let three = (1..=3).map(|i| contribution("sala", &i.to_string(), None)).collect::<Vec<_>>().join("\n");
    assert_exit(&finsam(&full, &["record", "--as", "kansli", "-"], &three), 0);
    let after = log_bytes(&full);
    // A crash after two of its three lines reached the disk: complete lines, unfinished batch.
    let batch_lines: Vec<&[u8]> = after[before.len()..].split_inclusive(|b| *b == b'\n').collect();
    assert_eq!(batch_lines.len(), 3);
    let dir2 = TempDir::new("torn-batch-copy");
    let store = dir2.store();
    std::fs::create_dir_all(&store).unwrap();
    let mut crashed = before.clone();
    crashed.extend_from_slice(batch_lines[0]);
    crashed.extend_from_slice(batch_lines[1]);
    std::fs::write(store.join("log.jsonl"), &crashed).unwrap();

    assert_eq!(log_json(&store).len(), 4, "readers skip the unfinished batch");
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &contribution("sala", "9", None));
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("cut"), "{}", stderr(&o));
    let log = log_json(&store);
    assert_eq!(log.len(), 5);
    assert_eq!(log[4]["event"]["amount"], "9");
}

/// Damage in the middle of the log: every reader that reads the line names it, `audit verify`
/// names it, and a writer that must read it (no sealed checkpoint stands over it) stops and
/// writes nothing. A writer whose sealed checkpoint stands over the line does not read it again:
/// that is the background scrub's of `finsam serve` to find (`serve::the_background_scrub…`).
#[test]
fn a_damaged_line_in_the_middle_stops_the_store_and_is_named() {
    let dir = TempDir::new("damaged");
    let store = store_with(&dir, &[&registrations(), &contribution("sala", "1000", None)]);
    let text = String::from_utf8(log_bytes(&store)).unwrap();
    // Change one digit of one amount in line 5 (the contribution)… then add another line after it
    // so that the damage is not at the tail.
    let lines: Vec<&str> = text.lines().collect();
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &contribution("sala", "2000", None)), 0);
    let text = String::from_utf8(log_bytes(&store)).unwrap();
    let tampered = text.replacen(r#""amount":"1000""#, r#""amount":"9000""#, 1);
    assert_ne!(tampered, text);
    std::fs::write(store.join("log.jsonl"), &tampered).unwrap();
    assert_eq!(lines.len(), 5);

    let o = finsam(&store, &["log"], "");
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("damaged at line 5"), "{}", stderr(&o));
    assert!(stderr(&o).contains("hash mismatch"), "{}", stderr(&o));
    let o = finsam(&store, &["audit", "verify"], "");
    assert_ne!(o.status.code(), Some(0), "audit verify fails on a damaged log");
    assert!(stdout(&o).contains("line 5") && stdout(&o).contains("hash mismatch"), "{}", stdout(&o));
    // Without derived state a writer replays the whole log: it stops at the line.
    std::fs::remove_dir_all(store.join("derived")).unwrap();
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &contribution("sala", "1", None));
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("damaged at line 5"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(store.join("log.jsonl")).unwrap(),
        tampered,
        "nothing is written to a damaged log"
    );
}

#[test]
fn reindex_and_lost_derived_state_give_the_same_answers() {
    let dir = TempDir::new("reindex");
    let store = fixture_store(&dir);
    let status = |store: &std::path::Path| {
        let o = finsam(store, &["status", "--format", "json"], "");
        assert_exit(&o, 0);
        stdout(&o)
    };
    let before = status(&store);
    let in_fixtures = fixture_files()
        .iter()
        .flat_map(|n| fixture(n).lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.contains("\"forbund\": \"sf-vastmanland\""))
        .count();
    assert!(
        before.contains(&format!(
            "\"forbund\":\"sf-vastmanland\",\"name\":\"Samordningsförbundet Västmanland\",\"events\":{in_fixtures}"
        )),
        "{before}"
    );
    assert_exit(&finsam(&store, &["reindex"], ""), 0);
    assert_eq!(status(&store), before);
    std::fs::remove_dir_all(store.join("derived")).unwrap();
    assert_eq!(status(&store), before, "derived state is rebuilt from the log");
    // The idempotency index came back too: a retry of a fixture line is still a no-op.
    let line = fixture("40-vastmanland-2024-example.jsonl").lines().next().unwrap().to_string();
    let o = finsam(&store, &["record", "--as", "kansli", "--format", "json", "-"], &line);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("\"duplicate\":true"), "{}", stdout(&o));
}

#[test]
fn record_refuses_to_write_without_an_actor() {
    let dir = TempDir::new("actor");
    let store = store_with(&dir, &[&registrations()]);
    let o = finsam(&store, &["record", "-"], &contribution("sala", "1", None));
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--as"), "{}", stderr(&o));
}

#[test]
fn the_demo_prints_the_2024_budget_position_and_year_end_balances_of_samordningsforbundet_vastmanland() {
    let dir = TempDir::new("demo");
    let o = finsam(&dir.store(), &["demo"], "");
    assert_exit(&o, 0);
    let out = stdout(&o);
    for expected in [
        "Budgetläge 2024 för sf-vastmanland",
        "per 2024-12-31",
        "Andelar: administration 13,58 % av kostnaderna; individinriktade 76,79 % och strukturinriktade 23,21 % av de direkta kostnaderna",
        "Saldobalans för Samordningsförbundet Västmanland (sf-vastmanland)",
        "Samordningsteam Västerås",
        "6 200 000,00",
        "Summa administration",
        "2 850 000,00",
        "13 925 000,00",
        "4 208 000,00",
        "20 983 000,00",
        "-1 945 000,00 kr",
        "1 918 000,00 kr",
    ] {
        assert!(out.contains(expected), "the demo shows {expected:?}:\n{out}");
    }
    // The commands it prints run as printed (the program as it was started, not a bare
    // `finsam` that is on no PATH after `cargo run`).
    let commands: Vec<&str> =
        out.lines().map(str::trim).filter(|l| l.contains(" --store ") && !l.contains(" serve ")).collect();
    assert!(commands.len() >= 6, "{out}");
    for command in commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        let run = std::process::Command::new(words[0]).args(&words[1..]).output().expect("the printed program runs");
        // (The reconciliation finds the errors the source documents hold: exit 1, "a check found
        // problems".)
        let expected = if command.contains(" reconcile ") { 1 } else { 0 };
        assert_eq!(run.status.code(), Some(expected), "{command}: {}", String::from_utf8_lossy(&run.stderr));
    }
    let o = finsam(&dir.store(), &["demo"], "");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("fresh store"), "{}", stderr(&o));
}

#[test]
fn every_fixture_records_in_order_into_one_store() {
    let dir = TempDir::new("fixtures");
    let store = fixture_store(&dir);
    let expected: usize = fixture_files().iter().map(|n| fixture(n).lines().count()).sum();
    assert_eq!(log_json(&store).len(), expected);
}

#[test]
fn a_generated_log_records_in_bulk_and_verifies() {
    let dir = TempDir::new("bulk");
    let store = dir.store();
    assert_exit(&finsam(&store, &["init"], ""), 0);
    let g = finsam(&store, &["generate", "--forbund", "3", "--years", "2", "--seed", "5"], "");
    assert_exit(&g, 0);
    let text = stdout(&g);
    assert_eq!(
        text,
        stdout(&finsam(&store, &["generate", "--forbund", "3", "--years", "2", "--seed", "5"], "")),
        "deterministic"
    );
    let lines = text.lines().count();
    assert!(lines > 1000, "{lines} events");
    let o = finsam(&store, &["record", "--as", "bulk", "--batch-size", "500", "--format", "json", "-"], &text);
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["events"], lines as u64);
    assert_eq!(v["batches"].as_array().unwrap().len(), lines.div_ceil(500));
    let verify = finsam(&store, &["audit", "verify"], "");
    assert_exit(&verify, 0);

    // A bad line in the third batch: the first two batches stay recorded, the third is refused
    // whole, and the message names the line of the whole input.
    let dir2 = TempDir::new("bulk-bad");
    let store2 = dir2.store();
    assert_exit(&finsam(&store2, &["init"], ""), 0);
    let mut bad: Vec<String> = text.lines().map(str::to_string).collect();
    bad[1100] = bad[1100].replacen("\"amount\":\"", "\"amount\":\"-", 1);
    let o = finsam(&store2, &["record", "--as", "bulk", "--batch-size", "500", "-"], &(bad.join("\n") + "\n"));
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("line 1101"), "{}", stderr(&o));
    assert!(stderr(&o).contains("the 2 batch(es) before it are recorded"), "{}", stderr(&o));
    assert_eq!(log_json(&store2).len(), 1000);
}

/// Shell completion and a manual page, from the same definitions as `--help`.
#[test]
fn completions_and_the_manual_page_come_from_the_commands_themselves() {
    let dir = TempDir::new("completions");
    let o = finsam(&dir.store(), &["completions", "bash"], "");
    assert_exit(&o, 0);
    let script = stdout(&o);
    assert!(script.contains("_finsam()") && script.contains("reconcile") && script.contains("--known-at"));
    let path = dir.0.join("finsam.bash");
    std::fs::write(&path, &script).unwrap();
    let check = std::process::Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(check.status.success(), "bash reads it: {}", String::from_utf8_lossy(&check.stderr));
    let o = finsam(&dir.store(), &["man"], "");
    assert_exit(&o, 0);
    let page = stdout(&o);
    assert!(page.contains(".TH finsam 1") && page.contains("samordningsförbund"), "{page}");
    assert_exit(&finsam(&dir.store(), &["completions", "tcsh"], ""), 2);
}
