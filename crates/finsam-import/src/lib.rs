//! Imports for finsam: what a förbund's bank delivers (ISO 20022 camt.053 and camt.054
//! statements, Bankgirot's BgMax) read into bank entries, and each entry matched to what is
//! owed — a member's contribution, a supplier's invoice — as proposed events with their reason.
//! Pure: bytes and the books in, proposals out. Nothing here records; the application layer
//! shows the proposals and records them when the kansli confirms.

pub mod bank;
pub mod bgmax;
pub mod budget;
pub mod camt;
pub mod cells;
pub mod matching;
pub mod sie;
mod xml;

use std::fmt;

/// Something wrong in an imported file: where (the line, record or element), the field, the
/// value found, and the rule it breaks — in Swedish, for the kansli.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub place: String,
    pub field: String,
    pub value: String,
    pub rule: String,
}

impl Problem {
    pub fn new(
        place: impl Into<String>,
        field: impl Into<String>,
        value: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        Problem { place: place.into(), field: field.into(), value: value.into(), rule: rule.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.field)?;
        if !self.value.is_empty() {
            write!(f, " = {:?}", shorten(&self.value, 120))?;
        }
        write!(f, ": {}", self.rule)
    }
}

/// A file refused whole: nothing of it is proposed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: filen avvisas, inget har bokförts:", self.file)?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// The largest file an import reads: a bank's statements for a year are a few MB.
pub const MAX_FILE_BYTES: usize = 50 << 20;

/// The SHA-256 of a file's bytes, in hex: how the import names the file it read.
pub fn file_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}
