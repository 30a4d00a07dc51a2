//! The transform of one row, any cells: the fast path (`RowPlan::encode`, from checked bytes or
//! from text) writes exactly the JSON of the record `RowRules::build` makes, or the same errors.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use domain::mapping::resolve;
use domain::record::ResourceType;
use domain::validate::{Cells, RowOptions, RowRules, MAX_RECORD_BYTES};

#[derive(Arbitrary, Debug)]
struct Row {
    cells: Vec<String>,
    /// The file is one of the service's errors files (formula guards come off).
    errors_file: bool,
    row: u64,
}

const HEADERS: [&str; 12] =
    ["E-mail", "Notes", "Tags", "Status", "Country", "Extra", "First", "Phone", "Birthday", "Website", "Skip", "Score"];
const ERRORS_FILE: [&str; 4] = ["error_row", "error_field", "error_code", "error_message"];

fuzz_target!(|input: Row| {
    let headers: Vec<String> =
        HEADERS.iter().chain(if input.errors_file { &ERRORS_FILE[..] } else { &[] }).map(|h| h.to_string()).collect();
    let explicit = BTreeMap::from([
        ("Notes".to_string(), Some("custom.notes".to_string())),
        ("Extra".to_string(), Some("custom.a_extra".to_string())),
        ("Score".to_string(), Some("custom.score".to_string())),
        ("Skip".to_string(), None),
    ]);
    let columns = resolve(ResourceType::Contact, &headers, &explicit).expect("the mappings resolve");
    let mut options = RowOptions::default();
    options.constants.insert("custom.notes".into(), Value::from("constant wins"));
    options.constants.insert("custom.z".into(), Value::from(7));
    let yes = BTreeMap::from([("Yes".to_string(), "subscribed".to_string())]);
    options.value_mappings.insert("status".into(), yes);
    let rules = RowRules {
        resource: ResourceType::Contact,
        identifier_field: "email",
        headers: &headers,
        columns: &columns,
        options: &options,
        schema: None,
    };
    let plan = rules.plan();
    let record = csv::StringRecord::from(input.cells.clone());
    let bytes = csv::ByteRecord::from(input.cells.clone());
    let built = rules.build(input.row, &record);
    for cells in [Cells::from(&record), Cells::checked(&bytes).expect("text is UTF-8")] {
        let (mut out, mut identifier) = (b"before".to_vec(), String::from("stale"));
        match (&built, plan.encode(input.row, cells, &mut out, &mut identifier)) {
            (Ok(candidate), Ok(())) => {
                assert_eq!(identifier, candidate.identifier);
                assert!(!identifier.is_empty(), "a record without an identifier");
                assert_eq!(out[6..], serde_json::to_vec(candidate).unwrap()[..]);
                assert!(out.len() - 6 <= MAX_RECORD_BYTES);
            }
            (Err(built), Err(encoded)) => {
                assert_eq!(built, &encoded);
                assert!(!built.is_empty() && built.iter().all(|e| e.row == input.row));
                assert_eq!(out, b"before", "an error row writes nothing");
            }
            (built, encoded) => panic!("built {built:?} but encoded {encoded:?}"),
        }
    }
});
