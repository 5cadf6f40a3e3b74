//! A budget from a spreadsheet — xlsx, ods or csv — read into budget lines, with every cell
//! that cannot be read marked (sheet, cell, value, reason). The layout is the one a kansli
//! keeps: a heading row naming the columns, then one row per line.
//!
//! | column (any of these headings) | what |
//! |---|---|
//! | id, kod | the line's id (else made from its name) |
//! | namn, benämning, post, budgetpost | the line's name |
//! | kategori, typ | individ / struktur / admin in the budget's own words ("Individinriktade insatser", "Administration"); "Intäkter" for an income line; "Överföring" for equity transferred from another förbund |
//! | insats | the insats a cost line is for: its id or its name |
//! | art, kostnadsart, kostnadsslag | personal, köpta tjänster, lämnade bidrag, övrigt, finansiell (empty: the line's default) |
//! | från förbund, från | the förbund a transfer comes from: its id or its name |
//! | belopp, budget, budget 2024, kronor | the amount: a number cell, or text as "1 750 000" or "1 750 000,50" |
//!
//! A row with a name and nothing else ("Intäkter", "Kostnader") starts a section: the rows
//! under "Intäkter" are income lines without saying so. A row named "Summa kostnader" or
//! "Summa intäkter" is a check, not a line: it must equal the lines above it. Other "Summa",
//! "Totalt" and "Resultat" rows are skipped.

use crate::cells::{category, fold, nature, slug_of, swedish_amount};
use crate::{Problem, Refusal};
use calamine::{Data, Reader};
use finsam_domain::event::{Category, Nature};
use finsam_domain::Amount;

/// The largest spreadsheet read: a budget is a few hundred rows.
pub const MAX_BYTES: usize = 5 << 20;
pub const MAX_ROWS: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Cost { category: Category, insats: Option<String>, nature: Option<Nature> },
    Income,
    Transfer { from: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Where the line is: "Budget!B7".
    pub place: String,
    pub id: String,
    pub name: String,
    pub amount: Amount,
    pub kind: Kind,
}

/// A sheet's cell as read: text, a number's exact decimal text, or empty.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Text(String),
    Number(String),
    Empty,
    Unreadable(String),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(t) | Cell::Number(t) | Cell::Unreadable(t) => t.trim().to_string(),
            Cell::Empty => String::new(),
        }
    }
}

struct Grid {
    sheet: String,
    /// Row and column of the first cell (0-based), for the cell names.
    origin: (usize, usize),
    rows: Vec<Vec<Cell>>,
}

impl Grid {
    fn place(&self, row: usize, col: usize) -> String {
        let mut c = col + self.origin.1;
        let mut letters = String::new();
        loop {
            letters.insert(0, (b'A' + (c % 26) as u8) as char);
            if c < 26 {
                break;
            }
            c = c / 26 - 1;
        }
        let cell = format!("{letters}{}", row + self.origin.0 + 1);
        if self.sheet.is_empty() {
            cell
        } else {
            format!("{}!{cell}", self.sheet)
        }
    }
}

/// Reads a budget spreadsheet into its lines, or refuses it whole with every problem.
/// `insats` and `forbund` resolve a name or an id to the id (`None`: no such one).
pub fn read(
    file: &str,
    bytes: &[u8],
    insats: &dyn Fn(&str) -> Option<String>,
    forbund: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Line>, Refusal> {
    let refuse = |problems: Vec<Problem>| Refusal { file: file.to_string(), problems };
    if bytes.len() > MAX_BYTES {
        return Err(refuse(vec![Problem::new(
            "filen",
            "storlek",
            format!("{} byte", bytes.len()),
            format!("ett budgetark är högst {} MB", MAX_BYTES >> 20),
        )]));
    }
    let grid = if bytes.starts_with(b"PK\x03\x04") {
        workbook(bytes).map_err(|p| refuse(vec![p]))?
    } else {
        delimited(bytes).map_err(|p| refuse(vec![p]))?
    };
    if grid.rows.len() > MAX_ROWS {
        return Err(refuse(vec![Problem::new(
            &grid.sheet,
            "rader",
            grid.rows.len().to_string(),
            format!("ett budgetark har högst {MAX_ROWS} rader"),
        )]));
    }
    lines(&grid, insats, forbund).map_err(refuse)
}

fn workbook(bytes: &[u8]) -> Result<Grid, Problem> {
    let mut book = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.to_vec())).map_err(|e| {
        Problem::new("filen", "format", "", format!("varken ett xlsx- eller ods-ark som kan läsas: {e}"))
    })?;
    let names = book.sheet_names();
    let sheet = names
        .iter()
        .find(|n| fold(n).starts_with("budget"))
        .or_else(|| names.first())
        .cloned()
        .ok_or_else(|| Problem::new("filen", "blad", "", "arbetsboken har inga blad"))?;
    let range = book
        .worksheet_range(&sheet)
        .map_err(|e| Problem::new(&sheet, "blad", "", format!("bladet kan inte läsas: {e}")))?;
    if range.height() > MAX_ROWS {
        return Err(Problem::new(
            &sheet,
            "rader",
            range.height().to_string(),
            format!("ett budgetark har högst {MAX_ROWS} rader"),
        ));
    }
    // A formula is read by the value the program saved with it; one without a saved value
    // (written by a program that does not calculate) cannot be read.
    let formulas = book.worksheet_formula(&sheet).ok();
    let origin = range.start().map_or((0, 0), |(r, c)| (r as usize, c as usize));
    let mut rows = Vec::new();
    for (r, row) in range.rows().enumerate() {
        let mut cells = Vec::new();
        for (c, d) in row.iter().enumerate() {
            let at = ((origin.0 + r) as u32, (origin.1 + c) as u32);
            let formula = formulas.as_ref().and_then(|f| f.get_value(at)).filter(|f| !f.is_empty());
            let uncalculated = matches!(d, Data::Empty | Data::Int(0)) || matches!(d, Data::Float(f) if *f == 0.0);
            cells.push(match d {
                // A program that does not calculate saves a formula's value as 0 or nothing.
                _ if uncalculated && formula.is_some() => Cell::Unreadable(format!(
                    "={} (en formel utan sparat värde: öppna och spara filen i kalkylprogrammet)",
                    formula.expect("checked")
                )),
                Data::String(s) => Cell::Text(s.clone()),
                Data::Int(i) => Cell::Number(i.to_string()),
                // Rust prints a float as the shortest text that reads back to it: 1750000.5,
                // never 1750000.4999999.
                Data::Float(f) if f.is_finite() => Cell::Number(format!("{f}")),
                Data::Empty => Cell::Empty,
                Data::Error(e) => Cell::Unreadable(format!("#{e:?} (ett fel i kalkylbladet)")),
                other => Cell::Unreadable(format!("{other} (varken text eller tal)")),
            });
        }
        rows.push(cells);
    }
    Ok(Grid { sheet, origin, rows })
}

fn delimited(bytes: &[u8]) -> Result<Grid, Problem> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    // UTF-8, else Windows-1252: what Swedish Excel saves a csv in.
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.to_string(),
    };
    if text.contains('\0') {
        return Err(Problem::new("filen", "format", "", "varken ett kalkylark (xlsx, ods) eller en csv-fil"));
    }
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let delimiter = [b';', b'\t', b','].into_iter().max_by_key(|d| first.matches(*d as char).count()).unwrap_or(b';');
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (n, record) in reader.records().enumerate() {
        if n >= MAX_ROWS {
            return Err(Problem::new(
                "filen",
                "rader",
                format!("mer än {MAX_ROWS}"),
                format!("ett budgetark har högst {MAX_ROWS} rader"),
            ));
        }
        let record = record.map_err(|e| Problem::new(format!("rad {}", n + 1), "csv", "", format!("{e}")))?;
        rows.push(
            record.iter().map(|c| if c.trim().is_empty() { Cell::Empty } else { Cell::Text(c.to_string()) }).collect(),
        );
    }
    Ok(Grid { sheet: String::new(), origin: (0, 0), rows })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Column {
    Id,
    Name,
    Category,
    Insats,
    Nature,
    From,
    Amount,
}

fn column(heading: &str) -> Option<Column> {
    let h = fold(heading);
    Some(match h.as_str() {
        "id" | "kod" | "rad id" | "radid" => Column::Id,
        "namn" | "benamning" | "post" | "budgetpost" | "rad" => Column::Name,
        "kategori" | "typ" => Column::Category,
        "insats" => Column::Insats,
        "art" | "kostnadsart" | "kostnadsslag" => Column::Nature,
        "fran forbund" | "fran" => Column::From,
        "belopp" | "kronor" | "kr" | "belopp kr" | "budget" => Column::Amount,
        _ if h.starts_with("budget ") || h.starts_with("belopp ") => Column::Amount,
        _ => return None,
    })
}

fn lines(
    grid: &Grid,
    insats: &dyn Fn(&str) -> Option<String>,
    forbund: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Line>, Vec<Problem>> {
    let mut problems = Vec::new();
    // The heading row: the first with a name column and an amount column.
    let heading = grid.rows.iter().take(30).position(|row| {
        let cols: Vec<Option<Column>> = row.iter().map(|c| column(&c.text())).collect();
        cols.contains(&Some(Column::Name)) && cols.contains(&Some(Column::Amount))
    });
    let Some(h) = heading else {
        return Err(vec![Problem::new(
            if grid.sheet.is_empty() { "filen".to_string() } else { grid.sheet.clone() },
            "rubrikrad",
            "",
            "ingen rad bland de 30 första har rubrikerna namn och belopp (och kategori, insats, art, id efter behov)",
        )]);
    };
    let columns: Vec<Option<Column>> = grid.rows[h].iter().map(|c| column(&c.text())).collect();
    let at = |row: &[Cell], want: Column| -> Option<(usize, Cell)> {
        columns.iter().position(|c| *c == Some(want)).map(|i| (i, row.get(i).cloned().unwrap_or(Cell::Empty)))
    };
    let mut out: Vec<Line> = Vec::new();
    let mut section_income = false;
    for (r, row) in grid.rows.iter().enumerate().skip(h + 1) {
        let text = |want: Column| at(row, want).map(|(_, c)| c.text()).unwrap_or_default();
        let place = |want: Column| grid.place(r, at(row, want).map_or(0, |(i, _)| i));
        let name = text(Column::Name);
        let amount_cell = at(row, Column::Amount);
        let has_amount = amount_cell.as_ref().is_some_and(|(_, c)| *c != Cell::Empty);
        let kategori = text(Column::Category);
        if name.is_empty() && !has_amount {
            continue;
        }
        let folded = fold(&name);
        if !has_amount && kategori.is_empty() {
            // A section heading.
            if folded.starts_with("intakt") {
                section_income = true;
            } else if folded.starts_with("kostnad") {
                section_income = false;
            }
            continue;
        }
        let amount = match amount_cell.map(|(_, c)| c) {
            Some(c @ (Cell::Number(_) | Cell::Text(_))) => {
                let n = c.text();
                // A number cell is exact decimal text; a text cell is read the Swedish way
                // (so "1.750" is refused, never read as 1,75 kr).
                let canonical = match (&c, rust_decimal::Decimal::from_str_exact(&n)) {
                    (Cell::Number(_), Ok(d)) if d.round_dp(2) == d => Ok(d.normalize().to_string()),
                    (Cell::Number(_), _) => Err("fler än två decimaler (ören): avrunda i kalkylbladet"),
                    _ => swedish_amount(&n),
                };
                match canonical.map(|c| Amount::parse(&c)) {
                    Ok(Ok(a)) => Some(a),
                    Ok(Err(e)) => {
                        problems.push(Problem::new(place(Column::Amount), "belopp", n, e.0));
                        None
                    }
                    Err(e) => {
                        problems.push(Problem::new(place(Column::Amount), "belopp", n, e));
                        None
                    }
                }
            }
            Some(Cell::Unreadable(why)) => {
                problems.push(Problem::new(
                    place(Column::Amount),
                    "belopp",
                    why,
                    "cellen kan inte läsas som ett belopp",
                ));
                None
            }
            _ => {
                problems.push(Problem::new(place(Column::Amount), "belopp", "", "raden har ett namn men inget belopp"));
                None
            }
        };
        if folded.starts_with("summa") || folded.starts_with("totalt") || folded.starts_with("resultat") {
            let kind_sum = |income: bool| -> Amount {
                out.iter()
                    .filter(|l| (l.kind == Kind::Income) == income && !matches!(l.kind, Kind::Transfer { .. }))
                    .map(|l| l.amount)
                    .sum()
            };
            let check = if folded.contains("kostnad") {
                Some(("kostnadsraderna", kind_sum(false)))
            } else if folded.contains("intakt") {
                Some(("intäktsraderna", kind_sum(true)))
            } else {
                None
            };
            if let (Some((what, sum)), Some(stated)) = (check, amount) {
                if sum != stated {
                    problems.push(Problem::new(
                        place(Column::Amount),
                        name.clone(),
                        stated.human(),
                        format!("{what} ovanför summerar till {}", sum.human()),
                    ));
                }
            }
            continue;
        }
        if name.is_empty() {
            problems.push(Problem::new(place(Column::Name), "namn", "", "raden har ett belopp men inget namn"));
            continue;
        }
        let fk = fold(&kategori);
        let kind = if fk.starts_with("intakt") || fk == "medlemsbidrag" || (fk.is_empty() && section_income) {
            Some(Kind::Income)
        } else if fk.starts_with("overforing") || fk.starts_with("overfort") {
            let from = text(Column::From);
            match forbund(&from) {
                Some(f) => Some(Kind::Transfer { from: f }),
                None => {
                    problems.push(Problem::new(
                        place(Column::From),
                        "från förbund",
                        from,
                        "en överföring säger från vilket förbund (id eller namn, som registrerat)",
                    ));
                    None
                }
            }
        } else if kategori.is_empty() {
            problems.push(Problem::new(
                place(Column::Category),
                "kategori",
                "",
                "en kostnadsrad har en kategori: individ, struktur eller admin (eller Intäkter för en intäktsrad)",
            ));
            None
        } else {
            let c = category(&kategori)
                .map_err(|e| problems.push(Problem::new(place(Column::Category), "kategori", &kategori, e)))
                .ok();
            let art = text(Column::Nature);
            let n = nature(&art).map_err(|e| problems.push(Problem::new(place(Column::Nature), "art", &art, e))).ok();
            let i = text(Column::Insats);
            let ins = if i.is_empty() {
                Some(None)
            } else {
                match insats(&i) {
                    Some(id) => Some(Some(id)),
                    None => {
                        problems.push(Problem::new(
                            place(Column::Insats),
                            "insats",
                            &i,
                            "ingen insats i förbundet med det id:t eller namnet",
                        ));
                        None
                    }
                }
            };
            match (c, n, ins) {
                (Some(category), Some(nature), Some(insats)) => Some(Kind::Cost { category, insats, nature }),
                _ => None,
            }
        };
        let id = match text(Column::Id) {
            given if !given.is_empty() => given,
            _ => slug_of(&name),
        };
        if let (Some(kind), Some(amount)) = (kind, amount) {
            if out.iter().any(|l| l.id == id && (l.kind == Kind::Income) == (kind == Kind::Income)) {
                problems.push(Problem::new(place(Column::Id), "id", &id, "två rader med samma id"));
                continue;
            }
            out.push(Line { place: place(Column::Name), id, name, amount, kind });
        }
    }
    if out.is_empty() && problems.is_empty() {
        problems.push(Problem::new(grid.place(h, 0), "rader", "", "arket har inga budgetrader under rubrikraden"));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}
