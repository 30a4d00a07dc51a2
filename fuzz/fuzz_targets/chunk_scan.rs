//! The chunk scan of any file: the chunks tile the file from the first row to its end, each
//! starts on a record boundary and holds exactly its rows, which are the `csv` crate's.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use readers_fuzz::{csv_records, records_at, step_for, Trickle};
use domain::chunking::{scan, ScanError, ScanRules};
use domain::dedup::Duplicates;
use domain::options::CsvOptions;
use domain::record::ResourceType;
use domain::validate::RowOptions;

fuzz_target!(|bytes: &[u8]| {
    // Settings picked by the input, so one corpus covers them all.
    let pick = step_for(bytes);
    let csv = CsvOptions { has_header: !pick.is_multiple_of(4), ..CsvOptions::default() };
    let duplicates = [Duplicates::Last, Duplicates::First, Duplicates::Error][pick % 3];
    let chunk_rows = [1, 2, 3, 1000][pick % 4] as u64;
    // The first column is the identifier, so any file with a header plans.
    let sniffed = domain::dialect::Dialect::sniff(bytes).delimiter;
    let first = csv_records(bytes, sniffed).first().and_then(|r| r.first().cloned()).unwrap_or_default();
    let first = if csv.has_header { String::from_utf8_lossy(&first).trim().to_string() } else { "column_1".into() };
    let explicit = BTreeMap::from([(first, Some("external_id".to_string()))]);
    let options = RowOptions::default();
    let rules = ScanRules {
        resource: ResourceType::Contact,
        identifier_field: "external_id",
        explicit: &explicit,
        options: &options,
        duplicates,
        chunk_rows,
        csv: &csv,
        preview: pick.is_multiple_of(2),
        schema: None,
        action: Default::default(),
    };
    let size = bytes.len() as u64;
    let plan = match scan(Trickle { bytes, step: pick * 4096 }, size, &rules) {
        Ok(plan) => plan,
        Err(ScanError::Bad(_)) => return,
        Err(e) => panic!("an in-memory file failed as a retry: {e}"),
    };
    let delimiter = plan.file.delimiter.as_bytes()[0];
    let mut expected = csv_records(bytes, delimiter);
    if csv.has_header {
        expected.remove(0);
    }
    assert_eq!(plan.file.rows, expected.len() as u64);
    let chunks: Vec<_> = plan.chunks.iter().collect();
    assert_eq!(chunks.len() as u64, plan.chunks.total());
    assert_eq!(chunks.last().map_or(size, |c| c.end), size, "the last chunk ends the file");
    let mut rows = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.index, i as u64);
        assert!(chunk.rows > 0 && chunk.rows <= chunk_rows && chunk.start < chunk.end);
        assert_eq!(chunk.first_row, rows.len() as u64 + 1, "chunk {i} starts at the next row");
        if let Some(next) = chunks.get(i + 1) {
            assert_eq!(chunk.end, next.start, "chunks tile the file");
        }
        let own = chunk.first_row..chunk.first_row + chunk.rows;
        for listed in [&chunk.skip_rows, &chunk.duplicate_rows] {
            assert!(listed.windows(2).all(|w| w[0] < w[1]) && listed.iter().all(|r| own.contains(r)));
        }
        let part = records_at(&bytes[..chunk.end as usize], chunk.start as usize, delimiter);
        assert_eq!(part.len() as u64, chunk.rows, "chunk {i} holds exactly its rows");
        let own = &expected[rows.len()..rows.len() + part.len()];
        assert_eq!(part, own, "chunk {i} holds the file's rows");
        rows.extend(part);
    }
    assert_eq!(rows.len(), expected.len());
});
