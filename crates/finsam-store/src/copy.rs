//! `finsam store copy`: a store's log (and its underlag) from a folder into an empty PostgreSQL
//! database, or from a database into a new folder. Each side is verified as `audit verify`
//! does, the source before a byte is copied and the copy after; the log's bytes are the same
//! on both sides, so the chain, the digests and every report are too.

use crate::envelope::{Envelope, Head};
use crate::error::StoreError;
use crate::pg::{self, PgLines};
use crate::store::{init, Store, LOG_FILE};
use crate::verify::{verify, verify_database, VerifyReport};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use std::io::{BufRead, Read, Write};
use std::path::Path;

/// What was copied.
#[derive(Debug, Clone)]
pub struct CopyReport {
    pub events: u64,
    pub bytes: u64,
    pub head: Head,
    pub underlag: usize,
    /// Lines of `users.jsonl` (grants and revocations) copied.
    pub users: usize,
    /// The copy's own verification.
    pub verified: VerifyReport,
}

fn refuse_unless_sound(what: &str, report: &VerifyReport) -> Result<(), StoreError> {
    match report.problems.first() {
        None => Ok(()),
        Some((seq, problem)) => Err(StoreError::Refused(format!(
            "{what} does not verify (seq {seq}: {problem}); nothing was copied: run `finsam audit verify` on it"
        ))),
    }
}

fn copy_failed(database: &str, e: impl pg::Detail) -> StoreError {
    pg::failed(database, "cannot copy into it", e)
}

/// Copies the store in `dir` into the empty database at `url` in one transaction: the log's
/// lines up to its last complete batch, the idempotency keys, the head, the underlag.
pub fn folder_to_database(dir: &Path, url: &str) -> Result<CopyReport, StoreError> {
    let source = verify(dir, &[])?;
    refuse_unless_sound(&dir.display().to_string(), &source)?;
    let head = source.head.clone().unwrap_or_else(Head::genesis);
    let name = pg::label(url);
    let mut client = pg::connect(url)?;
    pg::migrate(&mut client, &name)?;
    let mut tx = client.transaction().map_err(|e| copy_failed(&name, e))?;
    let row = tx.query_one("SELECT seq FROM finsam_head FOR UPDATE", &[]).map_err(|e| copy_failed(&name, e))?;
    if row.get::<_, i64>(0) != 0 {
        return Err(StoreError::Database {
            database: name,
            action: "it holds a log already",
            detail: format!("head {}", row.get::<_, i64>(0)),
        });
    }
    let log = dir.join(LOG_FILE);
    let file = std::fs::File::open(&log).map_err(|e| StoreError::io(&log, "open", e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut keys: Vec<(String, String, i64)> = Vec::new();
    let mut bytes = 0u64;
    {
        let sink = tx
            .copy_in("COPY finsam_log (seq, line, hash, forbund) FROM STDIN (FORMAT binary)")
            .map_err(|e| copy_failed(&name, e))?;
        let mut writer = BinaryCopyInWriter::new(sink, &[Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT]);
        let mut line = Vec::new();
        for seq in 1..=head.seq {
            line.clear();
            reader.read_until(b'\n', &mut line).map_err(|e| StoreError::io(&log, "read", e))?;
            bytes += line.len() as u64;
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            // Verified above; read again here, so anything changed since is refused too.
            let e = Envelope::open(text).map_err(|p| StoreError::Damaged {
                path: log.clone(),
                line: seq,
                offset: bytes,
                problem: p.0,
            })?;
            if e.seq != seq {
                return Err(StoreError::Refused(format!("{}: line {seq} is seq {} now", log.display(), e.seq)));
            }
            let text = std::str::from_utf8(text).expect("a line that opens is UTF-8");
            let forbund = e.event.forbund.as_str();
            writer.write(&[&(seq as i64), &text, &e.hash.as_str(), &forbund]).map_err(|err| copy_failed(&name, err))?;
            if let Some(key) = e.event.idempotency_key {
                keys.push((forbund.to_string(), key, seq as i64));
            }
        }
        writer.finish().map_err(|e| copy_failed(&name, e))?;
    }
    {
        let sink = tx
            .copy_in("COPY finsam_keys (forbund, key, seq) FROM STDIN (FORMAT binary)")
            .map_err(|e| copy_failed(&name, e))?;
        let mut writer = BinaryCopyInWriter::new(sink, &[Type::TEXT, Type::TEXT, Type::INT8]);
        for (forbund, key, seq) in &keys {
            writer.write(&[forbund, key, seq]).map_err(|e| copy_failed(&name, e))?;
        }
        writer.finish().map_err(|e| copy_failed(&name, e))?;
    }
    let mut underlag = 0;
    for entry in std::fs::read_dir(dir.join(crate::underlag::UNDERLAG_DIR)).into_iter().flatten().flatten() {
        let Some(sha256) = entry.file_name().to_str().filter(|n| !n.starts_with('.')).map(str::to_string) else {
            continue;
        };
        let bytes = crate::underlag::read(dir, &sha256)?;
        tx.execute(
            "INSERT INTO finsam_underlag (sha256, size, bytes) VALUES ($1, $2, $3)",
            &[&sha256, &(bytes.len() as i64), &bytes],
        )
        .map_err(|e| copy_failed(&name, e))?;
        underlag += 1;
    }
    // The users, so that their tokens work on the service on the database.
    let users_file = dir.join(crate::access::USERS_FILE);
    let users = match std::fs::read_to_string(&users_file) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(StoreError::io(&users_file, "read", e)),
    };
    for line in &users {
        tx.execute("INSERT INTO finsam_users (line) VALUES ($1)", &[line]).map_err(|e| copy_failed(&name, e))?;
    }
    tx.execute("UPDATE finsam_head SET seq = $1, hash = $2", &[&(head.seq as i64), &head.hash])
        .map_err(|e| copy_failed(&name, e))?;
    tx.commit().map_err(|e| copy_failed(&name, e))?;
    let verified = verify_database(url, &[])?;
    refuse_unless_sound(&format!("the copy in {name}"), &verified)?;
    Ok(CopyReport { events: head.seq, bytes, head, underlag, users: users.len(), verified })
}

/// Copies the log in the database at `url` (up to its head when the copy begins) and its
/// underlag into a new store in `dir`, then builds the store's derived state and verifies it.
pub fn database_to_folder(url: &str, dir: &Path) -> Result<CopyReport, StoreError> {
    let source = verify_database(url, &[])?;
    refuse_unless_sound(&pg::label(url), &source)?;
    let head = source.head.clone().unwrap_or_else(Head::genesis);
    if dir.exists() && std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, "read", e))?.next().is_some() {
        return Err(StoreError::Refused(format!(
            "{} exists and is not empty; a copy is written to a new or empty folder",
            dir.display()
        )));
    }
    init(dir)?;
    let log = dir.join(LOG_FILE);
    let mut file = std::fs::OpenOptions::new().write(true).open(&log).map_err(|e| StoreError::io(&log, "open", e))?;
    let mut lines = std::io::BufReader::new(PgLines::new(url)?.up_to(head.seq));
    let bytes = std::io::copy(&mut lines, &mut file).map_err(|e| StoreError::io(&log, "write", e))?;
    file.flush().and_then(|_| file.sync_all()).map_err(|e| StoreError::io(&log, "sync", e))?;
    drop(file);
    let mut client = pg::connect(url)?;
    let kept = pg::underlag(&mut client, &pg::label(url))?;
    for (sha256, bytes) in &kept {
        let put = crate::underlag::put(dir, bytes)?;
        if put != *sha256 {
            return Err(StoreError::Refused(format!(
                "the database's underlag {sha256} holds other bytes (SHA-256 {put})"
            )));
        }
    }
    let users = pg::Directory::open(url)?.user_lines_after(0)?;
    crate::access::mirror_users(dir, |_| Ok(users.clone()))?;
    let (store, _) = Store::reindex(dir)?;
    drop(store);
    let verified = verify(dir, &[])?;
    refuse_unless_sound(&dir.display().to_string(), &verified)?;
    if verified.head.as_ref() != Some(&head) {
        return Err(StoreError::Refused(format!(
            "the copy in {} ends at {:?}, not at the database's {head}",
            dir.display(),
            verified.head
        )));
    }
    Ok(CopyReport { events: head.seq, bytes, head, underlag: kept.len(), users: users.len(), verified })
}

/// The log's bytes as a database holds them (for comparing a copy with its source).
pub fn database_log_bytes(url: &str) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    PgLines::new(url)?.read_to_end(&mut bytes).map_err(|e| StoreError::Database {
        database: pg::label(url),
        action: "cannot read the log",
        detail: e.to_string(),
    })?;
    Ok(bytes)
}
