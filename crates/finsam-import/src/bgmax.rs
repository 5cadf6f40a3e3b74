//! Bankgirot's BgMax: the file of incoming bankgiro payments, with OCR references, as
//! Bankgirot's technical manual lays it out. Fixed records of 80 characters in ISO 8859-1, each
//! starting with its transaction code (TK):
//!
//! | TK | record | read here |
//! |---|---|---|
//! | 01 | start: "BGMAX", version 01, written at, T (test) or P | the version; a test file is refused |
//! | 05 | opening of a deposit: the receiving bankgiro, the currency | the account |
//! | 20 | payment: sender's bankgiro, reference (OCR), amount in öre, reference code, channel, BGC serial number | one entry each |
//! | 21 | deduction (money out): the same fields | one entry each, negative |
//! | 22, 23 | extra reference (number, amount) | counted only |
//! | 25 | information text | the entry's text |
//! | 26 | the payer's name | the counterparty |
//! | 27, 28, 29 | address, postcode and town, organisation number | skipped |
//! | 15 | the deposit: account, payment date, deposit serial, amount, number of payments | the date; the amounts and count must agree |
//! | 70 | end: the numbers of payment, deduction, extra reference and deposit records | must agree |

use crate::bank::{BankFile, Entry, Statement};
use crate::Problem;
use chrono::NaiveDate;
use finsam_domain::Amount;
use rust_decimal::Decimal;

struct Open {
    account: String,
    entries: Vec<Entry>,
    payments: u64,
}

/// Characters `from..=to` of a record (1-based, as the manual numbers them), trimmed.
fn field(record: &[char], from: usize, to: usize) -> String {
    record.get(from - 1..to.min(record.len())).unwrap_or(&[]).iter().collect::<String>().trim().to_string()
}

fn number(place: &str, name: &str, text: &str) -> Result<u64, Problem> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 18 {
        return Err(Problem::new(place, name, text, "ett tal med bara siffror"));
    }
    text.parse().map_err(|_| Problem::new(place, name, text, "ett tal med bara siffror"))
}

fn ore(place: &str, name: &str, text: &str) -> Result<Amount, Problem> {
    let n = number(place, name, text)?;
    let value = Decimal::new(n as i64, 2);
    Amount::parse(&value.to_string()).map_err(|e| Problem::new(place, name, text, e.0))
}

pub fn read(bytes: &[u8]) -> Result<BankFile, Vec<Problem>> {
    // ISO 8859-1: every byte is the character of the same number.
    let text: String = bytes.iter().map(|b| *b as char).collect();
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let lines = match lines.split_last() {
        Some((&"", rest)) => rest,
        _ => &lines[..],
    };
    let mut problems = Vec::new();
    let mut statements = Vec::new();
    let mut open: Option<Open> = None;
    let mut counted = [0u64; 4]; // payments, deductions, extra references, deposits
    let mut ended = false;
    let mut version = String::new();
    for (n, line) in lines.iter().enumerate() {
        let place = format!("rad {}", n + 1);
        let r: Vec<char> = line.chars().collect();
        if r.len() > 80 {
            problems.push(Problem::new(
                &place,
                "posten",
                format!("{} tecken", r.len()),
                "en BgMax-post är högst 80 tecken",
            ));
            continue;
        }
        if ended {
            problems.push(Problem::new(&place, "TK", field(&r, 1, 2), "inget får komma efter slutposten (TK 70)"));
            break;
        }
        let tk = field(&r, 1, 2);
        let result: Result<(), Problem> = (|| {
            match tk.as_str() {
                "01" if n == 0 => {
                    if field(&r, 3, 22) != "BGMAX" {
                        return Err(Problem::new(&place, "layoutnamn", field(&r, 3, 22), "BGMAX"));
                    }
                    version = field(&r, 23, 24);
                    if version != "01" {
                        return Err(Problem::new(&place, "version", &version, "BgMax version 01 läses"));
                    }
                    if field(&r, 45, 45) == "T" {
                        return Err(Problem::new(
                            &place,
                            "testmarkering",
                            "T",
                            "en testfil från Bankgirot innehåller inga riktiga betalningar",
                        ));
                    }
                }
                "05" => {
                    if open.is_some() {
                        return Err(Problem::new(
                            &place,
                            "TK",
                            "05",
                            "en insättning öppnas innan den förra är avslutad (TK 15)",
                        ));
                    }
                    let currency = field(&r, 23, 25);
                    if currency != "SEK" {
                        return Err(Problem::new(&place, "valuta", currency, "finsam bokför i svenska kronor (SEK)"));
                    }
                    let account = field(&r, 3, 12).trim_start_matches('0').to_string();
                    open = Some(Open { account, entries: Vec::new(), payments: 0 });
                }
                "20" | "21" => {
                    let o = open.as_mut().ok_or_else(|| {
                        Problem::new(&place, "TK", &tk, "en betalning utanför en insättning (TK 05–15)")
                    })?;
                    let mut amount = ore(&place, "belopp", &field(&r, 38, 55))?;
                    if tk == "21" {
                        amount = -amount;
                        counted[1] += 1;
                    } else {
                        counted[0] += 1;
                    }
                    o.payments += 1;
                    let serial = field(&r, 58, 69);
                    if serial.is_empty() {
                        return Err(Problem::new(
                            &place,
                            "BGC-löpnummer",
                            "",
                            "varje betalning har Bankgirots löpnummer",
                        ));
                    }
                    let reference = field(&r, 13, 37);
                    o.entries.push(Entry {
                        place: place.clone(),
                        id: serial,
                        // The deposit record (TK 15) gives the date.
                        date: NaiveDate::MIN,
                        amount,
                        counterparty: None,
                        reference: (!reference.is_empty()).then_some(reference),
                        text: None,
                    });
                }
                "22" | "23" => counted[2] += 1,
                "25" | "26" => {
                    let o = open
                        .as_mut()
                        .ok_or_else(|| Problem::new(&place, "TK", &tk, "en post utanför en insättning"))?;
                    let e = o.entries.last_mut().ok_or_else(|| {
                        Problem::new(&place, "TK", &tk, "en post som hör till en betalning kommer före den")
                    })?;
                    if tk == "25" {
                        let info = field(&r, 3, 52);
                        e.text = Some(match e.text.take() {
                            Some(t) => format!("{t} {info}"),
                            None => info,
                        });
                    } else {
                        e.counterparty = Some(field(&r, 3, 37));
                    }
                }
                "27" | "28" | "29" => {}
                "15" => {
                    let o = open
                        .take()
                        .ok_or_else(|| Problem::new(&place, "TK", "15", "en insättningspost utan öppning (TK 05)"))?;
                    counted[3] += 1;
                    let day = NaiveDate::parse_from_str(&field(&r, 38, 45), "%Y%m%d")
                        .map_err(|_| Problem::new(&place, "betalningsdag", field(&r, 38, 45), "ett datum ÅÅÅÅMMDD"))?;
                    let serial = field(&r, 46, 50);
                    let total = ore(&place, "insättningsbelopp", &field(&r, 51, 68))?;
                    let count = number(&place, "antal betalningar", &field(&r, 72, 79))?;
                    let sum: Amount = o.entries.iter().map(|e| e.amount).sum();
                    if sum != total {
                        return Err(Problem::new(
                            &place,
                            "insättningsbelopp",
                            total.human(),
                            format!("insättningens betalningar summerar till {}", sum.human()),
                        ));
                    }
                    if count != o.payments {
                        return Err(Problem::new(
                            &place,
                            "antal betalningar",
                            count.to_string(),
                            format!("insättningen har {} betalningsposter", o.payments),
                        ));
                    }
                    let mut entries = o.entries;
                    for e in &mut entries {
                        e.date = day;
                    }
                    statements.push(Statement {
                        id: format!("{} {} {serial}", o.account, day),
                        account: o.account,
                        opening: None,
                        closing: None,
                        entries,
                    });
                }
                "70" => {
                    ended = true;
                    let declared = [
                        (3, 10, "antal betalningsposter"),
                        (11, 18, "antal avdragsposter"),
                        (19, 26, "antal extra referensposter"),
                        (27, 34, "antal insättningsposter"),
                    ];
                    for (i, (from, to, name)) in declared.iter().enumerate() {
                        let d = number(&place, name, &field(&r, *from, *to))?;
                        if d != counted[i] {
                            return Err(Problem::new(
                                &place,
                                *name,
                                d.to_string(),
                                format!("filen har {} sådana poster: den är avkortad eller ändrad", counted[i]),
                            ));
                        }
                    }
                }
                _ if n == 0 => {
                    return Err(Problem::new(&place, "TK", &tk, "en BgMax-fil börjar med startposten (TK 01)"))
                }
                _ => return Err(Problem::new(&place, "TK", &tk, "ingen BgMax-posttyp")),
            }
            Ok(())
        })();
        if let Err(p) = result {
            problems.push(p);
        }
    }
    if !ended && problems.is_empty() {
        problems.push(Problem::new(
            format!("rad {}", lines.len()),
            "TK",
            "",
            "filen saknar slutposten (TK 70): den är avkortad",
        ));
    }
    if open.is_some() && problems.is_empty() {
        problems.push(Problem::new(
            format!("rad {}", lines.len()),
            "TK",
            "",
            "en insättning saknar sin insättningspost (TK 15)",
        ));
    }
    if problems.is_empty() {
        Ok(BankFile { format: format!("BgMax {version}"), statements })
    } else {
        Err(problems)
    }
}
