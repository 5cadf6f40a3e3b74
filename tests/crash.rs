//! kill -9 at random moments: every acknowledged batch survives, with identical content; the
//! log stays a gapless, verifiable chain; the derived state agrees with a fresh replay.
//! `FINSAM_KILLS` sets how many kills (default 200), `FINSAM_KILL_SEED` the seed, so that a
//! failure can be replayed.

use crate::support::*;
use finsam_generate::Rng;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn acknowledged_batches_survive_kill_9_at_random_moments() {
    let dir = TempDir::new("kill9");
    let store = store_with(&dir, &[&fixture("00-forbund.jsonl")]);
    let contribution = |amount: &str| contribution("sala", amount, None);
    kill_writers(&dir, &store, env_number("FINSAM_KILLS", 200), 300, &contribution);
}

/// The same for writers of one förbund's books in a store of twenty (`Store::open_for`: they
/// append to the log, then to `lines.bin`, then replace `runs.json`): every kill leaves a store
/// that opens, verifies and has every acknowledged event.
#[test]
fn writers_of_one_forbunds_books_survive_kill_9_at_random_moments() {
    let dir = TempDir::new("kill9-apart");
    let (store, events) = generated_store(&dir, 20, 1, 8);
    let paid: serde_json::Value = serde_json::from_str(
        events.lines().rfind(|l| l.contains("\"ContributionReceived\"") && l.contains("\"sf-gen-004\"")).unwrap(),
    )
    .unwrap();
    let contribution = |amount: &str| {
        let mut e = paid.clone();
        e.as_object_mut().unwrap().remove("idempotency_key");
        e["amount"] = amount.into();
        e["reference"] = "test".into();
        e.to_string()
    };
    // Small batches, so that sf-gen-004's books stay a small part of the log (a fifth at most,
    // or the writers open the whole books).
    kill_writers(&dir, &store, env_number("FINSAM_KILLS", 200) / 4, 12, &contribution);
    // After the kills (a writer killed before its runs file was replaced sends the next one to
    // the whole books, which save everything), writers hold only sf-gen-004's books again.
    assert_exit(&finsam(&store, &["record", "--as", "t", "-"], &contribution("1")), 0);
    let checkpoint = std::fs::read(store.join("derived/checkpoint.json")).unwrap();
    assert_exit(&finsam(&store, &["record", "--as", "t", "-"], &contribution("2")), 0);
    assert!(
        std::fs::read(store.join("derived/checkpoint.json")).unwrap() == checkpoint,
        "a writer of sf-gen-004's books leaves the checkpoint as it was"
    );
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
}

/// Runs `record` of batches of `contribution(amount)` (its reference made unique) into
/// `store`, killing most runs at a random moment, until `kills_wanted` were killed; checks
/// every 40 runs and at the end that every acknowledged event is in the log unchanged and the
/// store verifies.
fn kill_writers(
    dir: &TempDir,
    store: &std::path::Path,
    kills_wanted: u64,
    max_batch: u64,
    contribution: &dyn Fn(&str) -> String,
) {
    let seed = env_number("FINSAM_KILL_SEED", 20_261_123);
    let mut rng = Rng::new(seed);
    let store = store.to_path_buf();
    let mut acknowledged: Vec<(u64, serde_json::Value)> = Vec::new();
    let (mut kills, mut completed, mut runs) = (0u64, 0u64, 0u64);
    // The moments are drawn from a window that starts at 30 ms and doubles after ten kills in a
    // row (up to 2 s), so that on a loaded machine, where a run takes longer, runs still both
    // complete and die at every stage.
    let (mut window_us, mut kills_in_a_row) = (30_000u64, 0u64);
    while kills < kills_wanted && runs < kills_wanted * 4 {
        runs += 1;
        let n = if rng.next_u64().is_multiple_of(3) { 1 } else { 2 + rng.next_u64() % (max_batch - 1) };
        let events: Vec<String> =
            (0..n).map(|k| contribution(&format!("{}.{:02}", 1 + rng.next_u64() % 9_999, k % 100))).collect();
        let events: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(k, e)| e.replace("\"reference\":\"test", &format!("\"reference\":\"run {runs} event {k}")))
            .collect();
        let input = dir.0.join(format!("batch-{runs}.jsonl"));
        std::fs::write(&input, events.join("\n")).unwrap();
        let child = crate::support::in_english(&mut Command::new(FINSAM))
            .arg("--store")
            .arg(&store)
            .args(["record", "--as", "killer", "--format", "json"])
            .arg(&input)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.next_u64() % window_us));
        let pid = child.id();
        // SIGKILL, as `kill -9`: no chance to clean up.
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        let out = child.wait_with_output().unwrap();
        match out.status.signal() {
            Some(9) => {
                kills += 1;
                kills_in_a_row += 1;
                if kills_in_a_row == 10 && window_us < 2_000_000 {
                    (window_us, kills_in_a_row) = (window_us * 2, 0);
                }
            }
            _ => {
                assert!(
                    out.status.success(),
                    "run {runs} (seed {seed}) failed by itself: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                completed += 1;
                kills_in_a_row = 0;
            }
        }
        // Printed means acknowledged (the seqs are printed only after fdatasync).
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            for (k, r) in v["recorded"].as_array().unwrap().iter().enumerate() {
                acknowledged.push((r["seq"].as_u64().unwrap(), serde_json::from_str(&events[k]).unwrap()));
            }
        }
        if runs.is_multiple_of(40) {
            check(&store, &acknowledged, seed, runs);
        }
    }
    check(&store, &acknowledged, seed, runs);
    eprintln!(
        "kill -9 (seed {seed}): {kills} kills, {completed} runs completed, {} acknowledged events, 0 lost or changed, {} events in the log; kill moments drawn from 0–{} ms at the end",
        acknowledged.len(),
        log_json(&store).len(),
        window_us / 1000
    );
    assert!(kills >= kills_wanted, "only {kills} of {runs} runs were killed (seed {seed}); {completed} completed");
    assert!(!acknowledged.is_empty(), "some batches were acknowledged (seed {seed})");
}

fn check(store: &std::path::Path, acknowledged: &[(u64, serde_json::Value)], seed: u64, runs: u64) {
    let log = log_json(store);
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1, "seed {seed}, run {runs}: a gapless prefix");
    }
    for (seq, event) in acknowledged {
        let found = log
            .get(*seq as usize - 1)
            .unwrap_or_else(|| panic!("seed {seed}, run {runs}: acknowledged seq {seq} is lost"));
        // The same event as given (the log stores amounts in canonical form: "12.00" as "12").
        let decode = |v: &serde_json::Value| finsam_domain::Event::from_json(v).expect("valid");
        assert_eq!(decode(&found["event"]), decode(event), "seed {seed}, run {runs}: acknowledged seq {seq} changed");
    }
    let v = finsam(store, &["audit", "verify", "--format", "json"], "");
    assert_exit(&v, 0);
}

#[test]
fn damaged_or_lost_derived_state_is_rebuilt_and_every_report_is_unchanged() {
    let dir = TempDir::new("derived-damage");
    let store = fixture_store(&dir);
    let reports = |store: &std::path::Path| -> Vec<String> {
        [
            vec!["balances", "--forbund", "sf-vastmanland", "--as-of", "2024-12-31", "--format", "json"],
            vec![
                "budget",
                "--forbund",
                "sf-vastmanland",
                "--year",
                "2024",
                "--as-of",
                "2024-09-30",
                "--format",
                "json",
            ],
            vec!["status", "--format", "json"],
        ]
        .iter()
        .map(|args| {
            let o = finsam(store, args, "");
            assert_exit(&o, 0);
            stdout(&o)
        })
        .collect()
    };
    let before = reports(&store);
    let pristine = dir.0.join("pristine-derived");
    copy_tree(&store.join("derived"), &pristine);
    let mut files = Vec::new();
    list_files(&pristine, &mut files);
    assert!(files.len() >= 2, "the derived state is kept in several files: {files:?}");
    for file in &files {
        let rel = file.strip_prefix(&pristine).unwrap();
        let _ = std::fs::remove_dir_all(store.join("derived"));
        copy_tree(&pristine, &store.join("derived"));
        // Scribble over the file every 97 bytes.
        let target = store.join("derived").join(rel);
        let mut bytes = std::fs::read(&target).unwrap();
        for i in (0..bytes.len()).step_by(97) {
            bytes[i] ^= 0xA5;
        }
        std::fs::write(&target, bytes).unwrap();
        assert_eq!(reports(&store), before, "after damage to derived/{}", rel.display());
    }
    std::fs::remove_dir_all(store.join("derived")).unwrap();
    assert_eq!(reports(&store), before, "after losing derived/");
    let v = finsam(&store, &["audit", "verify"], "");
    assert_exit(&v, 0);
}
