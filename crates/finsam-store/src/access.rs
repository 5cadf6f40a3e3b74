//! Who may use a store through `finsam serve`, and what they did.
//!
//! `users.jsonl` — one line per grant or revocation of access, appended and fsynced, each with
//! who did it and when. A user's token is never stored: only its SHA-256.
//!
//! `access.jsonl` — one line per request the service answered: who, when, the route, the
//! förbund, the status, the seqs written. Hash-chained like the event log (each line's `hash`
//! is the SHA-256 of the line with `,"hash":"…"` cut out; `prev_hash` the previous line's), so
//! a revisor can verify that nothing was removed or changed.

use crate::error::StoreError;
use crate::GENESIS_HASH;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub const USERS_FILE: &str = "users.jsonl";
pub const ACCESS_FILE: &str = "access.jsonl";

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Registers förbund and manages users; reads and records everything.
    Admin,
    /// Records the events of its förbund and reads their books.
    Kansli,
    /// Reads, verifies, downloads bundles and exports of its förbund; records nothing.
    Revisor,
    /// Reads the books of its förbund (e.g. the board).
    Read,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "kansli" => Some(Role::Kansli),
            "revisor" => Some(Role::Revisor),
            "read" => Some(Role::Read),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Kansli => "kansli",
            Role::Revisor => "revisor",
            Role::Read => "read",
        }
    }
}

/// A user with access, as the grants and revocations leave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// The förbund the user's role applies to (empty for an admin: all of them).
    pub forbund: Vec<String>,
    token_sha256: String,
}

impl User {
    /// Whether the user's role covers this förbund.
    pub fn covers(&self, forbund: &str) -> bool {
        self.role == Role::Admin || self.forbund.iter().any(|f| f == forbund)
    }

    /// Whether the user may record events that touch this förbund's books: an admin, or the
    /// förbund's kansli. The one rule for every way in (the API, the web app's forms); what an
    /// event touches is `Ledger::touched`, checked by the store against the books as they stand
    /// when the event is written.
    pub fn may_record(&self, forbund: &str) -> bool {
        self.role == Role::Admin || (self.role == Role::Kansli && self.covers(forbund))
    }

    /// Whether the user may record in every one of these förbund.
    pub fn may_record_all(&self, forbund: &[String]) -> bool {
        forbund.iter().all(|f| self.may_record(f))
    }

    /// The grant this user's access comes from (the hash of its token): a new grant (a rotated
    /// token, or access given again after a revocation) is another grant, and a web session
    /// made under the old one ends.
    pub fn grant_id(&self) -> &str {
        &self.token_sha256
    }
}

/// The users in force: every grant not revoked since.
#[derive(Clone, Debug, Default)]
pub struct Users {
    by_name: BTreeMap<String, User>,
    /// The length and modification time of `users.jsonl` when it was read.
    stamp: Option<(u64, std::time::SystemTime)>,
}

fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Whether two secrets are equal, in time that does not depend on where they differ (subtle's
/// constant-time comparison; only the length may show).
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io { path: path.to_path_buf(), action: "use", source: e }
}

/// A file of access that finsam cannot read: named, with its line and what is wrong.
fn broken(path: &Path, what: String) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        action: "read",
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, what),
    }
}

fn now_utc() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Appends one line and makes it durable; a file it creates gets `mode`.
fn append_durably(path: &Path, line: &str, mode: u32) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| io(path, e))?;
    file.write_all(format!("{line}\n").as_bytes()).map_err(|e| io(path, e))?;
    file.sync_data().map_err(|e| io(path, e))
}

impl Users {
    /// The users of a store (none when no user was ever added).
    pub fn load(dir: &Path) -> Result<Users, StoreError> {
        let path = dir.join(USERS_FILE);
        let stamped = stamp(&path);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Users { stamp: stamped, ..Users::default() })
            }
            Err(e) => return Err(io(&path, e)),
        };
        let mut users = Users::from_lines(&path, BufReader::new(file).lines())?;
        users.stamp = stamped;
        Ok(users)
    }

    /// The users the lines of `users.jsonl` (`path`, for messages) grant access.
    pub fn from_lines(path: &Path, lines: impl Iterator<Item = std::io::Result<String>>) -> Result<Users, StoreError> {
        let mut users = Users::default();
        for (i, line) in lines.enumerate() {
            let line = line.map_err(|e| io(path, e))?;
            let bad = |what: &str| broken(path, format!("line {}: {what}", i + 1));
            let v: Value = serde_json::from_str(&line).map_err(|e| bad(&e.to_string()))?;
            let name = v["name"].as_str().ok_or_else(|| bad("no name"))?.to_string();
            match v["action"].as_str() {
                Some("grant") => {
                    let role = v["role"].as_str().and_then(Role::parse).ok_or_else(|| bad("no role"))?;
                    let forbund = v["forbund"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
                        .unwrap_or_default();
                    let token_sha256 = v["token_sha256"].as_str().ok_or_else(|| bad("no token hash"))?.to_string();
                    users.by_name.insert(name.clone(), User { name, role, forbund, token_sha256 });
                }
                Some("revoke") => {
                    users.by_name.remove(&name);
                }
                _ => return Err(bad("the action is neither grant nor revoke")),
            }
        }
        Ok(users)
    }

    /// Whether `users.jsonl` changed since it was read (a user added or revoked meanwhile).
    pub fn changed(&self, dir: &Path) -> bool {
        stamp(&dir.join(USERS_FILE)) != self.stamp
    }

    /// The user a bearer token belongs to. Every user's hash is compared, in constant time.
    pub fn authenticate(&self, token: &str) -> Option<&User> {
        let hash = sha256_hex(token.as_bytes());
        let mut found = None;
        for u in self.by_name.values() {
            if same_secret(&u.token_sha256, &hash) {
                found = Some(u);
            }
        }
        found
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.by_name.values()
    }
}

/// 256 random bits from the operating system's source, as 64 hex digits: tokens, session ids,
/// CSRF tokens. A failing random source is a broken machine: finsam stops rather than issue a
/// guessable secret.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    hex(&bytes)
}

/// Bytes as lower-case hex digits.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Grants access: records the grant (with who granted it, and when) and returns the token,
/// which is shown once and never stored. A user granted again gets a new token.
pub fn grant(dir: &Path, by: &str, name: &str, role: Role, forbund: &[String]) -> Result<String, StoreError> {
    let (token, line) = grant_line(by, name, role, forbund);
    append_durably(&dir.join(USERS_FILE), &line, 0o644)?;
    Ok(token)
}

/// A grant's line of `users.jsonl` (or of a database's `finsam_users`) and its new token.
pub fn grant_line(by: &str, name: &str, role: Role, forbund: &[String]) -> (String, String) {
    let token = format!("fs_{}", random_hex());
    let line = json!({"at": now_utc(), "by": by, "action": "grant", "name": name,
        "role": role.as_str(), "forbund": forbund, "token_sha256": sha256_hex(token.as_bytes())});
    (token, line.to_string())
}

/// Revokes a user's access, recording who did it and when.
pub fn revoke(dir: &Path, by: &str, name: &str) -> Result<(), StoreError> {
    append_durably(&dir.join(USERS_FILE), &revoke_line(by, name), 0o644)
}

/// A revocation's line.
pub fn revoke_line(by: &str, name: &str) -> String {
    json!({"at": now_utc(), "by": by, "action": "revoke", "name": name}).to_string()
}

/// Brings `users.jsonl` in `dir` up to the users a database keeps (an instance of a service on
/// PostgreSQL keeps a copy, which only this writes): `after(n)` gives the lines after the
/// first `n`. True when lines were added.
///
/// One at a time in the process: the copy is brought up to date by counting its lines, so two
/// at once (the service's mirror woken by a grant's notification, and a request with the new
/// token that the copy does not know yet) would both append the grant, and the copy, one line
/// longer than the database's users, would never take in the next line — a revocation.
pub fn mirror_users(
    dir: &Path,
    after: impl FnOnce(usize) -> Result<Vec<String>, StoreError>,
) -> Result<bool, StoreError> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A mirror that panicked left nothing half done that the next cannot see: it counts again.
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = dir.join(USERS_FILE);
    let have = match std::fs::read_to_string(&path) {
        Ok(text) => text.lines().count(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io(&path, e)),
    };
    let lines = after(have)?;
    for line in &lines {
        append_durably(&path, line, 0o644)?;
    }
    Ok(!lines.is_empty())
}

/// One request answered by the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub user: Option<String>,
    pub method: String,
    pub route: String,
    pub forbund: Option<String>,
    pub status: u16,
    pub seqs: Vec<u64>,
}

/// The access log, open for appending.
pub struct AccessLog {
    path: PathBuf,
    file: File,
    seq: u64,
    last_hash: String,
}

/// A line's hash: the SHA-256 of its bytes without the `hash` member.
fn line_hash(without_hash: &str) -> String {
    sha256_hex(without_hash.as_bytes())
}

impl AccessLog {
    /// Opens the access log, verifying the chain so far (a broken chain is refused: nothing is
    /// appended to a log that does not verify).
    pub fn open(dir: &Path) -> Result<AccessLog, StoreError> {
        let path = dir.join(ACCESS_FILE);
        let report = verify_access(dir)?;
        if let Some(problem) = report.problem {
            return Err(broken(&path, format!("{problem}; nothing is appended to it")));
        }
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io(&path, e))?;
        Ok(AccessLog { path, file, seq: report.lines, last_hash: report.head })
    }

    /// Appends one line (written at once; made durable by `sync`, which the service calls
    /// periodically and on stopping).
    pub fn append(&mut self, a: &Access) -> Result<u64, StoreError> {
        self.append_all(std::slice::from_ref(a))
    }

    /// Appends several lines with one write (a server's requests that finished together).
    /// Returns the seq of the last.
    pub fn append_all(&mut self, entries: &[Access]) -> Result<u64, StoreError> {
        let (mut seq, mut last_hash) = (self.seq, self.last_hash.clone());
        let at = now_utc();
        let mut text = String::new();
        for a in entries {
            seq += 1;
            let body = json!({"seq": seq, "at": at, "user": a.user, "method": a.method,
                "route": a.route, "forbund": a.forbund, "status": a.status, "seqs": a.seqs, "prev_hash": last_hash});
            let without = body.to_string();
            last_hash = line_hash(&without);
            text.push_str(&without[..without.len() - 1]);
            text.push_str(",\"hash\":\"");
            text.push_str(&last_hash);
            text.push_str("\"}\n");
        }
        self.file.write_all(text.as_bytes()).map_err(|e| io(&self.path, e))?;
        self.seq = seq;
        self.last_hash = last_hash;
        Ok(seq)
    }

    pub fn sync(&mut self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(|e| io(&self.path, e))
    }
}

/// What verifying the access log found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessReport {
    pub lines: u64,
    pub head: String,
    /// The first problem, if any: which line, and what.
    pub problem: Option<String>,
}

/// Verifies the access log's chain: seqs 1, 2, 3 …, each `prev_hash` the previous line's hash,
/// each `hash` the line's own.
pub fn verify_access(dir: &Path) -> Result<AccessReport, StoreError> {
    let path = dir.join(ACCESS_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(verify_access_lines(std::iter::empty())),
        Err(e) => return Err(io(&path, e)),
    };
    Ok(verify_access_lines(BufReader::new(file).lines()))
}

/// Verifies an access log's chain given its lines (a file's, or an instance's rows in a
/// database), as `verify_access`.
pub fn verify_access_lines(lines: impl Iterator<Item = std::io::Result<String>>) -> AccessReport {
    let mut report = AccessReport { lines: 0, head: GENESIS_HASH.to_string(), problem: None };
    for (i, line) in lines.enumerate() {
        let n = i as u64 + 1;
        let fail = |what: String| Some(format!("line {n}: {what}"));
        let Ok(line) = line else {
            report.problem = fail("not UTF-8".into());
            break;
        };
        let Some(cut) = line.rfind(",\"hash\":\"") else {
            report.problem = fail("no hash".into());
            break;
        };
        let without = format!("{}}}", &line[..cut]);
        let stated = line[cut + 9..].trim_end_matches("\"}");
        let v: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                report.problem = fail(format!("not JSON: {e}"));
                break;
            }
        };
        if v["seq"].as_u64() != Some(n) {
            report.problem = fail(format!("seq {} where {n} was due", v["seq"]));
            break;
        }
        if v["prev_hash"].as_str() != Some(report.head.as_str()) {
            report.problem = fail("its prev_hash is not the previous line's hash".into());
            break;
        }
        if line_hash(&without) != stated {
            report.problem = fail("its hash is not the hash of its contents (the line was changed)".into());
            break;
        }
        report.lines = n;
        report.head = stated.to_string();
    }
    report
}

/// What the access log gains, read from a line on: for copying it elsewhere (a database).
pub struct AccessTail {
    path: PathBuf,
    offset: u64,
}

impl AccessTail {
    /// Positioned after the first `lines` lines of `dir`'s access log, of which `last` (when
    /// given) must be the last: the copy elsewhere and this file are the same chain.
    pub fn after(dir: &Path, lines: u64, last: Option<&str>) -> Result<AccessTail, StoreError> {
        let path = dir.join(ACCESS_FILE);
        let mut offset = 0u64;
        if lines > 0 {
            let file = File::open(&path).map_err(|e| io(&path, e))?;
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            for n in 1..=lines {
                line.clear();
                let read = reader.read_line(&mut line).map_err(|e| io(&path, e))?;
                if read == 0 || !line.ends_with('\n') {
                    return Err(broken(&path, format!("has {} line(s) where its copy has {lines}", n - 1)));
                }
                offset += read as u64;
            }
            if last.is_some_and(|last| last != line.trim_end_matches('\n')) {
                return Err(broken(&path, format!("line {lines} is not the line its copy holds at {lines}")));
            }
        }
        Ok(AccessTail { path, offset })
    }

    /// The complete lines written since the last call (without their newlines).
    pub fn take(&mut self) -> Result<Vec<String>, StoreError> {
        use std::io::{Read, Seek};
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.offset == 0 => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.path, e)),
        };
        file.seek(std::io::SeekFrom::Start(self.offset)).map_err(|e| io(&self.path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io(&self.path, e))?;
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            return Ok(Vec::new());
        };
        let text = std::str::from_utf8(&bytes[..end]).map_err(|e| broken(&self.path, format!("not UTF-8: {e}")))?;
        self.offset += end as u64 + 1;
        Ok(text.split('\n').map(str::to_string).collect())
    }
}

/// The file naming this folder's service instance (for its access log in a database).
pub const INSTANCE_FILE: &str = "instance";

/// The name of the service instance whose folder this is: the machine's name and a random
/// part, made on the first start and kept in `instance`, so that the instance's access log in
/// a database continues its own chain across restarts.
pub fn instance_name(dir: &Path) -> Result<String, StoreError> {
    let path = dir.join(INSTANCE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(name) if !name.trim().is_empty() => return Ok(name.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&path, e)),
    }
    let mut host = [0u8; 256];
    // SAFETY: gethostname writes at most `host.len()` bytes into the buffer it is given.
    let host = if unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len()) } == 0 {
        let end = host.iter().position(|b| *b == 0).unwrap_or(host.len());
        String::from_utf8_lossy(&host[..end]).into_owned()
    } else {
        "finsam".to_string()
    };
    let name = format!("{host}-{}", &random_hex()[..8]);
    crate::index::replace_file(&path, |out| out.write_all(format!("{name}\n").as_bytes())).map_err(|e| io(&path, e))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("finsam-access-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Two mirrors at once (a grant's notification and a request with the new token) copy the
    /// database's lines once, so the revocation that follows is taken in too.
    #[test]
    fn two_mirrors_at_once_copy_each_line_once_and_the_revocation_after_them() {
        let dir = dir("mirror");
        let (_, grant_admin) = grant_line("test", "admin", Role::Admin, &[]);
        let (anna, grant_anna) = grant_line("test", "anna", Role::Kansli, &["sf-vastmanland".to_string()]);
        let mut database = vec![grant_admin, grant_anna];
        let after = |lines: &[String], n: usize| {
            // Slow enough for the other mirror to count the copy's lines meanwhile.
            std::thread::sleep(std::time::Duration::from_millis(50));
            Ok(lines[n.min(lines.len())..].to_vec())
        };
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| mirror_users(&dir, |n| after(&database, n)).unwrap());
            }
        });
        let copy = std::fs::read_to_string(dir.join(USERS_FILE)).unwrap();
        assert_eq!(copy.lines().collect::<Vec<_>>(), database, "each line once");
        database.push(revoke_line("test", "anna"));
        assert!(mirror_users(&dir, |n| after(&database, n)).unwrap());
        assert!(Users::load(&dir).unwrap().authenticate(&anna).is_none(), "the revocation counts");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_token_authenticates_its_user_until_revoked_and_only_its_hash_is_kept() {
        let d = dir("users");
        let token = grant(&d, "admin", "anna", Role::Kansli, &["sf-vastmanland".into()]).unwrap();
        let users = Users::load(&d).unwrap();
        let anna = users.authenticate(&token).unwrap();
        assert_eq!((anna.name.as_str(), anna.role), ("anna", Role::Kansli));
        assert!(anna.covers("sf-vastmanland") && !anna.covers("sf-vasteras"));
        assert!(users.authenticate("fs_wrong").is_none());
        let kept = std::fs::read_to_string(d.join(USERS_FILE)).unwrap();
        assert!(!kept.contains(&token) && kept.contains("\"by\":\"admin\""), "{kept}");
        revoke(&d, "admin", "anna").unwrap();
        assert!(Users::load(&d).unwrap().authenticate(&token).is_none());
    }

    #[test]
    fn the_access_log_is_a_chain_and_a_changed_line_breaks_it() {
        let d = dir("chain");
        let mut log = AccessLog::open(&d).unwrap();
        for status in [200, 403, 201] {
            let a = Access {
                user: Some("anna".into()),
                method: "GET".into(),
                route: "/api/v1/forbund/{id}/balances".into(),
                forbund: Some("sf-vastmanland".into()),
                status,
                seqs: vec![],
            };
            log.append(&a).unwrap();
        }
        log.sync().unwrap();
        drop(log);
        let r = verify_access(&d).unwrap();
        assert_eq!((r.lines, r.problem.clone()), (3, None));
        // Reopened, it goes on from the head.
        let mut log = AccessLog::open(&d).unwrap();
        log.append(&Access {
            user: None,
            method: "GET".into(),
            route: "/healthz".into(),
            forbund: None,
            status: 200,
            seqs: vec![],
        })
        .unwrap();
        drop(log);
        assert_eq!(verify_access(&d).unwrap().lines, 4);
        let text = std::fs::read_to_string(d.join(ACCESS_FILE)).unwrap();
        std::fs::write(d.join(ACCESS_FILE), text.replacen("\"status\":403", "\"status\":200", 1)).unwrap();
        let r = verify_access(&d).unwrap();
        assert!(r.problem.as_deref().is_some_and(|p| p.starts_with("line 2:")), "{r:?}");
        assert!(AccessLog::open(&d).is_err(), "nothing is appended to a broken chain");
    }
}

/// The web app's sessions, kept so that a restart of the service signs nobody out.
pub const SESSIONS_FILE: &str = "sessions.jsonl";

/// A signed-in session as kept: the SHA-256 of its id (the cookie's value is never stored), the
/// user and the grant it was made under, its CSRF token and when it began (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    pub id_sha256: String,
    pub user: String,
    pub grant: String,
    pub csrf: String,
    pub started: u64,
}

/// The SHA-256 of a session id, as sessions are kept and looked up.
pub fn session_key(id: &str) -> String {
    sha256_hex(id.as_bytes())
}

/// Keeps a new session (one line, made durable before the cookie is given out).
pub fn session_begun(dir: &Path, s: &StoredSession) -> Result<(), StoreError> {
    append_durably(&dir.join(SESSIONS_FILE), &begin_line(s), 0o600)
}

/// A session's `begin` line.
pub fn begin_line(s: &StoredSession) -> String {
    json!({"action": "begin", "id_sha256": s.id_sha256, "user": s.user, "grant": s.grant,
        "csrf": s.csrf, "started": s.started})
    .to_string()
}

/// The session a `begin` line keeps, or what it lacks.
pub fn session_of(v: &Value) -> Result<StoredSession, String> {
    let text = |k: &str| v[k].as_str().map(str::to_string).ok_or_else(|| format!("no {k}"));
    Ok(StoredSession {
        id_sha256: text("id_sha256")?,
        user: text("user")?,
        grant: text("grant")?,
        csrf: text("csrf")?,
        started: v["started"].as_u64().ok_or("no start")?,
    })
}

/// Ends a session (signed out): it is not valid after a restart either.
pub fn session_ended(dir: &Path, id_sha256: &str) -> Result<(), StoreError> {
    append_durably(&dir.join(SESSIONS_FILE), &json!({"action": "end", "id_sha256": id_sha256}).to_string(), 0o600)
}

/// The sessions still open at `now` (Unix seconds) that began less than `lifetime` seconds ago;
/// the file is rewritten with just those (a new file, synced, renamed over the old), so that it
/// does not grow without end. A line that cannot be read is a damaged file: refused, named.
pub fn sessions_open(dir: &Path, now: u64, lifetime: u64) -> Result<Vec<StoredSession>, StoreError> {
    let path = dir.join(SESSIONS_FILE);
    let file = match crate::index::open_regular(&path, 64 << 20) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&path, e)),
    };
    let mut open: BTreeMap<String, StoredSession> = BTreeMap::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| io(&path, e))?;
        let bad = |what: &str| broken(&path, format!("line {}: {what}", i + 1));
        let v: Value = serde_json::from_str(&line).map_err(|e| bad(&e.to_string()))?;
        let text = |k: &str| v[k].as_str().map(str::to_string).ok_or_else(|| bad(&format!("no {k}")));
        let key = text("id_sha256")?;
        match v["action"].as_str() {
            Some("begin") => {
                open.insert(key, session_of(&v).map_err(|what| bad(&what))?);
            }
            Some("end") => {
                open.remove(&key);
            }
            _ => return Err(bad("the action is neither begin nor end")),
        }
    }
    let live: Vec<StoredSession> =
        open.into_values().filter(|s| s.started <= now && now - s.started < lifetime).collect();
    let tmp = dir.join(format!("{SESSIONS_FILE}.tmp"));
    let mut text = String::new();
    for s in &live {
        text.push_str(&begin_line(s));
        text.push('\n');
    }
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(|e| io(&tmp, e))?;
        f.write_all(text.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    Ok(live)
}
