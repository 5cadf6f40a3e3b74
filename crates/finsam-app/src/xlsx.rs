//! The reports as workbooks (`--format xlsx`): every table a report renders becomes a sheet with
//! its Swedish headers in bold, the header row frozen, and each figure of a right-aligned
//! column a number — kronor with two decimals and thousands grouped, shares as percentages —
//! so that a spreadsheet sums it; the number formats follow the reader's locale (decimal comma
//! in a Swedish Excel or LibreOffice). Written in memory: the caller emits the bytes.

use crate::output::{say, Failure};
use crate::table::{Align, Row, Table};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rust_xlsxwriter::{Format, Workbook};

/// A figure as a table shows it ("1 109 000,00", "-50,00 kr", "13,58 %", "42"), as a number and
/// whether it is a share; `None` for any other text.
pub fn figure(cell: &str) -> Option<(Decimal, bool)> {
    let cell = cell.strip_suffix(" kr").unwrap_or(cell);
    let (text, share) = match cell.strip_suffix(" %") {
        Some(t) => (t, true),
        None => (cell, false),
    };
    let body = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match body.split_once(',') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Whole kronor grouped by threes with spaces ("1 109 000"), or not grouped at all.
    let groups: Vec<&str> = int.split(' ').collect();
    let int_ok = groups.iter().all(|g| digits(g))
        && (groups.len() == 1 || ((1..=3).contains(&groups[0].len()) && groups[1..].iter().all(|g| g.len() == 3)));
    if !int_ok || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    let value: Decimal =
        format!("{}{}.{}", if text.starts_with('-') { "-" } else { "" }, groups.concat(), frac.unwrap_or("0"))
            .parse()
            .ok()?;
    let value = if frac.is_none() { value.trunc() } else { value };
    Some(if share { (value / Decimal::from(100), true) } else { (value, false) })
}

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`, unique in the book.
fn sheet_name(wanted: &str, taken: &mut Vec<String>) -> String {
    let clean: String = wanted.chars().map(|c| if "[]:*?/\\".contains(c) { ' ' } else { c }).collect();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    let clean = clean.trim_matches('\'');
    let base: String = clean.chars().take(31).collect();
    let base = if base.is_empty() { "Tabell".to_string() } else { base };
    let mut name = base.clone();
    let mut n = 2;
    while taken.iter().any(|t| t.to_lowercase() == name.to_lowercase()) {
        let suffix = format!(" ({n})");
        name = base.chars().take(31 - suffix.chars().count()).collect::<String>() + &suffix;
        n += 1;
    }
    taken.push(name.clone());
    name
}

/// A report rendered for people (`Format::Table`) as a workbook of the tables it shows.
pub fn of_report(render: impl FnOnce(crate::Format) -> Result<String, Failure>) -> Result<Vec<u8>, Failure> {
    let (text, sheets) = crate::table::collect_sheets(|| render(crate::Format::Table));
    text?;
    workbook(&sheets)
}

/// The tables as a workbook, one sheet each (named by its title, else "Tabell N").
pub fn workbook(tables: &[Table]) -> Result<Vec<u8>, Failure> {
    let failed = |e: rust_xlsxwriter::XlsxError| Failure {
        code: 1,
        message: say(format!("kunde inte skriva arbetsboken: {e}"), format!("could not write the workbook: {e}")),
    };
    if tables.is_empty() {
        return Err(Failure::usage(say(
            "kommandot visar ingen tabell att lägga i en arbetsbok; --format xlsx finns för rapporterna",
            "the command shows no table to put in a workbook; --format xlsx is offered by the reports",
        )));
    }
    let mut book = Workbook::new();
    let bold = Format::new().set_bold().set_border_bottom(rust_xlsxwriter::FormatBorder::Thin);
    let kronor = Format::new().set_num_format("#,##0.00");
    let whole = Format::new().set_num_format("#,##0");
    let share = Format::new().set_num_format("0.0#%");
    let mut taken = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let name = sheet_name(t.title().unwrap_or(&format!("Tabell {}", i + 1)), &mut taken);
        let sheet = book.add_worksheet();
        sheet.set_name(&name).map_err(failed)?;
        let mut widths: Vec<usize> = t.headers().iter().map(|h| h.chars().count()).collect();
        for (c, h) in t.headers().iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, h, &bold).map_err(failed)?;
        }
        let mut r = 1u32;
        for row in t.rows() {
            let Row::Cells(cells) = row else { continue };
            for (c, cell) in cells.iter().enumerate() {
                widths[c] = widths[c].max(cell.chars().count());
                let number = if t.aligns()[c] == Align::Right { figure(cell) } else { None };
                match number {
                    Some((value, is_share)) => {
                        let format = if is_share {
                            &share
                        } else if value.scale() == 0 {
                            &whole
                        } else {
                            &kronor
                        };
                        let value = value.to_f64().expect("a figure fits a spreadsheet's number");
                        sheet.write_number_with_format(r, c as u16, value, format).map_err(failed)?;
                    }
                    None if cell.is_empty() => {}
                    None => {
                        sheet.write_string(r, c as u16, cell).map_err(failed)?;
                    }
                }
            }
            r += 1;
        }
        for (c, w) in widths.iter().enumerate() {
            sheet.set_column_width(c as u16, (*w as f64 + 2.0).min(80.0)).map_err(failed)?;
        }
        sheet.set_freeze_panes(1, 0).map_err(failed)?;
    }
    book.save_to_buffer().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tables_figures_are_read_back_as_numbers_and_nothing_else_is() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(figure("1 109 000,00"), Some((d("1109000.00"), false)));
        assert_eq!(figure("-50,00"), Some((d("-50.00"), false)));
        assert_eq!(figure("2 357 029,90 kr"), Some((d("2357029.90"), false)));
        assert_eq!(figure("12 kr"), Some((d("12"), false)));
        assert_eq!(figure("0,00"), Some((d("0.00"), false)));
        assert_eq!(figure("42"), Some((d("42"), false)));
        assert_eq!(figure("13,58 %"), Some((d("0.1358"), true)));
        for text in ["", "–", "2024 A 12", "1 00,00", "12 3456,00", "sf-vastmanland", "1930", "-", "1,2,3", "12 kronor"]
        {
            let read = figure(text);
            // An account number is a whole number: read as one (a right-aligned column of
            // account numbers has none; they are left-aligned).
            assert!(read.is_none() || text == "1930", "{text:?} read as {read:?}");
        }
    }

    #[test]
    fn sheet_names_are_what_excel_accepts_and_unique() {
        let mut taken = Vec::new();
        assert_eq!(sheet_name("Resultaträkning", &mut taken), "Resultaträkning");
        assert_eq!(sheet_name("Resultaträkning", &mut taken), "Resultaträkning (2)");
        let long = sheet_name("Driftredovisning per kategori och insats: budget/utfall", &mut taken);
        assert!(long.chars().count() <= 31 && !long.contains('/') && !long.contains(':'), "{long}");
    }
}
