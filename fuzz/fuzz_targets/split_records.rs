//! The record splitter against the `csv` crate (the transform's reader) as the oracle, in the
//! sniffed delimiter, read whole and in reads of a few bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readers_fuzz::{csv_records, records_at, step_for, Trickle};
use domain::dialect::Dialect;
use domain::split::{byte_record, field, Records, SplitError};

fuzz_target!(|bytes: &[u8]| {
    let delimiter = Dialect::sniff(bytes).delimiter;
    let expected = csv_records(bytes, delimiter);
    for step in [bytes.len().max(1), step_for(bytes)] {
        let mut records = Records::new(Trickle { bytes, step }, delimiter, true);
        let (mut got, mut starts) = (Vec::new(), Vec::new());
        let (mut scratch, mut raw) = (Vec::new(), csv::ByteRecord::new());
        let stopped = loop {
            match records.advance() {
                Ok(true) => {
                    let (start, end) = (records.start() as usize, records.end() as usize);
                    assert_eq!(records.record(), &bytes[start..end], "a record is its bytes");
                    byte_record(records.record(), delimiter, &mut scratch, &mut raw);
                    for (column, value) in raw.iter().enumerate() {
                        assert_eq!(field(records.record(), delimiter, column, &mut scratch), Some(value));
                    }
                    assert_eq!(field(records.record(), delimiter, raw.len(), &mut scratch), None);
                    got.push(raw.iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
                    starts.push(start);
                }
                Ok(false) => break None,
                Err(e) => break Some(e),
            }
        };
        match stopped {
            None => {
                assert_eq!(got, expected, "records in reads of {step}");
                // The first bad byte is found wherever the reads end.
                let bad = std::str::from_utf8(bytes).err().map(|e| e.valid_up_to() as u64);
                assert_eq!(records.bad_text_at(), bad, "bad text in reads of {step}");
            }
            // The csv crate reads an unclosed quote to the end as one more record.
            Some(SplitError::UnterminatedQuote) => assert_eq!(got, expected[..expected.len() - 1]),
            Some(e) => panic!("{e}"),
        }
        // A transform reads from a record's offset on: it must find the same records there.
        for (i, start) in starts.iter().enumerate().take(32) {
            let rest = records_at(bytes, *start, delimiter);
            assert_eq!(rest[..got.len() - i], got[i..], "from offset {start}");
        }
    }
});
