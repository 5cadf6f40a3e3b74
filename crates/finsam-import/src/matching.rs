//! Each bank entry matched to what the books say is owed, with the reason in words:
//!
//! - **money in from a member** — the payer found by name among the förbund's members (the
//!   bank's name for the payer, else the payment's reference); Försäkringskassan pays for the
//!   state, Arbetsförmedlingen included. The amount must be, in this order: the next open part
//!   (by the invoicing plan) of every member the payer pays for, together; the next open part of
//!   one of them; all that one still owes for the year; all that all of them owe. One
//!   `ContributionReceived` per member paid for.
//! - **money out** — an open supplier invoice named in the payment's reference (its id), paid in
//!   whole or in part; else the one open invoice of the payee with exactly that amount.
//! - **money in from a supplier** — the refund of a credit note: the payee's invoice that a
//!   credit note left owed back, exactly that amount.
//!
//! Nothing is guessed: an entry that fits none of these, or more than one, waits for the kansli
//! with the reason it did not match.

use crate::bank::{BankFile, Entry};
use chrono::{Datelike, NaiveDate};
use finsam_domain::event::{Event, EventKind};
use finsam_domain::ledger::Ledger;
use finsam_domain::{Amount, MemberKind, Slug};
use finsam_projections::members::OpenInstallment;
use finsam_projections::projection::Projection;
use finsam_projections::reports::At;
use std::collections::BTreeMap;

/// The books an import matches against.
pub struct Books<'a> {
    pub projection: &'a Projection,
    pub ledger: &'a Ledger,
    pub head: u64,
}

/// What became of one bank entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Matched: the events to record, and why.
    Proposed { events: Vec<Event>, reason: String },
    /// Brought in by an earlier import (its key is in the log): nothing new.
    AlreadyRecorded { seq: u64 },
    /// Waits for the kansli, with the reason no match was made.
    Unmatched { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub entry: Entry,
    /// The statement's account.
    pub account: String,
    /// The idempotency key of the entry's first event: the account and the bank's reference.
    pub key: String,
    pub outcome: Outcome,
}

/// Where the import came from, for the events' notes.
pub struct Source<'a> {
    pub file: &'a str,
    pub hash: &'a str,
    pub format: &'a str,
}

/// The idempotency key of a bank entry: printable ASCII, at most 128 characters.
pub fn entry_key(account: &str, id: &str) -> String {
    let clean = |s: &str| s.chars().filter(|c| c.is_ascii_graphic()).collect::<String>();
    let key = format!("bank:{}:{}", clean(account), clean(id));
    if key.len() <= 128 {
        key
    } else {
        format!("bank:{}", &crate::file_hash(key.as_bytes())[..60])
    }
}

/// Words of a name, lower-case with å, ä, ö folded.
fn words(text: &str) -> Vec<String> {
    crate::cells::fold(text).split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect()
}

const GENERIC: [&str; 6] = ["kommun", "kommunen", "stad", "staden", "ab", "kommunstyrelse"];

fn core(name: &str) -> Vec<String> {
    words(name).into_iter().filter(|w| !GENERIC.contains(&w.as_str())).collect()
}

struct Member {
    id: Slug,
    name: String,
    kind: MemberKind,
}

/// The matcher's view of what is still owed, updated as the file's entries are matched so
/// that two payments in one file do not settle the same part twice.
struct Owed {
    installments: BTreeMap<i32, Vec<OpenInstallment>>,
    invoices: BTreeMap<Slug, (Amount, String)>,
}

pub fn match_file(
    file: &BankFile,
    forbund: &Slug,
    books: &Books<'_>,
    source: &Source<'_>,
    recorded: &dyn Fn(&str) -> Option<u64>,
) -> Vec<Item> {
    let members: Vec<Member> = books
        .projection
        .forbund
        .get(forbund)
        .map(|info| {
            info.members
                .iter()
                .map(|(id, name, kind, _)| Member { id: id.clone(), name: name.clone(), kind: *kind })
                .collect()
        })
        .unwrap_or_default();
    let mut owed = Owed {
        installments: BTreeMap::new(),
        invoices: books
            .ledger
            .open_invoices(forbund)
            .into_iter()
            .map(|(id, out)| {
                let supplier = books.projection.invoice(forbund, id).map(|i| i.supplier.clone()).unwrap_or_default();
                (id.clone(), (out, supplier))
            })
            .collect(),
    };
    let mut items = Vec::new();
    for s in &file.statements {
        for e in &s.entries {
            let key = entry_key(&s.account, &e.id);
            let outcome = match recorded(&key) {
                Some(seq) => Outcome::AlreadyRecorded { seq },
                None => propose(e, forbund, books, &members, &mut owed, &key, source),
            };
            items.push(Item { entry: e.clone(), account: s.account.clone(), key, outcome });
        }
    }
    items
}

pub fn note(source: &Source<'_>, e: &Entry, reason: &str) -> String {
    let text = format!(
        "Importerad ur bankfilen {} ({}, SHA-256 {}), {}: {reason}",
        source.file,
        source.format,
        &source.hash[..16],
        e.place
    );
    text.chars().take(1000).collect()
}

pub fn reference(e: &Entry) -> String {
    let mut text = match (&e.reference, &e.text) {
        (Some(r), Some(t)) => format!("Bank {}: {r} {t}", e.date),
        (Some(x), None) | (None, Some(x)) => format!("Bank {}: {x}", e.date),
        (None, None) => format!("Bank {}: {}", e.date, e.id),
    };
    if text.chars().count() > 200 {
        text = text.chars().take(199).collect::<String>() + "…";
    }
    text
}

fn propose(
    e: &Entry,
    forbund: &Slug,
    books: &Books<'_>,
    members: &[Member],
    owed: &mut Owed,
    key: &str,
    source: &Source<'_>,
) -> Outcome {
    let event = |kind: EventKind, n: usize, reason: &str| Event {
        forbund: forbund.clone(),
        date: e.date,
        idempotency_key: Some(if n == 0 { key.to_string() } else { format!("{key}:{n}") }),
        note: Some(note(source, e, reason)),
        kind,
    };
    if e.amount.is_negative() {
        return match invoice_for(e, owed) {
            Ok((invoice, reason)) => {
                owed.invoices.get_mut(&invoice).expect("matched an open invoice").0 += e.amount;
                let kind = EventKind::InvoicePaid { invoice, amount: -e.amount, reference: reference(e) };
                Outcome::Proposed { events: vec![event(kind, 0, &reason)], reason }
            }
            Err(reason) => Outcome::Unmatched { reason },
        };
    }
    // Money in: a refund of a credit note, or a member's contribution.
    if let Some((invoice, reason)) = refund_for(e, owed) {
        owed.invoices.get_mut(&invoice).expect("matched an open invoice").0 += e.amount;
        let kind = EventKind::InvoicePaid { invoice, amount: -e.amount, reference: reference(e) };
        return Outcome::Proposed { events: vec![event(kind, 0, &reason)], reason };
    }
    let payer = match payer_of(e, members) {
        Ok(p) => p,
        Err(reason) => return Outcome::Unmatched { reason },
    };
    let covered: Vec<&Member> = members
        .iter()
        .filter(|m| m.id == payer.id || (payer.kind == MemberKind::Staten && m.kind == MemberKind::Staten))
        .collect();
    // The year of the payment's date; else the year before (a late payment in January).
    let this_year = e.date.year();
    let mut year = this_year;
    let mut plans = Vec::new();
    for y in [this_year, this_year - 1] {
        let at = At { as_of: NaiveDate::from_ymd_opt(y, 12, 31).expect("a year's end"), known_at: books.head };
        let open = owed.installments.entry(y).or_insert_with(|| books.projection.open_installments(forbund, y, at));
        plans = contribution_plans(e.amount, payer, &covered, open, y);
        if !plans.is_empty() {
            year = y;
            break;
        }
    }
    let open = owed.installments.get_mut(&year).expect("read above");
    let open_of = |m: &Member| -> Vec<&OpenInstallment> { open.iter().filter(|i| i.member == m.id).collect() };
    let money = |a: Amount| a.human();
    match plans.len() {
        0 => {
            let left: Vec<String> = covered
                .iter()
                .filter_map(|m| {
                    open_of(m).first().map(|i| format!("{}: {}, förfaller {}", m.name, money(i.amount), i.due))
                })
                .collect();
            Outcome::Unmatched {
                reason: if left.is_empty() {
                    format!("betalare {}, men inget medlemsbidrag för {year} är obetalt", payer.name)
                } else {
                    format!(
                        "betalare {}, men beloppet {} stämmer inte med det som är obetalt ({})",
                        payer.name,
                        money(e.amount),
                        left.join("; ")
                    )
                },
            }
        }
        1 => {
            let (parts, reason) = plans.pop().expect("one plan");
            let mut events = Vec::new();
            for (n, (member, amount)) in parts.iter().enumerate() {
                settle(open, member, *amount);
                let kind = EventKind::ContributionReceived {
                    member: member.clone(),
                    year,
                    amount: *amount,
                    reference: reference(e),
                    payer: (member != &payer.id).then(|| payer.id.clone()),
                };
                events.push(event(kind, n, &reason));
            }
            Outcome::Proposed { events, reason }
        }
        _ => Outcome::Unmatched {
            reason: format!(
                "beloppet {} passar flera medlemmars delbetalningar ({}); välj själv",
                money(e.amount),
                plans
                    .iter()
                    .map(|(p, _)| p.iter().map(|(m, _)| m.to_string()).collect::<Vec<_>>().join("+"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
}

/// The ways a payment from `payer` can settle the open parts of the members it pays for, each
/// with its reason: more than one is ambiguous, none is no match.
fn contribution_plans(
    amount: Amount,
    payer: &Member,
    covered: &[&Member],
    open: &[OpenInstallment],
    year: i32,
) -> Vec<(Vec<(Slug, Amount)>, String)> {
    let open_of = |m: &Member| -> Vec<&OpenInstallment> { open.iter().filter(|i| i.member == m.id).collect() };
    let money = |a: Amount| a.human();
    let mut plans: Vec<(Vec<(Slug, Amount)>, String)> = Vec::new();
    // 1. The next open part of every member the payer pays for, together.
    let next: Vec<(&Member, &OpenInstallment)> =
        covered.iter().filter_map(|m| open_of(m).first().map(|i| (*m, *i))).collect();
    if next.len() > 1 && next.iter().map(|(_, i)| i.amount).sum::<Amount>() == amount {
        let parts: Vec<String> =
            next.iter().map(|(m, i)| format!("{} {} (förfaller {})", m.name, money(i.amount), i.due)).collect();
        plans.push((
            next.iter().map(|(m, i)| (m.id.clone(), i.amount)).collect(),
            format!("betalare {}; beloppet är nästa delbetalning för {year} för {}", payer.name, parts.join(" och ")),
        ));
    }
    // 2. The next open part of one of them.
    if plans.is_empty() {
        for (m, i) in next.iter().filter(|(_, i)| i.amount == amount) {
            plans.push((
                vec![(m.id.clone(), i.amount)],
                format!(
                    "betalare {}; beloppet är {}s nästa delbetalning för {year}, förfaller {}",
                    payer.name, m.name, i.due
                ),
            ));
        }
    }
    // 3. All that one of them owes for the year; 4. all that all of them owe.
    if plans.is_empty() {
        for m in covered {
            let all: Amount = open_of(m).iter().map(|i| i.amount).sum();
            if !all.is_zero() && all == amount {
                plans.push((
                    vec![(m.id.clone(), all)],
                    format!("betalare {}; beloppet är allt {} har kvar att betala för {year}", payer.name, m.name),
                ));
            }
        }
    }
    if plans.is_empty() && covered.len() > 1 {
        let each: Vec<(Slug, Amount)> = covered
            .iter()
            .map(|m| (m.id.clone(), open_of(m).iter().map(|i| i.amount).sum::<Amount>()))
            .filter(|(_, a)| !a.is_zero())
            .collect();
        if each.len() > 1 && each.iter().map(|(_, a)| *a).sum::<Amount>() == amount {
            plans.push((
                each,
                format!(
                    "betalare {}; beloppet är allt som återstår för {year} av de medlemmar {} betalar för",
                    payer.name, payer.name
                ),
            ));
        }
    }
    plans
}

/// Takes a payment off the member's open parts, the earliest first.
fn settle(open: &mut Vec<OpenInstallment>, member: &Slug, mut amount: Amount) {
    for i in open.iter_mut().filter(|i| &i.member == member) {
        let take = amount.min(i.amount);
        i.amount -= take;
        amount -= take;
    }
    open.retain(|i| !i.amount.is_zero());
}

fn payer_of<'m>(e: &Entry, members: &'m [Member]) -> Result<&'m Member, String> {
    let named = |text: &str| -> Vec<&'m Member> {
        let have = words(text);
        let mut found: Vec<(&Member, usize)> = members
            .iter()
            .filter_map(|m| {
                let want = core(&m.name);
                let slug = m.id.as_str().replace('-', "");
                let by_name = !want.is_empty() && want.iter().all(|w| have.contains(w));
                let by_slug = have.iter().any(|h| h == &slug);
                (by_name || by_slug).then_some((m, want.len()))
            })
            .collect();
        let most = found.iter().map(|(_, n)| *n).max().unwrap_or(0);
        found.retain(|(_, n)| *n == most);
        found.into_iter().map(|(m, _)| m).collect()
    };
    let by_counterparty = e.counterparty.as_deref().map(named).unwrap_or_default();
    let candidates = if by_counterparty.is_empty() { named(&e.words()) } else { by_counterparty };
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "betalaren {} är ingen av förbundets medlemmar (och referensen nämner ingen)",
            e.counterparty.as_deref().map_or("(namnlös)".to_string(), |c| format!("{c:?}"))
        )),
        many => Err(format!(
            "betalaren kan vara flera medlemmar: {}",
            many.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn invoice_for(e: &Entry, owed: &Owed) -> Result<(Slug, String), String> {
    let paid = -e.amount;
    let text = e.words().to_lowercase();
    let named: Vec<(&Slug, &(Amount, String))> =
        owed.invoices.iter().filter(|(id, (out, _))| out.is_positive() && text.contains(id.as_str())).collect();
    if let [(id, (out, supplier))] = named.as_slice() {
        return if paid <= *out {
            let whole = if paid == *out { "hela det som återstår" } else { "en del av det som återstår" };
            Ok((
                (*id).clone(),
                format!("referensen nämner faktura {id} från {supplier}; beloppet är {whole} ({})", out.human()),
            ))
        } else {
            Err(format!("referensen nämner faktura {id}, men bara {} återstår att betala på den", out.human()))
        };
    }
    let payee = e.counterparty.as_deref().map(core).unwrap_or_default();
    let same: Vec<(&Slug, &(Amount, String))> = owed
        .invoices
        .iter()
        .filter(|(_, (out, supplier))| *out == paid && !payee.is_empty() && core(supplier) == payee)
        .collect();
    match same.as_slice() {
        [(id, (_, supplier))] => Ok(((*id).clone(), format!("den enda öppna fakturan från {supplier} på exakt det beloppet"))),
        [] => Err(format!(
            "en utbetalning till {} som ingen öppen leverantörsfaktura förklarar (referensen nämner ingen, och ingen faktura från mottagaren är på {})",
            e.counterparty.as_deref().unwrap_or("(namnlös)"),
            paid.human()
        )),
        many => Err(format!(
            "flera öppna fakturor från mottagaren på {}: {}",
            paid.human(),
            many.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn refund_for(e: &Entry, owed: &Owed) -> Option<(Slug, String)> {
    let payer = e.counterparty.as_deref().map(core).unwrap_or_default();
    let text = e.words().to_lowercase();
    let fits: Vec<(&Slug, &(Amount, String))> = owed
        .invoices
        .iter()
        .filter(|(id, (out, supplier))| {
            *out == -e.amount && ((!payer.is_empty() && core(supplier) == payer) || text.contains(id.as_str()))
        })
        .collect();
    match fits.as_slice() {
        [(id, (_, supplier))] => Some((
            (*id).clone(),
            format!(
                "återbetalning från {supplier}: en kreditnota lämnade {} att få tillbaka på faktura {id}",
                e.amount.human()
            ),
        )),
        _ => None,
    }
}
