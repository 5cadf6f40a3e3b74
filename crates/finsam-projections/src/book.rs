//! The vouchers, held compactly: one byte buffer, appended to as vouchers are booked, with the
//! strings that repeat (förbund, members, insatser, lines, who recorded and when) kept once in a
//! table of symbols. Nine in ten events book a voucher, so at a million events this is most of
//! the projection; as structs with their own strings it took several hundred bytes a voucher,
//! here about 64 (measured on a generated log of a million events: 67.3 MB). A voucher is
//! decoded when a report reads it.
//!
//! One voucher (integers are LEB128 varints unless said otherwise; `sym` is a symbol's index):
//! ```text
//! seq | sym forbund | number | days from CE | sym recorded_at | sym recorded_by
//! text: length, UTF-8 bytes | kind: 0 event, 1 correction + seq corrected, 2 closing
//! rows: count, then each: u8 role (index in Role::ALL) | u8 flags | zigzag mantissa
//!       | the slugs flagged, as sym
//! flags: 1 insats, 2 line, 4 member; bits 3–4 the amount's scale (0–2), in canonical form
//! ```
//! The year is the date's. The bytes are the same in memory and in the store's vouchers file;
//! the symbols are stored with the rest of the projection.

use crate::chart::Role;
use crate::projection::{Row, Voucher, VoucherKind};
use chrono::{Datelike, NaiveDate};
use finsam_domain::{Amount, Slug};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Strings kept once, by index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
struct Symbols {
    list: Vec<String>,
    ids: HashMap<String, u32>,
}

impl From<Vec<String>> for Symbols {
    fn from(list: Vec<String>) -> Symbols {
        let ids = list.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        Symbols { list, ids }
    }
}

impl From<Symbols> for Vec<String> {
    fn from(s: Symbols) -> Vec<String> {
        s.list
    }
}

impl Symbols {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = u32::try_from(self.list.len()).expect("fewer than 4 billion distinct strings");
        self.list.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }

    fn get(&self, id: u64) -> Result<&str, String> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.list.get(i))
            .map(String::as_str)
            .ok_or_else(|| format!("symbol {id} is not in the table of {}", self.list.len()))
    }
}

/// The vouchers, in booking order (by seq, then by number).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Book {
    bytes: Vec<u8>,
    /// Where each voucher starts in `bytes`.
    starts: Starts,
    symbols: Symbols,
    /// Per förbund (by symbol), the indexes of its vouchers.
    by_forbund: BTreeMap<u32, Vec<u32>>,
    /// Per förbund and year (by the voucher's date), the indexes of its vouchers: a report of
    /// one year reads that year's vouchers without looking at the others.
    by_forbund_year: BTreeMap<(u32, i32), Vec<u32>>,
}

/// Where each voucher starts in a book's bytes: the start of every `STARTS_GROUP`-th voucher
/// in full, and each voucher's distance from its group's first (four bytes a voucher instead of
/// eight: 4 MB less at a million vouchers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Starts {
    groups: Vec<u64>,
    from_group: Vec<u32>,
}

/// Vouchers per group of `Starts`. A voucher is made from one event, whose line is at most
/// 1 MiB: sixteen of them take far less than the 4 GiB four bytes can span.
const STARTS_GROUP: usize = 16;

impl Starts {
    fn len(&self) -> usize {
        self.from_group.len()
    }

    fn push(&mut self, at: u64) {
        if self.from_group.len().is_multiple_of(STARTS_GROUP) {
            self.groups.push(at);
        }
        let first = *self.groups.last().expect("a group is started above");
        let distance = u32::try_from(at - first).expect("sixteen vouchers take less than 4 GiB");
        self.from_group.push(distance);
    }

    fn get(&self, i: usize) -> Option<u64> {
        let distance = u64::from(*self.from_group.get(i)?);
        Some(self.groups[i / STARTS_GROUP] + distance)
    }
}

/// What a checkpoint stores of the book besides its bytes: the symbols.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BookSymbols(Symbols);

impl Book {
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.len() == 0
    }

    /// The encoded vouchers from the `from`-th on (for the store to append).
    pub fn bytes_from(&self, from: usize) -> &[u8] {
        let start = self.starts.get(from).map_or(self.bytes.len(), |s| s as usize);
        &self.bytes[start..]
    }

    pub fn symbols(&self) -> BookSymbols {
        BookSymbols(self.symbols.clone())
    }

    /// The book read back from its bytes and symbols; every voucher is read once to check it.
    pub fn from_parts(bytes: Vec<u8>, symbols: BookSymbols) -> Result<Book, String> {
        Book::from_parts_briefly(bytes, symbols, |_| {})
    }

    /// As `from_parts`, handing `each` every voucher in brief: its förbund (a symbol), date,
    /// whether it closes a year, and its rows' roles, amounts and lines. Nothing is allocated
    /// per voucher, so that loading a checkpoint of millions of vouchers costs a pass over their
    /// bytes. Every voucher is checked as `from_parts` checks it (each symbol once): what
    /// `iter` decodes later never fails.
    pub fn from_parts_briefly(
        bytes: Vec<u8>,
        symbols: BookSymbols,
        mut each: impl FnMut(&BriefVoucher<'_>),
    ) -> Result<Book, String> {
        let symbols = symbols.0;
        let ids: Vec<bool> = symbols.list.iter().map(|s| Slug::parse(s).is_ok()).collect();
        let mut book = Book {
            bytes: Vec::new(),
            starts: Starts::default(),
            symbols,
            by_forbund: BTreeMap::new(),
            by_forbund_year: BTreeMap::new(),
        };
        let mut rows = Vec::new();
        let mut at = 0usize;
        while at < bytes.len() {
            let mut r = Reader { bytes: &bytes, at };
            let (forbund, date, closing) = r.brief(&ids, &mut rows)?;
            each(&BriefVoucher { forbund, date, closing, rows: &rows });
            let index = book.starts.len() as u32;
            book.by_forbund.entry(forbund).or_default().push(index);
            book.by_forbund_year.entry((forbund, date.year())).or_default().push(index);
            book.starts.push(at as u64);
            at = r.at;
        }
        book.bytes = bytes;
        Ok(book)
    }

    /// The text of a symbol a brief voucher names (its förbund, a row's line).
    pub fn symbol(&self, id: u32) -> &str {
        &self.symbols.list[id as usize]
    }

    pub fn push(&mut self, v: &Voucher) {
        debug_assert_eq!(v.year, v.date.year(), "a voucher's year is its date's");
        let Book { bytes: out, symbols, .. } = self;
        let start = out.len();
        let forbund = symbols.id(v.forbund.as_str());
        put(out, v.seq);
        put(out, u64::from(forbund));
        put(out, u64::from(v.number));
        put(out, u64::try_from(v.date.num_days_from_ce()).expect("dates after year 1"));
        put(out, u64::from(symbols.id(&v.recorded_at)));
        put(out, u64::from(symbols.id(&v.recorded_by)));
        put(out, v.text.len() as u64);
        out.extend_from_slice(v.text.as_bytes());
        match v.kind {
            VoucherKind::Event => out.push(0),
            VoucherKind::Correction { of } => {
                out.push(1);
                put(out, of);
            }
            VoucherKind::Closing => out.push(2),
        }
        put(out, v.rows.len() as u64);
        for row in &v.rows {
            let role = Role::ALL.iter().position(|r| *r == row.role).expect("every role is in Role::ALL");
            // In canonical form (no trailing zeros), as the log writes it: the same books give
            // the same bytes whether the amount came as "12.50" or "12.5".
            let d = row.amount.decimal().normalize();
            assert!(d.scale() <= 2, "an amount has at most 2 decimals");
            let mantissa = i64::try_from(d.mantissa()).expect("amounts fit in 64 bits");
            let flags = u8::from(row.insats.is_some())
                | u8::from(row.line.is_some()) << 1
                | u8::from(row.member.is_some()) << 2
                | (d.scale() as u8) << 3;
            out.push(role as u8);
            out.push(flags);
            put(out, ((mantissa << 1) ^ (mantissa >> 63)) as u64);
            for slug in [&row.insats, &row.line, &row.member].into_iter().flatten() {
                put(out, u64::from(symbols.id(slug.as_str())));
            }
        }
        self.by_forbund.entry(forbund).or_default().push(self.starts.len() as u32);
        self.by_forbund_year.entry((forbund, v.date.year())).or_default().push(self.starts.len() as u32);
        self.starts.push(start as u64);
    }

    fn decode(&self, i: usize) -> Voucher {
        let mut r = Reader { bytes: &self.bytes, at: self.start(i) };
        r.voucher(&self.symbols).expect("the book holds only vouchers it encoded or checked")
    }

    fn start(&self, i: usize) -> usize {
        self.starts.get(i).expect("a voucher of the book") as usize
    }

    fn seq(&self, i: usize) -> u64 {
        let mut r = Reader { bytes: &self.bytes, at: self.start(i) };
        r.uint().expect("the book holds only vouchers it encoded or checked")
    }

    /// The date of the `i`-th voucher, read from its head alone (no text, no rows decoded).
    fn date(&self, i: usize) -> NaiveDate {
        let mut r = Reader { bytes: &self.bytes, at: self.start(i) };
        let mut read = || -> Result<NaiveDate, String> {
            r.head()?;
            r.uint()?;
            let days = i32::try_from(r.uint()?).map_err(|_| "a day out of range".to_string())?;
            NaiveDate::from_num_days_from_ce_opt(days).ok_or_else(|| "a day out of range".to_string())
        };
        read().expect("the book holds only vouchers it encoded or checked")
    }

    /// The vouchers whose rows, read back from the bytes, do not sum to zero, in order: none in
    /// a book `Projection::book` made (it asserts that each balances as it books it), which
    /// `audit verify` checks as read back. Only these are decoded whole.
    pub fn unbalanced(&self) -> impl Iterator<Item = Voucher> + '_ {
        (0..self.len()).filter(|i| self.rows_sum(*i) != 0).map(|i| self.decode(i))
    }

    /// The sum of the `i`-th voucher's rows in öre, read past everything else.
    fn rows_sum(&self, i: usize) -> i128 {
        let mut r = Reader { bytes: &self.bytes, at: self.start(i) };
        r.rows_sum().expect("the book holds only vouchers it encoded or checked")
    }

    /// Every voucher, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Voucher> + ExactSizeIterator + '_ {
        (0..self.len()).map(|i| self.decode(i))
    }

    /// The vouchers of one förbund recorded at or before `known_at`, in order.
    pub fn of_forbund<'a>(&'a self, f: &Slug, known_at: u64) -> impl Iterator<Item = Voucher> + 'a {
        let list = self.symbols.ids.get(f.as_str()).and_then(|id| self.by_forbund.get(id));
        let list = list.map(Vec::as_slice).unwrap_or_default();
        let end = list.partition_point(|i| self.seq(*i as usize) <= known_at);
        list[..end].iter().map(|i| self.decode(*i as usize))
    }

    /// The vouchers of one förbund recorded at or before `known_at` and dated within `dates`,
    /// in order: a voucher outside the dates is skipped by its head, never decoded whole (a
    /// report of one year reads that year's vouchers, not the förbund's whole history).
    pub fn of_forbund_dated<'a>(
        &'a self,
        f: &Slug,
        known_at: u64,
        dates: std::ops::RangeInclusive<NaiveDate>,
    ) -> impl Iterator<Item = Voucher> + 'a {
        let id = self.symbols.ids.get(f.as_str()).copied();
        // Within one year, that year's list (in booking order, as the förbund's); across years,
        // the förbund's, each voucher's date read from its head.
        let one_year = (dates.start().year() == dates.end().year()).then(|| dates.start().year());
        let list = match (id, one_year) {
            (Some(id), Some(year)) => self.by_forbund_year.get(&(id, year)),
            (Some(id), None) => self.by_forbund.get(&id),
            (None, _) => None,
        };
        let list = list.map(Vec::as_slice).unwrap_or_default();
        let end = list.partition_point(|i| self.seq(*i as usize) <= known_at);
        list[..end].iter().filter(move |i| dates.contains(&self.date(**i as usize))).map(|i| self.decode(*i as usize))
    }

    /// The vouchers booked from the event `seq`.
    pub fn of_seq(&self, seq: u64) -> Vec<Voucher> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.seq(mid) < seq {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo..self.len()).take_while(|i| self.seq(*i) == seq).map(|i| self.decode(i)).collect()
    }
}

/// A voucher as loading reads it (`Book::from_parts_briefly`): symbols, not strings.
pub struct BriefVoucher<'r> {
    /// The förbund's symbol (`Book::symbol`).
    pub forbund: u32,
    pub date: NaiveDate,
    /// A voucher that closes a year.
    pub closing: bool,
    pub rows: &'r [BriefRow],
}

/// A row of a brief voucher: its role, amount and budget line's symbol.
#[derive(Clone, Copy, Debug)]
pub struct BriefRow {
    pub role: Role,
    pub amount: Amount,
    pub line: Option<u32>,
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, what: &str) -> String {
        format!("{what} at byte {}", self.at)
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.at).ok_or_else(|| self.err("the vouchers end inside a field"))?;
        self.at += 1;
        Ok(b)
    }

    fn uint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("a number longer than 64 bits"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| self.err("the vouchers end inside a field"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// The seq and the förbund's symbol.
    fn head(&mut self) -> Result<(u64, u64), String> {
        let seq = self.uint()?;
        Ok((seq, self.uint()?))
    }

    fn slug(&mut self, symbols: &Symbols) -> Result<Slug, String> {
        let s = symbols.get(self.uint()?)?;
        Slug::parse(s).map_err(|rule| self.err(&format!("{s:?} is not an id ({rule})")))
    }

    fn kind(&mut self) -> Result<VoucherKind, String> {
        Ok(match self.byte()? {
            0 => VoucherKind::Event,
            1 => VoucherKind::Correction { of: self.uint()? },
            2 => VoucherKind::Closing,
            other => return Err(self.err(&format!("voucher kind {other}"))),
        })
    }

    /// The sum of a voucher's rows in öre, the rest read past.
    fn rows_sum(&mut self) -> Result<i128, String> {
        // seq, förbund, number, day, recorded_at, recorded_by; then the text.
        for _ in 0..6 {
            self.uint()?;
        }
        let len = usize::try_from(self.uint()?).map_err(|_| self.err("a text too long"))?;
        self.take(len)?;
        self.kind()?;
        let mut sum = 0i128;
        for _ in 0..self.uint()? {
            let (_, flags, mantissa, scale) = self.row_parts()?;
            sum += i128::from(mantissa) * 10i128.pow(2 - scale);
            for _ in 0..(flags & 7).count_ones() {
                self.uint()?;
            }
        }
        Ok(sum)
    }

    /// A row's role, its flags (which ids follow) and its amount.
    fn row_head(&mut self) -> Result<(Role, u8, Amount), String> {
        let (code, flags, mantissa, scale) = self.row_parts()?;
        let role = *Role::ALL.get(code as usize).ok_or_else(|| self.err(&format!("role {code}")))?;
        Ok((role, flags, Amount::from_decimal(Decimal::new(mantissa, scale))))
    }

    /// A row's role code, its flags, and its amount's mantissa and scale (at most 2).
    fn row_parts(&mut self) -> Result<(u8, u8, i64, u32), String> {
        let code = self.byte()?;
        let flags = self.byte()?;
        let scale = u32::from(flags >> 3);
        if scale > 2 {
            return Err(self.err(&format!("row flags {flags}")));
        }
        let z = self.uint()?;
        Ok((code, flags, (z >> 1) as i64 ^ -((z & 1) as i64), scale))
    }

    /// A symbol that must be an id (`ids[symbol]` says whether it parses as one).
    fn id(&mut self, ids: &[bool]) -> Result<u32, String> {
        let id = self.uint()?;
        match usize::try_from(id).ok().and_then(|i| ids.get(i)) {
            Some(true) => Ok(id as u32),
            Some(false) => Err(self.err(&format!("symbol {id} is not an id"))),
            None => Err(self.err(&format!("no symbol {id}"))),
        }
    }

    /// A voucher read as `voucher` reads it, checked alike, keeping only its förbund, date,
    /// kind and rows (into `rows`, emptied first).
    fn brief(&mut self, ids: &[bool], rows: &mut Vec<BriefRow>) -> Result<(u32, NaiveDate, bool), String> {
        self.uint()?;
        let forbund = self.id(ids)?;
        u32::try_from(self.uint()?).map_err(|_| self.err("a voucher number over 32 bits"))?;
        let days = i32::try_from(self.uint()?).map_err(|_| self.err("a day out of range"))?;
        let date = NaiveDate::from_num_days_from_ce_opt(days).ok_or_else(|| self.err("a day out of range"))?;
        for _ in 0..2 {
            let symbol = self.uint()?;
            if usize::try_from(symbol).map_or(true, |s| s >= ids.len()) {
                return Err(self.err(&format!("no symbol {symbol}")));
            }
        }
        let len = usize::try_from(self.uint()?).map_err(|_| self.err("a text too long"))?;
        std::str::from_utf8(self.take(len)?).map_err(|e| self.err(&format!("text not UTF-8: {e}")))?;
        let closing = self.kind()? == VoucherKind::Closing;
        let count = self.uint()?;
        rows.clear();
        for _ in 0..count {
            let (role, flags, amount) = self.row_head()?;
            let mut line = None;
            for bit in [1u8, 2, 4] {
                if flags & bit != 0 {
                    let id = self.id(ids)?;
                    if bit == 2 {
                        line = Some(id);
                    }
                }
            }
            rows.push(BriefRow { role, amount, line });
        }
        Ok((forbund, date, closing))
    }

    fn voucher(&mut self, symbols: &Symbols) -> Result<Voucher, String> {
        let (seq, forbund) = self.head()?;
        let forbund = Slug::parse(symbols.get(forbund)?).map_err(|rule| self.err(rule))?;
        let number = u32::try_from(self.uint()?).map_err(|_| self.err("a voucher number over 32 bits"))?;
        let days = i32::try_from(self.uint()?).map_err(|_| self.err("a day out of range"))?;
        let date = NaiveDate::from_num_days_from_ce_opt(days).ok_or_else(|| self.err("a day out of range"))?;
        let recorded_at = symbols.get(self.uint()?)?.to_string();
        let recorded_by = symbols.get(self.uint()?)?.to_string();
        let len = usize::try_from(self.uint()?).map_err(|_| self.err("a text too long"))?;
        let text = std::str::from_utf8(self.take(len)?).map_err(|e| self.err(&format!("text not UTF-8: {e}")))?;
        let kind = self.kind()?;
        let count = self.uint()?;
        let mut rows = Vec::with_capacity(count.min(64) as usize);
        for _ in 0..count {
            let (role, flags, amount) = self.row_head()?;
            let mut slug = |bit: u8| if flags & bit != 0 { self.slug(symbols).map(Some) } else { Ok(None) };
            let (insats, line, member) = (slug(1)?, slug(2)?, slug(4)?);
            rows.push(Row { role, amount, insats, line, member });
        }
        Ok(Voucher {
            forbund,
            year: date.year(),
            number,
            date,
            seq,
            recorded_at,
            recorded_by,
            text: text.to_string(),
            kind,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finsam_domain::{Category, MemberKind};

    fn voucher(seq: u64, forbund: &str, kind: VoucherKind, rows: Vec<Row>) -> Voucher {
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        Voucher {
            forbund: Slug::parse(forbund).unwrap(),
            year: 2024,
            number: 17,
            date,
            seq,
            recorded_at: "2024-03-01T10:00:00.123456Z".into(),
            recorded_by: "kansli åäö".into(),
            text: "Medlemsbidrag Sala: faktura 12 – \"mars\"".into(),
            kind,
            rows,
        }
    }

    fn row(role: Role, amount: &str) -> Row {
        Row { role, amount: Amount::parse(amount).unwrap(), insats: None, line: None, member: None }
    }

    fn sample() -> Vec<Voucher> {
        let slug = |s: &str| Some(Slug::parse(s).unwrap());
        let mut cost = row(Role::Cost(Category::Individ), "1234.56");
        (cost.insats, cost.line) = (slug("team"), slug("team-line"));
        let mut income = row(Role::Contribution(MemberKind::Kommun), "-0.1");
        income.member = slug("sala");
        vec![
            voucher(1, "sf-a", VoucherKind::Event, vec![cost, row(Role::Bank, "-1234.56")]),
            voucher(2, "sf-b", VoucherKind::Correction { of: u64::MAX }, vec![income, row(Role::Bank, "0.10")]),
            voucher(2, "sf-a", VoucherKind::Closing, Role::ALL.iter().map(|r| row(*r, "-100000000000")).collect()),
            voucher(9, "sf-b", VoucherKind::Event, vec![]),
        ]
    }

    #[test]
    fn every_kind_of_voucher_and_row_reads_back_as_booked() {
        let vouchers = sample();
        let mut book = Book::default();
        for v in &vouchers {
            book.push(v);
        }
        assert_eq!(book.iter().collect::<Vec<_>>(), vouchers);
        // Amounts are kept in canonical form: "0.10" as "0.1", "-100000000000" as is.
        let back: Vec<String> = book.iter().flat_map(|v| v.rows).map(|r| r.amount.decimal().to_string()).collect();
        assert_eq!(&back[..4], ["1234.56", "-1234.56", "-0.1", "0.1"]);
        assert!(back[4..].iter().all(|a| a == "-100000000000"), "{back:?}");
        assert_eq!(book.of_seq(2), vouchers[1..3].to_vec());
        assert!(book.of_seq(3).is_empty());
        let a = Slug::parse("sf-a").unwrap();
        assert_eq!(book.of_forbund(&a, 1).collect::<Vec<_>>(), vec![vouchers[0].clone()]);
        assert_eq!(book.of_forbund(&a, 9).count(), 2);
        // Only the closing voucher's rows (every role at the same amount) do not sum to zero;
        // an öre off is off.
        assert_eq!(book.unbalanced().collect::<Vec<_>>(), vec![vouchers[2].clone()]);
        let mut off = book.clone();
        let one_ore =
            voucher(10, "sf-a", VoucherKind::Event, vec![row(Role::Bank, "1.5"), row(Role::Payable, "-1.49")]);
        off.push(&one_ore);
        let mixed = vec![row(Role::Bank, "1.5"), row(Role::Payable, "-1.25"), row(Role::Payable, "-0.25")];
        off.push(&voucher(11, "sf-a", VoucherKind::Event, mixed));
        assert_eq!(off.unbalanced().collect::<Vec<_>>(), vec![vouchers[2].clone(), one_ore]);
        // More vouchers than a group of starts holds: each is read where it starts.
        let many: Vec<Voucher> = (1..=40).map(|seq| voucher(seq, "sf-a", VoucherKind::Event, vec![])).collect();
        let mut long = Book::default();
        many.iter().for_each(|v| long.push(v));
        assert_eq!(long.iter().collect::<Vec<_>>(), many);
        // Stored and read back: the same book, and the tail from any voucher on.
        let stored: Vec<String> = book.symbols().0.into();
        let again = Book::from_parts(book.bytes_from(0).to_vec(), BookSymbols(stored.into())).unwrap();
        assert_eq!(again, book);
        assert_eq!(book.bytes_from(4), b"");
        // Cut anywhere inside a voucher, the bytes are refused, naming the byte.
        let mut ends: Vec<usize> = (1..book.len()).map(|i| book.start(i)).collect();
        ends.push(book.bytes.len());
        for cut in 1..book.bytes.len() {
            let parts = Book::from_parts(book.bytes[..cut].to_vec(), book.symbols());
            match ends.iter().position(|e| *e == cut) {
                Some(k) => assert_eq!(parts.unwrap().len(), k + 1, "cut after voucher {k}"),
                None => assert!(parts.is_err_and(|e| e.contains("byte")), "cut at {cut}"),
            }
        }
    }
}
