//! SIE 4 (4E and 4I) from an accounting program, read into the events of the contract: the
//! year's opening balance (`#IB 0`) as `OpeningBalanceRecorded`, and each voucher by the roles
//! its accounts have in finsam's chart —
//!
//! | the voucher's rows | the event |
//! |---|---|
//! | bank debit, a member's contribution credit (object `{20 member}`) | `ContributionReceived` |
//! | bank debit, other income credit | `OtherIncomeRecorded` on the year's income line it names, else its one line of other income |
//! | a cost debit, bank credit | `CostRecorded` on the cost line the text names, or the insats of object `{6 insats}` |
//! | a cost debit, supplier debt credit | `InvoiceReceived` (the voucher is the invoice) |
//! | supplier debt debit, bank credit | `InvoicePaid` of the one open invoice of that amount |
//! | bank and equity only, on the first day | the opening balance again: skipped |
//!
//! The program's accounts are mapped to finsam's chart: an account finsam's chart has is itself;
//! any other is mapped by the förbund's mapping (program account → finsam account), never
//! guessed — an unmapped account is listed with a proposal from its kommun-BAS group. A voucher
//! that fits none of the rows above is listed too, and nothing of the file is recorded. The
//! file is read by finsam-sie's own reader: CP437, and `#KSUMMA` checked when the file has it.

use crate::cells::fold;
use crate::{Problem, Refusal};
use chrono::NaiveDate;
use finsam_domain::event::{Event, EventKind, Nature};
use finsam_domain::{Amount, Slug};
use finsam_projections::chart::{Chart, Role};
use finsam_projections::projection::Projection;
use finsam_sie::format::Field;
use std::collections::BTreeMap;

/// What the SIE file proposes: its year, and per voucher (or the opening balance) where it is,
/// the event and why.
pub struct SieProposal {
    pub year: i32,
    pub program: String,
    pub events: Vec<(String, Event, String)>,
    /// Vouchers left out, with why (the opening balance's own voucher).
    pub skipped: Vec<(String, String)>,
}

pub struct SieBooks<'a> {
    pub projection: &'a Projection,
    pub chart: &'a Chart,
    /// Program account → finsam account.
    pub mapping: &'a BTreeMap<String, String>,
    pub opening_recorded: bool,
    /// The förbund's open invoices: id → outstanding.
    pub open_invoices: BTreeMap<Slug, Amount>,
}

struct Row {
    account: String,
    role: Role,
    amount: Amount,
    objects: Vec<(String, String)>,
}

fn sie_amount(place: &str, text: &str) -> Result<Amount, Problem> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    let d = rust_decimal::Decimal::from_str_exact(t)
        .map_err(|_| Problem::new(place, "belopp", text, "inte ett belopp (siffror och punkt)"))?;
    if d.round_dp(2) != d {
        return Err(Problem::new(place, "belopp", text, "fler än två decimaler"));
    }
    Amount::parse(&d.normalize().to_string()).map_err(|e| Problem::new(place, "belopp", text, e.0))
}

fn sie_date(place: &str, text: &str) -> Result<NaiveDate, Problem> {
    NaiveDate::parse_from_str(text, "%Y%m%d").map_err(|_| Problem::new(place, "datum", text, "ett datum ÅÅÅÅMMDD"))
}

pub fn read(file: &str, bytes: &[u8], forbund: &Slug, books: &SieBooks<'_>) -> Result<SieProposal, Refusal> {
    let refuse = |problems: Vec<Problem>| Refusal { file: file.to_string(), problems };
    let sie = finsam_sie::parse(bytes).map_err(|e| refuse(vec![Problem::new("filen", "SIE", "", e)]))?;
    if let Some((declared, computed)) = sie.ksumma {
        if declared != computed {
            return Err(refuse(vec![Problem::new(
                "#KSUMMA",
                "kontrollsumma",
                declared.to_string(),
                format!("filens innehåll ger {computed}: filen är ändrad eller skadad"),
            )]));
        }
    }
    let record = |label: &str| sie.records.iter().find(|r| r.label == label);
    let program = record("#PROGRAM").and_then(|r| r.item(0)).unwrap_or("okänt program").to_string();
    let Some(rar) = sie.records.iter().find(|r| r.label == "#RAR" && r.item(0) == Some("0")) else {
        return Err(refuse(vec![Problem::new(
            "#RAR",
            "räkenskapsår",
            "",
            "filen säger inte vilket år den gäller (#RAR 0)",
        )]));
    };
    let (start, end) = (sie_date("#RAR 0", rar.item(1).unwrap_or("")), sie_date("#RAR 0", rar.item(2).unwrap_or("")));
    let (start, end) = match (start, end) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(p), _) | (_, Err(p)) => return Err(refuse(vec![p])),
    };
    let year = chrono::Datelike::year(&start);
    if start != NaiveDate::from_ymd_opt(year, 1, 1).expect("a day")
        || end != NaiveDate::from_ymd_opt(year, 12, 31).expect("a day")
    {
        return Err(refuse(vec![Problem::new(
            "#RAR 0",
            "räkenskapsår",
            format!("{start}–{end}"),
            "ett samordningsförbunds räkenskapsår är kalenderåret",
        )]));
    }
    let mut problems = Vec::new();
    // The program's accounts in finsam's chart.
    let names: BTreeMap<&str, &str> = sie
        .records
        .iter()
        .filter(|r| r.label == "#KONTO")
        .filter_map(|r| Some((r.item(0)?, r.item(1).unwrap_or(""))))
        .collect();
    let mut unmapped: BTreeMap<String, String> = BTreeMap::new();
    let mut role_of = |account: &str| -> Option<(String, Role)> {
        let ours = books.mapping.get(account).cloned().unwrap_or_else(|| account.to_string());
        match books.chart.roles_of(&ours).first() {
            Some(role) => Some((ours, *role)),
            None => {
                unmapped.entry(account.to_string()).or_insert_with(|| names.get(account).unwrap_or(&"").to_string());
                None
            }
        }
    };
    let mut events: Vec<(String, Event, String)> = Vec::new();
    let mut skipped = Vec::new();
    let key = |suffix: &str| format!("sie:{year}:{suffix}");
    // The opening balance.
    let mut bank = Amount::ZERO;
    let mut equity = Amount::ZERO;
    for r in sie.records.iter().filter(|r| r.label == "#IB" && r.item(0) == Some("0")) {
        let account = r.item(1).unwrap_or("");
        let place = format!("#IB 0 {account}");
        let amount = match sie_amount(&place, r.item(2).unwrap_or("")) {
            Ok(a) => a,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        match role_of(account) {
            Some((_, Role::Bank)) => bank += amount,
            Some((_, Role::Equity)) => equity -= amount,
            Some(_) if amount.is_zero() => {}
            Some((ours, _)) => problems.push(Problem::new(
                &place,
                "ingående balans",
                amount.human(),
                format!("finsam tar bara bank och eget kapital som ingående balans; konto {ours} kan inte föras in så"),
            )),
            None => {}
        }
    }
    let opening = !bank.is_zero() || !equity.is_zero();
    if opening && !books.opening_recorded {
        let e = event(forbund, start, Some(key("ib")), file, EventKind::OpeningBalanceRecorded { equity, bank });
        events.push(("#IB 0".into(), e, "årets ingående balans: bank och eget kapital".into()));
    }
    let budget = books.projection.budget_in_force(forbund, year, u64::MAX, NaiveDate::MAX);
    let insatser: Vec<&Slug> =
        books.projection.insatser.iter().filter(|i| &i.forbund == forbund).map(|i| &i.insats).collect();
    let mut open = books.open_invoices.clone();
    for ver in &sie.vers {
        let serie = ver.head.item(0).unwrap_or("");
        let number = ver.head.item(1).unwrap_or("");
        let place = format!("#VER {serie} {number}");
        let date = match sie_date(&place, ver.head.item(2).unwrap_or("")) {
            Ok(d) => d,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let text = ver.head.item(3).unwrap_or("").trim().to_string();
        let mut rows = Vec::new();
        let mut missing = false;
        for t in ver.trans.iter().filter(|t| t.label == "#TRANS") {
            let account = t.item(0).unwrap_or("").to_string();
            let objects = match t.fields.get(1) {
                Some(Field::Objects(list)) => list.clone(),
                _ => Vec::new(),
            };
            let amount = match t.fields.get(2) {
                Some(Field::Item(a)) => sie_amount(&place, a),
                _ => Err(Problem::new(&place, "#TRANS", &account, "en rad har konto, objekt och belopp")),
            };
            match (amount, role_of(&account)) {
                (Ok(amount), Some((ours, role))) if !amount.is_zero() => {
                    rows.push(Row { account: ours, role, amount, objects })
                }
                (Ok(_), None) => missing = true,
                (Ok(_), _) => {}
                (Err(p), _) => problems.push(p),
            }
        }
        if missing {
            // Listed once with the unmapped accounts below.
            continue;
        }
        let serie_key = if serie.is_empty() { number.to_string() } else { format!("{serie}{number}") };
        match classify(&rows, date, &text, year, budget, &insatser, &mut open, &serie_key) {
            Ok(Some((kind, reason))) => {
                let e = event(forbund, date, Some(key(&serie_key)), file, kind);
                events.push((place, e, reason));
            }
            Ok(None) => skipped.push((place, "ingående balans (bank och eget kapital), redan i #IB".to_string())),
            Err(why) => problems.push(Problem::new(
                &place,
                "verifikation",
                text.clone(),
                format!(
                    "{why} (rader: {})",
                    rows.iter()
                        .map(|r| format!("{} {}", r.account, r.amount.canonical()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
    for (account, name) in &unmapped {
        problems.push(Problem::new(
            format!("#KONTO {account}"),
            "konto",
            name,
            format!(
                "kontot finns inte i finsams kontoplan och förbundets kontomappning säger inte vart det hör{}",
                proposal(books.chart, account).map_or(String::new(), |p| format!("; förslag: {p}"))
            ),
        ));
    }
    if problems.is_empty() {
        Ok(SieProposal { year, program, events, skipped })
    } else {
        Err(refuse(problems))
    }
}

/// A proposal for an unmapped account: finsam's account of the same kommun-BAS group (its
/// first two digits), if there is exactly one.
fn proposal(chart: &Chart, account: &str) -> Option<String> {
    let group = account.get(..2)?;
    let same: Vec<String> =
        (0..100).map(|n| format!("{group}{n:02}")).filter(|a| !chart.roles_of(a).is_empty()).collect();
    match same.as_slice() {
        [one] => Some(format!("{one} (samma kommun-BAS-grupp {group})")),
        _ => None,
    }
}

fn event(forbund: &Slug, date: NaiveDate, key: Option<String>, file: &str, kind: EventKind) -> Event {
    Event {
        forbund: forbund.clone(),
        date,
        idempotency_key: key,
        note: Some(format!("Importerad ur SIE-filen {file}").chars().take(1000).collect()),
        kind,
    }
}

fn short(text: &str, max: usize) -> String {
    let t = if text.trim().is_empty() { "SIE" } else { text.trim() };
    t.chars().take(max).collect()
}

/// Where a cost goes: its budget line, its insats, its nature.
type CostTarget = (Option<Slug>, Option<Slug>, Option<Nature>);

#[allow(clippy::too_many_arguments)]
fn classify(
    rows: &[Row],
    date: NaiveDate,
    text: &str,
    year: i32,
    budget: Option<&finsam_projections::projection::BudgetRecord>,
    insatser: &[&Slug],
    open: &mut BTreeMap<Slug, Amount>,
    serie_key: &str,
) -> Result<Option<(EventKind, String)>, String> {
    let folded = fold(text);
    let names_in_text = |id: &str, name: &str| {
        folded.contains(&fold(id).replace(' ', "-")) || text.contains(id) || folded.contains(&fold(name))
    };
    let two = |a: fn(&Role) -> bool, b: fn(&Role) -> bool| -> Option<(&Row, &Row)> {
        match rows {
            [x, y] if a(&x.role) && b(&y.role) && x.amount == -y.amount => Some((x, y)),
            [x, y] if a(&y.role) && b(&x.role) && x.amount == -y.amount => Some((y, x)),
            _ => None,
        }
    };
    let is_bank = |r: &Role| *r == Role::Bank;
    let is_cost = |r: &Role| matches!(r, Role::Cost(_) | Role::CostOf(_));
    let reference = format!("SIE {serie_key}");
    if let Some((bank, income)) = two(is_bank, |r| matches!(r, Role::Contribution(_))) {
        if bank.amount.is_negative() {
            return Err("ett medlemsbidrag som går ut från banken".into());
        }
        let member =
            income.objects.iter().find(|(d, _)| d == "20").and_then(|(_, o)| Slug::parse(o).ok()).ok_or(
                "ett medlemsbidrag utan medlem: raden på bidragskontot har inget objekt {20 medlem}".to_string(),
            )?;
        return Ok(Some((
            EventKind::ContributionReceived {
                member: member.clone(),
                year,
                amount: bank.amount,
                reference: short(text, 200),
                payer: None,
            },
            format!("medlemsbidrag från {member}"),
        )));
    }
    if let Some((bank, _)) = two(is_bank, |r| *r == Role::OtherIncome) {
        let lines: Vec<&finsam_domain::event::IncomeLine> =
            budget.map(|b| b.income.iter().collect()).unwrap_or_default();
        let named: Vec<&&finsam_domain::event::IncomeLine> =
            lines.iter().filter(|l| names_in_text(l.id.as_str(), &l.name)).collect();
        let other: Vec<&&finsam_domain::event::IncomeLine> =
            lines.iter().filter(|l| fold(&l.name).contains("ovrig") || l.id.as_str().contains("ovrig")).collect();
        let line = match (named.as_slice(), other.as_slice()) {
            ([one], _) | ([], [one]) => one.id.clone(),
            _ => return Err(format!("en övrig intäkt, men {year} års budget har ingen intäktsrad som texten nämner eller som är den enda för övriga intäkter")),
        };
        return Ok(Some((
            EventKind::OtherIncomeRecorded {
                year,
                line,
                amount: bank.amount,
                reference: short(text, 200),
                nature: None,
            },
            "övrig intäkt".into(),
        )));
    }
    let cost_target = |cost: &Row| -> Result<CostTarget, String> {
        let insats = cost.objects.iter().find(|(d, _)| d == "6").and_then(|(_, o)| Slug::parse(o).ok());
        if let Some(i) = &insats {
            if !insatser.contains(&i) {
                return Err(format!("objektet {{6 {i}}} är ingen insats i förbundet"));
            }
        }
        let nature = match cost.role {
            Role::CostOf(n) => Some(n),
            _ => None,
        };
        let lines: Vec<&finsam_domain::event::CostLine> = budget.map(|b| b.costs.iter().collect()).unwrap_or_default();
        let mut named: Vec<&&finsam_domain::event::CostLine> =
            lines.iter().filter(|l| names_in_text(l.id.as_str(), &l.name)).collect();
        // The longest id wins: "samordningsteam-sala" over "samordningsteam".
        named.sort_by_key(|l| std::cmp::Reverse(l.id.as_str().len()));
        let line = named.first().map(|l| l.id.clone());
        if line.is_none() && insats.is_none() {
            return Err(format!(
                "en kostnad, men texten nämner ingen av {year} års budgetrader och raden har ingen insats (objekt 6)"
            ));
        }
        Ok((line, insats, nature))
    };
    if let Some((cost, _)) = two(is_cost, is_bank) {
        let (line, insats, nature) = cost_target(cost)?;
        return Ok(Some((
            EventKind::CostRecorded {
                year,
                line,
                insats,
                amount: cost.amount,
                reference,
                text: short(text, 1000),
                nature,
            },
            "kostnad betald från banken".into(),
        )));
    }
    if let Some((cost, _)) = two(is_cost, |r| *r == Role::Payable) {
        let (line, insats, nature) = cost_target(cost)?;
        let invoice =
            Slug::parse(&format!("sie-{year}-{}", fold(serie_key).replace(' ', "-"))).map_err(|e| e.to_string())?;
        open.insert(invoice.clone(), cost.amount);
        return Ok(Some((
            EventKind::InvoiceReceived {
                year,
                invoice,
                supplier: short(text, 200),
                line,
                insats,
                amount: cost.amount,
                credits: None,
                due: None,
                reference,
                text: short(text, 1000),
                nature,
            },
            "leverantörsfaktura (kostnad mot leverantörsskuld)".into(),
        )));
    }
    if let Some((payable, _)) = two(|r| *r == Role::Payable, is_bank) {
        let fits: Vec<Slug> =
            open.iter().filter(|(_, out)| **out == payable.amount).map(|(id, _)| id.clone()).collect();
        let [invoice] = fits.as_slice() else {
            return Err(format!(
                "en betalning av leverantörsskuld, men {} öppna fakturor har exakt det beloppet",
                fits.len()
            ));
        };
        open.remove(invoice);
        return Ok(Some((
            EventKind::InvoicePaid { invoice: invoice.clone(), amount: payable.amount, reference },
            format!("betalning av faktura {invoice}"),
        )));
    }
    if two(is_bank, |r| *r == Role::Equity).is_some() && date == NaiveDate::from_ymd_opt(year, 1, 1).expect("a day") {
        return Ok(None);
    }
    Err("kontona motsvarar ingen händelse finsam kan föra in".into())
}
