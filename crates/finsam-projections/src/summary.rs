//! One-line, human summaries of events, for the log and the audit trail, in Swedish.

use finsam_domain::{Event, EventKind};

/// The name of an event type as a revisor reads it in a table (the contract's name,
/// `ContributionReceived`, stays in JSON and CSV).
pub fn type_label(type_name: &str) -> &str {
    match type_name {
        "ForbundRegistered" => "Förbund registrerat",
        "OpeningBalanceRecorded" => "Ingående balans",
        "InsatsCreated" => "Insats inrättad",
        "BudgetAdopted" => "Budget antagen",
        "FundingGranted" => "Medel beviljade",
        "FundingChanged" => "Beviljade medel ändrade",
        "ContributionReceived" => "Medlemsbidrag",
        "ContributionDecided" => "Medlemsbidrag beslutat",
        "OtherIncomeRecorded" => "Övrig intäkt",
        "CostRecorded" => "Kostnad",
        "InvoiceReceived" => "Leverantörsfaktura",
        "InvoicePaid" => "Faktura betald",
        "AccrualRecorded" => "Periodisering",
        "ForecastRecorded" => "Prognos",
        "PayrollRecorded" => "Lönesammandrag",
        "PayrollLiabilitiesPaid" => "Skatter och avgifter för personal betalda",
        "MergerDecided" => "Sammanläggning beslutad",
        "EquityTransferred" => "Eget kapital överfört",
        "BalancesTakenOver" => "Tillgångar och skulder övertagna",
        "ForbundDissolved" => "Förbund upplöst",
        "YearClosed" => "Bokslut, året stängt",
        "MembersChanged" => "Medlemmar ändrade",
        "InsatsChanged" => "Insats ändrad",
        "RegistrationCorrected" => "Registrering rättad",
        "ReportTextRecorded" => "Text till årsredovisningen",
        "AnnualReportAdopted" => "Årsredovisning antagen",
        "AuditReportRecorded" => "Revisionsberättelse",
        "DischargeDecided" => "Beslut om ansvarsfrihet",
        "EventCorrected" => "Rättelse",
        "UnderlagAttached" => "Underlag bifogat",
        other => other,
    }
}

/// A one-line description of what the event records, with its amounts.
pub fn summary(event: &Event) -> String {
    use EventKind::*;
    match &event.kind {
        ForbundRegistered { name, members, .. } => {
            format!("registrerade {name} ({} medlemmar)", members.len())
        }
        MembersChanged { effective, members, .. } => {
            let list = members.iter().map(|m| format!("{} {}", m.id, m.share.canonical())).collect::<Vec<_>>();
            format!("medlemmar från {effective}: {}", list.join(", "))
        }
        InsatsChanged { insats, effective, name, category, end, .. } => {
            let mut what = Vec::new();
            if let Some(n) = name {
                what.push(format!("nytt namn {n}"));
            }
            if let Some(c) = category {
                what.push(format!("kategori {c}"));
            }
            if let Some(e) = end {
                what.push(format!("avslutas {e}"));
            }
            format!("insats {insats} från {effective}: {}", what.join(", "))
        }
        RegistrationCorrected { name, org_nr, registered, reason, .. } => {
            let mut what = Vec::new();
            if let Some(n) = name {
                what.push(format!("namn {n}"));
            }
            if let Some(o) = org_nr {
                what.push(format!("org.nr {o}"));
            }
            if let Some(r) = registered {
                what.push(format!("böckerna börjar {r}"));
            }
            format!("registreringen rättad: {} ({reason})", what.join(", "))
        }
        OpeningBalanceRecorded { equity, bank } => {
            format!("ingående balans: eget kapital {}, bank {}", equity.human(), bank.human())
        }
        InsatsCreated { insats, name, category, .. } => format!("insats {insats} inrättad ({category}): {name}"),
        BudgetAdopted { year, status, income, costs, .. } => {
            let c: finsam_domain::Amount = costs.iter().map(|l| l.amount).sum();
            let i: finsam_domain::Amount = income.iter().map(|l| l.amount).sum();
            let what = match status {
                finsam_domain::event::BudgetStatus::Adopted => "budget",
                finsam_domain::event::BudgetStatus::Outlook => "prognos",
            };
            let rows = if costs.len() == 1 { "kostnadsrad" } else { "kostnadsrader" };
            format!("{what} {year}: {} {rows} {}, intäkter {}", costs.len(), c.human(), i.human())
        }
        FundingGranted { insats, year, amount, .. } => format!("beviljade {} till {insats} för {year}", amount.human()),
        FundingChanged { insats, year, delta, reason, .. } => {
            format!("beviljade medel till {insats} för {year} ändrade med {}: {reason}", delta.human())
        }
        ContributionReceived { member, year, amount, reference, payer } => {
            match payer.as_ref().filter(|p| *p != member) {
                None => format!("medlemsbidrag {year} från {member}: {} ({reference})", amount.human()),
                Some(p) => {
                    format!("medlemsbidrag {year} för {member}, betalt av {p}: {} ({reference})", amount.human())
                }
            }
        }
        ContributionDecided { member, year, amount, .. } => {
            format!("medlemsbidrag {year} beslutat för {member}: {}", amount.human())
        }
        OtherIncomeRecorded { year, line, amount, reference, nature } => {
            let what = match nature {
                Some(finsam_domain::event::IncomeNature::Financial) => "finansiell intäkt",
                _ => "övrig intäkt",
            };
            format!("{what} {year} på {line}: {} ({reference})", amount.human())
        }
        CostRecorded { year, line, insats, amount, text, .. } => {
            let on = match (line, insats) {
                (Some(l), Some(i)) if l == i => format!("{l}"),
                (Some(l), Some(i)) => format!("{l} (insats {i})"),
                (Some(l), None) => format!("{l}"),
                (None, Some(i)) => format!("insats {i}"),
                (None, None) => String::from("?"),
            };
            format!("kostnad {year} på {on}: {} — {text}", amount.human())
        }
        InvoiceReceived { year, invoice, supplier, amount, credits, due, .. } => match credits {
            None => {
                let due = due.map_or(String::new(), |d| format!(", förfaller {d}"));
                format!("faktura {invoice} från {supplier} {year}: {}{due}", amount.human())
            }
            Some(c) => format!("kreditnota {invoice} från {supplier} på faktura {c}: {}", amount.human()),
        },
        AccrualRecorded { year, kind, amount, text, .. } => {
            format!("periodisering {year} ({}): {} — {text}", kind.swedish(), amount.human())
        }
        ForecastRecorded { year, line, amount, text } => {
            format!("helårsprognos {year} för {line}: {} — {text}", amount.human())
        }
        PayrollRecorded { year, month, line, insats, staff, items, text, .. } => {
            let on = line.as_ref().or(insats.as_ref()).map_or(String::new(), |l| format!(" på {l}"));
            let who = staff.map_or(String::new(), |n| format!(", {n} personer"));
            let list: Vec<String> = items.iter().map(|(i, a)| format!("{} {}", i.swedish(), a.human())).collect();
            format!("lönesammandrag {year}-{month:02}{on}{who}: {} — {text}", list.join(", "))
        }
        PayrollLiabilitiesPaid { items, reference } => {
            let list: Vec<String> = items.iter().map(|(i, a)| format!("{} {}", i.swedish(), a.human())).collect();
            format!("betalning av {} ({reference})", list.join(", "))
        }
        InvoicePaid { invoice, amount, reference } => {
            format!("betalning av faktura {invoice}: {} ({reference})", amount.human())
        }
        MergerDecided { merging, effective, estimated_transfers, .. } => {
            let total: finsam_domain::Amount = estimated_transfers.iter().map(|t| t.amount).sum();
            let names = merging.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            format!("sammanläggning av {names} från {effective}; beräknade överföringar {}", total.human())
        }
        EquityTransferred { from, amount, .. } => {
            format!("eget kapital {} överfört från {from}", amount.human())
        }
        BalancesTakenOver { from, reference } => {
            format!("tillgångar, skulder och eget kapital övertagna från {from} ({reference})")
        }
        ForbundDissolved { merged_into, .. } => match merged_into {
            Some(into) => format!("upplöst, sammanlagt med {into}"),
            None => "upplöst".to_string(),
        },
        YearClosed { year, .. } => format!("år {year} stängt"),
        ReportTextRecorded { year, section, paragraphs, .. } => {
            format!(
                "text till årsredovisningen {year}, {}: {} stycken",
                section.heading().to_lowercase(),
                paragraphs.len()
            )
        }
        AnnualReportAdopted { year, decision, .. } => format!("årsredovisningen {year} antagen av {}", decision.body),
        UnderlagAttached { of, file } => {
            let seqs: Vec<String> = of.iter().map(u64::to_string).collect();
            let to = if of.len() == 1 {
                format!("händelse {}", seqs[0])
            } else {
                format!("händelserna {}", seqs.join(", "))
            };
            format!("underlag {} ({} byte) bifogat till {to}", file.name, file.size)
        }
        AuditReportRecorded { year, auditor, verdict, .. } => {
            format!("revisionsberättelse {year} av {auditor}: {verdict} ansvarsfrihet")
        }
        DischargeDecided { year, member, granted, decision } => {
            let what = if *granted { "beviljar" } else { "beviljar inte" };
            format!("{member} ({}) {what} ansvarsfrihet för {year}", decision.body)
        }
        EventCorrected { corrects, reason, .. } => format!("rättar händelse {corrects}: {reason}"),
    }
}
