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

/// The largest chart of accounts finsam reads (a real one is a few kilobytes).
pub const CHART_BYTES_MAX: u64 = 1 << 20;

/// Reads a text file of at most `limit` bytes; a larger one (or `/dev/zero`) is refused after
/// reading `limit + 1` bytes, never read to its end.
pub fn read_text(path: &Path, limit: u64) -> Result<String, StoreError> {
    let bytes = read_limited(path, limit + 1)?;
    if bytes.len() as u64 > limit {
        return Err(StoreError::Refused(format!(
            "{} is larger than the limit of {limit} bytes for this kind of file",
            path.display()
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        StoreError::Refused(format!("{} is not UTF-8 text (byte {})", path.display(), e.utf8_error().valid_up_to()))
    })
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

/// A revisor's bundle, complete: the log up to `head`, the given files, `DIGEST`, and last a
/// `MANIFEST` of the SHA-256 of every other file (sha256sum's format, sorted by path).
pub fn bundle_contents(store: &Path, head: &Head, files: Vec<BundleFile>) -> Result<Vec<BundleFile>, StoreError> {
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
    let mut manifest: Vec<(String, String)> = all.iter().map(|f| (f.path.clone(), sha256_hex(&f.bytes))).collect();
    manifest.sort();
    let text: String = manifest.iter().map(|(p, h)| format!("{h}  {p}\n")).collect();
    all.push(BundleFile { path: "MANIFEST".into(), bytes: text.into_bytes() });
    Ok(all)
}

/// Writes a revisor's bundle (see `bundle_contents`) to the folder `out`, new or empty.
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
    let all = bundle_contents(store, head, files)?;
    match std::fs::create_dir(out) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(StoreError::io(out, "create", e)),
        _ => {}
    }
    if !std::fs::symlink_metadata(out).is_ok_and(|m| m.is_dir()) {
        return Err(StoreError::Refused(format!("{} is not a folder of its own", out.display())));
    }
    let mut written: Vec<(String, String)> = Vec::new();
    for f in &all {
        let path: PathBuf = out.join(&f.path);
        if let Some(parent) = path.parent() {
            create_dirs_inside(out, parent)?;
        }
        write_new(&path, &f.bytes)?;
        if f.path != "MANIFEST" {
            written.push((f.path.clone(), sha256_hex(&f.bytes)));
        }
    }
    written.sort();
    Ok(BundleWritten { files: written })
}

/// A revisor's bundle (see `bundle_contents`) as one zip file, under the folder `top`: the same
/// files, byte for byte, as `write_bundle` writes. The same log gives the same zip, byte for
/// byte (every file dated 1980-01-01, the zip format's first day).
pub fn zip_bundle(store: &Path, top: &str, head: &Head, files: Vec<BundleFile>) -> Result<Vec<u8>, StoreError> {
    use std::io::Write;
    let all = bundle_contents(store, head, files)?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let failed = |e: String| StoreError::Refused(format!("the bundle could not be zipped: {e}"));
    for f in &all {
        zip.start_file(format!("{top}/{}", f.path), options).map_err(|e| failed(e.to_string()))?;
        zip.write_all(&f.bytes).map_err(|e| failed(e.to_string()))?;
    }
    Ok(zip.finish().map_err(|e| failed(e.to_string()))?.into_inner())
}

/// The chart of accounts text for a förbund: `explicit`, else `STORE/charts/<forbund>.json`
/// when it exists; `None` means the built-in chart.
pub fn chart_text(
    store: &Path,
    forbund: &str,
    explicit: Option<&Path>,
) -> Result<Option<(PathBuf, String)>, StoreError> {
    forbund_file_text(store, "charts", forbund, explicit)
}

/// The text of a förbund's equity ceiling rule: `explicit` if given, else
/// `STORE/ceilings/<forbund>.json` if there is one, else `None` (the built-in rule).
pub fn ceiling_rule_text(
    store: &Path,
    forbund: &str,
    explicit: Option<&Path>,
) -> Result<Option<(PathBuf, String)>, StoreError> {
    forbund_file_text(store, "ceilings", forbund, explicit)
}

/// A förbund's SIE account mapping (program account → finsam account): `explicit` if given,
/// else `STORE/mappings/<forbund>.json`, the one confirmed by the last import that used one.
pub fn mapping_text(
    store: &Path,
    forbund: &str,
    explicit: Option<&Path>,
) -> Result<Option<(PathBuf, String)>, StoreError> {
    forbund_file_text(store, "mappings", forbund, explicit)
}

/// Keeps a förbund's account mapping as `STORE/mappings/<forbund>.json` (written to a temporary
/// file, fsynced and renamed): confirmed once, used by every later import.
pub fn save_mapping(store: &Path, forbund: &str, text: &str) -> Result<PathBuf, StoreError> {
    use std::io::Write;
    let dir = store.join("mappings");
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, "create", e))?;
    let path = dir.join(format!("{forbund}.json"));
    let tmp = dir.join(format!(".{forbund}.json.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(|e| StoreError::io(&tmp, "create", e))?;
    f.write_all(text.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| StoreError::io(&tmp, "write", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io(&path, "rename", e))?;
    Ok(path)
}

/// A förbund's data file: `explicit` if given, else `STORE/<folder>/<forbund>.json` if there is
/// one, else `None`.
fn forbund_file_text(
    store: &Path,
    folder: &str,
    forbund: &str,
    explicit: Option<&Path>,
) -> Result<Option<(PathBuf, String)>, StoreError> {
    let local = store.join(folder).join(format!("{forbund}.json"));
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if local.is_file() => local,
        None => return Ok(None),
    };
    let text = read_text(&path, CHART_BYTES_MAX)?;
    Ok(Some((path, text)))
}

/// Creates the folders from `root` down to `dir`, each one new or an existing real folder
/// (never a symbolic link planted meanwhile).
fn create_dirs_inside(root: &Path, dir: &Path) -> Result<(), StoreError> {
    let rel =
        dir.strip_prefix(root).map_err(|_| StoreError::Refused(format!("{} is outside the bundle", dir.display())))?;
    let mut at = root.to_path_buf();
    for part in rel.components() {
        at.push(part);
        match std::fs::create_dir(&at) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if !std::fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
                    return Err(StoreError::Refused(format!(
                        "{} appeared while the bundle was written and is not a folder of its own; write the bundle to a new folder",
                        at.display()
                    )));
                }
            }
            Err(e) => return Err(StoreError::io(&at, "create", e)),
        }
    }
    Ok(())
}

/// Writes a new file (an export, a file of a bundle); refuses to overwrite an existing one or
/// to follow a symbolic link, so that nothing planted meanwhile is written through.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                StoreError::Refused(format!("{} exists already; an export is written to a new file", path.display()))
            } else {
                StoreError::io(path, "create", e)
            }
        })?;
    f.write_all(bytes).map_err(|e| StoreError::io(path, "write", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the bundle does for every file and folder, so that a link planted between the
    /// emptiness check and the write is refused rather than followed.
    #[test]
    fn a_link_planted_where_a_bundle_file_or_folder_goes_is_refused_not_followed() {
        let dir = std::env::temp_dir().join(format!("finsam-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("out")).unwrap();
        std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
        std::fs::write(dir.join("victim"), "precious").unwrap();
        std::os::unix::fs::symlink(dir.join("victim"), dir.join("out/MANIFEST")).unwrap();
        std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("out/events")).unwrap();
        assert!(write_new(&dir.join("out/MANIFEST"), b"forged").is_err());
        assert_eq!(std::fs::read_to_string(dir.join("victim")).unwrap(), "precious");
        let err = create_dirs_inside(&dir.join("out"), &dir.join("out/events/deeper")).unwrap_err();
        assert!(err.to_string().contains("not a folder of its own"), "{err}");
        assert_eq!(std::fs::read_dir(dir.join("elsewhere")).unwrap().count(), 0);
        create_dirs_inside(&dir.join("out"), &dir.join("out/reports/2024")).unwrap();
        write_new(&dir.join("out/reports/2024/x.json"), b"{}").unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
