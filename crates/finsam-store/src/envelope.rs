//! The envelope: one line of the log, and the hash chain that links the lines.
//!
//! A line is the JSON object
//! `{"seq":…,"id":…,"recorded_at":…,"recorded_by":…,"batch_last":…,"event":{…},"prev_hash":…,"hash":…}`
//! where `hash` is the SHA-256 (hex) of the line's own bytes with the `,"hash":"…"` member cut
//! out, i.e. of `line[..line.rfind(",\"hash\":\"")] + "}"`. Because `prev_hash` is inside those
//! bytes, each line seals everything before it. Checking it needs no canonical JSON: a few
//! lines of Python with `hashlib` do (see `events/verify_chain.py`).

use finsam_domain::json::Json;
use finsam_domain::{Event, Rejection};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
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
        Head { seq: 0, hash: GENESIS_HASH.to_string() }
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
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
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
        let mut body = Vec::with_capacity(512);
        write_body(&mut body, seq, &id, &recorded_at, &recorded_by, batch_last, &event, &prev_hash);
        let hash = sha256_hex(&body);
        let mut text = String::from_utf8(body).expect("JSON text written from strings is UTF-8");
        assert_eq!(text.pop(), Some('}'), "a JSON object ends with a brace");
        text.push_str(",\"hash\":\"");
        text.push_str(&hash);
        text.push_str("\"}\n");
        (Envelope { seq, id, recorded_at, recorded_by, batch_last, event, prev_hash, hash }, text)
    }

    /// Decodes one line (without its newline) and checks its own hash. The chain (seq and
    /// prev_hash against the previous line) is the caller's to check.
    pub fn open(line: &[u8]) -> Result<Envelope, LineProblem> {
        if line.len() > LINE_BYTES_MAX {
            return Err(LineProblem(format!("line is {} bytes, more than the limit of {LINE_BYTES_MAX}", line.len())));
        }
        let text = std::str::from_utf8(line).map_err(|e| LineProblem(format!("not UTF-8: {e}")))?;
        // Where finsam puts it: before 64 hex digits, a quote and the closing brace.
        let cut = match line.len().checked_sub(HASH_MEMBER.len() + 64 + 2) {
            Some(at) if line[at..].starts_with(HASH_MEMBER) => at,
            _ => {
                rfind(line, HASH_MEMBER).ok_or_else(|| LineProblem("no `hash` member at the end of the line".into()))?
            }
        };
        let tail = &text[cut + HASH_MEMBER.len()..];
        let stated_hash = tail
            .strip_suffix("\"}")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
            .ok_or_else(|| LineProblem("the line does not end with a 64-hex `hash` member".into()))?;
        // The hash is of the line without its hash member: the part before it and the brace.
        let mut sha = Sha256::new();
        sha.update(&line[..cut]);
        sha.update(b"}");
        let computed = hex(&sha.finalize());
        if computed != stated_hash {
            return Err(LineProblem(format!(
                "hash mismatch: the line says {stated_hash}, its content hashes to {computed}"
            )));
        }
        let line_value: Line<'_> =
            serde_json::from_str(text).map_err(|e| LineProblem(format!("not an envelope line: {e}")))?;
        let event = Event::from_tree(&line_value.event).map_err(|r: Rejection| LineProblem(format!("event: {r}")))?;
        let envelope = Envelope {
            seq: line_value.seq,
            id: line_value.id.into_owned(),
            recorded_at: line_value.recorded_at.into_owned(),
            recorded_by: line_value.recorded_by.into_owned(),
            batch_last: line_value.batch_last,
            event,
            prev_hash: line_value.prev_hash.into_owned(),
            hash: stated_hash.to_string(),
        };
        if envelope.batch_last < envelope.seq {
            return Err(LineProblem(format!("batch_last {} lies before seq {}", envelope.batch_last, envelope.seq)));
        }
        // The canonical line rule (events/CANONICAL.md): a line is exactly the bytes finsam
        // writes for what it holds. Anything else (a space, an escaped key, 294.0 for 294, a
        // duplicate member, an amount not in canonical form) is damage, whatever its hash.
        let mut canonical = Vec::with_capacity(line.len());
        write_body(
            &mut canonical,
            envelope.seq,
            &envelope.id,
            &envelope.recorded_at,
            &envelope.recorded_by,
            envelope.batch_last,
            &envelope.event,
            &envelope.prev_hash,
        );
        if canonical[..canonical.len() - 1] != line[..cut] {
            let at = canonical.iter().zip(line.iter()).position(|(a, b)| a != b).unwrap_or(cut.min(canonical.len()));
            return Err(LineProblem(format!(
                "not the canonical line (events/CANONICAL.md): it differs from finsam's encoding of its content at byte {at}"
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

/// The members of a log line as they are read: the event as a borrowed tree for the strict
/// decoder, the rest typed. A member missing, unknown or repeated fails here; one out of order,
/// or anything else not written the way finsam writes it, fails the canonical comparison after.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    seq: u64,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    recorded_at: Cow<'a, str>,
    #[serde(borrow)]
    recorded_by: Cow<'a, str>,
    batch_last: u64,
    #[serde(borrow)]
    event: Json<'a>,
    #[serde(borrow)]
    prev_hash: Cow<'a, str>,
    #[serde(borrow, rename = "hash")]
    _hash: Cow<'a, str>,
}

/// The envelope without its hash member, as finsam writes it: compact JSON, members in the
/// contract's order, the event in its canonical form. `hash` is the SHA-256 of these bytes.
#[allow(clippy::too_many_arguments)]
fn write_body(
    buf: &mut Vec<u8>,
    seq: u64,
    id: &str,
    recorded_at: &str,
    recorded_by: &str,
    batch_last: u64,
    event: &Event,
    prev_hash: &str,
) {
    use std::io::Write;
    let string = |buf: &mut Vec<u8>, text: &str| serde_json::to_writer(buf, text).expect("writing to memory");
    let _ = write!(buf, "{{\"seq\":{seq},\"id\":");
    string(buf, id);
    buf.extend_from_slice(b",\"recorded_at\":");
    string(buf, recorded_at);
    buf.extend_from_slice(b",\"recorded_by\":");
    string(buf, recorded_by);
    let _ = write!(buf, ",\"batch_last\":{batch_last},\"event\":");
    event.write_canonical(buf);
    buf.extend_from_slice(b",\"prev_hash\":");
    string(buf, prev_hash);
    buf.push(b'}');
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// The digest of an event's canonical content, used to tell an idempotent retry from a reused key.
pub fn content_digest(event: &Event) -> String {
    sha256_hex(event.canonical().as_bytes())
}

/// The chain fields of a line, read without decoding the event.
pub struct ChainLink {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
}

/// Reads a line's seq, prev_hash and hash by position and checks the hash over the line's
/// bytes. Because the hash covers `prev_hash`, a line whose hash checks has an authentic link.
pub fn chain_link(line: &[u8]) -> Result<ChainLink, LineProblem> {
    const PREFIX: &[u8] = b"{\"seq\":";
    const PREV: &[u8] = b",\"prev_hash\":\"";
    // ...,"prev_hash":"<64>","hash":"<64>"}
    let tail_len = PREV.len() + 64 + 1 + HASH_MEMBER.len() + 64 + 2;
    if line.len() < PREFIX.len() + tail_len || !line.starts_with(PREFIX) || !line.ends_with(b"\"}") {
        return Err(LineProblem("not an envelope line".into()));
    }
    let tail = &line[line.len() - tail_len..];
    let hash_start = tail.len() - 2 - 64;
    let shape_ok =
        tail.starts_with(PREV) && tail[PREV.len() + 64] == b'"' && &tail[PREV.len() + 65..hash_start] == HASH_MEMBER;
    if !shape_ok {
        return Err(LineProblem("the line does not end with the prev_hash and hash members".into()));
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let prev_hash = text(&tail[PREV.len()..PREV.len() + 64]);
    let stated = text(&tail[hash_start..hash_start + 64]);
    let body_len = line.len() - tail_len + PREV.len() + 65;
    let mut hasher = Sha256::new();
    hasher.update(&line[..body_len]);
    hasher.update(b"}");
    let computed = hex(&hasher.finalize());
    if computed != stated {
        return Err(LineProblem(format!("hash mismatch: the line says {stated}, its content hashes to {computed}")));
    }
    let digits = line[PREFIX.len()..].iter().take_while(|b| b.is_ascii_digit()).count();
    let seq = std::str::from_utf8(&line[PREFIX.len()..PREFIX.len() + digits])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| LineProblem("no seq at the start of the line".into()))?;
    Ok(ChainLink { seq, prev_hash, hash: stated })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_link_detects_a_changed_byte() {
        let event = finsam_domain::Event::from_json_text(
            r#"{"type":"EquityTransferred","forbund":"sf-a","date":"2024-01-01","from":"sf-b","amount":"1000","reference":"r"}"#,
        )
        .unwrap();
        let (env, line) = Envelope::seal(1, "id".into(), "t".into(), "me".into(), 1, event, GENESIS_HASH.into());
        let line = line.trim_end().as_bytes().to_vec();
        let link = chain_link(&line).unwrap();
        assert_eq!((link.seq, link.hash.as_str(), link.prev_hash.as_str()), (1, env.hash.as_str(), GENESIS_HASH));
        let tampered = String::from_utf8(line).unwrap().replace("\"1000\"", "\"9000\"");
        assert!(chain_link(tampered.as_bytes()).is_err());
        assert!(Envelope::open(tampered.as_bytes()).is_err());
    }
}
