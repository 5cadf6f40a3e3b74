//! ISO 20022 cash management messages as Swedish banks deliver them: camt.053 (the account
//! statement, with balances) and camt.054 (debit/credit notifications), versions .001.02 and
//! .001.08. Only booked entries (status BOOK) are read; an entry with several transactions (a
//! bankgiro deposit) becomes one entry per transaction, and their amounts must add up.

use crate::bank::{amount, date, Balance, BankFile, Entry, Statement};
use crate::xml::{Element, Tree};
use crate::Problem;
use finsam_domain::Amount;

/// The message versions read: the ones Swedish banks deliver.
pub const VERSIONS: [&str; 2] = ["02", "08"];

pub fn read(bytes: &[u8]) -> Result<BankFile, Vec<Problem>> {
    let tree = crate::xml::parse(bytes).map_err(|p| vec![p])?;
    let root = tree.root();
    let ns = root.attribute("xmlns").unwrap_or("");
    let message = ns.strip_prefix("urn:iso:std:iso:20022:tech:xsd:").unwrap_or("");
    let (kind, version) = match message.rsplit_once(".001.") {
        Some((k @ ("camt.053" | "camt.054"), v)) => (k, v),
        _ => {
            return Err(vec![Problem::new(
                format!("rad {}", root.line),
                "Document/@xmlns",
                ns,
                "filen är inte en camt.053 eller camt.054 (namnrymden urn:iso:std:iso:20022:tech:xsd:camt.053.001.NN)",
            )])
        }
    };
    if root.name != "Document" || !VERSIONS.contains(&version) {
        return Err(vec![Problem::new(
            format!("rad {}", root.line),
            "Document/@xmlns",
            ns,
            format!(
                "versionerna {} läses (de svenska bankerna levererar dem)",
                VERSIONS.map(|v| format!(".001.{v}")).join(" och ")
            ),
        )]);
    }
    let (body, part) = if kind == "camt.053" { ("BkToCstmrStmt", "Stmt") } else { ("BkToCstmrDbtCdtNtfctn", "Ntfctn") };
    let Some(body) = tree.child(root, body) else {
        return Err(vec![Problem::new(
            format!("rad {}", root.line),
            body,
            "",
            format!("en {kind} har elementet {body}"),
        )]);
    };
    let mut problems = Vec::new();
    let mut statements = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for s in tree.all(body, part) {
        let place = format!("rad {}", s.line);
        let Some(id) = tree.text(s, &["Id"]) else {
            problems.push(Problem::new(&place, format!("{part}/Id"), "", "varje utdrag har ett id"));
            continue;
        };
        if !ids.insert(id.clone()) {
            problems.push(Problem::new(&place, format!("{part}/Id"), &id, "samma utdrag finns två gånger i filen"));
            continue;
        }
        let account = tree
            .text(s, &["Acct", "Id", "IBAN"])
            .or_else(|| tree.text(s, &["Acct", "Id", "Othr", "Id"]))
            .unwrap_or_default();
        if account.is_empty() {
            problems.push(Problem::new(
                &place,
                format!("{part}/Acct/Id"),
                "",
                "utdraget säger inte vilket konto det gäller",
            ));
        }
        if let Some(ccy) = tree.text(s, &["Acct", "Ccy"]).filter(|c| c != "SEK") {
            problems.push(Problem::new(
                &place,
                format!("{part}/Acct/Ccy"),
                ccy,
                "finsam bokför i svenska kronor (SEK)",
            ));
        }
        let mut statement = Statement { id, account, opening: None, closing: None, entries: Vec::new() };
        for b in tree.all(s, "Bal") {
            match balance(&tree, b) {
                Ok((code, bal)) if code == "OPBD" || code == "PRCD" => statement.opening = Some(bal),
                Ok((code, bal)) if code == "CLBD" => statement.closing = Some(bal),
                Ok(_) => {}
                Err(p) => problems.push(p),
            }
        }
        for (n, e) in tree.all(s, "Ntry").enumerate() {
            match entries(&tree, e, n + 1) {
                Ok(list) => statement.entries.extend(list),
                Err(p) => problems.push(p),
            }
        }
        statements.push(statement);
    }
    if statements.is_empty() && problems.is_empty() {
        problems.push(Problem::new(format!("rad {}", body.line), part, "", format!("filen har inget {part}")));
    }
    if problems.is_empty() {
        Ok(BankFile { format: format!("{kind}.001.{version}"), statements })
    } else {
        Err(problems)
    }
}

fn signed(tree: &Tree, e: &Element, place: &str, field: &str) -> Result<Amount, Problem> {
    let amt = tree.child(e, "Amt").ok_or_else(|| Problem::new(place, format!("{field}/Amt"), "", "beloppet saknas"))?;
    if let Some(ccy) = amt.attribute("Ccy").filter(|c| *c != "SEK") {
        return Err(Problem::new(place, format!("{field}/Amt/@Ccy"), ccy, "finsam bokför i svenska kronor (SEK)"));
    }
    let value = amount(place, &format!("{field}/Amt"), &amt.text)?;
    match tree.text(e, &["CdtDbtInd"]).as_deref() {
        Some("CRDT") => Ok(value),
        Some("DBIT") => Ok(-value),
        other => Err(Problem::new(
            place,
            format!("{field}/CdtDbtInd"),
            other.unwrap_or(""),
            "CRDT (in på kontot) eller DBIT (ut från kontot)",
        )),
    }
}

fn balance(tree: &Tree, b: &Element) -> Result<(String, Balance), Problem> {
    let place = format!("rad {}", b.line);
    let code = tree.text(b, &["Tp", "CdOrPrtry", "Cd"]).unwrap_or_default();
    let amount = signed(tree, b, &place, "Bal")?;
    let day = tree
        .text(b, &["Dt", "Dt"])
        .or_else(|| tree.text(b, &["Dt", "DtTm"]))
        .ok_or_else(|| Problem::new(&place, "Bal/Dt", "", "saldot har ett datum"))?;
    Ok((code, Balance { date: date(&place, "Bal/Dt", &day)?, amount }))
}

fn entries(tree: &Tree, e: &Element, n: usize) -> Result<Vec<Entry>, Problem> {
    let place = format!("post {n} (rad {})", e.line);
    let status = tree.text(e, &["Sts", "Cd"]).or_else(|| tree.text(e, &["Sts"])).unwrap_or_default();
    if status != "BOOK" {
        // Pending and information-only entries are not yet money on the account.
        return Ok(Vec::new());
    }
    if tree.text(e, &["RvslInd"]).as_deref() == Some("true") {
        return Err(Problem::new(
            &place,
            "Ntry/RvslInd",
            "true",
            "en återförd post läses inte: bokför rättelsen för hand",
        ));
    }
    let total = signed(tree, e, &place, "Ntry")?;
    let day = tree
        .text(e, &["BookgDt", "Dt"])
        .or_else(|| tree.text(e, &["BookgDt", "DtTm"]))
        .ok_or_else(|| Problem::new(&place, "Ntry/BookgDt", "", "en bokförd post har ett bokföringsdatum"))?;
    let day = date(&place, "Ntry/BookgDt", &day)?;
    let id = tree.text(e, &["AcctSvcrRef"]).or_else(|| tree.text(e, &["NtryRef"])).ok_or_else(|| {
        Problem::new(
            &place,
            "Ntry/AcctSvcrRef",
            "",
            "posten saknar bankens referens (AcctSvcrRef eller NtryRef): utan den känns en andra import inte igen",
        )
    })?;
    let transactions: Vec<&Element> =
        tree.child(e, "NtryDtls").map(|d| tree.all(d, "TxDtls").collect()).unwrap_or_default();
    let entry_text = tree.text(e, &["AddtlNtryInf"]);
    if transactions.len() <= 1 {
        let tx = transactions.first().copied();
        return Ok(vec![Entry {
            place,
            id,
            date: day,
            amount: total,
            counterparty: tx.and_then(|t| party(tree, t, total.is_positive())),
            reference: tx.and_then(|t| tree.text(t, &["RmtInf", "Strd", "CdtrRefInf", "Ref"])),
            text: tx.and_then(|t| unstructured(tree, t)).or(entry_text),
        }]);
    }
    let mut list = Vec::new();
    let mut sum = Amount::ZERO;
    for (i, t) in transactions.iter().enumerate() {
        let tplace = format!("{place}, transaktion {}", i + 1);
        // v02: AmtDtls/TxAmt/Amt; v08 also has Amt directly on the transaction.
        let amt = tree.path(t, &["AmtDtls", "TxAmt", "Amt"]).or_else(|| tree.child(t, "Amt")).ok_or_else(|| {
            Problem::new(&tplace, "TxDtls/Amt", "", "en post med flera transaktioner har ett belopp för varje")
        })?;
        let mut value = amount(&tplace, "TxDtls/Amt", &amt.text)?;
        if total.is_negative() {
            value = -value;
        }
        sum += value;
        let own = tree.text(t, &["Refs", "AcctSvcrRef"]).unwrap_or_else(|| (i + 1).to_string());
        list.push(Entry {
            place: tplace,
            id: format!("{id}/{own}"),
            date: day,
            amount: value,
            counterparty: party(tree, t, total.is_positive()),
            reference: tree.text(t, &["RmtInf", "Strd", "CdtrRefInf", "Ref"]),
            text: unstructured(tree, t),
        });
    }
    if sum != total {
        return Err(Problem::new(
            &place,
            "Ntry/Amt",
            total.canonical(),
            format!("postens transaktioner summerar till {}, inte till postens belopp", sum.human()),
        ));
    }
    Ok(list)
}

/// Who paid (money in: the debtor) or was paid (money out: the creditor): v02 names the party
/// directly, v08 under Pty.
fn party(tree: &Tree, t: &Element, incoming: bool) -> Option<String> {
    let who = if incoming { "Dbtr" } else { "Cdtr" };
    let p = tree.path(t, &["RltdPties", who])?;
    tree.text(p, &["Nm"]).or_else(|| tree.text(p, &["Pty", "Nm"]))
}

fn unstructured(tree: &Tree, t: &Element) -> Option<String> {
    let r = tree.child(t, "RmtInf")?;
    let parts: Vec<String> =
        tree.all(r, "Ustrd").map(|u| u.text.trim().to_string()).filter(|s| !s.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}
