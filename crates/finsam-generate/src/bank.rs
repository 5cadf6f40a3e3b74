//! Bank files for tests, written from the published specifications — never fetched: ISO 20022
//! camt.053 account statements (versions .001.02 and .001.08, as Swedish banks deliver them)
//! and Bankgirot's BgMax files of incoming payments (80-character records, ISO 8859-1).

use chrono::NaiveDate;

/// One payment on the account: money in positive, money out negative, in öre.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub date: NaiveDate,
    pub ore: i64,
    /// The bank's own reference (AcctSvcrRef; BgMax: the BGC serial number).
    pub id: String,
    pub counterparty: String,
    /// A structured reference (OCR), if any.
    pub ocr: Option<String>,
    /// Free text.
    pub text: Option<String>,
}

fn kronor(ore: i64) -> String {
    format!("{}.{:02}", ore.abs() / 100, ore.abs() % 100)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A camt.053 statement of one account: `version` "02" or "08"; the opening balance in öre
/// before the first payment, the closing balance after the last.
pub fn camt053(version: &str, account: &str, statement: &str, opening_ore: i64, payments: &[Payment]) -> String {
    let v08 = version == "08";
    let first = payments.iter().map(|p| p.date).min().unwrap_or(NaiveDate::MIN);
    let last = payments.iter().map(|p| p.date).max().unwrap_or(NaiveDate::MIN);
    let closing = opening_ore + payments.iter().map(|p| p.ore).sum::<i64>();
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!("<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}\">\n"));
    x.push_str("  <BkToCstmrStmt>\n");
    x.push_str(&format!(
        "    <GrpHdr>\n      <MsgId>{statement}-MSG</MsgId>\n      <CreDtTm>{last}T23:00:00</CreDtTm>\n    </GrpHdr>\n"
    ));
    x.push_str(&format!("    <Stmt>\n      <Id>{}</Id>\n      <ElctrncSeqNb>1</ElctrncSeqNb>\n", escape(statement)));
    x.push_str(&format!("      <CreDtTm>{last}T23:00:00</CreDtTm>\n"));
    x.push_str(&format!("      <Acct>\n        <Id>\n          <IBAN>{account}</IBAN>\n        </Id>\n        <Ccy>SEK</Ccy>\n      </Acct>\n"));
    for (code, ore, day) in [("OPBD", opening_ore, first), ("CLBD", closing, last)] {
        x.push_str(&format!(
            "      <Bal>\n        <Tp>\n          <CdOrPrtry>\n            <Cd>{code}</Cd>\n          </CdOrPrtry>\n        </Tp>\n        <Amt Ccy=\"SEK\">{}</Amt>\n        <CdtDbtInd>{}</CdtDbtInd>\n        <Dt>\n          <Dt>{day}</Dt>\n        </Dt>\n      </Bal>\n",
            kronor(ore),
            if ore < 0 { "DBIT" } else { "CRDT" }
        ));
    }
    for (n, p) in payments.iter().enumerate() {
        let ind = if p.ore < 0 { "DBIT" } else { "CRDT" };
        let status = if v08 {
            "<Sts>\n          <Cd>BOOK</Cd>\n        </Sts>".to_string()
        } else {
            "<Sts>BOOK</Sts>".to_string()
        };
        let role = if p.ore < 0 { "Cdtr" } else { "Dbtr" };
        let party = if v08 {
            format!("<{role}>\n                <Pty>\n                  <Nm>{}</Nm>\n                </Pty>\n              </{role}>", escape(&p.counterparty))
        } else {
            format!("<{role}>\n                <Nm>{}</Nm>\n              </{role}>", escape(&p.counterparty))
        };
        let mut remittance = String::new();
        if let Some(t) = &p.text {
            remittance.push_str(&format!("\n              <Ustrd>{}</Ustrd>", escape(t)));
        }
        if let Some(o) = &p.ocr {
            remittance.push_str(&format!(
                "\n              <Strd>\n                <CdtrRefInf>\n                  <Ref>{}</Ref>\n                </CdtrRefInf>\n              </Strd>",
                escape(o)
            ));
        }
        x.push_str(&format!(
            "      <Ntry>\n        <NtryRef>{}</NtryRef>\n        <Amt Ccy=\"SEK\">{}</Amt>\n        <CdtDbtInd>{ind}</CdtDbtInd>\n        {status}\n        <BookgDt>\n          <Dt>{}</Dt>\n        </BookgDt>\n        <ValDt>\n          <Dt>{}</Dt>\n        </ValDt>\n        <AcctSvcrRef>{}</AcctSvcrRef>\n        <BkTxCd>\n          <Domn>\n            <Cd>PMNT</Cd>\n            <Fmly>\n              <Cd>{}</Cd>\n              <SubFmlyCd>OTHR</SubFmlyCd>\n            </Fmly>\n          </Domn>\n        </BkTxCd>\n        <NtryDtls>\n          <TxDtls>\n            <Refs>\n              <EndToEndId>NOTPROVIDED</EndToEndId>\n            </Refs>\n            <RltdPties>\n              {party}\n            </RltdPties>\n            <RmtInf>{remittance}\n            </RmtInf>\n          </TxDtls>\n        </NtryDtls>\n      </Ntry>\n",
            n + 1,
            kronor(p.ore),
            p.date,
            p.date,
            escape(&p.id),
            if p.ore < 0 { "ICDT" } else { "RCDT" },
        ));
    }
    x.push_str("    </Stmt>\n  </BkToCstmrStmt>\n</Document>\n");
    x
}

fn record(fields: &[(usize, String)]) -> String {
    let mut line = vec![' '; 80];
    for (at, text) in fields {
        for (i, c) in text.chars().enumerate() {
            line[at - 1 + i] = c;
        }
    }
    line.into_iter().collect()
}

/// A BgMax file of the incoming payments (positive amounts only) to a bankgiro number, one
/// deposit per payment day, CRLF, ISO 8859-1.
pub fn bgmax(bankgiro: &str, written: &str, payments: &[Payment]) -> Vec<u8> {
    let mut days: Vec<NaiveDate> = payments.iter().map(|p| p.date).collect();
    days.sort();
    days.dedup();
    let mut lines =
        vec![record(&[(1, "01BGMAX".into()), (23, "01".into()), (25, format!("{written:0<20}")), (45, "P".into())])];
    let mut payment_records = 0;
    for (serial, day) in days.iter().enumerate() {
        lines.push(record(&[(1, "05".into()), (3, format!("{bankgiro:0>10}")), (23, "SEK".into())]));
        let today: Vec<&Payment> = payments.iter().filter(|p| p.date == *day && p.ore > 0).collect();
        for p in &today {
            payment_records += 1;
            lines.push(record(&[
                (1, "20".into()),
                (3, "0000000000".into()),
                (13, format!("{:<25}", p.ocr.clone().unwrap_or_default())),
                (38, format!("{:018}", p.ore)),
                (56, if p.ocr.is_some() { "2".into() } else { "0".into() }),
                (57, "1".into()),
                (58, format!("{:0>12}", p.id)),
                (70, "0".into()),
            ]));
            if let Some(t) = &p.text {
                lines.push(record(&[(1, "25".into()), (3, t.chars().take(50).collect())]));
            }
            lines.push(record(&[(1, "26".into()), (3, p.counterparty.chars().take(35).collect())]));
        }
        let total: i64 = today.iter().map(|p| p.ore).sum();
        lines.push(record(&[
            (1, "15".into()),
            (3, format!("{:0>35}", "53681234567")),
            (38, day.format("%Y%m%d").to_string()),
            (46, format!("{:05}", serial + 1)),
            (51, format!("{total:018}")),
            (69, "SEK".into()),
            (72, format!("{:08}", today.len())),
        ]));
    }
    lines.push(record(&[
        (1, "70".into()),
        (3, format!("{payment_records:08}")),
        (11, "00000000".into()),
        (19, "00000000".into()),
        (27, format!("{:08}", days.len())),
    ]));
    let text = lines.join("\r\n") + "\r\n";
    // ISO 8859-1: characters up to U+00FF are their own byte.
    text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()
}

/// A camt.054 notification of the same payments (no balances: a notification has none).
pub fn camt054(version: &str, account: &str, id: &str, payments: &[Payment]) -> String {
    let statement = camt053(version, account, id, 0, payments);
    let mut out = String::new();
    let mut rest = statement.as_str();
    // Without the balances.
    while let Some(start) = rest.find("      <Bal>") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("</Bal>\n").expect("a closed balance") + start + "</Bal>\n".len();
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.replace(&format!("camt.053.001.{version}"), &format!("camt.054.001.{version}"))
        .replace("BkToCstmrStmt>", "BkToCstmrDbtCdtNtfctn>")
        .replace("<Stmt>", "<Ntfctn>")
        .replace("</Stmt>", "</Ntfctn>")
}
