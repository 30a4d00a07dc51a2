//! UTF-16 text: re-encoded as UTF-8, which the CSV reader takes as it is.

use std::io::{self, Read, Write};

use encoding_rs::DecoderResult;

use crate::bad_file::BadFile;
use crate::chunking::ScanError;
use crate::dialect::Encoding;

use super::source::BUF;

/// Re-encodes UTF-16 text as UTF-8, its BOM dropped. Text that is not valid in `encoding` fails
/// the file, naming the offset of the first bad byte.
pub fn transcode_utf16(mut reader: impl Read, encoding: Encoding, mut out: impl Write) -> Result<(), ScanError> {
    let mut decoder = match encoding {
        Encoding::Utf16Le => encoding_rs::UTF_16LE,
        Encoding::Utf16Be => encoding_rs::UTF_16BE,
        Encoding::Utf8 => encoding_rs::UTF_8,
        Encoding::Windows1252 => encoding_rs::WINDOWS_1252,
    }
    .new_decoder_with_bom_removal();
    let (mut input, mut output) = (vec![0u8; BUF], vec![0u8; 2 * BUF]);
    // Bytes of the source the decoder has taken, so bad text can be located.
    let mut offset = 0u64;
    loop {
        let n = read_some(&mut reader, &mut input)?;
        let mut src = &input[..n];
        loop {
            let (result, read, written) = decoder.decode_to_utf8_without_replacement(src, &mut output, n == 0);
            out.write_all(&output[..written]).map_err(ScanError::Read)?;
            offset += read as u64;
            src = &src[read..];
            match result {
                DecoderResult::InputEmpty => break,
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(bad, after) => {
                    let at = offset - u64::from(bad) - u64::from(after);
                    let message = format!("not valid {} at byte {at}", encoding.as_str());
                    return Err(BadFile::Unreadable { row: 0, message }.into());
                }
            }
        }
        if n == 0 {
            return out.flush().map_err(ScanError::Read);
        }
    }
}

pub(super) fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> Result<usize, ScanError> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result.map_err(ScanError::Read),
        }
    }
}
