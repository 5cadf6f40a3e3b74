//! Trust boundaries: what `record` acknowledges is in the log exactly once, what it refuses (or
//! what a signal stops) left nothing behind, and derived state — a cache — can never steer a
//! writer or a report. Each test plays an attacker with write access to the store folder (but
//! not to the user's key outside it), a full disk, or a user pressing Ctrl-C.

use crate::support::*;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The body and trailer of a sealed derived file.
fn split_sealed(bytes: &[u8]) -> (Vec<u8>, String) {
    let cut = bytes[..bytes.len() - 1].iter().rposition(|b| *b == b'\n').unwrap();
    (bytes[..cut].to_vec(), String::from_utf8(bytes[cut + 1..].to_vec()).unwrap())
}

/// Writes `body` resealed as an attacker without the key can: a plain SHA-256 trailer, or an
/// HMAC under a key of their own.
fn reseal(path: &Path, body: &[u8], how: &str) {
    let trailer = match how {
        "sha256" => format!("sha256 {} {}", hex(&Sha256::digest(body)), body.len()),
        _ => {
            // HMAC-SHA-256 under the attacker's own key (all zeros), by hand.
            let key = [0u8; 64];
            let inner: Vec<u8> = key.iter().map(|k| k ^ 0x36).chain(body.iter().copied()).collect();
            let inner = Sha256::digest(&inner);
            let outer: Vec<u8> = key.iter().map(|k| k ^ 0x5c).chain(inner.iter().copied()).collect();
            format!("hmac-sha256 {} {}", hex(&Sha256::digest(&outer)), body.len())
        }
    };
    let mut bytes = body.to_vec();
    bytes.push(b'\n');
    bytes.extend_from_slice(trailer.as_bytes());
    bytes.push(b'\n');
    std::fs::write(path, bytes).unwrap();
}

fn edit_checkpoint(store: &Path, how: &str, edit: impl Fn(&mut serde_json::Value)) {
    let path = store.join("derived/checkpoint.json");
    let (body, trailer) = split_sealed(&std::fs::read(&path).unwrap());
    assert!(trailer.starts_with("hmac-sha256 "), "the checkpoint is sealed with the user's key: {trailer}");
    let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    edit(&mut json);
    reseal(&path, &serde_json::to_vec(&json).unwrap(), how);
}

fn head_seq(store: &Path) -> u64 {
    log_json(store).len() as u64
}

#[test]
fn a_resealed_checkpoint_with_a_forged_member_never_steers_a_writer() {
    for how in ["sha256", "hmac-own-key"] {
        let dir = TempDir::new("forged-member");
        let store = fixture_store(&dir);
        let before = head_seq(&store);
        edit_checkpoint(&store, how, |cp| {
            let state = &mut cp["ledger"]["forbund"]["sf-vastmanland"];
            state["members"].as_object_mut().unwrap().insert("mallory".into(), "kommun".into());
            state["in_force"][0][1].as_array_mut().unwrap().push("mallory".into());
        });
        let o = finsam(&store, &["record", "--as", "kansli", "-"], &contribution("mallory", "1000", None));
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("member_unknown"), "{how}: refused by the log's own rules: {}", stderr(&o));
        assert_eq!(head_seq(&store), before, "{how}: nothing written");
        // The store goes on: a real member's contribution is recorded, and everything verifies.
        assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &contribution("sala", "1000", None)), 0);
        let v = finsam(&store, &["audit", "verify"], "");
        assert_exit(&v, 0);
        assert_exit(&finsam(&store, &["reindex"], ""), 0);
        assert_exit(&finsam(&store, &["balances", "--forbund", "sf-vastmanland"], ""), 0);
    }
}

#[test]
fn a_deleted_idempotency_key_or_a_moved_position_never_lets_a_retry_record_twice() {
    let dir = TempDir::new("forged-keys");
    let store = fixture_store(&dir);
    let event = contribution("sala", "97569.75", Some("bidrag-sala-2024-02"));
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &event), 0);
    let after_first = head_seq(&store);
    for how in ["sha256", "hmac-own-key"] {
        edit_checkpoint(&store, how, |cp| {
            cp["index"]["idempotency"].as_object_mut().unwrap().clear();
            cp["index"]["positions"]["sf-vastmanland"]["last_seq"] = 1_000_000.into();
        });
        for _ in 0..3 {
            let o = finsam(&store, &["record", "--as", "kansli", "--format", "json", "-"], &event);
            assert_exit(&o, 0);
            let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
            assert_eq!(v["recorded"][0]["duplicate"], true, "{how}: a retry is a duplicate: {v}");
            assert_eq!(v["recorded"][0]["seq"], after_first, "{how}: {v}");
        }
        assert_eq!(head_seq(&store), after_first, "{how}: the retries recorded nothing");
    }
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
}

#[test]
fn audit_verify_finds_an_idempotency_key_used_twice_in_the_log_itself() {
    let dir = TempDir::new("key-twice");
    let store = fixture_store(&dir);
    assert_exit(&finsam(&store, &["record", "--as", "k", "-"], &contribution("sala", "5", Some("k-1"))), 0);
    assert_exit(&finsam(&store, &["record", "--as", "k", "-"], &contribution("sala", "6", Some("k-2"))), 0);
    // Rewrite the last line to reuse k-1, rehashed, as if a writer had trusted a damaged index.
    let text = String::from_utf8(log_bytes(&store)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let last = lines.pop().unwrap().replace("\"k-2\"", "\"k-1\"");
    let body = &last[..last.rfind(",\"hash\":\"").unwrap()];
    let hash = hex(&Sha256::digest(format!("{body}}}").as_bytes()));
    lines.push(format!("{body},\"hash\":\"{hash}\"}}"));
    std::fs::write(store.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    let o = finsam(&store, &["audit", "verify"], "");
    assert_exit(&o, 1);
    let n = lines.len();
    assert!(
        stdout(&o).contains(&format!("seq {n}: idempotency key \"k-1\" was already used by seq {}", n - 1)),
        "{}",
        stdout(&o)
    );
}

#[test]
fn forged_totals_and_a_flipped_voucher_byte_never_reach_a_report() {
    let dir = TempDir::new("forged-totals");
    let store = fixture_store(&dir);
    let balances = |store: &Path| {
        let o = finsam(store, &["balances", "--forbund", "sf-vastmanland", "--as-of", "2024-12-31"], "");
        assert_exit(&o, 0);
        stdout(&o)
    };
    let before = balances(&store);
    // Totals: a figure of the förbund's file changed (2 → 7 in the millions), its digest in the
    // header changed to match, and the header resealed without the key.
    let section = store.join("derived/totals/sf-vastmanland.json");
    let mut days = std::fs::read(&section).unwrap();
    let at = days.windows(3).position(|w| w == b"\"22").expect("a figure starting with 22 in the totals");
    days[at + 1] = b'7';
    let path = store.join("derived/totals.json");
    let bytes = std::fs::read(&path).unwrap();
    let first = bytes.iter().position(|b| *b == b'\n').unwrap();
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[..first]).unwrap();
    let own = header["sections"].as_array_mut().unwrap().iter_mut().find(|s| s[0] == "sf-vastmanland").unwrap();
    assert_eq!(own[2], hex(&Sha256::digest(std::fs::read(&section).unwrap())), "the header names the file's digest");
    own[2] = hex(&Sha256::digest(&days)).into();
    let header = serde_json::to_vec(&header).unwrap();
    let mut forged = header.clone();
    forged.extend_from_slice(format!("\nsha256 {} {}\n", hex(&Sha256::digest(&header)), header.len()).as_bytes());
    std::fs::write(&path, forged).unwrap();
    std::fs::write(&section, days).unwrap();
    let vouchers = store.join("derived/vouchers.bin");
    let mut v = std::fs::read(&vouchers).unwrap();
    let mid = v.len() / 2;
    v[mid] ^= 0x01;
    std::fs::write(&vouchers, v).unwrap();
    assert_eq!(balances(&store), before, "the report's figures come from the log, not from the forgery");
    let o = finsam(&store, &["audit", "verify"], "");
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("derived/totals.json is damaged or not sealed"), "{}", stdout(&o));
    assert!(stdout(&o).contains("derived/checkpoint.json is damaged or not sealed"), "{}", stdout(&o));
}

/// A `derived` that is a regular file, or a `checkpoint.json` that is a folder (so that saving
/// it fails): the batch is recorded, exit 0, with a warning; no temporary file stays behind.
#[test]
fn derived_state_that_cannot_be_saved_never_fails_a_durable_batch() {
    let dir = TempDir::new("derived-broken");
    let store = fixture_store(&dir);
    let before = head_seq(&store);
    std::fs::remove_file(store.join("derived/checkpoint.json")).unwrap();
    std::fs::create_dir(store.join("derived/checkpoint.json")).unwrap();
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &contribution("sala", "10", None));
    assert_exit(&o, 0);
    assert!(stdout(&o).contains(&format!("{}", before + 1)), "the seq is printed: {}", stdout(&o));
    assert!(stderr(&o).contains("warning: the events are recorded"), "{}", stderr(&o));
    assert_eq!(head_seq(&store), before + 1);
    let mut files = Vec::new();
    list_files(&store.join("derived"), &mut files);
    assert!(files.iter().all(|f| !f.to_string_lossy().ends_with(".tmp")), "no temporary file left: {files:?}");
    // `derived` a regular file: moved aside, rebuilt, and the store goes on.
    std::fs::remove_dir_all(store.join("derived")).unwrap();
    std::fs::write(store.join("derived"), b"not a folder").unwrap();
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &contribution("sala", "11", None));
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("moved aside"), "{}", stderr(&o));
    assert!(store.join("derived").is_dir());
    assert_eq!(head_seq(&store), before + 2);
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
}

/// Mounts a small tmpfs (the test machine runs as root); `None` where mounting is not allowed.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, bytes: u64) -> Option<SmallDisk> {
        let point = dir.join("small-disk");
        std::fs::create_dir_all(&point).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("tmpfs")
            .arg(&point)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(point))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_after_the_fdatasync_is_a_warning_and_the_batch_is_recorded_once() {
    let dir = TempDir::new("disk-full");
    let Some(disk) = SmallDisk::mount(&dir.0, 4 << 20) else {
        panic!("this test needs `mount -t tmpfs` (root, as on every machine of this project and in CI)");
    };
    let store = disk.0.join("store");
    assert_exit(&finsam(&store, &["init"], ""), 0);
    assert_exit(&finsam(&store, &["record", "--as", "t", "-"], &fixture("00-forbund.jsonl")), 0);
    let batch: Vec<String> = (0..200).map(|i| contribution("sala", &format!("{}.50", 100 + i), None)).collect();
    let batch = batch.join("\n");
    // How many bytes the batch adds to the log (the same in any store: fixed-width fields).
    let scratch = TempDir::new("disk-full-scratch");
    let s = store_with(&scratch, &[&fixture("00-forbund.jsonl")]);
    let len0 = log_bytes(&s).len();
    assert_exit(&finsam(&s, &["record", "--as", "t", "-"], &batch), 0);
    let append = (log_bytes(&s).len() - len0) as u64;
    // Fill the disk so that the append fits and the checkpoint after it does not.
    let free = || {
        let o = Command::new("df").args(["--output=avail", "-B1"]).arg(&disk.0).output().unwrap();
        String::from_utf8_lossy(&o.stdout).lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
    };
    let want = append.div_ceil(4096) * 4096 + 4096;
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![0u8; (free() - want) as usize]).unwrap();
    let before = head_seq(&store);
    let o = finsam(&store, &["record", "--as", "kansli", "--format", "json", "-"], &batch);
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("the seqs are printed as JSON");
    assert_eq!(v["recorded"].as_array().unwrap().len(), 200);
    assert!(stderr(&o).contains("No space left on device"), "the warning says why: {}", stderr(&o));
    assert_eq!(head_seq(&store), before + 200, "recorded once");
    let mut files = Vec::new();
    list_files(&store.join("derived"), &mut files);
    assert!(files.iter().all(|f| !f.to_string_lossy().ends_with(".tmp")), "no temporary file left: {files:?}");
    std::fs::remove_file(&filler).unwrap();
    assert_exit(&finsam(&store, &["record", "--as", "kansli", "-"], &contribution("sala", "1", None)), 0);
    assert_eq!(head_seq(&store), before + 201);
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
}

#[test]
fn symbolic_links_in_the_store_are_never_followed() {
    let dir = TempDir::new("symlinks");
    let store = fixture_store(&dir);
    let victim = dir.0.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    // LOCK as a link: a report takes no lock and touches nothing; a writer refuses.
    std::fs::remove_file(store.join("LOCK")).unwrap();
    std::os::unix::fs::symlink(&victim, store.join("LOCK")).unwrap();
    assert_exit(&finsam(&store, &["budget", "--forbund", "sf-vastmanland", "--year", "2024"], ""), 0);
    let o = finsam(&store, &["record", "--as", "k", "-"], &contribution("sala", "1", None));
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    std::fs::remove_file(store.join("LOCK")).unwrap();
    // A derived file as a link: replaced by a real file, the target untouched.
    std::fs::remove_file(store.join("derived/checkpoint.json")).unwrap();
    std::os::unix::fs::symlink(&victim, store.join("derived/checkpoint.json")).unwrap();
    std::fs::remove_file(store.join("derived/vouchers.bin")).unwrap();
    std::os::unix::fs::symlink(&victim, store.join("derived/vouchers.bin")).unwrap();
    assert_exit(&finsam(&store, &["record", "--as", "k", "-"], &contribution("sala", "2", None)), 0);
    assert_exit(&finsam(&store, &["record", "--as", "k", "-"], &contribution("sala", "3", None)), 0);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
}

#[test]
fn a_report_never_takes_the_writer_lock() {
    let dir = TempDir::new("report-lock");
    let store = fixture_store(&dir);
    // A writer holds the lock (flock), as a long `record` would.
    let lock = std::fs::File::open(store.join("LOCK")).unwrap();
    lock.lock().unwrap();
    for args in [
        vec!["budget", "--forbund", "sf-vastmanland", "--year", "2024"],
        vec!["balances", "--forbund", "sf-vastmanland"],
        vec!["status"],
        vec!["audit", "verify"],
        vec!["reconcile"],
    ] {
        let o = finsam(&store, &args, "");
        assert!(o.status.code() == Some(0) || o.status.code() == Some(1), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("in use"), "{args:?} waited for or was refused the lock: {}", stderr(&o));
    }
    // And while reports run in a loop, the writer is never refused.
    drop(lock);
    let reader = {
        let store = store.clone();
        std::thread::spawn(move || {
            for _ in 0..20 {
                finsam(&store, &["budget", "--forbund", "sf-vastmanland", "--year", "2024"], "");
            }
        })
    };
    for i in 0..20 {
        let o = finsam(&store, &["record", "--as", "k", "-"], &contribution("sala", &format!("{}", i + 1), None));
        assert_exit(&o, 0);
    }
    reader.join().unwrap();
}

/// Ctrl-C at several moments of a 5 000-event `record`: either every event is recorded and its
/// seqs printed (exit 0), or nothing is (exit 130, or killed before finsam could start) — and the
/// next open agrees.
#[test]
fn ctrl_c_during_a_large_record_leaves_all_or_nothing_and_says_which() {
    let dir = TempDir::new("sigint");
    let store = fixture_store(&dir);
    let batch: Vec<String> = (0..5000).map(|i| contribution("sala", &format!("{}.25", i + 1), None)).collect();
    let input = dir.0.join("batch.jsonl");
    std::fs::write(&input, batch.join("\n")).unwrap();
    let (mut all, mut nothing) = (0, 0);
    for delay_ms in [0u64, 5, 20, 50, 100, 200, 400, 800, 1500] {
        let before = head_seq(&store);
        let child = crate::support::in_english(&mut Command::new(FINSAM))
            .arg("--store")
            .arg(&store)
            .args(["record", "--as", "k", "--format", "json"])
            .arg(&input)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let out = child.wait_with_output().unwrap();
        let after = head_seq(&store);
        let err = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(v["recorded"].as_array().unwrap().len(), 5000, "{delay_ms} ms");
                assert_eq!(after, before + 5000, "{delay_ms} ms: acknowledged means recorded");
                all += 1;
            }
            Some(130) | None => {
                assert_eq!(after, before, "{delay_ms} ms: interrupted means nothing recorded: {err}");
                assert!(out.stdout.is_empty(), "{delay_ms} ms: no seqs printed");
                if out.status.code() == Some(130) {
                    assert!(err.contains("nothing was recorded"), "{delay_ms} ms: the message says which: {err}");
                }
                nothing += 1;
            }
            other => panic!("{delay_ms} ms: exit {other:?}: {err}"),
        }
    }
    eprintln!("Ctrl-C during record: {all} run(s) recorded everything, {nothing} recorded nothing, 0 in between");
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
}

/// A log recorded before texts were checked on input can hold a line break, an escape sequence
/// or a SIE record in a text: every output shows it escaped or replaced, never raw.
#[test]
fn unprintable_characters_in_an_old_log_never_reach_an_output_raw() {
    let dir = TempDir::new("unprintable-out");
    let store = fixture_store(&dir);
    assert_exit(&finsam(&store, &["record", "--as", "MARKER-ACTOR", "-"], &contribution("sala", "5", None)), 0);
    let evil_reference =
        "Q1\n  999  2024-01-01  forged row\u{1b}[2J\r\n#TRANS 1930 {} 5000000.00\r\n#VER A 999 20240101\u{0}\u{202e}x\ry";
    let text = String::from_utf8(log_bytes(&store)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let last = lines.pop().unwrap();
    let mut env: serde_json::Value = serde_json::from_str(&last).unwrap();
    env["event"]["reference"] = evil_reference.into();
    env["recorded_by"] = "=HYPERLINK(\"http://x\")".into();
    let obj = env.as_object_mut().unwrap();
    obj.remove("hash");
    let body = serde_json::to_string(&env).unwrap();
    let hash = hex(&Sha256::digest(body.as_bytes()));
    lines.push(format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1]));
    std::fs::write(store.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
    let _ = std::fs::remove_dir_all(store.join("derived"));
    let raw_controls = |s: &[u8]| s.iter().filter(|b| **b < 0x20 && **b != b'\n').count();
    // Tables: one row per event, nothing raw.
    let o = finsam(&store, &["log", "--from", &lines.len().to_string()], "");
    assert_exit(&o, 0);
    assert_eq!(raw_controls(&o.stdout), 0, "{}", stdout(&o));
    assert_eq!(stdout(&o).lines().count(), 4, "header, rule, one row, head: {}", stdout(&o));
    assert!(stdout(&o).contains("\\u{000A}"), "the line break is shown escaped: {}", stdout(&o));
    assert!(!stdout(&o).contains('\u{202e}'));
    let o = finsam(&store, &["audit", "trail", "--forbund", "sf-vastmanland"], "");
    assert_exit(&o, 0);
    assert_eq!(raw_controls(&o.stdout), 0);
    // CSV: a real CSV reader sees one record per event, the formula neutralised.
    let o = finsam(&store, &["audit", "trail", "--forbund", "sf-vastmanland", "--format", "csv"], "");
    assert_exit(&o, 0);
    let check = Command::new("python3")
        .args([
            "-c",
            "import csv,sys\nrows=list(csv.reader(open(sys.argv[1],newline='')))\nn={len(r) for r in rows}\nassert len(n)==1,n\nbad=[c for r in rows for c in r if c[:1] in ('=','+','@')]\nassert not bad,bad\nprint(len(rows))",
        ])
        .arg({
            let p = dir.0.join("trail.csv");
            std::fs::write(&p, &o.stdout).unwrap();
            p
        })
        .output()
        .unwrap();
    assert!(check.status.success(), "Python's csv module reads it: {}", String::from_utf8_lossy(&check.stderr));
    // SIE: no raw control character, no injected record, a checksum that holds.
    let se = dir.0.join("out.se");
    assert_exit(
        &finsam(&store, &["export", "sie", "--forbund", "sf-vastmanland", "--year", "2024", se.to_str().unwrap()], ""),
        0,
    );
    let bytes = std::fs::read(&se).unwrap();
    let mut stripped = bytes.clone();
    stripped.retain(|b| *b != b'\r' && *b != b'\n');
    assert_eq!(stripped.iter().filter(|b| **b < 0x20).count(), 0, "no raw control byte in the SIE file");
    assert!(!String::from_utf8_lossy(&bytes).contains("\r\n#VER A 999"), "no injected voucher");
    assert!(!String::from_utf8_lossy(&bytes).contains("\r\n#TRANS 1930 {} 5000000.00"), "no injected row");
    let ksumma =
        Command::new("python3").arg(root().join("tests/sie-reference/ksumma_check.py")).arg(&se).output().unwrap();
    assert!(ksumma.status.success(), "{}", String::from_utf8_lossy(&ksumma.stdout));
    // The journal: nothing raw either.
    let o = finsam(&store, &["export", "journal", "--forbund", "sf-vastmanland"], "");
    assert_exit(&o, 0);
    assert_eq!(raw_controls(&o.stdout), 0);
}

#[test]
fn an_actor_with_a_control_character_is_refused() {
    let dir = TempDir::new("actor-control");
    let store = fixture_store(&dir);
    for actor in ["kansli\u{1b}[31m", "anna\nforged", "=x\u{202e}"] {
        let o = finsam(&store, &["record", "--as", actor, "-"], &contribution("sala", "1", None));
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("[rule text_control_character]"), "{}", stderr(&o));
        assert!(stderr(&o).contains("field `--as`"), "{}", stderr(&o));
        assert!(!stderr(&o).contains('\u{1b}'), "the message shows the value escaped");
    }
}

#[test]
fn every_file_finsam_reads_has_a_size_limit() {
    let dir = TempDir::new("size-limit");
    let store = fixture_store(&dir);
    let o = finsam(&store, &["balances", "--forbund", "sf-vastmanland", "--chart", "/dev/zero"], "");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("larger than the limit of 1048576 bytes"), "{}", stderr(&o));
    let o = finsam(&store, &["record", "--as", "k", "/dev/zero"], "");
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("batch_too_large"), "{}", stderr(&o));
}

#[test]
fn a_bundle_never_writes_through_a_planted_symbolic_link() {
    let dir = TempDir::new("bundle-link");
    let store = fixture_store(&dir);
    let victim = dir.0.join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    // A folder of the bundle planted as a link before its files are written.
    let out = dir.0.join("bundle");
    std::fs::create_dir(&out).unwrap();
    let elsewhere = dir.0.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("events")).unwrap();
    let o = finsam(
        &store,
        &["audit", "bundle", "--forbund", "sf-vastmanland", "--year", "2024", out.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 2);
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing written through the link");
    // A file planted as a link: refused, its target untouched.
    let out = dir.0.join("bundle2");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("MANIFEST")).unwrap();
    let o = finsam(
        &store,
        &["audit", "bundle", "--forbund", "sf-vastmanland", "--year", "2024", out.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 2);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

/// A store of many förbund, as a national service's folder: a writer of one förbund's books
/// reads only those (`Store::open_for`) and leaves the checkpoint where it was; what it records
/// is what the whole books record; its reports are the whole view's; `audit verify` checks what
/// it saved and notices a log that lost its tail behind it; and a runs file resealed without the
/// key sends the writer back to the whole books, which save everything again.
#[test]
fn a_writer_of_one_forbunds_books_records_and_reports_as_the_whole_books() {
    let dir = TempDir::new("one-forbund");
    let (store, events) = generated_store(&dir, 10, 2, 4);
    let cost = events
        .lines()
        .rfind(|l| l.contains("\"CostRecorded\"") && l.contains("\"sf-gen-003\""))
        .expect("a cost of sf-gen-003");
    let mut cost: serde_json::Value = serde_json::from_str(cost).unwrap();
    cost["reference"] = "ett försenat kvitto".into();
    cost["idempotency_key"] = "kvitto-1".into();
    let cost = cost.to_string();
    let checkpoint = std::fs::read(store.join("derived/checkpoint.json")).unwrap();
    let runs = std::fs::read(store.join("derived/runs.json")).unwrap();
    let days = |f: &str| std::fs::read(store.join(format!("derived/totals/{f}.json"))).unwrap();
    let (own_days, other_days) = (days("sf-gen-003"), days("sf-gen-007"));
    let head = head_seq(&store);
    let o = finsam(&store, &["record", "--as", "kansli", "--format", "json", "-"], &cost);
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["recorded"][0]["seq"], head + 1, "{v}");
    assert_eq!(std::fs::read(store.join("derived/checkpoint.json")).unwrap(), checkpoint, "the checkpoint stays");
    assert_ne!(std::fs::read(store.join("derived/runs.json")).unwrap(), runs, "the runs file moves to the head");
    // The totals move to the head too: the writer's förbund's file saved anew, the others kept.
    let (totals, _) = split_sealed(&std::fs::read(store.join("derived/totals.json")).unwrap());
    let totals: serde_json::Value = serde_json::from_slice(&totals).unwrap();
    assert_eq!(totals["seq"], head + 1, "the totals stand at the head");
    assert_ne!(days("sf-gen-003"), own_days, "the cost is in its förbund's totals");
    assert_eq!(days("sf-gen-007"), other_days, "another förbund's totals are not written");
    // A retry is a duplicate, as for the whole books.
    let o = finsam(&store, &["record", "--as", "kansli", "--format", "json", "-"], &cost);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (v["recorded"][0]["seq"].clone(), v["recorded"][0]["duplicate"].clone()),
        ((head + 1).into(), true.into())
    );
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
    // The reports of one förbund, read apart, are the whole view's.
    let reports = |store: &Path| -> Vec<String> {
        let mut out = Vec::new();
        for f in ["sf-gen-003", "sf-gen-007"] {
            for args in [
                vec!["budget", "--forbund", f, "--year", "2006", "--as-of", "2006-12-31"],
                vec![
                    "audit",
                    "explain",
                    "--forbund",
                    f,
                    "--account",
                    "1930",
                    "--as-of",
                    "2006-12-31",
                    "--format",
                    "json",
                ],
                vec!["balances", "--forbund", f, "--as-of", "2006-06-30", "--format", "json"],
            ] {
                let o = finsam(store, &args, "");
                assert_exit(&o, 0);
                out.push(stdout(&o));
            }
        }
        out
    };
    let apart = reports(&store);
    let whole = TempDir::new("one-forbund-whole");
    copy_tree(&store, &whole.0.join("store"));
    std::fs::remove_dir_all(whole.0.join("store/derived")).unwrap();
    assert_eq!(reports(&whole.0.join("store")), apart);
    // A log that lost its last line behind the runs file's back.
    let log = std::fs::read_to_string(store.join("log.jsonl")).unwrap();
    let cut: String = log.lines().take(log.lines().count() - 1).map(|l| format!("{l}\n")).collect();
    std::fs::write(whole.0.join("store/log.jsonl"), &cut).unwrap();
    copy_tree(&store.join("derived"), &whole.0.join("store/derived"));
    let o = finsam(&whole.0.join("store"), &["audit", "verify"], "");
    assert_exit(&o, 1);
    assert!(stdout(&o).contains("the log lost events after that"), "{}", stdout(&o));
    // The runs file resealed without the key: the whole books, which save everything again.
    let path = store.join("derived/runs.json");
    let (body, _) = split_sealed(&std::fs::read(&path).unwrap());
    reseal(&path, &body, "sha256");
    let o = finsam(&store, &["record", "--as", "kansli", "-"], &cost.replace("kvitto-1", "kvitto-2"));
    assert_exit(&o, 0);
    assert_ne!(std::fs::read(store.join("derived/checkpoint.json")).unwrap(), checkpoint, "the whole books saved");
    assert_eq!(head_seq(&store), head + 2);
    assert_exit(&finsam(&store, &["audit", "verify"], ""), 0);
}
