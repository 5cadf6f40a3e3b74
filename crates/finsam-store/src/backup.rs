//! Backup and restore of a store's own records, while `finsam serve` writes to it.
//!
//! A backup is a folder with the log up to its last durable, complete batch, the users and the
//! access log up to their last whole line, every underlag file (checked against its name, its
//! SHA-256), and the förbund's settings (`charts/`, `ceilings/`, `mappings/`), with
//! `backup.json` naming every file's length and SHA-256 and the log's head. Derived state and
//! sessions are not copied: a restored store rebuilds the one from its log, and its users sign
//! in again. The backup reads without the writer lock: the log and the two other logs only grow,
//! and every settings file is replaced whole by a rename. It is written to a hidden folder
//! beside the target and renamed into place when whole, so that a folder named as a backup is
//! always a whole one.
//!
//! `restore` checks every file against `backup.json`, installs them in a hidden folder beside
//! the new store, verifies that store as `audit verify` does (the whole chain, every line's
//! canonical form, the ledger's rules, the head `backup.json` names) and the access log's chain,
//! and only then renames it into place.

use crate::access::{verify_access, Users, ACCESS_FILE, USERS_FILE};
use crate::envelope::Head;
use crate::error::StoreError;
use crate::log::scan_file;
use crate::store::LOG_FILE;
use crate::underlag::{sha256, UNDERLAG_DIR};
use crate::verify::{verify, Digest};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The file in a backup that names everything in it.
pub const MANIFEST_FILE: &str = "backup.json";
/// The folders of per-förbund settings a store may hold (each file replaced whole when changed).
pub const SETTINGS_DIRS: [&str; 3] = ["charts", "ceilings", "mappings"];
const FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The backup's format (1).
    pub finsam_backup: u32,
    /// When the backup was made, UTC.
    pub created_at: String,
    /// The log's head in the backup: its last event's seq and hash.
    pub head: ManifestHead,
    /// Every file of the backup but this one, by path within the backup, in order.
    pub files: Vec<ManifestFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestHead {
    pub seq: u64,
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What a backup holds, and what it left out of the store's files.
#[derive(Debug)]
pub struct BackupReport {
    pub manifest: Manifest,
    /// Bytes at the end of the log that were not a durable, complete batch when it was read (a
    /// batch being written): left out, as a reader of the store leaves them out.
    pub log_bytes_left_out: u64,
}

/// What a restore installed.
#[derive(Debug)]
pub struct RestoreReport {
    pub manifest: Manifest,
    /// Events verified (as `audit verify` does).
    pub events: u64,
}

fn refused(sv: String, en: String) -> StoreError {
    StoreError::Backup { sv, en, damaged: false }
}

fn damaged(sv: String, en: String) -> StoreError {
    StoreError::Backup { sv, en, damaged: true }
}

/// A hidden folder beside `target`, for writing what is then renamed to `target`.
fn staging(target: &Path, what: &str) -> Result<PathBuf, StoreError> {
    let name = target.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        refused(
            format!("{} är inget namn på en mapp", target.display()),
            format!("{} does not name a folder", target.display()),
        )
    })?;
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(parent.join(format!(".{name}.{what}-{}", std::process::id())))
}

/// Whether `dir` is missing or an empty folder.
fn free(dir: &Path) -> Result<bool, StoreError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(StoreError::io(dir, "read", e)),
    }
}

/// Writes `bytes` to `path` (a new file) and syncs it; its manifest entry, named `name`.
fn write_synced(path: &Path, name: &str, bytes: &[u8]) -> Result<ManifestFile, StoreError> {
    let mut f = File::create_new(path).map_err(|e| StoreError::io(path, "create", e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| StoreError::io(path, "write", e))?;
    Ok(ManifestFile { path: name.to_string(), bytes: bytes.len() as u64, sha256: sha256(bytes) })
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(dir, "sync the directory", e))
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, "create the directory", e))
}

/// An append-only file of lines up to its last whole line (none when it does not exist).
fn whole_lines(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match std::fs::read(path) {
        Ok(mut bytes) => {
            bytes.truncate(bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1));
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(path, "read", e)),
    }
}

/// The plain files of a folder (hidden ones, being written, aside), by name, in order.
fn files_in(dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir, "read", e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, "read", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let plain = entry.file_type().map_err(|e| StoreError::io(entry.path(), "stat", e))?.is_file();
        if plain && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Makes a backup of the store in `store` as the folder `to` (which must not exist, or be
/// empty).
pub fn backup(store: &Path, to: &Path) -> Result<BackupReport, StoreError> {
    if !store.join(LOG_FILE).is_file() {
        return Err(StoreError::NotAStore { dir: store.to_path_buf() });
    }
    let refusal = |to: &Path| {
        refused(
            format!("{} finns redan och är inte tom: en säkerhetskopia skrivs till en ny mapp", to.display()),
            format!("{} exists and is not empty: a backup is written to a new folder", to.display()),
        )
    };
    into_new_folder(to, "backup", refusal, |stage| write_backup(store, stage))
}

/// Makes the new folder `to` (which must be missing or empty, else `refusal`) by `work` in a
/// hidden folder beside it, renamed into place when `work` succeeds and removed when it fails:
/// a folder with the name is always whole.
fn into_new_folder<T>(
    to: &Path,
    what: &str,
    refusal: impl FnOnce(&Path) -> StoreError,
    work: impl FnOnce(&Path) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if !free(to)? {
        return Err(refusal(to));
    }
    let stage = staging(to, what)?;
    let _ = std::fs::remove_dir_all(&stage);
    create_dir(&stage)?;
    match work(&stage).and_then(|done| sync_dir(&stage).map(|_| done)) {
        Ok(done) => {
            let _ = std::fs::remove_dir(to);
            std::fs::rename(&stage, to).map_err(|e| StoreError::io(to, "rename", e))?;
            sync_dir(to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
            Ok(done)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&stage);
            Err(e)
        }
    }
}

fn write_backup(store: &Path, stage: &Path) -> Result<BackupReport, StoreError> {
    let mut files = Vec::new();
    // The log: its length read, then synced, so that every byte up to that length is durable;
    // copied (streamed: a national log is half a gigabyte), then cut after its last complete
    // batch, every line strictly decoded and its chain followed.
    let log = store.join(LOG_FILE);
    let source = File::open(&log).map_err(|e| StoreError::io(&log, "open", e))?;
    let len = source.metadata().map_err(|e| StoreError::io(&log, "stat", e))?.len();
    source.sync_all().map_err(|e| StoreError::io(&log, "sync", e))?;
    let copy = stage.join(LOG_FILE);
    let mut written = File::create_new(&copy).map_err(|e| StoreError::io(&copy, "create", e))?;
    let copied =
        std::io::copy(&mut (&source).take(len), &mut written).map_err(|e| StoreError::io(&copy, "write", e))?;
    if copied != len {
        return Err(StoreError::io(&log, "read", std::io::Error::from(std::io::ErrorKind::UnexpectedEof)));
    }
    let end = scan_file(&copy, 0, Head::genesis(), 1, &mut |_, _| Ok(())).map_err(|e| match e {
        StoreError::Damaged { line, offset, problem, .. } => {
            StoreError::Damaged { path: log.clone(), line, offset, problem }
        }
        other => other,
    })?;
    written.set_len(end.valid_len).and_then(|_| written.sync_all()).map_err(|e| StoreError::io(&copy, "write", e))?;
    let mut digest = Sha256::new();
    std::io::copy(&mut File::open(&copy).map_err(|e| StoreError::io(&copy, "open", e))?, &mut digest)
        .map_err(|e| StoreError::io(&copy, "read", e))?;
    let log_sha256 = crate::envelope::hex(&digest.finalize());
    files.push(ManifestFile { path: LOG_FILE.into(), bytes: end.valid_len, sha256: log_sha256 });
    let left_out = len - end.valid_len;
    // The users and the access log, up to their last whole line; each must read back as it
    // does in a store.
    for name in [USERS_FILE, ACCESS_FILE] {
        if let Some(bytes) = whole_lines(&store.join(name))? {
            files.push(write_synced(&stage.join(name), name, &bytes)?);
        }
    }
    Users::load(stage)?;
    let access = verify_access(stage)?;
    if let Some(problem) = access.problem {
        return Err(damaged(
            format!("åtkomstloggen i {} håller inte: {problem}", store.display()),
            format!("the access log of {} does not hold: {problem}", store.display()),
        ));
    }
    // The underlag, each checked against its name, and the settings.
    for dir in std::iter::once(UNDERLAG_DIR).chain(SETTINGS_DIRS) {
        let names = files_in(&store.join(dir))?;
        if names.is_empty() {
            continue;
        }
        create_dir(&stage.join(dir))?;
        for name in names {
            let from = store.join(dir).join(&name);
            let bytes = std::fs::read(&from).map_err(|e| StoreError::io(&from, "read", e))?;
            if dir == UNDERLAG_DIR && sha256(&bytes) != name {
                return Err(damaged(
                    format!("underlaget {} har inte det innehåll dess namn (dess SHA-256) anger", from.display()),
                    format!("the underlag {} does not hold what its name (its SHA-256) says", from.display()),
                ));
            }
            files.push(write_synced(&stage.join(dir).join(&name), &format!("{dir}/{name}"), &bytes)?);
        }
        sync_dir(&stage.join(dir))?;
    }
    let manifest = Manifest {
        finsam_backup: FORMAT,
        created_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        head: ManifestHead { seq: end.head.seq, hash: end.head.hash.clone() },
        files,
    };
    let text = serde_json::to_string_pretty(&manifest).expect("a manifest serialises") + "\n";
    write_synced(&stage.join(MANIFEST_FILE), MANIFEST_FILE, text.as_bytes())?;
    Ok(BackupReport { manifest, log_bytes_left_out: left_out })
}

/// Reads a backup's manifest and checks every file it names (and that it holds no other).
pub fn check_backup(from: &Path) -> Result<Manifest, StoreError> {
    let path = from.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refused(
                format!("{} är ingen hel säkerhetskopia: {MANIFEST_FILE} saknas", from.display()),
                format!("{} is not a whole backup: {MANIFEST_FILE} is missing", from.display()),
            ))
        }
        Err(e) => return Err(StoreError::io(&path, "read", e)),
    };
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        damaged(format!("{} kan inte läsas: {e}", path.display()), format!("{} cannot be read: {e}", path.display()))
    })?;
    if manifest.finsam_backup != FORMAT {
        return Err(refused(
            format!("{} har format {}; den här finsam läser format {FORMAT}", path.display(), manifest.finsam_backup),
            format!("{} has format {}; this finsam reads format {FORMAT}", path.display(), manifest.finsam_backup),
        ));
    }
    let mut listed = std::collections::BTreeSet::new();
    for f in &manifest.files {
        let safe = !f.path.is_empty()
            && Path::new(&f.path).components().all(|c| matches!(c, std::path::Component::Normal(_)))
            && f.path.split('/').count() <= 2;
        if !safe || f.path == MANIFEST_FILE {
            return Err(damaged(
                format!("{} namnger filen {:?}, som inte hör till en säkerhetskopia", path.display(), f.path),
                format!("{} names the file {:?}, which is not part of a backup", path.display(), f.path),
            ));
        }
        let file = from.join(&f.path);
        let bytes = std::fs::read(&file).map_err(|e| {
            damaged(
                format!("{} saknas eller kan inte läsas: {e}", file.display()),
                format!("{} is missing or unreadable: {e}", file.display()),
            )
        })?;
        if bytes.len() as u64 != f.bytes || sha256(&bytes) != f.sha256 {
            return Err(damaged(
                format!(
                    "{} är ändrad: {} byte med SHA-256 {}, men {MANIFEST_FILE} anger {} byte med SHA-256 {}",
                    file.display(),
                    bytes.len(),
                    sha256(&bytes),
                    f.bytes,
                    f.sha256
                ),
                format!(
                    "{} was changed: {} bytes with SHA-256 {}, but {MANIFEST_FILE} says {} bytes with SHA-256 {}",
                    file.display(),
                    bytes.len(),
                    sha256(&bytes),
                    f.bytes,
                    f.sha256
                ),
            ));
        }
        listed.insert(f.path.clone());
    }
    if !listed.contains(LOG_FILE) {
        return Err(damaged(
            format!("{} namnger ingen logg ({LOG_FILE})", path.display()),
            format!("{} names no log ({LOG_FILE})", path.display()),
        ));
    }
    // Nothing beside what is listed: a file added to a backup is not restored unnoticed.
    for dir in [""].into_iter().chain(std::iter::once(UNDERLAG_DIR)).chain(SETTINGS_DIRS) {
        for name in files_in(&from.join(dir))? {
            let rel = if dir.is_empty() { name } else { format!("{dir}/{name}") };
            if rel != MANIFEST_FILE && !listed.contains(&rel) {
                return Err(damaged(
                    format!("{} innehåller {rel}, som {MANIFEST_FILE} inte namnger", from.display()),
                    format!("{} holds {rel}, which {MANIFEST_FILE} does not name", from.display()),
                ));
            }
        }
    }
    Ok(manifest)
}

/// Installs the backup in `from` as a new store in `to` (missing, or an empty folder), after
/// checking every file and verifying the store it makes. Builds no derived state: the caller
/// opens the store (`Store::reindex`) for that.
pub fn restore(from: &Path, to: &Path) -> Result<RestoreReport, StoreError> {
    let manifest = check_backup(from)?;
    let refusal = |to: &Path| {
        refused(
            format!("{} finns redan och är inte tom: en säkerhetskopia återställs till en ny mapp", to.display()),
            format!("{} exists and is not empty: a backup is restored to a new folder", to.display()),
        )
    };
    let events = into_new_folder(to, "restore", refusal, |stage| {
        let mut folders = std::collections::BTreeSet::new();
        for f in &manifest.files {
            let target = stage.join(&f.path);
            if let Some(dir) = target.parent().filter(|d| *d != stage) {
                create_dir(dir)?;
                folders.insert(dir.to_path_buf());
            }
            let bytes = std::fs::read(from.join(&f.path)).map_err(|e| StoreError::io(from.join(&f.path), "read", e))?;
            write_synced(&target, &f.path, &bytes)?;
        }
        for dir in &folders {
            sync_dir(dir)?;
        }
        let digest = Digest { seq: manifest.head.seq, hash: manifest.head.hash.clone() };
        let digests = if manifest.head.seq == 0 { Vec::new() } else { vec![digest] };
        let report = verify(stage, &digests)?;
        let head = report.head.as_ref().map_or(0, |h| h.seq);
        if !report.ok() || head != manifest.head.seq {
            let problems: Vec<String> = report.problems.iter().take(5).map(|(_, p)| p.clone()).collect();
            let why = if problems.is_empty() {
                format!("its head is {head}, not {} as {MANIFEST_FILE} says", manifest.head.seq)
            } else {
                problems.join("; ")
            };
            return Err(damaged(
                format!("loggen i {} håller inte vid verifieringen: {why}", from.display()),
                format!("the log in {} does not verify: {why}", from.display()),
            ));
        }
        if let Some(problem) = verify_access(stage)?.problem {
            return Err(damaged(
                format!("åtkomstloggen i {} håller inte: {problem}", from.display()),
                format!("the access log in {} does not hold: {problem}", from.display()),
            ));
        }
        Users::load(stage)?;
        Ok(report.events)
    })?;
    Ok(RestoreReport { manifest, events })
}
