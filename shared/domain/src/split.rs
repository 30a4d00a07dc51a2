//! Cutting a CSV stream into records, for the one pass prevalidation makes over a whole file.
//! It finds where each record ends without parsing its fields: only a quote that opens a field
//! changes what a line break means, so it jumps from one quote or line break to the next
//! (memchr) instead of walking the bytes; the delimiters between are counted to find where the
//! identifier's field starts. The records are the ones the `csv` crate reads (the transform's
//! reader), by the same rules as `csv_core`: `\r`, `\n` and `\r\n` end a record, blank lines
//! are skipped, a quote opens a field only where the field starts (`5'11"` is a literal), `""`
//! in a quoted field is a quote, and `"a"b` is the field `ab`. A test holds the two readers to
//! the same records on every short string of the bytes that matter.

use std::io::Read;
use std::ops::Range;

/// How much is read at a time.
const READ_BYTES: usize = 256 * 1024;

/// A record this long is far past a record's 400 KB, and one still open here is most likely an
/// unclosed quote: stop before buffering the rest of the file as one record.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("reading failed: {0}")]
    Read(#[from] std::io::Error),
    #[error("a quoted field is never closed")]
    UnterminatedQuote,
    #[error("a record runs past {MAX_RECORD_BYTES} bytes")]
    TooLong,
}

/// The records of a stream, one at a time, in a buffer that holds a few reads, however large
/// the file. With `utf8`, it also checks the text as it is read: in valid UTF-8 no ASCII byte is
/// part of another character, so every field cut from valid text is valid too.
pub struct Records<R> {
    inner: R,
    delimiter: u8,
    utf8: bool,
    read_bytes: usize,
    buf: Vec<u8>,
    /// `buf[pos..filled]` is not cut yet; `buf[start..end]` is the current record.
    pos: usize,
    filled: usize,
    start: usize,
    end: usize,
    /// The file offset of `buf[0]`.
    base: u64,
    /// `buf[..checked]` is known to be text.
    checked: usize,
    eof: bool,
    bad_text_at: Option<u64>,
    /// The field whose start each cut finds, and where it is in the current record.
    column: Option<usize>,
    column_start: Option<usize>,
}

/// Where a record starting at some offset of a buffer ends.
enum Cut {
    /// The record is `[start, end)`; the next one is looked for from `next`. Its field `column`
    /// starts at `column`, when it has one.
    Record { end: usize, next: usize, column: Option<usize> },
    /// It goes on past the buffer.
    More,
    /// The file ends inside a quoted field.
    Unterminated,
}

impl<R: Read> Records<R> {
    pub fn new(inner: R, delimiter: u8, utf8: bool) -> Self {
        Self::reading(inner, delimiter, utf8, READ_BYTES)
    }

    /// Records of a file read from byte `offset` on, which starts a record: offsets are the file's.
    pub fn starting_at(inner: R, offset: u64, delimiter: u8, utf8: bool) -> Self {
        Self { base: offset, ..Self::new(inner, delimiter, utf8) }
    }

    fn reading(inner: R, delimiter: u8, utf8: bool, read_bytes: usize) -> Self {
        Self {
            inner,
            delimiter,
            utf8,
            read_bytes,
            buf: Vec::new(),
            pos: 0,
            filled: 0,
            start: 0,
            end: 0,
            base: 0,
            checked: 0,
            eof: false,
            bad_text_at: None,
            column: None,
            column_start: None,
        }
    }

    /// From the next record on, finds where field `column` starts as the record is cut: the
    /// delimiters are counted on the bytes the cut passes over anyway (see `column_start`).
    pub fn find_column(&mut self, column: Option<usize>) {
        self.column = column;
        // The current record's, which was cut before.
        self.column_start = column.and_then(|column| field_start(self.record(), self.delimiter, column));
    }

    /// Where the field `find_column` asked for starts in `record()`; None when the record has
    /// fewer fields. Its value is `field_at(record, start, ..)`.
    pub fn column_start(&self) -> Option<usize> {
        self.column_start
    }

    /// Moves to the next record; false after the last one.
    pub fn advance(&mut self) -> Result<bool, SplitError> {
        loop {
            // A UTF-8 byte order mark opens the file, not its first field (as csv_core has it).
            if self.base == 0 && self.pos == 0 && !self.eof && self.filled < 3 {
                self.fill()?;
                continue;
            }
            if self.base == 0 && self.pos == 0 && self.buf[..self.filled].starts_with(b"\xEF\xBB\xBF") {
                self.pos = 3;
            }
            // Blank lines are no records.
            while self.pos < self.filled && matches!(self.buf[self.pos], b'\n' | b'\r') {
                self.pos += 1;
            }
            if self.pos == self.filled {
                if self.eof {
                    return Ok(false);
                }
                self.fill()?;
                continue;
            }
            match cut(&self.buf[..self.filled], self.pos, self.delimiter, self.eof, self.column) {
                Cut::Record { end, next, column } => {
                    self.column_start = column.map(|at| at - self.pos);
                    (self.start, self.end, self.pos) = (self.pos, end, next);
                    return Ok(true);
                }
                Cut::Unterminated => return Err(SplitError::UnterminatedQuote),
                Cut::More if self.filled - self.pos > MAX_RECORD_BYTES => {
                    let quoted = matches!(
                        cut(&self.buf[..self.filled], self.pos, self.delimiter, true, None),
                        Cut::Unterminated
                    );
                    return Err(if quoted { SplitError::UnterminatedQuote } else { SplitError::TooLong });
                }
                Cut::More => self.fill()?,
            }
        }
    }

    /// The current record's bytes, without its line break.
    pub fn record(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The current record's offset in the file.
    pub fn start(&self) -> u64 {
        self.base + self.start as u64
    }

    /// The offset just past the current record.
    pub fn end(&self) -> u64 {
        self.base + self.end as u64
    }

    /// The offset of the first byte read that is not UTF-8 (or of a character the file ends in).
    pub fn bad_text_at(&self) -> Option<u64> {
        self.bad_text_at
    }

    /// Keeps what is not cut yet, at the front, and reads more after it.
    fn fill(&mut self) -> Result<(), SplitError> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.filled, 0);
            self.base += self.pos as u64;
            self.checked -= self.pos.min(self.checked);
            (self.filled, self.start, self.end, self.pos) = (self.filled - self.pos, 0, 0, 0);
        }
        let want = self.filled + self.read_bytes;
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let n = loop {
            match self.inner.read(&mut self.buf[self.filled..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        self.filled += n;
        self.eof = n == 0;
        self.check_text();
        Ok(())
    }

    fn check_text(&mut self) {
        if !self.utf8 || self.bad_text_at.is_some() {
            return;
        }
        // SIMD: checking every byte of the file must cost little next to cutting it.
        match simdutf8::compat::from_utf8(&self.buf[self.checked..self.filled]) {
            Ok(_) => self.checked = self.filled,
            Err(e) => {
                let at = self.checked + e.valid_up_to();
                // A character cut by the read is finished by the next one, unless the file ends.
                if e.error_len().is_some() || self.eof {
                    self.bad_text_at = Some(self.base + at as u64);
                }
                self.checked = at;
            }
        }
    }
}

/// Where the record starting at `buf[start]` (not a line break) ends, and where its field
/// `column` starts. The text between quotes and line breaks is unquoted: there each delimiter
/// ends a field, so counting them (many bytes at a time) finds the column without a second
/// pass over the fields before it.
fn cut(buf: &[u8], start: usize, delimiter: u8, eof: bool, column: Option<usize>) -> Cut {
    // Delimiters still to pass before the column starts; None once found (or not asked for).
    let mut left = column.filter(|n| *n > 0);
    let mut found = (column == Some(0)).then_some(start);
    let mut i = start;
    loop {
        let next = memchr::memchr3(b'"', b'\n', b'\r', &buf[i..]);
        let at = next.map_or(buf.len(), |found| i + found);
        if let Some(n) = left {
            let text = &buf[i..at];
            let count = count_bytes(text, delimiter);
            if count >= n {
                found = Some(i + nth_byte(text, delimiter, n, count) + 1);
                left = None;
            } else {
                left = Some(n - count);
            }
        }
        if next.is_none() {
            return if eof { Cut::Record { end: buf.len(), next: buf.len(), column: found } } else { Cut::More };
        }
        if buf[at] != b'"' {
            return Cut::Record { end: at, next: at + 1, column: found };
        }
        // A quote inside a field is a literal. (The byte before is never a closing quote: a
        // quote right after one is `""`, taken below.)
        if at > start && buf[at - 1] != delimiter {
            i = at + 1;
            continue;
        }
        // A quoted field: line breaks and delimiters inside it are text, `""` is a quote.
        let mut j = at + 1;
        i = loop {
            let Some(found) = memchr::memchr(b'"', &buf[j..]) else {
                return if eof { Cut::Unterminated } else { Cut::More };
            };
            let close = j + found;
            match buf.get(close + 1) {
                Some(b'"') => j = close + 2,
                None if !eof => return Cut::More,
                _ => break close + 1,
            }
        };
    }
}

/// How many times `byte` is in `text`: in runs of at most 255 counted in a `u8`, which the
/// compiler turns into SIMD compares.
fn count_bytes(text: &[u8], byte: u8) -> usize {
    text.chunks(255).map(|run| usize::from(run.iter().fold(0u8, |n, &b| n + u8::from(b == byte)))).sum()
}

/// Where the `n`th (from 1) of the `count` copies of `byte` in `text` is, looked for from the
/// nearer end: an identifier is often one of the last columns.
fn nth_byte(text: &[u8], byte: u8, n: usize, count: usize) -> usize {
    let at = if n * 2 <= count + 1 {
        memchr::memchr_iter(byte, text).nth(n - 1)
    } else {
        memchr::memrchr_iter(byte, text).nth(count - n)
    };
    at.expect("`text` holds `count` copies")
}

/// Where a field's value is: in the record, or unescaped into the scratch buffer.
enum Value {
    In(Range<usize>),
    Scratch,
}

/// The field of `record` that starts at `i`, unquoted and unescaped as the `csv` crate reads
/// it, and where the next field starts (None after the last).
fn next_field(record: &[u8], i: usize, delimiter: u8, scratch: &mut Vec<u8>) -> (Value, Option<usize>) {
    let rest = &record[i..];
    let next = |used: usize| (i + used < record.len()).then_some(i + used + 1);
    if rest.first() != Some(&b'"') {
        let end = memchr::memchr(delimiter, rest).unwrap_or(rest.len());
        return (Value::In(i..i + end), next(end));
    }
    scratch.clear();
    let mut j = 1;
    loop {
        let Some(found) = memchr::memchr(b'"', &rest[j..]) else {
            scratch.extend_from_slice(&rest[j..]);
            return (Value::Scratch, None);
        };
        let close = j + found;
        scratch.extend_from_slice(&rest[j..close]);
        if rest.get(close + 1) == Some(&b'"') {
            scratch.push(b'"');
            j = close + 2;
            continue;
        }
        // After the closing quote the field goes on, unquoted, to the delimiter.
        let after = &rest[close + 1..];
        let end = memchr::memchr(delimiter, after).unwrap_or(after.len());
        scratch.extend_from_slice(&after[..end]);
        return (Value::Scratch, next(close + 1 + end));
    }
}

/// The value of the field of `record` that starts at `at` (as `Records::column_start` says).
pub fn field_at<'a>(record: &'a [u8], at: usize, delimiter: u8, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    match next_field(record, at, delimiter, scratch).0 {
        Value::In(range) => &record[range],
        Value::Scratch => scratch,
    }
}

/// One field of a record (as `Records::record` gives it); None when the record has fewer.
pub fn field<'a>(record: &'a [u8], delimiter: u8, column: usize, scratch: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    let at = field_start(record, delimiter, column)?;
    Some(field_at(record, at, delimiter, scratch))
}

/// Where field `column` of `record` starts; None when the record has fewer.
fn field_start(record: &[u8], delimiter: u8, column: usize) -> Option<usize> {
    let mut i = 0;
    for _ in 0..column {
        i = skip_field(record, i, delimiter)?;
    }
    Some(i)
}

/// Where the field after the one that starts at `i` starts (None after the last), as
/// `next_field` says, without unescaping the field: the identifier is often far from the first
/// column, and the fields before it are only passed over.
fn skip_field(record: &[u8], i: usize, delimiter: u8) -> Option<usize> {
    let rest = &record[i..];
    let mut j = 0;
    if rest.first() == Some(&b'"') {
        j = 1;
        loop {
            let close = j + memchr::memchr(b'"', &rest[j..])?;
            j = close + 1;
            // A doubled quote is an escaped one: the field goes on.
            if rest.get(j) != Some(&b'"') {
                break;
            }
            j += 1;
        }
    }
    let end = j + memchr::memchr(delimiter, &rest[j..])?;
    Some(i + end + 1)
}

/// A whole record as the `csv` crate's `ByteRecord`.
pub fn byte_record(record: &[u8], delimiter: u8, scratch: &mut Vec<u8>, out: &mut csv::ByteRecord) {
    out.clear();
    let mut i = Some(0);
    while let Some(at) = i {
        let (value, next) = next_field(record, at, delimiter, scratch);
        match value {
            Value::In(range) => out.push_field(&record[range]),
            Value::Scratch => out.push_field(scratch),
        }
        i = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::{Dialect, Encoding};

    /// Every record, as fields, with its offset; or where cutting stopped.
    type Cut = (Vec<(u64, Vec<Vec<u8>>)>, Option<String>);

    fn split_all(bytes: &[u8], delimiter: u8, read_bytes: usize) -> Cut {
        let mut records = Records::reading(bytes, delimiter, true, read_bytes);
        let (mut out, mut scratch, mut raw) = (Vec::new(), Vec::new(), csv::ByteRecord::new());
        loop {
            match records.advance() {
                Ok(true) => {
                    byte_record(records.record(), delimiter, &mut scratch, &mut raw);
                    for (column, value) in raw.iter().enumerate() {
                        assert_eq!(field(records.record(), delimiter, column, &mut scratch), Some(value));
                    }
                    assert_eq!(field(records.record(), delimiter, raw.len(), &mut scratch), None);
                    out.push((records.start(), raw.iter().map(<[u8]>::to_vec).collect()));
                }
                Ok(false) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    /// What the transform's reader makes of the same bytes.
    fn csv_records(bytes: &[u8], delimiter: u8) -> Vec<Vec<Vec<u8>>> {
        let mut reader = Dialect::for_reading(Encoding::Utf8, char::from(delimiter)).reader(bytes, false);
        reader
            .byte_records()
            .map(|r| r.expect("the csv crate reads any bytes").iter().map(<[u8]>::to_vec).collect())
            .collect()
    }

    fn agree(bytes: &[u8], delimiter: u8, read_bytes: usize) {
        let what = || format!("{:?} in reads of {read_bytes}", String::from_utf8_lossy(bytes));
        let (records, stopped) = split_all(bytes, delimiter, read_bytes);
        let expected = csv_records(bytes, delimiter);
        let fields: Vec<_> = records.iter().map(|(_, fields)| fields.clone()).collect();
        match stopped {
            None => assert_eq!(fields, expected, "{}", what()),
            // The csv crate reads an unclosed quote to the end as one more record.
            Some(e) => {
                assert_eq!(e, SplitError::UnterminatedQuote.to_string(), "{}", what());
                assert_eq!(fields, expected[..expected.len() - 1], "{}", what());
            }
        }
        // A transform reads from a record's offset on: it must find the same records there.
        for (i, (start, _)) in records.iter().enumerate() {
            let rest = csv_records(&bytes[*start as usize..], delimiter);
            assert_eq!(rest[..fields.len() - i], fields[i..], "{} from {start}", what());
        }
    }

    /// The field start each cut finds is the one `field` finds by passing over the fields, from
    /// the record `find_column` is called on (the first) on.
    fn columns_agree(bytes: &[u8], delimiter: u8, read_bytes: usize) {
        let what = || format!("{:?} in reads of {read_bytes}", String::from_utf8_lossy(bytes));
        let mut scratch = Vec::new();
        // Reads past the end change nothing: a small buffer keeps the many short cases quick.
        let read_bytes = read_bytes.min(bytes.len() + 1);
        // Up to one past the last field.
        for column in 0..=bytes.iter().filter(|b| **b == delimiter).count() + 1 {
            let mut records = Records::reading(bytes, delimiter, true, read_bytes);
            let mut first = true;
            while let Ok(true) = records.advance() {
                if std::mem::take(&mut first) {
                    records.find_column(Some(column));
                }
                let record = records.record();
                let expected = field(record, delimiter, column, &mut scratch).map(<[u8]>::to_vec);
                let got = records.column_start().map(|at| field_at(record, at, delimiter, &mut scratch).to_vec());
                assert_eq!(got, expected, "column {column} of {}", what());
            }
        }
    }

    /// Every string of up to 6 of the bytes that matter, the `csv` crate as the oracle.
    #[test]
    fn records_are_the_csv_crates() {
        let alphabet = [b'a', b',', b'"', b'\r', b'\n'];
        let mut strings = vec![Vec::new()];
        for _ in 0..6 {
            let longer: Vec<Vec<u8>> = strings
                .iter()
                .filter(|s| s.len() == strings.last().map_or(0, Vec::len))
                .flat_map(|s| alphabet.iter().map(move |b| [s.as_slice(), &[*b]].concat()))
                .collect();
            strings.extend(longer);
        }
        assert_eq!(strings.len(), (0..=6).map(|n| 5usize.pow(n)).sum::<usize>());
        for bytes in &strings {
            agree(bytes, b',', READ_BYTES);
            columns_agree(bytes, b',', READ_BYTES);
        }
        // Reads that end anywhere: inside quotes, between `\r` and `\n`, after a closing quote.
        for bytes in strings.iter().filter(|s| s.len() == 5) {
            agree(bytes, b',', 1);
            columns_agree(bytes, b',', 1);
        }
    }

    /// Where a read ends changes nothing: inside quotes, between `\r` and `\n`, in a character.
    #[test]
    fn quotes_are_followed_across_reads() {
        let cases: [(&[u8], u8, bool); 6] = [
            (b"email,notes\na@x.io,\"multi\nline \"\"quoted\"\"\"\nb@x.io,5'11\"\n", b',', false),
            (b"a,\"\"\"\"\n\"x\"y\"z\",\"", b',', true),
            (b"a,\"x\"\"\",y\nb,\"never closed\"\"\nc,x\n", b',', true),
            (b"a;\"x;\";\"\"\r\n\"", b';', true),
            (b"a,b\"\r\"c\",\"d\r\n\"", b',', false),
            ("K\u{f6}ln,\"\u{1F600}\u{20AC}\"\n".as_bytes(), b',', false),
        ];
        for (bytes, delimiter, open) in cases {
            for read_bytes in 1..=bytes.len() {
                agree(bytes, delimiter, read_bytes);
                columns_agree(bytes, delimiter, read_bytes);
                let stopped = split_all(bytes, delimiter, read_bytes).1;
                assert_eq!(stopped.is_some(), open, "{bytes:?} in reads of {read_bytes}");
            }
        }
    }

    #[test]
    fn other_delimiters_and_a_byte_order_mark() {
        for bytes in [&b"a;\"x;\";\"\"\r\n\"b\";c\n"[..], b"\xEF\xBB\xBFname;note\nAnn;\"1;2\"\n", b"a\tb\"\tc\n"] {
            let delimiter = if bytes.contains(&b'\t') { b'\t' } else { b';' };
            for read_bytes in [1, 2, 5, READ_BYTES] {
                agree(bytes, delimiter, read_bytes);
                columns_agree(bytes, delimiter, read_bytes);
            }
        }
        let (records, _) = split_all(b"\xEF\xBB\xBFname\nAnn\n", b',', 2);
        assert_eq!(records[0], (3, vec![b"name".to_vec()]));
    }

    #[test]
    fn text_is_checked_wherever_reads_end() {
        let cases: [(&[u8], Option<u64>); 5] = [
            (b"ok,\xe9t\xe9\n", Some(3)),
            (b"ok,\xe2\x82\n", Some(3)),
            (b"ok,\xe2\x82", Some(3)),
            ("K\u{f6}ln,\"\u{1F600}\u{20AC}\"\n".as_bytes(), None),
            ("a\n\u{1F600}".as_bytes(), None),
        ];
        for (bytes, bad_at) in cases {
            for read_bytes in 1..=bytes.len() {
                let mut records = Records::reading(bytes, b',', true, read_bytes);
                while records.advance().expect("cuts") {}
                assert_eq!(records.bad_text_at(), bad_at, "{bytes:?} in reads of {read_bytes}");
            }
        }
    }

    #[test]
    fn a_record_without_end_stops_the_cut() {
        let open = [b"a,\"".as_slice(), &vec![b'x'; MAX_RECORD_BYTES + 1]].concat();
        let mut records = Records::new(open.as_slice(), b',', true);
        assert!(matches!(records.advance(), Err(SplitError::UnterminatedQuote)));
        let long = vec![b'x'; MAX_RECORD_BYTES + READ_BYTES + 1];
        let mut records = Records::new(long.as_slice(), b',', true);
        assert!(matches!(records.advance(), Err(SplitError::TooLong)));
    }
}
