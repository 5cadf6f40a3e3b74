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

/// The indexes. Lookups see everything added; with sled behind them, what was added since the
/// last checkpoint is kept in memory and written with the next checkpoint, in one go (a
/// replay of a million events writes once, not a million times).
pub enum Index {
    Memory { idem: HashMap<String, (u64, String)>, positions: BTreeMap<String, Position> },
    Sled(Box<SledIndex>),
}

pub struct SledIndex {
    db: sled::Db,
    idem: sled::Tree,
    positions_tree: sled::Tree,
    /// Every förbund's position: read from sled on opening, written back at each checkpoint.
    positions: BTreeMap<String, Position>,
    /// Idempotency keys added since the last checkpoint.
    pending: HashMap<String, (u64, String)>,
}

fn derived(action: &'static str) -> impl Fn(sled::Error) -> StoreError {
    move |e| StoreError::Derived { action, detail: e.to_string() }
}

const CHECKPOINT_KEY: &[u8] = b"checkpoint";

impl SledIndex {
    fn open(dir: &Path) -> Result<SledIndex, StoreError> {
        let db = sled::Config::new().path(dir).open().map_err(derived("open"))?;
        let idem = db.open_tree("idempotency").map_err(derived("open tree"))?;
        let positions_tree = db.open_tree("positions").map_err(derived("open tree"))?;
        let mut positions = BTreeMap::new();
        for item in positions_tree.iter() {
            let (key, value) = item.map_err(derived("read"))?;
            let forbund = String::from_utf8(key.to_vec()).map_err(|e| StoreError::Derived {
                action: "read",
                detail: format!("a position key is not UTF-8: {e}"),
            })?;
            let position = serde_json::from_slice(&value)
                .map_err(|e| StoreError::Derived { action: "read", detail: format!("position of {forbund}: {e}") })?;
            positions.insert(forbund, position);
        }
        Ok(SledIndex { db, idem, positions_tree, positions, pending: HashMap::new() })
    }
}

impl Index {
    pub fn memory() -> Index {
        Index::Memory { idem: HashMap::new(), positions: BTreeMap::new() }
    }

    /// Opens (or recreates, when it cannot be opened or read) the sled database in `dir`.
    pub fn open_sled(dir: &Path) -> Result<(Index, bool), StoreError> {
        match SledIndex::open(dir) {
            Ok(index) => Ok((Index::Sled(Box::new(index)), false)),
            Err(_) => {
                // Derived state only: a database that cannot be opened is thrown away.
                std::fs::remove_dir_all(dir)
                    .map_err(|e| StoreError::io(dir, "remove the damaged derived state in", e))?;
                Ok((Index::Sled(Box::new(SledIndex::open(dir)?)), true))
            }
        }
    }

    pub fn clear(&mut self) -> Result<(), StoreError> {
        match self {
            Index::Memory { idem, positions } => {
                idem.clear();
                positions.clear();
            }
            Index::Sled(s) => {
                s.pending.clear();
                s.positions.clear();
                s.idem.clear().map_err(derived("clear"))?;
                s.positions_tree.clear().map_err(derived("clear"))?;
                s.db.remove(CHECKPOINT_KEY).map_err(derived("clear"))?;
            }
        }
        Ok(())
    }

    /// The seq and content digest recorded under an idempotency key.
    pub fn idempotency(&self, key: &str) -> Result<Option<(u64, String)>, StoreError> {
        match self {
            Index::Memory { idem, .. } => Ok(idem.get(key).cloned()),
            Index::Sled(s) => {
                if let Some(found) = s.pending.get(key) {
                    return Ok(Some(found.clone()));
                }
                let Some(v) = s.idem.get(key.as_bytes()).map_err(derived("read"))? else {
                    return Ok(None);
                };
                let (seq, digest) = v.split_at(8);
                let seq = u64::from_be_bytes(seq.try_into().expect("8 bytes"));
                Ok(Some((seq, String::from_utf8_lossy(digest).into_owned())))
            }
        }
    }

    pub fn position(&self, forbund: &str) -> Result<Position, StoreError> {
        let positions = match self {
            Index::Memory { positions, .. } => positions,
            Index::Sled(s) => &s.positions,
        };
        Ok(positions.get(forbund).copied().unwrap_or_default())
    }

    /// Takes one recorded envelope into the indexes.
    /// Idempotent: an envelope the index holds already (a tail replayed after a writer died
    /// between appending and saving its checkpoint) changes nothing.
    pub fn add(&mut self, envelope: &Envelope) -> Result<(), StoreError> {
        let forbund = envelope.event.forbund.as_str();
        let (idem, positions) = match self {
            Index::Memory { idem, positions } => (idem, positions),
            Index::Sled(s) => (&mut s.pending, &mut s.positions),
        };
        let position = match positions.get_mut(forbund) {
            Some(p) => p,
            None => positions.entry(forbund.to_string()).or_default(),
        };
        if envelope.seq <= position.last_seq {
            return Ok(());
        }
        position.last_seq = envelope.seq;
        position.events += 1;
        if let Some(key) = envelope.event.idempotency_key.as_deref() {
            idem.insert(key.to_string(), (envelope.seq, content_digest(&envelope.event)));
        }
        Ok(())
    }

    pub fn save_checkpoint(
        &mut self,
        head: &Head,
        log_len: u64,
        ledger: &Ledger,
        projection: &Projection,
    ) -> Result<(), StoreError> {
        if let Index::Sled(s) = self {
            let mut batch = sled::Batch::default();
            for (key, (seq, digest)) in s.pending.drain() {
                let mut value = seq.to_be_bytes().to_vec();
                value.extend_from_slice(digest.as_bytes());
                batch.insert(key.as_bytes(), value);
            }
            s.idem.apply_batch(batch).map_err(derived("write"))?;
            let mut batch = sled::Batch::default();
            for (forbund, position) in &s.positions {
                batch.insert(forbund.as_bytes(), serde_json::to_vec(position).expect("serialises"));
            }
            s.positions_tree.apply_batch(batch).map_err(derived("write"))?;
            let checkpoint = CheckpointRef {
                version: CHECKPOINT_VERSION,
                seq: head.seq,
                hash: &head.hash,
                log_len,
                ledger,
                projection,
            };
            s.db.insert(CHECKPOINT_KEY, serde_json::to_vec(&checkpoint).expect("serialises"))
                .map_err(derived("write"))?;
            s.db.flush().map_err(derived("flush"))?;
        }
        Ok(())
    }

    pub fn load_checkpoint(&self) -> Option<Checkpoint> {
        let Index::Sled(s) = self else {
            return None;
        };
        let bytes = s.db.get(CHECKPOINT_KEY).ok()??;
        let checkpoint: Checkpoint = serde_json::from_slice(&bytes).ok()?;
        (checkpoint.version == CHECKPOINT_VERSION).then_some(checkpoint)
    }
}
