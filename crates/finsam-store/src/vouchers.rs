//! The checkpoint's vouchers in a compact binary form, kept in `derived/vouchers.bin` and only
//! ever appended to: a checkpoint writes the vouchers booked since the one before it, and names
//! every chunk of the file it stands on (offset, length, SHA-256). Nine in ten events book a
//! voucher, so this is most of a checkpoint; in JSON it was most of the time to save and load.
//!
//! One voucher:
//! ```text
//! str forbund | i32 year | u32 number | i32 date (days from CE) | u64 seq
//! str recorded_at | str recorded_by | str text
//! u8 kind (0 event, 1 correction + u64 seq corrected, 2 closing)
//! u16 rows, each: u8 role (index in Role::ALL) | 16 bytes amount (rust_decimal's own form)
//!                 u8 flags (1 insats, 2 line, 4 member) | the slugs flagged, as str
//! ```
//! `str` is a u32 length and UTF-8 bytes; integers are little-endian.

use chrono::{Datelike, NaiveDate};
use finsam_domain::{Amount, Slug};
use finsam_projections::chart::Role;
use finsam_projections::projection::{Row, Voucher, VoucherKind};
use rust_decimal::Decimal;

pub fn encode(v: &Voucher, out: &mut Vec<u8>) {
    put_str(out, v.forbund.as_str());
    out.extend_from_slice(&v.year.to_le_bytes());
    out.extend_from_slice(&v.number.to_le_bytes());
    out.extend_from_slice(&v.date.num_days_from_ce().to_le_bytes());
    out.extend_from_slice(&v.seq.to_le_bytes());
    put_str(out, &v.recorded_at);
    put_str(out, &v.recorded_by);
    put_str(out, &v.text);
    match v.kind {
        VoucherKind::Event => out.push(0),
        VoucherKind::Correction { of } => {
            out.push(1);
            out.extend_from_slice(&of.to_le_bytes());
        }
        VoucherKind::Closing => out.push(2),
    }
    let rows = u16::try_from(v.rows.len()).expect("a voucher has fewer than 65 536 rows");
    out.extend_from_slice(&rows.to_le_bytes());
    for row in &v.rows {
        let role = Role::ALL.iter().position(|r| *r == row.role).expect("every role is in Role::ALL");
        out.push(role as u8);
        out.extend_from_slice(&row.amount.decimal().serialize());
        let flags =
            u8::from(row.insats.is_some()) | u8::from(row.line.is_some()) << 1 | u8::from(row.member.is_some()) << 2;
        out.push(flags);
        for slug in [&row.insats, &row.line, &row.member].into_iter().flatten() {
            put_str(out, slug.as_str());
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&u32::try_from(s.len()).expect("a string under 4 GiB").to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Reads vouchers back; any damage is an error naming the byte where it was found.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("the vouchers end inside a field at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn str(&mut self) -> Result<&'a str, String> {
        let len = u32::from_le_bytes(self.array()?) as usize;
        let at = self.at;
        std::str::from_utf8(self.take(len)?).map_err(|e| format!("not UTF-8 at byte {at}: {e}"))
    }

    fn slug(&mut self) -> Result<Slug, String> {
        let at = self.at;
        let s = self.str()?;
        Slug::parse(s).map_err(|rule| format!("{s:?} at byte {at} is not an id: {rule}"))
    }

    /// The next voucher, or `None` at the end.
    pub fn next_voucher(&mut self) -> Result<Option<Voucher>, String> {
        if self.at == self.bytes.len() {
            return Ok(None);
        }
        let forbund = self.slug()?;
        let year = i32::from_le_bytes(self.array()?);
        let number = u32::from_le_bytes(self.array()?);
        let days = i32::from_le_bytes(self.array()?);
        let date = NaiveDate::from_num_days_from_ce_opt(days).ok_or_else(|| format!("day {days} is not a date"))?;
        let seq = u64::from_le_bytes(self.array()?);
        let recorded_at = self.str()?.to_string();
        let recorded_by = self.str()?.to_string();
        let text = self.str()?.to_string();
        let kind = match self.array::<1>()?[0] {
            0 => VoucherKind::Event,
            1 => VoucherKind::Correction { of: u64::from_le_bytes(self.array()?) },
            2 => VoucherKind::Closing,
            other => return Err(format!("voucher kind {other} at byte {}", self.at - 1)),
        };
        let count = u16::from_le_bytes(self.array()?);
        let mut rows = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let code = self.array::<1>()?[0];
            let role = *Role::ALL.get(code as usize).ok_or_else(|| format!("role {code} at byte {}", self.at - 1))?;
            let amount = Decimal::deserialize(self.array()?);
            if amount.scale() > 2 {
                return Err(format!("amount {amount} at byte {} has more than 2 decimals", self.at - 16));
            }
            let flags = self.array::<1>()?[0];
            if flags > 7 {
                return Err(format!("row flags {flags} at byte {}", self.at - 1));
            }
            let mut slug = |bit: u8| if flags & bit != 0 { self.slug().map(Some) } else { Ok(None) };
            let (insats, line, member) = (slug(1)?, slug(2)?, slug(4)?);
            rows.push(Row { role, amount: Amount::from_decimal(amount), insats, line, member });
        }
        Ok(Some(Voucher { forbund, year, number, date, seq, recorded_at, recorded_by, text, kind, rows }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finsam_domain::Category;

    fn voucher(kind: VoucherKind, rows: Vec<Row>) -> Voucher {
        Voucher {
            forbund: Slug::parse("sf-vastmanland").unwrap(),
            year: 2024,
            number: 17,
            date: NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
            seq: 4_000_000_001,
            recorded_at: "2024-03-01T10:00:00.123456Z".into(),
            recorded_by: "kansli åäö".into(),
            text: "Medlemsbidrag Sala: faktura 12 – \"mars\"".into(),
            kind,
            rows,
        }
    }

    #[test]
    fn every_kind_of_voucher_and_row_reads_back_as_written() {
        let slug = |s: &str| Some(Slug::parse(s).unwrap());
        let amount = |s: &str| Amount::parse(s).unwrap();
        let mut cost = Row {
            role: Role::Cost(Category::Individ),
            amount: amount("1234.56"),
            insats: None,
            line: None,
            member: None,
        };
        cost.insats = slug("team");
        cost.line = slug("team-line");
        let mut income = Row {
            role: Role::Contribution(finsam_domain::MemberKind::Kommun),
            amount: amount("-0.01"),
            insats: None,
            line: None,
            member: None,
        };
        income.member = slug("sala");
        let vouchers = vec![
            voucher(
                VoucherKind::Event,
                vec![
                    cost.clone(),
                    Row { role: Role::Bank, amount: amount("-1234.56"), insats: None, line: None, member: None },
                ],
            ),
            voucher(
                VoucherKind::Correction { of: 99 },
                vec![
                    income.clone(),
                    Row { role: Role::Bank, amount: amount("0.01"), insats: None, line: None, member: None },
                ],
            ),
            voucher(
                VoucherKind::Closing,
                Role::ALL
                    .iter()
                    .map(|r| Row { role: *r, amount: amount("100000000000"), insats: None, line: None, member: None })
                    .collect(),
            ),
            voucher(VoucherKind::Event, vec![]),
        ];
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for v in &vouchers {
            encode(v, &mut bytes);
            ends.push(bytes.len());
        }
        let mut reader = Reader::new(&bytes);
        let mut back = Vec::new();
        while let Some(v) = reader.next_voucher().unwrap() {
            back.push(v);
        }
        assert_eq!(back, vouchers);
        // Cut anywhere, the reader says so rather than inventing a voucher.
        for cut in 1..bytes.len() {
            let mut reader = Reader::new(&bytes[..cut]);
            let mut read = 0;
            let outcome = loop {
                match reader.next_voucher() {
                    Ok(Some(_)) => read += 1,
                    other => break other,
                }
            };
            match ends.iter().position(|e| *e == cut) {
                Some(k) => assert!(matches!(outcome, Ok(None)) && read == k + 1, "cut after voucher {k}"),
                None => assert!(outcome.is_err_and(|e| e.contains("byte")), "cut at {cut} inside a voucher"),
            }
        }
    }
}
