//! Dialect sniffing on any sample: a delimiter and line ending it can name, an encoding the
//! bytes allow, and no text refused as binary.
#![no_main]

use libfuzzer_sys::fuzz_target;
use domain::dialect::{reject_binary, Dialect, Encoding, DELIMITERS};

fuzz_target!(|sample: &[u8]| {
    let dialect = Dialect::sniff(sample);
    assert!(DELIMITERS.contains(&dialect.delimiter));
    assert!(["lf", "crlf", "cr", "mixed"].contains(&dialect.line_ending));
    let valid_up_to = std::str::from_utf8(sample).map_or_else(|e| e.valid_up_to(), str::len);
    match dialect.encoding {
        Encoding::Utf8 if dialect.had_bom => assert!(sample.starts_with(b"\xEF\xBB\xBF")),
        // Valid UTF-8, but for a character the end of the sample may cut short.
        Encoding::Utf8 => assert!(sample.len() - valid_up_to < 4, "not UTF-8"),
        Encoding::Windows1252 => assert!(valid_up_to < sample.len()),
        Encoding::Utf16Le => assert!(sample.starts_with(b"\xFF\xFE")),
        Encoding::Utf16Be => assert!(sample.starts_with(b"\xFE\xFF")),
    }
    // A delimiter other than the default is chosen for splitting the header into columns.
    if dialect.delimiter != b',' {
        let header = shared_first_record(sample, dialect.delimiter);
        assert!(header >= 2, "delimiter {:?} splits the header into {header} fields", dialect.delimiter as char);
    }
    match reject_binary(sample, false) {
        Ok(()) if dialect.encoding.is_ascii_compatible() => assert!(!sample.contains(&0), "a NUL byte passed"),
        Ok(()) => {}
        // Printable UTF-8 text, tabs and line breaks is never binary.
        Err(e) => assert!(
            std::str::from_utf8(sample).is_err()
                || sample.iter().any(|b| *b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
                || sample.starts_with(b"PK\x03\x04")
                || sample.starts_with(b"%PDF"),
            "text refused: {e}"
        ),
    }
});

fn shared_first_record(sample: &[u8], delimiter: u8) -> usize {
    readers_fuzz::csv_records(sample, delimiter).first().map_or(0, Vec::len)
}
