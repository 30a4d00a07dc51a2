//! What the client chooses of an import that the file's readers need: the action rows take and
//! what it says of its CSV.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Merge,
    /// Delete the records the rows name; an unknown identifier is a warning.
    Delete,
    /// Merge, then remove every other record of the type (`overwrite`).
    Overwrite,
}

/// The import's `csv`: what the client says of its CSV instead of letting it be detected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvOptions {
    #[serde(default)]
    pub delimiter: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
    /// Without a header row, columns are named `column_1`, `column_2`, ...
    #[serde(default = "yes")]
    pub has_header: bool,
}

fn yes() -> bool {
    true
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self { delimiter: None, encoding: None, has_header: true }
    }
}
