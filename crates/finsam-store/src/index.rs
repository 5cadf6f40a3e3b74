//! Derived state: the idempotency keys, per-förbund positions and the ledger checkpoint.
//! Kept in sled on disk (or in memory for the twin). Everything here can be rebuilt from the
//! log, and is: on a version change, on a checkpoint that does not match the log, or on
//! `finsam reindex`.

use crate::envelope::{content_digest, Envelope, Head};
use crate::error::StoreError;
use finsam_domain::ledger::LEDGER_STATE_VERSION;
use finsam_domain::Ledger;
use finsam_projections::projection::PROJECTION_VERSION;
use finsam_projections::Projection;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// A snapshot of the ledger at a point of the log, so that opening reads only the tail.
#[derive(Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub seq: u64,
    pub hash: String,
    /// The log's length in bytes at `seq`.
    pub log_len: u64,
    pub ledger: Ledger,
    pub projection: Projection,
}

/// The version a checkpoint must carry to be trusted: the ledger's and the projection's.
const CHECKPOINT_VERSION: u32 = LEDGER_STATE_VERSION * 1000 + PROJECTION_VERSION;

#[derive(Serialize)]
struct CheckpointRef<'a> {
    version: u32,
    seq: u64,
    hash: &'a str,
    log_len: u64,
    ledger: &'a Ledger,
    projection: &'a Projection,
}

/// Where a förbund's books stand in the log: its last seq and how many events it has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub last_seq: u64,
    pub events: u64,
}

pub enum Index {
    Memory { idem: HashMap<String, (u64, String)>, positions: BTreeMap<String, Position> },
    Sled { db: sled::Db, idem: sled::Tree, positions: sled::Tree },
}

fn derived(action: &'static str) -> impl Fn(sled::Error) -> StoreError {
    move |e| StoreError::Derived { action, detail: e.to_string() }
}

const CHECKPOINT_KEY: &[u8] = b"checkpoint";

impl Index {
    pub fn memory() -> Index {
        Index::Memory { idem: HashMap::new(), positions: BTreeMap::new() }
    }

    /// Opens (or recreates, when it cannot be opened) the sled database in `dir`.
    pub fn open_sled(dir: &Path) -> Result<(Index, bool), StoreError> {
        let open = || sled::Config::new().path(dir).open();
        let (db, recreated) = match open() {
            Ok(db) => (db, false),
            Err(_) => {
                // Derived state only: a database that cannot be opened is thrown away.
                std::fs::remove_dir_all(dir)
                    .map_err(|e| StoreError::io(dir, "remove the damaged derived state in", e))?;
                (open().map_err(derived("open"))?, true)
            }
        };
        let idem = db.open_tree("idempotency").map_err(derived("open tree"))?;
        let positions = db.open_tree("positions").map_err(derived("open tree"))?;
        Ok((Index::Sled { db, idem, positions }, recreated))
    }

    pub fn clear(&mut self) -> Result<(), StoreError> {
        match self {
            Index::Memory { idem, positions } => {
                idem.clear();
                positions.clear();
            }
            Index::Sled { db, idem, positions } => {
                idem.clear().map_err(derived("clear"))?;
                positions.clear().map_err(derived("clear"))?;
                db.remove(CHECKPOINT_KEY).map_err(derived("clear"))?;
            }
        }
        Ok(())
    }

    /// The seq and content digest recorded under an idempotency key.
    pub fn idempotency(&self, key: &str) -> Result<Option<(u64, String)>, StoreError> {
        match self {
            Index::Memory { idem, .. } => Ok(idem.get(key).cloned()),
            Index::Sled { idem, .. } => {
                let Some(v) = idem.get(key.as_bytes()).map_err(derived("read"))? else {
                    return Ok(None);
                };
                let (seq, digest) = v.split_at(8);
                let seq = u64::from_be_bytes(seq.try_into().expect("8 bytes"));
                Ok(Some((seq, String::from_utf8_lossy(digest).into_owned())))
            }
        }
    }

    pub fn position(&self, forbund: &str) -> Result<Position, StoreError> {
        match self {
            Index::Memory { positions, .. } => Ok(positions.get(forbund).copied().unwrap_or_default()),
            Index::Sled { positions, .. } => Ok(positions
                .get(forbund.as_bytes())
                .map_err(derived("read"))?
                .map(|v| serde_json::from_slice(&v).expect("positions are written by this code"))
                .unwrap_or_default()),
        }
    }

    /// Takes one recorded envelope into the indexes.
    /// Idempotent: an envelope the index holds already (a tail replayed after a writer died
    /// between appending and saving its checkpoint) changes nothing.
    pub fn add(&mut self, envelope: &Envelope) -> Result<(), StoreError> {
        let forbund = envelope.event.forbund.as_str();
        let mut position = self.position(forbund)?;
        if envelope.seq <= position.last_seq {
            return Ok(());
        }
        position.last_seq = envelope.seq;
        position.events += 1;
        let key = envelope.event.idempotency_key.as_deref();
        match self {
            Index::Memory { idem, positions } => {
                if let Some(key) = key {
                    idem.insert(key.to_string(), (envelope.seq, content_digest(&envelope.event)));
                }
                positions.insert(forbund.to_string(), position);
            }
            Index::Sled { idem, positions, .. } => {
                if let Some(key) = key {
                    let mut value = envelope.seq.to_be_bytes().to_vec();
                    value.extend_from_slice(content_digest(&envelope.event).as_bytes());
                    idem.insert(key.as_bytes(), value).map_err(derived("write"))?;
                }
                let bytes = serde_json::to_vec(&position).expect("serialises");
                positions.insert(forbund.as_bytes(), bytes).map_err(derived("write"))?;
            }
        }
        Ok(())
    }

    pub fn save_checkpoint(
        &self,
        head: &Head,
        log_len: u64,
        ledger: &Ledger,
        projection: &Projection,
    ) -> Result<(), StoreError> {
        if let Index::Sled { db, .. } = self {
            let checkpoint = CheckpointRef {
                version: CHECKPOINT_VERSION,
                seq: head.seq,
                hash: &head.hash,
                log_len,
                ledger,
                projection,
            };
            db.insert(CHECKPOINT_KEY, serde_json::to_vec(&checkpoint).expect("serialises"))
                .map_err(derived("write"))?;
            db.flush().map_err(derived("flush"))?;
        }
        Ok(())
    }

    pub fn load_checkpoint(&self) -> Option<Checkpoint> {
        let Index::Sled { db, .. } = self else {
            return None;
        };
        let bytes = db.get(CHECKPOINT_KEY).ok()??;
        let checkpoint: Checkpoint = serde_json::from_slice(&bytes).ok()?;
        (checkpoint.version == CHECKPOINT_VERSION).then_some(checkpoint)
    }
}
