//! Underlag: the files attached to events (the invoice, the minutes, the bank file an import
//! read), kept under `STORE/underlag/<sha256>` — named by their content, written once, never
//! changed. An `UnderlagAttached` event names the hash, so the chain covers the bytes; a file
//! is read back only if its bytes still hash to its name.

use crate::error::StoreError;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const UNDERLAG_DIR: &str = "underlag";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of bytes, as the event names it.
pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn path_of(store: &Path, sha256: &str) -> Result<PathBuf, StoreError> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(StoreError::Refused(format!("{sha256:?} is not a SHA-256 (64 lower-case hex digits)")));
    }
    Ok(store.join(UNDERLAG_DIR).join(sha256))
}

/// Keeps a file's bytes in the store under their SHA-256 (durably: written to a temporary
/// file, fsynced, renamed, the folder fsynced) and returns the hash. A file already kept is
/// not written again.
pub fn put(store: &Path, bytes: &[u8]) -> Result<String, StoreError> {
    let hash = sha256(bytes);
    let path = path_of(store, &hash)?;
    if read(store, &hash).is_ok() {
        return Ok(hash);
    }
    let dir = store.join(UNDERLAG_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, "create", e))?;
    let tmp = dir.join(format!(".{hash}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(|e| StoreError::io(&tmp, "create", e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| StoreError::io(&tmp, "write", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, "rename", e))?;
    std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| StoreError::io(&dir, "sync", e))?;
    Ok(hash)
}

/// A kept file's bytes, checked against the hash that names them.
pub fn read(store: &Path, sha256: &str) -> Result<Vec<u8>, StoreError> {
    let path = path_of(store, sha256)?;
    let bytes = crate::files::read_limited(&path, finsam_domain::event::ATTACHMENT_BYTES_MAX + 1)?;
    let actual = self::sha256(&bytes);
    if actual != sha256 {
        return Err(StoreError::Refused(format!(
            "underlag {} has changed: its bytes hash to {actual}, not to its name",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Whether a file is kept with this hash and size (its bytes checked).
pub fn has(store: &Path, sha256: &str, size: u64) -> bool {
    read(store, sha256).is_ok_and(|b| b.len() as u64 == size)
}

/// Whether a file is kept under this hash (not read: `read` checks its bytes when it is used).
pub fn kept(store: &Path, sha256: &str) -> bool {
    path_of(store, sha256).is_ok_and(|p| p.is_file())
}
