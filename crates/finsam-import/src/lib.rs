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

#[cfg(test)]
mod hostile_tests {
    //! Whatever bytes arrive, the readers answer — a file read or a file refused — and never
    //! panic: valid files cut, flipped and spliced at pseudo-random places.

    /// A small deterministic generator (xorshift), so that a failure repeats.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const CAMT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\"><BkToCstmrStmt><Stmt><Id>S</Id><Acct><Id><IBAN>SE1</IBAN></Id><Ccy>SEK</Ccy></Acct><Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"SEK\">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-01-31</Dt></Dt></Bal><Ntry><Amt Ccy=\"SEK\">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2024-01-31</Dt></BookgDt><AcctSvcrRef>A1</AcctSvcrRef><NtryDtls><TxDtls><Amt Ccy=\"SEK\">4.00</Amt><RltdPties><Dbtr><Nm>Sala &amp; co</Nm></Dbtr></RltdPties></TxDtls><TxDtls><Amt Ccy=\"SEK\">6.00</Amt></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>\n";

    fn bgmax() -> Vec<u8> {
        let pad = |s: &str| format!("{s:<80}");
        [
            pad("01BGMAX               0120240131060000000000P"),
            pad("050053681234          SEK"),
            pad("200000000000123456789                000000000000001000201000000000001 0"),
            pad("26Sala kommun"),
            pad(&format!("15{:0>35}{}{:05}{:018}SEK{:08}", "53681234567", "20240131", 1, 1000, 1)),
            pad("7000000001000000000000000000000001"),
        ]
        .join("\r\n")
        .into_bytes()
    }

    fn mutations(seed: u64, valid: &[u8], rounds: usize, read: impl Fn(&[u8])) {
        let mut rng = Rng(seed);
        for _ in 0..rounds {
            let mut bytes = valid.to_vec();
            match rng.below(4) {
                0 => bytes.truncate(rng.below(valid.len())),
                1 => {
                    for _ in 0..=rng.below(4) {
                        let at = rng.below(bytes.len());
                        bytes[at] = rng.next() as u8;
                    }
                }
                2 => {
                    let from = rng.below(bytes.len());
                    let to = rng.below(bytes.len());
                    let piece = bytes[from.min(to)..from.max(to)].to_vec();
                    let at = rng.below(bytes.len());
                    bytes.splice(at..at, piece);
                }
                _ => {
                    let at = rng.below(bytes.len());
                    bytes.drain(at..(at + rng.below(20)).min(bytes.len()));
                }
            }
            read(&bytes);
        }
    }

    #[test]
    fn bank_files_cut_flipped_and_spliced_are_read_or_refused_never_a_panic() {
        assert!(crate::bank::read("ok.xml", CAMT.as_bytes()).is_ok(), "the valid camt file reads");
        assert!(crate::bank::read("ok.txt", &bgmax()).is_ok(), "{:?}", crate::bank::read("ok.txt", &bgmax()).err());
        mutations(0x9e37_79b9_7f4a_7c15, CAMT.as_bytes(), 3000, |b| {
            let _ = crate::bank::read("x.xml", b);
        });
        mutations(0x2545_f491_4f6c_dd1d, &bgmax(), 3000, |b| {
            let _ = crate::bank::read("x.txt", b);
        });
    }

    #[test]
    fn budget_sheets_cut_flipped_and_spliced_are_read_or_refused_never_a_panic() {
        let csv = "Namn;Kategori;Insats;Art;Belopp\r\nIntäkter;;;;\r\nBidrag;;;;1 000\r\nKansli;Administration;;köpta tjänster;1 000,50\r\nSumma kostnader;;;;1 000,50\r\n";
        let none = |_: &str| None;
        assert!(crate::budget::read("ok.csv", csv.as_bytes(), &none, &none).is_ok());
        mutations(0x1234_5678_9abc_def1, csv.as_bytes(), 3000, |b| {
            let _ = crate::budget::read("x.csv", b, &none, &none);
        });
    }
}
