//! Plain-text tables for people: columns padded to their widest cell, numbers right-aligned.
//! The same tables become the sheets of a workbook (`--format xlsx`): a report renders them as
//! text inside `collect_sheets`, which keeps each table rendered (see `crate::xlsx`).

use std::cell::RefCell;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Clone)]
pub struct Table {
    /// The sheet's name in a workbook (else "Tabell N").
    title: Option<String>,
    headers: Vec<String>,
    aligns: Vec<Align>,
    rows: Vec<Row>,
}

#[derive(Clone)]
pub enum Row {
    Cells(Vec<String>),
    Rule,
}

thread_local! {
    /// The tables rendered while `collect_sheets` runs on this thread.
    static SHEETS: RefCell<Option<Vec<Table>>> = const { RefCell::new(None) };
}

/// Runs `report` (which renders its tables as text and emits them) and returns what it returns
/// with every table it rendered, in order; nothing is emitted meanwhile (`output::emit` holds
/// back while tables are collected).
pub fn collect_sheets<T>(report: impl FnOnce() -> T) -> (T, Vec<Table>) {
    SHEETS.with(|s| *s.borrow_mut() = Some(Vec::new()));
    let result = report();
    let sheets = SHEETS.with(|s| s.borrow_mut().take()).unwrap_or_default();
    (result, sheets)
}

/// A table the text shows in another shape (the findings of a reconciliation, a line each), given
/// to a workbook as it is; nothing when no workbook is being made.
pub fn sheet(table: &Table) {
    SHEETS.with(|s| {
        if let Some(sheets) = s.borrow_mut().as_mut() {
            sheets.push(table.clone());
        }
    });
}

/// Whether tables are being collected on this thread (then nothing is emitted).
pub fn collecting() -> bool {
    SHEETS.with(|s| s.borrow().is_some())
}

impl Table {
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            title: None,
            headers: columns.iter().map(|(h, _)| h.to_string()).collect(),
            aligns: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row. Anything unprintable in a cell (a line break, an escape sequence, a direction
    /// override) is shown escaped, so that no text can forge a row or reach the terminal raw.
    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.headers.len(), "a row has one cell per column");
        self.rows.push(Row::Cells(cells.iter().map(|c| finsam_domain::text::escaped(c)).collect()));
    }

    /// A separator line, e.g. before a total.
    pub fn rule(&mut self) {
        self.rows.push(Row::Rule);
    }

    /// Names the table: its sheet's name in a workbook.
    pub fn name_sheet(&mut self, title: &str) {
        self.title = Some(title.to_string());
    }

    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    pub fn aligns(&self) -> &[Align] {
        &self.aligns
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    pub fn render(&self) -> String {
        sheet(self);
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            if let Row::Cells(cells) = row {
                for (w, c) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(width(c));
                }
            }
        }
        let line = |cells: &[String]| -> String {
            let mut out = String::new();
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                let pad = " ".repeat(w - width(cell));
                if i > 0 {
                    out.push_str("  ");
                }
                match self.aligns[i] {
                    Align::Left => {
                        out.push_str(cell);
                        if i + 1 < cells.len() {
                            out.push_str(&pad);
                        }
                    }
                    Align::Right => {
                        out.push_str(&pad);
                        out.push_str(cell);
                    }
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let total: usize = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        let mut out = line(&self.headers);
        out.push_str(&"-".repeat(total));
        out.push('\n');
        for row in &self.rows {
            match row {
                Row::Cells(cells) => out.push_str(&line(cells)),
                Row::Rule => {
                    out.push_str(&"-".repeat(total));
                    out.push('\n');
                }
            }
        }
        out
    }
}
