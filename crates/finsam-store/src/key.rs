//! The key that seals derived state.
//!
//! Everything in `derived/` is a cache, and a cache that someone with write access to the store
//! folder can edit and reseal with a plain SHA-256 could steer a writer (a forged member, a
//! deleted idempotency key). So every derived file is sealed with HMAC-SHA-256 under a key that
//! is kept **outside** the store: `$FINSAM_KEY_FILE`, else `$XDG_CONFIG_HOME/finsam/derived.key`,
//! else `~/.config/finsam/derived.key` (created on first use, mode 0600). A derived file without
//! this key's seal is not used: the log is replayed instead, and a writer replaces it. Copying a
//! store to another machine (or opening it as another user) costs one replay, nothing else.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::OnceLock;

/// A 256-bit key.
pub struct Key([u8; 32]);

impl Key {
    /// The seal of `bytes`: HMAC-SHA-256, lower-case hex.
    pub fn seal(&self, bytes: &[u8]) -> String {
        let mut sealer = self.sealer();
        sealer.update(bytes);
        sealer.finish()
    }

    /// A seal taken piece by piece, for a body written as it is made (`Sealer::finish` gives
    /// what `seal` gives for the pieces together).
    pub fn sealer(&self) -> Sealer {
        Sealer(Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length"))
    }

    /// Whether `seal` is the seal of `bytes` (compared in constant time).
    pub fn verify(&self, bytes: &[u8], seal: &str) -> bool {
        let Some(tag) = unhex(seal) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(bytes);
        mac.verify_slice(&tag).is_ok()
    }

    #[cfg(test)]
    pub fn for_tests(byte: u8) -> Key {
        Key([byte; 32])
    }
}

/// A seal being taken (`Key::sealer`).
pub struct Sealer(Hmac<Sha256>);

impl Sealer {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// HMAC-SHA-256 of everything given, lower-case hex.
    pub fn finish(self) -> String {
        crate::envelope::hex(&self.0.finalize().into_bytes())
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..64).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// Where the key lives.
pub fn key_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FINSAM_KEY_FILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|p| !p.is_empty()).map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("finsam").join("derived.key"))
}

/// This user's key, read (or created) once per process. `Err` says why there is none; then
/// derived state is neither read nor written and every command replays the log.
pub fn machine_key() -> Result<&'static Key, &'static str> {
    static KEY: OnceLock<Result<Key, String>> = OnceLock::new();
    KEY.get_or_init(load_or_create).as_ref().map_err(String::as_str)
}

fn read_key(path: &std::path::Path) -> Result<Option<Key>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("could not read the derived-state key {}: {e}", path.display())),
    };
    let bytes = unhex(text.trim()).ok_or_else(|| {
        format!("the derived-state key {} is not 64 hex digits; remove it and a new one is made", path.display())
    })?;
    Ok(Some(Key(bytes.try_into().expect("32 bytes"))))
}

fn load_or_create() -> Result<Key, String> {
    let path = key_path().ok_or("no place for the derived-state key: set HOME or FINSAM_KEY_FILE")?;
    if let Some(key) = read_key(&path)? {
        return Ok(key);
    }
    let parent = path.parent().ok_or("the key file has no folder")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|e| format!("could not create {}: {e}", parent.display()))?;
    let mut key = [0u8; 32];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    // Written whole under a temporary name, then linked into place: two processes creating the
    // key at once both end up with the one that was linked first.
    let tmp = parent.join(format!(".derived.key.{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut f| f.write_all(format!("{}\n", crate::envelope::hex(&key)).as_bytes()).and(f.sync_all()));
    let linked = written.and_then(|_| std::fs::hard_link(&tmp, &path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(Key(key)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key(&path)?.ok_or_else(|| format!("the derived-state key {} vanished", path.display()))
        }
        Err(e) => Err(format!("could not create the derived-state key {}: {e}", path.display())),
    }
}
