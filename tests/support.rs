//! Helpers shared by the integration tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const FINSAM: &str = env!("CARGO_BIN_EXE_finsam");

/// The workspace root (fixtures/, events/, README.md).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root exists")
}

/// A fresh, empty directory under cargo's per-target temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// The store directory inside this temp dir.
    pub fn store(&self) -> PathBuf {
        self.0.join("store")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The locale the suite runs finsam in: English messages, which name each case's specifics and
/// which most assertions read. The Swedish ones (finsam's default) are tested with [`swedish`].
pub fn in_english(command: &mut Command) -> &mut Command {
    command.env("LANG", "en_GB.UTF-8").env_remove("LC_ALL").env_remove("LC_MESSAGES")
}

/// finsam as a Swedish user runs it: `LANG=sv_SE.UTF-8`.
pub fn swedish(command: &mut Command) -> &mut Command {
    command.env("LANG", "sv_SE.UTF-8").env_remove("LC_ALL").env_remove("LC_MESSAGES")
}

/// Runs `finsam --store STORE ARGS…` with `stdin` as standard input (English messages).
pub fn finsam(store: &Path, args: &[&str], stdin: &str) -> Output {
    finsam_with(store, args, stdin, in_english)
}

/// Runs `finsam --store STORE ARGS…` in a locale set by `locale` ([`in_english`], [`swedish`]).
pub fn finsam_with(store: &Path, args: &[&str], stdin: &str, locale: fn(&mut Command) -> &mut Command) -> Output {
    let mut command = Command::new(FINSAM);
    // On the database (`FINSAM_TEST_DATABASE`): users of a service instance's folder are the
    // database's.
    // (`user` is the subcommand, after at most the global `--format FORMAT`.)
    if let (Some(url), true) = (instance_database(store), args.iter().take(3).any(|a| *a == "user")) {
        command.args(["--database", &url]);
    }
    let mut child = locale(&mut command)
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("FINSAM_STORE")
        .env_remove("FINSAM_ACTOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("finsam runs");
    // Written from a thread, so that a large input cannot dead-lock against a full stdout pipe;
    // a process that stops reading early (a refused batch) closes the pipe, which is fine.
    let mut pipe = child.stdin.take().expect("piped");
    let input = stdin.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        if let Err(e) = pipe.write_all(&input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    });
    let output = child.wait_with_output().expect("finsam finishes");
    writer.join().expect("the stdin writer finishes");
    output
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it differs.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "exit code\n--- stdout\n{}\n--- stderr\n{}", stdout(o), stderr(o));
}

/// A new store holding the given batches, each recorded as one `finsam record`.
pub fn store_with(dir: &TempDir, batches: &[&str]) -> PathBuf {
    let store = dir.store();
    assert_exit(&finsam(&store, &["init"], ""), 0);
    for batch in batches {
        assert_exit(&finsam(&store, &["record", "--as", "test", "-"], batch), 0);
    }
    store
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("fixtures").join(name)).expect("fixture exists")
}

/// The fixture event files, in recording order (by name).
pub fn fixture_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("fixtures"))
        .expect("fixtures/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    names.sort();
    names
}

/// The fixture texts up to and including the one whose name starts with `last` (e.g. "30").
pub fn fixtures_through(last: &str) -> Vec<String> {
    let names = fixture_files();
    let end = names.iter().position(|n| n.starts_with(last)).expect("a fixture with that prefix") + 1;
    names[..end].iter().map(|n| fixture(n)).collect()
}

/// A new store holding every fixture, one `finsam record` per file.
pub fn fixture_store(dir: &TempDir) -> PathBuf {
    let texts: Vec<String> = fixture_files().iter().map(|n| fixture(n)).collect();
    store_with(dir, &texts.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A store of `finsam generate`d books (`forbund` förbund over `years` years), and the events
/// as generated.
pub fn generated_store(dir: &TempDir, forbund: u32, years: u32, seed: u64) -> (PathBuf, String) {
    let store = dir.store();
    assert_exit(&finsam(&store, &["init"], ""), 0);
    let (forbund, years, seed) = (forbund.to_string(), years.to_string(), seed.to_string());
    let generated = finsam(&store, &["generate", "--forbund", &forbund, "--years", &years, "--seed", &seed], "");
    assert_exit(&generated, 0);
    let events = stdout(&generated);
    assert_exit(&finsam(&store, &["record", "--as", "t", "--batch-size", "10000", "-"], &events), 0);
    (store, events)
}

pub fn log_bytes(store: &Path) -> Vec<u8> {
    std::fs::read(store.join("log.jsonl")).expect("log exists")
}

/// The `log --format json` output, parsed.
pub fn log_json(store: &Path) -> Vec<serde_json::Value> {
    let o = finsam(store, &["log", "--format", "json"], "");
    assert_exit(&o, 0);
    serde_json::from_str::<Vec<serde_json::Value>>(&stdout(&o)).expect("log --format json is a JSON array")
}

/// A contribution to Samordningsförbundet Västmanland from `member`, as one JSON line.
pub fn contribution(member: &str, amount: &str, key: Option<&str>) -> String {
    let mut v = serde_json::json!({"type": "ContributionReceived", "forbund": "sf-vastmanland", "date": "2024-02-15",
        "member": member, "year": 2024, "amount": amount, "reference": format!("test {member} {amount}")});
    if let Some(k) = key {
        v["idempotency_key"] = k.into();
    }
    v.to_string()
}

/// Every file below `dir`.
pub fn list_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            list_files(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

/// Copies a folder with everything in it.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Lower-case hex, as the log writes hashes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every account's balance of a förbund as `finsam balances --format json` gives it.
pub fn account_balances(
    store: &Path,
    forbund: &str,
    as_of: &str,
) -> std::collections::BTreeMap<String, finsam_domain::Amount> {
    let o = finsam(store, &["balances", "--forbund", forbund, "--as-of", as_of, "--format", "json"], "");
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let balance = finsam_domain::Amount::parse(a["balance"].as_str().unwrap()).unwrap();
            (a["account"].as_str().unwrap().to_string(), balance)
        })
        .collect()
}

/// Writes the revisor's bundle of a förbund and year into `out` and checks it with nothing but
/// Python: the files against MANIFEST and every figure recomputed from the log. Returns what
/// the verifier printed.
pub fn bundle_checks_out(store: &Path, forbund: &str, year: i32, out: &Path) -> String {
    let o = finsam(
        store,
        &["audit", "bundle", "--forbund", forbund, "--year", &year.to_string(), out.to_str().unwrap()],
        "",
    );
    assert_exit(&o, 0);
    let check = Command::new("python3")
        .args(["events/verify_chain.py", "--manifest", "MANIFEST"])
        .current_dir(out)
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(check.status.success(), "the bundle of {forbund} {year} does not check out:\n{said}");
    said
}

/// Whether a test may go on with an outside tool (`present`). Where the tool is required — in
/// CI (`CI` is set there) or wherever `require` is set — a missing one fails the test instead
/// of letting it pass having checked nothing; elsewhere the test says it did not run.
pub fn tool_present(present: bool, program: &str, require: &str, install: &str) -> bool {
    let required = std::env::var_os(require).is_some() || std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    assert!(present || !required, "{program} is required here ({require} or CI is set) but does not run ({install})");
    if !present {
        eprintln!("{program} is not installed; this test did not run ({install})");
    }
    present
}

/// Whether the service's tests run on PostgreSQL (`FINSAM_TEST_DATABASE=1`, a second pass in
/// `.ci/run`): each server the tests start copies its folder into a database of its own
/// (`finsam store copy`) and serves with `--database`, the folder becoming its instance's copy.
pub fn on_database() -> bool {
    std::env::var("FINSAM_TEST_DATABASE").is_ok_and(|v| v == "1")
}

/// The database whose instance's folder this is, when the tests run on databases.
pub fn instance_database(store: &Path) -> Option<String> {
    if !on_database() {
        return None;
    }
    std::fs::read_to_string(store.join(finsam_store::MIRROR_FILE)).ok().map(|url| url.trim().to_string())
}

/// The database a server on `store` is to use when the tests run on databases: the one it
/// already mirrors, else a new one the folder is copied into.
pub fn database_for(store: &Path) -> Option<String> {
    if !on_database() {
        return None;
    }
    if let Some(url) = instance_database(store) {
        return Some(url);
    }
    let url = finsam_store::pg_cluster::cluster().database("suite");
    if store.join("log.jsonl").exists() {
        let o = Command::new(FINSAM)
            .args(["store", "copy"])
            .arg(store)
            .arg(&url)
            .env_remove("FINSAM_STORE")
            .output()
            .expect("finsam store copy runs");
        assert!(o.status.success(), "the folder copies into the database: {}", String::from_utf8_lossy(&o.stderr));
        // The folder becomes the instance's copy: the log stays; the derived state is rebuilt.
    }
    Some(url)
}
