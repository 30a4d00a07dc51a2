//! An errors file's own columns and cells, which writing one and importing one again both know:
//! the `error_*` columns, and cells a spreadsheet would run as formulas, neutralized on the way
//! out and restored on the way back.

use std::borrow::Cow;

pub const ERROR_COLUMNS: [&str; 4] = ["error_row", "error_field", "error_code", "error_message"];

/// Spreadsheets run cells that start with these as formulas, even after spaces.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

fn runs_as_formula(cell: &str) -> bool {
    cell.trim_start_matches(' ').starts_with(FORMULA_STARTS)
}

/// A cell a spreadsheet would run as a formula gets a leading apostrophe.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if runs_as_formula(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Undoes [`neutralize`] on a cell of an errors file, so it imports as it is: the apostrophe
/// comes off only where `neutralize` put one. Other files keep their apostrophes.
pub fn restore(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if runs_as_formula(rest) => rest,
        _ => value,
    }
}

/// A file with every `error_*` column is one of our errors files, imported again.
pub fn is_errors_file(headers: &[String]) -> bool {
    ERROR_COLUMNS.iter().all(|column| headers.iter().any(|h| h == column))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralized_and_restored() {
        for cell in ["=1+2", "+1 213 555", "-5", "@SUM(A1)", "\tx"] {
            let n = neutralize(cell);
            assert!(n.starts_with('\''), "{cell}");
            assert_eq!(restore(&n), cell);
        }
        assert_eq!(neutralize("plain"), "plain");
        assert_eq!(restore("'quoted"), "'quoted");
    }

    #[test]
    fn formulas_behind_spaces_are_neutralized_too() {
        for cell in [" =1+1", "   @SUM(A1)", " -5"] {
            assert_eq!(neutralize(cell), format!("'{cell}"));
            assert_eq!(restore(&neutralize(cell)), cell);
        }
        assert_eq!(neutralize(" plain"), " plain");
        assert_eq!(restore("' plain"), "' plain", "an apostrophe neutralize did not put stays");
    }

    #[test]
    fn an_errors_file_has_every_error_column() {
        let headers = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_errors_file(&headers(&["email", "error_row", "error_field", "error_code", "error_message"])));
        assert!(!is_errors_file(&headers(&["email", "error_message"])));
        assert!(!is_errors_file(&headers(&["email"])));
    }
}
