//! `finsam backup` and `finsam restore`: the store's own records copied to a new folder, and a
//! checked copy installed as a new store (`finsam_store::backup` does the work).

use crate::output::{emit, say, Failure};
use crate::Format;
use finsam_store::backup::Manifest;
use finsam_store::Store;
use serde_json::json;
use std::path::Path;

/// What a manifest lists besides the log: users, access log, underlag, settings, in words.
fn contents(m: &Manifest) -> (usize, usize, bool, bool) {
    let count = |dir: &str| m.files.iter().filter(|f| f.path.starts_with(&format!("{dir}/"))).count();
    let settings = finsam_store::backup::SETTINGS_DIRS.iter().map(|d| count(d)).sum();
    let has = |name: &str| m.files.iter().any(|f| f.path == name);
    (
        count(finsam_store::underlag::UNDERLAG_DIR),
        settings,
        has(finsam_store::access::USERS_FILE),
        has(finsam_store::access::ACCESS_FILE),
    )
}

pub fn backup(store: &Path, to: &Path, format: Format) -> Result<(), Failure> {
    let report = finsam_store::backup::backup(store, to)?;
    let m = &report.manifest;
    let (underlag, settings, users, access) = contents(m);
    let bytes: u64 = m.files.iter().map(|f| f.bytes).sum();
    match format {
        Format::Json => emit(&format!(
            "{}\n",
            json!({
                "dir": to.display().to_string(),
                "created_at": m.created_at,
                "head": {"seq": m.head.seq, "hash": m.head.hash},
                "files": m.files.len(),
                "bytes": bytes,
                "underlag": underlag,
                "settings": settings,
                "log_bytes_left_out": report.log_bytes_left_out,
            })
        )),
        _ => {
            let yes_no = |b: bool| if b { "med" } else { "utan" };
            let left = if report.log_bytes_left_out > 0 {
                say(
                    format!(
                        "{} byte av en batch som skrevs just då lämnades utanför; nästa säkerhetskopia tar med den\n",
                        report.log_bytes_left_out
                    ),
                    format!(
                        "{} bytes of a batch being written at that moment were left out; the next backup takes them\n",
                        report.log_bytes_left_out
                    ),
                )
            } else {
                String::new()
            };
            emit(&say(
                format!(
                    "säkerhetskopierade {} till {}: loggen med {} händelser (huvud {}:{}), {} användare, {} åtkomstlogg, {underlag} underlag och {settings} inställningsfil(er); {} filer, {bytes} byte, var och en med sin SHA-256 i {}\n{left}återställ med: finsam --store NY-MAPP restore {}\n",
                    store.display(),
                    to.display(),
                    m.head.seq,
                    m.head.seq,
                    m.head.hash,
                    yes_no(users),
                    yes_no(access),
                    m.files.len(),
                    finsam_store::backup::MANIFEST_FILE,
                    to.display()
                ),
                format!(
                    "backed up {} to {}: the log with {} events (head {}:{}), users {}, access log {}, {underlag} underlag and {settings} settings file(s); {} files, {bytes} bytes, each with its SHA-256 in {}\n{left}restore with: finsam --store NEW-FOLDER restore {}\n",
                    store.display(),
                    to.display(),
                    m.head.seq,
                    m.head.seq,
                    m.head.hash,
                    if users { "included" } else { "none" },
                    if access { "included" } else { "none" },
                    m.files.len(),
                    finsam_store::backup::MANIFEST_FILE,
                    to.display()
                ),
            ))
        }
    }
    Ok(())
}

pub fn restore(from: &Path, store: &Path, format: Format) -> Result<(), Failure> {
    let report = finsam_store::backup::restore(from, store)?;
    // The derived state, built as `reindex` builds it (and sealed with this user's key).
    let (opened, replay) = Store::reindex(store)?;
    let head = opened.head().clone();
    drop(opened);
    let m = &report.manifest;
    match format {
        Format::Json => emit(&format!(
            "{}\n",
            json!({
                "store": store.display().to_string(),
                "backup": from.display().to_string(),
                "created_at": m.created_at,
                "events": report.events,
                "replayed": replay.events_replayed,
                "head": {"seq": head.seq, "hash": head.hash},
            })
        )),
        _ => emit(&say(
            format!(
                "återställde säkerhetskopian {} (gjord {}) som lagret {}: {} händelser verifierade som av `finsam audit verify`, huvud {head}; det härledda tillståndet byggt från loggen\n",
                from.display(),
                m.created_at,
                store.display(),
                report.events
            ),
            format!(
                "restored the backup {} (made {}) as the store {}: {} events verified as by `finsam audit verify`, head {head}; the derived state built from the log\n",
                from.display(),
                m.created_at,
                store.display(),
                report.events
            ),
        )),
    }
    Ok(())
}

/// `finsam store copy FROM TO`: a folder's store into an empty database, or a database's into
/// a new folder (`finsam_store::copy` does the work); each side verified.
pub fn copy(from: &str, to: &str, format: Format) -> Result<(), Failure> {
    use finsam_store::pg::{is_database, label};
    let report = match (is_database(from), is_database(to)) {
        (false, true) => finsam_store::copy::folder_to_database(Path::new(from), to)?,
        (true, false) => finsam_store::copy::database_to_folder(from, Path::new(to))?,
        _ => {
            return Err(Failure::usage(say(
                "finsam store copy kopierar mellan en mapp och en databas: den ena av FRÅN och TILL är en mapp, den andra en adress postgresql://…",
                "finsam store copy copies between a folder and a database: one of FROM and TO is a folder, the other a postgresql://… address",
            )))
        }
    };
    let name = |s: &str| if is_database(s) { label(s) } else { s.to_string() };
    let (from, to) = (name(from), name(to));
    match format {
        Format::Json => emit(&format!(
            "{}\n",
            json!({
                "from": from,
                "to": to,
                "events": report.events,
                "bytes": report.bytes,
                "head": {"seq": report.head.seq, "hash": report.head.hash},
                "underlag": report.underlag,
                "users": report.users,
                "verified": report.verified.ok(),
            })
        )),
        _ => emit(&say(
            format!(
                "kopierade {} händelser ({} byte), {} underlag och {} rad(er) om användare från {from} till {to}; loggens huvud {}\nkopian verifierad: hashkedjan, löpnumren, händelserna och bokföringsreglerna stämmer\nåtkomstloggen kopieras inte: den stannar där den skrevs\n",
                report.events, report.bytes, report.underlag, report.users, report.head
            ),
            format!(
                "copied {} events ({} bytes), {} underlag and {} user line(s) from {from} to {to}; log head {}\nthe copy verifies: hash chain, seqs, events and ledger rules hold\nthe access log is not copied: it stays where it was written\n",
                report.events, report.bytes, report.underlag, report.users, report.head
            ),
        )),
    }
    Ok(())
}
