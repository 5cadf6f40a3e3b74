//! Imports: a file read, its items matched to the books, the proposals shown, and — when the
//! kansli confirms — recorded as one batch. The same steps for the CLI and the web app:
//! read → map → propose → review → record. Nothing is written before the record step, and a
//! file imported twice records nothing new (each item's key is its bank reference).

use crate::output::Failure;
use crate::table::{Align, Table};
use finsam_domain::event::{Event, EventKind};
use finsam_domain::{Amount, Slug};
use finsam_import::bank::BankFile;
use finsam_import::matching::{match_file, Books, Item, Outcome, Source};
use finsam_projections::reports::At;
use finsam_store::{FileLog, Store};

pub use finsam_import::MAX_FILE_BYTES;
use serde_json::{json, Value};

/// A bank file read and matched: what would be recorded, what waits, and how the statement's
/// balance compares with the books.
pub struct BankImport {
    pub file: String,
    pub hash: String,
    pub format: String,
    pub forbund: Slug,
    pub items: Vec<Item>,
    pub balances: Vec<BalanceCheck>,
}

/// A statement's closing balance beside the books' bank on the same day, with what is proposed.
pub struct BalanceCheck {
    pub account: String,
    pub date: chrono::NaiveDate,
    pub bank: Amount,
    pub books: Amount,
}

impl BalanceCheck {
    pub fn difference(&self) -> Amount {
        self.bank - self.books
    }
}

fn refused(r: finsam_import::Refusal) -> Failure {
    Failure { code: 2, message: r.to_string().trim_end().to_string() }
}

/// Reads a bank file and proposes the events of its entries for `forbund`. A proposal the
/// ledger would refuse (say, a year already closed) waits with the rule instead.
pub fn propose_bank(store: &Store<FileLog>, forbund: &Slug, file: &str, bytes: &[u8]) -> Result<BankImport, Failure> {
    if !store.ledger().is_registered(forbund) {
        return Err(Failure::usage(format!("förbundet {forbund} finns inte i bokföringen")));
    }
    let parsed: BankFile = finsam_import::bank::read(file, bytes).map_err(refused)?;
    let hash = finsam_import::file_hash(bytes);
    let books = Books { projection: store.projection(), ledger: store.ledger(), head: store.head().seq };
    let source = Source { file, hash: &hash, format: &parsed.format };
    let mut items = match_file(&parsed, forbund, &books, &source, &|key| store.recorded_with_key(forbund, key));
    let mut ledger = store.ledger().clone();
    for item in &mut items {
        let Outcome::Proposed { events, .. } = &item.outcome else { continue };
        let mut trial = ledger.clone();
        let refusal = events.iter().find_map(|e| trial.record(e).err());
        match refusal {
            None => ledger = trial,
            Some(r) => {
                item.outcome = Outcome::Unmatched { reason: format!("förslaget skulle avvisas: {}", r.message) }
            }
        }
    }
    let mut balances = Vec::new();
    for s in &parsed.statements {
        let Some(closing) = &s.closing else { continue };
        let at = At { as_of: closing.date, known_at: store.head().seq };
        let chart = finsam_projections::chart::Chart::default_chart();
        let books_bank = store.projection().balances(forbund, at, &chart).map(|b| b.bank).unwrap_or_default();
        let proposed: Amount = items
            .iter()
            .filter(|i| i.account == s.account && i.entry.date <= closing.date)
            .filter(|i| matches!(i.outcome, Outcome::Proposed { .. }))
            .map(|i| i.entry.amount)
            .sum();
        balances.push(BalanceCheck {
            account: s.account.clone(),
            date: closing.date,
            bank: closing.amount,
            books: books_bank + proposed,
        });
    }
    Ok(BankImport { file: file.to_string(), hash, format: parsed.format, forbund: forbund.clone(), items, balances })
}

impl BankImport {
    /// The events to record, in the file's order, each with the number of its item as its line.
    pub fn batch(&self) -> Vec<(usize, Event)> {
        let mut batch = Vec::new();
        for (n, item) in self.items.iter().enumerate() {
            if let Outcome::Proposed { events, .. } = &item.outcome {
                batch.extend(events.iter().map(|e| (n + 1, e.clone())));
            }
        }
        batch
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.items.iter().filter(|i| f(&i.outcome)).count()
    }
}

/// The proposal in words: "medlemsbidrag sala 97 569,75 kr (betalt av …)".
fn proposal_words(e: &Event) -> String {
    match &e.kind {
        EventKind::ContributionReceived { member, year, amount, payer, .. } => match payer {
            Some(p) => format!("medlemsbidrag {year} för {member}, {}, betalt av {p}", amount.human()),
            None => format!("medlemsbidrag {year} från {member}, {}", amount.human()),
        },
        EventKind::InvoicePaid { invoice, amount, .. } if amount.is_negative() => {
            format!("återbetalning på faktura {invoice}, {}", (-*amount).human())
        }
        EventKind::InvoicePaid { invoice, amount, .. } => format!("betalning av faktura {invoice}, {}", amount.human()),
        other => other.type_name().to_string(),
    }
}

/// The import for people: one row per bank entry, then what it comes to.
pub fn bank_table(import: &BankImport, recorded: Option<&[finsam_store::Recorded]>) -> String {
    let mut out = format!(
        "Bankfil {} ({}, SHA-256 {}…) för {}\n\n",
        import.file,
        import.format,
        &import.hash[..16],
        import.forbund
    );
    let mut t = Table::new(&[
        ("plats", Align::Left),
        ("datum", Align::Left),
        ("belopp", Align::Right),
        ("motpart", Align::Left),
        ("förslag", Align::Left),
        ("skäl", Align::Left),
    ]);
    for item in &import.items {
        let (what, why) = match &item.outcome {
            Outcome::Proposed { events, reason } => {
                (events.iter().map(proposal_words).collect::<Vec<_>>().join("; "), reason.clone())
            }
            Outcome::AlreadyRecorded { seq } => (format!("redan bokförd (händelse {seq})"), String::new()),
            Outcome::Unmatched { reason } => ("VÄNTAR PÅ GRANSKNING".to_string(), reason.clone()),
        };
        t.row(vec![
            item.entry.place.clone(),
            item.entry.date.to_string(),
            item.entry.amount.human_number(),
            item.entry.counterparty.clone().unwrap_or_default(),
            what,
            why,
        ]);
    }
    out.push_str(&t.render());
    let proposed = import.count(|o| matches!(o, Outcome::Proposed { .. }));
    let already = import.count(|o| matches!(o, Outcome::AlreadyRecorded { .. }));
    let waiting = import.count(|o| matches!(o, Outcome::Unmatched { .. }));
    out.push_str(&format!(
        "\n{} poster: {proposed} matchade ({} händelser), {already} redan bokförda, {waiting} väntar på granskning.\n",
        import.items.len(),
        import.batch().len()
    ));
    for b in &import.balances {
        let diff = b.difference();
        out.push_str(&format!(
            "Kontot {} den {}: banken {}, bokföringen med förslagen {}{}\n",
            b.account,
            b.date,
            b.bank.human(),
            b.books.human(),
            if diff.is_zero() { " — samma.".to_string() } else { format!(" — SKILLNAD {}.", diff.human()) }
        ));
    }
    match recorded {
        None if proposed > 0 => {
            out.push_str("Provkörning: inget är bokfört. Kör utan --dry-run för att bokföra förslagen.\n")
        }
        None => {}
        Some(r) => {
            let fresh = r.iter().filter(|x| !x.duplicate).count();
            out.push_str(&format!("{fresh} nya händelser bokförda.\n"));
        }
    }
    if waiting > 0 {
        out.push_str(
            "Posterna som väntar på granskning är inte bokförda: bokför dem för hand (finsam record) när du vet vad de är.\n",
        );
    }
    out
}

/// The import for programs: stable keys, amounts as canonical strings, events as canonical JSON.
pub fn bank_json(import: &BankImport, recorded: Option<&[finsam_store::Recorded]>) -> String {
    let mut seqs = recorded.unwrap_or_default().iter();
    let items: Vec<Value> = import
        .items
        .iter()
        .map(|item| {
            let e = &item.entry;
            let mut v = json!({
                "place": e.place,
                "date": e.date.to_string(),
                "amount": e.amount.canonical(),
                "counterparty": e.counterparty,
                "reference": e.reference,
                "text": e.text,
                "account": item.account,
                "key": item.key,
            });
            match &item.outcome {
                Outcome::Proposed { events, reason } => {
                    v["status"] = json!(if recorded.is_some() { "recorded" } else { "proposed" });
                    v["reason"] = json!(reason);
                    v["events"] = Value::Array(events.iter().map(|e| e.to_json()).collect());
                    if recorded.is_some() {
                        v["seqs"] = json!(events.iter().filter_map(|_| seqs.next().map(|r| r.seq)).collect::<Vec<_>>());
                    }
                }
                Outcome::AlreadyRecorded { seq } => {
                    v["status"] = json!("already_recorded");
                    v["seq"] = json!(seq);
                }
                Outcome::Unmatched { reason } => {
                    v["status"] = json!("unmatched");
                    v["reason"] = json!(reason);
                }
            }
            v
        })
        .collect();
    let balances: Vec<Value> = import
        .balances
        .iter()
        .map(|b| {
            json!({"account": b.account, "date": b.date.to_string(), "bank": b.bank.canonical(),
                   "books": b.books.canonical(), "difference": b.difference().canonical()})
        })
        .collect();
    let answer = json!({
        "file": import.file,
        "sha256": import.hash,
        "format": import.format,
        "forbund": import.forbund.to_string(),
        "recorded": recorded.is_some(),
        "items": items,
        "balances": balances,
    });
    format!("{answer}\n")
}
