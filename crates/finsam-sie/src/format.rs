//! SIE records: writing them (quoting, CP437, CRLF, #KSUMMA) and reading them back.

use crate::codec::{crc32, decode, encode};

/// A field of a record: a plain item, or an object list `{dim "obj" …}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Item(String),
    Objects(Vec<(String, String)>),
}

/// One line: `#LABEL field field …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub label: String,
    pub fields: Vec<Field>,
}

impl Record {
    pub fn new(label: &str, fields: Vec<Field>) -> Record {
        Record { label: label.to_string(), fields }
    }

    pub fn item(&self, i: usize) -> Option<&str> {
        match self.fields.get(i) {
            Some(Field::Item(s)) => Some(s),
            _ => None,
        }
    }
}

pub fn item(text: impl Into<String>) -> Field {
    Field::Item(text.into())
}

/// A voucher: its `#VER` record and the `#TRANS` records inside its braces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ver {
    pub head: Record,
    pub trans: Vec<Record>,
}

/// What a file is made of, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Record(Record),
    Ver(Ver),
}

/// A text with a backslash written as `/` and anything unprintable (a line break, a control or
/// direction character) as a space: no text can start a new SIE record.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\\' => '/',
            c if finsam_domain::text::is_forbidden(c) => ' ',
            c => c,
        })
        .collect()
}

/// A text as SIE writes it: plain when it is a simple token, else in quotes with `"` escaped
/// as `\"`. A backslash is written as `/` (so that no reader can mistake it for an escape).
fn quote(text: &str) -> String {
    let text = printable(text);
    let simple =
        !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '+' | ':'));
    if simple {
        text
    } else {
        format!("\"{}\"", text.replace('"', "\\\""))
    }
}

fn render_record(r: &Record, out: &mut String, crc: &mut u32) {
    out.push_str(&r.label);
    *crc = crc32(*crc, &encode(&r.label));
    for f in &r.fields {
        out.push(' ');
        match f {
            Field::Item(text) => {
                out.push_str(&quote(text));
                *crc = crc32(*crc, &encode(&printable(text)));
            }
            Field::Objects(list) => {
                out.push('{');
                let parts: Vec<String> = list.iter().map(|(d, o)| format!("{} {}", quote(d), quote(o))).collect();
                out.push_str(&parts.join(" "));
                out.push('}');
                for (d, o) in list {
                    *crc = crc32(*crc, &encode(&d.replace('\\', "/")));
                    *crc = crc32(*crc, &encode(&o.replace('\\', "/")));
                }
            }
        }
    }
    out.push_str("\r\n");
}

/// Renders a file: `#FLAGGA 0`, `#KSUMMA`, the items, and the closing `#KSUMMA` with the CRC-32
/// of every label and field content in between. CP437, CRLF.
pub fn render(items: &[Item]) -> Vec<u8> {
    let mut out = String::from("#FLAGGA 0\r\n#KSUMMA\r\n");
    let mut crc = 0u32;
    for item in items {
        match item {
            Item::Record(r) => render_record(r, &mut out, &mut crc),
            Item::Ver(v) => {
                render_record(&v.head, &mut out, &mut crc);
                out.push_str("{\r\n");
                for t in &v.trans {
                    render_record(t, &mut out, &mut crc);
                }
                out.push_str("}\r\n");
            }
        }
    }
    out.push_str(&format!("#KSUMMA {crc}\r\n"));
    encode(&out)
}

/// A file read back: its records, its vouchers, and its checksum (declared, computed).
#[derive(Clone, Debug, Default)]
pub struct SieFile {
    pub records: Vec<Record>,
    pub vers: Vec<Ver>,
    pub ksumma: Option<(u32, u32)>,
}

/// Splits one line into tokens as SIE 4B reads them: whitespace separates, quotes enclose (with
/// `\"` for a quote inside), braces delimit object lists.
fn tokens(line: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' || c == '\r' {
            i += 1;
        } else if c == '{' {
            out.push(Tok::Open);
            i += 1;
        } else if c == '}' {
            out.push(Tok::Close);
            i += 1;
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => break,
                    Some('\\') if chars.get(i + 1) == Some(&'"') => {
                        s.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(x) => {
                        s.push(*x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Text(s));
        } else {
            let start = i;
            while i < chars.len() && !matches!(chars[i], ' ' | '\t' | '\r' | '{' | '}' | '"') {
                i += 1;
            }
            out.push(Tok::Text(chars[start..i].iter().collect()));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Open,
    Close,
}

/// Reads a SIE file (any type 1–4, CP437), checking #KSUMMA when the file has one.
pub fn parse(bytes: &[u8]) -> Result<SieFile, String> {
    let text = decode(bytes);
    let mut file = SieFile::default();
    let mut crc: Option<u32> = None;
    let mut open_ver: Option<Ver> = None;
    let mut in_block = false;
    for (n, line) in text.split('\n').enumerate() {
        let toks = tokens(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        if toks.is_empty() {
            continue;
        }
        if toks == [Tok::Open] {
            if open_ver.is_none() {
                return Err(format!("line {}: a '{{' that opens no #VER", n + 1));
            }
            in_block = true;
            continue;
        }
        if toks == [Tok::Close] {
            let v = open_ver.take().ok_or(format!("line {}: a '}}' that closes nothing", n + 1))?;
            file.vers.push(v);
            in_block = false;
            continue;
        }
        let Tok::Text(label) = &toks[0] else { return Err(format!("line {}: a record starts with its #LABEL", n + 1)) };
        if !label.starts_with('#') {
            return Err(format!("line {}: {label:?} is not a #LABEL", n + 1));
        }
        let mut fields = Vec::new();
        let mut it = toks[1..].iter();
        while let Some(t) = it.next() {
            match t {
                Tok::Text(s) => fields.push(Field::Item(s.clone())),
                Tok::Open => {
                    let mut list = Vec::new();
                    let mut pending: Option<String> = None;
                    loop {
                        match it.next() {
                            Some(Tok::Close) | None => break,
                            Some(Tok::Text(s)) => match pending.take() {
                                None => pending = Some(s.clone()),
                                Some(d) => list.push((d, s.clone())),
                            },
                            Some(Tok::Open) => return Err(format!("line {}: nested braces", n + 1)),
                        }
                    }
                    fields.push(Field::Objects(list));
                }
                Tok::Close => return Err(format!("line {}: a stray '}}'", n + 1)),
            }
        }
        let record = Record { label: label.clone(), fields };
        if record.label == "#KSUMMA" {
            match (crc, record.item(0)) {
                (None, None) => crc = Some(0),
                (Some(c), Some(declared)) => {
                    let declared: u32 = declared
                        .parse()
                        .map_err(|_| format!("line {}: #KSUMMA {declared:?} is not a number", n + 1))?;
                    file.ksumma = Some((declared, c));
                    crc = None;
                }
                _ => return Err(format!("line {}: an unexpected #KSUMMA", n + 1)),
            }
            continue;
        }
        if let Some(c) = crc.as_mut() {
            // Labels and field contents, in CP437, without separators, quotes or braces.
            *c = crc32(*c, &encode(&record.label));
            for f in &record.fields {
                match f {
                    Field::Item(s) => *c = crc32(*c, &encode(s)),
                    Field::Objects(list) => {
                        for (d, o) in list {
                            *c = crc32(*c, &encode(d));
                            *c = crc32(*c, &encode(o));
                        }
                    }
                }
            }
        }
        if record.label == "#VER" {
            open_ver = Some(Ver { head: record, trans: Vec::new() });
        } else if in_block {
            open_ver.as_mut().expect("in a block").trans.push(record);
        } else {
            file.records.push(record);
        }
    }
    if crc.is_some() {
        return Err("the file opens #KSUMMA but never closes it: it was cut short".into());
    }
    Ok(file)
}
