//! Workbooks staged as a UTF-8 CSV: xlsx streamed a cell at a time (two passes: the used columns
//! and last row, then the rows), xls, xlsb and ods read a sheet at a time (xls holds at most
//! 65,536 rows). Cells are written as a user reads them in the sheet: dates and times as ISO 8601,
//! whole numbers without `.0`, booleans `true`/`false`, formulas as their cached values and errors
//! as Excel shows them (`#DIV/0!`), as Excel's own CSV export writes them. Empty rows are left out,
//! as blank CSV lines are, and so are the empty columns before and after the used ones.

use std::io::{Read, Seek, Write};

use calamine::{open_workbook_from_rs, Data, DataRef, Ods, Reader, Xls, Xlsb, Xlsx};

use crate::bad_file::BadFile;
use crate::chunking::ScanError;
use crate::import::SheetRef;

use super::passes::write_error;
use super::source::BUF;

/// The names of a workbook's sheets listed on the import.
const LISTED_SHEETS: usize = 100;

/// What staging a workbook found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    pub name: String,
    /// The workbook's sheets, the first 100.
    pub names: Vec<String>,
    pub rows: u64,
}

/// Writes the sheet `wanted` (else the first) of the workbook of `kind` (`xlsx`, `xls`, `xlsb`,
/// `ods`) as CSV to `out`.
pub fn workbook_to_csv<RS: Read + Seek>(
    source: RS,
    kind: &str,
    wanted: Option<&SheetRef>,
    out: impl Write,
) -> Result<Sheet, ScanError> {
    let mut csv = csv::WriterBuilder::new().buffer_capacity(BUF).flexible(true).from_writer(out);
    let sheet = match kind {
        "xlsx" => {
            let mut book: Xlsx<RS> = open_workbook_from_rs(source).map_err(unreadable)?;
            let (name, names) = pick(book.sheet_names(), wanted)?;
            let used = used_area(&mut book, &name)?;
            let rows = write_xlsx(&mut book, &name, used, &mut csv)?;
            Sheet { name, names, rows }
        }
        "xls" => read_whole(open_workbook_from_rs::<Xls<RS>, RS>(source).map_err(unreadable)?, wanted, &mut csv)?,
        "xlsb" => read_whole(open_workbook_from_rs::<Xlsb<RS>, RS>(source).map_err(unreadable)?, wanted, &mut csv)?,
        _ => read_whole(open_workbook_from_rs::<Ods<RS>, RS>(source).map_err(unreadable)?, wanted, &mut csv)?,
    };
    csv.flush().map_err(ScanError::Read)?;
    Ok(sheet)
}

fn unreadable(e: impl std::fmt::Display) -> ScanError {
    BadFile::Compressed(format!("the workbook cannot be read: {e}")).into()
}

fn pick(names: Vec<String>, wanted: Option<&SheetRef>) -> Result<(String, Vec<String>), ScanError> {
    let found = match wanted {
        None => names.first().cloned(),
        Some(SheetRef::Index(i)) => names.get(*i as usize).cloned(),
        Some(SheetRef::Name(name)) => names.iter().find(|n| *n == name).cloned(),
    };
    let listed: Vec<String> = names.iter().take(LISTED_SHEETS).cloned().collect();
    match found {
        Some(name) => Ok((name, listed)),
        None if names.is_empty() => Err(BadFile::Compressed("the workbook has no sheet".into()).into()),
        None => Err(BadFile::Compressed(format!(
            "xlsx.sheet: the workbook has no sheet {}; its sheets are {}",
            match wanted {
                Some(SheetRef::Index(i)) => format!("at index {i} (from 0)"),
                Some(SheetRef::Name(n)) => format!("named `{n}`"),
                None => String::new(),
            },
            listed.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ))
        .into()),
    }
}

/// The columns and rows that hold a value: `(first column, last column, last row)`.
type Used = Option<(u32, u32, u32)>;

fn used_area<RS: Read + Seek>(book: &mut Xlsx<RS>, name: &str) -> Result<Used, ScanError> {
    let mut cells = book.worksheet_cells_reader(name).map_err(unreadable)?;
    let mut used: Used = None;
    let mut text = String::new();
    while let Some(cell) = cells.next_cell().map_err(unreadable)? {
        text.clear();
        cell_text(cell.get_value(), &mut text);
        if text.is_empty() {
            continue;
        }
        let (row, col) = cell.get_position();
        used = Some(match used {
            None => (col, col, row),
            Some((first, last, _)) => (first.min(col), last.max(col), row),
        });
    }
    Ok(used)
}

fn write_xlsx<RS: Read + Seek, W: Write>(
    book: &mut Xlsx<RS>,
    name: &str,
    used: Used,
    csv: &mut csv::Writer<W>,
) -> Result<u64, ScanError> {
    let Some((first, last, last_row)) = used else { return Ok(0) };
    let mut cells = book.worksheet_cells_reader(name).map_err(unreadable)?;
    let mut row = vec![String::new(); (last - first + 1) as usize];
    let mut current: Option<u32> = None;
    let mut written = 0;
    while let Some(cell) = cells.next_cell().map_err(unreadable)? {
        let (at, col) = cell.get_position();
        if at > last_row {
            break;
        }
        if current != Some(at) {
            written += flush(&mut row, csv)?;
            current = Some(at);
        }
        if (first..=last).contains(&col) {
            cell_text(cell.get_value(), &mut row[(col - first) as usize]);
        }
    }
    Ok(written + flush(&mut row, csv)?)
}

/// Writes the row unless it is empty, and clears it.
fn flush<W: Write>(row: &mut [String], csv: &mut csv::Writer<W>) -> Result<u64, ScanError> {
    if row.iter().all(String::is_empty) {
        return Ok(0);
    }
    csv.write_record(row.iter()).map_err(write_error)?;
    row.iter_mut().for_each(String::clear);
    Ok(1)
}

fn read_whole<RS: Read + Seek, R: Reader<RS>, W: Write>(
    mut book: R,
    wanted: Option<&SheetRef>,
    csv: &mut csv::Writer<W>,
) -> Result<Sheet, ScanError>
where
    R::Error: std::fmt::Display,
{
    let (name, names) = pick(book.sheet_names(), wanted)?;
    let range = book.worksheet_range(&name).map_err(unreadable)?;
    // Two passes over the sheet the reader holds, as over an xlsx's cells: the used columns, then
    // the rows.
    let mut used: Option<(usize, usize)> = None;
    let mut text = String::new();
    for (col, cell) in range.rows().flat_map(|row| row.iter().enumerate()) {
        text.clear();
        cell_text(&data_ref(cell), &mut text);
        if !text.is_empty() {
            used = Some(used.map_or((col, col), |(first, last)| (first.min(col), last.max(col))));
        }
    }
    let Some((first, last)) = used else { return Ok(Sheet { name, names, rows: 0 }) };
    let mut line = vec![String::new(); last - first + 1];
    let mut rows = 0;
    for row in range.rows() {
        for (slot, cell) in line.iter_mut().zip(row.iter().skip(first)) {
            cell_text(&data_ref(cell), slot);
        }
        rows += flush(&mut line, csv)?;
    }
    Ok(Sheet { name, names, rows })
}

fn data_ref(cell: &Data) -> DataRef<'_> {
    match cell {
        Data::Int(i) => DataRef::Int(*i),
        Data::Float(f) => DataRef::Float(*f),
        Data::String(s) => DataRef::SharedString(s),
        Data::Bool(b) => DataRef::Bool(*b),
        Data::DateTime(d) => DataRef::DateTime(*d),
        Data::DateTimeIso(s) => DataRef::DateTimeIso(s.clone()),
        Data::DurationIso(s) => DataRef::DurationIso(s.clone()),
        Data::Error(e) => DataRef::Error(e.clone()),
        Data::Empty => DataRef::Empty,
    }
}

/// A cell as text, appended to `out`.
fn cell_text(value: &DataRef, out: &mut String) {
    use std::fmt::Write as _;
    match value {
        DataRef::Empty => {}
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => out.push_str(s),
        DataRef::SharedString(s) => out.push_str(s),
        DataRef::Int(i) => out.push_str(itoa::Buffer::new().format(*i)),
        DataRef::Float(f) => number(*f, out),
        DataRef::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        DataRef::Error(e) => {
            let _ = write!(out, "{e}");
        }
        DataRef::DateTime(dt) => match dt.as_datetime() {
            Some(at) if dt.is_datetime() => {
                let serial = dt.as_f64();
                let format = if serial.fract() == 0.0 {
                    "%Y-%m-%d"
                } else if serial < 1.0 {
                    "%H:%M:%S"
                } else {
                    "%Y-%m-%dT%H:%M:%S"
                };
                let _ = write!(out, "{}", at.format(format));
            }
            _ => number(dt.as_f64(), out),
        },
    }
}

/// Whole numbers without a fraction; others in the shortest form that reads back the same.
fn number(f: f64, out: &mut String) {
    use std::fmt::Write as _;
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        out.push_str(itoa::Buffer::new().format(f as i64));
    } else {
        let _ = write!(out, "{f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_as_a_user_sees_them() {
        let text = |value: DataRef| {
            let mut out = String::new();
            cell_text(&value, &mut out);
            out
        };
        assert_eq!(text(DataRef::Float(42.0)), "42");
        assert_eq!(text(DataRef::Float(-3.0)), "-3");
        assert_eq!(text(DataRef::Float(0.1)), "0.1");
        assert_eq!(text(DataRef::Float(1234.5)), "1234.5");
        assert_eq!(text(DataRef::Int(7)), "7");
        assert_eq!(text(DataRef::Bool(true)), "true");
        assert_eq!(text(DataRef::Bool(false)), "false");
        assert_eq!(text(DataRef::SharedString("Ada")), "Ada");
        assert_eq!(text(DataRef::Error(calamine::CellErrorType::Div0)), "#DIV/0!");
        let date = |serial| {
            DataRef::DateTime(calamine::ExcelDateTime::new(serial, calamine::ExcelDateTimeType::DateTime, false))
        };
        assert_eq!(text(date(45352.0)), "2024-03-01");
        assert_eq!(text(date(45352.5)), "2024-03-01T12:00:00");
        assert_eq!(text(date(0.75)), "18:00:00");
    }

    #[test]
    fn a_sheet_read_whole_stages_as_the_same_sheet_streamed() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        let blank = rust_xlsxwriter::Format::new().set_bold();
        sheet.write_blank(0, 0, &blank).unwrap();
        for (col, name) in ["email", "seats", "active"].iter().enumerate() {
            sheet.write(1, col as u16 + 1, *name).unwrap();
        }
        sheet.write(2, 1, "a@example.com").unwrap();
        sheet.write(2, 2, 3.0).unwrap();
        sheet.write(2, 3, true).unwrap();
        // Row 4 is empty; row 5 has a value past the header; a styled blank comes after.
        sheet.write(4, 1, "b@example.com").unwrap();
        sheet.write(4, 4, 0.5).unwrap();
        sheet.write_blank(7, 6, &blank).unwrap();
        let bytes = book.save_to_buffer().unwrap();

        let mut streamed = Vec::new();
        let sheet = workbook_to_csv(std::io::Cursor::new(&bytes), "xlsx", None, &mut streamed).unwrap();
        let whole_book: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(&bytes)).unwrap();
        let mut whole = Vec::new();
        let mut csv = csv::WriterBuilder::new().flexible(true).from_writer(&mut whole);
        let read = read_whole(whole_book, None, &mut csv).unwrap();
        drop(csv);
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            "email,seats,active,\na@example.com,3,true,\nb@example.com,,,0.5\n"
        );
        assert_eq!(
            String::from_utf8(whole).unwrap(),
            "email,seats,active,\na@example.com,3,true,\nb@example.com,,,0.5\n"
        );
        assert_eq!((sheet.rows, read.rows), (3, 3));
    }

    #[test]
    fn a_sheet_is_picked_by_name_or_index_and_a_missing_one_lists_the_sheets() {
        let names = vec!["Contacts".to_string(), "Notes".to_string()];
        assert_eq!(pick(names.clone(), None).unwrap().0, "Contacts");
        assert_eq!(pick(names.clone(), Some(&SheetRef::Index(1))).unwrap().0, "Notes");
        assert_eq!(pick(names.clone(), Some(&SheetRef::Name("Notes".into()))).unwrap().0, "Notes");
        let err = pick(names, Some(&SheetRef::Name("People".into()))).unwrap_err().to_string();
        assert!(err.contains("no sheet named `People`") && err.contains("`Contacts`, `Notes`"), "{err}");
    }
}
