//! CSV dialects: which encoding, delimiter and line endings a file uses, told from its first
//! bytes. Encodings that keep ASCII as ASCII (UTF-8, Windows-1252) are parsed as bytes, so
//! chunk offsets stay offsets into the uploaded object, and each value is decoded on its own.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::import::FileInfo;

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

    /// The dialect prevalidation found, from what the import reports of its file.
    pub fn of(file: &FileInfo) -> Option<Self> {
        let line_ending = ["crlf", "cr", "lf", "mixed"].into_iter().find(|l| *l == file.line_ending)?;
        Some(Self {
            encoding: Encoding::parse(&file.detected_encoding)?,
            had_bom: file.had_bom,
            delimiter: *file.delimiter.as_bytes().first()?,
            line_ending,
        })
    }

    /// The one reader configuration of prevalidation and transform, so both see the same records.
    pub fn reader<R: Read>(&self, reader: R, has_headers: bool) -> csv::Reader<R> {
        csv::ReaderBuilder::new().has_headers(has_headers).flexible(true).delimiter(self.delimiter).from_reader(reader)
    }

    /// A record's values as text; None when a value is not valid in the file's encoding.
    pub fn decode(&self, record: &csv::ByteRecord) -> Option<csv::StringRecord> {
        let mut out = csv::StringRecord::with_capacity(record.as_slice().len(), record.len());
        for field in record {
            match self.encoding {
                Encoding::Windows1252 => {
                    out.push_field(&encoding_rs::WINDOWS_1252.decode_without_bom_handling(field).0)
                }
                _ => out.push_field(std::str::from_utf8(field).ok()?),
            }
        }
        Some(out)
    }
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

/// Reads up to [`SNIFF_BYTES`] from the start of a stream.
pub fn read_sample(reader: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut sample = Vec::with_capacity(SNIFF_BYTES);
    reader.take(SNIFF_BYTES as u64).read_to_end(&mut sample)?;
    Ok(sample)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn windows_1252_values_decode() {
        let d = Dialect::sniff(b"name\nLan\xe9 \x80\n");
        let mut reader = d.reader(&b"name\nLan\xe9 \x80\n"[..], true);
        let record = reader.byte_records().next().unwrap().unwrap();
        assert_eq!(&d.decode(&record).unwrap()[0], "Lané €");
    }
}
