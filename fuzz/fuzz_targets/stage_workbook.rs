//! Workbook staging of any bytes, as each kind of workbook: it stages a CSV the `csv` crate reads
//! back with the rows it counted, or fails the file as unreadable; it never panics or retries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use domain::chunking::ScanError;
use domain::staging::workbook_to_csv;

fuzz_target!(|bytes: &[u8]| {
    for kind in ["xlsx", "xls", "xlsb", "ods"] {
        let mut staged = Vec::new();
        match workbook_to_csv(std::io::Cursor::new(bytes), kind, None, &mut staged) {
            Ok(sheet) => {
                let read = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(staged.as_slice());
                assert_eq!(read.into_records().count() as u64, sheet.rows, "{kind}");
            }
            Err(ScanError::Bad(_)) => {}
            Err(e) => panic!("{kind}: an in-memory workbook failed as a retry: {e}"),
        }
    }
});
