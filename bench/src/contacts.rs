//! The bench's data: a deterministic contacts CSV, written to any `io::Write` so a 1 GB file
//! goes to disk row by row and a small one into memory, the same rows either way.

use std::io::{self, Write};

pub const HEADER: &str =
    "Email Address,First Name,Last Name,Company,Job Title,Phone,City,State,Country,Zip,Status,Notes\n";
const CITIES: [&str; 5] = ["Berlin", "São Paulo", "New York", "Lyon", "Köln"];
const COUNTRIES: [&str; 5] = ["DE", "Brazil", "US", "France", "Germany"];
const STATUSES: [&str; 4] = ["subscribed", "Unsubscribed", "pending", "bounced"];

/// Where the file ends: after the row that reaches a size, or after a number of rows.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    Bytes(u64),
    Rows(u64),
}

/// Writes the header and rows with the usual mix of quoting: commas, quotes and line breaks
/// inside quoted fields, empty fields, non-ASCII text, 12 columns. Returns rows and bytes.
pub fn write(out: &mut impl Write, until: Until) -> io::Result<(u64, u64)> {
    write_revision(out, until, 0)
}

/// The same rows, except that from revision 1 on every other row (the even ones) has a new job
/// title: a file that updates half the records the first one wrote.
pub fn write_revision(out: &mut impl Write, until: Until, revision: u32) -> io::Result<(u64, u64)> {
    out.write_all(HEADER.as_bytes())?;
    let (mut rows, mut bytes) = (0u64, HEADER.len() as u64);
    let mut line = String::with_capacity(256);
    while match until {
        Until::Bytes(b) => bytes < b,
        Until::Rows(r) => rows < r,
    } {
        line.clear();
        row(rows as usize, revision, &mut line);
        out.write_all(line.as_bytes())?;
        bytes += line.len() as u64;
        rows += 1;
    }
    Ok((rows, bytes))
}

/// A file of about `bytes`, in memory, and its rows.
pub fn contacts(bytes: usize) -> (Vec<u8>, u64) {
    let mut out = Vec::with_capacity(bytes + 1024);
    let (rows, _) = write(&mut out, Until::Bytes(bytes as u64)).expect("writing to memory");
    (out, rows)
}

fn row(i: usize, revision: u32, out: &mut String) {
    use std::fmt::Write as _;
    let title = if revision > 0 && i.is_multiple_of(2) { "Senior Engineer" } else { "Engineer" };
    let company = if i.is_multiple_of(3) { format!("\"Acme {}, Inc.\"", i % 97) } else { format!("Globex {}", i % 89) };
    let notes = match i % 5 {
        0 => "\"said \"\"call me\"\"\nnext week\"".to_string(),
        1 => String::new(),
        _ => format!("note {i}"),
    };
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "person{i}@example.com,First{i},Last{},{company},{title},+49 30 {:07},{},,{},{:05},{},{notes}",
        i % 1013,
        i % 9_999_999,
        CITIES[i % 5],
        COUNTRIES[i % 5],
        i % 99_999,
        STATUSES[i % 4],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_rows_by_size_or_by_count() {
        let (data, rows) = contacts(10_000);
        assert!(data.len() >= 10_000 && rows > 0);
        let mut again = Vec::new();
        assert_eq!(write(&mut again, Until::Rows(rows)).unwrap(), (rows, data.len() as u64));
        assert_eq!(again, data);
        assert!(data.starts_with(HEADER.as_bytes()));
        let mut revised = Vec::new();
        write_revision(&mut revised, Until::Rows(rows), 1).unwrap();
        let lines = |d: &[u8]| String::from_utf8(d.to_vec()).unwrap();
        let (before, after) = (lines(&data), lines(&revised));
        assert!(after.contains("person0@example.com,First0,Last0,\"Acme 0, Inc.\",Senior Engineer"), "{after:.300}");
        assert!(after.contains(",Globex 1,Engineer,") && before.contains(",Globex 1,Engineer,"));
    }
}
