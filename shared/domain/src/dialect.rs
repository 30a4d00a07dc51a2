//! CSV dialects: which encoding, delimiter and line endings a file uses, told from its first
//! bytes. Encodings that keep ASCII as ASCII (UTF-8, Windows-1252) are parsed as bytes, so
//! chunk offsets stay offsets into the uploaded object, and each value is decoded on its own.

use std::borrow::Cow;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::bad_file::BadFile;
use crate::options::CsvOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "windows-1252")]
    Windows1252,
    #[serde(rename = "utf-16le")]
    Utf16Le,
    #[serde(rename = "utf-16be")]
    Utf16Be,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Windows1252 => "windows-1252",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            "windows-1252" | "cp1252" | "latin1" | "latin-1" | "iso-8859-1" => Some(Encoding::Windows1252),
            "utf-16le" => Some(Encoding::Utf16Le),
            "utf-16be" => Some(Encoding::Utf16Be),
            _ => None,
        }
    }

    /// UTF-16 must be re-encoded before its bytes can be cut into CSV records.
    pub fn is_ascii_compatible(self) -> bool {
        matches!(self, Encoding::Utf8 | Encoding::Windows1252)
    }
}

/// The delimiters detection chooses from, in order of preference on a tie.
pub const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// A delimiter as a client names it (`csv.delimiter`): one of [`DELIMITERS`], or `tab`.
pub fn parse_delimiter(s: &str) -> Option<u8> {
    match s {
        "tab" | "\\t" => Some(b'\t'),
        _ => DELIMITERS.into_iter().find(|d| s.as_bytes() == [*d]),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub encoding: Encoding,
    pub had_bom: bool,
    pub delimiter: u8,
    pub line_ending: &'static str,
}

impl Dialect {
    /// Tells the dialect from the first bytes of a file (a few KB are enough; 64 KB are used).
    pub fn sniff(sample: &[u8]) -> Self {
        let (encoding, had_bom) = match sample {
            [0xEF, 0xBB, 0xBF, ..] => (Encoding::Utf8, true),
            [0xFF, 0xFE, ..] => (Encoding::Utf16Le, true),
            [0xFE, 0xFF, ..] => (Encoding::Utf16Be, true),
            _ if is_utf8_prefix(sample) => (Encoding::Utf8, false),
            _ => (Encoding::Windows1252, false),
        };
        Self { encoding, had_bom, delimiter: sniff_delimiter(sample), line_ending: line_ending(sample) }
    }

    /// The sniffed dialect, with what the client declared (`csv`) winning.
    pub fn detect(sample: &[u8], declared: &CsvOptions) -> Self {
        let mut dialect = Self::sniff(sample);
        if let Some(encoding) = declared.encoding.as_deref().and_then(Encoding::parse) {
            dialect.encoding = encoding;
        }
        if let Some(delimiter) = declared.delimiter.as_deref().and_then(parse_delimiter) {
            dialect.delimiter = delimiter;
        }
        dialect
    }

    /// How a transform reads the rows of a planned source.
    pub fn for_reading(encoding: Encoding, delimiter: char) -> Self {
        Self { encoding, had_bom: false, delimiter: delimiter as u8, line_ending: "lf" }
    }

    /// The transform's reader. Prevalidation cuts the same records with `split::Records`, whose
    /// tests hold it to this reader.
    pub fn reader<R: Read>(&self, reader: R, has_headers: bool) -> csv::Reader<R> {
        csv::ReaderBuilder::new().has_headers(has_headers).flexible(true).delimiter(self.delimiter).from_reader(reader)
    }

    /// The transform's reader of the rows from a record's `offset` in the file on. The csv crate
    /// drops a UTF-8 byte order mark at the start of what it reads: past the file's start that
    /// would be a value's own U+FEFF, so it is handed a mark of its own to drop.
    pub fn reader_at<R: Read>(&self, reader: R, offset: u64) -> csv::Reader<LeadingMark<R>> {
        self.reader(LeadingMark { pending: offset > 0, inner: reader }, false)
    }

    /// A record's values as text; None when a value is not valid in the file's encoding.
    pub fn decode(&self, record: &csv::ByteRecord) -> Option<csv::StringRecord> {
        let mut out = csv::StringRecord::with_capacity(record.as_slice().len(), record.len());
        for field in record {
            out.push_field(&self.decode_value(field)?);
        }
        Some(out)
    }

    /// One value as text; None when it is not valid in the file's encoding.
    pub fn decode_value<'a>(&self, value: &'a [u8]) -> Option<Cow<'a, str>> {
        match self.encoding {
            Encoding::Windows1252 => Some(encoding_rs::WINDOWS_1252.decode_without_bom_handling(value).0),
            _ => std::str::from_utf8(value).ok().map(Cow::Borrowed),
        }
    }
}

/// Files that are not text at all fail before any parsing, with a reason the user can act on.
/// `utf16` says the text may hold NUL bytes.
pub fn reject_binary(sample: &[u8], utf16: bool) -> Result<(), BadFile> {
    let kind = match sample {
        [0x1F, 0x8B, ..] => Some("gzip-compressed, but compression is none: send compression gzip or auto"),
        [0x28, 0xB5, 0x2F, 0xFD, ..] => Some("zstd-compressed, but compression is none: send compression zstd or auto"),
        [b'P', b'K', 3, 4, ..] => Some("a ZIP archive, but compression is none: send compression zip or auto"),
        [0xD0, 0xCF, 0x11, 0xE0, ..] => Some("an Excel 97-2003 workbook: send format xlsx or auto"),
        [b'%', b'P', b'D', b'F', ..] => Some("a PDF document, not a data file"),
        _ => None,
    };
    if let Some(kind) = kind {
        return Err(BadFile::Unsupported(format!("the file is {kind}")));
    }
    // UTF-16 code units hold bytes below 0x20 in most scripts (Cyrillic `А` is 10 04): its
    // bytes say nothing; decoding it does.
    if utf16 || matches!(sample, [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..]) {
        return Ok(());
    }
    // Text has no NULs and few control characters.
    let control = |b: &u8| *b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C);
    if let Some(offset) = sample.iter().position(|b| *b == 0) {
        return Err(BadFile::Unsupported(format!("the file is binary, not text (a NUL byte at byte offset {offset})")));
    }
    let controls = sample.iter().filter(|b| control(b)).count();
    if controls * 100 > sample.len().max(1) {
        return Err(BadFile::Unsupported("the file is binary, not text (too many control bytes)".into()));
    }
    Ok(())
}

/// Valid UTF-8, allowing the sample to end inside a character.
fn is_utf8_prefix(sample: &[u8]) -> bool {
    match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && sample.len() - e.valid_up_to() < 4,
    }
}

/// The delimiter that splits the first lines into the same number of fields, most of all.
fn sniff_delimiter(sample: &[u8]) -> u8 {
    let mut best = (b',', 0usize);
    for delimiter in DELIMITERS {
        let mut reader =
            csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(sample);
        let counts: Vec<usize> = reader.byte_records().take(20).map_while(Result::ok).map(|r| r.len()).collect();
        // The last line of the sample may be cut short.
        let lines = &counts[..counts.len().saturating_sub(1).max(counts.len().min(1))];
        let Some(&header) = lines.first() else { continue };
        if header < 2 {
            continue;
        }
        let consistent = lines.iter().filter(|&&c| c == header).count();
        let score = consistent * header;
        if score > best.1 {
            best = (delimiter, score);
        }
    }
    best.0
}

/// The record terminators used, not counting line breaks inside quoted values.
fn line_ending(sample: &[u8]) -> &'static str {
    let (mut crlf, mut cr, mut lf, mut quoted) = (0, 0, 0, false);
    // A CR that ends the sample may be the first half of a CRLF cut off.
    let sample = sample.strip_suffix(b"\r").unwrap_or(sample);
    let mut bytes = sample.iter().peekable();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => quoted = !quoted,
            b'\r' if !quoted && bytes.peek() == Some(&&b'\n') => {
                bytes.next();
                crlf += 1;
            }
            b'\r' if !quoted => cr += 1,
            b'\n' if !quoted => lf += 1,
            _ => {}
        }
    }
    match (crlf > 0, cr > 0, lf > 0) {
        (true, false, false) => "crlf",
        (false, true, false) => "cr",
        (false, false, _) => "lf",
        _ => "mixed",
    }
}

/// How many bytes are sniffed.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// `format: auto` for text: `[` starts a JSON array, `{` JSON lines, anything else is CSV
/// (after a byte order mark and white space).
pub fn text_format(sample: &[u8]) -> crate::import::Format {
    let text = sample.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(sample).trim_ascii_start();
    match text.first() {
        Some(b'[') => crate::import::Format::Json,
        Some(b'{') => crate::import::Format::Jsonl,
        _ => crate::import::Format::Csv,
    }
}

/// Reads up to [`SNIFF_BYTES`] from the start of a stream.
pub fn read_sample(reader: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut sample = Vec::with_capacity(SNIFF_BYTES);
    reader.take(SNIFF_BYTES as u64).read_to_end(&mut sample)?;
    Ok(sample)
}

/// A reader that puts a UTF-8 byte order mark before its first bytes, in the same read: the csv
/// crate takes a mark read alone as the whole input, and so as its end.
pub struct LeadingMark<R> {
    pending: bool,
    inner: R,
}

impl<R: Read> Read for LeadingMark<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        const MARK: &[u8] = b"\xEF\xBB\xBF";
        // The csv crate reads through a buffer of kilobytes; a smaller one gets no mark.
        if !std::mem::take(&mut self.pending) || buf.len() <= MARK.len() {
            return self.inner.read(buf);
        }
        match self.inner.read(&mut buf[MARK.len()..]) {
            Ok(n) => {
                buf[..MARK.len()].copy_from_slice(MARK);
                Ok(MARK.len() + n)
            }
            Err(e) => {
                self.pending = true;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (split_records, chunk_scan): a chunk whose first row starts with U+FEFF
    /// lost that character from its first value, where the whole file keeps it.
    #[test]
    fn a_row_past_the_start_keeps_its_own_byte_order_mark() {
        let file = "email,name\n\u{feff}x@y.co,Ann\nz@y.co,Bo\n".as_bytes();
        let offset = "email,name\n".len();
        let d = Dialect::for_reading(Encoding::Utf8, ',');
        let rows: Vec<csv::ByteRecord> =
            d.reader_at(&file[offset..], offset as u64).byte_records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][0], "\u{feff}x@y.co".as_bytes());
        // Reads of one byte at a time still see the rows, and an empty rest reads as no rows.
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(1);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let rows: Vec<csv::ByteRecord> =
            d.reader_at(OneByte(&file[offset..]), offset as u64).byte_records().map(Result::unwrap).collect();
        assert_eq!((rows.len(), &rows[0][0]), (2, "\u{feff}x@y.co".as_bytes()));
        assert_eq!(d.reader_at(&b""[..], 5).byte_records().count(), 0);
        // At the file's start the mark is the file's own and is dropped.
        let first = d.reader_at(&b"\xEF\xBB\xBFa,b\n"[..], 0).byte_records().next().unwrap().unwrap();
        assert_eq!(&first[0], b"a");
    }

    #[test]
    fn delimiters() {
        assert_eq!(Dialect::sniff(b"a;b;c\n1;2,5;3\n4;5;6\n").delimiter, b';');
        assert_eq!(Dialect::sniff(b"a\tb\n1\t2\n").delimiter, b'\t');
        assert_eq!(Dialect::sniff(b"a|b|c\n1|2|3\n").delimiter, b'|');
        assert_eq!(Dialect::sniff(b"name,note\n\"x; y\",\"1;2\"\n").delimiter, b',');
        assert_eq!(Dialect::sniff(b"email\na@b.co\n").delimiter, b',');
    }

    #[test]
    fn encodings_and_boms() {
        let d = Dialect::sniff(b"\xEF\xBB\xBFemail\n");
        assert_eq!((d.encoding, d.had_bom), (Encoding::Utf8, true));
        assert_eq!(Dialect::sniff(b"name\nLan\xe9\n").encoding, Encoding::Windows1252);
        assert_eq!(Dialect::sniff("name\nJosé\n".as_bytes()).encoding, Encoding::Utf8);
        // A sample cut inside a two-byte character is still UTF-8.
        assert_eq!(Dialect::sniff(&"name\nJosé".as_bytes()[..10]).encoding, Encoding::Utf8);
        assert_eq!(Dialect::sniff(b"\xFF\xFEe\x00").encoding, Encoding::Utf16Le);
        assert_eq!(Dialect::sniff(b"\xFE\xFF\x00e").encoding, Encoding::Utf16Be);
    }

    #[test]
    fn line_endings() {
        assert_eq!(Dialect::sniff(b"a\r\nb\r\n").line_ending, "crlf");
        assert_eq!(Dialect::sniff(b"a\rb\r").line_ending, "cr");
        assert_eq!(Dialect::sniff(b"a\nb\n").line_ending, "lf");
        assert_eq!(Dialect::sniff(b"a\r\nb\nc\r").line_ending, "mixed");
        assert_eq!(Dialect::sniff(b"a,\"x\ny\"\r\nb,c\r\n").line_ending, "crlf");
    }

    #[test]
    fn binary_files_are_told_from_text_in_any_script() {
        let reason = |b: &[u8]| reject_binary(b, false).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(reason(b"\x1F\x8B\x08\x00").contains("gzip"));
        assert!(reason(b"PK\x03\x04rest").contains("ZIP"));
        assert!(reason(b"email\nx\x00y\n").contains("NUL byte at byte offset 7"));
        assert!(reason(&[1, 2, 3, 4, 5, 6, 7, 8, b'a']).contains("control"));
        let russian: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("Имя;Город\r\nАнна;Москва".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(reject_binary(&russian, false), Ok(()));
        assert_eq!(reject_binary("name\tcity\r\nZoë\tKöln\n".as_bytes(), false), Ok(()));
    }

    #[test]
    fn windows_1252_values_decode() {
        let d = Dialect::sniff(b"name\nLan\xe9 \x80\n");
        let mut reader = d.reader(&b"name\nLan\xe9 \x80\n"[..], true);
        let record = reader.byte_records().next().unwrap().unwrap();
        assert_eq!(&d.decode(&record).unwrap()[0], "Lané €");
    }
}
