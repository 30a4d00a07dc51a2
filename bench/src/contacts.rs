//! The bench's data: a deterministic contacts CSV, written to any `io::Write` so a 1 GB file
//! goes to disk row by row and a small one into memory, the same rows either way.

use std::io::{self, Write};

pub const HEADER: &str =
    "Email Address,First Name,Last Name,Company,Job Title,Phone,City,State,Country,Zip,Status,Notes\n";
const CITIES: [&str; 5] = ["Berlin", "São Paulo", "New York", "Lyon", "Köln"];
const COUNTRIES: [&str; 5] = ["DE", "Brazil", "US", "France", "Germany"];
const STATUSES: [&str; 4] = ["subscribed", "Unsubscribed", "pending", "bounced"];

/// Writes the header and `rows` rows with the usual mix of quoting: commas, quotes and line
/// breaks inside quoted fields, empty fields, non-ASCII text, 12 columns; from revision 1 on,
/// every other row (the even ones) has a new job title: a file that updates half the records the
/// first one wrote. Returns the bytes written.
pub fn write_revision(out: &mut impl Write, rows: u64, revision: u32) -> io::Result<u64> {
    out.write_all(HEADER.as_bytes())?;
    let mut bytes = HEADER.len() as u64;
    let mut line = String::with_capacity(256);
    for i in 0..rows as usize {
        line.clear();
        row(i, revision, &mut line);
        out.write_all(line.as_bytes())?;
        bytes += line.len() as u64;
    }
    Ok(bytes)
}

/// `rows` rows sorted by e-mail, as most exports are (numbers zero-padded so that the order of
/// the text is that of the rows).
pub fn write_sorted(out: &mut impl Write, rows: u64) -> io::Result<()> {
    out.write_all(HEADER.as_bytes())?;
    for i in 0..rows as usize {
        let cells = cells(i, 0, format!("person{i:09}@example.com"));
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

fn row(i: usize, revision: u32, out: &mut String) {
    let cells = cells(i, revision, format!("person{i}@example.com"));
    out.push_str(&cells.join(","));
    out.push('\n');
}

/// A row's twelve cells in `HEADER`'s order, with this e-mail.
fn cells(i: usize, revision: u32, email: String) -> [String; 12] {
    let company = if i.is_multiple_of(3) { format!("\"Acme {}, Inc.\"", i % 97) } else { format!("Globex {}", i % 89) };
    let notes = match i % 5 {
        0 => "\"said \"\"call me\"\"\nnext week\"".to_string(),
        1 => String::new(),
        _ => format!("note {i}"),
    };
    let title = if revision > 0 && i.is_multiple_of(2) { "Senior Engineer" } else { "Engineer" };
    [
        email,
        format!("First{i}"),
        format!("Last{}", i % 1013),
        company,
        title.to_string(),
        format!("+49 30 {:07}", i % 9_999_999),
        CITIES[i % 5].to_string(),
        String::new(),
        COUNTRIES[i % 5].to_string(),
        format!("{:05}", i % 99_999),
        STATUSES[i % 4].to_string(),
        notes,
    ]
}

/// The header of the single-core measures' file: the identifier in the eleventh of twelve
/// columns, where it costs a reader most to reach.
pub const HARD_HEADER: &str =
    "First Name,Last Name,Company,Job Title,Phone,City,State,Country,Zip,Status,Email Address,Notes\n";

/// A file of about `bytes` as hard as real ones, in memory, and its rows: the identifier late
/// (`HARD_HEADER`), one row in a hundred with a bad e-mail and two in a hundred repeating the
/// e-mail of the row before (a duplicate the import skips).
pub fn hard(bytes: usize) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(bytes + 1024);
    let rows = write_hard(&mut out, bytes as u64).expect("a Vec takes every write");
    (out, rows)
}

/// [`hard`]'s rows, written to `out` until about `bytes`; the rows written.
pub fn write_hard(out: &mut impl Write, bytes: u64) -> io::Result<u64> {
    out.write_all(HARD_HEADER.as_bytes())?;
    let (mut rows, mut written) = (0, HARD_HEADER.len() as u64);
    while written < bytes {
        let email = match rows % 100 {
            50 => format!("person{rows}(at)example.com"),
            25 | 75 => format!("person{}@example.com", rows - 1),
            _ => format!("person{rows}@example.com"),
        };
        let mut cells = cells(rows, 0, email);
        cells[..11].rotate_left(1);
        let line = cells.join(",") + "\n";
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
        rows += 1;
    }
    Ok(rows as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_updates_every_other_row() {
        let (mut data, mut revised) = (Vec::new(), Vec::new());
        let bytes = write_revision(&mut data, 40, 0).unwrap();
        assert_eq!(bytes, data.len() as u64);
        assert!(data.starts_with(HEADER.as_bytes()));
        write_revision(&mut revised, 40, 1).unwrap();
        let lines = |d: &[u8]| String::from_utf8(d.to_vec()).unwrap();
        let (before, after) = (lines(&data), lines(&revised));
        let rows = |d: &[u8]| csv::Reader::from_reader(d).records().map(|r| r.unwrap().len()).collect::<Vec<_>>();
        assert_eq!((rows(&data), rows(&revised)), (vec![12; 40], vec![12; 40]));
        assert!(after.contains("person0@example.com,First0,Last0,\"Acme 0, Inc.\",Senior Engineer"), "{after:.300}");
        assert!(after.contains(",Globex 1,Engineer,") && before.contains(",Globex 1,Engineer,"));
    }

    #[test]
    fn the_hard_file_has_its_identifier_late_and_its_bad_and_repeated_rows() {
        let (data, rows) = hard(40_000);
        let text = String::from_utf8(data).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().unwrap().iter().position(|h| h == "Email Address"), Some(10));
        let emails: Vec<String> = reader.records().map(|r| r.unwrap()[10].to_string()).collect();
        assert_eq!(emails.len() as u64, rows);
        assert!(rows >= 200, "{rows}");
        assert_eq!(emails[50], "person50(at)example.com");
        assert_eq!((emails[25].as_str(), emails[24].as_str()), ("person24@example.com", "person24@example.com"));
        assert_eq!(&emails[10], "person10@example.com");
        let first = text.lines().nth(1).unwrap();
        assert!(first.starts_with("First0,Last0,\"Acme 0, Inc.\",Engineer,"), "{first}");
    }
}
