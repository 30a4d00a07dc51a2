//! Decompression of any bytes, as gzip and as zstd, through the limits' guard: the stream either
//! ends, or fails with the file's fault kept (never a retry, never a panic), and no more than the
//! limit ever comes out.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use domain::bad_file::BadFile;
use domain::compression::{decoder, inflate, Fault};
use domain::import::Compression;

const LIMIT: u64 = 1 << 20;

fuzz_target!(|bytes: &[u8]| {
    for compression in [Compression::Gzip, Compression::Zstd] {
        let fault = Fault::default();
        let opened = inflate(bytes, compression.as_str(), LIMIT, None, &fault, |raw| {
            decoder(compression, raw).map_err(|e| BadFile::Compressed(e.to_string()))
        });
        let Ok(mut reader) = opened else { continue };
        let mut out = Vec::new();
        match reader.read_to_end(&mut out) {
            Ok(_) => assert!(out.len() as u64 <= LIMIT),
            Err(e) => assert!(fault.take().is_some(), "{compression:?}: an error with no fault kept: {e}"),
        }
    }
});
