//! The other files finsam reads and writes: input batches, chart files, and the revisor's
//! bundle. Kept here so that the store crate stays the only one that touches files.

use crate::envelope::{sha256_hex, Head};
use crate::error::StoreError;
use crate::log::scan_file;
use crate::store::LOG_FILE;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Reads at most `limit` bytes of a file (one more than an input may hold, so that the caller
/// can refuse an input that is too large without reading all of it).
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_end(&mut bytes))
        .map_err(|e| StoreError::io(path, "read", e))?;
    Ok(bytes)
}

/// A buffered reader of a file, for inputs read line by line (bulk recording).
pub fn open_reader(path: &Path) -> Result<Box<dyn std::io::BufRead>, StoreError> {
    let file = std::fs::File::open(path).map_err(|e| StoreError::io(path, "open", e))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, file)))
}

pub fn read_text(path: &Path) -> Result<String, StoreError> {
    std::fs::read_to_string(path).map_err(|e| StoreError::io(path, "read", e))
}

/// One file of a bundle, by its path inside the bundle.
pub struct BundleFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// What was written.
pub struct BundleWritten {
    pub files: Vec<(String, String)>,
}

/// Writes a revisor's bundle to `out`: the log up to `head`, the given files, `DIGEST` and a
/// `MANIFEST` of the SHA-256 of every file (sha256sum's format, sorted by path).
pub fn write_bundle(
    store: &Path,
    out: &Path,
    head: &Head,
    files: Vec<BundleFile>,
) -> Result<BundleWritten, StoreError> {
    if out.exists() {
        let empty =
            out.is_dir() && std::fs::read_dir(out).map_err(|e| StoreError::io(out, "read", e))?.next().is_none();
        if !empty {
            return Err(StoreError::Refused(format!(
                "{} exists and is not an empty folder; a bundle is written to a new one",
                out.display()
            )));
        }
    }
    let log = store.join(LOG_FILE);
    // The log up to the end of `head`: read exactly the acknowledged prefix the reports used.
    let mut end = 0u64;
    scan_file(&log, 0, Head::genesis(), 0, &mut |e, after| {
        if e.seq <= head.seq {
            end = after;
        }
        Ok(())
    })?;
    let log_bytes = read_limited(&log, end)?;
    let mut all = vec![BundleFile { path: "log.jsonl".into(), bytes: log_bytes }];
    all.extend(files);
    all.push(BundleFile { path: "DIGEST".into(), bytes: format!("{}:{}\n", head.seq, head.hash).into_bytes() });
    let mut manifest: Vec<(String, String)> = Vec::new();
    for f in &all {
        let path: PathBuf = out.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, "create", e))?;
        }
        std::fs::write(&path, &f.bytes).map_err(|e| StoreError::io(&path, "write", e))?;
        manifest.push((f.path.clone(), sha256_hex(&f.bytes)));
    }
    manifest.sort();
    let text: String = manifest.iter().map(|(p, h)| format!("{h}  {p}\n")).collect();
    let path = out.join("MANIFEST");
    std::fs::write(&path, text).map_err(|e| StoreError::io(&path, "write", e))?;
    Ok(BundleWritten { files: manifest })
}

/// The chart of accounts text for a förbund: `explicit`, else `STORE/charts/<forbund>.json`
/// when it exists; `None` means the built-in chart.
pub fn chart_text(
    store: &Path,
    forbund: &str,
    explicit: Option<&Path>,
) -> Result<Option<(PathBuf, String)>, StoreError> {
    let local = store.join("charts").join(format!("{forbund}.json"));
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if local.is_file() => local,
        None => return Ok(None),
    };
    let text = read_text(&path)?;
    Ok(Some((path, text)))
}

/// Writes a new file (an export); refuses to overwrite an existing one.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            StoreError::Refused(format!("{} exists already; an export is written to a new file", path.display()))
        } else {
            StoreError::io(path, "create", e)
        }
    })?;
    f.write_all(bytes).map_err(|e| StoreError::io(path, "write", e))
}
