//! UTF-16 staging of any bytes, either byte order: the staged text is what the standard library
//! decodes (its byte order mark dropped), or the file fails as bad text where that decode fails.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readers_fuzz::{step_for, Trickle};
use domain::bad_file::BadFile;
use domain::chunking::ScanError;
use domain::dialect::Encoding;
use domain::staging::transcode_utf16;

fuzz_target!(|bytes: &[u8]| {
    for (encoding, bom, unit) in [
        (Encoding::Utf16Le, b"\xFF\xFE", u16::from_le_bytes as fn([u8; 2]) -> u16),
        (Encoding::Utf16Be, b"\xFE\xFF", u16::from_be_bytes),
    ] {
        let text = bytes.strip_prefix(bom).unwrap_or(bytes);
        let units: Vec<u16> = text.chunks_exact(2).map(|c| unit([c[0], c[1]])).collect();
        let expected = String::from_utf16(&units).ok().filter(|_| text.len() % 2 == 0);
        let mut staged = Vec::new();
        let reader = Trickle { bytes, step: step_for(bytes) };
        match (transcode_utf16(reader, encoding, &mut staged), expected) {
            (Ok(()), Some(expected)) => assert_eq!(String::from_utf8(staged).as_deref(), Ok(expected.as_str())),
            (Err(ScanError::Bad(BadFile::Unreadable { .. })), None) => {}
            (got, expected) => panic!("{encoding:?}: {got:?}, but the standard library decodes {expected:?}"),
        }
    }
});
