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

pub use finsam_import::budget::MAX_BYTES as BUDGET_MAX_BYTES;
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
    let parsed = read_bank(file, bytes)?;
    propose_bank_file(store, forbund, file, &finsam_import::file_hash(bytes), parsed)
}

/// Reads a bank file, or refuses it whole: no books needed (the web app reads an upload before
/// it takes the store's lock).
pub fn read_bank(file: &str, bytes: &[u8]) -> Result<BankFile, Failure> {
    finsam_import::bank::read(file, bytes).map_err(refused)
}

/// A bank file already read, matched against the books (`hash`: the file's SHA-256).
pub fn propose_bank_file(
    store: &Store<FileLog>,
    forbund: &Slug,
    file: &str,
    hash: &str,
    parsed: BankFile,
) -> Result<BankImport, Failure> {
    if !store.ledger().is_registered(forbund) {
        return Err(Failure::usage(format!("förbundet {forbund} finns inte i bokföringen")));
    }
    let hash = hash.to_string();
    let books = Books { projection: store.projection(), ledger: store.ledger(), head: store.head().seq };
    let source = Source { file, hash: &hash, format: &parsed.format };
    let mut items = match_file(&parsed, forbund, &books, &source, &|key| store.recorded_with_key(forbund, key));
    let mut ledger = store.ledger().clone();
    for item in &mut items {
        let Outcome::Proposed { events, .. } = &item.outcome else { continue };
        // One event: recorded in place (a refusal leaves the ledger as it was). Several (a
        // transfer paying two members): on a copy, kept only if all pass.
        let refusal = match events.as_slice() {
            [one] => ledger.record(one).err(),
            many => {
                let mut trial = ledger.clone();
                let refusal = many.iter().find_map(|e| trial.record(e).err());
                if refusal.is_none() {
                    ledger = trial;
                }
                refusal
            }
        };
        if let Some(r) = refusal {
            item.outcome = Outcome::Unmatched { reason: format!("förslaget skulle avvisas: {}", r.message) };
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

/// What the board decided about the budget in the spreadsheet: the sheet holds the lines, the
/// import is told the rest.
pub struct BudgetDecision {
    pub year: i32,
    /// The event's date (default: the decision's).
    pub date: chrono::NaiveDate,
    pub outlook: bool,
    pub body: String,
    pub decided: chrono::NaiveDate,
    pub paragraph: Option<String>,
}

/// A budget spreadsheet read: its lines (with where each is in the sheet) and the event they make.
pub struct BudgetImport {
    pub file: String,
    pub hash: String,
    pub lines: Vec<finsam_import::budget::Line>,
    pub event: Event,
    /// The seq of this file's budget, when it was imported before.
    pub already: Option<u64>,
}

/// Reads a budget spreadsheet for `forbund` and proposes its `BudgetAdopted`, checked by the
/// contract and the ledger's rules; every cell that cannot be read is named.
pub fn propose_budget(
    store: &Store<FileLog>,
    forbund: &Slug,
    file: &str,
    bytes: &[u8],
    decision: &BudgetDecision,
) -> Result<BudgetImport, Failure> {
    use finsam_import::budget::Kind;
    use finsam_import::cells::fold;
    let projection = store.projection();
    if !projection.forbund.contains_key(forbund) {
        return Err(Failure::usage(format!("förbundet {forbund} finns inte i bokföringen")));
    }
    let insats = |text: &str| -> Option<String> {
        let want = fold(text);
        projection
            .insatser
            .iter()
            .filter(|i| &i.forbund == forbund)
            .find(|i| i.insats.as_str() == text.trim() || fold(&i.name) == want)
            .map(|i| i.insats.to_string())
    };
    let other = |text: &str| -> Option<String> {
        let want = fold(text);
        projection
            .forbund
            .iter()
            .find(|(id, f)| id.as_str() == text.trim() || (!want.is_empty() && fold(&f.name) == want))
            .map(|(id, _)| id.to_string())
    };
    let lines = finsam_import::budget::read(file, bytes, &insats, &other).map_err(refused)?;
    let hash = finsam_import::file_hash(bytes);
    let mut costs = Vec::new();
    let mut income = Vec::new();
    let mut transfers = Vec::new();
    // Where each list's entries are in the sheet, for the contract's refusals.
    let mut places: Vec<(String, String)> = Vec::new();
    for l in &lines {
        match &l.kind {
            Kind::Cost { category, insats, nature } => {
                let mut c =
                    json!({"id": l.id, "name": l.name, "category": category.as_str(), "amount": l.amount.canonical()});
                if let Some(i) = insats {
                    c["insats"] = json!(i);
                }
                if let Some(n) = nature {
                    c["nature"] = json!(n.as_str());
                }
                places.push((format!("costs[{}]", costs.len()), l.place.clone()));
                costs.push(c);
            }
            Kind::Income => {
                places.push((format!("income[{}]", income.len()), l.place.clone()));
                income.push(json!({"id": l.id, "name": l.name, "amount": l.amount.canonical()}));
            }
            Kind::Transfer { from } => {
                places.push((format!("transfers[{}]", transfers.len()), l.place.clone()));
                transfers.push(json!({"from": from, "name": l.name, "amount": l.amount.canonical()}));
            }
        }
    }
    let mut d = json!({"body": decision.body, "date": decision.decided.to_string()});
    if let Some(p) = &decision.paragraph {
        d["paragraph"] = json!(p);
    }
    let key = format!("budget:{}:{}", decision.year, &hash[..32]);
    let mut value = json!({
        "type": "BudgetAdopted", "forbund": forbund.to_string(), "date": decision.date.to_string(),
        "year": decision.year, "status": if decision.outlook { "outlook" } else { "adopted" },
        "decision": d, "income": income, "costs": costs,
        "idempotency_key": key,
        "note": format!("Importerad ur kalkylbladet {file} (SHA-256 {})", &hash[..16]),
    });
    if !transfers.is_empty() {
        value["transfers"] = json!(transfers);
    }
    let in_sheet = |r: finsam_domain::Rejection| -> Failure {
        let place = places
            .iter()
            .find(|(prefix, _)| r.field.starts_with(&format!("{prefix}.")) || r.field == *prefix)
            .map_or_else(|| file.to_string(), |(_, p)| format!("{file}, {p}"));
        Failure {
            code: 2,
            message: format!(
                "{file}: budgeten avvisas, inget har bokförts:\n  {place}: {}",
                crate::output::rejection_text(&r)
            ),
        }
    };
    let event = Event::from_json(&value).map_err(in_sheet)?;
    let already = store.recorded_with_key(forbund, &key);
    if already.is_none() {
        store.ledger().check(&event).map_err(in_sheet)?;
    }
    Ok(BudgetImport { file: file.to_string(), hash, lines, event, already })
}

/// The budget for people: its lines as the sheet had them, the totals, and what happens next.
pub fn budget_table(import: &BudgetImport, recorded: Option<u64>, dry_run: bool) -> String {
    use finsam_import::budget::Kind;
    let EventKind::BudgetAdopted { year, .. } = &import.event.kind else {
        unreachable!("a budget import makes a budget")
    };
    let mut out =
        format!("Budget {year} ur {} (SHA-256 {}…) för {}\n\n", import.file, &import.hash[..16], import.event.forbund);
    let mut t = Table::new(&[
        ("cell", Align::Left),
        ("slag", Align::Left),
        ("id", Align::Left),
        ("namn", Align::Left),
        ("insats", Align::Left),
        ("art", Align::Left),
        ("belopp", Align::Right),
    ]);
    let (mut costs, mut income) = (Amount::ZERO, Amount::ZERO);
    for l in &import.lines {
        let (kind, insats, nature) = match &l.kind {
            Kind::Cost { category, insats, nature } => {
                costs += l.amount;
                (
                    format!("kostnad, {category}"),
                    insats.clone().unwrap_or_default(),
                    nature.map(|n| n.as_str().to_string()).unwrap_or_default(),
                )
            }
            Kind::Income => {
                income += l.amount;
                ("intäkt".to_string(), String::new(), String::new())
            }
            Kind::Transfer { from } => (format!("överföring från {from}"), String::new(), String::new()),
        };
        t.row(vec![l.place.clone(), kind, l.id.clone(), l.name.clone(), insats, nature, l.amount.human_number()]);
    }
    out.push_str(&t.render());
    out.push_str(&format!(
        "\n{} rader: kostnader {}, intäkter {}, resultat {}.\n",
        import.lines.len(),
        costs.human(),
        income.human(),
        (income - costs).human()
    ));
    match (import.already, recorded) {
        (Some(seq), _) => out.push_str(&format!("Filen är redan importerad (händelse {seq}): inget nytt bokfört.\n")),
        (None, Some(seq)) => out.push_str(&format!("Budgeten är bokförd som händelse {seq}.\n")),
        (None, None) if dry_run => {
            out.push_str("Provkörning: inget är bokfört. Kör utan --dry-run för att bokföra budgeten.\n")
        }
        (None, None) => {}
    }
    out
}

/// The budget for programs: the event as canonical JSON, and where it stands.
pub fn budget_json(import: &BudgetImport, recorded: Option<u64>) -> String {
    let answer = json!({
        "file": import.file,
        "sha256": import.hash,
        "forbund": import.event.forbund.to_string(),
        "event": import.event.to_json(),
        "lines": import.lines.iter().map(|l| json!({"place": l.place, "id": l.id, "amount": l.amount.canonical()})).collect::<Vec<_>>(),
        "already_recorded": import.already,
        "recorded": recorded,
    });
    format!("{answer}\n")
}

/// What a person may attach as underlag, by its first bytes: a PDF, a PNG or a JPEG.
pub fn document_type(bytes: &[u8]) -> Option<finsam_domain::event::MediaType> {
    use finsam_domain::event::MediaType;
    if bytes.starts_with(b"%PDF-") {
        Some(MediaType::Pdf)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(MediaType::Png)
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some(MediaType::Jpeg)
    } else {
        None
    }
}

/// The `UnderlagAttached` of a file already kept in the store.
pub fn underlag_event(
    forbund: &Slug,
    of: Vec<u64>,
    name: &str,
    media_type: finsam_domain::event::MediaType,
    bytes: &[u8],
    key: Option<String>,
    note: Option<String>,
) -> Event {
    let name: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
    Event {
        forbund: forbund.clone(),
        date: crate::reports::today(),
        idempotency_key: key,
        note,
        kind: EventKind::UnderlagAttached {
            of,
            file: finsam_domain::event::Attachment {
                name: if name.trim().is_empty() { "underlag".into() } else { name },
                media_type,
                size: bytes.len() as u64,
                sha256: finsam_store::underlag::sha256(bytes),
            },
        },
    }
}

/// Attaches a document (PDF, PNG, JPEG) to events of a förbund's books: the bytes kept in the
/// store under their SHA-256, then the event that names them recorded. Returns its seq.
pub fn attach(
    store: &mut Store<FileLog>,
    dir: &std::path::Path,
    forbund: &Slug,
    of: Vec<u64>,
    name: &str,
    bytes: &[u8],
    actor: &str,
) -> Result<finsam_store::Recorded, Failure> {
    let Some(media_type) = document_type(bytes) else {
        return Err(Failure::usage(format!(
            "{name}: underlag är en PDF, PNG eller JPEG; den här filen börjar inte som någon av dem"
        )));
    };
    if bytes.len() as u64 > finsam_domain::event::ATTACHMENT_BYTES_MAX {
        return Err(Failure::usage(format!("{name}: ett underlag är högst 20 MB; filen är {} byte", bytes.len())));
    }
    let event = underlag_event(forbund, of, name, media_type, bytes, None, None);
    // Checked before the bytes are kept, so that a refused event leaves no file behind.
    store.check(&[(1, event.clone())], None)?;
    finsam_store::underlag::put(dir, bytes)?;
    let outcome = store.record(&[(1, event)], actor, None)?;
    Ok(outcome.into_iter().next().expect("one event recorded"))
}

/// The underlag event an import adds to its batch: the file it read, attached to the events it
/// records (seqs `first..first + count`), so the revisor finds the bank file or the sheet
/// behind each of them.
pub fn import_underlag(
    forbund: &Slug,
    file: &str,
    media_type: finsam_domain::event::MediaType,
    bytes: &[u8],
    first: u64,
    count: u64,
) -> Event {
    let of: Vec<u64> = (first..first + count).collect();
    let hash = finsam_import::file_hash(bytes);
    let key = format!("underlag:{}:{first}", &hash[..40]);
    underlag_event(forbund, of, file, media_type, bytes, Some(key), Some(format!("Filen som importen läste ({file})")))
}

/// What an import's file is, for its underlag: XML (camt), text (BgMax), a spreadsheet.
pub fn import_media_type(bytes: &[u8], name: &str) -> finsam_domain::event::MediaType {
    use finsam_domain::event::MediaType;
    let lower = name.to_lowercase();
    if bytes.starts_with(b"PK\x03\x04") {
        if lower.ends_with(".ods") {
            MediaType::Ods
        } else {
            MediaType::Xlsx
        }
    } else if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') || bytes.starts_with(b"\xef\xbb\xbf<") {
        MediaType::Xml
    } else if lower.ends_with(".csv") {
        MediaType::Csv
    } else {
        MediaType::Text
    }
}

/// What the kansli assigns a payment that waits for review to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assignment {
    /// A member's contribution for the year of the payment's date.
    Member(Slug),
    /// A supplier invoice the payment settles (money out) or refunds (money in).
    Invoice(Slug),
}

impl Assignment {
    /// The form's value: "medlem:sala", "faktura:f-100".
    pub fn parse(text: &str) -> Option<Assignment> {
        let (kind, id) = text.split_once(':')?;
        let id = Slug::parse(id).ok()?;
        match kind {
            "medlem" => Some(Assignment::Member(id)),
            "faktura" => Some(Assignment::Invoice(id)),
            _ => None,
        }
    }
}

impl BankImport {
    /// The batch with the kansli's assignments of waiting payments (by their key) added, each
    /// under the payment's own key so that a second import knows it; then the file itself as
    /// underlag of all of them. `first` is the seq the batch's first event will get.
    pub fn batch_with(
        &self,
        assigned: &std::collections::BTreeMap<String, Assignment>,
        bytes: &[u8],
        first: u64,
    ) -> Result<Vec<(usize, Event)>, Failure> {
        let mut batch = self.batch();
        let source = Source { file: &self.file, hash: &self.hash, format: &self.format };
        for (n, item) in self.items.iter().enumerate() {
            let (Outcome::Unmatched { .. }, Some(a)) = (&item.outcome, assigned.get(&item.key)) else { continue };
            let e = &item.entry;
            let reason = "tilldelad av kansliet vid granskningen";
            let kind = match a {
                Assignment::Member(member) if e.amount.is_positive() => EventKind::ContributionReceived {
                    member: member.clone(),
                    year: chrono::Datelike::year(&e.date),
                    amount: e.amount,
                    reference: finsam_import::matching::reference(e),
                    payer: None,
                },
                Assignment::Member(_) => {
                    return Err(Failure::usage(format!("{}: en utbetalning är inget medlemsbidrag", e.place)))
                }
                Assignment::Invoice(invoice) => EventKind::InvoicePaid {
                    invoice: invoice.clone(),
                    amount: -e.amount,
                    reference: finsam_import::matching::reference(e),
                },
            };
            batch.push((
                n + 1,
                Event {
                    forbund: self.forbund.clone(),
                    date: e.date,
                    idempotency_key: Some(item.key.clone()),
                    note: Some(finsam_import::matching::note(&source, e, reason)),
                    kind,
                },
            ));
        }
        if !batch.is_empty() {
            let media = import_media_type(bytes, &self.file);
            let underlag = import_underlag(&self.forbund, &self.file, media, bytes, first, batch.len() as u64);
            batch.push((self.items.len() + 1, underlag));
        }
        Ok(batch)
    }

    /// The payments that wait for the kansli.
    pub fn waiting(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Unmatched { .. }))
    }
}

/// An SIE file read: its events in the file's order (with where each came from and why).
pub struct SieImport {
    pub file: String,
    pub hash: String,
    pub proposal: finsam_import::sie::SieProposal,
    /// The events not yet recorded (a second import of the same file has none).
    pub fresh: Vec<usize>,
}

/// Reads an SIE 4 file for `forbund` with the account mapping (program account → finsam
/// account; JSON object text) and proposes its events, each checked by the ledger's rules in
/// order; a refusal names the voucher.
pub fn propose_sie(
    store: &Store<FileLog>,
    forbund: &Slug,
    file: &str,
    bytes: &[u8],
    mapping: Option<&str>,
) -> Result<SieImport, Failure> {
    if !store.ledger().is_registered(forbund) {
        return Err(Failure::usage(format!("förbundet {forbund} finns inte i bokföringen")));
    }
    let mapping: std::collections::BTreeMap<String, String> = match mapping {
        None => Default::default(),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            Failure::usage(format!(
                "kontomappningen är inte ett JSON-objekt {{\"programmets konto\": \"finsams konto\"}}: {e}"
            ))
        })?,
    };
    let chart = finsam_projections::chart::Chart::default_chart();
    let opening_recorded =
        store.projection().visible_vouchers(forbund, store.head().seq, chrono::NaiveDate::MAX).next().is_some();
    let books = finsam_import::sie::SieBooks {
        projection: store.projection(),
        chart: &chart,
        mapping: &mapping,
        opening_recorded,
        open_invoices: store.ledger().open_invoices(forbund).into_iter().map(|(id, a)| (id.clone(), a)).collect(),
    };
    let proposal = finsam_import::sie::read(file, bytes, forbund, &books).map_err(refused)?;
    let mut ledger = store.ledger().clone();
    let mut fresh = Vec::new();
    for (n, (place, e, _)) in proposal.events.iter().enumerate() {
        if let Some(key) = e.idempotency_key.as_deref() {
            if store.recorded_with_key(forbund, key).is_some() {
                continue;
            }
        }
        ledger.record(e).map_err(|r| Failure {
            code: 2,
            message: format!(
                "{file}: filen avvisas, inget har bokförts:\n  {place}: {}",
                crate::output::rejection_text(&r)
            ),
        })?;
        fresh.push(n);
    }
    Ok(SieImport { file: file.to_string(), hash: finsam_import::file_hash(bytes), proposal, fresh })
}

impl SieImport {
    /// The events to record, and the file as their underlag.
    pub fn batch(&self, bytes: &[u8], first: u64) -> Vec<(usize, Event)> {
        let mut batch: Vec<(usize, Event)> =
            self.fresh.iter().map(|n| (n + 1, self.proposal.events[*n].1.clone())).collect();
        if !batch.is_empty() {
            let forbund = batch[0].1.forbund.clone();
            let underlag = import_underlag(
                &forbund,
                &self.file,
                finsam_domain::event::MediaType::Text,
                bytes,
                first,
                batch.len() as u64,
            );
            batch.push((self.proposal.events.len() + 1, underlag));
        }
        batch
    }
}

/// The SIE import for people.
pub fn sie_table(import: &SieImport, recorded: bool, dry_run: bool) -> String {
    let p = &import.proposal;
    let mut out = format!(
        "SIE-fil {} ({}, räkenskapsår {}, SHA-256 {}…)\n\n",
        import.file,
        p.program,
        p.year,
        &import.hash[..16]
    );
    let mut t =
        Table::new(&[("plats", Align::Left), ("datum", Align::Left), ("händelse", Align::Left), ("skäl", Align::Left)]);
    for (n, (place, e, reason)) in p.events.iter().enumerate() {
        let what = finsam_projections::summary::summary(e);
        let status = if import.fresh.contains(&n) { reason.clone() } else { "redan bokförd".to_string() };
        t.row(vec![place.clone(), e.date.to_string(), what, status]);
    }
    out.push_str(&t.render());
    for (place, why) in &p.skipped {
        out.push_str(&format!("{place}: hoppas över — {why}\n"));
    }
    out.push_str(&format!(
        "\n{} händelser, {} nya.{}\n",
        p.events.len(),
        import.fresh.len(),
        match (recorded, dry_run) {
            (true, _) => " Bokförda.",
            (false, true) if !import.fresh.is_empty() => " Provkörning: inget är bokfört.",
            _ => "",
        }
    ));
    out
}

/// The SIE import for programs.
pub fn sie_json(import: &SieImport, recorded: bool) -> String {
    let p = &import.proposal;
    let events: Vec<Value> = p
        .events
        .iter()
        .enumerate()
        .map(|(n, (place, e, reason))| {
            json!({"place": place, "reason": reason, "fresh": import.fresh.contains(&n), "event": e.to_json()})
        })
        .collect();
    let answer = json!({"file": import.file, "sha256": import.hash, "year": p.year, "program": p.program,
        "recorded": recorded, "events": events,
        "skipped": p.skipped.iter().map(|(place, why)| json!({"place": place, "why": why})).collect::<Vec<_>>()});
    format!("{answer}\n")
}
