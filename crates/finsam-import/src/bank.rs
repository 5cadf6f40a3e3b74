//! A bank file as finsam reads it, whatever its format: statements of one account, each with
//! its entries (money in positive, money out negative) and, where the format has them, its
//! opening and closing balances.

use crate::{Problem, Refusal};
use chrono::NaiveDate;
use finsam_domain::Amount;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BankFile {
    /// What the file is: "camt.053.001.02", "camt.054.001.08", "BgMax 01".
    pub format: String,
    pub statements: Vec<Statement>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The statement's own id (camt: Stmt/Id; BgMax: the deposit's bankgiro, date and serial).
    pub id: String,
    /// The account: an IBAN, an account number or a bankgiro number.
    pub account: String,
    pub opening: Option<Balance>,
    pub closing: Option<Balance>,
    pub entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balance {
    pub date: NaiveDate,
    pub amount: Amount,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Where in the file: "rad 12", "post 3 (rad 40)".
    pub place: String,
    /// The bank's own reference of the entry, unique in the account: what makes a second
    /// import of the same payment recognisable.
    pub id: String,
    pub date: NaiveDate,
    /// Money in positive, money out negative.
    pub amount: Amount,
    /// Who paid (money in) or was paid (money out), as the bank names them.
    pub counterparty: Option<String>,
    /// A structured reference: an OCR number, an invoice number.
    pub reference: Option<String>,
    /// Free text the payer wrote.
    pub text: Option<String>,
}

impl Entry {
    /// Every text of the entry a match may read: the reference and the free text.
    pub fn words(&self) -> String {
        [self.reference.as_deref(), self.text.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ")
    }
}

/// Reads a bank file, by what it contains (not by its name): BgMax starts with its "01BGMAX"
/// record, an ISO 20022 message is XML.
pub fn read(file: &str, bytes: &[u8]) -> Result<BankFile, Refusal> {
    let refuse = |p: Problem| Refusal { file: file.to_string(), problems: vec![p] };
    if bytes.len() > crate::MAX_FILE_BYTES {
        return Err(refuse(Problem::new(
            "filen",
            "storlek",
            format!("{} byte", bytes.len()),
            format!("en bankfil är högst {} MB", crate::MAX_FILE_BYTES >> 20),
        )));
    }
    if bytes.starts_with(b"01BGMAX") {
        return crate::bgmax::read(bytes).map_err(|problems| Refusal { file: file.to_string(), problems });
    }
    let start = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
        return crate::camt::read(bytes).map_err(|problems| Refusal { file: file.to_string(), problems });
    }
    Err(refuse(Problem::new(
        "rad 1",
        "format",
        String::from_utf8_lossy(&bytes[..bytes.len().min(20)]).to_string(),
        "filen är varken en ISO 20022-fil (camt.053/camt.054, XML) eller en BgMax-fil (första posten \"01BGMAX\")",
    )))
}

/// An amount of a bank file as kronor: digits with a point and at most two decimals.
pub fn amount(place: &str, field: &str, text: &str) -> Result<Amount, Problem> {
    Amount::parse(text.trim()).map_err(|e| Problem::new(place, field, text, format!("inte ett belopp: {}", e.0)))
}

/// An ISO date (YYYY-MM-DD), or the date of an ISO date-time.
pub fn date(place: &str, field: &str, text: &str) -> Result<NaiveDate, Problem> {
    let day = text.trim().get(..10).unwrap_or(text);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|_| Problem::new(place, field, text, "inte ett datum ÅÅÅÅ-MM-DD"))
}
