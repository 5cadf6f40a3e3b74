//! The envelope: one line of the log, and the hash chain that links the lines.
//!
//! A line is the JSON object
//! `{"seq":…,"id":…,"recorded_at":…,"recorded_by":…,"batch_last":…,"event":{…},"prev_hash":…,"hash":…}`
//! where `hash` is the SHA-256 (hex) of the line's own bytes with the `,"hash":"…"` member cut
//! out, i.e. of `line[..line.rfind(",\"hash\":\"")] + "}"`. Because `prev_hash` is inside those
//! bytes, each line seals everything before it. Checking it needs no canonical JSON: a few
//! lines of Python with `hashlib` do (see `events/verify_chain.py`).

use finsam_domain::{Event, Rejection};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// The `prev_hash` of the first line.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// A line longer than this is refused on input and is damage in the log. Budgets are the
/// largest events (a few hundred lines of a few hundred bytes).
pub const LINE_BYTES_MAX: usize = 1 << 20;
const HASH_MEMBER: &[u8] = b",\"hash\":\"";

/// One recorded event with its place in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub seq: u64,
    pub id: String,
    /// UTC, RFC 3339 with microseconds: `2026-11-23T10:15:00.123456Z`.
    pub recorded_at: String,
    pub recorded_by: String,
    /// The seq of the last event of the batch this event was recorded in. A batch is complete
    /// when its line with `seq == batch_last` is present; anything after the last complete
    /// batch was never acknowledged.
    pub batch_last: u64,
    pub event: Event,
    pub prev_hash: String,
    pub hash: String,
}

/// The head of the log: the last seq and its hash (seq 0 and the genesis hash when empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    pub fn genesis() -> Head {
        Head {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// What is wrong with a line of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineProblem(pub String);

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

impl Envelope {
    /// Builds the line (with its trailing newline) and fills in `hash`.
    pub fn seal(
        seq: u64,
        id: String,
        recorded_at: String,
        recorded_by: String,
        batch_last: u64,
        event: Event,
        prev_hash: String,
    ) -> (Envelope, String) {
        let mut body = Map::new();
        body.insert("seq".into(), seq.into());
        body.insert("id".into(), id.clone().into());
        body.insert("recorded_at".into(), recorded_at.clone().into());
        body.insert("recorded_by".into(), recorded_by.clone().into());
        body.insert("batch_last".into(), batch_last.into());
        body.insert("event".into(), event.to_json());
        body.insert("prev_hash".into(), prev_hash.clone().into());
        let mut text =
            serde_json::to_string(&Value::Object(body)).expect("a JSON map always serialises");
        let hash = sha256_hex(text.as_bytes());
        assert_eq!(text.pop(), Some('}'), "a JSON object ends with a brace");
        text.push_str(",\"hash\":\"");
        text.push_str(&hash);
        text.push_str("\"}\n");
        (
            Envelope {
                seq,
                id,
                recorded_at,
                recorded_by,
                batch_last,
                event,
                prev_hash,
                hash,
            },
            text,
        )
    }

    /// Decodes one line (without its newline) and checks its own hash. The chain (seq and
    /// prev_hash against the previous line) is the caller's to check.
    pub fn open(line: &[u8]) -> Result<Envelope, LineProblem> {
        if line.len() > LINE_BYTES_MAX {
            return Err(LineProblem(format!(
                "line is {} bytes, more than the limit of {LINE_BYTES_MAX}",
                line.len()
            )));
        }
        let text = std::str::from_utf8(line).map_err(|e| LineProblem(format!("not UTF-8: {e}")))?;
        let cut = rfind(line, HASH_MEMBER)
            .ok_or_else(|| LineProblem("no `hash` member at the end of the line".into()))?;
        let tail = &text[cut + HASH_MEMBER.len()..];
        let stated_hash = tail
            .strip_suffix("\"}")
            .filter(|h| {
                h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            })
            .ok_or_else(|| {
                LineProblem("the line does not end with a 64-hex `hash` member".into())
            })?;
        let mut body = String::with_capacity(cut + 1);
        body.push_str(&text[..cut]);
        body.push('}');
        let computed = sha256_hex(body.as_bytes());
        if computed != stated_hash {
            return Err(LineProblem(format!(
                "hash mismatch: the line says {stated_hash}, its content hashes to {computed}"
            )));
        }
        let value: Value =
            serde_json::from_str(&body).map_err(|e| LineProblem(format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(LineProblem("not a JSON object".into()));
        };
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        let expected = [
            "seq",
            "id",
            "recorded_at",
            "recorded_by",
            "batch_last",
            "event",
            "prev_hash",
        ];
        if keys != expected {
            return Err(LineProblem(format!(
                "envelope members are {keys:?}, expected {expected:?} in that order"
            )));
        }
        let uint = |k: &str| {
            map[k]
                .as_u64()
                .ok_or_else(|| LineProblem(format!("`{k}` is not an unsigned integer")))
        };
        let string = |k: &str| {
            map[k]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| LineProblem(format!("`{k}` is not a string")))
        };
        let event = Event::from_json(&map["event"])
            .map_err(|r: Rejection| LineProblem(format!("event: {r}")))?;
        let envelope = Envelope {
            seq: uint("seq")?,
            id: string("id")?,
            recorded_at: string("recorded_at")?,
            recorded_by: string("recorded_by")?,
            batch_last: uint("batch_last")?,
            event,
            prev_hash: string("prev_hash")?,
            hash: stated_hash.to_string(),
        };
        if envelope.batch_last < envelope.seq {
            return Err(LineProblem(format!(
                "batch_last {} lies before seq {}",
                envelope.batch_last, envelope.seq
            )));
        }
        Ok(envelope)
    }

    /// The envelope as JSON, as the log holds it (for `finsam log --format json`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("seq".into(), self.seq.into());
        m.insert("id".into(), self.id.clone().into());
        m.insert("recorded_at".into(), self.recorded_at.clone().into());
        m.insert("recorded_by".into(), self.recorded_by.clone().into());
        m.insert("batch_last".into(), self.batch_last.into());
        m.insert("event".into(), self.event.to_json());
        m.insert("prev_hash".into(), self.prev_hash.clone().into());
        m.insert("hash".into(), self.hash.clone().into());
        Value::Object(m)
    }
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// The digest of an event's canonical content, used to tell an idempotent retry from a reused key.
pub fn content_digest(event: &Event) -> String {
    sha256_hex(
        serde_json::to_string(&event.to_json())
            .expect("serialises")
            .as_bytes(),
    )
}
